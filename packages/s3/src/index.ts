export {
  type ConnectionCheck,
  type ConnectionStep,
  type ListOptions,
  type ListPage,
  type ObjectInfo,
  type PutObjectOptions,
  type RequestOptions,
  S3Client,
  type S3ClientOptions,
  type S3Config,
} from './client.ts';
export { deniedPermission, isRetryable, S3Error } from './errors.ts';
export { bucketUrl, encodeKey, isGoogleCloudStorage, objectUrl } from './providers.ts';
export { DEFAULT_RETRY_POLICY, type RetryEnvironment, type RetryPolicy } from './retry.ts';
