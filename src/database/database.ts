import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { createPgConfig } from '@electric-sql/pglite/node-postgres';
import { vector } from '@electric-sql/pglite-pgvector';
import pg from 'pg';
import { DataSource, DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations/index.js';
import { ENTITIES } from './entities.js';
import { SnakeNamingStrategy } from './naming.strategy.js';
import { DataDirLock } from './data-dir-lock.js';

export type DatabaseKind = 'postgres' | 'pglite';

export interface DatabaseSettings {
  /** A Postgres URL; when absent, the embedded database under `dataDir` is used. */
  url?: string;
  dataDir: string;
  poolSize?: number;
}

export class DatabaseError extends Error {
  override name = 'DatabaseError';
}

/** Lock id for `pg_advisory_lock` so that instances starting together migrate one at a time. */
const MIGRATION_LOCK_ID = 72_657_221;

/**
 * The pg client of Parley's pool, mended for backends that Postgres terminates (a restart, an administrator,
 * a failover):
 * - It always has an 'error' listener. pg-pool listens while the client is idle and TypeORM while a query
 *   runner holds it, yet under load test/faults.e2e-spec.ts saw the event on a client with no listener at all
 *   (the exact window between the two was not pinned down), and Node turns that into an uncaught exception
 *   that ends the process. The error still fails every query on that client; this listener only keeps the
 *   process alive.
 * - A FATAL message (e.g. 57P01 "terminating connection due to administrator command") ends the client at
 *   once. Otherwise the query it fails is released by TypeORM without an error before the socket closes, and
 *   pg-pool hands the dead client to the next caller, whose query then fails with "Connection terminated
 *   unexpectedly" (seen in the same test). pg-pool drops a client that is ending.
 */
class ListenedClient extends pg.Client {
  constructor(config?: string | pg.ClientConfig) {
    super(config);
    this.on('error', () => undefined);
    // Registered before the client's own handlers (attached on connect), so the client is ending before the
    // failed query's caller can release it.
    this.connection.on('errorMessage', (message: { severity?: string }) => {
      if (message.severity === 'FATAL' || message.severity === 'PANIC')
        void this.end().catch(() => undefined);
    });
  }
}

/**
 * The database Parley runs on: the Postgres at DATABASE_URL, or embedded Postgres (PGlite + pgvector)
 * persisted in DATA_DIR so that a new user needs nothing installed.
 */
export class Database {
  private constructor(
    readonly dataSource: DataSource,
    readonly kind: DatabaseKind,
    /** The connection string for components that want their own pool (pg-boss on real Postgres). */
    readonly url: string | undefined,
    private readonly pglite: PGlite | undefined,
    private readonly lock: DataDirLock | undefined,
  ) {}

  static async open(settings: DatabaseSettings): Promise<Database> {
    return settings.url
      ? Database.openPostgres(settings.url, settings.poolSize ?? 10)
      : Database.openEmbedded(settings);
  }

  private static async openPostgres(url: string, poolSize: number): Promise<Database> {
    const dataSource = new DataSource({
      ...baseOptions(),
      url,
      poolSize,
      // JIT compilation costs tens of milliseconds per statement whose estimate passes jit_above_cost — e.g.
      // the accept statement once a bot has many messages today — and never pays off for Parley's short
      // statements (measured: 42 ms of JIT for a 20 ms batch accept).
      extra: {
        connectionTimeoutMillis: 10_000,
        application_name: 'parley',
        options: '-c jit=off',
        Client: ListenedClient,
        // A fixed-size pool: every connection is opened at start (openAllConnections) and none is closed for
        // being idle, so a burst never waits for new backends. With pg-pool's default (idle connections
        // closed after 10 s) a 500/s burst of WeCom refreshes after a quiet spell opened 8 connections and
        // held its first ~150 requests for 150–500 ms (docs/benchmarks.md, "2026-12-04, afternoon").
        min: poolSize,
        // Connections now live for hours: TCP keepalive lets a firewall or NAT in between see them in use.
        keepAlive: true,
      },
    });
    try {
      await dataSource.initialize();
      await openAllConnections(dataSource, poolSize);
    } catch (error) {
      throw new DatabaseError(
        `Cannot connect to DATABASE_URL (${redactUrl(url)}): ${(error as Error).message}`,
      );
    }
    const rows: unknown[] = await dataSource.query(
      `SELECT 1 FROM pg_available_extensions WHERE name = 'vector'`,
    );
    if (rows.length === 0) {
      await dataSource.destroy();
      throw new DatabaseError(
        `The pgvector extension is not installed on the Postgres at ${redactUrl(url)}: install pgvector ` +
          '(https://github.com/pgvector/pgvector#installation, or .ci/install-pgvector.sh on Debian) and restart Parley',
      );
    }
    return new Database(dataSource, 'postgres', url, undefined, undefined);
  }

  private static async openEmbedded(settings: DatabaseSettings): Promise<Database> {
    const directory = resolve(settings.dataDir, 'pg');
    mkdirSync(directory, { recursive: true });
    const lock = DataDirLock.acquire(join(resolve(settings.dataDir), 'parley.lock'));
    const pglite = new PGlite(directory, { extensions: { vector } });
    const dataSource = new DataSource({
      ...baseOptions(),
      uuidExtension: 'pgcrypto',
      poolSize: 1,
      // PGlite has one connection: a forgotten nested query must fail loudly instead of hanging.
      extra: { ...createPgConfig(pglite), connectionTimeoutMillis: 60_000 },
    } as DataSourceOptions);
    try {
      await dataSource.initialize();
    } catch (error) {
      await pglite.close().catch(() => undefined);
      lock.release();
      throw new DatabaseError(
        `Cannot open the embedded database in ${directory}: ${(error as Error).message}`,
      );
    }
    return new Database(dataSource, 'pglite', undefined, pglite, lock);
  }

  /** Applies pending migrations (idempotent; serialised across instances on real Postgres). */
  async migrate(): Promise<string[]> {
    const runner = this.dataSource.createQueryRunner();
    try {
      if (this.kind === 'postgres') await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
      const applied = await this.dataSource.runMigrations({ transaction: 'each' });
      return applied.map((migration) => migration.name);
    } finally {
      if (this.kind === 'postgres') await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
      await runner.release();
    }
  }

  async pendingMigrations(): Promise<boolean> {
    return this.dataSource.showMigrations();
  }

  /** Closes the pool, then PGlite. Call after every user of the pool (the job queue) has stopped. */
  async close(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.pglite?.close();
    this.lock?.release();
  }
}

/** The part of pg-pool used to open its connections up front (TypeORM's PostgresDriver keeps it as `master`). */
interface ConnectionPool {
  connect(): Promise<{ release(): void }>;
}

function isConnectionPool(value: unknown): value is ConnectionPool {
  return typeof (value as Partial<ConnectionPool> | null)?.connect === 'function';
}

/**
 * Takes all the pool's connections at once and gives them back, so they exist before the first burst
 * (pg-pool opens connections only on demand). Too few connection slots on the server fail the start here,
 * with Postgres's message, instead of under load.
 */
async function openAllConnections(dataSource: DataSource, poolSize: number): Promise<void> {
  const pool: unknown = (dataSource.driver as { master?: unknown }).master;
  if (!isConnectionPool(pool))
    throw new Error("TypeORM's Postgres driver has no pg pool to open connections on");
  const opened = await Promise.allSettled(
    // All held at once: an idle connection taken here is one the pool need not open.
    Array.from({ length: poolSize }, () => pool.connect()),
  );
  for (const result of opened) if (result.status === 'fulfilled') result.value.release();
  const failed = opened.find((result) => result.status === 'rejected');
  if (failed) {
    await dataSource.destroy();
    throw new Error(
      `could not open the ${poolSize} connections of the pool (DATABASE_POOL_SIZE): ${String(failed.reason)}`,
    );
  }
}

function baseOptions() {
  return {
    type: 'postgres' as const,
    entities: ENTITIES,
    migrations: MIGRATIONS,
    migrationsTableName: 'migrations',
    synchronize: false,
    migrationsRun: false,
    namingStrategy: new SnakeNamingStrategy(),
    logging: false,
  };
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '****';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
