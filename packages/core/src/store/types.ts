/**
 * The capture store: where captured requests wait to be exported. One interface, implemented
 * by the in-memory store (tests), SQLite (Node, Bun, Deno) and, later, D1 and PostgreSQL.
 *
 * Exactly-once export rests on claims. A claim takes the next unexported records for one file
 * and fixes that file's object key, in one atomic step, before anything is uploaded. The claim
 * is deleted, and its records marked exported, in another atomic step after the upload
 * succeeded. A crash in between leaves the claim: the next exporter finishes that same file
 * (same records, same key) instead of starting a new one. Claimed records are never purged,
 * so the file's bytes do not change while it is in flight.
 */
import type { ExportRecord } from '@aperture-export/codec';

/** A capture as ingested: everything but the id, which the store assigns. */
export type NewCapture = Omit<ExportRecord, 'id'>;

/**
 * A capture as append() answers for it: the stored record, and whether its capture_id was
 * stored already (then this is the record stored first, and nothing new was written).
 */
export type AppendedRecord = ExportRecord & { duplicate?: true };

/**
 * Where a file goes, fixed when its claim is made and kept until the file is there: a claim
 * never follows a config change, since an earlier upload of it may still land where it was.
 */
export interface ExportDestination {
  /** The S3-compatible API's URL; "" for AWS. */
  endpoint: string;
  /** "" only for claims made before destinations were recorded: they take the current one. */
  bucket: string;
  prefix: string;
}

/** Why the last attempt at a claim failed (until one succeeds). */
export interface ClaimError {
  /** S3's code (`AccessDenied`…) or ours. */
  code: string;
  message: string;
  atMs: number;
  /** The permission a denied request needed (`s3:GetObject`), when S3 said 403. */
  permission?: string;
}

export interface ExportClaim extends ExportDestination {
  /** Random id, also written as object metadata so an upload can be recognised later. */
  claimId: string;
  objectKey: string;
  /** The key's timestamp (unix seconds); unique and increasing per store. */
  keySeconds: number;
  firstId: number;
  lastId: number;
  recordCount: number;
  /** Size of the file's content: the records' CBOR, before compression. */
  cborBytes: number;
  /** Which exporter works on it, and until when (epoch ms) before others may. */
  owner: string;
  leaseUntil: number;
  lastError?: ClaimError;
}

export interface ClaimRequest {
  owner: string;
  destination: ExportDestination;
  /** Most records in the file. */
  limit: number;
  /** Most CBOR bytes in the file; a single larger record still gets a file of its own. */
  maxBytes: number;
  nowMs: number;
  leaseMs: number;
}

export interface StoreCounts {
  records: number;
  /** Not yet exported (claimed or not). */
  pendingRecords: number;
  pendingBytes: number;
  exportedRecords: number;
  /** Records whose content the retention policy removed. */
  contentPurged: number;
}

export interface ExportTotals {
  files: number;
  records: number;
  /** Bytes uploaded (compressed). */
  bytes: number;
  cborBytes: number;
}

export interface PurgeRequest {
  /** Purge content of records whose own timestamp is older than this (epoch ms). */
  olderThanMs: number;
  /** Only records already exported. */
  requireExported: boolean;
  /** Most records per call; the worker calls again until none are left. */
  batchSize?: number;
}

export interface UsageQuery {
  limit: number;
  /** Records with smaller ids (paging backwards from the newest). */
  beforeId?: number;
  model?: string;
  loginName?: string;
  apiType?: string;
  /** The status code's class: 2 for 2xx, 4 for 4xx… */
  statusClass?: number;
  /** Records from this time on (epoch ms, the record's own timestamp). */
  sinceMs?: number;
  /** Records before this time (epoch ms). */
  untilMs?: number;
}

/** A record as the store keeps it: with what became of its content and its export. */
export interface StoredRecord {
  record: ExportRecord;
  /** Retention removed its capture (request and response). */
  contentPurged: boolean;
  /** The object key of the file it went out in, once exported. */
  exportKey?: string;
  exportedAtMs?: number;
}

/** Totals of one time bucket for one model or login, for charts. */
export interface UsagePoint extends UsageTotals {
  /** Where the bucket starts (epoch ms): sinceMs + n * bucketMs. */
  bucketStartMs: number;
}

export interface UsageSeriesQuery {
  sinceMs: number;
  untilMs: number;
  bucketMs: number;
  groupBy: 'model' | 'login';
}

/** A file the exporter wrote, as the store noted it when its claim completed. */
export interface ExportedFile {
  objectKey: string;
  endpoint: string;
  bucket: string;
  records: number;
  /** Its size in the bucket (compressed). */
  bytes: number;
  cborBytes: number;
  exportedAtMs: number;
}

/** Usage added up for one model or one login. */
export interface UsageTotals {
  key: string;
  requests: number;
  input_tokens: number;
  output_tokens: number;
  cached_tokens: number;
  reasoning_tokens: number;
  /** Sum of the estimated costs that are known. */
  cost_usd: number;
  /** Requests whose cost was unknown (not in cost_usd). */
  unpriced_requests: number;
}

export interface UsageSummary {
  byModel: UsageTotals[];
  byLogin: UsageTotals[];
}

export interface CaptureStore {
  /** What the captures are kept in, for the server's start banner: "SQLite (node:sqlite)". */
  readonly description: string;
  /**
   * Stores captures atomically and returns them with their ids, in order. Each capture_id is
   * stored once: a capture whose id is stored already (a client's retry after a lost reply),
   * or comes earlier in the same call, is not stored again, and the record stored first comes
   * back in its place, marked `duplicate`. An empty capture_id is never taken for another.
   */
  append(captures: NewCapture[]): Promise<AppendedRecord[]>;
  /** Newest first. */
  recent(query: UsageQuery): Promise<ExportRecord[]>;
  /** One record by id, or undefined. */
  record(id: number): Promise<StoredRecord | undefined>;
  /**
   * Tokens and estimated cost of the records from `sinceMs` on (and before `untilMs`), by
   * model and by login.
   */
  usageSummary(sinceMs: number, untilMs?: number): Promise<UsageSummary>;
  /** The same totals per time bucket and model (or login), oldest bucket first. */
  usageSeries(query: UsageSeriesQuery): Promise<UsagePoint[]>;
  /** The files exported last, newest first. */
  recentFiles(limit: number): Promise<ExportedFile[]>;
  /** Every model and login the records name, each once and sorted: choices for filters. */
  filterValues(): Promise<{ models: string[]; logins: string[] }>;

  /** Claims the next file's records and key, or undefined when nothing is waiting. */
  claimNext(request: ClaimRequest): Promise<ExportClaim | undefined>;
  /** Claims that `owner` may (re)work now: its own, or others' whose lease ran out. */
  resumableClaims(owner: string, nowMs: number): Promise<ExportClaim[]>;
  /** Takes a claim over (or renews one's own); undefined if someone else holds a live lease. */
  leaseClaim(
    claimId: string,
    owner: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<ExportClaim | undefined>;
  /** Extends every lease `owner` holds to nowMs + leaseMs, while it works; returns how many. */
  renewLeases(owner: string, nowMs: number, leaseMs: number): Promise<number>;
  /** Ends every lease `owner` holds (a failed cycle, a stop): others may take its claims now. */
  releaseLeases(owner: string): Promise<number>;
  /**
   * Gives a claim the next free key under its own prefix (its key holds someone else's
   * object), if it still has `fromKey`; otherwise returns it as it is.
   */
  rekeyClaim(claimId: string, fromKey: string, nowMs: number): Promise<ExportClaim | undefined>;
  /** Notes why the last attempt at a claim failed; kept until the claim completes. */
  recordClaimError(claimId: string, error: ClaimError): Promise<void>;
  /** Every claim in flight, in record order. */
  listClaims(): Promise<ExportClaim[]>;
  /**
   * Drops a claim on purpose: its records wait again, for a new claim at the current
   * destination. If its file reached (or still reaches) its old destination, they will be in
   * both. Returns the claim, or undefined if there is none by that id.
   */
  releaseClaim(claimId: string): Promise<ExportClaim | undefined>;
  /**
   * The claim's records' CBOR, in id order, read a page at a time: the caller builds (or
   * streams) the file without the store holding it all.
   */
  claimRecords(claim: ExportClaim): AsyncIterable<Uint8Array>;
  /** Marks the claim's records exported under its key, drops the claim, adds to the totals. */
  completeClaim(claim: ExportClaim, exportedAtMs: number, fileBytes: number): Promise<void>;

  /** Removes captured content per retention; returns how many records lost their content. */
  purgeContent(request: PurgeRequest): Promise<number>;
  counts(): Promise<StoreCounts>;
  exportTotals(): Promise<ExportTotals>;
  close(): Promise<void>;
}
