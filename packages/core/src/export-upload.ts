/**
 * Upload, re-key and recovery: how one claimed file reaches the bucket exactly once. The upload
 * is create-only and carries the claim id as metadata; the claim's records are marked exported
 * only after it succeeded. A key that already holds an object is either this claim's own
 * earlier upload (after a crash or a lost reply: it is only marked) or someone else's file (the
 * claim moves to the next free key).
 */
import { decompressFile, type ZstdEngine } from '@aperture-export/codec';
import {
  type ObjectInfo,
  type PutObjectOptions,
  type RequestOptions,
  S3Error,
} from '@aperture-export/s3';
import type { S3ExporterConfig } from './config.ts';
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

/** Tries at one claim before giving up on keys taken by other writers. */
const MAX_REKEYS = 20;

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

  /** Uploads one claimed file and marks it exported; returns its size. */
  async upload(
    initial: ExportClaim,
    compressed: Uint8Array,
    config: S3ExporterConfig,
    objects: ObjectStore,
    request: RequestOptions = {},
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
      if (await this.#alreadyUploaded(objects, claim, request))
        return this.#complete(claim, file.byteLength);
      claim = await this.#rekey(claim, config.prefix);
    }
    for (let attempt = 0; attempt < MAX_REKEYS; attempt++) {
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
        keepFile();
        if (await this.#alreadyUploaded(objects, claim, request))
          return this.#complete(claim, file.byteLength);
        this.#options.log(
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
      this.#options.clock.now(),
    );
    return moved ?? claim;
  }

  /**
   * Whether the claim's key already holds this claim's file. The claim id in the object's
   * metadata says so; where a provider keeps no metadata, the content decides: the same CBOR
   * means the same records.
   */
  async #alreadyUploaded(
    objects: ObjectStore,
    claim: ExportClaim,
    request: RequestOptions,
  ): Promise<boolean> {
    const existing = await objects.headObject(claim.objectKey, request);
    if (!existing) return false;
    const claimId = existing.metadata?.[CLAIM_METADATA];
    if (claimId !== undefined) return claimId === claim.claimId;
    if (existing.size === 0) return false;
    let content: Uint8Array;
    try {
      content = decompressFile(
        await objects.getObject(claim.objectKey, request),
        this.#options.zstd,
        claim.cborBytes,
      );
    } catch {
      return false; // not an export file of this size at all
    }
    if (content.byteLength !== claim.cborBytes) return false;
    let offset = 0;
    for await (const cbor of this.#options.records(claim)) {
      for (let i = 0; i < cbor.byteLength; i++) if (content[offset + i] !== cbor[i]) return false;
      offset += cbor.byteLength;
    }
    return true;
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
