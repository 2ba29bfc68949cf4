/**
 * What Parley's own /metrics say about a phase, scraped before and after it, outside the measured window:
 * - its garbage-collection pauses (prom-client's `nodejs_gc_duration_seconds` histogram, by kind) — where a
 *   busy Node process's tail latency comes from (docs/benchmarks.md, "2026-12-04, evening");
 * - its accept statements (`parley_accept_batch_size`, `parley_accept_seconds`): how many, how many
 *   webhooks each served, and how many took over 10 ms — one held up holds up every webhook arriving
 *   meanwhile (docs/benchmarks.md, "2026-12-04, night").
 */

const GC_METRIC = 'parley_nodejs_gc_duration_seconds';
const ACCEPT_BATCH_METRIC = 'parley_accept_batch_size';
const ACCEPT_SECONDS_METRIC = 'parley_accept_seconds';
/** A bucket bound of parley_accept_seconds: statements slower than this count as held up. */
const SLOW_ACCEPT_SECONDS = '0.01';

/** Seconds and count of GC pauses so far, by kind (minor, major, incremental, weakcb). */
type GcTotals = Record<string, { seconds: number; count: number }>;

interface AcceptTotals {
  statements: number;
  webhooks: number;
  seconds: number;
  /** Statements that took at most SLOW_ACCEPT_SECONDS. */
  quick: number;
}

export interface ParleyTotals {
  gc: GcTotals;
  accept: AcceptTotals;
}

export interface GcDuringPhase {
  pauses: number;
  /** All pauses, ms. */
  totalMs: number;
  /** Mark-compact pauses and incremental-marking steps, ms. */
  majorMs: number;
}

export interface AcceptDuringPhase {
  statements: number;
  /** Webhooks per statement. */
  meanBatch: number;
  meanMs: number;
  /** Statements over 10 ms. */
  slow: number;
}

export async function scrapeParley(origin: string): Promise<ParleyTotals> {
  const response = await fetch(new URL('/metrics', origin), { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`GET /metrics → ${response.status}`);
  const exposition = await response.text();
  return { gc: parseGcTotals(exposition), accept: parseAcceptTotals(exposition) };
}

function parseGcTotals(exposition: string): GcTotals {
  const totals: GcTotals = {};
  const line = new RegExp(`^${GC_METRIC}_(sum|count)\\{kind="(\\w+)"\\} ([\\d.e+-]+)$`);
  for (const text of exposition.split('\n')) {
    const match = line.exec(text);
    if (!match) continue;
    const [, field, kind, value] = match;
    const entry = (totals[kind] ??= { seconds: 0, count: 0 });
    if (field === 'sum') entry.seconds = Number(value);
    else entry.count = Number(value);
  }
  return totals;
}

function parseAcceptTotals(exposition: string): AcceptTotals {
  const lines = exposition.split('\n');
  const value = (sample: string) => {
    const line = lines.find((text) => text.startsWith(`${sample} `));
    return line ? Number(line.slice(sample.length + 1)) : 0;
  };
  return {
    statements: value(`${ACCEPT_SECONDS_METRIC}_count`),
    webhooks: value(`${ACCEPT_BATCH_METRIC}_sum`),
    seconds: value(`${ACCEPT_SECONDS_METRIC}_sum`),
    quick: value(`${ACCEPT_SECONDS_METRIC}_bucket{le="${SLOW_ACCEPT_SECONDS}"}`),
  };
}

export function gcBetween(before: ParleyTotals, after: ParleyTotals): GcDuringPhase {
  let pauses = 0;
  let totalMs = 0;
  let majorMs = 0;
  for (const [kind, { seconds, count }] of Object.entries(after.gc)) {
    const ms = (seconds - (before.gc[kind]?.seconds ?? 0)) * 1000;
    pauses += count - (before.gc[kind]?.count ?? 0);
    totalMs += ms;
    if (kind === 'major' || kind === 'incremental') majorMs += ms;
  }
  return { pauses, totalMs, majorMs };
}

export function acceptBetween(before: ParleyTotals, after: ParleyTotals): AcceptDuringPhase {
  const statements = after.accept.statements - before.accept.statements;
  const per = (total: number) => (statements > 0 ? total / statements : Number.NaN);
  return {
    statements,
    meanBatch: per(after.accept.webhooks - before.accept.webhooks),
    meanMs: per((after.accept.seconds - before.accept.seconds) * 1000),
    slow: statements - (after.accept.quick - before.accept.quick),
  };
}

export const describeGc = (gc: GcDuringPhase | undefined): string =>
  gc ? `${gc.pauses} · ${Math.round(gc.totalMs)} (${Math.round(gc.majorMs)})` : '';

export const describeAccept = (accept: AcceptDuringPhase | undefined): string =>
  accept && accept.statements > 0
    ? `${accept.statements} · ${accept.meanBatch.toFixed(2)} · ${accept.meanMs.toFixed(2)} · ${accept.slow}`
    : '';
