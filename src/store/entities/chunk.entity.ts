import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn } from 'typeorm';

/**
 * A retrievable piece of a document. Written and searched with SQL (see chunk.repository.ts): besides
 * these columns the table has `search_vector` (a generated tsvector over `search_text`, GIN-indexed) and
 * `embedding` (pgvector, HNSW-indexed per dimension), which are deliberately not mapped here.
 */
@Entity('chunks')
export class Chunk {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  documentId!: string;

  @Column({ type: 'uuid' })
  storeId!: string;

  @Column({ type: 'int' })
  ordinal!: number;

  @Column({ type: 'text', array: true, default: () => "'{}'" })
  headingPath!: string[];

  @Column({ type: 'text' })
  content!: string;

  @Column({ type: 'int' })
  tokenCount!: number;

  /** Document title and headings, prepared for full-text search (weight A). */
  @Column({ type: 'text', default: '' })
  searchTitle!: string;

  /** The content prepared for full-text search (CJK expanded to bigrams; weight B). */
  @Column({ type: 'text' })
  searchText!: string;

  /** The chunk contains Chinese or Japanese text (full-text search prefers chunks in the question's script). */
  @Column({ type: 'boolean', default: false })
  cjk!: boolean;

  @Column({ type: 'int', nullable: true })
  embeddingDims!: number | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;
}
