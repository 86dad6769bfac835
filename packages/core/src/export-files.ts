/**
 * An export cycle's files: claims taken from the store, each compressed into one zstd frame,
 * handed out in claim order. An engine that compresses on this thread (and may lend its frame)
 * gets one file at a time. A threaded one gets the next files while the caller uploads one:
 * each thread holds one file in its memory while compressing it, and the files that can be in
 * the threads' memory at once hold no more CBOR together than max_file_bytes. One more file may
 * wait for a busy thread (holding only a few pieces of itself), so that its reading overlaps the
 * compression before it. Memory is so bounded by the byte budget, whatever the backlog.
 */
import {
  compressSequence,
  EXPORT_ZSTD_LEVEL,
  type ZstdEngine,
  ZstdStreamError,
} from '@aperture-export/codec';
import { exportDestination, type S3ExporterConfig } from './config.ts';
import type { Clock, Logger } from './runtime.ts';
import type { CaptureStore, ExportClaim } from './store/types.ts';

export interface ExportFilesOptions {
  store: CaptureStore;
  zstd: ZstdEngine;
  clock: Clock;
  log: Logger;
  /** Who claims: this exporter among several sharing one store. */
  owner: string;
  /** How long a claim is the owner's alone before another may finish it. */
  leaseMs: number;
}

export interface ClaimedFile {
  claim: ExportClaim;
  /** The claim's records in one zstd frame; hand it back to the engine (release) once sent. */
  file: Uint8Array;
}

export class ExportFiles {
  readonly #options: ExportFilesOptions;
  /** Whether to stream records into the zstd engine; off after streaming failed once. */
  #streaming = true;
  /** One buffer for file contents when not streaming, reused: bounded by the largest file. */
  #content = new Uint8Array(0);

  constructor(options: ExportFilesOptions) {
    this.#options = options;
  }

  /**
   * The cycle's files, in claim order: first what an earlier run (ours, or a crashed
   * process's) left half done, then new claims until the backlog is empty or `stopping()`.
   * The caller uploads each file before asking for the next; ending early (break, throw) lets
   * the files still compressing finish, and leaves their claims in the store for the next cycle.
   */
  async *files(
    config: S3ExporterConfig,
    stopping: () => boolean,
  ): AsyncGenerator<ClaimedFile, void> {
    const { threads } = this.#options.zstd;
    const claims = this.#claims(config, stopping);
    const files: { claim: ExportClaim; file: Promise<Uint8Array>; compressing: boolean }[] = [];
    /** Claimed but not started: the files in flight had no room for it yet. */
    let next: ExportClaim | undefined;
    let exhausted = false;
    /** Set when the caller is done: nothing starts after that. */
    let ended = false;
    /** A store error met while filling in the background, for the cycle to end with. */
    let fillError: unknown;

    /** Whether `claim` may start now: see the file's header. */
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
        yield { claim: head.claim, file: await head.file };
        // The caller has sent the file: its place goes to the next one.
        files.shift();
        await refill();
      }
      if (fillError !== undefined) throw fillError;
    } finally {
      ended = true;
      await filling;
      await Promise.allSettled(files.map((entry) => entry.file));
    }
  }

  /** A claim's records from the store, checked against the claim as they pass. */
  async *records(claim: ExportClaim): AsyncIterable<Uint8Array> {
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

  async *#claims(
    config: S3ExporterConfig,
    stopping: () => boolean,
  ): AsyncGenerator<ExportClaim, void> {
    const { store, clock, owner, leaseMs } = this.#options;
    for (const leftover of await store.resumableClaims(owner, clock.now())) {
      const claim = await store.leaseClaim(leftover.claimId, owner, clock.now(), leaseMs);
      if (claim) yield claim;
    }
    while (!stopping()) {
      const claim = await store.claimNext({
        owner,
        destination: exportDestination(config),
        limit: config.limit,
        maxBytes: config.max_file_bytes,
        nowMs: clock.now(),
        leaseMs,
      });
      if (!claim) return;
      yield claim;
    }
  }

  /**
   * The claim's export file: its records' CBOR compressed into one frame (possibly lent by the
   * engine: valid until the engine's next call). The engine takes the records as the store
   * reads them; where streaming proved unreliable (native zstd on Deno has ended frames early),
   * they are joined in one reused buffer and compressed whole.
   */
  async #file(claim: ExportClaim): Promise<Uint8Array> {
    const { zstd } = this.#options;
    if (this.#streaming) {
      try {
        return await zstd.compressStream(this.records(claim), claim.cborBytes, EXPORT_ZSTD_LEVEL);
      } catch (error) {
        if (!(error instanceof ZstdStreamError)) throw error;
        this.#streaming = false;
        this.#options.log(
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
    for await (const cbor of this.records(claim)) {
      content.set(cbor, length);
      length += cbor.byteLength;
    }
    return compressSequence(content.subarray(0, length), zstd);
  }
}
