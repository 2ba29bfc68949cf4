import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { resolve } from 'node:path';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { SecretBox } from '../common/crypto/secret-box.js';
import { Database } from '../database/database.js';
import { QueueService } from '../queue/queue.service.js';

/** Injection token of the root pino logger. */
export const LOGGER = Symbol('LOGGER');

/** Closes what Core opened, in the only safe order: job queue → connection pool → embedded database. */
@Injectable()
class CoreShutdown implements OnApplicationShutdown {
  constructor(
    private readonly queue: QueueService,
    private readonly database: Database,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    await this.queue.stop();
    await this.database.close();
  }
}

/**
 * Process-wide infrastructure: configuration, logger, database (migrated at start), secret box, job queue.
 */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: AppConfig, useValue: config },
        { provide: LOGGER, useValue: logger },
        {
          provide: Database,
          useFactory: async () => {
            const database = await Database.open({
              url: config.DATABASE_URL,
              dataDir: config.DATA_DIR,
              poolSize: config.DATABASE_POOL_SIZE,
            });
            try {
              const applied = await database.migrate();
              if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
            } catch (error) {
              await database.close();
              throw error;
            }
            return database;
          },
        },
        { provide: DataSource, inject: [Database], useFactory: (database: Database) => database.dataSource },
        {
          provide: SecretBox,
          useFactory: () => {
            if (config.SECRET_KEY) return SecretBox.fromSecret(config.SECRET_KEY);
            if (config.DATABASE_URL) {
              logger.warn(
                'SECRET_KEY is unset: secrets are encrypted with a key kept in DATA_DIR; every instance sharing this database needs the same key',
              );
            }
            return SecretBox.fromKeyFile(resolve(config.DATA_DIR, 'secret.key'));
          },
        },
        {
          provide: QueueService,
          inject: [Database],
          useFactory: (database: Database) => QueueService.start(database, logger),
        },
        CoreShutdown,
      ],
      exports: [AppConfig, LOGGER, Database, DataSource, SecretBox, QueueService],
    };
  }
}

export const InjectLogger = () => Inject(LOGGER);
