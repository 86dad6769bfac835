/**
 * The JSON mapping of an export record (docs/export-format.md): the same fields, with
 * `timestamp` as an RFC 3339 string and raw bodies as base64 strings. Used for NDJSON output
 * and ingestion.
 */
import { base64ToBytes, bytesToBase64 } from './base64.ts';
import { type ExportRecord, type RecordIssue, validateExportRecord } from './record.ts';

/** An RFC 3339 date-time (§5.6), with an optional fraction of a second. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The record in its JSON mapping, ready for JSON.stringify. */
export function recordToJson(record: ExportRecord): JsonObject {
  const { capture } = record;
  if (!capture) return { ...record, timestamp: record.timestamp.toISOString() };
  const request: JsonObject = { ...capture.request };
  if (capture.request.raw_body) request.raw_body = bytesToBase64(capture.request.raw_body);
  const response: JsonObject = { ...capture.response };
  if (capture.response.raw_body) response.raw_body = bytesToBase64(capture.response.raw_body);
  return {
    ...record,
    timestamp: record.timestamp.toISOString(),
    capture: { ...capture, request, response },
  };
}

export type ParsedRecord =
  | { ok: true; record: ExportRecord }
  | { ok: false; issues: RecordIssue[] };

/** A capture to ingest: a record without the id, which the store assigns. */
export type ParsedCapture =
  | { ok: true; capture: Omit<ExportRecord, 'id'> }
  | { ok: false; issues: RecordIssue[] };

function timestampFromJson(value: unknown, issues: RecordIssue[]): unknown {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return value;
    return new Date(value);
  }
  if (typeof value === 'string') {
    if (!RFC3339.test(value)) {
      issues.push({
        path: 'timestamp',
        message: 'must be an RFC 3339 date-time or epoch milliseconds',
      });
      return undefined;
    }
    return new Date(value);
  }
  return value;
}

function bodyFromJson(part: unknown, path: string, issues: RecordIssue[]): unknown {
  if (!isObject(part) || part.raw_body === undefined) return part;
  if (typeof part.raw_body !== 'string') {
    issues.push({ path: `${path}.raw_body`, message: 'must be a base64 string' });
    return part;
  }
  const bytes = base64ToBytes(part.raw_body);
  if (!bytes) {
    issues.push({ path: `${path}.raw_body`, message: 'must be a base64 string' });
    return part;
  }
  return { ...part, raw_body: bytes };
}

/**
 * Reads a record from its JSON mapping. `timestamp` may be an RFC 3339 string or epoch
 * milliseconds; sub-millisecond digits are dropped. Lists every problem found.
 */
export function recordFromJson(value: unknown): ParsedRecord {
  if (!isObject(value)) {
    return { ok: false, issues: [{ path: '', message: 'must be a JSON object' }] };
  }
  const issues: RecordIssue[] = [];
  const candidate: JsonObject = { ...value };
  if ('timestamp' in value) candidate.timestamp = timestampFromJson(value.timestamp, issues);
  if (isObject(value.capture)) {
    candidate.capture = {
      ...value.capture,
      request: bodyFromJson(value.capture.request, 'capture.request', issues),
      response: bodyFromJson(value.capture.response, 'capture.response', issues),
    };
  }
  const failed = new Set(issues.map((issue) => issue.path));
  for (const issue of validateExportRecord(candidate)) {
    if (!failed.has(issue.path)) issues.push(issue);
  }
  return issues.length > 0
    ? { ok: false, issues }
    : { ok: true, record: candidate as unknown as ExportRecord };
}

/**
 * Reads a capture to ingest: the JSON mapping of a record without `id` (the store assigns it).
 * `ver` may be left out (it is 2). Lists every problem found.
 */
export function captureFromJson(value: unknown): ParsedCapture {
  if (!isObject(value)) {
    return { ok: false, issues: [{ path: '', message: 'must be a JSON object' }] };
  }
  if ('id' in value) {
    return {
      ok: false,
      issues: [{ path: 'id', message: 'is assigned by the server: leave it out' }],
    };
  }
  const parsed = recordFromJson({ ver: 2, ...value, id: 0 });
  if (!parsed.ok) return parsed;
  const { id: _, ...capture } = parsed.record;
  return { ok: true, capture };
}
