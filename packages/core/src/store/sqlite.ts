/**
 * The SQLite capture store: one schema and migration set for every runtime. The runtime's
 * SQLite binding is handed in as a SqliteDriver (sqlite-node.ts picks better-sqlite3 or
 * node:sqlite on Node, sqlite-bun.ts, sqlite-node-sqlite.ts on Deno); this file has no
 * runtime imports.
 *
 * Each record is kept as its export record in CBOR, so a file is the records' bytes joined,
 * plus the usage columns the dashboard reads, which purging leaves alone.
 */
import type { ExportRecord } from '@aperture-export/codec';
import {
  batchLength,
  claimKey,
  decodeStored,
  newClaimId,
  nextKeySeconds,
  storedRecord,
  withoutContent,
} from './common.ts';
import {
  type ClaimRow,
  COUNTS,
  type CountsRow,
  captureRow,
  claimFromRow,
  claimParams,
  countsFromRow,
  distinctSql,
  fileFromRow,
  INSERT_CLAIM_COLUMNS,
  INSERT_NEW_CAPTURE,
  RECENT_FILES,
  RECORD_BY_CAPTURE_ID,
  RECORD_BY_ID,
  recentSql,
  type SqlValue,
  storedFromRow,
  usageSeriesSql,
  usageSummarySql,
} from './sql.ts';
import type {
  AppendedRecord,
  CaptureStore,
  ClaimError,
  ClaimRequest,
  ExportClaim,
  ExportedFile,
  ExportTotals,
  NewCapture,
  PurgeRequest,
  StoreCounts,
  StoredRecord,
  UsagePoint,
  UsageQuery,
  UsageSeriesQuery,
  UsageSummary,
  UsageTotals,
} from './types.ts';

export type { SqlValue };

/** What the store needs from a SQLite binding. All three runtimes' bindings are synchronous. */
export interface SqliteDriver {
  /** The binding: better-sqlite3, node:sqlite or bun:sqlite. */
  readonly name: string;
  exec(sql: string): void;
  run(sql: string, params?: SqlValue[]): { changes: number };
  get<T>(sql: string, params?: SqlValue[]): T | undefined;
  all<T>(sql: string, params?: SqlValue[]): T[];
  /** Runs `fn` in a write transaction (BEGIN IMMEDIATE), rolled back if it throws. */
  transaction<T>(fn: () => T): T;
  close(): void;
}

/** Prepares each SQL text once: the adapters' statement cache. */
export function statementCache<S>(prepare: (sql: string) => S): (sql: string) => S {
  const statements = new Map<string, S>();
  return (sql) => {
    let prepared = statements.get(sql);
    if (!prepared) {
      prepared = prepare(sql);
      statements.set(sql, prepared);
    }
    return prepared;
  };
}

/**
 * A page of a claim's records after an id. Ranged and ordered in the claim index's own order
 * (c.id): ordered by r.id, SQLite sorted every remaining record of the claim, blobs and all,
 * for each page (store.test.ts checks the plan).
 */
export const CLAIM_RECORDS_PAGE = `SELECT r.id, r.record FROM captures c JOIN capture_records r ON r.id = c.id
  WHERE c.claim_id = ? AND c.id > ? AND c.id <= ? ORDER BY c.id LIMIT 256`;

/**
 * Schema versions, applied in order, each in the transaction that opens the store;
 * `PRAGMA user_version` records the last one applied. SQL, or a function for what SQL alone
 * cannot do (reading the CBOR records).
 */
const MIGRATIONS: Array<string | ((db: SqliteDriver) => void)> = [
  `CREATE TABLE captures (
     id INTEGER PRIMARY KEY,
     timestamp_ms INTEGER NOT NULL,
     login_name TEXT NOT NULL,
     node_id TEXT NOT NULL,
     model TEXT NOT NULL,
     api_type TEXT NOT NULL,
     input_tokens INTEGER NOT NULL,
     output_tokens INTEGER NOT NULL,
     cached_tokens INTEGER NOT NULL,
     reasoning_tokens INTEGER NOT NULL,
     cost_usd REAL,
     duration_ms INTEGER NOT NULL,
     status_code INTEGER NOT NULL,
     record_bytes INTEGER NOT NULL,
     content_purged INTEGER NOT NULL DEFAULT 0,
     claim_id TEXT,
     exported_at_ms INTEGER,
     export_key TEXT
   );
   -- The records themselves, apart: SQLite rewrites a whole row on any update and walks a
   -- blob's overflow pages to reach the columns after it, so small rows stay small.
   CREATE TABLE capture_records (id INTEGER PRIMARY KEY, record BLOB NOT NULL);
   CREATE INDEX captures_waiting ON captures (id) WHERE exported_at_ms IS NULL;
   CREATE INDEX captures_claim ON captures (claim_id) WHERE claim_id IS NOT NULL;
   CREATE INDEX captures_purgeable ON captures (timestamp_ms) WHERE content_purged = 0;
   CREATE INDEX captures_model ON captures (model, id);
   CREATE INDEX captures_login ON captures (login_name, id);
   CREATE TABLE export_claims (
     claim_id TEXT PRIMARY KEY,
     object_key TEXT NOT NULL,
     key_seconds INTEGER NOT NULL,
     prefix TEXT NOT NULL,
     first_id INTEGER NOT NULL,
     last_id INTEGER NOT NULL,
     record_count INTEGER NOT NULL,
     cbor_bytes INTEGER NOT NULL,
     owner TEXT NOT NULL,
     lease_until_ms INTEGER NOT NULL
   );
   CREATE TABLE store_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO store_state (name, value) VALUES
     ('next_id', 1), ('last_key_seconds', 0),
     ('exported_files', 0), ('exported_records', 0), ('exported_bytes', 0), ('exported_cbor_bytes', 0);`,
  // 2: capture ids, each stored once (idempotent ingest). Records stored before keep their
  // place; of two that share an id, the later one keeps none.
  (db) => {
    db.exec('ALTER TABLE captures ADD COLUMN capture_id TEXT');
    const seen = new Set<string>();
    for (let afterId = 0; ; ) {
      const page = db.all<{ id: number; record: Uint8Array }>(
        'SELECT id, record FROM capture_records WHERE id > ? ORDER BY id LIMIT 1000',
        [afterId],
      );
      for (const row of page) {
        const captureId = decodeStored(bytes(row.record)).capture_id;
        if (!captureId || seen.has(captureId)) continue;
        seen.add(captureId);
        db.run('UPDATE captures SET capture_id = ? WHERE id = ?', [captureId, row.id]);
      }
      if (page.length < 1000) break;
      afterId = page.at(-1)!.id;
    }
    db.exec(
      'CREATE UNIQUE INDEX captures_capture_id ON captures (capture_id) WHERE capture_id IS NOT NULL',
    );
  },
  // 3: a claim's whole destination ('' for claims made before: they take the current one),
  // and the last error met at it (JSON).
  `ALTER TABLE export_claims ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
   ALTER TABLE export_claims ADD COLUMN bucket TEXT NOT NULL DEFAULT '';
   ALTER TABLE export_claims ADD COLUMN last_error TEXT;`,
  // 4: usage by time (the dashboard's charts and filters), and a row per file exported.
  `CREATE INDEX captures_time ON captures (timestamp_ms);
   CREATE TABLE export_files (
     object_key TEXT NOT NULL,
     endpoint TEXT NOT NULL,
     bucket TEXT NOT NULL,
     records INTEGER NOT NULL,
     bytes INTEGER NOT NULL,
     cbor_bytes INTEGER NOT NULL,
     exported_at_ms INTEGER NOT NULL
   );`,
];

/** The page size of a store's new file, in bytes. */
export const PAGE_SIZE = 8192;

/** Blobs come back as Buffer (better-sqlite3) or Uint8Array: hand out plain Uint8Arrays. */
const bytes = (blob: Uint8Array): Uint8Array =>
  new Uint8Array(blob.buffer, blob.byteOffset, blob.byteLength);

export class SqliteStore implements CaptureStore {
  readonly #db: SqliteDriver;
  readonly description: string;

  constructor(driver: SqliteDriver) {
    this.#db = driver;
    this.description = `SQLite (${driver.name})`;
    // WAL: ingestion goes on while the exporter reads. FULL: a committed capture survives
    // power loss, not only a process crash. busy_timeout: several processes may share the file.
    // cache_size: SQLite's own default of 2 MiB on every runtime (better-sqlite3 raises it to
    // 16 MiB): the exporter reads each record once, so a larger cache holds exported content.
    // page_size: 8 KiB pages for a new file (an existing one keeps its own): a commit writes
    // fewer frames to the WAL, and batches of captures went 23% faster than with 4 KiB, single
    // captures as fast (BENCHMARKS.md). It must come before WAL mode, which fixes the size.
    driver.exec(
      `PRAGMA page_size = ${PAGE_SIZE}; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; PRAGMA cache_size = -2000;`,
    );
    this.#migrate();
  }

  #migrate(): void {
    this.#db.transaction(() => {
      const version = this.#db.get<{ user_version: number }>('PRAGMA user_version')!.user_version;
      if (version > MIGRATIONS.length) {
        throw new Error(
          `capture store schema version ${version} is newer than this program's (${MIGRATIONS.length}); upgrade the program`,
        );
      }
      for (let v = version; v < MIGRATIONS.length; v++) {
        const migration = MIGRATIONS[v]!;
        if (typeof migration === 'string') this.#db.exec(migration);
        else migration(this.#db);
      }
      this.#db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    });
  }

  #state(name: string): number {
    return this.#db.get<{ value: number }>('SELECT value FROM store_state WHERE name = ?', [name])!
      .value;
  }

  #setState(name: string, value: number): void {
    this.#db.run('UPDATE store_state SET value = ? WHERE name = ?', [value, name]);
  }

  async append(captures: NewCapture[]): Promise<AppendedRecord[]> {
    return this.#db.transaction(() => {
      let nextId = this.#state('next_id');
      const appended = captures.map((capture): AppendedRecord => {
        const { record, cbor } = storedRecord(capture, nextId);
        // A capture_id stored before leaves the row out (its unique index says so, without a
        // lookup of its own for every new capture): the record stored then is the answer.
        const { changes } = this.#db.run(INSERT_NEW_CAPTURE, captureRow(record, cbor.byteLength));
        if (changes === 0) {
          const known = this.#db.get<{ record: Uint8Array }>(RECORD_BY_CAPTURE_ID, [
            capture.capture_id!,
          ])!;
          return { ...decodeStored(bytes(known.record)), duplicate: true };
        }
        nextId++;
        this.#db.run('INSERT INTO capture_records (id, record) VALUES (?, ?)', [record.id, cbor]);
        return record;
      });
      this.#setState('next_id', nextId);
      return appended;
    });
  }

  async recent(query: UsageQuery): Promise<ExportRecord[]> {
    const { sql, params } = recentSql(query);
    return this.#db
      .all<{ record: Uint8Array }>(sql, params)
      .map((row) => decodeStored(bytes(row.record)));
  }

  async record(id: number): Promise<StoredRecord | undefined> {
    const row = this.#db.get<Parameters<typeof storedFromRow>[0] & { record: Uint8Array }>(
      RECORD_BY_ID,
      [id],
    );
    return row && storedFromRow(row, decodeStored(bytes(row.record)));
  }

  async usageSummary(sinceMs: number, untilMs = Number.MAX_SAFE_INTEGER): Promise<UsageSummary> {
    const group = (column: 'model' | 'login_name') =>
      this.#db.all<UsageTotals>(usageSummarySql(column), [sinceMs, untilMs]);
    return { byModel: group('model'), byLogin: group('login_name') };
  }

  async usageSeries(query: UsageSeriesQuery): Promise<UsagePoint[]> {
    const { sql, params } = usageSeriesSql(query);
    return this.#db
      .all<UsageTotals & { bucket: number }>(sql, params)
      .map(({ bucket, ...totals }) => ({
        ...totals,
        bucketStartMs: query.sinceMs + bucket * query.bucketMs,
      }));
  }

  async recentFiles(limit: number): Promise<ExportedFile[]> {
    return this.#db.all<Parameters<typeof fileFromRow>[0]>(RECENT_FILES, [limit]).map(fileFromRow);
  }

  async filterValues(): Promise<{ models: string[]; logins: string[] }> {
    const values = (column: 'model' | 'login_name') =>
      this.#db.all<{ value: string }>(distinctSql(column)).map((row) => row.value);
    return { models: values('model'), logins: values('login_name') };
  }

  async claimNext(request: ClaimRequest): Promise<ExportClaim | undefined> {
    return this.#db.transaction(() => {
      const waiting = this.#db.all<{ id: number; record_bytes: number }>(
        'SELECT id, record_bytes FROM captures WHERE exported_at_ms IS NULL AND claim_id IS NULL ORDER BY id LIMIT ?',
        [request.limit],
      );
      const length = batchLength(
        waiting.map((row) => row.record_bytes),
        request.limit,
        request.maxBytes,
      );
      if (length === 0) return undefined;
      const rows = waiting.slice(0, length);
      const keySeconds = nextKeySeconds(this.#state('last_key_seconds'), request.nowMs);
      this.#setState('last_key_seconds', keySeconds);
      const claim: ExportClaim = {
        ...request.destination,
        claimId: newClaimId(),
        objectKey: claimKey(request.destination.prefix, keySeconds),
        keySeconds,
        firstId: rows[0]!.id,
        lastId: rows.at(-1)!.id,
        recordCount: rows.length,
        cborBytes: rows.reduce((sum, row) => sum + row.record_bytes, 0),
        owner: request.owner,
        leaseUntil: request.nowMs + request.leaseMs,
      };
      const { changes } = this.#db.run(
        'UPDATE captures SET claim_id = ? WHERE id BETWEEN ? AND ? AND exported_at_ms IS NULL AND claim_id IS NULL',
        [claim.claimId, claim.firstId, claim.lastId],
      );
      if (changes !== claim.recordCount) {
        throw new Error(
          `claim of records ${claim.firstId}-${claim.lastId} took ${changes} rows, expected ${claim.recordCount}`,
        );
      }
      this.#db.run(
        `INSERT INTO export_claims (${INSERT_CLAIM_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        claimParams(claim),
      );
      return claim;
    });
  }

  async resumableClaims(owner: string, nowMs: number): Promise<ExportClaim[]> {
    return this.#db
      .all<ClaimRow>(
        'SELECT * FROM export_claims WHERE owner = ? OR lease_until_ms <= ? ORDER BY first_id',
        [owner, nowMs],
      )
      .map(claimFromRow);
  }

  async leaseClaim(
    claimId: string,
    owner: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<ExportClaim | undefined> {
    return this.#db.transaction(() => {
      const { changes } = this.#db.run(
        'UPDATE export_claims SET owner = ?, lease_until_ms = ? WHERE claim_id = ? AND (owner = ? OR lease_until_ms <= ?)',
        [owner, nowMs + leaseMs, claimId, owner, nowMs],
      );
      if (changes === 0) return undefined;
      return claimFromRow(
        this.#db.get<ClaimRow>('SELECT * FROM export_claims WHERE claim_id = ?', [claimId])!,
      );
    });
  }

  async renewLeases(owner: string, nowMs: number, leaseMs: number): Promise<number> {
    return this.#db.run('UPDATE export_claims SET lease_until_ms = ? WHERE owner = ?', [
      nowMs + leaseMs,
      owner,
    ]).changes;
  }

  async releaseLeases(owner: string): Promise<number> {
    return this.#db.run('UPDATE export_claims SET lease_until_ms = 0 WHERE owner = ?', [owner])
      .changes;
  }

  async rekeyClaim(
    claimId: string,
    fromKey: string,
    nowMs: number,
  ): Promise<ExportClaim | undefined> {
    return this.#db.transaction(() => {
      const row = this.#db.get<ClaimRow>('SELECT * FROM export_claims WHERE claim_id = ?', [
        claimId,
      ]);
      if (!row) return undefined;
      if (row.object_key !== fromKey) return claimFromRow(row); // someone re-keyed it already
      const keySeconds = nextKeySeconds(this.#state('last_key_seconds'), nowMs);
      this.#setState('last_key_seconds', keySeconds);
      const objectKey = claimKey(row.prefix, keySeconds);
      this.#db.run('UPDATE export_claims SET object_key = ?, key_seconds = ? WHERE claim_id = ?', [
        objectKey,
        keySeconds,
        claimId,
      ]);
      return claimFromRow({ ...row, object_key: objectKey, key_seconds: keySeconds });
    });
  }

  async recordClaimError(claimId: string, error: ClaimError): Promise<void> {
    this.#db.run('UPDATE export_claims SET last_error = ? WHERE claim_id = ?', [
      JSON.stringify(error),
      claimId,
    ]);
  }

  async listClaims(): Promise<ExportClaim[]> {
    return this.#db
      .all<ClaimRow>('SELECT * FROM export_claims ORDER BY first_id')
      .map(claimFromRow);
  }

  async releaseClaim(claimId: string): Promise<ExportClaim | undefined> {
    return this.#db.transaction(() => {
      const row = this.#db.get<ClaimRow>('SELECT * FROM export_claims WHERE claim_id = ?', [
        claimId,
      ]);
      if (!row) return undefined;
      this.#db.run('DELETE FROM export_claims WHERE claim_id = ?', [claimId]);
      this.#db.run('UPDATE captures SET claim_id = NULL WHERE claim_id = ?', [claimId]);
      return claimFromRow(row);
    });
  }

  async *claimRecords(claim: ExportClaim): AsyncIterable<Uint8Array> {
    let afterId = claim.firstId - 1;
    for (;;) {
      const page = this.#db.all<{ id: number; record: Uint8Array }>(CLAIM_RECORDS_PAGE, [
        claim.claimId,
        afterId,
        claim.lastId,
      ]);
      for (const row of page) yield bytes(row.record);
      if (page.length < 256) return;
      afterId = page.at(-1)!.id;
    }
  }

  async completeClaim(claim: ExportClaim, exportedAtMs: number, fileBytes: number): Promise<void> {
    this.#db.transaction(() => {
      const { changes: claimed } = this.#db.run('DELETE FROM export_claims WHERE claim_id = ?', [
        claim.claimId,
      ]);
      if (claimed === 0) return; // completed already (by another exporter that finished it)
      const { changes } = this.#db.run(
        'UPDATE captures SET claim_id = NULL, exported_at_ms = ?, export_key = ? WHERE claim_id = ?',
        [exportedAtMs, claim.objectKey, claim.claimId],
      );
      this.#setState('exported_files', this.#state('exported_files') + 1);
      this.#setState('exported_records', this.#state('exported_records') + changes);
      this.#setState('exported_bytes', this.#state('exported_bytes') + fileBytes);
      this.#setState('exported_cbor_bytes', this.#state('exported_cbor_bytes') + claim.cborBytes);
      this.#db.run(
        `INSERT INTO export_files (object_key, endpoint, bucket, records, bytes, cbor_bytes, exported_at_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
        [
          claim.objectKey,
          claim.endpoint,
          claim.bucket,
          changes,
          fileBytes,
          claim.cborBytes,
          exportedAtMs,
        ],
      );
    });
  }

  async purgeContent(request: PurgeRequest): Promise<number> {
    return this.#db.transaction(() => {
      const rows = this.#db.all<{ id: number; record: Uint8Array }>(
        `SELECT c.id, r.record FROM captures c JOIN capture_records r ON r.id = c.id
         WHERE c.content_purged = 0 AND c.claim_id IS NULL AND c.timestamp_ms < ?
           ${request.requireExported ? 'AND c.exported_at_ms IS NOT NULL' : ''}
         ORDER BY c.id LIMIT ?`,
        [request.olderThanMs, request.batchSize ?? 1000],
      );
      for (const row of rows) {
        const purged = withoutContent(bytes(row.record));
        this.#db.run('UPDATE capture_records SET record = ? WHERE id = ?', [purged, row.id]);
        this.#db.run('UPDATE captures SET record_bytes = ?, content_purged = 1 WHERE id = ?', [
          purged.byteLength,
          row.id,
        ]);
      }
      return rows.length;
    });
  }

  async counts(): Promise<StoreCounts> {
    return countsFromRow(this.#db.get<CountsRow>(COUNTS)!);
  }

  async exportTotals(): Promise<ExportTotals> {
    return {
      files: this.#state('exported_files'),
      records: this.#state('exported_records'),
      bytes: this.#state('exported_bytes'),
      cborBytes: this.#state('exported_cbor_bytes'),
    };
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
