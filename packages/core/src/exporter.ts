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
import { deniedPermission, S3Error } from '@aperture-export/s3';
import { exportDestination, exporterEnabled, type S3ExporterConfig } from './config.ts';
import { ExportFiles } from './export-files.ts';
import { ClaimUploader, type ObjectStore } from './export-upload.ts';
import { type Clock, type Logger, systemClock } from './runtime.ts';
import type { CaptureStore, ExportClaim } from './store/types.ts';

export { CLAIM_METADATA, type ObjectStore } from './export-upload.ts';

export interface ExporterOptions {
  store: CaptureStore;
  /** The current exporter config; called at the start of every cycle. */
  config: () => S3ExporterConfig;
  /**
   * An object store for a config (cache it: called for each file, with the config's address
   * replaced by the endpoint and bucket the file's claim was made for).
   */
  objectStore: (config: S3ExporterConfig) => ObjectStore;
  zstd: ZstdEngine;
  clock?: Clock;
  log?: Logger;
  /**
   * Who this exporter is among several sharing one store: it finishes the claims it left at
   * once, however it stopped; others' wait for their leases to end. A host gives one identity
   * per data directory, so that a restart picks up where the last process left. Default: random.
   */
  instanceId?: string;
  /**
   * How long a claim is this exporter's alone before another may take it; renewed while the
   * exporter works, released when a cycle fails or the exporter stops. Default 10 min.
   */
  claimLeaseMs?: number;
  /**
   * Most files one cycle writes; the rest wait for the next cycle. A Worker's invocation has a
   * CPU budget. Default: every file waiting.
   */
  maxFilesPerCycle?: number;
  /**
   * Most CBOR bytes a file holds on this host, whatever `max_file_bytes` says (a Worker has
   * 128 MB of memory). Default: `max_file_bytes`.
   */
  maxFileBytes?: number;
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
  /** The permission S3 denied (a 403), such as `s3:GetObject`. */
  permission?: string;
}

export interface CycleResult {
  files: number;
  records: number;
  bytes: number;
  /** Claims left for the next cycle after an error at their own (older) destination. */
  blocked: number;
  /** Why the cycle stopped before its backlog was done. */
  error?: ExportError;
}

/** A claim whose last attempt failed: it waits at its destination, or for a release. */
export interface BlockedClaim {
  claimId: string;
  endpoint: string;
  bucket: string;
  objectKey: string;
  records: number;
  owner: string;
  error: ExportError;
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
  /** Claims whose last attempt failed, with S3's error and the permission it needed. */
  blockedClaims: BlockedClaim[];
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
  readonly #owner: string;
  readonly #leaseMs: number;
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
    this.#owner = options.instanceId ?? crypto.randomUUID();
    this.#leaseMs = options.claimLeaseMs ?? 10 * 60 * 1000;
    this.#files = new ExportFiles({ ...context, owner: this.#owner, leaseMs: this.#leaseMs });
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
    let done = timeoutMs === undefined ? await ended : await this.#within(ended, timeoutMs);
    if (!done) {
      this.#log('warn', `export stopped after ${timeoutMs} ms: its unfinished files stay claimed`);
      this.#cancel?.abort(new Error(`the exporter stopped after ${timeoutMs} ms`));
      done = await this.#within(ended, CANCEL_GRACE_MS);
    }
    // Its claims are free for any other exporter now (this one takes them back on start).
    await this.#releaseLeases();
    return done;
  }

  async #releaseLeases(): Promise<void> {
    try {
      await this.#options.store.releaseLeases(this.#owner);
    } catch (error) {
      this.#log('warn', `could not release claim leases: ${(error as Error).message}`);
    }
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
    const [counts, totals, claims] = await Promise.all([
      this.#options.store.counts(),
      this.#options.store.exportTotals(),
      this.#options.store.listClaims(),
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
      blockedClaims: claims.flatMap((claim) =>
        claim.lastError
          ? [
              {
                claimId: claim.claimId,
                endpoint: claim.endpoint,
                bucket: claim.bucket,
                objectKey: claim.objectKey,
                records: claim.recordCount,
                owner: claim.owner,
                error: {
                  code: claim.lastError.code,
                  message: claim.lastError.message,
                  at: new Date(claim.lastError.atMs),
                  ...(claim.lastError.permission ? { permission: claim.lastError.permission } : {}),
                },
              },
            ]
          : [],
      ),
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
    const configured = this.#options.config();
    const { maxFileBytes } = this.#options;
    const config =
      maxFileBytes === undefined || configured.max_file_bytes <= maxFileBytes
        ? configured
        : { ...configured, max_file_bytes: maxFileBytes };
    const result: CycleResult = { files: 0, records: 0, bytes: 0, blocked: 0 };
    if (!exporterEnabled(config)) return result;
    this.#running = true;
    this.#cancel = new AbortController();
    const started = this.#clock.now();
    this.#lastAttemptAt = new Date(started);
    const renewal = this.#renewLeasesWhileRunning();
    try {
      await this.#drain(config, result, this.#cancel.signal);
      this.#lastSuccessAt = new Date(this.#clock.now());
      this.#lastError = undefined;
    } catch (error) {
      result.error = this.#exportError(error);
      this.#lastError = result.error;
      this.#log('error', `export cycle stopped: ${result.error.message}`, {
        code: result.error.code,
        retryable: error instanceof S3Error && error.retryable,
      });
      // Its claims are free for any other exporter now (this one takes them back next cycle).
      await this.#releaseLeases();
    } finally {
      renewal.stop();
      this.#running = false;
      this.#cancel = undefined;
    }
    this.#options.onCycle?.(result, this.#clock.now() - started);
    return result;
  }

  #exportError(error: unknown): ExportError {
    const s3 = error instanceof S3Error ? error : undefined;
    const permission = s3 && deniedPermission(s3);
    return {
      code: s3?.code ?? 'ExportFailed',
      message: s3
        ? `${s3.message}${s3.operation ? ` (${s3.operation})` : ''}${permission ? `: the exporter needs ${permission}` : ''}`
        : (error as Error).message,
      at: new Date(this.#clock.now()),
      ...(permission ? { permission } : {}),
    };
  }

  /** Renews this exporter's leases every third of a lease while a cycle runs. */
  #renewLeasesWhileRunning(): { stop(): void } {
    let timer: unknown;
    let stopped = false;
    const next = () => {
      timer = this.#clock.setTimeout(async () => {
        try {
          await this.#options.store.renewLeases(this.#owner, this.#clock.now(), this.#leaseMs);
        } catch (error) {
          this.#log('warn', `could not renew claim leases: ${(error as Error).message}`);
        }
        if (!stopped) next();
      }, this.#leaseMs / 3);
    };
    next();
    return {
      stop: () => {
        stopped = true;
        this.#clock.clearTimeout(timer);
      },
    };
  }

  /**
   * Uploads the cycle's files in claim order, each before the next is asked for, each to the
   * destination its claim was made for. A file that fails at the current destination stops
   * the cycle (the next ones would fail too); one that fails at an older destination waits
   * there for the next cycle (or a release), and the cycle goes on.
   */
  async #drain(config: S3ExporterConfig, result: CycleResult, signal: AbortSignal): Promise<void> {
    const { zstd, store } = this.#options;
    const current = exportDestination(config);
    const maxFiles = this.#options.maxFilesPerCycle ?? Number.POSITIVE_INFINITY;
    const enough = () => this.#stopping || result.files >= maxFiles;
    for await (const { claim, file } of this.#files.files(config, enough)) {
      try {
        const bytes = await this.#uploader.upload(claim, file, this.#objectsFor(claim, config), {
          signal,
        });
        result.files++;
        result.records += claim.recordCount;
        result.bytes += bytes;
        // A file claimed ahead stays claimed: the next cycle finishes it first.
        if (result.files >= maxFiles) break;
      } catch (error) {
        const failure = this.#exportError(error);
        await store.recordClaimError(claim.claimId, {
          code: failure.code,
          message: failure.message,
          atMs: failure.at.getTime(),
          ...(failure.permission ? { permission: failure.permission } : {}),
        });
        const elsewhere =
          claim.bucket !== '' &&
          (claim.endpoint !== current.endpoint ||
            claim.bucket !== current.bucket ||
            claim.prefix !== current.prefix);
        if (!elsewhere || signal.aborted) throw error;
        result.blocked++;
        this.#log(
          'warn',
          `claim ${claim.claimId} waits at ${claim.bucket}/${claim.objectKey}: ${failure.message}`,
          { code: failure.code },
        );
        continue;
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

  /** The object store of the claim's own destination; claims made before destinations were recorded take the current one. */
  #objectsFor(claim: ExportClaim, config: S3ExporterConfig): ObjectStore {
    if (claim.bucket === '') return this.#options.objectStore(config);
    return this.#options.objectStore({
      ...config,
      endpoint: claim.endpoint || undefined,
      bucket_name: claim.bucket,
    });
  }
}
