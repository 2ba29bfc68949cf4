import { Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource, EntityManager } from 'typeorm';
import { InjectLogger } from '../../core/core.module.js';
import { ModelRegistry } from '../../llm/model-registry.service.js';
import type { RetrievedPassage } from './retrieval.types.js';
import { cjkUnigrams, hasCjk } from './cjk-unigrams.js';
import { toSearchQuery } from './text-search.js';
import { vectorExpression } from './vector-index.service.js';

/** Reciprocal rank fusion constant (Cormack et al.): score = Σ 1 / (k + rank). */
export const RRF_K = 60;

/** How full-text search scores a chunk; the defaults were chosen on ../shared/eval (docs/benchmarks.md). */
export interface TextRanking {
  /** ts_rank weight of the body (label D). */
  bodyWeight: number;
  /** ts_rank weight of the title and headings (label A). */
  titleWeight: number;
  /** ts_rank normalisation flags (1: divide by 1 + log(length), 2: by length, 32: rank / (rank + 1)). */
  normalisation: number;
  /**
   * Candidates are the chunks containing the rarest query terms, taken in order of document frequency
   * while their frequencies add up to at most this many chunks; more common terms only re-rank them
   * (a chunk that has only common terms of the question cannot score high anyway). Bounds the work per query.
   */
  candidateBudget: number;
  /** Score factor for a chunk in another script than the question (CJK vs not). */
  otherScriptFactor: number;
  /** Weight of single CJK characters relative to bigrams and words (0: not searched). */
  unigramWeight: number;
}

export const DEFAULT_TEXT_RANKING: TextRanking = {
  bodyWeight: 1.0,
  titleWeight: 0.5,
  normalisation: 1,
  candidateBudget: 2000,
  otherScriptFactor: 0.5,
  unigramWeight: 0.5,
};

export interface SearchOptions {
  topK: number;
  /** Candidates taken from each list before fusion (default max(4 × topK, 40)). */
  candidates?: number;
  /** One list only, unfused (evaluation and benchmarks); 'vector' needs embeddings. */
  only?: 'full-text' | 'vector';
  /** The query's embedding when the caller already has it (else the store's embedding provider is asked). */
  queryVector?: number[];
  /** Overrides of the full-text scoring (evaluation and tuning). */
  ranking?: Partial<TextRanking>;
  signal?: AbortSignal;
}

export interface RetrievalHit extends RetrievedPassage {
  vectorRank?: number;
  textRank?: number;
  similarity?: number;
}

export type RetrievalMode = 'hybrid' | 'full-text' | 'vector';

export interface RetrievalResult {
  mode: RetrievalMode;
  hits: RetrievalHit[];
}

/** What retrieval needs to know about a store. */
export interface SearchableStore {
  id: string;
  embeddingProviderId: string | null;
}

interface RankedId {
  id: string;
  rank: number;
  score: number;
}

interface WeightedTerm {
  query: string;
  idf: number;
  /** Chunks of the store containing the term. */
  df: number;
}

/**
 * Hybrid retrieval: pgvector cosine nearest neighbours and Postgres full-text search (BM25-style: each
 * query term weighted by its inverse document frequency in the store, saturating term frequency from
 * ts_rank, title and headings weighted), fused by reciprocal rank. Full-text alone without embeddings.
 */
@Injectable()
export class RetrievalService {
  private iterativeScan?: Promise<boolean>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly models: ModelRegistry,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async search(store: SearchableStore, query: string, options: SearchOptions): Promise<RetrievalResult> {
    const candidates = options.candidates ?? Math.max(4 * options.topK, 40);
    const vector =
      options.only === 'full-text'
        ? undefined
        : (options.queryVector ?? (await this.embedQuery(store, query, options.signal)));
    if (options.only === 'vector') {
      if (!vector) return { mode: 'vector', hits: [] };
      const nearest = await this.inVectorTransaction(options.topK, (manager) =>
        this.vectorSearch(manager, store.id, vector, options.topK),
      );
      return { mode: 'vector', hits: await this.load(fuse(nearest, [], options.topK)) };
    }
    const ranking = { ...DEFAULT_TEXT_RANKING, ...options.ranking };
    const terms = await this.weightedTerms(store.id, query, ranking);
    const cjk = hasCjk(query);
    if (!vector) {
      const text = await this.textSearch(
        this.dataSource.manager,
        store.id,
        terms,
        options.topK,
        ranking,
        cjk,
      );
      return {
        mode: 'full-text',
        hits: await this.load(text.map((hit) => ({ ...hit, textRank: hit.rank }))),
      };
    }
    const [vectorHits, textHits] = await this.inVectorTransaction(candidates, async (manager) => {
      const nearest = await this.vectorSearch(manager, store.id, vector, candidates);
      const text = await this.textSearch(manager, store.id, terms, candidates, ranking, cjk);
      return [nearest, text] as const;
    });
    return { mode: 'hybrid', hits: await this.load(fuse(vectorHits, textHits, options.topK)) };
  }

  /**
   * Runs vector search in a transaction whose settings let pgvector ≥ 0.8 keep scanning the HNSW graph
   * until enough rows of this store are found (other stores' chunks share the index).
   */
  private async inVectorTransaction<T>(
    candidates: number,
    work: (manager: EntityManager) => Promise<T>,
  ): Promise<T> {
    const iterative = await this.iterativeScanSupported();
    return this.dataSource.transaction(async (manager) => {
      await manager.query(
        `SELECT set_config('hnsw.ef_search', $1, true)` +
          (iterative ? `, set_config('hnsw.iterative_scan', 'relaxed_order', true)` : ''),
        [String(Math.min(1000, Math.max(40, candidates)))],
      );
      return work(manager);
    });
  }

  /** hnsw.iterative_scan exists from pgvector 0.8 (older versions reject the setting). */
  private iterativeScanSupported(): Promise<boolean> {
    this.iterativeScan ??= this.dataSource
      .query(`SELECT extversion FROM pg_extension WHERE extname = 'vector'`)
      .then((rows: { extversion: string }[]) => {
        const [major, minor] = (rows[0]?.extversion ?? '0.0').split('.').map(Number);
        return major > 0 || minor >= 8;
      })
      .catch(() => {
        this.iterativeScan = undefined;
        return false;
      });
    return this.iterativeScan;
  }

  /** The query embedding, or undefined (full-text only) when the store has none or the call fails. */
  private async embedQuery(
    store: SearchableStore,
    query: string,
    signal?: AbortSignal,
  ): Promise<number[] | undefined> {
    if (!store.embeddingProviderId) return undefined;
    try {
      const { model } = await this.models.embedding(store.embeddingProviderId, 'query');
      const [vector] = await model.embed([query.trim() || '?'], signal);
      return vector;
    } catch (error) {
      if (signal?.aborted) throw error;
      this.logger.warn(
        { storeId: store.id, err: error },
        'query embedding failed; searching with full-text only',
      );
      return undefined;
    }
  }

  /**
   * Query terms as lexemes with their BM25 inverse document frequency in this store: words (stemmed) and
   * CJK bigrams at full weight, single CJK characters at `unigramWeight`. Terms no chunk contains are dropped.
   */
  private async weightedTerms(storeId: string, query: string, ranking: TextRanking): Promise<WeightedTerm[]> {
    const unigrams = ranking.unigramWeight > 0 ? cjkUnigrams(query) : [];
    const raw = [...toSearchQuery(query).filter((term) => !isSingleCjk(term)), ...unigrams];
    if (raw.length === 0) return [];
    const rows: { term: string; lexeme: string | null; df: number; total: number }[] =
      await this.dataSource.query(
        `SELECT t.term, t.lexeme, coalesce(s.df, 0) AS df,
              coalesce((SELECT df FROM store_terms WHERE store_id = $1 AND lexeme = ''), 0) AS total
         FROM (SELECT u.term, u.ord, (tsvector_to_array(to_tsvector('english', u.term)))[1] AS lexeme
                 FROM unnest($2::text[]) WITH ORDINALITY AS u(term, ord)) AS t
         LEFT JOIN store_terms s ON s.store_id = $1 AND s.lexeme = t.lexeme
        ORDER BY t.ord`,
        [storeId, raw],
      );
    const total = Number(rows[0]?.total ?? 0);
    const seen = new Set<string>();
    const terms: WeightedTerm[] = [];
    for (const row of rows) {
      const lexeme = row.lexeme;
      const df = Number(row.df);
      if (!lexeme || df === 0 || seen.has(lexeme) || !SAFE_LEXEME.test(lexeme)) continue;
      seen.add(lexeme);
      const idf = Math.log(1 + (total - df + 0.5) / (df + 0.5));
      terms.push({
        query: `'${lexeme}'`,
        idf: isSingleCjk(lexeme) ? idf * ranking.unigramWeight : idf,
        df,
      });
    }
    return terms;
  }

  private async textSearch(
    manager: EntityManager,
    storeId: string,
    terms: WeightedTerm[],
    limit: number,
    ranking: TextRanking,
    cjkQuery: boolean,
  ): Promise<RankedId[]> {
    if (terms.length === 0) return [];
    const weights = `{${ranking.bodyWeight}, 0, 0, ${ranking.titleWeight}}`;
    const normalisation = Math.trunc(ranking.normalisation);
    const matching = selectingTerms(terms, ranking.candidateBudget)
      .map((term) => term.query)
      .join(' | ');
    const values: unknown[] = [storeId, matching, limit];
    const score = terms
      .map((term) => {
        values.push(term.query, term.idf);
        const q = values.length - 1;
        return `$${q + 1}::float8 * ts_rank('${weights}', m.v, $${q}::tsquery, ${normalisation})`;
      })
      .join(' + ');
    // `|| ''::tsvector` detoasts each candidate's vector once, instead of once per ts_rank call.
    const rows: { id: string; score: number }[] = await manager.query(
      `SELECT m.id, (${score}) * CASE WHEN m.cjk = ${cjkQuery} THEN 1 ELSE ${Number(ranking.otherScriptFactor)} END AS score
         FROM (SELECT c.id, c.cjk, c.search_vector || ''::tsvector AS v
                 FROM chunks c
                WHERE c.store_id = $1 AND c.search_vector @@ $2::tsquery
               OFFSET 0) AS m
        ORDER BY score DESC, m.id
        LIMIT $3`,
      values,
    );
    return rows.map((row, index) => ({ id: row.id, rank: index + 1, score: Number(row.score) }));
  }

  private async vectorSearch(
    manager: EntityManager,
    storeId: string,
    vector: number[],
    limit: number,
  ): Promise<RankedId[]> {
    const dimensions = vector.length;
    const expression = vectorExpression(dimensions);
    // Same expression and predicate as the partial HNSW index, so the planner can use it; the outer
    // ORDER BY restores exact order after the relaxed iterative scan.
    const rows: { id: string; distance: number }[] = await manager.query(
      `SELECT id, distance FROM (
         SELECT c.id, ${expression} <=> $2::vector(${dimensions}) AS distance
           FROM chunks c
          WHERE c.store_id = $1 AND c.embedding_dims = ${dimensions}
          ORDER BY ${expression} <=> $2::vector(${dimensions})
          LIMIT $3
       ) AS nearest
       ORDER BY distance, id`,
      [storeId, `[${vector.join(',')}]`, limit],
    );
    return rows.map((row, index) => ({ id: row.id, rank: index + 1, score: 1 - Number(row.distance) }));
  }

  private async load(ranked: FusedHit[]): Promise<RetrievalHit[]> {
    if (ranked.length === 0) return [];
    const rows: {
      id: string;
      document_id: string;
      heading_path: string[];
      content: string;
      title: string;
    }[] = await this.dataSource.query(
      `SELECT c.id, c.document_id, c.heading_path, c.content, d.title
           FROM chunks c JOIN documents d ON d.id = c.document_id
          WHERE c.id = ANY($1::uuid[])`,
      [ranked.map((hit) => hit.id)],
    );
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ranked.flatMap((hit) => {
      const row = byId.get(hit.id);
      if (!row) return []; // deleted in the meantime
      return [
        {
          chunkId: row.id,
          documentId: row.document_id,
          documentTitle: row.title,
          headingPath: row.heading_path,
          content: row.content,
          score: hit.score,
          ...(hit.vectorRank !== undefined ? { vectorRank: hit.vectorRank, similarity: hit.similarity } : {}),
          ...(hit.textRank !== undefined ? { textRank: hit.textRank } : {}),
        },
      ];
    });
  }
}

/** The rarest terms, while their document frequencies add up to at most `budget` (at least one term). */
function selectingTerms(terms: WeightedTerm[], budget: number): WeightedTerm[] {
  const byRarity = [...terms].sort((a, b) => a.df - b.df);
  const selected: WeightedTerm[] = [];
  let total = 0;
  for (const term of byRarity) {
    if (selected.length > 0 && total + term.df > budget) break;
    selected.push(term);
    total += term.df;
  }
  return selected;
}

interface FusedHit {
  id: string;
  score: number;
  vectorRank?: number;
  textRank?: number;
  similarity?: number;
}

/** Reciprocal rank fusion of the two lists; ties keep the vector list's order. */
export function fuse(vectorHits: RankedId[], textHits: RankedId[], topK: number): FusedHit[] {
  const fused = new Map<string, FusedHit>();
  for (const hit of vectorHits) {
    fused.set(hit.id, {
      id: hit.id,
      score: 1 / (RRF_K + hit.rank),
      vectorRank: hit.rank,
      similarity: hit.score,
    });
  }
  for (const hit of textHits) {
    const entry = fused.get(hit.id) ?? { id: hit.id, score: 0 };
    entry.score += 1 / (RRF_K + hit.rank);
    entry.textRank = hit.rank;
    fused.set(hit.id, entry);
  }
  return [...fused.values()]
    .sort((a, b) => b.score - a.score || (a.vectorRank ?? Infinity) - (b.vectorRank ?? Infinity))
    .slice(0, topK);
}

const SINGLE_CJK = /^[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]$/u;
/** Lexemes are quoted into a tsquery: only letters, marks and digits are allowed through. */
const SAFE_LEXEME = /^[\p{L}\p{M}\p{N}]{1,64}$/u;
const isSingleCjk = (term: string): boolean => SINGLE_CJK.test(term);
