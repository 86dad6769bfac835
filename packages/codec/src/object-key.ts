/** Export object keys: `[<prefix>/]ts-aperture-export-<unix-timestamp>.cbor.zstd`. */

export const EXPORT_KEY_STEM = 'ts-aperture-export-';
export const EXPORT_KEY_EXTENSION = '.cbor.zstd';

/** S3's longest object key, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1024;
/** The longest prefix: room for "/" and a file name with the most digits parse accepts (15). */
export const MAX_PREFIX_BYTES =
  MAX_KEY_BYTES - 1 - EXPORT_KEY_STEM.length - 15 - EXPORT_KEY_EXTENSION.length;

/** Why a prefix is unusable, or undefined when it is fine. Empty means "no prefix". */
export function prefixProblem(prefix: string): string | undefined {
  if (prefix === '') return undefined;
  if (prefix.endsWith('/')) return 'must not end with "/"';
  // A leading slash or an empty segment makes `<bucket>//key` URLs that some servers
  // normalize, which breaks the signature.
  if (prefix.startsWith('/')) return 'must not start with "/"';
  const segments = prefix.split('/');
  if (segments.includes('')) return 'must not have empty segments ("//")';
  if (segments.some((segment) => segment === '.' || segment === '..'))
    return 'must not have "." or ".." segments: URLs resolve them away';
  const bytes = new TextEncoder().encode(prefix).byteLength;
  if (bytes > MAX_PREFIX_BYTES)
    return `is ${bytes} bytes: at most ${MAX_PREFIX_BYTES}, so that keys stay within S3's 1,024 bytes`;
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
