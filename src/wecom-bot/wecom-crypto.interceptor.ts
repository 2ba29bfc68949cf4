import { CallHandler, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { map, Observable } from 'rxjs';
import { WeComCryptoError } from './wecom-crypto.js';
import { WeComBadPayloadError } from './wecom-errors.js';
import { encryptReply, type WeComReply } from './wecom-reply.js';
import { wecomContextOf, type WeComRequest } from './wecom-request.js';

/** An AI bot created inside the company has the empty receive id (shared/protocols/wecom-ai-bot.md). */
const AI_BOT_RECEIVE_ID = '';

/**
 * Runs after WeComSignatureGuard, which verified the signature. On the way in: decrypts the `encrypt`
 * (or `echostr`) and attaches the plaintext to the request (undecryptable → 400). On the way out: a reply
 * object is encrypted into WeCom's envelope signed with the REQUEST's timestamp and nonce; `null` becomes
 * an empty body (valid for WeCom); a string (the URL verification's echostr) is sent as it is.
 */
@Injectable()
export class WeComCryptoInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const request = context.switchToHttp().getRequest<WeComRequest>();
    const wecom = wecomContextOf(request);
    try {
      // WeComSignatureGuard has verified msg_signature over exactly this ciphertext (in constant time).
      wecom.plaintext = wecom.crypto.decrypt(wecom.signed.encrypted, AI_BOT_RECEIVE_ID).message;
    } catch (error) {
      if (error instanceof WeComCryptoError) {
        throw new WeComBadPayloadError(
          `The message cannot be decrypted (${error.code}): ${error.message}`,
          'undecryptable',
        );
      }
      throw error;
    }
    return next.handle().pipe(
      map((reply: WeComReply | string | null | undefined) => {
        if (reply === null || reply === undefined) return '';
        if (typeof reply === 'string') return reply;
        const { timestamp, nonce } = wecom.signed;
        return encryptReply(wecom.crypto, reply, timestamp, nonce);
      }),
    );
  }
}
