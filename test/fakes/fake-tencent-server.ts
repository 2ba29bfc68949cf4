/**
 * A fake Tencent Cloud Chat REST API on loopback (real HTTP), for tests. It checks each request's
 * UserSig like Tencent does (tencent-chat.md, "UserSig v2") with its own implementation — not the
 * `tls-sig-api-v2` package the client uses — records what it accepted, and can be told to fail.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateSync, inflateSync } from 'node:zlib';

export interface FakeTencentServerOptions {
  sdkAppId: number;
  secretKey: string;
  /** The admin account requests must be signed for (default `administrator`). */
  adminIdentifier?: string;
  /** What `get_all_robots` lists (default `['@RBT#001']`). */
  robots?: string[];
}

/** A request the fake accepted (signature valid, no scripted failure). */
export interface FakeTencentMessage {
  service: string;
  command: string;
  body: Record<string, unknown>;
}

/** Every request that reached the fake, with what it answered. */
export interface FakeTencentRequest {
  service: string;
  command: string;
  body: unknown;
  query: Record<string, string>;
  httpStatus: number;
  errorCode: number;
}

export interface FakeTencentFailure {
  /** Answer with this HTTP status (and a non-JSON body unless `errorCode` is given). */
  httpStatus?: number;
  /** Answer with this Tencent ErrorCode (HTTP 200 unless `httpStatus` is given). */
  errorCode?: number;
  errorInfo?: string;
  /** Sent as `Retry-After` (seconds). */
  retryAfterSeconds?: number;
  /** Let this many correctly signed requests through before failing (default 0). */
  after?: number;
}

export interface FakeTencentServer {
  baseUrl: string;
  messages: FakeTencentMessage[];
  requests: FakeTencentRequest[];
  /** The next `count` correctly signed requests get `failure`. */
  failNext(count: number, failure: FakeTencentFailure): void;
  /** The next correctly signed request is answered 70001 (UserSig expired). */
  expireUserSigOnce(): void;
  /** The next `count` requests are answered only after `ms` (then processed normally). */
  delayNext(ms: number, count?: number): void;
  /** Forgets recorded traffic, scripted behaviour and delayed requests not yet answered. */
  reset(): void;
  close(): Promise<void>;
}

/** The decoded UserSig document (tencent-chat.md, step 3). */
export interface TencentUserSigDoc {
  'TLS.ver'?: unknown;
  'TLS.identifier'?: unknown;
  'TLS.sdkappid'?: unknown;
  'TLS.time'?: unknown;
  'TLS.expire'?: unknown;
  'TLS.sig'?: unknown;
  [key: string]: unknown;
}

/** Reverses step 4: url-safe base64 (`*`→`+`, `-`→`/`, `_`→`=`), zlib inflate, JSON. Throws on garbage. */
export function decodeTencentUserSig(userSig: string): TencentUserSigDoc {
  const base64 = userSig.replace(/\*/g, '+').replace(/-/g, '/').replace(/_/g, '=');
  const value: unknown = JSON.parse(inflateSync(Buffer.from(base64, 'base64')).toString('utf8'));
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('not a JSON object');
  return value as TencentUserSigDoc;
}

/** Signs a UserSig the documented way (steps 1-4), e.g. an already expired one for tests. */
export function signTencentUserSig(doc: {
  sdkAppId: number;
  secretKey: string;
  identifier: string;
  time: number;
  expire: number;
}): string {
  const content = `TLS.identifier:${doc.identifier}\nTLS.sdkappid:${doc.sdkAppId}\nTLS.time:${doc.time}\nTLS.expire:${doc.expire}\n`;
  const json = JSON.stringify({
    'TLS.ver': '2.0',
    'TLS.identifier': doc.identifier,
    'TLS.sdkappid': doc.sdkAppId,
    'TLS.time': doc.time,
    'TLS.expire': doc.expire,
    'TLS.sig': createHmac('sha256', doc.secretKey).update(content).digest('base64'),
  });
  return deflateSync(Buffer.from(json, 'utf8'))
    .toString('base64')
    .replace(/\+/g, '*')
    .replace(/\//g, '-')
    .replace(/=/g, '_');
}

type Verdict = { ok: true } | { ok: false; errorCode: number; errorInfo: string };

function verifyUserSig(
  userSig: string | undefined,
  identifier: string | undefined,
  options: Required<FakeTencentServerOptions>,
  nowSeconds: number,
): Verdict {
  if (!userSig || !identifier)
    return { ok: false, errorCode: 70003, errorInfo: 'usersig or identifier missing' };
  let doc: TencentUserSigDoc;
  try {
    doc = decodeTencentUserSig(userSig);
  } catch {
    return { ok: false, errorCode: 70003, errorInfo: 'usersig unparsable' };
  }
  const {
    'TLS.identifier': id,
    'TLS.sdkappid': appId,
    'TLS.time': time,
    'TLS.expire': expire,
    'TLS.sig': sig,
  } = doc;
  if (
    doc['TLS.ver'] !== '2.0' ||
    typeof id !== 'string' ||
    typeof appId !== 'number' ||
    typeof time !== 'number' ||
    typeof expire !== 'number' ||
    typeof sig !== 'string'
  ) {
    return { ok: false, errorCode: 70003, errorInfo: 'usersig fields invalid' };
  }
  const content = `TLS.identifier:${id}\nTLS.sdkappid:${appId}\nTLS.time:${time}\nTLS.expire:${expire}\n`;
  const expected = createHmac('sha256', options.secretKey).update(content).digest();
  const given = Buffer.from(sig, 'base64');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, errorCode: 70003, errorInfo: 'usersig signature mismatch' };
  }
  if (id !== identifier)
    return { ok: false, errorCode: 70013, errorInfo: 'identifier does not match usersig' };
  if (appId !== options.sdkAppId)
    return { ok: false, errorCode: 70014, errorInfo: 'sdkappid does not match usersig' };
  if (time + expire < nowSeconds) return { ok: false, errorCode: 70001, errorInfo: 'usersig expired' };
  if (identifier !== options.adminIdentifier)
    return { ok: false, errorCode: 60010, errorInfo: 'needs app admin' };
  return { ok: true };
}

interface ScriptedFailure extends FakeTencentFailure {
  remaining: number;
  after: number;
}

const textBytesOf = (msgBody: unknown): number =>
  Array.isArray(msgBody)
    ? msgBody.reduce<number>((sum, elem: unknown) => {
        const content = (elem as { MsgContent?: { Text?: unknown } } | null)?.MsgContent;
        return sum + (typeof content?.Text === 'string' ? Buffer.byteLength(content.Text, 'utf8') : 0);
      }, 0)
    : 0;

export async function startFakeTencentServer(options: FakeTencentServerOptions): Promise<FakeTencentServer> {
  const settings: Required<FakeTencentServerOptions> = {
    adminIdentifier: 'administrator',
    robots: ['@RBT#001'],
    ...options,
  };
  const messages: FakeTencentMessage[] = [];
  const requests: FakeTencentRequest[] = [];
  const failures: ScriptedFailure[] = [];
  const delays: { ms: number; remaining: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let expireOnce = false;
  let c2cSeq = 1000;
  const groupSeqs = new Map<string, number>();

  const respond = (
    res: ServerResponse,
    record: Omit<FakeTencentRequest, 'httpStatus' | 'errorCode'>,
    httpStatus: number,
    payload: Record<string, unknown> | string,
    headers: Record<string, string> = {},
  ): void => {
    const errorCode = typeof payload === 'string' ? -1 : Number(payload.ErrorCode ?? 0);
    requests.push({ ...record, httpStatus, errorCode });
    const body = typeof payload === 'string' ? payload : JSON.stringify(payload);
    const contentType = typeof payload === 'string' ? 'text/plain' : 'application/json';
    res.writeHead(httpStatus, { 'content-type': contentType, ...headers }).end(body);
  };
  const fail = (errorCode: number, errorInfo: string): Record<string, unknown> => ({
    ActionStatus: 'FAIL',
    ErrorCode: errorCode,
    ErrorInfo: errorInfo,
  });
  const ok = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
    ActionStatus: 'OK',
    ErrorCode: 0,
    ErrorInfo: '',
    ...extra,
  });

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string): void => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams.entries());
    const match = /^\/v4\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      body = raw;
    }
    const record = { service: match?.[1] ?? '', command: match?.[2] ?? '', body, query };
    if (req.method !== 'POST' || !match) return respond(res, record, 404, 'not found');

    if (query.sdkappid !== String(settings.sdkAppId))
      return respond(res, record, 200, fail(60006, 'bad sdkappid'));
    if (
      query.contenttype !== 'json' ||
      !/^\d+$/.test(query.random ?? '') ||
      Number(query.random) >= 2 ** 32
    ) {
      return respond(res, record, 200, fail(60002, 'bad query'));
    }
    const verdict = verifyUserSig(query.usersig, query.identifier, settings, Math.floor(Date.now() / 1000));
    if (!verdict.ok) return respond(res, record, 200, fail(verdict.errorCode, verdict.errorInfo));

    if (expireOnce) {
      expireOnce = false;
      return respond(res, record, 200, fail(70001, 'usersig expired'));
    }
    const failure = failures[0];
    if (failure && failure.after > 0) failure.after -= 1;
    else if (failure) {
      if (--failure.remaining <= 0) failures.shift();
      const headers: Record<string, string> =
        failure.retryAfterSeconds !== undefined ? { 'retry-after': String(failure.retryAfterSeconds) } : {};
      const payload =
        failure.errorCode !== undefined
          ? fail(failure.errorCode, failure.errorInfo ?? 'scripted failure')
          : 'scripted failure';
      return respond(res, record, failure.httpStatus ?? 200, payload, headers);
    }

    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return respond(res, record, 200, fail(90001, 'json parse error'));
    }
    const data = body as Record<string, unknown>;
    const api = `${record.service}/${record.command}`;
    const accept = (extra: Record<string, unknown> = {}): void => {
      messages.push({ service: record.service, command: record.command, body: data });
      respond(res, record, 200, ok(extra));
    };
    const now = Math.floor(Date.now() / 1000);
    const needsString = (...keys: string[]): boolean =>
      keys.every((key) => typeof data[key] === 'string' && (data[key] as string).length > 0);
    const validMsgBody = Array.isArray(data.MsgBody) && data.MsgBody.length > 0;
    const tooLong = textBytesOf(data.MsgBody) > 12_000;

    switch (api) {
      case 'openim/sendmsg': {
        if (
          !needsString('From_Account', 'To_Account') ||
          !validMsgBody ||
          typeof data.MsgRandom !== 'number'
        ) {
          return respond(res, record, 200, fail(90001, 'invalid sendmsg body'));
        }
        if (tooLong) return respond(res, record, 200, fail(80002, 'message too long'));
        c2cSeq += 1;
        return accept({ MsgTime: now, MsgKey: `${c2cSeq}_${data.MsgRandom}_${now}` });
      }
      case 'group_open_http_svc/send_group_msg': {
        if (!needsString('GroupId', 'From_Account') || !validMsgBody || typeof data.Random !== 'number') {
          return respond(res, record, 200, fail(10004, 'invalid send_group_msg body'));
        }
        if (tooLong) return respond(res, record, 200, fail(80002, 'message too long'));
        const seq = (groupSeqs.get(data.GroupId as string) ?? 0) + 1;
        groupSeqs.set(data.GroupId as string, seq);
        return accept({ MsgTime: now, MsgSeq: seq });
      }
      case 'openim_robot_http_svc/send_stream_msg': {
        if (!needsString('From_Account', 'To_Account') || typeof data.Chunk !== 'string') {
          return respond(res, record, 200, fail(90001, 'invalid send_stream_msg body'));
        }
        c2cSeq += 1;
        return accept({ MsgKey: typeof data.MsgKey === 'string' ? data.MsgKey : `${c2cSeq}_stream_${now}` });
      }
      case 'openim/modify_c2c_msg':
        if (!needsString('From_Account', 'To_Account', 'MsgKey') || !validMsgBody) {
          return respond(res, record, 200, fail(90001, 'invalid modify_c2c_msg body'));
        }
        return accept();
      case 'group_open_http_svc/modify_group_msg':
        if (!needsString('GroupId') || typeof data.MsgSeq !== 'number' || !validMsgBody) {
          return respond(res, record, 200, fail(10004, 'invalid modify_group_msg body'));
        }
        return accept();
      case 'openim_robot_http_svc/get_all_robots':
        return accept({ Robot_Account: [...settings.robots] });
      default:
        return respond(res, record, 404, 'unknown api');
    }
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const delay = delays[0];
      if (!delay) return handle(req, res, raw);
      if (--delay.remaining <= 0) delays.shift();
      const timer = setTimeout(() => {
        timers.delete(timer);
        // Processed even if the client gave up meanwhile, as a real server would (a retry then duplicates).
        handle(req, res, raw);
      }, delay.ms);
      timers.add(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}`,
    messages,
    requests,
    failNext(count, failure) {
      failures.push({ ...failure, remaining: count, after: failure.after ?? 0 });
    },
    expireUserSigOnce() {
      expireOnce = true;
    },
    delayNext(ms, count = 1) {
      delays.push({ ms, remaining: count });
    },
    reset() {
      messages.length = 0;
      requests.length = 0;
      failures.length = 0;
      delays.length = 0;
      expireOnce = false;
      groupSeqs.clear();
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
    },
    close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      return new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      });
    },
  };
}
