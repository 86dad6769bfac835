import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { captureStoreSuite } from '../testing/store-conformance.ts';
import { MemoryStore } from './memory.ts';
import { CLAIM_RECORDS_PAGE } from './sqlite.ts';
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

  it("reads a claim's records in index order, without sorting them (and their blobs) per page", async () => {
    const path = join(dir, 'plan.sqlite');
    await (await openSqliteStore(path)).close();
    const db = new Database(path, { readonly: true });
    const plan = (
      db.prepare(`EXPLAIN QUERY PLAN ${CLAIM_RECORDS_PAGE}`).all('claim', 0, 1000) as {
        detail: string;
      }[]
    ).map((step) => step.detail);
    db.close();
    expect(plan.join('\n')).toContain('captures_claim');
    expect(plan.join('\n')).not.toContain('TEMP B-TREE');
  });
});
