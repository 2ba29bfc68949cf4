import express, { type Express } from 'express';
import type { AddressInfo } from 'node:net';
import { IncomingMessage, ServerResponse, type Server } from 'node:http';
import request from 'supertest';
import { expressHttpServer, ParleyExpressAdapter } from './express-adapter.js';

/** The prototypes requests and responses are born with, before Express sees them. */
function capturePrototypes(server: Server): { request?: object; response?: object } {
  const seen: { request?: object; response?: object } = {};
  server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
    seen.request = Object.getPrototypeOf(req) as object;
    seen.response = Object.getPrototypeOf(res) as object;
  });
  return seen;
}

function appWithRoute(): Express {
  const app = express();
  app.get('/hello', (req, res) => {
    res.status(201).json({ path: req.path, host: req.hostname });
  });
  return app;
}

describe('expressHttpServer', () => {
  it("creates requests and responses with the app's prototypes, so Express need not change them", async () => {
    const app = appWithRoute();
    const server = expressHttpServer(app);
    const seen = capturePrototypes(server);
    await request(server).get('/hello').expect(201);
    expect(seen.request).toBe(app.request);
    expect(seen.response).toBe(app.response);
  });

  it('serves the app as a plain node:http server does (status, JSON, request helpers)', async () => {
    const server = expressHttpServer(appWithRoute());
    const response = await request(server).get('/hello').set('host', 'parley.example').expect(201);
    expect(response.body).toEqual({ path: '/hello', host: 'parley.example' });
    expect(response.headers['content-type']).toMatch(/^application\/json/);
  });

  it('keeps requests and responses instances of the node:http classes', async () => {
    const server = expressHttpServer(appWithRoute());
    const instances: boolean[] = [];
    server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      instances.push(req instanceof IncomingMessage, res instanceof ServerResponse);
    });
    await request(server).get('/hello').expect(201);
    expect(instances).toEqual([true, true]);
  });
});

describe('ParleyExpressAdapter', () => {
  it("gives Nest an HTTP server whose requests have the Express app's prototype", async () => {
    const adapter = new ParleyExpressAdapter();
    adapter.initHttpServer({});
    const app = adapter.getInstance<Express>();
    app.get('/hello', (_req, res) => res.json({ ok: true }));
    const server = adapter.getHttpServer() as Server;
    const seen = capturePrototypes(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const response = await fetch(`http://127.0.0.1:${port}/hello`);
      expect(await response.json()).toEqual({ ok: true });
      expect(seen.request).toBe(app.request);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
