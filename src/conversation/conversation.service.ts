import { Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource, QueryRunner } from 'typeorm';
import { timeOrderedId } from '../common/ids.js';
import { InjectLogger } from '../core/core.module.js';
import { NotFoundError, ValidationFailedError } from '../common/errors.js';
import { preparedQuery } from '../common/prepared-query.js';
import { Metrics } from '../metrics/metrics.service.js';
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
import {
  ACCEPT_SQL,
  type AcceptChatRow,
  type AcceptResultRow,
  type AcceptRow,
  UNCOUNT_DUPLICATES_SQL,
} from './accept.sql.js';
import { Batcher } from '../common/batcher.js';
import { Message, MessageFeedback, MessageSource } from './message.entity.js';

/** Messages accepted at the same time share one statement, up to this many. */
const ACCEPT_BATCH_MAX = 64;
/**
 * Accept statements under way at once per process. One: what arrives meanwhile waits for it and goes in
 * the next, so under load batches grow and the process pays for few round trips (on 2 cores, one accept
 * statement at a time measured 70 % of the ceiling's throughput against 49–62 % with four; docs/benchmarks.md).
 */
const ACCEPT_CONCURRENT_BATCHES = 1;

export interface AcceptItem {
  inbound: InboundMessage;
  policy: BotPolicy;
  gateNotice: Notice | undefined;
}

/** What the batch did with one message: stored it (with its answer), or found it stored already. */
type Stored =
  | { kind: 'new'; answerId: string; notice: Notice | undefined }
  /** answerId is known when the original is in the same batch; otherwise it is looked up after commit. */
  | { kind: 'duplicate'; answerId?: string };

/**
 * The engine's front door: channels hand it platform-neutral messages and read answers back.
 * It never sees a wire format.
 */
@Injectable()
export class ConversationService {
  constructor(
    private readonly dataSource: DataSource,
    private readonly providers: ProviderService,
    private readonly stores: StoreService,
    private readonly metrics: Metrics,
    @InjectLogger() private readonly logger: Logger,
  ) {
    metrics.countQueuedAnswersWith(() => this.queuedAnswers());
  }

  private readonly batcher = new Batcher<AcceptItem, Stored>((items) => this.acceptBatch(items), {
    maxBatchSize: ACCEPT_BATCH_MAX,
    maxConcurrentRuns: ACCEPT_CONCURRENT_BATCHES,
  });

  /** Called with the number of questions a batch queued for their answers, after it committed. */
  private readonly answersQueuedListeners: ((count: number) => void)[] = [];

  /**
   * Persists the message, queued for its answer, in one statement: the question row is its place in the queue
   * (AnswerWorker claims it there and makes the answer row), and the answer's id is handed out now. A
   * duplicate delivery (same bot + platform message id) returns the same answer id and queues nothing.
   * On the hot path of every webhook: messages accepted at the same time share the statement (see
   * acceptBatch), so under load a commit serves many webhooks.
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

    const stored = await this.batcher.submit({ inbound, policy, gateNotice });
    if (stored.kind === 'duplicate') {
      return {
        answerId: stored.answerId ?? (await this.existingAnswerId(inbound)),
        duplicate: true,
        ignored: false,
      };
    }
    const immediateReply = stored.notice ? noticeText(stored.notice, inbound.text) : undefined;
    return { answerId: stored.answerId, duplicate: false, ignored: false, immediateReply };
  }

  /** The answer as it stands now (any instance can serve it: it lives in the database). */
  async snapshot(answerId: string): Promise<AnswerSnapshot | undefined> {
    if (!isUuid(answerId)) return undefined;
    // Prepared: every WeCom refresh (about one a second per open stream) runs it, and planning the join
    // cost Postgres more than running it.
    const rows = await this.withConnection((runner) =>
      preparedQuery<SnapshotRow>(runner, SNAPSHOT_SQL, [answerId]),
    );
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

  /** Lets this process's answer workers know at once when answers are queued (instead of at their next poll). */
  onAnswersQueued(listener: (count: number) => void): void {
    this.answersQueuedListeners.push(listener);
  }

  /** Questions and answers waiting for a worker, on every instance. */
  async queuedAnswers(): Promise<number> {
    const [row] = (await this.dataSource.query(
      `SELECT count(*)::int AS n FROM messages WHERE status IN ('waiting', 'queued')`,
    )) as { n: number }[];
    return row.n;
  }

  /**
   * Stores a batch of messages with one statement (ACCEPT_SQL: messages and chat counts).
   * A platform message id that occurs twice in the batch is stored once.
   */
  private async acceptBatch(items: AcceptItem[]): Promise<Stored[]> {
    const plan = planBatch(items);
    this.metrics.acceptBatchSize.observe(items.length);
    const rows = await this.withConnection(async (runner) => {
      const timed = this.metrics.acceptSeconds.startTimer();
      const accepted = await preparedQuery<AcceptResultRow>(runner, ACCEPT_SQL, [
        JSON.stringify(plan.rows),
        JSON.stringify(plan.chats),
      ]).finally(() => timed());
      if (accepted.length !== plan.rows.length || accepted.some((row, index) => row.ord !== index)) {
        throw new Error(
          `the accept statement returned ${accepted.length} rows for ${plan.rows.length} messages`,
        );
      }
      const duplicates = countByChat(accepted.filter((row) => !row.answer_id));
      if (duplicates.length > 0) await this.uncount(runner, duplicates);
      return accepted;
    });
    const queued = rows.filter((row) => row.answer_id).length;
    if (queued > 0) for (const listener of this.answersQueuedListeners) listener(queued);
    return plan.sources.map((ord) => {
      const row = rows[ord.index];
      if (!row?.answer_id) return { kind: 'duplicate' };
      if (ord.repeat) return { kind: 'duplicate', answerId: row.answer_id };
      return { kind: 'new', answerId: row.answer_id, notice: (row.notice as Notice | null) ?? undefined };
    });
  }

  /**
   * Takes back the chat counts of duplicates. Not atomic with the accept statement, and only a count: if it
   * fails (or the process dies first) a chat stays counted one too high, and the messages stay accepted.
   */
  private async uncount(runner: QueryRunner, duplicates: { id: string; n: number }[]): Promise<void> {
    try {
      await preparedQuery(runner, UNCOUNT_DUPLICATES_SQL, [JSON.stringify(duplicates)]);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not take back the chat counts of duplicate messages');
    }
  }

  private async withConnection<T>(run: (runner: QueryRunner) => Promise<T>): Promise<T> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await run(runner);
    } finally {
      await runner.release();
    }
  }

  private async existingAnswerId(inbound: InboundMessage): Promise<string> {
    // The answer's id is on the question from accept on; older questions have only the answer row's.
    const rows = (await this.dataSource.query(
      `SELECT coalesce(u.answer_id, a.id) AS id FROM messages u LEFT JOIN messages a ON a.reply_to_id = u.id
       WHERE u.bot_provider_id = $1 AND u.platform_message_id = $2 AND u.role = 'user'`,
      [inbound.botProviderId, inbound.platformMessageId],
    )) as { id: string | null }[];
    if (!rows[0]?.id) throw new Error('duplicate message without an answer id');
    return rows[0].id;
  }
}

interface BatchPlan {
  rows: AcceptRow[];
  chats: AcceptChatRow[];
  /** Per item: the row that stores it, and whether an earlier item of the batch is the same message. */
  sources: { index: number; repeat: boolean }[];
}

/**
 * ACCEPT_SQL's parameters for a batch: each platform message once, each chat once, with new rows' ids
 * time-ordered (UUIDv7; see ACCEPT_SQL).
 */
export function planBatch(items: AcceptItem[]): BatchPlan {
  const rows: AcceptRow[] = [];
  const chats = new Map<string, AcceptChatRow>();
  const rowOfMessage = new Map<string, number>();
  const fromSender = new Map<string, number>();
  const sources = items.map(({ inbound, policy, gateNotice }) => {
    const messageKey = `${inbound.botProviderId}\u0000${inbound.platformMessageId}`;
    const known = rowOfMessage.get(messageKey);
    if (known !== undefined) return { index: known, repeat: true };
    const senderKey = `${inbound.botProviderId}\u0000${inbound.senderId}`;
    const earlier = fromSender.get(senderKey) ?? 0;
    fromSender.set(senderKey, earlier + 1);
    rowOfMessage.set(messageKey, rows.length);
    rows.push({
      ord: rows.length,
      question_id: timeOrderedId(),
      answer_id: timeOrderedId(),
      bot_provider_id: inbound.botProviderId,
      platform: inbound.platform,
      chat_key: inbound.chatKey,
      sender_id: inbound.senderId,
      sender_name: inbound.senderName ?? null,
      conversation_key: conversationKeyOf(inbound, policy),
      platform_message_id: inbound.platformMessageId,
      content: inbound.text,
      quoted_text: inbound.quotedText ?? null,
      reply_target: inbound.replyTarget,
      raw: inbound.raw ?? null,
      gate_notice: gateNotice ?? null,
      rate_limit: policy.rateLimitPerMinute,
      earlier_from_sender: earlier,
      token_budget: policy.dailyTokenBudget,
    });
    addToChat(chats, inbound);
    return { index: rows.length - 1, repeat: false };
  });
  return { rows, chats: [...chats.values()], sources };
}

function addToChat(chats: Map<string, AcceptChatRow>, inbound: InboundMessage): void {
  const key = `${inbound.botProviderId}\u0000${inbound.chatKey}`;
  let chat = chats.get(key);
  if (!chat) {
    chat = {
      id: timeOrderedId(),
      bot_provider_id: inbound.botProviderId,
      platform: inbound.platform,
      chat_key: inbound.chatKey,
      is_group: inbound.isGroup,
      senders: [],
      message_count: 0,
    };
    chats.set(key, chat);
  }
  chat.message_count++;
  if (!chat.senders.some((sender) => sender.id === inbound.senderId)) {
    chat.senders.push({ id: inbound.senderId, name: inbound.senderName ?? null });
  }
}

/** The duplicates' chats with how many each, for UNCOUNT_DUPLICATES_SQL. */
function countByChat(duplicates: AcceptResultRow[]): { id: string; n: number }[] {
  const counts = new Map<string, number>();
  for (const row of duplicates) counts.set(row.chat_id, (counts.get(row.chat_id) ?? 0) + 1);
  return [...counts].map(([id, n]) => ({ id, n }));
}

/** The longest id a platform may give us (the columns' size). */
const MAX_ID_LENGTH = 200;

/**
 * Makes any channel's message safe to store: Postgres refuses NUL characters and lone UTF-16 surrogates in
 * text, and ids longer than their columns. Text is cleaned; an oversized id is bad input (400).
 */
export function sanitizeInbound(inbound: InboundMessage): InboundMessage {
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
    replyTarget: cleanJson(inbound.replyTarget) as Record<string, unknown>,
    raw: cleanJson(inbound.raw),
  };
}

/** NUL, or half of a surrogate pair (most text has neither: it is returned as it is, unscanned twice). */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this looks for
const SUSPECT = /[\u0000\ud800-\udfff]/;

function clean(text: string): string {
  return SUSPECT.test(text) ? text.replaceAll('\u0000', '').toWellFormed() : text;
}

/** `value` with every string cleaned; the same object when nothing needed cleaning (the usual case). */
function cleanJson(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return clean(value);
  if (depth > 64 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let index = 0; index < value.length; index++) {
      const cleaned = cleanJson(value[index], depth + 1);
      if (cleaned !== value[index]) (copy ??= [...(value as unknown[])])[index] = cleaned;
    }
    return copy ?? value;
  }
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    if (clean(key) !== key || cleanJson(record[key], depth + 1) !== record[key]) {
      return Object.fromEntries(
        Object.entries(record).map(([name, item]) => [clean(name), cleanJson(item, depth + 1)]),
      );
    }
  }
  return value;
}

/**
 * The answer row, or, while no worker has claimed the question yet, the waiting question (found by the answer
 * id it was given). One statement, so one snapshot of the database: the claim that makes the answer row also
 * ends the question's wait, and exactly one of the two shows.
 */
const SNAPSHOT_SQL = `
  SELECT a.id, a.bot_provider_id, a.platform, a.status, a.content, a.reply_target, a.sources,
         a.finished_at, c.chat_key, c.is_group, coalesce(u.created_at, a.created_at) AS received_at,
         NULL AS notice, NULL AS question
  FROM messages a JOIN chats c ON c.id = a.chat_id LEFT JOIN messages u ON u.id = a.reply_to_id
  WHERE a.id = $1 AND a.role = 'assistant'
  UNION ALL
  SELECT u.answer_id, u.bot_provider_id, u.platform, 'queued', '', u.reply_target, NULL,
         NULL, c.chat_key, c.is_group, u.created_at, u.notice, u.content
  FROM messages u JOIN chats c ON c.id = u.chat_id
  WHERE u.answer_id = $1 AND u.role = 'user' AND u.status = 'waiting'`;

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
  /** A waiting question's notice, and the question (for the notice's language). */
  notice: Notice | null;
  question: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isUuid = (value: string) => UUID.test(value);

function toSnapshot(row: SnapshotRow): AnswerSnapshot {
  // A question answered by a notice has that answer from the start, whether or not a worker has written it.
  const status = row.notice ? 'done' : row.status;
  return {
    answerId: row.id,
    botProviderId: row.bot_provider_id,
    platform: row.platform,
    status,
    content: row.notice ? noticeText(row.notice, row.question ?? '') : row.content,
    finished: status === 'done' || status === 'failed',
    replyTarget: row.reply_target,
    chatKey: row.chat_key,
    isGroup: row.is_group,
    receivedAt: new Date(row.received_at),
    finishedAt: row.finished_at ? new Date(row.finished_at) : null,
    sources: (row.sources ?? []).map((source) => ({ title: source.title, headingPath: source.headingPath })),
  };
}
