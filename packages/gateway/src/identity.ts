/**
 * Who sent a request: resolvers tried in order, the first answer wins. API tokens mapped to
 * identities in config; the login that `tailscale serve` puts in a header (trusted only from
 * loopback, where `tailscale serve` connects from); tailscaled's own answer for the address the
 * request came from (its LocalAPI `whois`, supplied by the host: it needs a Unix socket).
 */
import type { Identity } from '@aperture-export/codec';
import { array, object, text } from './json.ts';

export interface IdentityRequest {
  headers: Headers;
  /** The peer's address (`100.64.0.7`, `fd7a:115c:a1e0::1`), where the host knows it. */
  remoteAddress?: string;
  remotePort?: number;
}

export type IdentityResolver = (
  request: IdentityRequest,
) => Identity | undefined | Promise<Identity | undefined>;

/** The first identity any resolver gives, or undefined. */
export function firstIdentity(resolvers: readonly IdentityResolver[]): IdentityResolver {
  return async (request) => {
    for (const resolve of resolvers) {
      const identity = await resolve(request);
      if (identity) return identity;
    }
    return undefined;
  };
}

/** The key a client sent: `Authorization: Bearer` (OpenAI's SDK, Anthropic's), or `x-api-key`. */
export function clientToken(headers: Headers): string | undefined {
  const authorization = headers.get('authorization') ?? '';
  const bearer = /^bearer\s+(.+)$/i.exec(authorization)?.[1]?.trim();
  return bearer || headers.get('x-api-key') || headers.get('api-key') || undefined;
}

/** Compares in time that does not depend on where the strings differ (tokens, keys). */
export function sameText(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ b[i]!;
  return difference === 0;
}

export interface TokenIdentity {
  token: string;
  login_name: string;
  node_id: string;
  tags: readonly string[];
}

/** Identities by the API token a client sends (each token compared in constant time). */
export function tokenIdentities(tokens: () => readonly TokenIdentity[]): IdentityResolver {
  return ({ headers }) => {
    const given = clientToken(headers);
    if (!given) return undefined;
    const match = tokens().find((entry) => sameText(given, entry.token));
    return match && { login_name: match.login_name, node_id: match.node_id, tags: [...match.tags] };
  };
}

/** Whether an address is this machine's loopback. */
export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

/**
 * The login `tailscale serve` sends in `Tailscale-User-Login`. Only from loopback: anyone could
 * send the header, but only a local `tailscale serve` connects from there.
 */
export function tailscaleServeIdentity(): IdentityResolver {
  return ({ headers, remoteAddress }) => {
    const login = headers.get('tailscale-user-login');
    if (!login || !isLoopback(remoteAddress)) return undefined;
    return { login_name: login, node_id: '', tags: [] };
  };
}

/** The parts of tailscaled's LocalAPI `whois` answer that make an identity. */
export function identityFromWhois(answer: unknown): Identity | undefined {
  const { Node, UserProfile } = object(answer);
  const node = object(Node);
  const login = text(object(UserProfile).LoginName);
  const tags = array(node.Tags).filter((tag): tag is string => typeof tag === 'string');
  if (!login && tags.length === 0) return undefined;
  return {
    // A tagged node has no user; its tags say what it is.
    login_name: login && login !== 'tagged-devices' ? login : tags.join(','),
    node_id: text(node.StableID),
    tags,
  };
}

/**
 * Identities from tailscaled: `whois(addr)` answers its LocalAPI's JSON for `addr`
 * (`ip:port`, `[ipv6]:port`), or undefined when tailscaled does not know the peer.
 */
export function tailscaleWhoisIdentity(
  whois: (addr: string) => Promise<unknown>,
): IdentityResolver {
  return async ({ remoteAddress, remotePort }) => {
    if (!remoteAddress || remotePort === undefined) return undefined;
    const host = remoteAddress.includes(':') ? `[${remoteAddress}]` : remoteAddress;
    return identityFromWhois(await whois(`${host}:${remotePort}`));
  };
}
