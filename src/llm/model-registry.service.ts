import { HttpStatus, Injectable } from '@nestjs/common';
import { AppError } from '../common/errors.js';
import { ProviderService, type ResolvedProvider } from '../provider/provider.service.js';
import type { ChatModel } from './chat-model.port.js';
import type { EmbeddingModel } from './embedding-model.port.js';
import {
  CHAT_MODEL_TYPES,
  createChatModel,
  createEmbeddingModel,
  EMBEDDING_MODEL_TYPES,
  type ChatModelType,
  type EmbeddingModelType,
} from './llm.factory.js';
import type { AzureOpenAiChatConfig, OpenAiCompatibleChatConfig } from './openai-chat.model.js';
import type {
  AzureOpenAiEmbeddingConfig,
  OpenAiCompatibleEmbeddingConfig,
} from './openai-embedding.model.js';

export type EmbeddingPurpose = 'ingest' | 'query';
const QUERY_TIMEOUT_MS = 15_000;
const QUERY_RETRY = { attempts: 2, baseDelayMs: 250, maxDelayMs: 1_000 };

/** The context window assumed when a model provider does not set `contextTokens`. */
export const DEFAULT_CONTEXT_TOKENS = 16_384;

/** A chat model ready to call, plus what prompt building needs to know about it. */
export interface ResolvedChatModel {
  providerId: string;
  type: ChatModelType;
  model: ChatModel;
  /** The model's context window in tokens (prompts are trimmed to it). */
  contextTokens: number;
  /** The provider's default cap on answer tokens, if any. */
  maxTokens?: number;
}

export interface ResolvedEmbeddingModel {
  providerId: string;
  type: EmbeddingModelType;
  model: EmbeddingModel;
  dimensions: number;
}

/** A provider that cannot be used right now (disabled, wrong category); the message says what to fix. */
export class ModelUnavailableError extends AppError {
  constructor(message: string) {
    super(HttpStatus.CONFLICT, 'model_unavailable', message);
  }
}

type Config = Record<string, unknown>;

const optionalNumber = (value: unknown): number | undefined =>
  typeof value === 'number' ? value : undefined;
const optionalString = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;

/**
 * Turns a provider id into a ChatModel or EmbeddingModel (decrypting its config through ProviderService).
 * Models are cached per provider and config, so HTTP connections are reused between calls.
 */
@Injectable()
export class ModelRegistry {
  private readonly chatModels = new Map<string, { key: string; resolved: ResolvedChatModel }>();
  private readonly embeddingModels = new Map<string, { key: string; resolved: ResolvedEmbeddingModel }>();

  constructor(private readonly providers: ProviderService) {}

  async chat(providerId: string): Promise<ResolvedChatModel> {
    const provider = await this.usable(providerId, 'model');
    const key = cacheKey(provider);
    const cached = this.chatModels.get(providerId);
    if (cached?.key === key) return cached.resolved;
    const type = provider.type as ChatModelType;
    if (!CHAT_MODEL_TYPES.includes(type)) {
      throw new ModelUnavailableError(`Model provider ${provider.name} has an unknown type ${provider.type}`);
    }
    const config = provider.config;
    const resolved: ResolvedChatModel = {
      providerId,
      type,
      model: buildChatModel(type, config),
      contextTokens: optionalNumber(config.contextTokens) ?? DEFAULT_CONTEXT_TOKENS,
      maxTokens: optionalNumber(config.maxTokens),
    };
    this.chatModels.set(providerId, { key, resolved });
    return resolved;
  }

  /**
   * An embedding model. `ingest` (documents) retries patiently; `query` (a user is waiting) retries once,
   * quickly, with a shorter timeout — retrieval falls back to full-text search if it still fails.
   */
  async embedding(providerId: string, purpose: EmbeddingPurpose = 'ingest'): Promise<ResolvedEmbeddingModel> {
    const provider = await this.usable(providerId, 'embedding');
    const key = `${purpose}:${cacheKey(provider)}`;
    const cached = this.embeddingModels.get(`${purpose}:${providerId}`);
    if (cached?.key === key) return cached.resolved;
    const type = provider.type as EmbeddingModelType;
    if (!EMBEDDING_MODEL_TYPES.includes(type)) {
      throw new ModelUnavailableError(
        `Embedding provider ${provider.name} has an unknown type ${provider.type}`,
      );
    }
    const model = buildEmbeddingModel(type, provider.config, purpose);
    const resolved: ResolvedEmbeddingModel = { providerId, type, model, dimensions: model.dimensions };
    this.embeddingModels.set(`${purpose}:${providerId}`, { key, resolved });
    return resolved;
  }

  /** The vector size of an embedding provider, without building a client. */
  async embeddingDimensions(providerId: string): Promise<number> {
    const provider = await this.providers.resolve(providerId);
    const dimensions = optionalNumber(provider.config.dimensions);
    if (provider.category !== 'embedding' || dimensions === undefined) {
      throw new ModelUnavailableError(`Provider ${provider.name} is not an embedding provider`);
    }
    return dimensions;
  }

  private async usable(providerId: string, category: 'model' | 'embedding'): Promise<ResolvedProvider> {
    const provider = await this.providers.resolve(providerId);
    if (provider.category !== category) {
      throw new ModelUnavailableError(`Provider ${provider.name} is not a ${category} provider`);
    }
    if (!provider.enabled) {
      throw new ModelUnavailableError(
        `The ${category} provider ${provider.name} is disabled; enable it first`,
      );
    }
    return provider;
  }
}

function buildChatModel(type: ChatModelType, config: Config): ChatModel {
  const generation = {
    temperature: optionalNumber(config.temperature),
    maxTokens: optionalNumber(config.maxTokens),
    timeoutMs: optionalNumber(config.timeoutMs),
  };
  switch (type) {
    case 'openai-compatible':
      return createChatModel('openai-compatible', {
        ...generation,
        baseUrl: String(config.baseUrl),
        apiKey: optionalString(config.apiKey),
        model: String(config.model),
      } satisfies OpenAiCompatibleChatConfig);
    case 'azure-openai':
      return createChatModel('azure-openai', {
        ...generation,
        endpoint: String(config.endpoint),
        apiKey: String(config.apiKey),
        deployment: String(config.deployment),
        apiVersion: String(config.apiVersion),
      } satisfies AzureOpenAiChatConfig);
    case 'extractive':
      return createChatModel('extractive', {});
  }
}

function buildEmbeddingModel(
  type: EmbeddingModelType,
  config: Config,
  purpose: EmbeddingPurpose,
): EmbeddingModel {
  const timeoutMs = optionalNumber(config.timeoutMs);
  const common = {
    dimensions: Number(config.dimensions),
    ...(purpose === 'query'
      ? { timeoutMs: Math.min(timeoutMs ?? QUERY_TIMEOUT_MS, QUERY_TIMEOUT_MS), retry: QUERY_RETRY }
      : { timeoutMs }),
  };
  switch (type) {
    case 'openai-compatible':
      return createEmbeddingModel('openai-compatible', {
        ...common,
        baseUrl: String(config.baseUrl),
        apiKey: optionalString(config.apiKey),
        model: String(config.model),
      } satisfies OpenAiCompatibleEmbeddingConfig);
    case 'azure-openai':
      return createEmbeddingModel('azure-openai', {
        ...common,
        endpoint: String(config.endpoint),
        apiKey: String(config.apiKey),
        deployment: String(config.deployment),
        apiVersion: String(config.apiVersion),
      } satisfies AzureOpenAiEmbeddingConfig);
  }
}

function cacheKey(provider: ResolvedProvider): string {
  return `${provider.type}:${JSON.stringify(provider.config)}`;
}
