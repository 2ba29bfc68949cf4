import { createHash } from 'node:crypto';
import { countTokens, truncateToTokens } from '../../llm/token-counter.js';
import { markdownSections, type DocumentSection } from './document-sections.js';

export interface SplitOptions {
  /** Upper bound per chunk, counted with `countTokens` (default 400). */
  maxTokens?: number;
  /** Text repeated from the end of the previous chunk of the same section (default 60). */
  overlapTokens?: number;
}

export interface TextChunk {
  /** 0-based position in the document. */
  ordinal: number;
  headingPath: string[];
  content: string;
  tokenCount: number;
  /** sha256 (hex) of the normalised content: equal for text that differs only in spacing or width. */
  contentHash: string;
}

export const DEFAULT_MAX_TOKENS = 400;
export const DEFAULT_OVERLAP_TOKENS = 60;

/** A piece of text and the separator that preceded it in the original. */
interface Unit {
  text: string;
  joiner: string;
}

type Splitter = (text: string) => Unit[];

const SENTENCE_END = /([.!?…]+['"”’)\]]*)(\s+)|([。！？；…]+['"”’」』）)\]]*)(\s*)/gu;
const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;

/** Paragraphs, then lines, then sentences, then words: each level only where the previous one is too big. */
const LEVELS: Splitter[] = [
  (text) => splitOn(text, /\n[ \t]*\n\s*/g),
  (text) => splitOn(text, /\n/g),
  splitSentences,
  (text) => splitOn(text, /\s+/g),
];

/** Splits parsed sections into token-bounded, overlapping chunks that keep their heading path. */
export function splitSections(sections: DocumentSection[], options: SplitOptions = {}): TextChunk[] {
  const { maxTokens, overlapTokens } = resolve(options);
  const chunks: TextChunk[] = [];
  for (const section of sections) {
    for (const content of splitText(section.text, maxTokens, overlapTokens)) {
      chunks.push({
        ordinal: chunks.length,
        headingPath: [...section.headingPath],
        content,
        tokenCount: countTokens(content),
        contentHash: contentHash(content),
      });
    }
  }
  return chunks;
}

/** For Markdown that did not come from a file (e.g. a JSON `{title, content}` upload). */
export function splitMarkdown(markdown: string, options: SplitOptions = {}): TextChunk[] {
  return splitSections(markdownSections(markdown).sections, options);
}

/** Hash used to recognise identical content (chunks or whole documents). */
export function contentHash(text: string): string {
  return createHash('sha256').update(normaliseForHash(text)).digest('hex');
}

export function normaliseForHash(text: string): string {
  return text.normalize('NFKC').replace(/\s+/g, ' ').trim();
}

function resolve(options: SplitOptions): { maxTokens: number; overlapTokens: number } {
  const maxTokens = options.maxTokens ?? DEFAULT_MAX_TOKENS;
  const overlapTokens = options.overlapTokens ?? DEFAULT_OVERLAP_TOKENS;
  if (!Number.isInteger(maxTokens) || maxTokens < 8) throw new RangeError('maxTokens must be an integer ≥ 8');
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens >= maxTokens / 2) {
    throw new RangeError('overlapTokens must be an integer ≥ 0 and less than half of maxTokens');
  }
  return { maxTokens, overlapTokens };
}

function splitText(text: string, maxTokens: number, overlapTokens: number): string[] {
  const trimmed = text.replace(/\r\n?/g, '\n').trim();
  if (!trimmed) return [];
  if (countTokens(trimmed) <= maxTokens) return [trimmed];
  return merge(units({ text: trimmed, joiner: '' }, 0, maxTokens), maxTokens, overlapTokens);
}

/** Breaks a unit down, level by level, until every piece fits. */
function units(unit: Unit, level: number, maxTokens: number): Unit[] {
  if (countTokens(unit.text) <= maxTokens) return [unit];
  if (level >= LEVELS.length) return hardSplit(unit, maxTokens);
  const parts = LEVELS[level](unit.text);
  if (parts.length === 0) return [];
  parts[0] = { ...parts[0], joiner: unit.joiner };
  return parts.flatMap((part) => units(part, level + 1, maxTokens));
}

/** Greedy packing; each new chunk starts with the tail of the previous one. */
function merge(pieces: Unit[], maxTokens: number, overlapTokens: number): string[] {
  const chunks: string[] = [];
  let current = '';
  for (const piece of pieces) {
    const candidate = current ? current + piece.joiner + piece.text : piece.text;
    if (countTokens(candidate) <= maxTokens) {
      current = candidate;
      continue;
    }
    chunks.push(current);
    // Shrink the overlap rather than drop it when the next piece is large.
    const room = maxTokens - countTokens(piece.text) - 2;
    const tail = overlapTail(current, Math.min(overlapTokens, room));
    const withOverlap = tail ? tail + (piece.joiner || joinerFor(tail, piece.text)) + piece.text : '';
    current = withOverlap && countTokens(withOverlap) <= maxTokens ? withOverlap : piece.text;
  }
  if (current) chunks.push(current);
  return chunks.map((chunk) => chunk.trim()).filter(Boolean);
}

/**
 * The longest end of `text` within `maxTokens` that starts at a sentence start, else at a word start
 * (any character inside CJK text): overlap never begins mid-word.
 */
function overlapTail(text: string, maxTokens: number): string {
  if (maxTokens <= 0) return '';
  const sentenceStarts = [...text.matchAll(SENTENCE_END)].map((m) => m.index + m[0].length);
  const fromSentence = earliestFitting(text, sentenceStarts, maxTokens);
  if (fromSentence && countTokens(fromSentence) >= maxTokens / 2) return fromSentence;
  const wordStarts: number[] = [];
  for (const match of text.matchAll(/\s+/g)) wordStarts.push(match.index + match[0].length);
  for (let i = 1; i < text.length; i++) {
    if (CJK_CHAR.test(text[i]) || CJK_CHAR.test(text[i - 1])) {
      if (!/\s/.test(text[i]) && !isLowSurrogate(text.charCodeAt(i))) wordStarts.push(i);
    }
  }
  return (
    earliestFitting(
      text,
      wordStarts.sort((a, b) => a - b),
      maxTokens,
    ) || fromSentence
  );
}

/** Boundaries are ascending; the tail shrinks as the boundary moves right, so binary search applies. */
function earliestFitting(text: string, boundaries: number[], maxTokens: number): string {
  const usable = boundaries.filter((b) => b > 0 && b < text.length);
  let low = 0;
  let high = usable.length;
  while (low < high) {
    const middle = (low + high) >> 1;
    if (countTokens(text.slice(usable[middle])) <= maxTokens) high = middle;
    else low = middle + 1;
  }
  return low < usable.length ? text.slice(usable[low]).trim() : '';
}

function splitOn(text: string, separator: RegExp): Unit[] {
  const result: Unit[] = [];
  let joiner = '';
  let start = 0;
  for (const match of text.matchAll(separator)) {
    if (match.index > start) result.push({ text: text.slice(start, match.index), joiner });
    joiner = result.length > 0 ? match[0] : '';
    start = match.index + match[0].length;
  }
  if (start < text.length) result.push({ text: text.slice(start), joiner });
  return result;
}

function splitSentences(text: string): Unit[] {
  const result: Unit[] = [];
  let start = 0;
  let joiner = '';
  for (const match of text.matchAll(SENTENCE_END)) {
    const punctuation = match[1] ?? match[3];
    const space = match[2] ?? match[4] ?? '';
    const end = match.index + punctuation.length;
    if (end > start) result.push({ text: text.slice(start, end), joiner });
    joiner = space;
    start = end + space.length;
  }
  if (start < text.length) result.push({ text: text.slice(start), joiner });
  return result;
}

/** Last resort for a single "word" longer than a chunk (a URL, base64, an unpunctuated CJK run). */
function hardSplit(unit: Unit, maxTokens: number): Unit[] {
  const pieces: Unit[] = [];
  let rest = unit.text;
  while (rest) {
    const head = truncateToTokens(rest, maxTokens) || Array.from(rest)[0];
    pieces.push({ text: head, joiner: pieces.length === 0 ? unit.joiner : '' });
    rest = rest.slice(head.length);
  }
  return pieces;
}

function joinerFor(left: string, right: string): string {
  return CJK_CHAR.test(left.slice(-1)) && CJK_CHAR.test(right[0] ?? '') ? '' : ' ';
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
