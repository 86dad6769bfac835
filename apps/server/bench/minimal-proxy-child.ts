/**
 * The gateway benchmark's floor: the least a Node proxy can do, in a process of its own. Each
 * request is forwarded to the provider with its key (node:http, keep-alive) and the answer is
 * piped back as it arrives; nothing is read, checked or recorded. What it adds to the
 * provider's latency, any Node gateway on the same machine adds at least.
 *
 *   node --import tsx minimal-proxy-child.ts <provider base URL> <provider key>
 * prints its own base URL, then serves until killed.
 */
import { Agent, createServer, request } from 'node:http';

const [baseUrl = '', apiKey = ''] = process.argv.slice(2);
const agent = new Agent({ keepAlive: true, maxSockets: 256 });

const server = createServer((incoming, outgoing) => {
  const upstream = request(
    `${baseUrl}${incoming.url!.replace(/^\/v1/, '')}`,
    {
      method: incoming.method,
      agent,
      headers: {
        'content-type': incoming.headers['content-type'] ?? 'application/json',
        'content-length': incoming.headers['content-length'] ?? '0',
        authorization: `Bearer ${apiKey}`,
      },
    },
    (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(outgoing);
    },
  );
  upstream.on('error', () => outgoing.destroy());
  incoming.pipe(upstream);
});
server.listen(0, '127.0.0.1', () => {
  const address = server.address() as { port: number };
  process.stdout.write(`http://127.0.0.1:${address.port}\n`);
});
