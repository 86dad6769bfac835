/**
 * MinIO in a container, through testcontainers, on machines where a Docker runtime answers.
 * Loaded only then: without Docker the harness never imports testcontainers' clients.
 */
import type { S3TargetConfig } from './types.ts';

/** Override with S3_TEST_MINIO_IMAGE. A release with conditional writes (If-None-Match). */
export const MINIO_IMAGE =
  process.env.S3_TEST_MINIO_IMAGE ?? 'minio/minio:RELEASE.2025-04-22T22-12-26Z';

/** Why no Docker runtime can be used, or undefined when one answers. */
export async function dockerUnavailableReason(): Promise<string | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return undefined;
  } catch (error) {
    return (error as Error).message.split('\n')[0];
  }
}

export async function startMinio(
  bucket: string,
): Promise<{ config: S3TargetConfig; stop(): Promise<void> }> {
  const { MinioContainer } = await import('@testcontainers/minio');
  const container = await new MinioContainer(MINIO_IMAGE).start();
  const config: S3TargetConfig = {
    endpoint: `http://${container.getHost()}:${container.getPort()}`,
    bucket,
    region: 'us-east-1',
    accessKeyId: container.getUsername(),
    secretAccessKey: container.getPassword(),
  };
  return { config, stop: async () => void (await container.stop()) };
}
