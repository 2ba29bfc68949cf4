import { ValidationFailedError } from '../common/errors.js';
import { policyOf } from './bot-policy.js';
import { type AcceptItem, planBatch, sanitizeInbound } from './conversation.service.js';
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

const policy = policyOf({ rateLimitPerMinute: 3 });
const item = (overrides: Partial<InboundMessage>): AcceptItem => ({
  inbound: message(overrides),
  policy,
  gateNotice: undefined,
});

describe('planBatch', () => {
  it('stores a message delivered twice in one batch once, and points the repeat at it', () => {
    const plan = planBatch([
      item({ platformMessageId: 'a' }),
      item({ platformMessageId: 'b' }),
      item({ platformMessageId: 'a' }),
    ]);
    expect(plan.rows.map((row) => row.platform_message_id)).toEqual(['a', 'b']);
    expect(plan.sources).toEqual([
      { index: 0, repeat: false },
      { index: 1, repeat: false },
      { index: 0, repeat: true },
    ]);
    expect(plan.chats).toEqual([
      expect.objectContaining({ chat_key: 'c1', message_count: 2, senders: [{ id: 'u1', name: null }] }),
    ]);
  });

  it('counts a sender’s earlier messages in the batch towards the rate limit, per bot', () => {
    const plan = planBatch([
      item({ platformMessageId: '1', senderId: 'ann' }),
      item({ platformMessageId: '2', senderId: 'bob' }),
      item({ platformMessageId: '3', senderId: 'ann' }),
      item({ platformMessageId: '4', senderId: 'ann', botProviderId: 'other-bot' }),
      item({ platformMessageId: '5', senderId: 'ann' }),
    ]);
    expect(plan.rows.map((row) => row.earlier_from_sender)).toEqual([0, 0, 1, 0, 2]);
    expect(plan.rows.every((row) => row.rate_limit === 3)).toBe(true);
  });

  it('upserts each chat once with its messages and distinct senders', () => {
    const plan = planBatch([
      item({ platformMessageId: '1', chatKey: 'g', isGroup: true, senderId: 'ann', senderName: 'Ann' }),
      item({ platformMessageId: '2', chatKey: 'g', isGroup: true, senderId: 'bob' }),
      item({ platformMessageId: '3', chatKey: 'g', isGroup: true, senderId: 'ann', senderName: 'Ann' }),
      item({ platformMessageId: '4', chatKey: 'h' }),
    ]);
    expect(plan.chats).toEqual([
      {
        id: expect.any(String),
        bot_provider_id: 'bot',
        platform: 'cometchat',
        chat_key: 'g',
        is_group: true,
        senders: [
          { id: 'ann', name: 'Ann' },
          { id: 'bob', name: null },
        ],
        message_count: 3,
      },
      expect.objectContaining({ chat_key: 'h', message_count: 1 }),
    ]);
    expect(plan.rows.map((row) => row.conversation_key)).toEqual(['g:ann', 'g:bob', 'g:ann', 'h']);
  });

  it('gives new rows ids that grow in the order they are made (UUIDv7), so inserts stay at the index edge', () => {
    const plan = planBatch([1, 2, 3].map((n) => item({ platformMessageId: `m${n}`, chatKey: `c${n}` })));
    const ids = plan.rows.flatMap((row) => [row.question_id, row.answer_id]);
    expect(
      ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(id)),
    ).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set([...ids, ...plan.chats.map((chat) => chat.id)]).size).toBe(9);
  });
});

describe('sanitizeInbound on clean input', () => {
  it('keeps clean payloads as they are, and copies only what it cleans', () => {
    const raw = { data: { text: 'fine', tags: ['a', 'b'], nested: [{ ok: true }] } };
    expect(sanitizeInbound(message({ raw })).raw).toBe(raw);
    const dirty = { keep: raw.data, fix: ['x', 'y\u0000'] };
    const cleaned = sanitizeInbound(message({ raw: dirty })).raw as typeof dirty;
    expect(cleaned).toEqual({ keep: raw.data, fix: ['x', 'y'] });
    expect(cleaned.keep).toBe(raw.data);
    expect(dirty.fix[1]).toBe('y\u0000');
  });

  it('leaves well-formed surrogate pairs (emoji) alone', () => {
    expect(sanitizeInbound(message({ text: 'ok 👍' })).text).toBe('ok 👍');
  });
});
