/**
 * S3 errors, typed and classified. Retryable: the same request may succeed later (5xx,
 * throttling, timeouts, network failures, a concurrent conditional write). Permanent: it will
 * not, until someone changes the configuration or the bucket (credentials, permissions, a
 * missing bucket, a failed precondition).
 */
import { xmlText } from './xml.ts';

/** S3 codes that are worth retrying whatever their HTTP status. */
const RETRYABLE_CODES = new Set([
  'SlowDown',
  'RequestTimeout',
  'InternalError',
  'ServiceUnavailable',
  'ConditionalRequestConflict',
  'OperationAborted',
  'NetworkError',
  'Timeout',
]);

export interface S3ErrorDetails {
  /** HTTP status; 0 when no response arrived (network error, timeout). */
  status: number;
  /** S3's error code (`AccessDenied`, `NoSuchBucket`…), or ours: `NetworkError`, `Timeout`. */
  code: string;
  message: string;
  requestId?: string;
  /** The operation and key, for context: `PutObject prod/ts-aperture-export-1.cbor.zstd`. */
  operation?: string;
}

export class S3Error extends Error {
  readonly status: number;
  readonly code: string;
  readonly requestId: string | undefined;
  readonly operation: string | undefined;
  readonly retryable: boolean;

  constructor(details: S3ErrorDetails, options?: { cause?: unknown }) {
    super(`${details.code}: ${details.message}`, options);
    this.name = 'S3Error';
    this.status = details.status;
    this.code = details.code;
    this.requestId = details.requestId;
    this.operation = details.operation;
    this.retryable = isRetryable(details.status, details.code);
  }
}

export function isRetryable(status: number, code: string): boolean {
  return RETRYABLE_CODES.has(code) || status >= 500 || status === 429;
}

/** Codes for replies without a body (HEAD) or without S3's XML (a proxy's error page). */
function codeForStatus(status: number): string {
  switch (status) {
    case 301:
      return 'PermanentRedirect';
    case 400:
      return 'BadRequest';
    case 403:
      return 'AccessDenied';
    case 404:
      return 'NotFound';
    case 409:
      return 'Conflict';
    case 412:
      return 'PreconditionFailed';
    case 429:
      return 'SlowDown';
    case 503:
      return 'ServiceUnavailable';
    default:
      return status >= 500 ? 'InternalError' : `HTTP${status}`;
  }
}

/** Builds the error for a non-2xx reply from its XML body (S3 REST error responses). */
export async function errorFromResponse(response: Response, operation: string): Promise<S3Error> {
  const body = await response.text().catch(() => '');
  const code = xmlText(body, 'Code') ?? codeForStatus(response.status);
  const message =
    xmlText(body, 'Message') ??
    (response.statusText || `HTTP ${response.status} without an error body`);
  const requestId =
    xmlText(body, 'RequestId') ?? response.headers.get('x-amz-request-id') ?? undefined;
  return new S3Error({ status: response.status, code, message, requestId, operation });
}

/** Wraps a failure to get any reply at all: timeouts and network errors are retryable. */
export function errorFromFailure(error: unknown, operation: string, timedOut: boolean): S3Error {
  if (error instanceof S3Error) return error;
  const reason = error instanceof Error ? error.message : String(error);
  return timedOut
    ? new S3Error(
        { status: 0, code: 'Timeout', message: `no reply in time (${reason})`, operation },
        { cause: error },
      )
    : new S3Error(
        { status: 0, code: 'NetworkError', message: reason, operation },
        { cause: error },
      );
}

/** The IAM action each operation needs (HeadObject is allowed by s3:GetObject). */
const PERMISSIONS: Record<string, string> = {
  PutObject: 's3:PutObject',
  GetObject: 's3:GetObject',
  HeadObject: 's3:GetObject',
  DeleteObject: 's3:DeleteObject',
  ListObjectsV2: 's3:ListBucket',
  CreateBucket: 's3:CreateBucket',
};

/**
 * The permission a request that S3 denied needed, such as `s3:GetObject`. Only for
 * AccessDenied: other 403s (a wrong signature or key, a skewed clock) are not about permissions.
 */
export function deniedPermission(error: S3Error): string | undefined {
  if (error.status !== 403 || error.code !== 'AccessDenied') return undefined;
  return PERMISSIONS[error.operation?.split(' ')[0] ?? ''];
}
