import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { loadConfig } from '../config/app-config.js';
import type { AnswerSnapshot } from '../conversation/conversation.types.js';
import { WeComBotDelivery } from './wecom-bot.delivery.js';

describe('WeComBotDelivery', () => {
  let server: Server;
  let origin: string;
  let posts: { url: string; body: { msgtype: string; markdown: { content: string } } }[];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (part: Buffer) => parts.push(part));
      req.on('end', () => {
        posts.push({ url: req.url ?? '', body: JSON.parse(Buffer.concat(parts).toString('utf8')) });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"errcode":0,"errmsg":"ok"}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  beforeEach(() => (posts = []));
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const receivedAt = new Date('2026-11-20T10:00:00Z');
  const at = (seconds: number) => new Date(receivedAt.getTime() + seconds * 1000);
  const delivery = (hosts = 'qyapi.weixin.qq.com,http://127.0.0.1') =>
    new WeComBotDelivery(loadConfig({ WECOM_RESPONSE_URL_HOSTS: hosts }), pino({ level: 'silent' }));
  const answer = (
    content: string,
    replyTarget: Record<string, unknown> = { responseUrl: `${origin}/r?response_code=1` },
  ) =>
    ({
      answerId: '6f1c0e7e-8a4e-4d1b-9a53-0d9f6f1f2a10',
      botProviderId: 'bot',
      platform: 'wecom-bot',
      status: 'done',
      content,
      finished: true,
      replyTarget,
      chatKey: 'zhangsan',
      isGroup: false,
      receivedAt,
      finishedAt: null,
      sources: [],
    }) satisfies AnswerSnapshot;

  it("is the 'wecom-bot' channel", () => {
    expect(delivery().platform).toBe('wecom-bot');
  });

  it('skips an answer the stream showed in full', async () => {
    expect(await delivery().deliver(answer('short'), at(10))).toEqual({ status: 'skipped' });
    expect(posts).toHaveLength(0);
  });

  it('sends the whole answer through response_url once the stream window has passed', async () => {
    expect(await delivery().deliver(answer('| a |\n|---|\n| 1 |'), at(331))).toEqual({ status: 'delivered' });
    expect(posts).toEqual([
      { url: '/r?response_code=1', body: { msgtype: 'markdown', markdown: { content: '- a: 1' } } },
    ]);
  });

  it('sends the rest of an answer over 20480 bytes', async () => {
    const long = Array.from({ length: 30 }, (_, i) => `Paragraph ${i}: ${'lorem ipsum '.repeat(80)}`).join(
      '\n\n',
    );
    expect(await delivery().deliver(answer(long), at(20))).toEqual({ status: 'delivered' });
    expect(posts).toHaveLength(1);
    expect(posts[0].body.markdown.content).toMatch(/^\*\(continued\)\*\n\nParagraph \d+: lorem/);
  });

  it('refuses a response_url outside the allow-list and sends nothing', async () => {
    const outcome = await delivery('qyapi.weixin.qq.com').deliver(answer('late'), at(400));
    expect(outcome).toEqual({
      status: 'failed',
      error: expect.stringMatching(/not in WECOM_RESPONSE_URL_HOSTS/),
    });
    expect(posts).toHaveLength(0);
  });

  it('fails clearly when the message had no response_url', async () => {
    const outcome = await delivery().deliver(answer('late', {}), at(400));
    expect(outcome).toEqual({ status: 'failed', error: expect.stringMatching(/no response_url|had none/) });
  });

  it('reports a response_url that does not answer', async () => {
    const outcome = await delivery().deliver(
      answer('late', { responseUrl: 'http://127.0.0.1:1/r' }),
      at(400),
    );
    expect(outcome).toEqual({ status: 'failed', error: expect.stringMatching(/unreachable/) });
  }, 20_000);
});
