import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { AppConfig } from '../config/app-config.js';
import { InjectLogger } from '../core/core.module.js';
import { ConversationService } from '../conversation/conversation.service.js';
import type { AcceptResult, InboundMessage } from '../conversation/conversation.types.js';
import type { ResolvedProvider } from '../provider/provider.service.js';
import type { WeComBotConfig } from '../provider/provider-types.js';
import { WeComBadPayloadError } from './wecom-errors.js';
import { toWeComMarkdown } from './wecom-markdown.js';
import {
  parseWeComMessage,
  WeComEvent,
  WeComMessage,
  WeComPayloadError,
  WeComStreamRefresh,
} from './wecom-message.parser.js';
import { streamReply, textReply, WeComReply } from './wecom-reply.js';
import { Language, languageOf, streamView, thinkingTextFor } from './wecom-stream.js';

export type WeComBot = ResolvedProvider<WeComBotConfig>;

/** Answer ids are UUIDs; anything else cannot be one of our streams (and must not reach a uuid column). */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The varchar(200) columns the ids land in (messages.platform_message_id, sender_id, chats.chat_key). */
const MAX_ID_LENGTH = 200;

/**
 * Turns a decrypted WeCom callback into the reply WeCom expects. It hands messages to the conversation
 * engine and reads answers back from it; it never calls a model or a store itself.
 */
@Injectable()
export class WeComBotService {
  constructor(
    private readonly conversations: ConversationService,
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  /** The reply for a callback; null means an empty body (what WeCom expects for most events). */
  async handle(bot: WeComBot, plaintext: string): Promise<WeComReply | null> {
    const json = withoutNulCharacters(plaintext);
    const callback = parseWeComMessage(json);
    switch (callback.kind) {
      case 'message':
        return this.onMessage(bot, callback, json);
      case 'stream-refresh':
        return this.onRefresh(bot, callback);
      case 'event':
        return this.onEvent(bot, callback);
    }
  }

  /**
   * Persists the message (and enqueues its answer) through the engine, then answers at once with the
   * stream placeholder: the stream id is the answer id, so a retried msgid gets the same stream.
   */
  private async onMessage(bot: WeComBot, message: WeComMessage, json: string): Promise<WeComReply | null> {
    const result = await this.conversations.accept(this.toInbound(bot, message, json));
    if (result.ignored) return null;
    if (result.duplicate) return this.currentStream(bot, result.answerId);
    return this.firstReply(bot, result, message.text);
  }

  private firstReply(bot: WeComBot, result: AcceptResult, userText: string): WeComReply {
    if (result.immediateReply !== undefined) {
      return streamReply(result.answerId, toWeComMarkdown(result.immediateReply), true);
    }
    const thinking = thinkingTextFor(bot.config.thinkingText, languageOf(userText));
    return streamReply(result.answerId, thinking, false, { feedbackId: result.answerId });
  }

  /** Refreshes are never deduplicated: each one reads the answer as it stands (any instance can serve it). */
  private async onRefresh(bot: WeComBot, refresh: WeComStreamRefresh): Promise<WeComReply> {
    return this.currentStream(bot, refresh.streamId);
  }

  private async currentStream(bot: WeComBot, streamId: string): Promise<WeComReply> {
    const found = UUID.test(streamId) ? await this.conversations.snapshot(streamId) : undefined;
    // Another bot's answer is as unknown to this bot as a made-up id.
    const snapshot = found?.botProviderId === bot.id ? found : undefined;
    const view = streamView(snapshot, {
      thinkingText: thinkingTextFor(bot.config.thinkingText, languageIn(snapshot?.replyTarget)),
      windowSeconds: this.config.WECOM_STREAM_WINDOW_SECONDS,
      now: new Date(),
    });
    return streamReply(
      streamId,
      view.content,
      view.finish,
      snapshot ? { feedbackId: snapshot.answerId } : {},
    );
  }

  private async onEvent(bot: WeComBot, event: WeComEvent): Promise<WeComReply | null> {
    switch (event.eventType) {
      case 'enter_chat': {
        const welcome = await this.conversations.welcomeMessage(bot.id);
        return welcome ? textReply(welcome) : null;
      }
      case 'feedback_event': {
        const feedback = event.feedback;
        // The feedback id is the one we put on the stream: the answer id.
        if (feedback && UUID.test(feedback.id)) {
          const recorded = await this.conversations.recordFeedback(bot.id, feedback.id, {
            rating: feedback.type,
            ...(feedback.reasons ? { reasons: feedback.reasons } : {}),
            ...(feedback.comment ? { comment: feedback.comment } : {}),
          });
          if (!recorded)
            this.logger.info({ botProviderId: bot.id }, 'WeCom feedback for an unknown answer ignored');
        }
        return null;
      }
      default:
        return null;
    }
  }

  private toInbound(bot: WeComBot, message: WeComMessage, json: string): InboundMessage {
    const isGroup = message.chatType === 'group';
    const chatKey = isGroup ? (message.chatId ?? message.userId) : message.userId;
    for (const [field, value] of [
      ['msgid', message.msgId],
      ['from.userid', message.userId],
      ['chatid', chatKey],
    ] as const) {
      if (value.length > MAX_ID_LENGTH) {
        throw new WeComBadPayloadError(
          `The WeCom payload field "${field}" is longer than ${MAX_ID_LENGTH} characters`,
        );
      }
    }
    return {
      botProviderId: bot.id,
      platform: 'wecom-bot',
      platformMessageId: message.msgId,
      chatKey,
      isGroup,
      senderId: message.userId,
      // WeCom only delivers a group message to a bot when it was @mentioned.
      mentionedBot: isGroup,
      text: message.text,
      ...(message.unsupported ? { unsupportedContent: message.unsupported } : {}),
      ...(message.quotedText ? { quotedText: message.quotedText } : {}),
      replyTarget: {
        ...(message.responseUrl ? { responseUrl: message.responseUrl } : {}),
        chatType: message.chatType,
        ...(message.chatId ? { chatId: message.chatId } : {}),
        userId: message.userId,
        // Refreshes show the same default thinking text as the first reply, in the user's language.
        language: languageOf(message.text),
      },
      raw: JSON.parse(json) as unknown,
    };
  }
}

function languageIn(replyTarget: Record<string, unknown> | undefined): Language {
  return replyTarget?.language === 'zh' ? 'zh' : 'en';
}

/**
 * Postgres text and jsonb cannot hold U+0000: drop it from every string of the payload up front (it has
 * no meaning in a chat message), so such a message is stored instead of failing the insert.
 */
function withoutNulCharacters(plaintext: string): string {
  if (!plaintext.includes('\u0000') && !/\\u0000/i.test(plaintext)) return plaintext;
  try {
    return JSON.stringify(
      JSON.parse(plaintext, (_key, value: unknown) =>
        typeof value === 'string' ? value.replaceAll('\u0000', '') : value,
      ),
    );
  } catch {
    throw new WeComPayloadError('The decrypted payload is not valid JSON');
  }
}
