import { countTokens as countCl100k } from 'gpt-tokenizer/encoding/cl100k_base';

/**
 * cl100k_base: loads and counts faster than o200k and over-counts CJK a little, which keeps
 * context budgets safe for models with other tokenizers (Qwen, DeepSeek, Llama...).
 */
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** Tokens in `text`; special-token strings such as "<|endoftext|>" in user content count as plain text. */
export function countTokens(text: string): number {
  return text.length === 0 ? 0 : countCl100k(text, PLAIN_TEXT);
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
