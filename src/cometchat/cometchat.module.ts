import { Module, OnModuleInit } from '@nestjs/common';
import { ChannelRegistry } from '../conversation/channel-registry.js';
import { ConversationModule } from '../conversation/conversation.module.js';
import { ProviderModule } from '../provider/provider.module.js';
import { CometChatBasicAuthGuard } from './cometchat-basic-auth.guard.js';
import { CometChatCallbackFilter } from './cometchat-callback.filter.js';
import { CometChatController } from './cometchat.controller.js';
import { CometChatDelivery } from './cometchat.delivery.js';

/** The CometChat door: Basic-auth bot callbacks in, Send Bot Message out (cometchat.md). */
@Module({
  imports: [ConversationModule, ProviderModule],
  controllers: [CometChatController],
  providers: [CometChatDelivery, CometChatBasicAuthGuard, CometChatCallbackFilter],
})
export class CometChatModule implements OnModuleInit {
  constructor(
    private readonly channels: ChannelRegistry,
    private readonly delivery: CometChatDelivery,
  ) {}

  onModuleInit(): void {
    this.channels.register(this.delivery);
  }
}
