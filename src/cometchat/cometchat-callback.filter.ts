import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { toErrorBody, type ErrorBody } from '../common/http/error.filter.js';
import type { RequestWithId } from '../common/http/request-id.js';
import { InjectLogger } from '../core/core.module.js';

/**
 * Scoped to the CometChat webhook: errors keep the app's one error shape, but an unexpected failure (the
 * database is down) is a 503 — the message was not stored, CometChat may try again — never a 500.
 */
@Catch()
export class CometChatCallbackFilter implements ExceptionFilter {
  constructor(@InjectLogger() private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request & RequestWithId>();
    let body: ErrorBody = { ...toErrorBody(exception), requestId: request.id };
    if (body.statusCode >= 500) {
      this.logger.error({ err: exception, requestId: request.id }, 'CometChat callback failed');
      body = {
        statusCode: 503,
        code: 'unavailable',
        message: 'Temporarily unable to take the message; it was not stored',
        requestId: request.id,
      };
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(body.statusCode).json(body);
  }
}
