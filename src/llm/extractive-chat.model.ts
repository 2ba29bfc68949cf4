import { formatSourceLabel, type RetrievedPassage } from '../store/retrieval/retrieval.types.js';
import type { ChatModel, ChatRequest, ChatStreamEvent, ConnectionTestResult } from './chat-model.port.js';
import { cancelledError } from './llm-error.js';
import { countMessageTokens, countTokens, truncateToTokens } from './token-counter.js';

export interface ExtractiveChatConfig {
  /** Passages quoted at most (default 3). */
  maxPassages?: number;
  /** Length of the whole answer (default 350 tokens). */
  maxAnswerTokens?: number;
  /** Said when no passage matched; a request's `notFoundText` wins. */
  notFoundText?: string;
}

export const NOT_FOUND_EN = 'I could not find this in the knowledge base.';
export const NOT_FOUND_ZH = '抱歉，知识库中没有找到相关内容。';
const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const PIECE_CODE_POINTS = 80;
/** A passage shorter than this is not worth quoting once the budget is nearly spent. */
const MIN_QUOTE_TOKENS = 24;

/** Answers without an LLM: quotes the best retrieved passages with their sources, so a store works with no API key. */
export class ExtractiveChatModel implements ChatModel {
  private readonly maxPassages: number;
  private readonly maxAnswerTokens: number;

  constructor(private readonly config: ExtractiveChatConfig = {}) {
    this.maxPassages = Math.max(1, config.maxPassages ?? 3);
    this.maxAnswerTokens = Math.max(MIN_QUOTE_TOKENS * 2, config.maxAnswerTokens ?? 350);
  }

  async *stream(request: ChatRequest, signal?: AbortSignal): AsyncGenerator<ChatStreamEvent> {
    const started = performance.now();
    const answer = this.compose(request);
    let firstTokenMs: number | undefined;
    for (const piece of pieces(answer)) {
      if (signal?.aborted) throw cancelledError('Extractive answer');
      firstTokenMs ??= Math.round(performance.now() - started);
      yield { type: 'token', text: piece };
      // Let the consumer (and an abort) run between pieces, as with a real stream.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    if (signal?.aborted) throw cancelledError('Extractive answer');
    yield {
      type: 'done',
      usage: { promptTokens: promptTokensOf(request), completionTokens: countTokens(answer) },
      latencyMs: Math.round(performance.now() - started),
      firstTokenMs,
      finishReason: 'stop',
    };
  }

  async testConnection(): Promise<ConnectionTestResult> {
    return { ok: true, latencyMs: 0, message: 'The extractive model needs no connection.' };
  }

  private compose(request: ChatRequest): string {
    const passages = bestPassages(request.passages ?? [], this.maxPassages);
    const blocks: string[] = [];
    let budget = this.maxAnswerTokens;
    for (const passage of passages) {
      const heading = `**${formatSourceLabel(passage)}**\n`;
      const room = budget - countTokens(heading) - 2;
      if (room < MIN_QUOTE_TOKENS) break;
      const quote = quoteWithin(passage.content.trim(), room);
      blocks.push(`${heading}${quote}`);
      budget -= countTokens(heading) + countTokens(quote) + 2;
    }
    if (blocks.length > 0) return blocks.join('\n\n');
    return request.notFoundText ?? this.config.notFoundText ?? defaultNotFound(request);
  }
}

function bestPassages(passages: RetrievedPassage[], limit: number): RetrievedPassage[] {
  const seen = new Set<string>();
  return [...passages]
    .filter((passage) => passage.content.trim().length > 0)
    .sort((a, b) => b.score - a.score)
    .filter((passage) => {
      const key = passage.content.replace(/\s+/g, ' ').trim();
      if (seen.has(passage.chunkId) || seen.has(key)) return false;
      seen.add(passage.chunkId).add(key);
      return true;
    })
    .slice(0, limit);
}

/** The passage, or its beginning cut at a sentence end (else a space) and marked with "…". */
function quoteWithin(content: string, maxTokens: number): string {
  if (countTokens(content) <= maxTokens) return content;
  const prefix = truncateToTokens(content, maxTokens - 1);
  const minimum = Math.floor(prefix.length / 2);
  let cut = -1;
  for (const match of prefix.matchAll(/[.!?。！？](?=\s|$)|[。！？]/gu)) cut = match.index + match[0].length;
  if (cut < minimum) cut = prefix.search(/\s\S*$/);
  const kept = cut >= minimum ? prefix.slice(0, cut) : prefix;
  return `${kept.trimEnd()} …`;
}

function* pieces(answer: string): Generator<string> {
  for (const line of answer.split(/(?<=\n)/)) {
    const points = Array.from(line);
    for (let start = 0; start < points.length; start += PIECE_CODE_POINTS) {
      yield points.slice(start, start + PIECE_CODE_POINTS).join('');
    }
  }
}

function promptTokensOf(request: ChatRequest): number {
  return request.messages.length > 0
    ? countMessageTokens(request.messages)
    : countTokens(request.question ?? '');
}

function defaultNotFound(request: ChatRequest): string {
  const question =
    request.question ?? request.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
  return CJK.test(question) ? NOT_FOUND_ZH : NOT_FOUND_EN;
}
