import { describe, expect, it } from 'vitest';
import {
  exportObjectKey,
  MAX_PREFIX_BYTES,
  parseExportObjectKey,
  prefixProblem,
} from './object-key.ts';

describe('export object keys', () => {
  it('have no leading slash without a prefix', () => {
    expect(exportObjectKey(1764288000)).toBe('ts-aperture-export-1764288000.cbor.zstd');
  });

  it('sit under the prefix', () => {
    expect(exportObjectKey(1764288000, 'prod/eu')).toBe(
      'prod/eu/ts-aperture-export-1764288000.cbor.zstd',
    );
  });

  it('refuse a prefix ending or starting with a slash, and a bad timestamp', () => {
    expect(prefixProblem('prod/')).toBe('must not end with "/"');
    expect(prefixProblem('/prod')).toBe('must not start with "/"');
    expect(prefixProblem('')).toBeUndefined();
    expect(() => exportObjectKey(1, 'prod/')).toThrowError('export prefix must not end with "/"');
    expect(() => exportObjectKey(1.5)).toThrowError(/whole non-negative seconds/);
    expect(() => exportObjectKey(1, 'a//b')).toThrowError('export prefix must not have empty');
    expect(prefixProblem('a/../b')).toMatch(/"\." or "\.\." segments/);
    // The longest prefix and the longest name parse accepts make a key of S3's 1,024 bytes.
    const longest = `${'p'.repeat(MAX_PREFIX_BYTES)}/ts-aperture-export-${'9'.repeat(15)}.cbor.zstd`;
    expect(new TextEncoder().encode(longest).byteLength).toBe(1024);
    expect(parseExportObjectKey(longest)).toBeDefined();
  });

  it('parse back into prefix and timestamp', () => {
    expect(parseExportObjectKey('prod/eu/ts-aperture-export-1764288000.cbor.zstd')).toEqual({
      prefix: 'prod/eu',
      unixSeconds: 1764288000,
    });
    expect(parseExportObjectKey('ts-aperture-export-7.cbor.zstd')).toEqual({
      prefix: '',
      unixSeconds: 7,
    });
    expect(parseExportObjectKey('prod/other.json')).toBeUndefined();
    expect(parseExportObjectKey('ts-aperture-export-.cbor.zstd')).toBeUndefined();
  });
});
