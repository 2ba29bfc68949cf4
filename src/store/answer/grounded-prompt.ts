import type { ChatMessage, ChatRequest } from '../../llm/chat-model.port.js';
import { countMessageTokens, countTokens, truncateToTokens } from '../../llm/token-counter.js';
import { formatSourceLabel, type RetrievedPassage } from '../retrieval/retrieval.types.js';

export interface HistoryMessage {
  role: 'user' | 'assistant';
  content: string;
}

export interface GroundedPromptInput {
  /** The store's system prompt (persona, tone, rules). */
  systemPrompt: string;
  /** Retrieved passages, any order; numbered by descending score. */
  passages: RetrievedPassage[];
  /** Earlier turns of the chat, oldest first. */
  history: HistoryMessage[];
  question: string;
  /** The model's context window (or the share of it Parley may use). */
  contextBudgetTokens: number;
  /** Kept free for the answer; also sent as the request's maxTokens. */
  answerReserveTokens: number;
}

export interface GroundedPrompt extends ChatRequest {
  /** The passages in the prompt: `passages[i]` is cited as [i + 1]. */
  passages: RetrievedPassage[];
  question: string;
  maxTokens: number;
  /** Estimated prompt size (countMessageTokens of `messages`). */
  promptTokens: number;
  dropped: { passages: number; historyMessages: number };
}

export const GROUNDING_INSTRUCTIONS = [
  'Answer the question in the last message using only the numbered knowledge-base passages given with it.',
  'Cite the passages you use with their numbers in square brackets, for example [1] or [2][3].',
  'If the passages do not contain the answer, say that you could not find it in the knowledge base; never make up facts.',
  'Answer in the language of the question.',
].join('\n');

/** History keeps at least this share of the room when passages would take it all (follow-ups need it). */
const HISTORY_SHARE = 0.25;
/** Below this, a truncated passage is not worth including. */
const MIN_PASSAGE_TOKENS = 48;
const MIN_QUESTION_TOKENS = 16;
const TOKENS_PER_MESSAGE = 4;

/**
 * Builds the chat request for a grounded answer: system prompt + instructions, the most recent history
 * that fits, and a final user message with the numbered passages and the question — all within
 * `contextBudgetTokens - answerReserveTokens`, dropping the oldest history and the lowest-scored passages first.
 */
export function buildGroundedPrompt(input: GroundedPromptInput): GroundedPrompt {
  const available = input.contextBudgetTokens - input.answerReserveTokens;
  const system: ChatMessage = {
    role: 'system',
    content: [input.systemPrompt.trim(), GROUNDING_INSTRUCTIONS].filter(Boolean).join('\n\n'),
  };
  const question = fitQuestion(input.question.trim(), system, available);
  const ranked = [...input.passages].sort((a, b) => b.score - a.score);
  const fixed = countMessageTokens([system, { role: 'user', content: finalMessage([], question) }]);
  const room = available - fixed;

  const passageCosts = ranked.map((passage, index) => countTokens(passageBlock(passage, index + 1)) + 2);
  const historyAllowance = Math.max(Math.floor(room * HISTORY_SHARE), room - sum(passageCosts));
  let history = recentHistory(input.history, historyAllowance);
  let passages = topPassages(ranked, passageCosts, room - historyCost(history));

  let messages = render(system, history, passages, question);
  // Tokens of concatenated parts can exceed the sum of the parts by a few: trim until it really fits.
  while (countMessageTokens(messages) > available && (passages.length > 0 || history.length > 0)) {
    if (passages.length > 0) passages = passages.slice(0, -1);
    else history = dropOldest(history);
    messages = render(system, history, passages, question);
  }
  return {
    messages,
    passages,
    question,
    maxTokens: input.answerReserveTokens,
    promptTokens: countMessageTokens(messages),
    dropped: {
      passages: input.passages.length - passages.length,
      historyMessages: input.history.length - history.length,
    },
  };
}

function fitQuestion(question: string, system: ChatMessage, available: number): string {
  const frame = countMessageTokens([system, { role: 'user', content: finalMessage([], '') }]);
  const room = available - frame;
  if (room < MIN_QUESTION_TOKENS) {
    throw new RangeError(
      `The context budget leaves ${room} tokens for the question: raise contextBudgetTokens, or shorten the system prompt or the answer reserve`,
    );
  }
  return countTokens(question) <= room ? question : truncateToTokens(question, room - 1).trimEnd() + '…';
}

/** The newest messages that fit, oldest dropped first; never starting with an assistant turn. */
function recentHistory(history: HistoryMessage[], allowance: number): HistoryMessage[] {
  let used = 0;
  let start = history.length;
  while (start > 0) {
    const cost = countTokens(history[start - 1].content) + TOKENS_PER_MESSAGE;
    if (used + cost > allowance) break;
    used += cost;
    start--;
  }
  const kept = history.slice(start);
  return kept[0]?.role === 'assistant' ? kept.slice(1) : kept;
}

function dropOldest(history: HistoryMessage[]): HistoryMessage[] {
  const rest = history.slice(1);
  return rest[0]?.role === 'assistant' ? rest.slice(1) : rest;
}

/** The best passages that fit; when not even the best fits whole, its beginning. */
function topPassages(ranked: RetrievedPassage[], costs: number[], allowance: number): RetrievedPassage[] {
  const kept: RetrievedPassage[] = [];
  let used = 0;
  for (const [index, passage] of ranked.entries()) {
    if (used + costs[index] > allowance) break;
    used += costs[index];
    kept.push(passage);
  }
  if (kept.length > 0 || ranked.length === 0) return kept;
  const best = ranked[0];
  const overhead = countTokens(passageBlock({ ...best, content: '' }, 1)) + 2;
  const contentRoom = allowance - overhead;
  if (contentRoom < MIN_PASSAGE_TOKENS) return [];
  return [{ ...best, content: `${truncateToTokens(best.content, contentRoom - 1).trimEnd()}…` }];
}

function render(
  system: ChatMessage,
  history: HistoryMessage[],
  passages: RetrievedPassage[],
  question: string,
): ChatMessage[] {
  return [
    system,
    ...history.map((message) => ({ role: message.role, content: message.content })),
    { role: 'user', content: finalMessage(passages, question) },
  ];
}

function finalMessage(passages: RetrievedPassage[], question: string): string {
  const context =
    passages.length > 0
      ? `Knowledge base passages:\n\n${passages.map((passage, index) => passageBlock(passage, index + 1)).join('\n\n')}`
      : 'Knowledge base passages: none matched this question.';
  return `${context}\n\nQuestion: ${question}`;
}

function passageBlock(passage: RetrievedPassage, number: number): string {
  return `[${number}] ${formatSourceLabel(passage)}\n${passage.content.trim()}`;
}

function historyCost(history: HistoryMessage[]): number {
  return sum(history.map((message) => countTokens(message.content) + TOKENS_PER_MESSAGE));
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
