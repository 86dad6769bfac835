/** Export object keys: `[<prefix>/]ts-aperture-export-<unix-timestamp>.cbor.zstd`. */

export const EXPORT_KEY_STEM = 'ts-aperture-export-';
export const EXPORT_KEY_EXTENSION = '.cbor.zstd';

/** Why a prefix is unusable, or undefined when it is fine. Empty means "no prefix". */
export function prefixProblem(prefix: string): string | undefined {
  if (prefix.endsWith('/')) return 'must not end with "/"';
  // A leading slash makes `<endpoint>/<bucket>//key` URLs that some servers normalize,
  // which breaks the signature.
  if (prefix.startsWith('/')) return 'must not start with "/"';
  return undefined;
}

/** The object key of the export file written at `unixSeconds`. */
export function exportObjectKey(unixSeconds: number, prefix = ''): string {
  if (!Number.isSafeInteger(unixSeconds) || unixSeconds < 0) {
    throw new RangeError(`export timestamp must be whole non-negative seconds, got ${unixSeconds}`);
  }
  const problem = prefixProblem(prefix);
  if (problem) throw new RangeError(`export prefix ${problem}`);
  const name = `${EXPORT_KEY_STEM}${unixSeconds}${EXPORT_KEY_EXTENSION}`;
  return prefix === '' ? name : `${prefix}/${name}`;
}

/** Reads the prefix and timestamp back from an export object key; undefined for other keys. */
export function parseExportObjectKey(
  key: string,
): { prefix: string; unixSeconds: number } | undefined {
  const slash = key.lastIndexOf('/');
  const name = key.slice(slash + 1);
  const match = /^ts-aperture-export-(\d{1,15})\.cbor\.zstd$/.exec(name);
  if (!match) return undefined;
  return { prefix: slash < 0 ? '' : key.slice(0, slash), unixSeconds: Number(match[1]) };
}
