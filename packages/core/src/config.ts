/**
 * The configuration file: HuJSON, checked against the schema below. Errors name the field
 * path and the rule (`exporters.s3.prefix: must not end with "/"`); unknown keys are errors
 * too, since they are usually typos. Secrets can come from the environment: a value of
 * `"env:NAME"` in `access_key_id` or `access_secret` is replaced by the variable NAME.
 */
import { prefixProblem } from '@aperture-export/codec';
import { parseHuJson } from './hujson.ts';

export const LIMIT_CAP = 10_000;
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface S3ExporterConfig {
  /** S3-compatible API URL; unset for AWS. */
  endpoint?: string;
  /** A non-empty bucket name enables the exporter. */
  bucket_name: string;
  region: string;
  access_key_id: string;
  access_secret: string;
  /** Key prefix without a trailing slash; "" for none. */
  prefix: string;
  /** Seconds between export cycles. */
  every: number;
  /** Most records per file. */
  limit: number;
  /** Most CBOR bytes per file (before compression): bounds the exporter's memory. */
  max_file_bytes: number;
}

export interface RetentionConfig {
  /** As written: "0", "720h", "30d"; "" when unset (content is kept). */
  duration: string;
  /** 0 for zero retention, undefined to keep content forever. */
  durationMs: number | undefined;
  /** Purge content only once it was exported. */
  require_export: boolean;
}

export interface AppConfig {
  exporters: { s3: S3ExporterConfig };
  database: { retention: RetentionConfig };
}

export interface ConfigIssue {
  path: string;
  message: string;
}

export type ConfigResult =
  | { ok: true; config: AppConfig; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

export const DEFAULT_CONFIG: AppConfig = {
  exporters: {
    s3: {
      bucket_name: '',
      region: '',
      access_key_id: '',
      access_secret: '',
      prefix: '',
      every: 3600,
      limit: 1000,
      max_file_bytes: DEFAULT_MAX_FILE_BYTES,
    },
  },
  database: { retention: { duration: '', durationMs: undefined, require_export: false } },
};

/** The exporter runs when a bucket is named. */
export const exporterEnabled = (config: AppConfig): boolean =>
  config.exporters.s3.bucket_name !== '';

/**
 * Parses a retention duration: "0", or whole hours ("720h") or days ("30d"), possibly
 * combined ("1d12h"), between 1 hour and 3650 days.
 */
export function parseRetentionDuration(text: string): { ms: number } | { error: string } {
  if (text === '0') return { ms: 0 };
  const match = /^(?:(\d+)d)?(?:(\d+)h)?$/.exec(text);
  if (!text || !match) return { error: 'must be "0" or a duration such as "720h" or "30d"' };
  const ms = Number(match[1] ?? 0) * DAY_MS + Number(match[2] ?? 0) * HOUR_MS;
  if (ms < HOUR_MS || ms > 3650 * DAY_MS) return { error: 'must be between 1h and 3650d, or "0"' };
  return { ms };
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

class Checker {
  readonly errors: ConfigIssue[] = [];
  readonly warnings: ConfigIssue[] = [];

  object(value: unknown, path: string, known: readonly string[]): Json | undefined {
    if (value === undefined) return undefined;
    if (!isObject(value)) {
      this.errors.push({ path, message: 'must be an object' });
      return undefined;
    }
    for (const key of Object.keys(value)) {
      if (!known.includes(key))
        this.errors.push({ path: path ? `${path}.${key}` : key, message: 'unknown key' });
    }
    return value;
  }

  string(source: Json, key: string, path: string, fallback: string): string {
    const value = source[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'string') {
      this.errors.push({ path: `${path}.${key}`, message: 'must be a string' });
      return fallback;
    }
    return value;
  }

  integer(source: Json, key: string, path: string, fallback: number, min: number): number {
    const value = source[key];
    if (value === undefined) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
      this.errors.push({
        path: `${path}.${key}`,
        message: `must be a whole number of at least ${min}`,
      });
      return fallback;
    }
    return value;
  }
}

function resolveSecret(
  checker: Checker,
  value: string,
  path: string,
  env: Record<string, string | undefined>,
): string {
  if (!value.startsWith('env:')) return value;
  const name = value.slice('env:'.length);
  const resolved = env[name];
  if (resolved === undefined || resolved === '') {
    checker.errors.push({ path, message: `environment variable ${name} is not set` });
    return '';
  }
  return resolved;
}

const S3_KEYS = [
  'endpoint',
  'bucket_name',
  'region',
  'access_key_id',
  'access_secret',
  'prefix',
  'every',
  'limit',
  'max_file_bytes',
] as const;

function checkS3(
  checker: Checker,
  raw: unknown,
  env: Record<string, string | undefined>,
): S3ExporterConfig {
  const path = 'exporters.s3';
  const defaults = DEFAULT_CONFIG.exporters.s3;
  const source = checker.object(raw, path, S3_KEYS) ?? {};
  const s3: S3ExporterConfig = {
    bucket_name: checker.string(source, 'bucket_name', path, ''),
    region: checker.string(source, 'region', path, ''),
    access_key_id: resolveSecret(
      checker,
      checker.string(source, 'access_key_id', path, ''),
      `${path}.access_key_id`,
      env,
    ),
    access_secret: resolveSecret(
      checker,
      checker.string(source, 'access_secret', path, ''),
      `${path}.access_secret`,
      env,
    ),
    prefix: checker.string(source, 'prefix', path, defaults.prefix),
    every: checker.integer(source, 'every', path, defaults.every, 1),
    limit: checker.integer(source, 'limit', path, defaults.limit, 1),
    max_file_bytes: checker.integer(
      source,
      'max_file_bytes',
      path,
      defaults.max_file_bytes,
      64 * 1024,
    ),
  };
  const endpoint = checker.string(source, 'endpoint', path, '');
  if (endpoint) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {}
    if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      checker.errors.push({
        path: `${path}.endpoint`,
        message: 'must be an http:// or https:// URL',
      });
    }
    s3.endpoint = endpoint;
  }
  const problem = prefixProblem(s3.prefix);
  if (problem) checker.errors.push({ path: `${path}.prefix`, message: problem });
  if (s3.limit > LIMIT_CAP) {
    checker.warnings.push({
      path: `${path}.limit`,
      message: `${s3.limit} is above ${LIMIT_CAP}; using ${LIMIT_CAP}`,
    });
    s3.limit = LIMIT_CAP;
  }
  if (s3.bucket_name) {
    for (const key of ['region', 'access_key_id', 'access_secret'] as const) {
      if (!s3[key] && !checker.errors.some((e) => e.path === `${path}.${key}`)) {
        checker.errors.push({
          path: `${path}.${key}`,
          message: 'is required when bucket_name is set',
        });
      }
    }
  }
  return s3;
}

function checkRetention(checker: Checker, raw: unknown): RetentionConfig {
  const path = 'database.retention';
  const source = checker.object(raw, path, ['duration', 'require_export']) ?? {};
  const duration = checker.string(source, 'duration', path, '');
  let durationMs: number | undefined;
  if (duration !== '') {
    const parsed = parseRetentionDuration(duration);
    if ('error' in parsed) checker.errors.push({ path: `${path}.duration`, message: parsed.error });
    else durationMs = parsed.ms;
  }
  const requireExport = source.require_export ?? false;
  if (typeof requireExport !== 'boolean') {
    checker.errors.push({ path: `${path}.require_export`, message: 'must be true or false' });
  }
  return { duration, durationMs, require_export: requireExport === true };
}

/** Checks a parsed config value. `env` resolves `env:NAME` secrets. */
export function checkConfig(
  value: unknown,
  env: Record<string, string | undefined> = {},
): ConfigResult {
  const checker = new Checker();
  const root = checker.object(value ?? {}, '', ['exporters', 'database']) ?? {};
  const exporters = checker.object(root.exporters, 'exporters', ['s3']) ?? {};
  const database = checker.object(root.database, 'database', ['retention']) ?? {};
  const config: AppConfig = {
    exporters: { s3: checkS3(checker, exporters.s3, env) },
    database: { retention: checkRetention(checker, database.retention) },
  };
  return checker.errors.length > 0
    ? { ok: false, errors: checker.errors, warnings: checker.warnings }
    : { ok: true, config, warnings: checker.warnings };
}

/** Parses and checks config file text (HuJSON). A syntax error is one error at path "". */
export function parseConfig(
  text: string,
  env: Record<string, string | undefined> = {},
): ConfigResult {
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : parseHuJson(text);
  } catch (error) {
    return { ok: false, errors: [{ path: '', message: (error as Error).message }], warnings: [] };
  }
  return checkConfig(value, env);
}

export const REDACTED = '<redacted>';

/** The config as it may be shown or returned: secrets replaced by a placeholder. */
export function redactConfig(config: AppConfig): AppConfig {
  const s3 = config.exporters.s3;
  return {
    ...config,
    exporters: {
      s3: {
        ...s3,
        access_key_id: s3.access_key_id ? REDACTED : '',
        access_secret: s3.access_secret ? REDACTED : '',
      },
    },
  };
}

/** Lists config issues one per line, as the CLI and logs print them. */
export function formatIssues(issues: ConfigIssue[]): string {
  return issues
    .map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message))
    .join('\n');
}
