import { ValidationFailedError } from '../common/errors.js';
import { sanitizeInbound } from './conversation.service.js';
import type { InboundMessage } from './conversation.types.js';

const message = (overrides: Partial<InboundMessage> = {}): InboundMessage => ({
  botProviderId: 'bot',
  platform: 'cometchat',
  platformMessageId: 'm1',
  chatKey: 'c1',
  isGroup: false,
  senderId: 'u1',
  mentionedBot: false,
  text: 'hello',
  replyTarget: {},
  ...overrides,
});

describe('sanitizeInbound', () => {
  it('removes what Postgres cannot store from text and raw payloads', () => {
    const clean = sanitizeInbound(
      message({ text: 'a\u0000b\ud800c', senderName: 'x\u0000y', raw: { 'k\u0000': ['v\u0000', 1, null] } }),
    );
    expect(clean.text).toBe('ab\ufffdc');
    expect(clean.senderName).toBe('xy');
    expect(clean.raw).toEqual({ k: ['v', 1, null] });
  });

  it('refuses an id longer than its column as bad input', () => {
    expect(() => sanitizeInbound(message({ platformMessageId: 'x'.repeat(201) }))).toThrow(
      ValidationFailedError,
    );
    expect(() => sanitizeInbound(message({ senderId: '' }))).toThrow(ValidationFailedError);
  });
});
