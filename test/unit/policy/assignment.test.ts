// An assignment (issue 18) is asked before the rules: it beats a matching rule and a host file
// line, a consumed `once` silences the client, an expired one hands back to the rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compilePolicy, decide, decideScript, explainDecision, withAssignments } from '../../../src/policy/policy.ts';
import type { AssignmentView } from '../../../src/store/model.ts';
import { config, facts } from './helpers.ts';

const base = compilePolicy(config(`
profiles:
  rules-profile: { bios: rules.0, efiX64: rules.efi }
  debian: { bios: debian.0, efiX64: debian.efi, kernel: vmlinuz, initrd: initrd.gz }
rules:
  - { match: { mac: "52:54:00:12:34:56" }, profile: rules-profile }
default: ignore
`));
const MAC = '52:54:00:12:34:56';
const withA = (a: AssignmentView | undefined) => withAssignments(base, (mac) => (mac === MAC ? a : undefined));

test('no assignment: the rules decide, as before', () => {
  const d = decide(withA(undefined), facts());
  assert.equal(d.action === 'boot' && d.profile, 'rules-profile');
  assert.deepEqual(decide(withA(undefined), facts()), decide(base, facts()));
});

test('an active assignment beats the matching rule, once or persistent', () => {
  for (const mode of ['once', 'persistent'] as const) {
    const d = decide(withA({ profile: 'debian', mode, state: 'active' }), facts());
    assert.equal(d.action, 'boot');
    if (d.action !== 'boot') return;
    assert.equal(d.profile, 'debian');
    assert.equal(d.rule, `assignment:${mode}`);
    assert.equal(d.bootFile, 'debian.efi');
  }
  const other = decide(withA({ profile: 'debian', mode: 'once', state: 'active' }), facts({ mac: '52:54:00:99:99:99' }));
  assert.equal(other.action, 'ignore', 'another MAC is untouched: default ignore');
});

test('a consumed once: ignored, whatever the rules say; also for its iPXE script', () => {
  const p = withA({ profile: 'debian', mode: 'once', state: 'consumed', consumedAt: 1 });
  const d = decide(p, facts());
  assert.equal(d.action, 'ignore');
  assert.equal(d.rule, 'assignment:once');
  assert.match(d.action === 'ignore' ? d.reason : '', /used up/);
  assert.equal(decideScript(p, facts({ isIpxe: true })).action, 'ignore');
});

test('an expired assignment hands the client back to the rules', () => {
  const d = decide(withA({ profile: 'debian', mode: 'persistent', state: 'expired', expiresAt: 5 }), facts());
  assert.equal(d.action === 'boot' && d.profile, 'rules-profile');
});

test('the lookup is given the client\'s UUID as sent and byte-swapped; an assignment found by it names where it is stored', () => {
  const asked: string[][] = [];
  const p = withAssignments(base, (mac, uuids) => { asked.push([mac, ...uuids]); return uuids.includes('44454c4c-4200-1035-8052-b2c04f503232') ? { profile: 'debian', mode: 'once', state: 'active', viaUuidOf: '52:54:00:00:00:09' } : undefined; });
  const d = decide(p, facts({ mac: '52:54:00:77:77:77', uuid: '4c4c4544-0042-3510-8052-b2c04f503232', uuidSwapped: '44454c4c-4200-1035-8052-b2c04f503232' }));
  assert.deepEqual(asked[0], ['52:54:00:77:77:77', '4c4c4544-0042-3510-8052-b2c04f503232', '44454c4c-4200-1035-8052-b2c04f503232']);
  assert.equal(d.action === 'boot' && d.profile, 'debian');
  assert.equal(d.rule, 'assignment:once (uuid, stored under 52:54:00:00:00:09)');
  assert.equal(decide(p, facts({ mac: '52:54:00:77:77:77' })).action, 'ignore', 'no UUID sent: nothing found by it');
});

test('a non-PXE client stays ignored even when assigned', () => {
  const d = decide(withA({ profile: 'debian', mode: 'persistent', state: 'active' }), facts({ pxeClient: false, vendorClass: 'MSFT 5.0' }));
  assert.equal(d.rule, 'not-pxe');
});

test('an assignment to a profile the config no longer has is ignored with that reason', () => {
  const d = decide(withA({ profile: 'gone', mode: 'persistent', state: 'active' }), facts());
  assert.equal(d.action, 'ignore');
  assert.match(d.action === 'ignore' ? d.reason : '', /profile "gone" does not exist/);
});

test('explain shows the assignment when it decides, and says when it expired', () => {
  const ex = explainDecision(withA({ profile: 'debian', mode: 'once', state: 'active', expiresAt: Date.UTC(2030, 0, 1) }), facts());
  assert.match(ex.text, /MATCH assignment: once → profile debian, active \(expires 2030-01-01T00:00:00\.000Z\)/);
  assert.equal(ex.tried.length, 0, 'the rules were not asked');
  assert.equal(ex.assignment?.profile, 'debian');
  const ex2 = explainDecision(withA({ profile: 'debian', mode: 'once', state: 'expired', expiresAt: 0 }), facts());
  assert.match(ex2.text, /no +assignment: .*expired.*the rules decide/);
  assert.match(ex2.text, /MATCH rules\[0\]/);
});
