import 'reflect-metadata';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Writable } from 'node:stream';
import request from 'supertest';
import { createApp } from '../../src/app.factory.js';
import { AppConfig, loadConfig } from '../../src/config/app-config.js';
import { createTestDatabase, TestDatabase } from './test-database.js';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789';
export const TEST_SECRET_KEY = 'test-secret-key-0123456789-0123456789';

/** Collects the app's JSON log lines so tests can assert on what was (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void) {
    this.lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    done();
  }
  get text(): string {
    return this.lines.join('\n');
  }
}

export interface TestApp {
  app: NestExpressApplication;
  config: AppConfig;
  database: TestDatabase;
  logs: LogCapture;
  /** A supertest agent with the admin bearer key set. */
  admin: () => ReturnType<typeof adminAgent>;
  /** A supertest agent without credentials. */
  anonymous: () => ReturnType<typeof request>;
  /** Stops the app and starts a new one on the same database (a process restart). */
  restart(): Promise<void>;
  close(): Promise<void>;
}

function adminAgent(app: NestExpressApplication) {
  return request.agent(app.getHttpServer()).set('Authorization', `Bearer ${TEST_ADMIN_KEY}`);
}

/** Starts the real application on an isolated database (embedded, or real Postgres with TEST_DATABASE_URL). */
export async function startTestApp(
  env: Record<string, string | undefined> = {},
  options: {
    /** Share another test app's database (a second instance); it is not dropped on close. */ database?: TestDatabase;
  } = {},
): Promise<TestApp> {
  const database = options.database ?? (await createTestDatabase());
  const config = loadConfig({
    ADMIN_API_KEY: TEST_ADMIN_KEY,
    SECRET_KEY: TEST_SECRET_KEY,
    LOG_LEVEL: 'info',
    DATA_DIR: database.dataDir,
    DATABASE_URL: database.url,
    PUBLIC_BASE_URL: 'https://parley.test',
    ...env,
  });
  const logs = new LogCapture();
  const boot = async () => {
    const app = await createApp(config, { logDestination: logs });
    await app.init();
    return app;
  };
  const handle: TestApp = {
    app: await boot(),
    config,
    database,
    logs,
    admin: () => adminAgent(handle.app),
    anonymous: () => request(handle.app.getHttpServer()),
    restart: async () => {
      await handle.app.close();
      handle.app = await boot();
    },
    close: async () => {
      await handle.app.close();
      if (!options.database) await database.drop();
    },
  };
  return handle;
}
