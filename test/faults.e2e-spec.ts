import { DataSource } from 'typeorm';
import { ChannelRegistry } from '../src/conversation/channel-registry.js';
import { ConversationService } from '../src/conversation/conversation.service.js';
import type { AcceptResult, InboundMessage } from '../src/conversation/conversation.types.js';
import { FakeOpenAiServer, startFakeOpenAiServer } from './fakes/fake-openai-server.js';
import { RecordingDelivery } from './support/recording-delivery.js';
import { realPostgresUrl } from './support/test-database.js';
import { startTestApp, TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';

/** Fault tests of the answer pipeline: the model misbehaves, the database drops every connection. */

async function setUp(t: TestApp, llm: FakeOpenAiServer, modelConfig: Record<string, unknown> = {}) {
  const model = await t
    .admin()
    .post('/api/v1/providers')
    .send({
      name: 'fault-llm',
      category: 'model',
      type: 'openai-compatible',
      config: { baseUrl: llm.baseUrl, model: 'fake', timeoutMs: 1000, ...modelConfig },
    })
    .expect(201);
  await t
    .admin()
    .post('/api/v1/stores')
    .send({ name: 'faults', modelProviderId: model.body.id, fallbackMessage: 'FALLBACK' })
    .expect(201);
  const bot = await t
    .admin()
    .post('/api/v1/providers')
    .send({
      name: 'fault-bot',
      category: 'bot',
      type: 'cometchat',
      config: {
        appId: 'a',
        region: 'us',
        apiKey: 'k',
        botUid: 'b',
        basicAuthUsername: 'u',
        basicAuthPassword: 'p',
        rateLimitPerMinute: 0,
      },
    })
    .expect(201);
  const delivery = new RecordingDelivery('cometchat');
  t.app.get(ChannelRegistry).register(delivery);
  return { botId: bot.body.id as string, delivery };
}

let sequence = 0;
const message = (botProviderId: string, text: string): InboundMessage => {
  const user = `user-${++sequence}`;
  return {
    botProviderId,
    platform: 'cometchat',
    platformMessageId: `fault-${sequence}`,
    chatKey: user,
    isGroup: false,
    senderId: user,
    mentionedBot: false,
    text,
    replyTarget: {},
  };
};

const finished = (t: TestApp, answerId: string) =>
  waitFor(
    `answer ${answerId}`,
    async () => {
      const snapshot = await t.app.get(ConversationService).snapshot(answerId);
      return snapshot?.finished ? snapshot : undefined;
    },
    30_000,
  );

describe('Fault tolerance', () => {
  let llm: FakeOpenAiServer;
  let t: TestApp;
  let botId: string;

  beforeAll(async () => {
    llm = await startFakeOpenAiServer();
    t = await startTestApp({ ANSWER_STALE_SECONDS: '2' });
    ({ botId } = await setUp(t, llm));
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
  });

  it('rides out a storm of 429s and answers', async () => {
    llm.script.enqueue(
      { endpoint: 'chat', kind: 'rate-limit', retryAfter: '0' },
      { endpoint: 'chat', kind: 'rate-limit', retryAfter: '0' },
    );
    const result = await t.app.get(ConversationService).accept(message(botId, 'after the storm'));
    const answer = await finished(t, result.answerId);
    expect(answer.status).toBe('done');
    expect(answer.content).toContain('after the storm');
  });

  it('ends with the fallback when the model hangs', async () => {
    llm.script.enqueue(
      ...Array.from({ length: 5 }, () => ({ endpoint: 'chat' as const, kind: 'hang' as const })),
    );
    const result = await t.app.get(ConversationService).accept(message(botId, 'hanging'));
    const answer = await finished(t, result.answerId);
    expect(answer).toMatchObject({ status: 'failed', content: 'FALLBACK' });
    const [row] = await t.app
      .get(DataSource)
      .query(`SELECT error FROM messages WHERE id = $1`, [result.answerId]);
    expect(row.error).toMatch(/timeout/);
  });

  it('ends with the fallback when the stream breaks halfway', async () => {
    llm.script.enqueue({ endpoint: 'chat', kind: 'disconnect', afterTokens: 1 });
    const result = await t.app.get(ConversationService).accept(message(botId, 'broken stream'));
    expect(await finished(t, result.answerId)).toMatchObject({ status: 'failed', content: 'FALLBACK' });
  });
});

// Killing every connection needs a server database; the embedded one lives inside the process.
(realPostgresUrl() ? describe : describe.skip)(
  'Postgres connections dropped under load (real Postgres)',
  () => {
    it('starts again, and finishes, an answer whose connection is terminated mid-statement', async () => {
      // 20 tokens 100 ms apart: partial writes every 300 ms, so the answer is mid-stream when its row is locked.
      const llm = await startFakeOpenAiServer({
        tokens: Array.from({ length: 20 }, (_, index) => `t${index} `),
        tokenDelayMs: 100,
      });
      const t = await startTestApp();
      const killer = new (await import('pg')).default.Client({ connectionString: t.database.url });
      await killer.connect();
      try {
        const { botId } = await setUp(t, llm, { timeoutMs: 10_000 });
        const { answerId } = await t.app.get(ConversationService).accept(message(botId, 'cut off'));
        const db = t.app.get(DataSource);
        await waitFor('the answer to start', async () => {
          const [row] = await db.query(`SELECT status FROM messages WHERE id = $1`, [answerId]);
          return row.status === 'generating';
        });
        // Hold the answer's row so the worker's next partial write waits on it, then kill that backend:
        // the statement in flight fails with 57P01, as it would in a Postgres restart.
        await killer.query('BEGIN');
        await killer.query(`SELECT 1 FROM messages WHERE id = $1 FOR UPDATE`, [answerId]);
        // Asked outside the locker's transaction, which would see pg_stat_activity as of its first read.
        const pid = await waitFor('the partial write to wait on the row lock', async () => {
          const [waiting] = await db.query(
            `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
               AND query LIKE 'UPDATE messages SET content%'`,
          );
          return waiting?.pid as number | undefined;
        });
        await db.query(`SELECT pg_terminate_backend($1)`, [pid]);
        await killer.query('ROLLBACK');
        const answer = await finished(t, answerId);
        expect(answer).toMatchObject({ status: 'done', content: expect.stringContaining('t19') });
        const [row] = await db.query(`SELECT attempts, error FROM messages WHERE id = $1`, [answerId]);
        expect(row).toEqual({ attempts: 2, error: null });
      } finally {
        await killer.end();
        await t.close();
        await llm.close();
      }
    });

    it('reconnects and loses no accepted message', async () => {
      const llm = await startFakeOpenAiServer({ tokenDelayMs: 20 });
      const t = await startTestApp({ ANSWER_STALE_SECONDS: '2' });
      try {
        const { botId } = await setUp(t, llm, { timeoutMs: 5000 });
        const engine = t.app.get(ConversationService);
        const accepted: AcceptResult[] = [];
        const send = async (count: number) => {
          const results = await Promise.allSettled(
            Array.from({ length: count }, (_, index) => engine.accept(message(botId, `load ${index}`))),
          );
          for (const result of results) if (result.status === 'fulfilled') accepted.push(result.value);
        };
        await send(10);
        const [{ db }] = await t.app.get(DataSource).query(`SELECT current_database() AS db`);
        const killer = new (await import('pg')).default.Client({ connectionString: realPostgresUrl() });
        await killer.connect();
        await killer.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [db]);
        await killer.end();
        await send(10);
        await waitFor('the app to reconnect', () =>
          t
            .anonymous()
            .get('/health/ready')
            .then((response) => response.status === 200),
        );
        await send(10);
        expect(accepted.length).toBeGreaterThanOrEqual(20);
        for (const result of accepted) await finished(t, result.answerId);
        // Answers cut off by the dropped connections start again: the model was fine, so every one is done.
        const notDone = await t.app
          .get(DataSource)
          .query(`SELECT status, error FROM messages WHERE id = ANY($1) AND status <> 'done'`, [
            accepted.map((result) => result.answerId),
          ]);
        expect(notDone).toEqual([]);
      } finally {
        await t.close();
        await llm.close();
      }
    });
  },
);
