import { Module } from '@nestjs/common';
import { ConversationModule } from '../conversation/conversation.module.js';
import { HealthController } from './health.controller.js';

@Module({ imports: [ConversationModule], controllers: [HealthController] })
export class HealthModule {}
