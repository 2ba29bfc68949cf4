import { BeforeApplicationShutdown, Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import type { Logger } from 'pino';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { isDatabaseUnavailable } from '../common/errors.js';
import { preparedQuery } from '../common/prepared-query.js';
import { settlesWithin } from '../common/retry.js';
import { InjectLogger } from '../core/core.module.js';
import { LlmError } from '../llm/llm-error.js';
import { loadTokenizer } from '../llm/token-counter.js';
import { Metrics } from '../metrics/metrics.service.js';
import type { BotPolicyConfig } from '../provider/provider-types.js';
import { ProviderService } from '../provider/provider.service.js';
import { WorkLoops } from '../queue/work-loops.js';
import { GroundedAnswerService } from '../store/answer/grounded-answer.service.js';
import type { ChatTurn } from '../store/store.types.js';
import { StoreService } from '../store/store.service.js';
import { fallbackText, noticeText } from './bot-policy.js';
import { ChannelRegistry } from './channel-registry.js';
import { ConversationService } from './conversation.service.js';
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
 * Takes the longest-waiting question or queued answer whose conversation has nothing earlier unfinished
 * (answers of one conversation run one at a time, in order, so history stays ordered), and returns the answer
 * row to work on:
 * - a question (accept queues the question itself): its answer row is made here, with the id accept handed
 *   out for it, and the question stops waiting — in one statement, so a snapshot sees one or the other;
 * - an answer queued again (its worker stopped, or handed it back): it is taken up again.
 * SKIP LOCKED: concurrent claims take different rows, and a claim that reaches a row another claim took
 * meanwhile goes on to the next. Something passed over because its conversation is busy becomes claimable when
 * the earlier answer ends, and the worker that ended it claims again at once. Longest-waiting by updated_at
 * (when it was accepted, or queued again), which messages_claimable_idx keeps in order: the claim reads the
 * first rows of that index, not every waiting row, however long the backlog.
 */
const CLAIM_ANSWER_SQL = `
  WITH next AS (
    SELECT m.id, m.role FROM messages m
    WHERE m.status IN ('waiting', 'queued') AND NOT EXISTS (
      SELECT 1 FROM messages earlier
      WHERE earlier.bot_provider_id = m.bot_provider_id AND earlier.conversation_key = m.conversation_key
        AND earlier.status IN ('waiting', 'queued', 'generating')
        AND (earlier.created_at, earlier.id) < (m.created_at, m.id))
    ORDER BY m.updated_at LIMIT 1
    FOR UPDATE OF m SKIP LOCKED
  ),
  question AS (
    UPDATE messages u SET status = 'received', updated_at = now()
    FROM next WHERE u.id = next.id AND next.role = 'user'
    RETURNING u.*
  ),
  made AS (
    INSERT INTO messages (id, chat_id, bot_provider_id, platform, role, conversation_key, reply_to_id, sender_id,
      content, status, delivery_status, reply_target, attempts, started_at, created_at, updated_at)
    SELECT q.answer_id, q.chat_id, q.bot_provider_id, q.platform, 'assistant',
      q.conversation_key, q.id, 'bot', '', 'generating', 'pending', q.reply_target, 1, now(), q.created_at, now()
    FROM question q
    RETURNING id
  ),
  again AS (
    UPDATE messages a SET status = 'generating', attempts = attempts + 1, started_at = coalesce(started_at, now()),
      updated_at = now()
    FROM next WHERE a.id = next.id AND next.role = 'assistant'
    RETURNING a.id
  )
  SELECT id FROM made UNION ALL SELECT id FROM again`;

/**
 * Takes a finished answer whose delivery nobody has started: one whose delivery's worker stopped (the sweeper
 * sets it back to 'pending'), or one made before answers were claimed from questions (accept stored notices
 * done). A worker that finishes an answer takes its delivery in the same statement (finish), so nobody else does.
 */
const CLAIM_DELIVERY_SQL = `
  UPDATE messages SET delivery_status = 'sending', updated_at = now()
  WHERE id = (
    SELECT id FROM messages WHERE status IN ('done', 'failed') AND delivery_status = 'pending'
    ORDER BY updated_at LIMIT 1
    FOR UPDATE SKIP LOCKED)
  RETURNING id`;

type AnswerWork = { kind: 'generate'; answer: Message } | { kind: 'deliver'; answerId: string };

/**
 * Generates answers, one answer in flight per conversation (history stays ordered): claimed from `messages`
 * (accept queues the question itself, and the claim makes its answer row), partial text written to the row,
 * the final text handed to the channel, and every answer ends — done, or failed with the store's fallback
 * message. A sweeper takes over answers and deliveries whose worker died.
 */
@Injectable()
export class AnswerWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly inFlight = new Map<string, AbortController>();
  private loops?: WorkLoops<AnswerWork>;
  private sweeper?: NodeJS.Timeout;
  private shuttingDown = false;

  constructor(
    private readonly dataSource: DataSource,
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
    // Before any answer is claimed: the first answers after a start were ~0.2–0.5 s slower end to end.
    loadTokenizer();
    this.loops = new WorkLoops<AnswerWork>({
      name: 'answers',
      claim: () => this.claim(),
      handle: (work) => this.handle(work),
      logger: this.logger,
    });
    this.loops.start(this.config.WORKER_CONCURRENCY);
    this.conversations.onAnswersQueued((count) => this.loops?.wake(count));
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
    const idle = this.loops?.stop() ?? Promise.resolve();
    for (const controller of this.inFlight.values()) controller.abort(new ShutdownSignal());
    await settlesWithin(idle, 10_000);
  }

  /** Generates and delivers, or only delivers, a claimed answer. It never throws: every failure ends in the row. */
  private async handle(work: AnswerWork): Promise<void> {
    const answerId = work.kind === 'generate' ? work.answer.id : work.answerId;
    try {
      if (work.kind === 'deliver' || (await this.generate(work.answer))) await this.deliver(answerId);
    } catch (error) {
      this.logger.error({ err: error, answerId }, 'answer failed');
    }
  }

  /** The next delivery to make, else the next answer to generate, else undefined. */
  private async claim(): Promise<AnswerWork | undefined> {
    const delivery = await this.claimOne(CLAIM_DELIVERY_SQL);
    if (delivery) return { kind: 'deliver', answerId: delivery };
    const answerId = await this.claimOne(CLAIM_ANSWER_SQL);
    if (!answerId) return undefined;
    return {
      kind: 'generate',
      answer: await this.dataSource.getRepository(Message).findOneByOrFail({ id: answerId }),
    };
  }

  /** Prepared: planning the answer claim took 0.4 ms each time (4 ms on a fresh connection), as long as running it. */
  private async claimOne(sql: string): Promise<string | undefined> {
    const runner = this.dataSource.createQueryRunner();
    try {
      const [row] = await preparedQuery<{ id: string }>(runner, sql, []);
      return row?.id;
    } finally {
      await runner.release();
    }
  }

  /**
   * Streams the answer into its row. Returns true when it finished the answer, and so took its delivery; false
   * when the answer went back to the queue (shutdown, or the database dropped it mid-answer) or another worker
   * (the sweeper) had ended it meanwhile.
   */
  private async generate(answer: Message): Promise<boolean> {
    const question = await this.dataSource.getRepository(Message).findOneByOrFail({ id: answer.replyToId! });
    if (question.notice) {
      // Accept found this question gets a notice (rate limit, budget, gate), and has already shown it where the
      // platform takes a reply at once (WeCom); the row records it and the other channels get it delivered.
      const content = noticeText(question.notice, question.content);
      return await this.finish(answer.id, { status: 'done', content, generated: false });
    }
    const controller = new AbortController();
    const timeout = setTimeout(
      () => controller.abort(new AnswerTimeout()),
      this.config.ANSWER_TIMEOUT_SECONDS * 1000,
    );
    this.inFlight.set(answer.id, controller);
    const writer = new PartialWriter(this.dataSource, answer.id);
    // Touch the row while waiting on the model, so sweepers on any instance can tell this answer is alive.
    const heartbeat = setInterval(() => void writer.touch().catch(() => undefined), this.heartbeatMs());
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
          return await this.finish(answer.id, {
            status: 'done',
            content,
            sources: result.sources,
            promptTokens: event.usage.promptTokens,
            completionTokens: event.usage.completionTokens,
            firstTokenMs: event.firstTokenMs ?? null,
          });
        }
      }
      throw new Error('the model stream ended without a result');
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
      return await this.finish(answer.id, {
        status: 'failed',
        content: fallbackText(storeFallback, question.content),
        error: reason,
      });
    } finally {
      clearTimeout(timeout);
      clearInterval(heartbeat);
      this.inFlight.delete(answer.id);
    }
  }

  /**
   * The conversation's earlier turns, oldest first, at most `limit` messages (failed answers left out).
   * A question and its answer share a timestamp (the claim gives the answer its question's), so the answer
   * sorts after its question.
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
      /** False for a notice: no model ran, so the answer has no latency to report (usage percentiles). */
      generated?: boolean;
    },
  ): Promise<boolean> {
    // One statement: the answer's tokens count towards its bot's day only if this call finished it, and the
    // call that finished it takes its delivery ('sending'), so no claim for deliveries picks it up meanwhile.
    const rows = (await this.dataSource.query(
      `WITH finished AS (
         UPDATE messages SET status = $2, content = $3, error = $4, sources = $5, prompt_tokens = $6,
           completion_tokens = $7, first_token_ms = $8, finished_at = now(), updated_at = now(),
           latency_ms = CASE WHEN $9 THEN (extract(epoch FROM now() - coalesce(started_at, now())) * 1000)::int END,
           delivery_status = CASE WHEN delivery_status = 'pending' THEN 'sending' ELSE delivery_status END
         WHERE id = $1 AND status IN ('generating', 'queued')
         RETURNING bot_provider_id, prompt_tokens + completion_tokens AS tokens
       ),
       counted AS (
         INSERT INTO bot_daily_tokens (bot_provider_id, day, slot, tokens)
         SELECT bot_provider_id, current_date, floor(random() * ${BOT_DAILY_TOKEN_SLOTS})::int, tokens
         FROM finished WHERE tokens > 0
         ON CONFLICT (bot_provider_id, day, slot) DO UPDATE SET tokens = bot_daily_tokens.tokens + excluded.tokens
       )
       SELECT count(*)::int AS finished FROM finished`,
      [
        answerId,
        result.status,
        result.content,
        result.error ?? null,
        result.sources ? JSON.stringify(result.sources) : null,
        result.promptTokens ?? 0,
        result.completionTokens ?? 0,
        result.firstTokenMs ?? null,
        result.generated ?? true,
      ],
    )) as { finished: number }[];
    return rows[0].finished > 0;
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
    this.loops?.wake(1);
  }

  /**
   * Hands the final answer, whose delivery this worker took ('sending'), to its channel and records the
   * outcome. The row is touched meanwhile, so that the sweeper tells a slow delivery from a dead one.
   */
  private async deliver(answerId: string): Promise<void> {
    const heartbeat = setInterval(
      () =>
        void this.dataSource
          .query(`UPDATE messages SET updated_at = now() WHERE id = $1 AND delivery_status = 'sending'`, [
            answerId,
          ])
          .catch(() => undefined),
      this.heartbeatMs(),
    );
    try {
      await this.deliverNow(answerId);
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async deliverNow(answerId: string): Promise<void> {
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

  /** How often a row being worked on is touched: well within ANSWER_STALE_SECONDS. */
  private heartbeatMs(): number {
    return Math.min(10_000, (this.config.ANSWER_STALE_SECONDS * 1000) / 3);
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
   * or failed with the fallback after MAX_ATTEMPTS; deliveries whose worker stopped are made claimable again.
   */
  async sweep(): Promise<void> {
    if (this.shuttingDown) return;
    const stale = `${this.config.ANSWER_STALE_SECONDS} seconds`;
    const [requeued] = (await this.dataSource.query(
      `UPDATE messages SET status = 'queued', updated_at = now()
       WHERE role = 'assistant' AND status = 'generating' AND updated_at < now() - $1::interval AND attempts < $2
       RETURNING id`,
      [stale, MAX_ATTEMPTS],
    )) as [{ id: string }[], number];
    for (const { id } of requeued)
      this.logger.warn({ answerId: id }, 'taking over an answer whose worker stopped');
    const abandoned = (await this.dataSource.query(
      `SELECT a.id, u.content AS question, a.bot_provider_id FROM messages a JOIN messages u ON u.id = a.reply_to_id
       WHERE a.role = 'assistant' AND a.status = 'generating' AND a.updated_at < now() - $1::interval AND a.attempts >= $2`,
      [stale, MAX_ATTEMPTS],
    )) as { id: string; question: string; bot_provider_id: string }[];
    for (const row of abandoned) {
      const fallback = await this.fallbackFor(row.bot_provider_id);
      const finished = await this.finish(row.id, {
        status: 'failed',
        content: fallbackText(fallback, row.question),
        error: `abandoned after ${MAX_ATTEMPTS} attempts`,
      });
      if (finished) await this.deliver(row.id);
    }
    const [undelivered] = (await this.dataSource.query(
      `UPDATE messages SET delivery_status = 'pending', updated_at = now()
       WHERE status IN ('done', 'failed') AND delivery_status = 'sending' AND updated_at < now() - $1::interval
       RETURNING id`,
      [stale],
    )) as [{ id: string }[], number];
    for (const { id } of undelivered)
      this.logger.warn({ answerId: id }, 'delivering an answer whose worker stopped');
    this.loops?.wake(requeued.length + undelivered.length);
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
