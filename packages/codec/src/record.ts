/**
 * The export record, schema version 2: one LLM request as it appears in an export file.
 * docs/export-format.md is the normative description; these types mirror it.
 */

export const EXPORT_RECORD_VERSION = 2;

/** Any value that JSON can carry. Bodies and tool inputs are stored as processed JSON. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue };

export interface Identity {
  login_name: string;
  node_id: string;
  tags: string[];
}

export interface Usage {
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
}

export interface EstimatedCost {
  total_usd: number;
  input_usd?: number;
  output_usd?: number;
  cached_usd?: number;
}

/** Header names are lower-case; repeated headers are joined with ", " (RFC 9110 §5.3). */
export type HeaderMap = Record<string, string>;

export interface CapturedRequest {
  method: string;
  headers: HeaderMap;
  /** The processed JSON body; null when the body was empty or not JSON. */
  body: JsonValue;
  /** The body's bytes as sent, when the capture kept them (multimodal uploads, non-JSON). */
  raw_body?: Uint8Array;
}

export interface CapturedResponse {
  headers: HeaderMap;
  body: JsonValue;
  raw_body?: Uint8Array;
}

export interface ToolUse {
  id: string;
  name: string;
  input: JsonValue;
}

export interface Capture {
  request: CapturedRequest;
  response: CapturedResponse;
  tool_uses: ToolUse[];
}

export interface ExportRecord {
  id: number;
  ver: typeof EXPORT_RECORD_VERSION;
  /** When the LLM request occurred, with millisecond precision. */
  timestamp: Date;
  identity: Identity;
  model: string;
  api_type: string;
  usage: Usage;
  /** Omitted when the cost is unknown. */
  estimated_cost?: EstimatedCost;
  duration_ms: number;
  capture_id: string;
  session_id: string;
  path: string;
  status_code: number;
  /** The request and response content; absent once retention purged it before export. */
  capture?: Capture;
}

/** A record that still has its content. */
export type CapturedRecord = ExportRecord & { capture: Capture };

/** One problem found in a record: where (a dotted path) and which rule it broke. */
export interface RecordIssue {
  path: string;
  message: string;
}

/** Thrown when a record cannot be encoded or a decoded record is malformed. */
export class ExportRecordError extends Error {
  readonly issues: RecordIssue[];
  constructor(context: string, issues: RecordIssue[]) {
    const listed = issues.map((issue) => `${issue.path}: ${issue.message}`).join('; ');
    super(`${context}: ${listed}`);
    this.name = 'ExportRecordError';
    this.issues = issues;
  }
}

/** The largest integer CBOR can carry as an unsigned integer (2^64 - 1). */
const UINT64_MAX = 2 ** 64;

type Check = (value: unknown, path: string, issues: RecordIssue[]) => void;

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const string: Check = (value, path, issues) => {
  if (typeof value !== 'string')
    issues.push({ path, message: `must be a string, got ${kind(value)}` });
};

const count: Check = (value, path, issues) => {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    issues.push({ path, message: `must be a non-negative integer, got ${kind(value)}` });
  }
};

const usd: Check = (value, path, issues) => {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    issues.push({ path, message: `must be a non-negative finite number, got ${kind(value)}` });
  }
};

const stringArray: Check = (value, path, issues) => {
  if (!Array.isArray(value)) {
    issues.push({ path, message: `must be an array of strings, got ${kind(value)}` });
    return;
  }
  value.forEach((item, i) => {
    string(item, `${path}[${i}]`, issues);
  });
};

const headers: Check = (value, path, issues) => {
  if (!isObject(value)) {
    issues.push({
      path,
      message: `must be an object of header name to string, got ${kind(value)}`,
    });
    return;
  }
  for (const [name, headerValue] of Object.entries(value)) {
    string(headerValue, `${path}.${name}`, issues);
  }
};

const bytes: Check = (value, path, issues) => {
  if (!(value instanceof Uint8Array)) {
    issues.push({ path, message: `must be bytes (Uint8Array), got ${kind(value)}` });
  }
};

const statusCode: Check = (value, path, issues) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 999) {
    issues.push({ path, message: `must be an integer from 0 to 999, got ${kind(value)}` });
  }
};

const timestamp: Check = (value, path, issues) => {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    issues.push({ path, message: `must be a valid Date, got ${kind(value)}` });
  }
};

const json: Check = (value, path, issues) => {
  const problem = findNonJson(value, path);
  if (problem) issues.push(problem);
};

function object(fields: Record<string, Check>, optional: readonly string[] = []): Check {
  return (value, path, issues) => {
    if (!isObject(value)) {
      issues.push({ path, message: `must be an object, got ${kind(value)}` });
      return;
    }
    for (const [name, check] of Object.entries(fields)) {
      const fieldPath = path ? `${path}.${name}` : name;
      const fieldValue = value[name];
      if (fieldValue === undefined) {
        if (!optional.includes(name)) issues.push({ path: fieldPath, message: 'is required' });
        continue;
      }
      check(fieldValue, fieldPath, issues);
    }
  };
}

function arrayOf(check: Check): Check {
  return (value, path, issues) => {
    if (!Array.isArray(value)) {
      issues.push({ path, message: `must be an array, got ${kind(value)}` });
      return;
    }
    value.forEach((item, i) => {
      check(item, `${path}[${i}]`, issues);
    });
  };
}

const skip: Check = () => {};

/** The record's checks; `jsonCheck` checks bodies and tool inputs (the encoder walks those itself). */
const recordCheck = (jsonCheck: Check): Check =>
  object(
    {
      id: count,
      ver: (value, path, issues) => {
        if (value !== EXPORT_RECORD_VERSION) {
          issues.push({ path, message: `must be ${EXPORT_RECORD_VERSION}, got ${kind(value)}` });
        }
      },
      timestamp,
      identity: object({ login_name: string, node_id: string, tags: stringArray }),
      model: string,
      api_type: string,
      usage: object({
        input_tokens: count,
        output_tokens: count,
        cached_tokens: count,
        reasoning_tokens: count,
      }),
      estimated_cost: object({ total_usd: usd, input_usd: usd, output_usd: usd, cached_usd: usd }, [
        'input_usd',
        'output_usd',
        'cached_usd',
      ]),
      duration_ms: count,
      capture_id: string,
      session_id: string,
      path: string,
      status_code: statusCode,
      capture: object({
        request: object({ method: string, headers, body: jsonCheck, raw_body: bytes }, [
          'raw_body',
        ]),
        response: object({ headers, body: jsonCheck, raw_body: bytes }, ['raw_body']),
        tool_uses: arrayOf(object({ id: string, name: string, input: jsonCheck })),
      }),
    },
    ['estimated_cost', 'capture'],
  );

const checkRecord = recordCheck(json);
const checkRecordFields = recordCheck(skip);

/** Lists every way `value` differs from a valid version-2 export record; empty when valid. */
export function validateExportRecord(value: unknown): RecordIssue[] {
  const issues: RecordIssue[] = [];
  checkRecord(value, '', issues);
  return issues;
}

/** Like validateExportRecord, but leaves bodies and tool inputs to the caller. */
export function validateRecordFields(value: unknown): RecordIssue[] {
  const issues: RecordIssue[] = [];
  checkRecordFields(value, '', issues);
  return issues;
}

/**
 * How deep a body or tool input may nest. Real LLM requests nest a few levels (tool schemas a
 * dozen or so); what is deeper would only cost every reader of the file its stack.
 */
export const MAX_JSON_DEPTH = 128;

/**
 * Checks that a body or tool input holds only JSON values (and integers that CBOR can carry),
 * nested at most MAX_JSON_DEPTH levels. The path of a problem is spelled out only when there is
 * one: built for every member, it was a quarter of encoding a record.
 */
function findNonJson(value: unknown, path: string): RecordIssue | undefined {
  const trail: Array<string | number> = [];
  const message = nonJsonMessage(value, trail, 0);
  if (message === undefined) return undefined;
  const where = trail.map((step) => (typeof step === 'number' ? `[${step}]` : `.${step}`));
  return { path: path + where.join(''), message };
}

/** What is not JSON in `value`, with `trail` left at where it is; undefined if all is. */
function nonJsonMessage(
  value: unknown,
  trail: Array<string | number>,
  depth: number,
): string | undefined {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return undefined;
    case 'number':
      return Number.isFinite(value) ? undefined : `must be JSON: ${value} is not a JSON number`;
    case 'bigint':
      return value < UINT64_MAX && value > -UINT64_MAX
        ? undefined
        : 'must be JSON: integer outside the 64-bit range';
    case 'object': {
      if (value === null) return undefined;
      if (depth === MAX_JSON_DEPTH)
        return `must be JSON nested at most ${MAX_JSON_DEPTH} levels deep`;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          trail.push(i);
          const problem = nonJsonMessage(value[i], trail, depth + 1);
          if (problem) return problem;
          trail.pop();
        }
        return undefined;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return `must be JSON: got ${kind(value)}`;
      for (const key in value) {
        const item = (value as Record<string, unknown>)[key];
        // Absent (undefined) members are dropped on encoding, as JSON.stringify does.
        if (item === undefined) continue;
        trail.push(key);
        const problem = nonJsonMessage(item, trail, depth + 1);
        if (problem) return problem;
        trail.pop();
      }
      return undefined;
    }
    default:
      return `must be JSON: got ${kind(value)}`;
  }
}

/** A short description of a value for error messages; never the value itself (it may be secret). */
export function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'an invalid Date' : 'a Date';
  switch (typeof value) {
    case 'number':
      return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
    case 'string':
      return 'a string';
    case 'object':
      return value.constructor && value.constructor !== Object
        ? `a ${value.constructor.name}`
        : 'an object';
    default:
      return typeof value;
  }
}
