import { test } from 'bun:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@aperture-export/core/sqlite-bun';
import { captureStoreSuite } from '@aperture-export/core/testing';

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
