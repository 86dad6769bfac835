/**
 * Which headers go where. The client's credentials identify it to the gateway and go no
 * further; the provider's key is added upstream; neither is ever captured.
 */
import type { HeaderMap } from '@aperture-export/codec';

/** Never captured, in either direction. */
const CREDENTIALS = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'cookie',
  'set-cookie',
]);

/** Of one connection, not of the request (RFC 9110 §7.6.1), and what fetch sets itself. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
  'content-length',
]);

/** Headers as the record keeps them: lower-case names, credentials left out. */
export function capturedHeaders(headers: Headers): HeaderMap {
  const map: HeaderMap = {};
  headers.forEach((value, name) => {
    if (!CREDENTIALS.has(name)) map[name] = value;
  });
  return map;
}

/**
 * The client's headers as sent upstream: without its credentials, the connection's own
 * headers and the gateway's own `x-aperture-*`; with the provider's key.
 */
export function upstreamHeaders(
  client: Headers,
  authorization: 'bearer' | 'x-api-key',
  apiKey: string,
): Headers {
  const headers = new Headers();
  client.forEach((value, name) => {
    if (CREDENTIALS.has(name) || HOP_BY_HOP.has(name)) return;
    if (name === 'accept-encoding' || name.startsWith('x-aperture-')) return;
    headers.set(name, value);
  });
  if (authorization === 'bearer') headers.set('authorization', `Bearer ${apiKey}`);
  else headers.set('x-api-key', apiKey);
  // Uncompressed, please: LLM answers are small or streamed, and decoding a compressed one
  // cost more CPU than any other part of passing it on. A provider that compresses anyway is
  // decoded by fetch.
  headers.set('accept-encoding', 'identity');
  return headers;
}

/**
 * The provider's headers as sent to the client: fetch has decoded the body already, so its
 * encoding and length no longer describe it; the connection's headers are the server's own.
 */
export function clientHeaders(upstream: Headers): Headers {
  const headers = new Headers();
  upstream.forEach((value, name) => {
    if (HOP_BY_HOP.has(name) || name === 'content-encoding' || name === 'set-cookie') return;
    headers.set(name, value);
  });
  return headers;
}
