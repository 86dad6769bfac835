/**
 * A local LLM provider for tests and benchmarks: it speaks OpenAI's Chat Completions and
 * Responses and Anthropic's Messages, whole and streamed, as their documentation describes them,
 * with usage, tool calls, errors in each API's shape, and gzip when the client accepts it.
 * It checks the provider key it is sent and logs every request.
 *
 * What it answers depends on the model asked for:
 * - any name: a short text answer, with fixed usage counts (FAKE_USAGE);
 * - a name ending in `-tools`: two tool calls (get_weather and get_time) instead of text;
 * - `fail-<status>`: an error with that status, in the API's shape;
 * - a name ending in `-slow`: a stream whose events come FAKE_SLOW_MS apart;
 * - a name ending in `-gzip`: a whole answer gzipped whatever the client accepts (others are
 *   gzipped only when the client accepts it).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';

export const FAKE_KEYS = { openai: 'fake-openai-key', anthropic: 'fake-anthropic-key' };
export const FAKE_SLOW_MS = 40;

/** The counts every answer reports, in each API's terms. */
export const FAKE_USAGE = {
  openai: { input: 21, cached: 5, output: 9, reasoning: 3 },
  anthropic: { input: 11, cacheWrite: 7, cacheRead: 5, output: 9 },
};

export const FAKE_TOOL_CALLS = [
  { id: 'call_weather_1', name: 'get_weather', input: { city: 'Lisbon', unit: 'celsius' } },
  { id: 'call_time_2', name: 'get_time', input: { zone: 'Europe/Lisbon' } },
];

export interface LoggedProviderRequest {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Record<string, unknown>;
}

export interface FakeProvider {
  /** The base URL a provider config names: `http://127.0.0.1:<port>/v1`. */
  baseUrl: string;
  requests: LoggedProviderRequest[];
  /** Streams the provider is still writing (a client that left is still being answered). */
  openStreams(): number;
  stop(): Promise<void>;
}

const answerText = (model: string) => `Hello from ${model}. The weather is fine.`;

/** Splits text into a few pieces, as a model's tokens arrive. */
const pieces = (text: string) => text.match(/.{1,8}/g) ?? [];

function openAiChatBody(model: string, tools: boolean) {
  const u = FAKE_USAGE.openai;
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: 1_764_000_000,
    model,
    choices: [
      {
        index: 0,
        message: tools
          ? {
              role: 'assistant',
              content: null,
              tool_calls: FAKE_TOOL_CALLS.map((call) => ({
                id: call.id,
                type: 'function',
                function: { name: call.name, arguments: JSON.stringify(call.input) },
              })),
            }
          : { role: 'assistant', content: answerText(model) },
        finish_reason: tools ? 'tool_calls' : 'stop',
      },
    ],
    usage: {
      prompt_tokens: u.input,
      completion_tokens: u.output,
      total_tokens: u.input + u.output,
      prompt_tokens_details: { cached_tokens: u.cached },
      completion_tokens_details: { reasoning_tokens: u.reasoning },
    },
  };
}

function* openAiChatStream(model: string, tools: boolean, includeUsage: boolean) {
  const chunk = (delta: object, finish: string | null = null, extra: object = {}) => ({
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created: 1_764_000_000,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
    ...(includeUsage ? { usage: null } : {}),
    ...extra,
  });
  yield { data: chunk({ role: 'assistant', content: '' }) };
  if (tools) {
    for (const [index, call] of FAKE_TOOL_CALLS.entries()) {
      yield {
        data: chunk({
          tool_calls: [
            { index, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
          ],
        }),
      };
      for (const part of pieces(JSON.stringify(call.input)))
        yield { data: chunk({ tool_calls: [{ index, function: { arguments: part } }] }) };
    }
  } else {
    for (const part of pieces(answerText(model))) yield { data: chunk({ content: part }) };
  }
  yield { data: chunk({}, tools ? 'tool_calls' : 'stop') };
  if (includeUsage) {
    const { usage } = openAiChatBody(model, tools);
    yield {
      data: {
        id: 'chatcmpl-fake',
        object: 'chat.completion.chunk',
        created: 1_764_000_000,
        model,
        choices: [],
        usage,
      },
    };
  }
  yield { data: '[DONE]' };
}

function responsesBody(model: string, tools: boolean) {
  const u = FAKE_USAGE.openai;
  return {
    id: 'resp_fake',
    object: 'response',
    created_at: 1_764_000_000,
    status: 'completed',
    model,
    output: tools
      ? FAKE_TOOL_CALLS.map((call, i) => ({
          type: 'function_call',
          id: `fc_${i}`,
          call_id: call.id,
          name: call.name,
          arguments: JSON.stringify(call.input),
          status: 'completed',
        }))
      : [
          {
            type: 'message',
            id: 'msg_fake',
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text: answerText(model), annotations: [] }],
          },
        ],
    usage: {
      input_tokens: u.input,
      input_tokens_details: { cached_tokens: u.cached },
      output_tokens: u.output,
      output_tokens_details: { reasoning_tokens: u.reasoning },
      total_tokens: u.input + u.output,
    },
  };
}

function* responsesStream(model: string, tools: boolean) {
  const complete = responsesBody(model, tools);
  const started = { ...complete, status: 'in_progress', output: [], usage: null };
  let sequence = 0;
  const event = (type: string, payload: object) => ({
    event: type,
    data: { type, sequence_number: sequence++, ...payload },
  });
  yield event('response.created', { response: started });
  if (tools) {
    for (const [i, call] of FAKE_TOOL_CALLS.entries()) {
      const item = {
        type: 'function_call',
        id: `fc_${i}`,
        call_id: call.id,
        name: call.name,
        arguments: '',
        status: 'in_progress',
      };
      yield event('response.output_item.added', { output_index: i, item });
      const args = JSON.stringify(call.input);
      for (const part of pieces(args))
        yield event('response.function_call_arguments.delta', {
          item_id: item.id,
          output_index: i,
          delta: part,
        });
      yield event('response.function_call_arguments.done', {
        item_id: item.id,
        output_index: i,
        arguments: args,
      });
      yield event('response.output_item.done', {
        output_index: i,
        item: { ...item, arguments: args, status: 'completed' },
      });
    }
  } else {
    const item = {
      type: 'message',
      id: 'msg_fake',
      status: 'in_progress',
      role: 'assistant',
      content: [],
    };
    yield event('response.output_item.added', { output_index: 0, item });
    for (const part of pieces(answerText(model)))
      yield event('response.output_text.delta', {
        item_id: 'msg_fake',
        output_index: 0,
        content_index: 0,
        delta: part,
      });
  }
  yield event('response.completed', { response: complete });
}

function messagesBody(model: string, tools: boolean) {
  const u = FAKE_USAGE.anthropic;
  return {
    id: 'msg_fake',
    type: 'message',
    role: 'assistant',
    model,
    content: tools
      ? FAKE_TOOL_CALLS.map((call) => ({
          type: 'tool_use',
          id: call.id,
          name: call.name,
          input: call.input,
        }))
      : [{ type: 'text', text: answerText(model) }],
    stop_reason: tools ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: {
      input_tokens: u.input,
      cache_creation_input_tokens: u.cacheWrite,
      cache_read_input_tokens: u.cacheRead,
      output_tokens: u.output,
    },
  };
}

function* messagesStream(model: string, tools: boolean) {
  const u = FAKE_USAGE.anthropic;
  const event = (type: string, payload: object) => ({ event: type, data: { type, ...payload } });
  yield event('message_start', {
    message: {
      ...messagesBody(model, tools),
      content: [],
      stop_reason: null,
      usage: {
        input_tokens: u.input,
        cache_creation_input_tokens: u.cacheWrite,
        cache_read_input_tokens: u.cacheRead,
        output_tokens: 1,
      },
    },
  });
  if (tools) {
    for (const [index, call] of FAKE_TOOL_CALLS.entries()) {
      yield event('content_block_start', {
        index,
        content_block: { type: 'tool_use', id: call.id, name: call.name, input: {} },
      });
      for (const part of pieces(JSON.stringify(call.input)))
        yield event('content_block_delta', {
          index,
          delta: { type: 'input_json_delta', partial_json: part },
        });
      yield event('content_block_stop', { index });
    }
  } else {
    yield event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    yield { event: 'ping', data: { type: 'ping' } };
    for (const part of pieces(answerText(model)))
      yield event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: part } });
    yield event('content_block_stop', { index: 0 });
  }
  yield event('message_delta', {
    delta: { stop_reason: tools ? 'tool_use' : 'end_turn', stop_sequence: null },
    usage: { output_tokens: u.output },
  });
  yield event('message_stop', {});
}

function errorBody(path: string, status: number, message: string) {
  return path === '/v1/messages'
    ? { type: 'error', error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message } }
    : {
        error: {
          message,
          type: status === 429 ? 'rate_limit_exceeded' : 'server_error',
          param: null,
          code: null,
        },
      };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
}

export interface FakeProviderOptions {
  /** How long it thinks before it answers (or sends a stream's first event). Default 0. */
  delayMs?: number;
  /** Listen on this port (default: any free one). */
  port?: number;
}

export async function startFakeProvider(options: FakeProviderOptions = {}): Promise<FakeProvider> {
  const requests: LoggedProviderRequest[] = [];
  let open = 0;
  const server: Server = createServer(async (req, res) => {
    const path = (req.url ?? '').split('?')[0]!;
    const body = await readJson(req).catch((): Record<string, unknown> => ({}));
    requests.push({ path, headers: req.headers, body });
    const anthropic = path === '/v1/messages';
    const keyOk = anthropic
      ? req.headers['x-api-key'] === FAKE_KEYS.anthropic
      : req.headers.authorization === `Bearer ${FAKE_KEYS.openai}`;
    const send = (status: number, json: object) => {
      const text = Buffer.from(JSON.stringify(json));
      const gzip =
        String(body.model ?? '').endsWith('-gzip') ||
        /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      res.writeHead(status, {
        'content-type': 'application/json',
        'x-request-id': 'req_fake',
        ...(gzip ? { 'content-encoding': 'gzip' } : {}),
      });
      res.end(gzip ? gzipSync(text) : text);
    };
    if (!keyOk) return send(401, errorBody(path, 401, 'invalid provider key'));
    const model = String(body.model ?? '');
    const failure = /^fail-(\d{3})$/.exec(model);
    if (failure)
      return send(
        Number(failure[1]),
        errorBody(path, Number(failure[1]), `failing as ${model} asks`),
      );
    const tools = model.endsWith('-tools');
    if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
    if (body.stream !== true) {
      if (path === '/v1/chat/completions') return send(200, openAiChatBody(model, tools));
      if (path === '/v1/responses') return send(200, responsesBody(model, tools));
      if (anthropic) return send(200, messagesBody(model, tools));
      return send(404, errorBody(path, 404, `no route ${path}`));
    }
    const includeUsage =
      (body.stream_options as { include_usage?: boolean } | undefined)?.include_usage === true;
    const events =
      path === '/v1/chat/completions'
        ? openAiChatStream(model, tools, includeUsage)
        : path === '/v1/responses'
          ? responsesStream(model, tools)
          : messagesStream(model, tools);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      'x-request-id': 'req_fake',
    });
    open++;
    res.on('close', () => open--);
    const slow = model.endsWith('-slow');
    for (const event of events as Iterable<{ event?: string; data: object | string }>) {
      if (res.destroyed) break;
      const data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
      res.write(`${event.event ? `event: ${event.event}\n` : ''}data: ${data}\n\n`);
      if (slow) await new Promise((resolve) => setTimeout(resolve, FAKE_SLOW_MS));
    }
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    openStreams: () => open,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The config (`providers` and `gateway`) of a gateway in front of a fake provider at `baseUrl`,
 * serving gpt-4o over chat completions to one client token, recorded as `login`.
 */
export function fakeGatewayConfig(baseUrl: string, client: { token: string; login: string }) {
  return {
    providers: {
      fake: {
        baseurl: baseUrl,
        apikey: FAKE_KEYS.openai,
        models: ['gpt-4o'],
        compatibility: { openai_chat: true },
      },
    },
    gateway: { tokens: [{ token: client.token, login_name: client.login }] },
  };
}
