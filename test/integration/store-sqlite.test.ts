// The store suite against the embedded node:sqlite backend, in a temporary file.

import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite.ts';
import { storeSuite } from '../lib/store-suite.ts';

const dir = mkdtempSync(join(tmpdir(), 'pxepool-sqlite-'));
after(() => rmSync(dir, { recursive: true, force: true }));
storeSuite('sqlite', async () => openSqliteStore(join(dir, 'sub', 'pxepool.db')), false);
