import type { BotPolicyConfig } from '../provider/provider-types.js';
import type { InboundMessage } from './conversation.types.js';

/** A bot's answering policy with every default applied. */
export interface BotPolicy {
  storeId?: string;
  groupReply: 'mention' | 'always';
  groupContext: 'per-user' | 'shared';
  maxQuestionLength: number;
  rateLimitPerMinute: number;
  dailyTokenBudget: number;
}

export function policyOf(config: BotPolicyConfig): BotPolicy {
  return {
    storeId: config.storeId,
    groupReply: config.groupReply ?? 'mention',
    groupContext: config.groupContext ?? 'per-user',
    maxQuestionLength: config.maxQuestionLength ?? 4000,
    rateLimitPerMinute: config.rateLimitPerMinute ?? 20,
    dailyTokenBudget: config.dailyTokenBudget ?? 0,
  };
}

/** Whose history a message joins: the chat, or (groups, per-user context) the chat and the sender. */
export function conversationKeyOf(inbound: InboundMessage, policy: BotPolicy): string {
  return inbound.isGroup && policy.groupContext === 'per-user'
    ? `${inbound.chatKey}:${inbound.senderId}`
    : inbound.chatKey;
}

export type Notice = 'unsupported' | 'too-long' | 'rate-limited' | 'budget-exhausted' | 'empty';

export type GateDecision =
  { action: 'answer' } | { action: 'ignore'; reason: string } | { action: 'notice'; notice: Notice };

/** The checks that need nothing but the message and the policy. */
export function gate(inbound: InboundMessage, policy: BotPolicy): GateDecision {
  if (inbound.senderIsBot) return { action: 'ignore', reason: 'sender is a bot' };
  if (inbound.isGroup && policy.groupReply === 'mention' && !inbound.mentionedBot) {
    return { action: 'ignore', reason: 'not mentioned in a group' };
  }
  if (inbound.unsupportedContent && inbound.text.trim() === '')
    return { action: 'notice', notice: 'unsupported' };
  if (inbound.text.trim() === '') return { action: 'notice', notice: 'empty' };
  if ([...inbound.text].length > policy.maxQuestionLength) return { action: 'notice', notice: 'too-long' };
  return { action: 'answer' };
}

const NOTICES: Record<Notice, { en: string; zh: string }> = {
  unsupported: {
    en: 'Sorry, I can only read text messages for now. Please type your question.',
    zh: '抱歉，我目前只能阅读文字消息，请输入您的问题。',
  },
  empty: { en: 'Please type your question.', zh: '请输入您的问题。' },
  'too-long': {
    en: 'Your message is too long for me. Please shorten it and ask again.',
    zh: '您的消息太长了，请精简后再提问。',
  },
  'rate-limited': {
    en: 'You are sending messages faster than I can answer. Please wait a minute and try again.',
    zh: '您发送消息的速度太快了，请稍等一分钟后再试。',
  },
  'budget-exhausted': {
    en: 'I have reached my usage limit for today. Please try again tomorrow.',
    zh: '今天的使用额度已用完，请明天再试。',
  },
};

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;

/** A polite notice, in Chinese when the user wrote Chinese. */
export function noticeText(notice: Notice, userText: string): string {
  return CJK.test(userText) ? NOTICES[notice].zh : NOTICES[notice].en;
}

export const DEFAULT_FALLBACK = {
  en: 'Sorry, I could not answer that just now. Please try again in a moment.',
  zh: '抱歉，我暂时无法回答这个问题，请稍后再试。',
};

export function fallbackText(configured: string | undefined | null, userText: string): string {
  if (configured && configured.trim()) return configured;
  return CJK.test(userText) ? DEFAULT_FALLBACK.zh : DEFAULT_FALLBACK.en;
}
