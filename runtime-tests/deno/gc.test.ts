import { denoGarbageCollector } from '@aperture-export/core/gc-deno';

Deno.test('the Deno entry can collect garbage after each exported file', async () => {
  const collect = denoGarbageCollector();
  if (!collect) throw new Error('denoGarbageCollector() found no gc on this Deno');
  let ref: WeakRef<object> | undefined;
  (() => {
    ref = new WeakRef({ payload: new Uint8Array(1024) });
  })();
  // A WeakRef's target lives at least until the task that made it ends.
  await new Promise((resolve) => setTimeout(resolve, 0));
  collect();
  if (ref?.deref() !== undefined) throw new Error('the object was still there after gc');
});
