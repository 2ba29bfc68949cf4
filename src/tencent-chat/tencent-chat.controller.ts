import { Controller, HttpCode, Inject, Post, Req, UseFilters, UseGuards } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Logger } from 'pino';
import { Public } from '../auth/public.decorator.js';
import { AppConfig } from '../config/app-config.js';
import { ConversationService, sanitizeInbound } from '../conversation/conversation.service.js';
import type { InboundMessage } from '../conversation/conversation.types.js';
import { InjectLogger } from '../core/core.module.js';
import {
  parseTencentCallback,
  toTencentInboundMessage,
  type TencentCallbackMessage,
  type TencentCallbackUnsupported,
} from './tencent-callback.parser.js';
import {
  TENCENT_CALLBACK_OK,
  TencentCallbackError,
  type TencentCallbackAck,
} from './tencent-callback.errors.js';
import { TencentCallbackFilter } from './tencent-callback.filter.js';
import { TencentSignatureGuard, type TencentCallbackRequest } from './tencent-signature.guard.js';

/**
 * Tencent Cloud Chat's robot webhook (tencent-chat.md): one URL per app, `Bot.OnC2CMessage` and
 * `Bot.OnGroupMessage` routed to the robot's provider by `To_Account` / `AtRobots_Account`. Each message is
 * stored (and its answer queued) before the request is acknowledged; the answer goes out later through the
 * REST API (TencentChatDelivery). Tencent waits at most 2 s.
 */
@ApiExcludeController()
@Public()
@Controller('api/tencent-chat')
@UseFilters(TencentCallbackFilter)
export class TencentChatController {
  constructor(
    private readonly conversations: ConversationService,
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
  ) {}

  @Post('callback/:sdkAppId')
  @HttpCode(200)
  @UseGuards(TencentSignatureGuard)
  async callback(@Req() request: TencentCallbackRequest): Promise<TencentCallbackAck> {
    const app = request.tencentApp;
    if (!app) throw new TencentCallbackError(401, 'The request was not authenticated');
    const body = await readJsonBody(request, this.config.BODY_LIMIT_KB * 1024);

    const inbound: InboundMessage[] = [];
    for (const entry of parseTencentCallback(body)) {
      if (entry.kind === 'ignored' && entry.reason !== 'unsupported') {
        if (entry.reason === 'invalid-body')
          throw TencentCallbackError.malformed('The body must be a JSON object');
        this.logger.debug(
          { sdkAppId: app.sdkAppId, reason: entry.reason, command: entry.command },
          'Tencent callback ignored',
        );
        continue;
      }
      const robotAccount = robotOf(entry);
      const robot = app.robots.find((candidate) => candidate.config.robotId === robotAccount);
      if (!robot?.enabled) {
        this.logger.info(
          { sdkAppId: app.sdkAppId, robot: robotAccount, reason: robot ? 'disabled' : 'unknown robot' },
          'Tencent message for no enabled robot ignored',
        );
        continue;
      }
      // Checked for every robot before any is accepted (an id longer than a column is bad input).
      inbound.push(sanitizeInbound(toTencentInboundMessage(entry, robot.id, body)));
    }

    // Persisted (and the answer queued) before Tencent hears OK; a retried delivery is deduplicated there.
    for (const message of inbound) {
      const result = await this.conversations.accept(message);
      this.logger.debug(
        {
          botProviderId: message.botProviderId,
          answerId: result.answerId,
          duplicate: result.duplicate,
          ignored: result.ignored,
        },
        'Tencent message accepted',
      );
    }
    return TENCENT_CALLBACK_OK;
  }
}

function robotOf(entry: TencentCallbackMessage | TencentCallbackUnsupported): string {
  return entry.kind === 'message' ? entry.robotAccount : entry.context.robotAccount;
}

/**
 * The parsed JSON body. Tencent's request says `contenttype=json` in the query; when its Content-Type is not
 * one the app's JSON parser takes, the raw body is read and parsed here.
 */
async function readJsonBody(request: TencentCallbackRequest, limitBytes: number): Promise<unknown> {
  if (request.body !== undefined || request.readableEnded) return request.body;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request as AsyncIterable<Buffer | string>) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > limitBytes) throw new TencentCallbackError(413, 'The callback body is too large');
    chunks.push(buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim().length === 0) throw TencentCallbackError.malformed('The callback body is empty');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw TencentCallbackError.malformed('The callback body is not valid JSON');
  }
}
