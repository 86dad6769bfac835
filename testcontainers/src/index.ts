export { type Fault, FaultInjector, type FaultRule, S3_FAULTS } from './faults.ts';
export { type LocalS3, type LocalS3Options, startLocalS3 } from './local-s3.ts';
export type { LoggedRequest, S3Front } from './s3-front.ts';
export { type Credentials, SigV4Verifier } from './sigv4-verifier.ts';
export { LOCAL_CREDENTIALS, type S3Target, startS3Target } from './target.ts';
export type { S3TargetConfig } from './types.ts';
