/**
 * The gateway: a request in an LLM API's format is routed by its model to the provider that
 * serves it, sent there with the provider's key (never the client's), and its response passed
 * back as it arrives: whole, or event by event for a stream. Each request, failed ones too,
 * becomes one record, handed to `onCapture` once the response has ended: the client's bytes
 * never wait for the store.
 */
import type { Capture, ExportRecord, Identity, JsonValue } from '@aperture-export/codec';
import type { Api, ApiResult, Compatibility, StreamReader } from './apis/types.ts';
import { capturedHeaders, clientHeaders, upstreamHeaders } from './headers.ts';
import { isObject, parseJson, text } from './json.ts';
import { estimateCost } from './pricing.ts';
import { SESSION_HEADER, SessionTracker } from './session.ts';
import { SseParser } from './sse.ts';

export interface GatewayProvider {
  /** The provider's name in the config (`providers.<id>`). */
  id: string;
  /** The API's base, such as https://api.openai.com/v1; the API's path is added to it. */
  baseUrl: string;
  apiKey: string;
  models: readonly string[];
  /** How the key is sent: `Authorization: Bearer` or Anthropic's `x-api-key`. */
  authorization: 'bearer' | 'x-api-key';
  /** The APIs it speaks. */
  compatibility: readonly Compatibility[];
}

/** A record as the gateway makes it: everything but the id, which the store assigns. */
export type GatewayCapture = Omit<ExportRecord, 'id'> & { capture: Capture };

/** What may change while the gateway runs (read for every request). */
export interface GatewaySettings {
  /** A stream's raw text is kept with its record up to this size. Default 1 MiB. */
  rawBodyMaxBytes?: number;
  /** A session ends after this long without a request. Default 30 minutes. */
  sessionIdleMs?: number;
  /**
   * How long a provider has to start its answer, and to finish one that is not a stream; a
   * stream's events then take what time they take. Default 10 minutes (the OpenAI SDK's own).
   */
  upstreamTimeoutMs?: number;
}

/** The upstream timeout unless settings say otherwise. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10 * 60_000;

export interface GatewayOptions {
  /** The providers now (read for every request: config changes apply at once). */
  providers: () => readonly GatewayProvider[];
  settings?: () => GatewaySettings;
  /** Takes each request's record, once its response has ended. Must not throw. */
  onCapture: (capture: GatewayCapture) => void;
  fetch?: typeof fetch;
  /** The largest request body. Default 32 MiB. */
  maxRequestBytes?: number;
  /** After a client leaves a stream, how long the upstream is read on for its usage. Default 60 s. */
  drainMs?: number;
  now?: () => number;
}

/** Status of a request whose client left before the end (nginx's "client closed request"). */
export const CLIENT_CLOSED = 499;
/** Added to a record's response headers when its response did not end as the provider meant. */
export const INCOMPLETE_HEADER = 'x-aperture-incomplete';

const encoder = new TextEncoder();

/** Runs `work` after the current turn's I/O: once the response in hand has been handed on. */
const later: (work: () => void) => void =
  (globalThis as { setImmediate?: (fn: () => void) => void }).setImmediate ??
  ((work) => setTimeout(work, 0));

/** The first bytes of a stream, kept only if the whole of it fits. */
class RawText {
  #parts: Uint8Array[] = [];
  #size = 0;
  constructor(readonly max: number) {}
  add(chunk: Uint8Array): void {
    this.#size += chunk.byteLength;
    if (this.#size <= this.max) this.#parts.push(chunk);
    else this.#parts = [];
  }
  bytes(): Uint8Array | undefined {
    if (this.#size > this.max || this.#size === 0) return undefined;
    const all = new Uint8Array(this.#size);
    let at = 0;
    for (const part of this.#parts) {
      all.set(part, at);
      at += part.byteLength;
    }
    return all;
  }
}

/** The body as text, or undefined once it passes `limit` bytes (read no further). */
async function readLimited(request: Request, limit: number): Promise<string | undefined> {
  const declared = request.headers.get('content-length');
  if (Number(declared ?? 0) > limit) return undefined;
  // A declared length is its own limit: text() then reads the body on the host's fast path
  // (@hono/node-server reads it straight from the socket); a chunked one is counted as it comes.
  if (declared !== null && request.headers.get('transfer-encoding') === null) return request.text();
  if (!request.body) return '';
  const reader = request.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel();
      return undefined;
    }
    parts.push(value);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const part of parts) {
    all.set(part, at);
    at += part.byteLength;
  }
  return new TextDecoder().decode(all);
}

interface Exchange {
  api: Api;
  identity: Identity;
  model: string;
  started: number;
  session: string;
  request: Capture['request'];
  provider?: GatewayProvider;
}

export class Gateway {
  readonly #options: GatewayOptions;
  readonly #fetch: typeof fetch;
  readonly #sessions: SessionTracker;
  readonly #now: () => number;
  /**
   * Records still to be made: of whole answers already handed on (see later()), and of streams
   * whose client left, read on for their usage.
   */
  readonly #making = new Set<Promise<void>>();
  /** Ends the reading on of each stream whose client left, at once. */
  readonly #drains = new Set<() => void>();

  constructor(options: GatewayOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#sessions = new SessionTracker(() => options.settings?.().sessionIdleMs ?? 30 * 60_000);
    this.#now = options.now ?? Date.now;
  }

  /**
   * Resolves once every answered request's record has been handed to onCapture: a host
   * stopping awaits it, then the store's writes, so that no answered request loses its record.
   */
  async settled(): Promise<void> {
    while (this.#making.size > 0) await Promise.all(this.#making);
  }

  /**
   * Cuts short the reading on of streams whose client left (see drainMs): each is recorded
   * with what has arrived. For a host that stops, before settled().
   */
  stopDraining(): void {
    for (const stop of this.#drains) stop();
  }

  /** Counts `work`, which ends with a record made, among those settled() waits for. */
  #recordLater(work: Promise<void>): void {
    this.#making.add(work);
    const done = () => void this.#making.delete(work);
    work.then(done, done);
  }

  /** The models the gateway serves, as OpenAI's `GET /v1/models` lists them. */
  models(): JsonValue {
    const seen = new Set<string>();
    const data: JsonValue[] = [];
    for (const provider of this.#options.providers()) {
      for (const model of provider.models) {
        if (seen.has(model)) continue;
        seen.add(model);
        data.push({ id: model, object: 'model', created: 0, owned_by: provider.id });
      }
    }
    return { object: 'list', data };
  }

  /** Serves one request in `api`'s format for `identity`. */
  async handle(api: Api, request: Request, identity: Identity): Promise<Response> {
    const started = this.#now();
    const exchange: Exchange = {
      api,
      identity,
      model: '',
      started,
      session: '',
      request: { method: request.method, headers: capturedHeaders(request.headers), body: null },
    };
    const refuse = (status: number, message: string) => {
      const body = api.error(status, message);
      this.#record(exchange, status, { usage: undefined, toolUses: [], body }, new Headers());
      return Response.json(body, { status });
    };

    const limit = this.#options.maxRequestBytes ?? 32 * 1024 * 1024;
    const raw = await readLimited(request, limit);
    if (raw === undefined) return refuse(413, `request body is larger than ${limit} bytes`);
    const body = parseJson(raw);
    if (!isObject(body)) {
      exchange.request.raw_body = encoder.encode(raw);
      return refuse(400, 'the request body must be a JSON object');
    }
    exchange.request.body = body;
    exchange.model = text(body.model);
    exchange.session =
      request.headers.get(SESSION_HEADER) ||
      this.#sessions.sessionFor(identity.login_name, exchange.model, started);

    const provider = this.#options
      .providers()
      .find(
        (candidate) =>
          candidate.models.includes(exchange.model) &&
          candidate.compatibility.includes(api.compatibility),
      );
    if (!provider)
      return refuse(
        404,
        `model ${JSON.stringify(exchange.model)} is not served here for ${api.path} (GET /v1/models lists the models)`,
      );
    exchange.provider = provider;

    const { body: upstreamBody, hideUsage } = api.upstream(body);
    const timeoutMs = this.#options.settings?.().upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const late = (what: string) =>
      refuse(504, `provider ${provider.id} did not ${what} within ${timeoutMs / 1000} s`);
    let upstream: Response;
    try {
      upstream = await this.#fetch(`${provider.baseUrl.replace(/\/+$/, '')}${api.upstreamPath}`, {
        method: 'POST',
        headers: upstreamHeaders(request.headers, provider.authorization, provider.apiKey),
        body: JSON.stringify(upstreamBody),
        signal: deadline.signal,
      });
    } catch (error) {
      clearTimeout(timer);
      if (deadline.signal.aborted) return late('start its answer');
      return refuse(
        502,
        `provider ${provider.id} could not be reached: ${error instanceof Error ? error.message : String(error)}`,
      );
    }

    const type = upstream.headers.get('content-type') ?? '';
    if (type.includes('text/event-stream') && upstream.body) {
      clearTimeout(timer);
      return this.#stream(exchange, upstream, api.stream(hideUsage));
    }

    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await upstream.arrayBuffer());
    } catch (error) {
      if (deadline.signal.aborted) return late('finish its answer');
      return refuse(
        502,
        `provider ${provider.id} ended its response early: ${error instanceof Error ? error.message : String(error)}`,
      );
    } finally {
      clearTimeout(timer);
    }
    // The record is made once the answer is on its way: reading its usage and pricing it are
    // not the client's wait.
    this.#recordLater(
      new Promise<void>((made) =>
        later(() => {
          try {
            const json = parseJson(new TextDecoder().decode(bytes));
            const result: ApiResult =
              json === undefined ? { usage: undefined, toolUses: [], body: null } : api.read(json);
            this.#record(
              exchange,
              upstream.status,
              result,
              upstream.headers,
              json === undefined ? bytes : undefined,
            );
          } finally {
            made();
          }
        }),
      ),
    );
    return new Response(bytes, {
      status: upstream.status,
      headers: clientHeaders(upstream.headers),
    });
  }

  /**
   * Passes a stream on event by event, as it arrives: the client's reads pull the upstream's.
   * If the client leaves, the upstream is read on (at most drainMs) for the usage at its end.
   */
  #stream(exchange: Exchange, upstream: Response, reader: StreamReader): Response {
    const source = upstream.body!.getReader();
    const decoder = new TextDecoder();
    const events = new SseParser();
    const raw = new RawText(this.#options.settings?.().rawBodyMaxBytes ?? 1024 * 1024);
    let ended = false;
    /** Set when the client leaves: from then on the drain in cancel() reads, and records. */
    let clientGone = false;
    /** Reads the next piece; returns the text to pass on, or undefined at the end. */
    const next = async (): Promise<string | undefined> => {
      const { done, value } = await source.read();
      const arrived = done ? events.end() : events.push(decoder.decode(value, { stream: true }));
      if (value) raw.add(value);
      const forward = arrived.filter((event) => reader.read(event)).map((event) => event.text);
      if (done) return forward.length > 0 ? forward.join('') : undefined;
      return forward.join('');
    };
    const finish = (status: number, incomplete?: string) => {
      if (ended) return;
      ended = true;
      const headers = new Headers(upstream.headers);
      if (incomplete) headers.set(INCOMPLETE_HEADER, incomplete);
      this.#record(exchange, status, reader.result(), headers, raw.bytes());
    };
    const body = new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        try {
          for (;;) {
            const piece = await next();
            if (clientGone) return;
            if (piece === undefined) {
              controller.close();
              finish(upstream.status);
              return;
            }
            if (piece !== '') {
              controller.enqueue(encoder.encode(piece));
              return;
            }
          }
        } catch (error) {
          if (clientGone) return;
          finish(upstream.status, `the provider's stream failed: ${(error as Error).message}`);
          controller.error(error);
        }
      },
      cancel: () => {
        clientGone = true;
        // The client left: read on for the usage, within drainMs (or until a stop).
        const deadline = this.#now() + (this.#options.drainMs ?? 60_000);
        let timer: ReturnType<typeof setTimeout> | undefined;
        let stop = () => {};
        const late = new Promise<'late'>((resolve) => {
          timer = setTimeout(() => resolve('late'), Math.max(0, deadline - this.#now()));
          stop = () => resolve('late');
        });
        this.#drains.add(stop);
        const drained = (async () => {
          try {
            for (;;) {
              const piece = await Promise.race([next(), late]);
              if (piece === 'late' || piece === undefined) break;
            }
          } catch {
            // The upstream failed too: the record has what arrived.
          } finally {
            clearTimeout(timer);
            this.#drains.delete(stop);
            await source.cancel().catch(() => {});
            finish(CLIENT_CLOSED, 'the client closed the connection before the end');
          }
        })();
        this.#recordLater(drained);
        return drained;
      },
    });
    return new Response(body, {
      status: upstream.status,
      headers: clientHeaders(upstream.headers),
    });
  }

  #record(
    exchange: Exchange,
    status: number,
    result: ApiResult,
    responseHeaders: Headers,
    rawResponse?: Uint8Array,
  ): void {
    const { api, identity, model, started, provider } = exchange;
    const usage = result.usage;
    const timestamp = new Date(started);
    const cost =
      usage && provider ? estimateCost(usage, model, provider.baseUrl, timestamp) : undefined;
    const response: Capture['response'] = {
      headers: capturedHeaders(responseHeaders),
      body: result.body,
    };
    if (rawResponse) response.raw_body = rawResponse;
    this.#options.onCapture({
      ver: 2,
      timestamp,
      identity,
      model,
      api_type: api.type,
      usage: {
        input_tokens: usage?.input ?? 0,
        output_tokens: usage?.output ?? 0,
        cached_tokens: usage?.cacheRead ?? 0,
        reasoning_tokens: usage?.reasoning ?? 0,
      },
      ...(cost ? { estimated_cost: cost } : {}),
      duration_ms: Math.max(0, this.#now() - started),
      capture_id: crypto.randomUUID(),
      session_id:
        exchange.session || this.#sessions.sessionFor(identity.login_name, model, started),
      path: api.path,
      status_code: status,
      capture: { request: exchange.request, response, tool_uses: result.toolUses },
    });
  }
}
