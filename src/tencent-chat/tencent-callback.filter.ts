import { ArgumentsHost, Catch, ExceptionFilter, HttpException } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { AppError } from '../common/errors.js';
import type { RequestWithId } from '../common/http/request-id.js';
import { InjectLogger } from '../core/core.module.js';
import { TencentCallbackError, tencentCallbackFailure } from './tencent-callback.errors.js';

/**
 * Scoped to the Tencent webhook controller: every failure keeps Tencent's answer shape
 * (`ActionStatus`/`ErrorCode`/`ErrorInfo`) with a 4xx, and anything unexpected (the database is down)
 * becomes a 503 — the message was not stored, so it must not look acknowledged — never a 500.
 */
@Catch()
export class TencentCallbackFilter implements ExceptionFilter {
  constructor(@InjectLogger() private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request & RequestWithId>();
    const { status, info } = this.classify(exception, request);
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(status).json(tencentCallbackFailure(status, info));
  }

  private classify(exception: unknown, request: RequestWithId): { status: number; info: string } {
    if (exception instanceof TencentCallbackError) {
      this.logger.warn(
        { requestId: request.id, status: exception.httpStatus, reason: exception.message },
        'Tencent callback refused',
      );
      return { status: exception.httpStatus, info: exception.message };
    }
    const status =
      exception instanceof AppError
        ? exception.statusCode
        : exception instanceof HttpException
          ? exception.getStatus()
          : undefined;
    if (status !== undefined && status >= 400 && status < 500) {
      return { status, info: (exception as Error).message };
    }
    this.logger.error({ err: exception, requestId: request.id }, 'Tencent callback failed');
    return { status: 503, info: 'Temporarily unable to take the message; it was not stored' };
  }
}
