/** The results table, the goals, machine information, and the "Webhooks" section of docs/benchmarks.md. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, release, totalmem } from 'node:os';
import type { Channel } from './channels.js';
import type { E2EResult } from './e2e.js';
import type { LoadResult } from './load.js';
import type { PhaseResources } from './processes.js';
import { describeAccept, describeGc, type AcceptDuringPhase, type GcDuringPhase } from './parley-metrics.js';
import { round } from './stats.js';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGb: number;
  node: string;
  postgres: string;
  kernel: string;
  /** The busiest processes that are not the benchmark's, sampled for 1 s before the run. */
  otherLoad: { command: string; cpuPercent: number }[];
  loadAverageStart: number[];
  loadAverageEnd?: number[];
}

export function machineInfo(postgres: string): Omit<MachineInfo, 'otherLoad'> {
  const cpuinfo = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const cpuModel = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? 'unknown';
  return {
    cores: availableParallelism(),
    cpuModel,
    memoryGb: totalmem() / 1024 ** 3,
    node: process.version,
    postgres,
    kernel: release(),
    loadAverageStart: loadavg(),
  };
}

export interface Measured {
  result: LoadResult;
  resources: PhaseResources;
  /** Rows the target stored during the phase (checked against the 2xx count). */
  storedRows: number;
  /** Parley's garbage-collection pauses during the phase (Parley phases only). */
  gc?: GcDuringPhase;
  /** Parley's accept statements during the phase (Parley phases only). */
  accept?: AcceptDuringPhase;
}

export interface ChannelResults {
  channel: Channel;
  ceiling: { closed: Measured; open: Measured };
  parley: { closed: Measured; open: Measured };
  /** The bare server storing exactly as Parley does, closed loop (--decompose). */
  decomposition?: {
    parleySql: Measured;
    parleySqlPrepared: Measured;
    parleySqlBatched: Measured;
    parleySqlBatchedOpen: Measured;
  };
}

export interface RefreshResults {
  measured: Measured;
  streams: number;
}

export interface RunResults {
  startedAt: Date;
  command: string;
  options: {
    duration: number;
    /** Seconds per open-loop phase. */
    openSeconds: number;
    connections: number;
    rate: number;
    /** The ceiling's and Parley's open-loop phases interleaved in this many slices each (1: one after the other). */
    openSlices: number;
    warmup: number;
    modelLatencyMs: number;
    ackRole: string;
    e2eRate: number;
    e2eSeconds: number;
    /** Extra node flags of the ack-phase Parley. */
    parleyNodeOptions: string[];
    /** The Parley build measured, when not this checkout's dist/src/main.js. */
    parleyBuild?: string;
    /** The ack-phase Parley ran with the trace recorder (--trace), which costs it CPU. */
    traced?: boolean;
  };
  machine: MachineInfo;
  channels: ChannelResults[];
  refresh?: RefreshResults;
  e2e: E2EResult[];
  /** Highest RSS of each Parley instance (MB). */
  /** ackInstanceOpenLoop: the ack instance during its open-loop phases only (500/s, after the closed loops). */
  rss: { ackInstance: number; ackInstanceOpenLoop: number; e2eInstance: number; ceiling: number };
  /** Profiled phases (their numbers are slowed down by the profiler). */
  profiled: string[];
  warnings: string[];
}

export interface Goal {
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

const ms = (value: number) => (Number.isFinite(value) ? `${round(value, value < 10 ? 2 : 1)}` : '—');
const pct = (value: number) => (Number.isFinite(value) ? `${Math.round(value)}%` : '—');
const int = (value: number) =>
  Number.isFinite(value) ? `${Math.round(value).toLocaleString('en-US')}` : '—';

export function goalsOf(results: RunResults): Goal[] {
  const goals: Goal[] = [];
  for (const channel of results.channels) {
    const ratio = channel.parley.closed.result.throughput / channel.ceiling.closed.result.throughput;
    goals.push({
      name: `${channel.channel}: closed-loop throughput at ${results.options.connections} connections`,
      target: '≥ 60% of the ceiling',
      measured: `${pct(ratio * 100)} (${int(channel.parley.closed.result.throughput)} vs ${int(channel.ceiling.closed.result.throughput)}/s)`,
      met: ratio >= 0.6,
    });
    const p99 = channel.parley.open.result.latency.p99 / channel.ceiling.open.result.latency.p99;
    goals.push({
      name: `${channel.channel}: open-loop ${results.options.rate}/s ack p99`,
      target: '≤ 1.5× the ceiling',
      measured: `${round(p99, 2)}× (${ms(channel.parley.open.result.latency.p99)} vs ${ms(channel.ceiling.open.result.latency.p99)} ms)`,
      met: p99 <= 1.5 && channel.parley.open.result.non2xx + channel.parley.open.result.errors === 0,
    });
  }
  if (results.refresh) {
    const p99 = results.refresh.measured.result.latency.p99;
    goals.push({ name: 'WeCom refresh p99', target: '< 20 ms', measured: `${ms(p99)} ms`, met: p99 < 20 });
  }
  for (const e2e of results.e2e) {
    if (e2e.channel === 'wecom') continue;
    goals.push({
      name: `${e2e.channel}: end-to-end overhead beyond model time, p95`,
      target: '< 100 ms',
      measured: `${ms(e2e.overhead.p95)} ms (${e2e.measured}/${e2e.sent} replies)`,
      met: e2e.overhead.p95 < 100 && e2e.delivered === e2e.sent,
    });
  }
  const rssGoal = (name: string, mb: number): Goal => ({
    name,
    target: '< 300 MB',
    measured: `${int(mb)} MB`,
    met: mb < 300,
  });
  goals.push(
    rssGoal('Parley RSS under load (max)', Math.max(results.rss.ackInstance, results.rss.e2eInstance)),
    // The issue's wording is "RSS < 300 MB under that load" (the offered 500/s); the heap the closed loops
    // grew is still held then, so this is an upper bound for that load alone.
    rssGoal(
      'Parley RSS under the 500/s open load and end to end (max)',
      Math.max(results.rss.ackInstanceOpenLoop, results.rss.e2eInstance),
    ),
  );
  return goals;
}

/** CPU milliseconds per acknowledged callback used by a group of processes. */
export const cpuPerRequest = (measured: Measured, group: string): number =>
  (measured.resources.cpuPercent[group] * measured.resources.seconds * 10) / measured.result.ok;

function loadRow(label: string, measured: Measured): string {
  const { result, resources } = measured;
  const failures = result.non2xx + result.errors + (result.skipped ?? 0);
  return [
    label,
    int(result.throughput),
    ms(result.latency.p50),
    ms(result.latency.p99),
    result.latencyFromSend ? ms(result.latencyFromSend.p99) : '',
    int(result.ok),
    String(failures),
    `${int(resources.cpuPercent.target)}% · ${round(cpuPerRequest(measured, 'target'), 2)}`,
    `${int(resources.cpuPercent.postgres)}% · ${round(cpuPerRequest(measured, 'postgres'), 2)}`,
    `${int(resources.cpuPercent.loadgen)}%`,
    `${int(resources.othersPercent)}%`,
    round(resources.loadAverage1m, 2).toFixed(2),
    describeGc(measured.gc),
    describeAccept(measured.accept),
  ].join(' | ');
}

export function renderSection(results: RunResults, previousRuns: string[], notes: string): string {
  const { options, machine } = results;
  const lines: string[] = [];
  lines.push('## Webhooks', '');
  lines.push(
    '`npm run bench:webhooks` boots Parley (`node dist/src/main.js`, a child process, `LOG_LEVEL=warn`, ' +
      '`NODE_ENV=production`) on a fresh database of the local Postgres, with a fake LLM and fake Tencent / ' +
      "CometChat REST servers, and drives each channel's callback with correctly signed (and, for WeCom, " +
      'encrypted) requests, every one a new message. In the same run a bare ceiling ' +
      '(`bench/bare-ceiling.ts`: `node:http` + a `pg` Pool of the same size, the same verification and ' +
      'decryption, a JSON parse and ONE durable INSERT per callback, unique on the message id) takes the ' +
      'same load. Requests are signed before each measurement starts. Everything runs on loopback.',
    '',
    `- **Closed loop**: autocannon, ${options.connections} connections, ${options.duration} s after a ` +
      `${options.warmup} s warm-up; latency = send → response.`,
    `- **Open loop**: ${options.rate} requests/s evenly spaced for ${options.openSeconds} s, whatever the server ` +
      `does, after a ${options.warmup} s warm-up at the same rate on the same keep-alive connections; latency ` +
      'is measured from the *scheduled* send time (no coordinated omission); "p99 from send" is from the ' +
      'actual write.' +
      (options.openSlices > 1
        ? ` The ceiling's and Parley's open loops are interleaved: ${options.openSlices} slices of ` +
          `${round(options.openSeconds / options.openSlices, 2)} s each, alternating ceiling, Parley, Parley, ` +
          "ceiling, … (both warmed up first), so that the shared machine's other work falls on both alike; " +
          "each one's percentiles are over all of its slices, and each slice's requests are signed just " +
          'before it.'
        : ''),
    `- **Ack phases** run against Parley with \`ROLE=${options.ackRole}\`` +
      (options.ackRole === 'api'
        ? ' (the webhook tier of the scale-out layout): the accept path is the same — verify, decrypt, ' +
          'resolve the bot, rate-limit check, one statement storing chat, message and queued answer — ' +
          'but the tens of thousands of queued answers are not generated during the later phases (that work ' +
          "would otherwise spill into the ceiling's and the other channels' measurements)."
        : ' (answers are generated while later phases run).'),
    `- **End to end** runs first, on a separate Parley instance with \`ROLE=all\` (same database): ` +
      `${options.e2eRate} messages/s for ${options.e2eSeconds} s per channel after a ${options.warmup} s ` +
      `warm-up, fake model ` +
      `${options.modelLatencyMs} ms; overhead = (reply at the fake platform − webhook sent) − the model's own ` +
      'time measured at the fake LLM. For WeCom the reply is a finished stream seen by refreshes polled ' +
      'every 50 ms (so its figure includes up to 50 ms of polling); it is reported, not judged.',
    '- Bots use the default policies (20 messages per user per minute): senders cycle through enough users ' +
      'never to hit the limit, so the rate-limit query runs on every message as in production.',
    '',
  );

  lines.push(`### Results (${results.startedAt.toISOString()})`, '');
  if (results.profiled.length) {
    lines.push(`> Profiled phases (slowed by the profiler): ${results.profiled.join(', ')}.`, '');
  }
  if (results.options.traced) {
    lines.push('> Traced run (`--trace`): every Parley ack phase was slowed by the trace recorder.', '');
  }
  lines.push(
    "| Channel / target / mode | 2xx/s | p50 ms | p99 ms | p99 from send ms | 2xx | failed | server CPU · ms/req | Postgres CPU · ms/req | load gen CPU | others' CPU | load 1m | Parley GC pauses · ms (major) | Parley accept statements · webhooks each · ms each · over 10 ms |",
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const channel of results.channels) {
    lines.push(
      `| ${loadRow(`${channel.channel} · ceiling · closed ${options.connections}`, channel.ceiling.closed)} |`,
    );
    lines.push(
      `| ${loadRow(`${channel.channel} · Parley · closed ${options.connections}`, channel.parley.closed)} |`,
    );
    lines.push(
      `| ${loadRow(`${channel.channel} · ceiling · open ${options.rate}/s`, channel.ceiling.open)} |`,
    );
    lines.push(`| ${loadRow(`${channel.channel} · Parley · open ${options.rate}/s`, channel.parley.open)} |`);
    if (channel.decomposition) {
      lines.push(
        `| ${loadRow(`${channel.channel} · bare + Parley's SQL · closed ${options.connections}`, channel.decomposition.parleySql)} |`,
        `| ${loadRow(`${channel.channel} · bare + Parley's SQL, prepared · closed ${options.connections}`, channel.decomposition.parleySqlPrepared)} |`,
        `| ${loadRow(`${channel.channel} · bare + Parley's SQL, prepared, batched as Parley · closed ${options.connections}`, channel.decomposition.parleySqlBatched)} |`,
        `| ${loadRow(`${channel.channel} · bare + Parley's SQL, prepared, batched as Parley · open ${options.rate}/s`, channel.decomposition.parleySqlBatchedOpen)} |`,
      );
    }
  }
  if (results.refresh) {
    lines.push(
      `| ${loadRow(`wecom · Parley · refresh, open ${options.rate}/s`, results.refresh.measured)} |`,
    );
  }
  lines.push('');
  lines.push(
    'CPU is in % of one core (the machine has ' +
      `${machine.cores}), with CPU milliseconds per acknowledged callback: "server" is the process under test ` +
      '(Parley or the ceiling), "Postgres" the backends serving the benchmark\'s database, "load gen" the ' +
      'benchmark process (load generator and fakes), "others" everything else on the machine — other ' +
      'people\'s work, Postgres background processes, the kernel threads. "Parley GC" is the garbage ' +
      'collection pauses of the Parley process during the phase, from its own `/metrics` ' +
      '(`nodejs_gc_duration_seconds`): how many, their total ms, and in brackets the ms of major collections ' +
      '(mark-compact and incremental marking steps). "Parley accept statements" (from `parley_accept_batch_size` ' +
      "and `parley_accept_seconds`): how many statements stored the phase's webhooks, the mean webhooks and ms " +
      'per statement, and how many took over 10 ms — one held up holds up every webhook arriving meanwhile.',
    '',
  );

  lines.push(
    '**Parley / ceiling**',
    '',
    '| Channel | closed-loop throughput | open-loop p50 | open-loop p99 |',
    '| --- | ---: | ---: | ---: |',
  );
  for (const channel of results.channels) {
    const throughput = channel.parley.closed.result.throughput / channel.ceiling.closed.result.throughput;
    const p50 = channel.parley.open.result.latency.p50 / channel.ceiling.open.result.latency.p50;
    const p99 = channel.parley.open.result.latency.p99 / channel.ceiling.open.result.latency.p99;
    lines.push(`| ${channel.channel} | ${pct(throughput * 100)} | ${round(p50, 2)}× | ${round(p99, 2)}× |`);
  }
  const decomposed = results.channels.filter((channel) => channel.decomposition);
  if (decomposed.length) {
    lines.push(
      '',
      '**Where the closed-loop time goes** (CPU ms per acknowledged callback: server process · Postgres backends)',
      '',
      "| Channel | ceiling (1 INSERT) | bare + Parley's SQL | bare + Parley's SQL, prepared | bare + Parley's SQL, batched | Parley | Parley's SQL alone / ceiling | Parley / its SQL alone | batched / ceiling |",
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    const cost = (measured: Measured) =>
      `${round(cpuPerRequest(measured, 'target'), 2)} · ${round(cpuPerRequest(measured, 'postgres'), 2)}`;
    for (const channel of decomposed) {
      const { parleySql, parleySqlPrepared, parleySqlBatched } = channel.decomposition!;
      const ceiling = channel.ceiling.closed.result.throughput;
      const sqlAlone = parleySqlPrepared.result.throughput / ceiling;
      const parleyVsSql = channel.parley.closed.result.throughput / parleySqlPrepared.result.throughput;
      const batched = parleySqlBatched.result.throughput / ceiling;
      lines.push(
        `| ${channel.channel} | ${cost(channel.ceiling.closed)} | ${cost(parleySql)} | ${cost(parleySqlPrepared)} | ` +
          `${cost(parleySqlBatched)} | ${cost(channel.parley.closed)} | ${pct(sqlAlone * 100)} | ` +
          `${pct(parleyVsSql * 100)} | ${pct(batched * 100)} |`,
      );
    }
  }
  lines.push('');

  if (results.e2e.length) {
    lines.push(
      '**End to end** (model time measured at the fake LLM)',
      '',
      '| Channel | replies | model p50 ms | end-to-end p50 ms | overhead p50 ms | overhead p95 ms | overhead p99 ms |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    );
    for (const e2e of results.e2e) {
      const label = e2e.channel === 'wecom' ? `wecom (refresh polled every ${e2e.pollMs} ms)` : e2e.channel;
      lines.push(
        `| ${label} | ${e2e.delivered}/${e2e.sent} | ${ms(e2e.model.p50)} | ${ms(e2e.endToEnd.p50)} | ` +
          `${ms(e2e.overhead.p50)} | ${ms(e2e.overhead.p95)} | ${ms(e2e.overhead.p99)} |`,
      );
    }
    lines.push('');
  }

  lines.push(
    `**Memory**: Parley max RSS ${int(results.rss.ackInstance)} MB during the ack phases ` +
      `(${int(results.rss.ackInstanceOpenLoop)} MB during its open-loop phases), ` +
      `${int(results.rss.e2eInstance)} MB during end to end (\`ROLE=all\`); the ceiling ${int(results.rss.ceiling)} MB.`,
    '',
  );

  lines.push('**Goals**', '', '| Goal | Target | Measured | Met |', '| --- | --- | --- | :---: |');
  for (const goal of goalsOf(results)) {
    lines.push(`| ${goal.name} | ${goal.target} | ${goal.measured} | ${goal.met ? 'yes' : '**no**'} |`);
  }
  lines.push('');

  if (results.warnings.length) {
    lines.push('**Warnings**', '', ...results.warnings.map((warning) => `- ${warning}`), '');
  }

  const other = machine.otherLoad.length
    ? machine.otherLoad.map((item) => `${item.command} ${Math.round(item.cpuPercent)}%`).join(', ')
    : 'none above 5%';
  lines.push(
    '**Machine**',
    '',
    `- ${machine.cores} cores (\`nproc\`), ${machine.cpuModel}, ${round(machine.memoryGb, 1)} GB RAM, Linux ${machine.kernel}`,
    `- Node ${machine.node}; ${machine.postgres}`,
    `- Parley, Postgres, the ceiling and the load generator (with the fakes) all share these ${machine.cores} cores.`,
    `- Load average at start ${machine.loadAverageStart.map((value) => value.toFixed(2)).join(' / ')}` +
      (machine.loadAverageEnd
        ? `, at end ${machine.loadAverageEnd.map((value) => value.toFixed(2)).join(' / ')}`
        : '') +
      `; other processes busy before the run: ${other}.`,
    '',
    '**Command**',
    '',
    '```bash',
    results.command,
    '```',
    '',
  );

  lines.push('### Recent runs', '', '<!-- webhooks:runs -->');
  lines.push(...[runLine(results), ...previousRuns].slice(0, 12));
  lines.push('<!-- webhooks:runs-end -->', '');
  lines.push('<!-- webhooks:notes (kept by the benchmark script; edit freely below) -->', notes.trim(), '');
  return lines.join('\n');
}

/** One line per run: the headline numbers, so runs on a noisy machine can be compared. */
function runLine(results: RunResults): string {
  const parts = results.channels.map((channel) => {
    const ratio = channel.parley.closed.result.throughput / channel.ceiling.closed.result.throughput;
    const p99 = channel.parley.open.result.latency.p99 / channel.ceiling.open.result.latency.p99;
    return (
      `${channel.channel} ${int(channel.parley.closed.result.throughput)}/${int(channel.ceiling.closed.result.throughput)}/s ` +
      `(${pct(ratio * 100)}), open p99 ${ms(channel.parley.open.result.latency.p99)}/${ms(channel.ceiling.open.result.latency.p99)} ms (${round(p99, 2)}×)`
    );
  });
  if (results.refresh) parts.push(`refresh p99 ${ms(results.refresh.measured.result.latency.p99)} ms`);
  for (const e2e of results.e2e) {
    if (e2e.channel !== 'wecom') parts.push(`${e2e.channel} e2e overhead p95 ${ms(e2e.overhead.p95)} ms`);
  }
  parts.push(`RSS ${int(Math.max(results.rss.ackInstance, results.rss.e2eInstance))} MB`);
  parts.push(`load ${results.machine.loadAverageStart[0].toFixed(2)}`);
  const notes = [
    ...(results.profiled.length ? ['profiled'] : []),
    ...(results.options.traced ? ['traced'] : []),
    ...(results.options.parleyNodeOptions.length
      ? [`Parley with ${results.options.parleyNodeOptions.join(' ')}`]
      : []),
    ...(results.options.parleyBuild ? [`Parley build ${results.options.parleyBuild}`] : []),
  ];
  const flags = notes.length ? ` (${notes.join('; ')})` : '';
  return `- ${results.startedAt.toISOString()}${flags}: ${parts.join('; ')}`;
}

/** Replaces (or appends) the "## Webhooks" section, keeping every other section and the notes block. */
export function writeSection(path: string, build: (previousRuns: string[], notes: string) => string): string {
  const existing = existsSync(path) ? readFileSync(path, 'utf8') : '# Benchmarks\n';
  const start = existing.search(/^## Webhooks\s*$/m);
  let before = existing;
  let after = '';
  let old = '';
  if (start >= 0) {
    const rest = existing.slice(start + 1);
    const next = rest.search(/^## /m);
    const end = next >= 0 ? start + 1 + next : existing.length;
    before = existing.slice(0, start);
    old = existing.slice(start, end);
    after = existing.slice(end);
  }
  const runs = /<!-- webhooks:runs -->\n([\s\S]*?)<!-- webhooks:runs-end -->/.exec(old)?.[1] ?? '';
  const previousRuns = runs.split('\n').filter((line) => line.startsWith('- '));
  const notesMarker = old.indexOf('<!-- webhooks:notes');
  const notes = notesMarker >= 0 ? old.slice(old.indexOf('-->', notesMarker) + 3) : '';
  const section = build(previousRuns, notes);
  const text = `${before.replace(/\s*$/, '\n\n')}${section.trim()}\n${after ? `\n${after.replace(/^\s*/, '')}` : ''}`;
  writeFileSync(path, text);
  return section;
}
