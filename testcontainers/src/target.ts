/**
 * The S3 server integration tests run against, chosen once per test process:
 *   1. S3_TEST_ENDPOINT (with S3_TEST_ACCESS_KEY_ID, S3_TEST_SECRET_ACCESS_KEY, S3_TEST_BUCKET,
 *      S3_TEST_REGION): that server, e.g. a real bucket;
 *   2. else MinIO in a container, when a Docker runtime answers;
 *   3. else the strict local S3 on 127.0.0.1 (s3rver behind SigV4 checks).
 * S3_TEST_TARGET=local skips Docker detection. Every target gets a fault proxy on demand.
 */
import { S3Client, type S3ClientOptions } from '@aperture-export/s3';
import { startFaultProxy } from './fault-proxy.ts';
import { startLocalS3 } from './local-s3.ts';
import { dockerUnavailableReason, startMinio } from './minio.ts';
import type { S3Front } from './s3-front.ts';
import type { S3TargetConfig } from './types.ts';

export interface S3Target {
  kind: 'external' | 'minio' | 'local';
  /** Which server, and why it was chosen: printed when the target starts. */
  description: string;
  config: S3TargetConfig;
  /** A prefix of this run's own, so runs never see each other's objects. */
  prefix: string;
  client(options?: S3ClientOptions, overrides?: Partial<S3TargetConfig>): S3Client;
  /** A proxy in front of the target that injects faults; stopped with the target. */
  withFaults(): Promise<S3Front>;
  stop(): Promise<void>;
}

export const LOCAL_CREDENTIALS = {
  bucket: 'aperture-test',
  region: 'us-east-1',
  accessKeyId: 'AKIALOCALTEST000001',
  secretAccessKey: 'local-test-secret-do-not-use-elsewhere',
};

function externalConfig(): S3TargetConfig | undefined {
  const endpoint = process.env.S3_TEST_ENDPOINT;
  if (!endpoint) return undefined;
  const required = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`S3_TEST_ENDPOINT is set, so ${name} is required too`);
    return value;
  };
  return {
    endpoint,
    bucket: required('S3_TEST_BUCKET'),
    region: process.env.S3_TEST_REGION ?? 'us-east-1',
    accessKeyId: required('S3_TEST_ACCESS_KEY_ID'),
    secretAccessKey: required('S3_TEST_SECRET_ACCESS_KEY'),
  };
}

export async function startS3Target(): Promise<S3Target> {
  const stops: Array<() => Promise<void>> = [];
  let kind: S3Target['kind'];
  let description: string;
  let config: S3TargetConfig;

  const external = externalConfig();
  const dockerProblem =
    external || process.env.S3_TEST_TARGET === 'local'
      ? 'not checked'
      : await dockerUnavailableReason();
  if (external) {
    kind = 'external';
    config = external;
    description = `external S3 at ${external.endpoint}, bucket ${external.bucket} (S3_TEST_ENDPOINT)`;
  } else if (dockerProblem === undefined) {
    const minio = await startMinio(LOCAL_CREDENTIALS.bucket);
    stops.push(minio.stop);
    kind = 'minio';
    config = minio.config;
    description = `MinIO container at ${config.endpoint}`;
  } else {
    const local = await startLocalS3(LOCAL_CREDENTIALS);
    stops.push(local.stop);
    kind = 'local';
    config = { ...LOCAL_CREDENTIALS, endpoint: local.endpoint };
    description = `strict local S3 at ${local.endpoint} (s3rver behind SigV4 verification); Docker: ${dockerProblem}`;
  }
  const client = (options?: S3ClientOptions, overrides?: Partial<S3TargetConfig>) =>
    new S3Client({ ...config, bucket: config.bucket, ...overrides }, options);
  if (kind === 'minio') await client().createBucket();
  console.info(`S3 test target: ${description}`);

  return {
    kind,
    description,
    config,
    prefix: `test-run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    client,
    async withFaults() {
      const proxy = await startFaultProxy(config);
      stops.push(proxy.stop);
      return proxy;
    },
    async stop() {
      for (const stop of stops.reverse()) await stop();
    },
  };
}
