import type { InboundMessage } from './conversation.types.js';
import { conversationKeyOf, fallbackText, gate, noticeText, policyOf } from './bot-policy.js';

const message = (overrides: Partial<InboundMessage> = {}): InboundMessage => ({
  botProviderId: 'bot',
  platform: 'cometchat',
  platformMessageId: 'm1',
  chatKey: 'group-1',
  isGroup: false,
  senderId: 'ann',
  mentionedBot: false,
  text: 'hello',
  replyTarget: {},
  ...overrides,
});

describe('bot policy', () => {
  const defaults = policyOf({});

  it('defaults to answering groups only when mentioned, with per-user context', () => {
    expect(defaults).toMatchObject({
      groupReply: 'mention',
      groupContext: 'per-user',
      rateLimitPerMinute: 20,
    });
  });

  it('ignores a group message without a mention, unless the bot answers everything', () => {
    expect(gate(message({ isGroup: true }), defaults)).toEqual({
      action: 'ignore',
      reason: 'not mentioned in a group',
    });
    expect(gate(message({ isGroup: true }), policyOf({ groupReply: 'always' }))).toEqual({
      action: 'answer',
    });
    expect(gate(message({ isGroup: true, mentionedBot: true }), defaults)).toEqual({ action: 'answer' });
  });

  it('never answers a bot', () => {
    expect(gate(message({ senderIsBot: true }), policyOf({ groupReply: 'always' })).action).toBe('ignore');
  });

  it('replies politely to images, empty and overlong messages', () => {
    expect(gate(message({ text: '', unsupportedContent: 'image' }), defaults)).toEqual({
      action: 'notice',
      notice: 'unsupported',
    });
    expect(gate(message({ text: '   ' }), defaults)).toEqual({ action: 'notice', notice: 'empty' });
    expect(gate(message({ text: 'x'.repeat(11) }), policyOf({ maxQuestionLength: 10 }))).toEqual({
      action: 'notice',
      notice: 'too-long',
    });
  });

  it('keys group history per member or per group', () => {
    const inGroup = message({ isGroup: true, chatKey: 'g', senderId: 'amy' });
    expect(conversationKeyOf(inGroup, defaults)).toBe('g:amy');
    expect(conversationKeyOf(inGroup, policyOf({ groupContext: 'shared' }))).toBe('g');
    expect(conversationKeyOf(message({ chatKey: 'amy', senderId: 'amy' }), defaults)).toBe('amy');
  });

  it('speaks the user’s language in notices and fallbacks', () => {
    expect(noticeText('rate-limited', '退款政策是什么')).toMatch(/太快/);
    expect(noticeText('rate-limited', 'refund policy?')).toMatch(/wait a minute/);
    expect(fallbackText(undefined, '你好')).toMatch(/抱歉/);
    expect(fallbackText('Custom sorry', '你好')).toBe('Custom sorry');
  });
});
