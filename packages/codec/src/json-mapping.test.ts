import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { vectorRecords } from '../test/vectors.ts';
import { captureFromJson, recordFromJson, recordToJson } from './json-mapping.ts';
import { MAX_JSON_DEPTH } from './record.ts';
import { exportRecord } from './testing/arbitraries.ts';
import { makeRecords } from './testing/fixtures.ts';

const roundTrip = (value: unknown) => recordFromJson(JSON.parse(JSON.stringify(value)));

describe('JSON mapping', () => {
  it('writes timestamps as RFC 3339 and raw bodies as base64', () => {
    const json = recordToJson(vectorRecords()[1]!);
    expect(json.timestamp).toBe('2026-11-01T12:00:00.123Z');
    const capture = json.capture as {
      request: { raw_body: string };
      response: { raw_body: string };
    };
    expect(capture.request.raw_body).toBe('AAECA/79/A==');
    expect(capture.response.raw_body).toBe('');
  });

  it('round-trips any valid record through JSON text', () => {
    fc.assert(
      fc.property(exportRecord, (record) => {
        expect(roundTrip(recordToJson(record))).toEqual({ ok: true, record });
      }),
      { numRuns: 300 },
    );
  });

  it('accepts epoch milliseconds and any RFC 3339 offset for the timestamp', () => {
    const json = recordToJson(vectorRecords()[0]!);
    for (const timestamp of [1793534400000, '2026-11-01T13:00:00+01:00', '2026-11-01 12:00:00Z']) {
      const parsed = recordFromJson({ ...json, timestamp });
      expect(parsed.ok && parsed.record.timestamp.toISOString()).toBe('2026-11-01T12:00:00.000Z');
    }
  });

  it('lists every bad field by path', () => {
    const json = recordToJson(vectorRecords()[1]!) as Record<string, unknown>;
    const capture = json.capture as Record<string, Record<string, unknown>>;
    const parsed = recordFromJson({
      ...json,
      timestamp: 'yesterday',
      ver: 3,
      usage: { input_tokens: 1.5 },
      capture: { ...capture, request: { ...capture.request, raw_body: 'not base64!' } },
    });
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.issues).toEqual([
      { path: 'timestamp', message: 'must be an RFC 3339 date-time or epoch milliseconds' },
      { path: 'capture.request.raw_body', message: 'must be a base64 string' },
      { path: 'ver', message: 'must be 2, got the integer 3' },
      { path: 'usage.input_tokens', message: 'must be a non-negative integer, got the number 1.5' },
      { path: 'usage.output_tokens', message: 'is required' },
      { path: 'usage.cached_tokens', message: 'is required' },
      { path: 'usage.reasoning_tokens', message: 'is required' },
    ]);
  });

  it('refuses JSON nested deeper than MAX_JSON_DEPTH, naming where, without overflowing the stack', () => {
    const json = recordToJson(makeRecords(1, 3)[0]!);
    const capture = json.capture as Record<string, Record<string, unknown>>;
    const nested = (depth: number) =>
      JSON.parse(`${'['.repeat(depth)}1${']'.repeat(depth)}`) as unknown;
    const withBody = (body: unknown) =>
      recordFromJson({ ...json, capture: { ...capture, request: { ...capture.request, body } } });
    expect(withBody(nested(MAX_JSON_DEPTH)).ok).toBe(true);
    for (const depth of [MAX_JSON_DEPTH + 1, 5_000, 100_000]) {
      const parsed = withBody(nested(depth));
      expect(!parsed.ok && parsed.issues).toEqual([
        {
          path: `capture.request.body${'[0]'.repeat(MAX_JSON_DEPTH)}`,
          message: `must be JSON nested at most ${MAX_JSON_DEPTH} levels deep`,
        },
      ]);
    }
  });

  it('refuses what is not an object', () => {
    expect(recordFromJson([1])).toEqual({
      ok: false,
      issues: [{ path: '', message: 'must be a JSON object' }],
    });
  });

  it('reads a capture to ingest: no id, ver optional', () => {
    const { id: _, ver: __, ...json } = recordToJson(vectorRecords()[1]!);
    const parsed = captureFromJson(json);
    expect(parsed.ok && parsed.capture).toEqual(
      (({ id: _id, ...rest }) => rest)(vectorRecords()[1]!),
    );
    expect(captureFromJson({ ...json, id: 7 })).toEqual({
      ok: false,
      issues: [{ path: 'id', message: 'is assigned by the server: leave it out' }],
    });
    expect(captureFromJson({ ...json, model: 1 })).toMatchObject({
      ok: false,
      issues: [{ path: 'model' }],
    });
  });
});
