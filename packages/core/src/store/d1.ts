/**
 * The capture store on Cloudflare D1 (the worker entry's). The same schema and SQL as the SQLite
 * store, but D1 has no interactive transactions: what SQLite does in one transaction, this store
 * does with single statements that are atomic on their own (`UPDATE … RETURNING` reserves ids
 * and key timestamps) and with `batch()`, whose statements commit together or not at all. Where
 * a batch must only act if an earlier read still holds, its statements carry that read as a
 * condition, and the store checks what they changed.
 *
 * D1's limits shape it too: at most 100 bound parameters a statement (capture ids are looked
 * up in chunks), and about 2 MB a row: a record over MAX_D1_RECORD_BYTES loses its raw bodies
 * (the JSON bodies stay), and its headers say so. Records are kept as base64 text, not BLOBs:
 * D1 hands a BLOB back as an array of numbers, too large for a Worker's memory at file sizes.
 *
 * The binding is passed in; its types are declared here (the little of D1's API this uses), so
 * core needs no Workers types. The schema: D1_SCHEMA, applied by the worker's migrations.
 */
import { base64ToBytes, bytesToBase64, type ExportRecord } from '@aperture-export/codec';
import {
  batchLength,
  claimKey,
  decodeStored,
  newClaimId,
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

export interface D1Result<T = Record<string, unknown>> {
  results: T[];
  meta: { changes: number };
}

export interface D1PreparedStatement {
  bind(...values: unknown[]): D1PreparedStatement;
  first<T = Record<string, unknown>>(): Promise<T | null>;
  all<T = Record<string, unknown>>(): Promise<D1Result<T>>;
  run(): Promise<D1Result>;
}

/** The part of a Worker's D1 binding the store uses. */
export interface D1Database {
  prepare(sql: string): D1PreparedStatement;
  batch(statements: D1PreparedStatement[]): Promise<D1Result[]>;
}

/** The schema, statement by statement (the worker's migrations/0001_init.sql holds the same). */
export const D1_SCHEMA = [
  `CREATE TABLE captures (id INTEGER PRIMARY KEY, timestamp_ms INTEGER NOT NULL,
    login_name TEXT NOT NULL, node_id TEXT NOT NULL, model TEXT NOT NULL, api_type TEXT NOT NULL,
    input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
    reasoning_tokens INTEGER NOT NULL, cost_usd REAL, duration_ms INTEGER NOT NULL,
    status_code INTEGER NOT NULL, record_bytes INTEGER NOT NULL,
    content_purged INTEGER NOT NULL DEFAULT 0, claim_id TEXT, exported_at_ms INTEGER,
    export_key TEXT, capture_id TEXT)`,
  // The CBOR record as base64 text: D1 answers a BLOB as an array of numbers, which takes 8 or
  // more bytes of a Worker's memory per byte, where base64 takes 1.33.
  'CREATE TABLE capture_records (id INTEGER PRIMARY KEY, record TEXT NOT NULL)',
  'CREATE INDEX captures_waiting ON captures (id) WHERE exported_at_ms IS NULL',
  'CREATE INDEX captures_claim ON captures (claim_id) WHERE claim_id IS NOT NULL',
  'CREATE INDEX captures_purgeable ON captures (timestamp_ms) WHERE content_purged = 0',
  'CREATE INDEX captures_model ON captures (model, id)',
  'CREATE INDEX captures_login ON captures (login_name, id)',
  'CREATE INDEX captures_time ON captures (timestamp_ms)',
  'CREATE UNIQUE INDEX captures_capture_id ON captures (capture_id) WHERE capture_id IS NOT NULL',
  `CREATE TABLE export_claims (claim_id TEXT PRIMARY KEY, object_key TEXT NOT NULL,
    key_seconds INTEGER NOT NULL, prefix TEXT NOT NULL, first_id INTEGER NOT NULL,
    last_id INTEGER NOT NULL, record_count INTEGER NOT NULL, cbor_bytes INTEGER NOT NULL,
    owner TEXT NOT NULL, lease_until_ms INTEGER NOT NULL, endpoint TEXT NOT NULL DEFAULT '',
    bucket TEXT NOT NULL DEFAULT '', last_error TEXT)`,
  `CREATE TABLE export_files (object_key TEXT NOT NULL, endpoint TEXT NOT NULL,
    bucket TEXT NOT NULL, records INTEGER NOT NULL, bytes INTEGER NOT NULL,
    cbor_bytes INTEGER NOT NULL, exported_at_ms INTEGER NOT NULL)`,
  'CREATE TABLE store_state (name TEXT PRIMARY KEY, value INTEGER NOT NULL)',
  `INSERT INTO store_state (name, value) VALUES ('next_id', 1), ('last_key_seconds', 0),
    ('exported_files', 0), ('exported_records', 0), ('exported_bytes', 0),
    ('exported_cbor_bytes', 0)`,
  // One export at a time across a Worker's invocations (D1Store.acquireExportLease).
  'CREATE TABLE export_lease (name TEXT PRIMARY KEY, owner TEXT NOT NULL, until_ms INTEGER NOT NULL)',
];

/** The largest record (CBOR bytes) kept whole: its base64, a third larger (1.87 MB), fits D1's 2 MB row. */
export const MAX_D1_RECORD_BYTES = 1_400_000;
/** Capture ids looked up per statement (D1 allows 100 bound parameters). */
const IDS_PER_STATEMENT = 90;
/** Records read per page of a claim: pages stay far below D1's response limits. */
const CLAIM_PAGE = 64;
/** Header a record carries when its raw body was dropped to fit a D1 row. */
export const RAW_BODY_DROPPED_HEADER = 'x-aperture-raw-body-dropped';

/** A stored record's CBOR, from its base64 column. */
const blob = (value: unknown): Uint8Array => {
  const bytes = typeof value === 'string' ? base64ToBytes(value) : undefined;
  if (!bytes)
    throw new Error(
      `d1: a stored record is not base64 text but ${typeof value} (a database from another program?)`,
    );
  return bytes;
};

/**
 * A record whose CBOR would not fit a D1 row: its raw bodies dropped, each side's headers
 * naming how many bytes went. Throws if it is still too large (its JSON bodies alone are).
 */
function fitD1Row(capture: NewCapture, id: number): { record: ExportRecord; cbor: Uint8Array } {
  const stored = storedRecord(capture, id);
  if (stored.cbor.byteLength <= MAX_D1_RECORD_BYTES || !capture.capture) return stored;
  const { request, response } = capture.capture;
  const dropped = (side: typeof request | typeof response) =>
    side.raw_body
      ? {
          ...side,
          raw_body: undefined,
          headers: {
            ...side.headers,
            [RAW_BODY_DROPPED_HEADER]: `${side.raw_body.byteLength} bytes`,
          },
        }
      : side;
  const slim = {
    ...capture,
    capture: { ...capture.capture, request: dropped(request), response: dropped(response) },
  };
  for (const side of [slim.capture.request, slim.capture.response])
    if (side.raw_body === undefined) delete (side as { raw_body?: Uint8Array }).raw_body;
  const fitted = storedRecord(slim as NewCapture, id);
  if (fitted.cbor.byteLength > MAX_D1_RECORD_BYTES) {
    throw new Error(
      `d1: capture ${capture.capture_id || '(no capture_id)'} is ${fitted.cbor.byteLength} bytes without its raw bodies; a D1 row holds at most ${MAX_D1_RECORD_BYTES}`,
    );
  }
  return fitted;
}

export class D1Store implements CaptureStore {
  readonly description = 'Cloudflare D1';
  readonly #db: D1Database;

  constructor(db: D1Database) {
    this.#db = db;
  }

  #statement(sql: string, params: SqlValue[] = []): D1PreparedStatement {
    // Records go in as base64 text (see D1_SCHEMA).
    const values = params.map((value) =>
      value instanceof Uint8Array ? bytesToBase64(value) : value,
    );
    return this.#db.prepare(sql).bind(...values);
  }

  async #all<T>(sql: string, params: SqlValue[] = []): Promise<T[]> {
    return (await this.#statement(sql, params).all<T>()).results;
  }

  async #first<T>(sql: string, params: SqlValue[] = []): Promise<T | undefined> {
    return (await this.#statement(sql, params).first<T>()) ?? undefined;
  }

  /** Adds `by` to a counter in one statement, returning its new value. */
  async #bump(name: string, by: number): Promise<number> {
    return (await this.#first<{ value: number }>(
      'UPDATE store_state SET value = value + ? WHERE name = ? RETURNING value',
      [by, name],
    ))!.value;
  }

  /** The next object key's timestamp: after the last one, and not before now. */
  async #nextKeySeconds(nowMs: number): Promise<number> {
    return (await this.#first<{ value: number }>(
      `UPDATE store_state SET value = MAX(value + 1, ?) WHERE name = 'last_key_seconds' RETURNING value`,
      [Math.floor(nowMs / 1000)],
    ))!.value;
  }

  async #knownCaptures(captureIds: string[]): Promise<Map<string, Uint8Array>> {
    const known = new Map<string, Uint8Array>();
    for (let i = 0; i < captureIds.length; i += IDS_PER_STATEMENT) {
      const chunk = captureIds.slice(i, i + IDS_PER_STATEMENT);
      const rows = await this.#all<{ capture_id: string; record: unknown }>(
        `SELECT c.capture_id, r.record FROM captures c JOIN capture_records r ON r.id = c.id
         WHERE c.capture_id IN (${chunk.map(() => '?').join(', ')})`,
        chunk,
      );
      for (const row of rows) known.set(row.capture_id, blob(row.record));
    }
    return known;
  }

  async append(captures: NewCapture[]): Promise<AppendedRecord[]> {
    const named = [...new Set(captures.map((c) => c.capture_id).filter((id) => id))];
    const known = await this.#knownCaptures(named);
    // Which captures are new: not stored, and not named earlier in this call.
    const firstOfId = new Map<string, number>();
    const isNew = captures.map((capture, i) => {
      const id = capture.capture_id;
      if (!id) return true;
      if (known.has(id) || firstOfId.has(id)) return false;
      firstOfId.set(id, i);
      return true;
    });
    const count = isNew.filter(Boolean).length;
    // Ids reserved in one statement: appends running at once never share one.
    let nextId = count === 0 ? 0 : (await this.#bump('next_id', count)) - count;
    const stored = captures.map((capture, i) =>
      isNew[i] ? fitD1Row(capture, nextId++) : undefined,
    );
    const statements = stored.flatMap((entry) =>
      entry
        ? [
            // A capture_id stored by another append since the lookup is left as it is.
            this.#statement(INSERT_NEW_CAPTURE, captureRow(entry.record, entry.cbor.byteLength)),
            this.#statement(
              'INSERT INTO capture_records (id, record) SELECT ?, ? WHERE EXISTS (SELECT 1 FROM captures WHERE id = ?)',
              [entry.record.id, entry.cbor, entry.record.id],
            ),
          ]
        : [],
    );
    const results = statements.length ? await this.#db.batch(statements) : [];
    // Which captures this batch stored (two statements each).
    const inserted = new Set<number>();
    let at = 0;
    for (const [i, entry] of stored.entries()) {
      if (!entry) continue;
      if (results[at]!.meta.changes > 0) inserted.add(i);
      at += 2;
    }
    const out: AppendedRecord[] = [];
    for (const [i, capture] of captures.entries()) {
      if (inserted.has(i)) {
        out.push(stored[i]!.record);
        continue;
      }
      // Stored before: earlier in this call, by an earlier append, or by one running at once.
      const first = firstOfId.get(capture.capture_id);
      const earlier = first !== undefined && first < i ? out[first] : undefined;
      if (earlier) {
        out.push({ ...earlier, duplicate: true });
        continue;
      }
      const id = capture.capture_id;
      const cbor =
        known.get(id) ??
        blob((await this.#first<{ record: unknown }>(RECORD_BY_CAPTURE_ID, [id]))!.record);
      out.push({ ...decodeStored(cbor), duplicate: true });
    }
    return out;
  }

  async recent(query: UsageQuery): Promise<ExportRecord[]> {
    const { sql, params } = recentSql(query);
    return (await this.#all<{ record: unknown }>(sql, params)).map((row) =>
      decodeStored(blob(row.record)),
    );
  }

  async record(id: number): Promise<StoredRecord | undefined> {
    const row = await this.#first<Parameters<typeof storedFromRow>[0] & { record: unknown }>(
      RECORD_BY_ID,
      [id],
    );
    return row && storedFromRow(row, decodeStored(blob(row.record)));
  }

  async usageSummary(sinceMs: number, untilMs = Number.MAX_SAFE_INTEGER): Promise<UsageSummary> {
    const [byModel, byLogin] = await Promise.all(
      (['model', 'login_name'] as const).map((column) =>
        this.#all<UsageTotals>(usageSummarySql(column), [sinceMs, untilMs]),
      ),
    );
    return { byModel: byModel!, byLogin: byLogin! };
  }

  async usageSeries(query: UsageSeriesQuery): Promise<UsagePoint[]> {
    const { sql, params } = usageSeriesSql(query);
    return (await this.#all<UsageTotals & { bucket: number }>(sql, params)).map(
      ({ bucket, ...totals }) => ({
        ...totals,
        bucketStartMs: query.sinceMs + bucket * query.bucketMs,
      }),
    );
  }

  async recentFiles(limit: number): Promise<ExportedFile[]> {
    return (await this.#all<Parameters<typeof fileFromRow>[0]>(RECENT_FILES, [limit])).map(
      fileFromRow,
    );
  }

  async filterValues(): Promise<{ models: string[]; logins: string[] }> {
    const [models, logins] = await Promise.all(
      (['model', 'login_name'] as const).map(async (column) =>
        (await this.#all<{ value: string }>(distinctSql(column))).map((row) => row.value),
      ),
    );
    return { models: models!, logins: logins! };
  }

  async claimNext(request: ClaimRequest): Promise<ExportClaim | undefined> {
    // Another claim may take the same records between the read and the batch: then the batch
    // changes nothing, and the next records are read again.
    for (let attempt = 0; attempt < 5; attempt++) {
      const waiting = await this.#all<{ id: number; record_bytes: number }>(
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
      const keySeconds = await this.#nextKeySeconds(request.nowMs);
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
      const range = [claim.firstId, claim.lastId];
      const [inserted] = await this.#db.batch([
        // The claim is made only if its range still holds exactly the records read, all free.
        this.#statement(
          `INSERT INTO export_claims (${INSERT_CLAIM_COLUMNS})
           SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?
           WHERE (SELECT COUNT(*) FROM captures WHERE id BETWEEN ? AND ?
                    AND exported_at_ms IS NULL AND claim_id IS NULL) = ?
             AND (SELECT COUNT(*) FROM captures WHERE id BETWEEN ? AND ?) = ?`,
          [...claimParams(claim), ...range, claim.recordCount, ...range, claim.recordCount],
        ),
        this.#statement(
          `UPDATE captures SET claim_id = ? WHERE id BETWEEN ? AND ?
             AND exported_at_ms IS NULL AND claim_id IS NULL
             AND EXISTS (SELECT 1 FROM export_claims WHERE claim_id = ?)`,
          [claim.claimId, ...range, claim.claimId],
        ),
      ]);
      if (inserted!.meta.changes === 1) return claim;
    }
    throw new Error('d1: could not claim the next records: other exporters kept taking them');
  }

  async resumableClaims(owner: string, nowMs: number): Promise<ExportClaim[]> {
    return (
      await this.#all<ClaimRow>(
        'SELECT * FROM export_claims WHERE owner = ? OR lease_until_ms <= ? ORDER BY first_id',
        [owner, nowMs],
      )
    ).map(claimFromRow);
  }

  async leaseClaim(
    claimId: string,
    owner: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<ExportClaim | undefined> {
    const row = await this.#first<ClaimRow>(
      `UPDATE export_claims SET owner = ?, lease_until_ms = ?
       WHERE claim_id = ? AND (owner = ? OR lease_until_ms <= ?) RETURNING *`,
      [owner, nowMs + leaseMs, claimId, owner, nowMs],
    );
    return row && claimFromRow(row);
  }

  async renewLeases(owner: string, nowMs: number, leaseMs: number): Promise<number> {
    const { meta } = await this.#statement(
      'UPDATE export_claims SET lease_until_ms = ? WHERE owner = ?',
      [nowMs + leaseMs, owner],
    ).run();
    return meta.changes;
  }

  async releaseLeases(owner: string): Promise<number> {
    const { meta } = await this.#statement(
      'UPDATE export_claims SET lease_until_ms = 0 WHERE owner = ?',
      [owner],
    ).run();
    return meta.changes;
  }

  async rekeyClaim(
    claimId: string,
    fromKey: string,
    nowMs: number,
  ): Promise<ExportClaim | undefined> {
    const row = await this.#first<ClaimRow>('SELECT * FROM export_claims WHERE claim_id = ?', [
      claimId,
    ]);
    if (!row) return undefined;
    if (row.object_key !== fromKey) return claimFromRow(row); // re-keyed already
    const keySeconds = await this.#nextKeySeconds(nowMs);
    const updated = await this.#first<ClaimRow>(
      `UPDATE export_claims SET object_key = ?, key_seconds = ?
       WHERE claim_id = ? AND object_key = ? RETURNING *`,
      [claimKey(row.prefix, keySeconds), keySeconds, claimId, fromKey],
    );
    if (updated) return claimFromRow(updated);
    // Someone else re-keyed it (or finished it) in between.
    const now = await this.#first<ClaimRow>('SELECT * FROM export_claims WHERE claim_id = ?', [
      claimId,
    ]);
    return now && claimFromRow(now);
  }

  async recordClaimError(claimId: string, error: ClaimError): Promise<void> {
    await this.#statement('UPDATE export_claims SET last_error = ? WHERE claim_id = ?', [
      JSON.stringify(error),
      claimId,
    ]).run();
  }

  async listClaims(): Promise<ExportClaim[]> {
    return (await this.#all<ClaimRow>('SELECT * FROM export_claims ORDER BY first_id')).map(
      claimFromRow,
    );
  }

  async releaseClaim(claimId: string): Promise<ExportClaim | undefined> {
    const row = await this.#first<ClaimRow>('SELECT * FROM export_claims WHERE claim_id = ?', [
      claimId,
    ]);
    if (!row) return undefined;
    const [deleted] = await this.#db.batch([
      this.#statement('DELETE FROM export_claims WHERE claim_id = ?', [claimId]),
      this.#statement('UPDATE captures SET claim_id = NULL WHERE claim_id = ?', [claimId]),
    ]);
    return deleted!.meta.changes === 1 ? claimFromRow(row) : undefined;
  }

  async *claimRecords(claim: ExportClaim): AsyncIterable<Uint8Array> {
    let afterId = claim.firstId - 1;
    for (;;) {
      const page = await this.#all<{ id: number; record: unknown }>(
        `SELECT r.id, r.record FROM captures c JOIN capture_records r ON r.id = c.id
         WHERE c.claim_id = ? AND c.id > ? AND c.id <= ? ORDER BY c.id LIMIT ${CLAIM_PAGE}`,
        [claim.claimId, afterId, claim.lastId],
      );
      for (const row of page) yield blob(row.record);
      if (page.length < CLAIM_PAGE) return;
      afterId = page.at(-1)!.id;
    }
  }

  async completeClaim(claim: ExportClaim, exportedAtMs: number, fileBytes: number): Promise<void> {
    // One batch; each statement acts only while the claim row exists, and the row goes last:
    // a claim completed already (by another exporter) changes nothing.
    const exists = 'EXISTS (SELECT 1 FROM export_claims WHERE claim_id = ?)';
    const add = (name: string, amount: string, params: SqlValue[]) =>
      this.#statement(
        `UPDATE store_state SET value = value + ${amount} WHERE name = ? AND ${exists}`,
        [...params, name, claim.claimId],
      );
    const records = '(SELECT record_count FROM export_claims WHERE claim_id = ?)';
    await this.#db.batch([
      add('exported_files', '1', []),
      add('exported_records', records, [claim.claimId]),
      add('exported_bytes', '?', [fileBytes]),
      add('exported_cbor_bytes', '?', [claim.cborBytes]),
      this.#statement(
        `INSERT INTO export_files (object_key, endpoint, bucket, records, bytes, cbor_bytes, exported_at_ms)
         SELECT object_key, endpoint, bucket, record_count, ?, cbor_bytes, ?
         FROM export_claims WHERE claim_id = ?`,
        [fileBytes, exportedAtMs, claim.claimId],
      ),
      this.#statement(
        `UPDATE captures SET claim_id = NULL, exported_at_ms = ?, export_key = ?
         WHERE claim_id = ? AND ${exists}`,
        [exportedAtMs, claim.objectKey, claim.claimId, claim.claimId],
      ),
      this.#statement('DELETE FROM export_claims WHERE claim_id = ?', [claim.claimId]),
    ]);
  }

  async purgeContent(request: PurgeRequest): Promise<number> {
    const rows = await this.#all<{ id: number; record: unknown }>(
      `SELECT c.id, r.record FROM captures c JOIN capture_records r ON r.id = c.id
       WHERE c.content_purged = 0 AND c.claim_id IS NULL AND c.timestamp_ms < ?
         ${request.requireExported ? 'AND c.exported_at_ms IS NOT NULL' : ''}
       ORDER BY c.id LIMIT ?`,
      [request.olderThanMs, request.batchSize ?? 1000],
    );
    if (rows.length === 0) return 0;
    // Each record only if it is still unclaimed and unpurged when the batch runs: its content
    // first (the condition reads the captures row), then the row.
    const still = `EXISTS (SELECT 1 FROM captures WHERE id = ? AND content_purged = 0 AND claim_id IS NULL)`;
    const statements = rows.flatMap((row) => {
      const purged = withoutContent(blob(row.record));
      return [
        this.#statement(`UPDATE capture_records SET record = ? WHERE id = ? AND ${still}`, [
          purged,
          row.id,
          row.id,
        ]),
        this.#statement(
          'UPDATE captures SET record_bytes = ?, content_purged = 1 WHERE id = ? AND content_purged = 0 AND claim_id IS NULL',
          [purged.byteLength, row.id],
        ),
      ];
    });
    const results = await this.#db.batch(statements);
    return results.filter((result, i) => i % 2 === 1 && result.meta.changes > 0).length;
  }

  async counts(): Promise<StoreCounts> {
    return countsFromRow((await this.#first<CountsRow>(COUNTS))!);
  }

  async exportTotals(): Promise<ExportTotals> {
    const rows = await this.#all<{ name: string; value: number }>(
      'SELECT name, value FROM store_state',
    );
    const value = (name: string) => rows.find((row) => row.name === name)?.value ?? 0;
    return {
      files: value('exported_files'),
      records: value('exported_records'),
      bytes: value('exported_bytes'),
      cborBytes: value('exported_cbor_bytes'),
    };
  }

  /**
   * Takes the store's one export lease for `owner` until nowMs + leaseMs, if it is free, run
   * out, or `owner`'s already: one export at a time across a Worker's invocations.
   */
  async acquireExportLease(owner: string, nowMs: number, leaseMs: number): Promise<boolean> {
    const { meta } = await this.#statement(
      `INSERT INTO export_lease (name, owner, until_ms) VALUES ('export', ?, ?)
       ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until_ms = excluded.until_ms
       WHERE export_lease.owner = excluded.owner OR export_lease.until_ms <= ?`,
      [owner, nowMs + leaseMs, nowMs],
    ).run();
    return meta.changes === 1;
  }

  async releaseExportLease(owner: string): Promise<void> {
    await this.#statement(
      "UPDATE export_lease SET until_ms = 0 WHERE name = 'export' AND owner = ?",
      [owner],
    ).run();
  }

  async close(): Promise<void> {}
}

/** Applies D1_SCHEMA to an empty database (tests and local development; deployments use migrations). */
export async function applyD1Schema(db: D1Database): Promise<void> {
  await db.batch(D1_SCHEMA.map((sql) => db.prepare(sql)));
}
