import { Logger } from '@nestjs/common';
import { parseRetryAfter, withRetry, type BackoffSettings, type RetryLogger } from '../common/retry.js';
import { splitNumbered } from '../common/text.js';
import type { CometChatReceiverType } from './cometchat-callback.parser.js';

/** A message's `data` may hold at most 10 KB (cometchat.md). */
export const COMETCHAT_DATA_LIMIT_BYTES = 10_000;
/** Room left for `{"text":…,"metadata":{}}`, the JSON escaping of the text and the `(i/n) ` prefix. */
export const COMETCHAT_TEXT_MARGIN_BYTES = 2_000;
export const COMETCHAT_DEFAULT_TEXT_MAX_BYTES = COMETCHAT_DATA_LIMIT_BYTES - COMETCHAT_TEXT_MARGIN_BYTES;

export const DEFAULT_COMETCHAT_RETRY: BackoffSettings = {
  attempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
};
export const DEFAULT_COMETCHAT_TIMEOUT_MS = 10_000;

export interface CometChatRestClientConfig {
  appId: string;
  /** `us` | `eu` | `in` (cometchat.md). */
  region: string;
  /** REST API key with full access. Never logged. */
  apiKey: string;
  botUid: string;
  /** Overrides `https://{appId}.api-{region}.cometchat.io` (proxies, tests). */
  apiBaseUrl?: string;
  /** Per HTTP attempt. */
  timeoutMs?: number;
  retry?: Partial<BackoffSettings>;
  logger?: RetryLogger;
}

/** What the connection test reports about the bot; never its Basic-auth password. */
export interface CometChatBotInfo {
  uid: string;
  enabled?: boolean;
  webhookURL?: string;
  groupChatSetting?: string;
  useBasicAuth?: boolean;
}

/**
 * A failed REST call. `status` is the HTTP status (undefined when no response arrived); `code` CometChat's
 * error code from `{"error":{"code","message"}}` (e.g. `AUTH_ERR_APIKEY_NOT_FOUND`), or `NETWORK_ERROR` /
 * `TIMEOUT` / `INVALID_RESPONSE`.
 */
export class CometChatApiError extends Error {
  override readonly name = 'CometChatApiError';
  readonly retryable: boolean;

  constructor(
    /** e.g. `POST /v3/bots/support_bot/messages`. */
    readonly api: string,
    readonly status: number | undefined,
    readonly code: string | undefined,
    readonly errorMessage: string,
    readonly retryAfterMs?: number,
  ) {
    super(
      [`CometChat ${api} failed:`, status !== undefined ? `HTTP ${status}` : undefined, code, errorMessage]
        .filter(Boolean)
        .join(' '),
    );
    this.retryable = status === undefined || status >= 500 || status === 429 || status === 408;
  }
}

/** `sendText` failed on part `failedPart` (1-based); `sentIds` were delivered before it. */
export class CometChatSendTextError extends Error {
  override readonly name = 'CometChatSendTextError';

  constructor(
    readonly sentIds: string[],
    readonly failedPart: number,
    readonly partCount: number,
    cause: unknown,
  ) {
    super(
      `CometChat sendText failed on part ${failedPart}/${partCount}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

export function resolveCometChatApiBaseUrl(appId: string, region: string, apiBaseUrl?: string): string {
  if (apiBaseUrl) {
    const url = new URL(apiBaseUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new RangeError('apiBaseUrl must be http(s)');
    return url.toString().replace(/\/+$/, '');
  }
  // Both end up in the host name: allow nothing that could change which host it is.
  if (!/^[A-Za-z0-9]+$/.test(appId)) throw new RangeError('appId must be alphanumeric');
  const normalizedRegion = region.trim().toLowerCase();
  if (!/^[a-z0-9]+$/.test(normalizedRegion)) throw new RangeError(`Invalid CometChat region "${region}"`);
  return `https://${appId.toLowerCase()}.api-${normalizedRegion}.cometchat.io`;
}

/**
 * The wait a 429 asks for: `Retry-After` (seconds or HTTP date), else `X-Rate-Limit-Reset` (an epoch in
 * seconds, or milliseconds if that large; small values are taken as seconds from now) (cometchat.md).
 */
export function cometChatRetryAfterMs(headers: Headers, now = Date.now()): number | undefined {
  const retryAfter = parseRetryAfter(headers.get('retry-after'), now);
  if (retryAfter !== undefined) return retryAfter;
  const reset = Number(headers.get('x-rate-limit-reset') ?? Number.NaN);
  if (!Number.isFinite(reset) || reset < 0) return undefined;
  if (reset >= 1e12) return Math.max(0, reset - now);
  if (reset >= 1e9) return Math.max(0, reset * 1000 - now);
  return reset * 1000;
}

type Json = Record<string, unknown>;

/**
 * CometChat REST v3 for one bot. Every call goes through `withRetry`: 429 (waiting as asked), 5xx, network
 * failures and timeouts are retried with backoff; other 4xx fail at once as `CometChatApiError`.
 */
export class CometChatRestClient {
  private readonly baseUrl: string;
  private readonly apiKey: string;
  private readonly botUid: string;
  private readonly timeoutMs: number;
  private readonly retry: BackoffSettings;
  private readonly logger: RetryLogger;

  constructor(config: CometChatRestClientConfig) {
    if (!config.apiKey) throw new RangeError('apiKey is required');
    if (!config.botUid) throw new RangeError('botUid is required');
    this.baseUrl = resolveCometChatApiBaseUrl(config.appId, config.region, config.apiBaseUrl);
    this.apiKey = config.apiKey;
    this.botUid = config.botUid;
    this.timeoutMs = config.timeoutMs ?? DEFAULT_COMETCHAT_TIMEOUT_MS;
    this.retry = { ...DEFAULT_COMETCHAT_RETRY, ...config.retry };
    this.logger = config.logger ?? new Logger(CometChatRestClient.name);
  }

  /** Sends one text message as the bot; returns CometChat's message id ('' if the response lacked one). */
  async sendBotMessage(receiver: string, receiverType: CometChatReceiverType, text: string): Promise<string> {
    const json = await this.request('POST', `/v3/bots/${encodeURIComponent(this.botUid)}/messages`, {
      receiver,
      receiverType,
      category: 'message',
      type: 'text',
      data: { text, metadata: {} },
    });
    const data = isRecord(json.data) ? json.data : {};
    return typeof data.id === 'string' || typeof data.id === 'number' ? String(data.id) : '';
  }

  /**
   * Sends a whole answer, split into numbered parts of at most `maxBytes` UTF-8 bytes, one after the other.
   * Returns the message ids in order. Throws `CometChatSendTextError` (with the ids already sent) when a
   * part fails.
   */
  async sendText(
    receiver: string,
    receiverType: CometChatReceiverType,
    text: string,
    maxBytes: number = COMETCHAT_DEFAULT_TEXT_MAX_BYTES,
  ): Promise<string[]> {
    if (text.trim().length === 0) throw new RangeError('Refusing to send an empty message');
    const parts = splitNumbered(text, maxBytes);
    const ids: string[] = [];
    for (const [index, part] of parts.entries()) {
      try {
        ids.push(await this.sendBotMessage(receiver, receiverType, part));
      } catch (error) {
        throw new CometChatSendTextError(ids, index + 1, parts.length, error);
      }
    }
    return ids;
  }

  /** Connection test (provisioning.md): app id, region, key, bot exists; its password is never returned. */
  async getBot(): Promise<CometChatBotInfo> {
    const json = await this.request('GET', `/v3/bots/${encodeURIComponent(this.botUid)}`);
    const data = isRecord(json.data) ? json.data : {};
    const info: CometChatBotInfo = { uid: typeof data.uid === 'string' ? data.uid : this.botUid };
    if (typeof data.enabled === 'boolean') info.enabled = data.enabled;
    if (typeof data.webhookURL === 'string') info.webhookURL = data.webhookURL;
    if (typeof data.groupChatSetting === 'string') info.groupChatSetting = data.groupChatSetting;
    if (typeof data.useBasicAuth === 'boolean') info.useBasicAuth = data.useBasicAuth;
    return info;
  }

  private async request(method: 'GET' | 'POST', path: string, body?: Json): Promise<Json> {
    const api = `${method} ${path}`;
    return withRetry(() => this.attempt(method, path, api, body), {
      ...this.retry,
      isRetryable: (error) => error instanceof CometChatApiError && error.retryable,
      retryAfterMs: (error) => (error instanceof CometChatApiError ? error.retryAfterMs : undefined),
      onRetry: (error, attempt, delayMs) =>
        this.logger.warn(
          `${error instanceof Error ? error.message : 'CometChat call failed'}; retry ${attempt} in ${delayMs} ms`,
        ),
    });
  }

  private async attempt(method: 'GET' | 'POST', path: string, api: string, body?: Json): Promise<Json> {
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          apikey: this.apiKey,
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw fetchFailure(api, error, this.timeoutMs);
    }

    const json = parseJsonObject(text);
    if (!response.ok) {
      const envelope = json && isRecord(json.error) ? json.error : {};
      const code = typeof envelope.code === 'string' ? envelope.code : undefined;
      const message = typeof envelope.message === 'string' ? envelope.message.slice(0, 300) : '';
      const retryAfterMs =
        response.status === 429 || response.status === 503
          ? cometChatRetryAfterMs(response.headers)
          : undefined;
      throw new CometChatApiError(api, response.status, code, message, retryAfterMs);
    }
    if (!json)
      throw new CometChatApiError(api, response.status, 'INVALID_RESPONSE', 'unparsable response body');
    return json;
  }
}

function fetchFailure(api: string, error: unknown, timeoutMs: number): CometChatApiError {
  // Duck-typed: fetch rejects with a DOMException, which is not `instanceof Error` in every realm (Jest's vm).
  const name = propertyOf(error, 'name');
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new CometChatApiError(api, undefined, 'TIMEOUT', `timed out after ${timeoutMs} ms`);
  }
  const code = propertyOf(propertyOf(error, 'cause'), 'code');
  return new CometChatApiError(
    api,
    undefined,
    'NETWORK_ERROR',
    typeof code === 'string' ? code : 'fetch failed',
  );
}

function propertyOf(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && key in value
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

function parseJsonObject(text: string): Json | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return isRecord(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
