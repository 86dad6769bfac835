import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, it } from 'vitest';
import { captureStoreSuite } from '../../test/store-conformance.ts';
import { MemoryStore } from './memory.ts';
import { openSqliteStore } from './sqlite-node.ts';

describe('MemoryStore', () => {
  captureStoreSuite(it, { open: async () => new MemoryStore() });
});

describe('SqliteStore on Node (better-sqlite3)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'store-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  let current = '';
  captureStoreSuite(it, {
    open: async () => {
      current = join(dir, `store-${n++}.sqlite`);
      return openSqliteStore(current);
    },
    reopen: async () => openSqliteStore(current),
  });
});
