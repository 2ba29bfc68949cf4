import type { Request } from 'express';
import type { ResolvedProvider } from '../provider/provider.service.js';
import type { WeComBotConfig } from '../provider/provider-types.js';
import type { WeComCrypto, WeComSignedPayload } from './wecom-crypto.js';

/** What the signature guard and the crypto interceptor attach to a WeCom callback request. */
export interface WeComRequestContext {
  bot: ResolvedProvider<WeComBotConfig>;
  crypto: WeComCrypto;
  /** The signed query values and the ciphertext (the body's `encrypt`, or the `echostr`). */
  signed: WeComSignedPayload;
  /** The decrypted message (JSON for a POST, the echostr's plaintext for a GET); set by the interceptor. */
  plaintext?: string;
}

export type WeComRequest = Request & { wecom?: WeComRequestContext };

/** The context of a request that passed the guard; throws if the guard did not run (a wiring bug). */
export function wecomContextOf(request: WeComRequest): WeComRequestContext {
  if (!request.wecom) throw new Error('WeComSignatureGuard did not run for this route');
  return request.wecom;
}
