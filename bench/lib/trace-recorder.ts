/**
 * Loaded into the ack-phase Parley by bench/child-preload.ts when the benchmark runs with --trace: records,
 * with wall-clock times (ms since the epoch), every POST from arrival to response, every accept statement,
 * every event-loop stall over STALL_MS and every GC pause, and appends them as JSON lines (TraceRecord) to
 * `file` twice a second. It costs the process CPU of its own (a 1-ms timer, a hook per request and query):
 * a traced run's figures are for reading the tail, not for comparing with untraced runs. Statements are seen
 * when Parley loads the same `pg` module as this file does (a build inside this checkout, `--parley` included).
 */
import { appendFileSync } from 'node:fs';
import { Server } from 'node:http';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import pg from 'pg';
import { ACCEPT_STATEMENT_MARK, STALL_MS, TRACE_FLUSH_MS, type TraceRecord } from './trace.js';

export function installTraceRecorder(file: string): void {
  const records: TraceRecord[] = [];
  const now = () => performance.timeOrigin + performance.now();

  const emit = Server.prototype.emit as (this: Server, event: string | symbol, ...args: unknown[]) => boolean;
  Server.prototype.emit = function (this: Server, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'request') {
      const [request, response] = args as [
        { method?: string },
        { once(event: 'finish', listener: () => void): void },
      ];
      if (request.method === 'POST') {
        const start = now();
        response.once('finish', () => records.push(['callback', start, now() - start]));
      }
    }
    return emit.call(this, event, ...args);
  } as typeof Server.prototype.emit;

  const isAccept = new Map<string, boolean>();
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]): unknown {
    const result = query.apply(this, args);
    const config = args[0] as { name?: unknown; text?: unknown } | undefined;
    if (typeof config?.name === 'string' && typeof config.text === 'string' && result instanceof Promise) {
      let accept = isAccept.get(config.name);
      if (accept === undefined)
        isAccept.set(config.name, (accept = config.text.includes(ACCEPT_STATEMENT_MARK)));
      if (accept) {
        const start = now();
        result.then(
          () => records.push(['statement', start, now() - start]),
          () => undefined,
        );
      }
    }
    return result;
  } as typeof pg.Client.prototype.query;

  let last = now();
  setInterval(() => {
    const at = now();
    if (at - last > STALL_MS) records.push(['stall', last, at - last]);
    last = at;
  }, 1).unref();

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      records.push(['gc', performance.timeOrigin + entry.startTime, entry.duration]);
  }).observe({ entryTypes: ['gc'] });

  setInterval(() => {
    if (records.length === 0) return;
    appendFileSync(
      file,
      records
        .splice(0)
        .map((record) => JSON.stringify(record))
        .join('\n') + '\n',
    );
  }, TRACE_FLUSH_MS).unref();
}
