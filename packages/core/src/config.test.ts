import { describe, expect, it } from 'vitest';
import {
  formatIssues,
  parseConfig,
  parseRetentionDuration,
  REDACTED,
  redactConfig,
} from './config.ts';
import { parseHuJson } from './hujson.ts';

const full = `{
  // Export to MinIO every 30 minutes
  "exporters": {
    "s3": {
      "endpoint": "http://127.0.0.1:9000", /* local */
      "bucket_name": "aperture-exports",
      "region": "us-east-1",
      "access_key_id": "env:TEST_KEY_ID",
      "access_secret": "env:TEST_SECRET",
      "prefix": "prod",
      "every": 1800,
      "limit": 2000,
    },
  },
  "database": { "retention": { "duration": "720h", "require_export": true } },
}`;

describe('HuJSON', () => {
  it('allows comments and trailing commas, not inside strings', () => {
    expect(parseHuJson('{"a": "// not a comment", /* x */ "b": [1, 2,], // y\n}')).toEqual({
      a: '// not a comment',
      b: [1, 2],
    });
    expect(parseHuJson('{"url": "http://x/*y*/", "q": "\\" ,}"}')).toEqual({
      url: 'http://x/*y*/',
      q: '" ,}',
    });
  });

  it('reports syntax errors with line and column', () => {
    expect(() => parseHuJson('{\n  "a": 1\n  "b": 2\n}')).toThrowError(/^line 3, column 3: /);
    expect(() => parseHuJson('{ /* open')).toThrowError(/unterminated \/\* comment/);
  });
});

describe('config', () => {
  const env = { TEST_KEY_ID: 'AKIAFROMENV', TEST_SECRET: 'secret-from-env' };

  it('reads a full config, with secrets from the environment', () => {
    const result = parseConfig(full, env);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.exporters.s3).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      bucket_name: 'aperture-exports',
      region: 'us-east-1',
      access_key_id: 'AKIAFROMENV',
      access_secret: 'secret-from-env',
      prefix: 'prod',
      every: 1800,
      limit: 2000,
      max_file_bytes: 64 * 1024 * 1024,
    });
    expect(result.config.database.retention).toEqual({
      duration: '720h',
      durationMs: 720 * 3_600_000,
      require_export: true,
    });
  });

  it('defaults: exporter off, every 3600 s, limit 1000, no prefix, content kept', () => {
    const result = parseConfig('');
    expect(result.ok && result.config.exporters.s3).toMatchObject({
      bucket_name: '',
      every: 3600,
      limit: 1000,
      prefix: '',
    });
    expect(result.ok && result.config.database.retention.durationMs).toBeUndefined();
  });

  it('caps limit at 10000 with a warning', () => {
    const result = parseConfig('{"exporters": {"s3": {"limit": 50000}}}');
    expect(result.ok && result.config.exporters.s3.limit).toBe(10_000);
    expect(result.warnings).toEqual([
      { path: 'exporters.s3.limit', message: '50000 is above 10000; using 10000' },
    ]);
  });

  it('names the path and the rule of every error, unknown keys included', () => {
    const result = parseConfig(
      `{"exporters": {"s3": {"bucket_name": "b", "prefix": "prod/", "every": 0.5, "limit": -1, "bucket": "typo",
        "endpoint": "ftp://x", "access_secret": "env:MISSING"}},
        "database": {"retention": {"duration": "30m", "require_export": "yes"}}, "providers": {}}`,
    );
    expect(result.ok).toBe(false);
    expect(
      formatIssues(result.ok ? [] : result.errors)
        .split('\n')
        .sort(),
    ).toEqual(
      [
        'providers: unknown key',
        'exporters.s3.bucket: unknown key',
        'exporters.s3.access_secret: environment variable MISSING is not set',
        'exporters.s3.every: must be a whole number of at least 1',
        'exporters.s3.limit: must be a whole number of at least 1',
        'exporters.s3.endpoint: must be an http:// or https:// URL',
        'exporters.s3.prefix: must not end with "/"',
        'exporters.s3.region: is required when bucket_name is set',
        'exporters.s3.access_key_id: is required when bucket_name is set',
        'database.retention.duration: must be "0" or a duration such as "720h" or "30d"',
        'database.retention.require_export: must be true or false',
      ].sort(),
    );
  });

  it('reports a syntax error as one error', () => {
    const result = parseConfig('{"exporters": }');
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors[0]!.message).toMatch(/^line 1, column \d+: /);
  });

  it('accepts retention durations from 1h to 3650d, and "0"', () => {
    expect(parseRetentionDuration('0')).toEqual({ ms: 0 });
    expect(parseRetentionDuration('1h')).toEqual({ ms: 3_600_000 });
    expect(parseRetentionDuration('30d')).toEqual({ ms: 30 * 86_400_000 });
    expect(parseRetentionDuration('1d12h')).toEqual({ ms: 36 * 3_600_000 });
    expect(parseRetentionDuration('3650d')).toEqual({ ms: 3650 * 86_400_000 });
    expect(parseRetentionDuration('3651d')).toEqual({
      error: 'must be between 1h and 3650d, or "0"',
    });
    expect(parseRetentionDuration('0h')).toEqual({ error: 'must be between 1h and 3650d, or "0"' });
    expect('error' in parseRetentionDuration('1.5h')).toBe(true);
  });

  it('redacts secrets from what it shows', () => {
    const result = parseConfig(full, env);
    const shown = JSON.stringify(result.ok && redactConfig(result.config));
    expect(shown).not.toContain('secret-from-env');
    expect(shown).not.toContain('AKIAFROMENV');
    expect(shown).toContain(REDACTED);
  });
});
