/**
 * The local S3 for one benchmark run, in a process of its own: its CPU is its own, and no run
 * inherits the state (heap, allocator) that the uploads of runs before it left behind.
 * Sends its endpoint to its parent; on "stop", stops and sends the CPU it used.
 */
import { LOCAL_CREDENTIALS, startLocalS3 } from '@aperture-export/testcontainers';

const started = startLocalS3(LOCAL_CREDENTIALS);
let stopping: Promise<void> | undefined;
const stop = () => {
  stopping ??= started.then((s3) => s3.stop());
  return stopping;
};
// A benchmark that dies without stopping it (even while this starts) must not leave it
// serving, or its objects on disk.
process.on('disconnect', () => {
  void stop().finally(() => process.exit(1));
});
const s3 = await started;
const cpuBefore = process.cpuUsage();
process.on('message', async () => {
  const cpu = process.cpuUsage(cpuBefore);
  await stop();
  process.send?.({ cpuSeconds: (cpu.user + cpu.system) / 1e6 }, () => process.exit(0));
});
if (process.connected) process.send?.({ endpoint: s3.endpoint });
