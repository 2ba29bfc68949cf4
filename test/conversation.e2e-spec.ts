import { DataSource } from 'typeorm';
import { AnswerWorker } from '../src/conversation/answer.worker.js';
import { ChannelRegistry } from '../src/conversation/channel-registry.js';
import { ConversationService } from '../src/conversation/conversation.service.js';
import type { AcceptResult, InboundMessage } from '../src/conversation/conversation.types.js';
import { FakeOpenAiServer, startFakeOpenAiServer } from './fakes/fake-openai-server.js';
import { createHelpdeskStore } from './fixtures/store-fixtures.js';
import { RecordingDelivery } from './support/recording-delivery.js';
import { realPostgresUrl } from './support/test-database.js';
import { startTestApp, TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

interface ChatRequestBody {
  messages: { role: string; content: string }[];
}

const chatRequests = (llm: FakeOpenAiServer) =>
  llm.requests
    .filter((request) => request.endpoint === 'chat')
    .map((request) => request.body as ChatRequestBody);

const promptText = (body: ChatRequestBody) => body.messages.map((message) => message.content).join('\n');

async function setUpBot(t: TestApp, llm: FakeOpenAiServer, botConfig: Record<string, unknown> = {}) {
  await createHelpdeskStore(t, llm.baseUrl, {
    fallbackMessage: 'Sorry, try again later.',
    historyMessages: 10,
  });
  const bot = await t
    .admin()
    .post('/api/v1/providers')
    .send({
      name: 'comet-bot',
      category: 'bot',
      type: 'cometchat',
      config: {
        appId: 'app1',
        region: 'eu',
        apiKey: 'comet-key',
        botUid: 'support_bot',
        basicAuthUsername: 'u',
        basicAuthPassword: 'p',
        rateLimitPerMinute: 5,
        ...botConfig,
      },
    })
    .expect(201);
  const delivery = new RecordingDelivery('cometchat');
  t.app.get(ChannelRegistry).register(delivery);
  return { botId: bot.body.id as string, delivery };
}

let sequence = 0;
const inbound = (botProviderId: string, overrides: Partial<InboundMessage> = {}): InboundMessage => ({
  botProviderId,
  platform: 'cometchat',
  platformMessageId: `m-${++sequence}`,
  chatKey: 'ann',
  isGroup: false,
  senderId: 'ann',
  senderName: 'Ann',
  mentionedBot: false,
  text: 'What is the refund policy?',
  replyTarget: { receiver: 'ann', receiverType: 'user' },
  ...overrides,
});

/** The answer ids of the user messages stored for a platform message. */
async function answersTo(db: DataSource, botId: string, platformMessageId: string): Promise<string[]> {
  const rows = await db.query(
    `SELECT answer_id FROM messages WHERE bot_provider_id = $1 AND platform_message_id = $2 AND role = 'user'`,
    [botId, platformMessageId],
  );
  return rows.map((row: { answer_id: string }) => row.answer_id);
}

/**
 * Makes the answer rows of waiting questions as a worker's claim makes them (generating), for ROLE=api tests,
 * which run no worker and set the rows' state themselves.
 */
async function claimAsWorker(db: DataSource, answerIds: string[]): Promise<void> {
  await db.query(
    `INSERT INTO messages (id, chat_id, bot_provider_id, platform, role, conversation_key, reply_to_id, sender_id,
       content, status, delivery_status, reply_target, attempts, started_at, created_at)
     SELECT answer_id, chat_id, bot_provider_id, platform, 'assistant', conversation_key, id, 'bot', '', 'generating',
       'pending', reply_target, 1, now(), created_at
     FROM messages WHERE answer_id = ANY($1::uuid[]) AND role = 'user' AND status = 'waiting'`,
    [answerIds],
  );
  await db.query(
    `UPDATE messages SET status = 'received' WHERE answer_id = ANY($1::uuid[]) AND role = 'user'`,
    [answerIds],
  );
}

/** What a test gets from withOwnApp. */
interface OwnApp {
  t: TestApp;
  botId: string;
  delivery: RecordingDelivery;
  engine: ConversationService;
  db: DataSource;
}

/**
 * Runs `test` on an app and fake model of its own, with a bot set up, and closes them after: for settings the
 * shared app does not have (e.g. ROLE=api: no worker, so rows stay as the test sets them).
 */
async function withOwnApp(env: Record<string, string>, test: (app: OwnApp) => Promise<void>): Promise<void> {
  const llm = await startFakeOpenAiServer();
  const t = await startTestApp(env);
  try {
    const { botId, delivery } = await setUpBot(t, llm);
    await test({ t, botId, delivery, engine: t.app.get(ConversationService), db: t.app.get(DataSource) });
  } finally {
    await t.close();
    await llm.close();
  }
}

async function answerOf(t: TestApp, answerId: string) {
  return waitFor(`answer ${answerId} to finish`, async () => {
    const snapshot = await t.app.get(ConversationService).snapshot(answerId);
    return snapshot?.finished ? snapshot : undefined;
  });
}

describe('Conversation engine', () => {
  let t: TestApp;
  let llm: FakeOpenAiServer;
  let botId: string;
  let delivery: RecordingDelivery;
  let engine: ConversationService;

  beforeAll(async () => {
    llm = await startFakeOpenAiServer();
    t = await startTestApp({ ANSWER_STALE_SECONDS: '2' });
    ({ botId, delivery } = await setUpBot(t, llm));
    engine = t.app.get(ConversationService);
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('answers a message, records it and hands the answer to the channel once', async () => {
    const before = chatRequests(llm).length;
    const result = await engine.accept(inbound(botId, { text: 'hello there' }));
    expect(result).toMatchObject({ duplicate: false, ignored: false });
    const answer = await answerOf(t, result.answerId);
    expect(answer.status).toBe('done');
    expect(answer.content).toContain('hello there');
    expect(chatRequests(llm)).toHaveLength(before + 1);
    await waitFor('delivery', () => delivery.delivered.find((item) => item.answerId === result.answerId));
    const rows = await t.app
      .get(DataSource)
      .query(
        `SELECT delivery_status, prompt_tokens, completion_tokens, latency_ms FROM messages WHERE id = $1`,
        [result.answerId],
      );
    await waitFor('delivery recorded', async () => {
      const [row] = await t.app
        .get(DataSource)
        .query(`SELECT delivery_status FROM messages WHERE id = $1`, [result.answerId]);
      return row.delivery_status === 'delivered';
    });
    expect(rows[0].completion_tokens).toBeGreaterThan(0);
    expect(rows[0].prompt_tokens).toBeGreaterThan(0);
  });

  it('gives a retried platform message the same answer and asks the model once', async () => {
    const message = inbound(botId, { chatKey: 'dup-user', senderId: 'dup-user', text: 'only once please' });
    const results = await Promise.all(Array.from({ length: 5 }, () => engine.accept(message)));
    const ids = new Set(results.map((result) => result.answerId));
    expect(ids.size).toBe(1);
    expect(results.filter((result) => result.duplicate)).toHaveLength(4);
    await answerOf(t, results[0].answerId);
    await waitFor('delivery', () => delivery.delivered.some((item) => item.answerId === results[0].answerId));
    expect(chatRequests(llm).filter((body) => promptText(body).includes('only once please'))).toHaveLength(1);
    expect(delivery.delivered.filter((item) => item.answerId === results[0].answerId)).toHaveLength(1);
  });

  it('sends the third question to the model with the first two turns', async () => {
    const user = { chatKey: 'history-user', senderId: 'history-user' };
    for (const text of ['first question alpha', 'second question beta']) {
      await answerOf(t, (await engine.accept(inbound(botId, { ...user, text }))).answerId);
    }
    await answerOf(
      t,
      (await engine.accept(inbound(botId, { ...user, text: 'third question gamma' }))).answerId,
    );
    const third = chatRequests(llm).find((body) =>
      body.messages.at(-1)?.content.includes('third question gamma'),
    );
    expect(third).toBeDefined();
    const turns = third!.messages.slice(1, -1);
    expect(turns.map((turn) => turn.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    expect(turns[0].content).toBe('first question alpha');
    expect(turns[1].content).toMatch(/^Echo: .*first question alpha/s);
    expect(turns[2].content).toBe('second question beta');
    expect(turns[3].content).toMatch(/^Echo: .*second question beta/s);
  });

  it('keeps two group members’ histories apart with per-user context', async () => {
    const group = { chatKey: 'group-1', isGroup: true, mentionedBot: true };
    await answerOf(
      t,
      (await engine.accept(inbound(botId, { ...group, senderId: 'amy', text: 'amy secret mango' }))).answerId,
    );
    await answerOf(
      t,
      (await engine.accept(inbound(botId, { ...group, senderId: 'bob', text: 'bob secret kiwi' }))).answerId,
    );
    await answerOf(
      t,
      (await engine.accept(inbound(botId, { ...group, senderId: 'amy', text: 'amy asks again' }))).answerId,
    );
    const amy = chatRequests(llm).find((body) => body.messages.at(-1)?.content.includes('amy asks again'));
    expect(promptText(amy!)).toContain('amy secret mango');
    expect(promptText(amy!)).not.toContain('bob secret kiwi');
  });

  it('answers the messages of one conversation in order, one at a time', async () => {
    const user = { chatKey: 'burst-user', senderId: 'burst-user' };
    llm.script.enqueue({ endpoint: 'chat', kind: 'reply', tokens: ['slow ', 'first'], tokenDelayMs: 300 });
    const first = await engine.accept(inbound(botId, { ...user, text: 'burst one' }));
    const second = await engine.accept(inbound(botId, { ...user, text: 'burst two' }));
    await answerOf(t, second.answerId);
    const secondRequest = chatRequests(llm).find((body) =>
      body.messages.at(-1)?.content.includes('burst two'),
    );
    expect(promptText(secondRequest!)).toContain('slow first');
    expect((await answerOf(t, first.answerId)).content).toBe('slow first');
  });

  it('makes the answer row with the id handed out at accept, and the question stops waiting', async () => {
    const result = await engine.accept(inbound(botId, { chatKey: 'claimed', senderId: 'claimed' }));
    expect((await answerOf(t, result.answerId)).answerId).toBe(result.answerId);
    const rows = await t.app
      .get(DataSource)
      .query(`SELECT role, status FROM messages WHERE id = $1 OR answer_id = $1 ORDER BY role DESC`, [
        result.answerId,
      ]);
    expect(rows).toEqual([
      { role: 'user', status: 'received' },
      { role: 'assistant', status: 'done' },
    ]);
  });

  it('keeps a question waiting as itself, with no answer row, until a worker takes it; its snapshot shows it queued', async () => {
    await withOwnApp({ ROLE: 'api' }, async ({ botId, engine, db }) => {
      const result = await engine.accept(inbound(botId, { chatKey: 'waiting', senderId: 'waiting' }));
      expect(await engine.snapshot(result.answerId)).toMatchObject({
        answerId: result.answerId,
        status: 'queued',
        content: '',
        finished: false,
      });
      const rows = await db.query(`SELECT role, status FROM messages WHERE id = $1 OR answer_id = $1`, [
        result.answerId,
      ]);
      expect(rows).toEqual([{ role: 'user', status: 'waiting' }]);
    });
  });

  it('shows a notice as the answer from the start, before any worker has written it', async () => {
    await withOwnApp({ ROLE: 'api' }, async ({ botId, engine, db }) => {
      const result = await engine.accept(inbound(botId, { text: '', unsupportedContent: 'sticker' }));
      expect(await engine.snapshot(result.answerId)).toMatchObject({
        status: 'done',
        content: result.immediateReply,
        finished: true,
      });
      const rows = await db.query(
        `SELECT role, status, notice FROM messages WHERE answer_id = $1 OR id = $1`,
        [result.answerId],
      );
      expect(rows).toEqual([{ role: 'user', status: 'waiting', notice: 'unsupported' }]);
    });
  });

  it('leaves a slow delivery to its worker past the stale time, and delivers each answer once', async () => {
    let release!: () => void;
    delivery.holdUntil = new Promise<void>((resolve) => (release = resolve));
    try {
      const { answerId } = await engine.accept(
        inbound(botId, { chatKey: 'slow-platform', senderId: 'slow' }),
      );
      await waitFor(
        'the delivery to start',
        async () => delivery.delivered.some((answer) => answer.answerId === answerId) || undefined,
      );
      // Twice ANSWER_STALE_SECONDS: the worker touches the row while it waits on the platform.
      await new Promise((resolve) => setTimeout(resolve, 4000));
      await t.app.get(AnswerWorker).sweep();
      release();
      await waitFor('the delivery to be recorded', async () => {
        const [row] = await t.app
          .get(DataSource)
          .query(`SELECT delivery_status FROM messages WHERE id = $1`, [answerId]);
        return row.delivery_status === 'delivered' || undefined;
      });
      expect(delivery.delivered.filter((answer) => answer.answerId === answerId)).toHaveLength(1);
    } finally {
      delivery.holdUntil = undefined;
      release();
    }
  });

  it('ends with the store’s fallback message when the model is unreachable', async () => {
    const dead = await startFakeOpenAiServer();
    await dead.close();
    const model = await t
      .admin()
      .post('/api/v1/providers')
      .send({
        name: 'dead-llm',
        category: 'model',
        type: 'openai-compatible',
        config: { baseUrl: dead.baseUrl, model: 'x', timeoutMs: 2000 },
      })
      .expect(201);
    const store = await t
      .admin()
      .post('/api/v1/stores')
      .send({
        name: 'dead-store',
        modelProviderId: model.body.id,
        fallbackMessage: 'Sorry, try again later.',
      })
      .expect(201);
    const bot = await t
      .admin()
      .post('/api/v1/providers')
      .send({
        name: 'comet-dead',
        category: 'bot',
        type: 'cometchat',
        config: {
          appId: 'app2',
          region: 'eu',
          apiKey: 'k',
          botUid: 'dead_bot',
          basicAuthUsername: 'u',
          basicAuthPassword: 'p',
          storeId: store.body.id,
        },
      })
      .expect(201);
    const result = await engine.accept(inbound(bot.body.id, { text: 'will fail' }));
    const answer = await answerOf(t, result.answerId);
    expect(answer).toMatchObject({ status: 'failed', content: 'Sorry, try again later.' });
    await waitFor('fallback delivered', () =>
      delivery.delivered.find((item) => item.answerId === result.answerId),
    );
    const [row] = await t.app
      .get(DataSource)
      .query(`SELECT error FROM messages WHERE id = $1`, [result.answerId]);
    expect(row.error).toMatch(/model/);
  });

  describe('policies', () => {
    it('ignores group messages that do not mention the bot, and bots', async () => {
      const group = await engine.accept(
        inbound(botId, { chatKey: 'group-2', isGroup: true, mentionedBot: false }),
      );
      expect(group.ignored).toBe(true);
      const bot = await engine.accept(inbound(botId, { senderIsBot: true }));
      expect(bot.ignored).toBe(true);
    });

    it('answers an image politely without calling the model', async () => {
      const result = await engine.accept(inbound(botId, { text: '', unsupportedContent: 'image' }));
      expect(result.immediateReply).toMatch(/text/);
      const answer = await answerOf(t, result.answerId);
      expect(answer.content).toBe(result.immediateReply);
      await waitFor('notice delivered', () =>
        delivery.delivered.find((item) => item.answerId === result.answerId),
      );
      // Written by a worker like every answer, but not by the model: no tokens, no generation time. (Counting
      // the fake's requests instead would also count earlier tests' answers still running.)
      const [row] = await t.app
        .get(DataSource)
        .query(`SELECT status, prompt_tokens, latency_ms FROM messages WHERE id = $1`, [result.answerId]);
      expect(row).toEqual({ status: 'done', prompt_tokens: 0, latency_ms: null });
    });

    it('refuses an overlong question politely, in the user’s language', async () => {
      const result = await engine.accept(inbound(botId, { text: '问'.repeat(5000) }));
      expect(result.immediateReply).toContain('太长');
    });

    it('rate-limits a user who sends too fast', async () => {
      const user = { chatKey: 'spammer', senderId: 'spammer', text: 'hi' };
      const results: AcceptResult[] = [];
      for (let index = 0; index < 6; index++) results.push(await engine.accept(inbound(botId, user)));
      expect(results.slice(0, 5).every((result) => result.immediateReply === undefined)).toBe(true);
      expect(results[5].immediateReply).toMatch(/wait a minute/);
      // The notice is stored done; a worker claims its delivery from the row.
      const notice = await waitFor('the notice to be delivered', async () =>
        delivery.delivered.find((answer) => answer.answerId === results[5].answerId),
      );
      expect(notice.content).toMatch(/wait a minute/);
    });
  });

  describe('daily token budget', () => {
    const tokensToday = async (botProviderId: string): Promise<number> => {
      const [row] = await t.app
        .get(DataSource)
        .query(
          `SELECT coalesce(sum(tokens), 0)::int AS tokens FROM bot_daily_tokens WHERE bot_provider_id = $1 AND day = current_date`,
          [botProviderId],
        );
      return row.tokens as number;
    };

    it('counts the tokens of finished answers and answers politely, without the model, once they reach it', async () => {
      const bot = await t
        .admin()
        .post('/api/v1/providers')
        .send({
          name: 'thrifty-bot',
          category: 'bot',
          type: 'cometchat',
          config: {
            appId: 'app2',
            region: 'eu',
            apiKey: 'comet-key',
            botUid: 'thrifty_bot',
            basicAuthUsername: 'u',
            basicAuthPassword: 'p',
            rateLimitPerMinute: 0,
            dailyTokenBudget: 1_000_000,
          },
        })
        .expect(201);
      const thriftyId = bot.body.id as string;
      const ask = (text: string) =>
        engine.accept(inbound(thriftyId, { chatKey: 'thrift', senderId: 'thrift', text }));

      const first = await ask('What is the refund policy?');
      expect(first.immediateReply).toBeUndefined();
      await answerOf(t, first.answerId);
      const [used] = await t.app
        .get(DataSource)
        .query(`SELECT prompt_tokens + completion_tokens AS tokens FROM messages WHERE id = $1`, [
          first.answerId,
        ]);
      expect(used.tokens).toBeGreaterThan(0);
      // Exactly this bot's answer, though the other bot's answers of earlier tests may still be finishing.
      expect(await tokensToday(thriftyId)).toBe(used.tokens);

      // A budget one token above what the first answer used: the second question still goes to the model...
      await t
        .admin()
        .patch(`/api/v1/providers/${thriftyId}`)
        .send({ config: { dailyTokenBudget: used.tokens + 1 } })
        .expect(200);
      const second = await ask('And how long does a refund take?');
      expect(second.immediateReply).toBeUndefined();
      expect((await answerOf(t, second.answerId)).status).toBe('done');
      expect(await tokensToday(thriftyId)).toBeGreaterThan(used.tokens + 1);

      // ...the third finds the day's budget spent and gets the notice, without a model call.
      const third = await ask('One more?');
      expect(third.immediateReply).toMatch(/usage limit/);
      expect((await answerOf(t, third.answerId)).content).toBe(third.immediateReply);
      // Asked by question text: earlier tests' answers of the other bot may still be calling the model.
      expect(chatRequests(llm).filter((body) => promptText(body).includes('One more?'))).toEqual([]);
    });
  });

  describe('admin API', () => {
    it('lists conversations with filters and shows their messages', async () => {
      const all = await t.admin().get(`/api/v1/conversations?botId=${botId}`).expect(200);
      expect(all.body.total).toBeGreaterThan(3);
      const amy = await t.admin().get('/api/v1/conversations?user=amy').expect(200);
      expect(amy.body.items).toHaveLength(1);
      expect(amy.body.items[0]).toMatchObject({ chatKey: 'group-1', isGroup: true });
      expect(amy.body.items[0].participants.map((p: { id: string }) => p.id).sort()).toEqual(['amy', 'bob']);
      const messages = await t
        .admin()
        .get(`/api/v1/conversations/${amy.body.items[0].id}/messages`)
        .expect(200);
      expect(messages.body.items.map((m: { role: string }) => m.role)).toEqual([
        'user',
        'assistant',
        'user',
        'assistant',
        'user',
        'assistant',
      ]);
      expect(messages.body.items[1]).toMatchObject({ status: 'done', deliveryStatus: 'delivered' });
      await t.admin().get('/api/v1/conversations?from=yesterday').expect(400);
      await t.admin().get('/api/v1/conversations/00000000-0000-4000-8000-000000000000/messages').expect(404);
    });

    it('exposes accept, answer, token, delivery and queue metrics for Prometheus', async () => {
      const response = await t.anonymous().get('/metrics').expect(200);
      expect(response.headers['content-type']).toMatch(/text\/plain/);
      expect(response.text).toMatch(/parley_answers_total\{outcome="done"\} [1-9]/);
      expect(response.text).toMatch(/parley_answers_total\{outcome="failed"\} [1-9]/);
      expect(response.text).toMatch(/parley_tokens_total\{kind="completion"\} [1-9]/);
      expect(response.text).toMatch(
        /parley_deliveries_total\{channel="cometchat",status="delivered"\} [1-9]/,
      );
      expect(response.text).toMatch(/parley_answer_queue_depth \d+/);
      const accepted = Number(/parley_accept_batch_size_sum (\d+)/.exec(response.text)?.[1]);
      const statements = Number(/parley_accept_batch_size_count (\d+)/.exec(response.text)?.[1]);
      expect(statements).toBeGreaterThan(0);
      expect(accepted).toBeGreaterThanOrEqual(statements);
      expect(response.text).toMatch(new RegExp(`parley_accept_seconds_count ${statements}\\b`));
      const ready = await t.anonymous().get('/health/ready').expect(200);
      expect(ready.body.checks.queue).toBe('ok');
    });

    it('reports usage with failures and latency percentiles', async () => {
      const usage = await t.admin().get(`/api/v1/usage?botId=${botId}`).expect(200);
      expect(usage.body.messages).toBeGreaterThan(5);
      expect(usage.body.answered).toBeGreaterThan(5);
      const all = await t.admin().get('/api/v1/usage').expect(200);
      expect(all.body.failures).toBeGreaterThanOrEqual(1);
      expect(usage.body.completionTokens).toBeGreaterThan(0);
      expect(usage.body.latencyP95Ms).toBeGreaterThanOrEqual(usage.body.latencyP50Ms);
    });
  });
});

describe('Conversation engine across restarts and instances', () => {
  it('finishes an answer that was generating when the app shut down', async () => {
    const llm = await startFakeOpenAiServer({
      tokens: Array.from({ length: 30 }, (_, i) => `w${i} `),
      tokenDelayMs: 100,
    });
    const t = await startTestApp({ ANSWER_STALE_SECONDS: '2' });
    try {
      const { botId } = await setUpBot(t, llm);
      const result = await t.app
        .get(ConversationService)
        .accept(inbound(botId, { text: 'long answer please' }));
      const started = await waitFor('generation to start', async () => {
        const snapshot = await t.app.get(ConversationService).snapshot(result.answerId);
        return snapshot?.content ? snapshot : undefined;
      });
      expect(started.status).toBe('generating');
      await t.restart();
      const answer = await answerOf(t, result.answerId);
      expect(answer.status).toBe('done');
      expect(answer.content).toContain('w29');
      const rows = await t.app
        .get(DataSource)
        .query(`SELECT attempts FROM messages WHERE id = $1`, [result.answerId]);
      expect(rows[0].attempts).toBe(1);
    } finally {
      await t.close();
      await llm.close();
    }
  });

  it('the sweeper queues again an answer whose worker stopped, ends one out of attempts, and leaves a live one', async () => {
    // No worker in this process, so rows stay as the test sets them; sweep() is called by hand.
    await withOwnApp(
      { ROLE: 'api', ANSWER_STALE_SECONDS: '1' },
      async ({ t, botId, delivery, engine, db }) => {
        const [live, stopped, exhausted] = await Promise.all(
          ['live', 'stopped', 'exhausted'].map((chatKey) =>
            engine.accept(inbound(botId, { chatKey, senderId: chatKey, text: `question of ${chatKey}` })),
          ),
        );
        await claimAsWorker(db, [live.answerId, stopped.answerId, exhausted.answerId]);
        const generating = (answerId: string, attempts: number, age: string) =>
          db.query(
            `UPDATE messages SET status = 'generating', attempts = $2, updated_at = now() - $3::interval WHERE id = $1`,
            [answerId, attempts, age],
          );
        await generating(live.answerId, 1, '0 seconds');
        await generating(stopped.answerId, 1, '1 hour');
        await generating(exhausted.answerId, 2, '1 hour');

        await t.app.get(AnswerWorker).sweep();
        const rows = await db.query(
          `SELECT id, status, content, delivery_status FROM messages WHERE id = ANY($1::uuid[])`,
          [[live.answerId, stopped.answerId, exhausted.answerId]],
        );
        const byId = new Map(rows.map((row: { id: string }) => [row.id, row]));
        expect(byId.get(live.answerId)).toMatchObject({ status: 'generating', delivery_status: 'pending' });
        expect(byId.get(stopped.answerId)).toMatchObject({ status: 'queued', delivery_status: 'pending' });
        expect(byId.get(exhausted.answerId)).toMatchObject({
          status: 'failed',
          content: 'Sorry, try again later.',
          delivery_status: 'delivered',
        });
        expect(delivery.delivered.map((answer) => answer.answerId)).toEqual([exhausted.answerId]);
      },
    );
  });

  it('the sweeper hands back a delivery whose worker stopped, and leaves one whose worker is alive', async () => {
    await withOwnApp({ ROLE: 'api', ANSWER_STALE_SECONDS: '1' }, async ({ t, botId, engine, db }) => {
      const [stopped, alive] = await Promise.all(
        ['stopped', 'alive'].map((chatKey) => engine.accept(inbound(botId, { chatKey, senderId: chatKey }))),
      );
      await claimAsWorker(db, [stopped.answerId, alive.answerId]);
      const sending = (answerId: string, age: string) =>
        db.query(
          `UPDATE messages SET status = 'done', content = 'an answer', delivery_status = 'sending',
             updated_at = now() - $2::interval WHERE id = $1`,
          [answerId, age],
        );
      await sending(stopped.answerId, '1 hour');
      await sending(alive.answerId, '0 seconds');

      await t.app.get(AnswerWorker).sweep();
      const status = async (answerId: string) =>
        (await db.query(`SELECT delivery_status FROM messages WHERE id = $1`, [answerId]))[0].delivery_status;
      expect(await status(stopped.answerId)).toBe('pending');
      expect(await status(alive.answerId)).toBe('sending');
    });
  });

  it('counts the answers waiting for a worker in /health/ready and /metrics', async () => {
    await withOwnApp({ ROLE: 'api' }, async ({ t, botId, engine }) => {
      await engine.accept(inbound(botId, { chatKey: 'depth-1', senderId: 'depth-1' }));
      await engine.accept(inbound(botId, { chatKey: 'depth-2', senderId: 'depth-2' }));
      const ready = await t.anonymous().get('/health/ready').expect(200);
      expect(ready.body.answerQueueDepth).toBe(2);
      const metrics = await t.anonymous().get('/metrics').expect(200);
      expect(metrics.text).toMatch(/^parley_answer_queue_depth 2$/m);
    });
  });

  it('leaves waiting questions alone for workers of the previous version during a rolling upgrade', async () => {
    // The previous version's answer claim (before migration 1763780000500), as its workers still run it.
    const previousClaim = `
      UPDATE messages SET status = 'generating', attempts = attempts + 1, updated_at = now()
      WHERE id = (
        SELECT m.id FROM messages m
        WHERE m.status = 'queued' AND NOT EXISTS (
          SELECT 1 FROM messages earlier
          WHERE earlier.bot_provider_id = m.bot_provider_id AND earlier.conversation_key = m.conversation_key
            AND earlier.role = 'assistant' AND earlier.status IN ('queued', 'generating')
            AND (earlier.created_at, earlier.id) < (m.created_at, m.id))
        ORDER BY m.updated_at LIMIT 1
        FOR UPDATE OF m SKIP LOCKED)
      RETURNING id`;
    await withOwnApp({ ROLE: 'api' }, async ({ botId, engine, db }) => {
      const { answerId } = await engine.accept(inbound(botId, { chatKey: 'upgrade', senderId: 'upgrade' }));
      const [claimed] = (await db.query(previousClaim)) as [unknown[], number];
      expect(claimed).toEqual([]);
      const rows = await db.query(`SELECT status FROM messages WHERE answer_id = $1`, [answerId]);
      expect(rows).toEqual([{ status: 'waiting' }]);
    });
  });

  it('rolling back the migration gives waiting questions the answer rows older versions expect', async () => {
    await withOwnApp({ ROLE: 'api' }, async ({ botId, engine, db }) => {
      const question = await engine.accept(inbound(botId, { chatKey: 'back-1', senderId: 'back-1' }));
      const notice = await engine.accept(
        inbound(botId, { chatKey: 'back-2', senderId: 'back-2', text: '', unsupportedContent: 'image' }),
      );
      await db.undoLastMigration();
      try {
        const rows = await db.query(
          `SELECT a.id, a.status, a.content, u.status AS question_status
           FROM messages a JOIN messages u ON u.id = a.reply_to_id WHERE a.id = ANY($1::uuid[]) ORDER BY a.status`,
          [[question.answerId, notice.answerId]],
        );
        expect(rows).toEqual([
          {
            id: notice.answerId,
            status: 'done',
            content: notice.immediateReply,
            question_status: 'received',
          },
          { id: question.answerId, status: 'queued', content: '', question_status: 'received' },
        ]);
      } finally {
        await db.runMigrations();
      }
    });
  });

  it('stores a message delivered twice once, with one answer id, and counts it once', async () => {
    await withOwnApp({ ROLE: 'api' }, async ({ t, botId, engine }) => {
      const message = inbound(botId, { chatKey: 'twice', senderId: 'twice' });
      const first = await engine.accept(message);
      const again = await engine.accept(message);
      expect(again).toMatchObject({ answerId: first.answerId, duplicate: true });

      const db = t.app.get(DataSource);
      expect(await answersTo(db, botId, message.platformMessageId)).toEqual([first.answerId]);
      const [chat] = await db.query(`SELECT message_count FROM chats WHERE chat_key = 'twice'`);
      expect(chat.message_count).toBe(1);
    });
  });

  it('stores messages that arrive together in shared statements, each once, in order, counted once', async () => {
    await withOwnApp({ ROLE: 'api' }, async ({ botId, engine, db }) => {
      const inGroup = { isGroup: true, mentionedBot: true };
      const earlier = inbound(botId, { ...inGroup, chatKey: 'group-1' });
      const stored = await engine.accept(earlier);

      // 24 new messages in three group chats from eight senders, then three from one user in a private
      // chat; one of the 24 delivered twice in the burst, and the message stored above delivered again.
      const burst = Array.from({ length: 24 }, (_, index) =>
        inbound(botId, {
          ...inGroup,
          chatKey: `group-${index % 3}`,
          senderId: `sender-${index % 8}`,
          senderName: `Sender ${index % 8}`,
          text: `burst question ${index}`,
        }),
      );
      const dave = [1, 2, 3].map((n) =>
        inbound(botId, { chatKey: 'dave', senderId: 'dave', text: `burst question from dave ${n}` }),
      );
      const deliveries = [...burst, ...dave, burst[5], earlier];
      const results = await Promise.all(deliveries.map((message) => engine.accept(message)));

      const fresh = results.slice(0, 27);
      expect(fresh.every((result) => !result.duplicate && result.answerId)).toBe(true);
      expect(new Set(fresh.map((result) => result.answerId)).size).toBe(27);
      expect(results[27]).toEqual({ answerId: fresh[5].answerId, duplicate: true, ignored: false });
      expect(results[28]).toEqual({ answerId: stored.answerId, duplicate: true, ignored: false });

      const [{ transactions }] = await db.query(
        `SELECT count(DISTINCT xmin::text)::int AS transactions FROM messages
         WHERE content LIKE 'burst question%'`,
      );
      expect(transactions).toBeLessThan(27);
      const chats = await db.query(
        `SELECT chat_key, message_count, jsonb_array_length(participants) AS participants FROM chats
         WHERE bot_provider_id = $1 ORDER BY chat_key`,
        [botId],
      );
      expect(chats).toEqual([
        { chat_key: 'dave', message_count: 3, participants: 1 },
        { chat_key: 'group-0', message_count: 8, participants: 8 },
        { chat_key: 'group-1', message_count: 9, participants: 9 },
        { chat_key: 'group-2', message_count: 8, participants: 8 },
      ]);
      const daveSaid = await db.query(
        `SELECT content FROM messages WHERE conversation_key = 'dave' AND role = 'user' ORDER BY created_at, id`,
      );
      expect(daveSaid.map((row: { content: string }) => row.content)).toEqual(dave.map((m) => m.text));
      const [{ questions }] = await db.query(
        `SELECT count(*)::int AS questions FROM messages WHERE role = 'user' AND bot_provider_id = $1`,
        [botId],
      );
      expect(questions).toBe(28);
      const [{ queued }] = await db.query(
        `SELECT count(*)::int AS queued FROM messages
         WHERE answer_id = ANY($1::uuid[]) AND role = 'user' AND status = 'waiting'`,
        [fresh.map((result) => result.answerId)],
      );
      expect(queued).toBe(fresh.length);
    });
  });

  it('asks the model once for a message delivered five times to two instances', async () => {
    const llm = await startFakeOpenAiServer();
    const first = await startTestApp({ ANSWER_STALE_SECONDS: '2' });
    // Two instances need a shared server database; the embedded one belongs to a single process.
    const second = realPostgresUrl()
      ? await startTestApp({ ANSWER_STALE_SECONDS: '2' }, { database: first.database })
      : first;
    try {
      const { botId, delivery } = await setUpBot(first, llm);
      const secondDelivery = new RecordingDelivery('cometchat');
      second.app.get(ChannelRegistry).register(second === first ? delivery : secondDelivery);
      const message = inbound(botId, { text: 'exactly one model call' });
      const instances = [first, second, first, second, first];
      const results = await Promise.all(instances.map((t) => t.app.get(ConversationService).accept(message)));
      expect(new Set(results.map((result) => result.answerId)).size).toBe(1);
      await answerOf(first, results[0].answerId);
      await waitFor('one delivery', () => delivery.delivered.length + secondDelivery.delivered.length === 1);
      expect(chatRequests(llm)).toHaveLength(1);
      const chats = await first.app
        .get(DataSource)
        .query(`SELECT message_count FROM chats WHERE bot_provider_id = $1`, [botId]);
      expect(chats).toEqual([{ message_count: 1 }]);
    } finally {
      if (second !== first) await second.close();
      await first.close();
      await llm.close();
    }
  });
});
