/**
 * OpenAI Responses (`POST /v1/responses`). Usage: `input_tokens` counts every input token,
 * `input_tokens_details.cached_tokens` those read from the cache,
 * `output_tokens_details.reasoning_tokens` the reasoning part of `output_tokens`.
 *
 * A stream is typed events; `response.completed` (or `.incomplete`, `.failed`) carries the
 * whole response with its usage. Function calls are output items: `response.output_item.added`
 * names one (its `call_id` and name), `response.function_call_arguments.delta` adds to its
 * arguments by item id; a stream cut short still gives the calls seen so far.
 */
import type { JsonValue, ToolUse } from '@aperture-export/codec';
import { array, isObject, type JsonObject, object, parseJson, text, toolInput } from '../json.ts';
import { openAiError, openAiUsage } from './openai-chat.ts';
import type { Api, ApiResult, StreamReader } from './types.ts';

const responsesUsage = (value: unknown) => openAiUsage(value, 'input', 'output');

/** Function calls among output items, by their call_id. */
function toolUses(output: JsonValue[]): ToolUse[] {
  return output.flatMap((item) => {
    const { type, call_id, id, name, arguments: args } = object(item);
    if (type !== 'function_call') return [];
    return [{ id: text(call_id) || text(id), name: text(name), input: toolInput(text(args)) }];
  });
}

const FINAL_EVENTS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

function streamReader(): StreamReader {
  let response: JsonObject | undefined;
  /** Output items by item id, as the events built them. */
  const items = new Map<string, JsonObject>();
  return {
    read(event) {
      const payload = parseJson(event.data);
      if (!isObject(payload)) return true;
      const type = event.event ?? text(payload.type);
      if (type === 'response.created' || FINAL_EVENTS.has(type)) {
        if (isObject(payload.response)) response = payload.response;
      } else if (type === 'response.output_item.added' || type === 'response.output_item.done') {
        const item = object(payload.item);
        const id = text(item.id);
        if (id) items.set(id, { ...item, arguments: text(item.arguments) });
      } else if (type === 'response.function_call_arguments.delta') {
        const item = items.get(text(payload.item_id));
        if (item) item.arguments = text(item.arguments) + text(payload.delta);
      } else if (type === 'response.function_call_arguments.done') {
        const item = items.get(text(payload.item_id));
        if (item && typeof payload.arguments === 'string') item.arguments = payload.arguments;
      }
      return true;
    },
    result(): ApiResult {
      const final = response ?? {};
      const output = array(final.output);
      const seen = output.length > 0 ? output : [...items.values()];
      const body: JsonObject = output.length > 0 ? final : { ...final, output: seen };
      return { usage: responsesUsage(final.usage), toolUses: toolUses(seen), body };
    },
  };
}

export const openAiResponses: Api = {
  type: 'oai_responses',
  compatibility: 'openai_responses',
  path: '/v1/responses',
  upstreamPath: '/responses',
  upstream: (body) => ({ body, hideUsage: false }),
  error: openAiError,
  read(body) {
    const { usage, output } = object(body);
    return { usage: responsesUsage(usage), toolUses: toolUses(array(output)), body };
  },
  stream: streamReader,
};
