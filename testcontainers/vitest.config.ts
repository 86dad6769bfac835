import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 's3-integration',
    include: ['src/**/*.test.ts'],
    // One target per test file; big objects and retries take seconds, not minutes.
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
