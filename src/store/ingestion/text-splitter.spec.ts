import fc from 'fast-check';
import { countTokens } from '../../llm/token-counter.js';
import { contentHash, splitMarkdown, splitSections } from './text-splitter.js';

const words = (text: string) => text.split(/\s+/).filter(Boolean);

function englishParagraphs(count: number): string {
  return Array.from({ length: count }, (_, p) =>
    Array.from(
      { length: 6 },
      (_, s) => `Paragraph ${p} sentence ${s} describes the refund workflow in detail.`,
    ).join(' '),
  ).join('\n\n');
}

describe('splitSections', () => {
  it('keeps a short section whole, with its heading path, ordinal, token count and hash', () => {
    const chunks = splitSections([
      { headingPath: ['Billing', 'Refunds'], text: '  Refunds take 14 days.  ' },
    ]);

    expect(chunks).toEqual([
      {
        ordinal: 0,
        headingPath: ['Billing', 'Refunds'],
        content: 'Refunds take 14 days.',
        tokenCount: countTokens('Refunds take 14 days.'),
        contentHash: contentHash('Refunds take 14 days.'),
      },
    ]);
  });

  it('numbers chunks across sections and never mixes sections', () => {
    const chunks = splitSections(
      [
        { headingPath: ['A'], text: englishParagraphs(8) },
        { headingPath: ['B'], text: 'Short section.' },
      ],
      { maxTokens: 120, overlapTokens: 20 },
    );

    expect(chunks.map((chunk) => chunk.ordinal)).toEqual(chunks.map((_, i) => i));
    expect(chunks.at(-1)).toMatchObject({ headingPath: ['B'], content: 'Short section.' });
    expect(chunks.filter((chunk) => chunk.headingPath[0] === 'A').length).toBeGreaterThan(3);
  });

  it('respects maxTokens, ends chunks at paragraph or sentence ends, and overlaps consecutive chunks', () => {
    const chunks = splitSections([{ headingPath: [], text: englishParagraphs(12) }], {
      maxTokens: 100,
      overlapTokens: 30,
    });

    for (const chunk of chunks) {
      expect(chunk.tokenCount).toBeLessThanOrEqual(100);
      expect(chunk.content).toMatch(/detail\.$/);
    }
    for (let i = 1; i < chunks.length; i++) {
      const previous = chunks[i - 1].content;
      const opening = words(chunks[i].content).slice(0, 4).join(' ');
      expect(previous).toContain(opening);
    }
  });

  it('splits Chinese text at 。！？ and keeps every chunk within budget', () => {
    const sentences = Array.from(
      { length: 60 },
      (_, i) => `第${i}条规定：退款申请提交后，客服会在三个工作日内处理${i % 2 ? '。' : '！'}`,
    );
    const chunks = splitSections([{ headingPath: ['退款政策'], text: sentences.join('') }], {
      maxTokens: 80,
      overlapTokens: 20,
    });

    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      expect(chunk.tokenCount).toBeLessThanOrEqual(80);
      expect(chunk.content).toMatch(/[。！]$/);
      expect(chunk.headingPath).toEqual(['退款政策']);
    }
    const all = chunks.map((chunk) => chunk.content).join('');
    for (const sentence of sentences) expect(all).toContain(sentence);
  });

  it('cuts text without any break (an unpunctuated CJK run, a long URL) as a last resort', () => {
    const cjk = '退款流程说明'.repeat(200);
    const url = `https://example.com/${'a1b2c3'.repeat(300)}`;

    for (const text of [cjk, url]) {
      const chunks = splitSections([{ headingPath: [], text }], { maxTokens: 50, overlapTokens: 0 });
      expect(chunks.every((chunk) => chunk.tokenCount <= 50)).toBe(true);
      expect(chunks.map((chunk) => chunk.content).join('')).toBe(text);
    }
  });

  it('never cuts Latin words and never loses one (property)', () => {
    const word = fc.constantFrom(
      'refund',
      'policy',
      'customers',
      'within',
      'days',
      'approval',
      'warehouse',
      'shipping',
      'é',
      'naïve',
      '14',
    );
    const paragraph = fc.array(
      fc.array(word, { minLength: 1, maxLength: 20 }).map((ws) => `${ws.join(' ')}.`),
      {
        minLength: 1,
        maxLength: 8,
      },
    );
    fc.assert(
      fc.property(
        fc.array(paragraph, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 20, max: 120 }),
        (paragraphs, maxTokens) => {
          const text = paragraphs.map((p) => p.join(' ')).join('\n\n');
          const vocabulary = new Set(words(text));
          const chunks = splitSections([{ headingPath: [], text }], {
            maxTokens,
            overlapTokens: Math.floor(maxTokens / 4),
          });
          for (const chunk of chunks) {
            expect(chunk.tokenCount).toBeLessThanOrEqual(maxTokens);
            for (const w of words(chunk.content)) expect(vocabulary.has(w)).toBe(true);
          }
          const covered = new Set(chunks.flatMap((chunk) => words(chunk.content)));
          expect(covered).toEqual(vocabulary);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('rejects an overlap that would not leave room for new text', () => {
    expect(() => splitSections([], { maxTokens: 100, overlapTokens: 50 })).toThrow(RangeError);
  });
});

describe('splitMarkdown', () => {
  it('splits Markdown content by its headings', () => {
    const chunks = splitMarkdown('# Guide\n\nIntro.\n\n## Refunds\n\nWithin 14 days.\n');

    expect(chunks.map(({ headingPath, content }) => ({ headingPath, content }))).toEqual([
      { headingPath: ['Guide'], content: 'Intro.' },
      { headingPath: ['Guide', 'Refunds'], content: 'Within 14 days.' },
    ]);
  });
});

describe('contentHash', () => {
  it('ignores spacing and full-width forms but not wording', () => {
    expect(contentHash('Refunds  take\n14 days.')).toBe(contentHash('Refunds take 14 days.'));
    expect(contentHash('ＡＢＣ１４')).toBe(contentHash('ABC14'));
    expect(contentHash('Refunds take 15 days.')).not.toBe(contentHash('Refunds take 14 days.'));
    expect(contentHash('x')).toMatch(/^[0-9a-f]{64}$/);
  });
});
