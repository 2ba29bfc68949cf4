import { Module } from '@nestjs/common';
import { ProviderModule } from '../provider/provider.module.js';
import { StoreModule } from '../store/store.module.js';
import { AnswerWorker } from './answer.worker.js';
import { ChannelRegistry } from './channel-registry.js';
import { ConversationAdminController } from './conversation-admin.controller.js';
import { ConversationAdminService } from './conversation-admin.service.js';
import { ConversationService } from './conversation.service.js';

/** The answer pipeline shared by every channel. Channels import this module and register a ChannelDelivery. */
@Module({
  imports: [ProviderModule, StoreModule],
  controllers: [ConversationAdminController],
  providers: [ConversationService, ConversationAdminService, ChannelRegistry, AnswerWorker],
  exports: [ConversationService, ChannelRegistry],
})
export class ConversationModule {}
