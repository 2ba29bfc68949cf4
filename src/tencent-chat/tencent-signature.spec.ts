import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  computeTencentCallbackSign,
  getQueryParamCaseInsensitive,
  readTencentCallbackQuery,
  verifyTencentCallback,
} from './tencent-signature.js';

const TOKEN = 'xxxxyyyy';
const REQUEST_TIME = '1669872112';
const OFFICIAL_SIGN = '17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061';
const options = { callbackToken: TOKEN, expectedSdkAppId: 1400000000, now: Number(REQUEST_TIME) * 1000 };
const params = { sign: OFFICIAL_SIGN, requestTime: REQUEST_TIME, sdkAppId: '1400000000' };

describe('computeTencentCallbackSign', () => {
  it('matches the official example (token xxxxyyyy, RequestTime 1669872112)', () => {
    expect(computeTencentCallbackSign(TOKEN, REQUEST_TIME)).toBe(OFFICIAL_SIGN);
  });
});

describe('verifyTencentCallback', () => {
  it('accepts the official example', () => {
    expect(verifyTencentCallback(params, options)).toEqual({ ok: true });
  });

  it('accepts an upper-case hex Sign', () => {
    expect(verifyTencentCallback({ ...params, sign: OFFICIAL_SIGN.toUpperCase() }, options)).toEqual({
      ok: true,
    });
  });

  it('accepts a request up to 60 seconds old or early', () => {
    expect(verifyTencentCallback(params, { ...options, now: options.now + 60_000 })).toEqual({ ok: true });
    expect(verifyTencentCallback(params, { ...options, now: options.now - 60_000 })).toEqual({ ok: true });
  });

  it('rejects a replay older than the window as stale', () => {
    expect(verifyTencentCallback(params, { ...options, now: options.now + 61_000 })).toEqual({
      ok: false,
      reason: 'stale',
    });
    expect(verifyTencentCallback(params, { ...options, now: options.now + 5_000, windowSeconds: 4 })).toEqual(
      {
        ok: false,
        reason: 'stale',
      },
    );
  });

  it('rejects a non-numeric RequestTime as stale', () => {
    expect(verifyTencentCallback({ ...params, requestTime: '16698721e3' }, options)).toEqual({
      ok: false,
      reason: 'stale',
    });
  });

  it('rejects a wrong signature, a truncated one and one made with another token', () => {
    const flipped = `${OFFICIAL_SIGN.slice(0, -1)}0`;
    for (const sign of [
      flipped,
      OFFICIAL_SIGN.slice(0, 10),
      computeTencentCallbackSign('other', REQUEST_TIME),
    ]) {
      expect(verifyTencentCallback({ ...params, sign }, options)).toEqual({ ok: false, reason: 'bad-sign' });
    }
  });

  it('rejects a signature replayed with another RequestTime', () => {
    expect(verifyTencentCallback({ ...params, requestTime: '1669872113' }, options)).toEqual({
      ok: false,
      reason: 'bad-sign',
    });
  });

  it('rejects everything when no callback token is configured', () => {
    expect(verifyTencentCallback(params, { ...options, callbackToken: '' })).toEqual({
      ok: false,
      reason: 'bad-sign',
    });
  });

  it('rejects another app as wrong-app', () => {
    expect(verifyTencentCallback({ ...params, sdkAppId: '1400000001' }, options)).toEqual({
      ok: false,
      reason: 'wrong-app',
    });
  });

  it('reports missing Sign, RequestTime or SdkAppid', () => {
    for (const missing of ['sign', 'requestTime', 'sdkAppId'] as const) {
      expect(verifyTencentCallback({ ...params, [missing]: undefined }, options)).toEqual({
        ok: false,
        reason: 'missing',
      });
      expect(verifyTencentCallback({ ...params, [missing]: ' ' }, options)).toEqual({
        ok: false,
        reason: 'missing',
      });
    }
  });

  it('never throws and never accepts a random signature', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (sign, requestTime, sdkAppId) => {
        const result = verifyTencentCallback({ sign, requestTime, sdkAppId }, options);
        expect(result.ok).toBe(false);
      }),
    );
  });
});

describe('reading the webhook query string', () => {
  it('reads parameter names case-insensitively from a query object', () => {
    const query = {
      sdkappid: '1400000000',
      callbackcommand: 'Bot.OnC2CMessage',
      SIGN: OFFICIAL_SIGN,
      requesttime: '1',
    };
    expect(readTencentCallbackQuery(query)).toMatchObject({
      sdkAppId: '1400000000',
      callbackCommand: 'Bot.OnC2CMessage',
      sign: OFFICIAL_SIGN,
      requestTime: '1',
    });
  });

  it('reads the documented spelling from URLSearchParams', () => {
    const search = new URLSearchParams(
      'SdkAppid=1400000000&CallbackCommand=Bot.OnGroupMessage&contenttype=json&ClientIP=1.2.3.4&OptPlatform=Web&Sign=ab&RequestTime=2',
    );
    expect(readTencentCallbackQuery(search)).toEqual({
      sdkAppId: '1400000000',
      callbackCommand: 'Bot.OnGroupMessage',
      sign: 'ab',
      requestTime: '2',
      contentType: 'json',
      clientIp: '1.2.3.4',
      optPlatform: 'Web',
    });
  });

  it('takes the first value of a repeated parameter and ignores non-strings', () => {
    expect(getQueryParamCaseInsensitive({ Sign: ['a', 'b'] }, 'sign')).toBe('a');
    expect(getQueryParamCaseInsensitive({ Sign: { nested: 'x' } }, 'sign')).toBeUndefined();
    expect(getQueryParamCaseInsensitive(undefined, 'sign')).toBeUndefined();
  });

  it('feeds verifyTencentCallback straight from the query', () => {
    const query = { SdkAppid: '1400000000', Sign: OFFICIAL_SIGN, RequestTime: REQUEST_TIME };
    expect(verifyTencentCallback(readTencentCallbackQuery(query), options)).toEqual({ ok: true });
  });
});
