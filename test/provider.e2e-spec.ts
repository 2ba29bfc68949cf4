import type { Server } from 'node:http';
import { jest } from '@jest/globals';
import { DataSource } from 'typeorm';
import { ProviderService } from '../src/provider/provider.service.js';
import { startTestApp, TestApp } from './support/test-app.js';

const OPENAI_KEY = 'sk-test-SECRET-4f2a9cdef';
const openAiModel = (name = 'openai-main') => ({
  name,
  category: 'model',
  type: 'openai-compatible',
  config: {
    baseUrl: 'https://api.openai.com/v1',
    apiKey: OPENAI_KEY,
    model: 'gpt-4o-mini',
    temperature: 0.2,
  },
});
const weComBot = (botId = 'aibBot001', name = 'wecom-support') => ({
  name,
  category: 'bot',
  type: 'wecom-bot',
  config: { botId, token: 'Tok3nValue', encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C' },
});
const tencentBot = (robotId = '@RBT#001', name = 'tencent-support') => ({
  name,
  category: 'bot',
  type: 'tencent-chat',
  config: {
    sdkAppId: '1400000000',
    secretKey: 'tencent-secret-key-value',
    adminIdentifier: 'administrator',
    robotId,
    callbackToken: 'callback-token-value',
    region: 'singapore',
  },
});
const cometChatBot = {
  name: 'cometchat-support',
  category: 'bot',
  type: 'cometchat',
  config: {
    appId: '2248348660ad9bd4',
    region: 'eu',
    apiKey: 'cometchat-api-key-value',
    botUid: 'support_bot',
    basicAuthUsername: 'parley',
    basicAuthPassword: 'basic-auth-password-value',
  },
};

describe('Provider admin API', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('authentication', () => {
    it('rejects a request without a bearer key with 401 in the error shape', async () => {
      const response = await t.anonymous().get('/api/v1/providers').expect(401);
      expect(response.body).toMatchObject({ statusCode: 401, code: 'unauthorized' });
      expect(response.body.requestId).toBe(response.headers['x-request-id']);
    });

    it('rejects a wrong bearer key', async () => {
      await t
        .anonymous()
        .get('/api/v1/providers')
        .set('Authorization', 'Bearer wrong-key-wrong-key')
        .expect(401);
      await t.anonymous().get('/api/v1/providers').set('Authorization', 'Basic abc').expect(401);
    });

    it('echoes a caller-provided request id', async () => {
      const response = await t.admin().get('/api/v1/providers').set('x-request-id', 'trace-123').expect(200);
      expect(response.headers['x-request-id']).toBe('trace-123');
    });
  });

  describe('create and read', () => {
    it('creates a model provider and never returns its secret', async () => {
      const response = await t.admin().post('/api/v1/providers').send(openAiModel()).expect(201);
      expect(response.body).toMatchObject({
        name: 'openai-main',
        displayName: 'openai-main',
        category: 'model',
        type: 'openai-compatible',
        enabled: true,
        config: { baseUrl: 'https://api.openai.com/v1', apiKey: '****cdef', model: 'gpt-4o-mini' },
      });
      expect(JSON.stringify(response.body)).not.toContain(OPENAI_KEY);
      expect(response.body.callbackUrl).toBeUndefined();

      const fetched = await t.admin().get(`/api/v1/providers/${response.body.id}`).expect(200);
      expect(fetched.body.config.apiKey).toBe('****cdef');
    });

    it('stores secrets encrypted and keeps them out of the logs', async () => {
      const rows: { config: Record<string, unknown> }[] = await t.app
        .get(DataSource)
        .query(`SELECT config FROM providers WHERE name = 'openai-main'`);
      expect(String(rows[0].config.apiKey)).toMatch(/^enc:v1:/);
      expect(JSON.stringify(rows)).not.toContain(OPENAI_KEY);
      expect(t.logs.text).not.toContain(OPENAI_KEY);
      expect(t.logs.lines.length).toBeGreaterThan(0);
    });

    it('shows each bot its callback URL and masks all of its secrets', async () => {
      const wecom = await t.admin().post('/api/v1/providers').send(weComBot()).expect(201);
      expect(wecom.body.callbackUrl).toBe('https://parley.test/api/wecom-bot/callback/aibBot001');
      expect(wecom.body.config.token).toBe('****alue');
      expect(wecom.body.config.encodingAesKey).toBe('****2B2C');

      const tencent = await t.admin().post('/api/v1/providers').send(tencentBot()).expect(201);
      expect(tencent.body.callbackUrl).toBe('https://parley.test/api/tencent-chat/callback/1400000000');
      expect(JSON.stringify(tencent.body)).not.toMatch(/tencent-secret-key-value|callback-token-value/);

      const comet = await t.admin().post('/api/v1/providers').send(cometChatBot).expect(201);
      expect(comet.body.callbackUrl).toBe(`https://parley.test/api/cometchat/callback/${comet.body.id}`);
      expect(JSON.stringify(comet.body)).not.toMatch(/cometchat-api-key-value|basic-auth-password-value/);
    });

    it('lists with filters and pagination', async () => {
      const bots = await t.admin().get('/api/v1/providers?category=bot&pageSize=2').expect(200);
      expect(bots.body).toMatchObject({ total: 3, page: 1, pageSize: 2 });
      expect(bots.body.items).toHaveLength(2);
      const second = await t.admin().get('/api/v1/providers?category=bot&pageSize=2&page=2').expect(200);
      expect(second.body.items).toHaveLength(1);
      const wecom = await t.admin().get('/api/v1/providers?type=wecom-bot').expect(200);
      expect(wecom.body.items.map((item: { name: string }) => item.name)).toEqual(['wecom-support']);
      await t.admin().get('/api/v1/providers?pageSize=1000').expect(400);
    });
  });

  describe('update', () => {
    let id: string;
    beforeAll(async () => {
      id = (await t.admin().post('/api/v1/providers').send(openAiModel('patch-me')).expect(201)).body.id;
    });

    const storedKey = async () =>
      (await t.app.get(ProviderService).resolve<{ apiKey: string }>(id)).config.apiKey;

    it('keeps the stored secret when a PATCH omits it or sends the mask back', async () => {
      await t
        .admin()
        .patch(`/api/v1/providers/${id}`)
        .send({ config: { model: 'gpt-4.1' } })
        .expect(200);
      expect(await storedKey()).toBe(OPENAI_KEY);
      const masked = await t
        .admin()
        .patch(`/api/v1/providers/${id}`)
        .send({ config: { apiKey: '****cdef', temperature: 0.5 } })
        .expect(200);
      expect(masked.body.config).toMatchObject({ model: 'gpt-4.1', temperature: 0.5, apiKey: '****cdef' });
      expect(await storedKey()).toBe(OPENAI_KEY);
    });

    it('replaces a secret when a new value is sent', async () => {
      await t
        .admin()
        .patch(`/api/v1/providers/${id}`)
        .send({ config: { apiKey: 'sk-rotated-9999' } })
        .expect(200);
      expect(await storedKey()).toBe('sk-rotated-9999');
    });

    it('validates the merged config and changes nothing when it is invalid', async () => {
      const response = await t
        .admin()
        .patch(`/api/v1/providers/${id}`)
        .send({ config: { temperature: 7 } })
        .expect(400);
      expect(response.body.details).toEqual([{ field: 'config.temperature', messages: expect.any(Array) }]);
      const fetched = await t.admin().get(`/api/v1/providers/${id}`).expect(200);
      expect(fetched.body.config.temperature).toBe(0.5);
    });

    it('changes the display name and disables', async () => {
      const response = await t
        .admin()
        .patch(`/api/v1/providers/${id}`)
        .send({ displayName: 'Renamed', enabled: false })
        .expect(200);
      expect(response.body).toMatchObject({ displayName: 'Renamed', enabled: false });
      const disabled = await t.admin().get('/api/v1/providers?enabled=false').expect(200);
      expect(disabled.body.items.map((item: { id: string }) => item.id)).toContain(id);
    });

    it('refuses to change the type', async () => {
      await t.admin().patch(`/api/v1/providers/${id}`).send({ type: 'extractive' }).expect(400);
    });
  });

  describe('conflicts', () => {
    it('allows one wecom-bot per botId', async () => {
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .send(weComBot('aibBot001', 'wecom-copy'))
        .expect(409);
      expect(response.body).toMatchObject({
        code: 'conflict',
        message: expect.stringContaining('botId aibBot001'),
      });
    });

    it('allows one tencent-chat per app and robot, but several robots per app', async () => {
      await t.admin().post('/api/v1/providers').send(tencentBot('@RBT#001', 'tencent-copy')).expect(409);
      await t.admin().post('/api/v1/providers').send(tencentBot('@RBT#002', 'tencent-second')).expect(201);
    });

    it('rejects a duplicate name', async () => {
      const response = await t.admin().post('/api/v1/providers').send(openAiModel()).expect(409);
      expect(response.body.details).toEqual([{ field: 'name', messages: ['name is already taken'] }]);
    });
  });

  describe('bad input never gives a 500', () => {
    it('rejects an unknown type with a field message', async () => {
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .send({ ...openAiModel('x1'), type: 'gpt-magic' })
        .expect(400);
      expect(response.body.code).toBe('validation_failed');
      expect(response.body.details.map((detail: { field: string }) => detail.field)).toContain('type');
    });

    it('rejects a type from another category', async () => {
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .send({ ...openAiModel('x2'), type: 'wecom-bot' })
        .expect(400);
      expect(response.body.details[0].field).toBe('type');
    });

    it('names each missing or mistyped config field', async () => {
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .send({
          name: 'x3',
          category: 'model',
          type: 'openai-compatible',
          config: { baseUrl: 'nope', temperature: 'hot' },
        })
        .expect(400);
      const fields = response.body.details.map((detail: { field: string }) => detail.field).sort();
      expect(fields).toEqual(['config.baseUrl', 'config.model', 'config.temperature']);
    });

    it('rejects unknown config fields', async () => {
      const body = openAiModel('x4');
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .send({ ...body, config: { ...body.config, surprise: 1 } })
        .expect(400);
      expect(response.body.details[0].field).toBe('config.surprise');
    });

    it('rejects wrong top-level types and a bad slug', async () => {
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .send({ name: 'Bad Name!', category: 'model', type: 'extractive', config: 'x', enabled: 'yes' })
        .expect(400);
      const fields = response.body.details.map((detail: { field: string }) => detail.field).sort();
      expect(fields).toEqual(['config', 'enabled', 'name']);
    });

    it('answers malformed JSON with 400 malformed_json', async () => {
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .set('Content-Type', 'application/json')
        .send('{"name": "x5",')
        .expect(400);
      expect(response.body).toMatchObject({ code: 'malformed_json', requestId: expect.any(String) });
    });

    it('answers a 2 MB body with 413', async () => {
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .send({ ...openAiModel('x6'), displayName: 'x'.repeat(2 * 1024 * 1024) })
        .expect(413);
      expect(response.body.code).toBe('payload_too_large');
    });

    it('answers a malformed id with 400 and an unknown one with 404', async () => {
      await t.admin().get('/api/v1/providers/not-a-uuid').expect(400);
      const response = await t
        .admin()
        .get('/api/v1/providers/00000000-0000-4000-8000-000000000000')
        .expect(404);
      expect(response.body.code).toBe('not_found');
    });

    it('answers an unknown route with 404 in the error shape', async () => {
      const response = await t.admin().get('/api/v1/nothing-here').expect(404);
      expect(response.body).toMatchObject({ statusCode: 404, code: 'not_found' });
    });
  });

  describe('delete and persistence', () => {
    it('deletes a provider', async () => {
      const id = (await t.admin().post('/api/v1/providers').send(openAiModel('delete-me')).expect(201)).body
        .id;
      await t.admin().delete(`/api/v1/providers/${id}`).expect(204);
      await t.admin().get(`/api/v1/providers/${id}`).expect(404);
    });

    it('keeps providers, and their secrets, across a restart', async () => {
      const before = await t
        .admin()
        .get('/api/v1/providers')
        .query({ type: 'openai-compatible' })
        .expect(200);
      await t.restart();
      const after = await t.admin().get('/api/v1/providers').query({ type: 'openai-compatible' }).expect(200);
      expect(after.body.total).toBe(before.body.total);
      const main = after.body.items.find((item: { name: string }) => item.name === 'openai-main');
      expect((await t.app.get(ProviderService).resolve<{ apiKey: string }>(main.id)).config.apiKey).toBe(
        OPENAI_KEY,
      );
    });
  });

  describe('health and docs', () => {
    it('reports live and ready without a key', async () => {
      await t.anonymous().get('/health/live').expect(200, { status: 'ok' });
      const ready = await t.anonymous().get('/health/ready').expect(200);
      expect(ready.body.checks).toMatchObject({ database: 'ok', migrations: 'ok' });
    });

    it('keeps idle connections open longer than a load balancer would', () => {
      const server = t.app.getHttpServer() as Server;
      expect(server.keepAliveTimeout).toBe(65_000);
      expect(server.headersTimeout).toBeGreaterThan(server.keepAliveTimeout);
    });

    it('serves the OpenAPI document with every provider route and the error shape', async () => {
      const response = await t.anonymous().get('/docs-json').expect(200);
      expect(Object.keys(response.body.paths)).toEqual(
        expect.arrayContaining(['/api/v1/providers', '/api/v1/providers/{id}']),
      );
      expect(response.body.components.schemas).toHaveProperty('ErrorBodyDto');
      expect(response.body.components.schemas).toHaveProperty('WeComBotConfig');
      await t.anonymous().get('/docs').expect(200);
    });
  });
});

describe('Generated admin key', () => {
  it('is printed once on first start, stored only as a hash, and works across restarts', async () => {
    const printed: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed.push(String(chunk));
      return true;
    });
    let t: TestApp | undefined;
    try {
      t = await startTestApp({ ADMIN_API_KEY: undefined });
      const key = /pk_[\w-]+/.exec(printed.join(''))?.[0];
      expect(key).toBeDefined();
      await t.anonymous().get('/api/v1/providers').set('Authorization', `Bearer ${key}`).expect(200);
      const stored: { value: string }[] = await t.app.get(DataSource).query(`SELECT value FROM app_settings`);
      expect(JSON.stringify(stored)).not.toContain(key!);

      printed.length = 0;
      await t.restart();
      expect(printed.join('')).not.toContain('pk_');
      await t.anonymous().get('/api/v1/providers').set('Authorization', `Bearer ${key}`).expect(200);
    } finally {
      spy.mockRestore();
      await t?.close();
    }
  });
});
