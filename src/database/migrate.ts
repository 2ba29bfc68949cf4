import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { Database, DatabaseError } from './database.js';

/** `npm run migration:run`: applies pending migrations to the configured database, then exits. */
async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig();
  const database = await Database.open({ url: config.DATABASE_URL, dataDir: config.DATA_DIR, poolSize: 2 });
  try {
    const applied = await database.migrate();
    process.stdout.write(
      applied.length ? `Applied: ${applied.join(', ')}\n` : 'The database is up to date.\n',
    );
  } finally {
    await database.close();
  }
}

main().catch((error: unknown) => {
  const known = error instanceof ConfigError || error instanceof DatabaseError;
  process.stderr.write(`${known ? (error as Error).message : (error as Error)?.stack}\n`);
  process.exit(1);
});
