/**
 * Builds the dashboard's scripts and stylesheet (client/) into dist/client/ with esbuild:
 * one script per page, with uPlot and CodeMirror bundled in (the pages work offline, with no
 * CDN). Run by `pnpm build` and before the server's tests.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const CLIENT_DIR = fileURLToPath(new URL('../dist/client/', import.meta.url));

export async function buildClient(outdir = CLIENT_DIR): Promise<void> {
  const client = (name: string) => fileURLToPath(new URL(`../client/${name}`, import.meta.url));
  await build({
    entryPoints: [
      { in: client('dashboard.ts'), out: 'dashboard' },
      { in: client('dashboard.css'), out: 'dashboard' },
      { in: client('usage.ts'), out: 'usage' },
      { in: client('settings.ts'), out: 'settings' },
    ],
    outdir,
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome120', 'firefox120', 'safari17'],
    logLevel: 'warning',
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildClient();
