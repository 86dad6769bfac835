import { calcPrice, findProvider } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { estimateCost } from './pricing.ts';

/** The table's own answer, searched afresh for each request: what the estimate must equal. */
function tableCost(
  usage: { input: number; output: number; cacheRead: number; cacheWrite: number },
  model: string,
  baseUrl: string,
  at: Date,
) {
  const tokens = {
    input_tokens: usage.input,
    output_tokens: usage.output,
    cache_read_tokens: usage.cacheRead,
    cache_write_tokens: usage.cacheWrite,
  };
  const provider = findProvider({ providerApiUrl: baseUrl });
  const price =
    (provider && calcPrice(tokens, model, { provider, timestamp: at })) ??
    calcPrice(tokens, model, { timestamp: at });
  return (
    price && {
      total_usd: price.total_price,
      input_usd: price.input_price,
      output_usd: price.output_price,
    }
  );
}

describe('estimateCost', () => {
  const models = [
    'gpt-4o',
    'gpt-4o-mini',
    'o3',
    'claude-sonnet-4-5',
    'claude-3-5-haiku-20241022',
    'claude-opus-4-6',
    'gemini-2.5-pro',
    'my-local-model',
  ];
  const baseUrls = [
    'https://api.openai.com/v1',
    'https://api.anthropic.com',
    'https://openrouter.ai/api/v1',
    'http://127.0.0.1:8080/v1',
  ];
  const times = [new Date('2025-06-01T00:00:00Z'), new Date('2026-06-01T00:00:00Z')];
  const usages = [
    { input: 1200, output: 300, cacheRead: 1000, cacheWrite: 0, reasoning: 0 },
    { input: 300_000, output: 5000, cacheRead: 0, cacheWrite: 20_000, reasoning: 100 },
  ];

  it('is the price table’s own answer for every model, provider, time and usage, asked twice', () => {
    let priced = 0;
    for (let round = 0; round < 2; round++) {
      for (const model of models)
        for (const baseUrl of baseUrls)
          for (const at of times)
            for (const usage of usages) {
              const expected = tableCost(usage, model, baseUrl, at) ?? undefined;
              expect(estimateCost(usage, model, baseUrl, at), `${model} at ${baseUrl}`).toEqual(
                expected,
              );
              if (expected) priced++;
            }
    }
    // Most of the grid is priced; the local model never is.
    expect(priced).toBeGreaterThan(100);
    expect(estimateCost(usages[0]!, 'my-local-model', baseUrls[0]!, times[0]!)).toBeUndefined();
  });

  it('prices by the request’s date: the same model before and after a price change', () => {
    const usage = usages[1]!;
    const before = estimateCost(usage, 'claude-opus-4-6', 'https://api.anthropic.com', times[0]!);
    const after = estimateCost(usage, 'claude-opus-4-6', 'https://api.anthropic.com', times[1]!);
    expect(before?.total_usd).toBeGreaterThan(0);
    expect(after?.total_usd).toBeGreaterThan(0);
    expect(after?.total_usd).not.toBe(before?.total_usd);
  });
});
