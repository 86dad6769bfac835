/**
 * `pnpm demo:gateway`: the gateway in front of two providers, by config alone. Starts a local
 * provider that speaks OpenAI's and Anthropic's APIs (the tests' fake one), the strict local
 * S3, and the server configured for both; sends requests with the official OpenAI and
 * Anthropic SDKs, streamed and not, with tool calls; exports; prints the records read back
 * from the bucket.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { decodeExportFile } from '@aperture-export/codec';
import { FAKE_KEYS, startFakeProvider } from '@aperture-export/gateway/testing';
import { S3Client } from '@aperture-export/s3';
import { LOCAL_CREDENTIALS, startLocalS3 } from '@aperture-export/testcontainers';
import OpenAI from 'openai';
import { serveOptions } from './host.ts';
import { startNodeServer } from './node-server.ts';

const scratch = mkdtempSync(join(tmpdir(), 'aperture-gateway-demo-'));
const [provider, s3] = await Promise.all([startFakeProvider(), startLocalS3(LOCAL_CREDENTIALS)]);
const configPath = join(scratch, 'aperture.hujson');
// The config a user writes: two providers, one client token, and the bucket.
const config = `{
  "providers": {
    "openai": {
      "baseurl": "${provider.baseUrl}",
      "apikey": "${FAKE_KEYS.openai}",
      "models": ["gpt-4o", "gpt-4o-tools"],
      "compatibility": { "openai_chat": true, "openai_responses": true },
    },
    "anthropic": {
      "baseurl": "${provider.baseUrl}",
      "apikey": "${FAKE_KEYS.anthropic}",
      "models": ["claude-sonnet-4-5", "claude-sonnet-4-5-tools"],
      "authorization": "x-api-key",
      "compatibility": { "anthropic_messages": true },
    },
  },
  "gateway": {
    "tokens": [{ "token": "demo-team-token", "login_name": "alice@example.com" }],
  },
  "exporters": {
    "s3": {
      "endpoint": "${s3.endpoint}",
      "bucket_name": "${LOCAL_CREDENTIALS.bucket}",
      "region": "${LOCAL_CREDENTIALS.region}",
      "access_key_id": "${LOCAL_CREDENTIALS.accessKeyId}",
      "access_secret": "${LOCAL_CREDENTIALS.secretAccessKey}",
      "prefix": "gateway-demo",
    },
  },
}
`;
writeFileSync(configPath, config);
console.log(`config (${configPath}):\n${config}`);
process.env.APERTURE_ADMIN_TOKEN = 'demo-admin-token';
process.env.APERTURE_INGEST_TOKEN = 'demo-ingest-token';
const { host, server } = await startNodeServer(
  serveOptions({ port: '0', data: join(scratch, 'data'), config: configPath }),
);

try {
  // Clients point their SDKs at the gateway, with the token they were given.
  const openai = new OpenAI({ apiKey: 'demo-team-token', baseURL: `${server.url}/v1` });
  const anthropic = new Anthropic({ apiKey: 'demo-team-token', baseURL: server.url });

  const chat = await openai.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'How is the weather?' }],
  });
  console.log(`\nOpenAI chat: ${chat.choices[0]!.message.content}`);

  let streamed = '';
  const stream = await openai.chat.completions.create({
    model: 'gpt-4o',
    messages: [{ role: 'user', content: 'And tomorrow?' }],
    stream: true,
  });
  for await (const chunk of stream) streamed += chunk.choices[0]?.delta.content ?? '';
  console.log(`OpenAI chat, streamed: ${streamed}`);

  const response = await openai.responses.create({
    model: 'gpt-4o-tools',
    input: 'Weather and time?',
  });
  console.log(`OpenAI responses: ${response.output.map((item) => item.type).join(', ')}`);

  const message = await anthropic.messages
    .stream({
      model: 'claude-sonnet-4-5-tools',
      max_tokens: 256,
      messages: [{ role: 'user', content: 'Weather and time in Lisbon?' }],
    })
    .finalMessage();
  console.log(`Anthropic, streamed: ${message.content.map((block) => block.type).join(', ')}`);

  const run = await host.service.exportNow();
  console.log(`\nexport: ${run.files} file(s), ${run.records} records\n`);
  const bucket = new S3Client({ ...LOCAL_CREDENTIALS, endpoint: s3.endpoint });
  for await (const object of bucket.listAllObjects('gateway-demo/')) {
    console.log(`s3://${LOCAL_CREDENTIALS.bucket}/${object.key}`);
    for (const record of await decodeExportFile(await bucket.getObject(object.key))) {
      const tools = record.capture?.tool_uses.map((tool) => tool.name).join(', ') || 'none';
      const cost = record.estimated_cost
        ? `$${record.estimated_cost.total_usd.toFixed(6)}`
        : 'unknown';
      console.log(
        `  #${record.id} ${record.identity.login_name} ${record.api_type} ${record.model} ${record.status_code}: ` +
          `${record.usage.input_tokens} in (${record.usage.cached_tokens} cached) / ${record.usage.output_tokens} out, ` +
          `cost ${cost}, tools ${tools}, session ${record.session_id.slice(0, 8)}`,
      );
    }
  }
} finally {
  await server.close();
  await host.service.stop();
  await host.close();
  await Promise.all([s3.stop(), provider.stop()]);
  rmSync(scratch, { recursive: true, force: true });
}
process.exit(0);
