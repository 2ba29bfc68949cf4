/**
 * `npm run simulate -- wecom ...` plays WeCom against a running Parley: it verifies the callback URL like
 * the console does, sends an encrypted message like a user, refreshes the stream every ~500 ms like the
 * WeCom client, and prints the answer as it grows until the stream finishes. It encrypts with Parley's
 * own WeComCrypto (interoperable with WeCom's SDK; scripts may not depend on devDependencies).
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { LoopbackServer, positiveNumber } from './loopback-server.js';
import { WeComCrypto } from '../../src/wecom-bot/wecom-crypto.js';

const HELP = `Plays WeCom (an AI bot's callbacks) against a running Parley.

usage: npm run simulate -- wecom --url <callback url> --token <Token> --aes-key <EncodingAESKey> "question"

  --url <url>           the bot's callbackUrl, e.g. http://localhost:3000/api/wecom-bot/callback/aibXXXX
  --token <token>       the bot's Token
  --aes-key <key>       the bot's 43-character EncodingAESKey
  --user <id>           the WeCom user id who asks (default: sim-user)
  --group <chatid>      ask in a group chat, @mentioning the bot, instead of one to one
  --bot-name <name>     the name to @mention in a group (default: Parley)
  --interval <ms>       time between stream refreshes (default 500)
  --timeout <s>         give up after this many seconds (default 400)
  --catch-port <n>      also catch what Parley sends to the message's response_url on this local port
                        (long or late answers); Parley must allow it: WECOM_RESPONSE_URL_HOSTS=...,http://127.0.0.1
  --skip-verify         do not run the URL verification (GET) first
  -h, --help            this text

Exit status: 0 when the stream finished, 1 on an error (the HTTP status and Parley's error are printed).
`;

interface Options {
  url: URL;
  token: string;
  aesKey: string;
  user: string;
  group?: string;
  botName: string;
  intervalMs: number;
  timeoutMs: number;
  catchPort?: number;
  verify: boolean;
  question: string;
}

interface StreamReply {
  msgtype: 'stream';
  stream: { id: string; finish: boolean; content: string; feedback?: { id: string } };
}

function parseOptions(args: string[]): Options | undefined {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      'aes-key': { type: 'string' },
      user: { type: 'string', default: 'sim-user' },
      group: { type: 'string' },
      'bot-name': { type: 'string', default: 'Parley' },
      interval: { type: 'string', default: '500' },
      timeout: { type: 'string', default: '400' },
      'catch-port': { type: 'string' },
      'skip-verify': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const missing = ['url', 'token', 'aes-key'].filter((name) => !values[name as keyof typeof values]);
  if (missing.length > 0)
    throw new Error(`missing ${missing.map((name) => `--${name}`).join(', ')} (see --help)`);
  const question = positionals.join(' ').trim();
  if (!question) throw new Error('missing the question (see --help)');
  let url: URL;
  try {
    url = new URL(values.url!);
  } catch {
    throw new Error(
      '--url must be the callback URL, e.g. http://localhost:3000/api/wecom-bot/callback/<BotID>',
    );
  }
  if (!WeComCrypto.isValidEncodingAesKey(values['aes-key'])) {
    throw new Error('--aes-key must be the 43-character EncodingAESKey');
  }
  return {
    url,
    token: values.token!,
    aesKey: values['aes-key']!,
    user: values.user!,
    group: values.group,
    botName: values['bot-name']!,
    intervalMs: positiveNumber(values.interval!, '--interval'),
    timeoutMs: positiveNumber(values.timeout!, '--timeout') * 1000,
    catchPort:
      values['catch-port'] === undefined ? undefined : positiveNumber(values['catch-port'], '--catch-port'),
    verify: !values['skip-verify'],
    question,
  };
}

/** Signs and encrypts like WeCom, and checks Parley's replies like WeCom does. */
class WeComPlayer {
  private readonly crypto: WeComCrypto;
  private readonly botId: string;

  constructor(private readonly options: Options) {
    this.crypto = new WeComCrypto(options.token, options.aesKey);
    this.botId = decodeURIComponent(options.url.pathname.split('/').filter(Boolean).at(-1) ?? 'bot');
  }

  async verifyUrl(): Promise<void> {
    const echo = String(randomInt(1e9, 1e10));
    const echostr = this.crypto.encrypt(echo, '');
    const url = this.signedUrl(echostr, { echostr });
    const response = await fetch(url);
    const text = await response.text();
    if (response.status !== 200) throw new Error(`URL verification failed: HTTP ${response.status} ${text}`);
    if (text !== echo) throw new Error(`URL verification answered ${JSON.stringify(text)}, expected ${echo}`);
    note(`URL verification: ok (${response.headers.get('content-type') ?? 'no content type'})`);
  }

  message(responseUrl: string | undefined): Record<string, unknown> {
    const { group, user, botName, question } = this.options;
    return {
      msgid: randomBytes(16).toString('hex'),
      aibotid: this.botId,
      chattype: group ? 'group' : 'single',
      ...(group ? { chatid: group } : {}),
      from: { userid: user },
      ...(responseUrl ? { response_url: responseUrl } : {}),
      msgtype: 'text',
      text: { content: group ? `@${botName} ${question}` : question },
    };
  }

  refresh(streamId: string): Record<string, unknown> {
    const { group, user } = this.options;
    return {
      msgid: randomBytes(16).toString('hex'),
      aibotid: this.botId,
      chattype: group ? 'group' : 'single',
      ...(group ? { chatid: group } : {}),
      from: { userid: user },
      msgtype: 'stream',
      stream: { id: streamId },
    };
  }

  /** POSTs one callback and returns the decrypted reply (undefined for an empty body). */
  async post(payload: Record<string, unknown>): Promise<unknown> {
    const encrypt = this.crypto.encrypt(JSON.stringify(payload), '');
    const url = this.signedUrl(encrypt);
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ encrypt }),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`Parley answered HTTP ${response.status}: ${text}`);
    if (text === '') return undefined;
    const envelope = JSON.parse(text) as {
      encrypt: string;
      msgsignature: string;
      timestamp: string;
      nonce: string;
    };
    const query = url.searchParams;
    if (envelope.timestamp !== query.get('timestamp') || envelope.nonce !== query.get('nonce')) {
      throw new Error('the reply does not echo the request timestamp and nonce (WeCom would drop it)');
    }
    if (
      !this.crypto.verifySignature(
        envelope.msgsignature,
        envelope.timestamp,
        envelope.nonce,
        envelope.encrypt,
      )
    ) {
      throw new Error('the reply signature does not match (WeCom would drop it)');
    }
    return JSON.parse(this.crypto.decrypt(envelope.encrypt, '').message) as unknown;
  }

  private signedUrl(encrypted: string, extra: Record<string, string> = {}): URL {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = String(randomInt(1e9));
    const url = new URL(this.options.url);
    const params = {
      msg_signature: this.crypto.signature(timestamp, nonce, encrypted),
      timestamp,
      nonce,
      ...extra,
    };
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url;
  }
}

/** A local stand-in for WeCom's response_url that prints what Parley sends to it. */
class ResponseUrlCatcher extends LoopbackServer {
  readonly received: string[] = [];

  /** Returns the response_url to put in the simulated messages. */
  override async listen(port: number): Promise<string> {
    const origin = await super.listen(port);
    return `${origin}/cgi-bin/aibot/response?response_code=simulated-${randomBytes(4).toString('hex')}`;
  }

  protected handle(_request: IncomingMessage, response: ServerResponse, body: string): void {
    this.received.push(body);
    let content = body;
    try {
      content = (JSON.parse(body) as { markdown?: { content?: string } }).markdown?.content ?? body;
    } catch {
      // print the raw body
    }
    process.stdout.write(`\n--- through response_url ---\n${content}\n`);
    response.writeHead(200, { 'content-type': 'application/json' }).end('{"errcode":0,"errmsg":"ok"}');
  }
}

function note(text: string): void {
  process.stderr.write(`[wecom] ${text}\n`);
}

function asStream(reply: unknown): StreamReply {
  const stream = (reply as StreamReply | undefined)?.stream;
  if ((reply as StreamReply | undefined)?.msgtype !== 'stream' || typeof stream?.id !== 'string') {
    throw new Error(`expected a stream reply, got ${JSON.stringify(reply)}`);
  }
  return reply as StreamReply;
}

/** Prints the growth of the (full, not delta) content; reprints it when earlier text changed. */
class GrowingPrinter {
  private shown = '';

  show(content: string): void {
    if (content === this.shown) return;
    if (content.startsWith(this.shown)) {
      process.stdout.write(content.slice(this.shown.length));
    } else {
      process.stdout.write(`${this.shown ? '\n--- (rewritten) ---\n' : ''}${content}`);
    }
    this.shown = content;
  }
}

export async function run(args: string[]): Promise<void> {
  const options = parseOptions(args);
  if (!options) {
    process.stdout.write(HELP);
    return;
  }
  const player = new WeComPlayer(options);
  const catcher = options.catchPort === undefined ? undefined : new ResponseUrlCatcher();
  try {
    if (options.verify) await player.verifyUrl();
    const responseUrl = catcher ? await catcher.listen(options.catchPort!) : undefined;
    const started = Date.now();
    const first = asStream(await player.post(player.message(responseUrl)));
    note(
      `stream ${first.stream.id}: first reply after ${Date.now() - started} ms (finish: ${first.stream.finish})`,
    );
    // The placeholder (the bot's thinking text) is a status, not part of the answer.
    const placeholder = first.stream.finish ? undefined : first.stream.content;
    if (placeholder !== undefined) note(`placeholder: ${placeholder}`);
    const printer = new GrowingPrinter();
    if (placeholder === undefined) printer.show(first.stream.content);
    let current = first;
    while (!current.stream.finish) {
      if (Date.now() - started > options.timeoutMs) {
        throw new Error(`the stream did not finish within ${options.timeoutMs / 1000} s`);
      }
      await sleep(options.intervalMs);
      current = asStream(await player.post(player.refresh(first.stream.id)));
      if (current.stream.id !== first.stream.id) throw new Error('the stream id changed between refreshes');
      if (current.stream.finish || current.stream.content !== placeholder)
        printer.show(current.stream.content);
    }
    process.stdout.write('\n');
    note(`stream finished after ${((Date.now() - started) / 1000).toFixed(1)} s`);
    if (catcher) await waitForResponseUrl(catcher, current.stream.content, started, options.timeoutMs);
  } finally {
    await catcher?.close();
  }
}

/** A stream that ended with a "continued"/"follows" note is completed through response_url: wait for it. */
async function waitForResponseUrl(
  catcher: ResponseUrlCatcher,
  lastContent: string,
  started: number,
  timeoutMs: number,
): Promise<void> {
  const expectsMore =
    /continued in the next message|will follow in a separate message|未完|稍后单独发送/.test(lastContent);
  if (!expectsMore) return;
  note('waiting for the rest through response_url…');
  while (catcher.received.length === 0) {
    if (Date.now() - started > timeoutMs) throw new Error('nothing arrived through response_url');
    await sleep(250);
  }
}
