import { Injectable, OnModuleInit } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { InjectLogger } from '../core/core.module.js';
import { NotFoundError, ValidationFailedError } from '../common/errors.js';
import { preparedQuery } from '../common/prepared-query.js';
import { QueueService } from '../queue/queue.service.js';
import type { BotPolicyConfig } from '../provider/provider-types.js';
import { ProviderService } from '../provider/provider.service.js';
import { StoreService } from '../store/store.service.js';
import { BotPolicy, conversationKeyOf, gate, Notice, noticeText, policyOf } from './bot-policy.js';
import type {
  AcceptResult,
  AnswerSnapshot,
  AnswerStatus,
  InboundMessage,
  Platform,
} from './conversation.types.js';
import { ACCEPT_SQL } from './accept.sql.js';
import { Message, MessageFeedback, MessageSource } from './message.entity.js';

export const ANSWER_QUEUE = 'answer';

export interface AnswerJob {
  answerId: string;
}

class DuplicateDelivery extends Error {}

/**
 * The engine's front door: channels hand it platform-neutral messages and read answers back.
 * It never sees a wire format.
 */
@Injectable()
export class ConversationService implements OnModuleInit {
  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: QueueService,
    private readonly providers: ProviderService,
    private readonly stores: StoreService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  /** The answer queue must exist before accept() enqueues inside its transaction (see QueueService.send). */
  async onModuleInit(): Promise<void> {
    await this.queue.ensureQueue(ANSWER_QUEUE);
  }

  /**
   * Persists the message and its answer placeholder and enqueues the answer job, all in one transaction.
   * A duplicate delivery (same bot + platform message id) returns the existing answer and enqueues nothing.
   * On the hot path of every webhook: the transaction is START, one statement (quota check, chat, message,
   * answer placeholder), the job, COMMIT — see ACCEPT_SQL.
   */
  async accept(unsafe: InboundMessage): Promise<AcceptResult> {
    const inbound = sanitizeInbound(unsafe);
    const bot = await this.providers.resolve<BotPolicyConfig>(inbound.botProviderId);
    const policy = policyOf(bot.config);
    const decision = gate(inbound, policy);
    if (decision.action === 'ignore') {
      this.logger.debug({ botProviderId: inbound.botProviderId, reason: decision.reason }, 'message ignored');
      return { answerId: '', duplicate: false, ignored: true };
    }
    const gateNotice: Notice | undefined = decision.action === 'notice' ? decision.notice : undefined;

    try {
      const { answerId, notice } = await this.dataSource.transaction((manager) =>
        this.persist(manager, inbound, policy, gateNotice),
      );
      this.queue.notify(ANSWER_QUEUE);
      const immediateReply = notice ? noticeText(notice, inbound.text) : undefined;
      return { answerId, duplicate: false, ignored: false, immediateReply };
    } catch (error) {
      if (!(error instanceof DuplicateDelivery)) throw error;
      return { answerId: await this.existingAnswerId(inbound), duplicate: true, ignored: false };
    }
  }

  /** The answer as it stands now (any instance can serve it: it lives in the database). */
  async snapshot(answerId: string): Promise<AnswerSnapshot | undefined> {
    if (!isUuid(answerId)) return undefined;
    const rows = (await this.dataSource.query(
      `SELECT a.id, a.bot_provider_id, a.platform, a.status, a.content, a.reply_target, a.sources,
              a.finished_at, c.chat_key, c.is_group, coalesce(u.created_at, a.created_at) AS received_at
       FROM messages a JOIN chats c ON c.id = a.chat_id LEFT JOIN messages u ON u.id = a.reply_to_id
       WHERE a.id = $1 AND a.role = 'assistant'`,
      [answerId],
    )) as SnapshotRow[];
    return rows.length ? toSnapshot(rows[0]) : undefined;
  }

  /** Records a user's rating of an answer (e.g. WeCom's feedback_event). */
  async recordFeedback(
    botProviderId: string,
    answerId: string,
    feedback: Omit<MessageFeedback, 'at'>,
  ): Promise<boolean> {
    const result = await this.dataSource
      .getRepository(Message)
      .update(
        { id: answerId, botProviderId, role: 'assistant' },
        { feedback: { ...feedback, at: new Date().toISOString() } },
      );
    return (result.affected ?? 0) > 0;
  }

  /** The welcome text of the bot's store (for platforms that greet users entering a chat). */
  async welcomeMessage(botProviderId: string): Promise<string | undefined> {
    const bot = await this.providers.resolve<BotPolicyConfig>(botProviderId);
    try {
      const settings = await this.stores.settingsFor(bot.config.storeId);
      return settings.welcomeMessage || undefined;
    } catch (error) {
      if (error instanceof NotFoundError) return undefined;
      throw error;
    }
  }

  /** ACCEPT_SQL, then the job in the same transaction; a duplicate rolls everything back. */
  private async persist(
    manager: EntityManager,
    inbound: InboundMessage,
    policy: BotPolicy,
    gateNotice: Notice | undefined,
  ): Promise<{ answerId: string; notice: Notice | undefined }> {
    const [row] = await preparedQuery<{ answer_id: string | null; notice: Notice | null }>(
      transactionRunner(manager),
      ACCEPT_SQL,
      [
        inbound.botProviderId,
        inbound.platform,
        inbound.chatKey,
        inbound.isGroup,
        inbound.senderId,
        inbound.senderName ?? null,
        conversationKeyOf(inbound, policy),
        inbound.platformMessageId,
        inbound.text,
        inbound.quotedText ?? null,
        JSON.stringify(inbound.replyTarget),
        inbound.raw === undefined ? null : JSON.stringify(inbound.raw),
        gateNotice ?? null,
        policy.rateLimitPerMinute,
        policy.dailyTokenBudget,
        JSON.stringify(noticeTexts(inbound.text, gateNotice)),
        new Date(),
      ],
    );
    // No answer row: the message was already there (the chat's counters roll back with the transaction).
    if (!row?.answer_id) throw new DuplicateDelivery();
    await this.queue.send<AnswerJob>(
      ANSWER_QUEUE,
      { answerId: row.answer_id },
      { id: row.answer_id, manager },
    );
    return { answerId: row.answer_id, notice: row.notice ?? undefined };
  }

  private async existingAnswerId(inbound: InboundMessage): Promise<string> {
    const rows = (await this.dataSource.query(
      `SELECT a.id FROM messages u JOIN messages a ON a.reply_to_id = u.id
       WHERE u.bot_provider_id = $1 AND u.platform_message_id = $2 AND u.role = 'user'`,
      [inbound.botProviderId, inbound.platformMessageId],
    )) as { id: string }[];
    if (rows.length === 0) throw new Error('duplicate message without an answer row');
    return rows[0].id;
  }
}

function transactionRunner(manager: EntityManager): QueryRunner {
  if (!manager.queryRunner) throw new Error('accept must run in a transaction');
  return manager.queryRunner;
}

/** The reply text of every notice `accept` may give, in the user's language. */
function noticeTexts(userText: string, gateNotice: Notice | undefined): Partial<Record<Notice, string>> {
  const kinds: Notice[] = ['rate-limited', 'budget-exhausted', ...(gateNotice ? [gateNotice] : [])];
  return Object.fromEntries(kinds.map((kind) => [kind, noticeText(kind, userText)]));
}

/** The longest id a platform may give us (the columns' size). */
const MAX_ID_LENGTH = 200;

/**
 * Makes any channel's message safe to store: Postgres refuses NUL characters and lone UTF-16 surrogates in
 * text, and ids longer than their columns. Text is cleaned; an oversized id is bad input (400).
 */
export function sanitizeInbound(inbound: InboundMessage): InboundMessage {
  const clean = (text: string) => text.replaceAll('\u0000', '').toWellFormed();
  for (const [field, value] of Object.entries({
    platformMessageId: inbound.platformMessageId,
    chatKey: inbound.chatKey,
    senderId: inbound.senderId,
  })) {
    if (value.length === 0 || value.length > MAX_ID_LENGTH) {
      throw new ValidationFailedError([
        { field, messages: [`${field} must be 1 to ${MAX_ID_LENGTH} characters`] },
      ]);
    }
  }
  return {
    ...inbound,
    platformMessageId: clean(inbound.platformMessageId),
    chatKey: clean(inbound.chatKey),
    senderId: clean(inbound.senderId),
    senderName:
      inbound.senderName === undefined ? undefined : clean(inbound.senderName).slice(0, MAX_ID_LENGTH),
    text: clean(inbound.text),
    quotedText: inbound.quotedText === undefined ? undefined : clean(inbound.quotedText),
    replyTarget: cleanJson(inbound.replyTarget, clean) as Record<string, unknown>,
    raw: cleanJson(inbound.raw, clean),
  };
}

function cleanJson(value: unknown, clean: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return clean(value);
  if (depth > 64 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => cleanJson(item, clean, depth + 1));
  return Object.fromEntries(
    Object.entries(value).map(([key, item]) => [clean(key), cleanJson(item, clean, depth + 1)]),
  );
}

interface SnapshotRow {
  id: string;
  bot_provider_id: string;
  platform: Platform;
  status: AnswerStatus;
  content: string;
  reply_target: Record<string, unknown>;
  sources: MessageSource[] | null;
  chat_key: string;
  is_group: boolean;
  received_at: Date;
  finished_at: Date | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUuid = (value: string) => UUID.test(value);

function toSnapshot(row: SnapshotRow): AnswerSnapshot {
  return {
    answerId: row.id,
    botProviderId: row.bot_provider_id,
    platform: row.platform,
    status: row.status,
    content: row.content,
    finished: row.status === 'done' || row.status === 'failed',
    replyTarget: row.reply_target,
    chatKey: row.chat_key,
    isGroup: row.is_group,
    receivedAt: new Date(row.received_at),
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
    sources: (row.sources ?? []).map((source) => ({ title: source.title, headingPath: source.headingPath })),
  };
}
