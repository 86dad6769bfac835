/**
 * The `aperture` command line (`pnpm aperture <command>` from the repository root).
 * A wrong input is one line on stderr and a non-zero exit; output meant for tools is JSON or
 * NDJSON on stdout.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { captureFromJson, decodeExportFile, recordToJson } from '@aperture-export/codec';
import {
  type ConfigIssue,
  type ExportClaim,
  exporterEnabled,
  formatIssues,
  type NewCapture,
  parseConfig,
  purgeOnce,
} from '@aperture-export/core';
import { type Host, openHost, SERVE_ARGS, serveOptions, UsageError, zstdFromEnv } from './host.ts';
import { NODE_HOST, startNodeServer } from './node-server.ts';
import { s3ClientFor } from './service.ts';

const USAGE = `usage: aperture <command> [options]

commands:
  serve [--port 8080] [--host 127.0.0.1]   run the server (ingest, API, scheduled export);
        [--stop-timeout 10]                on SIGTERM, seconds an export cycle may finish in
  export --once                            export everything pending now, then exit
  export --test                            check the bucket: every request the exporter makes
  claims [release <claim-id>]              list the files claimed and not yet exported; release one
  read <file | s3://bucket/key | ->        print an export file's records as NDJSON
  ingest <file.ndjson | ->                 store captures (JSON mapping, one per line, no id)
  status                                   exporter status and store counts, as JSON
  purge --once                             apply the retention policy now, then exit
  config check <file>                      check a config file; warnings on stderr

options:
  --config <file>   config file (default ./aperture.hujson)
  --data <dir>      data directory: SQLite store and tokens (default ./data)`;

function fail(message: string, code = 1): never {
  process.stderr.write(`aperture: ${message}\n`);
  process.exit(code);
}

async function withHost<T>(
  flags: { config?: string; data?: string },
  fn: (host: Host) => Promise<T>,
): Promise<T> {
  const host = await openHost({
    dataDir: flags.data,
    configPath: flags.config,
    ...NODE_HOST,
  });
  try {
    return await fn(host);
  } finally {
    await host.service.stop();
    await host.close();
  }
}

function readInput(source: string): Buffer {
  try {
    return readFileSync(source === '-' ? 0 : source);
  } catch (error) {
    throw new Error(
      `cannot read ${source === '-' ? 'standard input' : source}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
}

async function readExportFile(source: string, flags: { config?: string }): Promise<Uint8Array> {
  const s3Url = /^s3:\/\/([^/]+)\/(.+)$/.exec(source);
  if (!s3Url) return new Uint8Array(readInput(source));
  // The bucket from the URL, everything else (endpoint, region, keys) from the config.
  const text = (() => {
    try {
      return readFileSync(flags.config ?? './aperture.hujson', 'utf8');
    } catch {
      return '';
    }
  })();
  const result = parseConfig(text, process.env);
  if (!result.ok) throw new Error(`invalid config: ${formatIssues(result.errors)}`);
  const s3 = { ...result.config.exporters.s3, bucket_name: s3Url[1]! };
  if (!s3.region || !s3.access_key_id || !s3.access_secret) {
    throw new Error('reading from s3:// needs exporters.s3 region and keys in the config');
  }
  return s3ClientFor(s3).getObject(s3Url[2]!);
}

/** Why a claim is still there after a run: its error, or the exporter whose lease it is under. */
function describeClaim(claim: ExportClaim): string {
  const records = `${claim.recordCount} records (claim ${claim.claimId})`;
  if (claim.lastError)
    return `${records} wait for ${claim.bucket || 'the bucket'}/${claim.objectKey}: ${claim.lastError.message}`;
  return `${records} are being exported by another process (exporter ${claim.owner}, lease until ${new Date(claim.leaseUntil).toISOString()})`;
}

function describeFailedCheck(check: {
  step?: string;
  permission?: string;
  error?: { message: string };
  errors?: ConfigIssue[];
}): string {
  if (check.errors) return formatIssues(check.errors);
  return `${check.step}: ${check.error?.message}${check.permission ? ` (needs ${check.permission})` : ''}`;
}

function parseNdjson(text: string): NewCapture[] {
  const captures: NewCapture[] = [];
  const problems: string[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      problems.push(`line ${index + 1}: not valid JSON`);
      return;
    }
    const parsed = captureFromJson(value);
    if (parsed.ok) captures.push(parsed.capture);
    else
      problems.push(
        ...parsed.issues.map(
          (issue) => `line ${index + 1}: ${issue.path || '(record)'}: ${issue.message}`,
        ),
      );
  });
  if (problems.length > 0) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problems)` : '';
    throw new Error(`nothing ingested: ${problems[0]}${more}`);
  }
  return captures;
}

async function main(argv: string[]): Promise<void> {
  const { values: flags, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...SERVE_ARGS,
      once: { type: 'boolean' },
      test: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (flags.help || !command) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const out = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

  switch (command) {
    case 'serve': {
      await startNodeServer(serveOptions(flags));
      return;
    }
    case 'export': {
      if (!flags.once && !flags.test)
        throw new UsageError(
          'export runs with --once or --test (the server exports on its schedule)',
        );
      await withHost(flags, async ({ service }) => {
        if (flags.test) {
          const check = await service.testConnection();
          out(check);
          if (!check.ok) throw new Error(`connection test failed: ${describeFailedCheck(check)}`);
          return;
        }
        if (!exporterEnabled(service.config.exporters.s3))
          throw new Error('no bucket configured (exporters.s3.bucket_name)');
        const [newest] = await service.store.recent({ limit: 1 });
        const result = await service.exportNow();
        out(result);
        if (result.error) throw new Error(`export failed: ${result.error.message}`);
        // What was waiting when the run began and is still claimed: blocked, or another's.
        const left = (await service.claims()).filter((claim) => claim.firstId <= (newest?.id ?? 0));
        if (left.length > 0) throw new Error(`not exported: ${left.map(describeClaim).join('; ')}`);
      });
      return;
    }
    case 'claims': {
      const [sub, claimId] = rest;
      if (sub === undefined) {
        await withHost(flags, async ({ service }) => {
          for (const claim of await service.claims()) out(claim);
        });
        return;
      }
      if (sub !== 'release' || !claimId)
        throw new UsageError('usage: aperture claims [release <claim-id>]');
      await withHost(flags, async ({ service }) => {
        const result = await service.releaseClaim(claimId);
        if (!result) throw new Error(`no claim ${claimId} (aperture claims lists them)`);
        process.stderr.write(`${result.warning}\n`);
        out({ released: claimId, records: result.released.recordCount });
      });
      return;
    }
    case 'read': {
      const [source] = rest;
      if (!source) throw new UsageError('read needs a file, s3://bucket/key or -');
      const records = await decodeExportFile(await readExportFile(source, flags), {
        zstd: await zstdFromEnv(process.env),
      });
      for (const record of records) out(recordToJson(record));
      return;
    }
    case 'ingest': {
      const [source] = rest;
      if (!source) throw new UsageError('ingest needs an NDJSON file or -');
      const captures = parseNdjson(readInput(source).toString('utf8'));
      await withHost(flags, async ({ service }) => {
        const stored = await service.store.append(captures);
        const duplicates = stored.filter((record) => record.duplicate).length;
        out({
          ingested: stored.length - duplicates,
          duplicates,
          ids: stored.map((record) => record.id),
        });
      });
      return;
    }
    case 'status': {
      await withHost(flags, async ({ service }) => {
        out({ export: await service.exportStatus(), store: await service.store.counts() });
      });
      return;
    }
    case 'purge': {
      if (!flags.once)
        throw new UsageError('purge runs with --once (the server purges on its schedule)');
      await withHost(flags, async ({ service }) => {
        out({
          purged: await purgeOnce(service.store, service.config.database.retention, Date.now()),
        });
      });
      return;
    }
    case 'config': {
      const [sub, file] = rest;
      if (sub !== 'check' || !file) throw new UsageError('usage: aperture config check <file>');
      const result = parseConfig(readInput(file).toString('utf8'), process.env);
      if (result.warnings.length > 0)
        process.stderr.write(`${formatIssues(result.warnings, 'warning: ')}\n`);
      if (!result.ok) {
        process.stderr.write(`${formatIssues(result.errors)}\n`);
        process.exit(1);
      }
      process.stdout.write(`${file}: OK\n`);
      return;
    }
    default:
      throw new UsageError(`unknown command "${command}" (aperture --help lists them)`);
  }
}

try {
  await main(process.argv.slice(2));
} catch (error) {
  // parseArgs throws with an ERR_PARSE_ARGS_* code for an unknown or malformed option.
  const parseArgsError = String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
  if (error instanceof UsageError || parseArgsError) fail((error as Error).message, 2);
  const message = error instanceof Error ? error.message : String(error);
  fail(message.split('\n').join('; '));
}
