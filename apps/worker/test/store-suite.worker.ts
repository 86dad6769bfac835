/**
 * The capture store conformance suite inside workerd, on D1: each test on a fresh schema, one
 * after another; `GET /` answers every test's name and outcome (store.test.ts asserts them).
 */
import { applyD1Schema, type D1Database, D1Store } from '@aperture-export/core/d1';
import { captureStoreSuite } from '@aperture-export/core/testing';

const TABLES = [
  'captures',
  'capture_records',
  'export_claims',
  'export_files',
  'store_state',
  'export_lease',
];

export default {
  async fetch(_request: Request, env: { DB: D1Database }): Promise<Response> {
    const tests: Array<{ name: string; fn: () => Promise<void> }> = [];
    const fresh = async () => {
      await env.DB.batch(TABLES.map((table) => env.DB.prepare(`DROP TABLE IF EXISTS ${table}`)));
      await applyD1Schema(env.DB);
      return new D1Store(env.DB);
    };
    captureStoreSuite((name, fn) => tests.push({ name, fn }), {
      open: fresh,
      reopen: async () => new D1Store(env.DB),
    });
    const results = [];
    for (const { name, fn } of tests) {
      try {
        await fn();
        results.push({ name, ok: true });
      } catch (error) {
        results.push({ name, ok: false, error: String((error as Error).stack ?? error) });
      }
    }
    return Response.json(results);
  },
};
