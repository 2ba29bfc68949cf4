import { inspect } from 'node:util';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { decodeTencentUserSig } from '../../test/fakes/fake-tencent-server.js';
import { DEFAULT_USER_SIG_EXPIRE_SECONDS, TencentUserSigProvider } from './tencent-user-sig.js';

/** The protocol vector (tencent-chat.md, "UserSig v2"). */
const VECTOR = {
  sdkAppId: 1400000000,
  secretKey: '5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e',
  identifier: 'xiaojun',
  time: 1700000000,
  expire: 15552000,
  sig: 'LvA7d/Iw7gSsnskvVzBDPOCCDbuNCw4GHwTC0bip+B4=',
};

const timeOf = (userSig: string): unknown => decodeTencentUserSig(userSig)['TLS.time'];

describe('TencentUserSigProvider', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  it('generates the protocol vector with the clock frozen', () => {
    jest.useFakeTimers({ now: VECTOR.time * 1000 });
    const provider = new TencentUserSigProvider({
      sdkAppId: VECTOR.sdkAppId,
      secretKey: VECTOR.secretKey,
      identifier: VECTOR.identifier,
      expireSeconds: VECTOR.expire,
    });
    const userSig = provider.get();
    expect(userSig).toMatch(/^eJ[A-Za-z0-9*\-_]+$/);
    expect(decodeTencentUserSig(userSig)).toEqual({
      'TLS.ver': '2.0',
      'TLS.identifier': VECTOR.identifier,
      'TLS.sdkappid': VECTOR.sdkAppId,
      'TLS.time': VECTOR.time,
      'TLS.expire': VECTOR.expire,
      'TLS.sig': VECTOR.sig,
    });
  });

  it('caches the sig for 7 days by default and renews it when less than 10% of its lifetime remains', () => {
    jest.useFakeTimers({ now: VECTOR.time * 1000 });
    const provider = new TencentUserSigProvider({
      sdkAppId: 1400000000,
      secretKey: 'k',
      identifier: 'administrator',
    });
    const first = provider.get();
    expect(decodeTencentUserSig(first)['TLS.expire']).toBe(DEFAULT_USER_SIG_EXPIRE_SECONDS);

    const lifetimeMs = DEFAULT_USER_SIG_EXPIRE_SECONDS * 1000;
    jest.setSystemTime(VECTOR.time * 1000 + lifetimeMs * 0.89);
    expect(provider.get()).toBe(first);

    jest.setSystemTime(VECTOR.time * 1000 + lifetimeMs * 0.91);
    const renewed = provider.get();
    expect(renewed).not.toBe(first);
    expect(timeOf(renewed)).toBe(Math.floor((VECTOR.time * 1000 + lifetimeMs * 0.91) / 1000));
    expect(provider.get()).toBe(renewed);
  });

  it('generates a fresh sig after invalidate()', () => {
    jest.useFakeTimers({ now: VECTOR.time * 1000 });
    const provider = new TencentUserSigProvider({
      sdkAppId: 1400000000,
      secretKey: 'k',
      identifier: 'administrator',
    });
    const first = provider.get();
    jest.setSystemTime((VECTOR.time + 5) * 1000);
    expect(provider.get()).toBe(first);
    provider.invalidate();
    expect(timeOf(provider.get())).toBe(VECTOR.time + 5);
  });

  it('keeps the secret key out of logs', () => {
    const provider = new TencentUserSigProvider({
      sdkAppId: 1400000000,
      secretKey: 'top-secret',
      identifier: 'admin',
    });
    provider.get();
    expect(JSON.stringify(provider)).not.toContain('top-secret');
    expect(inspect(provider, { depth: 5 })).not.toContain('top-secret');
  });

  it('refuses an unusable configuration', () => {
    expect(() => new TencentUserSigProvider({ sdkAppId: 0, secretKey: 'k', identifier: 'a' })).toThrow(
      RangeError,
    );
    expect(() => new TencentUserSigProvider({ sdkAppId: 1, secretKey: '', identifier: 'a' })).toThrow(
      RangeError,
    );
    expect(
      () => new TencentUserSigProvider({ sdkAppId: 1, secretKey: 'k', identifier: 'a', expireSeconds: 0 }),
    ).toThrow(RangeError);
  });
});
