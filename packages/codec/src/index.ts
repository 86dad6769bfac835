/**
 * The codec's public API: what hosts, other packages and readers of export files use. Record
 * types and validation; export files and the CBOR sequences inside them; the JSON mapping;
 * object keys; zstd engines. Everything else is internal: the package's own tests import it
 * from its module.
 */

export { base64ToBytes, bytesToBase64 } from './base64.ts';
export { decodeRecords, encodeRecord, encodeRecords } from './cbor-seq.ts';
export {
  compressSequence,
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
export { exportObjectKey, parseExportObjectKey, prefixProblem } from './object-key.ts';
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
  MAX_JSON_DEPTH,
  type RecordIssue,
  type ToolUse,
  type Usage,
  validateExportRecord,
} from './record.ts';
export {
  DEFAULT_ZSTD_THREADS,
  type LoadZstdOptions,
  loadZstd,
  type ZstdEngine,
  ZstdFormatError,
  type ZstdPreference,
  ZstdStreamError,
} from './zstd/index.ts';
