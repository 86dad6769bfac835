/**
 * Anthropic Messages (`POST /v1/messages`). Usage: `input_tokens` counts only the input that
 * was neither written to nor read from the cache; the record's input is the sum of the three
 * (`input_tokens + cache_creation_input_tokens + cache_read_input_tokens`), its cached tokens
 * the reads. Anthropic reports no reasoning count apart from the output.
 *
 * A stream: `message_start` carries the message and the usage so far; content blocks open
 * (`content_block_start`), grow (`content_block_delta`: text, or a tool's input as pieces of
 * JSON, `input_json_delta`) and close; `message_delta` carries the stop reason and the final
 * output count (and, from some versions on, the input counts again).
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

export function messagesUsage(value: unknown): TokenUsage | undefined {
  if (!isObject(value)) return undefined;
  const cacheWrite = count(value.cache_creation_input_tokens);
  const cacheRead = count(value.cache_read_input_tokens);
  return {
    input: count(value.input_tokens) + cacheWrite + cacheRead,
    output: count(value.output_tokens),
    cacheRead,
    cacheWrite,
    reasoning: 0,
  };
}

function errorType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 529) return 'overloaded_error';
  return status >= 500 ? 'api_error' : 'invalid_request_error';
}

function toolUses(content: JsonValue[]): ToolUse[] {
  return content.flatMap((block) => {
    const { type, id, name, input } = object(block);
    return type === 'tool_use' ? [{ id: text(id), name: text(name), input: input ?? null }] : [];
  });
}

function streamReader(): StreamReader {
  let message: JsonObject = {};
  let usage: JsonObject = {};
  /** Content blocks by index; a tool's input gathers as text until the block closes. */
  const blocks = new Map<number, JsonObject>();
  const partialInput = new Map<number, string>();
  return {
    read(event) {
      const payload = parseJson(event.data);
      if (!isObject(payload)) return true;
      const type = event.event ?? text(payload.type);
      if (type === 'message_start') {
        message = object(payload.message);
        usage = { ...object(message.usage) };
      } else if (type === 'content_block_start') {
        blocks.set(count(payload.index), { ...object(payload.content_block) });
      } else if (type === 'content_block_delta') {
        const index = count(payload.index);
        const block = blocks.get(index) ?? {};
        const delta = object(payload.delta);
        if (delta.type === 'text_delta') block.text = text(block.text) + text(delta.text);
        else if (delta.type === 'thinking_delta')
          block.thinking = text(block.thinking) + text(delta.thinking);
        else if (delta.type === 'input_json_delta')
          partialInput.set(index, (partialInput.get(index) ?? '') + text(delta.partial_json));
        blocks.set(index, block);
      } else if (type === 'message_delta') {
        message = { ...message, ...object(payload.delta) };
        // Later counts replace earlier ones: message_delta's are the final ones.
        usage = { ...usage, ...object(payload.usage) };
      }
      return true;
    },
    result(): ApiResult {
      const content = [...blocks.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, block]) => {
          // A tool without input streams no pieces (or empty ones): its input stays {}.
          const input = partialInput.get(index);
          return input ? { ...block, input: toolInput(input) } : block;
        });
      const body: JsonObject = { ...message, content, usage };
      const reported = Object.keys(usage).length > 0;
      return {
        usage: reported ? messagesUsage(usage) : undefined,
        toolUses: toolUses(content),
        body,
      };
    },
  };
}

export const anthropicMessages: Api = {
  type: 'ant_messages',
  compatibility: 'anthropic_messages',
  path: '/v1/messages',
  upstreamPath: '/messages',
  upstream: (body) => ({ body, hideUsage: false }),
  error: (status, message) => ({ type: 'error', error: { type: errorType(status), message } }),
  read(body) {
    const { usage, content } = object(body);
    return { usage: messagesUsage(usage), toolUses: toolUses(array(content)), body };
  },
  stream: streamReader,
};
