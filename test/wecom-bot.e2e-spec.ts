import { encrypt, getSignature } from '@wecom/crypto';
import fc from 'fast-check';
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { FakeOpenAiServer, startFakeOpenAiServer } from './fakes/fake-openai-server.js';
import { createHelpdeskStore } from './fixtures/store-fixtures.js';
import { startTestApp, TestApp } from './support/test-app.js';
import { waitFor } from './support/wait.js';
import { newAesKey, nowSeconds, type StreamReplyJson, WeComClient } from './support/wecom-client.js';

// ---------------------------------------------------------------- a fake response_url endpoint

interface FakeResponseUrl {
  url: (code: string) => string;
  posts: { path: string; body: { msgtype: string; markdown: { content: string } } }[];
  /** Status codes to answer the next requests with (then 200 {errcode: 0}). */
  failNext: number[];
  close(): Promise<void>;
}

async function startFakeResponseUrl(): Promise<FakeResponseUrl> {
  const posts: FakeResponseUrl['posts'] = [];
  const failNext: number[] = [];
  const server: Server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => {
      const status = failNext.shift();
      if (status) {
        res.writeHead(status).end();
        return;
      }
      posts.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(parts).toString('utf8')) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"errcode":0,"errmsg":"ok"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (code) => `http://127.0.0.1:${port}/cgi-bin/aibot/response?response_code=${code}`,
    posts,
    failNext,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------- setup

const WELCOME = 'Hi! Ask me anything about IT.';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface ChatRequestBody {
  messages: { role: string; content: string }[];
}
const chatRequests = (llm: FakeOpenAiServer) =>
  llm.requests
    .filter((request) => request.endpoint === 'chat')
    .map((request) => request.body as ChatRequestBody);
const lastUserMessage = (body: ChatRequestBody) =>
  [...body.messages].reverse().find((message) => message.role === 'user')?.content ?? '';
/** The fake LLM's answer to the request that carried `question` ("Echo: <the prompt's last user message>"). */
function echoOf(llm: FakeOpenAiServer, question: string): string {
  const request = chatRequests(llm).find((body) => lastUserMessage(body).includes(question));
  if (!request) throw new Error(`the model was never asked "${question}"`);
  return `Echo: ${lastUserMessage(request)}`;
}

/** A model (the fake LLM) and the default store, once per app. */
async function setUpStore(t: TestApp, llm: FakeOpenAiServer): Promise<void> {
  await createHelpdeskStore(t, llm.baseUrl, {
    welcomeMessage: WELCOME,
    fallbackMessage: 'Sorry, try again later.',
  });
}

/** A WeCom bot provider answering from the default store, and a client that plays WeCom for it. */
async function setUpWeComBot(t: TestApp, botConfig: Record<string, unknown> = {}) {
  const botId = `aib${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const token = `tok${randomBytes(8).toString('hex')}`;
  const aesKey = newAesKey();
  const bot = await t
    .admin()
    .post('/api/v1/providers')
    .send({
      name: `wecom-${botId}`,
      category: 'bot',
      type: 'wecom-bot',
      config: { botId, token, encodingAesKey: aesKey, rateLimitPerMinute: 1000, ...botConfig },
    })
    .expect(201);
  return { providerId: bot.body.id as string, client: new WeComClient(() => t, botId, token, aesKey) };
}

const messageCount = async (t: TestApp) =>
  Number((await t.app.get(DataSource).query(`SELECT count(*)::int AS n FROM messages`))[0].n);

// ---------------------------------------------------------------- tests

describe('WeCom AI bot callback', () => {
  let t: TestApp;
  let llm: FakeOpenAiServer;
  let responseUrl: FakeResponseUrl;
  let client: WeComClient;
  let providerId: string;

  beforeAll(async () => {
    llm = await startFakeOpenAiServer();
    responseUrl = await startFakeResponseUrl();
    t = await startTestApp({ WECOM_RESPONSE_URL_HOSTS: 'qyapi.weixin.qq.com,http://127.0.0.1' });
    await setUpStore(t, llm);
    ({ client, providerId } = await setUpWeComBot(t));
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
    await responseUrl?.close();
  });

  describe('URL verification', () => {
    it('answers with the plaintext echostr as text/plain', async () => {
      const response = await client.verifyUrl('1616140317555161061').expect(200);
      expect(response.headers['content-type']).toMatch(/^text\/plain/);
      expect(response.text).toBe('1616140317555161061');
    });

    it('accepts an echostr whose + signs were not percent-encoded', async () => {
      let echostr = '';
      let plaintext = '';
      for (let i = 0; !echostr.includes('+'); i++) {
        plaintext = `echo-${i}`;
        echostr = encrypt(client.aesKey, plaintext, '');
      }
      const timestamp = nowSeconds();
      const signature = getSignature(client.token, timestamp, '42', echostr);
      const response = await t
        .anonymous()
        .get(`${client.path()}?msg_signature=${signature}&timestamp=${timestamp}&nonce=42&echostr=${echostr}`)
        .expect(200);
      expect(response.text).toBe(plaintext);
    });

    it('refuses a wrong signature with 401', async () => {
      const response = await client.verifyUrl('x', { signature: 'a'.repeat(40) }).expect(401);
      expect(response.body).toMatchObject({ statusCode: 401, code: 'invalid_signature' });
    });
  });

  describe('messages and streaming', () => {
    it('answers a text message with a stream placeholder, then streams the answer until it finishes', async () => {
      const first = await client.ask(client.text('What is the VPN address?'));
      expect(first.stream.id).toMatch(UUID);
      expect(first.stream).toMatchObject({
        finish: false,
        content: 'Thinking…',
        feedback: { id: first.stream.id },
      });
      const replies = await client.refreshUntilFinished(first.stream.id);
      expect(replies.every((reply) => reply.stream.id === first.stream.id)).toBe(true);
      expect(replies.at(-1)!.stream).toMatchObject({
        finish: true,
        content: echoOf(llm, 'What is the VPN address?'),
        feedback: { id: first.stream.id },
      });
    });

    it('acknowledges a message without waiting for the model', async () => {
      llm.script.enqueue({ endpoint: 'chat', kind: 'hang' });
      const first = await client.ask(
        client.text('the model hangs on this', { from: { userid: 'patient-user' } }),
      );
      expect(first.stream).toMatchObject({ finish: false, content: 'Thinking…' });
      await waitFor('the model to be asked', () =>
        chatRequests(llm).some((body) => lastUserMessage(body).includes('the model hangs')),
      );
      const { reply } = await client.send(client.refresh(first.stream.id));
      expect((reply as StreamReplyJson).stream).toMatchObject({
        id: first.stream.id,
        finish: false,
        content: 'Thinking…',
      });
    });

    it('shows the answer growing while the model streams it', async () => {
      const tokens = ['The ', 'answer ', 'grows ', 'one ', 'token ', 'at ', 'a ', 'time.'];
      llm.script.enqueue({ endpoint: 'chat', kind: 'reply', tokens, tokenDelayMs: 250 });
      const first = await client.ask(client.text('stream slowly please'));
      const replies = await client.refreshUntilFinished(first.stream.id);
      const partial = replies.filter(
        (reply) => !reply.stream.finish && reply.stream.content.startsWith('The '),
      );
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.every((reply) => tokens.join('').startsWith(reply.stream.content))).toBe(true);
      expect(partial.some((reply) => reply.stream.content !== tokens.join(''))).toBe(true);
      expect(replies.at(-1)!.stream).toMatchObject({ finish: true, content: tokens.join('') });
    });

    it('shows the default thinking text in Chinese to a Chinese question, and a configured one as it is', async () => {
      const chinese = await client.ask(client.text('怎么申请年假？'));
      expect(chinese.stream.content).toBe('正在思考…');
      const last = (await client.refreshUntilFinished(chinese.stream.id)).at(-1)!;
      expect(last.stream.content).toBe(echoOf(llm, '怎么申请年假？'));

      const custom = await setUpWeComBot(t, { thinkingText: 'One moment…' });
      const reply = await custom.client.ask(custom.client.text('hi there'));
      expect(reply.stream.content).toBe('One moment…');
      await custom.client.refreshUntilFinished(reply.stream.id);
    });

    it('gives a retried msgid the same stream id and asks the model once', async () => {
      const message = client.text('retry me exactly once');
      const first = await client.ask(message);
      const retries = await Promise.all([client.ask(message), client.ask(message)]);
      expect(retries.map((reply) => reply.stream.id)).toEqual([first.stream.id, first.stream.id]);
      await client.refreshUntilFinished(first.stream.id);
      const again = await client.ask(message);
      expect(again.stream).toMatchObject({
        id: first.stream.id,
        finish: true,
        content: echoOf(llm, 'retry me exactly once'),
      });
      expect(
        chatRequests(llm).filter((body) => lastUserMessage(body).includes('retry me exactly once')),
      ).toHaveLength(1);
    });

    it('strips the @mention of a group message before the model sees it', async () => {
      const first = await client.ask(
        client.text('@RobotA hello robot', {
          chattype: 'group',
          chatid: 'group-42',
          from: { userid: 'lisi' },
        }),
      );
      const finished = (await client.refreshUntilFinished(first.stream.id)).at(-1)!;
      expect(finished.stream.content).toBe(echoOf(llm, 'hello robot'));
      expect(finished.stream.content).not.toContain('@RobotA');
      const conversations = await t.admin().get(`/api/v1/conversations?botId=${providerId}`).expect(200);
      expect(conversations.body.items).toEqual(
        expect.arrayContaining([expect.objectContaining({ chatKey: 'group-42', isGroup: true })]),
      );
    });

    it('gives the quoted text to the model as context', async () => {
      const first = await client.ask(
        client.text('what does this mean?', {
          quote: { msgtype: 'text', text: { content: 'quoted zebra policy' } },
        }),
      );
      await client.refreshUntilFinished(first.stream.id);
      const request = chatRequests(llm).find((body) =>
        lastUserMessage(body).includes('what does this mean?'),
      );
      expect(JSON.stringify(request!.messages)).toContain('quoted zebra policy');
    });

    it('answers an image politely that it reads text only, without asking the model', async () => {
      const before = chatRequests(llm).length;
      const reply = await client.ask({
        ...client.text(''),
        msgtype: 'image',
        text: undefined,
        image: { url: 'https://example.invalid/x.jpg' },
      });
      expect(reply.stream.finish).toBe(true);
      expect(reply.stream.content).toMatch(/text/i);
      expect(chatRequests(llm).length).toBe(before);
    });

    it('reads a body sent with another content type', async () => {
      const result = await client.send(client.text('plain text body'), { contentType: 'text/plain' });
      expect(result.status).toBe(200);
      const { id } = (result.reply as StreamReplyJson).stream;
      expect((await client.refreshUntilFinished(id)).at(-1)!.stream.content).toBe(
        echoOf(llm, 'plain text body'),
      );
    });

    it('finishes an unknown stream id at once with empty content', async () => {
      for (const id of [randomUUID(), 'not-a-uuid']) {
        const { reply } = await client.send(client.refresh(id));
        expect(reply).toEqual({ msgtype: 'stream', stream: { id, finish: true, content: '' } });
      }
    });

    it('does not show one bot the answers of another', async () => {
      const other = await setUpWeComBot(t);
      const first = await client.ask(client.text('private to the first bot'));
      const { reply } = await other.client.send(other.client.refresh(first.stream.id));
      expect((reply as StreamReplyJson).stream).toEqual({ id: first.stream.id, finish: true, content: '' });
      await client.refreshUntilFinished(first.stream.id);
    });

    it('cuts an overlong answer on a UTF-8 boundary and sends the rest once through response_url', async () => {
      // ~32 KB of CJK (3 bytes), emoji (4 bytes) and ASCII, in paragraphs.
      const tokens = Array.from(
        { length: 40 },
        (_, i) => `第${i}段：${'知识库回答🙂'.repeat(40)} paragraph ${i}.\n\n`,
      );
      const full = tokens.join('').trim();
      expect(Buffer.byteLength(full)).toBeGreaterThan(30_000);
      llm.script.enqueue({ endpoint: 'chat', kind: 'reply', tokens });
      const code = randomUUID();
      const first = await client.ask(
        client.text('please write a long answer', { response_url: responseUrl.url(code) }),
      );
      const shown = (await client.refreshUntilFinished(first.stream.id)).at(-1)!.stream.content;

      // The stream: at most 20480 bytes, cut between characters (here at a paragraph), with a note in the
      // answer's language.
      const note = '\n\n*（未完，见下一条消息）*';
      expect(Buffer.byteLength(shown)).toBeLessThanOrEqual(20480);
      expect(shown).not.toContain('\uFFFD');
      expect(shown.endsWith(note)).toBe(true);
      const head = shown.slice(0, -note.length);
      expect(full.startsWith(head)).toBe(true);
      expect(head).toMatch(/paragraph \d+\.$/);

      // response_url: the rest, once, so that the two messages together are the whole answer.
      const post = await waitFor('the rest through response_url', () =>
        responseUrl.posts.find((item) => item.path.includes(code)),
      );
      expect(post.body.msgtype).toBe('markdown');
      expect(Buffer.byteLength(post.body.markdown.content)).toBeLessThanOrEqual(20480);
      expect(post.body.markdown.content.startsWith('*（续）*\n\n')).toBe(true);
      const rest = post.body.markdown.content.slice('*（续）*\n\n'.length);
      expect(`${head}\n\n${rest}`.trim()).toBe(full);

      await waitFor('delivery recorded', async () => {
        const [row] = await t.app
          .get(DataSource)
          .query(`SELECT delivery_status FROM messages WHERE id = $1`, [first.stream.id]);
        return row.delivery_status === 'delivered';
      });
      expect(responseUrl.posts.filter((item) => item.path.includes(code))).toHaveLength(1);
    });

    it('records a short answer as delivered by the stream, without using response_url', async () => {
      const code = randomUUID();
      const first = await client.ask(client.text('short one', { response_url: responseUrl.url(code) }));
      await client.refreshUntilFinished(first.stream.id);
      await waitFor('delivery recorded', async () => {
        const [row] = await t.app
          .get(DataSource)
          .query(`SELECT delivery_status FROM messages WHERE id = $1`, [first.stream.id]);
        return row.delivery_status === 'skipped';
      });
      expect(responseUrl.posts.some((item) => item.path.includes(code))).toBe(false);
    });

    it('serves a refresh after a restart from the database', async () => {
      const first = await client.ask(client.text('survive a restart'));
      await client.refreshUntilFinished(first.stream.id);
      await t.restart();
      const { reply } = await client.send(client.refresh(first.stream.id));
      expect((reply as StreamReplyJson).stream).toMatchObject({
        finish: true,
        content: echoOf(llm, 'survive a restart'),
      });
    });
  });

  describe('events', () => {
    it("answers enter_chat with the store's welcome message", async () => {
      const { status, reply } = await client.send(client.event('enter_chat'));
      expect(status).toBe(200);
      expect(reply).toEqual({ msgtype: 'text', text: { content: WELCOME } });
    });

    it('records feedback_event on the answer and replies with an empty body', async () => {
      const first = await client.ask(client.text('rate this answer', { from: { userid: 'feedback-user' } }));
      await client.refreshUntilFinished(first.stream.id);
      const result = await client.send(
        client.event('feedback_event', {
          id: first.stream.id,
          type: 2,
          inaccurate_reason_list: [1, 3],
          content: '  outdated  ',
        }),
      );
      expect(result).toMatchObject({ status: 200, reply: null });

      const conversations = await t
        .admin()
        .get(`/api/v1/conversations?botId=${providerId}&user=feedback-user`)
        .expect(200);
      const messages = await t
        .admin()
        .get(`/api/v1/conversations/${conversations.body.items[0].id}/messages`)
        .expect(200);
      const answer = messages.body.items.find((item: { id: string }) => item.id === first.stream.id);
      expect(answer.feedback).toMatchObject({
        rating: 'inaccurate',
        reasons: ['1', '3'],
        comment: 'outdated',
      });
    });

    it('replies with an empty body to other events and to feedback for unknown answers', async () => {
      for (const payload of [
        client.event('template_card_event', { card_type: 'x' }),
        client.event('feedback_event', { id: randomUUID(), type: 1 }),
        client.event('feedback_event', { id: 'not-ours', type: 1 }),
      ]) {
        expect(await client.send(payload)).toMatchObject({ status: 200, reply: null });
      }
    });
  });

  describe('refusals', () => {
    it('refuses a bad signature with 401 and stores nothing', async () => {
      const before = await messageCount(t);
      const result = await client.send(client.text('forged'), { signature: 'f'.repeat(40) });
      expect(result.status).toBe(401);
      expect(result.body).toMatchObject({ code: 'invalid_signature' });
      expect(await messageCount(t)).toBe(before);
    });

    it('refuses a stale timestamp with 401 and stores nothing', async () => {
      const before = await messageCount(t);
      const stale = String(Math.floor(Date.now() / 1000) - 3600);
      expect((await client.send(client.text('replayed'), { timestamp: stale })).status).toBe(401);
      expect(await messageCount(t)).toBe(before);
    });

    it('refuses undecryptable or malformed payloads with 400', async () => {
      expect((await client.sendEncrypted('bm90IGEgY2lwaGVydGV4dA==')).status).toBe(400);
      expect((await client.sendEncrypted(encrypt(newAesKey(), 'other key', ''))).status).toBe(400);
      expect((await client.send('not json at all')).status).toBe(400);
      expect((await client.send({ msgtype: 'text' })).status).toBe(400);
      const noEncrypt = await t
        .anonymous()
        .post(`${client.path()}?msg_signature=${'a'.repeat(40)}&timestamp=${nowSeconds()}&nonce=1`)
        .send({ hello: 'world' });
      expect(noEncrypt.status).toBe(400);
      const notJson = await t
        .anonymous()
        .post(`${client.path()}?msg_signature=${'a'.repeat(40)}&timestamp=${nowSeconds()}&nonce=1`)
        .set('Content-Type', 'application/json')
        .send('{"encrypt": ');
      expect(notJson.status).toBe(400);
    });

    it('answers 404 for an unknown or disabled bot', async () => {
      expect((await client.send(client.text('hi'), { botId: 'aibUnknownBot' })).status).toBe(404);
      expect((await client.verifyUrl('x', { botId: 'no such bot!' })).status).toBe(404);
      const disabled = await setUpWeComBot(t);
      await t.admin().patch(`/api/v1/providers/${disabled.providerId}`).send({ enabled: false }).expect(200);
      expect((await disabled.client.send(disabled.client.text('hi'))).status).toBe(404);
    });

    it('never answers random bodies and query strings with a 500', async () => {
      const text = fc.string({ unit: 'binary', maxLength: 60 });
      const signedCiphertext = fc.oneof(
        fc.base64String({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 96 }).map((bytes) => Buffer.from(bytes).toString('base64')),
        fc.string({ maxLength: 200 }).map((plain) => encrypt(client.aesKey, plain, '')),
        fc.jsonValue().map((value) => encrypt(client.aesKey, JSON.stringify(value), '')),
        fc
          .record({
            msgtype: fc.constantFrom('text', 'stream', 'event', 'image', 'mixed', 'voice'),
            msgid: fc.string(),
            aibotid: fc.string(),
          })
          .map((value) =>
            encrypt(
              client.aesKey,
              JSON.stringify({ ...value, from: { userid: 'u' }, text: { content: 'x' } }),
              '',
            ),
          ),
      );
      const request = fc.oneof(
        // Random everything.
        fc.record({
          method: fc.constantFrom('GET', 'POST'),
          botId: fc.oneof(fc.constant(client.botId), text),
          query: fc.dictionary(fc.constantFrom('msg_signature', 'timestamp', 'nonce', 'echostr', 'x'), text),
          body: fc.oneof(
            text,
            fc.jsonValue().map((value) => JSON.stringify(value)),
          ),
          signed: fc.constant(undefined as string | undefined),
        }),
        // Correctly signed, random ciphertext: exercises decryption and parsing.
        fc.record({
          method: fc.constantFrom('GET', 'POST'),
          botId: fc.constant(client.botId),
          query: fc.constant({} as Record<string, string>),
          body: fc.constant(''),
          signed: signedCiphertext,
        }),
      );
      await fc.assert(
        fc.asyncProperty(request, async ({ method, botId, query, body, signed }) => {
          let search = new URLSearchParams(query).toString();
          let payload = body;
          if (signed !== undefined) {
            const timestamp = nowSeconds();
            const signature = getSignature(client.token, timestamp, '7', signed);
            search = new URLSearchParams({
              msg_signature: signature,
              timestamp,
              nonce: '7',
              ...(method === 'GET' ? { echostr: signed } : {}),
            }).toString();
            payload = JSON.stringify({ encrypt: signed });
          }
          const url = `/api/wecom-bot/callback/${encodeURIComponent(botId)}?${search}`;
          const response =
            method === 'GET'
              ? await t.anonymous().get(url)
              : await t.anonymous().post(url).set('Content-Type', 'application/json').send(payload);
          expect(response.status).toBeLessThan(500);
        }),
        { numRuns: 150 },
      );
    }, 120_000);
  });

  it('logs no unhandled error and no secret', () => {
    expect(t.logs.text).not.toContain('unhandled error');
    expect(t.logs.text).not.toContain(client.aesKey);
    expect(t.logs.text).not.toContain(client.token);
  });
});

describe('WeCom AI bot stream window', () => {
  let t: TestApp;
  let llm: FakeOpenAiServer;
  let responseUrl: FakeResponseUrl;
  let client: WeComClient;

  beforeAll(async () => {
    llm = await startFakeOpenAiServer();
    responseUrl = await startFakeResponseUrl();
    t = await startTestApp({
      WECOM_RESPONSE_URL_HOSTS: 'http://127.0.0.1',
      WECOM_STREAM_WINDOW_SECONDS: '2',
    });
    await setUpStore(t, llm);
    ({ client } = await setUpWeComBot(t));
  });
  afterAll(async () => {
    await t?.close();
    await llm?.close();
    await responseUrl?.close();
  });

  it('finishes a stream still running after the window with a notice and sends the full answer through response_url', async () => {
    const tokens = [
      'A slow ',
      'answer ',
      'that ',
      'takes ',
      'longer ',
      'than ',
      'the ',
      'stream ',
      'window.',
    ];
    llm.script.enqueue({ endpoint: 'chat', kind: 'reply', tokens, tokenDelayMs: 500 });
    const code = randomUUID();
    const first = await client.ask(client.text('slow question', { response_url: responseUrl.url(code) }));
    expect(first.stream.finish).toBe(false);

    const last = (await client.refreshUntilFinished(first.stream.id)).at(-1)!.stream;
    expect(last.content).toMatch(/full answer will follow in a separate message/);
    expect(last.content).not.toContain('stream window.');

    const post = await waitFor('the full answer through response_url', () =>
      responseUrl.posts.find((item) => item.path.includes(code)),
    );
    expect(post.body).toEqual({ msgtype: 'markdown', markdown: { content: tokens.join('') } });
    await waitFor('delivery recorded', async () => {
      const [row] = await t.app
        .get(DataSource)
        .query(`SELECT delivery_status FROM messages WHERE id = $1`, [first.stream.id]);
      return row.delivery_status === 'delivered';
    });
    expect(responseUrl.posts.filter((item) => item.path.includes(code))).toHaveLength(1);
  });

  it('retries a failing response_url and records the delivery', async () => {
    llm.script.enqueue({ endpoint: 'chat', kind: 'reply', tokens: ['late ', 'answer'], tokenDelayMs: 1500 });
    responseUrl.failNext.push(503);
    const code = randomUUID();
    const first = await client.ask(client.text('another slow one', { response_url: responseUrl.url(code) }));
    const post = await waitFor('the answer through response_url', () =>
      responseUrl.posts.find((item) => item.path.includes(code)),
    );
    expect(post.body.markdown.content).toBe('late answer');
    await waitFor('delivery recorded', async () => {
      const [row] = await t.app
        .get(DataSource)
        .query(`SELECT delivery_status FROM messages WHERE id = $1`, [first.stream.id]);
      return row.delivery_status === 'delivered';
    });
  });
});
