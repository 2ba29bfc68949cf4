import { Module } from '@nestjs/common';
import { MulterModule } from '@nestjs/platform-express';
import { AppConfig } from '../config/app-config.js';
import { LlmModule } from '../llm/llm.module.js';
import { GroundedAnswerService } from './answer/grounded-answer.service.js';
import { DocumentController } from './document.controller.js';
import { DocumentService } from './document.service.js';
import { IngestionQueue } from './ingestion/ingestion-queue.js';
import { IngestionWorker } from './ingestion/ingestion.worker.js';
import { PlaygroundController } from './playground.controller.js';
import { RetrievalService } from './retrieval/retrieval.service.js';
import { VectorIndexService } from './retrieval/vector-index.service.js';
import { StoreController } from './store.controller.js';
import { StoreService } from './store.service.js';

/**
 * Knowledge stores: documents ingested by a durable job (parse → split → embed → index), hybrid retrieval,
 * and grounded answers (GroundedAnswerService, used by the conversation engine).
 */
@Module({
  imports: [
    LlmModule,
    MulterModule.registerAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        limits: { fileSize: config.UPLOAD_LIMIT_MB * 1024 * 1024, files: 1 },
        // Non-ASCII file names (e.g. Chinese) arrive as UTF-8.
        defParamCharset: 'utf8',
      }),
    }),
  ],
  controllers: [StoreController, DocumentController, PlaygroundController],
  providers: [
    StoreService,
    DocumentService,
    IngestionQueue,
    IngestionWorker,
    RetrievalService,
    VectorIndexService,
    GroundedAnswerService,
  ],
  exports: [StoreService, GroundedAnswerService, RetrievalService, DocumentService],
})
export class StoreModule {}
