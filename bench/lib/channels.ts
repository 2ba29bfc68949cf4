/**
 * Correctly signed / encrypted webhook requests for each channel, built before a measurement starts so the
 * load generator spends its CPU on sending, not on AES and SHA.
 */
import { randomInt } from 'node:crypto';
import { WeComCrypto } from '../../src/wecom-bot/wecom-crypto.js';
import { computeTencentCallbackSign } from '../../src/tencent-chat/tencent-signature.js';

export const CHANNELS = ['wecom', 'tencent', 'cometchat'] as const;
export type Channel = (typeof CHANNELS)[number];

export interface PreparedRequest {
  method: 'POST';
  /** Path and query, e.g. `/api/wecom-bot/callback/bot?msg_signature=...`. */
  path: string;
  headers: Record<string, string>;
  body: string;
  /** What the request carries, for end-to-end matching (the text is unique per request). */
  messageId: string;
  text: string;
}

/** The credentials of the benchmark's bots: Parley and the ceiling are configured with the same ones. */
export interface BenchCredentials {
  wecom: { providerId: string; botId: string; token: string; encodingAesKey: string; responseUrl: string };
  tencent: { providerId: string; sdkAppId: string; robotId: string; callbackToken: string };
  cometchat: { providerId: string; appId: string; botUid: string; username: string; password: string };
}

/**
 * How the bare server stores a callback (request header `x-bench-store`): its one INSERT (the ceiling), or
 * exactly Parley's accept statement (chats, messages and answers in one statement) for each callback alone,
 * with unnamed or with named (prepared) statements, or (`parley-sql-batched`) as Parley runs it: the
 * callbacks that arrive while the accept statements are busy share the next one. These split Parley's
 * cost into the database work it does and everything else.
 */
export const BARE_STORES = ['insert', 'parley-sql', 'parley-sql-prepared', 'parley-sql-batched'] as const;
export type BareStore = (typeof BARE_STORES)[number];
export const BARE_STORE_HEADER = 'x-bench-store';

export interface MessageOptions {
  /** Makes the ids of this batch unique across batches and runs. */
  batch: string;
  /** Senders cycle through this many users (the default bot policy allows 20 messages/user/minute). */
  users: number;
}

const QUESTIONS = [
  'How do I reset my VPN password?',
  'What is the travel expense policy for client visits?',
  'Where can I download the latest payslip?',
  'How many days of annual leave do new employees get?',
  '打印机无法连接怎么办？',
];

const questionFor = (index: number, batch: string) =>
  `${QUESTIONS[index % QUESTIONS.length]} [${batch}-${index}]`;

/** Users are per batch: a batch never inherits another one's rate-limit counts. */
const userFor = (index: number, options: MessageOptions) => `u${options.batch}-${index % options.users}`;

/** A WeCom AI bot message callback: JSON encrypted with AES-256-CBC, signed with SHA-1. */
export class WeComRequests {
  readonly crypto: WeComCrypto;

  constructor(private readonly credentials: BenchCredentials['wecom']) {
    this.crypto = new WeComCrypto(credentials.token, credentials.encodingAesKey);
  }

  message(index: number, options: MessageOptions): PreparedRequest {
    const messageId = `wecom-${options.batch}-${index}`;
    const text = questionFor(index, options.batch);
    const payload = {
      msgid: messageId,
      aibotid: this.credentials.botId,
      chattype: 'single',
      from: { userid: userFor(index, options) },
      response_url: this.credentials.responseUrl,
      msgtype: 'text',
      text: { content: text },
    };
    return { ...this.#signed(JSON.stringify(payload)), messageId, text };
  }

  /** A stream refresh for an existing stream id (the answer id of an earlier message). */
  refresh(index: number, streamId: string, options: MessageOptions): PreparedRequest {
    const messageId = `wecom-refresh-${options.batch}-${index}`;
    const payload = {
      msgid: messageId,
      aibotid: this.credentials.botId,
      chattype: 'single',
      from: { userid: userFor(index, options) },
      msgtype: 'stream',
      stream: { id: streamId },
    };
    return { ...this.#signed(JSON.stringify(payload)), messageId, text: '' };
  }

  #signed(plaintext: string): Pick<PreparedRequest, 'method' | 'path' | 'headers' | 'body'> {
    const encrypt = this.crypto.encrypt(plaintext, '');
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = String(randomInt(1, 2 ** 31));
    const signature = this.crypto.signature(timestamp, nonce, encrypt);
    return {
      method: 'POST',
      path:
        `/api/wecom-bot/callback/${encodeURIComponent(this.credentials.botId)}` +
        `?msg_signature=${signature}&timestamp=${timestamp}&nonce=${nonce}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ encrypt }),
    };
  }
}

/** A Tencent Cloud Chat Bot.OnC2CMessage webhook: `Sign = sha256(token + RequestTime)` in the query. */
export class TencentRequests {
  #msgSeq = randomInt(1, 1_000_000);

  constructor(private readonly credentials: BenchCredentials['tencent']) {}

  message(index: number, options: MessageOptions): PreparedRequest {
    const { sdkAppId, robotId, callbackToken } = this.credentials;
    const requestTime = String(Math.floor(Date.now() / 1000));
    const msgSeq = ++this.#msgSeq;
    const msgRandom = randomInt(1, 2 ** 31);
    const messageId = `${msgSeq}_${msgRandom}_${requestTime}_${options.batch}`;
    const text = questionFor(index, options.batch);
    const body = {
      CallbackCommand: 'Bot.OnC2CMessage',
      From_Account: userFor(index, options),
      To_Account: robotId,
      MsgSeq: msgSeq,
      MsgRandom: msgRandom,
      MsgTime: Number(requestTime),
      MsgKey: messageId,
      MsgId: `${msgSeq}-${requestTime}-${msgRandom}`,
      OnlineOnlyFlag: 0,
      MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: text } }],
      CloudCustomData: '',
      EventTime: Date.now(),
    };
    const sign = computeTencentCallbackSign(callbackToken, requestTime);
    return {
      method: 'POST',
      path:
        `/api/tencent-chat/callback/${sdkAppId}?SdkAppid=${sdkAppId}&CallbackCommand=Bot.OnC2CMessage` +
        `&contenttype=json&ClientIP=127.0.0.1&OptPlatform=Web&Sign=${sign}&RequestTime=${requestTime}`,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      messageId,
      text,
    };
  }
}

/** A CometChat `after_message` bot callback with Basic auth. */
export class CometChatRequests {
  readonly #authorization: string;

  constructor(private readonly credentials: BenchCredentials['cometchat']) {
    const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64');
    this.#authorization = `Basic ${basic}`;
  }

  message(index: number, options: MessageOptions): PreparedRequest {
    const { providerId, appId, botUid } = this.credentials;
    const messageId = `${options.batch}-${index}`;
    const sender = userFor(index, options);
    const text = questionFor(index, options.batch);
    const sentAt = Math.floor(Date.now() / 1000);
    const body = {
      trigger: 'after_message',
      data: {
        id: messageId,
        muid: `_${messageId}`,
        conversationId: `${sender}_user_${botUid}`,
        sender,
        receiverType: 'user',
        receiver: botUid,
        category: 'message',
        type: 'text',
        data: {
          text,
          entities: {
            sender: { entity: { uid: sender, name: sender }, entityType: 'user' },
            receiver: { entity: { uid: botUid }, entityType: 'user' },
          },
        },
        sentAt,
        updatedAt: sentAt,
      },
      appId,
      region: 'eu',
      origin: { platform: 'web' },
      chatAPIVersion: '3.0',
      bot: botUid,
    };
    return {
      method: 'POST',
      path: `/api/cometchat/callback/${providerId}`,
      headers: { 'content-type': 'application/json', authorization: this.#authorization },
      body: JSON.stringify(body),
      messageId,
      text,
    };
  }
}

export interface ChannelRequests {
  wecom: WeComRequests;
  tencent: TencentRequests;
  cometchat: CometChatRequests;
}

export function requestsFor(credentials: BenchCredentials): ChannelRequests {
  return {
    wecom: new WeComRequests(credentials.wecom),
    tencent: new TencentRequests(credentials.tencent),
    cometchat: new CometChatRequests(credentials.cometchat),
  };
}

export function newMessage(
  requests: ChannelRequests,
  channel: Channel,
  index: number,
  options: MessageOptions,
): PreparedRequest {
  return requests[channel].message(index, options);
}
