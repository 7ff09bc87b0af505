// store: and api: in the config file, through the config machinery (file:line:col).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatErrors, parseConfigText } from '../../../src/config/load.ts';

const parse = (text: string) => parseConfigText(text, 'p.yaml', { readFile: () => '' });

test('store and api parse with their defaults', () => {
  const r = parse('store: { url: "postgres://pxepool@db/pxepool" }\napi: { tokenFile: /etc/pxepool/token }\n');
  assert.ok(r.ok);
  if (!r.ok) return;
  assert.deepEqual(r.config.store, { url: 'postgres://pxepool@db/pxepool', refreshMs: 2000 });
  assert.deepEqual(r.config.api, { tokenFile: '/etc/pxepool/token', publicRead: false });
  const none = parse('root: /srv/x\n');
  assert.ok(none.ok && none.config.store === undefined && none.config.api.tokenFile === undefined, 'no store: section, no store');
});

test('store and api mistakes name the line and column', () => {
  const cases: [string, RegExp][] = [
    ['root: /x\nstore:\n  url: mysql://db\n', /^p\.yaml:3:8: .*PostgreSQL URL/m],
    ['root: /x\nstore: { path: /a.db, url: "postgres://d/b" }\n', /^p\.yaml:2:\d+: .*not both/m],
    ['root: /x\napi:\n  publicRead: yes\n', /^p\.yaml:3:\d+: .*true or false/m],
    ['root: /x\napi:\n  token: abc\n', /^p\.yaml:3:\d+: .*token/m],
  ];
  for (const [text, re] of cases) {
    const r = parse(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(formatErrors(r.errors), re);
  }
});

test('api without a store: a warning that says what to add', () => {
  const r = parse('root: /x\napi:\n  tokenFile: /etc/pxepool/token\n');
  assert.ok(r.ok);
  assert.match(formatErrors(r.warnings), /^p\.yaml:3:3: .*needs a store: section/m);
});
