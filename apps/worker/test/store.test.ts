/** The capture store conformance suite, run inside workerd on D1 (store-suite.worker.ts). */
import { readFileSync } from 'node:fs';
import { D1_SCHEMA } from '@aperture-export/core/d1';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATION, migrationText } from '../scripts/write-migration.ts';
import { built, startWorker, type WorkerUnderTest } from './workerd.ts';

describe('D1Store in workerd', () => {
  let worker: WorkerUnderTest;
  beforeAll(async () => {
    worker = await startWorker({
      script: await built('../test/store-suite.worker.ts', 'store-suite'),
      noMigration: true,
    });
  }, 120_000);
  afterAll(() => worker?.stop());

  it('passes the store conformance suite', async () => {
    const response = await worker.fetch('/');
    const results = (await response.json()) as Array<{ name: string; ok: boolean; error?: string }>;
    expect(results.length).toBeGreaterThan(15);
    expect(results.filter((result) => !result.ok)).toEqual([]);
  });

  it("has the migration wrangler applies, equal to the store's schema", () => {
    expect(readFileSync(MIGRATION, 'utf8')).toBe(migrationText());
    expect(D1_SCHEMA.length).toBeGreaterThan(10);
  });
});
