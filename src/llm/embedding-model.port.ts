import type { ConnectionTestResult } from './chat-model.port.js';

export const DEFAULT_EMBEDDING_BATCH_SIZE = 64;

/** Embeds texts in batches; returns one vector per text, in input order. Failures throw `LlmError`. */
export interface EmbeddingModel {
  readonly dimensions: number;
  embed(texts: string[], signal?: AbortSignal): Promise<number[][]>;
  testConnection(signal?: AbortSignal): Promise<ConnectionTestResult>;
}
