/**
 * The S3 exporter: every `every` seconds it drains the capture store into export files of at
 * most `limit` records and `max_file_bytes` of CBOR, uploaded one at a time and in order; a
 * threaded zstd engine compresses the next files meanwhile (see #drain), within the same byte
 * budget, so memory is bounded by the budget whatever the backlog. Cycles never overlap;
 * "export now" queues one after the current. Config is read at the start of each cycle, so
 * changes apply from the next one.
 *
 * Exactly once: a file's records and key are claimed in the store before the upload, the
 * upload is create-only and carries the claim id as metadata, and the records are marked
 * exported only after it succeeded. After a crash the claim is finished as it was: if the
 * object is already there with our claim id, it is only marked; otherwise it is uploaded.
 */
import {
  compressSequence,
  decompressFile,
  EXPORT_ZSTD_LEVEL,
  type ZstdEngine,
  ZstdStreamError,
} from '@aperture-export/codec';
import type { ObjectInfo, PutObjectOptions } from '@aperture-export/s3';
import { S3Error } from '@aperture-export/s3';
import { exporterEnabled, type S3ExporterConfig } from './config.ts';
import { type Clock, type Logger, systemClock } from './runtime.ts';
import type { CaptureStore, ExportClaim } from './store/types.ts';

/** What the exporter needs of an S3 client (S3Client has it). */
export interface ObjectStore {
  putObject(key: string, body: Uint8Array, options?: PutObjectOptions): Promise<unknown>;
  headObject(key: string): Promise<ObjectInfo | undefined>;
  getObject(key: string): Promise<Uint8Array>;
}

/** Object metadata naming the claim a file was written for. */
export const CLAIM_METADATA = 'aperture-claim';

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

/** Tries at one claim before giving up on keys taken by other writers. */
const MAX_REKEYS = 20;

export class Exporter {
  readonly #options: ExporterOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #instanceId: string;
  readonly #leaseMs: number;
  #chain: Promise<unknown> = Promise.resolve();
  #running = false;
  #timer: unknown;
  #stopped = true;
  /** Set by stop(): a draining cycle ends once the files it started are uploaded. */
  #stopping = false;
  #nextRunAt: Date | undefined;
  #lastAttemptAt: Date | undefined;
  #lastSuccessAt: Date | undefined;
  #lastError: ExportError | undefined;
  /** Whether to stream records into the zstd engine; off after streaming failed once. */
  #streaming = true;
  /** One buffer for file contents when not streaming, reused: bounded by the largest file. */
  #content = new Uint8Array(0);

  constructor(options: ExporterOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? (() => {});
    this.#instanceId = options.instanceId ?? crypto.randomUUID();
    this.#leaseMs = options.claimLeaseMs ?? 10 * 60 * 1000;
  }

  /** Starts the schedule: a cycle every `every` seconds. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#stopping = false;
    this.#schedule();
  }

  /** Stops the schedule and waits for a running cycle to end. Safe to call twice. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#nextRunAt = undefined;
    await this.#chain.catch(() => {});
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
    const started = this.#clock.now();
    this.#lastAttemptAt = new Date(started);
    try {
      await this.#drain(config, this.#options.objectStore(config), result);
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
    }
    this.#options.onCycle?.(result, this.#clock.now() - started);
    return result;
  }

  /**
   * The cycle's claims: first what an earlier run (ours, or a crashed process's) left half
   * done, then new ones until the backlog is empty or stop() (at shutdown) was called.
   */
  async *#claims(config: S3ExporterConfig): AsyncGenerator<ExportClaim, void> {
    const { store } = this.#options;
    for (const leftover of await store.resumableClaims(this.#instanceId, this.#clock.now())) {
      const claim = await store.leaseClaim(
        leftover.claimId,
        this.#instanceId,
        this.#clock.now(),
        this.#leaseMs,
      );
      if (claim) yield claim;
    }
    while (!this.#stopping) {
      const claim = await this.#options.store.claimNext({
        owner: this.#instanceId,
        prefix: config.prefix,
        limit: config.limit,
        maxBytes: config.max_file_bytes,
        nowMs: this.#clock.now(),
        leaseMs: this.#leaseMs,
      });
      if (!claim) return;
      yield claim;
    }
  }

  /**
   * Exports the cycle's claims, uploading them in order. An engine that compresses on this
   * thread (and may lend its frame) gets one file at a time. A threaded one gets the next files
   * while a file uploads: each thread holds one file in its memory while compressing it, and
   * the files that can be in the threads' memory at once hold no more CBOR together than
   * max_file_bytes. One more file may wait for a busy thread (holding only a few pieces of
   * itself), so that its reading overlaps the compression before it.
   */
  async #drain(config: S3ExporterConfig, objects: ObjectStore, result: CycleResult): Promise<void> {
    const { zstd } = this.#options;
    const { threads } = zstd;
    const claims = this.#claims(config);
    const files: { claim: ExportClaim; file: Promise<Uint8Array>; compressing: boolean }[] = [];
    /** Claimed but not started: the files in flight had no room for it yet. */
    let next: ExportClaim | undefined;
    let exhausted = false;
    /** Set when the cycle ends: nothing starts after that. */
    let ended = false;
    /** A store error met while filling in the background, for the cycle to end with. */
    let fillError: unknown;

    /** Whether `claim` may start now: see above. */
    const hasRoom = (claim: ExportClaim) => {
      const compressing = files
        .filter((entry) => entry.compressing)
        .map((entry) => entry.claim.cborBytes);
      if (compressing.length === 0) return true;
      if (compressing.length < threads) {
        // A thread of its own, now, beside all those compressing.
        return compressing.reduce((a, b) => a + b) + claim.cborBytes <= config.max_file_bytes;
      }
      // It waits for a thread, then compresses beside at most threads - 1 of these.
      const beside = compressing.sort((a, b) => b - a).slice(0, threads - 1);
      return beside.reduce((a, b) => a + b, claim.cborBytes) <= config.max_file_bytes;
    };

    const fill = async () => {
      // No claim is taken before there is a place for it (files.length), lest it wait leased.
      while (!exhausted && !ended && fillError === undefined && files.length <= threads) {
        if (!next) {
          const claimed = await claims.next();
          if (claimed.done) {
            exhausted = true;
            return;
          }
          next = claimed.value;
          if (ended) return; // the claim stays in the store for the next cycle
        }
        if (!hasRoom(next)) return;
        const entry = { claim: next, file: this.#file(next), compressing: true };
        next = undefined;
        files.push(entry);
        entry.file
          .finally(() => {
            entry.compressing = false;
            // A threaded engine's memory freed up: the next file may fit now.
            if (threads > 0) void refill();
          })
          .catch(() => {}); // a failure is met where the file is awaited
      }
    };
    // One fill at a time: they share the claims and `next`.
    let filling = Promise.resolve();
    const refill = () => {
      filling = filling.then(fill).catch((error: unknown) => {
        fillError ??= error;
      });
      return filling;
    };

    try {
      await refill();
      while (files.length > 0) {
        if (fillError !== undefined) throw fillError;
        const head = files[0]!;
        const file = await head.file;
        try {
          this.#add(result, head.claim, await this.#export(head.claim, file, config, objects));
        } finally {
          zstd.release?.(file);
        }
        files.shift();
        try {
          this.#options.afterFile?.();
        } catch (error) {
          // The file is exported; a failing hook must not stop the cycle.
          this.#log('warn', `afterFile failed: ${(error as Error).message}`);
        }
        await refill();
      }
      if (fillError !== undefined) throw fillError;
    } finally {
      // Files still compressing are let finish; their claims stay in the store, and the next
      // cycle exports them first.
      ended = true;
      await filling;
      await Promise.allSettled(files.map((entry) => entry.file));
    }
  }

  #add(result: CycleResult, claim: ExportClaim, fileBytes: number): void {
    result.files++;
    result.records += claim.recordCount;
    result.bytes += fileBytes;
  }

  /** Uploads one claimed file and marks it exported; returns its size. */
  async #export(
    initial: ExportClaim,
    compressed: Uint8Array,
    config: S3ExporterConfig,
    objects: ObjectStore,
  ): Promise<number> {
    let claim = initial;
    let file = compressed;
    // #alreadyUploaded uses the engine, which may then reuse a lent frame: keep a copy first.
    // (A threaded engine's frames are the caller's own.)
    let copied = this.#options.zstd.threads > 0;
    const keepFile = () => {
      if (!copied) file = file.slice();
      copied = true;
    };
    if (claim.prefix !== config.prefix) {
      // The prefix changed since this claim was made: finish it where it was, if it got there.
      keepFile();
      if (await this.#alreadyUploaded(objects, claim))
        return this.#complete(claim, file.byteLength);
      claim = await this.#rekey(claim, config.prefix);
    }
    for (let attempt = 0; attempt < MAX_REKEYS; attempt++) {
      try {
        await objects.putObject(claim.objectKey, file, {
          contentType: 'application/zstd',
          createOnly: true,
          metadata: { [CLAIM_METADATA]: claim.claimId },
        });
        return this.#complete(claim, file.byteLength);
      } catch (error) {
        if (!(error instanceof S3Error && error.code === 'PreconditionFailed')) throw error;
        // The key exists: our own earlier upload of this claim, or someone else's file.
        keepFile();
        if (await this.#alreadyUploaded(objects, claim))
          return this.#complete(claim, file.byteLength);
        this.#log(
          'warn',
          `object ${claim.objectKey} exists and is not ours: writing under a new key`,
        );
        claim = await this.#rekey(claim, config.prefix);
      }
    }
    throw new Error(`gave up on claim ${claim.claimId}: ${MAX_REKEYS} keys in a row were taken`);
  }

  /** Moves a claim to the next free key under `prefix` (or to where another exporter moved it). */
  async #rekey(claim: ExportClaim, prefix: string): Promise<ExportClaim> {
    const moved = await this.#options.store.rekeyClaim(
      claim.claimId,
      claim.objectKey,
      prefix,
      this.#clock.now(),
    );
    return moved ?? claim;
  }

  /**
   * Whether the claim's key already holds this claim's file. The claim id in the object's
   * metadata says so; where a provider keeps no metadata, the content decides: the same CBOR
   * means the same records.
   */
  async #alreadyUploaded(objects: ObjectStore, claim: ExportClaim): Promise<boolean> {
    const existing = await objects.headObject(claim.objectKey);
    if (!existing) return false;
    const claimId = existing.metadata?.[CLAIM_METADATA];
    if (claimId !== undefined) return claimId === claim.claimId;
    if (existing.size === 0) return false;
    let content: Uint8Array;
    try {
      content = decompressFile(
        await objects.getObject(claim.objectKey),
        this.#options.zstd,
        claim.cborBytes,
      );
    } catch {
      return false; // not an export file of this size at all
    }
    if (content.byteLength !== claim.cborBytes) return false;
    let offset = 0;
    for await (const cbor of this.#records(claim)) {
      for (let i = 0; i < cbor.byteLength; i++) if (content[offset + i] !== cbor[i]) return false;
      offset += cbor.byteLength;
    }
    return true;
  }

  async #complete(claim: ExportClaim, fileBytes: number): Promise<number> {
    await this.#options.store.completeClaim(claim, this.#clock.now(), fileBytes);
    this.#log('info', `exported ${claim.recordCount} records to ${claim.objectKey}`, {
      records: claim.recordCount,
      bytes: fileBytes,
    });
    return fileBytes;
  }

  /** The claim's records from the store, checked against the claim as they pass. */
  async *#records(claim: ExportClaim): AsyncIterable<Uint8Array> {
    let count = 0;
    let bytes = 0;
    for await (const cbor of this.#options.store.claimRecords(claim)) {
      count++;
      bytes += cbor.byteLength;
      if (bytes > claim.cborBytes) break;
      yield cbor;
    }
    if (count !== claim.recordCount || bytes !== claim.cborBytes) {
      throw new Error(
        `claim ${claim.claimId} should hold ${claim.recordCount} records (${claim.cborBytes} bytes), found ${count} (${bytes}+ bytes)`,
      );
    }
  }

  /**
   * The claim's export file: its records' CBOR compressed into one frame (possibly lent by the
   * engine: valid until the engine's next call). The engine takes the
   * records as the store reads them; where streaming proved unreliable (native zstd on Deno
   * has ended frames early), they are joined in one reused buffer and compressed whole.
   */
  async #file(claim: ExportClaim): Promise<Uint8Array> {
    const { zstd } = this.#options;
    if (this.#streaming) {
      try {
        return await zstd.compressStream(this.#records(claim), claim.cborBytes, EXPORT_ZSTD_LEVEL);
      } catch (error) {
        if (!(error instanceof ZstdStreamError)) throw error;
        this.#streaming = false;
        this.#log(
          'warn',
          `zstd streaming is unreliable here (${error.message}): compressing whole files from now on`,
        );
      }
    }
    // Reused where files are compressed one at a time; files compressed at once get their own.
    let content = this.#content;
    if (zstd.threads > 0) content = new Uint8Array(claim.cborBytes);
    else if (content.byteLength < claim.cborBytes)
      this.#content = content = new Uint8Array(claim.cborBytes);
    let length = 0;
    for await (const cbor of this.#records(claim)) {
      content.set(cbor, length);
      length += cbor.byteLength;
    }
    return compressSequence(content.subarray(0, length), zstd);
  }
}
