/**
 * Load generators. Closed loop: autocannon, N connections each sending its next request as soon as the
 * previous answer arrives (throughput at a fixed concurrency). Open loop: requests fired on a fixed
 * schedule whatever the server does (latency at an offered rate) — written here because autocannon's rate
 * mode sends each connection's quota for the second in a burst at the start of the second and "corrects"
 * coordinated omission with a 1 ms expected interval, which distorts the percentiles.
 */
import autocannon from 'autocannon';
import { Agent, request as httpRequest } from 'node:http';
import type { PreparedRequest } from './channels.js';
import { Samples, type LatencySummary } from './stats.js';

/** Precomputed requests, then (if a run outlasts them) requests made on the fly, which are counted. */
export class RequestSource {
  #index = 0;
  /** The index of prepared[0]. */
  #offset = 0;
  onTheFly = 0;

  constructor(
    private prepared: PreparedRequest[],
    private readonly make: (index: number) => PreparedRequest,
  ) {}

  next(): PreparedRequest {
    const index = this.#index++;
    const position = index - this.#offset;
    if (position < this.prepared.length) return this.prepared[position];
    this.onTheFly += 1;
    return this.make(index);
  }

  /**
   * Signs the next `count` requests now, in place of what was prepared before: for a phase longer than a
   * platform's signature window (Tencent's is 60 s), refilled before each slice.
   */
  refill(count: number): void {
    this.#offset = this.#index;
    this.prepared = Array.from({ length: count }, (_, position) => this.make(this.#offset + position));
  }

  get used(): number {
    return this.#index;
  }
}

export function prepare(count: number, make: (index: number) => PreparedRequest): RequestSource {
  const prepared = new Array<PreparedRequest>(count);
  for (let index = 0; index < count; index++) prepared[index] = make(index);
  return new RequestSource(prepared, make);
}

export interface LoadResult {
  mode: 'closed' | 'open';
  seconds: number;
  /** 2xx responses. */
  ok: number;
  non2xx: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** 2xx per second over the run. */
  throughput: number;
  /** Closed loop: from send to response. Open loop: from the scheduled send time (no coordinated omission). */
  latency: LatencySummary;
  /** Open loop only: from the actual send. */
  latencyFromSend?: LatencySummary;
  offeredRate?: number;
  /** Open loop: requests not sent because `maxInFlight` were outstanding (the server fell behind). */
  skipped?: number;
  /** Requests that had to be signed/encrypted during the run because the precomputed ones ran out. */
  onTheFly: number;
  statusCodes: Record<string, number>;
}

export interface ClosedLoopOptions {
  origin: string;
  connections: number;
  seconds: number;
  source: RequestSource;
  timeoutSeconds?: number;
}

export function closedLoop(options: ClosedLoopOptions): Promise<LoadResult> {
  const samples = new Samples();
  const statusCodes: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  const startedAt = performance.now();
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: options.origin,
        connections: options.connections,
        duration: options.seconds,
        timeout: options.timeoutSeconds ?? 10,
        requests: [
          {
            setupRequest: (request) => {
              const next = options.source.next();
              return {
                ...request,
                method: next.method,
                path: next.path,
                headers: next.headers,
                body: next.body,
              };
            },
          },
        ],
      },
      (error, result) => {
        if (error) return reject(error);
        const seconds = (performance.now() - startedAt) / 1000;
        resolve({
          mode: 'closed',
          seconds,
          ok,
          non2xx,
          errors: result.errors,
          throughput: ok / seconds,
          latency: samples.summary(),
          onTheFly: options.source.onTheFly,
          statusCodes,
        });
      },
    );
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      statusCodes[statusCode] = (statusCodes[statusCode] ?? 0) + 1;
      if (statusCode >= 200 && statusCode < 300) {
        ok += 1;
        samples.add(responseTime);
      } else {
        non2xx += 1;
      }
    });
  });
}

export interface OpenLoopOptions {
  origin: string;
  /** Requests per second, evenly spaced. */
  rate: number;
  seconds: number;
  source: RequestSource;
  timeoutMs?: number;
  /** More outstanding requests than this and the scheduled request is skipped (and counted). */
  maxInFlight?: number;
  /** Receives every response body (for end-to-end runs that need the reply). */
  onResponse?: (request: PreparedRequest, status: number, body: string, sentAt: number) => void;
  /** Connections to use, e.g. those a warm-up opened (openLoopAgent); left open. Default: new ones, closed at the end. */
  agent?: Agent;
  /**
   * Latencies are added here (and summarised from here), so that several runs — the slices of an interleaved
   * phase — summarise as one (combineOpenLoops). Default: this run's own.
   */
  samples?: OpenLoopSamples;
}

/** The latencies of one or more open-loop runs: from the scheduled send time, and from the actual send. */
export interface OpenLoopSamples {
  fromSchedule: Samples;
  fromSend: Samples;
}

export const openLoopSamples = (): OpenLoopSamples => ({
  fromSchedule: new Samples(),
  fromSend: new Samples(),
});

/** The open-loop runs that shared `samples`, as one run: counts and seconds added, percentiles over them all. */
export function combineOpenLoops(runs: LoadResult[], samples: OpenLoopSamples): LoadResult {
  const sum = (pick: (run: LoadResult) => number | undefined) =>
    runs.reduce((total, run) => total + (pick(run) ?? 0), 0);
  const seconds = sum((run) => run.seconds);
  const statusCodes: Record<string, number> = {};
  for (const run of runs) {
    for (const [status, count] of Object.entries(run.statusCodes)) {
      statusCodes[status] = (statusCodes[status] ?? 0) + count;
    }
  }
  return {
    mode: 'open',
    seconds,
    ok: sum((run) => run.ok),
    non2xx: sum((run) => run.non2xx),
    errors: sum((run) => run.errors),
    throughput: sum((run) => run.ok) / seconds,
    latency: samples.fromSchedule.summary(),
    latencyFromSend: samples.fromSend.summary(),
    offeredRate: runs[0]?.offeredRate,
    skipped: sum((run) => run.skipped),
    // The runs share one RequestSource per target: its count so far.
    onTheFly: runs.at(-1)?.onTheFly ?? 0,
    statusCodes,
  };
}

/** Keep-alive connections for open loops: a warm-up and the measured loop after it can share them. */
export function openLoopAgent(): Agent {
  return new Agent({ keepAlive: true, maxSockets: 512 });
}

export async function openLoop(options: OpenLoopOptions): Promise<LoadResult> {
  const origin = new URL(options.origin);
  const agent = options.agent ?? openLoopAgent();
  const timeoutMs = options.timeoutMs ?? 10_000;
  const maxInFlight = options.maxInFlight ?? 2000;
  const total = Math.max(1, Math.round(options.rate * options.seconds));
  const interval = 1000 / options.rate;
  const { fromSchedule, fromSend } = options.samples ?? openLoopSamples();
  const statusCodes: Record<string, number> = {};
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let skipped = 0;
  let inFlight = 0;
  let fired = 0;
  let settled = 0;
  let allSettled: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (allSettled = resolve));
  const settle = () => {
    inFlight -= 1;
    if (++settled === total) allSettled();
  };

  const fire = (scheduledAt: number) => {
    if (inFlight >= maxInFlight) {
      skipped += 1;
      if (++settled === total) allSettled();
      return;
    }
    const prepared = options.source.next();
    inFlight += 1;
    const sentAt = performance.now();
    let done = false;
    const finish = (status: number, body: string) => {
      if (done) return;
      done = true;
      const now = performance.now();
      if (status === 0) errors += 1;
      else {
        statusCodes[status] = (statusCodes[status] ?? 0) + 1;
        if (status >= 200 && status < 300) {
          ok += 1;
          fromSchedule.add(now - scheduledAt);
          fromSend.add(now - sentAt);
        } else {
          non2xx += 1;
        }
        options.onResponse?.(prepared, status, body, sentAt);
      }
      settle();
    };
    const req = httpRequest(
      {
        agent,
        host: origin.hostname,
        port: origin.port,
        method: prepared.method,
        path: prepared.path,
        headers: { ...prepared.headers, 'content-length': String(Buffer.byteLength(prepared.body)) },
      },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => {
          if (options.onResponse) parts.push(part);
        });
        res.on('end', () => finish(res.statusCode ?? 0, Buffer.concat(parts).toString('utf8')));
        res.on('error', () => finish(0, ''));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error('timeout')));
    req.on('error', () => finish(0, ''));
    // A request destroyed mid-response may end without 'end' or 'error' on the request.
    req.on('close', () => setImmediate(() => finish(0, '')));
    req.end(prepared.body);
  };

  const startedAt = performance.now() + 20;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - startedAt) / interval) + 1);
      while (fired < due) fire(startedAt + fired++ * interval);
      if (fired < total) setTimeout(tick, 1);
      else resolve();
    };
    setTimeout(tick, 20);
  });
  // Every request ends by its timeout at the latest.
  await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, timeoutMs + 2000))]);
  if (!options.agent) agent.destroy();
  const seconds = (performance.now() - startedAt) / 1000;
  return {
    mode: 'open',
    seconds,
    ok,
    non2xx,
    errors,
    throughput: ok / seconds,
    latency: fromSchedule.summary(),
    latencyFromSend: fromSend.summary(),
    offeredRate: options.rate,
    skipped,
    onTheFly: options.source.onTheFly,
    statusCodes,
  };
}

/** One request, for smoke tests: status and body. */
export async function sendOne(
  origin: string,
  prepared: PreparedRequest,
): Promise<{ status: number; body: string }> {
  const response = await fetch(new URL(prepared.path, origin), {
    method: prepared.method,
    headers: prepared.headers,
    body: prepared.body,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: await response.text() };
}
