/**
 * The service behind every entry (HTTP app, CLI): the live config, the capture store, the
 * exporter and the retention worker. Runtime-agnostic: files and the store come in as
 * dependencies, so Node, Bun, Deno and worker hosts share it.
 */
import { captureFromJson, type RecordIssue, type ZstdEngine } from '@aperture-export/codec';
import {
  type AppConfig,
  type CaptureStore,
  type ConfigIssue,
  type CycleResult,
  Exporter,
  type ExportStatus,
  exporterEnabled,
  formatIssues,
  type Logger,
  parseConfig,
  RetentionWorker,
  redactConfigText,
  restoreRedactedSecrets,
  type S3ExporterConfig,
  type StopOptions,
} from '@aperture-export/core';
import { S3Client, type S3ClientOptions } from '@aperture-export/s3';

/** Where the config text lives (a file on servers). */
export interface ConfigSource {
  read(): Promise<string | undefined>;
  write(text: string): Promise<void>;
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
}

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
}

/** How many recent export durations the quantiles are computed over. */
const DURATION_WINDOW = 1000;

/** A capture that failed its check, by its place in the request. */
export type IngestIssue = RecordIssue & { index: number };

export type IngestResult =
  | { ok: true; ids: number[]; duplicates: number }
  | { ok: false; issues: IngestIssue[] };

/** How long stop() lets a running export cycle finish its files before cancelling it. */
export const STOP_TIMEOUT_MS = 10_000;

export class ApertureService {
  readonly store: CaptureStore;
  readonly exporter: Exporter;
  readonly retention: RetentionWorker;
  readonly #metrics = {
    exportCycles: 0,
    exportErrors: 0,
    exportDurationSumMs: 0,
    exportDurationsMs: [] as number[],
    ingestedCaptures: 0,
    rejectedCaptures: 0,
    duplicateCaptures: 0,
  };
  #options: ServiceOptions;
  #config: AppConfig;
  #text: string;
  #clients = new Map<string, S3Client>();

  private constructor(options: ServiceOptions, config: AppConfig, text: string) {
    this.#options = options;
    this.store = options.store;
    this.#config = config;
    this.#text = text;
    this.exporter = new Exporter({
      store: options.store,
      config: () => this.#config.exporters.s3,
      objectStore: (s3) => this.#client(s3),
      zstd: options.zstd,
      log: options.log,
      afterFile: options.afterExportFile,
      onCycle: (result, durationMs) => this.#countCycle(result, durationMs),
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
    return { ...this.#metrics, exportDurationsMs: [...this.#metrics.exportDurationsMs] };
  }

  #countCycle(result: CycleResult, durationMs: number): void {
    const metrics = this.#metrics;
    metrics.exportCycles++;
    if (result.error) metrics.exportErrors++;
    metrics.exportDurationSumMs += durationMs;
    metrics.exportDurationsMs.push(durationMs);
    if (metrics.exportDurationsMs.length > DURATION_WINDOW) metrics.exportDurationsMs.shift();
  }

  /**
   * Stores captures sent in the JSON mapping (without id), all or none: one that fails its
   * check refuses the whole request, naming each problem by the capture's index. A capture
   * whose capture_id is stored already is not stored again; its id is answered.
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
    const stored = await this.store.append(captures);
    const duplicates = stored.filter((record) => record.duplicate).length;
    this.#metrics.ingestedCaptures += stored.length - duplicates;
    this.#metrics.duplicateCaptures += duplicates;
    return { ok: true, ids: stored.map((record) => record.id), duplicates };
  }

  /** One S3 client per distinct exporter config. */
  #client(config: S3ExporterConfig): S3Client {
    const key = JSON.stringify(config);
    let client = this.#clients.get(key);
    if (!client) {
      client =
        this.#options.objectStoreFor?.(config) ?? s3ClientFor(config, this.#options.s3Client);
      this.#clients.clear();
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
  }

  /** Runs one export cycle now (after a running one). */
  exportNow() {
    return this.exporter.runNow();
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
    const restored = restoreRedactedSecrets(text, this.#text);
    const result = parseConfig(restored, this.#options.env ?? {});
    if (!result.ok) return { ok: false, errors: result.errors, warnings: result.warnings };
    await this.#options.configSource.write(restored);
    this.#text = restored;
    this.#config = result.config;
    return { ok: true, warnings: result.warnings };
  }

  /**
   * "Test connection": a probe write and delete with the current config, or a proposed one
   * (HuJSON text whose redacted secrets are filled from the current config).
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
    if (check.ok) return { ok: true as const, bucket: s3.bucket_name, prefix: s3.prefix };
    return {
      ok: false as const,
      step: check.step,
      error: { code: check.error.code, message: check.error.message, status: check.error.status },
    };
  }
}
