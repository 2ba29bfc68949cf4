import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus } from '@nestjs/common';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { AppError, isDatabaseUnavailable } from '../errors.js';
import { RequestWithId } from './request-id.js';

/** The one JSON error shape of every non-2xx response. */
export interface ErrorBody {
  statusCode: number;
  code: string;
  message: string;
  details?: unknown;
  requestId?: string;
}

const CODES: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  422: 'unprocessable_entity',
  429: 'too_many_requests',
  503: 'unavailable',
};

/** body-parser / multer errors carry `status` and a `type` or `code`. */
interface LowLevelHttpError {
  status?: number;
  statusCode?: number;
  type?: string;
  code?: string;
  message?: string;
}

export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof AppError) {
    return {
      statusCode: exception.statusCode,
      code: exception.code,
      message: exception.message,
      details: exception.details,
    };
  }
  if (exception instanceof HttpException && exception.cause) {
    // Express/body-parser errors reach us wrapped by Nest's adapter: classify by the original error.
    const fromCause = lowLevelBody(exception.cause);
    if (fromCause) return fromCause;
  }
  if (exception instanceof HttpException) {
    const statusCode = exception.getStatus();
    const response = exception.getResponse();
    const message =
      typeof response === 'string'
        ? response
        : Array.isArray((response as { message?: unknown }).message)
          ? ((response as { message: string[] }).message.join('; ') as string)
          : String((response as { message?: unknown }).message ?? exception.message);
    return {
      statusCode,
      code: CODES[statusCode] ?? (statusCode >= 500 ? 'internal_error' : 'error'),
      message,
    };
  }
  if (isDatabaseUnavailable(exception)) {
    return {
      statusCode: 503,
      code: 'unavailable',
      message: 'The database is unavailable (restarting?); try again in a moment',
    };
  }
  return (
    lowLevelBody(exception) ?? {
      statusCode: 500,
      code: 'internal_error',
      message: 'An unexpected error occurred; it has been logged',
    }
  );
}

function lowLevelBody(exception: unknown): ErrorBody | undefined {
  const lowLevel = (exception ?? {}) as LowLevelHttpError;
  const status = lowLevel.status ?? lowLevel.statusCode;
  if (exception instanceof SyntaxError && status === 400) {
    return { statusCode: 400, code: 'malformed_json', message: 'The request body is not valid JSON' };
  }
  if (typeof status === 'number' && status >= 400 && status < 500) {
    if (lowLevel.type === 'entity.too.large' || status === 413) {
      return {
        statusCode: 413,
        code: 'payload_too_large',
        message: 'The request body is larger than this endpoint accepts',
      };
    }
    if (lowLevel.type === 'entity.parse.failed') {
      return { statusCode: 400, code: 'malformed_json', message: 'The request body is not valid JSON' };
    }
    return {
      statusCode: status,
      code: CODES[status] ?? 'bad_request',
      message: lowLevel.message ?? 'Bad request',
    };
  }
  return undefined;
}

@Catch()
export class ErrorFilter implements ExceptionFilter {
  constructor(private readonly logger: Logger) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const context = host.switchToHttp();
    const response = context.getResponse<Response>();
    const request = context.getRequest<Request & RequestWithId>();
    const body: ErrorBody = { ...toErrorBody(exception), requestId: request?.id };
    if (body.statusCode >= 500) {
      this.logger.error({ err: exception, requestId: request?.id, path: request?.path }, 'unhandled error');
    }
    if (response.headersSent) {
      response.end();
      return;
    }
    if (body.statusCode === 503 && !response.getHeader('Retry-After')) response.setHeader('Retry-After', '1');
    response.status(body.statusCode).json(body);
  }
}

export { HttpStatus };
