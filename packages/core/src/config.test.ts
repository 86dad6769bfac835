import { describe, expect, it } from 'vitest';
import {
  DEFAULT_CONFIG,
  formatIssues,
  parseConfig,
  parseRetentionDuration,
  REDACTED,
  redactConfig,
  redactConfigText,
  restoreRedactedSecrets,
} from './config.ts';
import { parseHuJson, setHuJsonValue } from './hujson.ts';

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
    expect(() => parseHuJson('{"a": "open')).toThrowError(/^line 1, column 7: unterminated string/);
    expect(() => parseHuJson('{} {}')).toThrowError(/after the end of the value/);
    expect(() => parseHuJson('  ')).toThrowError(/expected a value/);
  });

  it('refuses a duplicate key at its second occurrence, at any depth', () => {
    expect(() => parseHuJson('{"a": 1,\n "a": 2}')).toThrowError(
      'line 2, column 2: duplicate key "a"',
    );
    expect(() => parseHuJson('{"x": [{"b": 1, "b": 1}]}')).toThrowError(/duplicate key "b"/);
    expect(parseHuJson('{"a": {"b": 1}, "b": {"a": 2}}')).toEqual({ a: { b: 1 }, b: { a: 2 } });
  });

  it('reads "__proto__" as a plain key', () => {
    const value = parseHuJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>;
    expect(Object.keys(value)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((value as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('edits one value and keeps comments and layout', () => {
    const text = '{\n  // the bucket\n  "s3": { "bucket_name": "a", /* keep */ },\n}\n';
    expect(setHuJsonValue(text, ['s3', 'bucket_name'], 'b')).toBe(
      '{\n  // the bucket\n  "s3": { "bucket_name": "b", /* keep */ },\n}\n',
    );
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
        "database": {"retention": {"duration": "30m", "require_export": "yes"}}, "provider": {}}`,
    );
    expect(result.ok).toBe(false);
    expect(
      formatIssues(result.ok ? [] : result.errors)
        .split('\n')
        .sort(),
    ).toEqual(
      [
        'provider: unknown key',
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

  it('refuses up front what could never work: a timer past 24.8 days, files past 1 GiB, unaddressable prefixes', () => {
    const errors = (s3: object) => {
      const result = parseConfig(JSON.stringify({ exporters: { s3 } }));
      return result.ok ? [] : result.errors.map((e) => `${e.path}: ${e.message}`);
    };
    expect(errors({ every: 2_147_483 })).toEqual([]);
    expect(errors({ every: 2_147_484 })).toEqual([
      'exporters.s3.every: must be at most 2147483 (24.8 days, the longest a timer waits)',
    ]);
    expect(errors({ max_file_bytes: 1024 ** 3 })).toEqual([]);
    expect(errors({ max_file_bytes: 20 * 1024 ** 3 })).toEqual([
      'exporters.s3.max_file_bytes: must be at most 1073741824 (1 GiB: a file is held in memory and sent in one PUT)',
    ]);
    for (const prefix of ['.', '..', 'a/./b', 'prod/..']) {
      expect(errors({ prefix })).toEqual([
        'exporters.s3.prefix: must not have "." or ".." segments: URLs resolve them away',
      ]);
    }
    expect(errors({ prefix: 'a//b' })).toEqual([
      'exporters.s3.prefix: must not have empty segments ("//")',
    ]);
    expect(errors({ prefix: 'é'.repeat(489) })).toEqual([]);
    expect(errors({ prefix: 'é'.repeat(490) })).toEqual([
      "exporters.s3.prefix: is 980 bytes: at most 979, so that keys stay within S3's 1,024 bytes",
    ]);
  });

  it('gives each error the line of its field, or of the object missing it', () => {
    const text = [
      '{',
      '  // the exporter',
      '  "exporters": {',
      '    "s3": {',
      '      "bucket_name": "b",',
      '      "prefix": "../x",',
      '      "every": 0,',
      '    },',
      '  },',
      '  "providers": { "p": { "models": ["m"] } },',
      '}',
    ].join('\n');
    const result = parseConfig(text);
    expect(result.ok).toBe(false);
    const lines = Object.fromEntries(
      (result.ok ? [] : result.errors).map((issue) => [issue.path, issue.line]),
    );
    expect(lines['exporters.s3.prefix']).toBe(6);
    expect(lines['exporters.s3.every']).toBe(7);
    // baseurl is missing: reported where provider "p" is written.
    expect(lines['providers.p.baseurl']).toBe(10);
    expect(parseConfig('{\n\n  "exporters": }')).toMatchObject({
      ok: false,
      errors: [{ path: '', line: 3 }],
    });
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

  it('refuses a config that is not an object, naming where', () => {
    for (const text of ['[]', '42', '"x"']) {
      expect(parseConfig(text)).toMatchObject({
        ok: false,
        errors: [{ path: '', message: 'must be an object' }],
      });
    }
    expect(parseConfig('{"exporters": {"s3": []}}')).toMatchObject({
      ok: false,
      errors: [{ path: 'exporters.s3', message: 'must be an object' }],
    });
    expect(parseConfig('{"exporters": {"s3": {"region": null}}}')).toMatchObject({
      ok: false,
      errors: [{ path: 'exporters.s3.region', message: 'must be a string' }],
    });
  });

  it('defaults come from the schema: an empty file is DEFAULT_CONFIG', () => {
    expect(parseConfig('// nothing yet\n{}')).toEqual({
      ok: true,
      config: DEFAULT_CONFIG,
      warnings: [],
    });
    expect(DEFAULT_CONFIG.exporters.s3.max_file_bytes).toBe(64 * 1024 * 1024);
  });

  it('redacts secrets from what it shows', () => {
    const result = parseConfig(full, env);
    const shown = JSON.stringify(result.ok && redactConfig(result.config));
    expect(shown).not.toContain('secret-from-env');
    expect(shown).not.toContain('AKIAFROMENV');
    expect(shown).toContain(REDACTED);
  });

  it('redacts written-out secrets in the text, keeping comments and env references', () => {
    const text = `{
  // keys for MinIO
  "exporters": { "s3": { "bucket_name": "b", "region": "r",
    "access_key_id": "env:TEST_KEY_ID", /* from the environment */
    "access_secret": "s3cr3t" } },
}`;
    const shown = redactConfigText(text);
    expect(shown).not.toContain('s3cr3t');
    expect(shown).toContain(`"access_secret": "${REDACTED}"`);
    expect(shown).toContain('"access_key_id": "env:TEST_KEY_ID", /* from the environment */');
    expect(shown).toContain('// keys for MinIO');
    expect(redactConfigText('{ not json')).toBe('{ not json');
  });

  it('restores a secret sent back redacted, and refuses a placeholder with nothing to keep', () => {
    const current =
      '{"exporters": {"s3": {"bucket_name": "b", "region": "r", "access_key_id": "AKIA", "access_secret": "s3cr3t"}}}';
    const edited = redactConfigText(current).replace('"region": "r"', '"region": "r2"');
    const restored = restoreRedactedSecrets(edited, current);
    expect(parseConfig(restored)).toMatchObject({
      ok: true,
      config: {
        exporters: { s3: { region: 'r2', access_key_id: 'AKIA', access_secret: 's3cr3t' } },
      },
    });
    // Nothing to restore from: the placeholder stays, and the check names it.
    const orphan = restoreRedactedSecrets(edited, '{}');
    expect(parseConfig(orphan)).toMatchObject({
      ok: false,
      errors: [
        { path: 'exporters.s3.access_key_id', message: expect.stringContaining(REDACTED) },
        { path: 'exporters.s3.access_secret', message: expect.stringContaining(REDACTED) },
      ],
    });
  });

  const gatewayConfig = `{
  "providers": {
    "openai": {
      "baseurl": "https://api.openai.com/v1",
      "apikey": "env:TEST_OPENAI_KEY",
      "models": ["gpt-4o", "gpt-4o-mini"],
      "compatibility": { "openai_chat": true, "openai_responses": true },
    },
    "anthropic": {
      "baseurl": "https://api.anthropic.com/v1",
      "apikey": "sk-ant-literal", // written out
      "models": ["claude-sonnet-4-5"],
      "authorization": "x-api-key",
      "compatibility": { "anthropic_messages": true },
    },
  },
  "gateway": {
    "tokens": [
      { "token": "team-a-token", "login_name": "alice@example.com", "tags": ["tag:dev"] },
      { "token": "env:TEST_TEAM_B", "login_name": "bob@example.com" },
    ],
    "tailscale_serve_headers": true,
  },
}`;
  const gatewayEnv = { TEST_OPENAI_KEY: 'sk-openai-from-env', TEST_TEAM_B: 'team-b-token' };

  it('reads providers and the gateway’s clients, with defaults', () => {
    const result = parseConfig(gatewayConfig, gatewayEnv);
    expect(result.ok, JSON.stringify(result)).toBe(true);
    if (!result.ok) return;
    expect(result.config.providers.openai).toEqual({
      baseurl: 'https://api.openai.com/v1',
      apikey: 'sk-openai-from-env',
      models: ['gpt-4o', 'gpt-4o-mini'],
      authorization: 'bearer',
      compatibility: { openai_chat: true, openai_responses: true, anthropic_messages: false },
    });
    expect(result.config.gateway).toEqual({
      tokens: [
        { token: 'team-a-token', login_name: 'alice@example.com', node_id: '', tags: ['tag:dev'] },
        { token: 'team-b-token', login_name: 'bob@example.com', node_id: '', tags: [] },
      ],
      tailscale_serve_headers: true,
      tailscale_socket: '',
      allow_anonymous: false,
      raw_body_max_bytes: 1024 * 1024,
      session_idle_minutes: 30,
      upstream_timeout_seconds: 600,
    });
    expect(DEFAULT_CONFIG.providers).toEqual({});
  });

  it('names every problem in providers and the gateway by its path', () => {
    const result = parseConfig(
      JSON.stringify({
        providers: {
          a: {
            baseurl: 'ftp://x',
            models: [],
            authorization: 'basic',
            compatibility: {},
            extra: 1,
          },
          b: { models: ['m', ''], compatibility: { openai_chat: true } },
          c: { baseurl: 'http://c', models: ['m'], compatibility: { openai_chat: true } },
          d: 'nope',
        },
        gateway: {
          tokens: [
            { token: 't', login_name: 'x' },
            { token: 't', login_name: 'y' },
            { login_name: '' },
          ],
          session_idle_minutes: 0,
          upstream_timeout_seconds: 3601,
        },
      }),
    );
    expect(result.ok).toBe(false);
    expect(
      formatIssues(result.ok ? [] : result.errors)
        .split('\n')
        .sort(),
    ).toEqual(
      [
        'providers.a.baseurl: must be an http:// or https:// URL',
        'providers.a.models: must name at least one model',
        'providers.a.authorization: must be "bearer" or "x-api-key"',
        'providers.a.compatibility: must turn on at least one of openai_chat, openai_responses, anthropic_messages',
        'providers.a.extra: unknown key',
        'providers.b.baseurl: is required',
        'providers.b.models.1: must not be empty',
        'providers.d: must be an object',
        'gateway.tokens.2.token: is required',
        'gateway.tokens.2.login_name: must not be empty',
        'gateway.tokens: must not give one token twice',
        'gateway.session_idle_minutes: must be a whole number of at least 1',
        'gateway.upstream_timeout_seconds: must be at most 3600 (an hour)',
      ].sort(),
    );
    // Checks that need the rest valid: one provider per model and API, tokens given once.
    const conflicts = parseConfig(
      JSON.stringify({
        providers: {
          b: { baseurl: 'http://b', models: ['m'], compatibility: { openai_chat: true } },
          c: { baseurl: 'http://c', models: ['m'], compatibility: { openai_chat: true } },
        },
        gateway: {
          tokens: [
            { token: 't', login_name: 'x' },
            { token: 't', login_name: 'y' },
          ],
        },
      }),
    );
    expect(
      formatIssues(conflicts.ok ? [] : conflicts.errors)
        .split('\n')
        .sort(),
    ).toEqual([
      'gateway.tokens: must not give one token twice',
      'providers: model "m" is listed by providers b and c for openai_chat: a request could go to either',
    ]);
  });

  it('redacts provider keys and client tokens, in the config and in its text', () => {
    const result = parseConfig(gatewayConfig, gatewayEnv);
    const shown = JSON.stringify(result.ok && redactConfig(result.config));
    for (const secret of ['sk-openai-from-env', 'sk-ant-literal', 'team-a-token', 'team-b-token'])
      expect(shown).not.toContain(secret);
    const text = redactConfigText(gatewayConfig);
    expect(text).not.toContain('sk-ant-literal');
    expect(text).not.toContain('team-a-token');
    expect(text).toContain('"apikey": "env:TEST_OPENAI_KEY"');
    expect(text).toContain('"apikey": "<redacted>", // written out');
    expect(text).toContain('"token": "env:TEST_TEAM_B"');
    const restored = restoreRedactedSecrets(text, gatewayConfig);
    expect(restored).toBe(gatewayConfig);
  });
});
