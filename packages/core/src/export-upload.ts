/**
 * Upload, re-key and recovery: how one claimed file reaches its destination exactly once. The
 * upload is create-only and carries the claim id as metadata; the claim's records are marked
 * exported only after it succeeded. A key that already holds an object is either this claim's
 * own earlier upload (after a crash or a lost reply: it is only marked) or someone else's file.
 *
 * A claim moves to another key only when the object at its key is proven someone else's: its
 * metadata names another claim, or its content differs. Never on an S3 error, a timeout or a
 * config change: an earlier upload of the claim may still land at its key, and a second key
 * would hold its records twice.
 */
import { decompressFile, type ZstdEngine } from '@aperture-export/codec';
import {
  type ObjectInfo,
  type PutObjectOptions,
  type RequestOptions,
  S3Error,
} from '@aperture-export/s3';
import type { Clock, Logger } from './runtime.ts';
import type { CaptureStore, ExportClaim } from './store/types.ts';

/** What the exporter needs of an S3 client (S3Client has it). */
export interface ObjectStore {
  putObject(key: string, body: Uint8Array, options?: PutObjectOptions): Promise<unknown>;
  headObject(key: string, options?: RequestOptions): Promise<ObjectInfo | undefined>;
  getObject(key: string, options?: RequestOptions): Promise<Uint8Array>;
}

/** Object metadata naming the claim a file was written for. */
export const CLAIM_METADATA = 'aperture-claim';

/** Tries at one claim before giving up on keys taken by other writers (or vanishing). */
const MAX_ATTEMPTS = 20;

export interface ClaimUploaderOptions {
  store: CaptureStore;
  zstd: ZstdEngine;
  clock: Clock;
  log: Logger;
  /** A claim's records as its file holds them (ExportFiles.records), to compare content. */
  records(claim: ExportClaim): AsyncIterable<Uint8Array>;
}

export class ClaimUploader {
  readonly #options: ClaimUploaderOptions;

  constructor(options: ClaimUploaderOptions) {
    this.#options = options;
  }

  /** Uploads one claimed file to its key and marks it exported; returns its size. */
  async upload(
    initial: ExportClaim,
    compressed: Uint8Array,
    objects: ObjectStore,
    request: RequestOptions = {},
  ): Promise<number> {
    let claim = initial;
    let file = compressed;
    // #whose uses the engine, which may then reuse a lent frame: keep a copy first.
    // (A threaded engine's frames are the caller's own.)
    let copied = this.#options.zstd.threads > 0;
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        await objects.putObject(claim.objectKey, file, {
          contentType: 'application/zstd',
          createOnly: true,
          metadata: { [CLAIM_METADATA]: claim.claimId },
          signal: request.signal,
        });
        return this.#complete(claim, file.byteLength);
      } catch (error) {
        if (!(error instanceof S3Error && error.code === 'PreconditionFailed')) throw error;
        // The key exists: our own earlier upload of this claim, or someone else's file.
        if (!copied) file = file.slice();
        copied = true;
        const whose = await this.#whose(objects, claim, request);
        if (whose === 'ours') return this.#complete(claim, file.byteLength);
        if (whose === 'gone') continue; // removed since: the key is free for ours again
        this.#options.log(
          'warn',
          `object ${claim.objectKey} in ${claim.bucket || 'the bucket'} is someone else's: writing under a new key`,
        );
        claim = await this.#rekey(claim);
      }
    }
    throw new Error(
      `gave up on claim ${claim.claimId}: ${MAX_ATTEMPTS} keys in a row were taken or vanished`,
    );
  }

  /** Moves a claim to the next free key under its prefix (or to where another exporter moved it). */
  async #rekey(claim: ExportClaim): Promise<ExportClaim> {
    const moved = await this.#options.store.rekeyClaim(
      claim.claimId,
      claim.objectKey,
      this.#options.clock.now(),
    );
    return moved ?? claim;
  }

  /**
   * Whose file the claim's key holds. The claim id in the object's metadata says so; where a
   * provider keeps no metadata, the content decides: the same CBOR means the same records.
   * An S3 error here is thrown, never taken for an answer.
   */
  async #whose(
    objects: ObjectStore,
    claim: ExportClaim,
    request: RequestOptions,
  ): Promise<'ours' | 'theirs' | 'gone'> {
    const existing = await objects.headObject(claim.objectKey, request);
    if (!existing) return 'gone';
    const claimId = existing.metadata?.[CLAIM_METADATA];
    if (claimId !== undefined) return claimId === claim.claimId ? 'ours' : 'theirs';
    if (existing.size === 0) return 'theirs';
    const stored = await objects.getObject(claim.objectKey, request);
    let content: Uint8Array;
    try {
      content = decompressFile(stored, this.#options.zstd, claim.cborBytes);
    } catch {
      return 'theirs'; // not an export file of this size at all
    }
    if (content.byteLength !== claim.cborBytes) return 'theirs';
    let offset = 0;
    for await (const cbor of this.#options.records(claim)) {
      for (let i = 0; i < cbor.byteLength; i++)
        if (content[offset + i] !== cbor[i]) return 'theirs';
      offset += cbor.byteLength;
    }
    return 'ours';
  }

  async #complete(claim: ExportClaim, fileBytes: number): Promise<number> {
    await this.#options.store.completeClaim(claim, this.#options.clock.now(), fileBytes);
    this.#options.log('info', `exported ${claim.recordCount} records to ${claim.objectKey}`, {
      records: claim.recordCount,
      bytes: fileBytes,
    });
    return fileBytes;
  }
}
