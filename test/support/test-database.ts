import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import pino from 'pino';
import { Database } from '../../src/database/database.js';
import { QueueService } from '../../src/queue/queue.service.js';

/**
 * Every e2e test file gets its own database, cloned from a template migrated once per run:
 * a copy of an embedded data directory, or `CREATE DATABASE … TEMPLATE …` on real Postgres
 * (when TEST_DATABASE_URL is set). The first test file to need the template builds it under a lock.
 */
export interface TestDatabase {
  /** DATABASE_URL for the app, or undefined for the embedded database in `dataDir`. */
  url?: string;
  dataDir: string;
  drop(): Promise<void>;
}

export const realPostgresUrl = (): string | undefined => process.env.TEST_DATABASE_URL || undefined;

function withDatabase(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

async function admin<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

/** Builds the template once per run; concurrent test workers wait for the first one. */
async function template(): Promise<string> {
  const runDir = process.env.PARLEY_TEST_RUN_DIR;
  if (!runDir) throw new Error('PARLEY_TEST_RUN_DIR is unset: run e2e tests through Jest (npm test)');
  const ready = join(runDir, 'template-ready');
  const lock = join(runDir, 'template-lock');
  try {
    mkdirSync(lock);
  } catch {
    while (!existsSync(ready)) await sleep(100);
    return readFileSync(ready, 'utf8');
  }
  const url = realPostgresUrl();
  const silent = pino({ level: 'silent' });
  let name: string;
  if (url) {
    name = `parley_tpl_${process.pid}_${Date.now()}`;
    writeFileSync(join(runDir, 'template-db'), name);
    await admin(url, (client) => client.query(`CREATE DATABASE ${name}`));
    await prepare({ url: withDatabase(url, name), dataDir: join(runDir, 'unused') }, silent);
  } else {
    name = join(runDir, 'template-data');
    await prepare({ dataDir: name }, silent);
  }
  writeFileSync(ready, name);
  return name;
}

async function prepare(settings: { url?: string; dataDir: string }, logger: pino.Logger): Promise<void> {
  const database = await Database.open(settings);
  try {
    await database.migrate();
    const queue = await QueueService.start(database, logger);
    await queue.stop();
  } finally {
    await database.close();
  }
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const source = await template();
  const dataDir = mkdtempSync(join(tmpdir(), 'parley-test-'));
  const url = realPostgresUrl();
  if (url) {
    const name = `parley_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
    await admin(url, (client) => client.query(`CREATE DATABASE ${name} TEMPLATE ${source}`));
    return {
      url: withDatabase(url, name),
      dataDir,
      drop: async () => {
        await admin(url, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
        rmSync(dataDir, { recursive: true, force: true });
      },
    };
  }
  cpSync(source, dataDir, { recursive: true });
  rmSync(join(dataDir, 'parley.lock'), { force: true });
  return { dataDir, drop: async () => rmSync(dataDir, { recursive: true, force: true }) };
}
