/**
 * Where requests go, per provider. Without an endpoint: AWS, virtual-hosted
 * (`https://<bucket>.s3.<region>.amazonaws.com/<key>`), or path-style when the bucket name has
 * dots (a virtual host with dots fails TLS name checks). With an endpoint (GCS, R2, B2, MinIO):
 * path-style `<endpoint>/<bucket>/<key>`, which every one of them accepts.
 */

export interface AddressedS3Config {
  /** An S3-compatible API's base URL; unset for AWS. */
  endpoint?: string | undefined;
  bucket: string;
  region: string;
}

export function validateS3Config(config: AddressedS3Config): void {
  if (!config.bucket) throw new TypeError('S3 config: bucket is required');
  if (!config.region) throw new TypeError('S3 config: region is required (use "auto" for R2)');
  if (config.endpoint !== undefined && config.endpoint !== '') {
    let url: URL;
    try {
      url = new URL(config.endpoint);
    } catch {
      throw new TypeError('S3 config: endpoint must be an absolute http(s) URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`S3 config: endpoint must use http or https, not ${url.protocol}`);
    }
    if (url.search || url.hash)
      throw new TypeError('S3 config: endpoint must not have a query or fragment');
  }
}

/**
 * A key as URL path segments: each segment percent-encoded per RFC 3986, so that `+`, spaces,
 * `&` and non-ASCII characters reach the server, and the signature, unchanged.
 */
export function encodeKey(key: string): string {
  const segments = key.split('/');
  if (segments.some((segment) => segment === '.' || segment === '..')) {
    // URLs resolve these segments away, so such a key cannot be addressed as written.
    throw new TypeError(`S3 object key must not have "." or ".." segments: ${JSON.stringify(key)}`);
  }
  return segments.map(encodeRfc3986).join('/');
}

/** Percent-encodes everything but RFC 3986's unreserved characters (A-Z a-z 0-9 - . _ ~). */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The bucket's URL, ending in `/`. */
export function bucketUrl(config: AddressedS3Config): URL {
  if (config.endpoint) {
    const base = config.endpoint.replace(/\/+$/, '');
    return new URL(`${base}/${encodeURIComponent(config.bucket)}/`);
  }
  if (config.bucket.includes('.')) {
    return new URL(`https://s3.${config.region}.amazonaws.com/${config.bucket}/`);
  }
  return new URL(`https://${config.bucket}.s3.${config.region}.amazonaws.com/`);
}

export function objectUrl(config: AddressedS3Config, key: string): URL {
  if (!key) throw new TypeError('S3 object key must not be empty');
  const bucket = bucketUrl(config);
  return new URL(`${bucket.origin}${bucket.pathname}${encodeKey(key)}`);
}

/** Google Cloud Storage's XML API takes its own precondition header for create-only writes. */
export function isGoogleCloudStorage(config: AddressedS3Config): boolean {
  if (!config.endpoint) return false;
  const host = new URL(config.endpoint).hostname;
  return host === 'storage.googleapis.com' || host.endsWith('.storage.googleapis.com');
}

export function createOnlyHeader(config: AddressedS3Config): Record<string, string> {
  return isGoogleCloudStorage(config)
    ? { 'x-goog-if-generation-match': '0' }
    : { 'if-none-match': '*' };
}
