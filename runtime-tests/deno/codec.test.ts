import { codecSmokeTests } from '@aperture-export/codec/testing/runtime-smoke';

declare const Deno: { test(name: string, fn: () => Promise<void> | void): void };

codecSmokeTests((name, fn) => Deno.test(name, fn));
