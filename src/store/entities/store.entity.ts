import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';

/** A knowledge store: documents plus the model settings a bot answers with. */
@Entity('stores')
export class Store {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 64, unique: true })
  name!: string;

  @Column({ type: 'varchar', length: 200 })
  displayName!: string;

  @Column({ type: 'uuid' })
  modelProviderId!: string;

  @Column({ type: 'uuid', nullable: true })
  embeddingProviderId!: string | null;

  @Column({ type: 'text', default: '' })
  systemPrompt!: string;

  @Column({ type: 'text', nullable: true })
  welcomeMessage!: string | null;

  @Column({ type: 'text', nullable: true })
  fallbackMessage!: string | null;

  @Column({ type: 'int', default: 5 })
  topK!: number;

  @Column({ type: 'int', default: 10 })
  historyMessages!: number;

  @Column({ type: 'int', nullable: true })
  maxAnswerTokens!: number | null;

  @Column({ type: 'boolean', default: false })
  isDefault!: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
