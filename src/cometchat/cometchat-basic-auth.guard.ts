import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AppError, NotFoundError } from '../common/errors.js';
import type { CometChatBotConfig } from '../provider/provider-types.js';
import { ProviderService, type ResolvedProvider } from '../provider/provider.service.js';
import { checkBasicAuth } from './cometchat-auth.js';

export type CometChatBotProvider = ResolvedProvider<CometChatBotConfig>;

export type CometChatCallbackRequest = Request & { cometChatBot?: CometChatBotProvider };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * CometChat's only callback authentication is `Authorization: Basic` (cometchat.md): checked in constant
 * time against the bot provider named in the URL. Not a uuid → 400; no such CometChat bot → 404; wrong
 * credentials → 401; a disabled bot (right credentials) → 403.
 */
@Injectable()
export class CometChatBasicAuthGuard implements CanActivate {
  constructor(private readonly providers: ProviderService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const request = http.getRequest<CometChatCallbackRequest>();
    const providerId = typeof request.params?.providerId === 'string' ? request.params.providerId : '';
    if (!UUID.test(providerId)) {
      throw new AppError(
        HttpStatus.BAD_REQUEST,
        'bad_request',
        'The callback URL must end with the bot provider id',
      );
    }
    const bot = await this.findBot(providerId);
    const { basicAuthUsername, basicAuthPassword } = bot.config;
    if (!checkBasicAuth(request.headers.authorization, basicAuthUsername, basicAuthPassword)) {
      http.getResponse<Response>().setHeader('WWW-Authenticate', 'Basic realm="parley", charset="UTF-8"');
      throw new AppError(
        HttpStatus.UNAUTHORIZED,
        'unauthorized',
        "Basic credentials do not match the bot's basicAuthUsername / basicAuthPassword",
      );
    }
    if (!bot.enabled) throw new AppError(HttpStatus.FORBIDDEN, 'forbidden', 'This bot is disabled in Parley');
    request.cometChatBot = bot;
    return true;
  }

  private async findBot(providerId: string): Promise<CometChatBotProvider> {
    try {
      const provider = await this.providers.resolve<CometChatBotConfig>(providerId);
      if (provider.category === 'bot' && provider.type === 'cometchat') return provider;
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
    }
    throw new NotFoundError('CometChat bot', providerId);
  }
}
