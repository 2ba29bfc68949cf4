import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Express } from 'express';
import { createServer, IncomingMessage, ServerResponse, type Server } from 'node:http';

/**
 * Nest's Express adapter whose HTTP server creates requests and responses that already have the Express
 * app's prototypes (`app.request`, `app.response`).
 *
 * Express gives every request and response the app's prototype as it enters (`Object.setPrototypeOf` in
 * `app.handle`). Changing an object's prototype makes V8 keep that request's objects through young-generation
 * collections: at 500 requests/s on a route that only answers `{}`, 4 MB survived each scavenge and 3 MB were
 * promoted (7–10 ms scavenges, and a full collection every few seconds), against 5 KB when the objects are
 * born with the prototype Express sets — its call is then a no-op (a prototype set to itself is not a change).
 * Those pauses were most of Parley's webhook tail latency. See expressjs/express#5998, and
 * docs/benchmarks.md ("2026-12-04, evening").
 */
export class ParleyExpressAdapter extends ExpressAdapter {
  override initHttpServer(options: NestApplicationOptions): void {
    // Nest's own server for what Parley does not use (TLS, a 503 middleware, connection tracking).
    if (options.httpsOptions || options.return503OnClosing || options.forceCloseConnections) {
      super.initHttpServer(options);
      return;
    }
    this.httpServer = expressHttpServer(this.getInstance<Express>());
  }
}

/** A node:http server for `app` whose requests and responses are created with the app's prototypes. */
export function expressHttpServer(app: Express): Server {
  return createServer(
    {
      IncomingMessage: withPrototype<typeof IncomingMessage>(IncomingMessage, app.request),
      ServerResponse: withPrototype<typeof ServerResponse>(ServerResponse, app.response),
    },
    app,
  );
}

/**
 * A constructor that builds what `base` builds, with `prototype` as the new object's prototype.
 *
 * `base.apply(this, args)`, not `Reflect.construct(base, args, newTarget)`: V8 (Node 20) gives every object built
 * through a foreign new.target a map of its own, which brought back the survivals this adapter removes.
 * IncomingMessage and ServerResponse are plain functions in Node; if one became a class, this would throw on
 * the first request (every e2e test would).
 */
function withPrototype<T extends new (...args: never[]) => object>(base: T, prototype: object): T {
  if (!(prototype instanceof base)) throw new Error(`the prototype must extend ${base.name}`);
  function Constructed(this: object, ...args: unknown[]): void {
    (base as unknown as (...args: unknown[]) => void).apply(this, args);
  }
  Constructed.prototype = prototype;
  return Constructed as unknown as T;
}
