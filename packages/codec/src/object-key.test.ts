import { describe, expect, it } from 'vitest';
import { exportObjectKey, parseExportObjectKey, prefixProblem } from './object-key.ts';

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
