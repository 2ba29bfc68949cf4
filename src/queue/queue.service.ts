import PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { preparedQuery } from '../common/prepared-query.js';
import { settlesWithin } from '../common/retry.js';
import type { Database } from '../database/database.js';
import { WorkLoops } from './work-loops.js';

export interface EnqueueOptions {
  /** A deterministic id makes a second send of the same job a no-op while the job exists. */
  id?: string;
  /** Enqueue inside this transaction: commit → the job exists, rollback → it never did. */
  manager?: EntityManager;
  startAfterSeconds?: number;
  retryLimit?: number;
  retryDelaySeconds?: number;
  expireInSeconds?: number;
  singletonKey?: string;
}

export interface WorkOptions {
  /** Jobs handled at once by this process for this queue. */
  concurrency: number;
}

export interface QueueJob<T> {
  id: string;
  name: string;
  data: T;
}

type Handler<T> = (job: QueueJob<T>) => Promise<void>;

const runSql = async (runner: QueryRunner, text: string, values?: unknown[]) => ({
  // pg-boss needs `{ rows }`; TypeORM's structured result gives it for every statement kind.
  rows: ((await runner.query(text, values, true)) as { records?: unknown[] }).records ?? [],
});

/**
 * pg-boss's view of a TypeORM transaction, for transactional enqueue. Its statements run prepared: pg-boss's
 * SQL is constant, Postgres then plans it once.
 */
function transactionDb(manager: EntityManager): PgBoss.Db {
  return {
    executeSql: async (text, values) => {
      const runner = manager.queryRunner;
      if (!runner?.isTransactionActive) throw new Error('transactional enqueue needs an active transaction');
      return { rows: await preparedQuery(runner, text, values ?? []) };
    },
  };
}

/** On PGlite, pg-boss must share TypeORM's single connection (see ../shared/notes/stack.md). */
function pooledDb(dataSource: DataSource): PgBoss.Db {
  return {
    executeSql: async (text, values) => {
      const runner = dataSource.createQueryRunner();
      try {
        return await runSql(runner, text, values);
      } finally {
        await runner.release();
      }
    },
  };
}

/**
 * Durable jobs on the same Postgres as the data (pg-boss), so a job and the rows it concerns commit together.
 */
export class QueueService {
  private readonly created = new Set<string>();
  /** This process's worker loops, per queue. */
  private readonly workers = new Map<string, WorkLoops<unknown>>();
  private stopping = false;
  private stopped = false;

  private constructor(
    private readonly boss: PgBoss,
    private readonly logger: Logger,
  ) {}

  static async start(database: Database, logger: Logger): Promise<QueueService> {
    const common = { schedule: false, supervise: true, migrate: true, maintenanceIntervalSeconds: 120 };
    const boss =
      database.kind === 'postgres'
        ? new PgBoss({ ...common, connectionString: database.url, max: 4, application_name: 'parley-queue' })
        : new PgBoss({ ...common, db: pooledDb(database.dataSource) });
    const service = new QueueService(boss, logger);
    boss.on('error', (error) => logger.error({ err: error }, 'job queue error'));
    await boss.start();
    return service;
  }

  async ensureQueue(name: string, options: Omit<PgBoss.Queue, 'name'> = {}): Promise<void> {
    if (this.created.has(name)) return;
    if (!(await this.boss.getQueue(name))) await this.boss.createQueue(name, { name, ...options });
    this.created.add(name);
  }

  async send<T extends object>(name: string, data: T, options: EnqueueOptions = {}): Promise<string | null> {
    // Creating a queue runs statements of its own, which on the embedded database (one connection) would
    // wait forever behind the caller's open transaction: transactional senders create their queue at boot.
    if (options.manager && !this.created.has(name)) {
      throw new Error(`queue "${name}" must be created (ensureQueue) before jobs are sent in a transaction`);
    }
    await this.ensureQueue(name);
    const sendOptions: PgBoss.SendOptions = {
      id: options.id,
      startAfter: options.startAfterSeconds,
      retryLimit: options.retryLimit,
      retryDelay: options.retryDelaySeconds,
      retryBackoff: options.retryDelaySeconds !== undefined ? true : undefined,
      expireInSeconds: options.expireInSeconds,
      singletonKey: options.singletonKey,
      ...(options.manager ? { db: transactionDb(options.manager) } : {}),
    };
    // pg-boss validates present keys, so an explicit undefined would be rejected.
    const defined = Object.fromEntries(
      Object.entries(sendOptions).filter(([, value]) => value !== undefined),
    );
    return this.boss.send(name, data, defined);
  }

  /** Wakes this process's idle workers of a queue at once (call after the enqueueing transaction commits). */
  notify(name: string): void {
    this.workers.get(name)?.wake();
  }

  /**
   * Runs `concurrency` loops that fetch one job at a time and complete it (or fail it, for pg-boss to retry,
   * when the handler throws). Our own loops rather than pg-boss's `work()`, so that stop() knows exactly when
   * every handler has returned.
   */
  async work<T>(name: string, options: WorkOptions, handler: Handler<T>): Promise<void> {
    await this.ensureQueue(name);
    let loops = this.workers.get(name) as WorkLoops<PgBoss.Job<T>> | undefined;
    if (!loops) {
      loops = new WorkLoops<PgBoss.Job<T>>({
        name,
        claim: async () => (await this.boss.fetch<T>(name, { batchSize: 1 }))[0],
        handle: (job) => this.run(name, job, handler),
        logger: this.logger,
      });
      this.workers.set(name, loops as WorkLoops<unknown>);
    }
    if (!this.stopping) loops.start(options.concurrency);
  }

  private async run<T>(name: string, job: PgBoss.Job<T>, handler: Handler<T>): Promise<void> {
    try {
      await handler({ id: job.id, name: job.name, data: job.data });
      await this.boss.complete(name, job.id);
    } catch (error) {
      this.logger.warn({ err: error, queue: name, jobId: job.id }, 'job failed; it will be retried');
      await this.boss.fail(name, job.id, { message: (error as Error).message }).catch(() => undefined);
    }
  }

  /** A job's state (created, retry, active, completed, cancelled, failed), or undefined if it is gone. */
  async jobState(name: string, id: string): Promise<string | undefined> {
    return (await this.boss.getJobById(name, id))?.state;
  }

  /**
   * Fails a job whose worker is known to be gone: pg-boss retries it by its retry policy (or marks it
   * failed once the retries are used up), as it would after the job's expiry — only sooner.
   */
  async failJob(name: string, id: string, message: string): Promise<void> {
    await this.boss.fail(name, id, { message });
  }

  /** Lets running handlers finish (up to the timeout), then closes pg-boss. Jobs not finished are retried. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.stopped) return;
    this.stopping = true;
    const finished = await settlesWithin(
      Promise.all([...this.workers.values()].map((loops) => loops.stop())),
      timeoutMs,
    );
    if (!finished) this.logger.warn('job handlers still running at shutdown; their jobs will be retried');
    await this.boss.stop({ graceful: false, close: true });
    this.stopped = true;
    this.logger.debug('job queue stopped');
  }
}
