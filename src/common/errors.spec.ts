import { QueryFailedError } from 'typeorm';
import { isDatabaseUnavailable, isUniqueViolation } from './errors.js';

const pgError = (code: string, message = 'x') => Object.assign(new Error(message), { code });

describe('isDatabaseUnavailable', () => {
  it.each([
    [
      'a backend terminated by an administrator',
      pgError('57P01', 'terminating connection due to administrator command'),
    ],
    ['a server shutting down', pgError('57P02')],
    ['a server still starting', pgError('57P03', 'the database system is starting up')],
    ['a connection exception', pgError('08006')],
    ['too many connections', pgError('53300')],
    ['a refused socket', pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432')],
    ['a dropped connection', new Error('Connection terminated unexpectedly')],
    ['a pool that could not connect in time', new Error('timeout exceeded when trying to connect')],
  ])('is true for %s', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(true);
    expect(isDatabaseUnavailable(new QueryFailedError('SELECT 1', [], error))).toBe(true);
  });

  it.each([
    ['a unique violation', pgError('23505')],
    ['a syntax error', pgError('42601')],
    ['a statement timeout', pgError('57014', 'canceling statement due to statement timeout')],
    ['a plain error', new Error('the model is down')],
    ['a non-error', 'Connection terminated'],
    ['nothing', undefined],
  ])('is false for %s', (_, error) => {
    expect(isDatabaseUnavailable(error)).toBe(false);
  });
});

describe('isUniqueViolation', () => {
  it('matches 23505, on the named constraint when one is given', () => {
    const error = new QueryFailedError('INSERT', [], Object.assign(pgError('23505'), { constraint: 'uq_a' }));
    expect(isUniqueViolation(error)).toBe(true);
    expect(isUniqueViolation(error, 'uq_a')).toBe(true);
    expect(isUniqueViolation(error, 'uq_b')).toBe(false);
    expect(isUniqueViolation(pgError('23503'))).toBe(false);
  });
});
