import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../../config/app-config.js';
import { InjectLogger } from '../../core/core.module.js';
import { LlmError } from '../../llm/llm-error.js';
import { ModelRegistry } from '../../llm/model-registry.service.js';
import { QueueService, type QueueJob } from '../../queue/queue.service.js';
import { defaultTitle } from '../document.service.js';
import type { IngestStage } from '../entities/document.entity.js';
import { cjkUnigramText, hasCjk } from '../retrieval/cjk-unigrams.js';
import { formatSourceLabel } from '../retrieval/retrieval.types.js';
import { toSearchDocument } from '../retrieval/text-search.js';
import { addDocumentTerms, deleteDocumentChunks } from '../retrieval/term-stats.js';
import { VectorIndexService } from '../retrieval/vector-index.service.js';
import { DocumentParseError, parseDocument, type DocumentSection } from './document-parser.js';
import { INGEST_QUEUE, IngestJob, ingestJobId, updatedRows } from './ingestion-queue.js';
import { splitSections, type TextChunk } from './text-splitter.js';

/** Jobs this process ingests at once: embedding calls wait on the network, parsing uses a core. */
export const INGEST_CONCURRENCY = 2;
/** A processing document's row is touched this often while its worker lives. */
const HEARTBEAT_MS = 20_000;
/** A document still `processing` with no heartbeat for this long lost its worker (a stopped process). */
export const INGEST_STALE_SECONDS = 120;
const SWEEP_MS = 30_000;
/** Texts per embedding call from here (the model batches further); the job checks for staleness between. */
const EMBED_GROUP = 256;
/** Rows per INSERT: 11 parameters each, far below Postgres's 65535. */
const INSERT_ROWS = 500;

interface ClaimedDocument {
  store_id: string;
  title: string;
  filename: string | null;
  mime_type: string;
  content: Buffer;
  embedding_provider_id: string | null;
}

interface PreparedChunk extends TextChunk {
  embedding?: number[];
}

/** A failure of one stage of the pipeline: recorded on the document, not retried. */
class StageError extends Error {
  constructor(
    readonly stage: IngestStage,
    readonly reason: string,
  ) {
    super(`${STAGE_LABELS[stage]} failed: ${reason}`);
  }
}

const STAGE_LABELS: Record<IngestStage, string> = {
  parse: 'Parsing',
  split: 'Splitting',
  embed: 'Embedding',
  index: 'Indexing',
};

/** The document changed (deleted, or queued again) while this job ran: its result is not wanted. */
class StaleJob extends Error {}

/**
 * The `ingest-document` worker: parse → split → embed (when the store has an embedding provider) → index.
 * Idempotent: the final write replaces the document's chunks in one transaction that first checks the job
 * is still current, so a job retried after a crash, or overtaken by a reindex, never leaves duplicates.
 */
@Injectable()
export class IngestionWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly queue: QueueService,
    private readonly dataSource: DataSource,
    private readonly models: ModelRegistry,
    private readonly vectorIndexes: VectorIndexService,
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.ROLE === 'api') return;
    await this.queue.work<IngestJob>(INGEST_QUEUE, { concurrency: INGEST_CONCURRENCY }, (job) =>
      this.run(job),
    );
    this.sweeper = setInterval(
      () => void this.sweep().catch((error) => this.logger.error({ err: error }, 'ingestion sweep failed')),
      SWEEP_MS,
    );
    this.sweeper.unref();
  }

  beforeApplicationShutdown(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /**
   * Documents left `processing` by a worker that stopped (no heartbeat for INGEST_STALE_SECONDS): their job
   * is failed in pg-boss at once, so its retry policy runs now rather than when the job expires (30 min);
   * once the retries are used up, the document ends `failed` instead of `processing` forever.
   */
  async sweep(): Promise<void> {
    const stale = (await this.dataSource.query(
      `SELECT id, ingest_version FROM documents
        WHERE status = 'processing' AND updated_at < now() - make_interval(secs => $1)`,
      [INGEST_STALE_SECONDS],
    )) as { id: string; ingest_version: number }[];
    for (const { id, ingest_version: version } of stale) {
      const jobId = ingestJobId(id, version);
      const state = await this.queue.jobState(INGEST_QUEUE, jobId);
      if (state === 'active') {
        this.logger.warn({ documentId: id }, 'taking over a document whose ingestion worker stopped');
        await this.queue.failJob(INGEST_QUEUE, jobId, 'the ingestion worker stopped');
        await this.touch(id, version);
      } else if (state === 'created' || state === 'retry') {
        await this.touch(id, version);
      } else {
        await this.dataSource.query(
          `UPDATE documents SET status = 'failed', failed_stage = NULL, updated_at = now(),
             error = 'Ingestion was interrupted repeatedly (the worker process stopped); upload the document again or reindex the store'
           WHERE id = $1 AND ingest_version = $2 AND status = 'processing'`,
          [id, version],
        );
      }
    }
  }

  private async touch(documentId: string, version: number): Promise<void> {
    await this.dataSource.query(
      `UPDATE documents SET updated_at = now() WHERE id = $1 AND ingest_version = $2 AND status = 'processing'`,
      [documentId, version],
    );
  }

  /** Runs one `ingest-document` job. */
  async run(job: QueueJob<IngestJob>): Promise<void> {
    const { documentId, version } = job.data;
    const started = performance.now();
    const document = await this.claim(documentId, version);
    if (!document) {
      this.logger.debug(
        { documentId, version },
        'ingestion skipped: the document was deleted, queued again or already ingested',
      );
      return;
    }
    const heartbeat = setInterval(
      () => void this.touch(documentId, version).catch(() => undefined),
      HEARTBEAT_MS,
    );
    try {
      const { title, chunks } = await this.prepare(document, documentId, version);
      const count = await this.index(documentId, version, document.store_id, title, chunks);
      this.logger.info(
        {
          documentId,
          storeId: document.store_id,
          chunks: count,
          ms: Math.round(performance.now() - started),
        },
        'document ingested',
      );
    } catch (error) {
      if (error instanceof StaleJob) return;
      const failure =
        error instanceof StageError
          ? error
          : new StageError('index', (error as Error)?.message ?? String(error));
      this.logger.warn(
        { documentId, storeId: document.store_id, stage: failure.stage, err: error },
        'document ingestion failed',
      );
      // If even this fails (database down), the job throws and pg-boss retries it later.
      await this.markFailed(documentId, version, document.store_id, failure);
    } finally {
      clearInterval(heartbeat);
    }
  }

  /** A failed document has no chunks (not even those of an earlier, successful ingestion). */
  private async markFailed(
    documentId: string,
    version: number,
    storeId: string,
    failure: StageError,
  ): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const current: unknown[] = await manager.query(
        `SELECT 1 FROM documents WHERE id = $1 AND ingest_version = $2 FOR UPDATE`,
        [documentId, version],
      );
      if (current.length === 0) return;
      await deleteDocumentChunks(manager, storeId, documentId);
      await manager.query(
        `UPDATE documents SET status = 'failed', error = $2, failed_stage = $3, chunk_count = 0, updated_at = now()
          WHERE id = $1`,
        [documentId, failure.message.slice(0, 2000), failure.stage],
      );
    });
  }

  /** Marks the document `processing` if this job is still the current one, and loads what ingestion needs. */
  private async claim(documentId: string, version: number): Promise<ClaimedDocument | undefined> {
    const claimed = updatedRows<{ id: string }>(
      await this.dataSource.query(
        `UPDATE documents SET status = 'processing', error = NULL, failed_stage = NULL, updated_at = now()
          WHERE id = $1 AND ingest_version = $2 AND status IN ('pending', 'processing')
      RETURNING id`,
        [documentId, version],
      ),
    );
    if (claimed.length === 0) return undefined;
    const rows: ClaimedDocument[] = await this.dataSource.query(
      `SELECT d.store_id, d.title, d.filename, d.mime_type, d.content, s.embedding_provider_id
         FROM documents d JOIN stores s ON s.id = d.store_id
        WHERE d.id = $1`,
      [documentId],
    );
    return rows[0];
  }

  private async prepare(
    document: ClaimedDocument,
    documentId: string,
    version: number,
  ): Promise<{ title: string; chunks: PreparedChunk[] }> {
    const { title, sections } = await this.parse(document);
    if (title !== document.title) {
      await this.dataSource.query(`UPDATE documents SET title = $3 WHERE id = $1 AND ingest_version = $2`, [
        documentId,
        version,
        title,
      ]);
    }
    let chunks: PreparedChunk[];
    try {
      chunks = splitSections(sections).map((chunk) => ({ ...chunk, content: clean(chunk.content) }));
    } catch (error) {
      throw new StageError('split', (error as Error).message);
    }
    if (chunks.length === 0) throw new StageError('split', 'the document has no text to index');
    if (document.embedding_provider_id) {
      await this.embed(document.embedding_provider_id, title, chunks, documentId, version);
    }
    return { title, chunks };
  }

  private async parse(document: ClaimedDocument): Promise<{ title: string; sections: DocumentSection[] }> {
    try {
      const filename = document.filename ?? `${document.title}.md`;
      const parsed = await parseDocument({
        filename,
        mimeType: document.mime_type,
        buffer: document.content,
      });
      // A title given at upload wins; a file's own title (Markdown heading, PDF metadata) beats its name.
      const title =
        document.filename && document.title === defaultTitle(document.filename)
          ? parsed.title.slice(0, 500)
          : document.title;
      return { title, sections: parsed.sections };
    } catch (error) {
      const reason =
        error instanceof DocumentParseError ? error.message : `unexpected error: ${(error as Error).message}`;
      throw new StageError('parse', reason);
    }
  }

  private async embed(
    providerId: string,
    title: string,
    chunks: PreparedChunk[],
    documentId: string,
    version: number,
  ): Promise<void> {
    try {
      const { model } = await this.models.embedding(providerId);
      await this.vectorIndexes.ensure(model.dimensions);
      for (let start = 0; start < chunks.length; start += EMBED_GROUP) {
        if (start > 0) await this.assertCurrent(documentId, version);
        const group = chunks.slice(start, start + EMBED_GROUP);
        const vectors = await model.embed(group.map((chunk) => embeddingText(title, chunk)));
        group.forEach((chunk, index) => (chunk.embedding = vectors[index]));
      }
    } catch (error) {
      if (error instanceof StaleJob) throw error;
      const reason = error instanceof LlmError || error instanceof Error ? error.message : String(error);
      throw new StageError('embed', reason);
    }
  }

  private async assertCurrent(documentId: string, version: number): Promise<void> {
    const rows: unknown[] = await this.dataSource.query(
      `SELECT 1 FROM documents WHERE id = $1 AND ingest_version = $2`,
      [documentId, version],
    );
    if (rows.length === 0) throw new StaleJob();
  }

  /** Replaces the document's chunks and marks it ready, atomically, if this job is still current. */
  private async index(
    documentId: string,
    version: number,
    storeId: string,
    title: string,
    chunks: PreparedChunk[],
  ): Promise<number> {
    try {
      return await this.dataSource.transaction(async (manager) => {
        const current: unknown[] = await manager.query(
          `SELECT 1 FROM documents WHERE id = $1 AND ingest_version = $2 FOR UPDATE`,
          [documentId, version],
        );
        if (current.length === 0) throw new StaleJob();
        await deleteDocumentChunks(manager, storeId, documentId);
        for (let start = 0; start < chunks.length; start += INSERT_ROWS) {
          await insertChunks(manager, documentId, storeId, title, chunks.slice(start, start + INSERT_ROWS));
        }
        await addDocumentTerms(manager, storeId, documentId);
        await manager.query(
          `UPDATE documents SET status = 'ready', chunk_count = $2, error = NULL, failed_stage = NULL,
                  indexed_at = now(), updated_at = now()
            WHERE id = $1`,
          [documentId, chunks.length],
        );
        return chunks.length;
      });
    } catch (error) {
      if (error instanceof StaleJob) throw error;
      throw new StageError('index', (error as Error).message);
    }
  }
}

async function insertChunks(
  manager: EntityManager,
  documentId: string,
  storeId: string,
  title: string,
  chunks: PreparedChunk[],
): Promise<void> {
  const values: unknown[] = [];
  const rows = chunks.map((chunk) => {
    const base = values.length;
    values.push(
      documentId,
      storeId,
      chunk.ordinal,
      chunk.headingPath.map(clean),
      chunk.content,
      chunk.tokenCount,
      toSearchDocument([title, ...chunk.headingPath].join('\n')),
      `${toSearchDocument(chunk.content)}\n${cjkUnigramText(chunk.content)}`,
      chunk.embedding ? `[${chunk.embedding.join(',')}]` : null,
      chunk.embedding ? chunk.embedding.length : null,
      hasCjk(chunk.content),
    );
    const p = (offset: number) => `$${base + offset}`;
    return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}::text[], ${p(5)}, ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}::vector, ${p(10)}, ${p(11)})`;
  });
  await manager.query(
    `INSERT INTO chunks (document_id, store_id, ordinal, heading_path, content, token_count, search_title,
                         search_text, embedding, embedding_dims, cjk)
     VALUES ${rows.join(', ')}`,
    values,
  );
}

/** What is embedded for a chunk: where it comes from, then its text. */
export function embeddingText(title: string, chunk: Pick<TextChunk, 'headingPath' | 'content'>): string {
  return `${formatSourceLabel({ documentTitle: title, headingPath: chunk.headingPath })}\n\n${chunk.content}`;
}

/** Postgres text cannot hold NUL characters. */
const clean = (text: string): string => text.replaceAll('\u0000', '');
