import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { utf8Length } from '../common/text.js';
import {
  signTencentUserSig,
  startFakeTencentServer,
  type FakeTencentServer,
} from '../../test/fakes/fake-tencent-server.js';
import {
  TENCENT_REGION_HOSTS,
  TencentApiError,
  TencentRestClient,
  TencentSendTextError,
  resolveTencentApiBaseUrl,
  type TencentRestClientConfig,
} from './tencent-rest.client.js';
import { TencentUserSigProvider, type TencentUserSigSource } from './tencent-user-sig.js';

const SDK_APP_ID = 1400000000;
const SECRET_KEY = 'fake-secret-5bd2850fff3ecb11d7c805251c51ee46';
const ADMIN = 'administrator';
const ROBOT = '@RBT#001';

let fake: FakeTencentServer;
let logs: string[];

const clientWith = (overrides: Partial<TencentRestClientConfig> = {}): TencentRestClient =>
  new TencentRestClient({
    sdkAppId: SDK_APP_ID,
    secretKey: SECRET_KEY,
    adminIdentifier: ADMIN,
    apiBaseUrl: fake.baseUrl,
    timeoutMs: 2_000,
    retry: { attempts: 4, baseDelayMs: 5, maxDelayMs: 50 },
    logger: { warn: (message) => logs.push(message) },
    ...overrides,
  });

/** A UserSig source that starts with an expired sig and counts renewals. */
function expiredFirst(
  options: { staysExpired?: boolean } = {},
): TencentUserSigSource & { invalidations: number } {
  const fresh = new TencentUserSigProvider({
    sdkAppId: SDK_APP_ID,
    secretKey: SECRET_KEY,
    identifier: ADMIN,
  });
  const now = Math.floor(Date.now() / 1000);
  const expired = signTencentUserSig({
    sdkAppId: SDK_APP_ID,
    secretKey: SECRET_KEY,
    identifier: ADMIN,
    time: now - 3_600,
    expire: 60,
  });
  let invalidated = false;
  return {
    invalidations: 0,
    get() {
      return invalidated && !options.staysExpired ? fresh.get() : expired;
    },
    invalidate() {
      invalidated = true;
      this.invalidations += 1;
    },
  };
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

const sentTexts = (): string[] =>
  fake.messages.map((message) => {
    const [elem] = message.body.MsgBody as { MsgContent: { Text: string } }[];
    return elem.MsgContent.Text;
  });

beforeAll(async () => {
  fake = await startFakeTencentServer({
    sdkAppId: SDK_APP_ID,
    secretKey: SECRET_KEY,
    robots: [ROBOT, '@RBT#002'],
  });
});

afterAll(async () => {
  await fake.close();
});

beforeEach(() => {
  fake.reset();
  logs = [];
});

describe('TencentRestClient', () => {
  it('sends a C2C message from the robot, signed as the admin, and returns its MsgKey', async () => {
    const result = await clientWith().sendC2C(ROBOT, 'jared', 'hello');

    expect(result.msgKey).toMatch(/^\d+_\d+_\d+$/);
    expect(fake.messages).toEqual([
      {
        service: 'openim',
        command: 'sendmsg',
        body: {
          SyncOtherMachine: 2,
          From_Account: ROBOT,
          To_Account: 'jared',
          MsgRandom: expect.any(Number),
          MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: 'hello' } }],
        },
      },
    ]);
    expect(fake.requests[0].query).toMatchObject({
      sdkappid: String(SDK_APP_ID),
      identifier: ADMIN,
      contenttype: 'json',
      random: expect.stringMatching(/^\d+$/),
    });
  });

  it('sends a group message from the robot and returns its MsgSeq', async () => {
    const client = clientWith();
    await expect(client.sendGroup(ROBOT, '@TGS#1', 'hi all')).resolves.toMatchObject({ msgSeq: 1 });
    await expect(client.sendGroup(ROBOT, '@TGS#1', 'again')).resolves.toMatchObject({ msgSeq: 2 });
    expect(fake.messages[0]).toMatchObject({
      service: 'group_open_http_svc',
      command: 'send_group_msg',
      body: { GroupId: '@TGS#1', From_Account: ROBOT, Random: expect.any(Number) },
    });
  });

  it('splits a long answer into numbered parts under the size limit, sent in order', async () => {
    const paragraphs = Array.from({ length: 30 }, (_, i) => `第${i + 1}段：${'知识库回答内容。'.repeat(45)}`);
    const answer = paragraphs.join('\n\n');
    expect(utf8Length(answer)).toBeGreaterThan(30_000);

    const ids = await clientWith().sendText({ kind: 'c2c', robot: ROBOT, toAccount: 'jared' }, answer);

    const texts = sentTexts();
    expect(texts.length).toBeGreaterThanOrEqual(3);
    expect(ids).toHaveLength(texts.length);
    expect(new Set(ids).size).toBe(ids.length);
    texts.forEach((text, index) => {
      expect(text.startsWith(`(${index + 1}/${texts.length}) `)).toBe(true);
      expect(utf8Length(text)).toBeLessThanOrEqual(12_000);
    });
    const rejoined = texts.map((text) => text.replace(/^\(\d+\/\d+\) /, '')).join('\n\n');
    expect(rejoined).toBe(answer);
  });

  it('sends a short answer to a group as one unnumbered message and returns its MsgSeq', async () => {
    const ids = await clientWith().sendText(
      { kind: 'group', robot: ROBOT, groupId: '@TGS#2' },
      'short answer',
    );
    expect(ids).toEqual(['1']);
    expect(sentTexts()).toEqual(['short answer']);
  });

  it('retries after 60018 (rate limited) and succeeds', async () => {
    fake.failNext(2, { errorCode: 60018, errorInfo: 'request rate limited' });
    await expect(clientWith().sendC2C(ROBOT, 'jared', 'hello')).resolves.toHaveProperty('msgKey');
    expect(fake.requests.map((request) => request.errorCode)).toEqual([60018, 60018, 0]);
    expect(fake.messages).toHaveLength(1);
  });

  it('renews the UserSig once on 70001 and retries', async () => {
    const userSig = expiredFirst();
    await expect(clientWith({ userSig }).sendC2C(ROBOT, 'jared', 'hello')).resolves.toHaveProperty('msgKey');
    expect(userSig.invalidations).toBe(1);
    expect(fake.requests.map((request) => request.errorCode)).toEqual([70001, 0]);
  });

  it('gives up on a second 70001 instead of looping', async () => {
    const userSig = expiredFirst({ staysExpired: true });
    const error = await rejectionOf(clientWith({ userSig }).sendC2C(ROBOT, 'jared', 'hello'));
    expect(error).toBeInstanceOf(TencentApiError);
    expect(error).toMatchObject({ errorCode: 70001, retryable: false });
    expect(userSig.invalidations).toBe(1);
    expect(fake.requests).toHaveLength(2);
  });

  it('renews on 70001 even after a rate-limit retry', async () => {
    fake.failNext(1, { errorCode: 60018 });
    fake.expireUserSigOnce();
    await expect(clientWith().sendGroup(ROBOT, '@TGS#1', 'hello')).resolves.toMatchObject({ msgSeq: 1 });
    expect(fake.requests.map((request) => request.errorCode)).toEqual([70001, 60018, 0]);
  });

  it('does not retry a permanent failure (80001 sensitive content), even on HTTP 200', async () => {
    fake.failNext(1, { errorCode: 80001, errorInfo: 'dirty word' });
    const error = await rejectionOf(clientWith().sendC2C(ROBOT, 'jared', 'bad words'));
    expect(error).toBeInstanceOf(TencentApiError);
    expect(error).toMatchObject({
      errorCode: 80001,
      errorInfo: 'dirty word',
      status: 200,
      api: 'openim/sendmsg',
    });
    expect(fake.requests).toHaveLength(1);
  });

  it('retries HTTP 500 and succeeds', async () => {
    fake.failNext(1, { httpStatus: 500 });
    await expect(clientWith().sendC2C(ROBOT, 'jared', 'hello')).resolves.toHaveProperty('msgKey');
    expect(fake.requests.map((request) => request.httpStatus)).toEqual([500, 200]);
  });

  it('gives up after the configured attempts when the server keeps failing', async () => {
    fake.failNext(10, { httpStatus: 503 });
    const error = await rejectionOf(clientWith().sendC2C(ROBOT, 'jared', 'hello'));
    expect(error).toMatchObject({ status: 503, errorCode: undefined, retryable: true });
    expect(fake.requests).toHaveLength(4);
  });

  it('retries a request that timed out', async () => {
    fake.delayNext(1_000);
    const client = clientWith({ timeoutMs: 150 });
    await expect(client.sendC2C(ROBOT, 'jared', 'hello')).resolves.toHaveProperty('msgKey');
    expect(logs.some((line) => line.includes('timed out after 150 ms'))).toBe(true);
  });

  it('rejects a usersig signed with the wrong key (70003) without retrying', async () => {
    const error = await rejectionOf(clientWith({ secretKey: 'not-the-key' }).getAllRobots());
    expect(error).toMatchObject({ errorCode: 70003, api: 'openim_robot_http_svc/get_all_robots' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.messages).toHaveLength(0);
  });

  it('lists the robots as a connection test', async () => {
    await expect(clientWith().getAllRobots()).resolves.toEqual([ROBOT, '@RBT#002']);
  });

  it('streams a C2C reply: the first chunk opens the stream, the last one finishes it', async () => {
    const client = clientWith();
    const { msgKey } = await client.sendStreamChunk(ROBOT, 'jared', 'hello, ');
    expect(msgKey).toBeDefined();
    await expect(client.sendStreamChunk(ROBOT, 'jared', 'world', msgKey, true)).resolves.toEqual({ msgKey });
    expect(fake.messages.map((message) => message.body)).toEqual([
      { From_Account: ROBOT, To_Account: 'jared', Chunk: 'hello, ' },
      { From_Account: ROBOT, To_Account: 'jared', Chunk: 'world', MsgKey: msgKey, Finish: 1 },
    ]);
  });

  it('edits sent C2C and group messages', async () => {
    const client = clientWith();
    await client.modifyC2C(ROBOT, 'jared', '1_2_3', 'edited');
    await client.modifyGroup('@TGS#1', 7, 'edited too');
    expect(fake.messages.map(({ service, command, body }) => [`${service}/${command}`, body])).toEqual([
      [
        'openim/modify_c2c_msg',
        {
          From_Account: ROBOT,
          To_Account: 'jared',
          MsgKey: '1_2_3',
          MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: 'edited' } }],
        },
      ],
      [
        'group_open_http_svc/modify_group_msg',
        {
          GroupId: '@TGS#1',
          MsgSeq: 7,
          MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: 'edited too' } }],
        },
      ],
    ]);
  });

  it('reports the parts already sent when a later part fails', async () => {
    fake.failNext(1, { errorCode: 80001, after: 1 });
    const answer = `${'a'.repeat(60)}\n\n${'b'.repeat(60)}\n\n${'c'.repeat(60)}`;
    const error = await rejectionOf(
      clientWith().sendText({ kind: 'group', robot: ROBOT, groupId: '@TGS#3' }, answer, 80),
    );
    expect(error).toBeInstanceOf(TencentSendTextError);
    expect(error).toMatchObject({ sentIds: ['1'], failedPart: 2, partCount: 3 });
    expect((error as TencentSendTextError).cause).toMatchObject({ errorCode: 80001 });
    expect(fake.messages).toHaveLength(1);
  });

  it('refuses to send an empty answer', async () => {
    await expect(
      clientWith().sendText({ kind: 'c2c', robot: ROBOT, toAccount: 'jared' }, '  \n'),
    ).rejects.toThrow(RangeError);
    expect(fake.requests).toHaveLength(0);
  });

  it('never puts the secret key or the usersig into logs or errors', async () => {
    const userSig = expiredFirst();
    fake.delayNext(500);
    fake.failNext(1, { httpStatus: 500 });
    fake.failNext(1, { errorCode: 80001 });
    const error = await rejectionOf(clientWith({ userSig, timeoutMs: 100 }).sendC2C(ROBOT, 'jared', 'hello'));

    const sigs = fake.requests.map((request) => request.query.usersig);
    expect(error).toMatchObject({ errorCode: 80001 });
    expect(logs).toHaveLength(3); // timeout, 70001 renewal, HTTP 500
    const written = [...logs, String(error), JSON.stringify(error), (error as Error).stack ?? ''].join('\n');
    for (const secret of [SECRET_KEY, ...sigs]) expect(written).not.toContain(secret);
  });
});

describe('resolveTencentApiBaseUrl', () => {
  it('maps every documented region to its host', () => {
    expect(resolveTencentApiBaseUrl()).toBe('https://console.tim.qq.com');
    expect(resolveTencentApiBaseUrl('Singapore')).toBe('https://adminapisgp.im.qcloud.com');
    expect(resolveTencentApiBaseUrl('silicon_valley')).toBe('https://adminapiusa.im.qcloud.com');
    expect(Object.keys(TENCENT_REGION_HOSTS)).toEqual([
      'china',
      'singapore',
      'seoul',
      'tokyo',
      'frankfurt',
      'silicon-valley',
      'jakarta',
    ]);
  });

  it('prefers an override base URL and rejects unknown regions', () => {
    expect(resolveTencentApiBaseUrl('tokyo', 'http://127.0.0.1:9000/')).toBe('http://127.0.0.1:9000');
    expect(() => resolveTencentApiBaseUrl('mars')).toThrow(/Unknown Tencent region/);
    expect(() => resolveTencentApiBaseUrl(undefined, 'ftp://x')).toThrow(RangeError);
  });
});
