import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { DataSource, FindOptionsWhere, Repository } from 'typeorm';
import { isUniqueViolation, NotFoundError, ValidationFailedError } from '../common/errors.js';
import { Page, toPage } from '../common/pagination.js';
import { DocumentDto, ListDocumentsQueryDto, UploadedDocumentDto } from './dto/document.dto.js';
import { StoreDocument } from './entities/document.entity.js';
import { detectFormat, SUPPORTED_EXTENSIONS } from './ingestion/document-parser.js';
import { IngestionQueue } from './ingestion/ingestion-queue.js';
import { deleteDocumentChunks } from './retrieval/term-stats.js';
import { StoreService } from './store.service.js';

/** A document to add: an uploaded file, or text sent as JSON (treated as Markdown). */
export type NewDocument =
  | { kind: 'file'; filename: string; mimeType: string; buffer: Buffer; title?: string }
  | { kind: 'text'; title: string; content: string };

export interface AddedDocument {
  document: UploadedDocumentDto;
  /** True when the store already had this exact content (nothing new was stored). */
  duplicate: boolean;
}

/** The MIME type recorded for JSON uploads, which are parsed as Markdown. */
export const TEXT_DOCUMENT_MIME_TYPE = 'text/markdown';

/** The title a file gets when none is given: its name without the extension (the parser may find a better one). */
export function defaultTitle(filename: string): string {
  const name = filename.split(/[\\/]/).pop() ?? filename;
  return (name.replace(/\.[^.]+$/, '').trim() || name).slice(0, 500);
}

@Injectable()
export class DocumentService {
  private readonly documents: Repository<StoreDocument>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly stores: StoreService,
    private readonly ingestion: IngestionQueue,
  ) {
    this.documents = dataSource.getRepository(StoreDocument);
  }

  /** Stores the document and queues its ingestion in one transaction; identical content is stored once. */
  async add(storeId: string, input: NewDocument): Promise<AddedDocument> {
    await this.stores.find(storeId);
    const row = toRow(storeId, input);
    let result: AddedDocument;
    try {
      result = await this.dataSource.transaction(async (manager) => {
        const existing = await manager.findOne(StoreDocument, {
          where: { storeId, contentHash: row.contentHash },
          lock: { mode: 'pessimistic_write' },
        });
        if (existing) {
          if (existing.status === 'failed') {
            // Uploading a file that failed again retries it (e.g. after an embedding outage).
            existing.ingestVersion += 1;
            existing.status = 'pending';
            existing.error = null;
            existing.failedStage = null;
            await manager.save(existing);
            await this.ingestion.enqueue(manager, existing.id, existing.ingestVersion);
          }
          return { document: { ...toDocumentDto(existing), duplicate: true }, duplicate: true };
        }
        const saved = await manager.save(manager.create(StoreDocument, row));
        await this.ingestion.enqueue(manager, saved.id, saved.ingestVersion);
        return { document: { ...toDocumentDto(saved), duplicate: false }, duplicate: false };
      });
    } catch (error) {
      // The same content uploaded twice at the same moment: the second one is the duplicate.
      if (!isUniqueViolation(error, 'documents_store_content_unique')) throw error;
      const existing = await this.documents.findOneOrFail({
        where: { storeId, contentHash: row.contentHash },
      });
      return { document: { ...toDocumentDto(existing), duplicate: true }, duplicate: true };
    }
    this.ingestion.notify();
    return result;
  }

  async list(storeId: string, query: ListDocumentsQueryDto): Promise<Page<DocumentDto>> {
    await this.stores.find(storeId);
    const where: FindOptionsWhere<StoreDocument> = { storeId };
    if (query.status) where.status = query.status;
    const [rows, total] = await this.documents.findAndCount({
      where,
      order: { createdAt: 'ASC', id: 'ASC' },
      skip: query.offset,
      take: query.pageSize,
    });
    return toPage(rows.map(toDocumentDto), total, query);
  }

  async get(storeId: string, documentId: string): Promise<DocumentDto> {
    const row = await this.documents.findOne({ where: { id: documentId, storeId } });
    if (!row) throw new NotFoundError('Document', documentId);
    return toDocumentDto(row);
  }

  /** Deletes the document and its chunks; a queued or running ingestion of it then does nothing. */
  async remove(storeId: string, documentId: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      const rows: unknown[] = await manager.query(
        `SELECT 1 FROM documents WHERE id = $1 AND store_id = $2 FOR UPDATE`,
        [documentId, storeId],
      );
      if (rows.length === 0) throw new NotFoundError('Document', documentId);
      await deleteDocumentChunks(manager, storeId, documentId);
      await manager.delete(StoreDocument, { id: documentId });
    });
  }

  /** Queues every document of the store for ingestion again (e.g. after its embedding model changed). */
  async reindex(storeId: string): Promise<number> {
    await this.stores.find(storeId);
    return this.ingestion.reingest(storeId);
  }
}

function toRow(storeId: string, input: NewDocument): Partial<StoreDocument> {
  if (input.kind === 'text') {
    const buffer = Buffer.from(input.content, 'utf8');
    return {
      storeId,
      title: input.title,
      filename: null,
      mimeType: TEXT_DOCUMENT_MIME_TYPE,
      sizeBytes: buffer.length,
      contentHash: sha256(buffer),
      content: buffer,
    };
  }
  if (!detectFormat(input.filename, input.mimeType)) {
    throw new ValidationFailedError([
      {
        field: 'file',
        messages: [
          `Unsupported file type "${input.filename}": upload one of ${SUPPORTED_EXTENSIONS.join(', ')}`,
        ],
      },
    ]);
  }
  if (input.buffer.length === 0) {
    throw new ValidationFailedError([{ field: 'file', messages: ['file is empty'] }]);
  }
  return {
    storeId,
    title: input.title ?? defaultTitle(input.filename),
    filename: input.filename.slice(0, 500),
    mimeType: (input.mimeType || 'application/octet-stream').slice(0, 200),
    sizeBytes: input.buffer.length,
    contentHash: sha256(input.buffer),
    content: input.buffer,
  };
}

const sha256 = (buffer: Buffer): string => createHash('sha256').update(buffer).digest('hex');

export function toDocumentDto(row: StoreDocument): DocumentDto {
  return {
    id: row.id,
    storeId: row.storeId,
    title: row.title,
    filename: row.filename,
    mimeType: row.mimeType,
    sizeBytes: row.sizeBytes,
    contentHash: row.contentHash,
    status: row.status,
    error: row.error,
    failedStage: row.failedStage,
    chunkCount: row.chunkCount,
    indexedAt: row.indexedAt,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}
