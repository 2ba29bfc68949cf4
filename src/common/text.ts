/** Text helpers shared by the channels: every platform limits message size in UTF-8 bytes. */

const encoder = new TextEncoder();

export const utf8Length = (text: string): number => encoder.encode(text).length;

/** The longest prefix of `text` that fits in `maxBytes` UTF-8 bytes, never splitting a code point. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (utf8Length(text) <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    const size = utf8Length(char);
    if (bytes + size > maxBytes) break;
    bytes += size;
    end += char.length;
  }
  return text.slice(0, end);
}

/**
 * Splits `text` into parts of at most `maxBytes` UTF-8 bytes, preferring to cut at a paragraph break,
 * then a line break, then a sentence end, then a space, and only then inside a word.
 */
export function splitUtf8(text: string, maxBytes: number): string[] {
  if (maxBytes < 4) throw new RangeError('maxBytes must be at least 4');
  const parts: string[] = [];
  let rest = text;
  while (utf8Length(rest) > maxBytes) {
    const window = truncateUtf8(rest, maxBytes);
    const cut = bestCut(window);
    parts.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0 || parts.length === 0) parts.push(rest);
  return parts.filter((part, index) => part.length > 0 || index === 0);
}

function bestCut(window: string): number {
  const minimum = Math.floor(window.length / 2);
  for (const separator of [/\n\s*\n/g, /\n/g, /[.!?。！？]\s*/g, /\s/g]) {
    let last = -1;
    for (const match of window.matchAll(separator)) last = match.index + match[0].length;
    if (last >= minimum) return last;
  }
  return window.length;
}

/**
 * Splits like `splitUtf8` and, when more than one part results, prefixes each with "(i/n) " so users know
 * more is coming (a top ask in the field). The prefix is counted within `maxBytes`.
 */
export function splitNumbered(text: string, maxBytes: number): string[] {
  const parts = splitUtf8(text, maxBytes);
  if (parts.length < 2) return parts;
  const prefixRoom = 2 * String(Math.ceil(utf8Length(text) / (maxBytes / 2))).length + 4;
  const numbered = splitUtf8(text, maxBytes - prefixRoom);
  return numbered.map((part, index) => `(${index + 1}/${numbered.length}) ${part}`);
}
