export { base64ToBytes, bytesToBase64 } from './base64.ts';
export {
  CborSequenceWriter,
  decodeRecords,
  encodeRecord,
  encodeRecords,
} from './cbor-seq.ts';
export {
  compressSequence,
  DEFAULT_MAX_DECODED_BYTES,
  type DecodeOptions,
  decodeExportFile,
  decompressFile,
  EXPORT_ZSTD_LEVEL,
  encodeExportFile,
  type ZstdOptions,
} from './export-file.ts';
export {
  captureFromJson,
  type ParsedCapture,
  type ParsedRecord,
  recordFromJson,
  recordToJson,
} from './json-mapping.ts';
export {
  EXPORT_KEY_EXTENSION,
  EXPORT_KEY_STEM,
  exportObjectKey,
  parseExportObjectKey,
  prefixProblem,
} from './object-key.ts';
export {
  type Capture,
  type CapturedRecord,
  type CapturedRequest,
  type CapturedResponse,
  type EstimatedCost,
  EXPORT_RECORD_VERSION,
  type ExportRecord,
  ExportRecordError,
  type HeaderMap,
  type Identity,
  type JsonValue,
  type RecordIssue,
  type ToolUse,
  type Usage,
  validateExportRecord,
} from './record.ts';
export {
  type CompressionThread,
  createThreadedZstd,
  DEFAULT_ZSTD_THREADS,
  type LoadZstdOptions,
  loadZstd,
  type SpawnThread,
  splitFrames,
  type ThreadedZstd,
  type ThreadedZstdOptions,
  withContentSize,
  type ZstdEngine,
  ZstdFormatError,
  type ZstdFrame,
  type ZstdPreference,
  ZstdStreamError,
} from './zstd/index.ts';
