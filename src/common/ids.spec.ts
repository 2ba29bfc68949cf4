import { timeOrderedId } from './ids.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('timeOrderedId', () => {
  it('makes UUIDv7 ids that sort in the order they were made, also within one millisecond', () => {
    // 5,000 ids: many per millisecond, and the random pool (256 ids' worth) refilled many times over.
    const ids = Array.from({ length: 5000 }, () => timeOrderedId());
    expect(ids.every((id) => UUID_V7.test(id))).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('carries the time it was made in its first 48 bits', () => {
    const before = Date.now();
    const id = timeOrderedId();
    const msecs = parseInt(id.replace(/-/g, '').slice(0, 12), 16);
    expect(msecs).toBeGreaterThanOrEqual(before);
    expect(msecs).toBeLessThanOrEqual(Date.now() + 1);
  });

  it('does not repeat the random part across pool refills', () => {
    const tails = Array.from({ length: 1024 }, () => timeOrderedId().slice(-12));
    expect(new Set(tails).size).toBe(tails.length);
  });
});
