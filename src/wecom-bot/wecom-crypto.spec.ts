import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import * as vendor from '@wecom/crypto';
import { WeComCrypto, WeComCryptoError, WeComCryptoErrorCode } from './wecom-crypto.js';

// The official WXBizMsgCrypt sample vectors (see shared/protocols/wecom-ai-bot.md).
const TOKEN = 'QDG6eK';
const KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const RECEIVE_ID = 'wx5823bf96d3bd56c7';
const VERIFY = {
  timestamp: '1409659589',
  nonce: '263014780',
  echostr: 'P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==',
  signature: '5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3',
  plaintext: '1616140317555161061',
  random: 'c41b64491c2468d0',
};
const MESSAGE = {
  timestamp: '1409659813',
  nonce: '1372623149',
  signature: '477715d11cdb4164915debcba66cb864d751f3e6',
  random: '0960688932c47ef1',
  encrypt:
    'RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==',
};
const OTHER_KEY = 'abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
const KNOWN_CODES = new Set<number>(Object.values(WeComCryptoErrorCode));

const crypto = new WeComCrypto(TOKEN, KEY);

/** Encrypts raw bytes with the vector key, bypassing all framing, to build malformed plaintexts. */
function rawEncrypt(plaintext: Buffer, encodingAesKey = KEY): string {
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  const cipher = createCipheriv('aes-256-cbc', key, key.subarray(0, 16)).setAutoPadding(false);
  return Buffer.concat([cipher.update(plaintext), cipher.final()]).toString('base64');
}

function frame(message: Buffer, receiveId: Buffer, declaredLength = message.length): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(declaredLength, 0);
  return Buffer.concat([Buffer.alloc(16, 7), length, message, receiveId]);
}

function pad32(data: Buffer): Buffer {
  const pad = 32 - (data.length % 32);
  return Buffer.concat([data, Buffer.alloc(pad, pad)]);
}

function codeOf(action: () => unknown): number | string {
  try {
    action();
  } catch (error) {
    return error instanceof WeComCryptoError ? error.code : `not a WeComCryptoError: ${String(error)}`;
  }
  return 'did not throw';
}

/** Runs `action` and fails unless it returns or throws a WeComCryptoError with a known code. */
function onlyCryptoErrors(action: () => unknown): void {
  try {
    action();
  } catch (error) {
    if (!(error instanceof WeComCryptoError) || !KNOWN_CODES.has(error.code)) throw error;
  }
}

describe('WeComCrypto', () => {
  describe('official test vectors', () => {
    it('decrypts the URL verification echostr', () => {
      expect(crypto.decrypt(VERIFY.echostr)).toEqual({ message: VERIFY.plaintext, receiveId: RECEIVE_ID });
    });

    it('decrypts the message vector, whose 30-byte pad exceeds an AES block', () => {
      const { message, receiveId } = crypto.decrypt(MESSAGE.encrypt, RECEIVE_ID);
      expect(receiveId).toBe(RECEIVE_ID);
      expect(message).toContain('<Content><![CDATA[hello]]></Content>');
      expect(message.startsWith('<xml>')).toBe(true);
    });

    it('computes both official msg_signature values', () => {
      expect(crypto.signature(VERIFY.timestamp, VERIFY.nonce, VERIFY.echostr)).toBe(VERIFY.signature);
      expect(crypto.signature(MESSAGE.timestamp, MESSAGE.nonce, MESSAGE.encrypt)).toBe(MESSAGE.signature);
    });

    it('verifies both official msg_signature values', () => {
      expect(crypto.verifySignature(VERIFY.signature, VERIFY.timestamp, VERIFY.nonce, VERIFY.echostr)).toBe(
        true,
      );
      expect(
        crypto.verifySignature(MESSAGE.signature, MESSAGE.timestamp, MESSAGE.nonce, MESSAGE.encrypt),
      ).toBe(true);
    });

    it('re-creates the echostr byte for byte from its plaintext and random prefix', () => {
      const random = Buffer.from(VERIFY.random, 'latin1');
      expect(crypto.encrypt(VERIFY.plaintext, RECEIVE_ID, random)).toBe(VERIFY.echostr);
    });

    it('re-creates the message ciphertext byte for byte from its plaintext and random prefix', () => {
      const { message } = crypto.decrypt(MESSAGE.encrypt);
      const random = Buffer.from(MESSAGE.random, 'latin1');
      expect(crypto.encrypt(message, RECEIVE_ID, random)).toBe(MESSAGE.encrypt);
    });
  });

  describe('signature', () => {
    it('rejects a signature computed with another token', () => {
      const other = new WeComCrypto('another', KEY);
      const forged = other.signature(VERIFY.timestamp, VERIFY.nonce, VERIFY.echostr);
      expect(crypto.verifySignature(forged, VERIFY.timestamp, VERIFY.nonce, VERIFY.echostr)).toBe(false);
    });

    it('rejects a signature over another timestamp, nonce or ciphertext', () => {
      const { signature, timestamp, nonce, echostr } = VERIFY;
      expect(crypto.verifySignature(signature, '1409659590', nonce, echostr)).toBe(false);
      expect(crypto.verifySignature(signature, timestamp, '263014781', echostr)).toBe(false);
      expect(crypto.verifySignature(signature, timestamp, nonce, MESSAGE.encrypt)).toBe(false);
    });

    it('returns false for a signature of the wrong length instead of throwing', () => {
      const { timestamp, nonce, echostr } = VERIFY;
      expect(crypto.verifySignature('', timestamp, nonce, echostr)).toBe(false);
      expect(crypto.verifySignature(`${VERIFY.signature}0`, timestamp, nonce, echostr)).toBe(false);
      expect(crypto.verifySignature('é'.repeat(20), timestamp, nonce, echostr)).toBe(false);
    });

    it('is case-sensitive, like the official SDKs', () => {
      const { timestamp, nonce, echostr } = VERIFY;
      expect(crypto.verifySignature(VERIFY.signature.toUpperCase(), timestamp, nonce, echostr)).toBe(false);
    });

    it('returns false when a value is missing at runtime (e.g. an absent query parameter)', () => {
      const missing = undefined as unknown as string;
      expect(crypto.verifySignature(missing, VERIFY.timestamp, VERIFY.nonce, VERIFY.echostr)).toBe(false);
      expect(crypto.verifySignature(VERIFY.signature, missing, VERIFY.nonce, VERIFY.echostr)).toBe(false);
    });

    it('matches @wecom/crypto getSignature', () => {
      fc.assert(
        fc.property(fc.string(), fc.string(), fc.base64String(), (timestamp, nonce, encrypted) => {
          expect(crypto.signature(timestamp, nonce, encrypted)).toBe(
            vendor.getSignature(TOKEN, timestamp, nonce, encrypted),
          );
        }),
      );
    });
  });

  describe('a signed payload, as WeComSignatureGuard and WeComCryptoInterceptor take it', () => {
    it('verifies and decrypts a correctly signed payload', () => {
      expect(
        crypto.verifySignature(MESSAGE.signature, MESSAGE.timestamp, MESSAGE.nonce, MESSAGE.encrypt),
      ).toBe(true);
      expect(crypto.decrypt(MESSAGE.encrypt, RECEIVE_ID).receiveId).toBe(RECEIVE_ID);
    });

    it('refuses a wrong signature without looking at the ciphertext', () => {
      expect(crypto.verifySignature(VERIFY.signature, '1', '2', 'not base64!')).toBe(false);
    });
  });

  describe('EncodingAESKey validation', () => {
    it('accepts the official key, although its last character has non-zero spare bits', () => {
      expect(WeComCrypto.isValidEncodingAesKey(KEY)).toBe(true);
    });

    it.each([
      ['42 characters', KEY.slice(0, 42)],
      ['44 characters', `${KEY}A`],
      ['a padded key', `${KEY.slice(0, 42)}=`],
      ['a URL-safe alphabet', `${KEY.slice(0, 41)}-_`],
      ['a character outside base64', `${KEY.slice(0, 42)}!`],
      ['surrounding whitespace', ` ${KEY.slice(1)}`],
      ['an empty string', ''],
    ])('rejects %s with -40004', (_label, key) => {
      expect(WeComCrypto.isValidEncodingAesKey(key)).toBe(false);
      expect(codeOf(() => new WeComCrypto(TOKEN, key))).toBe(WeComCryptoErrorCode.InvalidAesKey);
    });

    it('names the expected format without echoing the secret', () => {
      const key = KEY.slice(0, 42);
      expect(() => new WeComCrypto(TOKEN, key)).toThrow(
        'EncodingAESKey must be exactly 43 base64 characters',
      );
      expect(() => new WeComCrypto(TOKEN, key)).not.toThrow(key);
    });

    it('rejects a non-string key at runtime', () => {
      expect(WeComCrypto.isValidEncodingAesKey(undefined)).toBe(false);
      expect(codeOf(() => new WeComCrypto(TOKEN, 42 as unknown as string))).toBe(
        WeComCryptoErrorCode.InvalidAesKey,
      );
    });

    it('rejects an empty token', () => {
      expect(codeOf(() => new WeComCrypto('', KEY))).toBe(WeComCryptoErrorCode.ComputeSignatureError);
    });

    it('does not expose the key or token when serialised', () => {
      expect(JSON.stringify(crypto)).not.toContain(TOKEN);
      expect(Object.keys(crypto)).toEqual([]);
    });
  });

  describe('interoperability with @wecom/crypto', () => {
    const samples = [
      ['ASCII', 'hello'],
      ['an empty message', ''],
      ['Chinese', '你好，机器人！请问报销流程是什么？'],
      ['emoji and mixed scripts', '🚀 Привет 世界 ✓'],
      ['JSON', JSON.stringify({ msgtype: 'text', text: { content: '会议室在哪里？' } })],
    ];

    it.each(samples)('decrypts what @wecom/crypto encrypted: %s', (_label, message) => {
      const encrypted = vendor.encrypt(KEY, message, '');
      expect(crypto.decrypt(encrypted, '')).toEqual({ message, receiveId: '' });
    });

    it.each(samples)('is decrypted by @wecom/crypto: %s', (_label, message) => {
      const decrypted = vendor.decrypt(KEY, crypto.encrypt(message));
      expect(decrypted.message).toBe(message);
      expect(decrypted.id).toBe('');
    });

    it('round-trips every pad length from 1 to 32 in both directions', () => {
      const pads = new Set<number>();
      for (let size = 0; size < 32; size += 1) {
        const message = `报销${'a'.repeat(size)}`;
        const ours = crypto.encrypt(message, RECEIVE_ID);
        const theirs = vendor.encrypt(KEY, message, RECEIVE_ID);
        pads.add(32 - ((20 + Buffer.byteLength(message) + RECEIVE_ID.length) % 32));
        expect(vendor.decrypt(KEY, ours)).toMatchObject({ message, id: RECEIVE_ID });
        expect(crypto.decrypt(theirs, RECEIVE_ID)).toEqual({ message, receiveId: RECEIVE_ID });
      }
      expect(Math.max(...pads)).toBeGreaterThan(16);
      expect(pads.size).toBe(32);
    });

    it('produces the same ciphertext as @wecom/crypto for the same random prefix', () => {
      const random = Buffer.from('0123456789abcdef');
      expect(crypto.encrypt('配置好了吗？', '', random)).toBe(
        vendor.encrypt(KEY, '配置好了吗？', '', random),
      );
    });

    it('round-trips arbitrary unicode with @wecom/crypto', () => {
      fc.assert(
        fc.property(
          fc.string({ unit: 'binary' }),
          fc.string({ unit: 'binary', maxLength: 40 }),
          (message, id) => {
            expect(vendor.decrypt(KEY, crypto.encrypt(message, id))).toMatchObject({ message, id });
            expect(crypto.decrypt(vendor.encrypt(KEY, message, id))).toEqual({ message, receiveId: id });
          },
        ),
      );
    });
  });

  describe('decrypt', () => {
    it('checks the receive id only when one is expected', () => {
      expect(crypto.decrypt(VERIFY.echostr).receiveId).toBe(RECEIVE_ID);
      expect(codeOf(() => crypto.decrypt(VERIFY.echostr, ''))).toBe(WeComCryptoErrorCode.ReceiveIdMismatch);
    });

    it('accepts an AI bot message, whose receive id is empty', () => {
      expect(crypto.decrypt(crypto.encrypt('hi'), '')).toEqual({ message: 'hi', receiveId: '' });
    });

    it('keeps a leading byte order mark in the message', () => {
      expect(crypto.decrypt(crypto.encrypt('\uFEFFhi')).message).toBe('\uFEFFhi');
    });

    it.each([
      ['an empty string', ''],
      ['non-base64 characters', 'P9nAzCzy!DtyTWES'],
      ['URL-safe base64', VERIFY.echostr.replace(/\+/g, '-').replace(/\//g, '_')],
      ['a missing base64 pad', VERIFY.echostr.replace(/=+$/, '')],
      ['spaces where + was (a wrongly URL-decoded query)', VERIFY.echostr.replace(/\+/g, ' ')],
      ['a length that is not a multiple of 16', Buffer.alloc(40).toString('base64')],
      ['a single AES block', Buffer.alloc(16).toString('base64')],
    ])('throws -40007 for %s', (_label, encrypted) => {
      expect(codeOf(() => crypto.decrypt(encrypted))).toBe(WeComCryptoErrorCode.DecryptError);
    });

    it('throws -40007 when decrypting with another key', () => {
      const other = new WeComCrypto(TOKEN, OTHER_KEY);
      expect(codeOf(() => other.decrypt(MESSAGE.encrypt))).toBe(WeComCryptoErrorCode.DecryptError);
    });

    it.each([
      ['a pad byte of 0', Buffer.concat([frame(Buffer.from('hi'), Buffer.alloc(0)), Buffer.alloc(10, 0)])],
      ['a pad byte of 33', Buffer.concat([Buffer.alloc(31, 1), Buffer.alloc(33, 33)])],
      [
        'unequal pad bytes',
        Buffer.concat([
          frame(Buffer.from('hi'), Buffer.alloc(0)),
          Buffer.from([9, 9, 9, 9, 9, 9, 9, 9, 9, 10]),
        ]),
      ],
    ])('throws -40007 for a plaintext with %s', (_label, plaintext) => {
      expect(codeOf(() => crypto.decrypt(rawEncrypt(plaintext)))).toBe(WeComCryptoErrorCode.DecryptError);
    });

    it('throws -40008 when the declared length runs past the buffer', () => {
      const plaintext = pad32(frame(Buffer.from('hello'), Buffer.alloc(0), 6));
      expect(codeOf(() => crypto.decrypt(rawEncrypt(plaintext)))).toBe(WeComCryptoErrorCode.InvalidBuffer);
    });

    it('throws -40008 when the declared length is huge', () => {
      const plaintext = pad32(frame(Buffer.from('hello'), Buffer.alloc(0), 0xffffffff));
      expect(codeOf(() => crypto.decrypt(rawEncrypt(plaintext)))).toBe(WeComCryptoErrorCode.InvalidBuffer);
    });

    it('throws -40008 when the plaintext is shorter than its header', () => {
      const plaintext = Buffer.concat([Buffer.alloc(12, 1), Buffer.alloc(20, 20)]);
      expect(codeOf(() => crypto.decrypt(rawEncrypt(plaintext)))).toBe(WeComCryptoErrorCode.InvalidBuffer);
    });

    it('throws -40008 when the message is not UTF-8', () => {
      const plaintext = pad32(frame(Buffer.from([0xff, 0xfe, 0x41]), Buffer.alloc(0)));
      expect(codeOf(() => crypto.decrypt(rawEncrypt(plaintext)))).toBe(WeComCryptoErrorCode.InvalidBuffer);
    });

    it('accepts a plaintext padded to a 16-byte block by a non-conforming peer', () => {
      const body = frame(Buffer.from('eighteen bytes!!!!'), Buffer.alloc(0));
      const padded16 = Buffer.concat([body, Buffer.alloc(10, 10)]);
      expect(padded16.length).toBe(48);
      expect(crypto.decrypt(rawEncrypt(padded16)).message).toBe('eighteen bytes!!!!');
    });

    it('throws a WeComCryptoError for a non-string at runtime', () => {
      expect(codeOf(() => crypto.decrypt(undefined as unknown as string))).toBe(
        WeComCryptoErrorCode.DecryptError,
      );
    });
  });

  describe('encrypt', () => {
    it('uses a fresh random prefix each time', () => {
      expect(crypto.encrypt('same')).not.toBe(crypto.encrypt('same'));
    });

    it('pads the plaintext to a multiple of 32 bytes', () => {
      for (const message of ['', 'a', 'a'.repeat(12), 'a'.repeat(13)]) {
        expect(Buffer.from(crypto.encrypt(message), 'base64').length % 32).toBe(0);
      }
    });

    it('throws -40006 for a random prefix that is not 16 bytes', () => {
      expect(codeOf(() => crypto.encrypt('hi', '', Buffer.alloc(15)))).toBe(
        WeComCryptoErrorCode.EncryptError,
      );
    });
  });

  describe('properties', () => {
    const garbage = fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.base64String(),
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes).toString('base64')),
      fc
        .integer({ min: 1, max: 12 })
        .chain((blocks) => fc.uint8Array({ minLength: blocks * 16, maxLength: blocks * 16 }))
        .map((bytes) => Buffer.from(bytes).toString('base64')),
    );

    it('only ever throws WeComCryptoError from decrypt, whatever the input', () => {
      fc.assert(
        fc.property(garbage, (encrypted) => onlyCryptoErrors(() => crypto.decrypt(encrypted, ''))),
        { numRuns: 500 },
      );
    });

    it('only ever throws WeComCryptoError from decrypt for tampered ciphertexts', () => {
      const valid = Buffer.from(MESSAGE.encrypt, 'base64');
      fc.assert(
        fc.property(fc.nat(valid.length - 1), fc.integer({ min: 1, max: 255 }), (index, flip) => {
          const tampered = Buffer.from(valid);
          tampered[index] = (tampered[index] ?? 0) ^ flip;
          onlyCryptoErrors(() => crypto.decrypt(tampered.toString('base64')));
        }),
        { numRuns: 500 },
      );
    });

    it('only ever throws WeComCryptoError from decrypt for well-padded random plaintexts', () => {
      const plaintexts = fc
        .uint8Array({ maxLength: 80 })
        .map((bytes) => rawEncrypt(pad32(Buffer.from(bytes))));
      fc.assert(
        fc.property(plaintexts, (encrypted) => onlyCryptoErrors(() => crypto.decrypt(encrypted))),
        {
          numRuns: 300,
        },
      );
    });

    it('never throws from verifySignature and accepts only the right signature', () => {
      fc.assert(
        fc.property(
          garbage,
          fc.string(),
          fc.string({ unit: 'binary' }),
          garbage,
          (signature, ts, nonce, enc) => {
            const expected = signature === crypto.signature(ts, nonce, enc);
            expect(crypto.verifySignature(signature, ts, nonce, enc)).toBe(expected);
          },
        ),
        { numRuns: 300 },
      );
    });

    it('round-trips arbitrary unicode through encrypt and decrypt', () => {
      fc.assert(
        fc.property(
          fc.string({ unit: 'binary', maxLength: 500 }),
          fc.string({ maxLength: 30 }),
          (message, id) => {
            expect(crypto.decrypt(crypto.encrypt(message, id), id)).toEqual({ message, receiveId: id });
          },
        ),
        { numRuns: 300 },
      );
    });
  });
});
