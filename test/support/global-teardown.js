import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';

export default async function globalTeardown() {
  const runDir = process.env.PARLEY_TEST_RUN_DIR;
  if (!runDir) return;
  const url = process.env.TEST_DATABASE_URL;
  const marker = join(runDir, 'template-db');
  if (url && existsSync(marker)) {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`DROP DATABASE IF EXISTS ${readFileSync(marker, 'utf8').trim()} WITH (FORCE)`);
    } finally {
      await client.end();
    }
  }
  rmSync(runDir, { recursive: true, force: true });
}
