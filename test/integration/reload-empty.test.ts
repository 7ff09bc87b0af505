// A truncated config file on reload must not turn a selective server into "answer everyone"
// (hostile-segment issue, defect 4): the reload is refused and the running policy stays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../../src/app/serve.ts';
import { loadConfig } from '../../src/config/load.ts';
import { createLogger } from '../../src/observe/log.ts';

test('reload of an emptied config file is refused; the ignore rules keep working', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'pxepool-reload-empty-'));
  const file = join(dir, 'pxepool.yaml');
  writeFileSync(file, `root: ${dir}\ntftp: { enabled: false }\nhttp: { enabled: false }\nserver: { proxyDhcp: off }\nprofiles: { lab: { bios: pxelinux.0 } }\nrules:\n  - { match: { mac: "52:54:00:*" }, profile: lab }\ndefault: ignore\n`);
  const r = loadConfig(file);
  assert.ok(r.ok);
  if (!r.ok) return;
  const app = await serve({ config: r.config, configPath: file, logger: createLogger('silent') });
  try {
    for (const text of ['', '\n  \n', '# half-written\n']) {
      writeFileSync(file, text);
      const res = app.reload();
      assert.equal(res.ok, false, JSON.stringify(text));
      assert.match(res.message, /empty/);
      assert.equal(app.config.default, 'ignore');
    }
  } finally {
    await app.close();
  }
});
