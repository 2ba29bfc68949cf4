import { LoggerService } from '@nestjs/common';
import { pino, Logger as PinoLogger } from 'pino';
import type { LogLevel } from '../config/app-config.js';

/**
 * Paths that must never reach a log line. Secrets of providers are encrypted and masked before
 * they are logged anywhere, but this is the safety net for headers and raw bodies.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers.apikey',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.apiKey',
  '*.secretKey',
  '*.token',
  '*.encodingAesKey',
  '*.callbackToken',
  '*.basicAuthPassword',
  '*.password',
  '*.usersig',
  '*.config.apiKey',
  '*.config.secretKey',
  '*.config.token',
  '*.config.encodingAesKey',
  '*.config.callbackToken',
  '*.config.basicAuthPassword',
];

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): PinoLogger {
  return pino(
    {
      level,
      base: { service: 'parley' },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination as pino.DestinationStream | undefined,
  );
}

/** Routes Nest's own logging through pino, so every line is structured JSON. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: PinoLogger) {}

  log(message: unknown, context?: string) {
    this.write('info', message, context);
  }
  error(message: unknown, trace?: string, context?: string) {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.write('warn', message, context);
  }
  debug(message: unknown, context?: string) {
    this.write('debug', message, context);
  }
  verbose(message: unknown, context?: string) {
    this.write('trace', message, context);
  }
  fatal(message: unknown, context?: string) {
    this.write('fatal', message, context);
  }

  private write(level: 'info' | 'warn' | 'debug' | 'trace' | 'fatal', message: unknown, context?: string) {
    if (typeof message === 'object' && message !== null) this.logger[level]({ context, ...message });
    else this.logger[level]({ context }, String(message));
  }
}
