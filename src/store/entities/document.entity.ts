import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

export const DOCUMENT_STATUSES = ['pending', 'processing', 'ready', 'failed'] as const;
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];

/** The ingestion stage that failed: read the file, cut it into chunks, embed them, or write them. */
export const INGEST_STAGES = ['parse', 'split', 'embed', 'index'] as const;
export type IngestStage = (typeof INGEST_STAGES)[number];

/** An uploaded document. Its original bytes are kept (`content`) so ingestion can run (again) as a job. */
@Entity('documents')
export class StoreDocument {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  storeId!: string;

  @Column({ type: 'varchar', length: 500 })
  title!: string;

  @Column({ type: 'varchar', length: 500, nullable: true })
  filename!: string | null;

  @Column({ type: 'varchar', length: 200 })
  mimeType!: string;

  @Column({ type: 'int' })
  sizeBytes!: number;

  /** sha256 of the content, hex; unique per store (the same content is stored once). */
  @Column({ type: 'varchar', length: 64 })
  contentHash!: string;

  @Column({ type: 'bytea', select: false })
  content!: Buffer;

  @Column({ type: 'varchar', length: 16, default: 'pending' })
  status!: DocumentStatus;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'varchar', length: 16, nullable: true })
  failedStage!: IngestStage | null;

  @Column({ type: 'int', default: 0 })
  chunkCount!: number;

  /** Bumped by every (re)ingestion request; a job for an older version is stale and does nothing. */
  @Column({ type: 'int', default: 1 })
  ingestVersion!: number;

  @Column({ type: 'timestamptz', nullable: true })
  indexedAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
