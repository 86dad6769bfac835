import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '@aperture-export/core/sqlite-node-sqlite';
import { captureStoreSuite } from '@aperture-export/core/testing';

declare const Deno: { test(name: string, fn: () => Promise<void>): void };

const dir = mkdtempSync(join(tmpdir(), 'deno-store-'));
let n = 0;
let current = '';
captureStoreSuite((name, fn) => Deno.test(name, fn), {
  open: async () => {
    current = join(dir, `store-${n++}.sqlite`);
    return openSqliteStore(current);
  },
  reopen: async () => openSqliteStore(current),
});
