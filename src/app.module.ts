import { DynamicModule, Module } from '@nestjs/common';
import type { Logger } from 'pino';
import { AuthModule } from './auth/auth.module.js';
import { ConversationModule } from './conversation/conversation.module.js';
import { AppConfig } from './config/app-config.js';
import { CoreModule } from './core/core.module.js';
import { HealthModule } from './health/health.module.js';
import { LlmModule } from './llm/llm.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ProviderModule } from './provider/provider.module.js';
import { StoreModule } from './store/store.module.js';
import { TencentChatModule } from './tencent-chat/tencent-chat.module.js';
import { CometChatModule } from './cometchat/cometchat.module.js';
import { WeComBotModule } from './wecom-bot/wecom-bot.module.js';

@Module({})
export class AppModule {
  static register(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [
        CoreModule.forRoot(config, logger),
        // The channels first: Nest registers routes module by module and Express tries them in that order,
        // so the platform callbacks (most of the traffic) are matched before the admin API's routes.
        WeComBotModule,
        TencentChatModule,
        CometChatModule,
        AuthModule,
        HealthModule,
        MetricsModule,
        ProviderModule,
        LlmModule,
        StoreModule,
        ConversationModule,
      ],
    };
  }
}
