import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isMask, maskSecret, SecretBox, SecretBoxError } from './secret-box.js';

describe('SecretBox', () => {
  const box = SecretBox.fromSecret('a'.repeat(32));

  it('round-trips a secret and never stores it in plaintext', () => {
    const sealed = box.encrypt('sk-live-1234abcd');
    expect(sealed.startsWith('enc:v1:')).toBe(true);
    expect(sealed).not.toContain('sk-live');
    expect(box.decrypt(sealed)).toBe('sk-live-1234abcd');
  });

  it('uses a fresh nonce for every encryption', () => {
    expect(box.encrypt('same')).not.toBe(box.encrypt('same'));
  });

  it('refuses to decrypt with another key, with a message naming SECRET_KEY', () => {
    const other = SecretBox.fromSecret('b'.repeat(32));
    expect(() => other.decrypt(box.encrypt('x'))).toThrow(/SECRET_KEY/);
  });

  it('detects tampering', () => {
    const sealed = box.encrypt('secret');
    const tampered = sealed.slice(0, -4) + (sealed.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    expect(() => box.decrypt(tampered)).toThrow(SecretBoxError);
  });

  it('generates a key file once, readable only by its owner, and reuses it', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'parley-key-')), 'secret.key');
    const first = SecretBox.fromKeyFile(path);
    const second = SecretBox.fromKeyFile(path);
    expect(second.decrypt(first.encrypt('kept'))).toBe('kept');
    expect(statSync(path).mode & 0o077).toBe(0);
  });
});

describe('maskSecret', () => {
  it('shows only the last four characters', () => {
    expect(maskSecret('sk-abcdefghcdef')).toBe('****cdef');
    expect(maskSecret('short')).toBe('****');
    expect(isMask('****cdef')).toBe(true);
    expect(isMask('sk-abcdefghcdef')).toBe(false);
  });
});
