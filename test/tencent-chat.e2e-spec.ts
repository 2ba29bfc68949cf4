import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { computeTencentCallbackSign } from '../src/tencent-chat/tencent-signature.js';
import { FakeOpenAiServer, startFakeOpenAiServer } from './fakes/fake-openai-server.js';
import {
  FakeTencentMessage,
  FakeTencentServer,
  startFakeTencentServer,
} from './fakes/fake-tencent-server.js';
import { createHelpdeskStore } from './fixtures/store-fixtures.js';
import { startTestApp, TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

const APP = '1400000001';
const OTHER_APP = '1400000002';
const SECRET_KEY = 'e2e-tencent-secret-key-0123456789abcdef';
const TOKEN = 'e2e-callback-token';
const FINAL_ROBOT = '@RBT#001';
const STREAM_ROBOT = '@RBT#002';
const DISABLED_ROBOT = '@RBT#003';

const OK = { ActionStatus: 'OK', ErrorCode: 0, ErrorInfo: '' };

let t: TestApp;
let llm: FakeOpenAiServer;
let tencent: FakeTencentServer;
let sequence = 0;

interface CallbackOptions {
  sdkAppId?: string;
  /** The SdkAppid query parameter (default: the app in the path). */
  querySdkAppId?: string;
  token?: string;
  requestTime?: number;
  sign?: string;
  command?: string;
}

function callbackUrl(options: CallbackOptions = {}): string {
  const sdkAppId = options.sdkAppId ?? APP;
  const requestTime = String(options.requestTime ?? Math.floor(Date.now() / 1000));
  const query = new URLSearchParams({
    SdkAppid: options.querySdkAppId ?? sdkAppId,
    CallbackCommand: options.command ?? 'Bot.OnC2CMessage',
    contenttype: 'json',
    ClientIP: '203.0.113.7',
    OptPlatform: 'Web',
    Sign: options.sign ?? computeTencentCallbackSign(options.token ?? TOKEN, requestTime),
    RequestTime: requestTime,
  });
  return `/api/tencent-chat/callback/${sdkAppId}?${query.toString()}`;
}

function c2c(text: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const seq = ++sequence;
  const random = 1_000_000 + seq;
  const time = Math.floor(Date.now() / 1000);
  return {
    CallbackCommand: 'Bot.OnC2CMessage',
    From_Account: `user-${seq}`,
    To_Account: FINAL_ROBOT,
    MsgSeq: seq,
    MsgRandom: random,
    MsgTime: time,
    MsgKey: `${seq}_${random}_${time}`,
    MsgId: `144115233406643804-${time}-${random}`,
    OnlineOnlyFlag: 1,
    MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: text } }],
    CloudCustomData: '',
    EventTime: Date.now(),
    ...overrides,
  };
}

function group(
  text: string,
  robots: string[],
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const seq = ++sequence;
  return {
    CallbackCommand: 'Bot.OnGroupMessage',
    GroupId: `@TGS#group${seq}`,
    Type: 'Public',
    From_Account: `member-${seq}`,
    Operator_Account: 'admin',
    Random: 123456,
    MsgSeq: seq,
    MsgTime: Math.floor(Date.now() / 1000),
    OnlineOnlyFlag: 1,
    MsgBody: [
      {
        MsgType: 'TIMTextElem',
        MsgContent: { Text: `${robots.map((robot) => `@${robot}`).join(' ')} ${text}` },
      },
    ],
    AtRobots_Account: robots,
    CloudCustomData: '',
    EventTime: Date.now(),
    ...overrides,
  };
}

const post = (body: unknown, options: CallbackOptions = {}) =>
  t
    .anonymous()
    .post(callbackUrl({ command: commandOf(body), ...options }))
    .send(body as object);

function commandOf(body: unknown): string | undefined {
  const command = (body as { CallbackCommand?: unknown } | null)?.CallbackCommand;
  return typeof command === 'string' ? command : undefined;
}

const textOf = (message: FakeTencentMessage): string =>
  (message.body.MsgBody as { MsgContent: { Text: string } }[] | undefined)?.[0]?.MsgContent.Text ??
  String(message.body.Chunk ?? '');

const sentTo = (account: string, command = 'sendmsg') =>
  tencent.messages.filter(
    (message) =>
      message.command === command &&
      (message.body.To_Account === account || message.body.GroupId === account),
  );

/** The fake model echoes the prompt's last user turn, which holds the question. */
function expectEcho(reply: string, question: string): void {
  expect(reply).toMatch(/^Echo: /);
  expect(reply).toContain(question);
}

async function userRows(text: string): Promise<number> {
  const rows = (await t.app
    .get(DataSource)
    .query(
      `SELECT count(*)::int AS count FROM messages WHERE role = 'user' AND platform = 'tencent-chat' AND content = $1`,
      [text],
    )) as { count: number }[];
  return rows[0].count;
}

/** Sends a valid message and waits for its answer: everything accepted before it has been answered too. */
async function roundTrip(): Promise<void> {
  const body = c2c(`marker ${sequence + 1}`);
  await post(body).expect(200);
  await waitFor('the marker answer', () => sentTo(body.From_Account as string).length > 0);
}

async function addBot(name: string, config: Record<string, unknown>, enabled = true): Promise<string> {
  const response = await t
    .admin()
    .post('/api/v1/providers')
    .send({
      name,
      category: 'bot',
      type: 'tencent-chat',
      enabled,
      config: {
        sdkAppId: APP,
        secretKey: SECRET_KEY,
        adminIdentifier: 'administrator',
        callbackToken: TOKEN,
        apiBaseUrl: tencent.baseUrl,
        rateLimitPerMinute: 0,
        ...config,
      },
    })
    .expect(201);
  return response.body.id as string;
}

beforeAll(async () => {
  llm = await startFakeOpenAiServer();
  tencent = await startFakeTencentServer({ sdkAppId: Number(APP), secretKey: SECRET_KEY });
  t = await startTestApp();
  await createHelpdeskStore(t, llm.baseUrl, { historyMessages: 0, maxAnswerTokens: 8000 });
  const finalBot = await addBot('tencent-final', { robotId: FINAL_ROBOT });
  await addBot('tencent-stream', { robotId: STREAM_ROBOT, replyMode: 'stream' });
  await addBot('tencent-disabled', { robotId: DISABLED_ROBOT }, false);
  const provider = await t.admin().get(`/api/v1/providers/${finalBot}`).expect(200);
  expect(provider.body.callbackUrl).toBe(`https://parley.test/api/tencent-chat/callback/${APP}`);
});

afterAll(async () => {
  await t?.close();
  await tencent?.close();
  await llm?.close();
});

describe('Tencent Cloud Chat robot webhook', () => {
  it('answers a C2C message from the robot through the REST API, after acknowledging it', async () => {
    const body = c2c('What is the refund policy?');
    const response = await post(body).expect(200);
    expect(response.body).toEqual(OK);
    expect(await userRows('What is the refund policy?')).toBe(1);

    const [reply] = await waitFor('the reply', () => {
      const sent = sentTo(body.From_Account as string);
      return sent.length > 0 ? sent : undefined;
    });
    expect(reply.body).toMatchObject({
      From_Account: FINAL_ROBOT,
      To_Account: body.From_Account,
      SyncOtherMachine: 2,
    });
    expectEcho(textOf(reply), 'What is the refund policy?');

    const recorded = await waitFor('the delivery to be recorded', async () => {
      const [row] = (await t.app.get(DataSource).query(
        `SELECT a.delivery_status, a.delivery_ids FROM messages a JOIN messages u ON a.reply_to_id = u.id
         WHERE u.platform_message_id = $1`,
        [body.MsgKey],
      )) as { delivery_status: string; delivery_ids: string[] }[];
      return row?.delivery_status === 'delivered' ? row : undefined;
    });
    expect(recorded.delivery_ids).toHaveLength(1);
    expect(recorded.delivery_ids[0]).toMatch(/^\d+_\d+_\d+$/);
  });

  it('answers a group @mention in the group, from the mentioned robot, with the mention stripped', async () => {
    const body = group('how do I reset my password?', [FINAL_ROBOT]);
    await post(body).expect(200);
    const [reply] = await waitFor('the group reply', () => {
      const sent = sentTo(body.GroupId as string, 'send_group_msg');
      return sent.length > 0 ? sent : undefined;
    });
    expect(reply.body).toMatchObject({ GroupId: body.GroupId, From_Account: FINAL_ROBOT });
    expectEcho(textOf(reply), 'how do I reset my password?');
    expect(textOf(reply)).not.toContain('@RBT#');
  });

  it('answers once per robot when a group message mentions two robots of the app', async () => {
    const body = group('both of you?', [FINAL_ROBOT, STREAM_ROBOT]);
    await post(body).expect(200);
    const replies = await waitFor('two replies', () => {
      const sent = tencent.messages.filter(
        (message) =>
          message.body.GroupId === body.GroupId &&
          (message.command === 'send_group_msg' || message.command === 'modify_group_msg'),
      );
      const from = new Set(
        sent.filter((m) => m.command === 'send_group_msg').map((m) => m.body.From_Account),
      );
      return from.size === 2 ? sent : undefined;
    });
    expect(replies.some((message) => /^Echo: [\s\S]*both of you\?/.test(textOf(message)))).toBe(true);
  });

  describe('refuses unauthenticated requests and processes nothing', () => {
    const cases: [string, CallbackOptions, number][] = [
      ['a wrong Sign', { token: 'not-the-token' }, 401],
      ['a stale RequestTime', { requestTime: Math.floor(Date.now() / 1000) - 120 }, 401],
      ['a RequestTime from the future', { requestTime: Math.floor(Date.now() / 1000) + 120 }, 401],
      ['a SdkAppid other than the URL’s', { querySdkAppId: OTHER_APP }, 401],
      ['no Sign at all', { sign: '' }, 401],
      ['an app with no robot', { sdkAppId: OTHER_APP }, 404],
      ['a malformed app id', { sdkAppId: 'abc' }, 400],
    ];
    it.each(cases)('with %s', async (_name, options, status) => {
      const text = `rejected ${sequence + 1} ${_name}`;
      const response = await post(c2c(text), options).expect(status);
      expect(response.body).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: status });
      expect(response.body.ErrorInfo).toEqual(expect.any(String));
      await roundTrip();
      expect(await userRows(text)).toBe(0);
      expect(tencent.messages.some((message) => textOf(message).includes(text))).toBe(false);
    });
  });

  it('answers bodies that are not JSON with a 400 in Tencent’s shape', async () => {
    const response = await t
      .anonymous()
      .post(callbackUrl())
      .set('Content-Type', 'text/plain')
      .send('{not json')
      .expect(400);
    expect(response.body).toMatchObject({ ActionStatus: 'FAIL', ErrorCode: 400 });
    await t
      .anonymous()
      .post(callbackUrl())
      .set('Content-Type', 'application/json')
      .send('{not json')
      .expect(400);
    const array = await post([1, 2]).expect(400);
    expect(array.body.ActionStatus).toBe('FAIL');
  });

  it('reads a JSON body sent without a JSON content type', async () => {
    const body = c2c('plain text content type');
    await t
      .anonymous()
      .post(callbackUrl())
      .set('Content-Type', 'text/plain')
      .send(JSON.stringify(body))
      .expect(200, OK);
    await waitFor('the reply', () => sentTo(body.From_Account as string).length > 0);
  });

  it('acknowledges but ignores robot senders, unknown and disabled robots, typing indicators and other commands', async () => {
    const texts = ['from a robot', 'to an unknown robot', 'to a disabled robot'];
    await post(c2c(texts[0], { From_Account: STREAM_ROBOT })).expect(200, OK);
    await post(c2c(texts[1], { To_Account: '@RBT#999' })).expect(200, OK);
    await post(c2c(texts[2], { To_Account: DISABLED_ROBOT })).expect(200, OK);
    await post(c2c('', { MsgBody: [{ MsgType: 'TIMCustomElem', MsgContent: { Data: 'typing' } }] })).expect(
      200,
      OK,
    );
    await post({ CallbackCommand: 'State.StateChange', Info: { To_Account: 'x' } }).expect(200, OK);
    await roundTrip();
    for (const text of texts) expect(await userRows(text)).toBe(0);
    expect(tencent.messages.some((message) => texts.some((text) => textOf(message).includes(text)))).toBe(
      false,
    );
  });

  it('answers a retried message (same MsgKey) once', async () => {
    const body = c2c('only one answer please');
    const before = llm.requests.length;
    await post(body).expect(200, OK);
    await post(body).expect(200, OK);
    await Promise.all([post(body).expect(200, OK), post(body).expect(200, OK)]);
    await waitFor('the reply', () => sentTo(body.From_Account as string).length > 0);
    await roundTrip();
    expect(sentTo(body.From_Account as string)).toHaveLength(1);
    expect(await userRows('only one answer please')).toBe(1);
    const asked = llm.requests
      .slice(before)
      .filter((request) => JSON.stringify(request.body).includes('only one answer please'));
    expect(asked).toHaveLength(1);
  });

  it('splits a long answer into numbered messages under the size limit, in order', async () => {
    const words = Array.from({ length: 3000 }, (_, index) => `word${index} `);
    llm.script.enqueue({ endpoint: 'chat', kind: 'reply', tokens: words });
    const body = c2c('tell me everything');
    await post(body).expect(200, OK);
    const parts = await waitFor('every part', async () => {
      const sent = sentTo(body.From_Account as string);
      const total = Number(/^\(1\/(\d+)\)/.exec(sent[0] ? textOf(sent[0]) : '')?.[1] ?? 0);
      return total > 1 && sent.length === total ? sent : undefined;
    });
    expect(parts.length).toBeGreaterThanOrEqual(2);
    const texts = parts.map(textOf);
    texts.forEach((text, index) => {
      expect(text.startsWith(`(${index + 1}/${parts.length}) `)).toBe(true);
      expect(Buffer.byteLength(text, 'utf8')).toBeLessThanOrEqual(12_000);
    });
    const joined = texts.map((text) => text.replace(/^\(\d+\/\d+\) /, '')).join(' ');
    expect(joined.replace(/\s+/g, ' ').trim()).toBe(words.join('').trim());
  });

  it('streams a C2C answer with the robot stream API in stream reply mode, ending with Finish', async () => {
    const tokens = Array.from({ length: 12 }, (_, index) => `part${index} `);
    llm.script.enqueue({ endpoint: 'chat', kind: 'reply', tokens, tokenDelayMs: 120 });
    const body = c2c('stream it', { To_Account: STREAM_ROBOT });
    await post(body).expect(200, OK);
    const chunks = await waitFor('the stream to finish', () => {
      const sent = sentTo(body.From_Account as string, 'send_stream_msg');
      return sent.some((message) => message.body.Finish === 1) ? sent : undefined;
    });
    expect(chunks.length).toBeGreaterThanOrEqual(2);
    expect(chunks.filter((chunk) => chunk.body.Finish === 1)).toHaveLength(1);
    expect(chunks.at(-1)?.body.Finish).toBe(1);
    expect(chunks.every((chunk) => chunk.body.From_Account === STREAM_ROBOT)).toBe(true);
    expect(chunks.map((chunk) => String(chunk.body.Chunk)).join('')).toBe(tokens.join(''));
    expect(new Set(chunks.slice(1).map((chunk) => chunk.body.MsgKey)).size).toBe(1);
    expect(sentTo(body.From_Account as string)).toHaveLength(0);
  });

  it('never answers with a server error, whatever the query string and body', async () => {
    const queryValue = fc.oneof(
      fc.string(),
      fc.constantFrom('', APP, 'Bot.OnC2CMessage', 'json'),
      fc.nat().map(String),
    );
    const query = fc.dictionary(
      fc.oneof(
        fc.constantFrom('SdkAppid', 'sdkappid', 'Sign', 'RequestTime', 'CallbackCommand', 'contenttype'),
        fc.string(),
      ),
      fc.oneof(queryValue, fc.array(queryValue, { maxLength: 3 })),
    );
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom(
        FINAL_ROBOT,
        STREAM_ROBOT,
        DISABLED_ROBOT,
        '@RBT#x',
        'TIMTextElem',
        'Bot.OnGroupMessage',
      ),
    );
    const tencentish = fc.record(
      {
        CallbackCommand: fc.oneof(fc.constantFrom('Bot.OnC2CMessage', 'Bot.OnGroupMessage'), value),
        From_Account: fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), value),
        To_Account: fc.oneof(fc.constantFrom(FINAL_ROBOT, STREAM_ROBOT), value),
        GroupId: value,
        MsgKey: fc.oneof(fc.string({ minLength: 1, maxLength: 400 }), value),
        MsgSeq: fc.oneof(fc.nat(), value),
        MsgRandom: value,
        MsgTime: value,
        AtRobots_Account: fc.oneof(fc.array(fc.oneof(fc.constantFrom(FINAL_ROBOT), value)), value),
        MsgBody: fc.oneof(
          fc.array(
            fc.record({
              MsgType: fc.oneof(fc.constantFrom('TIMTextElem', 'TIMImageElem', 'TIMCustomElem'), value),
              MsgContent: fc.oneof(fc.record({ Text: value }), value),
            }),
            { maxLength: 3 },
          ),
          value,
        ),
      },
      { requiredKeys: [] },
    );
    // Well-formed messages with hostile strings (NUL, lone surrogates, very long ids) reach the engine.
    const hostile = fc
      .record({
        text: fc.string({ unit: 'binary', minLength: 1 }),
        From_Account: fc.string({ unit: 'binary', minLength: 1, maxLength: 250 }),
        MsgKey: fc.string({ unit: 'binary', minLength: 1, maxLength: 250 }),
      })
      .map(({ text, ...fields }) => c2c(text, fields));
    const body = fc.oneof(fc.jsonValue(), tencentish, hostile, fc.string());

    await fc.assert(
      fc.asyncProperty(query, body, async (params, payload) => {
        const search = new URLSearchParams();
        for (const [key, raw] of Object.entries(params))
          for (const item of [raw].flat()) search.append(key, item);
        const response = await t
          .anonymous()
          .post(`/api/tencent-chat/callback/${APP}?${search.toString()}`)
          .send(JSON.stringify(payload));
        expect(response.status).toBeGreaterThanOrEqual(200);
        expect(response.status).toBeLessThan(500);
        expect(response.body).toHaveProperty('ActionStatus');
      }),
      { numRuns: 60 },
    );
    // Signed, so the body reaches the parser and the engine.
    let stored = 0;
    await fc.assert(
      fc.asyncProperty(body, fc.boolean(), async (payload, asJson) => {
        const request = t.anonymous().post(callbackUrl({ command: commandOf(payload) }));
        const response = asJson
          ? await request.set('Content-Type', 'application/json').send(JSON.stringify(payload))
          : await request.set('Content-Type', 'text/plain').send(JSON.stringify(payload));
        expect(response.status).toBeLessThan(500);
        expect([200, 400]).toContain(response.status);
        if (
          response.status === 200 &&
          typeof (payload as { From_Account?: unknown })?.From_Account === 'string'
        )
          stored += 1;
      }),
      { numRuns: 150 },
    );
    expect(stored).toBeGreaterThan(0);
    await roundTrip();
  }, 120_000);
});
