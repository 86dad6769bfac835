/**
 * What the gateway needs to know of one provider API: where it lives, how its errors look, and
 * how a response (whole, or streamed as server-sent events) tells usage and tool uses.
 */
import type { JsonValue, ToolUse } from '@aperture-export/codec';
import type { SseEvent } from '../sse.ts';

/** The export format's api_type. */
export type ApiType = 'oai_completions' | 'oai_responses' | 'ant_messages';

/** A provider's `compatibility` key for an API. */
export type Compatibility = 'openai_chat' | 'openai_responses' | 'anthropic_messages';

/** Tokens as the APIs report them, in one shape: `input` counts every input token, cached or not. */
export interface TokenUsage {
  input: number;
  output: number;
  /** Input tokens read from the provider's cache (part of `input`). */
  cacheRead: number;
  /** Input tokens written to the provider's cache (part of `input`; Anthropic). */
  cacheWrite: number;
  /** Output tokens spent reasoning (part of `output`), where reported. */
  reasoning: number;
}

/** What a response said, once read (or assembled from its stream). */
export interface ApiResult {
  /** Undefined when the response never said (an error, a stream cut short). */
  usage: TokenUsage | undefined;
  toolUses: ToolUse[];
  /** The response body: as received, or the message a stream assembled. */
  body: JsonValue;
}

export interface StreamReader {
  /** Takes the next event; answers whether it goes on to the client. */
  read(event: SseEvent): boolean;
  /** What the events so far say. */
  result(): ApiResult;
}

export interface Api {
  type: ApiType;
  compatibility: Compatibility;
  /** The gateway's route, as clients call it. */
  path: string;
  /** The upstream path, after the provider's base URL (which ends in /v1 or similar). */
  upstreamPath: string;
  /**
   * The body sent upstream: the client's, plus what the record needs (OpenAI chat streams:
   * `stream_options.include_usage`). `hideUsage`: the usage the client did not ask for is kept
   * from it.
   */
  upstream(body: Record<string, unknown>): { body: Record<string, unknown>; hideUsage: boolean };
  /** An error body in the API's own shape. */
  error(status: number, message: string): JsonValue;
  /** Reads a whole (non-streamed) response body. */
  read(body: JsonValue): ApiResult;
  /** Reads a stream, event by event. */
  stream(hideUsage: boolean): StreamReader;
}
