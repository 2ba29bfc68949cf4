import type { ChatStreamEvent } from '../llm/chat-model.port.js';

/** What the conversation engine needs to know about a store (see StoreService.settingsFor). */
export interface StoreSettings {
  id: string;
  name: string;
  /** Earlier messages of a conversation to give the model. */
  historyMessages: number;
  /** Said when the model fails; null when the store has none (the engine uses its own). */
  fallbackMessage: string | null;
  welcomeMessage: string | null;
  topK: number;
  maxAnswerTokens: number | null;
}

export interface ChatTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface GroundedAnswerRequest {
  /** The bot's store; the default store when absent. */
  storeId?: string | null;
  question: string;
  /** Earlier turns, oldest first (trimmed to the store's historyMessages and the model's context). */
  history: ChatTurn[];
  /** Text the user quoted when asking, given to the model as context. */
  quotedText?: string;
  signal?: AbortSignal;
}

export interface SourceRef {
  documentId: string;
  title: string;
  headingPath: string[];
  chunkId: string;
  score: number;
}

export interface GroundedAnswer {
  storeId: string;
  /** The passages the answer is grounded in, best first (also numbered [1]..[n] in the prompt). */
  sources: SourceRef[];
  /** `token` events then one `done` event; throws LlmError while iterating when the model fails. */
  events: AsyncIterable<ChatStreamEvent>;
}
