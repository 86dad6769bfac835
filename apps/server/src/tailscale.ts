/**
 * tailscaled's LocalAPI `whois`, over its Unix socket: who the peer at an address is (its
 * login, stable node id and tags). node:http speaks to a socket on Node, Bun and Deno alike.
 */
import { request } from 'node:http';

/** Default socket path on Linux. */
export const TAILSCALE_SOCKET = '/var/run/tailscale/tailscaled.sock';

/**
 * A whois for `socketPath`: the LocalAPI's JSON for `addr` (`ip:port`), or undefined when
 * tailscaled does not know the peer. Fails (rejects) when tailscaled does not answer in time.
 */
export function localApiWhois(socketPath: string, timeoutMs = 2000) {
  return (addr: string) =>
    new Promise<unknown>((resolve, reject) => {
      const asked = request(
        {
          socketPath,
          path: `/localapi/v0/whois?addr=${encodeURIComponent(addr)}`,
          // The LocalAPI checks the Host it is addressed by.
          headers: { host: 'local-tailscaled.sock' },
          timeout: timeoutMs,
        },
        (response) => {
          let body = '';
          response.setEncoding('utf8');
          response.on('data', (chunk: string) => {
            body += chunk;
          });
          response.on('end', () => {
            if (response.statusCode !== 200) return resolve(undefined);
            try {
              resolve(JSON.parse(body));
            } catch {
              reject(new Error(`tailscaled whois: not JSON (${body.slice(0, 80)})`));
            }
          });
        },
      );
      asked.on('timeout', () =>
        asked.destroy(new Error(`tailscaled did not answer in ${timeoutMs} ms`)),
      );
      asked.on('error', reject);
      asked.end();
    });
}
