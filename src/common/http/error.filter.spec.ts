import { BadRequestException } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { NotFoundError } from '../errors.js';
import { toErrorBody } from './error.filter.js';

describe('toErrorBody', () => {
  it('keeps the status and code of an application error', () => {
    expect(toErrorBody(new NotFoundError('Bot', 'b1'))).toMatchObject({ statusCode: 404, code: 'not_found' });
  });

  it('makes a dropped database connection a 503, not a 500', () => {
    const dropped = new QueryFailedError(
      'SELECT 1',
      [],
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    );
    expect(toErrorBody(dropped)).toMatchObject({ statusCode: 503, code: 'unavailable' });
    expect(toErrorBody(new Error('Connection terminated unexpectedly')).statusCode).toBe(503);
  });

  it('keeps a failed statement a 500 without its text', () => {
    const failed = new QueryFailedError(
      'SELECT secret',
      [],
      Object.assign(new Error('x'), { code: '42601' }),
    );
    expect(toErrorBody(failed)).toEqual({
      statusCode: 500,
      code: 'internal_error',
      message: 'An unexpected error occurred; it has been logged',
    });
  });

  it('joins the messages of a Nest HTTP exception', () => {
    expect(toErrorBody(new BadRequestException(['a is wrong', 'b is wrong']))).toMatchObject({
      statusCode: 400,
      message: 'a is wrong; b is wrong',
    });
  });
});
