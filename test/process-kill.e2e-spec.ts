import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import request from 'supertest';
import { startFakeCometChatServer, type FakeCometChatServer } from './fakes/fake-cometchat-server.js';
import { FakeOpenAiServer, startFakeOpenAiServer } from './fakes/fake-openai-server.js';
import { TEST_ADMIN_KEY, TEST_SECRET_KEY } from './support/test-app.js';
import { createTestDatabase, type TestDatabase } from './support/test-database.js';
import { waitFor } from './support/wait.js';

/**
 * A Parley process is killed (SIGKILL: no shutdown hooks) while it is generating an answer. After a restart
 * on the same database the answer completes and reaches the platform once — nothing stays "thinking".
 * Runs the compiled service as a real child process, on the embedded database or real Postgres.
 */
const APP_ID = 'killapp';
const BOT_UID = 'kill_bot';
const API_KEY = 'comet-rest-key';

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

describe('A process killed mid-answer', () => {
  let database: TestDatabase;
  let llm: FakeOpenAiServer;
  let comet: FakeCometChatServer;
  let child: ChildProcess | undefined;
  let port: number;
  const output: string[] = [];

  const start = async () => {
    child = spawn(process.execPath, ['dist/src/main.js'], {
      env: {
        PATH: process.env.PATH,
        PORT: String(port),
        DATA_DIR: database.dataDir,
        DATABASE_URL: database.url ?? '',
        ADMIN_API_KEY: TEST_ADMIN_KEY,
        SECRET_KEY: TEST_SECRET_KEY,
        LOG_LEVEL: 'warn',
        ANSWER_STALE_SECONDS: '2',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    await waitFor(
      'the service to be ready',
      () =>
        api()
          .get('/health/ready')
          .then((response) => response.status === 200),
      30_000,
    ).catch((error) => {
      throw new Error(`${(error as Error).message}\n${output.join('')}`);
    });
  };
  const api = () => request(`http://127.0.0.1:${port}`);
  const admin = (method: 'get' | 'post', path: string) =>
    api()[method](path).set('Authorization', `Bearer ${TEST_ADMIN_KEY}`);

  beforeAll(async () => {
    // The child runs the compiled service: bring dist/ up to date (incremental).
    execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
      stdio: 'pipe',
    });
    database = await createTestDatabase();
    llm = await startFakeOpenAiServer({
      tokens: Array.from({ length: 40 }, (_, i) => `w${i} `),
      tokenDelayMs: 100,
    });
    comet = await startFakeCometChatServer({ appId: APP_ID, apiKey: API_KEY, botUid: BOT_UID });
    port = await freePort();
  }, 120_000);

  afterAll(async () => {
    child?.kill('SIGKILL');
    await llm?.close();
    await comet?.close();
    await database?.drop();
  });

  it('finishes the answer after a restart and delivers it once', async () => {
    await start();
    const model = await admin('post', '/api/v1/providers')
      .send({
        name: 'llm',
        category: 'model',
        type: 'openai-compatible',
        config: { baseUrl: llm.baseUrl, model: 'fake' },
      })
      .expect(201);
    await admin('post', '/api/v1/stores').send({ name: 'kb', modelProviderId: model.body.id }).expect(201);
    const bot = await admin('post', '/api/v1/providers')
      .send({
        name: 'comet',
        category: 'bot',
        type: 'cometchat',
        config: {
          appId: APP_ID,
          region: 'eu',
          apiKey: API_KEY,
          botUid: BOT_UID,
          basicAuthUsername: 'cc',
          basicAuthPassword: 'cc-password',
          apiBaseUrl: comet.baseUrl,
        },
      })
      .expect(201);

    await api()
      .post(`/api/cometchat/callback/${bot.body.id}`)
      .auth('cc', 'cc-password')
      .send({
        trigger: 'after_message',
        data: {
          id: '9001',
          sender: 'ann',
          receiverType: 'user',
          receiver: BOT_UID,
          category: 'message',
          type: 'text',
          data: {
            text: 'a long answer please',
            entities: { sender: { entity: { uid: 'ann', name: 'Ann' } } },
          },
        },
        appId: APP_ID,
        region: 'eu',
        bot: BOT_UID,
      })
      .expect(200);

    const answerRow = async () => {
      const chats = await admin('get', `/api/v1/conversations?botId=${bot.body.id}`).expect(200);
      const messages = await admin('get', `/api/v1/conversations/${chats.body.items[0].id}/messages`).expect(
        200,
      );
      return messages.body.items.find((message: { role: string }) => message.role === 'assistant');
    };
    await waitFor('the answer to be generating', async () => {
      const answer = await answerRow();
      return answer?.status === 'generating' && answer.content.length > 0;
    });

    child!.kill('SIGKILL');
    await once(child!, 'exit');
    await start();

    const answer = await waitFor(
      'the answer to be delivered after the restart',
      async () => {
        const row = await answerRow();
        return row?.deliveryStatus === 'delivered' ? row : undefined;
      },
      30_000,
    );
    expect(answer.status).toBe('done');
    expect(answer.content).toContain('w39');
    const replies = comet.messages.filter((message) => message.receiver === 'ann');
    expect(replies).toHaveLength(1);
    expect(replies[0].text).toContain('w39');
  }, 90_000);
});
