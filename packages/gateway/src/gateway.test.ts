import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropicMessages } from './apis/anthropic-messages.ts';
import { openAiChat } from './apis/openai-chat.ts';
import { openAiResponses } from './apis/openai-responses.ts';
import type { Api } from './apis/types.ts';
import {
  CLIENT_CLOSED,
  Gateway,
  type GatewayCapture,
  type GatewayProvider,
  INCOMPLETE_HEADER,
} from './gateway.ts';
import { SseParser } from './sse.ts';
import {
  FAKE_KEYS,
  FAKE_TOOL_CALLS,
  FAKE_USAGE,
  type FakeProvider,
  startFakeProvider,
} from './testing/fake-provider.ts';

let provider: FakeProvider;
beforeAll(async () => {
  provider = await startFakeProvider();
});
afterAll(() => provider.stop());

const IDENTITY = { login_name: 'alice@example.com', node_id: 'nALICE', tags: ['tag:dev'] };

/** A provider of chat completions, for a test's own gateway. */
const chatProvider = (id: string, baseUrl: string, models: string[]): GatewayProvider => ({
  id,
  baseUrl,
  apiKey: FAKE_KEYS.openai,
  models,
  authorization: 'bearer',
  compatibility: ['openai_chat'],
});

/** A chat completion request through `gateway`, as alice. */
const postChat = (gateway: Gateway, body: object) =>
  gateway.handle(
    openAiChat,
    new Request('http://gateway/v1/chat/completions', {
      method: 'POST',
      body: JSON.stringify(body),
    }),
    IDENTITY,
  );

function setup(options: { drainMs?: number } = {}) {
  const records: GatewayCapture[] = [];
  const gateway = new Gateway({
    providers: () => [
      {
        id: 'openai',
        baseUrl: provider.baseUrl,
        apiKey: FAKE_KEYS.openai,
        models: [
          'gpt-4o',
          'gpt-4o-tools',
          'gpt-4o-slow',
          'gpt-4o-gzip',
          'fail-429',
          'fail-500',
          'my-local-model',
        ],
        authorization: 'bearer',
        compatibility: ['openai_chat', 'openai_responses'],
      },
      {
        id: 'anthropic',
        baseUrl: `${provider.baseUrl}/`,
        apiKey: FAKE_KEYS.anthropic,
        models: [
          'claude-sonnet-4-5',
          'claude-sonnet-4-5-tools',
          'claude-sonnet-4-5-slow',
          'fail-529',
        ],
        authorization: 'x-api-key',
        compatibility: ['anthropic_messages'],
      },
    ],
    onCapture: (record) => records.push(record),
    drainMs: options.drainMs,
  });
  /** Waits until `count` records were made (they are made just after the response). */
  const recorded = (count: number) => waitFor(() => records.length >= count);
  const call = (api: Api, body: object, headers: Record<string, string> = {}) =>
    gateway.handle(
      api,
      new Request(`http://gateway${api.path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer client-own-token',
          cookie: 'session=secret',
          ...headers,
        },
        body: JSON.stringify(body),
      }),
      IDENTITY,
    );
  return { gateway, records, call, recorded };
}

/** Events of a streamed response, as a client reads them. */
async function events(response: Response) {
  const parser = new SseParser();
  const text = await response.text();
  return [...parser.push(text), ...parser.end()];
}

const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('Gateway, whole responses', () => {
  it('settled() resolves once every answered request has its record', async () => {
    const { gateway, call, records } = setup();
    const response = await call(openAiChat, { model: 'gpt-4o', messages: [] });
    expect(response.status).toBe(200);
    // Answered: its record is made once the answer has been handed on, in a later turn.
    expect(records).toHaveLength(0);
    await gateway.settled();
    expect(records).toHaveLength(1);
    await Promise.all([1, 2].map(() => call(openAiChat, { model: 'gpt-4o', messages: [] })));
    await gateway.settled();
    expect(records).toHaveLength(3);
  });

  it('OpenAI chat: routes by model, swaps the key, passes the answer on, and records it', async () => {
    const { call, records, recorded } = setup();
    const response = await call(openAiChat, {
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(response.status).toBe(200);
    expect(provider.requests.at(-1)!.headers['accept-encoding']).toBe('identity');
    const body = await response.json();
    expect(body.choices[0].message.content).toBe('Hello from gpt-4o. The weather is fine.');
    const sent = provider.requests.at(-1)!;
    expect(sent.headers.authorization).toBe(`Bearer ${FAKE_KEYS.openai}`);
    expect(sent.headers.cookie).toBeUndefined();
    await recorded(1);
    expect(records).toHaveLength(1);
    const [record] = records;
    const u = FAKE_USAGE.openai;
    expect(record).toMatchObject({
      identity: IDENTITY,
      model: 'gpt-4o',
      api_type: 'oai_completions',
      path: '/v1/chat/completions',
      status_code: 200,
      usage: {
        input_tokens: u.input,
        cached_tokens: u.cached,
        output_tokens: u.output,
        reasoning_tokens: u.reasoning,
      },
    });
    expect(record!.estimated_cost?.total_usd).toBeGreaterThan(0);
    expect(record!.capture.request.headers).not.toHaveProperty('authorization');
    expect(record!.capture.request.headers).not.toHaveProperty('cookie');
    expect(record!.capture.request.body).toMatchObject({ model: 'gpt-4o' });
    expect(record!.capture.response.body).toEqual(body);
    expect(record!.capture_id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('decodes an answer a provider compresses anyway', async () => {
    const { call, records, recorded } = setup();
    const response = await call(openAiChat, { model: 'gpt-4o-gzip', messages: [] });
    expect(response.headers.get('content-encoding')).toBeNull();
    expect((await response.json()).choices[0].message.content).toContain('Hello from gpt-4o-gzip');
    await recorded(1);
    expect(records[0]!.usage.input_tokens).toBe(FAKE_USAGE.openai.input);
  });

  it('reads tool uses from each API’s whole response', async () => {
    const { call, records } = setup();
    await call(openAiChat, { model: 'gpt-4o-tools', messages: [] });
    await call(openAiResponses, { model: 'gpt-4o-tools', input: 'x' });
    await call(anthropicMessages, {
      model: 'claude-sonnet-4-5-tools',
      max_tokens: 10,
      messages: [],
    });
    for (const record of records) expect(record.capture.tool_uses).toEqual(FAKE_TOOL_CALLS);
    expect(provider.requests.at(-1)!.headers['x-api-key']).toBe(FAKE_KEYS.anthropic);
    expect(provider.requests.at(-1)!.headers.authorization).toBeUndefined();
  });

  it('normalises Anthropic usage: input counts cache writes and reads', async () => {
    const { call, records, recorded } = setup();
    await call(anthropicMessages, { model: 'claude-sonnet-4-5', max_tokens: 10, messages: [] });
    await recorded(1);
    const u = FAKE_USAGE.anthropic;
    expect(records[0]!.usage).toEqual({
      input_tokens: u.input + u.cacheWrite + u.cacheRead,
      cached_tokens: u.cacheRead,
      output_tokens: u.output,
      reasoning_tokens: 0,
    });
    expect(records[0]!.estimated_cost?.total_usd).toBeGreaterThan(0);
  });

  it('gives no cost for a model the price table does not know: never a guess', async () => {
    const { call, records, recorded } = setup();
    expect((await call(openAiChat, { model: 'my-local-model', messages: [] })).status).toBe(200);
    await recorded(1);
    expect(records[0]!.usage.input_tokens).toBe(FAKE_USAGE.openai.input);
    expect(records[0]).not.toHaveProperty('estimated_cost');
  });

  it('passes upstream errors on as they are, and records them', async () => {
    const { call, records, recorded } = setup();
    const limited = await call(openAiChat, { model: 'fail-429', messages: [] });
    expect(limited.status).toBe(429);
    expect((await limited.json()).error.message).toBe('failing as fail-429 asks');
    const overloaded = await call(anthropicMessages, { model: 'fail-529', messages: [] });
    expect(overloaded.status).toBe(529);
    expect((await overloaded.json()).type).toBe('error');
    await recorded(2);
    expect(records.map((r) => r.status_code)).toEqual([429, 529]);
    expect(records[0]!.estimated_cost).toBeUndefined();
  });

  it('refuses an unknown model with 404 in the API’s shape, forwarding nothing', async () => {
    const { call, records } = setup();
    const before = provider.requests.length;
    const openai = await call(openAiChat, { model: 'no-such-model', messages: [] });
    expect(openai.status).toBe(404);
    expect((await openai.json()).error.message).toMatch(/model "no-such-model" is not served here/);
    const anthropic = await call(anthropicMessages, { model: 'gpt-4o', messages: [] });
    expect(anthropic.status).toBe(404); // served, but not over this API
    expect((await anthropic.json()).error.type).toBe('not_found_error');
    expect(provider.requests.length).toBe(before);
    expect(records.map((r) => [r.status_code, r.model])).toEqual([
      [404, 'no-such-model'],
      [404, 'gpt-4o'],
    ]);
  });

  it('answers 502 in the API’s shape when the provider cannot be reached', async () => {
    const records: GatewayCapture[] = [];
    const gateway = new Gateway({
      providers: () => [chatProvider('gone', 'http://127.0.0.1:9/v1', ['m'])],
      onCapture: (record) => records.push(record),
    });
    const response = await postChat(gateway, { model: 'm', messages: [] });
    expect(response.status).toBe(502);
    expect((await response.json()).error.message).toMatch(/^provider gone could not be reached/);
    expect(records[0]!.status_code).toBe(502);
  });

  it('answers 504 when the provider does not start (or finish) its answer in time; a slow stream goes on', async () => {
    const slow = await startFakeProvider({ delayMs: 400 });
    try {
      const records: GatewayCapture[] = [];
      const gateway = new Gateway({
        providers: () => [
          chatProvider('slow', slow.baseUrl, ['gpt-4o']),
          chatProvider('quick', provider.baseUrl, ['gpt-4o-slow']),
        ],
        settings: () => ({ upstreamTimeoutMs: 100 }),
        onCapture: (record) => records.push(record),
      });
      const post = (body: object) => postChat(gateway, body);
      const started = Date.now();
      const late = await post({ model: 'gpt-4o', messages: [] });
      expect(Date.now() - started).toBeLessThan(350);
      expect(late.status).toBe(504);
      expect((await late.json()).error.message).toBe(
        'provider slow did not start its answer within 0.1 s',
      );
      expect(records[0]!.status_code).toBe(504);
      // Headers came at once; its events then take longer than the timeout between them.
      const stream = await post({ model: 'gpt-4o-slow', messages: [], stream: true });
      expect(stream.status).toBe(200);
      expect(await stream.text()).toContain('data: [DONE]');
    } finally {
      await slow.stop();
    }
  });

  it('refuses a body over the limit with 413, and one that is not JSON with 400', async () => {
    const records: GatewayCapture[] = [];
    const gateway = new Gateway({
      providers: () => [],
      onCapture: (record) => records.push(record),
      maxRequestBytes: 100,
    });
    const post = (body: string) =>
      gateway.handle(
        openAiChat,
        new Request('http://gateway/v1/chat/completions', { method: 'POST', body }),
        IDENTITY,
      );
    expect((await post(JSON.stringify({ model: 'x'.repeat(200) }))).status).toBe(413);
    expect((await post('{oops')).status).toBe(400);
    expect(records.map((r) => r.status_code)).toEqual([413, 400]);
  });
});

describe('Gateway, streams', () => {
  it('OpenAI chat: asks for usage, keeps that chunk from a client that did not, and assembles the answer', async () => {
    const { call, records } = setup();
    const response = await call(openAiChat, { model: 'gpt-4o-tools', messages: [], stream: true });
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const received = await events(response);
    expect(provider.requests.at(-1)!.body.stream_options).toEqual({ include_usage: true });
    const chunks = received.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data));
    expect(chunks.every((chunk) => chunk.choices.length > 0)).toBe(true);
    expect(received.at(-1)!.data).toBe('[DONE]');
    const [record] = records;
    expect(record!.usage.input_tokens).toBe(FAKE_USAGE.openai.input);
    expect(record!.capture.tool_uses).toEqual(FAKE_TOOL_CALLS);
    expect(record!.capture.response.body).toMatchObject({
      object: 'chat.completion',
      choices: [{ finish_reason: 'tool_calls' }],
    });
    expect(new TextDecoder().decode(record!.capture.response.raw_body)).toContain('data: [DONE]');
  });

  it('OpenAI chat: a client that asked for usage gets it', async () => {
    const { call, records } = setup();
    const received = await events(
      await call(openAiChat, {
        model: 'gpt-4o',
        messages: [],
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    const last = JSON.parse(received.at(-2)!.data);
    expect(last.choices).toEqual([]);
    expect(last.usage.prompt_tokens).toBe(FAKE_USAGE.openai.input);
    expect(records[0]!.usage.output_tokens).toBe(FAKE_USAGE.openai.output);
  });

  it('Responses: usage from response.completed, function calls by call_id', async () => {
    const { call, records } = setup();
    const received = await events(
      await call(openAiResponses, { model: 'gpt-4o-tools', input: 'x', stream: true }),
    );
    expect(received.at(-1)!.event).toBe('response.completed');
    expect(records[0]!.usage.reasoning_tokens).toBe(FAKE_USAGE.openai.reasoning);
    expect(records[0]!.capture.tool_uses).toEqual(FAKE_TOOL_CALLS);
  });

  it('Anthropic: usage merged from message_start and message_delta, tool input from JSON pieces', async () => {
    const { call, records } = setup();
    const received = await events(
      await call(anthropicMessages, {
        model: 'claude-sonnet-4-5-tools',
        messages: [],
        stream: true,
      }),
    );
    expect(received.at(-1)!.event).toBe('message_stop');
    const u = FAKE_USAGE.anthropic;
    expect(records[0]!.usage).toEqual({
      input_tokens: u.input + u.cacheWrite + u.cacheRead,
      cached_tokens: u.cacheRead,
      output_tokens: u.output,
      reasoning_tokens: 0,
    });
    expect(records[0]!.capture.tool_uses).toEqual(FAKE_TOOL_CALLS);
    expect(records[0]!.capture.response.body).toMatchObject({ stop_reason: 'tool_use' });
  });

  it('passes events on as they arrive, before the stream ends', async () => {
    const { call } = setup();
    const response = await call(anthropicMessages, {
      model: 'claude-sonnet-4-5-slow',
      messages: [],
      stream: true,
    });
    const reader = response.body!.getReader();
    const started = Date.now();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('event: message_start');
    // The slow stream takes FAKE_SLOW_MS an event: the first came long before the last.
    expect(Date.now() - started).toBeLessThan(1000);
    await reader.cancel();
  });

  it('a client that leaves mid-stream: the upstream is read on for the usage, status 499, marked incomplete', async () => {
    const { call, records } = setup();
    const response = await call(openAiChat, { model: 'gpt-4o-slow', messages: [], stream: true });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await waitFor(() => records.length > 0);
    const [record] = records;
    expect(record!.status_code).toBe(CLIENT_CLOSED);
    expect(record!.capture.response.headers[INCOMPLETE_HEADER]).toMatch(/client closed/);
    expect(record!.usage.input_tokens).toBe(FAKE_USAGE.openai.input);
  });

  it('stopDraining() records a stream whose client left at once, and settled() waits for it', async () => {
    const { gateway, call, records } = setup({ drainMs: 60_000 });
    const response = await call(openAiChat, { model: 'gpt-4o-slow', messages: [], stream: true });
    const reader = response.body!.getReader();
    await reader.read();
    const cancelled = reader.cancel();
    const started = Date.now();
    gateway.stopDraining();
    await gateway.settled();
    expect(Date.now() - started).toBeLessThan(1000);
    expect(records).toHaveLength(1);
    expect(records[0]!.status_code).toBe(CLIENT_CLOSED);
    await cancelled;
    await waitFor(() => provider.openStreams() === 0);
    expect(provider.openStreams()).toBe(0);
  });

  it('gives up on the upstream after drainMs, recording what arrived', async () => {
    const { call, records } = setup({ drainMs: 150 });
    const response = await call(openAiChat, { model: 'gpt-4o-slow', messages: [], stream: true });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    await waitFor(() => records.length > 0);
    expect(records[0]!.status_code).toBe(CLIENT_CLOSED);
    expect(records[0]!.usage.input_tokens).toBe(0); // the usage chunk never came in time
    await waitFor(() => provider.openStreams() === 0);
    expect(provider.openStreams()).toBe(0);
  });
});
