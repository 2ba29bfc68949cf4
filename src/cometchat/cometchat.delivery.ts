import { Injectable } from '@nestjs/common';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { NotFoundError } from '../common/errors.js';
import type { AnswerSnapshot, ChannelDelivery, DeliveryOutcome } from '../conversation/conversation.types.js';
import { InjectLogger } from '../core/core.module.js';
import type { CometChatBotConfig } from '../provider/provider-types.js';
import { ProviderService, type ResolvedProvider } from '../provider/provider.service.js';
import { parseCometChatReplyTarget } from './cometchat-callback.parser.js';
import { CometChatRestClient, CometChatSendTextError } from './cometchat-rest.client.js';

type Bot = ResolvedProvider<CometChatBotConfig>;

/**
 * Sends final answers as the bot with Send Bot Message (cometchat.md), split in order over the 10 KB data
 * limit; 429 waits as CometChat asks, 5xx and network errors are retried. CometChat callback bots have no
 * streaming API, so there is no `progress`. Returns CometChat's message ids; the engine records them.
 */
@Injectable()
export class CometChatDelivery implements ChannelDelivery {
  readonly platform = 'cometchat' as const;
  private readonly clients = new Map<string, { version: string; client: CometChatRestClient }>();

  constructor(
    private readonly providers: ProviderService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  async deliver(answer: AnswerSnapshot): Promise<DeliveryOutcome> {
    let bot: Bot;
    try {
      bot = await this.providers.resolve<CometChatBotConfig>(answer.botProviderId);
    } catch (error) {
      if (error instanceof NotFoundError)
        return { status: 'failed', error: 'The bot provider no longer exists' };
      throw error;
    }
    if (!bot.enabled) return { status: 'skipped', error: 'The bot provider is disabled' };
    const target = parseCometChatReplyTarget(answer.replyTarget);
    if (!target) return { status: 'failed', error: 'The answer has no CometChat reply target' };
    if (answer.content.trim().length === 0) return { status: 'skipped', error: 'The answer is empty' };

    let client: CometChatRestClient;
    try {
      client = this.clientFor(bot);
    } catch (error) {
      return { status: 'failed', error: `Invalid CometChat configuration: ${describe(error)}` };
    }
    try {
      const ids = await client.sendText(target.receiver, target.receiverType, answer.content);
      return { status: 'delivered', platformMessageIds: ids };
    } catch (error) {
      if (error instanceof CometChatSendTextError) {
        return { status: 'failed', platformMessageIds: error.sentIds, error: error.message };
      }
      return { status: 'failed', error: describe(error) };
    }
  }

  /** One REST client per bot provider, rebuilt when its CometChat settings change. */
  private clientFor(bot: Bot): CometChatRestClient {
    const { appId, region, apiKey, botUid, apiBaseUrl } = bot.config;
    const version = createHash('sha256')
      .update(JSON.stringify([appId, region, apiKey, botUid, apiBaseUrl ?? null]))
      .digest('hex');
    const cached = this.clients.get(bot.id);
    if (cached?.version === version) return cached.client;
    const client = new CometChatRestClient({
      appId,
      region,
      apiKey,
      botUid,
      apiBaseUrl,
      logger: { warn: (message) => this.logger.warn({ botProviderId: bot.id }, message) },
    });
    this.clients.set(bot.id, { version, client });
    return client;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
