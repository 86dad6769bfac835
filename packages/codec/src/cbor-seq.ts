/**
 * Export records as a CBOR sequence (RFC 8742): records written back to back, no framing.
 *
 * cbor-x is set up for plain, interoperable CBOR (RFC 8949): no cbor-x "records" (tag 57343),
 * no tag 64 on byte strings, no `undefined`; dates as tag 1 epoch seconds. Integers outside
 * 32 bits are passed to cbor-x as BigInt so they stay CBOR integers instead of float64.
 */
import { Decoder, Encoder } from 'cbor-x';
import {
  type Capture,
  type ExportRecord,
  ExportRecordError,
  kind,
  validateExportRecord,
  validateRecordFields,
} from './record.ts';

declare global {
  // ES2024 string methods, on every runtime we support (Node 20, Bun, Deno, workerd). Declared
  // alone rather than taking lib ES2024, whose other additions Node 20 lacks.
  interface String {
    isWellFormed(): boolean;
    toWellFormed(): string;
  }
}

const encoder = new Encoder({
  useRecords: false,
  tagUint8Array: false,
  structuredClone: false,
  pack: false,
  bundleStrings: false,
  useFloat32: 0,
  // Preferred serialization (RFC 8949 §4.1): map headers as short as their size allows.
  variableMapSize: true,
});

const decoder = new Decoder({
  useRecords: false,
  // Maps, turned into objects by objectsFromMaps: cbor-x's own objects rename "__proto__".
  mapsAsObjects: false,
  // Byte strings are copied out, so a kept raw body does not pin the whole decoded file.
  copyBuffers: true,
});

const UINT32_LIMIT = 2 ** 32;
const UINT64_LIMIT = 2 ** 64;

/** Numbers that cbor-x would write as float64 although they are whole: pass them as BigInt. */
function integer(value: number): number | bigint {
  return value >= UINT32_LIMIT || value < -UINT32_LIMIT ? BigInt(value) : value;
}

/**
 * CBOR text is UTF-8 (RFC 8949 §3.1); a JS string with a lone surrogate has none. cbor-x
 * writes strings of 64 code units or more with the runtime's UTF-8 encoder, which puts U+FFFD
 * in their place, but shorter ones with its own loop, which writes invalid bytes that make
 * strict readers (Python cbor2) reject the whole file. Short strings are fixed here; long ones
 * are left to the encoder, which saves a second pass over every body.
 */
const CBOR_X_NATIVE_UTF8_FROM = 64;
const text = (value: string): string =>
  value.length >= CBOR_X_NATIVE_UTF8_FROM || value.isWellFormed() ? value : value.toWellFormed();

function headersForCbor(headers: Record<string, string>): Record<string, string> {
  for (const name in headers) {
    if (text(name) !== name || text(headers[name]!) !== headers[name]) {
      return Object.fromEntries(Object.entries(headers).map(([k, v]) => [text(k), text(v)]));
    }
  }
  return headers;
}

/** Sets a key as the object's own: a "__proto__" key from JSON is data, not the prototype. */
function own(object: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(object, key, {
    value,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

/**
 * Prepares a JSON value for cbor-x: big whole numbers become BigInt, `undefined` members are
 * dropped (and become null in arrays, as in JSON.stringify), strings are made well-formed.
 * Copies only what changes.
 */
function jsonForCbor(value: unknown, path: string): unknown {
  switch (typeof value) {
    case 'string':
      return text(value);
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) {
        throw new ExportRecordError('cannot encode record', [
          { path, message: `must be JSON: ${value} is not a JSON number` },
        ]);
      }
      return Number.isInteger(value) && Math.abs(value) < UINT64_LIMIT ? integer(value) : value;
    case 'bigint':
      if (value >= UINT64_LIMIT || value <= -UINT64_LIMIT) {
        throw new ExportRecordError('cannot encode record', [
          { path, message: 'must be JSON: integer outside the 64-bit range' },
        ]);
      }
      return value;
    case 'object': {
      if (value === null) return null;
      if (Array.isArray(value)) {
        let copy: unknown[] | undefined;
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          const prepared = item === undefined ? null : jsonForCbor(item, `${path}[${i}]`);
          if (prepared !== item && copy === undefined) copy = value.slice(0, i);
          copy?.push(prepared);
        }
        return copy ?? value;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new ExportRecordError('cannot encode record', [
          { path, message: `must be JSON: got ${kind(value)}` },
        ]);
      }
      const source = value as Record<string, unknown>;
      let copy: Record<string, unknown> | undefined;
      for (const key in source) {
        const item = source[key];
        const prepared = item === undefined ? undefined : jsonForCbor(item, `${path}.${key}`);
        const preparedKey = text(key);
        if ((prepared !== item || preparedKey !== key) && copy === undefined) {
          copy = {};
          for (const earlier in source) {
            if (earlier === key) break;
            if (source[earlier] !== undefined) own(copy, earlier, source[earlier]);
          }
        }
        if (copy !== undefined && prepared !== undefined) own(copy, preparedKey, prepared);
      }
      return copy ?? value;
    }
    default:
      throw new ExportRecordError('cannot encode record', [
        { path, message: `must be JSON: got ${kind(value)}` },
      ]);
  }
}

function captureForCbor(capture: Capture): Record<string, unknown> {
  const { request, response } = capture;
  const cborRequest: Record<string, unknown> = {
    method: text(request.method),
    headers: headersForCbor(request.headers),
    body: jsonForCbor(request.body, 'capture.request.body'),
  };
  if (request.raw_body !== undefined) cborRequest.raw_body = request.raw_body;
  const cborResponse: Record<string, unknown> = {
    headers: headersForCbor(response.headers),
    body: jsonForCbor(response.body, 'capture.response.body'),
  };
  if (response.raw_body !== undefined) cborResponse.raw_body = response.raw_body;
  return {
    request: cborRequest,
    response: cborResponse,
    tool_uses: capture.tool_uses.map((use, i) => ({
      id: text(use.id),
      name: text(use.name),
      input: jsonForCbor(use.input, `capture.tool_uses[${i}].input`),
    })),
  };
}

/** The record as cbor-x should see it: fields in the documented order, absent ones dropped. */
function recordForCbor(record: ExportRecord): Record<string, unknown> {
  const issues = validateRecordFields(record);
  if (issues.length > 0) throw new ExportRecordError('cannot encode record', issues);
  const { usage, identity, estimated_cost: cost } = record;
  const out: Record<string, unknown> = {
    id: integer(record.id),
    ver: record.ver,
    timestamp: record.timestamp,
    identity: {
      login_name: text(identity.login_name),
      node_id: text(identity.node_id),
      tags: identity.tags.map(text),
    },
    model: text(record.model),
    api_type: text(record.api_type),
    usage: {
      input_tokens: integer(usage.input_tokens),
      output_tokens: integer(usage.output_tokens),
      cached_tokens: integer(usage.cached_tokens),
      reasoning_tokens: integer(usage.reasoning_tokens),
    },
  };
  if (cost !== undefined) {
    const cborCost: Record<string, number> = { total_usd: cost.total_usd };
    if (cost.input_usd !== undefined) cborCost.input_usd = cost.input_usd;
    if (cost.output_usd !== undefined) cborCost.output_usd = cost.output_usd;
    if (cost.cached_usd !== undefined) cborCost.cached_usd = cost.cached_usd;
    out.estimated_cost = cborCost;
  }
  out.duration_ms = integer(record.duration_ms);
  out.capture_id = text(record.capture_id);
  out.session_id = text(record.session_id);
  out.path = text(record.path);
  out.status_code = record.status_code;
  if (record.capture !== undefined) out.capture = captureForCbor(record.capture);
  return out;
}

/**
 * Builds a CBOR sequence one record at a time, so a caller can stop at a byte budget.
 * Holds one growing buffer. `reset()` keeps it for the next sequence: fresh memory costs page
 * faults that, on the machines measured, halve the encoding speed (BENCHMARKS.md).
 */
export class CborSequenceWriter {
  #buffer: Uint8Array;
  #length = 0;
  #count = 0;

  constructor(initialCapacity = 64 * 1024) {
    this.#buffer = new Uint8Array(initialCapacity);
  }

  /** Starts a new sequence in the same buffer. Views returned by `finish()` become invalid. */
  reset(): void {
    this.#length = 0;
    this.#count = 0;
  }

  /** Encoded bytes so far. */
  get byteLength(): number {
    return this.#length;
  }

  /** Records added so far. */
  get count(): number {
    return this.#count;
  }

  /** Appends one record; returns its encoded size. Throws ExportRecordError for invalid records. */
  add(record: ExportRecord): number {
    // A view of cbor-x's shared buffer: copied below before the next encode.
    const encoded = encodeShared(record);
    const needed = this.#length + encoded.byteLength;
    if (needed > this.#buffer.byteLength) {
      const grown = new Uint8Array(Math.max(needed, this.#buffer.byteLength * 2));
      grown.set(this.#buffer.subarray(0, this.#length));
      this.#buffer = grown;
    }
    this.#buffer.set(encoded, this.#length);
    this.#length = needed;
    this.#count++;
    return encoded.byteLength;
  }

  /** The sequence written so far: a view of the writer's buffer, valid until `reset()`. */
  finish(): Uint8Array {
    return this.#buffer.subarray(0, this.#length);
  }
}

function describe(record: unknown): string {
  const id = (record as { id?: unknown } | null)?.id;
  return typeof id === 'number' ? `id ${id}` : '(without a valid id)';
}

/**
 * One record as one CBOR data item, in a view of cbor-x's shared buffer that the next encode
 * overwrites. Throws ExportRecordError, naming the record, for an invalid one.
 */
function encodeShared(record: ExportRecord): Uint8Array {
  try {
    return encoder.encode(recordForCbor(record));
  } catch (error) {
    if (error instanceof ExportRecordError) {
      throw new ExportRecordError(`record ${describe(record)}`, error.issues);
    }
    throw error;
  }
}

/** Encodes one record as one CBOR data item, in bytes of its own. */
export function encodeRecord(record: ExportRecord): Uint8Array {
  // Copied into a plain Uint8Array of its own size: on Node the view is a Buffer, whose slice()
  // is another view, and it would keep cbor-x's whole 8 KiB block alive with it.
  return new Uint8Array(encodeShared(record));
}

/** Encodes records as a CBOR sequence. */
export function encodeRecords(records: Iterable<ExportRecord>): Uint8Array {
  const writer = new CborSequenceWriter();
  for (const record of records) writer.add(record);
  return writer.finish();
}

/**
 * Turns decoded Maps into plain objects (a "__proto__" key stays an own data property) and
 * 64-bit integers, which cbor-x gives as BigInt, into numbers as JSON.parse would: one rounding.
 */
function objectsFromMaps(value: unknown): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (value instanceof Map) {
    const object: Record<string, unknown> = {};
    for (const [key, item] of value) {
      const name = String(key);
      const converted = objectsFromMaps(item);
      if (name === '__proto__') {
        Object.defineProperty(object, name, {
          value: converted,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else {
        object[name] = converted;
      }
    }
    return object;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = objectsFromMaps(value[i]);
  }
  return value;
}

/**
 * Decodes a CBOR sequence of export records and checks each one.
 * Fields this version does not know are kept as they are.
 */
export function decodeRecords(cbor: Uint8Array): ExportRecord[] {
  if (cbor.byteLength === 0) return [];
  // A plain Uint8Array view: on Node a Buffer input would make byte strings come back as Buffers.
  const view = new Uint8Array(cbor.buffer, cbor.byteOffset, cbor.byteLength);
  let items: unknown[];
  try {
    items = (decoder.decodeMultiple(view) as unknown[]).map(objectsFromMaps);
  } catch (error) {
    throw new Error(`not a valid CBOR sequence: ${(error as Error).message}`, { cause: error });
  }
  items.forEach((item, index) => {
    const issues = validateExportRecord(item);
    if (issues.length > 0)
      throw new ExportRecordError(`record #${index} is not a valid version-2 record`, issues);
  });
  return items as ExportRecord[];
}
