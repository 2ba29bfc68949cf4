import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, loadConfig } from '../config/app-config.js';
import { markdownMessage } from './wecom-reply.js';
import {
  DEFAULT_RESPONSE_URL_HOSTS,
  parseAllowedHosts,
  ResponseUrlClient,
  ResponseUrlError,
  responseUrlProblem,
} from './wecom-response-url.js';

describe('response_url allow-list', () => {
  const defaults = parseAllowedHosts(DEFAULT_RESPONSE_URL_HOSTS);
  const wecomUrl = 'https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=abc';

  it("allows WeCom's host over HTTPS by default, and nothing else", () => {
    expect(responseUrlProblem(wecomUrl, defaults)).toBeUndefined();
    expect(responseUrlProblem('https://QYAPI.weixin.qq.com:443/x', defaults)).toBeUndefined();
    for (const refused of [
      'http://qyapi.weixin.qq.com/cgi-bin/aibot/response',
      'https://qyapi.weixin.qq.com.evil.example/x',
      'https://evil.example/?https://qyapi.weixin.qq.com/',
      'https://user:pass@qyapi.weixin.qq.com/x',
      'https://127.0.0.1/x',
      'https://169.254.169.254/latest/meta-data',
      'file:///etc/passwd',
      'not a url',
    ]) {
      expect(responseUrlProblem(refused, defaults)).toEqual(expect.any(String));
    }
  });

  it('reads a comma list with optional schemes and ports', () => {
    expect(parseAllowedHosts(' qyapi.weixin.qq.com , http://127.0.0.1, https://relay.example:8443 ')).toEqual(
      [
        { host: 'qyapi.weixin.qq.com', allowHttp: false },
        { host: '127.0.0.1', allowHttp: true },
        { host: 'relay.example', port: '8443', allowHttp: false },
      ],
    );
    const allowed = parseAllowedHosts('http://127.0.0.1,https://relay.example:8443');
    expect(responseUrlProblem('http://127.0.0.1:41234/x', allowed)).toBeUndefined();
    expect(responseUrlProblem('https://127.0.0.1/x', allowed)).toBeUndefined();
    expect(responseUrlProblem('https://relay.example:8443/x', allowed)).toBeUndefined();
    expect(responseUrlProblem('https://relay.example/x', allowed)).toMatch(/not in WECOM_RESPONSE_URL_HOSTS/);
  });

  it('is configured by WECOM_RESPONSE_URL_HOSTS, with the stream and timestamp windows', () => {
    const config = loadConfig({});
    expect(config.WECOM_RESPONSE_URL_HOSTS).toBe('qyapi.weixin.qq.com');
    expect(config.WECOM_STREAM_WINDOW_SECONDS).toBe(330);
    expect(config.WECOM_TIMESTAMP_WINDOW_SECONDS).toBe(300);
    expect(
      loadConfig({ WECOM_RESPONSE_URL_HOSTS: 'a.example, http://127.0.0.1:9' }).WECOM_RESPONSE_URL_HOSTS,
    ).toBe('a.example, http://127.0.0.1:9');
    expect(() => loadConfig({ WECOM_RESPONSE_URL_HOSTS: 'https://a.example/path' })).toThrow(ConfigError);
    expect(() => loadConfig({ WECOM_RESPONSE_URL_HOSTS: 'a,,b' })).toThrow(/WECOM_RESPONSE_URL_HOSTS/);
    expect(() => loadConfig({ WECOM_STREAM_WINDOW_SECONDS: '400' })).toThrow(/WECOM_STREAM_WINDOW_SECONDS/);
    expect(() => loadConfig({ WECOM_TIMESTAMP_WINDOW_SECONDS: '-1' })).toThrow(
      /WECOM_TIMESTAMP_WINDOW_SECONDS/,
    );
    expect(loadConfig({ WECOM_TIMESTAMP_WINDOW_SECONDS: '0' }).WECOM_TIMESTAMP_WINDOW_SECONDS).toBe(0);
    expect(loadConfig({ WECOM_RESPONSE_URL_HOSTS: '' }).WECOM_RESPONSE_URL_HOSTS).toBe('qyapi.weixin.qq.com');
  });
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('ResponseUrlClient', () => {
  let server: Server;
  let url: string;
  let handlers: Handler[];
  let bodies: string[];

  beforeAll(async () => {
    server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (part: Buffer) => parts.push(part));
      req.on('end', () => {
        bodies.push(Buffer.concat(parts).toString('utf8'));
        (handlers.shift() ?? ok)(req, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/cgi-bin/aibot/response?response_code=x`;
  });
  beforeEach(() => {
    handlers = [];
    bodies = [];
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const ok: Handler = (_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"errcode":0,"errmsg":"ok"}');
  const status =
    (code: number, body = ''): Handler =>
    (_req, res) =>
      res.writeHead(code, { 'content-type': 'application/json' }).end(body);
  const client = () => new ResponseUrlClient({ timeoutMs: 300, attempts: 3, baseDelayMs: 1 });
  const message = markdownMessage('**hello**');

  it('posts the markdown message as plain JSON', async () => {
    await client().post(url, message);
    expect(bodies.map((body) => JSON.parse(body))).toEqual([
      { msgtype: 'markdown', markdown: { content: '**hello**' } },
    ]);
  });

  it('retries 5xx, 429 and WeCom’s "busy", then succeeds', async () => {
    handlers.push(status(503), status(429));
    await client().post(url, message);
    expect(bodies).toHaveLength(3);
    handlers.push(status(200, '{"errcode":-1,"errmsg":"system busy"}'));
    bodies = [];
    await client().post(url, message);
    expect(bodies).toHaveLength(2);
  });

  it('gives up after the last attempt', async () => {
    handlers.push(status(502), status(502), status(502));
    await expect(client().post(url, message)).rejects.toThrow(/HTTP 502/);
    expect(bodies).toHaveLength(3);
  });

  it('does not retry a refusal', async () => {
    handlers.push(status(200, '{"errcode":40001,"errmsg":"invalid response_code"}'));
    await expect(client().post(url, message)).rejects.toThrow(/errcode 40001/);
    handlers.push(status(400));
    await expect(client().post(url, message)).rejects.toBeInstanceOf(ResponseUrlError);
    expect(bodies).toHaveLength(2);
  });

  it('does not follow a redirect', async () => {
    handlers.push((_req, res) => res.writeHead(302, { location: 'http://169.254.169.254/' }).end());
    await expect(client().post(url, message)).rejects.toThrow(/HTTP 302/);
    expect(bodies).toHaveLength(1);
  });

  it('times out a hanging endpoint and retries it', async () => {
    handlers.push(
      () => undefined,
      () => undefined,
      () => undefined,
    );
    await expect(client().post(url, message)).rejects.toThrow(/timed out after 300 ms/);
    expect(bodies).toHaveLength(3);
  });
});
