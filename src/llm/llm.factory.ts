import type { ChatModel } from './chat-model.port.js';
import type { EmbeddingModel } from './embedding-model.port.js';
import { ExtractiveChatModel, type ExtractiveChatConfig } from './extractive-chat.model.js';
import { LlmConfigError } from './llm-error.js';
import {
  OpenAiChatModel,
  type AzureOpenAiChatConfig,
  type OpenAiCompatibleChatConfig,
} from './openai-chat.model.js';
import {
  OpenAiEmbeddingModel,
  type AzureOpenAiEmbeddingConfig,
  type OpenAiCompatibleEmbeddingConfig,
} from './openai-embedding.model.js';

export interface ChatModelConfigs {
  'openai-compatible': OpenAiCompatibleChatConfig;
  'azure-openai': AzureOpenAiChatConfig;
  extractive: ExtractiveChatConfig;
}

export interface EmbeddingModelConfigs {
  'openai-compatible': OpenAiCompatibleEmbeddingConfig;
  'azure-openai': AzureOpenAiEmbeddingConfig;
}

export type ChatModelType = keyof ChatModelConfigs;
export type EmbeddingModelType = keyof EmbeddingModelConfigs;

export const CHAT_MODEL_TYPES: readonly ChatModelType[] = ['openai-compatible', 'azure-openai', 'extractive'];
export const EMBEDDING_MODEL_TYPES: readonly EmbeddingModelType[] = ['openai-compatible', 'azure-openai'];

/** Builds a chat model from a model provider's type and configuration; throws `LlmConfigError` when unusable. */
export function createChatModel<T extends ChatModelType>(type: T, config: ChatModelConfigs[T]): ChatModel {
  switch (type) {
    case 'openai-compatible':
      return OpenAiChatModel.compatible(config as OpenAiCompatibleChatConfig);
    case 'azure-openai':
      return OpenAiChatModel.azure(config as AzureOpenAiChatConfig);
    case 'extractive':
      return new ExtractiveChatModel(config as ExtractiveChatConfig);
    default:
      throw new LlmConfigError(
        `Unknown chat model type "${String(type)}"; expected one of ${CHAT_MODEL_TYPES.join(', ')}`,
      );
  }
}

/** Builds an embedding model from an embedding provider's type and configuration. */
export function createEmbeddingModel<T extends EmbeddingModelType>(
  type: T,
  config: EmbeddingModelConfigs[T],
): EmbeddingModel {
  switch (type) {
    case 'openai-compatible':
      return OpenAiEmbeddingModel.compatible(config as OpenAiCompatibleEmbeddingConfig);
    case 'azure-openai':
      return OpenAiEmbeddingModel.azure(config as AzureOpenAiEmbeddingConfig);
    default:
      throw new LlmConfigError(
        `Unknown embedding model type "${String(type)}"; expected one of ${EMBEDDING_MODEL_TYPES.join(', ')}`,
      );
  }
}
