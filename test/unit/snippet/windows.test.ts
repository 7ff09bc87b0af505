// The Windows snippet, checked as PowerShell would read it (test/lib/powershell-check.ts): every
// cmdlet and parameter against the DhcpServer module's documented syntax. PowerShell is not in
// Debian; docs/dhcp-server.md says what this verifies and what it cannot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildModel, renderSnippet, type SnippetMode } from '../../../src/snippet/index.ts';
import { checkDhcpPowerShell, tokenize } from '../../lib/powershell-check.ts';
import { SNIPPET_PEERS, snippetConfigs } from '../../lib/snippet-configs.ts';

const PEERS = SNIPPET_PEERS;

for (const mode of [1, 2, 3] as SnippetMode[]) {
  for (const [name, config] of Object.entries(snippetConfigs("/opt/ltsp/it's here"))) {
    test(`windows mode ${mode} (${name} config): every command is a DhcpServer cmdlet with valid parameters`, () => {
      const m = buildModel(config, mode, PEERS);
      assert.ok(m.ok);
      const text = renderSnippet('windows', m.model, ['10.0.0.5']);
      assert.deepEqual(checkDhcpPowerShell(text), [], text);
      if (mode !== 3) assert.match(text, /^Set-DhcpServerv4OptionValue /m, 'the snippet sets something');
    });
  }
}

test('the check can fail: each kind of mistake is caught', () => {
  const ok = "$Scope = '10.1.20.0'\nSet-DhcpServerv4OptionValue -ScopeId $Scope -OptionId 66 -Value '10.0.0.20'\n";
  assert.deepEqual(checkDhcpPowerShell(ok), []);
  const cases: [string, RegExp][] = [
    ["Set-DhcpServerv4OptionValue -ScopeId $Scope -OptionId 66 -Value 'x'", /\$Scope is used before it is assigned/],
    ["Set-DhcpServerv4OptionValue -OptionId 66 -Valu 'x'", /has no parameter -Valu/],
    ["Set-DhcpServerv4OptionValue -OptionId sixty -Value 'x'", /expected an unsigned integer/],
    ["Set-DhcpServerv4OptionValue -OptionId 66", /needs -Value/],
    ["Set-DhcpServerv4OptionValue -OptionId 66 -Value 'x", /unterminated/],
    ["Set-DhcpServerv4OptionValue -ScopeId 10.1.20 -OptionId 66 -Value 'x'", /expected an IPv4 address/],
    ["Add-DhcpServerv4Class -Name 'a' -Type Vendorr -Data 'PXEClient'", /expected one of Vendor, User/],
    ["Add-DhcpServerv4Class -Name 'a','b' -Type Vendor -Data 'x'", /takes one value/],
    ["Add-DhcpServerv4Policy -Name 'p' -Condition OR", /needs one of -VendorClass/],
    ["Add-DhcpServerv4Policy -Name 'p' -Condition OR -VendorClass 'x*'", /must start with EQ or NE/],
    ["Add-DhcpServerv4Policy -Name 'p' -Condition XOR -VendorClass EQ,'x*'", /expected one of AND, OR/],
    ["Add-DhcpServerv4OptionDefinition -OptionId 150 -Name 'x' -Type IPv4Address -MultiValued 'yes'", /positional argument/],
    ['Set-DhcpServerv4OptionValue -OptionId 67 -Value "$file"', /expands \$file/],
    ["Set-DhcpOption -OptionId 67 -Value 'x'", /not a DhcpServer cmdlet/],
  ];
  for (const [line, re] of cases) {
    const p = checkDhcpPowerShell(line);
    assert.ok(p.some((x) => re.test(x)), `${line}\n→ ${JSON.stringify(p)}`);
  }
  // '' inside '…' is one quote, as in PowerShell.
  assert.deepEqual(tokenize("-Value 'it''s'"), [{ t: 'word', v: '-Value' }, { t: 'string', v: "it's" }]);
});
