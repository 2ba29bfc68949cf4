/**
 * The ceiling for the webhook benchmark: plain node:http + one pg Pool doing what a webhook must do at the
 * least — the same verification and decryption as Parley, a JSON parse and ONE durable INSERT per callback
 * (unique on the message id), then the reply. No framework, no logging, no queue, no bot lookup.
 *
 * For the breakdown (`--decompose`), a request with `x-bench-store: parley-sql` (or `parley-sql-prepared`)
 * is stored exactly as Parley stores it instead: its accept statement (ACCEPT_SQL) — alone
 * (`parley-sql`, `parley-sql-prepared`) or, as Parley does, with concurrent callbacks batched
 * (`parley-sql-batched`).
 *
 * Run by bench/webhooks.ts as a child process: DATABASE_URL, PORT, BENCH_CEILING_CONFIG (the bots'
 * credentials as JSON), BENCH_CEILING_POOL (connections, default 10). Listens on 127.0.0.1 only.
 */
import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import pg from 'pg';
import { timeOrderedId } from '../src/common/ids.js';
import { checkBasicAuth } from '../src/cometchat/cometchat-auth.js';
import {
  computeTencentCallbackSign,
  readTencentCallbackQuery,
} from '../src/tencent-chat/tencent-signature.js';
import { WeComCrypto } from '../src/wecom-bot/wecom-crypto.js';
import { encryptReply, streamReply } from '../src/wecom-bot/wecom-reply.js';
import { ACCEPT_SQL, type AcceptChatRow, type AcceptRow } from '../src/conversation/accept.sql.js';
import { BARE_STORE_HEADER, BARE_STORES, type BareStore, type BenchCredentials } from './lib/channels.js';

const BODY_LIMIT = 1024 * 1024;
const WECOM_WINDOW_SECONDS = 300;
const TENCENT_WINDOW_SECONDS = 60;
const TENCENT_OK = JSON.stringify({ ActionStatus: 'OK', ErrorInfo: '', ErrorCode: 0 });
const COMETCHAT_OK = JSON.stringify({ status: 'accepted' });

const INSERT = `INSERT INTO ceiling_messages (channel, message_id, sender, body) VALUES ($1, $2, $3, $4)
  ON CONFLICT (channel, message_id) DO UPDATE SET channel = EXCLUDED.channel RETURNING id`;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function requireEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is required`);
  return value;
}

const credentials = JSON.parse(requireEnv('BENCH_CEILING_CONFIG')) as BenchCredentials;
const pool = new pg.Pool({
  connectionString: requireEnv('DATABASE_URL'),
  max: Number(process.env.BENCH_CEILING_POOL ?? 10),
  application_name: 'parley-bench-ceiling',
  // As Parley's own pool (src/database/database.ts): its batched SQL must not pay for JIT compilation.
  options: '-c jit=off',
});
const wecom = new WeComCrypto(credentials.wecom.token, credentials.wecom.encodingAesKey);
const wecomPath = `/api/wecom-bot/callback/${encodeURIComponent(credentials.wecom.botId)}`;
const tencentPath = `/api/tencent-chat/callback/${credentials.tencent.sdkAppId}`;
const cometchatPath = `/api/cometchat/callback/${credentials.cometchat.providerId}`;

/** What a callback carries, for storing it (the ceiling uses the first four). */
interface Received {
  channel: string;
  messageId: string;
  sender: string;
  raw: string;
  botProviderId: string;
  platform: string;
  text: string;
  replyTarget: Record<string, unknown>;
}

/** As Parley's accept: the most callbacks one statement takes, and statements under way at once. */
const BATCH_MAX = 64;
const BATCH_CONCURRENCY = 1;

async function store(received: Received, how: BareStore): Promise<string> {
  if (how === 'insert') {
    const { channel, messageId, sender, raw } = received;
    const result = await pool.query<{ id: string }>(INSERT, [channel, messageId, sender, raw]);
    return result.rows[0].id;
  }
  if (how === 'parley-sql-batched') return storeBatched(received);
  const [answerId] = await storeLikeParley([received], how === 'parley-sql-prepared');
  if (!answerId) throw new HttpError(409, 'duplicate');
  return answerId;
}

/** The accept statement's parameters for one-to-one messages under the default policy (distinct message ids). */
function acceptParams(batch: Received[]): unknown[] {
  const rows: AcceptRow[] = batch.map((received, ord) => ({
    ord,
    question_id: timeOrderedId(),
    answer_id: timeOrderedId(),
    bot_provider_id: received.botProviderId,
    platform: received.platform,
    chat_key: received.sender,
    sender_id: received.sender,
    sender_name: null,
    conversation_key: received.sender,
    platform_message_id: received.messageId,
    content: received.text,
    quoted_text: null,
    reply_target: received.replyTarget,
    raw: JSON.parse(received.raw) as unknown,
    gate_notice: null,
    rate_limit: 20,
    earlier_from_sender: batch.slice(0, ord).filter((earlier) => earlier.sender === received.sender).length,
    token_budget: 0,
  }));
  const chats = new Map<string, AcceptChatRow>();
  for (const received of batch) {
    const chat = chats.get(received.sender);
    if (chat) chat.message_count++;
    else {
      chats.set(received.sender, {
        id: timeOrderedId(),
        bot_provider_id: received.botProviderId,
        platform: received.platform,
        chat_key: received.sender,
        is_group: false,
        senders: [{ id: received.sender, name: null }],
        message_count: 1,
      });
    }
  }
  return [JSON.stringify(rows), JSON.stringify([...chats.values()])];
}

interface Pending {
  received: Received;
  resolve: (answerId: string) => void;
  reject: (error: unknown) => void;
}

const waiting: Pending[] = [];
let flushing = 0;

/** Group commit as Parley does it: whatever arrived while the transactions were busy goes in the next. */
function storeBatched(received: Received): Promise<string> {
  return new Promise((resolve, reject) => {
    waiting.push({ received, resolve, reject });
    kick();
  });
}

function kick(): void {
  while (flushing < BATCH_CONCURRENCY && waiting.length > 0) {
    flushing += 1;
    const batch = waiting.splice(0, BATCH_MAX);
    storeLikeParley(
      batch.map((item) => item.received),
      true,
    )
      .then((ids) =>
        batch.forEach((item, index) => {
          const id = ids[index];
          if (id) item.resolve(id);
          else item.reject(new HttpError(409, 'duplicate'));
        }),
      )
      .catch((error: unknown) => batch.forEach((item) => item.reject(error)))
      .finally(() => {
        flushing -= 1;
        kick();
      });
  }
}

/**
 * Parley's accept, statement for statement (one-to-one chats, the default policy): one statement storing
 * chats, messages and answers. Returns the answer ids (null for a duplicate).
 */
async function storeLikeParley(batch: Received[], prepared: boolean): Promise<(string | null)[]> {
  const values = acceptParams(batch);
  const accepted = await pool.query<{ answer_id: string | null }>(
    prepared ? { name: 'parley_accept', text: ACCEPT_SQL, values } : { text: ACCEPT_SQL, values },
  );
  return accepted.rows.map((row) => row.answer_id);
}

function storeOf(request: IncomingMessage): BareStore {
  const value = request.headers[BARE_STORE_HEADER];
  return (BARE_STORES as readonly unknown[]).includes(value) ? (value as BareStore) : 'insert';
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    request.on('data', (part: Buffer) => {
      size += part.length;
      if (size > BODY_LIMIT) {
        reject(new HttpError(413, 'body too large'));
        request.destroy();
        return;
      }
      parts.push(part);
    });
    request.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    request.on('error', reject);
  });
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // fall through
  }
  throw new HttpError(400, 'body must be a JSON object');
}

const asString = (value: unknown): string => (typeof value === 'string' ? value : '');

const PLATFORMS: Record<string, string> = {
  wecom: 'wecom-bot',
  tencent: 'tencent-chat',
  cometchat: 'cometchat',
};
const common = (channel: string, botProviderId: string) => ({
  channel,
  botProviderId,
  platform: PLATFORMS[channel],
});

/** sha1 signature over token/timestamp/nonce/encrypt, AES-256-CBC decrypt, JSON, INSERT, encrypted reply. */
async function onWeCom(url: URL, raw: string, how: BareStore): Promise<string> {
  const signature = url.searchParams.get('msg_signature') ?? '';
  const timestamp = url.searchParams.get('timestamp') ?? '';
  const nonce = url.searchParams.get('nonce') ?? '';
  if (!signature || !/^\d{1,12}$/.test(timestamp) || !nonce) throw new HttpError(401, 'signature missing');
  if (Math.abs(Date.now() / 1000 - Number(timestamp)) > WECOM_WINDOW_SECONDS) {
    throw new HttpError(401, 'stale timestamp');
  }
  const encrypted = asString(parseJson(raw).encrypt);
  if (!wecom.verifySignature(signature, timestamp, nonce, encrypted))
    throw new HttpError(401, 'bad signature');
  const plaintext = wecom.decrypt(encrypted, '').message;
  const message = parseJson(plaintext);
  const messageId = asString(message.msgid);
  const from = message.from as { userid?: unknown } | undefined;
  if (!messageId) throw new HttpError(400, 'msgid missing');
  const sender = asString(from?.userid);
  const text = asString((message.text as { content?: unknown } | undefined)?.content);
  const replyTarget = {
    responseUrl: message.response_url,
    chatType: 'single',
    userId: sender,
    language: 'en',
  };
  const id = await store(
    {
      ...common('wecom', credentials.wecom.providerId),
      messageId,
      sender,
      raw: plaintext,
      text,
      replyTarget,
    },
    how,
  );
  const reply = streamReply(id, 'Thinking…', false, { feedbackId: id });
  return JSON.stringify(encryptReply(wecom, reply, timestamp, nonce));
}

/** sha256(token + RequestTime) in constant time, ±60 s, SdkAppid, JSON, INSERT. */
async function onTencent(url: URL, raw: string, how: BareStore): Promise<string> {
  const query = readTencentCallbackQuery(url.searchParams);
  const { sign, requestTime, sdkAppId } = query;
  if (!sign || !requestTime || sdkAppId !== credentials.tencent.sdkAppId) {
    throw new HttpError(401, 'bad query');
  }
  if (
    !/^\d{1,15}$/.test(requestTime) ||
    Math.abs(Date.now() / 1000 - Number(requestTime)) > TENCENT_WINDOW_SECONDS
  ) {
    throw new HttpError(401, 'stale');
  }
  const expected = Buffer.from(computeTencentCallbackSign(credentials.tencent.callbackToken, requestTime));
  const given = Buffer.from(sign.toLowerCase());
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    throw new HttpError(401, 'bad sign');
  const body = parseJson(raw);
  const messageId = asString(body.MsgKey) || `${asString(body.GroupId)}:${String(body.MsgSeq)}`;
  const sender = asString(body.From_Account);
  const elems = Array.isArray(body.MsgBody) ? (body.MsgBody as { MsgContent?: { Text?: unknown } }[]) : [];
  const text = elems.map((elem) => asString(elem.MsgContent?.Text)).join('');
  await store(
    {
      ...common('tencent', credentials.tencent.providerId),
      messageId,
      sender,
      raw,
      text,
      replyTarget: { robotId: credentials.tencent.robotId, toAccount: sender },
    },
    how,
  );
  return TENCENT_OK;
}

/** Basic auth (constant time), JSON, INSERT. */
async function onCometChat(request: IncomingMessage, raw: string, how: BareStore): Promise<string> {
  const { username, password, appId } = credentials.cometchat;
  if (!checkBasicAuth(request.headers.authorization, username, password))
    throw new HttpError(401, 'bad auth');
  const body = parseJson(raw);
  const data = body.data as { id?: unknown; sender?: unknown; data?: { text?: unknown } } | undefined;
  const messageId = data?.id === undefined ? '' : String(data.id);
  if (!messageId) throw new HttpError(400, 'data.id missing');
  const sender = asString(data?.sender);
  await store(
    {
      ...common('cometchat', credentials.cometchat.providerId),
      messageId: `${asString(body.appId) || appId}:${messageId}`,
      sender,
      raw,
      text: asString(data?.data?.text),
      replyTarget: { receiver: sender, receiverType: 'user' },
    },
    how,
  );
  return COMETCHAT_OK;
}

async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const url = new URL(request.url ?? '/', 'http://ceiling');
  if (request.method === 'GET' && url.pathname === '/ready') {
    await pool.query('SELECT 1');
    return void response.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
  }
  if (request.method !== 'POST') throw new HttpError(404, 'not found');
  const raw = await readBody(request);
  const how = storeOf(request);
  let reply: string;
  if (url.pathname === wecomPath) reply = await onWeCom(url, raw, how);
  else if (url.pathname === tencentPath) reply = await onTencent(url, raw, how);
  else if (url.pathname === cometchatPath) reply = await onCometChat(request, raw, how);
  else throw new HttpError(404, 'not found');
  response.writeHead(200, { 'content-type': 'application/json' }).end(reply);
}

async function main(): Promise<void> {
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ceiling_messages (
       id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
       channel text NOT NULL,
       message_id text NOT NULL,
       sender text NOT NULL,
       body jsonb NOT NULL,
       created_at timestamptz NOT NULL DEFAULT now(),
       CONSTRAINT ceiling_messages_unique UNIQUE (channel, message_id))`,
  );
  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : 500;
      if (status === 500) process.stderr.write(`ceiling: ${String((error as Error)?.stack ?? error)}\n`);
      if (!response.headersSent) response.writeHead(status, { 'content-type': 'text/plain' });
      response.end(error instanceof Error ? error.message : 'error');
    });
  });
  // Parley's keep-alive settings (HTTP_KEEP_ALIVE_SECONDS): with Node's 5 s the load generator's idle
  // connections were closed under it and a few requests met a reset connection.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  const port = Number(requireEnv('PORT'));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const stop = () => {
    server.close();
    server.closeAllConnections();
    void pool.end().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdout.write(`ceiling listening on http://127.0.0.1:${port}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`ceiling failed: ${String((error as Error)?.stack ?? error)}\n`);
  process.exit(1);
});
