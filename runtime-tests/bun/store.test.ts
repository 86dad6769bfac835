import { test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../packages/core/src/store/sqlite-bun.ts';
import { captureStoreSuite } from '../../packages/core/test/store-conformance.ts';

const dir = mkdtempSync(join(tmpdir(), 'bun-store-'));
let n = 0;
let current = '';
captureStoreSuite(test, {
  open: async () => {
    current = join(dir, `store-${n++}.sqlite`);
    return openSqliteStore(current);
  },
  reopen: async () => openSqliteStore(current),
});
