import { withRetry } from '../common/retry.js';
import type { WeComMarkdownMessage } from './wecom-reply.js';

/**
 * WeCom's response_url: a one-time URL (valid 1 hour) for an active reply. It arrives inside an
 * authenticated callback, but Parley still only POSTs to hosts on an allow-list (no SSRF through a
 * forged or misrouted payload): by default WeCom's API host over HTTPS.
 */

/** One allowed destination: a host name (lower case), an optional port, and whether plain HTTP is allowed. */
export interface AllowedHost {
  host: string;
  port?: string;
  allowHttp: boolean;
}

export const DEFAULT_RESPONSE_URL_HOSTS = 'qyapi.weixin.qq.com';

/**
 * Parses `WECOM_RESPONSE_URL_HOSTS`: a comma list of `host[:port]` (HTTPS only), `https://host[:port]`, or
 * `http://host[:port]` (plain HTTP too: for tests and private relays). Without a port any port matches.
 */
export function parseAllowedHosts(list: string): AllowedHost[] {
  return list
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const scheme = /^(https?):\/\//i.exec(entry)?.[1]?.toLowerCase();
      const url = new URL(scheme ? entry : `https://${entry}`);
      return {
        host: url.hostname.toLowerCase(),
        ...(hasExplicitPort(entry) ? { port: url.port || defaultPort(url.protocol) } : {}),
        allowHttp: scheme === 'http',
      };
    });
}

function hasExplicitPort(entry: string): boolean {
  return /:\d+$/.test(entry.replace(/^https?:\/\//i, ''));
}

function defaultPort(protocol: string): string {
  return protocol === 'http:' ? '80' : '443';
}

/** Why a response_url may not be used, or undefined when it may. */
export function responseUrlProblem(responseUrl: string, allowed: readonly AllowedHost[]): string | undefined {
  let url: URL;
  try {
    url = new URL(responseUrl);
  } catch {
    return 'response_url is not a URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    return `response_url scheme ${url.protocol} is not allowed`;
  if (url.username || url.password) return 'response_url must not carry credentials';
  const host = url.hostname.toLowerCase();
  const port = url.port || defaultPort(url.protocol);
  const match = allowed.find(
    (entry) =>
      entry.host === host &&
      (entry.port === undefined || entry.port === port) &&
      (url.protocol === 'https:' || entry.allowHttp),
  );
  if (!match) {
    return `response_url host ${url.protocol}//${url.host} is not in WECOM_RESPONSE_URL_HOSTS`;
  }
  return undefined;
}

/** A failed POST to response_url; `retryable` for network errors, timeouts, 429, 5xx and WeCom's "busy". */
export class ResponseUrlError extends Error {
  override readonly name = 'ResponseUrlError';

  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface ResponseUrlClientOptions {
  /** Per attempt (default 10 s). */
  timeoutMs?: number;
  /** Total attempts (default 3). */
  attempts?: number;
  /** Backoff base (default 500 ms). */
  baseDelayMs?: number;
  onRetry?: (error: unknown, attempt: number) => void;
}

/** WeCom's "system busy": worth another try. */
const WECOM_BUSY = -1;

/** POSTs an active reply to a response_url, with a timeout per attempt and retries with backoff. */
export class ResponseUrlClient {
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly baseDelayMs: number;

  constructor(private readonly options: ResponseUrlClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.attempts = options.attempts ?? 3;
    this.baseDelayMs = options.baseDelayMs ?? 500;
  }

  async post(responseUrl: string, message: WeComMarkdownMessage): Promise<void> {
    const body = JSON.stringify(message);
    await withRetry(() => this.attempt(responseUrl, body), {
      attempts: this.attempts,
      baseDelayMs: this.baseDelayMs,
      maxDelayMs: 5_000,
      isRetryable: (error) => error instanceof ResponseUrlError && error.retryable,
      onRetry: (error, attempt) => this.options.onRetry?.(error, attempt),
    });
  }

  private async attempt(responseUrl: string, body: string): Promise<void> {
    let response: Response;
    try {
      response = await fetch(responseUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        // A redirect could lead anywhere: the allow-list applies to the URL we were given only.
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error)?.name === 'TimeoutError';
      throw new ResponseUrlError(
        timedOut
          ? `response_url timed out after ${this.timeoutMs} ms`
          : `response_url unreachable: ${describe(error)}`,
        true,
      );
    }
    const text = await response.text().catch(() => '');
    if (response.status === 429 || response.status >= 500) {
      throw new ResponseUrlError(`response_url answered HTTP ${response.status}`, true);
    }
    if (response.status < 200 || response.status >= 300) {
      throw new ResponseUrlError(`response_url answered HTTP ${response.status}`, false);
    }
    const result = parseResult(text);
    if (result && typeof result.errcode === 'number' && result.errcode !== 0) {
      throw new ResponseUrlError(
        `response_url refused the reply: errcode ${result.errcode} ${String(result.errmsg ?? '')}`.trim(),
        result.errcode === WECOM_BUSY,
      );
    }
  }
}

function parseResult(text: string): { errcode?: unknown; errmsg?: unknown } | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null
      ? (value as { errcode?: unknown; errmsg?: unknown })
      : undefined;
  } catch {
    return undefined;
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}
