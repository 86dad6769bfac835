/** A Worker's export limits. Apart from index.ts: workerd takes each export of the entry for a handler. */

/** The largest file (CBOR bytes) a Worker writes: it holds the file and its frame in 128 MB. */
export const WORKER_MAX_FILE_BYTES = 16 * 1024 * 1024;
/** Files per invocation unless APERTURE_FILES_PER_INVOCATION says otherwise. */
export const DEFAULT_FILES_PER_INVOCATION = 4;
/**
 * How long the export lease lasts unless renewed (after each file), unless
 * APERTURE_EXPORT_LEASE_SECONDS says otherwise: an aborted invocation's runs out by then.
 */
export const DEFAULT_EXPORT_LEASE_SECONDS = 60;
