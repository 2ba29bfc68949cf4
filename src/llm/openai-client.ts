import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
  AzureOpenAI,
} from 'openai';
import { parseRetryAfter, type BackoffSettings, type RetryOptions } from '../common/retry.js';
import { LlmConfigError, LlmError } from './llm-error.js';

/** Retry policy for one model call; `attempts` counts the first try. */
export type RetrySettings = Partial<BackoffSettings>;

export type RetryObserver = (error: LlmError, attempt: number, delayMs: number) => void;

/** Any OpenAI-compatible server: OpenAI, DeepSeek, Qwen (DashScope), Ollama, vLLM, LM Studio... */
export interface OpenAiCompatibleEndpoint {
  /** e.g. https://api.openai.com/v1, http://localhost:11434/v1 */
  baseUrl: string;
  /** Optional for local servers (Ollama, vLLM) that do not check it. */
  apiKey?: string;
  timeoutMs?: number;
  retry?: RetrySettings;
  /** Observes each retry (logs, metrics). */
  onRetry?: RetryObserver;
}

export interface AzureOpenAiEndpoint {
  /** e.g. https://my-resource.openai.azure.com */
  endpoint: string;
  apiKey: string;
  deployment: string;
  /** e.g. 2024-10-21 */
  apiVersion: string;
  timeoutMs?: number;
  retry?: RetrySettings;
  onRetry?: RetryObserver;
}

/** An SDK client plus what error messages need to name the endpoint without leaking the key. */
export interface OpenAiConnection {
  client: OpenAI;
  /** Sent as `model`; Azure routes by deployment and ignores it. */
  model: string;
  /** e.g. `model "gpt-4o-mini" at https://api.openai.com/v1` */
  label: string;
  secret?: string;
  timeoutMs: number;
  retry: Required<RetrySettings>;
  onRetry?: RetryObserver;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
/** Local servers ignore the key, but the SDK refuses to build a client without one. */
const NO_API_KEY = 'not-needed';

export function connectOpenAiCompatible(
  endpoint: OpenAiCompatibleEndpoint,
  model: string,
  defaultRetry: Required<RetrySettings>,
): OpenAiConnection {
  const baseUrl = requireUrl(endpoint.baseUrl, 'baseUrl');
  requireText(model, 'model');
  const timeoutMs = endpoint.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const apiKey = endpoint.apiKey?.trim() || NO_API_KEY;
  const client = new OpenAI({
    ...explicitClientOptions(timeoutMs),
    apiKey,
    baseURL: baseUrl.replace(/\/+$/, ''),
  });
  return {
    client,
    model,
    label: `model "${model}" at ${describeUrl(baseUrl)}`,
    secret: endpoint.apiKey?.trim() || undefined,
    timeoutMs,
    retry: { ...defaultRetry, ...endpoint.retry },
    onRetry: endpoint.onRetry,
  };
}

export function connectAzureOpenAi(
  endpoint: AzureOpenAiEndpoint,
  defaultRetry: Required<RetrySettings>,
): OpenAiConnection {
  const base = requireUrl(endpoint.endpoint, 'endpoint');
  requireText(endpoint.apiKey, 'apiKey');
  requireText(endpoint.deployment, 'deployment');
  requireText(endpoint.apiVersion, 'apiVersion');
  const timeoutMs = endpoint.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // baseURL rather than `endpoint`: the SDK would otherwise also read OPENAI_BASE_URL from the environment.
  const client = new AzureOpenAI({
    ...explicitClientOptions(timeoutMs),
    apiKey: endpoint.apiKey,
    baseURL: `${base.replace(/\/+$/, '')}/openai`,
    deployment: endpoint.deployment,
    apiVersion: endpoint.apiVersion,
  });
  return {
    client,
    model: endpoint.deployment,
    label: `Azure deployment "${endpoint.deployment}" at ${describeUrl(base)}`,
    secret: endpoint.apiKey,
    timeoutMs,
    retry: { ...defaultRetry, ...endpoint.retry },
    onRetry: endpoint.onRetry,
  };
}

/**
 * Retries are ours (`withRetry`), not the SDK's: its waits cannot be cancelled, it does not cap a long
 * Retry-After, and it cannot retry a stream that failed before its first token.
 */
function explicitClientOptions(timeoutMs: number) {
  return {
    maxRetries: 0,
    timeout: timeoutMs,
    // Never pick up OPENAI_* settings of the host environment: each provider is configured explicitly.
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    logLevel: 'off' as const,
  };
}

export function retryOptions(connection: OpenAiConnection, signal?: AbortSignal): RetryOptions {
  return {
    attempts: Math.max(1, connection.retry.attempts),
    baseDelayMs: connection.retry.baseDelayMs,
    maxDelayMs: connection.retry.maxDelayMs,
    isRetryable: (error) => error instanceof LlmError && error.retryable,
    retryAfterMs: (error) => (error instanceof LlmError ? error.retryAfterMs : undefined),
    onRetry: (error, attempt, delayMs) => {
      if (error instanceof LlmError) connection.onRetry?.(error, attempt, delayMs);
    },
    signal,
  };
}

export interface FailureContext {
  /** e.g. "Chat completion", "Embedding request" */
  operation: string;
  connection: OpenAiConnection;
  timedOut?: boolean;
  cancelled?: boolean;
}

/** Classifies any failure of an SDK call into an `LlmError` whose message never contains the API key. */
export function toLlmError(error: unknown, context: FailureContext): LlmError {
  if (error instanceof LlmError) return error;
  const { operation, connection } = context;
  const make = (
    kind: LlmError['kind'],
    text: string,
    extra: { status?: number; retryAfterMs?: number; retryable?: boolean } = {},
  ) =>
    new LlmError(kind, redact(`${operation} failed: ${text} (${connection.label})`, connection.secret), {
      ...extra,
      cause: error,
    });

  if (context.cancelled) return new LlmError('cancelled', `${operation} was cancelled`, { cause: error });
  if (context.timedOut || error instanceof APIConnectionTimeoutError) {
    return make('timeout', `no response within ${connection.timeoutMs} ms`);
  }
  if (error instanceof APIUserAbortError)
    return new LlmError('cancelled', `${operation} was cancelled`, { cause: error });
  if (error instanceof APIConnectionError)
    return make('unavailable', `could not connect (${causeText(error)})`);
  if (error instanceof APIError) return fromApiError(error, make);
  if (isErrorLike(error) && error.name === 'SyntaxError') {
    return make('bad-response', `the server sent malformed JSON (${error.message})`);
  }
  if (isNetworkError(error)) return make('unavailable', `the connection was lost (${causeText(error)})`);
  return make('bad-response', `unexpected error (${isErrorLike(error) ? error.message : String(error)})`);
}

type ErrorMaker = (
  kind: LlmError['kind'],
  text: string,
  extra?: { status?: number; retryAfterMs?: number; retryable?: boolean },
) => LlmError;

function fromApiError(error: APIError, make: ErrorMaker): LlmError {
  const status = error.status;
  const detail = serverDetail(error);
  if (status === undefined) return make('unavailable', `the server reported an error: ${detail}`);
  const http = `HTTP ${status}`;
  if (status === 401 || status === 403) {
    return make('auth', `authentication failed (${http}: ${detail}); check the API key`, { status });
  }
  if (status === 429) {
    if (error.code === 'insufficient_quota') {
      return make('rate-limited', `quota exhausted (${http}: ${detail})`, { status, retryable: false });
    }
    return make('rate-limited', `rate limited (${http}: ${detail})`, {
      status,
      retryAfterMs: retryAfter(error),
    });
  }
  if (status === 408) return make('timeout', `the server timed out (${http})`, { status });
  if (status === 404) {
    return make(
      'bad-request',
      `not found (${http}: ${detail}); check the URL and the model or deployment name`,
      {
        status,
      },
    );
  }
  if (status === 409 || status >= 500) {
    return make('unavailable', `server error (${http}: ${detail})`, {
      status,
      retryAfterMs: retryAfter(error),
    });
  }
  return make('bad-request', `the request was rejected (${http}: ${detail})`, { status });
}

function serverDetail(error: APIError): string {
  const body = error.error as { message?: unknown } | undefined;
  const raw =
    typeof body?.message === 'string'
      ? body.message
      : error.message.replace(/^\d{3}\s+/, '').replace(/^status code \(no body\)$/, 'no details');
  const text = raw
    .replace(/<[^>]*>/g, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 300 ? `${text.slice(0, 300)}…` : text || 'no details';
}

function retryAfter(error: APIError): number | undefined {
  const headers = error.headers;
  if (!headers) return undefined;
  const milliseconds = Number(headers.get('retry-after-ms'));
  if (headers.get('retry-after-ms') && Number.isFinite(milliseconds) && milliseconds >= 0)
    return milliseconds;
  return parseRetryAfter(headers.get('retry-after'));
}

interface ErrorLike {
  name: string;
  message: string;
  code?: unknown;
  cause?: unknown;
}

/** Duck-typed: errors from Node's own fetch (undici) may come from another realm (e.g. under Jest). */
function isErrorLike(value: unknown): value is ErrorLike {
  return typeof value === 'object' && value !== null && typeof (value as ErrorLike).message === 'string';
}

function isNetworkError(error: unknown): error is ErrorLike {
  if (!isErrorLike(error)) return false;
  const code = error.code ?? (isErrorLike(error.cause) ? error.cause.code : undefined);
  return (
    (typeof code === 'string' && /^(E[A-Z]+|UND_ERR_[A-Z_]+)$/.test(code)) ||
    /terminated|fetch failed|socket|other side closed/i.test(error.message)
  );
}

/** The error's message and those of its causes: undici hides "ECONNREFUSED" two levels down. */
function causeText(error: ErrorLike): string {
  const messages: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 4 && isErrorLike(current); depth++) {
    if (current.message && !messages.includes(current.message)) messages.push(current.message);
    current = current.cause;
  }
  return messages.join(': ');
}

export function redact(text: string, secret: string | undefined): string {
  return secret && secret.length >= 4 ? text.split(secret).join('***') : text;
}

/** The URL without credentials or query, for messages. */
function describeUrl(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}${parsed.pathname.replace(/\/+$/, '')}`;
}

function requireUrl(value: string | undefined, field: string): string {
  requireText(value, field);
  try {
    const parsed = new URL(value as string);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new LlmConfigError(`${field} must be an http(s) URL`);
  }
  return (value as string).trim();
}

function requireText(value: string | undefined, field: string): void {
  if (typeof value !== 'string' || value.trim().length === 0) {
    throw new LlmConfigError(`${field} is required`);
  }
}
