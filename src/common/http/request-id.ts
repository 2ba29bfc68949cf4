import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

export const REQUEST_ID_HEADER = 'x-request-id';
const SAFE_ID = /^[\w.:-]{1,100}$/;

export type RequestWithId = IncomingMessage & { id?: string };

/** Reuses a caller's well-formed x-request-id (for tracing across proxies) or makes one. */
export function requestIdOf(request: IncomingMessage): string {
  const given = request.headers[REQUEST_ID_HEADER];
  return typeof given === 'string' && SAFE_ID.test(given) ? given : randomUUID();
}

/** Express middleware: every request gets an id, every response carries it. */
export function requestIdMiddleware(
  request: IncomingMessage,
  response: ServerResponse,
  next: () => void,
): void {
  const withId = request as RequestWithId;
  withId.id ??= requestIdOf(request);
  response.setHeader(REQUEST_ID_HEADER, withId.id);
  next();
}
