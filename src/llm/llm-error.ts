export type LlmErrorKind =
  'timeout' | 'rate-limited' | 'unavailable' | 'bad-response' | 'auth' | 'bad-request' | 'cancelled';

const RETRYABLE_KINDS: ReadonlySet<LlmErrorKind> = new Set(['timeout', 'rate-limited', 'unavailable']);

export interface LlmErrorOptions {
  retryable?: boolean;
  status?: number;
  /** A delay the server asked for before trying again (Retry-After). */
  retryAfterMs?: number;
  cause?: unknown;
}

/** Every failure of a chat or embedding model, classified so callers can decide what to tell users. */
export class LlmError extends Error {
  override readonly name = 'LlmError';
  readonly retryable: boolean;
  readonly status?: number;
  readonly retryAfterMs?: number;

  constructor(
    readonly kind: LlmErrorKind,
    message: string,
    options: LlmErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? RETRYABLE_KINDS.has(kind);
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** Thrown when a model is created with an unusable configuration. */
export class LlmConfigError extends Error {
  override readonly name = 'LlmConfigError';
}

export const cancelledError = (what: string): LlmError =>
  new LlmError('cancelled', `${what} was cancelled`, { retryable: false });
