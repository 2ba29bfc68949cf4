import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { ProviderCategory } from './provider-types.js';

/** A model, embedding or bot provider. Secret config fields are stored encrypted (`enc:v1:…`). */
@Entity('providers')
export class Provider {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'varchar', length: 64, unique: true })
  name!: string;

  @Column({ type: 'varchar', length: 200 })
  displayName!: string;

  @Column({ type: 'varchar', length: 16 })
  category!: ProviderCategory;

  @Column({ type: 'varchar', length: 32 })
  type!: string;

  @Column({ type: 'jsonb' })
  config!: Record<string, unknown>;

  /** Unique per type when set: how an inbound webhook finds its bot. */
  @Column({ type: 'varchar', length: 200, nullable: true })
  routingKey!: string | null;

  @Column({ type: 'boolean', default: true })
  enabled!: boolean;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
