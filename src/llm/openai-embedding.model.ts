import { withRetry } from '../common/retry.js';
import type { ConnectionTestResult } from './chat-model.port.js';
import { DEFAULT_EMBEDDING_BATCH_SIZE, type EmbeddingModel } from './embedding-model.port.js';
import { LlmConfigError, LlmError, cancelledError } from './llm-error.js';
import {
  connectAzureOpenAi,
  connectOpenAiCompatible,
  retryOptions,
  toLlmError,
  type AzureOpenAiEndpoint,
  type OpenAiCompatibleEndpoint,
  type OpenAiConnection,
  type RetrySettings,
} from './openai-client.js';
import { RequestWatchdog } from './request-watchdog.js';

export interface EmbeddingSettings {
  /** The model's vector size; the store's pgvector column is created with it. */
  dimensions: number;
  /** Texts per request (default 64). */
  batchSize?: number;
  /**
   * Send `dimensions` to the server (OpenAI text-embedding-3-* can shorten vectors; e.g. 3072 → 1024 keeps
   * them under pgvector's 2000-dimension HNSW limit). Most other servers reject the parameter.
   */
  sendDimensions?: boolean;
}

export interface OpenAiCompatibleEmbeddingConfig extends OpenAiCompatibleEndpoint, EmbeddingSettings {
  model: string;
}

export interface AzureOpenAiEmbeddingConfig extends AzureOpenAiEndpoint, EmbeddingSettings {}

/** Ingestion can afford to wait longer than a user waiting for an answer. */
const DEFAULT_EMBEDDING_RETRY: Required<RetrySettings> = {
  attempts: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 30_000,
};
const OPERATION = 'Embedding request';

export class OpenAiEmbeddingModel implements EmbeddingModel {
  readonly dimensions: number;
  private readonly batchSize: number;

  constructor(
    private readonly connection: OpenAiConnection,
    private readonly settings: EmbeddingSettings,
  ) {
    if (!Number.isInteger(settings.dimensions) || settings.dimensions <= 0) {
      throw new LlmConfigError('dimensions must be a positive integer');
    }
    const batchSize = settings.batchSize ?? DEFAULT_EMBEDDING_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize <= 0)
      throw new LlmConfigError('batchSize must be a positive integer');
    this.dimensions = settings.dimensions;
    this.batchSize = batchSize;
  }

  static compatible(config: OpenAiCompatibleEmbeddingConfig): OpenAiEmbeddingModel {
    return new OpenAiEmbeddingModel(
      connectOpenAiCompatible(config, config.model, DEFAULT_EMBEDDING_RETRY),
      config,
    );
  }

  static azure(config: AzureOpenAiEmbeddingConfig): OpenAiEmbeddingModel {
    return new OpenAiEmbeddingModel(connectAzureOpenAi(config, DEFAULT_EMBEDDING_RETRY), config);
  }

  /** Batches run one after another: ingestion is a background job, and this keeps clear of rate limits. */
  async embed(texts: string[], signal?: AbortSignal): Promise<number[][]> {
    const empty = texts.findIndex((text) => text.trim().length === 0);
    if (empty >= 0) throw new LlmError('bad-request', `${OPERATION} failed: text #${empty + 1} is empty`);
    const vectors: number[][] = [];
    for (let start = 0; start < texts.length; start += this.batchSize) {
      const batch = texts.slice(start, start + this.batchSize);
      vectors.push(...(await this.embedWithRetry(batch, this.dimensions, signal)));
    }
    return vectors;
  }

  async testConnection(signal?: AbortSignal): Promise<ConnectionTestResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      const [vector] = await this.embedWithRetry(['connection test'], undefined, signal);
      const ok = vector.length === this.dimensions;
      const message = ok
        ? `Connected to ${this.connection.label}; vectors have ${vector.length} dimensions.`
        : `${this.connection.label} returns ${vector.length}-dimensional vectors, but ${this.dimensions} are configured.`;
      return {
        ok,
        latencyMs: elapsed(),
        message,
        dimensions: vector.length,
        errorKind: ok ? undefined : 'bad-response',
      };
    } catch (error) {
      const failure =
        error instanceof LlmError
          ? error
          : toLlmError(error, { operation: OPERATION, connection: this.connection });
      return { ok: false, latencyMs: elapsed(), message: failure.message, errorKind: failure.kind };
    }
  }

  private async embedWithRetry(
    batch: string[],
    expected: number | undefined,
    signal?: AbortSignal,
  ): Promise<number[][]> {
    try {
      return await withRetry(
        () => this.embedBatch(batch, expected, signal),
        retryOptions(this.connection, signal),
      );
    } catch (error) {
      if (signal?.aborted) throw cancelledError(OPERATION);
      throw error;
    }
  }

  private async embedBatch(
    batch: string[],
    expected: number | undefined,
    signal?: AbortSignal,
  ): Promise<number[][]> {
    const watchdog = new RequestWatchdog(this.connection.timeoutMs, signal);
    try {
      watchdog.arm();
      const response = await this.connection.client.embeddings.create(
        {
          model: this.connection.model,
          input: batch,
          // The SDK would ask for base64, which several OpenAI-compatible servers do not implement.
          encoding_format: 'float',
          ...(this.settings.sendDimensions ? { dimensions: this.dimensions } : {}),
        },
        { signal: watchdog.signal },
      );
      return this.vectorsOf(response, batch.length, expected);
    } catch (error) {
      throw toLlmError(error, {
        operation: OPERATION,
        connection: this.connection,
        timedOut: watchdog.timedOut,
        cancelled: watchdog.cancelled,
      });
    } finally {
      watchdog.dispose();
    }
  }

  private vectorsOf(response: unknown, count: number, expected: number | undefined): number[][] {
    const data = (response as { data?: unknown } | null)?.data;
    if (!Array.isArray(data) || data.length !== count) {
      throw this.badResponse(
        `expected ${count} embeddings, got ${Array.isArray(data) ? data.length : 'none'}`,
      );
    }
    const ordered = new Array<number[]>(count);
    data.forEach((item: { index?: unknown; embedding?: unknown }, position) => {
      const index = typeof item?.index === 'number' ? item.index : position;
      const vector = item?.embedding;
      if (!isVector(vector) || index < 0 || index >= count || ordered[index]) {
        throw this.badResponse(`embedding #${position + 1} is not a list of numbers with a unique index`);
      }
      if (expected !== undefined && vector.length !== expected) {
        throw this.badResponse(
          `vectors have ${vector.length} dimensions, but the provider is configured for ${expected}`,
        );
      }
      ordered[index] = vector;
    });
    return ordered;
  }

  private badResponse(detail: string): LlmError {
    return new LlmError('bad-response', `${OPERATION} failed: ${detail} (${this.connection.label})`);
  }
}

function isVector(value: unknown): value is number[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value.every((x) => typeof x === 'number' && Number.isFinite(x))
  );
}
