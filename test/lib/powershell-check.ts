// A structural check of the PowerShell the Windows snippet emits, since PowerShell itself is not
// in Debian: every line is tokenized as PowerShell reads a command (single- and double-quoted
// strings, `''` escapes, `$variables`, comma-joined arrays, `-Parameter value` pairs), and every
// command is checked against the DhcpServer module's documented syntax (learn.microsoft.com,
// module "DhcpServer", Windows Server 2012 R2 and later): the cmdlet exists, every parameter
// belongs to it, a switch takes no value, a typed value parses as its type (UInt32, UInt16,
// IPAddress, the documented enumerations), a scalar parameter gets no array, the mandatory
// parameters are there, and every variable is assigned before use. What it cannot check: that the
// server accepts the values at run time (an option definition that already exists, a policy name
// already taken) — that is said in docs/dhcp-server.md.

type Kind = 'string' | 'string[]' | 'uint32' | 'uint16' | 'ip' | 'switch' | { oneOf: readonly string[] };
interface Cmdlet { params: Record<string, Kind>; required: readonly string[][]; note?: (args: Map<string, Arg>) => string | undefined }
interface Arg { items: string[]; variable: boolean[] }

const COMMON: Record<string, Kind> = {
  ComputerName: 'string', PassThru: 'switch', AsJob: 'switch', WhatIf: 'switch', Confirm: 'switch', ThrottleLimit: 'uint32',
};
const CONDITIONS = ['VendorClass', 'UserClass', 'MacAddress', 'ClientId', 'RelayAgent', 'CircuitId', 'RemoteId', 'SubscriberId', 'Fqdn'];

/** The documented parameters of the cmdlets the snippet uses (the OptionIds parameter set of Set-DhcpServerv4OptionValue). */
export const DHCP_CMDLETS: Record<string, Cmdlet> = {
  'Add-DhcpServerv4OptionDefinition': {
    params: { ...COMMON, Name: 'string', OptionId: 'uint32', Type: { oneOf: ['Byte', 'Word', 'DWord', 'DWordDword', 'IPv4Address', 'String', 'BinaryData', 'EncapsulatedData', 'IPv6Address'] }, DefaultValue: 'string[]', Description: 'string', MultiValued: 'switch', VendorClass: 'string' },
    required: [['Name'], ['OptionId'], ['Type']],
  },
  'Set-DhcpServerv4OptionValue': {
    params: { ...COMMON, ScopeId: 'ip', OptionId: 'uint32', Value: 'string[]', PolicyName: 'string', ReservedIP: 'ip', UserClass: 'string', VendorClass: 'string', Force: 'switch' },
    required: [['OptionId'], ['Value']],
  },
  'Add-DhcpServerv4Class': {
    params: { ...COMMON, Name: 'string', Type: { oneOf: ['Vendor', 'User'] }, Data: 'string', Description: 'string' },
    required: [['Name'], ['Type'], ['Data']],
  },
  'Add-DhcpServerv4Policy': {
    params: { ...COMMON, Name: 'string', Condition: { oneOf: ['AND', 'OR'] }, Description: 'string', ScopeId: 'ip', ProcessingOrder: 'uint16', Enabled: 'string', ...Object.fromEntries(CONDITIONS.map((c) => [c, 'string[]' as Kind])) },
    required: [['Name'], ['Condition'], CONDITIONS],
    // Each condition is a comparator (EQ, NE) and then the values to compare with.
    note: (args) => {
      for (const c of CONDITIONS) {
        const a = args.get(c.toLowerCase());
        if (a !== undefined && !/^(EQ|NE)$/i.test(a.items[0] ?? '')) return `-${c} must start with EQ or NE, found ${JSON.stringify(a.items[0])}`;
        if (a !== undefined && a.items.length < 2) return `-${c} needs a value after its comparator`;
      }
      return undefined;
    },
  },
};

type Token = { t: 'word' | 'string' | 'var' | 'comma' | 'assign'; v: string };

/** Tokens of one PowerShell command line, or the reason it does not parse. */
export function tokenize(line: string): Token[] | string {
  const out: Token[] = [];
  let i = 0;
  while (i < line.length) {
    const c = line[i]!;
    if (c === ' ' || c === '\t') { i++; continue; }
    if (c === '#') break;
    if (c === ',') { out.push({ t: 'comma', v: ',' }); i++; continue; }
    if (c === '=' ) { out.push({ t: 'assign', v: '=' }); i++; continue; }
    if (c === "'") {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) return `unterminated '…' string`;
        if (line[i] === "'" && line[i + 1] === "'") { v += "'"; i += 2; continue; }
        if (line[i] === "'") { i++; break; }
        v += line[i++];
      }
      out.push({ t: 'string', v });
      continue;
    }
    if (c === '"') {
      let v = '';
      i++;
      for (;;) {
        if (i >= line.length) return 'unterminated "…" string';
        if (line[i] === '`') { v += line[i + 1] ?? ''; i += 2; continue; }
        if (line[i] === '"') { i++; break; }
        v += line[i++];
      }
      if (/\$[A-Za-z]/.test(v)) return `a "…" string expands ${/\$[A-Za-z_]\w*/.exec(v)![0]}: write '…' for a literal`;
      out.push({ t: 'string', v });
      continue;
    }
    if (c === '$') {
      const m = /^\$([A-Za-z_]\w*)/.exec(line.slice(i));
      if (m === null) return `a "$" that names no variable at column ${i + 1}`;
      out.push({ t: 'var', v: m[1]! });
      i += m[0].length;
      continue;
    }
    const m = /^[^\s,'"=#]+/.exec(line.slice(i))!;
    out.push({ t: 'word', v: m[0] });
    i += m[0].length;
  }
  return out;
}

function typeError(kind: Kind, value: string, isVar: boolean): string | undefined {
  if (isVar) return undefined;
  if (kind === 'uint32' && !(/^\d+$/.test(value) && Number(value) <= 0xffffffff)) return `expected an unsigned integer, found ${JSON.stringify(value)}`;
  if (kind === 'uint16' && !(/^\d+$/.test(value) && Number(value) <= 0xffff)) return `expected an integer 0-65535, found ${JSON.stringify(value)}`;
  if (kind === 'ip' && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(value)) return `expected an IPv4 address, found ${JSON.stringify(value)}`;
  if (typeof kind === 'object' && !kind.oneOf.some((o) => o.toLowerCase() === value.toLowerCase())) return `expected one of ${kind.oneOf.join(', ')}, found ${JSON.stringify(value)}`;
  return undefined;
}

/** Every problem in a script, as "line N: …"; empty when it checks out. */
export function checkDhcpPowerShell(script: string, cmdlets: Record<string, Cmdlet> = DHCP_CMDLETS): string[] {
  const problems: string[] = [];
  const assigned = new Set<string>();
  script.split('\n').forEach((raw, idx) => {
    const n = idx + 1;
    const toks = tokenize(raw);
    if (typeof toks === 'string') { problems.push(`line ${n}: ${toks}`); return; }
    if (toks.length === 0) return;
    if (toks[0]!.t === 'var' && toks[1]?.t === 'assign') {
      if (toks.length !== 3 || (toks[2]!.t !== 'string' && toks[2]!.t !== 'word')) problems.push(`line ${n}: an assignment takes one value`);
      assigned.add(toks[0]!.v.toLowerCase());
      return;
    }
    const name = toks[0]!;
    const cmd = name.t === 'word' ? Object.entries(cmdlets).find(([k]) => k.toLowerCase() === name.v.toLowerCase()) : undefined;
    if (cmd === undefined) { problems.push(`line ${n}: ${JSON.stringify(name.v)} is not a DhcpServer cmdlet this check knows`); return; }
    const [cmdName, spec] = cmd;
    const args = new Map<string, Arg>();
    let k = 1;
    while (k < toks.length) {
      const p = toks[k]!;
      if (p.t !== 'word' || !p.v.startsWith('-')) { problems.push(`line ${n}: ${cmdName}: positional argument ${JSON.stringify(p.v)} (write -Parameter value)`); return; }
      const pname = p.v.slice(1);
      const entry = Object.entries(spec.params).find(([q]) => q.toLowerCase() === pname.toLowerCase());
      if (entry === undefined) { problems.push(`line ${n}: ${cmdName} has no parameter -${pname}`); return; }
      const [canon, kind] = entry;
      if (args.has(canon.toLowerCase())) { problems.push(`line ${n}: ${cmdName}: -${canon} given twice`); return; }
      k++;
      if (kind === 'switch') { args.set(canon.toLowerCase(), { items: [], variable: [] }); continue; }
      const items: string[] = [];
      const variable: boolean[] = [];
      for (;;) {
        const v = toks[k];
        if (v === undefined || v.t === 'comma' || v.t === 'assign' || (v.t === 'word' && v.v.startsWith('-'))) { problems.push(`line ${n}: ${cmdName}: -${canon} needs a value`); return; }
        if (v.t === 'var' && !assigned.has(v.v.toLowerCase())) problems.push(`line ${n}: $${v.v} is used before it is assigned`);
        items.push(v.v);
        variable.push(v.t === 'var');
        k++;
        if (toks[k]?.t !== 'comma') break;
        k++;
      }
      if (items.length > 1 && kind !== 'string[]') { problems.push(`line ${n}: ${cmdName}: -${canon} takes one value, got a list of ${items.length}`); return; }
      for (let j = 0; j < items.length; j++) {
        const e = typeError(kind, items[j]!, variable[j]!);
        if (e !== undefined) problems.push(`line ${n}: ${cmdName} -${canon}: ${e}`);
      }
      args.set(canon.toLowerCase(), { items, variable });
    }
    for (const any of spec.required) {
      if (!any.some((r) => args.has(r.toLowerCase()))) problems.push(`line ${n}: ${cmdName} needs ${any.length === 1 ? `-${any[0]}` : `one of ${any.map((a) => `-${a}`).join(', ')}`}`);
    }
    const extra = spec.note?.(args);
    if (extra !== undefined) problems.push(`line ${n}: ${cmdName}: ${extra}`);
  });
  return problems;
}
