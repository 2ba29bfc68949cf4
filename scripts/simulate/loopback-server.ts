import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP server standing in for a platform's API (or WeCom's response_url) while a simulator plays
 * the platform: it reads each request's body whole and hands it to `handle`.
 */
export abstract class LoopbackServer {
  private server?: Server;

  /** Listens on 127.0.0.1 (port 0: any free port) and returns its origin, e.g. `http://127.0.0.1:40123`. */
  async listen(port: number): Promise<string> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => this.handle(request, response, Buffer.concat(chunks).toString('utf8')));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.closeAllConnections();
      this.server.close(() => resolve());
    });
  }

  protected abstract handle(request: IncomingMessage, response: ServerResponse, body: string): void;
}

/** Parses a command-line number that must be positive (or, with allowZero, at least 0). */
export function positiveNumber(text: string, name: string, allowZero = false): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0))
    throw new Error(`${name} must be a positive number`);
  return value;
}
