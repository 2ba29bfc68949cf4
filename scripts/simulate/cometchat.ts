/**
 * `npm run simulate -- cometchat ...` plays CometChat against a running Parley: it sends a bot callback
 * (`after_message`, Basic auth) and catches the reply Parley sends to a local stand-in for CometChat's
 * REST API (Send Bot Message), printing it as it arrives.
 */
import { randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { LoopbackServer, positiveNumber } from './loopback-server.js';

const HELP = `Plays CometChat against a running Parley.

usage: npm run simulate -- cometchat --url <callback url> --username <u> --password <p> --bot <botUid>
                                     [--app-id <appId>] [--user <uid>] [--group <guid>] "question"

  --url <url>          the bot's callbackUrl, e.g. http://localhost:3000/api/cometchat/callback/<provider id>
  --username <u>       the bot's basicAuthUsername
  --password <p>       the bot's basicAuthPassword
  --bot <uid>          the bot's botUid
  --app-id <id>        the appId the callback names (must be the bot's appId; default: left out)
  --user <uid>         the user who writes (default: sim-user)
  --group <guid>       send a group message that mentions the bot instead of a one-to-one message
  --port <n>           port of the local CometChat REST stand-in (default 4781)
  --quiet <s>          seconds without REST calls after which the reply counts as complete (default 3)
  --timeout <s>        give up after this many seconds (default 120)
  -h, --help           this text

Parley sends its answer with CometChat's REST API: point the bot at the local stand-in first, e.g.
  curl -X PATCH <parley>/api/v1/providers/<bot id> -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/json' -d '{"config":{"apiBaseUrl":"http://127.0.0.1:4781"}}'
(and remove it again afterwards with {"config":{"apiBaseUrl":null}}).
`;

interface Options {
  url: string;
  username: string;
  password: string;
  bot: string;
  appId?: string;
  user: string;
  group?: string;
  port: number;
  quietMs: number;
  timeoutMs: number;
  question: string;
}

function parseOptions(args: string[]): Options | undefined {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      url: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      bot: { type: 'string' },
      'app-id': { type: 'string' },
      user: { type: 'string', default: 'sim-user' },
      group: { type: 'string' },
      port: { type: 'string', default: '4781' },
      quiet: { type: 'string', default: '3' },
      timeout: { type: 'string', default: '120' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const missing = ['url', 'username', 'password', 'bot'].filter(
    (name) => !values[name as keyof typeof values],
  );
  const question = positionals.join(' ').trim();
  if (missing.length > 0)
    throw new Error(`missing ${missing.map((name) => `--${name}`).join(', ')} (see --help)`);
  if (!question) throw new Error('missing the question (see --help)');
  return {
    url: values.url!,
    username: values.username!,
    password: values.password!,
    bot: values.bot!.toLowerCase(),
    appId: values['app-id'],
    user: values.user!,
    group: values.group,
    port: positiveNumber(values.port!, '--port', true),
    quietMs: positiveNumber(values.quiet!, '--quiet') * 1000,
    timeoutMs: positiveNumber(values.timeout!, '--timeout') * 1000,
    question,
  };
}

/** A stand-in for CometChat's REST API: answers Send Bot Message like CometChat and keeps what the bot sent. */
class RestCatcher extends LoopbackServer {
  readonly texts: string[] = [];
  lastCallAt = 0;
  private nextId = 5000;

  constructor(private readonly botUid: string) {
    super();
  }

  protected handle(request: IncomingMessage, response: ServerResponse, raw: string): void {
    this.lastCallAt = Date.now();
    const path = new URL(request.url ?? '/', 'http://catcher').pathname;
    const send = (status: number, payload: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    const error = (status: number, code: string, message: string) => {
      process.stdout.write(`  ✗ ${request.method} ${path}: answered ${status} ${code} (${message})\n`);
      send(status, { error: { code, message } });
    };
    if (typeof request.headers.apikey !== 'string' || request.headers.apikey.length === 0) {
      return error(401, 'AUTH_ERR_EMPTY_APIKEY', 'the apikey header is missing');
    }
    const route = /^\/v3\/bots\/([^/]+)\/messages$/.exec(path);
    if (request.method !== 'POST' || !route)
      return error(404, 'ERR_ROUTE_NOT_FOUND', 'the simulator only implements Send Bot Message');
    const uid = decodeURIComponent(route[1]);
    if (uid !== this.botUid)
      return error(404, 'ERR_BOT_NOT_FOUND', `the bot ${uid} is not --bot ${this.botUid}`);
    let body: { receiver?: unknown; receiverType?: unknown; data?: { text?: unknown } };
    try {
      body = JSON.parse(raw) as typeof body;
    } catch {
      return error(400, 'ERR_BAD_REQUEST', 'the body is not JSON');
    }
    const text = typeof body.data?.text === 'string' ? body.data.text : '';
    this.texts.push(text);
    process.stdout.write(
      `\n← bot message from ${uid} to ${String(body.receiverType)} ${String(body.receiver)}:\n${text}\n`,
    );
    const id = String((this.nextId += 1));
    const now = Math.floor(Date.now() / 1000);
    send(200, {
      data: {
        id,
        sender: uid,
        receiver: body.receiver,
        receiverType: body.receiverType,
        category: 'message',
        type: 'text',
        data: { text },
        sentAt: now,
      },
    });
  }
}

function callbackBody(options: Options): Record<string, unknown> {
  const id = String(randomInt(1, 2 ** 31));
  const isGroup = options.group !== undefined;
  const receiver = options.group ?? options.bot;
  const now = Math.floor(Date.now() / 1000);
  return {
    trigger: 'after_message',
    data: {
      id,
      muid: `_sim${id}`,
      conversationId: isGroup ? `group_${receiver}` : `${options.user}_user_${options.bot}`,
      sender: options.user,
      receiverType: isGroup ? 'group' : 'user',
      receiver,
      category: 'message',
      type: 'text',
      data: {
        text: isGroup ? `<@uid:${options.bot}> ${options.question}` : options.question,
        entities: {
          sender: { entity: { uid: options.user, name: options.user }, entityType: 'user' },
          receiver: { entity: { uid: receiver }, entityType: isGroup ? 'group' : 'user' },
        },
      },
      ...(isGroup ? { mentionedUsers: [{ uid: options.bot, name: options.bot }] } : {}),
      sentAt: now,
      updatedAt: now,
    },
    ...(options.appId ? { appId: options.appId } : {}),
    region: 'eu',
    origin: { platform: 'simulator' },
    chatAPIVersion: '3.0',
    bot: options.bot,
  };
}

function log(line: string): void {
  process.stdout.write(`${line}\n`);
}

export async function run(args: string[]): Promise<void> {
  const options = parseOptions(args);
  if (!options) {
    process.stdout.write(HELP);
    return;
  }
  const catcher = new RestCatcher(options.bot);
  let restUrl: string;
  try {
    restUrl = await catcher.listen(options.port);
  } catch (error) {
    throw new Error(
      `cannot listen on 127.0.0.1:${options.port} (${(error as Error).message}); choose another --port`,
    );
  }
  try {
    log(`CometChat REST stand-in listening on ${restUrl}`);
    log(`(the bot's apiBaseUrl must be ${restUrl} — see --help)`);
    log(
      `→ after_message from ${options.user}${options.group ? ` in ${options.group}` : ''} to ${options.bot}: ${options.question}`,
    );
    const response = await fetch(options.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Basic ${Buffer.from(`${options.username}:${options.password}`).toString('base64')}`,
      },
      body: JSON.stringify(callbackBody(options)),
      signal: AbortSignal.timeout(10_000),
    });
    log(`← callback answered HTTP ${response.status} ${await response.text()}`);
    if (!response.ok) throw new Error('Parley refused the callback (see its answer above)');

    const deadline = Date.now() + options.timeoutMs;
    while (catcher.texts.length === 0 || Date.now() - catcher.lastCallAt < options.quietMs) {
      if (Date.now() > deadline) {
        throw new Error(
          catcher.texts.length === 0
            ? `no reply reached ${restUrl} within ${options.timeoutMs / 1000} s: is the bot's apiBaseUrl ${restUrl}? (see --help)`
            : 'the reply did not finish in time',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    log(`\n=== Reply (${catcher.texts.length} message${catcher.texts.length === 1 ? '' : 's'}) ===`);
    log(catcher.texts.join('\n'));
  } finally {
    await catcher.close();
  }
}
