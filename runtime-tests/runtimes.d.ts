/** The little of Bun's and Deno's test APIs the runners here use (neither runtime's types are installed). */
declare module 'bun:test' {
  export function test(name: string, fn: () => Promise<void> | void): void;
}

declare const Deno: { test(name: string, fn: () => Promise<void> | void): void };
