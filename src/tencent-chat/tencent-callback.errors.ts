/**
 * Tencent's webhook answer shape (tencent-chat.md): `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`
 * for a request we took, the same shape with a non-zero ErrorCode for one we refused.
 */
export interface TencentCallbackAck {
  ActionStatus: 'OK' | 'FAIL';
  ErrorCode: number;
  ErrorInfo: string;
}

export const TENCENT_CALLBACK_OK: TencentCallbackAck = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };

/**
 * A refused webhook request: the HTTP status and, in the body, a non-zero ErrorCode. The ErrorCode equals
 * the HTTP status (any non-zero code means failure to Tencent; these are easy to read in its console).
 */
export class TencentCallbackError extends Error {
  override readonly name = 'TencentCallbackError';

  constructor(
    readonly httpStatus: 400 | 401 | 403 | 404 | 413 | 503,
    message: string,
  ) {
    super(message);
  }

  get errorCode(): number {
    return this.httpStatus;
  }

  static malformed(
    message = 'The callback body is not a Tencent Cloud Chat robot callback',
  ): TencentCallbackError {
    return new TencentCallbackError(400, message);
  }
}

export function tencentCallbackFailure(errorCode: number, errorInfo: string): TencentCallbackAck {
  return { ActionStatus: 'FAIL', ErrorCode: errorCode, ErrorInfo: errorInfo };
}
