/**
 * `npm run simulate -- tencent ...` plays Tencent Cloud Chat against a running Parley: it sends a signed
 * robot webhook (Bot.OnC2CMessage, or Bot.OnGroupMessage with --group) and catches the reply Parley sends
 * to a local stand-in for Tencent's REST API, printing it as it arrives.
 */
import { randomInt } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { LoopbackServer, positiveNumber } from './loopback-server.js';
import { inflateSync } from 'node:zlib';
import { computeTencentCallbackSign } from '../../src/tencent-chat/tencent-signature.js';

const HELP = `Plays Tencent Cloud Chat against a running Parley.

usage: npm run simulate -- tencent --url <callback url> --token <callbackToken> --sdk-app-id <SDKAppID>
                                  --robot <@RBT#...> --user <UserID> [--group <GroupId>] "question"

  --url <url>          the bot's callbackUrl, e.g. http://localhost:3000/api/tencent-chat/callback/1400000000
  --token <token>      the bot's callbackToken (the console's callback authentication token)
  --sdk-app-id <id>    the app's SDKAppID
  --robot <id>         the robot UserID the user writes to, e.g. @RBT#001
  --user <id>          the user who writes (default: sim-user)
  --group <id>         send a group message @mentioning the robot instead of a one-to-one message
  --port <n>           port of the local Tencent REST stand-in (default 4780)
  --quiet <s>          seconds without REST calls after which the reply counts as complete (default 3)
  --timeout <s>        give up after this many seconds (default 120)
  -h, --help           this text

Parley sends its answer to Tencent's REST API: point the bot at the local stand-in first, e.g.
  curl -X PATCH <parley>/api/v1/providers/<bot id> -H "Authorization: Bearer $KEY" \\
       -H 'Content-Type: application/json' -d '{"config":{"apiBaseUrl":"http://127.0.0.1:4780"}}'
(and remove it again afterwards with {"config":{"apiBaseUrl":null}}).
`;

interface Options {
  url: string;
  token: string;
  sdkAppId: string;
  robot: string;
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
      token: { type: 'string' },
      'sdk-app-id': { type: 'string' },
      robot: { type: 'string' },
      user: { type: 'string', default: 'sim-user' },
      group: { type: 'string' },
      port: { type: 'string', default: '4780' },
      quiet: { type: 'string', default: '3' },
      timeout: { type: 'string', default: '120' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  const missing = ['url', 'token', 'sdk-app-id', 'robot'].filter(
    (name) => !values[name as keyof typeof values],
  );
  const question = positionals.join(' ').trim();
  if (missing.length > 0)
    throw new Error(`missing ${missing.map((name) => `--${name}`).join(', ')} (see --help)`);
  if (!question) throw new Error('missing the question (see --help)');
  if (!/^\d{5,12}$/.test(values['sdk-app-id'] ?? ''))
    throw new Error('--sdk-app-id must be the numeric SDKAppID');
  if (!values.robot?.startsWith('@RBT#'))
    throw new Error('--robot must be a robot UserID starting with @RBT#');
  return {
    url: values.url!,
    token: values.token!,
    sdkAppId: values['sdk-app-id']!,
    robot: values.robot,
    user: values.user!,
    group: values.group,
    port: positiveNumber(values.port!, '--port', true),
    quietMs: positiveNumber(values.quiet!, '--quiet') * 1000,
    timeoutMs: positiveNumber(values.timeout!, '--timeout') * 1000,
    question,
  };
}

/** One message the bot sent, as the chat would show it now. */
interface CaughtMessage {
  id: string;
  text: string;
  finished: boolean;
}

/** A stand-in for Tencent's REST API that answers like Tencent and keeps what the bot sent. */
class RestCatcher extends LoopbackServer {
  readonly messages: CaughtMessage[] = [];
  lastCallAt = 0;
  private seq = 0;

  constructor(private readonly sdkAppId: string) {
    super();
  }

  protected handle(request: IncomingMessage, response: ServerResponse, raw: string): void {
    this.lastCallAt = Date.now();
    const url = new URL(request.url ?? '/', 'http://catcher');
    const api = url.pathname.replace(/^\/v4\//, '');
    const reply = (payload: Record<string, unknown>): void => {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(payload));
    };
    const ok = (extra: Record<string, unknown> = {}): void =>
      reply({ ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '', ...extra });
    const fail = (code: number, info: string) => {
      log(`  ✗ ${api}: answered ErrorCode ${code} (${info})`);
      reply({ ActionStatus: 'FAIL', ErrorCode: code, ErrorInfo: info });
    };

    if (url.searchParams.get('sdkappid') !== this.sdkAppId)
      return fail(60006, 'sdkappid does not match --sdk-app-id');
    const userSig = describeUserSig(url.searchParams.get('usersig'));
    if (!userSig.ok) return fail(70003, userSig.problem);
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(raw) as Record<string, unknown>;
    } catch {
      return fail(90001, 'body is not JSON');
    }
    const now = Math.floor(Date.now() / 1000);
    const text =
      (body.MsgBody as { MsgContent?: { Text?: string } }[] | undefined)?.[0]?.MsgContent?.Text ?? '';
    switch (api) {
      case 'openim/sendmsg': {
        const msgKey = `${++this.seq}_${String(body.MsgRandom)}_${now}`;
        this.messages.push({ id: msgKey, text, finished: true });
        log(`\n← sendmsg from ${String(body.From_Account)} to ${String(body.To_Account)}:\n${text}`);
        return ok({ MsgTime: now, MsgKey: msgKey });
      }
      case 'group_open_http_svc/send_group_msg': {
        const msgSeq = ++this.seq;
        this.messages.push({ id: String(msgSeq), text, finished: true });
        log(`\n← send_group_msg from ${String(body.From_Account)} to ${String(body.GroupId)}:\n${text}`);
        return ok({ MsgTime: now, MsgSeq: msgSeq });
      }
      case 'openim_robot_http_svc/send_stream_msg': {
        const chunk = typeof body.Chunk === 'string' ? body.Chunk : '';
        let message = this.messages.find((candidate) => candidate.id === body.MsgKey);
        if (!message) {
          message = { id: `${++this.seq}_stream_${now}`, text: '', finished: false };
          this.messages.push(message);
          process.stdout.write(
            `\n← send_stream_msg from ${String(body.From_Account)} to ${String(body.To_Account)}:\n`,
          );
        }
        message.text += chunk;
        process.stdout.write(chunk);
        if (body.Finish === 1) {
          message.finished = true;
          process.stdout.write('  [Finish]\n');
        }
        return ok({ MsgKey: message.id });
      }
      case 'openim/modify_c2c_msg':
      case 'group_open_http_svc/modify_group_msg': {
        const id = String(body.MsgKey ?? body.MsgSeq);
        const message = this.messages.find((candidate) => candidate.id === id);
        if (!message) return fail(20004, `no message ${id} to modify`);
        message.text = text;
        log(`\n← ${api.split('/')[1]} of message ${id}:\n${text}`);
        return ok();
      }
      case 'openim_robot_http_svc/get_all_robots':
        return ok({ Robot_Account: [] });
      default:
        return fail(90000, `the simulator does not implement ${api}`);
    }
  }
}

/** Reads the admin UserSig's public part (its HMAC needs the app's secret key, which we do not have). */
function describeUserSig(userSig: string | null): { ok: true } | { ok: false; problem: string } {
  if (!userSig) return { ok: false, problem: 'usersig missing' };
  try {
    const base64 = userSig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
    const doc = JSON.parse(inflateSync(Buffer.from(base64, 'base64')).toString('utf8')) as Record<
      string,
      unknown
    >;
    return typeof doc['TLS.sig'] === 'string'
      ? { ok: true }
      : { ok: false, problem: 'usersig has no TLS.sig' };
  } catch {
    return { ok: false, problem: 'usersig is not a UserSig v2' };
  }
}

function webhookBody(options: Options): Record<string, unknown> {
  const msgSeq = randomInt(1, 2 ** 31);
  const msgRandom = randomInt(0, 2 ** 32);
  const msgTime = Math.floor(Date.now() / 1000);
  const msgBody = (text: string) => [{ MsgType: 'TIMTextElem', MsgContent: { Text: text } }];
  if (options.group) {
    return {
      CallbackCommand: 'Bot.OnGroupMessage',
      GroupId: options.group,
      Type: 'Public',
      From_Account: options.user,
      Operator_Account: options.user,
      Random: msgRandom,
      MsgSeq: msgSeq,
      MsgTime: msgTime,
      OnlineOnlyFlag: 0,
      MsgBody: msgBody(`@${options.robot} ${options.question}`),
      AtRobots_Account: [options.robot],
      CloudCustomData: '',
      EventTime: Date.now(),
    };
  }
  return {
    CallbackCommand: 'Bot.OnC2CMessage',
    From_Account: options.user,
    To_Account: options.robot,
    MsgSeq: msgSeq,
    MsgRandom: msgRandom,
    MsgTime: msgTime,
    MsgKey: `${msgSeq}_${msgRandom}_${msgTime}`,
    OnlineOnlyFlag: 0,
    MsgBody: msgBody(options.question),
    CloudCustomData: '',
    EventTime: Date.now(),
  };
}

function signedUrl(options: Options, command: string): string {
  const requestTime = String(Math.floor(Date.now() / 1000));
  const url = new URL(options.url);
  url.searchParams.set('SdkAppid', options.sdkAppId);
  url.searchParams.set('CallbackCommand', command);
  url.searchParams.set('contenttype', 'json');
  url.searchParams.set('ClientIP', '127.0.0.1');
  url.searchParams.set('OptPlatform', 'RESTAPI');
  url.searchParams.set('RequestTime', requestTime);
  url.searchParams.set('Sign', computeTencentCallbackSign(options.token, requestTime));
  return url.toString();
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
  const catcher = new RestCatcher(options.sdkAppId);
  let restUrl: string;
  try {
    restUrl = await catcher.listen(options.port);
  } catch (error) {
    throw new Error(
      `cannot listen on 127.0.0.1:${options.port} (${(error as Error).message}); choose another --port`,
    );
  }
  try {
    log(`Tencent REST stand-in listening on ${restUrl}`);
    log(`(the bot's apiBaseUrl must be ${restUrl} — see --help)`);
    const body = webhookBody(options);
    const command = String(body.CallbackCommand);
    log(
      `→ ${command} from ${options.user}${options.group ? ` in ${options.group}` : ''} to ${options.robot}: ${options.question}`,
    );
    const response = await fetch(signedUrl(options, command), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const ack = await response.text();
    log(`← webhook answered HTTP ${response.status} ${ack}`);
    if (!response.ok) throw new Error('Parley refused the webhook (see its answer above)');

    const deadline = Date.now() + options.timeoutMs;
    for (;;) {
      const settled =
        catcher.messages.length > 0 &&
        catcher.messages.every((message) => message.finished || options.group) &&
        Date.now() - catcher.lastCallAt >= options.quietMs;
      if (settled) break;
      if (Date.now() > deadline) {
        throw new Error(
          catcher.messages.length === 0
            ? `no reply reached ${restUrl} within ${options.timeoutMs / 1000} s: is the bot's apiBaseUrl ${restUrl}? (see --help)`
            : 'the reply did not finish in time',
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    log(`\n=== Reply (${catcher.messages.length} message${catcher.messages.length === 1 ? '' : 's'}) ===`);
    log(catcher.messages.map((message) => message.text).join('\n'));
  } finally {
    await catcher.close();
  }
}
