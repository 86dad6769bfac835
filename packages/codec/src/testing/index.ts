/**
 * @aperture-export/codec/testing: what tests and benchmarks across the workspace share.
 * Realistic records from a seed (fixtures), fast-check arbitraries for any valid record, and
 * the codec's suite for the Bun and Deno test runners (runtime-tests/). Node APIs allowed.
 */
export { exportRecord, jsonValue } from './arbitraries.ts';
export { makeRecord, makeRecords, seededRandom } from './fixtures.ts';
export { codecSmokeTests } from './runtime-smoke.ts';
