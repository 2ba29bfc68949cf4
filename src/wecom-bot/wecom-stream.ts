/**
 * What a WeCom stream shows for an answer, and what goes through response_url instead. Pure functions,
 * shared by the refresh handler and the delivery so both take the same decision from the same snapshot
 * (shared/protocols/wecom-ai-bot.md, "Replies" and "Timing").
 */
import { splitUtf8, truncateUtf8, utf8Length } from '../common/text.js';
import type { AnswerSnapshot } from '../conversation/conversation.types.js';
import { toWeComMarkdown } from './wecom-markdown.js';
import { WECOM_CONTENT_MAX_BYTES } from './wecom-reply.js';

export interface StreamView {
  content: string;
  finish: boolean;
}

export interface StreamRules {
  /** Shown while the answer has no text yet. */
  thinkingText: string;
  /** Seconds after the user's message at which a running answer leaves the stream for response_url. */
  windowSeconds: number;
  now: Date;
}

export type Language = 'en' | 'zh';

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;

const TEXTS = {
  thinking: { en: 'Thinking…', zh: '正在思考…' },
  continuesBelow: { en: '\n\n*(continued in the next message)*', zh: '\n\n*（未完，见下一条消息）*' },
  continued: { en: '*(continued)*\n\n', zh: '*（续）*\n\n' },
  truncated: {
    en: '\n\n*(the answer was too long for WeCom and was cut here)*',
    zh: '\n\n*（回答过长，已截断）*',
  },
  followsLater: {
    en: '\n\n*(This is taking longer than usual: the full answer will follow in a separate message.)*',
    zh: '\n\n*（回答用时较长，完整回答将稍后单独发送。）*',
  },
} as const;

export function languageOf(text: string): Language {
  return CJK.test(text) ? 'zh' : 'en';
}

/** The bot's configured thinking text, or the default in the user's language. */
export function thinkingTextFor(configured: string | undefined, language: Language): string {
  return configured?.trim() ? configured : TEXTS.thinking[language];
}

/** True once an answer has outlived the stream window counted from the user's message. */
export function streamWindowPassed(receivedAt: Date, now: Date, windowSeconds: number): boolean {
  return now.getTime() - receivedAt.getTime() >= windowSeconds * 1000;
}

/**
 * A finished answer that does not fit one WeCom message (20480 bytes), split in two: `head` (cut at a
 * paragraph, line or sentence break, with a "continued" note) for the stream, `rest` for response_url.
 * `rest` is undefined when the answer fits.
 */
export function splitOverflow(markdown: string): { head: string; rest?: string } {
  if (utf8Length(markdown) <= WECOM_CONTENT_MAX_BYTES) return { head: markdown };
  const language = languageOf(markdown);
  const note = TEXTS.continuesBelow[language];
  const head = splitUtf8(markdown, WECOM_CONTENT_MAX_BYTES - utf8Length(note))[0] ?? '';
  const remainder = markdown.slice(head.length).replace(/^\s+/, '');
  return { head: head + note, rest: fitWithNote(TEXTS.continued[language] + remainder, language) };
}

/** `markdown` if it fits one WeCom message, else cut on a character boundary with a "cut here" note. */
export function fitWithNote(markdown: string, language: Language = languageOf(markdown)): string {
  if (utf8Length(markdown) <= WECOM_CONTENT_MAX_BYTES) return markdown;
  const note = TEXTS.truncated[language];
  return truncateUtf8(markdown, WECOM_CONTENT_MAX_BYTES - utf8Length(note)) + note;
}

/**
 * The stream reply for an answer: its text so far (never a delta); `finish` once it is done, or once the
 * window has passed — then with a note that the full answer follows through response_url.
 * An unknown answer finishes at once with empty content.
 */
export function streamView(snapshot: AnswerSnapshot | undefined, rules: StreamRules): StreamView {
  if (!snapshot) return { content: '', finish: true };
  const markdown = toWeComMarkdown(snapshot.content);
  if (snapshot.finished) return { content: splitOverflow(markdown).head, finish: true };
  if (streamWindowPassed(snapshot.receivedAt, rules.now, rules.windowSeconds)) {
    const note = TEXTS.followsLater[languageOf(markdown || rules.thinkingText)];
    const shown = truncateUtf8(markdown, WECOM_CONTENT_MAX_BYTES - utf8Length(note)).trimEnd();
    return { content: shown + note, finish: true };
  }
  return {
    content: markdown.trim() ? truncateUtf8(markdown, WECOM_CONTENT_MAX_BYTES) : rules.thinkingText,
    finish: false,
  };
}

/**
 * What the delivery must send through response_url once the answer is final, or undefined when the
 * stream showed all of it:
 * - the answer outlived the stream window: the stream ended with a "follows" note → the whole answer;
 * - the answer overflowed 20480 bytes: the stream showed the head → the rest.
 */
export function responseUrlContent(
  snapshot: AnswerSnapshot,
  rules: Pick<StreamRules, 'windowSeconds' | 'now'>,
): { content: string; reason: 'window' | 'overflow' } | undefined {
  const markdown = toWeComMarkdown(snapshot.content);
  // Judge by when the answer finished, not when delivery runs: a refresh before the window showed it whole.
  if (streamWindowPassed(snapshot.receivedAt, snapshot.finishedAt ?? rules.now, rules.windowSeconds)) {
    return markdown.trim() ? { content: fitWithNote(markdown), reason: 'window' } : undefined;
  }
  const { rest } = splitOverflow(markdown);
  return rest ? { content: rest, reason: 'overflow' } : undefined;
}
