/**
 * A real HTTP server on 127.0.0.1 that speaks enough of the OpenAI API (and Azure OpenAI's paths) for
 * tests to drive the official SDK: streamed and plain chat completions, deterministic embeddings, and
 * scripted failures (429, 5xx, hangs, malformed bodies, dropped connections).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { countTokens } from '../../src/llm/token-counter.js';

export type FakeEndpoint = 'chat' | 'embeddings';

export type FakeBehaviour =
  /** A normal answer, overriding the server's defaults for this request. */
  | { kind: 'reply'; tokens?: string[]; usage?: boolean; finishReason?: string; tokenDelayMs?: number }
  /** 429 with `Retry-After` (seconds, default "0") and optionally `retry-after-ms`. */
  | { kind: 'rate-limit'; retryAfter?: string; retryAfterMs?: number; code?: string }
  | { kind: 'error'; status: number; body?: unknown; headers?: Record<string, string> }
  /** Accepts the request and never answers. */
  | { kind: 'hang' }
  /** Streams `afterTokens` tokens, then goes silent with the connection open. */
  | { kind: 'stall'; afterTokens: number }
  /** Streams `afterTokens` tokens (default 0), then destroys the socket. */
  | { kind: 'disconnect'; afterTokens?: number }
  /** Broken SSE for a streamed chat, broken JSON otherwise. */
  | { kind: 'malformed' }
  /** An SSE `{"error": ...}` event after `afterTokens` tokens (as OpenAI and vLLM send mid-stream). */
  | { kind: 'stream-error'; afterTokens?: number; message?: string }
  /** Embeddings of another size than asked for. */
  | { kind: 'wrong-dimensions'; dimensions: number };

export type ScriptedBehaviour = FakeBehaviour & { endpoint?: FakeEndpoint };

export interface FakeOpenAiServerOptions {
  /** The answer's tokens; by default the server echoes the last user message ("Echo: ..."). */
  tokens?: string[];
  tokenDelayMs?: number;
  /** Embedding size when a request does not ask for `dimensions` (default 64). */
  embeddingDimensions?: number;
  /** Send the usage chunk when the client asks for it (default true). */
  usage?: boolean;
  /** When set, requests must carry it (Authorization: Bearer, or Azure's api-key header). */
  apiKey?: string;
  /** Chat parameters answered with OpenAI's 400 "Unsupported parameter" (e.g. 'max_tokens'). */
  rejectParams?: string[];
}

export interface RecordedRequest {
  endpoint: FakeEndpoint | 'unknown';
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** Azure paths only. */
  deployment?: string;
  /** Settles when the exchange ends: 'aborted' when the connection closed before the response was complete. */
  outcome: Promise<'finished' | 'aborted'>;
}

export interface FakeOpenAiServer {
  /** e.g. http://127.0.0.1:41234/v1 */
  baseUrl: string;
  /** e.g. http://127.0.0.1:41234 (Azure "endpoint") */
  origin: string;
  requests: RecordedRequest[];
  script: {
    /** Queues behaviours; each is used once, by the next request to its endpoint (any when unset). */
    enqueue(...behaviours: ScriptedBehaviour[]): void;
    pending(): number;
  };
  /** Closes the server and every connection still open (hanging requests included). */
  close(): Promise<void>;
}

interface ChatBody {
  model?: string;
  stream?: boolean;
  messages?: { role?: string; content?: unknown }[];
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  max_completion_tokens?: number;
  [key: string]: unknown;
}

interface EmbeddingsBody {
  model?: string;
  input?: unknown;
  dimensions?: number;
  encoding_format?: string;
}

const CJK = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}';
const STOPWORDS = new Set(
  'a an the is are was were be of to in on at for and or with by it this that do does how what i you my your we can'.split(
    ' ',
  ),
);

export async function startFakeOpenAiServer(
  options: FakeOpenAiServerOptions = {},
): Promise<FakeOpenAiServer> {
  const requests: RecordedRequest[] = [];
  const queue: ScriptedBehaviour[] = [];
  const take = (endpoint: FakeEndpoint): FakeBehaviour | undefined => {
    const index = queue.findIndex((behaviour) => !behaviour.endpoint || behaviour.endpoint === endpoint);
    return index < 0 ? undefined : queue.splice(index, 1)[0];
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(error) } });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const raw = await readBody(req);
    const route = routeOf(url.pathname);
    const record: RecordedRequest = {
      endpoint: route?.endpoint ?? 'unknown',
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: req.headers,
      body: parseJson(raw) ?? raw,
      deployment: route?.deployment,
      outcome: new Promise((resolve) =>
        res.on('close', () => resolve(res.writableFinished ? 'finished' : 'aborted')),
      ),
    };
    requests.push(record);
    if (!route || req.method !== 'POST')
      return sendError(res, 404, `Unknown route ${req.method} ${url.pathname}`);
    if (route.deployment !== undefined && !url.searchParams.get('api-version')) {
      return sendError(res, 404, 'Resource not found (missing api-version)');
    }
    if (options.apiKey && !authorised(req.headers, options.apiKey)) {
      const sent = req.headers['api-key'] ?? String(req.headers.authorization ?? '').replace(/^Bearer /, '');
      return sendError(res, 401, `Incorrect API key provided: ${String(sent)}`, 'invalid_api_key');
    }
    if (typeof record.body !== 'object' || record.body === null)
      return sendError(res, 400, 'Body must be JSON');
    const behaviour = take(route.endpoint);
    if (route.endpoint === 'chat') await chat(record.body as ChatBody, behaviour, res);
    else embeddings(record.body as EmbeddingsBody, behaviour, res);
  }

  async function chat(
    body: ChatBody,
    behaviour: FakeBehaviour | undefined,
    res: ServerResponse,
  ): Promise<void> {
    if (answeredWithFailure(behaviour, res)) return;
    const rejected = (options.rejectParams ?? []).find((param) => body[param] !== undefined);
    if (rejected) {
      return sendError(
        res,
        400,
        `Unsupported parameter: '${rejected}' is not supported with this model.` +
          (rejected === 'max_tokens' ? " Use 'max_completion_tokens' instead." : ''),
        'unsupported_parameter',
        rejected,
      );
    }
    const reply = behaviour?.kind === 'reply' ? behaviour : undefined;
    let tokens = reply?.tokens ?? options.tokens ?? echoTokens(body);
    let finishReason = reply?.finishReason ?? 'stop';
    const limit = body.max_completion_tokens ?? body.max_tokens;
    if (typeof limit === 'number' && tokens.length > limit) {
      tokens = tokens.slice(0, limit);
      finishReason = 'length';
    }
    const usage = {
      prompt_tokens: countTokens((body.messages ?? []).map((m) => String(m.content ?? '')).join('\n')),
      completion_tokens: countTokens(tokens.join('')),
      total_tokens: 0,
    };
    usage.total_tokens = usage.prompt_tokens + usage.completion_tokens;
    const model = body.model ?? 'fake-model';
    if (!body.stream) {
      if (behaviour?.kind === 'malformed')
        return sendRaw(res, 200, 'application/json', '{"id": "chatcmpl-fake", "choi');
      return sendJson(res, 200, {
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        choices: [
          { index: 0, message: { role: 'assistant', content: tokens.join('') }, finish_reason: finishReason },
        ],
        usage,
      });
    }
    const wantsUsage =
      body.stream_options?.include_usage === true && options.usage !== false && reply?.usage !== false;
    await streamChat(res, {
      model,
      tokens,
      finishReason,
      usage: wantsUsage ? usage : undefined,
      delayMs: reply?.tokenDelayMs ?? options.tokenDelayMs ?? 0,
      behaviour,
    });
  }

  function embeddings(body: EmbeddingsBody, behaviour: FakeBehaviour | undefined, res: ServerResponse): void {
    if (answeredWithFailure(behaviour, res)) return;
    if (behaviour?.kind === 'malformed')
      return sendRaw(res, 200, 'application/json', '{"object": "list", "data": [');
    const inputs = typeof body.input === 'string' ? [body.input] : body.input;
    if (!Array.isArray(inputs) || inputs.some((input) => typeof input !== 'string' || input.length === 0)) {
      return sendError(res, 400, "'$.input' is invalid: expected a non-empty string or array of strings");
    }
    const dimensions =
      behaviour?.kind === 'wrong-dimensions'
        ? behaviour.dimensions
        : (body.dimensions ?? options.embeddingDimensions ?? 64);
    const data = (inputs as string[]).map((input, index) => {
      const vector = fakeEmbedding(input, dimensions);
      return {
        object: 'embedding',
        index,
        embedding:
          body.encoding_format === 'base64'
            ? Buffer.from(new Float32Array(vector).buffer).toString('base64')
            : vector,
      };
    });
    const promptTokens = countTokens((inputs as string[]).join('\n'));
    sendJson(res, 200, {
      object: 'list',
      // Out of order on purpose: clients must use `index`.
      data: data.reverse(),
      model: body.model ?? 'fake-embedding',
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    });
  }

  /** Handles the behaviours that are the same on every endpoint; true when the response is taken care of. */
  function answeredWithFailure(behaviour: FakeBehaviour | undefined, res: ServerResponse): boolean {
    switch (behaviour?.kind) {
      case 'rate-limit': {
        const headers: Record<string, string> = { 'retry-after': behaviour.retryAfter ?? '0' };
        if (behaviour.retryAfterMs !== undefined) headers['retry-after-ms'] = String(behaviour.retryAfterMs);
        sendError(
          res,
          429,
          'Rate limit reached for requests',
          behaviour.code ?? 'rate_limit_exceeded',
          undefined,
          headers,
        );
        return true;
      }
      case 'error':
        sendJson(
          res,
          behaviour.status,
          behaviour.body ?? { error: { message: `Fake failure ${behaviour.status}` } },
          behaviour.headers,
        );
        return true;
      case 'hang':
        return true;
      case 'disconnect':
        if (!behaviour.afterTokens) {
          res.socket?.destroy();
          return true;
        }
        return false;
      default:
        return false;
    }
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    baseUrl: `${origin}/v1`,
    origin,
    requests,
    script: {
      enqueue: (...behaviours) => void queue.push(...behaviours),
      pending: () => queue.length,
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

interface StreamPlan {
  model: string;
  tokens: string[];
  finishReason: string;
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
  delayMs: number;
  behaviour?: FakeBehaviour;
}

async function streamChat(res: ServerResponse, plan: StreamPlan): Promise<void> {
  let closed = false;
  res.on('close', () => (closed = true));
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  const created = Math.floor(Date.now() / 1000);
  const chunk = (choices: unknown[], extra: Record<string, unknown> = {}) => ({
    id: 'chatcmpl-fake',
    object: 'chat.completion.chunk',
    created,
    model: plan.model,
    choices,
    ...extra,
  });
  // Resolves once the event is handed to the socket, so a scripted disconnect cannot discard it.
  const send = (data: unknown) =>
    new Promise<void>((resolve) => {
      if (closed) return resolve();
      res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`, () => resolve());
    });
  const { behaviour } = plan;
  const stopAfter =
    behaviour?.kind === 'stall' || behaviour?.kind === 'disconnect' || behaviour?.kind === 'stream-error'
      ? (behaviour.afterTokens ?? 0)
      : Infinity;

  await send(chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]));
  if (behaviour?.kind === 'malformed') {
    await send('{"id": "chatcmpl-fake", "choices": [{"delta": {"content": "Hel');
    return void res.end();
  }
  for (const [index, token] of plan.tokens.entries()) {
    if (closed) return;
    if (index >= stopAfter) break;
    if (plan.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, plan.delayMs));
    await send(chunk([{ index: 0, delta: { content: token }, finish_reason: null }]));
  }
  if (behaviour?.kind === 'stall') return;
  if (behaviour?.kind === 'disconnect') return void res.socket?.destroy();
  if (behaviour?.kind === 'stream-error') {
    await send({
      error: {
        message: behaviour.message ?? 'The server had an error while processing your request.',
        type: 'server_error',
      },
    });
    return void res.end();
  }
  await send(chunk([{ index: 0, delta: {}, finish_reason: plan.finishReason }]));
  if (plan.usage) await send(chunk([], { usage: plan.usage }));
  await send('[DONE]');
  res.end();
}

/** "Echo: <last user message>", split into word-sized tokens (one per CJK character). */
function echoTokens(body: ChatBody): string[] {
  const lastUser = [...(body.messages ?? [])].reverse().find((message) => message.role === 'user');
  const text = `Echo: ${String(lastUser?.content ?? '')}`;
  return text.match(new RegExp(`[${CJK}]|[^\\s${CJK}]+\\s*|\\s+`, 'gu')) ?? [];
}

/**
 * Deterministic embedding: word tokens and CJK character bigrams hashed into signed buckets, then
 * L2-normalised — texts that share words are similar. Exported so tests can compute expectations.
 */
export function fakeEmbedding(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  for (const feature of features(text)) {
    const hash = fnv1a(feature);
    vector[hash % dimensions] += fnv1a(`±${feature}`) & 1 ? 1 : -1;
  }
  const norm = Math.hypot(...vector);
  if (norm === 0) {
    vector[0] = 1;
    return vector;
  }
  return vector.map((value) => value / norm);
}

function features(text: string): string[] {
  const normalised = text.normalize('NFKC').toLowerCase();
  const result: string[] = [];
  for (const [run] of normalised.matchAll(new RegExp(`[${CJK}]+|[\\p{L}\\p{M}\\p{N}]+`, 'gu'))) {
    const chars = Array.from(run);
    if (!new RegExp(`^[${CJK}]`, 'u').test(run)) {
      if (!STOPWORDS.has(run)) result.push(run);
    } else if (chars.length === 1) result.push(run);
    else for (let i = 0; i + 1 < chars.length; i++) result.push(chars[i] + chars[i + 1]);
  }
  return result;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function routeOf(pathname: string): { endpoint: FakeEndpoint; deployment?: string } | undefined {
  const openAi = /^\/v1\/(chat\/completions|embeddings)$/.exec(pathname);
  if (openAi) return { endpoint: openAi[1] === 'embeddings' ? 'embeddings' : 'chat' };
  const azure = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|embeddings)$/.exec(pathname);
  if (azure)
    return {
      endpoint: azure[2] === 'embeddings' ? 'embeddings' : 'chat',
      deployment: decodeURIComponent(azure[1]),
    };
  return undefined;
}

function authorised(headers: IncomingHttpHeaders, apiKey: string): boolean {
  return headers.authorization === `Bearer ${apiKey}` || headers['api-key'] === apiKey;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(raw: string): unknown {
  try {
    return raw ? (JSON.parse(raw) as unknown) : undefined;
  } catch {
    return undefined;
  }
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  sendRaw(res, status, 'application/json', JSON.stringify(body), headers);
}

function sendRaw(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': contentType, ...headers });
  res.end(body);
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  code?: string,
  param?: string,
  headers: Record<string, string> = {},
): void {
  sendJson(
    res,
    status,
    { error: { message, type: 'invalid_request_error', param: param ?? null, code: code ?? null } },
    headers,
  );
}
