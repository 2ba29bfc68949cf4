import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { utf8Length } from '../common/text.js';
import {
  startFakeCometChatServer,
  type FakeCometChatServer,
} from '../../test/fakes/fake-cometchat-server.js';
import {
  CometChatApiError,
  CometChatRestClient,
  CometChatSendTextError,
  cometChatRetryAfterMs,
  resolveCometChatApiBaseUrl,
  type CometChatRestClientConfig,
} from './cometchat-rest.client.js';

const APP_ID = '2248348660ad9bd4';
const API_KEY = 'fake-rest-api-key-0123456789abcdef';
const BOT_UID = 'support_bot';

let fake: FakeCometChatServer;
let logs: string[];

const clientWith = (overrides: Partial<CometChatRestClientConfig> = {}): CometChatRestClient =>
  new CometChatRestClient({
    appId: APP_ID,
    region: 'eu',
    apiKey: API_KEY,
    botUid: BOT_UID,
    apiBaseUrl: fake.baseUrl,
    timeoutMs: 2_000,
    retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 2_000 },
    logger: { warn: (message) => logs.push(message) },
    ...overrides,
  });

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  fake = await startFakeCometChatServer({ appId: APP_ID, apiKey: API_KEY, botUid: BOT_UID });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
  logs = [];
});

describe('CometChatRestClient', () => {
  it('sends a one-to-one bot message with the apikey header and returns its id', async () => {
    const id = await clientWith().sendBotMessage('user1', 'user', 'hello Ann');

    expect(id).toBe(fake.messages[0].id);
    expect(fake.requests[0]).toMatchObject({
      method: 'POST',
      path: `/v3/bots/${BOT_UID}/messages`,
      headers: { apikey: API_KEY, 'content-type': 'application/json' },
    });
    expect(fake.messages[0].body).toEqual({
      receiver: 'user1',
      receiverType: 'user',
      category: 'message',
      type: 'text',
      data: { text: 'hello Ann', metadata: {} },
    });
  });

  it('sends to a group', async () => {
    await clientWith().sendBotMessage('support-group', 'group', 'hello all');
    expect(fake.messages[0]).toMatchObject({
      receiver: 'support-group',
      receiverType: 'group',
      text: 'hello all',
    });
  });

  it('waits as Retry-After asks on 429, then succeeds', async () => {
    fake.failNext(1, {
      status: 429,
      retryAfter: '1',
      code: 'ERR_TOO_MANY_REQUESTS',
      message: 'Rate limit exceeded',
    });
    const started = Date.now();
    await expect(clientWith().sendBotMessage('user1', 'user', 'hello')).resolves.toMatch(/^\d+$/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(fake.requests.map((request) => request.status)).toEqual([429, 200]);
    expect(fake.requests[1].at - fake.requests[0].at).toBeGreaterThanOrEqual(900);
  });

  it('retries HTTP 500 and succeeds', async () => {
    fake.failNext(1, { status: 500 });
    await expect(clientWith().sendBotMessage('user1', 'user', 'hello')).resolves.toMatch(/^\d+$/);
    expect(fake.requests.map((request) => request.status)).toEqual([500, 200]);
    expect(fake.messages).toHaveLength(1);
  });

  it('retries a request that timed out', async () => {
    fake.delayNext(1_000);
    await expect(clientWith({ timeoutMs: 150 }).sendBotMessage('user1', 'user', 'hello')).resolves.toMatch(
      /^\d+$/,
    );
    expect(logs.some((line) => line.includes('TIMEOUT'))).toBe(true);
  });

  it('gives up after the configured attempts when the server keeps failing', async () => {
    fake.failNext(10, { status: 502 });
    const error = await rejectionOf(clientWith().sendBotMessage('user1', 'user', 'hello'));
    expect(error).toMatchObject({ status: 502, retryable: true });
    expect(fake.requests).toHaveLength(4);
  });

  it('fails at once with CometChatApiError on a wrong API key', async () => {
    const error = await rejectionOf(
      clientWith({ apiKey: 'wrong-key' }).sendBotMessage('user1', 'user', 'hello'),
    );
    expect(error).toBeInstanceOf(CometChatApiError);
    expect(error).toMatchObject({
      status: 401,
      code: 'AUTH_ERR_APIKEY_NOT_FOUND',
      retryable: false,
      api: `POST /v3/bots/${BOT_UID}/messages`,
    });
    expect(fake.requests).toHaveLength(1);
    expect(String(error)).not.toContain('wrong-key');
  });

  it('parses 4xx error envelopes and does not retry them', async () => {
    const error = await rejectionOf(clientWith({ botUid: 'ghost' }).getBot());
    expect(error).toMatchObject({
      status: 404,
      code: 'ERR_BOT_NOT_FOUND',
      errorMessage: 'The bot ghost does not exist.',
    });
    expect(fake.requests).toHaveLength(1);
  });

  it('splits a long answer at the data limit into numbered parts, sent in order', async () => {
    const answer = Array.from(
      { length: 40 },
      (_, i) => `Paragraph ${i + 1}. ${'All about the refund policy. '.repeat(25).trim()}`,
    ).join('\n\n');
    expect(utf8Length(answer)).toBeGreaterThan(25_000);

    const ids = await clientWith().sendText('user1', 'user', answer);

    const texts = fake.messages.map((message) => message.text);
    expect(texts.length).toBeGreaterThanOrEqual(4);
    expect(ids).toEqual(fake.messages.map((message) => message.id));
    texts.forEach((text, index) => expect(text.startsWith(`(${index + 1}/${texts.length}) `)).toBe(true));
    expect(texts.map((text) => text.replace(/^\(\d+\/\d+\) /, '')).join('\n\n')).toBe(answer);
  });

  it('reports the parts already sent when a later part fails', async () => {
    fake.failNext(1, { status: 400, code: 'ERR_BAD_REQUEST', message: 'Invalid.', after: 1 });
    const answer = `${'a'.repeat(60)}\n\n${'b'.repeat(60)}\n\n${'c'.repeat(60)}`;
    const error = await rejectionOf(clientWith().sendText('support-group', 'group', answer, 80));
    expect(error).toBeInstanceOf(CometChatSendTextError);
    expect(error).toMatchObject({ sentIds: [fake.messages[0].id], failedPart: 2, partCount: 3 });
    expect((error as CometChatSendTextError).cause).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' });
    expect(fake.messages).toHaveLength(1);
  });

  it('returns the bot for a connection test, without its Basic-auth password', async () => {
    const bot = await clientWith().getBot();
    expect(bot).toEqual({
      uid: BOT_UID,
      enabled: true,
      webhookURL: 'https://parley.example/cometchat/callback',
      groupChatSetting: 'mentionedMessages',
      useBasicAuth: true,
    });
    expect(JSON.stringify(bot)).not.toContain('fake-basic-auth-password');
    expect(fake.requests[0]).toMatchObject({
      method: 'GET',
      path: `/v3/bots/${BOT_UID}`,
      headers: { apikey: API_KEY },
    });
  });

  it('refuses to send an empty answer', async () => {
    await expect(clientWith().sendText('user1', 'user', ' ')).rejects.toThrow(RangeError);
    expect(fake.requests).toHaveLength(0);
  });

  it('never puts the API key into logs or errors', async () => {
    fake.failNext(1, { status: 500 });
    fake.failNext(1, { status: 429, retryAfter: '0' });
    fake.failNext(1, { status: 403, code: 'AUTH_ERR_NO_ACCESS', message: 'No access.' });
    const error = await rejectionOf(clientWith().sendBotMessage('user1', 'user', 'hello'));
    expect(error).toMatchObject({ status: 403, code: 'AUTH_ERR_NO_ACCESS' });
    expect(logs).toHaveLength(2);
    const written = [...logs, String(error), JSON.stringify(error), (error as Error).stack ?? ''].join('\n');
    expect(written).not.toContain(API_KEY);
  });
});

describe('cometChatRetryAfterMs', () => {
  const headers = (init: Record<string, string>): Headers => new Headers(init);
  const now = 1_700_000_000_000;

  it('prefers Retry-After, in seconds or as an HTTP date', () => {
    expect(
      cometChatRetryAfterMs(headers({ 'retry-after': '2', 'x-rate-limit-reset': '1700000060' }), now),
    ).toBe(2_000);
    expect(cometChatRetryAfterMs(headers({ 'retry-after': new Date(now + 3_000).toUTCString() }), now)).toBe(
      3_000,
    );
  });

  it('falls back to X-Rate-Limit-Reset as an epoch in seconds or milliseconds', () => {
    expect(cometChatRetryAfterMs(headers({ 'x-rate-limit-reset': '1700000005' }), now)).toBe(5_000);
    expect(cometChatRetryAfterMs(headers({ 'x-rate-limit-reset': String(now + 1_500) }), now)).toBe(1_500);
    expect(cometChatRetryAfterMs(headers({ 'x-rate-limit-reset': '1699999990' }), now)).toBe(0);
  });

  it('returns undefined when the server asked for nothing usable', () => {
    expect(cometChatRetryAfterMs(headers({}), now)).toBeUndefined();
    expect(cometChatRetryAfterMs(headers({ 'x-rate-limit-reset': 'soon' }), now)).toBeUndefined();
  });
});

describe('resolveCometChatApiBaseUrl', () => {
  it('builds the regional host from app id and region', () => {
    expect(resolveCometChatApiBaseUrl(APP_ID, 'EU')).toBe(`https://${APP_ID}.api-eu.cometchat.io`);
    expect(resolveCometChatApiBaseUrl(APP_ID, 'us', 'http://127.0.0.1:9/')).toBe('http://127.0.0.1:9');
  });

  it('rejects values that would change the host', () => {
    expect(() => resolveCometChatApiBaseUrl('evil.com/x', 'eu')).toThrow(RangeError);
    expect(() => resolveCometChatApiBaseUrl(APP_ID, 'eu.evil.com#')).toThrow(RangeError);
  });
});
