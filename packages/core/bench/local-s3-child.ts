/**
 * The local S3 for one benchmark run, in a process of its own: its CPU is its own, and no run
 * inherits the state (heap, allocator) that the uploads of runs before it left behind.
 * Prints its endpoint; on "stop" from its parent, stops and reports the CPU it used.
 */
import { LOCAL_CREDENTIALS, startLocalS3 } from '@aperture-export/testcontainers';

const s3 = await startLocalS3(LOCAL_CREDENTIALS);
const cpuBefore = process.cpuUsage();
process.send?.({ endpoint: s3.endpoint });
process.on('message', async () => {
  const cpu = process.cpuUsage(cpuBefore);
  await s3.stop();
  process.send?.({ cpuSeconds: (cpu.user + cpu.system) / 1e6 }, () => process.exit(0));
});
