import { decrypt, encrypt, getSignature } from '@wecom/crypto';
import { randomBytes } from 'node:crypto';
import type { TestApp } from './test-app.js';
import { waitFor } from './wait.js';

// ---------------------------------------------------------------- a WeCom client using WeCom's own crypto

export interface StreamReplyJson {
  msgtype: 'stream';
  stream: { id: string; finish: boolean; content: string; feedback?: { id: string } };
}
export interface TextReplyJson {
  msgtype: 'text';
  text: { content: string };
}
export type ReplyJson = StreamReplyJson | TextReplyJson;

export interface CallbackResult {
  status: number;
  /** The decrypted reply; null for an empty body. */
  reply: ReplyJson | null;
  body: unknown;
}

export interface SendOptions {
  timestamp?: string;
  nonce?: string;
  signature?: string;
  botId?: string;
  contentType?: string;
}

export const newAesKey = () => randomBytes(32).toString('base64').slice(0, 43);
export const nowSeconds = () => String(Math.floor(Date.now() / 1000));
export const nonce = () => String(Math.floor(Math.random() * 1e9));
let msgSequence = 0;
export const newMsgId = () => `msg-${Date.now()}-${++msgSequence}`;

/** Plays WeCom: encrypts and signs with @wecom/crypto, and checks and decrypts the replies with it. */
export class WeComClient {
  constructor(
    private readonly t: () => TestApp,
    readonly botId: string,
    readonly token: string,
    readonly aesKey: string,
  ) {}

  path(botId = this.botId): string {
    return `/api/wecom-bot/callback/${encodeURIComponent(botId)}`;
  }

  verifyUrl(plaintext: string, options: SendOptions = {}) {
    const echostr = encrypt(this.aesKey, plaintext, '');
    const timestamp = options.timestamp ?? nowSeconds();
    const n = options.nonce ?? nonce();
    const signature = options.signature ?? getSignature(this.token, timestamp, n, echostr);
    return this.t()
      .anonymous()
      .get(this.path(options.botId))
      .query({ msg_signature: signature, timestamp, nonce: n, echostr });
  }

  async send(payload: object | string, options: SendOptions = {}): Promise<CallbackResult> {
    const plaintext = typeof payload === 'string' ? payload : JSON.stringify(payload);
    return this.sendEncrypted(encrypt(this.aesKey, plaintext, ''), options);
  }

  async sendEncrypted(ciphertext: string, options: SendOptions = {}): Promise<CallbackResult> {
    const timestamp = options.timestamp ?? nowSeconds();
    const n = options.nonce ?? nonce();
    const signature = options.signature ?? getSignature(this.token, timestamp, n, ciphertext);
    const response = await this.t()
      .anonymous()
      .post(`${this.path(options.botId)}?msg_signature=${signature}&timestamp=${timestamp}&nonce=${n}`)
      .set('Content-Type', options.contentType ?? 'application/json')
      .send(JSON.stringify({ encrypt: ciphertext }));
    return { status: response.status, reply: this.open(response, timestamp, n), body: response.body };
  }

  /** Checks the envelope like WeCom does: the request's timestamp and nonce, a valid signature, receiveid ''. */
  private open(response: { status: number; text: string }, timestamp: string, n: string): ReplyJson | null {
    if (response.status !== 200 || response.text === '') return null;
    const envelope = JSON.parse(response.text) as {
      encrypt: string;
      msgsignature: string;
      timestamp: string;
      nonce: string;
    };
    expect(envelope.timestamp).toBe(timestamp);
    expect(envelope.nonce).toBe(n);
    expect(envelope.msgsignature).toBe(getSignature(this.token, timestamp, n, envelope.encrypt));
    const { message, id } = decrypt(this.aesKey, envelope.encrypt);
    expect(id).toBe('');
    return JSON.parse(message) as ReplyJson;
  }

  text(content: string, extra: Record<string, unknown> = {}) {
    return {
      msgid: newMsgId(),
      aibotid: this.botId,
      chattype: 'single',
      from: { userid: 'zhangsan' },
      response_url: 'https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=unused',
      msgtype: 'text',
      text: { content },
      ...extra,
    };
  }

  refresh(streamId: string) {
    return {
      msgid: newMsgId(),
      aibotid: this.botId,
      chattype: 'single',
      from: { userid: 'zhangsan' },
      msgtype: 'stream',
      stream: { id: streamId },
    };
  }

  event(eventtype: string, detail: Record<string, unknown> = {}) {
    return {
      msgid: newMsgId(),
      create_time: Math.floor(Date.now() / 1000),
      aibotid: this.botId,
      from: { userid: 'zhangsan' },
      msgtype: 'event',
      event: { eventtype, [eventtype]: detail },
    };
  }

  /** Sends a message and returns its first reply, which must be a stream. */
  async ask(payload: object): Promise<StreamReplyJson> {
    const result = await this.send(payload);
    expect(result.status).toBe(200);
    expect(result.reply?.msgtype).toBe('stream');
    return result.reply as StreamReplyJson;
  }

  /** Refreshes like WeCom until the stream finishes; returns every reply seen. */
  async refreshUntilFinished(streamId: string, timeoutMs = 20_000): Promise<StreamReplyJson[]> {
    const seen: StreamReplyJson[] = [];
    await waitFor(
      `stream ${streamId} to finish`,
      async () => {
        const { status, reply } = await this.send(this.refresh(streamId));
        expect(status).toBe(200);
        seen.push(reply as StreamReplyJson);
        return (reply as StreamReplyJson).stream.finish;
      },
      timeoutMs,
    );
    return seen;
  }
}
