import { Module, OnModuleInit } from '@nestjs/common';
import { ChannelRegistry } from '../conversation/channel-registry.js';
import { ConversationModule } from '../conversation/conversation.module.js';
import { ProviderModule } from '../provider/provider.module.js';
import { TencentCallbackFilter } from './tencent-callback.filter.js';
import { TencentChatController } from './tencent-chat.controller.js';
import { TencentChatDelivery } from './tencent-chat.delivery.js';
import { TencentSignatureGuard } from './tencent-signature.guard.js';

/** The Tencent Cloud Chat door: the robot webhook in, REST replies out (tencent-chat.md). */
@Module({
  imports: [ConversationModule, ProviderModule],
  controllers: [TencentChatController],
  providers: [TencentChatDelivery, TencentSignatureGuard, TencentCallbackFilter],
})
export class TencentChatModule implements OnModuleInit {
  constructor(
    private readonly channels: ChannelRegistry,
    private readonly delivery: TencentChatDelivery,
  ) {}

  onModuleInit(): void {
    this.channels.register(this.delivery);
  }
}
