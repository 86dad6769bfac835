/**
 * Bundles the worker (src/index.ts) for workerd with esbuild, as wrangler would: dist/worker.mjs
 * and the zstd .wasm beside it, which Miniflare loads as a compiled module (CompiledWasm). The
 * tests and the benchmark run this bundle; `wrangler dev` and `wrangler deploy` bundle on their own.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const WORKER_DIST = fileURLToPath(new URL('../dist/', import.meta.url));

export async function buildWorker(entry = '../src/index.ts', outName = 'worker'): Promise<string> {
  const outfile = `${WORKER_DIST}${outName}.mjs`;
  await build({
    entryPoints: [fileURLToPath(new URL(entry, import.meta.url))],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2024',
    conditions: ['workerd', 'worker', 'browser'],
    mainFields: ['module', 'main'],
    loader: { '.wasm': 'copy' },
    external: ['node:*'],
    logLevel: 'warning',
  });
  return outfile;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildWorker();
