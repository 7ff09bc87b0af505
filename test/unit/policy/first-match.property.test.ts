// decide() indexes MAC rules and merges candidates by rule index; this checks it against the
// obvious implementation — walk every rule in order — on random configs and clients drawn
// from a small MAC space, so exact, wildcard and non-MAC rules collide often.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stringify } from 'yaml';
import type { ClientFacts } from '../../../src/dhcp/facts-types.ts';
import type { Config, RuleMatch } from '../../../src/config/schema.ts';
import { cidrContains, ipv4ToNumber } from '../../../src/config/values.ts';
import { compilePolicy, decide, explainDecision } from '../../../src/policy/policy.ts';
import { config, facts } from './helpers.ts';

const BYTES = ['00', '01'];
const macArb = fc.array(fc.constantFrom(...BYTES), { minLength: 6, maxLength: 6 }).map((b) => b.join(':'));
const wildcardArb = fc.array(fc.constantFrom(...BYTES), { minLength: 0, maxLength: 5 }).map((b) => (b.length === 0 ? '*' : `${b.join(':')}:*`));
const UUIDS = ['4c4c4544-0042-3510-8052-b2c04f503232', '44454c4c-4200-1035-8052-b2c04f503232', '00000000-0000-0000-0000-000000000001'];
const ARCHES = [0, 6, 7, 9, 11, 16, 19, 42];
const FIRMWARE_NAMES = ['bios', 'efi-x64', 'efi-arm64', 'efi-x64-http'];

const matchArb = fc.record({
  mac: fc.oneof(macArb, wildcardArb, fc.array(fc.oneof(macArb, wildcardArb), { minLength: 1, maxLength: 3 })),
  uuid: fc.constantFrom(...UUIDS),
  arch: fc.oneof(fc.constantFrom<number | string>(...ARCHES, ...FIRMWARE_NAMES), fc.array(fc.constantFrom<number | string>(...ARCHES, ...FIRMWARE_NAMES), { minLength: 1, maxLength: 2 })),
  vendorClass: fc.constantFrom('PXEClient', 'PXEClient:Arch:00007', 'HTTPClient'),
  userClass: fc.constantFrom('iPXE', 'gPXE'),
  relaySubnet: fc.constantFrom('10.1.0.0/16', '10.1.2.0/24', '0.0.0.0/0'),
}, { requiredKeys: [] });

const ruleArb = fc.record({
  match: matchArb,
  then: fc.constantFrom('a', 'b', 'ignore'),
});

const hostLineArb = fc.tuple(fc.oneof(macArb, macArb, wildcardArb), fc.option(fc.constantFrom('10.0.0.1', '10.0.0.2'), { nil: undefined }))
  .map(([m, ip]) => (ip === undefined ? m : `${m} ${ip}`));

const FIRMWARE: Record<number, ClientFacts['firmware']> = { 0: 'bios', 6: 'efi-ia32', 7: 'efi-x64', 9: 'efi-x64', 11: 'efi-arm64', 16: 'efi-x64-http', 19: 'efi-arm64-http' };

const factsArb = fc.record({
  mac: macArb,
  arch: fc.constantFrom<number | undefined>(...ARCHES, undefined),
  uuid: fc.constantFrom<number | undefined>(0, 1, 2, undefined),
  vendorClass: fc.constantFrom<string | undefined>('PXEClient:Arch:00007:UNDI:003016', 'PXEClient:Arch:00000', 'HTTPClient:Arch:00016', undefined),
  userClass: fc.constantFrom<string[]>([], ['iPXE'], ['gPXE', 'x']),
  giaddr: fc.constantFrom('0.0.0.0', '10.1.2.3', '10.1.9.9', '10.2.0.1'),
}).map((r): ClientFacts => {
  const uuid = r.uuid === undefined ? undefined : UUIDS[r.uuid];
  // The swapped reading of UUIDS[0] is UUIDS[1] and vice versa.
  const swapped = r.uuid === undefined ? undefined : r.uuid === 0 ? UUIDS[1] : r.uuid === 1 ? UUIDS[0] : 'ffffffff-0000-0000-0000-000000000001';
  return facts({
    mac: r.mac, arch: r.arch, firmware: r.arch === undefined ? 'unknown' : FIRMWARE[r.arch] ?? 'unknown',
    uuid, uuidSwapped: swapped, vendorClass: r.vendorClass, userClass: r.userClass,
    relayed: r.giaddr !== '0.0.0.0', giaddr: r.giaddr, pxeClient: true, isIpxe: r.userClass.includes('iPXE'),
  });
});

/** The reference: every rule in order, each condition spelled out. */
function naiveRule(cfg: Config, f: ClientFacts): string {
  const macOk = (text: string) => (text.endsWith('*') ? f.mac.startsWith(text.slice(0, -1)) : f.mac === text);
  const matches = (m: RuleMatch) =>
    (m.mac === undefined || m.mac.some((p) => macOk(p.text))) &&
    (m.uuid === undefined || m.uuid.some((u) => u === f.uuid || u === f.uuidSwapped)) &&
    (m.arch === undefined || m.arch.some((a) => a === f.arch || a === f.firmware)) &&
    (m.vendorClass === undefined || m.vendorClass.some((v) => f.vendorClass?.startsWith(v) === true)) &&
    (m.userClass === undefined || m.userClass.some((u) => f.userClass.includes(u))) &&
    (m.relaySubnet === undefined || (f.relayed && m.relaySubnet.some((c) => cidrContains(c, ipv4ToNumber(f.giaddr)!))));
  for (let i = 0; i < cfg.rules.length; i++) if (matches(cfg.rules[i]!.match)) return `rules[${i}]`;
  for (const h of cfg.hostEntries) if (macOk(h.mac.text)) return `hosts:${h.file}:${h.line}`;
  return 'default';
}

test('decide() picks the same rule as a linear walk over all rules', () => {
  fc.assert(
    fc.property(fc.array(ruleArb, { maxLength: 12 }), fc.array(hostLineArb, { maxLength: 20 }), fc.array(factsArb, { minLength: 1, maxLength: 10 }), (rules, hostLines, clients) => {
      const text = stringify({
        profiles: { a: { bios: 'a.0', efiX64: 'a.efi' }, b: { efiArm64: 'b.efi', ipxe: 'b.ipxe' } },
        rules: rules.map((r) => ({ match: r.match, ...(r.then === 'ignore' ? { action: 'ignore' } : { profile: r.then }) })),
        hostFiles: [{ path: 'hosts', profile: 'a' }],
        default: 'b',
      });
      const cfg = config(text, { '/etc/pxepool/hosts': hostLines.join('\n') });
      const policy = compilePolicy(cfg);
      for (const f of clients) {
        const d = decide(policy, f);
        assert.equal(d.rule, naiveRule(cfg, f));
        assert.deepEqual(explainDecision(policy, f).decision, d);
      }
    }),
    { numRuns: 400 },
  );
});
