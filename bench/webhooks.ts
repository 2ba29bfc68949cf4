/**
 * `npm run bench:webhooks` — Parley's webhook benchmark against a bare ceiling, in the same run.
 * See docs/benchmarks.md ("Webhooks") for what is measured and how; `--help` for the flags.
 */
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Agent, type Server } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startFakeCometChatServer } from '../test/fakes/fake-cometchat-server.js';
import { startFakeOpenAiServer } from '../test/fakes/fake-openai-server.js';
import { startFakeTencentServer } from '../test/fakes/fake-tencent-server.js';
import {
  CHANNELS,
  requestsFor,
  type BenchCredentials,
  type Channel,
  type ChannelRequests,
  type MessageOptions,
  type PreparedRequest,
  BARE_STORE_HEADER,
  type BareStore,
} from './lib/channels.js';
import { DeliveryWatch, runEndToEnd, streamIdOf, type E2EResult } from './lib/e2e.js';
import { describeTrace, readTrace, summariseTrace, TRACE_FLUSH_WAIT_MS } from './lib/trace.js';
import {
  acceptBetween,
  describeAccept,
  describeGc,
  gcBetween,
  scrapeParley,
  type ParleyTotals,
} from './lib/parley-metrics.js';
import {
  closedLoop,
  openLoop,
  combineOpenLoops,
  openLoopAgent,
  openLoopSamples,
  prepare,
  sendOne,
  RequestSource,
  type LoadResult,
} from './lib/load.js';
import {
  busiestProcesses,
  cleanUp,
  combineResources,
  freePort,
  installExitHandlers,
  onCleanup,
  ResourceSampler,
  sleep,
  startChild,
  waitForHttp,
  withTimeout,
  type Child,
  type PhaseResources,
} from './lib/processes.js';
import {
  goalsOf,
  machineInfo,
  renderSection,
  writeSection,
  type ChannelResults,
  type Measured,
  type RunResults,
} from './lib/report.js';

const HELP = `npm run bench:webhooks -- [flags]

  --duration <s>          seconds per measured closed-loop and refresh phase (default 10)
  --open-seconds <s>      seconds per measured open-loop phase (default 30: over fewer requests one stall of
                          the shared machine decides the p99)
  --warmup <s>            unmeasured seconds before each measured phase, at its load and (open loop) on its
                          connections (default 3)
  --connections <n>       closed-loop connections (default 100)
  --rate <n>              open-loop callbacks per second, also the refresh rate (default 500)
  --open-slices <n>       the ceiling's and Parley's open-loop phases interleaved in n slices each, in ABBA
                          order, so that the shared machine's other work falls on both alike (default: one
                          per second of --open-seconds; 1 = one after the other). Each slice's requests are
                          signed just before it, so signatures stay within the platforms' time windows
  --channels <list>       wecom,tencent,cometchat (default all three)
  --model-latency-ms <n>  the fake LLM's time per answer (default 500)
  --e2e-rate <n>          end-to-end messages per second per channel (default 10)
  --e2e-seconds <s>       end-to-end seconds per channel (default 10; 0 skips end to end)
  --refresh-idle <s>      seconds Parley is left idle before the refresh phase (default 0)
  --ack-role <role>       ROLE of the Parley instance for the ack phases: api (default) or all
  --postgres <url>        server to create the database on (default postgres://postgres@127.0.0.1:5432)
  --database <name>       database, dropped and recreated (default parley_bench)
  --keep-database         do not drop the database at the end
  --decompose             also run, closed loop, the bare server storing exactly as Parley does (its SQL,
                          unnamed and prepared statements): splits Parley's cost into database and the rest;
                          and batched per transaction as Parley does it
  --profile <phase>       CPU-profile one Parley phase, e.g. wecom-closed, tencent-open, wecom-refresh
  --trace                 log what Parley's slowest webhooks in each interleaved open loop coincided with (slow
                          accept statements, event-loop stalls, GC pauses), recorded inside Parley
                          (bench/lib/trace-recorder.ts); it costs Parley CPU, so the run is marked traced
  --parley <main.js>      the Parley build to measure (default dist/src/main.js; e.g. another worktree's)
  --parley-node-options=<flags>  extra node flags for the ack-phase Parley (note the =), e.g.
                          --parley-node-options="--max-old-space-size=160"
  --output <file>         markdown file to update (default docs/benchmarks.md; "-" prints only)
  -h, --help              this text
`;

interface Options {
  duration: number;
  openSeconds: number;
  warmup: number;
  connections: number;
  rate: number;
  openSlices: number;
  channels: Channel[];
  modelLatencyMs: number;
  e2eRate: number;
  e2eSeconds: number;
  refreshIdle: number;
  ackRole: 'api' | 'all';
  postgres: string;
  database: string;
  keepDatabase: boolean;
  decompose: boolean;
  profile?: string;
  trace: boolean;
  parleyNodeOptions: string[];
  /** The Parley build (main.js) to measure. */
  parley: string;
  output: string;
}

const ADMIN_API_KEY = `bench-admin-${randomBytes(12).toString('hex')}`;
const SECRET_KEY = randomBytes(32).toString('base64');
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
/** The fake model streams its answer as this many tokens, spread over --model-latency-ms. */
const MODEL_TOKENS = 20;
/** Closed-loop requests are signed in advance for up to this many callbacks per second. */
const PRECOMPUTE_RATE = 6000;

function parseOptions(): Options | undefined {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '3' },
      connections: { type: 'string', default: '100' },
      rate: { type: 'string', default: '500' },
      'open-seconds': { type: 'string', default: '30' },
      'open-slices': { type: 'string' },
      channels: { type: 'string', default: CHANNELS.join(',') },
      'model-latency-ms': { type: 'string', default: '500' },
      'e2e-rate': { type: 'string', default: '10' },
      'e2e-seconds': { type: 'string', default: '10' },
      'refresh-idle': { type: 'string', default: '0' },
      'ack-role': { type: 'string', default: 'api' },
      postgres: { type: 'string', default: 'postgres://postgres@127.0.0.1:5432' },
      database: { type: 'string', default: 'parley_bench' },
      'keep-database': { type: 'boolean', default: false },
      decompose: { type: 'boolean', default: false },
      profile: { type: 'string' },
      trace: { type: 'boolean', default: false },
      'parley-node-options': { type: 'string', default: '' },
      parley: { type: 'string', default: 'dist/src/main.js' },
      output: { type: 'string', default: 'docs/benchmarks.md' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return undefined;
  const number = (name: string, value: string, min: number, max: number) => {
    const parsed = Number(value);
    if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
      throw new Error(`--${name} must be a number between ${min} and ${max}`);
    }
    return parsed;
  };
  const channels = values.channels
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  for (const channel of channels) {
    if (!(CHANNELS as readonly string[]).includes(channel)) {
      throw new Error(`--channels: unknown channel ${channel} (use ${CHANNELS.join(',')})`);
    }
  }
  if (values['ack-role'] !== 'api' && values['ack-role'] !== 'all')
    throw new Error('--ack-role must be api or all');
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(values.database))
    throw new Error('--database must be a plain lower-case name');
  const postgres = new URL(values.postgres);
  if (!LOOPBACK.has(postgres.hostname)) throw new Error('--postgres must be on a loopback address');
  return {
    duration: number('duration', values.duration, 1, 600),
    warmup: number('warmup', values.warmup, 0, 60),
    connections: number('connections', values.connections, 1, 1000),
    rate: number('rate', values.rate, 1, 20_000),
    openSeconds: number('open-seconds', values['open-seconds'], 1, 600),
    openSlices: number('open-slices', values['open-slices'] ?? values['open-seconds'], 1, 600),
    channels: channels as Channel[],
    modelLatencyMs: number('model-latency-ms', values['model-latency-ms'], 0, 120_000),
    e2eRate: number('e2e-rate', values['e2e-rate'], 0.1, 200),
    e2eSeconds: number('e2e-seconds', values['e2e-seconds'], 0, 600),
    refreshIdle: number('refresh-idle', values['refresh-idle'], 0, 600),
    ackRole: values['ack-role'],
    postgres: values.postgres,
    database: values.database,
    keepDatabase: values['keep-database'],
    decompose: values.decompose,
    profile: values.profile,
    trace: values.trace,
    parleyNodeOptions: values['parley-node-options'].split(/\s+/).filter(Boolean),
    parley: resolve(values.parley),
    output: values.output,
  };
}

const log = (message: string) =>
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

function databaseUrl(server: string, name: string): string {
  const url = new URL(server);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'parley-bench' });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

async function recreateDatabase(options: Options): Promise<string> {
  const server = databaseUrl(options.postgres, 'postgres');
  await withClient(server, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS ${options.database} WITH (FORCE)`);
    await client.query(`CREATE DATABASE ${options.database}`);
  });
  const url = databaseUrl(options.postgres, options.database);
  await withClient(url, (client) => client.query('CREATE EXTENSION IF NOT EXISTS vector'));
  if (!options.keepDatabase) {
    onCleanup('drop the database', async () => {
      await withClient(server, (client) =>
        client.query(`DROP DATABASE IF EXISTS ${options.database} WITH (FORCE)`),
      );
    });
  }
  return url;
}

/** Stands in for WeCom's response_url host (only used when an answer outlives its stream). */
async function startResponseUrlSink(): Promise<{ server: Server; origin: string }> {
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () =>
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"errcode":0}'),
    );
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  onCleanup('response_url sink', () => new Promise<void>((done) => server.close(() => done())));
  return { server, origin: `http://127.0.0.1:${port}` };
}

interface Parley {
  child: Child;
  origin: string;
}

async function startParley(
  script: string,
  name: string,
  role: 'api' | 'all',
  dbUrl: string,
  sinkOrigin: string,
  workDir: string,
  profileDir?: string,
  nodeArgs: string[] = [],
  traceFile?: string,
): Promise<Parley> {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(join(workDir, `${name}-data-`));
  const child = startChild({
    name,
    script,
    logFile: join(workDir, `${name}.log`),
    nodeArgs,
    env: {
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: dbUrl,
      ADMIN_API_KEY,
      SECRET_KEY,
      LOG_LEVEL: 'warn',
      ROLE: role,
      DATA_DIR: dataDir,
      PUBLIC_BASE_URL: origin,
      WECOM_RESPONSE_URL_HOSTS: sinkOrigin,
      ...(profileDir ? { BENCH_PROFILE_DIR: profileDir } : {}),
      ...(traceFile ? { BENCH_TRACE_FILE: traceFile } : {}),
    },
  });
  onCleanup(`stop ${name}`, () => child.stop());
  await waitForHttp(`${origin}/health/ready`, child, 120_000);
  return { child, origin };
}

async function admin<T>(origin: string, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(new URL(path, origin), {
    method,
    headers: { authorization: `Bearer ${ADMIN_API_KEY}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} → ${response.status}: ${text.slice(0, 500)}`);
  return JSON.parse(text) as T;
}

interface Fakes {
  llmBaseUrl: string;
  tencentBaseUrl: string;
  cometchatBaseUrl: string;
  tencentSecretKey: string;
  cometchatApiKey: string;
}

/** Model provider → store → one bot per channel, through the admin API (as an integrator would). */
async function provision(origin: string, fakes: Fakes, credentials: BenchCredentials): Promise<void> {
  const model = await admin<{ id: string }>(origin, 'POST', '/api/v1/providers', {
    name: 'bench-llm',
    category: 'model',
    type: 'openai-compatible',
    config: { baseUrl: fakes.llmBaseUrl, model: 'fake', timeoutMs: 120_000 },
  });
  const store = await admin<{ id: string }>(origin, 'POST', '/api/v1/stores', {
    name: 'bench',
    modelProviderId: model.id,
    fallbackMessage: 'Sorry, try again later.',
  });
  const bot = (name: string, type: string, config: Record<string, unknown>) =>
    admin<{ id: string }>(origin, 'POST', '/api/v1/providers', {
      name,
      category: 'bot',
      type,
      config: { storeId: store.id, ...config },
    });
  const wecom = await bot('bench-wecom', 'wecom-bot', {
    botId: credentials.wecom.botId,
    token: credentials.wecom.token,
    encodingAesKey: credentials.wecom.encodingAesKey,
  });
  const tencent = await bot('bench-tencent', 'tencent-chat', {
    sdkAppId: credentials.tencent.sdkAppId,
    secretKey: fakes.tencentSecretKey,
    adminIdentifier: 'administrator',
    robotId: credentials.tencent.robotId,
    callbackToken: credentials.tencent.callbackToken,
    apiBaseUrl: fakes.tencentBaseUrl,
  });
  const comet = await bot('bench-cometchat', 'cometchat', {
    appId: credentials.cometchat.appId,
    region: 'eu',
    apiKey: fakes.cometchatApiKey,
    botUid: credentials.cometchat.botUid,
    basicAuthUsername: credentials.cometchat.username,
    basicAuthPassword: credentials.cometchat.password,
    apiBaseUrl: fakes.cometchatBaseUrl,
  });
  credentials.wecom.providerId = wecom.id;
  credentials.tencent.providerId = tencent.id;
  credentials.cometchat.providerId = comet.id;
}

/** Checks one callback end to end before measuring: 200 and the channel's expected acknowledgement. */
async function smokeTest(
  origin: string,
  channel: Channel,
  requests: ChannelRequests,
  request: PreparedRequest,
) {
  const { status, body } = await sendOne(origin, request);
  const ok =
    status === 200 &&
    (channel === 'wecom'
      ? Boolean(streamIdOf(requests.wecom, body))
      : channel === 'tencent'
        ? (JSON.parse(body) as { ActionStatus?: string }).ActionStatus === 'OK'
        : (JSON.parse(body) as { status?: string }).status === 'accepted');
  if (!ok)
    throw new Error(`smoke test of ${channel} at ${origin} failed: HTTP ${status} ${body.slice(0, 300)}`);
}

/**
 * The Postgres backends serving clients of the benchmark's database (Parley's pools, the ceiling's); not
 * autovacuum, whose work comes whenever it comes (it counts with the others).
 */
async function backendPids(db: pg.Client): Promise<number[]> {
  const result = await db.query<{ pid: number }>(
    `SELECT pid FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
  );
  return result.rows.map((row) => row.pid);
}

/**
 * Before a measurement: waits (at most 60 s) until the previous phase's work has drained — no statement
 * running on the benchmark's database — then ANALYZEs it. A fresh database has no statistics, and with
 * none the planner reads the per-user rate-limit count through the wrong index (a scan of every message of
 * the bot); in production autovacuum keeps statistics current, so the benchmark does the same.
 */
async function settle(db: pg.Client): Promise<void> {
  const deadline = Date.now() + 60_000;
  let quiet = 0;
  while (quiet < 3 && Date.now() < deadline) {
    const result = await db.query<{ count: string }>(
      `SELECT count(*) FROM pg_stat_activity
       WHERE datname = current_database() AND pid <> pg_backend_pid() AND state <> 'idle'`,
    );
    quiet = Number(result.rows[0].count) === 0 ? quiet + 1 : 0;
    await sleep(100);
  }
  await db.query('ANALYZE');
  await sleep(500);
}

const PLATFORM: Record<Channel, string> = {
  wecom: 'wecom-bot',
  tencent: 'tencent-chat',
  cometchat: 'cometchat',
};

/** Rows stored: Parley's tables (Parley and the bare server storing like Parley), or the ceiling's. */
async function countRows(db: pg.Client, target: Target, channel: Channel): Promise<number> {
  const result =
    target !== 'ceiling'
      ? await db.query<{ count: string }>(
          `SELECT count(*) FROM messages WHERE role = 'user' AND platform = $1`,
          [PLATFORM[channel]],
        )
      : await db.query<{ count: string }>(`SELECT count(*) FROM ceiling_messages WHERE channel = $1`, [
          channel,
        ]);
  return Number(result.rows[0].count);
}

interface AckContext {
  options: Options;
  /** A connection to the benchmark's database for counting, draining and finding backends. */
  db: pg.Client;
  requests: ChannelRequests;
  parley: Parley;
  ceiling: { child: Child; origin: string };
  runId: string;
  warnings: string[];
  profiled: string[];
  profileDir: string;
  /** Where the ack-phase Parley records its trace (--trace). */
  traceFile?: string;
  /** Highest RSS (MB): Parley over every ack phase, Parley over its open-loop phases, the ceiling. */
  rss: { parley: number; parleyOpen: number; ceiling: number };
}

let batchCounter = 0;
const nextBatch = (runId: string, label: string) => `${runId}${label}${++batchCounter}`;

/** Users per batch so that no user sends more than 10 messages in it (the default limit is 20/minute). */
const usersFor = (count: number) => Math.max(1000, Math.ceil(count / 10));

/** What takes the load: Parley, the ceiling, or the bare server storing the way Parley does (--decompose). */
type Target = 'parley' | 'ceiling' | Exclude<BareStore, 'insert'>;

/** What drives one target in a phase: how its requests are made, its warm-up requests, its connections. */
interface TargetLoad {
  target: Target;
  origin: string;
  pid: number;
  /** Requests the measured phase needs (precomputed with `prepare(count, make)`). */
  count: number;
  make: (index: number) => PreparedRequest;
  warmUpSource: RequestSource;
  /** Open loop: the keep-alive connections its warm-up opens and its measurement then uses. */
  agent?: Agent;
}

async function loadFor(
  context: AckContext,
  target: Target,
  channel: Channel,
  mode: 'closed' | 'open',
  expectedThroughput: number,
): Promise<TargetLoad> {
  const { options, requests } = context;
  const origin = target === 'parley' ? context.parley.origin : context.ceiling.origin;
  const pid = target === 'parley' ? context.parley.child.pid : context.ceiling.child.pid;
  const batch = nextBatch(context.runId, `${channel[0]}${target[0]}${target.length}${mode[0]}`);
  const count =
    mode === 'closed'
      ? Math.ceil(expectedThroughput * options.duration) + options.connections * 2
      : Math.ceil(options.rate * options.openSeconds) + 10;
  const messageOptions: MessageOptions = { batch, users: usersFor(count) };
  const extraHeaders: Record<string, string> =
    target === 'parley' || target === 'ceiling' ? {} : { [BARE_STORE_HEADER]: target };
  const make = (index: number) => {
    const request = requests[channel].message(index, messageOptions);
    return { ...request, headers: { ...request.headers, ...extraHeaders } };
  };
  await smokeTest(origin, channel, requests, make(count + 1_000_000));

  const warmBatch: MessageOptions = {
    batch: `${batch}w`,
    users: usersFor(options.warmup * PRECOMPUTE_RATE),
  };
  const warmUpSource = new RequestSource([], (index) => {
    const request = requests[channel].message(index, warmBatch);
    return { ...request, headers: { ...request.headers, ...extraHeaders } };
  });
  const agent = mode === 'open' ? openLoopAgent() : undefined;
  return { target, origin, pid, count, make, warmUpSource, agent };
}

async function measure(
  context: AckContext,
  target: Target,
  channel: Channel,
  mode: 'closed' | 'open',
  expectedThroughput: number,
): Promise<Measured> {
  const { options } = context;
  const load = await loadFor(context, target, channel, mode, expectedThroughput);
  if (mode === 'closed' && options.warmup > 0) {
    await closedLoop({
      origin: load.origin,
      connections: options.connections,
      seconds: options.warmup,
      source: load.warmUpSource,
    });
    await sleep(500);
  }
  const source = prepare(load.count, load.make);
  await settle(context.db);
  if (load.agent) await openLoopWarmUp(context, load.origin, load.warmUpSource, load.agent);
  const before = await countRows(context.db, target, channel);
  const profileLabel = `${channel}-${mode}`;
  const profiling = target === 'parley' && options.profile === profileLabel;
  if (profiling) await startProfile(context);
  const sampler = await samplerFor(context, load.pid);
  const parleyBefore = target === 'parley' ? await scrapeParley(load.origin) : undefined;
  sampler.start(loadavg()[0]);
  const result: LoadResult =
    mode === 'closed'
      ? await closedLoop({
          origin: load.origin,
          connections: options.connections,
          seconds: options.duration,
          source,
        })
      : await openLoop({
          origin: load.origin,
          rate: options.rate,
          seconds: options.openSeconds,
          source,
          agent: load.agent,
        });
  load.agent?.destroy();
  const resources = sampler.stop();
  const parleyDuring = parleyBefore ? await parleyBetween(parleyBefore, load.origin) : {};
  if (profiling) await collectProfile(context, `parley-${profileLabel}`);
  const storedRows = (await countRows(context.db, target, channel)) - before;
  return recordPhase(context, target, channel, mode, { result, resources, storedRows, ...parleyDuring });
}

/**
 * The open-loop phases of several targets (the ceiling and Parley), interleaved: --open-slices slices of
 * --duration / --open-slices seconds each, alternating in ABBA order (ceiling, Parley, Parley, ceiling, …),
 * so that whatever else the shared machine does meanwhile falls on every target alike. Each target's
 * percentiles are over all of its slices. Parley's GC pauses (and a --profile) span the whole interleaved
 * phase; Parley is idle during the other targets' slices.
 */
async function measureOpenInterleaved(
  context: AckContext,
  channel: Channel,
  targets: Target[],
): Promise<Measured[]> {
  const { options } = context;
  const loads: TargetLoad[] = [];
  for (const target of targets) loads.push(await loadFor(context, target, channel, 'open', options.rate));
  // Signed slice by slice, just before each slice (see RequestSource.refill).
  const sources = loads.map((load) => new RequestSource([], load.make));
  const sliceSeconds = options.openSeconds / options.openSlices;
  await settle(context.db);
  for (const load of loads) {
    if (load.agent) await openLoopWarmUp(context, load.origin, load.warmUpSource, load.agent);
  }
  const before = await Promise.all(loads.map((load) => countRows(context.db, load.target, channel)));
  const parley = loads.find((load) => load.target === 'parley');
  const profiling = parley !== undefined && options.profile === `${channel}-open`;
  if (profiling) await startProfile(context);
  const parleyBefore = parley ? await scrapeParley(parley.origin) : undefined;

  const runs = loads.map(() => [] as LoadResult[]);
  const parts = loads.map(() => [] as PhaseResources[]);
  const samples = loads.map(() => openLoopSamples());
  /** Parley's slices, ms since the epoch (the trace recorder's clock). */
  const parleyWindows: [number, number][] = [];
  const epochNow = () => performance.timeOrigin + performance.now();
  const forward = loads.map((_load, index) => index);
  const backward = [...forward].reverse();
  for (let slice = 0; slice < options.openSlices; slice++) {
    for (const index of slice % 2 === 0 ? forward : backward) {
      const load = loads[index];
      sources[index].refill(Math.ceil(options.rate * sliceSeconds) + 10);
      const sampler = await samplerFor(context, load.pid);
      sampler.start(loadavg()[0]);
      const sliceStart = epochNow();
      runs[index].push(
        await openLoop({
          origin: load.origin,
          rate: options.rate,
          seconds: sliceSeconds,
          source: sources[index],
          agent: load.agent,
          samples: samples[index],
        }),
      );
      parts[index].push(sampler.stop());
      if (load.target === 'parley') parleyWindows.push([sliceStart, epochNow()]);
    }
  }
  for (const load of loads) load.agent?.destroy();
  const parleyDuring = parley && parleyBefore ? await parleyBetween(parleyBefore, parley.origin) : {};
  if (profiling) await collectProfile(context, `parley-${channel}-open`);
  if (context.traceFile) await logTrace(context.traceFile, channel, parleyWindows);
  const results: Measured[] = [];
  for (const [index, load] of loads.entries()) {
    const storedRows = (await countRows(context.db, load.target, channel)) - before[index];
    results.push(
      recordPhase(context, load.target, channel, 'open', {
        result: combineOpenLoops(runs[index], samples[index]),
        resources: combineResources(parts[index]),
        storedRows,
        ...(load.target === 'parley' ? parleyDuring : {}),
      }),
    );
  }
  return results;
}

async function logTrace(file: string, channel: Channel, windows: [number, number][]): Promise<void> {
  await sleep(TRACE_FLUSH_WAIT_MS);
  const summary = summariseTrace(readTrace(file), windows);
  log(`${channel.padEnd(9)} parley  open   trace: ${describeTrace(summary)}`);
}

/** Parley's GC pauses and accept statements since `before`, from its /metrics. */
async function parleyBetween(before: ParleyTotals, origin: string): Promise<Pick<Measured, 'gc' | 'accept'>> {
  const after = await scrapeParley(origin);
  return { gc: gcBetween(before, after), accept: acceptBetween(before, after) };
}

/** CPU, RSS and others' CPU during a phase: the target's process, the benchmark database's backends, us. */
async function samplerFor(context: AckContext, targetPid: number): Promise<ResourceSampler> {
  return new ResourceSampler(
    {
      target: targetPid,
      parley: context.parley.child.pid,
      ceiling: context.ceiling.child.pid,
      postgres: await backendPids(context.db),
      loadgen: process.pid,
    },
    async () => ({ postgres: await backendPids(context.db) }),
  );
}

/** Records a phase's peaks and problems, and logs its line. */
function recordPhase(
  context: AckContext,
  target: Target,
  channel: Channel,
  mode: 'closed' | 'open',
  phase: Measured,
): Measured {
  const { result, resources, storedRows, gc, accept } = phase;
  context.rss.parley = Math.max(context.rss.parley, resources.maxRssMb.parley ?? 0);
  if (target === 'parley' && mode === 'open') {
    context.rss.parleyOpen = Math.max(context.rss.parleyOpen, resources.maxRssMb.parley ?? 0);
  }
  context.rss.ceiling = Math.max(context.rss.ceiling, resources.maxRssMb.ceiling ?? 0);
  checkResult(context, `${channel} ${target} ${mode}`, result, storedRows);
  log(
    `${channel.padEnd(9)} ${target.padEnd(7)} ${mode.padEnd(6)} ${Math.round(result.throughput)}/s ` +
      `p50 ${result.latency.p50.toFixed(2)} ms p99 ${result.latency.p99.toFixed(2)} ms ` +
      `(${result.ok} ok, ${result.non2xx} non-2xx, ${result.errors} errors${result.skipped ? `, ${result.skipped} skipped` : ''}) ` +
      `CPU ${Math.round(resources.cpuPercent.target)}% (${perRequest(resources, 'target', result.ok)} ms/req) ` +
      `Postgres ${Math.round(resources.cpuPercent.postgres)}% (${perRequest(resources, 'postgres', result.ok)} ms/req) ` +
      `others ${Math.round(resources.othersPercent)}% ` +
      `RSS ${Math.round(resources.maxRssMb.target ?? 0)} MB` +
      (gc ? ` GC ${describeGc(gc)} ms` : '') +
      (accept?.statements ? ` accept ${describeAccept(accept)}` : ''),
  );
  return phase;
}

const perRequest = (resources: PhaseResources, group: string, ok: number) =>
  ((resources.cpuPercent[group] * resources.seconds * 10) / ok).toFixed(2);

function checkResult(context: AckContext, label: string, result: LoadResult, storedRows: number): void {
  if (result.non2xx || result.errors || result.skipped) {
    context.warnings.push(
      `${label}: ${result.non2xx} non-2xx (${JSON.stringify(result.statusCodes)}), ${result.errors} errors, ` +
        `${result.skipped ?? 0} skipped`,
    );
  }
  // Requests still in flight when a closed-loop run stops are stored but not counted as answered.
  const tolerance = result.mode === 'closed' ? context.options.connections : 0;
  if (storedRows < result.ok || storedRows > result.ok + tolerance) {
    context.warnings.push(`${label}: ${result.ok} callbacks acknowledged but ${storedRows} rows stored`);
  }
  if (result.onTheFly > 0) {
    context.warnings.push(
      `${label}: ${result.onTheFly} requests were signed during the run (precomputed ones ran out)`,
    );
  }
}

/** Asks the child (through bench/child-preload.ts) to start profiling, and waits until it has. */
async function startProfile(context: AckContext): Promise<void> {
  const file = join(context.profileDir, 'start');
  writeFileSync(file, '');
  const deadline = Date.now() + 5000;
  while (existsSync(file) && Date.now() < deadline) await sleep(20);
  await sleep(50);
}

async function collectProfile(context: AckContext, label: string): Promise<void> {
  const before = readdirSync(context.profileDir).filter((file) => file.endsWith('.cpuprofile')).length;
  writeFileSync(join(context.profileDir, 'stop'), '');
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const files = readdirSync(context.profileDir).filter((file) => file.endsWith('.cpuprofile'));
    if (files.length > before) {
      context.profiled.push(label);
      log(`CPU profile of ${label}: ${join(context.profileDir, files.sort().at(-1)!)}`);
      log(
        `  summary: node dist/bench/cpu-profile-summary.js ${join(context.profileDir, files.sort().at(-1)!)}`,
      );
      return;
    }
    await sleep(200);
  }
  context.warnings.push(`the CPU profile of ${label} was not written`);
}

/**
 * --warmup seconds of the open loop's rate on the connections the measured loop then uses, unmeasured. Without
 * it a phase starts on new connections, as many as the first requests need at once, and Node accepts ONE
 * connection per event-loop turn (libuv ≥ 1.45, https://github.com/libuv/libuv/pull/3696): a server whose turns
 * take 20–50 ms under load then holds new connections for up to a second — the first second of the phase, not
 * the steady state the goals are about (docs/benchmarks.md, "2026-12-04, afternoon").
 */
async function openLoopWarmUp(
  context: AckContext,
  origin: string,
  source: RequestSource,
  agent: Agent,
): Promise<void> {
  const { options } = context;
  if (options.warmup <= 0) return;
  await openLoop({ origin, rate: options.rate, seconds: options.warmup, source, agent });
}

/**
 * Stream refreshes for existing stream ids (the answer ids accept handed out: most still waiting for a worker,
 * since the ack phases run ROLE=api), open loop at --rate.
 */
async function measureRefresh(context: AckContext): Promise<Measured & { streams: number }> {
  const { options, requests } = context;
  const ids = (
    await context.db.query<{ id: string }>(
      `SELECT answer_id AS id FROM messages WHERE role = 'user' AND platform = 'wecom-bot' AND answer_id IS NOT NULL
       ORDER BY created_at DESC LIMIT 2000`,
    )
  ).rows.map((row) => row.id);
  if (ids.length === 0) throw new Error('no WeCom streams to refresh');
  const batch = nextBatch(context.runId, 'r');
  const count = Math.ceil(options.rate * options.duration) + 10;
  const messageOptions: MessageOptions = { batch, users: usersFor(count) };
  const make = (index: number) => requests.wecom.refresh(index, ids[index % ids.length], messageOptions);
  const check = await sendOne(context.parley.origin, make(count + 1_000_000));
  if (check.status !== 200 || !streamIdOf(requests.wecom, check.body)) {
    throw new Error(`refresh smoke test failed: HTTP ${check.status} ${check.body.slice(0, 300)}`);
  }
  const source = prepare(count, make);
  // A burst after a quiet spell (with --warmup 0, its first second is measured too).
  await sleep(options.refreshIdle * 1000);
  await settle(context.db);
  const agent = openLoopAgent();
  await openLoopWarmUp(
    context,
    context.parley.origin,
    new RequestSource([], (index) => make(count + index)),
    agent,
  );
  const profiling = options.profile === 'wecom-refresh';
  if (profiling) await startProfile(context);
  const sampler = await samplerFor(context, context.parley.child.pid);
  const parleyBefore = await scrapeParley(context.parley.origin);
  sampler.start(loadavg()[0]);
  const result = await openLoop({
    origin: context.parley.origin,
    rate: options.rate,
    seconds: options.duration,
    source,
    agent,
  });
  agent.destroy();
  const resources = sampler.stop();
  const { gc } = await parleyBetween(parleyBefore, context.parley.origin);
  if (profiling) await collectProfile(context, 'parley-wecom-refresh');
  context.rss.parley = Math.max(context.rss.parley, resources.maxRssMb.parley ?? 0);
  checkResult(context, 'wecom refresh', result, result.ok);
  log(
    `wecom     parley  refresh ${Math.round(result.throughput)}/s p50 ${result.latency.p50.toFixed(2)} ms ` +
      `p99 ${result.latency.p99.toFixed(2)} ms (${result.ok} ok, ${result.non2xx} non-2xx, ${result.errors} errors) ` +
      `GC ${describeGc(gc)} ms`,
  );
  return { result, resources, storedRows: 0, streams: ids.length, gc };
}

function commandLine(): string {
  const args = process.argv.slice(2);
  return `npm run bench:webhooks${args.length ? ` -- ${args.join(' ')}` : ''}`;
}

async function main(): Promise<void> {
  const options = parseOptions();
  if (!options) {
    process.stdout.write(HELP);
    return;
  }
  installExitHandlers();
  const loadAtStart = loadavg();
  const perChannel = 2 * (options.duration + 15) + 2 * (options.openSeconds + 15) + 4 * (options.warmup + 2);
  const budgetSeconds =
    240 +
    options.channels.length * (perChannel + (options.e2eSeconds + 60 + options.modelLatencyMs / 1000)) +
    options.duration +
    options.warmup +
    options.refreshIdle +
    30;
  const watchdog = setTimeout(() => {
    process.stderr.write(`benchmark exceeded its ${Math.round(budgetSeconds)} s budget; stopping\n`);
    void cleanUp().finally(() => process.exit(2));
  }, budgetSeconds * 1000);
  watchdog.unref();

  const startedAt = new Date();
  const runId = randomBytes(3).toString('hex');
  const workDir = mkdtempSync(join(tmpdir(), 'parley-bench-'));
  const profileDir = mkdtempSync(join(workDir, 'profiles-'));
  const traceFile = options.trace ? join(workDir, 'parley-ack-trace.jsonl') : undefined;
  log(`run ${runId}; logs and profiles in ${workDir}`);
  const otherLoad = await busiestProcesses(1000, new Set([process.pid]));
  const dbUrl = await recreateDatabase(options);
  const postgresVersion = await withClient(dbUrl, async (client) =>
    String((await client.query<{ server_version: string }>('SHOW server_version')).rows[0].server_version),
  );

  const llm = await startFakeOpenAiServer({
    tokens: Array.from({ length: MODEL_TOKENS }, (_, index) => `token${index} `),
    tokenDelayMs: options.modelLatencyMs / MODEL_TOKENS,
  });
  onCleanup('fake LLM', () => llm.close());
  const tencentSecretKey = randomBytes(32).toString('hex');
  const credentials: BenchCredentials = {
    wecom: {
      providerId: '',
      botId: 'benchbot',
      token: randomBytes(16).toString('hex'),
      encodingAesKey: randomBytes(32).toString('base64').slice(0, 43),
      responseUrl: '',
    },
    tencent: {
      providerId: '',
      sdkAppId: '1400000000',
      robotId: '@RBT#001',
      callbackToken: randomBytes(16).toString('hex'),
    },
    cometchat: {
      providerId: '',
      appId: 'benchapp',
      botUid: 'bench_bot',
      username: 'parley',
      password: randomBytes(16).toString('hex'),
    },
  };
  const tencent = await startFakeTencentServer({
    sdkAppId: Number(credentials.tencent.sdkAppId),
    secretKey: tencentSecretKey,
  });
  onCleanup('fake Tencent', () => tencent.close());
  const cometchatApiKey = randomBytes(16).toString('hex');
  const cometchat = await startFakeCometChatServer({
    appId: credentials.cometchat.appId,
    apiKey: cometchatApiKey,
    botUid: credentials.cometchat.botUid,
  });
  onCleanup('fake CometChat', () => cometchat.close());
  const sink = await startResponseUrlSink();
  credentials.wecom.responseUrl = `${sink.origin}/cgi-bin/aibot/response?response_code=bench`;
  const watch = new DeliveryWatch(llm, tencent, cometchat);
  const fakes: Fakes = {
    llmBaseUrl: llm.baseUrl,
    tencentBaseUrl: tencent.baseUrl,
    cometchatBaseUrl: cometchat.baseUrl,
    tencentSecretKey,
    cometchatApiKey,
  };
  const warnings: string[] = [];
  const profiled: string[] = [];

  // 1. End to end, on a ROLE=all instance (its answers all finish before the ack phases start).
  log('starting Parley (ROLE=all) for provisioning and end to end');
  const e2eParley = await startParley(options.parley, 'parley-e2e', 'all', dbUrl, sink.origin, workDir);
  await provision(e2eParley.origin, fakes, credentials);
  const requests = requestsFor(credentials);
  const e2e: E2EResult[] = [];
  const e2eSampler = new ResourceSampler({ parley: e2eParley.child.pid });
  e2eSampler.start(loadavg()[0]);
  if (options.e2eSeconds > 0) {
    for (const channel of options.channels) {
      const endToEnd = (seconds: number, batch: string) =>
        runEndToEnd({
          channel,
          origin: e2eParley.origin,
          requests,
          watch,
          rate: options.e2eRate,
          seconds,
          batch,
          deliveryTimeoutMs: 30_000 + options.modelLatencyMs * 3,
          wecomPollMs: 50,
        });
      // Unmeasured, like every phase's warm-up: otherwise the first channel's figures carry the freshly
      // started instance's first answers (its p99 was 2–7× the other channels').
      if (options.warmup > 0) await endToEnd(options.warmup, `e2e-${runId}-${channel}-w`);
      const result = await endToEnd(options.e2eSeconds, `e2e-${runId}-${channel}`);
      e2e.push(result);
      if (result.delivered < result.sent)
        warnings.push(`${channel} end to end: ${result.delivered}/${result.sent} replies arrived`);
      log(
        `${channel.padEnd(9)} e2e     ${result.delivered}/${result.sent} delivered; model p50 ${result.model.p50.toFixed(1)} ms; ` +
          `overhead p50 ${result.overhead.p50.toFixed(1)} p95 ${result.overhead.p95.toFixed(1)} p99 ${result.overhead.p99.toFixed(1)} ms`,
      );
    }
  }
  const e2eResources = e2eSampler.stop();
  await withTimeout(e2eParley.child.stop(), 30_000, 'stopping the end-to-end instance');

  // 2. Ack phases: the ceiling and Parley, per channel, interleaved.
  log(`starting Parley (ROLE=${options.ackRole}) and the ceiling for the ack phases`);
  const profiling = options.profile !== undefined;
  const parley = await startParley(
    options.parley,
    'parley-ack',
    options.ackRole,
    dbUrl,
    sink.origin,
    workDir,
    profiling ? profileDir : undefined,
    options.parleyNodeOptions,
    traceFile,
  );
  const ceilingPort = await freePort();
  const ceilingChild = startChild({
    name: 'ceiling',
    script: resolve('dist/bench/bare-ceiling.js'),
    logFile: join(workDir, 'ceiling.log'),
    env: {
      NODE_ENV: 'production',
      PORT: String(ceilingPort),
      DATABASE_URL: dbUrl,
      BENCH_CEILING_CONFIG: JSON.stringify(credentials),
      BENCH_CEILING_POOL: '10',
    },
  });
  onCleanup('stop the ceiling', () => ceilingChild.stop());
  const ceiling = { child: ceilingChild, origin: `http://127.0.0.1:${ceilingPort}` };
  await waitForHttp(`${ceiling.origin}/ready`, ceilingChild, 30_000);
  const monitor = new pg.Client({ connectionString: dbUrl, application_name: 'parley-bench-monitor' });
  await monitor.connect();
  onCleanup('monitor connection', () => monitor.end());
  const context: AckContext = {
    options,
    db: monitor,
    requests,
    parley,
    ceiling,
    runId,
    warnings,
    profiled,
    profileDir,
    traceFile,
    rss: { parley: 0, parleyOpen: 0, ceiling: 0 },
  };
  const ackStartedAt = new Date();
  const channels: ChannelResults[] = [];
  for (const channel of options.channels) {
    const ceilingClosed = await measure(context, 'ceiling', channel, 'closed', PRECOMPUTE_RATE);
    const parleyClosed = await measure(
      context,
      'parley',
      channel,
      'closed',
      Math.min(PRECOMPUTE_RATE, ceilingClosed.result.throughput * 1.3 + 200),
    );
    const [ceilingOpen, parleyOpen] =
      options.openSlices > 1
        ? await measureOpenInterleaved(context, channel, ['ceiling', 'parley'])
        : [
            await measure(context, 'ceiling', channel, 'open', options.rate),
            await measure(context, 'parley', channel, 'open', options.rate),
          ];
    const expected = Math.min(PRECOMPUTE_RATE, ceilingClosed.result.throughput * 1.3 + 200);
    const decomposition = options.decompose
      ? {
          parleySql: await measure(context, 'parley-sql', channel, 'closed', expected),
          parleySqlPrepared: await measure(context, 'parley-sql-prepared', channel, 'closed', expected),
          parleySqlBatched: await measure(context, 'parley-sql-batched', channel, 'closed', expected),
          parleySqlBatchedOpen: await measure(context, 'parley-sql-batched', channel, 'open', options.rate),
        }
      : undefined;
    channels.push({
      channel,
      ceiling: { closed: ceilingClosed, open: ceilingOpen },
      parley: { closed: parleyClosed, open: parleyOpen },
      ...(decomposition ? { decomposition } : {}),
    });
  }
  const refresh = options.channels.includes('wecom') ? await measureRefresh(context) : undefined;
  if (options.ackRole === 'api') {
    const notices = Number(
      (
        await monitor.query<{ count: string }>(
          `SELECT count(*) FROM messages WHERE role = 'user' AND notice IS NOT NULL AND created_at >= $1`,
          [ackStartedAt],
        )
      ).rows[0].count,
    );
    if (notices > 0)
      warnings.push(`${notices} messages of the ack phases were answered with a notice (rate limit?)`);
  }

  const results: RunResults = {
    startedAt,
    command: commandLine(),
    options: {
      duration: options.duration,
      openSeconds: options.openSeconds,
      connections: options.connections,
      rate: options.rate,
      openSlices: options.openSlices,
      warmup: options.warmup,
      modelLatencyMs: options.modelLatencyMs,
      ackRole: options.ackRole,
      e2eRate: options.e2eRate,
      e2eSeconds: options.e2eSeconds,
      parleyNodeOptions: options.parleyNodeOptions,
      ...(options.parley === resolve('dist/src/main.js') ? {} : { parleyBuild: options.parley }),
      ...(options.trace ? { traced: true } : {}),
    },
    machine: {
      ...machineInfo(`PostgreSQL ${postgresVersion}`),
      otherLoad,
      loadAverageEnd: loadavg(),
    },
    channels,
    refresh: refresh ? { measured: refresh, streams: refresh.streams } : undefined,
    e2e,
    rss: {
      ackInstance: context.rss.parley,
      ackInstanceOpenLoop: context.rss.parleyOpen,
      e2eInstance: e2eResources.maxRssMb.parley ?? Number.NaN,
      ceiling: context.rss.ceiling,
    },
    profiled,
    warnings,
  };
  results.machine.loadAverageStart = loadAtStart;
  const build = (previousRuns: string[], notes: string) => renderSection(results, previousRuns, notes);
  const section = options.output === '-' ? build([], '') : writeSection(options.output, build);
  process.stdout.write(`\n${section}\n`);
  const missed = goalsOf(results).filter((goal) => !goal.met);
  log(
    missed.length
      ? `${missed.length} goal(s) missed: ${missed.map((goal) => goal.name).join('; ')}`
      : 'every goal met',
  );
  if (options.output !== '-') log(`wrote ${options.output}`);
}

main()
  .then(() => cleanUp())
  .then(() => process.exit(0))
  .catch(async (error: unknown) => {
    process.stderr.write(`benchmark failed: ${String((error as Error)?.stack ?? error)}\n`);
    await cleanUp();
    process.exit(1);
  });
