import { Module } from '@nestjs/common';
import { ProviderModule } from '../provider/provider.module.js';
import { ModelRegistry } from './model-registry.service.js';

/** Chat and embedding models, built from providers on demand (see ModelRegistry). */
@Module({
  imports: [ProviderModule],
  providers: [ModelRegistry],
  exports: [ModelRegistry],
})
export class LlmModule {}
