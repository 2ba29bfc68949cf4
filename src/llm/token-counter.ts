import { createRequire } from 'node:module';
import type * as Cl100k from 'gpt-tokenizer/encoding/cl100k_base';

/**
 * cl100k_base: loads and counts faster than o200k and over-counts CJK a little, which keeps
 * context budgets safe for models with other tokenizers (Qwen, DeepSeek, Llama...).
 * Loaded on first use: its tables take ~40 MB, and a webhook-only process (ROLE=api) never counts tokens.
 */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };
let encoding: typeof Cl100k | undefined;

function cl100k(): typeof Cl100k {
  encoding ??= createRequire(import.meta.url)('gpt-tokenizer/cjs/encoding/cl100k_base') as typeof Cl100k;
  return encoding;
}

/**
 * Loads the tables now (~200 ms of one blocked thread, measured 186 ms on an idle machine): a process that
 * answers calls this at start, so its first answer does not pay for it.
 */
export function loadTokenizer(): void {
  cl100k();
}

/** Tokens in `text`; special-token strings such as "<|endoftext|>" in user content count as plain text. */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : cl100k().countTokens(text, PLAIN_TEXT);
}

/** Chat framing overhead per message and per reply, as OpenAI documents for its chat models. */
const TOKENS_PER_MESSAGE = 4;
const TOKENS_PER_REPLY = 3;

export function countMessageTokens(messages: readonly { role?: string; content: string }[]): number {
  if (messages.length === 0) return 0;
  return (
    messages.reduce((sum, message) => sum + TOKENS_PER_MESSAGE + countTokens(message.content), 0) +
    TOKENS_PER_REPLY
  );
}

/** The longest prefix of `text` (whole code points) that fits in `maxTokens`. */
export function truncateToTokens(text: string, maxTokens: number): string {
  if (maxTokens <= 0) return '';
  if (countTokens(text) <= maxTokens) return text;
  const points = Array.from(text);
  let low = 0;
  let high = points.length;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (countTokens(points.slice(0, middle).join('')) <= maxTokens) low = middle;
    else high = middle - 1;
  }
  return points.slice(0, low).join('');
}
