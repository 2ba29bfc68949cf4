// First: V8 flags must be set before the rest of the application allocates anything.
import './v8-flags.js';
import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { createApp } from './app.factory.js';
import { ConfigError, loadConfig } from './config/app-config.js';
import { DatabaseError } from './database/database.js';

async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const config = loadConfig();
  const app = await createApp(config);
  app.enableShutdownHooks();
  await app.listen(config.PORT, config.HOST);
  process.stdout.write(
    `Parley is listening on http://localhost:${config.PORT} (API docs: http://localhost:${config.PORT}/docs, ` +
      `database: ${config.DATABASE_URL ? 'Postgres' : `embedded, in ${config.DATA_DIR}`})\n`,
  );
}

main().catch((error: unknown) => {
  // Known start-up problems get one line that names the cause and the fix, not a stack trace.
  if (error instanceof ConfigError || error instanceof DatabaseError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(`Parley failed to start: ${(error as Error)?.stack ?? String(error)}\n`);
  }
  process.exit(1);
});
