/**
 * Estimated cost from @pydantic/genai-prices, a maintained table of model prices (cache reads
 * and writes, tiers, dates). A model the table does not know has no estimate: never a guess.
 */
import type { EstimatedCost } from '@aperture-export/codec';
import { calcPrice, findProvider } from '@pydantic/genai-prices';
import type { TokenUsage } from './apis/types.ts';

/** The table's provider for each base URL, looked up once (a lookup tries every provider's pattern). */
const providers = new Map<string, ReturnType<typeof findProvider>>();

function providerAt(baseUrl: string) {
  if (!providers.has(baseUrl)) providers.set(baseUrl, findProvider({ providerApiUrl: baseUrl }));
  return providers.get(baseUrl);
}

/**
 * The cost of `usage` on `model`, if the table knows it: as the provider at `baseUrl` charges
 * it where the table knows that URL (api.openai.com, api.anthropic.com…), else as the model's
 * own provider does (a proxy or a local endpoint in front of a known model).
 */
export function estimateCost(
  usage: TokenUsage,
  model: string,
  baseUrl: string,
  at: Date,
): EstimatedCost | undefined {
  const tokens = {
    input_tokens: usage.input,
    output_tokens: usage.output,
    cache_read_tokens: usage.cacheRead,
    cache_write_tokens: usage.cacheWrite,
  };
  const provider = providerAt(baseUrl);
  const price =
    (provider && calcPrice(tokens, model, { provider, timestamp: at })) ??
    calcPrice(tokens, model, { timestamp: at });
  if (!price) return undefined;
  return {
    total_usd: price.total_price,
    input_usd: price.input_price,
    output_usd: price.output_price,
  };
}
