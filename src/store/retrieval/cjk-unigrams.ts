/**
 * Single CJK characters, as a complement to the bigrams of text-search.ts: indexed alongside them and
 * searched with a lower weight, they let a question match a passage that shares its characters but not
 * its exact character pairs (a word split differently, a bigram spanning two words).
 */
const CJK_CHAR = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/gu;
const ANY_CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;

/** True when the text contains Chinese or Japanese characters (the chunk's and the question's "script"). */
export const hasCjk = (text: string): boolean => ANY_CJK.test(text);

/** Particles, pronouns and question words: too common to say anything about a passage. */
const STOP_CHARS = new Set(
  Array.from('的了吗呢吧啊呀么是在我你您他她它们这那个有和与及或也就都而之把被让给请问什怎如何哪些否一不'),
);

/** The distinct topical CJK characters of a text, in order of appearance. */
export function cjkUnigrams(text: string): string[] {
  const seen = new Set<string>();
  for (const [char] of text.normalize('NFKC').matchAll(CJK_CHAR)) {
    if (!STOP_CHARS.has(char)) seen.add(char);
  }
  return [...seen];
}

/** What to append to a chunk's search text: each character once (term frequency comes from the bigrams). */
export function cjkUnigramText(text: string): string {
  return cjkUnigrams(text).join(' ');
}
