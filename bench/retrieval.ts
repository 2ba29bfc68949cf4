/**
 * `npm run bench:retrieval` — latency of vector, full-text and hybrid search over N synthetic chunks.
 *
 *   npm run build && node dist/bench/retrieval.js [--n 100000] [--dims 384] [--queries 300] [--top-k 5]
 *                                                 [--keep]
 *
 * Runs against DATABASE_URL (use a scratch database: the bench creates a store named bench-retrieval and
 * deletes it at the end unless --keep), or an embedded database in a temporary directory. Chunks are
 * bulk-inserted with multi-row INSERTs (synthetic English-like text with a Zipf word distribution, a share
 * of Chinese text, clustered unit vectors), the HNSW index is built after loading, then each query goes
 * through RetrievalService exactly as the API's search does (term statistics, ranking, loading the
 * passages), with the query vector given instead of calling an embedding model.
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DataSource } from 'typeorm';
import { createApp } from '../src/app.factory.js';
import { loadConfig } from '../src/config/app-config.js';
import { ProviderService } from '../src/provider/provider.service.js';
import { RetrievalService, type RetrievalMode } from '../src/store/retrieval/retrieval.service.js';
import { toSearchDocument } from '../src/store/retrieval/text-search.js';
import { cjkUnigramText } from '../src/store/retrieval/cjk-unigrams.js';
import { vectorExpression, vectorIndexName } from '../src/store/retrieval/vector-index.service.js';
import { StoreService } from '../src/store/store.service.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    dims: { type: 'string', default: '384' },
    queries: { type: 'string', default: '300' },
    'top-k': { type: 'string', default: '5' },
    keep: { type: 'boolean', default: false },
    seed: { type: 'string', default: '42' },
  },
});
const N = Number(args.n);
const DIMS = Number(args.dims);
const QUERIES = Number(args.queries);
const TOP_K = Number(args['top-k']);
const CHUNKS_PER_DOCUMENT = 500;
const ROWS_PER_INSERT = 500;
const CLUSTERS = 512;
const CJK_SHARE = 0.1;

// ---------------------------------------------------------------- deterministic synthetic data

let state = Number(args.seed) >>> 0 || 1;
/** xorshift32: reproducible runs. */
function random(): number {
  state ^= state << 13;
  state ^= state >>> 17;
  state ^= state << 5;
  return (state >>> 0) / 4294967296;
}
function gaussian(): number {
  return Math.sqrt(-2 * Math.log(random() + 1e-12)) * Math.cos(2 * Math.PI * random());
}

const SYLLABLES =
  'ka ri to mo na shi el an or ve lu pa de sto gra min tel bor qui zen fa lo ru pen dax'.split(' ');
const VOCABULARY = Array.from({ length: 30_000 }, (_, i) => {
  let word = '';
  let n = i + 1;
  do {
    word += SYLLABLES[n % SYLLABLES.length];
    n = Math.floor(n / SYLLABLES.length);
  } while (n > 0);
  return word;
});
/** Zipf (s = 1.07) sampling by inverse CDF over the vocabulary. */
const CDF = (() => {
  const weights = VOCABULARY.map((_, rank) => 1 / (rank + 1) ** 1.07);
  const total = weights.reduce((a, b) => a + b, 0);
  let sum = 0;
  return weights.map((weight) => (sum += weight / total));
})();
function zipfWord(): string {
  const x = random();
  let low = 0;
  let high = CDF.length - 1;
  while (low < high) {
    const mid = (low + high) >> 1;
    if (CDF[mid] < x) low = mid + 1;
    else high = mid;
  }
  return VOCABULARY[low];
}
const HAN = Array.from(
  '软件包安装系统内核模块网络配置文件用户服务器数据备份恢复权限密码更新版本发布源码构建测试文档帮助问题错误日志管理工具',
);
function chineseSentence(): string {
  return Array.from(
    { length: 20 + Math.floor(random() * 40) },
    () => HAN[Math.floor(random() * HAN.length)],
  ).join('');
}
function englishText(): string {
  return Array.from({ length: 80 + Math.floor(random() * 120) }, zipfWord).join(' ');
}

const CENTROIDS = Array.from({ length: CLUSTERS }, () => normalise(Array.from({ length: DIMS }, gaussian)));
function normalise(vector: number[]): number[] {
  const norm = Math.hypot(...vector) || 1;
  return vector.map((value) => value / norm);
}
function vectorNear(centroid: number[], spread: number): number[] {
  return normalise(centroid.map((value) => value + spread * gaussian()));
}

interface SyntheticChunk {
  content: string;
  vector: number[];
}
function syntheticChunk(): SyntheticChunk {
  const content =
    random() < CJK_SHARE ? `${chineseSentence()} ${englishText().slice(0, 200)}` : englishText();
  return { content, vector: vectorNear(CENTROIDS[Math.floor(random() * CLUSTERS)], 0.08) };
}

// ---------------------------------------------------------------- the run

async function main(): Promise<void> {
  const embedded = !process.env.DATABASE_URL;
  const tempDir = embedded ? mkdtempSync(join(tmpdir(), 'parley-bench-')) : undefined;
  const config = loadConfig({
    ...process.env,
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    ROLE: 'api',
    ADMIN_API_KEY: process.env.ADMIN_API_KEY ?? 'bench-admin-key-0123456789',
    SECRET_KEY: process.env.SECRET_KEY ?? 'parley-bench-only-secret-key-0123456789',
    ...(tempDir ? { DATA_DIR: tempDir } : {}),
  });
  const app = await createApp(config);
  await app.init();
  const dataSource = app.get(DataSource);
  const stores = app.get(StoreService);
  let storeId: string | undefined;
  try {
    const providers = app.get(ProviderService);
    const provider = async (name: string, body: Parameters<ProviderService['create']>[0]) => {
      const rows: { id: string }[] = await dataSource.query(`SELECT id FROM providers WHERE name = $1`, [
        name,
      ]);
      return rows[0]?.id ?? (await providers.create(body)).id;
    };
    const modelId = await provider('bench-extractive', {
      name: 'bench-extractive',
      category: 'model',
      type: 'extractive',
      config: {},
    });
    // Never called: the bench passes query vectors itself.
    const embeddingId = await provider(`bench-embedding-${DIMS}`, {
      name: `bench-embedding-${DIMS}`,
      category: 'embedding',
      type: 'openai-compatible',
      config: { baseUrl: 'http://127.0.0.1:9/v1', model: 'synthetic', dimensions: DIMS },
    });
    const old: { id: string }[] = await dataSource.query(
      `SELECT id FROM stores WHERE name = 'bench-retrieval'`,
    );
    if (old[0]) await stores.remove(old[0].id);
    storeId = (
      await stores.create({
        name: 'bench-retrieval',
        modelProviderId: modelId,
        embeddingProviderId: embeddingId,
      })
    ).id;

    log(`database: ${embedded ? 'embedded (PGlite)' : 'Postgres'} ${await serverVersion(dataSource)}`);
    log(
      `machine: ${cpus().length} × ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    );
    const samples = await load(dataSource, storeId);
    const store = await stores.find(storeId);
    const retrieval = app.get(RetrievalService);
    const queries = samples.map((sample) => ({
      text: queryText(sample.content),
      vector: vectorNear(sample.vector, 0.05),
    }));

    const modes: { mode: RetrievalMode; only?: 'full-text' | 'vector' }[] = [
      { mode: 'vector', only: 'vector' },
      { mode: 'full-text', only: 'full-text' },
      { mode: 'hybrid' },
    ];
    const results: string[] = [
      '| search | queries | p50 ms | p95 ms | p99 ms | mean ms |',
      '| --- | --- | --- | --- | --- | --- |',
    ];
    for (const { mode, only } of modes) {
      for (const query of queries.slice(0, 20)) {
        await retrieval.search(store, query.text, { topK: TOP_K, only, queryVector: query.vector });
      }
      const times: number[] = [];
      let empty = 0;
      for (const query of queries) {
        const started = performance.now();
        const result = await retrieval.search(store, query.text, {
          topK: TOP_K,
          only,
          queryVector: query.vector,
        });
        times.push(performance.now() - started);
        if (result.mode !== mode) throw new Error(`expected ${mode} search, got ${result.mode}`);
        if (result.hits.length === 0) empty++;
      }
      times.sort((a, b) => a - b);
      const mean = times.reduce((a, b) => a + b, 0) / times.length;
      results.push(
        `| ${mode} | ${times.length} | ${fmt(pct(times, 0.5))} | ${fmt(pct(times, 0.95))} | ${fmt(pct(times, 0.99))} | ${fmt(mean)} |` +
          (empty ? ` (${empty} empty)` : ''),
      );
    }
    process.stdout.write(`\n${N} chunks, ${DIMS} dimensions, top ${TOP_K}\n\n${results.join('\n')}\n`);
  } finally {
    if (storeId && !args.keep) {
      const started = performance.now();
      await stores.remove(storeId);
      log(`store deleted in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    await app.close();
    if (tempDir) rmSync(tempDir, { recursive: true, force: true });
  }
}

/** Inserts N chunks (and their documents and term statistics), then builds the HNSW index. */
async function load(dataSource: DataSource, storeId: string): Promise<SyntheticChunk[]> {
  const samples: SyntheticChunk[] = [];
  const sampleEvery = Math.max(1, Math.floor(N / QUERIES));
  const index = vectorIndexName(DIMS);
  await dataSource.query(`DROP INDEX IF EXISTS ${index}`);
  let started = performance.now();
  for (let documentStart = 0; documentStart < N; documentStart += CHUNKS_PER_DOCUMENT) {
    const count = Math.min(CHUNKS_PER_DOCUMENT, N - documentStart);
    const [document]: { id: string }[] = await dataSource.query(
      `INSERT INTO documents (store_id, title, mime_type, size_bytes, content_hash, content, status, chunk_count, indexed_at)
       VALUES ($1, $2, 'text/markdown', 0, $3, ''::bytea, 'ready', $4, now()) RETURNING id`,
      [
        storeId,
        `Synthetic manual ${documentStart / CHUNKS_PER_DOCUMENT + 1}`,
        `bench-${documentStart}`,
        count,
      ],
    );
    for (let start = 0; start < count; start += ROWS_PER_INSERT) {
      const values: unknown[] = [storeId];
      const rows: string[] = [];
      for (let i = start; i < Math.min(count, start + ROWS_PER_INSERT); i++) {
        const chunk = syntheticChunk();
        if ((documentStart + i) % sampleEvery === 0 && samples.length < QUERIES) samples.push(chunk);
        const title = `Synthetic manual ${documentStart / CHUNKS_PER_DOCUMENT + 1}\nSection ${i}`;
        values.push(
          document.id,
          i,
          chunk.content,
          Math.round(chunk.content.length / 4),
          toSearchDocument(title),
          `${toSearchDocument(chunk.content)}\n${cjkUnigramText(chunk.content)}`,
          `[${chunk.vector.map((value) => value.toFixed(6)).join(',')}]`,
          /[\u4e00-\u9fff]/.test(chunk.content),
        );
        const b = values.length - 8;
        rows.push(
          `($${b + 1}, $1, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}::vector, ${DIMS}, $${b + 8})`,
        );
      }
      await dataSource.query(
        `INSERT INTO chunks (document_id, store_id, ordinal, content, token_count, search_title, search_text, embedding, embedding_dims, cjk)
         VALUES ${rows.join(', ')}`,
        values,
      );
    }
    if ((documentStart / CHUNKS_PER_DOCUMENT) % 20 === 19) {
      log(
        `${documentStart + count} chunks inserted (${((performance.now() - started) / 1000).toFixed(0)} s)`,
      );
    }
  }
  log(`inserted ${N} chunks in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  started = performance.now();
  await dataSource.query(
    `INSERT INTO store_terms (store_id, lexeme, df)
     SELECT $1::uuid, word, ndoc FROM ts_stat($2)
     UNION ALL SELECT $1::uuid, '', count(*)::int FROM chunks WHERE store_id = $1`,
    [storeId, `SELECT search_vector FROM chunks WHERE store_id = '${storeId}'`],
  );
  log(`term statistics in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  started = performance.now();
  await dataSource.transaction(async (manager) => {
    await manager.query(`SET LOCAL maintenance_work_mem = '1GB'`);
    await manager.query(
      `CREATE INDEX ${index} ON chunks USING hnsw (${vectorExpression(DIMS)} vector_cosine_ops) WHERE embedding_dims = ${DIMS}`,
    );
  });
  log(
    `HNSW index (m 16, ef_construction 64) built in ${((performance.now() - started) / 1000).toFixed(1)} s`,
  );
  await dataSource.query(`ANALYZE chunks`);
  await dataSource.query(`ANALYZE store_terms`);
  return samples;
}

/** A question-like query: 3–5 distinct words of the chunk, not the most frequent ones (like a user's words). */
function queryText(content: string): string {
  const words = [...new Set(content.split(/\s+/).filter((word) => /^[a-z]+$/.test(word)))];
  const topical = words.filter((word) => VOCABULARY.indexOf(word) > 50);
  const pool = topical.length >= 3 ? topical : words;
  const picked = Array.from(
    { length: 3 + Math.floor(random() * 3) },
    () => pool[Math.floor(random() * pool.length)],
  );
  const han = /[\u4e00-\u9fff]{4}/.exec(content)?.[0];
  return `how do I ${[...new Set(picked)].join(' ')}${han ? ` ${han}` : ''}?`;
}

async function serverVersion(dataSource: DataSource): Promise<string> {
  const [row]: { version: string }[] = await dataSource.query(
    `SELECT current_setting('server_version') AS version`,
  );
  const [vector]: { v: string }[] = await dataSource.query(
    `SELECT extversion AS v FROM pg_extension WHERE extname = 'vector'`,
  );
  return `${row.version}, pgvector ${vector?.v}`;
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
const fmt = (ms: number) => ms.toFixed(1);
const log = (message: string) => process.stderr.write(`${message}\n`);

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n`);
  process.exit(1);
});
