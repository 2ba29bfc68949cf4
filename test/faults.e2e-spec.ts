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
        for (const result of accepted) {
          const answer = await finished(t, result.answerId);
          expect(['done', 'failed']).toContain(answer.status);
        }
        const answered = accepted.length;
        const [{ done }] = await t.app
          .get(DataSource)
          .query(`SELECT count(*)::int AS done FROM messages WHERE role = 'assistant' AND status = 'done'`);
        expect(done).toBeGreaterThanOrEqual(answered - 2);
      } finally {
        await t.close();
        await llm.close();
      }
    });
  },
);
