import { HttpStatus, Inject, Injectable, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { AppError } from '../common/errors.js';
import { toErrorBody } from '../common/http/error.filter.js';
import type { RequestWithId } from '../common/http/request-id.js';
import { AppConfig } from '../config/app-config.js';

/**
 * The app parses JSON bodies sent as application/json. WeCom's documentation does not promise a content
 * type, so on the callback route a body the JSON parser left alone (another or no content type) is read
 * here as text, with the same size limit; the guard then reads `{"encrypt": ...}` from it.
 */
@Injectable()
export class WeComBodyMiddleware implements NestMiddleware {
  constructor(@Inject(AppConfig) private readonly config: AppConfig) {}

  use(request: Request, response: Response, next: NextFunction): void {
    if (request.method !== 'POST' || alreadyRead(request) || !hasBody(request)) return next();
    const limit = this.config.BODY_LIMIT_KB * 1024;
    const parts: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (error?: AppError) => {
      if (done) return;
      done = true;
      if (!error) {
        request.body = Buffer.concat(parts).toString('utf8');
        return next();
      }
      // Answered here in the shared error shape: an error passed to next() would skip Nest's filters.
      if (!response.headersSent) {
        response
          .status(error.statusCode)
          .json({ ...toErrorBody(error), requestId: (request as RequestWithId).id });
      }
    };
    request.on('data', (part: Buffer) => {
      size += part.length;
      if (size > limit) {
        request.removeAllListeners('data');
        request.resume();
        finish(
          new AppError(HttpStatus.PAYLOAD_TOO_LARGE, 'payload_too_large', 'The request body is too large'),
        );
        return;
      }
      parts.push(part);
    });
    request.on('end', () => finish());
    request.on('error', (error) =>
      finish(new AppError(HttpStatus.BAD_REQUEST, 'bad_request', error.message)),
    );
  }
}

/** body-parser marks the requests it consumed. */
function alreadyRead(request: Request): boolean {
  return (request as Request & { _body?: boolean })._body === true || request.readableEnded;
}

function hasBody(request: Request): boolean {
  return (
    request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0
  );
}
