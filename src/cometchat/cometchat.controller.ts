import { Body, Controller, HttpCode, HttpStatus, Post, Req, UseFilters, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Logger } from 'pino';
import { Public } from '../auth/public.decorator.js';
import { AppError, UnauthorizedError } from '../common/errors.js';
import { ConversationService } from '../conversation/conversation.service.js';
import { InjectLogger } from '../core/core.module.js';
import { CometChatBasicAuthGuard, type CometChatCallbackRequest } from './cometchat-basic-auth.guard.js';
import { CometChatCallbackFilter } from './cometchat-callback.filter.js';
import { parseCometChatCallback, toCometChatInboundMessage } from './cometchat-callback.parser.js';

/** What the callback answers (CometChat only needs the 200). */
export interface CometChatCallbackAck {
  status: 'accepted' | 'duplicate' | 'ignored';
  reason?: string;
}

/**
 * CometChat's bot callback (cometchat.md): one URL per bot provider, Basic auth, `after_message` payloads.
 * The message is stored (and its answer queued) before the 200; the answer goes out later through
 * Send Bot Message (CometChatDelivery).
 */
@ApiExcludeController()
@Public()
@Controller('api/cometchat')
@UseFilters(CometChatCallbackFilter)
export class CometChatController {
  constructor(
    private readonly conversations: ConversationService,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  @Post('callback/:providerId')
  @HttpCode(200)
  @UseGuards(CometChatBasicAuthGuard)
  async callback(
    @Req() request: CometChatCallbackRequest,
    @Body() body: unknown,
  ): Promise<CometChatCallbackAck> {
    const bot = request.cometChatBot;
    if (!bot) throw new UnauthorizedError('The request was not authenticated');
    const parsed = parseCometChatCallback(body, { botUid: bot.config.botUid, appId: bot.config.appId });
    if (parsed.kind === 'ignored' && parsed.reason !== 'unsupported') {
      if (parsed.reason === 'invalid-body') {
        throw new AppError(HttpStatus.BAD_REQUEST, 'bad_request', 'The callback body must be a JSON object');
      }
      this.logger.debug({ botProviderId: bot.id, reason: parsed.reason }, 'CometChat callback ignored');
      return { status: 'ignored', reason: parsed.reason };
    }
    const inbound = toCometChatInboundMessage(parsed, bot.id, body);
    // Persisted (and the answer queued) before CometChat hears 200; a repeated delivery is deduplicated there.
    const result = await this.conversations.accept(inbound);
    if (result.ignored) return { status: 'ignored', reason: 'policy' };
    return { status: result.duplicate ? 'duplicate' : 'accepted' };
  }
}
