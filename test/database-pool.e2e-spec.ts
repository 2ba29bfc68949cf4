import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Database, DatabaseError } from '../src/database/database.js';
import { createTestDatabase, realPostgresUrl, TestDatabase } from './support/test-database.js';

/** Backend pids of Parley's pool on the test database. */
async function poolBackends(database: Database): Promise<number[]> {
  const rows: { pid: number }[] = await database.dataSource.query(
    `SELECT pid FROM pg_stat_activity
     WHERE datname = current_database() AND application_name = 'parley' ORDER BY pid`,
  );
  return rows.map((row) => row.pid);
}

/**
 * Parley's pool on Postgres has a fixed size: a burst after a quiet spell must not wait for new backends.
 * The embedded database has one connection, so there is no pool to size.
 */
(realPostgresUrl() ? describe : describe.skip)('The Postgres connection pool (real Postgres)', () => {
  let testDatabase: TestDatabase;

  beforeAll(async () => {
    testDatabase = await createTestDatabase();
  });

  afterAll(async () => {
    await testDatabase.drop();
  });

  it('opens every connection at start and keeps them while idle', async () => {
    const database = await Database.open({
      url: testDatabase.url,
      dataDir: testDatabase.dataDir,
      poolSize: 4,
    });
    try {
      const atStart = await poolBackends(database);
      expect(atStart).toHaveLength(4);
      // pg-pool closes a connection idle for idleTimeoutMillis (10 s by default) unless the pool is at its min.
      await sleep(11_000);
      expect(await poolBackends(database)).toEqual(atStart);
    } finally {
      await database.close();
    }
  }, 30_000);

  it("fails the start with Postgres's reason when the server refuses some of the connections", async () => {
    const url = new URL(testDatabase.url!);
    const role = `parley_limited_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: testDatabase.url });
    await admin.connect();
    try {
      await admin.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 2`);
      url.username = role;
      const opening = Database.open({ url: url.toString(), dataDir: testDatabase.dataDir, poolSize: 4 });
      await expect(opening).rejects.toThrow(DatabaseError);
      await expect(opening).rejects.toThrow(/DATABASE_POOL_SIZE.*too many connections for role/);
      // Nothing is left open by the failed start.
      const { rows } = await admin.query<{ count: string }>(
        'SELECT count(*) FROM pg_stat_activity WHERE usename = $1',
        [role],
      );
      expect(Number(rows[0].count)).toBe(0);
    } finally {
      await admin.query(`DROP ROLE IF EXISTS ${role}`);
      await admin.end();
    }
  });
});
