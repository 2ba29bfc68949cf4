import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError } from '../common/errors.js';
import { toErrorBody } from '../common/http/error.filter.js';
import type { RequestWithId } from '../common/http/request-id.js';
import { WeComCryptoError, WeComCryptoErrorCode } from './wecom-crypto.js';
import { WeComBadPayloadError, WeComSignatureError } from './wecom-errors.js';
import { WeComPayloadError } from './wecom-message.parser.js';

/**
 * Keeps the protocol pieces' own errors from becoming 500s on the callback routes: a bad signature is a
 * 401, anything that cannot be decrypted or parsed a 400, in the shared JSON error shape. Everything else
 * goes on to the global ErrorFilter.
 */
@Catch(WeComCryptoError, WeComPayloadError)
export class WeComExceptionFilter implements ExceptionFilter {
  catch(exception: WeComCryptoError | WeComPayloadError, host: ArgumentsHost): void {
    const context = host.switchToHttp();
    const response = context.getResponse<Response>();
    const request = context.getRequest<Request & RequestWithId>();
    const body = { ...toErrorBody(toAppError(exception)), requestId: request?.id };
    if (response.headersSent) {
      response.end();
      return;
    }
    response.status(body.statusCode).json(body);
  }
}

function toAppError(exception: WeComCryptoError | WeComPayloadError): AppError {
  if (exception instanceof WeComPayloadError) return new WeComBadPayloadError(exception.message);
  if (exception.code === WeComCryptoErrorCode.InvalidSignature)
    return new WeComSignatureError(exception.message);
  return new WeComBadPayloadError(exception.message, 'undecryptable');
}
