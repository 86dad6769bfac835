/** fast-check arbitraries for any valid version-2 export record. */
import fc from 'fast-check';
import type { ExportRecord, JsonValue } from '../record.ts';

const text = fc.string({ unit: 'binary', maxLength: 40 });
const count = fc.oneof(fc.nat(1000), fc.maxSafeNat());
const usd = fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true });

/** JSON values as JSON.parse gives them: no -0 (it reads as 0 either way). */
export const jsonValue: fc.Arbitrary<JsonValue> = fc
  .jsonValue({ maxDepth: 4 })
  .map((value) => JSON.parse(JSON.stringify(value)) as JsonValue);

const headers = fc.dictionary(
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 20 }).map((s) => s.toLowerCase()),
  text,
  { maxKeys: 5 },
);

const bytes = fc.uint8Array({ maxLength: 300 });

export const exportRecord: fc.Arbitrary<ExportRecord> = fc
  .record(
    {
      id: count,
      timestamp: fc.date({
        min: new Date('1970-01-01T00:00:00Z'),
        max: new Date('2200-01-01T00:00:00Z'),
        noInvalidDate: true,
      }),
      identity: fc.record({
        login_name: text,
        node_id: text,
        tags: fc.array(text, { maxLength: 4 }),
      }),
      model: text,
      api_type: fc.constantFrom(
        'oai_completions',
        'oai_responses',
        'ant_messages',
        'gemini_generate_content',
      ),
      usage: fc.record({
        input_tokens: count,
        output_tokens: count,
        cached_tokens: count,
        reasoning_tokens: count,
      }),
      estimated_cost: fc.record(
        { total_usd: usd, input_usd: usd, output_usd: usd, cached_usd: usd },
        { requiredKeys: ['total_usd'] },
      ),
      duration_ms: count,
      capture_id: text,
      session_id: text,
      path: text,
      status_code: fc.integer({ min: 100, max: 599 }),
      capture: fc.record({
        request: fc.record(
          { method: fc.constantFrom('POST', 'GET'), headers, body: jsonValue, raw_body: bytes },
          { requiredKeys: ['method', 'headers', 'body'] },
        ),
        response: fc.record(
          { headers, body: jsonValue, raw_body: bytes },
          { requiredKeys: ['headers', 'body'] },
        ),
        tool_uses: fc.array(fc.record({ id: text, name: text, input: jsonValue }), {
          maxLength: 3,
        }),
      }),
    },
    {
      requiredKeys: [
        'id',
        'timestamp',
        'identity',
        'model',
        'api_type',
        'usage',
        'duration_ms',
        'capture_id',
        'session_id',
        'path',
        'status_code',
      ],
    },
  )
  .map((fields) => ({ ver: 2, ...fields }) as ExportRecord);
