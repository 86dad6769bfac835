/**
 * @aperture-export/core/testing: what tests of stores and exporters share, here and in other
 * packages. The store conformance suite every CaptureStore passes (memory and SQLite on Node,
 * SQLite on Bun and Deno through runtime-tests/), and fakes: a clock moved by hand and an
 * object store in memory. Node APIs allowed (node:assert).
 */
export { accessDenied, FakeClock, MemoryObjectStore, settle } from './fakes.ts';
export { captureStoreSuite, captures, type StoreFactory } from './store-conformance.ts';
