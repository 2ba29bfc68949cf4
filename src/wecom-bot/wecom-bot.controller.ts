import {
  Controller,
  Get,
  Header,
  HttpCode,
  Post,
  Req,
  UseFilters,
  UseGuards,
  UseInterceptors,
} from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { Public } from '../auth/public.decorator.js';
import { WeComBotService } from './wecom-bot.service.js';
import { WeComCryptoInterceptor } from './wecom-crypto.interceptor.js';
import { WeComExceptionFilter } from './wecom-exception.filter.js';
import type { WeComReply } from './wecom-reply.js';
import { wecomContextOf, type WeComRequest } from './wecom-request.js';
import { WeComSignatureGuard } from './wecom-signature.guard.js';

export const WECOM_CALLBACK_PATH = 'api/wecom-bot/callback/:botId';

/**
 * The WeCom AI bot callback (shared/protocols/wecom-ai-bot.md). Public to the admin-key guard: WeCom
 * authenticates with msg_signature, checked by WeComSignatureGuard; WeComCryptoInterceptor decrypts the
 * request and encrypts the reply.
 */
@Public()
@ApiExcludeController()
@Controller(WECOM_CALLBACK_PATH)
@UseGuards(WeComSignatureGuard)
@UseInterceptors(WeComCryptoInterceptor)
@UseFilters(WeComExceptionFilter)
export class WeComBotController {
  constructor(private readonly service: WeComBotService) {}

  /** URL verification when the admin saves the callback URL: the echostr's plaintext, nothing else. */
  @Get()
  @Header('Content-Type', 'text/plain; charset=utf-8')
  verify(@Req() request: WeComRequest): string {
    return wecomContextOf(request).plaintext ?? '';
  }

  /** Messages, events and stream refreshes. */
  @Post()
  @HttpCode(200)
  async callback(@Req() request: WeComRequest): Promise<WeComReply | null> {
    const { bot, plaintext } = wecomContextOf(request);
    return this.service.handle(bot, plaintext ?? '');
  }
}
