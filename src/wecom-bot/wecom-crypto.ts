import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** The error codes of WeCom's official WXBizMsgCrypt SDKs (page 91144), so logs match WeCom's docs. */
export const WeComCryptoErrorCode = {
  InvalidSignature: -40001,
  ParseError: -40002,
  ComputeSignatureError: -40003,
  InvalidAesKey: -40004,
  ReceiveIdMismatch: -40005,
  EncryptError: -40006,
  DecryptError: -40007,
  InvalidBuffer: -40008,
} as const;

export type WeComCryptoErrorCode = (typeof WeComCryptoErrorCode)[keyof typeof WeComCryptoErrorCode];

export class WeComCryptoError extends Error {
  override readonly name = 'WeComCryptoError';

  constructor(
    readonly code: WeComCryptoErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface WeComDecrypted {
  message: string;
  receiveId: string;
}

/** The query parameters and body field of a callback, as WeCom signed them. */
export interface WeComSignedPayload {
  signature: string;
  timestamp: string;
  nonce: string;
  encrypted: string;
}

const ENCODING_AES_KEY_PATTERN = /^[A-Za-z0-9+/]{43}$/;
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const AES_KEY_BYTES = 32;
const AES_BLOCK_BYTES = 16;
// WeCom pads to a 32-byte block, not AES's 16: pad values run 1..32 (page 91144).
const PAD_BLOCK_BYTES = 32;
const RANDOM_BYTES = 16;
const HEADER_BYTES = RANDOM_BYTES + 4;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * WeCom's callback crypto (page 91144): SHA-1 signatures and AES-256-CBC with the IV = key[0..16),
 * a 32-byte PKCS#7 pad and the plaintext `random(16) ‖ uint32be len ‖ message ‖ receiveId`.
 * Every malformed input ends in a WeComCryptoError, never another exception type.
 */
export class WeComCrypto {
  readonly #token: string;
  readonly #key: Buffer;
  readonly #iv: Buffer;

  constructor(token: string, encodingAesKey: string) {
    if (typeof token !== 'string' || token.length === 0) {
      throw new WeComCryptoError(
        WeComCryptoErrorCode.ComputeSignatureError,
        'Token must be a non-empty string',
      );
    }
    this.#token = token;
    this.#key = decodeEncodingAesKey(encodingAesKey);
    this.#iv = this.#key.subarray(0, AES_BLOCK_BYTES);
  }

  static isValidEncodingAesKey(key: unknown): boolean {
    try {
      decodeEncodingAesKey(key);
      return true;
    } catch {
      return false;
    }
  }

  /** sha1 hex over the lexicographically sorted token, timestamp, nonce and ciphertext (or echostr). */
  signature(timestamp: string, nonce: string, encrypted: string): string {
    return createHash('sha1')
      .update([this.#token, timestamp, nonce, encrypted].sort().join(''), 'utf8')
      .digest('hex');
  }

  verifySignature(signature: string, timestamp: string, nonce: string, encrypted: string): boolean {
    if (![signature, timestamp, nonce, encrypted].every((value) => typeof value === 'string')) return false;
    const expected = Buffer.from(this.signature(timestamp, nonce, encrypted), 'utf8');
    const actual = Buffer.from(signature, 'utf8');
    return actual.length === expected.length && timingSafeEqual(actual, expected);
  }

  /** Decrypts a ciphertext (or echostr). Pass `expectedReceiveId` ('' for an AI bot) to check it. */
  decrypt(encrypted: string, expectedReceiveId?: string): WeComDecrypted {
    const padded = this.#decipher(decodeCiphertext(encrypted));
    const decrypted = parsePlaintext(removePad(padded));
    if (expectedReceiveId !== undefined && decrypted.receiveId !== expectedReceiveId) {
      throw new WeComCryptoError(
        WeComCryptoErrorCode.ReceiveIdMismatch,
        `Receive id mismatch: expected ${JSON.stringify(expectedReceiveId)}, got ${JSON.stringify(decrypted.receiveId)}`,
      );
    }
    return decrypted;
  }

  /** Encrypts `message` for `receiveId` ('' for an AI bot); `random` (16 bytes) is for tests only. */
  encrypt(message: string, receiveId = '', random?: Uint8Array): string {
    const salt = random ?? randomBytes(RANDOM_BYTES);
    assertEncryptInput(message, receiveId, salt);
    const body = Buffer.from(message, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(body.length, 0);
    const plaintext = addPad(Buffer.concat([salt, length, body, Buffer.from(receiveId, 'utf8')]));
    return this.#cipher(plaintext).toString('base64');
  }

  #cipher(plaintext: Buffer): Buffer {
    try {
      const cipher = createCipheriv('aes-256-cbc', this.#key, this.#iv).setAutoPadding(false);
      return Buffer.concat([cipher.update(plaintext), cipher.final()]);
    } catch (cause) {
      throw new WeComCryptoError(WeComCryptoErrorCode.EncryptError, 'AES encryption failed', { cause });
    }
  }

  #decipher(ciphertext: Buffer): Buffer {
    try {
      // Node's auto-padding only accepts pads up to 16 bytes; WeCom's go up to 32 (page 91144).
      const decipher = createDecipheriv('aes-256-cbc', this.#key, this.#iv).setAutoPadding(false);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch (cause) {
      throw new WeComCryptoError(WeComCryptoErrorCode.DecryptError, 'AES decryption failed', { cause });
    }
  }
}

function decodeEncodingAesKey(encodingAesKey: unknown): Buffer {
  if (typeof encodingAesKey !== 'string' || !ENCODING_AES_KEY_PATTERN.test(encodingAesKey)) {
    throw new WeComCryptoError(
      WeComCryptoErrorCode.InvalidAesKey,
      `EncodingAESKey must be exactly 43 base64 characters (A-Z a-z 0-9 + /); got ${describeKey(encodingAesKey)}`,
    );
  }
  // The 43rd character carries 2 unused bits: WeCom's keys (the official sample included) are not
  // canonical base64, so decode leniently and never re-encode to compare (page 91144).
  const key = Buffer.from(`${encodingAesKey}=`, 'base64');
  if (key.length !== AES_KEY_BYTES) {
    throw new WeComCryptoError(
      WeComCryptoErrorCode.InvalidAesKey,
      `EncodingAESKey must decode to ${AES_KEY_BYTES} bytes; got ${key.length}`,
    );
  }
  return key;
}

/** Describes a rejected key without echoing the secret. */
function describeKey(value: unknown): string {
  return typeof value === 'string' ? `${value.length} characters` : typeof value;
}

function decodeCiphertext(encrypted: unknown): Buffer {
  if (typeof encrypted !== 'string' || !BASE64_PATTERN.test(encrypted)) {
    throw new WeComCryptoError(WeComCryptoErrorCode.DecryptError, 'Ciphertext is not a base64 string');
  }
  const ciphertext = Buffer.from(encrypted, 'base64');
  // The shortest valid plaintext, a 20-byte header padded, fills two AES blocks.
  if (ciphertext.length < 2 * AES_BLOCK_BYTES || ciphertext.length % AES_BLOCK_BYTES !== 0) {
    throw new WeComCryptoError(
      WeComCryptoErrorCode.DecryptError,
      `Ciphertext length ${ciphertext.length} is not a multiple of ${AES_BLOCK_BYTES} of at least 32`,
    );
  }
  return ciphertext;
}

function addPad(data: Buffer): Buffer {
  const pad = PAD_BLOCK_BYTES - (data.length % PAD_BLOCK_BYTES);
  return Buffer.concat([data, Buffer.alloc(pad, pad)]);
}

function removePad(padded: Buffer): Buffer {
  const pad = padded[padded.length - 1] ?? 0;
  const valid =
    pad >= 1 &&
    pad <= PAD_BLOCK_BYTES &&
    pad <= padded.length &&
    padded.subarray(-pad).every((b) => b === pad);
  if (!valid) {
    throw new WeComCryptoError(WeComCryptoErrorCode.DecryptError, 'Invalid PKCS#7 padding (wrong key?)');
  }
  return padded.subarray(0, padded.length - pad);
}

function parsePlaintext(plaintext: Buffer): WeComDecrypted {
  if (plaintext.length < HEADER_BYTES) {
    throw new WeComCryptoError(
      WeComCryptoErrorCode.InvalidBuffer,
      `Plaintext of ${plaintext.length} bytes is shorter than its ${HEADER_BYTES}-byte header`,
    );
  }
  const length = plaintext.readUInt32BE(RANDOM_BYTES);
  if (length > plaintext.length - HEADER_BYTES) {
    throw new WeComCryptoError(
      WeComCryptoErrorCode.InvalidBuffer,
      `Declared message length ${length} exceeds the ${plaintext.length - HEADER_BYTES} bytes available`,
    );
  }
  const end = HEADER_BYTES + length;
  return {
    message: decodeUtf8(plaintext.subarray(HEADER_BYTES, end), 'message'),
    receiveId: decodeUtf8(plaintext.subarray(end), 'receive id'),
  };
}

function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch (cause) {
    throw new WeComCryptoError(WeComCryptoErrorCode.InvalidBuffer, `The ${what} is not valid UTF-8`, {
      cause,
    });
  }
}

function assertEncryptInput(message: unknown, receiveId: unknown, random: unknown): void {
  if (typeof message !== 'string' || typeof receiveId !== 'string') {
    throw new WeComCryptoError(
      WeComCryptoErrorCode.EncryptError,
      'The message and receive id must be strings',
    );
  }
  if (!(random instanceof Uint8Array) || random.length !== RANDOM_BYTES) {
    throw new WeComCryptoError(
      WeComCryptoErrorCode.EncryptError,
      `The random prefix must be ${RANDOM_BYTES} bytes`,
    );
  }
}
