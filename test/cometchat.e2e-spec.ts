import fc from 'fast-check';
import { DataSource } from 'typeorm';
import { FakeOpenAiServer, startFakeOpenAiServer } from './fakes/fake-openai-server.js';
import { FakeCometChatServer, startFakeCometChatServer } from './fakes/fake-cometchat-server.js';
import { createHelpdeskStore } from './fixtures/store-fixtures.js';
import { startTestApp, TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

const APP_ID = '2248348660ad9bd4';
const API_KEY = 'e2e-cometchat-rest-key';
const BOT_UID = 'support_bot';
const USERNAME = 'parley';
const PASSWORD = 'e2e-basic-auth-password';

let t: TestApp;
let llm: FakeOpenAiServer;
let comet: FakeCometChatServer;
let botId: string;
let sequence = 0;

const basic = (username = USERNAME, password = PASSWORD) =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

interface MessageOptions {
  sender?: string;
  group?: string;
  id?: string;
  type?: string;
  mentions?: { uid: string; name?: string }[];
}

function afterMessage(text: string, options: MessageOptions = {}): Record<string, unknown> {
  const id = options.id ?? String(10_000 + ++sequence);
  const sender = options.sender ?? `user${sequence}`;
  const isGroup = options.group !== undefined;
  const receiver = options.group ?? BOT_UID;
  return {
    trigger: 'after_message',
    data: {
      id,
      muid: `_m${id}`,
      conversationId: isGroup ? `group_${receiver}` : `${sender}_user_${BOT_UID}`,
      sender,
      receiverType: isGroup ? 'group' : 'user',
      receiver,
      category: 'message',
      type: options.type ?? 'text',
      data: {
        text,
        entities: {
          sender: { entity: { uid: sender, name: `Name of ${sender}` }, entityType: 'user' },
          receiver: { entity: { uid: receiver }, entityType: isGroup ? 'group' : 'user' },
        },
      },
      ...(options.mentions ? { mentionedUsers: options.mentions } : {}),
      sentAt: Math.floor(Date.now() / 1000),
      updatedAt: Math.floor(Date.now() / 1000),
    },
    appId: APP_ID,
    region: 'eu',
    origin: { platform: 'web' },
    chatAPIVersion: '3.0',
    bot: BOT_UID,
  };
}

const senderOf = (body: Record<string, unknown>) => (body.data as { sender: string }).sender;

const post = (body: unknown, authorization = basic(), id = botId) =>
  t
    .anonymous()
    .post(`/api/cometchat/callback/${id}`)
    .set('Authorization', authorization)
    .send(body as object);

const sentTo = (receiver: string) => comet.messages.filter((message) => message.receiver === receiver);

async function userRows(text: string): Promise<number> {
  const rows = (await t.app
    .get(DataSource)
    .query(
      `SELECT count(*)::int AS count FROM messages WHERE role = 'user' AND platform = 'cometchat' AND content = $1`,
      [text],
    )) as { count: number }[];
  return rows[0].count;
}

/** Sends a valid message and waits for its answer: everything accepted before it has been answered too. */
async function roundTrip(): Promise<void> {
  const body = afterMessage(`marker ${sequence + 1}`);
  await post(body).expect(200);
  await waitFor('the marker answer', () => sentTo(senderOf(body)).length > 0);
}

function expectEcho(reply: string, question: string): void {
  expect(reply).toMatch(/^Echo: /);
  expect(reply).toContain(question);
}

beforeAll(async () => {
  llm = await startFakeOpenAiServer();
  comet = await startFakeCometChatServer({ appId: APP_ID, apiKey: API_KEY, botUid: BOT_UID });
  t = await startTestApp();
  await createHelpdeskStore(t, llm.baseUrl, { historyMessages: 0, maxAnswerTokens: 8000 });
  const bot = await t
    .admin()
    .post('/api/v1/providers')
    .send({
      name: 'comet-support',
      category: 'bot',
      type: 'cometchat',
      config: {
        appId: APP_ID,
        region: 'eu',
        apiKey: API_KEY,
        botUid: BOT_UID,
        basicAuthUsername: USERNAME,
        basicAuthPassword: PASSWORD,
        apiBaseUrl: comet.baseUrl,
        rateLimitPerMinute: 0,
      },
    })
    .expect(201);
  botId = bot.body.id as string;
  expect(bot.body.callbackUrl).toBe(`https://parley.test/api/cometchat/callback/${botId}`);
});

afterAll(async () => {
  await t?.close();
  await comet?.close();
  await llm?.close();
});

describe('CometChat bot callback', () => {
  it('answers a one-to-one message to the sender through Send Bot Message, after acknowledging it', async () => {
    const body = afterMessage('What is the refund policy?');
    const response = await post(body).expect(200);
    expect(response.body).toEqual({ status: 'accepted' });
    expect(await userRows('What is the refund policy?')).toBe(1);

    const [reply] = await waitFor('the reply', () => {
      const sent = sentTo(senderOf(body));
      return sent.length > 0 ? sent : undefined;
    });
    expect(reply).toMatchObject({ botUid: BOT_UID, receiverType: 'user' });
    expect(reply.body).toMatchObject({ category: 'message', type: 'text' });
    expectEcho(reply.text, 'What is the refund policy?');
    const request = comet.requests.find(
      (candidate) => candidate.status === 200 && candidate.method === 'POST',
    );
    expect(request?.headers.apikey).toBe(API_KEY);

    const recorded = await waitFor('the delivery to be recorded', async () => {
      const [row] = (await t.app.get(DataSource).query(
        `SELECT a.delivery_status, a.delivery_ids FROM messages a JOIN messages u ON a.reply_to_id = u.id
         WHERE u.platform_message_id = $1`,
        [`${APP_ID}:${(body.data as { id: string }).id}`],
      )) as { delivery_status: string; delivery_ids: string[] }[];
      return row?.delivery_status === 'delivered' ? row : undefined;
    });
    expect(recorded.delivery_ids).toEqual([reply.id]);
  });

  it('answers a group mention in the group (its GUID), with the mention stripped', async () => {
    const body = afterMessage(`<@uid:${BOT_UID}> how do I reset my password?`, {
      group: 'support-group',
      mentions: [{ uid: BOT_UID, name: 'Support' }],
    });
    await post(body).expect(200, { status: 'accepted' });
    const [reply] = await waitFor('the group reply', () => {
      const sent = sentTo('support-group');
      return sent.length > 0 ? sent : undefined;
    });
    expect(reply.receiverType).toBe('group');
    expectEcho(reply.text, 'how do I reset my password?');
    expect(reply.text).not.toContain('<@uid:');
  });

  it('ignores group messages that do not mention the bot (the default group policy)', async () => {
    const text = 'just chatting among ourselves';
    await post(afterMessage(text, { group: 'quiet-group' })).expect(200, {
      status: 'ignored',
      reason: 'policy',
    });
    await roundTrip();
    expect(sentTo('quiet-group')).toHaveLength(0);
    expect(await userRows(text)).toBe(0);
  });

  describe('refuses bad credentials and processes nothing', () => {
    const cases: [string, () => string][] = [
      ['a wrong password', () => basic(USERNAME, 'wrong')],
      ['a wrong username', () => basic('someone', PASSWORD)],
      ['no Authorization header', () => ''],
      ['a Bearer token', () => `Bearer ${PASSWORD}`],
      ['garbage', () => 'Basic !!!'],
    ];
    it.each(cases)('with %s → 401', async (name, authorization) => {
      const text = `unauthorised ${sequence + 1} ${name}`;
      const response = await post(afterMessage(text), authorization()).expect(401);
      expect(response.body).toMatchObject({ statusCode: 401, code: 'unauthorized' });
      expect(response.headers['www-authenticate']).toMatch(/^Basic /);
      await roundTrip();
      expect(await userRows(text)).toBe(0);
      expect(comet.messages.some((message) => message.text.includes(text))).toBe(false);
    });

    it('answers 404 for an unknown bot and 400 for an id that is not one', async () => {
      await post(afterMessage('x'), basic(), '00000000-0000-4000-8000-000000000000').expect(404);
      await post(afterMessage('x'), basic(), 'not-a-uuid').expect(400);
      const model = await t.admin().get('/api/v1/providers?category=model').expect(200);
      await post(afterMessage('x'), basic(), model.body.items[0].id as string).expect(404);
    });
  });

  it('ignores the bot’s own messages, other triggers and non-text messages it cannot read', async () => {
    const own = 'my own echo';
    await post(afterMessage(own, { sender: BOT_UID })).expect(200, {
      status: 'ignored',
      reason: 'own-message',
    });
    await post({ trigger: 'before_message', data: {} }).expect(200, {
      status: 'ignored',
      reason: 'unknown-trigger',
    });
    await post(afterMessage('', { type: 'custom' })).expect(200);
    await roundTrip();
    expect(await userRows(own)).toBe(0);
    expect(comet.messages.some((message) => message.text.includes(own))).toBe(false);
  });

  it('answers an image with a polite text-only notice', async () => {
    const body = afterMessage('', { type: 'image' });
    await post(body).expect(200, { status: 'accepted' });
    const [reply] = await waitFor('the notice', () => {
      const sent = sentTo(senderOf(body));
      return sent.length > 0 ? sent : undefined;
    });
    expect(reply.text).toMatch(/text/);
  });

  it('answers a repeated delivery once', async () => {
    const body = afterMessage('only one answer please');
    const before = llm.requests.length;
    await post(body).expect(200, { status: 'accepted' });
    await post(body).expect(200, { status: 'duplicate' });
    await Promise.all([post(body).expect(200), post(body).expect(200)]);
    await waitFor('the reply', () => sentTo(senderOf(body)).length > 0);
    await roundTrip();
    expect(sentTo(senderOf(body))).toHaveLength(1);
    expect(await userRows('only one answer please')).toBe(1);
    const asked = llm.requests
      .slice(before)
      .filter((request) => JSON.stringify(request.body).includes('only one answer please'));
    expect(asked).toHaveLength(1);
  });

  it('waits as asked after a 429 and then delivers', async () => {
    comet.failNext(1, { status: 429, retryAfter: '1', code: 'ERR_TOO_MANY_REQUESTS', message: 'slow down' });
    const body = afterMessage('rate limited question');
    await post(body).expect(200);
    const [reply] = await waitFor('the reply after the 429', () => {
      const sent = sentTo(senderOf(body));
      return sent.length > 0 ? sent : undefined;
    });
    expectEcho(reply.text, 'rate limited question');
    const attempts = comet.requests.filter(
      (request) => (request.body as { receiver?: string })?.receiver === senderOf(body),
    );
    expect(attempts.map((attempt) => attempt.status)).toEqual([429, 200]);
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(900);
  });

  it('records a failed delivery when CometChat refuses the message', async () => {
    comet.failNext(1, { status: 403, code: 'AUTH_ERR_NO_ACCESS', message: 'no access' });
    const body = afterMessage('refused question');
    await post(body).expect(200);
    const row = await waitFor('the failure to be recorded', async () => {
      const [answer] = (await t.app.get(DataSource).query(
        `SELECT a.delivery_status, a.delivery_error FROM messages a JOIN messages u ON a.reply_to_id = u.id
         WHERE u.content = 'refused question'`,
      )) as { delivery_status: string; delivery_error: string }[];
      return answer?.delivery_status === 'failed' ? answer : undefined;
    });
    expect(row.delivery_error).toMatch(/AUTH_ERR_NO_ACCESS/);
  });

  it('splits a long answer into numbered messages under the data limit, in order', async () => {
    const words = Array.from({ length: 3000 }, (_, index) => `word${index} `);
    llm.script.enqueue({ endpoint: 'chat', kind: 'reply', tokens: words });
    const body = afterMessage('tell me everything');
    await post(body).expect(200);
    const parts = await waitFor('every part', () => {
      const sent = sentTo(senderOf(body));
      const total = Number(/^\(1\/(\d+)\)/.exec(sent[0]?.text ?? '')?.[1] ?? 0);
      return total > 1 && sent.length === total ? sent : undefined;
    });
    parts.forEach((part, index) => {
      expect(part.text.startsWith(`(${index + 1}/${parts.length}) `)).toBe(true);
      expect(Buffer.byteLength(JSON.stringify(part.body.data), 'utf8')).toBeLessThanOrEqual(10 * 1024);
    });
    const joined = parts.map((part) => part.text.replace(/^\(\d+\/\d+\) /, '')).join(' ');
    expect(joined.replace(/\s+/g, ' ').trim()).toBe(words.join('').trim());
  });

  it('does not answer for a disabled bot', async () => {
    await t.admin().patch(`/api/v1/providers/${botId}`).send({ enabled: false }).expect(200);
    try {
      const text = 'are you there while disabled?';
      await post(afterMessage(text)).expect(403);
      await post(afterMessage(text), basic(USERNAME, 'wrong')).expect(401);
      expect(await userRows(text)).toBe(0);
    } finally {
      await t.admin().patch(`/api/v1/providers/${botId}`).send({ enabled: true }).expect(200);
    }
  });

  it('never answers with a server error, whatever the body', async () => {
    const value = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.integer(),
      fc.double(),
      fc.boolean(),
      fc.constant(null),
      fc.constantFrom(BOT_UID, APP_ID, 'user', 'group', 'text', 'image', 'message', 'after_message'),
    );
    const message = fc.record(
      {
        id: fc.oneof(fc.string({ minLength: 1, maxLength: 300 }), fc.nat(), value),
        sender: fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), value),
        receiverType: fc.oneof(fc.constantFrom('user', 'group'), value),
        receiver: fc.oneof(fc.constantFrom(BOT_UID), fc.string({ maxLength: 300 }), value),
        category: fc.oneof(fc.constant('message'), value),
        type: fc.oneof(fc.constantFrom('text', 'image'), value),
        data: fc.oneof(
          fc.record({ text: value, entities: fc.oneof(fc.jsonValue(), value) }, { requiredKeys: [] }),
          value,
        ),
        mentionedUsers: fc.oneof(fc.array(fc.oneof(value, fc.record({ uid: value, name: value }))), value),
      },
      { requiredKeys: [] },
    );
    const cometish = fc.record(
      {
        trigger: fc.oneof(fc.constant('after_message'), value),
        data: fc.oneof(message, value),
        appId: fc.oneof(fc.constant(APP_ID), value),
        bot: fc.oneof(fc.constant(BOT_UID), value),
      },
      { requiredKeys: [] },
    );
    // Well-formed messages with hostile strings (NUL, lone surrogates, very long ids) reach the engine.
    const hostile = fc
      .record({
        text: fc.string({ unit: 'binary' }),
        sender: fc.string({ unit: 'binary', minLength: 1, maxLength: 250 }),
        id: fc.string({ unit: 'binary', minLength: 1, maxLength: 250 }),
        group: fc.option(fc.string({ unit: 'binary', minLength: 1, maxLength: 250 }), { nil: undefined }),
      })
      .map(({ text, ...options }) => afterMessage(`<@uid:${BOT_UID}> ${text}`, options));
    const body = fc.oneof(cometish, hostile, fc.jsonValue(), fc.string());
    const authorization = fc.oneof(
      fc.constant(basic()),
      fc.string().map((text) => text.replace(/[^\x20-\x7e]/g, '')),
      fc.constant(basic(USERNAME, 'nope')),
    );
    const id = fc.oneof(fc.constant(botId), fc.uuid(), fc.string());

    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(body, authorization, id, fc.boolean(), async (payload, auth, providerId, asJson) => {
        const request = t
          .anonymous()
          .post(`/api/cometchat/callback/${encodeURIComponent(providerId)}`)
          .set('Authorization', auth);
        const response = asJson
          ? await request.set('Content-Type', 'application/json').send(JSON.stringify(payload))
          : await request.set('Content-Type', 'text/plain').send(JSON.stringify(payload));
        expect(response.status).toBeGreaterThanOrEqual(200);
        expect(response.status).toBeLessThan(500);
        if (response.body?.status === 'accepted') accepted += 1;
      }),
      {
        numRuns: 200,
        // A well-formed hostile message first, so the accept path is exercised in every run (a random
        // draw reaches it only ~1 in 72 times).
        examples: [
          [
            afterMessage(`<@uid:${BOT_UID}> nul\u0000 and a lone surrogate \ud800`, { sender: 'x\u0000y' }),
            basic(),
            botId,
            true,
          ],
        ],
      },
    );
    expect(accepted).toBeGreaterThan(0);
    await roundTrip();
  }, 120_000);
});
