import { CanActivate, ExecutionContext, Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { NotFoundError } from '../common/errors.js';
import { AppConfig } from '../config/app-config.js';
import { InjectLogger } from '../core/core.module.js';
import type { WeComBotConfig } from '../provider/provider-types.js';
import { ProviderService } from '../provider/provider.service.js';
import { WeComCrypto } from './wecom-crypto.js';
import { WeComBadPayloadError, WeComSignatureError } from './wecom-errors.js';
import type { WeComRequest } from './wecom-request.js';

/** The shape WeComBotConfig accepts for a BotID; anything else cannot be a bot (404 without a query). */
const BOT_ID = /^[\w-]{1,128}$/;
/** WeCom's timestamps are Unix seconds. */
const TIMESTAMP = /^\d{1,12}$/;
const SIGNATURE = /^[0-9a-f]{40}$/i;
/** Bots whose WeComCrypto is kept; past this the cache starts again (rotated credentials leave old keys). */
const MAX_CACHED_CRYPTOS = 1000;

/**
 * Authenticates a WeCom callback before anything else looks at it: finds the bot by the path's BotID
 * (unknown or disabled → 404), then checks msg_signature over the token, timestamp, nonce and the body's
 * `encrypt` (POST) or the `echostr` (GET) in constant time, and that the timestamp is within
 * WECOM_TIMESTAMP_WINDOW_SECONDS of our clock (→ 401). A body without `encrypt` → 400.
 */
@Injectable()
export class WeComSignatureGuard implements CanActivate {
  constructor(
    private readonly providers: ProviderService,
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<WeComRequest>();
    const botId = request.params?.botId;
    const bot =
      typeof botId === 'string' && BOT_ID.test(botId)
        ? await this.providers.findBot<WeComBotConfig>('wecom-bot', botId)
        : undefined;
    if (!bot || !bot.enabled) throw new NotFoundError('WeCom bot', String(botId ?? '').slice(0, 128));

    const query = request.query as Record<string, unknown>;
    const signature = stringOf(query.msg_signature);
    const timestamp = stringOf(query.timestamp);
    const nonce = stringOf(query.nonce);
    if (!signature || !SIGNATURE.test(signature) || !timestamp || !TIMESTAMP.test(timestamp) || !nonce) {
      throw this.reject(bot.id, 'msg_signature, timestamp and nonce are required');
    }
    if (!this.withinWindow(Number(timestamp))) {
      throw this.reject(bot.id, 'The timestamp is outside the allowed window (check the server clock)');
    }
    const encrypted = request.method === 'GET' ? echostrOf(query.echostr) : encryptOf(request.body);

    const crypto = this.cryptoFor(bot.id, bot.config);
    if (!crypto.verifySignature(signature, timestamp, nonce, encrypted)) {
      throw this.reject(bot.id, 'The signature does not match (check the Token)');
    }
    request.wecom = { bot, crypto, signed: { signature, timestamp, nonce, encrypted } };
    return true;
  }

  /** WeComCrypto per bot and credentials: made once, not for every callback. */
  private readonly cryptos = new Map<string, WeComCrypto>();

  private cryptoFor(botProviderId: string, config: WeComBotConfig): WeComCrypto {
    const key = `${botProviderId}\u0000${config.token}\u0000${config.encodingAesKey}`;
    try {
      let crypto = this.cryptos.get(key);
      if (!crypto) {
        crypto = new WeComCrypto(config.token, config.encodingAesKey);
        if (this.cryptos.size >= MAX_CACHED_CRYPTOS) this.cryptos.clear();
        this.cryptos.set(key, crypto);
      }
      return crypto;
    } catch (error) {
      // Provider validation makes this unreachable; if a stored key is refused anyway, it is our fault (500).
      throw new Error(`WeCom bot ${botProviderId} has an unusable token or EncodingAESKey`, { cause: error });
    }
  }

  private withinWindow(timestampSeconds: number): boolean {
    const window = this.config.WECOM_TIMESTAMP_WINDOW_SECONDS;
    return window === 0 || Math.abs(Date.now() / 1000 - timestampSeconds) <= window;
  }

  private reject(botProviderId: string, message: string): WeComSignatureError {
    this.logger.warn({ botProviderId }, `WeCom callback rejected: ${message}`);
    return new WeComSignatureError(message);
  }
}

function stringOf(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/**
 * The echostr is base64, which never contains a space: a space is a '+' that a form-style query decoder
 * turned into one (WeCom does not always percent-encode it).
 */
function echostrOf(value: unknown): string {
  const echostr = stringOf(value);
  if (!echostr) throw new WeComBadPayloadError('echostr is required');
  return echostr.replace(/ /g, '+');
}

/** The body's `encrypt`: from parsed JSON, or from a body read as text (see WeComBodyMiddleware). */
function encryptOf(body: unknown): string {
  let value: unknown = body;
  if (typeof value === 'string' || Buffer.isBuffer(value)) {
    try {
      value = JSON.parse(String(value));
    } catch {
      throw new WeComBadPayloadError('The body must be JSON: {"encrypt": "..."}');
    }
  }
  const encrypt =
    typeof value === 'object' && value !== null ? (value as { encrypt?: unknown }).encrypt : undefined;
  if (typeof encrypt !== 'string' || encrypt.length === 0) {
    throw new WeComBadPayloadError('The body must be JSON: {"encrypt": "..."}');
  }
  return encrypt;
}
