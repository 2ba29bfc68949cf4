import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { Logger } from 'pino';
import type { Server } from 'node:http';
import { AppModule } from './app.module.js';
import { AppConfig } from './config/app-config.js';
import { ErrorFilter } from './common/http/error.filter.js';
import { ErrorBodyDto } from './common/http/error-body.dto.js';
import { ParleyExpressAdapter } from './common/http/express-adapter.js';
import { httpLogging } from './common/http/http-logging.js';
import { composeMiddleware } from './common/http/middleware.js';
import { requestIdMiddleware } from './common/http/request-id.js';
import { createLogger, PinoNestLogger } from './common/logger.js';
import { createValidationPipe } from './common/validation.js';
import { Metrics } from './metrics/metrics.service.js';
import { webhookMetricsMiddleware } from './metrics/webhook-metrics.middleware.js';

export interface CreateAppOptions {
  /** Where logs go (tests capture them); stdout by default. */
  logDestination?: NodeJS.WritableStream;
}

/** Builds the fully configured HTTP application; used by main.ts and by the e2e tests alike. */
export async function createApp(
  config: AppConfig,
  options: CreateAppOptions = {},
): Promise<NestExpressApplication> {
  const logger = createLogger(config.LOG_LEVEL, options.logDestination);
  const app = await NestFactory.create<NestExpressApplication>(
    AppModule.register(config, logger),
    new ParleyExpressAdapter(),
    {
      bodyParser: false,
      logger: new PinoNestLogger(logger),
      abortOnError: false,
    },
  );
  configureApp(app, config, logger);
  return app;
}

function configureApp(app: NestExpressApplication, config: AppConfig, logger: Logger): void {
  app.disable('x-powered-by');
  // Express hashes every response body for an ETag; webhook acknowledgements and admin JSON are never
  // fetched conditionally, so that is CPU spent on every callback for nothing.
  app.set('etag', false);
  // Node closes idle keep-alive connections after 5 s by default; a load balancer or a platform's client that
  // reuses one at that moment gets a reset. Idle connections must outlive the proxy's (often 60 s).
  const server = app.getHttpServer() as Server;
  server.keepAliveTimeout = config.HTTP_KEEP_ALIVE_SECONDS * 1000;
  server.headersTimeout = server.keepAliveTimeout + 1000;
  app.use(
    composeMiddleware(requestIdMiddleware, httpLogging(logger), webhookMetricsMiddleware(app.get(Metrics))),
  );
  app.useBodyParser('json', { limit: `${config.BODY_LIMIT_KB}kb` });
  app.useGlobalPipes(createValidationPipe());
  app.useGlobalFilters(new ErrorFilter(logger));
  setupOpenApi(app);
}

function setupOpenApi(app: NestExpressApplication): void {
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Parley admin API')
      .setDescription(
        'Manage the providers, knowledge stores and conversations of Parley. Every /api/v1 route needs ' +
          '`Authorization: Bearer <ADMIN_API_KEY>`. Errors share one shape (ErrorBody) and every response ' +
          'carries `x-request-id`.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'ADMIN_API_KEY' })
      .build(),
    { extraModels: [ErrorBodyDto] },
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json' });
}
