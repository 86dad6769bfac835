import { describe, expect, it } from 'vitest';
import {
  bucketUrl,
  createOnlyHeader,
  encodeKey,
  objectUrl,
  validateS3Config,
} from './providers.ts';

describe('addressing', () => {
  it('uses virtual-hosted AWS URLs without an endpoint', () => {
    const config = { bucket: 'exports', region: 'eu-central-1' };
    expect(bucketUrl(config).href).toBe('https://exports.s3.eu-central-1.amazonaws.com/');
    expect(objectUrl(config, 'prod/a.cbor.zstd').href).toBe(
      'https://exports.s3.eu-central-1.amazonaws.com/prod/a.cbor.zstd',
    );
  });

  it('uses path-style AWS URLs for bucket names with dots', () => {
    expect(objectUrl({ bucket: 'exports.example.com', region: 'us-east-1' }, 'k').href).toBe(
      'https://s3.us-east-1.amazonaws.com/exports.example.com/k',
    );
  });

  it('uses path-style URLs under an endpoint, with or without a trailing slash or base path', () => {
    const gcs = { endpoint: 'https://storage.googleapis.com/', bucket: 'b', region: 'auto' };
    expect(objectUrl(gcs, 'x/y').href).toBe('https://storage.googleapis.com/b/x/y');
    const minio = { endpoint: 'http://127.0.0.1:9000/s3', bucket: 'b', region: 'us-east-1' };
    expect(objectUrl(minio, 'x').href).toBe('http://127.0.0.1:9000/s3/b/x');
  });

  it('percent-encodes key segments per RFC 3986, keeping slashes', () => {
    expect(encodeKey("a+b c&d=e/ü/(x)*!'~._-")).toBe(
      'a%2Bb%20c%26d%3De/%C3%BC/%28x%29%2A%21%27~._-',
    );
    expect(
      new URL(objectUrl({ bucket: 'b', region: 'r', endpoint: 'http://h' }, 'a+b c')).pathname,
    ).toBe('/b/a%2Bb%20c');
  });

  it('refuses keys that a URL cannot carry as written', () => {
    expect(() => encodeKey('a/../b')).toThrowError(/must not have "." or ".." segments/);
    expect(() => objectUrl({ bucket: 'b', region: 'r' }, '')).toThrowError(/must not be empty/);
  });

  it('asks GCS for create-only writes in its own header', () => {
    expect(
      createOnlyHeader({ endpoint: 'https://storage.googleapis.com', bucket: 'b', region: 'auto' }),
    ).toEqual({
      'x-goog-if-generation-match': '0',
    });
    expect(createOnlyHeader({ bucket: 'b', region: 'us-east-1' })).toEqual({
      'if-none-match': '*',
    });
  });

  it('names the field of a bad config', () => {
    expect(() => validateS3Config({ bucket: '', region: 'r' })).toThrowError(
      'S3 config: bucket is required',
    );
    expect(() => validateS3Config({ bucket: 'b', region: '' })).toThrowError(/region is required/);
    expect(() =>
      validateS3Config({ bucket: 'b', region: 'r', endpoint: 'minio:9000' }),
    ).toThrowError(/endpoint must use http or https/);
    expect(() =>
      validateS3Config({ bucket: 'b', region: 'r', endpoint: 'not a url' }),
    ).toThrowError(/endpoint must be an absolute http\(s\) URL/);
  });
});
