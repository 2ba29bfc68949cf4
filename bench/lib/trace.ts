/**
 * `--trace`: what the slowest webhooks of Parley's open loop coincided with, from the records of
 * bench/lib/trace-recorder.ts — an accept statement over SLOW_STATEMENT_MS (one held up holds up every
 * webhook arriving meanwhile), an event-loop stall over STALL_MS, a GC pause — as docs/benchmarks.md
 * ("2026-12-04, night" and "late night") read the tail by hand.
 */
import { existsSync, readFileSync } from 'node:fs';
import { percentile } from './stats.js';

/** [kind, start (ms since the epoch), duration (ms)] */
export type TraceRecord = ['callback' | 'statement' | 'stall' | 'gc', number, number];

/** A piece of the accept statement's text (src/conversation/accept.sql.ts) that no other statement has. */
export const ACCEPT_STATEMENT_MARK = 'INSERT INTO chats';
export const STALL_MS = 4;
const SLOW_STATEMENT_MS = 3;
/** Callbacks at least this share of the p99 count as slow. */
const SLOW_SHARE_OF_P99 = 0.8;
/** How often the recorder appends its records to the file. */
export const TRACE_FLUSH_MS = 500;
/** How long to wait after a phase for the recorder's last records. */
export const TRACE_FLUSH_WAIT_MS = TRACE_FLUSH_MS + 200;

export interface TraceSummary {
  callbacks: number;
  callbackP50: number;
  callbackP99: number;
  statements: number;
  statementP50: number;
  statementP99: number;
  slowStatements: number;
  stalls: number;
  stallMs: number;
  gcMs: number;
  slowCallbacks: number;
  withSlowStatement: number;
  withStall: number;
  withGc: number;
  withNone: number;
}

export function readTrace(file: string): TraceRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as TraceRecord);
}

/** The summary of the records that start within `windows` ([start, end], ms since the epoch). */
export function summariseTrace(records: TraceRecord[], windows: [number, number][]): TraceSummary {
  const within = (record: TraceRecord) =>
    windows.some(([start, end]) => record[1] >= start && record[1] < end);
  const of = (kind: TraceRecord[0]) => records.filter((record) => record[0] === kind && within(record));
  const callbacks = of('callback');
  const statements = of('statement');
  const stalls = of('stall');
  const gcs = of('gc');
  const sortedMs = (list: TraceRecord[]) => Float64Array.from(list, (record) => record[2]).sort();
  const callbackMs = sortedMs(callbacks);
  const statementMs = sortedMs(statements);
  const callbackP99 = percentile(callbackMs, 0.99);
  const slow = callbacks.filter((record) => record[2] >= SLOW_SHARE_OF_P99 * callbackP99);
  const overlaps = (a: TraceRecord, among: TraceRecord[]) =>
    among.some((b) => a[1] < b[1] + b[2] && b[1] < a[1] + a[2]);
  const slowStatements = statements.filter((record) => record[2] > SLOW_STATEMENT_MS);
  let withSlowStatement = 0;
  let withStall = 0;
  let withGc = 0;
  let withNone = 0;
  for (const callback of slow) {
    const statement = overlaps(callback, slowStatements);
    const stall = overlaps(callback, stalls);
    const gc = overlaps(callback, gcs);
    withSlowStatement += Number(statement);
    withStall += Number(stall);
    withGc += Number(gc);
    withNone += Number(!statement && !stall && !gc);
  }
  const sum = (list: TraceRecord[]) => list.reduce((total, record) => total + record[2], 0);
  return {
    callbacks: callbacks.length,
    callbackP50: percentile(callbackMs, 0.5),
    callbackP99,
    statements: statements.length,
    statementP50: percentile(statementMs, 0.5),
    statementP99: percentile(statementMs, 0.99),
    slowStatements: slowStatements.length,
    stalls: stalls.length,
    stallMs: sum(stalls),
    gcMs: sum(gcs),
    slowCallbacks: slow.length,
    withSlowStatement,
    withStall,
    withGc,
    withNone,
  };
}

export function describeTrace(summary: TraceSummary): string {
  const ms = (value: number) => value.toFixed(2);
  return (
    `in Parley p50 ${ms(summary.callbackP50)} p99 ${ms(summary.callbackP99)} ms (${summary.callbacks}); ` +
    `accept statements p50 ${ms(summary.statementP50)} p99 ${ms(summary.statementP99)} ms, ` +
    `${summary.slowStatements} over ${SLOW_STATEMENT_MS} ms; ${summary.stalls} stalls over ${STALL_MS} ms ` +
    `(${Math.round(summary.stallMs)} ms); GC ${Math.round(summary.gcMs)} ms; of ${summary.slowCallbacks} callbacks ` +
    `over ${SLOW_SHARE_OF_P99}×p99: ${summary.withSlowStatement} overlap a slow statement, ${summary.withStall} a stall, ` +
    `${summary.withGc} a GC pause, ${summary.withNone} none`
  );
}
