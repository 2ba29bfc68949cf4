import { HttpStatus } from '@nestjs/common';
import { AppError } from '../common/errors.js';

/** A callback whose msg_signature, timestamp or nonce does not check out: nothing is processed (401). */
export class WeComSignatureError extends AppError {
  constructor(message: string) {
    super(HttpStatus.UNAUTHORIZED, 'invalid_signature', message);
  }
}

/** A correctly signed callback that cannot be decrypted or understood (400). */
export class WeComBadPayloadError extends AppError {
  constructor(message: string, code: 'undecryptable' | 'malformed_payload' = 'malformed_payload') {
    super(HttpStatus.BAD_REQUEST, code, message);
  }
}
