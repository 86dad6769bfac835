/**
 * The dashboard's pages, rendered on the server with hono/html (every interpolated value is
 * escaped). Each page works without its script; the scripts (client/) add the charts, the
 * config editor and the buttons that call the API.
 */
import type { ExportRecord, JsonValue } from '@aperture-export/codec';
import type {
  AppConfig,
  ExportClaim,
  ExportedFile,
  ExportStatus,
  StoredRecord,
  UsageTotals,
} from '@aperture-export/core';
import { html, raw } from 'hono/html';
import { CSRF_FIELD } from './session.ts';
import type { ChartData, UsageWindow } from './usage.ts';

type Html = ReturnType<typeof html>;

export const NAV = [
  ['/usage', 'Usage'],
  ['/requests', 'Requests'],
  ['/export', 'Export'],
  ['/settings', 'Settings'],
] as const;

const number = (value: number) => value.toLocaleString('en-US');
/** "1 file", "2 files". */
const counted = (value: number, noun: string) =>
  `${number(value)} ${noun}${value === 1 ? '' : 's'}`;
export const usd = (value: number) =>
  `$${value.toLocaleString('en-US', { minimumFractionDigits: value < 1 && value > 0 ? 4 : 2, maximumFractionDigits: value < 1 ? 4 : 2 })}`;
const when = (ms: number | Date | undefined) =>
  ms === undefined
    ? '—'
    : `${new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, '')} UTC`;

export function bytes(value: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let size = value;
  let unit = 0;
  while (size >= 1024 && unit < units.length - 1) {
    size /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${size.toFixed(1)} ${units[unit]}`;
}

/** JSON inside a <script> element: "<" escaped so that no "</script>" ends it early. */
const scriptJson = (value: unknown) => raw(JSON.stringify(value).replace(/</g, '\\u003c'));

interface LayoutOptions {
  title: string;
  path: string;
  csrfToken: string;
  scripts?: string[];
}

/** Every page's <head>: its title, the stylesheet, and what else it needs. */
const head = (title: string, extra: Html | string = '') => html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${title} · aperture-export</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/dashboard.css">
${extra}
</head>`;

export function layout(options: LayoutOptions, body: Html): Html {
  const scripts = ['dashboard.js', ...(options.scripts ?? [])];
  return html`${head(
    options.title,
    html`<meta name="csrf-token" content="${options.csrfToken}">
${scripts.map((name) => html`<script type="module" src="/assets/${name}"></script>`)}`,
  )}
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  <a class="brand" href="/usage">aperture<span>-export</span></a>
  <nav aria-label="Main">
    ${NAV.map(
      ([href, label]) =>
        html`<a href="${href}"${options.path.startsWith(href) ? raw(' aria-current="page"') : ''}>${label}</a>`,
    )}
  </nav>
  <form method="post" action="/logout" class="signout">
    <input type="hidden" name="${CSRF_FIELD}" value="${options.csrfToken}">
    <button type="submit" class="quiet">Sign out</button>
  </form>
</header>
<main id="main">
<h1>${options.title}</h1>
${body}
</main>
</body>
</html>`;
}

export function loginPage(options: { error?: string; next: string }): Html {
  return html`${head('Sign in')}
<body class="login">
<main id="main" class="card narrow">
  <h1>aperture<span>-export</span></h1>
  <p>Sign in with the admin token. The server prints a one-time sign-in link when it starts;
  the token itself is in <code>data/admin-token</code> (or <code>$APERTURE_ADMIN_TOKEN</code>).</p>
  ${options.error ? html`<p class="alert" role="alert">${options.error}</p>` : ''}
  <form method="post" action="/login">
    <input type="hidden" name="next" value="${options.next}">
    <label for="token">Admin token</label>
    <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
    <button type="submit" class="primary">Sign in</button>
  </form>
</main>
</body>
</html>`;
}

function totalsCards(total: UsageTotals): Html {
  const cards: Array<[string, string, string?]> = [
    ['Requests', number(total.requests)],
    ['Input tokens', number(total.input_tokens)],
    ['Output tokens', number(total.output_tokens)],
    ['Cached tokens', number(total.cached_tokens)],
    ['Reasoning tokens', number(total.reasoning_tokens)],
    [
      'Estimated cost',
      usd(total.cost_usd),
      total.unpriced_requests
        ? `${number(total.unpriced_requests)} requests not priced`
        : undefined,
    ],
  ];
  return html`<dl class="cards">
    ${cards.map(
      ([label, value, note]) =>
        html`<div class="card"><dt>${label}</dt><dd>${value}</dd>${note ? html`<dd class="note">${note}</dd>` : ''}</div>`,
    )}
  </dl>`;
}

function totalsTable(caption: string, keyLabel: string, rows: UsageTotals[]): Html {
  return html`<div class="table-wrap"><table>
    <caption>${caption}</caption>
    <thead><tr><th scope="col">${keyLabel}</th><th scope="col" class="num">Requests</th>
      <th scope="col" class="num">Input</th><th scope="col" class="num">Output</th>
      <th scope="col" class="num">Cached</th><th scope="col" class="num">Reasoning</th>
      <th scope="col" class="num">Cost</th></tr></thead>
    <tbody>
      ${
        rows.length === 0
          ? html`<tr><td colspan="7" class="empty">No requests in this window.</td></tr>`
          : rows.map(
              (row) => html`<tr><th scope="row">${row.key || '(none)'}</th>
          <td class="num">${number(row.requests)}</td><td class="num">${number(row.input_tokens)}</td>
          <td class="num">${number(row.output_tokens)}</td><td class="num">${number(row.cached_tokens)}</td>
          <td class="num">${number(row.reasoning_tokens)}</td>
          <td class="num">${usd(row.cost_usd)}${row.unpriced_requests ? html` <span class="note" title="requests whose model has no known price">+${number(row.unpriced_requests)} unpriced</span>` : ''}</td></tr>`,
            )
      }
    </tbody></table></div>`;
}

export interface UsagePageData {
  window: UsageWindow;
  total: UsageTotals;
  byModel: UsageTotals[];
  byLogin: UsageTotals[];
  chart: ChartData;
  csvHref: string;
  error?: string;
}

export function usagePage(data: UsagePageData): Html {
  const { window } = data;
  const choices = [
    ['24h', 'Last 24 hours'],
    ['7d', 'Last 7 days'],
    ['30d', 'Last 30 days'],
  ] as const;
  return html`
<form class="toolbar" method="get" action="/usage" aria-label="Time window">
  <div class="segmented" role="group" aria-label="Window">
    ${choices.map(
      ([name, label]) =>
        html`<a href="/usage?window=${name}" class="seg"${window.name === name ? raw(' aria-current="true"') : ''}>${label}</a>`,
    )}
  </div>
  <input type="hidden" name="window" value="custom">
  <label for="from">From</label><input id="from" name="from" type="date" value="${window.from}" required>
  <label for="to">To</label><input id="to" name="to" type="date" value="${window.to}" required>
  <button type="submit"${window.name === 'custom' ? raw(' aria-current="true"') : ''}>Show</button>
  <a class="button" href="${data.csvHref}" download>Download CSV</a>
</form>
${data.error ? html`<p class="alert" role="alert">${data.error}</p>` : ''}
<p class="muted">${when(window.sinceMs)} to ${when(window.untilMs)}, in buckets of ${bucketLabel(window.bucketMs)}.</p>
${totalsCards(data.total)}
<script type="application/json" id="chart-data">${scriptJson(data.chart)}</script>
<section class="charts">
  <figure class="chart card"><figcaption>Tokens</figcaption><div class="plot" data-chart="tokens" role="img" aria-label="Tokens over time, by kind"></div></figure>
  <figure class="chart card"><figcaption>Estimated cost by model</figcaption><div class="plot" data-chart="costByModel" role="img" aria-label="Estimated cost over time, by model"></div></figure>
  <figure class="chart card"><figcaption>Estimated cost by login</figcaption><div class="plot" data-chart="costByLogin" role="img" aria-label="Estimated cost over time, by login"></div></figure>
</section>
${totalsTable('By model', 'Model', data.byModel)}
${totalsTable('By login', 'Login', data.byLogin)}`;
}

function bucketLabel(ms: number): string {
  const hours = ms / 3_600_000;
  return hours < 24 ? `${hours} h` : `${hours / 24} d`;
}

export interface RequestFilters {
  model: string;
  login: string;
  status: string;
  api_type: string;
  from: string;
  to: string;
}

export const API_TYPES = ['oai_completions', 'oai_responses', 'ant_messages'] as const;

function select(
  id: string,
  label: string,
  value: string,
  options: ReadonlyArray<readonly [string, string]>,
): Html {
  return html`<div class="field"><label for="${id}">${label}</label>
    <select id="${id}" name="${id}">
      ${options.map(
        ([optionValue, text]) =>
          html`<option value="${optionValue}"${optionValue === value ? raw(' selected') : ''}>${text}</option>`,
      )}
    </select></div>`;
}

export function requestsPage(data: {
  filters: RequestFilters;
  models: string[];
  logins: string[];
  records: ExportRecord[];
  olderHref?: string;
  newestHref?: string;
  error?: string;
}): Html {
  const { filters } = data;
  const keep = (value: string, known: string[]) =>
    value && !known.includes(value) ? [...known, value] : known;
  return html`
<form class="filters" method="get" action="/requests" aria-label="Filters">
  ${select('model', 'Model', filters.model, [
    ['', 'Any'],
    ...keep(filters.model, data.models).map((m) => [m, m] as const),
  ])}
  ${select('login', 'Login', filters.login, [
    ['', 'Any'],
    ...keep(filters.login, data.logins).map((l) => [l, l] as const),
  ])}
  ${select('status', 'Status', filters.status, [
    ['', 'Any'],
    ['2', '2xx'],
    ['4', '4xx'],
    ['5', '5xx'],
  ])}
  ${select('api_type', 'API', filters.api_type, [
    ['', 'Any'],
    ...API_TYPES.map((t) => [t, t] as const),
  ])}
  <div class="field"><label for="from">From</label><input id="from" name="from" type="datetime-local" value="${filters.from}"></div>
  <div class="field"><label for="to">To</label><input id="to" name="to" type="datetime-local" value="${filters.to}"></div>
  <div class="field actions"><button type="submit" class="primary">Filter</button> <a href="/requests">Clear</a></div>
</form>
<p class="muted">Times are UTC.</p>
${data.error ? html`<p class="alert" role="alert">${data.error}</p>` : ''}
<div class="table-wrap"><table class="requests">
  <caption class="visually-hidden">Requests, newest first</caption>
  <thead><tr><th scope="col">Time (UTC)</th><th scope="col">Login</th><th scope="col">Model</th>
    <th scope="col">API</th><th scope="col" class="num">Status</th><th scope="col" class="num">Input</th>
    <th scope="col" class="num">Output</th><th scope="col" class="num">Cost</th><th scope="col" class="num">Duration</th></tr></thead>
  <tbody>
  ${
    data.records.length === 0
      ? html`<tr><td colspan="9" class="empty">No requests match.</td></tr>`
      : data.records.map(
          (record) => html`<tr>
      <td><a href="/requests/${record.id}">${when(record.timestamp)}</a></td>
      <td>${record.identity.login_name}</td><td>${record.model}</td><td>${record.api_type}</td>
      <td class="num"><span class="status s${Math.floor(record.status_code / 100)}">${record.status_code}</span></td>
      <td class="num">${number(record.usage.input_tokens)}</td><td class="num">${number(record.usage.output_tokens)}</td>
      <td class="num">${record.estimated_cost ? usd(record.estimated_cost.total_usd) : '—'}</td>
      <td class="num">${number(record.duration_ms)} ms</td></tr>`,
        )
  }
  </tbody></table></div>
<nav class="pager" aria-label="Pages">
  ${data.newestHref ? html`<a href="${data.newestHref}">« Newest</a>` : ''}
  ${data.olderHref ? html`<a href="${data.olderHref}" rel="next">Older »</a>` : ''}
</nav>`;
}

/** A body as it is shown: pretty JSON, or what there is to say about it. */
function bodyBlock(
  label: string,
  body: JsonValue,
  rawBody: Uint8Array | undefined,
  downloadHref: string,
): Html {
  return html`<section class="body"><h3>${label}</h3>
    ${
      body === null
        ? html`<p class="muted">No JSON body.</p>`
        : html`<pre class="json" tabindex="0">${JSON.stringify(body, null, 2)}</pre>`
    }
    ${
      rawBody
        ? html`<p>Raw body as sent: ${bytes(rawBody.byteLength)} <a href="${downloadHref}" download>Download</a></p>`
        : ''
    }
  </section>`;
}

function headersTable(caption: string, headers: Record<string, string>): Html {
  const entries = Object.entries(headers);
  return html`<div class="table-wrap"><table class="headers"><caption>${caption}</caption>
    <tbody>${
      entries.length === 0
        ? html`<tr><td class="empty">None.</td></tr>`
        : entries.map(
            ([name, value]) =>
              html`<tr><th scope="row">${name}</th><td><code>${value}</code></td></tr>`,
          )
    }</tbody></table></div>`;
}

export function requestPage(stored: StoredRecord): Html {
  const { record } = stored;
  const capture = record.capture;
  const facts: Array<[string, Html | string]> = [
    ['Time', when(record.timestamp)],
    ['Login', record.identity.login_name],
    ['Node', record.identity.node_id || '—'],
    ['Tags', record.identity.tags.join(', ') || '—'],
    ['Model', record.model],
    ['API', `${record.api_type} ${record.path}`],
    ['Status', String(record.status_code)],
    ['Duration', `${number(record.duration_ms)} ms`],
    [
      'Tokens',
      `${number(record.usage.input_tokens)} in (${number(record.usage.cached_tokens)} cached), ${number(record.usage.output_tokens)} out (${number(record.usage.reasoning_tokens)} reasoning)`,
    ],
    ['Estimated cost', record.estimated_cost ? usd(record.estimated_cost.total_usd) : 'unknown'],
    ['Session', record.session_id || '—'],
    ['Capture id', record.capture_id || '—'],
    [
      'Export',
      stored.exportKey
        ? html`in <code>${stored.exportKey}</code>, ${when(stored.exportedAtMs)}`
        : 'waiting for the next export',
    ],
  ];
  const base = `/requests/${record.id}/raw`;
  return html`
<p><a href="/requests">« Requests</a></p>
<dl class="facts">${facts.map(([term, value]) => html`<dt>${term}</dt><dd>${value}</dd>`)}</dl>
${
  !capture
    ? html`<p class="notice" role="status">${
        stored.contentPurged
          ? 'Its content (request, response and tool uses) was removed by the retention policy; the record above is what is kept.'
          : 'This record has no captured content.'
      }</p>`
    : html`
<h2>Tool uses</h2>
${
  capture.tool_uses.length === 0
    ? html`<p class="muted">None.</p>`
    : html`<ol class="tools">${capture.tool_uses.map(
        (tool) =>
          html`<li><strong>${tool.name}</strong> <code>${tool.id}</code><pre class="json" tabindex="0">${JSON.stringify(tool.input, null, 2)}</pre></li>`,
      )}</ol>`
}
<h2>Request</h2>
${headersTable(`${capture.request.method} headers`, capture.request.headers)}
${bodyBlock('Request body', capture.request.body, capture.request.raw_body, `${base}/request`)}
<h2>Response</h2>
${headersTable('Response headers', capture.response.headers)}
${bodyBlock('Response body', capture.response.body, capture.response.raw_body, `${base}/response`)}`
}`;
}

export function exportPage(data: {
  status: ExportStatus;
  config: AppConfig;
  claims: ExportClaim[];
  files: ExportedFile[];
}): Html {
  const { status } = data;
  const s3 = data.config.exporters.s3;
  const where = `${s3.endpoint || 'AWS S3'} · bucket ${s3.bucket_name}${s3.prefix ? ` · prefix ${s3.prefix}` : ''}`;
  return html`
<section class="card status-card" aria-labelledby="state">
  <h2 id="state">${
    status.enabled
      ? html`<span class="dot on" aria-hidden="true"></span> Exporting to ${where}`
      : html`<span class="dot" aria-hidden="true"></span> Not exporting: no bucket is configured`
  }</h2>
  ${status.enabled ? html`<p class="muted">Every ${number(s3.every)} s, at most ${number(s3.limit)} records per file.</p>` : html`<p>Configure a bucket in <a href="/settings">Settings</a>.</p>`}
  <dl class="facts">
    <dt>Last success</dt><dd data-field="last-success">${when(status.lastSuccessAt)}</dd>
    <dt>Last attempt</dt><dd>${when(status.lastAttemptAt)}</dd>
    <dt>Next run</dt><dd>${status.running ? 'running now' : when(status.nextRunAt)}</dd>
    <dt>Waiting</dt><dd data-field="pending">${counted(status.pendingRecords, 'record')}, ${bytes(status.pendingBytes)}</dd>
    <dt>Written</dt><dd data-field="written">${counted(status.exportedFiles, 'file')}, ${counted(status.exportedRecords, 'record')}, ${bytes(status.exportedBytes)}</dd>
  </dl>
  ${
    status.lastError
      ? html`<div class="alert" role="alert"><strong>Last error</strong> (${when(status.lastError.at)}):
        <code>${status.lastError.code}</code> ${status.lastError.message}${
          status.lastError.permission
            ? html` (needs <code>${status.lastError.permission}</code>)`
            : ''
        }</div>`
      : ''
  }
  <p><button type="button" class="primary" data-action="export-now"${status.enabled ? '' : raw(' disabled')}>Export now</button>
  <span class="result" data-result="export-now" role="status" aria-live="polite"></span></p>
</section>
${
  data.claims.length
    ? html`<h2>Files in flight</h2>
<div class="table-wrap"><table><thead><tr><th scope="col">Key</th><th scope="col">Bucket</th>
  <th scope="col" class="num">Records</th><th scope="col">Last error</th><th scope="col"></th></tr></thead><tbody>
  ${data.claims.map(
    (
      claim,
    ) => html`<tr><td><code>${claim.objectKey}</code></td><td>${claim.bucket || s3.bucket_name}</td>
    <td class="num">${number(claim.recordCount)}</td>
    <td>${claim.lastError ? html`<code>${claim.lastError.code}</code> ${claim.lastError.message}` : '—'}</td>
    <td>${claim.lastError ? html`<button type="button" data-action="release-claim" data-claim="${claim.claimId}">Release</button>` : ''}</td></tr>`,
  )}
</tbody></table></div>`
    : ''
}
<h2>Recent files</h2>
<div class="table-wrap"><table class="files"><thead><tr><th scope="col">Key</th><th scope="col">Bucket</th>
  <th scope="col" class="num">Records</th><th scope="col" class="num">Size</th><th scope="col">Written (UTC)</th></tr></thead><tbody>
  ${
    data.files.length === 0
      ? html`<tr><td colspan="5" class="empty">No files written yet.</td></tr>`
      : data.files.map(
          (
            file,
          ) => html`<tr><td><code>${file.objectKey}</code></td><td>${file.bucket || s3.bucket_name}</td>
      <td class="num">${number(file.records)}</td><td class="num">${bytes(file.bytes)}</td><td>${when(file.exportedAtMs)}</td></tr>`,
        )
  }
</tbody></table></div>`;
}

/** What the editor starts from while there is no config yet: valid as it is, exporter off. */
export const CONFIG_TEMPLATE = `{
  // Where export files go. The exporter runs once bucket_name is set.
  "exporters": {
    "s3": {
      "endpoint": "", // "" for AWS S3; else the S3 API's URL (MinIO, R2, B2, GCS)
      "bucket_name": "",
      "region": "us-east-1",
      "access_key_id": "",
      "access_secret": "", // or "env:NAME" to read it from the environment
      "prefix": "",
      "every": 3600, // seconds between exports
      "limit": 1000, // records per file
    },
  },
  // How long captured content (requests, responses) stays here; "0" keeps it.
  "database": { "retention": { "duration": "0", "require_export": true } },
}
`;

export function settingsPage(data: { text: string; config: AppConfig }): Html {
  const retention = data.config.database.retention;
  const empty = data.text.trim() === '';
  return html`
<p>The whole configuration, as in <code>aperture.hujson</code>: JSON with comments and trailing
commas. Secrets show as <code>&lt;redacted&gt;</code>; leave them so to keep them, or write
<code>"env:NAME"</code> to read one from the environment. Saved settings apply at once, without a restart.</p>
${empty ? html`<p class="notice">There is no configuration yet: the editor holds a starting point. Nothing is written until you save.</p>` : ''}
<div class="editor-layout">
  <div class="editor-pane">
    <label for="config-text" id="config-label">Configuration (HuJSON)</label>
    <textarea id="config-text" name="config" spellcheck="false" rows="24" aria-describedby="config-problems">${empty ? CONFIG_TEMPLATE : data.text}</textarea>
    <div class="buttons">
      <button type="button" class="primary" data-action="save-config">Save</button>
      <button type="button" data-action="test-connection">Test connection</button>
    </div>
  </div>
  <aside class="card problems" aria-labelledby="problems-title">
    <h2 id="problems-title">Check</h2>
    <div id="config-problems" role="status" aria-live="polite"><p class="muted">Save checks every field; Test connection tries each request the exporter makes against the bucket in the editor.</p></div>
  </aside>
</div>
<section class="card">
<h2>Retention</h2>
<p>Now: ${
    retention.durationMs
      ? html`the content of records older than <strong>${retention.duration}</strong> is removed${
          retention.require_export ? ', but only once they were exported' : ', exported or not'
        }.`
      : 'content is kept for ever.'
  }</p>
<p><code>database.retention.duration</code> (<code>"720h"</code>, <code>"30d"</code>, or <code>"0"</code> to keep everything)
is how long a record's content (request, response, tool uses) stays in the local database. The
record itself, with its usage and cost, stays for the dashboard and export.</p>
<p><code>database.retention.require_export: true</code> never removes content that has not been
exported yet: if the bucket is unreachable for longer than the duration, content waits for the
export instead of being lost. With <code>false</code>, content older than the duration goes even if
it never reached the bucket, and the export then carries the record without its content.</p>
</section>`;
}

export const missingRequest = (id: string): Html =>
  html`<p class="alert" role="alert">There is no request ${id}.</p><p><a href="/requests">« Requests</a></p>`;
