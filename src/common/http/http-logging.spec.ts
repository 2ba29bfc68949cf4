import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pinoHttp } from 'pino-http';
import { createLogger } from '../logger.js';
import { httpLogging } from './http-logging.js';
import type { Middleware } from './middleware.js';
import { requestIdMiddleware, type RequestWithId } from './request-id.js';

class Lines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void) {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) this.lines.push(JSON.parse(line));
    done();
  }
}

/** The middleware app.factory used before httpLogging: plain pino-http. */
const plain = (logger: ReturnType<typeof createLogger>): Middleware =>
  pinoHttp({
    logger,
    genReqId: (request) => (request as RequestWithId).id ?? '',
    customLogLevel: (_request, response, error) =>
      error || response.statusCode >= 500 ? 'error' : response.statusCode >= 400 ? 'warn' : 'info',
    autoLogging: { ignore: (request) => request.url?.startsWith('/health') ?? false },
  });

/** A server answering `/status/<code>` after a tick, with the logging middleware in front. */
async function serve(logging: Middleware) {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    // pino-http types IncomingMessage.id more widely than the request-id middleware's string.
    requestIdMiddleware(request as unknown as RequestWithId, response, () =>
      logging(request, response, () => {
        const status = Number(/\/status\/(\d+)/.exec(request.url ?? '')?.[1] ?? 200);
        setTimeout(() => response.writeHead(status, { 'content-type': 'text/plain' }).end('done'), 5);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const get = (path: string) =>
    new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path,
          headers: {
            host: 'parley.test',
            'x-request-id': `id-${path.replace(/\W/g, '')}`,
            authorization: 'Bearer secret',
          },
        },
        (res) => res.resume().on('end', () => resolve()),
      );
      req.on('error', reject);
      req.end();
    });
  return { get, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const PATHS = ['/status/200?x=1', '/status/404?y=2', '/status/500', '/health/ready', '/status/302'];

async function linesOf(
  level: 'info' | 'warn',
  make: (logger: ReturnType<typeof createLogger>) => Middleware,
): Promise<Record<string, unknown>[]> {
  const out = new Lines();
  const server = await serve(make(createLogger(level, out)));
  for (const path of PATHS) await server.get(path);
  await server.close();
  // Only the clocks, the client's ephemeral port and the call stack of pino-http's own error for a 5xx
  // differ from run to run.
  return out.lines.map(({ time: _time, responseTime, err, ...line }) => {
    const req = line.req as { remotePort?: unknown };
    const error = err as { stack?: string } | undefined;
    return {
      ...line,
      ...(error ? { err: { ...error, stack: error.stack?.split('\n')[0] } } : {}),
      responseTime: typeof responseTime,
      req: { ...req, remotePort: typeof req.remotePort },
    };
  });
}

describe('httpLogging', () => {
  it('writes the same lines as plain pino-http when successful requests are not logged', async () => {
    const expected = await linesOf('warn', plain);
    expect(expected.map((line) => line.level)).toEqual(['warn', 'error']);
    expect(await linesOf('warn', httpLogging)).toEqual(expected);
  });

  it('is plain pino-http when successful requests are logged', async () => {
    const expected = await linesOf('info', plain);
    expect(expected.map((line) => line.level)).toEqual(['info', 'warn', 'error', 'info']);
    expect(await linesOf('info', httpLogging)).toEqual(expected);
  });

  it('logs the URL a request arrived with, without params, when routing rewrote them before its line', async () => {
    // As Express's router does while it routes (it restores req.url afterwards; a rewrite may also stay).
    const rewriting = (logger: ReturnType<typeof createLogger>): Middleware => {
      const logging = httpLogging(logger);
      return (request, response, next) =>
        logging(request, response, () => {
          request.url = `/status/404/rewritten`;
          (request as IncomingMessage & { params?: unknown }).params = { id: 'routed' };
          next();
        });
    };
    const [line] = await linesOf('warn', rewriting);
    expect(line.req).toMatchObject({ method: 'GET', url: '/status/200?x=1' });
    expect(line.req).not.toHaveProperty('params');
  });

  it('keeps redacting the authorization header', async () => {
    const [line] = await linesOf('warn', httpLogging);
    expect((line.req as { headers: Record<string, unknown> }).headers.authorization).toBe('[redacted]');
  });
});
