import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureStoreSuite, captures } from '../testing/store-conformance.ts';
import { MemoryStore } from './memory.ts';
import { CLAIM_RECORDS_PAGE, PAGE_SIZE, type SqliteDriver, SqliteStore } from './sqlite.ts';
import {
  firstWorkingBinding,
  NODE_SQLITE_BINDINGS,
  nodeSqliteBinding,
  openSqliteStore,
  type SqliteBinding,
} from './sqlite-node.ts';

describe('MemoryStore', () => {
  captureStoreSuite(it, { open: async () => new MemoryStore() });
});

/** Whether a binding opens a database on this Node (better-sqlite3: if built for its ABI). */
const works = (binding: SqliteBinding) => {
  try {
    binding.open(':memory:').close();
    return true;
  } catch {
    return false;
  }
};
const working = NODE_SQLITE_BINDINGS.filter(works);
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);

describe('SQLite on Node', () => {
  it('has a binding on every supported Node, node:sqlite from 22.13 on, and picks the first that works', () => {
    // Node 20 has only better-sqlite3 (built by pnpm install); Node >= 22.13 always has node:sqlite.
    expect(working.length).toBeGreaterThan(0);
    if (major > 22 || (major === 22 && minor >= 13))
      expect(working.map((binding) => binding.name)).toContain('node:sqlite');
    else expect(working.map((binding) => binding.name)).toEqual(['better-sqlite3']);
    expect(nodeSqliteBinding()).toBe(working[0]);
    expect(openSqliteStore(':memory:').description).toBe(`SQLite (${working[0]!.name})`);
  });

  it('tries bindings in order and says why each one failed when none works', () => {
    const opens = (name: string): SqliteBinding => ({
      name,
      open: () => ({ close() {} }) as SqliteDriver,
    });
    const fails = (name: string, message: string): SqliteBinding => ({
      name,
      open: () => {
        throw new Error(message);
      },
    });
    expect(firstWorkingBinding([opens('a'), opens('b')]).name).toBe('a');
    expect(firstWorkingBinding([fails('a', 'no addon'), opens('b')]).name).toBe('b');
    const error = (() => {
      try {
        firstWorkingBinding([fails('a', 'no addon'), fails('b', 'too old')]);
      } catch (error) {
        return error as AggregateError;
      }
    })();
    expect(error).toBeInstanceOf(AggregateError);
    expect(error!.message).toMatch(
      /^sqlite-node: no SQLite binding works on Node .*: a: no addon; b: too old$/,
    );
    expect(error!.errors.map((cause: Error) => cause.message)).toEqual(['no addon', 'too old']);
  });
});

// Every binding that works on this Node: better-sqlite3 on Node 20 (and wherever it is built
// for the running Node), node:sqlite from Node 22.13 on (Node 24 in `pnpm test:node24`).
describe.each(working.map(({ name }) => name))('SqliteStore on Node (%s)', (name) => {
  const binding = working.find((candidate) => candidate.name === name)!;
  const dir = mkdtempSync(join(tmpdir(), 'store-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;
  let current = '';
  const open = (path: string) => new SqliteStore(binding.open(path));
  captureStoreSuite(it, {
    open: async () => {
      current = join(dir, `store-${n++}.sqlite`);
      return open(current);
    },
    reopen: async () => open(current),
  });

  it('makes a new file with 8 KiB pages, and opens one of 4 KiB as it is', async () => {
    const fresh = join(dir, 'pages-new.sqlite');
    await open(fresh).close();
    const pageSize = (path: string) => {
      const db = binding.open(path);
      try {
        return db.get<{ page_size: number }>('PRAGMA page_size')!.page_size;
      } finally {
        db.close();
      }
    };
    expect(pageSize(fresh)).toBe(PAGE_SIZE);
    expect(PAGE_SIZE).toBe(8192);

    const old = join(dir, 'pages-old.sqlite');
    const db = binding.open(old);
    db.exec('PRAGMA page_size = 4096; PRAGMA journal_mode = WAL; CREATE TABLE early (x)');
    db.close();
    const store = open(old);
    await store.append(captures(3));
    expect((await store.counts()).records).toBe(3);
    await store.close();
    expect(pageSize(old)).toBe(4096);
  });

  it("reads a claim's records in index order, without sorting them (and their blobs) per page", async () => {
    const path = join(dir, 'plan.sqlite');
    await open(path).close();
    const db = binding.open(path);
    const plan = db
      .all<{ detail: string }>(`EXPLAIN QUERY PLAN ${CLAIM_RECORDS_PAGE}`, ['claim', 0, 1000])
      .map((step) => step.detail);
    db.close();
    expect(plan.join('\n')).toContain('captures_claim');
    expect(plan.join('\n')).not.toContain('TEMP B-TREE');
  });

  it('upgrades a store of schema 1: capture ids learnt from the records, claims without a destination', async () => {
    const path = join(dir, 'v1.sqlite');
    const store = open(path);
    await store.append(captures(3));
    await store.close();
    // Back to schema 1, with a fourth record that repeats the first one's capture id (schema 1
    // stored whatever it was sent).
    const db = binding.open(path);
    db.exec(`DROP INDEX captures_time; DROP TABLE export_files; DROP INDEX captures_capture_id; ALTER TABLE captures DROP COLUMN capture_id;
      ALTER TABLE export_claims DROP COLUMN endpoint; ALTER TABLE export_claims DROP COLUMN bucket;
      ALTER TABLE export_claims DROP COLUMN last_error;
      INSERT INTO export_claims (claim_id, object_key, key_seconds, prefix, first_id, last_id,
        record_count, cbor_bytes, owner, lease_until_ms)
        VALUES ('old-claim', 'p/ts-aperture-export-1.cbor.zstd', 1, 'p', 2, 2, 1, 0, 'x', 0);
      UPDATE captures SET claim_id = 'old-claim' WHERE id = 2;
      INSERT INTO capture_records SELECT 4, record FROM capture_records WHERE id = 1;
      INSERT INTO captures (id, timestamp_ms, login_name, node_id, model, api_type, input_tokens,
        output_tokens, cached_tokens, reasoning_tokens, cost_usd, duration_ms, status_code, record_bytes)
        SELECT 4, timestamp_ms, login_name, node_id, model, api_type, input_tokens, output_tokens,
        cached_tokens, reasoning_tokens, cost_usd, duration_ms, status_code, record_bytes
        FROM captures WHERE id = 1;
      UPDATE store_state SET value = 5 WHERE name = 'next_id';
      PRAGMA user_version = 1;`);
    db.close();
    const upgraded = open(path);
    try {
      expect((await upgraded.counts()).records).toBe(4);
      // A claim from before destinations were recorded: it takes the current one.
      expect(await upgraded.listClaims()).toMatchObject([
        { claimId: 'old-claim', endpoint: '', bucket: '', prefix: 'p' },
      ]);
      const [again, fresh] = await upgraded.append([...captures(1), ...captures(1, 2)]);
      expect([again!.id, again!.duplicate, fresh!.id, fresh!.duplicate]).toEqual([
        1,
        true,
        5,
        undefined,
      ]);
    } finally {
      await upgraded.close();
    }
  });
});
