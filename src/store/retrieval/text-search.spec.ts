import fc from 'fast-check';
import {
  MAX_QUERY_TERMS,
  buildTsQuery,
  searchableText,
  toSearchDocument,
  toSearchQuery,
  toTsQuery,
} from './text-search.js';

/** Quoted letter/digit terms joined by " | ", a lone term optionally a prefix match: nothing else. */
const SAFE_TSQUERY = /^'[\p{L}\p{M}\p{N}]+'(:\*)?( \| '[\p{L}\p{M}\p{N}]+'(:\*)?)*$/u;

describe('toSearchDocument', () => {
  it('expands CJK runs into overlapping bigrams and keeps Latin words for stemming', () => {
    expect(toSearchDocument('退款政策：Refunds take 14 days。')).toBe('退款 款政 政策 refunds take 14 days');
  });

  it('keeps a one-character CJK run as itself', () => {
    expect(toSearchDocument('第1条：税')).toBe('第 1 条 税');
  });

  it('normalises width and case, and turns punctuation into separators', () => {
    expect(toSearchDocument('ＲＥＦＵＮＤ-policy（ｖ2）, e-mail: support@example.com')).toBe(
      'refund policy v2 e mail support example com',
    );
  });

  it('handles Japanese kana with the same bigrams', () => {
    expect(toSearchDocument('カタカナ')).toBe('カタ タカ カナ');
  });

  it('drops absurdly long tokens', () => {
    expect(toSearchDocument(`see ${'x'.repeat(200)} now`)).toBe('see now');
  });
});

describe('toSearchQuery', () => {
  it('returns bigrams for Chinese, without question particles', () => {
    expect(toSearchQuery('请问退款需要多久吗？')).toEqual(['问退', '退款', '款需', '需要', '要多', '多久']);
    expect(toSearchQuery('如何申请保修')).toEqual(['何申', '申请', '请保', '保修']);
  });

  it('returns Latin words without stopwords or duplicates', () => {
    expect(toSearchQuery('How long do refunds take? Refunds!')).toEqual(['long', 'refunds', 'take']);
  });

  it('handles mixed-language questions', () => {
    expect(toSearchQuery('iPhone 15 怎么退货')).toEqual(['iphone', '15', '退货']);
  });

  it('caps the number of terms', () => {
    const essay = Array.from({ length: 200 }, (_, i) => `word${i}`).join(' ');
    expect(toSearchQuery(essay)).toHaveLength(MAX_QUERY_TERMS);
  });
});

describe('toTsQuery / buildTsQuery', () => {
  it('ORs quoted terms, with a prefix match for a lone CJK character', () => {
    expect(buildTsQuery('退款需要多久？')).toBe("'退款' | '款需' | '需要' | '要多' | '多久'");
    expect(buildTsQuery('税')).toBe("'税':*");
    expect(buildTsQuery('shipping to Canada')).toBe("'shipping' | 'canada'");
  });

  it('returns null when nothing is searchable', () => {
    expect(buildTsQuery('')).toBeNull();
    expect(buildTsQuery('?!')).toBeNull();
    expect(buildTsQuery('what is the')).toBeNull();
    expect(toTsQuery([])).toBeNull();
  });

  it('neutralises tsquery syntax in user input', () => {
    expect(buildTsQuery("refund' | !ship & (x:* <-> y) \\'")).toBe("'refund' | 'ship'");
    expect(toTsQuery(["a'b", 'ok', 'x:*', '&', '', 'OK'])).toBe("'ok'");
  });

  it('never produces anything but quoted terms and " | ", whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (input) => {
        const query = buildTsQuery(input);
        expect(query === null || SAFE_TSQUERY.test(query)).toBe(true);
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'grapheme', maxLength: 10 }), { maxLength: 20 }), (terms) => {
        const query = toTsQuery(terms);
        expect(query === null || SAFE_TSQUERY.test(query)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('matches the document preprocessing: every query term of a passage is in its search document', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (text) => {
        const lexemes = new Set(toSearchDocument(text).split(' '));
        for (const term of toSearchQuery(text)) expect(lexemes.has(term)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});

describe('searchableText', () => {
  it('puts the title and headings before the content', () => {
    expect(
      searchableText({ documentTitle: 'Guide', headingPath: ['Refunds'], content: 'Within 14 days.' }),
    ).toBe('Guide\nRefunds\nWithin 14 days.');
  });
});
