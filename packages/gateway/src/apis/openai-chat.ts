/**
 * OpenAI Chat Completions (`POST /v1/chat/completions`). Usage: `prompt_tokens` counts every
 * input token, `prompt_tokens_details.cached_tokens` those read from the cache;
 * `completion_tokens_details.reasoning_tokens` the reasoning part of `completion_tokens`.
 *
 * A stream reports usage only when asked (`stream_options.include_usage`), in one last chunk
 * with no choices: the gateway asks for it, and keeps that chunk from a client that did not.
 * Tool calls arrive in fragments, by index: the first names the call, the rest add to its
 * arguments.
 */
import type { JsonValue, ToolUse } from '@aperture-export/codec';
import {
  array,
  count,
  isObject,
  type JsonObject,
  object,
  parseJson,
  text,
  toolInput,
} from '../json.ts';
import type { Api, ApiResult, StreamReader, TokenUsage } from './types.ts';

/**
 * Usage as both OpenAI APIs report it, under their own names: Chat Completions counts
 * `prompt_tokens` and `completion_tokens`, Responses `input_tokens` and `output_tokens`; each
 * with `<name>_details` for cached input and reasoning output.
 */
export function openAiUsage(
  value: unknown,
  input: 'prompt' | 'input',
  output: 'completion' | 'output',
): TokenUsage | undefined {
  if (!isObject(value)) return undefined;
  return {
    input: count(value[`${input}_tokens`]),
    output: count(value[`${output}_tokens`]),
    cacheRead: count(object(value[`${input}_tokens_details`]).cached_tokens),
    cacheWrite: 0,
    reasoning: count(object(value[`${output}_tokens_details`]).reasoning_tokens),
  };
}

const chatUsage = (value: unknown) => openAiUsage(value, 'prompt', 'completion');

/** OpenAI's error shape, shared by its two APIs. */
export function openAiError(status: number, message: string): JsonValue {
  const type =
    status === 401
      ? 'authentication_error'
      : status === 404
        ? 'not_found_error'
        : status === 413
          ? 'request_too_large'
          : status >= 500
            ? 'api_error'
            : 'invalid_request_error';
  return { error: { message, type, param: null, code: null } };
}

function toolUses(choices: JsonValue[]): ToolUse[] {
  return choices.flatMap((choice) =>
    array(object(object(choice).message).tool_calls).map((call) => {
      const { id, function: fn } = object(call);
      return {
        id: text(id),
        name: text(object(fn).name),
        input: toolInput(text(object(fn).arguments)),
      };
    }),
  );
}

interface ChoiceSoFar {
  role: string;
  content: string;
  finishReason: JsonValue;
  calls: Map<number, { id: string; name: string; arguments: string }>;
}

function streamReader(hideUsage: boolean): StreamReader {
  let head: JsonObject = {};
  let usage: JsonValue = null;
  const choices = new Map<number, ChoiceSoFar>();
  const choice = (index: number) => {
    let soFar = choices.get(index);
    if (!soFar) {
      soFar = { role: 'assistant', content: '', finishReason: null, calls: new Map() };
      choices.set(index, soFar);
    }
    return soFar;
  };
  return {
    read(event) {
      if (event.data === '' || event.data === '[DONE]') return true;
      const chunk = parseJson(event.data);
      if (!isObject(chunk)) return true;
      if (Object.keys(head).length === 0)
        head = { id: chunk.id ?? null, created: chunk.created ?? null, model: chunk.model ?? null };
      if (isObject(chunk.usage)) usage = chunk.usage;
      const deltas = array(chunk.choices);
      for (const entry of deltas) {
        const { index, delta, finish_reason } = object(entry);
        const soFar = choice(count(index));
        const { role, content, tool_calls } = object(delta);
        if (typeof role === 'string') soFar.role = role;
        soFar.content += text(content);
        if (finish_reason !== undefined && finish_reason !== null)
          soFar.finishReason = finish_reason;
        for (const fragment of array(tool_calls)) {
          const { index: at, id, function: fn } = object(fragment);
          const call = soFar.calls.get(count(at)) ?? { id: '', name: '', arguments: '' };
          call.id ||= text(id);
          call.name ||= text(object(fn).name);
          call.arguments += text(object(fn).arguments);
          soFar.calls.set(count(at), call);
        }
      }
      // The chunk that carries only the usage the gateway asked for.
      return !(hideUsage && deltas.length === 0 && isObject(chunk.usage));
    },
    result(): ApiResult {
      const assembled = [...choices.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, soFar]) => {
          const message: JsonObject = { role: soFar.role, content: soFar.content };
          if (soFar.calls.size > 0)
            message.tool_calls = [...soFar.calls.values()].map((call) => ({
              id: call.id,
              type: 'function',
              function: { name: call.name, arguments: call.arguments },
            }));
          return { index, message, finish_reason: soFar.finishReason };
        });
      const body: JsonObject = { ...head, object: 'chat.completion', choices: assembled, usage };
      return { usage: chatUsage(usage), toolUses: toolUses(assembled), body };
    },
  };
}

export const openAiChat: Api = {
  type: 'oai_completions',
  compatibility: 'openai_chat',
  path: '/v1/chat/completions',
  upstreamPath: '/chat/completions',
  upstream(body) {
    const options = object(body.stream_options);
    if (body.stream !== true || options.include_usage === true) return { body, hideUsage: false };
    return {
      body: { ...body, stream_options: { ...options, include_usage: true } },
      hideUsage: true,
    };
  },
  error: openAiError,
  read(body) {
    const { usage, choices } = object(body);
    return { usage: chatUsage(usage), toolUses: toolUses(array(choices)), body };
  },
  stream: streamReader,
};
