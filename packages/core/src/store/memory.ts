/**
 * A capture store in memory, for unit tests and demos: the same behaviour as SQLite, nothing
 * kept across restarts.
 */
import type { ExportRecord } from '@aperture-export/codec';
import {
  batchLength,
  claimKey,
  decodeStored,
  emptyUsageTotals,
  newClaimId,
  nextKeySeconds,
  storedRecord,
  withoutContent,
} from './common.ts';
import type {
  AppendedRecord,
  CaptureStore,
  ClaimError,
  ClaimRequest,
  ExportClaim,
  ExportedFile,
  ExportTotals,
  NewCapture,
  PurgeRequest,
  StoreCounts,
  StoredRecord,
  UsagePoint,
  UsageQuery,
  UsageSeriesQuery,
  UsageSummary,
  UsageTotals,
} from './types.ts';

const copy = (claim: ExportClaim): ExportClaim =>
  claim.lastError ? { ...claim, lastError: { ...claim.lastError } } : { ...claim };

interface Row {
  id: number;
  timestampMs: number;
  model: string;
  loginName: string;
  apiType: string;
  statusCode: number;
  usage: ExportRecord['usage'];
  costUsd: number | undefined;
  cbor: Uint8Array;
  contentPurged: boolean;
  claimId: string | undefined;
  exportedAtMs: number | undefined;
  exportKey: string | undefined;
}

export class MemoryStore implements CaptureStore {
  readonly description = 'memory';
  #rows: Row[] = [];
  /** Row index by capture_id (ids are never empty here). */
  #byCaptureId = new Map<string, number>();
  #claims = new Map<string, ExportClaim>();
  #lastKeySeconds = 0;
  #totals: ExportTotals = { files: 0, records: 0, bytes: 0, cborBytes: 0 };
  #files: ExportedFile[] = [];

  async append(captures: NewCapture[]): Promise<AppendedRecord[]> {
    return captures.map((capture) => {
      const known = capture.capture_id ? this.#byCaptureId.get(capture.capture_id) : undefined;
      if (known !== undefined) {
        return { ...decodeStored(this.#rows[known]!.cbor), duplicate: true as const };
      }
      const { record, cbor } = storedRecord(capture, (this.#rows.at(-1)?.id ?? 0) + 1);
      if (capture.capture_id) this.#byCaptureId.set(capture.capture_id, this.#rows.length);
      this.#rows.push({
        id: record.id,
        timestampMs: record.timestamp.getTime(),
        model: record.model,
        loginName: record.identity.login_name,
        apiType: record.api_type,
        statusCode: record.status_code,
        usage: record.usage,
        costUsd: record.estimated_cost?.total_usd,
        cbor,
        contentPurged: false,
        claimId: undefined,
        exportedAtMs: undefined,
        exportKey: undefined,
      });
      return record;
    });
  }

  async recent(query: UsageQuery): Promise<ExportRecord[]> {
    const out: ExportRecord[] = [];
    for (let i = this.#rows.length - 1; i >= 0 && out.length < query.limit; i--) {
      const row = this.#rows[i]!;
      if (query.beforeId !== undefined && row.id >= query.beforeId) continue;
      if (query.model !== undefined && row.model !== query.model) continue;
      if (query.loginName !== undefined && row.loginName !== query.loginName) continue;
      if (query.apiType !== undefined && row.apiType !== query.apiType) continue;
      if (query.statusClass !== undefined && Math.floor(row.statusCode / 100) !== query.statusClass)
        continue;
      if (query.sinceMs !== undefined && row.timestampMs < query.sinceMs) continue;
      if (query.untilMs !== undefined && row.timestampMs >= query.untilMs) continue;
      out.push(decodeStored(row.cbor));
    }
    return out;
  }

  async record(id: number): Promise<StoredRecord | undefined> {
    const row = this.#rows.find((candidate) => candidate.id === id);
    if (!row) return undefined;
    return {
      record: decodeStored(row.cbor),
      contentPurged: row.contentPurged,
      ...(row.exportKey === undefined ? {} : { exportKey: row.exportKey }),
      ...(row.exportedAtMs === undefined ? {} : { exportedAtMs: row.exportedAtMs }),
    };
  }

  #totalsBy(
    rows: Row[],
    keyOf: (row: Row) => string,
    newTotals: (row: Row, key: string) => UsageTotals,
  ): UsageTotals[] {
    const totals = new Map<string, UsageTotals>();
    for (const row of rows) {
      const key = keyOf(row);
      const sum = totals.get(key) ?? newTotals(row, key);
      sum.requests++;
      sum.input_tokens += row.usage.input_tokens;
      sum.output_tokens += row.usage.output_tokens;
      sum.cached_tokens += row.usage.cached_tokens;
      sum.reasoning_tokens += row.usage.reasoning_tokens;
      if (row.costUsd === undefined) sum.unpriced_requests++;
      else sum.cost_usd += row.costUsd;
      totals.set(key, sum);
    }
    return [...totals.values()];
  }

  #between(sinceMs: number, untilMs: number): Row[] {
    return this.#rows.filter((row) => row.timestampMs >= sinceMs && row.timestampMs < untilMs);
  }

  async usageSummary(sinceMs: number, untilMs = Number.MAX_SAFE_INTEGER): Promise<UsageSummary> {
    const rows = this.#between(sinceMs, untilMs);
    const group = (keyOf: (row: Row) => string) =>
      this.#totalsBy(rows, keyOf, (_, key) => emptyUsageTotals(key)).sort(
        (a, b) => b.cost_usd - a.cost_usd || a.key.localeCompare(b.key),
      );
    return { byModel: group((row) => row.model), byLogin: group((row) => row.loginName) };
  }

  async usageSeries(query: UsageSeriesQuery): Promise<UsagePoint[]> {
    const bucketOf = (row: Row) =>
      query.sinceMs +
      Math.floor((row.timestampMs - query.sinceMs) / query.bucketMs) * query.bucketMs;
    const keyOf = (row: Row) => (query.groupBy === 'model' ? row.model : row.loginName);
    const points = this.#totalsBy(
      this.#between(query.sinceMs, query.untilMs),
      (row) => `${bucketOf(row)} ${keyOf(row)}`,
      (row) => ({ ...emptyUsageTotals(keyOf(row)), bucketStartMs: bucketOf(row) }),
    ) as UsagePoint[];
    return points.sort(
      (a, b) => a.bucketStartMs - b.bucketStartMs || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
    );
  }

  async recentFiles(limit: number): Promise<ExportedFile[]> {
    return this.#files
      .slice(-limit)
      .reverse()
      .map((file) => ({ ...file }));
  }

  async filterValues(): Promise<{ models: string[]; logins: string[] }> {
    const sorted = (values: Iterable<string>) =>
      [...new Set(values)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      models: sorted(this.#rows.map((row) => row.model)),
      logins: sorted(this.#rows.map((row) => row.loginName)),
    };
  }

  async claimNext(request: ClaimRequest): Promise<ExportClaim | undefined> {
    const waiting = this.#rows.filter(
      (row) => row.exportedAtMs === undefined && row.claimId === undefined,
    );
    const length = batchLength(
      waiting.slice(0, request.limit).map((row) => row.cbor.byteLength),
      request.limit,
      request.maxBytes,
    );
    if (length === 0) return undefined;
    const rows = waiting.slice(0, length);
    this.#lastKeySeconds = nextKeySeconds(this.#lastKeySeconds, request.nowMs);
    const claim: ExportClaim = {
      ...request.destination,
      claimId: newClaimId(),
      objectKey: claimKey(request.destination.prefix, this.#lastKeySeconds),
      keySeconds: this.#lastKeySeconds,
      firstId: rows[0]!.id,
      lastId: rows.at(-1)!.id,
      recordCount: rows.length,
      cborBytes: rows.reduce((sum, row) => sum + row.cbor.byteLength, 0),
      owner: request.owner,
      leaseUntil: request.nowMs + request.leaseMs,
    };
    for (const row of rows) row.claimId = claim.claimId;
    this.#claims.set(claim.claimId, claim);
    return copy(claim);
  }

  async resumableClaims(owner: string, nowMs: number): Promise<ExportClaim[]> {
    return [...this.#claims.values()]
      .filter((claim) => claim.owner === owner || claim.leaseUntil <= nowMs)
      .sort((a, b) => a.firstId - b.firstId)
      .map(copy);
  }

  async leaseClaim(
    claimId: string,
    owner: string,
    nowMs: number,
    leaseMs: number,
  ): Promise<ExportClaim | undefined> {
    const claim = this.#claims.get(claimId);
    if (!claim || (claim.owner !== owner && claim.leaseUntil > nowMs)) return undefined;
    claim.owner = owner;
    claim.leaseUntil = nowMs + leaseMs;
    return copy(claim);
  }

  async renewLeases(owner: string, nowMs: number, leaseMs: number): Promise<number> {
    return this.#setLeases(owner, nowMs + leaseMs);
  }

  async releaseLeases(owner: string): Promise<number> {
    return this.#setLeases(owner, 0);
  }

  #setLeases(owner: string, leaseUntil: number): number {
    let changed = 0;
    for (const claim of this.#claims.values()) {
      if (claim.owner !== owner) continue;
      claim.leaseUntil = leaseUntil;
      changed++;
    }
    return changed;
  }

  async rekeyClaim(
    claimId: string,
    fromKey: string,
    nowMs: number,
  ): Promise<ExportClaim | undefined> {
    const claim = this.#claims.get(claimId);
    if (!claim || claim.objectKey !== fromKey) return claim && copy(claim);
    this.#lastKeySeconds = nextKeySeconds(this.#lastKeySeconds, nowMs);
    claim.keySeconds = this.#lastKeySeconds;
    claim.objectKey = claimKey(claim.prefix, this.#lastKeySeconds);
    return copy(claim);
  }

  async recordClaimError(claimId: string, error: ClaimError): Promise<void> {
    const claim = this.#claims.get(claimId);
    if (claim) claim.lastError = { ...error };
  }

  async listClaims(): Promise<ExportClaim[]> {
    return [...this.#claims.values()].sort((a, b) => a.firstId - b.firstId).map(copy);
  }

  async releaseClaim(claimId: string): Promise<ExportClaim | undefined> {
    const claim = this.#claims.get(claimId);
    if (!claim) return undefined;
    this.#claims.delete(claimId);
    for (const row of this.#rows) if (row.claimId === claimId) row.claimId = undefined;
    return copy(claim);
  }

  async *claimRecords(claim: ExportClaim): AsyncIterable<Uint8Array> {
    for (const row of this.#rows) if (row.claimId === claim.claimId) yield row.cbor;
  }

  async completeClaim(claim: ExportClaim, exportedAtMs: number, fileBytes: number): Promise<void> {
    if (!this.#claims.delete(claim.claimId)) return;
    let records = 0;
    for (const row of this.#rows) {
      if (row.claimId !== claim.claimId) continue;
      row.claimId = undefined;
      row.exportedAtMs = exportedAtMs;
      row.exportKey = claim.objectKey;
      records++;
    }
    this.#totals.files++;
    this.#totals.records += records;
    this.#totals.bytes += fileBytes;
    this.#totals.cborBytes += claim.cborBytes;
    this.#files.push({
      objectKey: claim.objectKey,
      endpoint: claim.endpoint,
      bucket: claim.bucket,
      records,
      bytes: fileBytes,
      cborBytes: claim.cborBytes,
      exportedAtMs,
    });
  }

  async purgeContent(request: PurgeRequest): Promise<number> {
    let purged = 0;
    for (const row of this.#rows) {
      if (request.batchSize !== undefined && purged >= request.batchSize) break;
      if (row.contentPurged || row.claimId !== undefined || row.timestampMs >= request.olderThanMs)
        continue;
      if (request.requireExported && row.exportedAtMs === undefined) continue;
      row.cbor = withoutContent(row.cbor);
      row.contentPurged = true;
      purged++;
    }
    return purged;
  }

  async counts(): Promise<StoreCounts> {
    const pending = this.#rows.filter((row) => row.exportedAtMs === undefined);
    return {
      records: this.#rows.length,
      pendingRecords: pending.length,
      pendingBytes: pending.reduce((sum, row) => sum + row.cbor.byteLength, 0),
      exportedRecords: this.#rows.length - pending.length,
      contentPurged: this.#rows.filter((row) => row.contentPurged).length,
    };
  }

  async exportTotals(): Promise<ExportTotals> {
    return { ...this.#totals };
  }

  async close(): Promise<void> {}
}
