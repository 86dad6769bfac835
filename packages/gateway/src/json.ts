/** Reading untrusted JSON without trusting its shape. */
import type { JsonValue } from '@aperture-export/codec';

export type JsonObject = { [key: string]: JsonValue };

export const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `value` if it is an object, else an empty one. */
export const object = (value: unknown): JsonObject => (isObject(value) ? value : {});

/** `value` if it is an array, else an empty one. */
export const array = (value: unknown): JsonValue[] => (Array.isArray(value) ? value : []);

/** A whole, non-negative count; 0 for anything else. */
export const count = (value: unknown): number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;

export const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** JSON text parsed, or undefined if it is not JSON. */
export function parseJson(source: string): JsonValue | undefined {
  try {
    return JSON.parse(source) as JsonValue;
  } catch {
    return undefined;
  }
}

/** A tool's arguments: the JSON they hold, or the text as it is when it is not JSON. */
export const toolInput = (source: string): JsonValue => parseJson(source) ?? source;
