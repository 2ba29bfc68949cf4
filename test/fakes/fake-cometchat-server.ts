/**
 * A fake CometChat REST v3 API on loopback (real HTTP), for tests: checks the `apikey` header, records the
 * bot messages it accepted and can be told to answer 429 (with `Retry-After`), 5xx or late (cometchat.md).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeCometChatServerOptions {
  /** The app the fake stands for (the real host embeds it; the fake is reached by `apiBaseUrl`). */
  appId: string;
  apiKey: string;
  botUid: string;
}

export interface FakeCometChatMessage {
  id: string;
  botUid: string;
  receiver: string;
  receiverType: string;
  text: string;
  body: Record<string, unknown>;
}

export interface FakeCometChatRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
  /** When the request arrived (ms epoch). */
  at: number;
}

export interface FakeCometChatFailure {
  status: number;
  /** Sent as `Retry-After`. */
  retryAfter?: string;
  /** Sent as `X-Rate-Limit-Reset`. */
  rateLimitReset?: string;
  /** The `{"error":{code,message}}` envelope; omitted → a plain-text body. */
  code?: string;
  message?: string;
  /** Let this many requests with a valid key through before failing (default 0). */
  after?: number;
}

export interface FakeCometChatServer {
  baseUrl: string;
  messages: FakeCometChatMessage[];
  requests: FakeCometChatRequest[];
  /** The next `count` requests with a valid key get `failure`. */
  failNext(count: number, failure: FakeCometChatFailure): void;
  /** The next `count` requests are answered only after `ms` (then processed normally). */
  delayNext(ms: number, count?: number): void;
  reset(): void;
  close(): Promise<void>;
}

/** The data-size limit the real API enforces (cometchat.md: `data` ≤ 10 KB). */
const DATA_LIMIT_BYTES = 10 * 1024;

export async function startFakeCometChatServer(
  options: FakeCometChatServerOptions,
): Promise<FakeCometChatServer> {
  const messages: FakeCometChatMessage[] = [];
  const requests: FakeCometChatRequest[] = [];
  const failures: (FakeCometChatFailure & { remaining: number; after: number })[] = [];
  const delays: { ms: number; remaining: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let nextId = 1000;

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string, at: number): void => {
    const path = new URL(req.url ?? '/', 'http://fake').pathname;
    let body: unknown;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      body = raw;
    }
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      requests.push({ method: req.method ?? '', path, headers: { ...req.headers }, body, status, at });
      const isText = typeof payload === 'string';
      res
        .writeHead(status, { 'content-type': isText ? 'text/plain' : 'application/json', ...headers })
        .end(isText ? payload : JSON.stringify(payload));
    };
    const error = (status: number, code: string, message: string): void =>
      send(status, { error: { code, message, devMessage: message, source: 'fake' } });

    const apiKey = req.headers.apikey;
    if (typeof apiKey !== 'string' || apiKey.length === 0) {
      return error(401, 'AUTH_ERR_EMPTY_APIKEY', 'Failed to validate the data sent with the request.');
    }
    if (apiKey !== options.apiKey) {
      return error(401, 'AUTH_ERR_APIKEY_NOT_FOUND', 'The API key does not exist.');
    }

    const failure = failures[0];
    if (failure && failure.after > 0) failure.after -= 1;
    else if (failure) {
      if (--failure.remaining <= 0) failures.shift();
      const headers: Record<string, string> = {};
      if (failure.retryAfter !== undefined) headers['retry-after'] = failure.retryAfter;
      if (failure.rateLimitReset !== undefined) headers['x-rate-limit-reset'] = failure.rateLimitReset;
      const payload =
        failure.code !== undefined
          ? { error: { code: failure.code, message: failure.message ?? 'scripted failure' } }
          : 'scripted failure';
      return send(failure.status, payload, headers);
    }

    const route = /^\/v3\/bots\/([^/]+)(\/messages)?$/.exec(path);
    if (!route) return error(404, 'ERR_ROUTE_NOT_FOUND', 'Not found.');
    const uid = decodeURIComponent(route[1]);
    if (uid !== options.botUid) return error(404, 'ERR_BOT_NOT_FOUND', `The bot ${uid} does not exist.`);

    if (req.method === 'GET' && !route[2]) {
      return send(200, {
        data: {
          uid,
          webhookURL: 'https://parley.example/cometchat/callback',
          groupChatSetting: 'mentionedMessages',
          useBasicAuth: true,
          username: 'parley',
          password: 'fake-basic-auth-password',
          enabled: true,
          createdAt: 1680125130,
        },
      });
    }
    if (req.method !== 'POST' || !route[2])
      return error(405, 'ERR_METHOD_NOT_ALLOWED', 'Method not allowed.');

    const message = typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
    const data =
      typeof message.data === 'object' && message.data !== null
        ? (message.data as Record<string, unknown>)
        : {};
    const { receiver, receiverType, category, type } = message;
    if (
      typeof receiver !== 'string' ||
      (receiverType !== 'user' && receiverType !== 'group') ||
      category !== 'message' ||
      type !== 'text' ||
      typeof data.text !== 'string'
    ) {
      return error(400, 'ERR_BAD_REQUEST', 'Invalid message body.');
    }
    if (Buffer.byteLength(JSON.stringify(data), 'utf8') > DATA_LIMIT_BYTES) {
      return error(400, 'ERR_DATA_TOO_LARGE', 'The data field is too large.');
    }
    const id = String((nextId += 1));
    messages.push({ id, botUid: uid, receiver, receiverType, text: data.text, body: message });
    const conversationId =
      receiverType === 'group' ? `group_${receiver}` : [uid, receiver].sort().join('_user_');
    return send(200, {
      data: {
        id,
        conversationId,
        sender: uid,
        receiverType,
        receiver,
        category,
        type,
        data: { ...data, entities: {} },
        sentAt: Math.floor(Date.now() / 1000),
        updatedAt: Math.floor(Date.now() / 1000),
      },
    });
  };

  const server = createServer((req, res) => {
    const at = Date.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const delay = delays[0];
      if (!delay) return handle(req, res, raw, at);
      if (--delay.remaining <= 0) delays.shift();
      const timer = setTimeout(() => {
        timers.delete(timer);
        // Processed even if the client gave up meanwhile, as a real server would (a retry then duplicates).
        handle(req, res, raw, at);
      }, delay.ms);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const clearTimers = (): void => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
  };

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    messages,
    requests,
    failNext(count, failure) {
      failures.push({ ...failure, remaining: count, after: failure.after ?? 0 });
    },
    delayNext(ms, count = 1) {
      delays.push({ ms, remaining: count });
    },
    reset() {
      messages.length = 0;
      requests.length = 0;
      failures.length = 0;
      delays.length = 0;
      clearTimers();
    },
    close() {
      clearTimers();
      return new Promise<void>((resolve, reject) => {
        server.close((closeError) => (closeError ? reject(closeError) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
