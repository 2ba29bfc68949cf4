import { HttpStatus } from '@nestjs/common';

/** A field-level validation message: `{ field: 'config.baseUrl', messages: ['must be a URL'] }`. */
export interface FieldError {
  field: string;
  messages: string[];
}

/**
 * Errors that carry an HTTP status and a stable, machine-readable code. Services throw these;
 * the exception filter turns them into the one JSON error shape.
 */
export class AppError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends AppError {
  constructor(what: string, id: string) {
    super(HttpStatus.NOT_FOUND, 'not_found', `${what} ${id} was not found`);
  }
}

export class ConflictError extends AppError {
  constructor(message: string, details?: unknown) {
    super(HttpStatus.CONFLICT, 'conflict', message, details);
  }
}

export class ValidationFailedError extends AppError {
  constructor(details: FieldError[], message = 'The request is invalid: see details for each field') {
    super(HttpStatus.BAD_REQUEST, 'validation_failed', message, details);
  }
}

export class UnauthorizedError extends AppError {
  constructor(message = 'A valid "Authorization: Bearer <ADMIN_API_KEY>" header is required') {
    super(HttpStatus.UNAUTHORIZED, 'unauthorized', message);
  }
}

/** True for a Postgres unique violation (23505), optionally on a given constraint or index. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const driverError =
    (error as { driverError?: { code?: string; constraint?: string } })?.driverError ?? error;
  const { code, constraint: name } = (driverError ?? {}) as { code?: string; constraint?: string };
  return code === '23505' && (constraint === undefined || name === constraint);
}

/**
 * SQLSTATEs that mean the database went away rather than that the statement was wrong: class 08
 * (connection exception), 57P01–57P03 (terminated by an administrator, crash or shutdown; still starting),
 * 53300 (too many connections). https://www.postgresql.org/docs/15/errcodes-appendix.html
 */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
/** Socket-level errors node-postgres passes through, and its own messages for a dropped or unobtainable connection. */
const UNAVAILABLE_SYSTEM_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT']);
const UNAVAILABLE_MESSAGE =
  /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect)/;

/**
 * True when `error` says the database could not be reached or dropped the connection (a restart, a failover):
 * the work may succeed if tried again, unlike a failed statement.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const driverError = ((error as { driverError?: unknown })?.driverError ?? error) as
    { code?: unknown; message?: unknown } | undefined;
  if (!driverError || typeof driverError !== 'object') return false;
  const code = typeof driverError.code === 'string' ? driverError.code : '';
  const message = typeof driverError.message === 'string' ? driverError.message : '';
  return (
    UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_SYSTEM_CODES.has(code) || UNAVAILABLE_MESSAGE.test(message)
  );
}
