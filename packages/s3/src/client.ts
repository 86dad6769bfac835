/**
 * An S3 client for the exporter's needs, on aws4fetch's SigV4 signer and the Web fetch API.
 * It builds its own URLs (aws4fetch builds none), always signs for service `s3` in the
 * configured region (aws4fetch cannot guess either for MinIO, GCS or localhost), signs the
 * real SHA-256 of every body, and does its own retries with a timeout per attempt.
 */
import { AwsClient } from 'aws4fetch';
import { deniedPermission, errorFromFailure, errorFromResponse, S3Error } from './errors.ts';
import {
  type AddressedS3Config,
  bucketUrl,
  createOnlyHeader,
  encodeRfc3986,
  objectUrl,
  validateS3Config,
} from './providers.ts';
import {
  DEFAULT_RETRY_POLICY,
  type RetryEnvironment,
  type RetryPolicy,
  realRetryEnvironment,
  withRetry,
} from './retry.ts';
import { xmlBlocks, xmlText } from './xml.ts';

export interface S3Config extends AddressedS3Config {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface S3ClientOptions {
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
  /** How long one attempt may take, reply body included. Default 60 s. */
  attemptTimeoutMs?: number;
  /**
   * The slowest upload to wait for: an attempt that sends a body gets attemptTimeoutMs plus
   * the body's time at this rate. Default 1 MB/s (a 64 MiB file: 60 + 67 s).
   */
  minUploadBytesPerSecond?: number;
  /** Replaces randomness and waiting in tests. */
  retryEnvironment?: RetryEnvironment;
  /**
   * Sends upload bodies as a stream with their Content-Length instead of handing fetch the
   * bytes, which Node's fetch copies (a second copy of every export file). Only for runtimes
   * whose fetch sends the Content-Length it is given with a streamed body: Node's and Bun's
   * do; Deno's sends the body chunked, which S3 refuses. Default false.
   */
  streamUploads?: boolean;
}

/** Cancels a call: its request is aborted, and no retry follows (S3Error code `Aborted`). */
export interface RequestOptions {
  signal?: AbortSignal;
}

export interface PutObjectOptions extends RequestOptions {
  contentType?: string;
  /** User metadata, sent as `x-amz-meta-<name>` headers (names in lower case, values ASCII). */
  metadata?: Record<string, string>;
  /** Fail with 412 PreconditionFailed instead of overwriting an existing object. */
  createOnly?: boolean;
}

export interface ObjectInfo {
  key: string;
  size: number;
  etag: string | undefined;
  lastModified: Date | undefined;
  /** User metadata (from HeadObject only). */
  metadata?: Record<string, string>;
}

export interface ListPage {
  objects: ObjectInfo[];
  /** Pass to the next call to continue; undefined on the last page. */
  nextContinuationToken: string | undefined;
}

export interface ListOptions {
  prefix?: string;
  continuationToken?: string;
  startAfter?: string;
  /** At most 1000 (S3's own limit). */
  maxKeys?: number;
}

/** What "Test connection" tries, in order: the exporter's own requests, and the clean-up. */
export type ConnectionStep = 'write' | 'create-only' | 'read' | 'delete';

export type ConnectionCheck =
  | {
      ok: true;
      key: string;
      /** What works, but not as well as it could (no metadata kept, probe left behind). */
      warnings: string[];
    }
  | {
      ok: false;
      step: ConnectionStep;
      error: S3Error;
      /** The permission S3 denied at that step, such as `s3:GetObject`. */
      permission?: string;
    };

/** SHA-256 of an empty payload: what GET, HEAD and DELETE sign. */
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

interface NodeCrypto {
  createHash(algorithm: 'sha256'): {
    update(data: Uint8Array): { digest(encoding: 'hex'): string };
  };
}

/** The runtime's node:crypto where it has one (Node, Bun, Deno), looked up without importing it. */
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;

/**
 * Hex SHA-256 of a payload. node:crypto hashes the bytes where they are; WebCrypto (the
 * fallback on other runtimes) first copies them, a file's size more memory per upload.
 */
async function sha256Hex(data: Uint8Array): Promise<string> {
  if (nodeCrypto) return nodeCrypto.createHash('sha256').update(data).digest('hex');
  const digest = new Uint8Array(
    await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (byte) => byte.toString(16).padStart(2, '0')).join('');
}

interface SendOptions {
  operation: string;
  method: 'GET' | 'PUT' | 'HEAD' | 'DELETE';
  url: URL;
  headers?: Record<string, string>;
  body?: Uint8Array;
  /** Read the reply body within the attempt's timeout. */
  read?: 'bytes' | 'text';
  signal?: AbortSignal;
}

interface Reply {
  response: Response;
  bytes?: Uint8Array;
  text?: string;
}

export class S3Client {
  readonly config: Readonly<Omit<S3Config, 'secretAccessKey' | 'sessionToken'>>;
  #signer: AwsClient;
  #fetch: typeof fetch;
  #retry: RetryPolicy;
  #attemptTimeoutMs: number;
  #minUploadBytesPerSecond: number;
  #retryEnvironment: RetryEnvironment;
  #streamUploads: boolean;

  constructor(config: S3Config, options: S3ClientOptions = {}) {
    validateS3Config(config);
    if (!config.accessKeyId) throw new TypeError('S3 config: accessKeyId is required');
    if (!config.secretAccessKey) throw new TypeError('S3 config: secretAccessKey is required');
    // The secret stays inside the signer; `config` holds only what is safe to show.
    this.config = {
      endpoint: config.endpoint,
      bucket: config.bucket,
      region: config.region,
      accessKeyId: config.accessKeyId,
    };
    this.#signer = new AwsClient({
      accessKeyId: config.accessKeyId,
      secretAccessKey: config.secretAccessKey,
      sessionToken: config.sessionToken,
      service: 's3',
      region: config.region,
      retries: 0,
    });
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.#attemptTimeoutMs = options.attemptTimeoutMs ?? 60_000;
    this.#minUploadBytesPerSecond = options.minUploadBytesPerSecond ?? 1_000_000;
    this.#retryEnvironment = options.retryEnvironment ?? realRetryEnvironment;
    this.#streamUploads = options.streamUploads ?? false;
  }

  /** Writes an object. With `createOnly`, an existing key fails with 412 PreconditionFailed. */
  async putObject(
    key: string,
    body: Uint8Array,
    options: PutObjectOptions = {},
  ): Promise<{ etag: string | undefined }> {
    const headers: Record<string, string> = {
      'content-type': options.contentType ?? 'application/octet-stream',
      'x-amz-content-sha256': await sha256Hex(body),
    };
    if (options.createOnly) Object.assign(headers, createOnlyHeader(this.config));
    for (const [name, value] of Object.entries(options.metadata ?? {})) {
      headers[`x-amz-meta-${name.toLowerCase()}`] = value;
    }
    const { response } = await this.#send({
      operation: `PutObject ${key}`,
      method: 'PUT',
      url: objectUrl(this.config, key),
      headers,
      body,
      signal: options.signal,
    });
    return { etag: response.headers.get('etag') ?? undefined };
  }

  /** Reads a whole object. A missing key fails with NoSuchKey. */
  async getObject(key: string, options: RequestOptions = {}): Promise<Uint8Array> {
    const { bytes } = await this.#send({
      operation: `GetObject ${key}`,
      method: 'GET',
      url: objectUrl(this.config, key),
      read: 'bytes',
      signal: options.signal,
    });
    return bytes!;
  }

  /** An object's size and ETag, or undefined when there is no such key. */
  async headObject(key: string, options: RequestOptions = {}): Promise<ObjectInfo | undefined> {
    try {
      const { response } = await this.#send({
        operation: `HeadObject ${key}`,
        method: 'HEAD',
        url: objectUrl(this.config, key),
        signal: options.signal,
      });
      const modified = response.headers.get('last-modified');
      const metadata: Record<string, string> = {};
      response.headers.forEach((value, name) => {
        if (name.startsWith('x-amz-meta-')) metadata[name.slice('x-amz-meta-'.length)] = value;
      });
      return {
        key,
        size: Number(response.headers.get('content-length') ?? 0),
        etag: response.headers.get('etag') ?? undefined,
        lastModified: modified ? new Date(modified) : undefined,
        metadata,
      };
    } catch (error) {
      if (error instanceof S3Error && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Deletes an object; deleting a missing key succeeds, as in S3. */
  async deleteObject(key: string): Promise<void> {
    await this.#send({
      operation: `DeleteObject ${key}`,
      method: 'DELETE',
      url: objectUrl(this.config, key),
    });
  }

  /** One page of ListObjectsV2. */
  async listObjects(options: ListOptions = {}): Promise<ListPage> {
    const url = bucketUrl(this.config);
    const query: Array<[string, string | undefined]> = [
      ['list-type', '2'],
      ['prefix', options.prefix || undefined],
      ['continuation-token', options.continuationToken],
      ['start-after', options.startAfter],
      ['max-keys', options.maxKeys === undefined ? undefined : String(options.maxKeys)],
    ];
    // Built by hand: URLSearchParams writes a space as "+", which S3 need not read as a space.
    url.search = query
      .filter((pair): pair is [string, string] => pair[1] !== undefined)
      .map(([name, value]) => `${name}=${encodeRfc3986(value)}`)
      .join('&');
    const { text } = await this.#send({
      operation: `ListObjectsV2 ${options.prefix ?? ''}`.trim(),
      method: 'GET',
      url,
      read: 'text',
    });
    const xml = text!;
    const objects = xmlBlocks(xml, 'Contents').map((entry) => {
      const modified = xmlText(entry, 'LastModified');
      return {
        key: xmlText(entry, 'Key') ?? '',
        size: Number(xmlText(entry, 'Size') ?? 0),
        etag: xmlText(entry, 'ETag'),
        lastModified: modified ? new Date(modified) : undefined,
      };
    });
    const truncated = xmlText(xml, 'IsTruncated') === 'true';
    return {
      objects,
      nextContinuationToken: truncated ? xmlText(xml, 'NextContinuationToken') : undefined,
    };
  }

  /** Every object under a prefix, page after page. */
  async *listAllObjects(prefix = ''): AsyncGenerator<ObjectInfo> {
    let continuationToken: string | undefined;
    do {
      const page = await this.listObjects({ prefix, continuationToken });
      yield* page.objects;
      continuationToken = page.nextContinuationToken;
    } while (continuationToken);
  }

  /**
   * The "Test connection" action: everything the exporter does, on a small probe object under
   * `prefix`. A create-only write with metadata (s3:PutObject); the same write again, which
   * must be refused (exactly-once export rests on it); a HEAD and a GET, which recognise an
   * upload after a crash (s3:GetObject); then the probe is deleted (s3:DeleteObject, which the
   * exporter itself never needs: denied, the probe stays and a warning says so).
   */
  async checkConnection(prefix = ''): Promise<ConnectionCheck> {
    const name = `.aperture-connection-check-${crypto.randomUUID()}`;
    const key = prefix ? `${prefix}/${name}` : name;
    const body = new TextEncoder().encode('connection check\n');
    const write = () =>
      this.putObject(key, body, {
        contentType: 'text/plain',
        createOnly: true,
        metadata: { 'aperture-check': name },
      });
    const failed = (step: ConnectionStep, error: unknown, operation: string): ConnectionCheck => {
      const s3 = asS3Error(error, operation);
      const permission = deniedPermission(s3);
      return { ok: false, step, error: s3, ...(permission ? { permission } : {}) };
    };
    const warnings: string[] = [];
    try {
      await write();
    } catch (error) {
      return failed('write', error, `PutObject ${key}`);
    }
    let overwritten = false;
    try {
      await write();
      overwritten = true;
    } catch (error) {
      if (!(error instanceof S3Error && error.code === 'PreconditionFailed'))
        return failed('create-only', error, `PutObject ${key}`);
    }
    if (overwritten) {
      await this.deleteObject(key).catch(() => {});
      return failed(
        'create-only',
        new S3Error({
          status: 0,
          code: 'CreateOnlyIgnored',
          message:
            'a create-only write (If-None-Match: *) replaced an existing object: this service cannot keep exports exactly once',
          operation: `PutObject ${key}`,
        }),
        `PutObject ${key}`,
      );
    }
    try {
      const info = await this.headObject(key);
      if (!info)
        throw new S3Error({
          status: 404,
          code: 'NotFound',
          message: 'the probe just written is not there',
          operation: `HeadObject ${key}`,
        });
      if (info.metadata?.['aperture-check'] !== name)
        warnings.push(
          'object metadata is not kept: after a crash the exporter recognises its own files by their content (one more GET)',
        );
      const read = await this.getObject(key);
      if (read.byteLength !== body.byteLength || read.some((byte, i) => byte !== body[i]))
        throw new S3Error({
          status: 0,
          code: 'ContentMismatch',
          message: 'the probe read back differs from what was written',
          operation: `GetObject ${key}`,
        });
    } catch (error) {
      return failed('read', error, `GetObject ${key}`);
    }
    try {
      await this.deleteObject(key);
    } catch (error) {
      const s3 = asS3Error(error, `DeleteObject ${key}`);
      const permission = deniedPermission(s3);
      if (!permission) return failed('delete', error, `DeleteObject ${key}`);
      warnings.push(
        `the probe ${key} stays in the bucket: ${permission} is denied (the exporter never deletes)`,
      );
    }
    return { ok: true, key, warnings };
  }

  /** Creates the bucket (test setup; the exporter never creates buckets). */
  async createBucket(): Promise<void> {
    try {
      await this.#send({ operation: 'CreateBucket', method: 'PUT', url: bucketUrl(this.config) });
    } catch (error) {
      if (
        error instanceof S3Error &&
        ['BucketAlreadyOwnedByYou', 'BucketAlreadyExists'].includes(error.code)
      )
        return;
      throw error;
    }
  }

  async #send(options: SendOptions): Promise<Reply> {
    const { signal } = options;
    const environment = this.#retryEnvironment;
    // A cancelled call does not sit out its backoff either.
    const cancellable: RetryEnvironment = signal
      ? { ...environment, sleep: (ms) => Promise.race([environment.sleep(ms), aborted(signal)]) }
      : environment;
    return withRetry(() => this.#attempt(options), this.#retry, cancellable);
  }

  async #attempt({
    operation,
    method,
    url,
    headers = {},
    body,
    read,
    signal,
  }: SendOptions): Promise<Reply> {
    if (signal?.aborted) throw cancelled(signal, operation);
    const controller = new AbortController();
    let timedOut = false;
    const timeoutMs =
      this.#attemptTimeoutMs +
      Math.ceil(((body?.byteLength ?? 0) / this.#minUploadBytesPerSecond) * 1000);
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new Error(`${operation} took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    const cancel = () => controller.abort(signal?.reason);
    signal?.addEventListener('abort', cancel, { once: true });
    try {
      const streamed = this.#streamUploads && body !== undefined;
      // The body's hash is in the headers already, so the signer never reads the body.
      const request = await this.#signer.sign(url.toString(), {
        method,
        headers: { 'x-amz-content-sha256': EMPTY_SHA256, ...headers },
        body: streamed ? undefined : (body as BodyInit | undefined),
      });
      const response = streamed
        ? await this.#fetch(request.url, streamedBody(request, body, controller.signal))
        : await this.#fetch(request, { signal: controller.signal });
      if (!response.ok) throw await errorFromResponse(response, operation);
      if (read === 'bytes')
        return { response, bytes: new Uint8Array(await response.arrayBuffer()) };
      if (read === 'text') return { response, text: await response.text() };
      await response.body?.cancel();
      return { response };
    } catch (error) {
      if (signal?.aborted) throw cancelled(signal, operation);
      throw errorFromFailure(error, operation, timedOut);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', cancel);
    }
  }
}

/** The error of a cancelled call: not retryable. */
function cancelled(signal: AbortSignal, operation: string): S3Error {
  const reason = signal.reason instanceof Error ? signal.reason.message : String(signal.reason);
  return new S3Error(
    { status: 0, code: 'Aborted', message: `cancelled: ${reason}`, operation },
    { cause: signal.reason },
  );
}

/** Resolves when `signal` aborts. */
const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });

/** A signed request's init with `body` as a one-chunk stream of known length (not copied). */
function streamedBody(request: Request, body: Uint8Array, signal: AbortSignal): RequestInit {
  const headers = new Headers(request.headers);
  headers.set('content-length', String(body.byteLength)); // never signed by SigV4
  return {
    method: request.method,
    headers,
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body);
        controller.close();
      },
    }),
    signal,
    // Required by Node's fetch for a stream body; not yet in TypeScript's RequestInit.
    duplex: 'half',
  } as RequestInit;
}

function asS3Error(error: unknown, operation: string): S3Error {
  return error instanceof S3Error ? error : errorFromFailure(error, operation, false);
}
