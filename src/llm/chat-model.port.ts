import type { RetrievedPassage } from '../store/retrieval/retrieval.types.js';
import type { LlmErrorKind } from './llm-error.js';

export type ChatRole = 'system' | 'user' | 'assistant';

export interface ChatMessage {
  role: ChatRole;
  content: string;
}

export interface ChatRequest {
  messages: ChatMessage[];
  /** Upper bound for the answer; the model's configured default applies when absent. */
  maxTokens?: number;
  temperature?: number;
  /** The retrieved passages, numbered [1]..[n] in this order (the extractive model answers from them). */
  passages?: RetrievedPassage[];
  /** The user's question on its own, without the prompt around it. */
  question?: string;
  /** What a model without an LLM says when no passage matches (e.g. the store's message). */
  notFoundText?: string;
}

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

export type FinishReason = 'stop' | 'length' | 'content-filter' | 'other';

export interface ChatTokenEvent {
  type: 'token';
  text: string;
}

export interface ChatDoneEvent {
  type: 'done';
  usage: TokenUsage;
  /** From the call to the last event. */
  latencyMs: number;
  /** From the call to the first token; absent when the answer was empty. */
  firstTokenMs?: number;
  finishReason: FinishReason;
}

export type ChatStreamEvent = ChatTokenEvent | ChatDoneEvent;

export interface ConnectionTestResult {
  ok: boolean;
  latencyMs: number;
  /** A human-readable outcome, safe to show to an administrator (never contains the API key). */
  message: string;
  /** Set when `ok` is false. */
  errorKind?: LlmErrorKind;
  /** Embedding models: the vector size the server returned. */
  dimensions?: number;
}

/**
 * A chat model streams `token` events then exactly one `done` event. Failures are thrown as `LlmError`
 * (while iterating), including `cancelled` when `signal` aborts.
 */
export interface ChatModel {
  stream(request: ChatRequest, signal?: AbortSignal): AsyncIterable<ChatStreamEvent>;
  testConnection(signal?: AbortSignal): Promise<ConnectionTestResult>;
}
