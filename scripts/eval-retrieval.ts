/**
 * `npm run eval:retrieval` — retrieval quality on ../shared/eval (Debian FAQ en/zh + Python FAQ):
 * every non-empty passage goes through the real ingestion job (title = chapter, content = text) into one
 * store, then each dev question is searched through RetrievalService, as the API does.
 * Reports R@1, R@5, R@10 and MRR@10 per language, full-text only, and hybrid when an embedding provider is
 * configured with EVAL_EMBEDDING_BASE_URL, EVAL_EMBEDDING_MODEL, EVAL_EMBEDDING_DIMENSIONS (and
 * EVAL_EMBEDDING_API_KEY if needed).
 *
 *   npm run build && node dist/scripts/eval-retrieval.js [--data ../shared/eval] [--queries queries.dev.jsonl]
 *                                                          [--reuse] [--json]
 *
 * Runs against DATABASE_URL, or an embedded database in a temporary directory. `--reuse` keeps the stores
 * (named eval-*) between runs instead of ingesting again.
 */
import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { createApp } from '../src/app.factory.js';
import { loadConfig } from '../src/config/app-config.js';
import { ProviderService } from '../src/provider/provider.service.js';
import { DocumentService } from '../src/store/document.service.js';
import { RetrievalService } from '../src/store/retrieval/retrieval.service.js';
import { StoreService } from '../src/store/store.service.js';

interface Passage {
  passage_id: string;
  lang: string;
  chapter: string;
  text: string;
}

interface Query {
  qid: string;
  lang: string;
  question: string;
  gold_passage_id: string;
}

interface Metrics {
  queries: number;
  r1: number;
  r5: number;
  r10: number;
  mrr10: number;
}

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: process.env.EVAL_DATA_DIR ?? '../shared/eval' },
    queries: { type: 'string', default: 'queries.dev.jsonl' },
    reuse: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});

const readJsonl = <T>(path: string): T[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as T);

async function main(): Promise<void> {
  const dataDir = resolve(args.data);
  const passages = readJsonl<Passage>(join(dataDir, 'corpus.jsonl')).filter((passage) => passage.text.trim());
  const queries = readJsonl<Query>(join(dataDir, args.queries));
  const embedded = !process.env.DATABASE_URL;
  const tempDir = embedded ? mkdtempSync(join(tmpdir(), 'parley-eval-')) : undefined;
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ROLE: 'all',
    // A scratch database: fixed keys instead of generated ones printed and kept in ./data.
    ADMIN_API_KEY: process.env.ADMIN_API_KEY ?? 'eval-admin-key-0123456789',
    SECRET_KEY: process.env.SECRET_KEY ?? 'parley-eval-only-secret-key-0123456789',
    ...(tempDir ? { DATA_DIR: tempDir } : {}),
  });
  const app = await createApp(config);
  await app.init();
  try {
    const providers = app.get(ProviderService);
    const stores = app.get(StoreService);
    const documents = app.get(DocumentService);
    const retrieval = app.get(RetrievalService);
    const dataSource = app.get(DataSource);

    const providerId = async (name: string, body: Parameters<ProviderService['create']>[0]) => {
      const rows: { id: string }[] = await dataSource.query(`SELECT id FROM providers WHERE name = $1`, [
        name,
      ]);
      return rows[0]?.id ?? (await providers.create(body)).id;
    };
    const modelId = await providerId('eval-extractive', {
      name: 'eval-extractive',
      category: 'model',
      type: 'extractive',
      config: {},
    });
    const setups: { mode: 'full-text' | 'hybrid'; store: string; embeddingProviderId?: string }[] = [
      { mode: 'full-text', store: 'eval-full-text' },
    ];
    if (process.env.EVAL_EMBEDDING_BASE_URL) {
      const embeddingProviderId = await providerId('eval-embedding', {
        name: 'eval-embedding',
        category: 'embedding',
        type: 'openai-compatible',
        config: {
          baseUrl: process.env.EVAL_EMBEDDING_BASE_URL,
          model: process.env.EVAL_EMBEDDING_MODEL ?? 'text-embedding-3-small',
          dimensions: Number(process.env.EVAL_EMBEDDING_DIMENSIONS ?? 1536),
          ...(process.env.EVAL_EMBEDDING_API_KEY ? { apiKey: process.env.EVAL_EMBEDDING_API_KEY } : {}),
        },
      });
      setups.push({ mode: 'hybrid', store: 'eval-hybrid', embeddingProviderId });
    }

    const results: Record<string, Record<string, Metrics>> = {};
    for (const setup of setups) {
      const existing: { id: string }[] = await dataSource.query(`SELECT id FROM stores WHERE name = $1`, [
        setup.store,
      ]);
      if (existing[0] && !args.reuse) await stores.remove(existing[0].id);
      const storeId =
        existing[0] && args.reuse
          ? existing[0].id
          : (
              await stores.create({
                name: setup.store,
                modelProviderId: modelId,
                embeddingProviderId: setup.embeddingProviderId,
              })
            ).id;
      const started = performance.now();
      const passageOf = await ingest(dataSource, documents, storeId, passages);
      const ingestSeconds = (performance.now() - started) / 1000;
      const store = await stores.find(storeId);
      const ranks: { lang: string; rank: number | undefined; ms: number }[] = [];
      for (const query of queries) {
        const t0 = performance.now();
        const { hits } = await retrieval.search(store, query.question, {
          topK: 30,
          only: setup.mode === 'full-text' ? 'full-text' : undefined,
        });
        const ms = performance.now() - t0;
        const ranked = [...new Set(hits.map((hit) => passageOf.get(hit.documentId)))];
        const index = ranked.indexOf(query.gold_passage_id);
        ranks.push({ lang: query.lang, rank: index >= 0 ? index + 1 : undefined, ms });
      }
      results[setup.mode] = {};
      for (const lang of ['en', 'zh'])
        results[setup.mode][lang] = metrics(ranks.filter((r) => r.lang === lang));
      const latencies = ranks.map((r) => r.ms).sort((a, b) => a - b);
      process.stderr.write(
        `${setup.mode}: ${passages.length} passages ingested in ${ingestSeconds.toFixed(1)} s; ` +
          `query p50 ${percentile(latencies, 0.5).toFixed(1)} ms, p95 ${percentile(latencies, 0.95).toFixed(1)} ms\n`,
      );
    }
    if (args.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
    else process.stdout.write(table(results));
  } finally {
    await app.close();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}

/** Adds the passages not yet in the store and waits for every document to be ingested. */
async function ingest(
  dataSource: DataSource,
  documents: DocumentService,
  storeId: string,
  passages: Passage[],
): Promise<Map<string, string>> {
  const passageOf = new Map<string, string>();
  for (const passage of passages) {
    const { document } = await documents.add(storeId, {
      kind: 'text',
      title: passage.chapter,
      content: passage.text,
    });
    passageOf.set(document.id, passage.passage_id);
  }
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const rows: { status: string; count: number }[] = await dataSource.query(
      `SELECT status, count(*)::int AS count FROM documents WHERE store_id = $1 GROUP BY status`,
      [storeId],
    );
    const count = (status: string) => rows.find((row) => row.status === status)?.count ?? 0;
    if (count('pending') + count('processing') === 0) {
      if (count('failed') > 0)
        process.stderr.write(`warning: ${count('failed')} documents failed to ingest\n`);
      return passageOf;
    }
    if (Date.now() > deadline) throw new Error('ingestion did not finish within 30 minutes');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function metrics(ranks: { rank: number | undefined }[]): Metrics {
  const share = (predicate: (rank: number) => boolean) =>
    ranks.filter((r) => r.rank !== undefined && predicate(r.rank)).length / Math.max(ranks.length, 1);
  return {
    queries: ranks.length,
    r1: share((rank) => rank <= 1),
    r5: share((rank) => rank <= 5),
    r10: share((rank) => rank <= 10),
    mrr10:
      ranks.reduce((sum, r) => sum + (r.rank !== undefined && r.rank <= 10 ? 1 / r.rank : 0), 0) /
      Math.max(ranks.length, 1),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

function table(results: Record<string, Record<string, Metrics>>): string {
  const lines = ['| mode | queries | R@1 | R@5 | R@10 | MRR@10 |', '| --- | --- | --- | --- | --- | --- |'];
  for (const [mode, byLang] of Object.entries(results)) {
    for (const [lang, m] of Object.entries(byLang)) {
      const f = (value: number) => value.toFixed(3);
      lines.push(
        `| ${mode}, ${lang === 'en' ? 'English' : 'Chinese'} | ${m.queries} | ${f(m.r1)} | ${f(m.r5)} | ${f(m.r10)} | ${f(m.mrr10)} |`,
      );
    }
  }
  return `${lines.join('\n')}\n`;
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
