/**
 * The retention gate: content older than `duration` (by the record's own timestamp) is purged;
 * with `require_export`, only content already exported. Usage fields are never purged.
 */
import type { RetentionConfig } from './config.ts';
import { type Clock, type Logger, systemClock } from './runtime.ts';
import type { CaptureStore } from './store/types.ts';

/** Purges what the policy allows now; returns how many records lost their content. */
export async function purgeOnce(
  store: CaptureStore,
  retention: RetentionConfig,
  nowMs: number,
): Promise<number> {
  if (retention.durationMs === undefined) return 0;
  let total = 0;
  for (;;) {
    const purged = await store.purgeContent({
      olderThanMs: nowMs - retention.durationMs,
      requireExported: retention.require_export,
      batchSize: 500,
    });
    total += purged;
    if (purged === 0) return total;
  }
}

export interface RetentionWorkerOptions {
  store: CaptureStore;
  retention: () => RetentionConfig;
  /** How often to purge. Default 5 minutes. */
  intervalMs?: number;
  clock?: Clock;
  log?: Logger;
}

/** Runs purgeOnce on a timer. */
export class RetentionWorker {
  readonly #options: RetentionWorkerOptions;
  readonly #clock: Clock;
  #timer: unknown;
  #running: Promise<number> | undefined;

  constructor(options: RetentionWorkerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    const tick = () => {
      this.#timer = this.#clock.setTimeout(
        () => {
          void this.runNow().finally(tick);
        },
        this.#options.intervalMs ?? 5 * 60 * 1000,
      );
    };
    tick();
  }

  /** One purge now (joins a purge in progress). */
  runNow(): Promise<number> {
    this.#running ??= purgeOnce(this.#options.store, this.#options.retention(), this.#clock.now())
      .then((purged) => {
        if (purged > 0)
          this.#options.log?.('info', `retention purged the content of ${purged} records`, {
            purged,
          });
        return purged;
      })
      .catch((error: Error) => {
        this.#options.log?.('error', `retention purge failed: ${error.message}`);
        return 0;
      })
      .finally(() => {
        this.#running = undefined;
      });
    return this.#running;
  }

  async stop(): Promise<void> {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = 0 as unknown;
    await this.#running;
  }
}
