import { Column, CreateDateColumn, Entity, PrimaryGeneratedColumn, UpdateDateColumn } from 'typeorm';
import type { Notice } from './bot-policy.js';
import type { AnswerStatus, Platform } from './conversation.types.js';

export type MessageRole = 'user' | 'assistant';
/** 'sending': a worker took the delivery (AnswerWorker); the sweeper hands it back if that worker stops. */
export type DeliveryStatus = 'none' | 'pending' | 'sending' | 'delivered' | 'skipped' | 'failed';

export interface MessageSource {
  documentId: string;
  title: string;
  headingPath: string[];
  chunkId: string;
  score: number;
}

export interface MessageFeedback {
  rating: 'accurate' | 'inaccurate' | 'cancelled';
  reasons?: string[];
  comment?: string;
  at: string;
}

/**
 * A user's message or the bot's answer. The assistant row IS the answer's state while it streams: its
 * content so far and status, which any instance can read (WeCom refreshes) and a restart does not lose.
 */
@Entity('messages')
export class Message {
  @PrimaryGeneratedColumn('uuid')
  id!: string;

  @Column({ type: 'uuid' })
  chatId!: string;

  @Column({ type: 'uuid' })
  botProviderId!: string;

  @Column({ type: 'varchar', length: 32 })
  platform!: Platform;

  @Column({ type: 'varchar', length: 16 })
  role!: MessageRole;

  /** Whose history this message belongs to: the chat, or chat + sender in per-user group context. */
  @Column({ type: 'varchar', length: 420 })
  conversationKey!: string;

  /** The platform's message id (user messages; unique per bot). */
  @Column({ type: 'varchar', length: 200, nullable: true })
  platformMessageId!: string | null;

  /** For an answer: the user message it answers. */
  @Column({ type: 'uuid', nullable: true })
  replyToId!: string | null;

  /**
   * For a user message: the id its answer has, or will have once a worker claims the question (accept hands it
   * out, e.g. as the WeCom stream id, before the answer row exists).
   */
  @Column({ type: 'uuid', nullable: true })
  answerId!: string | null;

  /** For a user message: the notice it gets instead of a generated answer (rate limit, budget, gate), if any. */
  @Column({ type: 'varchar', length: 32, nullable: true })
  notice!: Notice | null;

  @Column({ type: 'varchar', length: 200 })
  senderId!: string;

  @Column({ type: 'varchar', length: 200, nullable: true })
  senderName!: string | null;

  /** The question, or the answer so far. */
  @Column({ type: 'text', default: '' })
  content!: string;

  @Column({ type: 'text', nullable: true })
  quotedText!: string | null;

  @Column({ type: 'varchar', length: 16 })
  status!: AnswerStatus;

  @Column({ type: 'text', nullable: true })
  error!: string | null;

  @Column({ type: 'jsonb', nullable: true })
  sources!: MessageSource[] | null;

  @Column({ type: 'integer', default: 0 })
  promptTokens!: number;

  @Column({ type: 'integer', default: 0 })
  completionTokens!: number;

  @Column({ type: 'integer', nullable: true })
  firstTokenMs!: number | null;

  @Column({ type: 'integer', nullable: true })
  latencyMs!: number | null;

  /** How many times a worker started generating this answer. */
  @Column({ type: 'integer', default: 0 })
  attempts!: number;

  @Column({ type: 'varchar', length: 16, default: 'none' })
  deliveryStatus!: DeliveryStatus;

  @Column({ type: 'text', nullable: true })
  deliveryError!: string | null;

  /** Ids the platform gave the sent message(s). */
  @Column({ type: 'jsonb', nullable: true })
  deliveryIds!: string[] | null;

  @Column({ type: 'timestamptz', nullable: true })
  deliveredAt!: Date | null;

  /** Channel-specific reply routing (e.g. WeCom response_url, a group id). */
  @Column({ type: 'jsonb', default: () => `'{}'` })
  replyTarget!: Record<string, unknown>;

  @Column({ type: 'jsonb', nullable: true })
  feedback!: MessageFeedback | null;

  /** The decoded platform payload of a user message. */
  @Column({ type: 'jsonb', nullable: true })
  raw!: unknown;

  @Column({ type: 'timestamptz', nullable: true })
  startedAt!: Date | null;

  @Column({ type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;

  @CreateDateColumn({ type: 'timestamptz' })
  createdAt!: Date;

  @UpdateDateColumn({ type: 'timestamptz' })
  updatedAt!: Date;
}
