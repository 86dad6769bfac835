/**
 * Estimated cost from @pydantic/genai-prices, a maintained table of model prices (cache reads
 * and writes, tiers, dates). A model the table does not know has no estimate: never a guess.
 */
import type { EstimatedCost } from '@aperture-export/codec';
import { calcPrice, findProvider, type Provider } from '@pydantic/genai-prices';
import type { TokenUsage } from './apis/types.ts';

/**
 * The table's entry for each base URL and model, found once: the table's provider reduced to
 * the one model that matched, or null when the table does not know the model. Finding it tries
 * every provider's and model's patterns, which took most of a request's pricing time; the
 * price itself still depends on the request's time (prices carry dates). Only configured
 * models are priced, so the map stays as small as the config.
 */
const entries = new Map<string, Provider | null>();

function entryFor(model: string, baseUrl: string): Provider | null {
  const key = `${baseUrl}\n${model}`;
  let entry = entries.get(key);
  if (entry === undefined) {
    const none = { input_tokens: 0, output_tokens: 0 };
    const provider = findProvider({ providerApiUrl: baseUrl });
    const found = (provider && calcPrice(none, model, { provider })) ?? calcPrice(none, model);
    // The model may come from one of the provider's fallbacks: keep it, and nothing else.
    entry = found
      ? { ...found.provider, models: [found.model], fallback_model_providers: undefined }
      : null;
    entries.set(key, entry);
  }
  return entry;
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
  const provider = entryFor(model, baseUrl);
  if (!provider) return undefined;
  const tokens = {
    input_tokens: usage.input,
    output_tokens: usage.output,
    cache_read_tokens: usage.cacheRead,
    cache_write_tokens: usage.cacheWrite,
  };
  const price = calcPrice(tokens, model, { provider, timestamp: at });
  if (!price) return undefined;
  return {
    total_usd: price.total_price,
    input_usd: price.input_price,
    output_usd: price.output_price,
  };
}
