import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

/** tsx's loader by absolute URL: child processes may run in a directory without node_modules. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
