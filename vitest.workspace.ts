// The vitest test projects. vitest 4 no longer reads workspace files by itself:
// vitest.config.ts imports this list into `test.projects`.
export const projects = ['packages/*', 'apps/*', 'testcontainers'];
