import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

const PREFIX = 'enc:v1:';
const IV_BYTES = 12;
const TAG_BYTES = 16;

export class SecretBoxError extends Error {
  override name = 'SecretBoxError';
}

/**
 * Encrypts secrets at rest with AES-256-GCM. The key comes from SECRET_KEY (through HKDF) or, when that is
 * unset, from a random key generated once into DATA_DIR. Ciphertexts look like `enc:v1:<base64>`.
 */
export class SecretBox {
  private constructor(private readonly key: Buffer) {}

  static fromSecret(secret: string): SecretBox {
    return new SecretBox(Buffer.from(hkdfSync('sha256', secret, 'parley', 'parley secrets v1', 32)));
  }

  /** Reads the key file, creating it (mode 0600) on first start. */
  static fromKeyFile(path: string): SecretBox {
    if (!existsSync(path)) {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, randomBytes(32).toString('base64') + '\n', { flag: 'wx', mode: 0o600 });
      chmodSync(path, 0o600);
    }
    const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
    if (key.length !== 32)
      throw new SecretBoxError(`${path} does not hold a 32-byte base64 key; restore it or set SECRET_KEY`);
    return new SecretBox(key);
  }

  /** A short fingerprint of the key, to tell which key encrypted what (never the key itself). */
  get keyId(): string {
    return createHash('sha256').update(this.key).digest('hex').slice(0, 8);
  }

  static isEncrypted(value: unknown): value is string {
    return typeof value === 'string' && value.startsWith(PREFIX);
  }

  encrypt(plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
  }

  decrypt(value: string): string {
    if (!SecretBox.isEncrypted(value)) throw new SecretBoxError('not an encrypted value');
    const raw = Buffer.from(value.slice(PREFIX.length), 'base64');
    if (raw.length < IV_BYTES + TAG_BYTES) throw new SecretBoxError('truncated ciphertext');
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.key, raw.subarray(0, IV_BYTES));
      decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
        'utf8',
      );
    } catch {
      throw new SecretBoxError(
        'cannot decrypt a stored secret: SECRET_KEY (or DATA_DIR/secret.key) has changed',
      );
    }
  }
}

/** How a secret is shown through the API: never the value, only its last four characters. */
export function maskSecret(value: string): string {
  return value.length <= 8 ? '****' : `****${value.slice(-4)}`;
}

export const isMask = (value: unknown): boolean => typeof value === 'string' && /^\*{4}.{0,4}$/.test(value);
