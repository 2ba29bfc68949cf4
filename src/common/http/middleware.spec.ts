import { jest } from '@jest/globals';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { composeMiddleware, type Middleware } from './middleware.js';

const request = {} as IncomingMessage;
const response = {} as ServerResponse;

describe('composeMiddleware', () => {
  it('runs the middlewares in order, then hands on', () => {
    const calls: string[] = [];
    const named =
      (name: string): Middleware =>
      (_request, _response, next) => {
        calls.push(name);
        next();
      };
    const next = jest.fn();
    composeMiddleware(named('a'), named('b'), named('c'))(request, response, next);
    expect(calls).toEqual(['a', 'b', 'c']);
    expect(next).toHaveBeenCalledWith();
  });

  it('stops at an error and passes it on', () => {
    const failure = new Error('bad');
    const later = jest.fn();
    const next = jest.fn();
    composeMiddleware((_request, _response, go) => go(failure), later)(request, response, next);
    expect(later).not.toHaveBeenCalled();
    expect(next).toHaveBeenCalledWith(failure);
  });

  it('hands on when a middleware continues later (asynchronously)', async () => {
    const next = jest.fn();
    composeMiddleware((_request, _response, go) => setImmediate(go))(request, response, next);
    expect(next).not.toHaveBeenCalled();
    await new Promise((resolve) => setImmediate(resolve));
    expect(next).toHaveBeenCalledWith();
  });
});
