import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { isDatabaseUnavailable } from '../common/errors.js';
import { settlesWithin } from '../common/retry.js';
import { InjectLogger } from '../core/core.module.js';
import { LlmError } from '../llm/llm-error.js';
import { loadTokenizer } from '../llm/token-counter.js';
import { Metrics } from '../metrics/metrics.service.js';
import type { BotPolicyConfig } from '../provider/provider-types.js';
import { ProviderService } from '../provider/provider.service.js';
import { QueueService } from '../queue/queue.service.js';
import { GroundedAnswerService } from '../store/answer/grounded-answer.service.js';
import type { ChatTurn } from '../store/store.types.js';
import { StoreService } from '../store/store.service.js';
import { fallbackText } from './bot-policy.js';
import { ChannelRegistry } from './channel-registry.js';
import { ANSWER_QUEUE, AnswerJob, ConversationService } from './conversation.service.js';
import type { DeliveryOutcome } from './conversation.types.js';
import { Message, MessageSource } from './message.entity.js';

/** Partial answers reach the database at most this often (WeCom refreshes read them from there). */
const FLUSH_INTERVAL_MS = 300;
/**
 * Rows per bot and day in bot_daily_tokens: each finished answer adds to a random one, so that the answers
 * of a busy bot rarely wait on each other's row lock; the budget check sums them.
 */
const BOT_DAILY_TOKEN_SLOTS = 8;
/** Attempts to generate one answer (a crashed worker counts as one) before it ends with the fallback. */
const MAX_ATTEMPTS = 2;
/**
 * True when an earlier answer of answer `m`'s conversation is still queued or generating: answers of one
 * conversation run one at a time, in order, so `m` waits (startNext starts it).
 */
const EARLIER_ANSWER_UNFINISHED = `EXISTS (
  SELECT 1 FROM messages earlier
  WHERE earlier.bot_provider_id = m.bot_provider_id AND earlier.conversation_key = m.conversation_key
    AND earlier.role = 'assistant' AND earlier.status IN ('queued', 'generating')
    AND (earlier.created_at, earlier.id) < (m.created_at, m.id))`;

type ClaimOutcome =
  { kind: 'claimed'; answer: Message } | { kind: 'blocked' } | { kind: 'deliver' } | { kind: 'nothing' };

/**
 * Generates answers: one job per answer, one answer in flight per conversation (history stays ordered),
 * partial text written to the answer row, the final text handed to the channel, and every answer ends —
 * done, or failed with the store's fallback message. A sweeper takes over answers whose worker died.
 */
@Injectable()
export class AnswerWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly inFlight = new Map<string, AbortController>();
  private sweeper?: NodeJS.Timeout;
  private shuttingDown = false;

  constructor(
    private readonly dataSource: DataSource,
    private readonly queue: QueueService,
    private readonly providers: ProviderService,
    private readonly stores: StoreService,
    private readonly grounded: GroundedAnswerService,
    private readonly channels: ChannelRegistry,
    private readonly conversations: ConversationService,
    private readonly metrics: Metrics,
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.ROLE === 'api') return;
    // Before any job is taken: the first answers after a start were ~0.2–0.5 s slower end to end.
    loadTokenizer();
    await this.queue.work<AnswerJob>(ANSWER_QUEUE, { concurrency: this.config.WORKER_CONCURRENCY }, (job) =>
      this.handle(job.data.answerId),
    );
    const every = Math.max(1, Math.min(30, Math.ceil(this.config.ANSWER_STALE_SECONDS / 2))) * 1000;
    this.sweeper = setInterval(
      () => void this.sweep().catch((error) => this.logger.error({ err: error }, 'sweep failed')),
      every,
    );
    this.sweeper.unref();
    void this.sweep().catch((error) => this.logger.error({ err: error }, 'sweep failed'));
  }

  /** Hands in-flight answers back to the queue so another worker (or this one after a restart) finishes them. */
  async beforeApplicationShutdown(): Promise<void> {
    this.shuttingDown = true;
    if (this.sweeper) clearInterval(this.sweeper);
    const idle = this.queue.stopWorking(ANSWER_QUEUE);
    for (const controller of this.inFlight.values()) controller.abort(new ShutdownSignal());
    await settlesWithin(idle, 10_000);
  }

  /** The job handler. It never throws: every failure ends in the answer row. */
  async handle(answerId: string): Promise<void> {
    try {
      const claim = await this.claim(answerId);
      // 'blocked': an earlier answer of the conversation is unfinished; when it finishes it starts this one.
      if (claim.kind === 'deliver') {
        await this.deliver(answerId);
      } else if (claim.kind === 'claimed') {
        if (await this.generate(claim.answer)) {
          await this.deliver(answerId);
          await this.startNext(claim.answer);
        }
      }
    } catch (error) {
      this.logger.error({ err: error, answerId }, 'answer job failed');
    }
  }

  private async claim(answerId: string): Promise<ClaimOutcome> {
    const [rows] = (await this.dataSource.query(
      `UPDATE messages m SET status = 'generating', attempts = attempts + 1, started_at = coalesce(started_at, now()),
         updated_at = now()
       WHERE m.id = $1 AND m.status = 'queued' AND NOT ${EARLIER_ANSWER_UNFINISHED}
       RETURNING m.id`,
      [answerId],
    )) as [{ id: string }[], number];
    if (rows.length > 0) {
      return {
        kind: 'claimed',
        answer: await this.dataSource.getRepository(Message).findOneByOrFail({ id: answerId }),
      };
    }
    const current = await this.dataSource
      .getRepository(Message)
      .findOne({ where: { id: answerId }, select: { id: true, status: true, deliveryStatus: true } });
    if (!current) return { kind: 'nothing' };
    if (current.status === 'queued') return { kind: 'blocked' };
    if ((current.status === 'done' || current.status === 'failed') && current.deliveryStatus === 'pending') {
      return { kind: 'deliver' };
    }
    return { kind: 'nothing' };
  }

  /**
   * Streams the answer into its row. Returns false when the answer went back to the queue (shutdown, or the
   * database dropped it mid-answer).
   */
  private async generate(answer: Message): Promise<boolean> {
    const controller = new AbortController();
    const timeout = setTimeout(
      () => controller.abort(new AnswerTimeout()),
      this.config.ANSWER_TIMEOUT_SECONDS * 1000,
    );
    this.inFlight.set(answer.id, controller);
    const question = await this.dataSource.getRepository(Message).findOneByOrFail({ id: answer.replyToId! });
    const writer = new PartialWriter(this.dataSource, answer.id);
    // Touch the row while waiting on the model, so sweepers on any instance can tell this answer is alive.
    const heartbeat = setInterval(
      () => void writer.touch().catch(() => undefined),
      Math.min(10_000, (this.config.ANSWER_STALE_SECONDS * 1000) / 3),
    );
    let storeFallback: string | null | undefined;
    try {
      const bot = await this.providers.resolve<BotPolicyConfig>(answer.botProviderId);
      const settings = await this.stores.settingsFor(bot.config.storeId);
      storeFallback = settings.fallbackMessage;
      const history = await this.history(question, settings.historyMessages);
      const result = await this.grounded.answer({
        storeId: settings.id,
        question: question.content,
        history,
        quotedText: question.quotedText ?? undefined,
        signal: controller.signal,
      });
      const delivery = this.channels.get(answer.platform);
      let content = '';
      for await (const event of result.events) {
        if (event.type === 'token') {
          content += event.text;
          const wrote = await writer.offer(content);
          if (wrote && delivery?.progress) {
            void delivery.progress(await this.snapshotOrThrow(answer.id)).catch(() => undefined);
          }
        } else {
          await writer.settle();
          this.recordAnswer(
            event.usage.promptTokens,
            event.usage.completionTokens,
            event.firstTokenMs,
            event.latencyMs,
          );
          await this.finish(answer.id, {
            status: 'done',
            content,
            sources: result.sources,
            promptTokens: event.usage.promptTokens,
            completionTokens: event.usage.completionTokens,
            firstTokenMs: event.firstTokenMs ?? null,
          });
        }
      }
      return true;
    } catch (error) {
      await writer.settle();
      if (controller.signal.reason instanceof ShutdownSignal) {
        await this.requeue(answer.id, false);
        this.logger.info({ answerId: answer.id }, 'answer handed back to the queue at shutdown');
        return false;
      }
      const reason = describeFailure(error, controller.signal.reason);
      if (isDatabaseUnavailable(error) && answer.attempts < MAX_ATTEMPTS) {
        // A restart or failover, not a bad answer: start again (this attempt counts). Should the database still
        // be away, the row stays 'generating' and the sweeper takes it over once it is stale.
        this.logger.warn(
          { answerId: answer.id, reason },
          'the database dropped the answer; starting it again',
        );
        await this.requeue(answer.id, true);
        this.metrics.answerRetries.inc();
        return false;
      }
      this.metrics.answers.inc({ outcome: 'failed' });
      this.metrics.modelErrors.inc({ kind: error instanceof LlmError ? error.kind : 'other' });
      this.logger.warn({ answerId: answer.id, reason }, 'answer failed; sending the fallback message');
      await this.finish(answer.id, {
        status: 'failed',
        content: fallbackText(storeFallback, question.content),
        error: reason,
      });
      return true;
    } finally {
      clearTimeout(timeout);
      clearInterval(heartbeat);
      this.inFlight.delete(answer.id);
    }
  }

  /** Starts the conversation's next waiting answer, if any (answers run one at a time, in order). */
  private async startNext(answer: Message): Promise<void> {
    const next = (await this.dataSource.query(
      `SELECT id FROM messages WHERE bot_provider_id = $1 AND conversation_key = $2 AND role = 'assistant'
         AND status = 'queued' ORDER BY created_at, id LIMIT 1`,
      [answer.botProviderId, answer.conversationKey],
    )) as { id: string }[];
    if (next.length === 0) return;
    await this.queue.send<AnswerJob>(ANSWER_QUEUE, { answerId: next[0].id }, { id: randomUUID() });
    this.queue.notify(ANSWER_QUEUE);
  }

  /**
   * The conversation's earlier turns, oldest first, at most `limit` messages (failed answers left out).
   * A question and its answer share a timestamp (one transaction), so the answer sorts after its question.
   */
  private async history(question: Message, limit: number): Promise<ChatTurn[]> {
    if (limit <= 0) return [];
    const rows = (await this.dataSource.query(
      `SELECT role, content FROM messages
       WHERE bot_provider_id = $1 AND conversation_key = $2 AND created_at < $3
         AND ((role = 'user' AND status = 'received') OR (role = 'assistant' AND status = 'done'))
         AND content <> ''
       ORDER BY created_at DESC, (role = 'assistant') DESC LIMIT $4`,
      [question.botProviderId, question.conversationKey, question.createdAt, limit],
    )) as ChatTurn[];
    return rows.reverse();
  }

  private async finish(
    answerId: string,
    result: {
      status: 'done' | 'failed';
      content: string;
      error?: string;
      sources?: MessageSource[];
      promptTokens?: number;
      completionTokens?: number;
      firstTokenMs?: number | null;
    },
  ): Promise<void> {
    // One statement: the answer's tokens count towards its bot's day only if this call finished it.
    await this.dataSource.query(
      `WITH finished AS (
         UPDATE messages SET status = $2, content = $3, error = $4, sources = $5, prompt_tokens = $6,
           completion_tokens = $7, first_token_ms = $8, finished_at = now(), updated_at = now(),
           latency_ms = (extract(epoch FROM now() - coalesce(started_at, now())) * 1000)::int
         WHERE id = $1 AND status IN ('generating', 'queued')
         RETURNING bot_provider_id, prompt_tokens + completion_tokens AS tokens
       )
       INSERT INTO bot_daily_tokens (bot_provider_id, day, slot, tokens)
       SELECT bot_provider_id, current_date, floor(random() * ${BOT_DAILY_TOKEN_SLOTS})::int, tokens
       FROM finished WHERE tokens > 0
       ON CONFLICT (bot_provider_id, day, slot) DO UPDATE SET tokens = bot_daily_tokens.tokens + excluded.tokens`,
      [
        answerId,
        result.status,
        result.content,
        result.error ?? null,
        result.sources ? JSON.stringify(result.sources) : null,
        result.promptTokens ?? 0,
        result.completionTokens ?? 0,
        result.firstTokenMs ?? null,
      ],
    );
  }

  /**
   * Puts a generating answer back in the queue. At shutdown the attempt does not count (the answer did nothing
   * wrong); after a dropped database connection it does, so MAX_ATTEMPTS still bounds an answer that keeps
   * meeting one.
   */
  private async requeue(answerId: string, attemptCounts: boolean): Promise<void> {
    await this.dataSource.query(
      `UPDATE messages SET status = 'queued', updated_at = now(),
         attempts = CASE WHEN $2 THEN attempts ELSE greatest(attempts - 1, 0) END
       WHERE id = $1 AND status = 'generating'`,
      [answerId, attemptCounts],
    );
    await this.queue.send<AnswerJob>(ANSWER_QUEUE, { answerId }, { id: randomUUID() });
    this.queue.notify(ANSWER_QUEUE);
  }

  /** Hands the final answer to its channel and records the outcome. */
  private async deliver(answerId: string): Promise<void> {
    const snapshot = await this.snapshotOrThrow(answerId);
    const delivery = this.channels.get(snapshot.platform);
    let outcome: DeliveryOutcome;
    try {
      outcome = delivery
        ? await delivery.deliver(snapshot)
        : { status: 'failed', error: 'no delivery is registered for this platform' };
    } catch (error) {
      outcome = { status: 'failed', error: (error as Error).message };
    }
    await this.dataSource.query(
      `UPDATE messages SET delivery_status = $2, delivery_error = $3, delivery_ids = $4,
         delivered_at = coalesce($5, delivered_at), updated_at = now()
       WHERE id = $1`,
      [
        answerId,
        outcome.status,
        outcome.error ?? null,
        outcome.platformMessageIds ? JSON.stringify(outcome.platformMessageIds) : null,
        outcome.status === 'delivered' ? new Date() : null,
      ],
    );
    this.metrics.deliveries.inc({ channel: snapshot.platform, status: outcome.status });
    if (outcome.status === 'failed')
      this.logger.warn({ answerId, error: outcome.error }, 'answer delivery failed');
  }

  private recordAnswer(
    promptTokens: number,
    completionTokens: number,
    firstTokenMs: number | undefined,
    latencyMs: number,
  ) {
    this.metrics.answers.inc({ outcome: 'done' });
    this.metrics.tokens.inc({ kind: 'prompt' }, promptTokens);
    this.metrics.tokens.inc({ kind: 'completion' }, completionTokens);
    if (firstTokenMs !== undefined) this.metrics.firstTokenSeconds.observe(firstTokenMs / 1000);
    this.metrics.answerSeconds.observe(latencyMs / 1000);
  }

  private async snapshotOrThrow(answerId: string) {
    const snapshot = await this.conversations.snapshot(answerId);
    if (!snapshot) throw new Error(`answer ${answerId} disappeared`);
    return snapshot;
  }

  /**
   * Ends what nobody is working on: answers whose worker stopped writing (a crashed process) are queued again,
   * or failed with the fallback after MAX_ATTEMPTS; answers whose delivery never happened are delivered.
   */
  async sweep(): Promise<void> {
    if (this.shuttingDown) return;
    const stale = `${this.config.ANSWER_STALE_SECONDS} seconds`;
    const requeued = (await this.dataSource.query(
      `UPDATE messages SET status = 'queued', updated_at = now()
       WHERE role = 'assistant' AND status = 'generating' AND updated_at < now() - $1::interval AND attempts < $2
       RETURNING id`,
      [stale, MAX_ATTEMPTS],
    )) as [{ id: string }[], number];
    for (const { id } of requeued[0]) {
      this.logger.warn({ answerId: id }, 'taking over an answer whose worker stopped');
      await this.queue.send<AnswerJob>(ANSWER_QUEUE, { answerId: id }, { id: randomUUID() });
    }
    // Queued answers nobody will start: first of their conversation (later ones are started by startNext)
    // and without a job waiting in the queue (a lost job, or a conversation whose previous worker died).
    // Re-sending only those keeps a backlog after a burst from being doubled every sweep. A worker claims a
    // queued answer within milliseconds of taking its job, so a job active for longer than `stale` while
    // its answer is still queued has lost its worker.
    const noJob = `NOT ${QueueService.pendingJobExists('$2', 'answerId', 'm.id')}`;
    const noLiveJob = `NOT ${QueueService.pendingJobExists('$2', 'answerId', 'm.id', '$1::interval')}`;
    const waiting = (await this.dataSource.query(
      `UPDATE messages m SET updated_at = now()
       WHERE m.role = 'assistant' AND m.status = 'queued' AND m.updated_at < now() - $1::interval
         AND NOT ${EARLIER_ANSWER_UNFINISHED}
         AND ${noLiveJob}
       RETURNING m.id`,
      [stale, ANSWER_QUEUE],
    )) as [{ id: string }[], number];
    for (const { id } of waiting[0])
      await this.queue.send<AnswerJob>(ANSWER_QUEUE, { answerId: id }, { id: randomUUID() });
    const abandoned = (await this.dataSource.query(
      `SELECT a.id, u.content AS question, a.bot_provider_id FROM messages a JOIN messages u ON u.id = a.reply_to_id
       WHERE a.role = 'assistant' AND a.status = 'generating' AND a.updated_at < now() - $1::interval AND a.attempts >= $2`,
      [stale, MAX_ATTEMPTS],
    )) as { id: string; question: string; bot_provider_id: string }[];
    for (const row of abandoned) {
      const fallback = await this.fallbackFor(row.bot_provider_id);
      await this.finish(row.id, {
        status: 'failed',
        content: fallbackText(fallback, row.question),
        error: `abandoned after ${MAX_ATTEMPTS} attempts`,
      });
      await this.deliver(row.id);
    }
    const undelivered = (await this.dataSource.query(
      `SELECT m.id FROM messages m WHERE m.delivery_status = 'pending' AND m.status IN ('done', 'failed')
         AND m.updated_at < now() - $1::interval AND ${noJob}`,
      [stale, ANSWER_QUEUE],
    )) as { id: string }[];
    for (const { id } of undelivered)
      await this.queue.send<AnswerJob>(ANSWER_QUEUE, { answerId: id }, { id: randomUUID() });
  }

  private async fallbackFor(botProviderId: string): Promise<string | null | undefined> {
    try {
      const bot = await this.providers.resolve<BotPolicyConfig>(botProviderId);
      return (await this.stores.settingsFor(bot.config.storeId)).fallbackMessage;
    } catch {
      return undefined;
    }
  }
}

class ShutdownSignal extends Error {
  constructor() {
    super('the process is shutting down');
  }
}

class AnswerTimeout extends Error {
  constructor() {
    super('the answer took too long');
  }
}

function describeFailure(error: unknown, abortReason: unknown): string {
  if (abortReason instanceof AnswerTimeout) return abortReason.message;
  if (error instanceof LlmError) return `model ${error.kind}: ${error.message}`;
  return (error as Error)?.message ?? String(error);
}

/** Writes the growing answer to its row at most every FLUSH_INTERVAL_MS. */
class PartialWriter {
  private lastWrite = 0;
  private writing: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly dataSource: DataSource,
    private readonly answerId: string,
  ) {}

  /** Returns true when it wrote (so the caller may report progress). */
  async offer(content: string): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastWrite < FLUSH_INTERVAL_MS) return false;
    this.lastWrite = now;
    await this.enqueue(
      `UPDATE messages SET content = $2, updated_at = now() WHERE id = $1 AND status = 'generating'`,
      [this.answerId, content],
    );
    return true;
  }

  touch(): Promise<unknown> {
    return this.enqueue(`UPDATE messages SET updated_at = now() WHERE id = $1 AND status = 'generating'`, [
      this.answerId,
    ]);
  }

  async settle(): Promise<void> {
    await this.writing.catch(() => undefined);
  }

  /** Writes run one after another, so an older partial never overwrites a newer one. */
  private enqueue(sql: string, parameters: unknown[]): Promise<unknown> {
    this.writing = this.writing.catch(() => undefined).then(() => this.dataSource.query(sql, parameters));
    return this.writing;
  }
}
