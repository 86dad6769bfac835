/**
 * `pnpm demo`: the whole path in one command. Starts the strict local S3, the server
 * configured for it, sends synthetic LLM traffic, exports, then prints the bucket listing and
 * the first records read back from it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeExportFile, recordToJson } from '@aperture-export/codec';
import { makeRecords } from '@aperture-export/codec/testing';
import { S3Client } from '@aperture-export/s3';
import { LOCAL_CREDENTIALS, startLocalS3 } from '@aperture-export/testcontainers';
import { serveOptions } from './host.ts';
import { startNodeServer } from './node-server.ts';

const scratch = mkdtempSync(join(tmpdir(), 'aperture-demo-'));
const s3 = await startLocalS3(LOCAL_CREDENTIALS);
const configPath = join(scratch, 'aperture.hujson');
writeFileSync(
  configPath,
  JSON.stringify(
    {
      exporters: {
        s3: {
          endpoint: s3.endpoint,
          bucket_name: LOCAL_CREDENTIALS.bucket,
          region: LOCAL_CREDENTIALS.region,
          access_key_id: LOCAL_CREDENTIALS.accessKeyId,
          access_secret: LOCAL_CREDENTIALS.secretAccessKey,
          prefix: 'demo',
          limit: 25,
        },
      },
    },
    null,
    2,
  ),
);
const admin = 'demo-admin-token';
const ingest = 'demo-ingest-token';
process.env.APERTURE_ADMIN_TOKEN = admin;
process.env.APERTURE_INGEST_TOKEN = ingest;
const { host, server } = await startNodeServer(
  serveOptions({ port: '0', data: join(scratch, 'data'), config: configPath }),
);

const call = async (method: string, path: string, token: string, body?: unknown) => {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok)
    throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
};

try {
  // Synthetic traffic: 60 chat requests from four users on four models, as a gateway sends them.
  const traffic = makeRecords(60, Date.now() % 1000).map(({ id: _, ...capture }) =>
    recordToJson({ id: 0, ...capture }),
  );
  for (let i = 0; i < traffic.length; i += 20) {
    const batch = traffic.slice(i, i + 20).map(({ id: _, ...capture }) => capture);
    const { ids } = await call('POST', '/v1/captures', ingest, batch);
    console.log(`ingested captures ${ids[0]}-${ids.at(-1)}`);
  }
  const result = await call('POST', '/api/export/run', admin);
  console.log(
    `\nexport: ${result.files} files, ${result.records} records, ${result.bytes} bytes\n`,
  );

  const bucket = new S3Client({ ...LOCAL_CREDENTIALS, endpoint: s3.endpoint });
  console.log(`s3://${LOCAL_CREDENTIALS.bucket}/demo/`);
  const keys: string[] = [];
  for await (const object of bucket.listAllObjects('demo/')) {
    keys.push(object.key);
    console.log(`  ${object.key}  ${object.size} bytes`);
  }
  const records = await decodeExportFile(await bucket.getObject(keys[0]!));
  console.log(`\nfirst records of ${keys[0]}:`);
  for (const record of records.slice(0, 3)) {
    const { capture: _, ...summary } = recordToJson(record);
    console.log(JSON.stringify(summary));
  }
  const summary = await call('GET', '/api/usage/summary?window=3650d', admin);
  console.log('\nusage by model:');
  for (const row of summary.by_model) {
    console.log(
      `  ${row.key}: ${row.requests} requests, ${row.input_tokens} in / ${row.output_tokens} out tokens, $${row.cost_usd.toFixed(4)}`,
    );
  }
} finally {
  await server.close();
  await host.service.stop();
  await host.close();
  await s3.stop();
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(0);
