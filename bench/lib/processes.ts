/** Child processes, their clean-up on every exit path, and /proc sampling (RSS, CPU). */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

const PRELOAD = fileURLToPath(new URL('../child-preload.js', import.meta.url));
export const CLOCK_TICKS_PER_SECOND = 100;

// ---------------------------------------------------------------- clean-up

type Cleanup = () => Promise<void> | void;
const cleanups: { name: string; run: Cleanup }[] = [];
const children = new Set<ChildProcess>();
let cleaning: Promise<void> | undefined;

/** Registers a clean-up step; steps run last-in first-out, once, whatever ends the benchmark. */
export function onCleanup(name: string, run: Cleanup): void {
  cleanups.push({ name, run });
}

/** Runs every clean-up step (each bounded to 20 s); safe to call more than once. */
export function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const step = cleanups.pop()!;
      try {
        await withTimeout(Promise.resolve(step.run()), 20_000, `clean-up: ${step.name}`);
      } catch (error) {
        process.stderr.write(`clean-up step "${step.name}" failed: ${String(error)}\n`);
      }
    }
  })();
  return cleaning;
}

/** Signals and fatal errors still clean up; a synchronous `exit` kills whatever child is left. */
export function installExitHandlers(): void {
  const fatal = (reason: string) => {
    process.stderr.write(`\nbenchmark stopping: ${reason}\n`);
    void cleanUp().finally(() => process.exit(1));
  };
  process.once('SIGINT', () => fatal('SIGINT'));
  process.once('SIGTERM', () => fatal('SIGTERM'));
  process.on('uncaughtException', (error) => fatal(`uncaught exception: ${error.stack ?? String(error)}`));
  process.on('unhandledRejection', (error) => fatal(`unhandled rejection: ${String(error)}`));
  process.on('exit', () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
}

export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- children

export interface Child {
  name: string;
  pid: number;
  /** The last lines the child wrote (stdout and stderr), for error messages. */
  tail(): string;
  exited(): boolean;
  signal(signal: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartChildOptions {
  name: string;
  script: string;
  env: Record<string, string>;
  /** Where everything the child prints goes. */
  logFile: string;
  nodeArgs?: string[];
}

/** Starts `node --import child-preload.js <script>` with exactly `env` (plus PATH and HOME). */
export function startChild(options: StartChildOptions): Child {
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', PRELOAD, options.script], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error(`${options.name} did not start`);
  children.add(child);
  let tail = '';
  const keep = (chunk: Buffer) => {
    log.write(chunk);
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      log.end();
      resolve();
    }),
  );
  const exited = () => child.exitCode !== null || child.signalCode !== null;
  return {
    name: options.name,
    pid: child.pid,
    tail: () => tail,
    exited,
    signal: (signal) => {
      if (!exited()) child.kill(signal);
    },
    stop: async (graceMs = 15_000) => {
      if (exited()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exit;
      clearTimeout(timer);
    },
  };
}

/** A free TCP port on the loopback interface. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Polls `url` until it answers 200; fails when the child exits or `timeoutMs` passes. */
export async function waitForHttp(url: string, child: Child, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exited()) throw new Error(`${child.name} exited during start-up:\n${child.tail()}`);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (response.ok) return;
      last = `HTTP ${response.status}: ${(await response.text()).slice(0, 300)}`;
    } catch (error) {
      last = String(error);
    }
    await sleep(200);
  }
  throw new Error(`${child.name} not ready at ${url} after ${timeoutMs} ms (${last}):\n${child.tail()}`);
}

// ---------------------------------------------------------------- /proc sampling

/** Resident set size in MB (VmRSS), or NaN when the process is gone. */
export function rssMb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** utime + stime of a process, in clock ticks (NaN when it is gone). */
export function processTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime is field 14, stime field 15.
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  const total = values.slice(0, 8).reduce((sum, value) => sum + value, 0);
  return { busy: total - idle, total };
}

export interface PhaseResources {
  seconds: number;
  /** Highest RSS of each watched single process during the phase, MB. */
  maxRssMb: Record<string, number>;
  /** CPU used by each watched group of processes, in % of one core. */
  cpuPercent: Record<string, number>;
  /** All cores busy, %, every process of the machine included. */
  machineBusyPercent: number;
  /** CPU used by processes outside the watched groups (other people's work), in % of one core. */
  othersPercent: number;
  loadAverage1m: number;
}

/**
 * Phases measured in parts (the slices of an interleaved phase) as one: seconds added, CPU and machine
 * percentages averaged over the seconds, the highest RSS, the load average at the start.
 */
export function combineResources(parts: PhaseResources[]): PhaseResources {
  const seconds = parts.reduce((total, part) => total + part.seconds, 0);
  const weighted = (pick: (part: PhaseResources) => number) =>
    parts.reduce((total, part) => total + pick(part) * part.seconds, 0) / seconds;
  const groups = new Set(parts.flatMap((part) => Object.keys(part.cpuPercent)));
  const processes = new Set(parts.flatMap((part) => Object.keys(part.maxRssMb)));
  return {
    seconds,
    maxRssMb: Object.fromEntries(
      [...processes].map((name) => [name, Math.max(...parts.map((part) => part.maxRssMb[name] ?? 0))]),
    ),
    cpuPercent: Object.fromEntries(
      [...groups].map((name) => [name, weighted((part) => part.cpuPercent[name] ?? 0)]),
    ),
    machineBusyPercent: weighted((part) => part.machineBusyPercent),
    othersPercent: weighted((part) => part.othersPercent),
    loadAverage1m: parts[0]?.loadAverage1m ?? Number.NaN,
  };
}

/**
 * Samples RSS every `intervalMs` (single processes) and CPU between start and stop (groups of processes,
 * e.g. the Postgres backends serving the benchmark's database), plus everything else the machine did.
 */
export class ResourceSampler {
  readonly #groups: Map<string, number[]>;
  readonly #maxRss = new Map<string, number>();
  /** Ticks of every watched pid at the start. */
  readonly #startTicks = new Map<number, number>();
  #startMachine = machineTicks();
  #startedAt = 0;
  #timer?: NodeJS.Timeout;
  #loadAverage = 0;

  readonly #discover?: () => Promise<Record<string, number[]>>;
  #discovery?: NodeJS.Timeout;

  /**
   * `groups`: a name → one pid (RSS and CPU) or several pids (CPU only); every pid counts as ours.
   * `discover` (polled every second) adds pids that appear during the phase, e.g. new pool connections:
   * all of their CPU time counts.
   */
  constructor(groups: Record<string, number | number[]>, discover?: () => Promise<Record<string, number[]>>) {
    this.#groups = new Map(
      Object.entries(groups).map(([name, pids]) => [name, Array.isArray(pids) ? pids : [pids]]),
    );
    this.#discover = discover;
  }

  start(loadAverage1m: number, intervalMs = 200): void {
    this.#loadAverage = loadAverage1m;
    this.#startedAt = performance.now();
    this.#startMachine = machineTicks();
    for (const pid of this.#ours()) this.#startTicks.set(pid, processTicks(pid));
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), intervalMs);
    if (this.#discover) {
      const discover = this.#discover;
      this.#discovery = setInterval(() => {
        discover()
          .then((found) => {
            for (const [name, pids] of Object.entries(found)) {
              const known = this.#groups.get(name) ?? [];
              for (const pid of pids) {
                if (known.includes(pid)) continue;
                known.push(pid);
                if (!this.#startTicks.has(pid)) this.#startTicks.set(pid, 0);
              }
              this.#groups.set(name, known);
            }
          })
          .catch(() => undefined);
      }, 1000);
    }
  }

  stop(): PhaseResources {
    clearInterval(this.#timer);
    clearInterval(this.#discovery);
    this.#sample();
    const seconds = (performance.now() - this.#startedAt) / 1000;
    const percentOf = (ticks: number) => (ticks / CLOCK_TICKS_PER_SECOND / seconds) * 100;
    const machine = machineTicks();
    const cpuPercent: Record<string, number> = {};
    for (const [name, pids] of this.#groups) {
      cpuPercent[name] = percentOf(this.#usedBy(pids));
    }
    const ours = this.#usedBy(this.#ours());
    const busy = machine.busy - this.#startMachine.busy;
    const total = machine.total - this.#startMachine.total;
    return {
      seconds,
      maxRssMb: Object.fromEntries(this.#maxRss),
      cpuPercent,
      machineBusyPercent: total > 0 ? (busy / total) * 100 : Number.NaN,
      othersPercent: Math.max(0, percentOf(busy - ours)),
      loadAverage1m: this.#loadAverage,
    };
  }

  #ours(): number[] {
    return [...new Set([...this.#groups.values()].flat())];
  }

  /** Ticks used since start (a process that exited during the phase counts for nothing). */
  #usedBy(pids: number[]): number {
    return pids.reduce((sum, pid) => {
      const used = processTicks(pid) - (this.#startTicks.get(pid) ?? Number.NaN);
      return Number.isFinite(used) ? sum + used : sum;
    }, 0);
  }

  #sample(): void {
    for (const [name, pids] of this.#groups) {
      if (pids.length !== 1) continue;
      const rss = rssMb(pids[0]);
      if (Number.isFinite(rss)) this.#maxRss.set(name, Math.max(this.#maxRss.get(name) ?? 0, rss));
    }
  }
}

/** The processes using the most CPU over `ms` (other engineers' tests, say), excluding `ours`. */
export async function busiestProcesses(
  ms: number,
  ours: Set<number>,
  limit = 5,
): Promise<{ pid: number; command: string; cpuPercent: number }[]> {
  const snapshot = () => {
    const ticks = new Map<number, number>();
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const value = processTicks(Number(entry));
      if (Number.isFinite(value)) ticks.set(Number(entry), value);
    }
    return ticks;
  };
  const before = snapshot();
  await sleep(ms);
  const after = snapshot();
  const rows: { pid: number; command: string; cpuPercent: number }[] = [];
  for (const [pid, ticks] of after) {
    if (ours.has(pid) || pid === process.pid) continue;
    const used = ticks - (before.get(pid) ?? ticks);
    const cpuPercent = (used / CLOCK_TICKS_PER_SECOND / (ms / 1000)) * 100;
    if (cpuPercent >= 5) rows.push({ pid, command: commandOf(pid), cpuPercent });
  }
  return rows.sort((a, b) => b.cpuPercent - a.cpuPercent).slice(0, limit);
}

/** The executable name only (/proc/<pid>/comm): command lines of other people's processes stay private. */
function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}
