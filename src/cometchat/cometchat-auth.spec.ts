import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkBasicAuth } from './cometchat-auth.js';

const basic = (credentials: string): string => `Basic ${Buffer.from(credentials, 'utf8').toString('base64')}`;

describe('checkBasicAuth', () => {
  it('accepts the configured username and password', () => {
    expect(checkBasicAuth(basic('parley:s3cret'), 'parley', 's3cret')).toBe(true);
  });

  it('accepts any case of the scheme and surrounding spaces', () => {
    const token = Buffer.from('parley:s3cret').toString('base64');
    expect(checkBasicAuth(`basic ${token}`, 'parley', 's3cret')).toBe(true);
    expect(checkBasicAuth(`  BASIC   ${token}  `, 'parley', 's3cret')).toBe(true);
  });

  it('accepts a password containing colons and non-ASCII characters', () => {
    expect(checkBasicAuth(basic('parley:a:b:密码'), 'parley', 'a:b:密码')).toBe(true);
  });

  it('accepts a token without base64 padding', () => {
    const token = Buffer.from('parley:pw').toString('base64').replace(/=+$/, '');
    expect(checkBasicAuth(`Basic ${token}`, 'parley', 'pw')).toBe(true);
  });

  it('rejects a wrong password, a wrong username and swapped credentials', () => {
    expect(checkBasicAuth(basic('parley:wrong'), 'parley', 's3cret')).toBe(false);
    expect(checkBasicAuth(basic('other:s3cret'), 'parley', 's3cret')).toBe(false);
    expect(checkBasicAuth(basic('s3cret:parley'), 'parley', 's3cret')).toBe(false);
    expect(checkBasicAuth(basic('parley:s3cret2'), 'parley', 's3cret')).toBe(false);
  });

  it('rejects missing, malformed and other-scheme headers', () => {
    for (const header of [
      undefined,
      null,
      '',
      'Basic',
      'Basic ',
      `Bearer ${Buffer.from('parley:s3cret').toString('base64')}`,
      'Basic not*base64!',
      `Basic ${Buffer.from('parley:s3cret').toString('base64')} extra`,
      basic('no-colon-here'),
      `Basic ${'A'.repeat(5000)}`,
    ]) {
      expect(checkBasicAuth(header, 'parley', 's3cret')).toBe(false);
    }
  });

  it('fails closed when no password is configured', () => {
    expect(checkBasicAuth(basic('parley:'), 'parley', '')).toBe(false);
    expect(checkBasicAuth(basic(':'), '', '')).toBe(false);
  });

  it('never throws and only accepts the exact credentials', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (user, password) => {
        const expected = user === 'parley' && password === 's3cret';
        expect(checkBasicAuth(basic(`${user}:${password}`), 'parley', 's3cret')).toBe(expected);
      }),
    );
    fc.assert(
      fc.property(fc.string(), (header) => {
        expect(typeof checkBasicAuth(header, 'parley', 's3cret')).toBe('boolean');
      }),
    );
  });
});
