import { MiddlewareConsumer, Module, NestModule, OnModuleInit, RequestMethod } from '@nestjs/common';
import { ChannelRegistry } from '../conversation/channel-registry.js';
import { ConversationModule } from '../conversation/conversation.module.js';
import { ProviderModule } from '../provider/provider.module.js';
import { WeComBodyMiddleware } from './wecom-body.middleware.js';
import { WECOM_CALLBACK_PATH, WeComBotController } from './wecom-bot.controller.js';
import { WeComBotDelivery } from './wecom-bot.delivery.js';
import { WeComBotService } from './wecom-bot.service.js';
import { WeComCryptoInterceptor } from './wecom-crypto.interceptor.js';
import { WeComSignatureGuard } from './wecom-signature.guard.js';

/**
 * The WeCom AI bot door: the callback (URL verification, messages, events, stream refreshes) and the
 * delivery of answers that outgrow the stream through response_url.
 */
@Module({
  imports: [ConversationModule, ProviderModule],
  controllers: [WeComBotController],
  providers: [WeComBotService, WeComBotDelivery, WeComSignatureGuard, WeComCryptoInterceptor],
})
export class WeComBotModule implements NestModule, OnModuleInit {
  constructor(
    private readonly channels: ChannelRegistry,
    private readonly delivery: WeComBotDelivery,
  ) {}

  onModuleInit(): void {
    this.channels.register(this.delivery);
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(WeComBodyMiddleware).forRoutes({ path: WECOM_CALLBACK_PATH, method: RequestMethod.POST });
  }
}
