/**
 * Retries with exponential backoff and full jitter, honouring a server-provided delay
 * (e.g. an HTTP `Retry-After`). Every outbound call in Parley goes through this one helper.
 */
export interface RetryOptions {
  /** Total attempts including the first one. */
  attempts: number;
  /** Base delay in ms for the exponential backoff (attempt n waits ~ base * 2^(n-1)). */
  baseDelayMs: number;
  /** Upper bound for any single wait. */
  maxDelayMs: number;
  /** Decides whether an error is worth another attempt. */
  isRetryable: (error: unknown) => boolean;
  /** A delay the server asked for (ms), if the error carries one. It is honoured in full, up to maxRetryAfterMs. */
  retryAfterMs?: (error: unknown) => number | undefined;
  /** A server asking for a longer wait than this (default 60 s) gets no retry: the error is thrown. */
  maxRetryAfterMs?: number;
  /** Called before each wait; useful for logs and metrics. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  signal?: AbortSignal;
}

/** The backoff part of RetryOptions: what a client's configuration sets. */
export type BackoffSettings = Pick<RetryOptions, 'attempts' | 'baseDelayMs' | 'maxDelayMs'>;

/** Where an outbound client reports its retries. */
export interface RetryLogger {
  warn(message: string): void;
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export function backoffDelay(attempt: number, baseDelayMs: number, maxDelayMs: number): number {
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
}

export async function withRetry<T>(
  operation: (attempt: number) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await operation(attempt);
    } catch (error) {
      if (attempt >= options.attempts || !options.isRetryable(error) || options.signal?.aborted) throw error;
      const asked = options.retryAfterMs?.(error);
      if (asked !== undefined && asked > (options.maxRetryAfterMs ?? 60_000)) throw error;
      const delay = asked ?? backoffDelay(attempt, options.baseDelayMs, options.maxDelayMs);
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Waits for `promise`, but at most `ms`; returns whether it settled in time. The timer never outlives it. */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
