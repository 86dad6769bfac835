/**
 * The fake provider in a process of its own, for the gateway benchmark: prints its base URL,
 * then serves until killed. `node --import tsx fake-provider-child.ts [delayMs]`.
 */
import { startFakeProvider } from '@aperture-export/gateway/testing';

const provider = await startFakeProvider({ delayMs: Number(process.argv[2] ?? 0) });
process.stdout.write(`${provider.baseUrl}\n`);
