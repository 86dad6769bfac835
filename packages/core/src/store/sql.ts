/**
 * The SQL that every SQL store shares (SQLite on each runtime, D1): the capture row's columns,
 * the usage queries, and how claims and files are read back. Statements only; running them
 * (synchronously, or in D1's batches) is each store's own.
 */
import type { ExportRecord } from '@aperture-export/codec';
import type {
  ClaimError,
  ExportClaim,
  ExportedFile,
  StoreCounts,
  StoredRecord,
  UsageQuery,
  UsageSeriesQuery,
} from './types.ts';

export type SqlValue = null | number | string | Uint8Array;

const CAPTURE_COLUMNS = `captures (id, timestamp_ms, login_name, node_id, model, api_type,
  input_tokens, output_tokens, cached_tokens, reasoning_tokens, cost_usd, duration_ms, status_code,
  record_bytes, capture_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`;

/**
 * Inserts a capture's row (its usage columns), parameters from captureRow(); none when its
 * capture_id is stored already (0 changes). Any other constraint still fails the statement.
 */
export const INSERT_NEW_CAPTURE = `INSERT INTO ${CAPTURE_COLUMNS}
  ON CONFLICT (capture_id) WHERE capture_id IS NOT NULL DO NOTHING`;

export function captureRow(record: ExportRecord, recordBytes: number): SqlValue[] {
  const { usage } = record;
  return [
    record.id,
    record.timestamp.getTime(),
    record.identity.login_name,
    record.identity.node_id,
    record.model,
    record.api_type,
    usage.input_tokens,
    usage.output_tokens,
    usage.cached_tokens,
    usage.reasoning_tokens,
    record.estimated_cost?.total_usd ?? null,
    record.duration_ms,
    record.status_code,
    recordBytes,
    record.capture_id || null,
  ];
}

/** A store's stored record by capture_id (a capture sent again). */
export const RECORD_BY_CAPTURE_ID = `SELECT c.id, c.capture_id, r.record FROM captures c
  JOIN capture_records r ON r.id = c.id WHERE c.capture_id = ?`;

/** The newest records that match a query, with their CBOR. */
export function recentSql(query: UsageQuery): { sql: string; params: SqlValue[] } {
  const statusFloor = query.statusClass === undefined ? undefined : query.statusClass * 100;
  const conditions: Array<[string, SqlValue | undefined]> = [
    ['id < ?', query.beforeId],
    ['model = ?', query.model],
    ['login_name = ?', query.loginName],
    ['api_type = ?', query.apiType],
    ['status_code >= ?', statusFloor],
    ['status_code < ?', statusFloor === undefined ? undefined : statusFloor + 100],
    ['timestamp_ms >= ?', query.sinceMs],
    ['timestamp_ms < ?', query.untilMs],
  ];
  const used = conditions.filter(
    (condition): condition is [string, SqlValue] => condition[1] !== undefined,
  );
  const where = used.map(([sql]) => sql);
  return {
    sql: `SELECT (SELECT record FROM capture_records r WHERE r.id = c.id) AS record FROM captures c
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
    params: [...used.map(([, value]) => value), query.limit],
  };
}

export const RECORD_BY_ID = `SELECT r.record, c.content_purged, c.export_key, c.exported_at_ms
  FROM captures c JOIN capture_records r ON r.id = c.id WHERE c.id = ?`;

/** SUM() of every usage column, for the summary's and the series' queries. */
const USAGE_TOTALS = `COUNT(*) AS requests, SUM(input_tokens) AS input_tokens,
  SUM(output_tokens) AS output_tokens, SUM(cached_tokens) AS cached_tokens,
  SUM(reasoning_tokens) AS reasoning_tokens, COALESCE(SUM(cost_usd), 0) AS cost_usd,
  COUNT(*) - COUNT(cost_usd) AS unpriced_requests`;

/** Totals by model or login between two times: parameters sinceMs, untilMs. */
export const usageSummarySql = (column: 'model' | 'login_name') =>
  `SELECT ${column} AS key, ${USAGE_TOTALS}
   FROM captures WHERE timestamp_ms >= ? AND timestamp_ms < ?
   GROUP BY ${column} ORDER BY cost_usd DESC, key`;

/** Totals per time bucket and model or login: parameters from usageSeriesSql().params. */
export function usageSeriesSql(query: UsageSeriesQuery): { sql: string; params: SqlValue[] } {
  const column = query.groupBy === 'model' ? 'model' : 'login_name';
  return {
    // Parameters may be bound as REAL: the bucket is cast back to a whole number.
    sql: `SELECT CAST((timestamp_ms - ?) / ? AS INTEGER) AS bucket, ${column} AS key, ${USAGE_TOTALS}
       FROM captures WHERE timestamp_ms >= ? AND timestamp_ms < ?
       GROUP BY bucket, ${column} ORDER BY bucket, key`,
    params: [query.sinceMs, query.bucketMs, query.sinceMs, query.untilMs],
  };
}

export interface CountsRow {
  records: number;
  pending_records: number;
  pending_bytes: number;
  content_purged: number;
}

export const countsFromRow = (row: CountsRow): StoreCounts => ({
  records: row.records,
  pendingRecords: row.pending_records,
  pendingBytes: row.pending_bytes,
  exportedRecords: row.records - row.pending_records,
  contentPurged: row.content_purged,
});

/** A row of RECORD_BY_ID, its record's CBOR as `bytes`. */
export function storedFromRow(
  row: { content_purged: number; export_key: string | null; exported_at_ms: number | null },
  record: ExportRecord,
): StoredRecord {
  return {
    record,
    contentPurged: row.content_purged === 1,
    ...(row.export_key === null ? {} : { exportKey: row.export_key }),
    ...(row.exported_at_ms === null ? {} : { exportedAtMs: row.exported_at_ms }),
  };
}

export const COUNTS = `SELECT COUNT(*) AS records,
    COUNT(*) FILTER (WHERE exported_at_ms IS NULL) AS pending_records,
    COALESCE(SUM(record_bytes) FILTER (WHERE exported_at_ms IS NULL), 0) AS pending_bytes,
    COUNT(*) FILTER (WHERE content_purged = 1) AS content_purged
  FROM captures`;

export interface ClaimRow {
  claim_id: string;
  object_key: string;
  key_seconds: number;
  prefix: string;
  first_id: number;
  last_id: number;
  record_count: number;
  cbor_bytes: number;
  owner: string;
  lease_until_ms: number;
  endpoint: string;
  bucket: string;
  last_error: string | null;
}

export const claimFromRow = (row: ClaimRow): ExportClaim => ({
  claimId: row.claim_id,
  objectKey: row.object_key,
  keySeconds: row.key_seconds,
  endpoint: row.endpoint,
  bucket: row.bucket,
  prefix: row.prefix,
  firstId: row.first_id,
  lastId: row.last_id,
  recordCount: row.record_count,
  cborBytes: row.cbor_bytes,
  owner: row.owner,
  leaseUntil: row.lease_until_ms,
  ...(row.last_error ? { lastError: JSON.parse(row.last_error) as ClaimError } : {}),
});

export const INSERT_CLAIM_COLUMNS = `claim_id, object_key, key_seconds, endpoint, bucket, prefix,
  first_id, last_id, record_count, cbor_bytes, owner, lease_until_ms`;

export const claimParams = (claim: ExportClaim): SqlValue[] => [
  claim.claimId,
  claim.objectKey,
  claim.keySeconds,
  claim.endpoint,
  claim.bucket,
  claim.prefix,
  claim.firstId,
  claim.lastId,
  claim.recordCount,
  claim.cborBytes,
  claim.owner,
  claim.leaseUntil,
];

/** Each model (or login) once, from its index; sorted by SQLite's BINARY collation. */
export const distinctSql = (column: 'model' | 'login_name') =>
  `SELECT DISTINCT ${column} AS value FROM captures ORDER BY ${column}`;

export const RECENT_FILES = 'SELECT * FROM export_files ORDER BY rowid DESC LIMIT ?';

export const fileFromRow = (row: {
  object_key: string;
  endpoint: string;
  bucket: string;
  records: number;
  bytes: number;
  cbor_bytes: number;
  exported_at_ms: number;
}): ExportedFile => ({
  objectKey: row.object_key,
  endpoint: row.endpoint,
  bucket: row.bucket,
  records: row.records,
  bytes: row.bytes,
  cborBytes: row.cbor_bytes,
  exportedAtMs: row.exported_at_ms,
});
