import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConversationService } from '../src/conversation/conversation.service.js';
import { FakeOpenAiServer, startFakeOpenAiServer } from './fakes/fake-openai-server.js';
import { realPostgresUrl } from './support/test-database.js';
import { startTestApp, TestApp } from './support/test-app.js';
import { newAesKey, WeComClient } from './support/wecom-client.js';

/**
 * Two instances share one Postgres, and a load balancer alternates requests between them: a WeCom stream
 * started on one instance is refreshed on the other, which did not generate the answer.
 * Two instances need a server database; the embedded one belongs to a single process.
 */
(realPostgresUrl() ? describe : describe.skip)('Two instances behind a load balancer (real Postgres)', () => {
  let llm: FakeOpenAiServer;
  let first: TestApp;
  let second: TestApp;
  let clients: WeComClient[];

  beforeAll(async () => {
    llm = await startFakeOpenAiServer({ tokens: ['shared ', 'state ', 'answer'], tokenDelayMs: 150 });
    first = await startTestApp();
    second = await startTestApp({}, { database: first.database });
    const model = await first
      .admin()
      .post('/api/v1/providers')
      .send({
        name: 'llm',
        category: 'model',
        type: 'openai-compatible',
        config: { baseUrl: llm.baseUrl, model: 'fake' },
      })
      .expect(201);
    await first
      .admin()
      .post('/api/v1/stores')
      .send({ name: 'kb', modelProviderId: model.body.id })
      .expect(201);
    const botId = `aib${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const token = `tok${randomBytes(8).toString('hex')}`;
    const aesKey = newAesKey();
    await second
      .admin()
      .post('/api/v1/providers')
      .send({
        name: 'wecom',
        category: 'bot',
        type: 'wecom-bot',
        config: { botId, token, encodingAesKey: aesKey },
      })
      .expect(201);
    clients = [first, second].map((t) => new WeComClient(() => t, botId, token, aesKey));
  });
  afterAll(async () => {
    await llm?.close();
    await first?.database.drop();
  });

  it('serves a WeCom refresh from the instance that did not generate, and the answer completes', async () => {
    const [a, b] = clients;
    const firstReply = await a.ask(a.text('which instance answers?'));
    expect(firstReply.stream.finish).toBe(false);
    const seen = await b.refreshUntilFinished(firstReply.stream.id);
    const last = seen.at(-1)!;
    expect(last.stream.id).toBe(firstReply.stream.id);
    expect(last.stream.content).toBe('shared state answer');
  });

  it('gives a WeCom retry on the other instance the same stream and asks the model once', async () => {
    const [a, b] = clients;
    const message = a.text('retried across instances');
    const before = llm.requests.filter((request) => request.endpoint === 'chat').length;
    const replies = await Promise.all([a.ask(message), b.ask(message), a.ask(message), b.ask(message)]);
    expect(new Set(replies.map((reply) => reply.stream.id)).size).toBe(1);
    const done = (await a.refreshUntilFinished(replies[0].stream.id)).at(-1)!;
    expect(done.stream.content).toBe('shared state answer');
    expect(llm.requests.filter((request) => request.endpoint === 'chat').length).toBe(before + 1);
  });

  it('splits roles: an api-only instance accepts, a worker-only instance answers', async () => {
    // The two general instances leave, so nothing but the role-specific instances works the queue.
    await second.close();
    await first.app.close();
    const api = await startTestApp({ ROLE: 'api' }, { database: first.database });
    let worker: TestApp | undefined;
    try {
      const client = new WeComClient(() => api, clients[0].botId, clients[0].token, clients[0].aesKey);
      const reply = await client.ask(client.text('answered by the worker role'));
      await sleep(1500);
      expect((await api.app.get(ConversationService).snapshot(reply.stream.id))?.status).toBe('queued');
      worker = await startTestApp({ ROLE: 'worker' }, { database: first.database });
      const done = (await client.refreshUntilFinished(reply.stream.id)).at(-1)!;
      expect(done.stream.content).toBe('shared state answer');
    } finally {
      await worker?.close();
      await api.close();
    }
  });
});
