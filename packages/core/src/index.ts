export {
  type AppConfig,
  type ConfigIssue,
  type ConfigResult,
  checkConfig,
  DEFAULT_CONFIG,
  DEFAULT_MAX_FILE_BYTES,
  exporterEnabled,
  formatIssues,
  LIMIT_CAP,
  parseConfig,
  parseRetentionDuration,
  REDACTED,
  type RetentionConfig,
  redactConfig,
  redactConfigText,
  restoreRedactedSecrets,
  type S3ExporterConfig,
} from './config.ts';
export {
  type BlockedClaim,
  CLAIM_METADATA,
  type CycleResult,
  type ExportError,
  Exporter,
  type ExporterOptions,
  type ExportStatus,
  type ObjectStore,
  type StopOptions,
} from './exporter.ts';
export { GroupCommit, type GroupCommitOptions } from './group-commit.ts';
export { HuJsonError, parseHuJson, setHuJsonValue } from './hujson.ts';
export { purgeOnce, RetentionWorker, type RetentionWorkerOptions } from './retention.ts';
export { type Clock, type Logger, type LogLevel, systemClock } from './runtime.ts';
export { addUsageTotals, emptyUsageTotals } from './store/common.ts';
export { MemoryStore } from './store/memory.ts';
export { type SqliteDriver, SqliteStore, type SqlValue } from './store/sqlite.ts';
export type {
  CaptureStore,
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
} from './store/types.ts';
