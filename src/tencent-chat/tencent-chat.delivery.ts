import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { NotFoundError } from '../common/errors.js';
import { splitNumbered, truncateUtf8, utf8Length } from '../common/text.js';
import type { AnswerSnapshot, ChannelDelivery, DeliveryOutcome } from '../conversation/conversation.types.js';
import { InjectLogger } from '../core/core.module.js';
import type { TencentChatBotConfig } from '../provider/provider-types.js';
import { ProviderService, type ResolvedProvider } from '../provider/provider.service.js';
import {
  parseTencentSendTarget,
  TENCENT_DEFAULT_TEXT_MAX_BYTES,
  TencentRestClient,
  TencentSendTextError,
  type TencentSendTarget,
} from './tencent-rest.client.js';

/** Group placeholders are edited at most this often (tencent-chat.md: ~1 update/s). */
export const GROUP_MODIFY_INTERVAL_MS = 1_000;
/** Streaming state of answers whose `deliver` never came here (another instance delivered) is dropped. */
const STREAM_STATE_TTL_MS = 30 * 60_000;

type Bot = ResolvedProvider<TencentChatBotConfig>;

/**
 * Per-answer streaming state, in this process's memory. `deliver` on another instance (or after a restart)
 * finds none and falls back to one final message.
 */
interface StreamState {
  /** Decided on the first `progress`: streaming is on for this answer (stream reply mode, valid target). */
  active?: boolean;
  client?: TencentRestClient;
  target?: TencentSendTarget;
  /** C2C: the text already sent as chunks; group: the text the placeholder shows. */
  sent: string;
  /** C2C: the robot stream's MsgKey once the first chunk went out. */
  msgKey?: string;
  /** Group: the placeholder's MsgSeq. */
  msgSeq?: number;
  lastModifyAt: number;
  /** A streaming call failed: no more progress; `deliver` sends the whole answer normally. */
  broken: boolean;
  /** `deliver` has begun: progress that is still queued does nothing. */
  closed: boolean;
  /** The newest snapshot not yet streamed, and whether a run is queued to stream it. */
  latest?: AnswerSnapshot;
  scheduled: boolean;
  /** Streaming calls of one answer run one after the other. */
  queue: Promise<void>;
  touchedAt: number;
}

/**
 * Sends answers to Tencent Cloud Chat through the REST API, as the robot the user wrote to. replyMode
 * `final`: one message (split in order when over ~12 KB). `stream`: C2C through the robot stream API, the
 * new text of each progress as a chunk and `Finish` on delivery; groups through a placeholder edited with
 * `modify_group_msg` at most once a second. Returns the MsgKeys (C2C) / MsgSeqs (group) it sent; the
 * engine records them.
 */
@Injectable()
export class TencentChatDelivery implements ChannelDelivery {
  readonly platform = 'tencent-chat' as const;
  private readonly clients = new Map<string, { version: string; client: TencentRestClient }>();
  private readonly streams = new Map<string, StreamState>();

  constructor(
    private readonly providers: ProviderService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  progress(answer: AnswerSnapshot): Promise<void> {
    if (answer.finished) return Promise.resolve();
    this.prune();
    let state = this.streams.get(answer.answerId);
    if (!state) {
      state = {
        sent: '',
        lastModifyAt: 0,
        broken: false,
        closed: false,
        scheduled: false,
        queue: Promise.resolve(),
        touchedAt: 0,
      };
      this.streams.set(answer.answerId, state);
    }
    state.touchedAt = Date.now();
    if (state.closed || state.broken || state.active === false) return Promise.resolve();
    state.latest = answer;
    if (state.scheduled) return state.queue;
    state.scheduled = true;
    const current = state;
    current.queue = current.queue.then(async () => {
      current.scheduled = false;
      const snapshot = current.latest;
      current.latest = undefined;
      if (!snapshot || current.closed || current.broken) return;
      try {
        await this.stream(current, snapshot);
      } catch (error) {
        current.broken = true;
        this.logger.warn(
          { answerId: snapshot.answerId, err: describe(error) },
          'Tencent streaming update failed; the answer will be sent whole',
        );
      }
    });
    return current.queue;
  }

  async deliver(answer: AnswerSnapshot): Promise<DeliveryOutcome> {
    const state = this.streams.get(answer.answerId);
    if (state) {
      state.closed = true;
      await state.queue;
      this.streams.delete(answer.answerId);
    }

    let bot: Bot;
    try {
      bot = await this.providers.resolve<TencentChatBotConfig>(answer.botProviderId);
    } catch (error) {
      if (error instanceof NotFoundError)
        return { status: 'failed', error: 'The bot provider no longer exists' };
      throw error;
    }
    if (!bot.enabled) return { status: 'skipped', error: 'The bot provider is disabled' };
    const target = parseTencentSendTarget(answer.replyTarget);
    if (!target) return { status: 'failed', error: 'The answer has no Tencent reply target' };
    if (answer.content.trim().length === 0) return { status: 'skipped', error: 'The answer is empty' };

    let client: TencentRestClient;
    try {
      client = this.clientFor(bot);
    } catch (error) {
      return { status: 'failed', error: `Invalid Tencent configuration: ${describe(error)}` };
    }

    if (state?.active && !state.broken && (state.msgKey !== undefined || state.msgSeq !== undefined)) {
      const streamed = await this.finishStream(state, client, target, answer.content).catch(
        (error: unknown) => {
          this.logger.warn(
            { answerId: answer.answerId, err: describe(error) },
            'Tencent stream could not be finished; sending the answer whole',
          );
          return undefined;
        },
      );
      if (streamed) return streamed;
    }
    return this.sendWhole(client, target, answer.content);
  }

  private async sendWhole(
    client: TencentRestClient,
    target: TencentSendTarget,
    text: string,
  ): Promise<DeliveryOutcome> {
    try {
      return { status: 'delivered', platformMessageIds: await client.sendText(target, text) };
    } catch (error) {
      if (error instanceof TencentSendTextError) {
        return { status: 'failed', platformMessageIds: error.sentIds, error: error.message };
      }
      return { status: 'failed', error: describe(error) };
    }
  }

  /** One streaming step: C2C sends the new text as a chunk; groups post or edit the placeholder. */
  private async stream(state: StreamState, answer: AnswerSnapshot): Promise<void> {
    if (state.active === undefined) {
      const setup = await this.streamSetup(answer);
      state.active = setup !== undefined;
      state.client = setup?.client;
      state.target = setup?.target;
    }
    const { client, target } = state;
    if (!state.active || !client || !target) return;
    const content = answer.content;
    // Over one message's size, the rest waits for `deliver` (which splits it).
    if (content.trim().length === 0 || utf8Length(content) > TENCENT_DEFAULT_TEXT_MAX_BYTES) return;

    if (target.kind === 'c2c') {
      if (!content.startsWith(state.sent) || content.length === state.sent.length) return;
      const chunk = content.slice(state.sent.length);
      const result = await client.sendStreamChunk(target.robot, target.toAccount, chunk, state.msgKey);
      if (!result.msgKey) throw new Error('send_stream_msg returned no MsgKey');
      state.msgKey = result.msgKey;
      state.sent = content;
      return;
    }

    if (content === state.sent) return;
    if (state.msgSeq === undefined) {
      const result = await client.sendGroup(target.robot, target.groupId, content);
      if (result.msgSeq === undefined) throw new Error('send_group_msg returned no MsgSeq');
      state.msgSeq = result.msgSeq;
    } else {
      if (Date.now() - state.lastModifyAt < GROUP_MODIFY_INTERVAL_MS) return;
      await client.modifyGroup(target.groupId, state.msgSeq, content);
    }
    state.sent = content;
    state.lastModifyAt = Date.now();
  }

  private async streamSetup(
    answer: AnswerSnapshot,
  ): Promise<{ client: TencentRestClient; target: TencentSendTarget } | undefined> {
    const bot = await this.providers.resolve<TencentChatBotConfig>(answer.botProviderId);
    if (!bot.enabled || bot.config.replyMode !== 'stream') return undefined;
    const target = parseTencentSendTarget(answer.replyTarget);
    return target ? { client: this.clientFor(bot), target } : undefined;
  }

  /** Ends a stream with the final text; what does not fit in one message follows as numbered messages. */
  private async finishStream(
    state: StreamState,
    client: TencentRestClient,
    target: TencentSendTarget,
    content: string,
  ): Promise<DeliveryOutcome> {
    if (target.kind === 'c2c' && state.msgKey !== undefined) {
      // The final text normally extends what was streamed; a failure's apology replaces it, so it is appended.
      const rest = content.startsWith(state.sent) ? content.slice(state.sent.length) : `\n\n${content}`;
      const room = Math.max(0, TENCENT_DEFAULT_TEXT_MAX_BYTES - utf8Length(state.sent));
      const head = utf8Length(rest) <= room ? rest : cutAtSpace(truncateUtf8(rest, room));
      const overflow = rest.slice(head.length).trim();
      await client.sendStreamChunk(target.robot, target.toAccount, head, state.msgKey, true);
      const ids = [state.msgKey];
      if (overflow.length > 0) {
        try {
          ids.push(...(await client.sendText(target, overflow)));
        } catch (error) {
          const sent = error instanceof TencentSendTextError ? error.sentIds : [];
          return { status: 'failed', platformMessageIds: [...ids, ...sent], error: describe(error) };
        }
      }
      return { status: 'delivered', platformMessageIds: ids };
    }
    if (target.kind === 'group' && state.msgSeq !== undefined) {
      const [first, ...others] = splitNumbered(content, TENCENT_DEFAULT_TEXT_MAX_BYTES);
      if (first !== state.sent) await client.modifyGroup(target.groupId, state.msgSeq, first);
      const ids = [String(state.msgSeq)];
      for (const part of others) {
        try {
          const { msgSeq } = await client.sendGroup(target.robot, target.groupId, part);
          ids.push(msgSeq !== undefined ? String(msgSeq) : '');
        } catch (error) {
          return { status: 'failed', platformMessageIds: ids, error: describe(error) };
        }
      }
      return { status: 'delivered', platformMessageIds: ids };
    }
    throw new Error('no open stream');
  }

  /** One REST client per bot provider, rebuilt when its Tencent settings change (keeps the UserSig cache). */
  private clientFor(bot: Bot): TencentRestClient {
    const { sdkAppId, secretKey, adminIdentifier, region, apiBaseUrl } = bot.config;
    const version = createHash('sha256')
      .update(JSON.stringify([sdkAppId, secretKey, adminIdentifier, region ?? null, apiBaseUrl ?? null]))
      .digest('hex');
    const cached = this.clients.get(bot.id);
    if (cached?.version === version) return cached.client;
    const client = new TencentRestClient({
      sdkAppId: Number(sdkAppId),
      secretKey,
      adminIdentifier,
      region,
      apiBaseUrl,
      logger: { warn: (message) => this.logger.warn({ botProviderId: bot.id }, message) },
    });
    this.clients.set(bot.id, { version, client });
    return client;
  }

  private prune(): void {
    const cutoff = Date.now() - STREAM_STATE_TTL_MS;
    for (const [answerId, state] of this.streams) {
      if (state.touchedAt < cutoff && !state.scheduled) this.streams.delete(answerId);
    }
  }
}

/** Cuts a truncated text back to its last space or line break (when that keeps most of it). */
function cutAtSpace(text: string): string {
  const cut = Math.max(text.lastIndexOf('\n'), text.lastIndexOf(' '));
  return cut >= text.length / 2 ? text.slice(0, cut) : text;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
