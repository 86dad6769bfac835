/**
 * The service behind every entry (HTTP app, CLI): the live config, the capture store, the
 * exporter and the retention worker. Runtime-agnostic: files and the store come in as
 * dependencies, so Node, Bun, Deno and worker hosts share it.
 */
import {
  captureFromJson,
  type Identity,
  type RecordIssue,
  type ZstdEngine,
} from '@aperture-export/codec';
import {
  type AppConfig,
  type CaptureStore,
  type ConfigIssue,
  type CycleResult,
  type ExportClaim,
  Exporter,
  type ExporterOptions,
  type ExportStatus,
  exporterEnabled,
  formatIssues,
  GroupCommit,
  type Logger,
  parseConfig,
  RetentionWorker,
  redactConfigText,
  restoreRedactedSecrets,
  type S3ExporterConfig,
  type StopOptions,
} from '@aperture-export/core';
import {
  type Compatibility,
  firstIdentity,
  Gateway,
  type GatewayCapture,
  type GatewayProvider,
  type IdentityRequest,
  type IdentityResolver,
  tailscaleServeIdentity,
  tailscaleWhoisIdentity,
  tokenIdentities,
} from '@aperture-export/gateway';
import { S3Client, type S3ClientOptions } from '@aperture-export/s3';

/** Where the config text lives (a file on servers, an environment variable on Workers). */
export interface ConfigSource {
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
  /** Why the config cannot be changed here, where it cannot (then write() is never called). */
  readOnly?: string;
}

export interface ServiceOptions {
  store: CaptureStore;
  configSource: ConfigSource;
  zstd: ZstdEngine;
  env?: Record<string, string | undefined>;
  log?: Logger;
  /** How this runtime's S3 clients send (`streamUploads` where its fetch allows it). */
  s3Client?: S3ClientOptions;
  /** Called after each exported file (see ExporterOptions.afterFile). */
  afterExportFile?: () => void;
  /** Test seam: S3 clients for a config. */
  objectStoreFor?: (config: S3ExporterConfig) => S3Client;
  /**
   * The exporter's identity: a host gives one per data directory, so that a restarted process
   * finishes the claims its predecessor left at once. Default: random (nothing to resume).
   */
  exporterId?: string;
  /**
   * tailscaled's LocalAPI whois over the socket at `socketPath` (tailscale.ts), where the host
   * can reach a Unix socket; the gateway asks it who a peer is when gateway.tailscale_socket is set.
   */
  whois?: (socketPath: string) => (addr: string) => Promise<unknown>;
  /** The gateway's fetch for its upstream calls (node-fetch.ts on Node); default: fetch. */
  gatewayFetch?: typeof fetch;
  /**
   * Runs an export cycle for "export now": where a host allows one export at a time across
   * processes (a Worker's lease row), it wraps the cycle in its lock. Default: the cycle as is.
   */
  runExport?: (cycle: () => Promise<CycleResult>) => Promise<CycleResult>;
  /** What this host's export cycles may do at most (a Worker's invocation: files, memory). */
  exporterLimits?: Pick<ExporterOptions, 'maxFilesPerCycle' | 'maxFileBytes'>;
}

/** Who a request with no identity is recorded as, where anonymous use is allowed. */
export const ANONYMOUS: Identity = { login_name: 'anonymous', node_id: '', tags: [] };

export type ConfigUpdate =
  | { ok: true; warnings: ConfigIssue[] }
  | { ok: false; errors: ConfigIssue[]; warnings: ConfigIssue[] };

export function s3ClientFor(config: S3ExporterConfig, options?: S3ClientOptions): S3Client {
  return new S3Client(
    {
      endpoint: config.endpoint,
      bucket: config.bucket_name,
      region: config.region,
      accessKeyId: config.access_key_id,
      secretAccessKey: config.access_secret,
    },
    options,
  );
}

/** Counters for /metrics that are not in the store, since this process started. */
export interface ServiceMetrics {
  exportCycles: number;
  exportErrors: number;
  /** All cycles' durations added up, and how many: the summary's running _sum and _count. */
  exportDurationSumMs: number;
  /** The last cycles' durations (at most DURATION_WINDOW), for the summary's quantiles. */
  exportDurationsMs: readonly number[];
  ingestedCaptures: number;
  rejectedCaptures: number;
  /** Captures sent again (a known capture_id): answered, not stored again. */
  duplicateCaptures: number;
  /** Transactions ingestion wrote: captures over transactions is group commit's gain. */
  ingestTransactions: number;
  /** Requests the gateway served (each made a record). */
  gatewayRequests: number;
  /** Gateway records the store could not take (logged). */
  gatewayCaptureErrors: number;
}

/** How many recent export durations the quantiles are computed over. */
const DURATION_WINDOW = 1000;

/** A capture that failed its check, by its place in the request. */
export type IngestIssue = RecordIssue & { index: number };

export type IngestResult =
  | { ok: true; ids: number[]; duplicates: number }
  | { ok: false; issues: IngestIssue[] };

/** The gateway's providers, from the config. */
function gatewayProviders(config: AppConfig): GatewayProvider[] {
  return Object.entries(config.providers).map(([id, provider]) => ({
    id,
    baseUrl: provider.baseurl,
    apiKey: provider.apikey,
    models: provider.models,
    authorization: provider.authorization,
    compatibility: (Object.keys(provider.compatibility) as Compatibility[]).filter(
      (api) => provider.compatibility[api],
    ),
  }));
}

/** How long the gateway's records gather before they are written together. */
const GATEWAY_RECORDS_WAIT_MS = 50;

/** S3 clients kept for reuse: the current destination and a few older ones claims wait at. */
const MAX_CLIENTS = 8;

/** How long stop() lets a running export cycle finish its files before cancelling it. */
export const STOP_TIMEOUT_MS = 10_000;

export class ApertureService {
  readonly store: CaptureStore;
  readonly exporter: Exporter;
  readonly retention: RetentionWorker;
  readonly gateway: Gateway;
  readonly #metrics = {
    exportCycles: 0,
    exportErrors: 0,
    exportDurationSumMs: 0,
    exportDurationsMs: [] as number[],
    ingestedCaptures: 0,
    rejectedCaptures: 0,
    duplicateCaptures: 0,
    gatewayRequests: 0,
    gatewayCaptureErrors: 0,
  };
  #options: ServiceOptions;
  #config: AppConfig;
  #text: string;
  #clients = new Map<string, S3Client>();
  /** Ingested captures, written in shared transactions (group commit). */
  #appends: GroupCommit;
  /**
   * The gateway's records, gathered for up to GATEWAY_RECORDS_WAIT_MS into one transaction: no
   * client waits for them, and each commit holds the thread for its sync to disk, so fewer,
   * larger commits keep that out of the gateway's requests.
   */
  #records: GroupCommit;
  /** Gateway records on their way to the store, awaited by stop(). */
  #capturing = new Set<Promise<unknown>>();
  #whois = new Map<string, (addr: string) => Promise<unknown>>();

  private constructor(options: ServiceOptions, config: AppConfig, text: string) {
    this.#options = options;
    this.store = options.store;
    this.#appends = new GroupCommit(options.store);
    this.#records = new GroupCommit(options.store, {
      schedule: (write) => setTimeout(write, GATEWAY_RECORDS_WAIT_MS),
    });
    this.#config = config;
    this.#text = text;
    this.exporter = new Exporter({
      store: options.store,
      config: () => this.#config.exporters.s3,
      objectStore: (s3) => this.#client(s3),
      instanceId: options.exporterId,
      zstd: options.zstd,
      log: options.log,
      afterFile: options.afterExportFile,
      onCycle: (result, durationMs) => this.#countCycle(result, durationMs),
      ...options.exporterLimits,
    });
    this.gateway = new Gateway({
      providers: () => gatewayProviders(this.#config),
      settings: () => ({
        rawBodyMaxBytes: this.#config.gateway.raw_body_max_bytes,
        sessionIdleMs: this.#config.gateway.session_idle_minutes * 60_000,
        upstreamTimeoutMs: this.#config.gateway.upstream_timeout_seconds * 1000,
      }),
      onCapture: (capture) => this.#capture(capture),
      fetch: options.gatewayFetch,
    });
    this.retention = new RetentionWorker({
      store: options.store,
      retention: () => this.#config.database.retention,
      log: options.log,
    });
  }

  /** Loads the config (defaults when there is none yet); throws listing every error. */
  static async open(
    options: ServiceOptions,
  ): Promise<{ service: ApertureService; warnings: ConfigIssue[] }> {
    const text = (await options.configSource.read()) ?? '';
    const result = parseConfig(text, options.env ?? {});
    if (!result.ok) {
      throw new Error(`invalid config:\n${formatIssues(result.errors)}`);
    }
    return {
      service: new ApertureService(options, result.config, text),
      warnings: result.warnings,
    };
  }

  get config(): AppConfig {
    return this.#config;
  }

  /** A snapshot of the counters. */
  get metrics(): ServiceMetrics {
    return {
      ...this.#metrics,
      exportDurationsMs: [...this.#metrics.exportDurationsMs],
      ingestTransactions: this.#appends.stats.transactions + this.#records.stats.transactions,
    };
  }

  #countCycle(result: CycleResult, durationMs: number): void {
    const metrics = this.#metrics;
    metrics.exportCycles++;
    if (result.error) metrics.exportErrors++;
    metrics.exportDurationSumMs += durationMs;
    metrics.exportDurationsMs.push(durationMs);
    if (metrics.exportDurationsMs.length > DURATION_WINDOW) metrics.exportDurationsMs.shift();
  }

  /** A gateway request's record: stored off the response path, through the write queue. */
  #capture(capture: GatewayCapture): void {
    this.#metrics.gatewayRequests++;
    const written = this.#records.append([capture]).catch((error: unknown) => {
      this.#metrics.gatewayCaptureErrors++;
      this.#options.log?.('error', `a gateway record was not stored: ${(error as Error).message}`, {
        capture_id: capture.capture_id,
      });
    });
    this.#capturing.add(written);
    void written.finally(() => this.#capturing.delete(written));
  }

  /**
   * Who sent a gateway request, by the config now: an API token, tailscale serve's header
   * (from loopback), tailscaled's whois; "anonymous" where allowed; undefined otherwise.
   */
  async identify(request: IdentityRequest): Promise<Identity | undefined> {
    const gateway = this.#config.gateway;
    const resolvers: IdentityResolver[] = [tokenIdentities(() => gateway.tokens)];
    if (gateway.tailscale_serve_headers) resolvers.push(tailscaleServeIdentity());
    if (gateway.tailscale_socket && this.#options.whois) {
      let whois = this.#whois.get(gateway.tailscale_socket);
      if (!whois) {
        whois = this.#options.whois(gateway.tailscale_socket);
        this.#whois.set(gateway.tailscale_socket, whois);
      }
      const ask = whois;
      resolvers.push(
        tailscaleWhoisIdentity(async (addr) => {
          try {
            return await ask(addr);
          } catch (error) {
            this.#options.log?.('warn', `tailscale whois failed: ${(error as Error).message}`);
            return undefined;
          }
        }),
      );
    }
    const identity = await firstIdentity(resolvers)(request);
    return identity ?? (gateway.allow_anonymous ? ANONYMOUS : undefined);
  }

  /**
   * Stores captures sent in the JSON mapping (without id), all or none: one that fails its
   * check refuses the whole request, naming each problem by the capture's index. A capture
   * whose capture_id is stored already is not stored again; its id is answered. Concurrent
   * requests share a transaction (group commit); each is answered once its captures are durable.
   */
  async ingest(items: unknown[]): Promise<IngestResult> {
    const issues: IngestIssue[] = [];
    const captures = [];
    for (const [index, item] of items.entries()) {
      const parsed = captureFromJson(item);
      if (parsed.ok) captures.push(parsed.capture);
      else issues.push(...parsed.issues.map((issue) => ({ index, ...issue })));
    }
    if (issues.length > 0) {
      this.#metrics.rejectedCaptures += items.length;
      return { ok: false, issues };
    }
    const stored = await this.#appends.append(captures);
    const duplicates = stored.filter((record) => record.duplicate).length;
    this.#metrics.ingestedCaptures += stored.length - duplicates;
    this.#metrics.duplicateCaptures += duplicates;
    return { ok: true, ids: stored.map((record) => record.id), duplicates };
  }

  /** One S3 client per distinct exporter config (claims may finish at older destinations). */
  #client(config: S3ExporterConfig): S3Client {
    const key = JSON.stringify(config);
    let client = this.#clients.get(key);
    if (!client) {
      client =
        this.#options.objectStoreFor?.(config) ?? s3ClientFor(config, this.#options.s3Client);
      // A few destinations at most are in use at once; forget the oldest past that.
      if (this.#clients.size >= MAX_CLIENTS)
        this.#clients.delete(this.#clients.keys().next().value!);
      this.#clients.set(key, client);
    }
    return client;
  }

  start(): void {
    this.exporter.start();
    this.retention.start();
  }

  /** Stops the exporter (a running cycle gets `timeoutMs`, default STOP_TIMEOUT_MS) and the retention worker. */
  async stop({ timeoutMs = STOP_TIMEOUT_MS }: StopOptions = {}): Promise<void> {
    await this.exporter.stop({ timeoutMs });
    await this.retention.stop();
    // The gateway's last records, already answered: written before the store closes. Streams
    // whose client left are recorded with what they have, without waiting for their end.
    this.gateway.stopDraining();
    await this.settled();
  }

  /** Resolves once the records of the gateway's answered requests are written. */
  async settled(): Promise<void> {
    // Records made while earlier ones are written are waited for too.
    for (;;) {
      await this.gateway.settled();
      if (this.#capturing.size === 0) return;
      await Promise.allSettled([...this.#capturing]);
    }
  }

  /** Runs one export cycle now (after a running one). */
  exportNow(): Promise<CycleResult> {
    const cycle = () => this.exporter.runNow();
    return this.#options.runExport ? this.#options.runExport(cycle) : cycle();
  }

  async exportStatus(): Promise<ExportStatus> {
    return this.exporter.status();
  }

  /** The config text as it may be shown: secrets written out in it are redacted. */
  redactedConfigText(): string {
    return redactConfigText(this.#text);
  }

  /**
   * Checks and applies new config text, without a restart: the exporter and the retention
   * worker read it from their next cycle. A redacted secret that comes back keeps its value.
   */
  async updateConfig(text: string): Promise<ConfigUpdate> {
    const { readOnly } = this.#options.configSource;
    if (readOnly) return { ok: false, errors: [{ path: '', message: readOnly }], warnings: [] };
    const restored = restoreRedactedSecrets(text, this.#text);
    const result = parseConfig(restored, this.#options.env ?? {});
    if (!result.ok) return { ok: false, errors: result.errors, warnings: result.warnings };
    await this.#options.configSource.write(restored);
    this.#text = restored;
    this.#config = result.config;
    return { ok: true, warnings: result.warnings };
  }

  /**
   * "Test connection": every request the exporter makes, on a probe object, with the current
   * config or a proposed one (HuJSON text whose redacted secrets are filled from the current
   * config). A failure names its step, S3's error and the permission it needed.
   */
  async testConnection(proposedText?: string) {
    let s3 = this.#config.exporters.s3;
    if (proposedText !== undefined && proposedText.trim() !== '') {
      const restored = restoreRedactedSecrets(proposedText, this.#text);
      const result = parseConfig(restored, this.#options.env ?? {});
      if (!result.ok) return { ok: false as const, errors: result.errors };
      s3 = result.config.exporters.s3;
    }
    if (!exporterEnabled(s3)) {
      return {
        ok: false as const,
        errors: [{ path: 'exporters.s3.bucket_name', message: 'is not set' }],
      };
    }
    const check = await s3ClientFor(s3, this.#options.s3Client).checkConnection(s3.prefix);
    if (check.ok)
      return {
        ok: true as const,
        bucket: s3.bucket_name,
        prefix: s3.prefix,
        warnings: check.warnings,
      };
    return {
      ok: false as const,
      step: check.step,
      ...(check.permission ? { permission: check.permission } : {}),
      error: { code: check.error.code, message: check.error.message, status: check.error.status },
    };
  }

  /** The claims in flight: files claimed and not yet in their bucket, each at its destination. */
  claims(): Promise<ExportClaim[]> {
    return this.store.listClaims();
  }

  /**
   * Releases a claim on purpose (one whose destination can no longer be written): its records
   * wait again, and the next cycle exports them to the current destination. Says what that may
   * duplicate: if the claim's file reached its destination, or still does (an upload that timed
   * out may land later), its records will be there and in the new file.
   */
  async releaseClaim(
    claimId: string,
  ): Promise<{ released: ExportClaim; warning: string } | undefined> {
    const released = await this.store.releaseClaim(claimId);
    if (!released) return undefined;
    const where = `${released.endpoint || 'AWS S3'} bucket ${released.bucket || '(the configured one)'}, key ${released.objectKey}`;
    return {
      released,
      warning:
        `released claim ${claimId}: its ${released.recordCount} records (ids ${released.firstId}-${released.lastId}) ` +
        `will be exported again, to the current destination. If its file is at ${where}, or gets there ` +
        '(an upload that timed out may still land), those records will be in both.',
    };
  }
}
