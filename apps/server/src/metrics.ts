/** /metrics in the Prometheus text format (0.0.4). */
import type { ApertureService } from './service.ts';

type Sample = [
  name: string,
  help: string,
  type: 'gauge' | 'counter' | 'summary',
  value: number | string,
];

export async function metricsText(service: ApertureService): Promise<string> {
  const status = await service.exportStatus();
  const counts = await service.store.counts();
  const { metrics } = service;
  // Quantiles over the last cycles; _sum and _count over every cycle since start.
  const durations = [...metrics.exportDurationsMs].sort((a, b) => a - b);
  const quantile = (q: number) =>
    durations.length
      ? durations[Math.min(durations.length - 1, Math.floor(q * durations.length))]! / 1000
      : 0;
  const samples: Sample[] = [
    ['aperture_captures_total', 'Captures in the store.', 'gauge', counts.records],
    ['aperture_captures_pending', 'Captures not yet exported.', 'gauge', counts.pendingRecords],
    [
      'aperture_captures_pending_bytes',
      'CBOR bytes not yet exported.',
      'gauge',
      counts.pendingBytes,
    ],
    [
      'aperture_captures_content_purged',
      'Captures whose content retention purged.',
      'gauge',
      counts.contentPurged,
    ],
    [
      'aperture_captures_ingested_total',
      'Captures accepted since start.',
      'counter',
      metrics.ingestedCaptures,
    ],
    [
      'aperture_gateway_requests_total',
      'Requests the gateway served since start (each made a record).',
      'counter',
      metrics.gatewayRequests,
    ],
    [
      'aperture_gateway_capture_errors_total',
      'Gateway records the store could not take since start.',
      'counter',
      metrics.gatewayCaptureErrors,
    ],
    [
      'aperture_ingest_transactions_total',
      'Store transactions ingestion wrote since start (concurrent requests share one).',
      'counter',
      metrics.ingestTransactions,
    ],
    [
      'aperture_captures_duplicate_total',
      'Captures sent again with a stored capture_id since start: answered, not stored again.',
      'counter',
      metrics.duplicateCaptures,
    ],
    [
      'aperture_captures_rejected_total',
      'Captures refused as invalid since start.',
      'counter',
      metrics.rejectedCaptures,
    ],
    ['aperture_export_files_total', 'Export files written.', 'counter', status.exportedFiles],
    ['aperture_export_records_total', 'Records exported.', 'counter', status.exportedRecords],
    [
      'aperture_export_bytes_total',
      'Bytes uploaded (compressed).',
      'counter',
      status.exportedBytes,
    ],
    [
      'aperture_export_cycles_total',
      'Export cycles run since start.',
      'counter',
      metrics.exportCycles,
    ],
    [
      'aperture_export_errors_total',
      'Export cycles that stopped on an error since start.',
      'counter',
      metrics.exportErrors,
    ],
    ['aperture_export_enabled', 'Whether a bucket is configured.', 'gauge', status.enabled ? 1 : 0],
    [
      'aperture_export_last_success_timestamp_seconds',
      'When the last cycle succeeded.',
      'gauge',
      status.lastSuccessAt ? status.lastSuccessAt.getTime() / 1000 : 0,
    ],
  ];
  const lines: string[] = [];
  for (const [name, help, type, value] of samples) {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
  }
  const name = 'aperture_export_duration_seconds';
  lines.push(`# HELP ${name} Duration of export cycles.`, `# TYPE ${name} summary`);
  for (const q of [0.5, 0.9, 0.99]) lines.push(`${name}{quantile="${q}"} ${quantile(q)}`);
  lines.push(
    `${name}_sum ${metrics.exportDurationSumMs / 1000}`,
    `${name}_count ${metrics.exportCycles}`,
  );
  return `${lines.join('\n')}\n`;
}
