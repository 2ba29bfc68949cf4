import { Injectable } from '@nestjs/common';
import { ModelRegistry } from '../../llm/model-registry.service.js';
import { RetrievalService } from '../retrieval/retrieval.service.js';
import type { RetrievedPassage } from '../retrieval/retrieval.types.js';
import { StoreService } from '../store.service.js';
import type { GroundedAnswer, GroundedAnswerRequest, SourceRef } from '../store.types.js';
import { buildGroundedPrompt } from './grounded-prompt.js';

export type { ChatTurn, GroundedAnswer, GroundedAnswerRequest, SourceRef } from '../store.types.js';

/** Answer tokens reserved when neither the store nor the model provider sets a cap. */
const DEFAULT_ANSWER_TOKENS = 1024;
/** Quoted text beyond this is cut (it is context, not the question). */
const MAX_QUOTED_CHARS = 2000;

/**
 * Answers a question from a store: retrieve the best passages, build the grounded prompt (system prompt,
 * numbered passages with their sources, history, question — trimmed to the model's context) and stream
 * the answer from the store's model. The conversation engine and the /ask playground both use this.
 */
@Injectable()
export class GroundedAnswerService {
  constructor(
    private readonly stores: StoreService,
    private readonly retrieval: RetrievalService,
    private readonly models: ModelRegistry,
  ) {}

  /**
   * Resolves the store (the default one without `storeId`), retrieves and prepares the prompt. Throws
   * NotFoundError without a store, ModelUnavailableError for a disabled model; model failures during
   * the answer are thrown while iterating `events` (LlmError).
   */
  async answer(request: GroundedAnswerRequest): Promise<GroundedAnswer> {
    const store = await this.stores.resolve(request.storeId);
    const chat = await this.models.chat(store.modelProviderId);
    const quoted = request.quotedText?.trim().slice(0, MAX_QUOTED_CHARS);
    const { hits } = await this.retrieval.search(
      store,
      quoted ? `${request.question}\n${quoted}` : request.question,
      {
        topK: store.topK,
        signal: request.signal,
      },
    );
    const answerReserve = Math.min(
      store.maxAnswerTokens ?? chat.maxTokens ?? DEFAULT_ANSWER_TOKENS,
      Math.floor(chat.contextTokens / 2),
    );
    const history = store.historyMessages > 0 ? request.history.slice(-store.historyMessages) : [];
    const prompt = buildGroundedPrompt({
      systemPrompt: store.systemPrompt,
      passages: hits,
      history,
      question: quoted ? `${request.question}\n\n(The user quotes: "${quoted}")` : request.question,
      contextBudgetTokens: chat.contextTokens,
      answerReserveTokens: answerReserve,
    });
    return {
      storeId: store.id,
      sources: prompt.passages.map(toSourceRef),
      events: chat.model.stream({ ...prompt, question: request.question }, request.signal),
    };
  }
}

export function toSourceRef(passage: RetrievedPassage): SourceRef {
  return {
    documentId: passage.documentId,
    title: passage.documentTitle,
    headingPath: passage.headingPath,
    chunkId: passage.chunkId,
    score: passage.score,
  };
}
