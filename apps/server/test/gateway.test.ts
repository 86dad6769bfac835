/**
 * The gateway with the official SDKs as clients (openai 6, @anthropic-ai/sdk 1), over real HTTP,
 * in front of a local provider that speaks each API's wire format. Every test checks what the
 * client received and the record the request left in the store; the last ones export them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { decodeExportFile, type ExportRecord } from '@aperture-export/codec';
import type { CaptureStore } from '@aperture-export/core';
import { openSqliteStore } from '@aperture-export/core/sqlite-node';
import { CLIENT_CLOSED, INCOMPLETE_HEADER } from '@aperture-export/gateway';
import {
  FAKE_KEYS,
  FAKE_TOOL_CALLS,
  FAKE_USAGE,
  type FakeProvider,
  startFakeProvider,
} from '@aperture-export/gateway/testing';
import { type S3Target, startS3Target } from '@aperture-export/testcontainers';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.ts';
import { nodeHttpFetch } from '../src/node-fetch.ts';
import { ApertureService } from '../src/service.ts';
import { localApiWhois } from '../src/tailscale.ts';
import { exporterConfig } from './helpers.ts';

const ALICE = { token: 'alice-gateway-token', login_name: 'alice@example.com', tags: ['tag:dev'] };
const scratch = mkdtempSync(join(tmpdir(), 'gateway-test-'));
const whoisSocket = join(scratch, 'tailscaled.sock');
let provider: FakeProvider;
let target: S3Target;
let store: CaptureStore;
let service: ApertureService;
let server: ReturnType<typeof serve>;
let whoisServer: Server;
let gateway: string;
const whoisAsked: string[] = [];

const config = () => ({
  exporters: { s3: exporterConfig(target, { prefix: `${target.prefix}/gateway` }) },
  providers: {
    openai: {
      baseurl: provider.baseUrl,
      apikey: FAKE_KEYS.openai,
      models: ['gpt-4o', 'gpt-4o-tools', 'gpt-4o-slow', 'gpt-4o-gzip', 'fail-429'],
      compatibility: { openai_chat: true, openai_responses: true },
    },
    anthropic: {
      baseurl: provider.baseUrl,
      apikey: FAKE_KEYS.anthropic,
      models: ['claude-sonnet-4-5', 'claude-sonnet-4-5-tools'],
      authorization: 'x-api-key',
      compatibility: { anthropic_messages: true },
    },
  },
  gateway: { tokens: [ALICE], tailscale_serve_headers: true },
});

beforeAll(async () => {
  [provider, target] = await Promise.all([startFakeProvider(), startS3Target()]);
  store = openSqliteStore(join(scratch, 'captures.sqlite'));
  let text = JSON.stringify(config());
  ({ service } = await ApertureService.open({
    store,
    configSource: {
      read: async () => text,
      write: async (next) => {
        text = next;
      },
    },
    zstd: await (await import('@aperture-export/codec')).loadZstd(),
    whois: localApiWhois,
    gatewayFetch: nodeHttpFetch(), // as the Node host runs it
  }));
  const app = createApp({
    service,
    adminToken: 'admin',
    ingestToken: 'ingest',
    peer: (c) => getConnInfo(c).remote,
  });
  await new Promise<void>((resolve) => {
    server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      gateway = `http://127.0.0.1:${info.port}`;
      resolve();
    });
  });
  // A LocalAPI on a Unix socket, as tailscaled has: it knows every peer as carol.
  whoisServer = createServer((req, res) => {
    whoisAsked.push(new URL(req.url!, 'http://x').searchParams.get('addr')!);
    res.setHeader('content-type', 'application/json');
    res.end(
      JSON.stringify({
        Node: { StableID: 'nCAROL1CNTRL', Tags: [] },
        UserProfile: { LoginName: 'carol@example.com' },
      }),
    );
  });
  await new Promise<void>((resolve) => whoisServer.listen(whoisSocket, resolve));
});

afterAll(async () => {
  server?.close();
  whoisServer?.close();
  await service?.stop();
  await store?.close();
  await Promise.all([provider?.stop(), target?.stop()]);
  rmSync(scratch, { recursive: true, force: true });
});

const openai = () => new OpenAI({ apiKey: ALICE.token, baseURL: `${gateway}/v1`, maxRetries: 0 });
const anthropic = () => new Anthropic({ apiKey: ALICE.token, baseURL: gateway, maxRetries: 0 });

/** The record the latest request left, once the write queue has stored it. */
async function lastRecord(): Promise<ExportRecord> {
  for (let i = 0; i < 100; i++) {
    const [record] = await store.recent({ limit: 1 });
    if (record && record.id > seen) {
      seen = record.id;
      return record;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('no new record');
}
let seen = 0;

const openAiUsage = {
  input_tokens: FAKE_USAGE.openai.input,
  cached_tokens: FAKE_USAGE.openai.cached,
  output_tokens: FAKE_USAGE.openai.output,
  reasoning_tokens: FAKE_USAGE.openai.reasoning,
};

describe('gateway with the OpenAI SDK', () => {
  it('chat completion: the answer, and a record of it', async () => {
    const completion = await openai().chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Weather?' }],
    });
    expect(completion.choices[0]!.message.content).toBe('Hello from gpt-4o. The weather is fine.');
    const record = await lastRecord();
    expect(record).toMatchObject({
      identity: { login_name: ALICE.login_name, tags: ALICE.tags },
      model: 'gpt-4o',
      api_type: 'oai_completions',
      path: '/v1/chat/completions',
      status_code: 200,
      usage: openAiUsage,
    });
    expect(record.estimated_cost!.total_usd).toBeGreaterThan(0);
    expect(JSON.stringify(record.capture)).not.toContain(ALICE.token);
    expect(JSON.stringify(record.capture)).not.toContain(FAKE_KEYS.openai);
    // The provider got its key, not the client's.
    expect(provider.requests.at(-1)!.headers.authorization).toBe(`Bearer ${FAKE_KEYS.openai}`);
  });

  it('chat stream with tools: the client assembles the calls; usage it did not ask for stays hidden', async () => {
    const stream = await openai().chat.completions.create({
      model: 'gpt-4o-tools',
      messages: [{ role: 'user', content: 'Weather and time?' }],
      stream: true,
    });
    const calls = new Map<number, { id: string; name: string; arguments: string }>();
    let usageSeen = false;
    for await (const chunk of stream) {
      if (chunk.usage) usageSeen = true;
      for (const call of chunk.choices[0]?.delta.tool_calls ?? []) {
        const soFar = calls.get(call.index) ?? { id: '', name: '', arguments: '' };
        soFar.id ||= call.id ?? '';
        soFar.name ||= call.function?.name ?? '';
        soFar.arguments += call.function?.arguments ?? '';
        calls.set(call.index, soFar);
      }
    }
    expect(usageSeen).toBe(false);
    expect(
      [...calls.values()].map((c) => ({ id: c.id, name: c.name, input: JSON.parse(c.arguments) })),
    ).toEqual(FAKE_TOOL_CALLS);
    const record = await lastRecord();
    expect(record.usage).toEqual(openAiUsage);
    expect(record.capture!.tool_uses).toEqual(FAKE_TOOL_CALLS);
    expect(record.capture!.response.raw_body!.byteLength).toBeGreaterThan(0);
  });

  it('responses, whole and streamed', async () => {
    const response = await openai().responses.create({ model: 'gpt-4o', input: 'Weather?' });
    expect(response.output_text).toBe('Hello from gpt-4o. The weather is fine.');
    expect((await lastRecord()).api_type).toBe('oai_responses');
    const stream = await openai().responses.create({
      model: 'gpt-4o-tools',
      input: 'Weather and time?',
      stream: true,
    });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types.at(-1)).toBe('response.completed');
    const record = await lastRecord();
    expect(record.usage).toEqual(openAiUsage);
    expect(record.capture!.tool_uses).toEqual(FAKE_TOOL_CALLS);
  });

  it('a provider that does not answer within gateway.upstream_timeout_seconds gets the client a 504', async () => {
    const silent = await startFakeProvider({ delayMs: 2500 });
    const base = config();
    const slowConfig = {
      ...base,
      providers: {
        ...base.providers,
        silent: {
          baseurl: silent.baseUrl,
          apikey: FAKE_KEYS.openai,
          models: ['silent-model'],
          compatibility: { openai_chat: true },
        },
      },
      gateway: { ...base.gateway, upstream_timeout_seconds: 1 },
    };
    expect(await service.updateConfig(JSON.stringify(slowConfig))).toMatchObject({ ok: true });
    try {
      const started = Date.now();
      const error = await openai()
        .chat.completions.create({ model: 'silent-model', messages: [] })
        .catch((caught: unknown) => caught);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(504);
      expect((error as Error).message).toContain(
        'provider silent did not start its answer within 1 s',
      );
      expect((await lastRecord()).status_code).toBe(504);
    } finally {
      expect(await service.updateConfig(JSON.stringify(base))).toMatchObject({ ok: true });
      await silent.stop();
    }
  });

  it('an answer the provider gzips anyway is decoded on the way', async () => {
    const completion = await openai().chat.completions.create({
      model: 'gpt-4o-gzip',
      messages: [],
    });
    expect(completion.choices[0]!.message.content).toContain('Hello from gpt-4o-gzip');
    expect((await lastRecord()).usage).toEqual(openAiUsage);
  });

  it('lists the models the gateway serves', async () => {
    const models = [];
    for await (const model of openai().models.list()) models.push(model.id);
    expect(models.sort()).toEqual(
      [
        'claude-sonnet-4-5',
        'claude-sonnet-4-5-tools',
        'fail-429',
        'gpt-4o',
        'gpt-4o-gzip',
        'gpt-4o-slow',
        'gpt-4o-tools',
      ].sort(),
    );
  });

  it('errors reach the client as the SDK knows them, and are recorded', async () => {
    await expect(
      openai().chat.completions.create({ model: 'fail-429', messages: [] }),
    ).rejects.toMatchObject({ status: 429 });
    expect((await lastRecord()).status_code).toBe(429);
    await expect(
      openai().chat.completions.create({ model: 'unknown-model', messages: [] }),
    ).rejects.toMatchObject({ status: 404 });
    expect(await lastRecord()).toMatchObject({ status_code: 404, model: 'unknown-model' });
    const stranger = new OpenAI({ apiKey: 'not-a-token', baseURL: `${gateway}/v1`, maxRetries: 0 });
    await expect(
      stranger.chat.completions.create({ model: 'gpt-4o', messages: [] }),
    ).rejects.toMatchObject({ status: 401 });
  });

  it('a client that leaves mid-stream still leaves a record: 499, the usage read on', async () => {
    const controller = new AbortController();
    const stream = await openai().chat.completions.create(
      { model: 'gpt-4o-slow', messages: [], stream: true },
      { signal: controller.signal },
    );
    // The client reads the first chunk, then hangs up.
    for await (const _ of stream) {
      controller.abort();
      break;
    }
    const record = await lastRecord();
    expect(record.status_code).toBe(CLIENT_CLOSED);
    expect(record.capture!.response.headers[INCOMPLETE_HEADER]).toBeDefined();
    expect(record.usage.input_tokens).toBe(FAKE_USAGE.openai.input);
  });
});

describe('gateway with the Anthropic SDK', () => {
  const anthropicUsage = {
    input_tokens:
      FAKE_USAGE.anthropic.input + FAKE_USAGE.anthropic.cacheWrite + FAKE_USAGE.anthropic.cacheRead,
    cached_tokens: FAKE_USAGE.anthropic.cacheRead,
    output_tokens: FAKE_USAGE.anthropic.output,
    reasoning_tokens: 0,
  };

  it('a message, whole', async () => {
    const message = await anthropic().messages.create({
      model: 'claude-sonnet-4-5',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather?' }],
    });
    expect(message.content[0]).toMatchObject({ type: 'text' });
    const record = await lastRecord();
    expect(record).toMatchObject({
      api_type: 'ant_messages',
      path: '/v1/messages',
      usage: anthropicUsage,
    });
    expect(provider.requests.at(-1)!.headers['x-api-key']).toBe(FAKE_KEYS.anthropic);
  });

  it('a streamed message with tool uses', async () => {
    const stream = anthropic().messages.stream({
      model: 'claude-sonnet-4-5-tools',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'Weather and time?' }],
    });
    const message = await stream.finalMessage();
    expect(
      message.content.map((block) =>
        block.type === 'tool_use' ? { id: block.id, name: block.name, input: block.input } : block,
      ),
    ).toEqual(FAKE_TOOL_CALLS);
    const record = await lastRecord();
    expect(record.usage).toEqual(anthropicUsage);
    expect(record.capture!.tool_uses).toEqual(FAKE_TOOL_CALLS);
  });
});

describe('gateway identities', () => {
  const ask = (headers: Record<string, string>) =>
    fetch(`${gateway}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ model: 'gpt-4o', messages: [] }),
    });

  it('takes tailscale serve’s login header from loopback, when enabled', async () => {
    expect((await ask({ 'tailscale-user-login': 'dave@example.com' })).status).toBe(200);
    expect((await lastRecord()).identity.login_name).toBe('dave@example.com');
  });

  it('asks tailscaled who the peer is, over its socket', async () => {
    const text = JSON.stringify({ ...config(), gateway: { tailscale_socket: whoisSocket } });
    expect((await service.updateConfig(text)).ok).toBe(true);
    try {
      expect((await ask({})).status).toBe(200);
      expect((await lastRecord()).identity).toEqual({
        login_name: 'carol@example.com',
        node_id: 'nCAROL1CNTRL',
        tags: [],
      });
      expect(whoisAsked.at(-1)).toMatch(/^127\.0\.0\.1:\d+$/);
    } finally {
      await service.updateConfig(JSON.stringify(config()));
    }
  });

  it('refuses a client nobody vouches for, unless anonymous use is on', async () => {
    const noHeader = await ask({});
    expect(noHeader.status).toBe(401);
    expect((await noHeader.json()).error.message).toMatch(/does not know this client/);
    await service.updateConfig(JSON.stringify({ ...config(), gateway: { allow_anonymous: true } }));
    try {
      expect((await ask({})).status).toBe(200);
      expect((await lastRecord()).identity.login_name).toBe('anonymous');
    } finally {
      await service.updateConfig(JSON.stringify(config()));
    }
  });
});

describe('gateway records, exported', () => {
  it('reach the bucket like any capture', async () => {
    const total = (await store.counts()).records;
    const result = await service.exportNow();
    expect(result.error).toBeUndefined();
    const client = target.client();
    const records: ExportRecord[] = [];
    for await (const object of client.listAllObjects(`${target.prefix}/gateway/`))
      records.push(...(await decodeExportFile(await client.getObject(object.key))));
    expect(records).toHaveLength(total);
    expect(new Set(records.map((record) => record.api_type))).toEqual(
      new Set(['oai_completions', 'oai_responses', 'ant_messages']),
    );
    expect(records.every((record) => record.capture_id && record.session_id)).toBe(true);
  });
});
