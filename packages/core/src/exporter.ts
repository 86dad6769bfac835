/**
 * The S3 exporter: every `every` seconds it drains the capture store into export files of at
 * most `limit` records and `max_file_bytes` of CBOR, uploaded one at a time and in order; a
 * threaded zstd engine compresses the next files meanwhile (export-files.ts), within the same
 * byte budget, so memory is bounded by the budget whatever the backlog. Cycles never overlap;
 * "export now" queues one after the current. Config is read at the start of each cycle, so
 * changes apply from the next one.
 *
 * Exactly once: a file's records and key are claimed in the store before the upload, the
 * upload is create-only and carries the claim id as metadata, and the records are marked
 * exported only after it succeeded. After a crash the claim is finished as it was: if the
 * object is already there with our claim id, it is only marked; otherwise it is uploaded
 * (export-upload.ts).
 */

import type { ZstdEngine } from '@aperture-export/codec';
import { S3Error } from '@aperture-export/s3';
import { exporterEnabled, type S3ExporterConfig } from './config.ts';
import { ExportFiles } from './export-files.ts';
import { ClaimUploader, type ObjectStore } from './export-upload.ts';
import { type Clock, type Logger, systemClock } from './runtime.ts';
import type { CaptureStore } from './store/types.ts';

export { CLAIM_METADATA, type ObjectStore } from './export-upload.ts';

export interface ExporterOptions {
  store: CaptureStore;
  /** The current exporter config; called at the start of every cycle. */
  config: () => S3ExporterConfig;
  /** An object store for a config (cache it: called once per cycle). */
  objectStore: (config: S3ExporterConfig) => ObjectStore;
  zstd: ZstdEngine;
  clock?: Clock;
  log?: Logger;
  /** Identifies this exporter among several sharing one store. */
  instanceId?: string;
  /** How long a claim is this exporter's alone before another may finish it. Default 10 min. */
  claimLeaseMs?: number;
  /** Called after every cycle that had a bucket to export to (for metrics). */
  onCycle?: (result: CycleResult, durationMs: number) => void;
  /**
   * Called after each file is uploaded and marked, with its memory handed back: where a runtime
   * frees memory lazily (Bun) or leaves copies of uploads behind (Deno), its host collects
   * garbage here, so that peaks follow one file.
   */
  afterFile?: () => void;
}

export interface ExportError {
  code: string;
  message: string;
  at: Date;
}

export interface CycleResult {
  files: number;
  records: number;
  bytes: number;
  error?: ExportError;
}

export interface ExportStatus {
  enabled: boolean;
  running: boolean;
  lastAttemptAt: Date | undefined;
  lastSuccessAt: Date | undefined;
  lastError: ExportError | undefined;
  nextRunAt: Date | undefined;
  pendingRecords: number;
  pendingBytes: number;
  exportedFiles: number;
  exportedRecords: number;
  exportedBytes: number;
}

export interface StopOptions {
  /**
   * How long to let a running cycle finish the files it has claimed. Past it, the cycle's S3
   * requests are cancelled and stop() returns: claims stay in the store and the next start
   * finishes them. Default: no deadline.
   */
  timeoutMs?: number;
}

/** How long a cycle cancelled at a stop's deadline has to end before stop() returns anyway. */
const CANCEL_GRACE_MS = 1000;

export class Exporter {
  readonly #options: ExporterOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #files: ExportFiles;
  readonly #uploader: ClaimUploader;
  #chain: Promise<unknown> = Promise.resolve();
  #running = false;
  #timer: unknown;
  #stopped = true;
  /** Set by stop(): a draining cycle ends once the files it started are uploaded. */
  #stopping = false;
  /** Cancels the running cycle's S3 requests (at a stop's deadline). */
  #cancel: AbortController | undefined;
  #nextRunAt: Date | undefined;
  #lastAttemptAt: Date | undefined;
  #lastSuccessAt: Date | undefined;
  #lastError: ExportError | undefined;

  constructor(options: ExporterOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? (() => {});
    const context = {
      store: options.store,
      zstd: options.zstd,
      clock: this.#clock,
      log: this.#log,
    };
    this.#files = new ExportFiles({
      ...context,
      owner: options.instanceId ?? crypto.randomUUID(),
      leaseMs: options.claimLeaseMs ?? 10 * 60 * 1000,
    });
    this.#uploader = new ClaimUploader({
      ...context,
      records: (claim) => this.#files.records(claim),
    });
  }

  /** Starts the schedule: a cycle every `every` seconds. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#stopping = false;
    this.#schedule();
  }

  /**
   * Stops the schedule and waits for a running cycle to end, at most `timeoutMs` (then its S3
   * requests are cancelled). Resolves true if no cycle is left running. Safe to call twice.
   */
  async stop({ timeoutMs }: StopOptions = {}): Promise<boolean> {
    this.#stopped = true;
    this.#stopping = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextRunAt = undefined;
    const ended = this.#chain.then(
      () => true,
      () => true,
    );
    if (timeoutMs === undefined) return ended;
    if (await this.#within(ended, timeoutMs)) return true;
    this.#log('warn', `export stopped after ${timeoutMs} ms: its unfinished files stay claimed`);
    this.#cancel?.abort(new Error(`the exporter stopped after ${timeoutMs} ms`));
    return this.#within(ended, CANCEL_GRACE_MS);
  }

  /** Whether `done` resolves within `ms` of the exporter's clock. */
  #within(done: Promise<boolean>, ms: number): Promise<boolean> {
    let timer: unknown;
    const late = new Promise<boolean>((resolve) => {
      timer = this.#clock.setTimeout(() => resolve(false), ms);
    });
    return Promise.race([done, late]).finally(() => this.#clock.clearTimeout(timer));
  }

  /** Runs a cycle now, after the one in progress if any. Never throws: see `error`. */
  runNow(): Promise<CycleResult> {
    const cycle = this.#chain.then(() => this.#cycle());
    this.#chain = cycle.catch(() => {});
    return cycle;
  }

  async status(): Promise<ExportStatus> {
    const [counts, totals] = await Promise.all([
      this.#options.store.counts(),
      this.#options.store.exportTotals(),
    ]);
    return {
      enabled: exporterEnabled(this.#options.config()),
      running: this.#running,
      lastAttemptAt: this.#lastAttemptAt,
      lastSuccessAt: this.#lastSuccessAt,
      lastError: this.#lastError,
      nextRunAt: this.#nextRunAt,
      pendingRecords: counts.pendingRecords,
      pendingBytes: counts.pendingBytes,
      exportedFiles: totals.files,
      exportedRecords: totals.records,
      exportedBytes: totals.bytes,
    };
  }

  #schedule(): void {
    if (this.#stopped) return;
    const everyMs = this.#options.config().every * 1000;
    this.#nextRunAt = new Date(this.#clock.now() + everyMs);
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      void this.runNow().then(() => this.#schedule());
    }, everyMs);
  }

  async #cycle(): Promise<CycleResult> {
    const config = this.#options.config();
    const result: CycleResult = { files: 0, records: 0, bytes: 0 };
    if (!exporterEnabled(config)) return result;
    this.#running = true;
    this.#cancel = new AbortController();
    const started = this.#clock.now();
    this.#lastAttemptAt = new Date(started);
    try {
      await this.#drain(config, this.#options.objectStore(config), result, this.#cancel.signal);
      this.#lastSuccessAt = new Date(this.#clock.now());
      this.#lastError = undefined;
    } catch (error) {
      const s3 = error instanceof S3Error ? error : undefined;
      result.error = {
        code: s3?.code ?? 'ExportFailed',
        message: s3
          ? `${s3.message}${s3.operation ? ` (${s3.operation})` : ''}`
          : (error as Error).message,
        at: new Date(this.#clock.now()),
      };
      this.#lastError = result.error;
      this.#log('error', `export cycle stopped: ${result.error.message}`, {
        code: result.error.code,
        retryable: s3?.retryable ?? false,
      });
    } finally {
      this.#running = false;
      this.#cancel = undefined;
    }
    this.#options.onCycle?.(result, this.#clock.now() - started);
    return result;
  }

  /** Uploads the cycle's files in claim order, each before the next is asked for. */
  async #drain(
    config: S3ExporterConfig,
    objects: ObjectStore,
    result: CycleResult,
    signal: AbortSignal,
  ): Promise<void> {
    const { zstd } = this.#options;
    for await (const { claim, file } of this.#files.files(config, () => this.#stopping)) {
      try {
        const bytes = await this.#uploader.upload(claim, file, config, objects, { signal });
        result.files++;
        result.records += claim.recordCount;
        result.bytes += bytes;
      } finally {
        zstd.release?.(file);
      }
      try {
        this.#options.afterFile?.();
      } catch (error) {
        // The file is exported; a failing hook must not stop the cycle.
        this.#log('warn', `afterFile failed: ${(error as Error).message}`);
      }
    }
  }
}
