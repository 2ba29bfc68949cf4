/**
 * Text preprocessing that lets Postgres full-text search work for Chinese (and Japanese kana) as well
 * as English. Postgres's parser does not segment CJK text, so both sides turn CJK runs into
 * overlapping character bigrams ("退款政策" → "退款 款政 政策"); Latin text stays words, which the
 * `english` configuration stems. Everything else (punctuation, symbols) becomes a space, and text is
 * NFKC-normalised and lower-cased here so the result does not depend on the database's locale.
 *
 * Indexing (suggested; computed on insert, since the bigrams come from this code, not SQL):
 *
 *   search_vector tsvector NOT NULL
 *   CREATE INDEX chunks_search_idx ON chunks USING gin (search_vector);
 *   INSERT ... search_vector = setweight(to_tsvector('english', $label), 'B') || to_tsvector('english', $content)
 *     -- $label = toSearchDocument(title › headings), $content = toSearchDocument(chunk content)
 *
 * Querying:
 *
 *   SELECT c.id, ts_rank_cd(c.search_vector, q, 1) AS score
 *   FROM chunks c, to_tsquery('english', $2) q            -- $2 = buildTsQuery(question); skip when null
 *   WHERE c.store_id = $1 AND c.search_vector @@ q
 *   ORDER BY score DESC LIMIT $3;
 */

const CJK_CLASS = '\\p{Script=Han}\\p{Script=Hiragana}\\p{Script=Katakana}\\u30FC';
const RUNS = new RegExp(`(?<cjk>[${CJK_CLASS}]+)|(?<word>(?:(?![${CJK_CLASS}])[\\p{L}\\p{M}\\p{N}])+)`, 'gu');
/** Longer "words" are URLs, hashes or base64: noise, and Postgres refuses lexemes over 2 KB anyway. */
const MAX_WORD_LENGTH = 64;
/** A pasted essay must not become a huge query. */
export const MAX_QUERY_TERMS = 48;

const ENGLISH_STOPWORDS = new Set(
  (
    'a an the and or but if then so of to in on at by for from with about into over under as is are was were be ' +
    'been being am do does did doing have has had having can could should would will shall may might must i me my ' +
    'mine we us our you your he him his she her it its they them their this that these those there here what which ' +
    'who whom whose when where why how not no nor too very just also any some all each please tell know hi hello thanks'
  ).split(' '),
);

/** Characters that carry no topic on their own in Chinese questions (particles, pronouns, question words). */
const CHINESE_STOP_CHARS = new Set(
  Array.from('的了吗呢吧啊呀么是在我你您他她它们这那个有和与及或也就都而之把被让给请问什怎如何哪些否'),
);
/** Sentence-final particles: a bigram containing one is noise ("么退" in "怎么退货"). */
const CHINESE_PARTICLES = new Set(Array.from('吗呢吧啊呀么'));
const CHINESE_STOP_BIGRAMS = new Set(['可以', '能否', '是否', '一下', '一个', '知道', '告诉']);

interface Run {
  cjk: boolean;
  text: string;
}

function runs(text: string): Run[] {
  const normalised = text.normalize('NFKC').toLowerCase();
  const result: Run[] = [];
  for (const match of normalised.matchAll(RUNS)) {
    const cjk = match.groups?.cjk;
    if (cjk) result.push({ cjk: true, text: cjk });
    else if (match[0].length <= MAX_WORD_LENGTH) result.push({ cjk: false, text: match[0] });
  }
  return result;
}

/** Overlapping character bigrams of a CJK run; a one-character run stays itself. */
function bigrams(run: string): string[] {
  const chars = Array.from(run);
  if (chars.length === 1) return chars;
  return chars.slice(0, -1).map((char, i) => char + chars[i + 1]);
}

/** The text to pass to `to_tsvector('english', ...)` (or 'simple') when indexing. */
export function toSearchDocument(text: string): string {
  return runs(text)
    .map((run) => (run.cjk ? bigrams(run.text).join(' ') : run.text))
    .join(' ');
}

/** What to index for a chunk: its source label (title › headings) and its content. */
export function searchableText(chunk: {
  documentTitle: string;
  headingPath: string[];
  content: string;
}): string {
  return [chunk.documentTitle, ...chunk.headingPath, chunk.content].join('\n');
}

/**
 * The distinct search terms of a question, in order: CJK bigrams (single characters for one-character
 * runs) and Latin words, without stopwords. Meant to be OR-ed (see `toTsQuery`).
 */
export function toSearchQuery(question: string): string[] {
  const terms = new Set<string>();
  for (const run of runs(question)) {
    const candidates = run.cjk
      ? bigrams(run.text).filter(isTopicalCjk)
      : isTopicalWord(run.text)
        ? [run.text]
        : [];
    for (const term of candidates) {
      if (terms.size >= MAX_QUERY_TERMS) return [...terms];
      terms.add(term);
    }
  }
  return [...terms];
}

function isTopicalCjk(term: string): boolean {
  const chars = Array.from(term);
  if (chars.every((char) => CHINESE_STOP_CHARS.has(char))) return false;
  if (chars.some((char) => CHINESE_PARTICLES.has(char))) return false;
  return !CHINESE_STOP_BIGRAMS.has(term);
}

function isTopicalWord(word: string): boolean {
  if (ENGLISH_STOPWORDS.has(word)) return false;
  return word.length > 1 || /\p{N}/u.test(word);
}

const SAFE_TERM = /^[\p{L}\p{M}\p{N}]+$/u;
const SINGLE_CJK = new RegExp(`^[${CJK_CLASS}]$`, 'u');

/**
 * A tsquery string OR-ing the terms, safe for `to_tsquery(config, $1)` whatever the user typed: only
 * letters, marks and digits survive, each term is quoted, and operators are ours alone. A lone CJK
 * character becomes a prefix match (it is indexed only inside bigrams). Null when nothing is searchable.
 */
export function toTsQuery(terms: readonly string[]): string | null {
  const quoted = new Set<string>();
  for (const term of terms) {
    const clean = term.normalize('NFKC').toLowerCase();
    if (!SAFE_TERM.test(clean) || clean.length > MAX_WORD_LENGTH) continue;
    quoted.add(SINGLE_CJK.test(clean) ? `'${clean}':*` : `'${clean}'`);
    if (quoted.size >= MAX_QUERY_TERMS) break;
  }
  return quoted.size > 0 ? [...quoted].join(' | ') : null;
}

/** `toTsQuery(toSearchQuery(question))`. */
export function buildTsQuery(question: string): string | null {
  return toTsQuery(toSearchQuery(question));
}
