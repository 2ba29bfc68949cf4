import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Level, Logger } from 'pino';
import { pinoHttp, startTime } from 'pino-http';
import type { Middleware } from './middleware.js';
import type { RequestWithId } from './request-id.js';

const levelOf = (response: ServerResponse, error?: Error): Level =>
  error || response.statusCode >= 500 ? 'error' : response.statusCode >= 400 ? 'warn' : 'info';

/** What of a request may have changed by the time its line is written (see httpLogging). */
interface Arrival {
  url: string | undefined;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  params: unknown;
}
const ARRIVED = Symbol('request as it arrived');
type RequestWithArrival = IncomingMessage & {
  [ARRIVED]?: Arrival;
  originalUrl?: string;
  params?: unknown;
};
/** pino's serialised request, as far as the arrival corrects it. */
interface SerializedRequest {
  raw?: RequestWithArrival;
  url?: string;
  remoteAddress?: string;
  remotePort?: number;
  params?: unknown;
}

/**
 * One line per request through pino-http: `info` for 2xx/3xx, `warn` for 4xx, `error` for 5xx.
 *
 * pino-http builds a child logger for every request as it arrives, serialising and redacting the request,
 * whether or not its line will be written. When the level hides `info` (LOG_LEVEL=warn and above, the
 * usual production setting) that work is thrown away for every successful webhook: there the middleware
 * only notes the arrival (time, and what of the request may change: its URL under Express's routing, the
 * peer's address once the socket closes, the route's params) and runs pino-http once the response is over,
 * for the responses whose level is enabled — the same line, with the same request fields and response time.
 */
export function httpLogging(logger: Logger): Middleware {
  const options = {
    logger,
    genReqId: (request: IncomingMessage) => (request as RequestWithId).id ?? '',
    customLogLevel: (_request: IncomingMessage, response: ServerResponse, error?: Error) =>
      levelOf(response, error),
    autoLogging: { ignore: (request: IncomingMessage) => request.url?.startsWith('/health') ?? false },
  };
  if (logger.isLevelEnabled('info')) return pinoHttp(options);

  const deferred = pinoHttp({
    ...options,
    // Log the request as it was on arrival (pino-http hands the std-serialised request to this).
    serializers: { req: asArrived },
  });
  return (request, response, next) => {
    response[startTime] = Date.now();
    const arriving = request as RequestWithArrival;
    arriving[ARRIVED] = {
      url: arriving.originalUrl ?? request.url,
      remoteAddress: request.socket?.remoteAddress,
      remotePort: request.socket?.remotePort,
      params: arriving.params,
    };
    let over = false;
    const onOver = (error?: Error) => {
      if (over) return;
      over = true;
      response.off('finish', onFinish).off('close', onFinish).off('error', onOver);
      if (!logger.isLevelEnabled(levelOf(response, error ?? response.err))) return;
      // pino-http attaches its end-of-response listeners; call the one it just added, as the event would.
      const before = new Set(response.listeners('finish'));
      deferred(request, response, () => undefined);
      for (const listener of response.listeners('finish')) {
        if (!before.has(listener)) (listener as (error?: Error) => void).call(response, error);
      }
    };
    const onFinish = () => onOver();
    response.on('finish', onFinish).on('close', onFinish).on('error', onOver);
    next();
  };
}

/** pino's serialised request with what may have changed since it arrived put back as it was. */
function asArrived(serialized: SerializedRequest): SerializedRequest {
  const arrival = serialized.raw?.[ARRIVED];
  if (!arrival) return serialized;
  serialized.url = arrival.url;
  serialized.remoteAddress = arrival.remoteAddress;
  serialized.remotePort = arrival.remotePort;
  if (arrival.params === undefined) delete serialized.params;
  else serialized.params = arrival.params;
  return serialized;
}
