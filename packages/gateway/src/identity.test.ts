import { describe, expect, it } from 'vitest';
import {
  clientToken,
  firstIdentity,
  identityFromWhois,
  isLoopback,
  tailscaleServeIdentity,
  tailscaleWhoisIdentity,
  tokenIdentities,
} from './identity.ts';

const headers = (init: Record<string, string>) => new Headers(init);

describe('identity', () => {
  it('finds the client’s key in Authorization: Bearer or x-api-key', () => {
    expect(clientToken(headers({ authorization: 'Bearer abc' }))).toBe('abc');
    expect(clientToken(headers({ 'x-api-key': 'def' }))).toBe('def');
    expect(clientToken(headers({ authorization: 'Basic xyz' }))).toBeUndefined();
  });

  it('maps API tokens to identities', async () => {
    const resolve = tokenIdentities(() => [
      { token: 'team-a', login_name: 'alice@example.com', node_id: '', tags: ['tag:a'] },
    ]);
    expect(await resolve({ headers: headers({ authorization: 'Bearer team-a' }) })).toEqual({
      login_name: 'alice@example.com',
      node_id: '',
      tags: ['tag:a'],
    });
    expect(await resolve({ headers: headers({ authorization: 'Bearer team-b' }) })).toBeUndefined();
  });

  it('trusts tailscale serve’s login header only from loopback', async () => {
    const resolve = tailscaleServeIdentity();
    const login = headers({ 'tailscale-user-login': 'bob@example.com' });
    expect(await resolve({ headers: login, remoteAddress: '127.0.0.1' })).toMatchObject({
      login_name: 'bob@example.com',
    });
    expect(await resolve({ headers: login, remoteAddress: '::1' })).toBeDefined();
    expect(await resolve({ headers: login, remoteAddress: '100.64.0.9' })).toBeUndefined();
    expect(await resolve({ headers: login })).toBeUndefined();
    expect(isLoopback('::ffff:127.0.0.1')).toBe(true);
  });

  it('asks tailscaled who a peer is: login, stable node id and tags', async () => {
    const asked: string[] = [];
    const resolve = tailscaleWhoisIdentity(async (addr) => {
      asked.push(addr);
      return {
        Node: { StableID: 'nX7Y8Z9CNTRL', Tags: [] },
        UserProfile: { LoginName: 'carol@example.com' },
      };
    });
    expect(
      await resolve({ headers: headers({}), remoteAddress: '100.64.0.7', remotePort: 5123 }),
    ).toEqual({
      login_name: 'carol@example.com',
      node_id: 'nX7Y8Z9CNTRL',
      tags: [],
    });
    await resolve({ headers: headers({}), remoteAddress: 'fd7a:115c:a1e0::7', remotePort: 80 });
    expect(asked).toEqual(['100.64.0.7:5123', '[fd7a:115c:a1e0::7]:80']);
    // A tagged node has no user: its tags name it.
    expect(
      identityFromWhois({
        Node: { StableID: 'nTAG', Tags: ['tag:ci'] },
        UserProfile: { LoginName: 'tagged-devices' },
      }),
    ).toEqual({ login_name: 'tag:ci', node_id: 'nTAG', tags: ['tag:ci'] });
    expect(identityFromWhois({})).toBeUndefined();
  });

  it('takes the first resolver that knows the request', async () => {
    const resolve = firstIdentity([
      () => undefined,
      () => ({ login_name: 'second', node_id: '', tags: [] }),
      () => ({ login_name: 'third', node_id: '', tags: [] }),
    ]);
    expect((await resolve({ headers: headers({}) }))?.login_name).toBe('second');
  });
});
