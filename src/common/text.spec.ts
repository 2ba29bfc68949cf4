import fc from 'fast-check';
import { splitNumbered, splitUtf8, truncateUtf8, utf8Length } from './text.js';

describe('truncateUtf8', () => {
  it('never cuts a character in half', () => {
    expect(truncateUtf8('你好世界', 7)).toBe('你好');
    expect(truncateUtf8('a😀b', 4)).toBe('a');
    expect(truncateUtf8('short', 100)).toBe('short');
  });

  it('always fits and is a prefix', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.integer({ min: 0, max: 64 }), (text, max) => {
        const cut = truncateUtf8(text, max);
        return utf8Length(cut) <= max && text.startsWith(cut);
      }),
    );
  });
});

describe('splitUtf8', () => {
  it('prefers paragraph breaks', () => {
    const text = `${'a'.repeat(30)}\n\n${'b'.repeat(30)}`;
    expect(splitUtf8(text, 40)).toEqual(['a'.repeat(30), 'b'.repeat(30)]);
  });

  it('keeps every part within the limit and loses no words', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('alpha', 'beta', '数据', '😀', '\n', '\n\n', '. '), { maxLength: 200 }),
        (pieces) => {
          const text = pieces.join(' ');
          const parts = splitUtf8(text, 32);
          const words = (value: string) => value.split(/\s+/).filter(Boolean);
          return (
            parts.every((part) => utf8Length(part) <= 32) &&
            words(parts.join(' ')).join(' ') === words(text).join(' ')
          );
        },
      ),
    );
  });
});

describe('splitNumbered', () => {
  it('numbers the parts of a long answer within the limit', () => {
    const parts = splitNumbered('word '.repeat(100), 60);
    expect(parts.length).toBeGreaterThan(1);
    expect(parts[0].startsWith(`(1/${parts.length}) `)).toBe(true);
    expect(parts.every((part) => utf8Length(part) <= 60)).toBe(true);
  });

  it('leaves a short answer alone', () => {
    expect(splitNumbered('short', 60)).toEqual(['short']);
  });
});
