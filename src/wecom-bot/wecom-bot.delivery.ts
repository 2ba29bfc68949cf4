import { Inject, Injectable } from '@nestjs/common';
import type { Logger } from 'pino';
import { AppConfig } from '../config/app-config.js';
import { InjectLogger } from '../core/core.module.js';
import type { AnswerSnapshot, ChannelDelivery, DeliveryOutcome } from '../conversation/conversation.types.js';
import { markdownMessage } from './wecom-reply.js';
import {
  AllowedHost,
  parseAllowedHosts,
  ResponseUrlClient,
  responseUrlProblem,
} from './wecom-response-url.js';
import { responseUrlContent } from './wecom-stream.js';

/**
 * WeCom answers are shown by the stream (refreshes read the answer row), so most final answers need no
 * delivery ('skipped'). Only what the stream could not show goes once through the message's response_url:
 * an answer that outlived the stream window (the whole answer), or one over 20480 bytes (the rest).
 */
@Injectable()
export class WeComBotDelivery implements ChannelDelivery {
  readonly platform = 'wecom-bot' as const;
  private readonly allowedHosts: AllowedHost[];
  private readonly client: ResponseUrlClient;

  constructor(
    @Inject(AppConfig) private readonly config: AppConfig,
    @InjectLogger() private readonly logger: Logger,
  ) {
    this.allowedHosts = parseAllowedHosts(config.WECOM_RESPONSE_URL_HOSTS);
    this.client = new ResponseUrlClient({
      onRetry: (error, attempt) =>
        this.logger.warn(
          { attempt, reason: (error as Error).message },
          'WeCom response_url failed; retrying',
        ),
    });
  }

  async deliver(answer: AnswerSnapshot, now = new Date()): Promise<DeliveryOutcome> {
    const send = responseUrlContent(answer, { windowSeconds: this.config.WECOM_STREAM_WINDOW_SECONDS, now });
    if (!send) return { status: 'skipped' };
    const responseUrl = answer.replyTarget.responseUrl;
    if (typeof responseUrl !== 'string' || responseUrl.length === 0) {
      return {
        status: 'failed',
        error: `the answer needs response_url (${send.reason}) but the message had none`,
      };
    }
    const problem = responseUrlProblem(responseUrl, this.allowedHosts);
    if (problem) {
      this.logger.warn({ answerId: answer.answerId, problem }, 'WeCom response_url refused');
      return { status: 'failed', error: problem };
    }
    try {
      await this.client.post(responseUrl, markdownMessage(send.content));
      this.logger.info(
        { answerId: answer.answerId, reason: send.reason },
        'WeCom answer sent through response_url',
      );
      return { status: 'delivered' };
    } catch (error) {
      return { status: 'failed', error: (error as Error).message };
    }
  }
}
