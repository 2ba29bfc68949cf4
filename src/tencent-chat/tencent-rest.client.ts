import { randomInt } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { parseRetryAfter, withRetry, type BackoffSettings, type RetryLogger } from '../common/retry.js';
import { splitNumbered } from '../common/text.js';
import { TencentUserSigProvider, type TencentUserSigSource } from './tencent-user-sig.js';

/** REST API hosts by data centre (tencent-chat.md). */
export const TENCENT_REGION_HOSTS = {
  china: 'console.tim.qq.com',
  singapore: 'adminapisgp.im.qcloud.com',
  seoul: 'adminapikr.im.qcloud.com',
  tokyo: 'adminapijpn.im.qcloud.com',
  frankfurt: 'adminapiger.im.qcloud.com',
  'silicon-valley': 'adminapiusa.im.qcloud.com',
  jakarta: 'adminapiidn.im.qcloud.com',
} as const;

export type TencentRegion = keyof typeof TENCENT_REGION_HOSTS;

export const isTencentRegion = (value: string): value is TencentRegion =>
  Object.hasOwn(TENCENT_REGION_HOSTS, value);

/** Message bodies are limited to ~12 KB (80002 / 93000, tencent-chat.md). */
export const TENCENT_MESSAGE_LIMIT_BYTES = 12_000;
/** Room left for the JSON escaping of the text (`\n`, `"`) and the `(i/n) ` prefix. */
export const TENCENT_TEXT_MARGIN_BYTES = 2_000;
export const TENCENT_DEFAULT_TEXT_MAX_BYTES = TENCENT_MESSAGE_LIMIT_BYTES - TENCENT_TEXT_MARGIN_BYTES;

/** ErrorCodes meaning "rate limited, back off" (tencent-chat.md). */
const RATE_LIMIT_ERROR_CODES: ReadonlySet<number> = new Set([60007, 60018]);
const USER_SIG_EXPIRED = 70001;

export const DEFAULT_TENCENT_RETRY: BackoffSettings = {
  attempts: 4,
  baseDelayMs: 500,
  maxDelayMs: 15_000,
};
export const DEFAULT_TENCENT_TIMEOUT_MS = 10_000;

export interface TencentRestClientConfig {
  sdkAppId: number;
  secretKey: string;
  /** The app admin account the REST calls are made as (`identifier`). */
  adminIdentifier: string;
  /** A key of `TENCENT_REGION_HOSTS` (case-insensitive, `_` or space for `-`); default `china`. */
  region?: string;
  /** Overrides the region host (proxies, tests), e.g. `http://127.0.0.1:4000`. */
  apiBaseUrl?: string;
  /** Per HTTP attempt. */
  timeoutMs?: number;
  retry?: Partial<BackoffSettings>;
  /** Lifetime of the admin UserSig (default 7 days); ignored when `userSig` is given. */
  userSigExpireSeconds?: number;
  /** Supplies the admin UserSig; default a `TencentUserSigProvider` over sdkAppId/secretKey/adminIdentifier. */
  userSig?: TencentUserSigSource;
  logger?: RetryLogger;
}

/** Where a reply goes: what `toTencentInboundMessage` stores as the `replyTarget`. */
export type TencentSendTarget =
  { kind: 'c2c'; robot: string; toAccount: string } | { kind: 'group'; robot: string; groupId: string };

/** Reads a reply target back (e.g. from a stored `replyTarget`); undefined when it is not one. */
export function parseTencentSendTarget(value: unknown): TencentSendTarget | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { kind, robot, toAccount, groupId } = value as Record<string, unknown>;
  if (typeof robot !== 'string' || robot.length === 0) return undefined;
  if (kind === 'c2c' && typeof toAccount === 'string' && toAccount.length > 0)
    return { kind, robot, toAccount };
  if (kind === 'group' && typeof groupId === 'string' && groupId.length > 0) return { kind, robot, groupId };
  return undefined;
}

export interface TencentC2CSendResult {
  /** Absent only if Tencent's success response omitted it. */
  msgKey?: string;
  msgTime?: number;
}

export interface TencentGroupSendResult {
  msgSeq?: number;
  msgTime?: number;
}

export interface TencentStreamChunkResult {
  /** The stream's MsgKey: pass it with every following chunk. */
  msgKey?: string;
}

/**
 * A failed REST call. `errorCode` is Tencent's ErrorCode (undefined when the response carried none:
 * HTTP error, network failure, timeout); `status` the HTTP status (undefined when no response arrived).
 */
export class TencentApiError extends Error {
  override readonly name = 'TencentApiError';
  readonly retryable: boolean;

  constructor(
    /** `service/command`, e.g. `openim/sendmsg`. */
    readonly api: string,
    readonly errorCode: number | undefined,
    readonly errorInfo: string,
    readonly status: number | undefined,
    readonly retryAfterMs?: number,
  ) {
    super(
      `Tencent ${api} failed: ${errorCode !== undefined ? `ErrorCode ${errorCode}` : `HTTP ${status ?? '-'}`} ${errorInfo}`.trim(),
    );
    this.retryable = isRetryableTencentFailure(errorCode, status);
  }
}

function isRetryableTencentFailure(errorCode: number | undefined, status: number | undefined): boolean {
  if (errorCode !== undefined) return RATE_LIMIT_ERROR_CODES.has(errorCode);
  return status === undefined || status >= 500 || status === 429 || status === 408;
}

/** `sendText` failed on part `failedPart` (1-based); `sentIds` were delivered before it. */
export class TencentSendTextError extends Error {
  override readonly name = 'TencentSendTextError';

  constructor(
    readonly sentIds: string[],
    readonly failedPart: number,
    readonly partCount: number,
    cause: unknown,
  ) {
    super(
      `Tencent sendText failed on part ${failedPart}/${partCount}: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
}

export function resolveTencentApiBaseUrl(region?: string, apiBaseUrl?: string): string {
  if (apiBaseUrl) {
    const url = new URL(apiBaseUrl);
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw new RangeError('apiBaseUrl must be http(s)');
    return url.toString().replace(/\/+$/, '');
  }
  const key = (region ?? 'china')
    .trim()
    .toLowerCase()
    .replace(/[\s_]+/g, '-');
  if (!isTencentRegion(key)) {
    throw new RangeError(
      `Unknown Tencent region "${region}"; use one of ${Object.keys(TENCENT_REGION_HOSTS).join(', ')}`,
    );
  }
  return `https://${TENCENT_REGION_HOSTS[key]}`;
}

type TencentJson = Record<string, unknown>;

/**
 * Tencent Cloud Chat REST API (tencent-chat.md, provisioning.md) as the app admin, speaking for robots.
 * Every call goes through `withRetry`: rate limits (60007/60018), HTTP 5xx, network failures and timeouts
 * are retried with backoff; 70001 renews the UserSig and retries once; any other ErrorCode fails at once.
 */
export class TencentRestClient {
  private readonly baseUrl: string;
  private readonly sdkAppId: number;
  private readonly adminIdentifier: string;
  private readonly timeoutMs: number;
  private readonly retry: BackoffSettings;
  private readonly userSig: TencentUserSigSource;
  private readonly logger: RetryLogger;

  constructor(config: TencentRestClientConfig) {
    this.baseUrl = resolveTencentApiBaseUrl(config.region, config.apiBaseUrl);
    this.sdkAppId = config.sdkAppId;
    this.adminIdentifier = config.adminIdentifier;
    this.timeoutMs = config.timeoutMs ?? DEFAULT_TENCENT_TIMEOUT_MS;
    this.retry = { ...DEFAULT_TENCENT_RETRY, ...config.retry };
    this.userSig =
      config.userSig ??
      new TencentUserSigProvider({
        sdkAppId: config.sdkAppId,
        secretKey: config.secretKey,
        identifier: config.adminIdentifier,
        expireSeconds: config.userSigExpireSeconds,
      });
    this.logger = config.logger ?? new Logger(TencentRestClient.name);
  }

  /** `openim/sendmsg` from the robot (else it would come from the admin, tencent-chat.md). */
  async sendC2C(robot: string, toAccount: string, text: string): Promise<TencentC2CSendResult> {
    const json = await this.call('openim', 'sendmsg', {
      SyncOtherMachine: 2,
      From_Account: robot,
      To_Account: toAccount,
      // Kept across retries: Tencent uses MsgRandom to drop duplicates.
      MsgRandom: randomUint32(),
      MsgBody: textMsgBody(text),
    });
    return { msgKey: optionalString(json.MsgKey), msgTime: optionalNumber(json.MsgTime) };
  }

  async sendGroup(robot: string, groupId: string, text: string): Promise<TencentGroupSendResult> {
    const json = await this.call('group_open_http_svc', 'send_group_msg', {
      GroupId: groupId,
      From_Account: robot,
      Random: randomUint32(),
      MsgBody: textMsgBody(text),
    });
    return { msgSeq: optionalNumber(json.MsgSeq), msgTime: optionalNumber(json.MsgTime) };
  }

  /** Robot stream API (C2C): the first chunk opens the stream and returns its MsgKey; `finish` closes it. */
  async sendStreamChunk(
    robot: string,
    toAccount: string,
    chunk: string,
    msgKey?: string,
    finish?: boolean,
  ): Promise<TencentStreamChunkResult> {
    const body: TencentJson = { From_Account: robot, To_Account: toAccount, Chunk: chunk };
    if (msgKey !== undefined) body.MsgKey = msgKey;
    if (finish) body.Finish = 1;
    const json = await this.call('openim_robot_http_svc', 'send_stream_msg', body);
    return { msgKey: optionalString(json.MsgKey) ?? msgKey };
  }

  async modifyC2C(robot: string, toAccount: string, msgKey: string, text: string): Promise<void> {
    await this.call('openim', 'modify_c2c_msg', {
      From_Account: robot,
      To_Account: toAccount,
      MsgKey: msgKey,
      MsgBody: textMsgBody(text),
    });
  }

  async modifyGroup(groupId: string, msgSeq: number, text: string): Promise<void> {
    await this.call('group_open_http_svc', 'modify_group_msg', {
      GroupId: groupId,
      MsgSeq: msgSeq,
      MsgBody: textMsgBody(text),
    });
  }

  /** Connection test: checks the admin credentials and data centre; lists the app's robots. */
  async getAllRobots(): Promise<string[]> {
    const json = await this.call('openim_robot_http_svc', 'get_all_robots', {});
    const robots = json.Robot_Account;
    return Array.isArray(robots) ? robots.filter((id): id is string => typeof id === 'string') : [];
  }

  /**
   * Sends a whole answer, split into numbered parts of at most `maxBytes` UTF-8 bytes, one after the other.
   * Returns the MsgKeys (C2C) or MsgSeqs (group) in order ('' where Tencent omitted one).
   * Throws `TencentSendTextError` (with the ids already sent) when a part fails.
   */
  async sendText(
    target: TencentSendTarget,
    text: string,
    maxBytes: number = TENCENT_DEFAULT_TEXT_MAX_BYTES,
  ): Promise<string[]> {
    if (text.trim().length === 0) throw new RangeError('Refusing to send an empty message');
    const parts = splitNumbered(text, maxBytes);
    const ids: string[] = [];
    for (const [index, part] of parts.entries()) {
      try {
        if (target.kind === 'c2c') {
          const { msgKey } = await this.sendC2C(target.robot, target.toAccount, part);
          ids.push(msgKey ?? '');
        } else {
          const { msgSeq } = await this.sendGroup(target.robot, target.groupId, part);
          ids.push(msgSeq !== undefined ? String(msgSeq) : '');
        }
      } catch (error) {
        throw new TencentSendTextError(ids, index + 1, parts.length, error);
      }
    }
    return ids;
  }

  private async call(service: string, command: string, body: TencentJson): Promise<TencentJson> {
    const api = `${service}/${command}`;
    let renewed = false;
    return withRetry(
      async () => {
        try {
          return await this.attempt(api, body);
        } catch (error) {
          if (renewed || !(error instanceof TencentApiError) || error.errorCode !== USER_SIG_EXPIRED)
            throw error;
          renewed = true;
          this.logger.warn(`Tencent ${api}: admin UserSig expired (70001); renewing it and retrying once`);
          this.userSig.invalidate();
          return await this.attempt(api, body);
        }
      },
      {
        ...this.retry,
        isRetryable: (error) => error instanceof TencentApiError && error.retryable,
        retryAfterMs: (error) => (error instanceof TencentApiError ? error.retryAfterMs : undefined),
        onRetry: (error, attempt, delayMs) =>
          this.logger.warn(
            `${error instanceof Error ? error.message : 'Tencent call failed'}; retry ${attempt} in ${delayMs} ms`,
          ),
      },
    );
  }

  private async attempt(api: string, body: TencentJson): Promise<TencentJson> {
    const url = new URL(`${this.baseUrl}/v4/${api}`);
    url.search = new URLSearchParams({
      sdkappid: String(this.sdkAppId),
      identifier: this.adminIdentifier,
      usersig: this.userSig.get(),
      random: String(randomUint32()),
      contenttype: 'json',
    }).toString();

    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      // Never put the URL (it carries the usersig) or the raw error into the message.
      throw new TencentApiError(api, undefined, describeFetchFailure(error, this.timeoutMs), undefined);
    }

    const json = parseJsonObject(text);
    const errorCode = json && typeof json.ErrorCode === 'number' ? json.ErrorCode : undefined;
    const errorInfo = json && typeof json.ErrorInfo === 'string' ? json.ErrorInfo.slice(0, 300) : '';
    if (!response.ok) {
      const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
      const code = errorCode !== undefined && errorCode !== 0 ? errorCode : undefined;
      throw new TencentApiError(api, code, errorInfo, response.status, retryAfterMs);
    }
    if (!json) throw new TencentApiError(api, undefined, 'unparsable response body', response.status);
    // Success is ErrorCode 0, whatever the HTTP status (tencent-chat.md).
    const ok = errorCode === 0 || (errorCode === undefined && json.ActionStatus === 'OK');
    if (!ok) throw new TencentApiError(api, errorCode, errorInfo || 'ActionStatus FAIL', response.status);
    return json;
  }
}

function textMsgBody(text: string): TencentJson[] {
  return [{ MsgType: 'TIMTextElem', MsgContent: { Text: text } }];
}

const randomUint32 = (): number => randomInt(0, 2 ** 32);

function parseJsonObject(text: string): TencentJson | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as TencentJson)
      : undefined;
  } catch {
    return undefined;
  }
}

function describeFetchFailure(error: unknown, timeoutMs: number): string {
  // Duck-typed: fetch rejects with a DOMException, which is not `instanceof Error` in every realm (Jest's vm).
  const name = propertyOf(error, 'name');
  if (name === 'TimeoutError' || name === 'AbortError') return `timed out after ${timeoutMs} ms`;
  const code = propertyOf(propertyOf(error, 'cause'), 'code');
  return `network error${typeof code === 'string' ? ` (${code})` : ''}`;
}

function propertyOf(value: unknown, key: string): unknown {
  return typeof value === 'object' && value !== null && key in value
    ? (value as Record<string, unknown>)[key]
    : undefined;
}

function optionalString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function optionalNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
