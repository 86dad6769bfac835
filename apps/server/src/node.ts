/** The server on Node: `node --import tsx apps/server/src/node.ts [--port 8080]`. */
import { entryOptions } from './host.ts';
import { startNodeServer } from './node-server.ts';

await startNodeServer(entryOptions(process.argv.slice(2)));
