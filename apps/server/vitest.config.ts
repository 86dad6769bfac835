import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'server',
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/build-bundle.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
