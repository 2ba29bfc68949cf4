import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { Platform } from './conversation.types.js';

export interface Participant {
  id: string;
  name?: string;
}

/** A chat on a platform, as one bot sees it: a one-to-one chat or a group. */
@Entity('chats')
export class Chat {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  botProviderId!: string;

  @Column({ type: 'varchar', length: 32 })
  platform!: Platform;

  /** The platform's id of the chat: the user id for one-to-one chats, the group id for groups. */
  @Column({ type: 'varchar', length: 200 })
  chatKey!: string;

  @Column({ type: 'boolean' })
  isGroup!: boolean;

  /** Up to 50 distinct senders seen in the chat. */
  @Column({ type: 'jsonb', default: () => `'[]'` })
  participants!: Participant[];

  @Column({ type: 'integer', default: 0 })
  messageCount!: number;

  @Column({ type: 'timestamptz', nullable: true })
  lastMessageAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
