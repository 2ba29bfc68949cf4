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
