import { Injectable, OnModuleInit } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { QueueService } from '../../queue/queue.service.js';

export const INGEST_QUEUE = 'ingest-document';

export interface IngestJob {
  documentId: string;
  /** The document's ingest_version when the job was sent; an older job than the document is stale. */
  version: number;
}

/** Retries cover a worker that died mid-job (pg-boss re-delivers it when it expires). */
const JOB_OPTIONS = { retryLimit: 3, retryDelaySeconds: 10, expireInSeconds: 30 * 60 };

/**
 * The job id: the document id for its first ingestion (so a repeated send is a no-op), then a UUID derived
 * from the document id and version, so each re-ingestion is a new job yet still deduplicated.
 */
export function ingestJobId(documentId: string, version: number): string {
  if (version <= 1) return documentId;
  const hex = createHash('sha256').update(`${documentId}:${version}`).digest('hex');
  const variant = ((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** Sends ingestion jobs, always inside the transaction that wrote the document row. */
@Injectable()
export class IngestionQueue implements OnModuleInit {
  constructor(
    private readonly queue: QueueService,
    private readonly dataSource: DataSource,
  ) {}

  /** The queue must exist before jobs are sent inside a transaction (see QueueService.send). */
  async onModuleInit(): Promise<void> {
    await this.queue.ensureQueue(INGEST_QUEUE);
  }

  async enqueue(manager: EntityManager, documentId: string, version: number): Promise<void> {
    await this.queue.send<IngestJob>(
      INGEST_QUEUE,
      { documentId, version },
      { ...JOB_OPTIONS, id: ingestJobId(documentId, version), manager },
    );
  }

  /** Wakes this process's workers; call after the transaction commits. */
  notify(): void {
    this.queue.notify(INGEST_QUEUE);
  }

  /**
   * Queues every document of a store (or only some) for ingestion again: bumps their version (so jobs
   * already queued or running become stale) and sends one job each, in one transaction.
   */
  async reingest(storeId: string, documentIds?: string[]): Promise<number> {
    const count = await this.dataSource.transaction(async (manager) => {
      const rows = updatedRows<{ id: string; ingest_version: number }>(
        await manager.query(
          `UPDATE documents
            SET ingest_version = ingest_version + 1, status = 'pending', error = NULL, failed_stage = NULL,
                updated_at = now()
          WHERE store_id = $1 AND ($2::uuid[] IS NULL OR id = ANY($2::uuid[]))
      RETURNING id, ingest_version`,
          [storeId, documentIds ?? null],
        ),
      );
      for (const row of rows) await this.enqueue(manager, row.id, row.ingest_version);
      return rows.length;
    });
    if (count > 0) this.notify();
    return count;
  }
}

/** The RETURNING rows of an UPDATE or DELETE: TypeORM's `query()` gives `[rows, affectedCount]` for those. */
export function updatedRows<T>(result: unknown): T[] {
  if (
    Array.isArray(result) &&
    result.length === 2 &&
    Array.isArray(result[0]) &&
    typeof result[1] === 'number'
  ) {
    return result[0] as T[];
  }
  return result as T[];
}
