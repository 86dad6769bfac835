/**
 * Realistic export records for tests and benchmarks: OpenAI- and Anthropic-style chat bodies
 * of 2-50 KB of varied text, tool calls, and now and then a raw binary body (an image upload).
 * Deterministic for a given seed.
 */
import type { CapturedRecord, JsonValue } from '../record.ts';

/** mulberry32: a small seeded PRNG, so fixtures are the same on every run and runtime. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the a of to and in is that for it with as on be at by this from or an are not have but ' +
  'model request token latency cache export bucket record stream response function tool user ' +
  'system assistant analysis summary contract invoice customer deploy cluster kubernetes node ' +
  'python typescript error retry timeout region billing quarter revenue forecast policy audit ' +
  'compliance gateway proxy header payload schema version migrate database index query plan ' +
  'café naïve 東京 données résumé über 数据 模型 ответ запрос'
).split(' ');

function text(random: () => number, bytes: number): string {
  const parts: string[] = [];
  let length = 0;
  while (length < bytes) {
    const word = WORDS[Math.floor(random() * random() * WORDS.length)]!;
    parts.push(word);
    length += word.length + 1;
    if (random() < 0.08) parts.push(random() < 0.5 ? '.\n' : ',');
  }
  return parts.join(' ');
}

function randomBytes(random: () => number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
  return bytes;
}

const MODELS = [
  ['gpt-5.1', 'oai_completions', '/v1/chat/completions'],
  ['gpt-5.1-mini', 'oai_responses', '/v1/responses'],
  ['claude-sonnet-4.5', 'ant_messages', '/v1/messages'],
  ['claude-haiku-4.5', 'ant_messages', '/v1/messages'],
] as const;

const LOGINS = ['alice@example.com', 'bob@example.com', 'ci-bot@example.com', 'dana@example.org'];

/**
 * One realistic record; `index` makes ids, times and contents differ, `source` (makeRecords'
 * seed) the capture id, so that records made from two seeds are two sets of captures.
 */
export function makeRecord(index: number, random: () => number, source = 0): CapturedRecord {
  const [model, apiType, path] = MODELS[index % MODELS.length]!;
  const bodyBytes = 2_000 + Math.floor(random() * 48_000);
  const promptShare = 0.3 + random() * 0.5;
  const prompt = text(random, Math.floor(bodyBytes * promptShare));
  const answer = text(random, Math.floor(bodyBytes * (1 - promptShare)));
  const inputTokens = Math.ceil(prompt.length / 4);
  const outputTokens = Math.ceil(answer.length / 4);
  const withTool = random() < 0.3;
  const toolInput: JsonValue = { query: text(random, 60), limit: 10, include_archived: false };
  const requestBody: JsonValue = {
    model,
    messages: [
      { role: 'system', content: 'You are a careful assistant. Answer briefly.' },
      { role: 'user', content: prompt },
    ],
    temperature: 0.2,
    max_tokens: 4096,
    stream: false,
  };
  const responseBody: JsonValue = {
    id: `chatcmpl-${index.toString(36)}`,
    object: 'chat.completion',
    created: 1_764_000_000 + index,
    model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: answer },
        finish_reason: withTool ? 'tool_calls' : 'stop',
      },
    ],
    usage: {
      prompt_tokens: inputTokens,
      completion_tokens: outputTokens,
      total_tokens: inputTokens + outputTokens,
    },
  };
  const record: CapturedRecord = {
    id: index + 1,
    ver: 2,
    timestamp: new Date(Date.UTC(2026, 10, 1) + index * 1_337),
    identity: {
      login_name: LOGINS[index % LOGINS.length]!,
      node_id: `n${(index % 7).toString(16).padStart(12, 'a')}CNTRL`,
      tags: index % 3 === 0 ? ['tag:prod', 'tag:llm'] : [],
    },
    model,
    api_type: apiType,
    usage: {
      input_tokens: inputTokens,
      output_tokens: outputTokens,
      cached_tokens: Math.floor(inputTokens * random() * 0.5),
      reasoning_tokens: apiType === 'oai_responses' ? Math.floor(outputTokens * 0.4) : 0,
    },
    duration_ms: 200 + Math.floor(random() * 20_000),
    capture_id: `cap_${source.toString(16)}_${index.toString(16).padStart(12, '0')}`,
    session_id: `sess_${Math.floor(index / 5)
      .toString(16)
      .padStart(12, '0')}`,
    path,
    status_code: random() < 0.97 ? 200 : 429,
    capture: {
      request: {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'openai-python/2.3.0' },
        body: requestBody,
      },
      response: {
        headers: { 'content-type': 'application/json', 'x-request-id': `req_${index}` },
        body: responseBody,
      },
      tool_uses: withTool ? [{ id: `call_${index}`, name: 'search_docs', input: toolInput }] : [],
    },
  };
  if (random() < 0.8) {
    record.estimated_cost = {
      total_usd: (inputTokens * 1.25 + outputTokens * 10) / 1e6,
      input_usd: (inputTokens * 1.25) / 1e6,
      output_usd: (outputTokens * 10) / 1e6,
    };
  }
  if (random() < 0.1) {
    // A multimodal upload: incompressible bytes, as an image would be.
    record.capture.request.raw_body = randomBytes(random, 4_000 + Math.floor(random() * 20_000));
  }
  return record;
}

/** `count` realistic records from one seed. */
export function makeRecords(count: number, seed = 42): CapturedRecord[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, i) => makeRecord(i, random, seed));
}
