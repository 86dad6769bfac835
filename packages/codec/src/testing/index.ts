/**
 * @aperture-export/codec/testing: what tests and benchmarks across the workspace share.
 * Realistic records from a seed (fixtures) and fast-check arbitraries for any valid record:
 * Web APIs only, so that tests inside any runtime (workerd too) can use them. The codec's suite
 * for the Bun and Deno test runners, which runs processes, is `./testing/runtime-smoke`.
 */
export { exportRecord, jsonValue } from './arbitraries.ts';
export { makeRecord, makeRecords, seededRandom } from './fixtures.ts';
