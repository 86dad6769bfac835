/**
 * The configuration file: HuJSON, checked against one schema (valibot) from which the types,
 * the defaults, the rules with their messages and the list of secrets all come. Errors name
 * the field path and the rule (`exporters.s3.prefix: must not end with "/"`); unknown keys are
 * errors too, since they are usually typos. A secret may come from the environment: a value of
 * `"env:NAME"` is replaced by the variable NAME.
 */
import { prefixProblem } from '@aperture-export/codec';
import * as v from 'valibot';
import { HuJsonError, type JSONPath, lineOfPath, parseHuJson, setHuJsonValue } from './hujson.ts';
import type { ExportDestination } from './store/types.ts';

export const LIMIT_CAP = 10_000;
export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
/**
 * The largest file budget: a file and its frame are held in memory (the WASM engine's heap
 * ends at 2 GiB) and sent in one PUT (S3 takes up to 5 GiB).
 */
export const MAX_FILE_BYTES = 1024 ** 3;
/** setTimeout holds at most 2^31 - 1 ms; longer fires at once. */
const MAX_EVERY_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
/** What a secret is shown as. */
export const REDACTED = '<redacted>';
const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface ConfigIssue {
  path: string;
  message: string;
  /** Where in the config text (from 1), when the issue came from text. */
  line?: number;
}

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

type Env = Record<string, string | undefined>;

/** What a parse brings to the schema: the environment for `env:` secrets, and where warnings go. */
interface ParseContext {
  env: Env;
  warn(issue: ConfigIssue): void;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** An object of known keys; any other key is an error at its own path, a missing one at its. */
const section = <const Entries extends v.ObjectEntries>(entries: Entries) =>
  v.pipe(
    v.custom<Record<string, unknown>>(isObject, 'must be an object'),
    v.strictObject(entries, (issue) =>
      issue.expected === 'never' ? 'unknown key' : 'is required',
    ),
  );

const flag = v.optional(v.boolean('must be true or false'), false);

/** A list of non-empty strings. */
const names = (what: string) =>
  v.array(
    v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty')),
    `must be a list of ${what}`,
  );

const text = (fallback = '') => v.optional(v.string('must be a string'), fallback);

/** A whole number from `min`; above `max` (when given) the message says why it cannot be. */
const wholeNumber = (min: number, fallback: number, max?: { value: number; why: string }) => {
  const message = `must be a whole number of at least ${min}`;
  return v.optional(
    v.pipe(
      v.number(message),
      v.check((n) => Number.isInteger(n) && n >= min, message),
      v.check(
        (n) => max === undefined || n <= max.value,
        `must be at most ${max?.value} (${max?.why})`,
      ),
    ),
    fallback,
  );
};

/** A secret string: written out, or `env:NAME` for the environment variable NAME. */
const secret = ({ env }: ParseContext) =>
  v.optional(
    v.pipe(
      v.string('must be a string'),
      // Redacted wherever the config is shown (secretPaths).
      v.metadata<string, { secret: true }>({ secret: true }),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        if (dataset.value === REDACTED) {
          // Shown redacted and sent back where there was no secret to keep.
          addIssue({ message: `is "${REDACTED}": write the secret, or "env:NAME"` });
          return NEVER;
        }
        if (!dataset.value.startsWith('env:')) return dataset.value;
        const name = dataset.value.slice('env:'.length);
        const resolved = env[name];
        if (resolved !== undefined && resolved !== '') return resolved;
        addIssue({ message: `environment variable ${name} is not set` });
        return NEVER;
      }),
    ),
    '',
  );

const isHttpUrl = (value: string) => {
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
};

const REQUIRED_WITH_BUCKET = 'is required when bucket_name is set';

function s3Exporter(context: ParseContext) {
  return v.pipe(
    section({
      /** S3-compatible API URL; unset (or "") for AWS. */
      endpoint: v.optional(
        v.pipe(
          v.string('must be a string'),
          v.check(
            (value) => value === '' || isHttpUrl(value),
            'must be an http:// or https:// URL',
          ),
          v.transform((value) => value || undefined),
        ),
      ),
      /** A non-empty bucket name turns the exporter on. */
      bucket_name: text(),
      region: text(),
      access_key_id: secret(context),
      access_secret: secret(context),
      /** Key prefix without a trailing slash; "" for none. */
      prefix: v.optional(
        v.pipe(
          v.string('must be a string'),
          v.rawCheck(({ dataset, addIssue }) => {
            const problem = dataset.typed ? prefixProblem(dataset.value) : undefined;
            if (problem) addIssue({ message: problem });
          }),
        ),
        '',
      ),
      /** Seconds between export cycles. */
      every: wholeNumber(1, 3600, {
        value: MAX_EVERY_SECONDS,
        why: '24.8 days, the longest a timer waits',
      }),
      /** Most records per file; above LIMIT_CAP it is capped, with a warning. */
      limit: v.pipe(
        wholeNumber(1, 1000),
        v.transform((limit) => {
          if (limit <= LIMIT_CAP) return limit;
          context.warn({
            path: 'exporters.s3.limit',
            message: `${limit} is above ${LIMIT_CAP}; using ${LIMIT_CAP}`,
          });
          return LIMIT_CAP;
        }),
      ),
      /** Most CBOR bytes per file (before compression): bounds the exporter's memory. */
      max_file_bytes: wholeNumber(64 * 1024, DEFAULT_MAX_FILE_BYTES, {
        value: MAX_FILE_BYTES,
        why: '1 GiB: a file is held in memory and sent in one PUT',
      }),
    }),
    // Once a bucket is named, the rest of its address; checked only where the field is valid.
    v.forward(
      v.partialCheck(
        [['bucket_name'], ['region']],
        (s) => !s.bucket_name || s.region !== '',
        REQUIRED_WITH_BUCKET,
      ),
      ['region'],
    ),
    v.forward(
      v.partialCheck(
        [['bucket_name'], ['access_key_id']],
        (s) => !s.bucket_name || s.access_key_id !== '',
        REQUIRED_WITH_BUCKET,
      ),
      ['access_key_id'],
    ),
    v.forward(
      v.partialCheck(
        [['bucket_name'], ['access_secret']],
        (s) => !s.bucket_name || s.access_secret !== '',
        REQUIRED_WITH_BUCKET,
      ),
      ['access_secret'],
    ),
  );
}

const retention = v.pipe(
  section({
    /** As written: "0", "720h", "30d"; "" when unset (content is kept). */
    duration: v.optional(
      v.pipe(
        v.string('must be a string'),
        v.rawCheck(({ dataset, addIssue }) => {
          if (!dataset.typed || dataset.value === '') return;
          const parsed = parseRetentionDuration(dataset.value);
          if ('error' in parsed) addIssue({ message: parsed.error });
        }),
      ),
      '',
    ),
    /** Purge content only once it was exported. */
    require_export: v.optional(v.boolean('must be true or false'), false),
  }),
  v.transform((value) => {
    const parsed = value.duration === '' ? undefined : parseRetentionDuration(value.duration);
    /** 0 for zero retention, undefined to keep content forever. */
    const durationMs = parsed && 'ms' in parsed ? parsed.ms : undefined;
    return { ...value, durationMs };
  }),
);

/** The APIs a provider speaks, as the gateway serves them. */
export const PROVIDER_APIS = ['openai_chat', 'openai_responses', 'anthropic_messages'] as const;

/** An LLM provider the gateway forwards to: `providers.<id>`. */
const provider = (context: ParseContext) =>
  section({
    /** The API's base URL, such as https://api.openai.com/v1. */
    baseurl: v.pipe(
      v.string('must be a string'),
      v.check(isHttpUrl, 'must be an http:// or https:// URL'),
    ),
    /** The provider's key, sent upstream in place of the client's. */
    apikey: secret(context),
    /** The models it serves: requests are routed by their `model`. */
    models: v.pipe(names('model names'), v.minLength(1, 'must name at least one model')),
    /** How the key goes: `Authorization: Bearer` or `x-api-key` (Anthropic). */
    authorization: v.optional(
      v.picklist(['bearer', 'x-api-key'], 'must be "bearer" or "x-api-key"'),
      'bearer',
    ),
    /** The APIs it speaks. */
    compatibility: v.pipe(
      section({ openai_chat: flag, openai_responses: flag, anthropic_messages: flag }),
      v.check(
        (apis) => PROVIDER_APIS.some((api) => apis[api]),
        `must turn on at least one of ${PROVIDER_APIS.join(', ')}`,
      ),
    ),
  });

/** One model, one API, one provider: a request's model must say where it goes. */
const oneProviderPerModel = v.rawCheck<Record<string, v.InferOutput<ReturnType<typeof provider>>>>(
  ({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const seen = new Map<string, string>();
    for (const [id, entry] of Object.entries(dataset.value)) {
      for (const model of entry.models) {
        for (const api of PROVIDER_APIS.filter((name) => entry.compatibility[name])) {
          const other = seen.get(`${api} ${model}`);
          if (other)
            addIssue({
              message: `model ${JSON.stringify(model)} is listed by providers ${other} and ${id} for ${api}: a request could go to either`,
            });
          seen.set(`${api} ${model}`, id);
        }
      }
    }
  },
);

/** The gateway's clients: who may use it, and how requests are recorded. */
const gateway = (context: ParseContext) =>
  section({
    /** API tokens clients send as their key, each naming who it is. */
    tokens: v.optional(
      v.pipe(
        v.array(
          section({
            token: v.pipe(
              secret(context),
              v.check((token) => token !== '', 'is required'),
            ),
            login_name: v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty')),
            node_id: text(),
            tags: v.optional(names('tags'), []),
          }),
          'must be a list',
        ),
        v.check(
          (tokens) => new Set(tokens.map((entry) => entry.token)).size === tokens.length,
          'must not give one token twice',
        ),
      ),
      [],
    ),
    /** Trust `tailscale serve`'s Tailscale-User-Login header, from loopback only. */
    tailscale_serve_headers: flag,
    /** tailscaled's LocalAPI socket, to ask who a peer is; "" for none. */
    tailscale_socket: text(),
    /** Serve requests no identity claims, as "anonymous". */
    allow_anonymous: flag,
    /** A stream's raw text is kept with its record up to this many bytes. */
    raw_body_max_bytes: wholeNumber(0, 1024 * 1024, {
      value: MAX_FILE_BYTES,
      why: '1 GiB',
    }),
    /** A session ends after this many minutes without a request. */
    session_idle_minutes: wholeNumber(1, 30, { value: 7 * 24 * 60, why: 'a week' }),
    /** A provider must start its answer (and finish one that is not a stream) within this. */
    upstream_timeout_seconds: wholeNumber(1, 600, { value: 3600, why: 'an hour' }),
  });

const configSchema = (context: ParseContext) =>
  section({
    exporters: v.optional(section({ s3: v.optional(s3Exporter(context), {}) }), {}),
    database: v.optional(section({ retention: v.optional(retention, {}) }), {}),
    providers: v.optional(
      v.pipe(v.record(v.string(), provider(context), 'must be an object'), oneProviderPerModel),
      {},
    ),
    gateway: v.optional(gateway(context), {}),
  });

export type AppConfig = v.InferOutput<ReturnType<typeof configSchema>>;
export type S3ExporterConfig = AppConfig['exporters']['s3'];
export type RetentionConfig = AppConfig['database']['retention'];
export type ProviderConfig = AppConfig['providers'][string];
export type GatewayConfig = AppConfig['gateway'];

export type ConfigResult =
  | { ok: true; config: AppConfig; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

type KeyedIssue = ConfigIssue & { keys: JSONPath };

function checkValue(
  value: unknown,
  env: Env,
):
  | { ok: true; config: AppConfig; warnings: ConfigIssue[] }
  | { ok: false; errors: KeyedIssue[]; warnings: ConfigIssue[] } {
  const warnings: ConfigIssue[] = [];
  const result = v.safeParse(
    configSchema({ env, warn: (issue) => warnings.push(issue) }),
    value ?? {},
  );
  if (result.success) return { ok: true, config: result.output, warnings };
  const errors = result.issues.map((issue) => ({
    path: v.getDotPath(issue) ?? '',
    message: issue.message,
    keys: (issue.path ?? []).map((item) => item.key as string | number),
  }));
  return { ok: false, errors, warnings };
}

/** Checks a parsed config value. `env` resolves `env:NAME` secrets. */
export function checkConfig(value: unknown, env: Env = {}): ConfigResult {
  const result = checkValue(value, env);
  if (result.ok) return result;
  return { ...result, errors: result.errors.map(({ keys: _, ...issue }) => issue) };
}

/**
 * Parses and checks config file text (HuJSON). A syntax error is one error at path "". Each
 * error has the line of its field (or of the object that lacks it), for editors.
 */
export function parseConfig(text: string, env: Env = {}): ConfigResult {
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : parseHuJson(text);
  } catch (error) {
    const line = error instanceof HuJsonError ? { line: error.line } : {};
    return {
      ok: false,
      errors: [{ path: '', message: (error as Error).message, ...line }],
      warnings: [],
    };
  }
  const result = checkValue(value, env);
  if (result.ok) return result;
  const errors = result.errors.map(({ keys, ...issue }) => {
    const line = lineOfPath(text, keys);
    return line === undefined ? issue : { ...issue, line };
  });
  return { ...result, errors };
}

function defaultConfig(): AppConfig {
  const result = checkConfig({});
  if (!result.ok)
    throw new Error(`the config schema's defaults are invalid: ${formatIssues(result.errors)}`);
  return result.config;
}

/** The config of an empty file: exporter off, content kept. */
export const DEFAULT_CONFIG: AppConfig = defaultConfig();

/** The exporter runs when a bucket is named. */
export const exporterEnabled = (s3: S3ExporterConfig): boolean => s3.bucket_name !== '';

/** Where the exporter's new files go. */
export const exportDestination = (s3: S3ExporterConfig): ExportDestination => ({
  endpoint: s3.endpoint ?? '',
  bucket: s3.bucket_name,
  prefix: s3.prefix,
});

/** Lists config issues one per line, as the CLI, the API and logs show them. */
export function formatIssues(issues: ConfigIssue[], linePrefix = ''): string {
  return issues
    .map((issue) => `${linePrefix}${issue.path ? `${issue.path}: ` : ''}${issue.message}`)
    .join('\n');
}

interface SchemaNode {
  type: string;
  wrapped?: SchemaNode;
  pipe?: SchemaNode[];
  entries?: Record<string, SchemaNode>;
  /** A record's values; an array's items. */
  value?: SchemaNode;
  item?: SchemaNode;
  metadata?: { secret?: boolean };
}

/** A schema's own parts: itself, or its pipe with a piped base schema's pipe laid out flat. */
function pipeParts(schema: SchemaNode): SchemaNode[] {
  if (!schema.pipe) return [schema];
  const [base, ...rest] = schema.pipe;
  return [...(base ? pipeParts(base) : []), ...rest];
}

/** Where `value` (a config as written, or as checked) holds a string the schema marks SECRET. */
function secretPaths(schema: SchemaNode, value: unknown, path: JSONPath = []): JSONPath[] {
  if (schema.wrapped) return secretPaths(schema.wrapped, value, path);
  const parts = pipeParts(schema);
  if (parts.some((part) => part.metadata?.secret)) return typeof value === 'string' ? [path] : [];
  const record = parts.find((part) => part.type === 'record')?.value;
  if (record && isObject(value))
    return Object.keys(value).flatMap((key) => secretPaths(record, value[key], [...path, key]));
  const items = parts.find((part) => part.type === 'array')?.item;
  if (items && Array.isArray(value))
    return value.flatMap((item, index) => secretPaths(items, item, [...path, index]));
  const object = parts.find((part) => part.entries);
  if (!object?.entries || !isObject(value)) return [];
  return Object.entries(object.entries).flatMap(([key, entry]) =>
    Object.hasOwn(value, key) ? secretPaths(entry, value[key], [...path, key]) : [],
  );
}

const SCHEMA = configSchema({ env: {}, warn: () => {} }) as unknown as SchemaNode;

const valueAt = (value: unknown, path: JSONPath): unknown =>
  path.reduce<unknown>(
    (at, key) =>
      Array.isArray(at) ? at[key as number] : isObject(at) ? at[key as string] : undefined,
    value,
  );

/** A secret as written out in a config, not an `env:` reference or an empty value. */
const isLiteralSecret = (value: unknown): value is string =>
  typeof value === 'string' && value !== '' && !value.startsWith('env:');

/** The config as it may be shown or returned: secrets replaced by a placeholder. */
export function redactConfig(config: AppConfig): AppConfig {
  const copy = structuredClone(config);
  for (const path of secretPaths(SCHEMA, copy)) {
    const parent = valueAt(copy, path.slice(0, -1)) as Record<string, unknown>;
    const key = path.at(-1) as string;
    if (parent[key] !== '') parent[key] = REDACTED;
  }
  return copy;
}

function parsedOrUndefined(text: string): unknown {
  try {
    return parseHuJson(text);
  } catch {
    return undefined;
  }
}

/**
 * Config text as it may be shown: every secret written out replaced by "<redacted>"; `env:NAME`
 * references are not secrets and stay. Comments and layout are kept.
 */
export function redactConfigText(text: string): string {
  const value = parsedOrUndefined(text);
  let redacted = text;
  for (const path of secretPaths(SCHEMA, value)) {
    if (isLiteralSecret(valueAt(value, path)) && valueAt(value, path) !== REDACTED)
      redacted = setHuJsonValue(redacted, path, REDACTED);
  }
  return redacted;
}

/**
 * Puts the secrets of `current` back where `edited` (text shown redacted, then edited) still
 * has "<redacted>" at the same path. A placeholder with nothing to restore stays, and the
 * schema refuses it.
 */
export function restoreRedactedSecrets(edited: string, current: string): string {
  const value = parsedOrUndefined(edited);
  const previous = parsedOrUndefined(current);
  let restored = edited;
  for (const path of secretPaths(SCHEMA, value)) {
    const secretValue = valueAt(previous, path);
    if (valueAt(value, path) === REDACTED && isLiteralSecret(secretValue))
      restored = setHuJsonValue(restored, path, secretValue);
  }
  return restored;
}
