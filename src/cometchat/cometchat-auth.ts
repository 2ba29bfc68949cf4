import { createHash, timingSafeEqual } from 'node:crypto';

const MAX_HEADER_LENGTH = 4096;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/**
 * Checks `Authorization: Basic base64(user:pass)`, CometChat's only callback authentication
 * (cometchat.md). The scheme is case-insensitive; the password may contain ':'. Username and password
 * are compared as SHA-256 digests with `timingSafeEqual` (both, always), so neither their length nor
 * a matching prefix shows in the timing. Fails closed when no password is configured.
 */
export function checkBasicAuth(
  header: string | null | undefined,
  username: string,
  password: string,
): boolean {
  if (typeof header !== 'string' || header.length > MAX_HEADER_LENGTH || !password) return false;
  const match = /^\s*basic\s+(\S+)\s*$/i.exec(header);
  if (!match || match[1].length % 4 === 1 || !BASE64.test(match[1])) return false;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  if (separator < 0) return false;
  const userMatches = digestEquals(decoded.slice(0, separator), username);
  const passwordMatches = digestEquals(decoded.slice(separator + 1), password);
  return userMatches && passwordMatches;
}

function digestEquals(given: string, expected: string): boolean {
  const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}
