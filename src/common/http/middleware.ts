import type { IncomingMessage, ServerResponse } from 'node:http';

export type Middleware = (
  request: IncomingMessage,
  response: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/**
 * Several middlewares as one, run in order. Express's router pays for every layer on every request (it
 * re-parses the path and tries the layer's pattern, allocating as it goes); the middlewares every request
 * passes through are cheaper as a single layer.
 */
export function composeMiddleware(...middlewares: Middleware[]): Middleware {
  return (request, response, next) => {
    let index = 0;
    const step = (error?: unknown): void => {
      if (error !== undefined && error !== null) return next(error);
      const middleware = middlewares[index++];
      if (!middleware) return next();
      middleware(request, response, step);
    };
    step();
  };
}
