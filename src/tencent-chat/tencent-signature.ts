import { createHash, timingSafeEqual } from 'node:crypto';

/** What a Tencent Cloud Chat webhook request carries for authentication (from its query string). */
export interface TencentCallbackAuthParams {
  sign?: string;
  requestTime?: string;
  sdkAppId?: string;
}

export interface TencentCallbackAuthOptions {
  /** The callback authentication token configured in the Tencent console. */
  callbackToken: string;
  expectedSdkAppId: string | number;
  /** Current time in epoch milliseconds (defaults to `Date.now()`). */
  now?: number;
  /** Accepted |now − RequestTime| in seconds (tencent-chat.md: 60 s). */
  windowSeconds?: number;
}

export type TencentCallbackRejection = 'bad-sign' | 'stale' | 'wrong-app' | 'missing';

export type TencentCallbackVerification = { ok: true } | { ok: false; reason: TencentCallbackRejection };

/** `Sign = lowercase_hex(SHA-256(token + RequestTime))`, plain concatenation (tencent-chat.md). */
export function computeTencentCallbackSign(callbackToken: string, requestTime: string): string {
  return createHash('sha256')
    .update(callbackToken + requestTime, 'utf8')
    .digest('hex');
}

export function verifyTencentCallback(
  params: TencentCallbackAuthParams,
  options: TencentCallbackAuthOptions,
): TencentCallbackVerification {
  const sign = params.sign?.trim();
  const requestTime = params.requestTime?.trim();
  const sdkAppId = params.sdkAppId?.trim();
  if (!sign || !requestTime || !sdkAppId) return { ok: false, reason: 'missing' };

  if (sdkAppId !== String(options.expectedSdkAppId).trim()) return { ok: false, reason: 'wrong-app' };

  if (!/^\d{1,15}$/.test(requestTime)) return { ok: false, reason: 'stale' };
  const nowSeconds = (options.now ?? Date.now()) / 1000;
  const windowSeconds = options.windowSeconds ?? 60;
  if (Math.abs(nowSeconds - Number(requestTime)) > windowSeconds) return { ok: false, reason: 'stale' };

  // An unset token must never let a request through.
  if (!options.callbackToken) return { ok: false, reason: 'bad-sign' };
  const expected = Buffer.from(computeTencentCallbackSign(options.callbackToken, requestTime), 'utf8');
  const received = Buffer.from(sign.toLowerCase(), 'utf8');
  if (received.length !== expected.length || !timingSafeEqual(received, expected)) {
    return { ok: false, reason: 'bad-sign' };
  }
  return { ok: true };
}

/** A query object as Express/Nest hands it over, or a URLSearchParams. */
export type QueryLike = URLSearchParams | Readonly<Record<string, unknown>>;

/**
 * Reads a query parameter by name, ignoring the name's case: Tencent documents `SdkAppid`,
 * `CallbackCommand`, `Sign`, `RequestTime`... with inconsistent casing (tencent-chat.md).
 * Arrays (a repeated parameter) yield their first string.
 */
export function getQueryParamCaseInsensitive(
  query: QueryLike | undefined | null,
  name: string,
): string | undefined {
  return byLowercaseName(query).get(name.toLowerCase());
}

/** Each parameter's first string value by its lowercased name (the first spelling seen wins). */
function byLowercaseName(query: QueryLike | undefined | null): Map<string, string> {
  const values = new Map<string, string>();
  if (!query) return values;
  const entries: Iterable<[string, unknown]> =
    query instanceof URLSearchParams ? query.entries() : Object.entries(query);
  for (const [key, value] of entries) {
    const first = Array.isArray(value) ? (value as unknown[])[0] : value;
    const lower = key.toLowerCase();
    if (typeof first === 'string' && !values.has(lower)) values.set(lower, first);
  }
  return values;
}

/** The parameters of a Tencent webhook URL, read case-insensitively. */
export interface TencentCallbackQuery extends TencentCallbackAuthParams {
  callbackCommand?: string;
  contentType?: string;
  clientIp?: string;
  optPlatform?: string;
}

export function readTencentCallbackQuery(query: QueryLike | undefined | null): TencentCallbackQuery {
  const values = byLowercaseName(query);
  return {
    sdkAppId: values.get('sdkappid'),
    callbackCommand: values.get('callbackcommand'),
    sign: values.get('sign'),
    requestTime: values.get('requesttime'),
    contentType: values.get('contenttype'),
    clientIp: values.get('clientip'),
    optPlatform: values.get('optplatform'),
  };
}
