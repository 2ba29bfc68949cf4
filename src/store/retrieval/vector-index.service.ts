import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { InjectLogger } from '../../core/core.module.js';
import type { Logger } from 'pino';

/** pgvector's HNSW indexes vectors of at most 2000 dimensions. */
export const MAX_INDEXED_DIMENSIONS = 2000;

/** The expression an N-dimension HNSW index covers; queries must use the same one to use the index. */
export const vectorExpression = (dimensions: number): string => `(embedding::vector(${checked(dimensions)}))`;

export const vectorIndexName = (dimensions: number): string => `chunks_embedding_${checked(dimensions)}_hnsw`;

function checked(dimensions: number): number {
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_INDEXED_DIMENSIONS) {
    throw new RangeError(`embedding dimensions must be an integer from 1 to ${MAX_INDEXED_DIMENSIONS}`);
  }
  return dimensions;
}

/**
 * Chunks of every store share one `embedding vector` column whatever their size, so each size gets its
 * own partial expression index: `USING hnsw ((embedding::vector(N)) vector_cosine_ops) WHERE embedding_dims = N`.
 * Created when a store gets an N-dimension embedding provider (and again, idempotently, before ingestion).
 */
@Injectable()
export class VectorIndexService {
  private readonly known = new Set<number>();

  constructor(
    private readonly dataSource: DataSource,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async ensure(dimensions: number): Promise<void> {
    if (this.known.has(dimensions)) return;
    const name = vectorIndexName(dimensions);
    try {
      await this.dataSource.query(
        `CREATE INDEX IF NOT EXISTS ${name} ON chunks ` +
          `USING hnsw (${vectorExpression(dimensions)} vector_cosine_ops) WHERE embedding_dims = ${dimensions}`,
      );
    } catch (error) {
      // Two instances creating it at once: one wins, the other sees a duplicate; both end with the index.
      const code = (error as { driverError?: { code?: string } }).driverError?.code;
      if (code !== '23505' && code !== '42P07') throw error;
    }
    this.known.add(dimensions);
    this.logger.debug({ dimensions, index: name }, 'vector index ready');
  }
}
