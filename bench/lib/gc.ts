/**
 * Parley's garbage-collection pauses during a phase, from its own /metrics (prom-client's
 * `nodejs_gc_duration_seconds` histogram, by kind): scraped before and after, outside the measured window.
 * Pauses are where a busy Node process's tail latency comes from (docs/benchmarks.md, "2026-12-04, evening").
 */

const GC_METRIC = 'parley_nodejs_gc_duration_seconds';

/** Seconds and count of GC pauses so far, by kind (minor, major, incremental, weakcb). */
type GcTotals = Record<string, { seconds: number; count: number }>;

export interface GcDuringPhase {
  pauses: number;
  /** All pauses, ms. */
  totalMs: number;
  /** Mark-compact pauses and incremental-marking steps, ms. */
  majorMs: number;
}

export async function scrapeGc(origin: string): Promise<GcTotals> {
  const response = await fetch(new URL('/metrics', origin), { signal: AbortSignal.timeout(5000) });
  if (!response.ok) throw new Error(`GET /metrics → ${response.status}`);
  return parseGcTotals(await response.text());
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

export function gcBetween(before: GcTotals, after: GcTotals): GcDuringPhase {
  let pauses = 0;
  let totalMs = 0;
  let majorMs = 0;
  for (const [kind, { seconds, count }] of Object.entries(after)) {
    const ms = (seconds - (before[kind]?.seconds ?? 0)) * 1000;
    pauses += count - (before[kind]?.count ?? 0);
    totalMs += ms;
    if (kind === 'major' || kind === 'incremental') majorMs += ms;
  }
  return { pauses, totalMs, majorMs };
}

export const describeGc = (gc: GcDuringPhase | undefined): string =>
  gc ? `${gc.pauses} · ${Math.round(gc.totalMs)} (${Math.round(gc.majorMs)})` : '';
