import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  parseCometChatCallback,
  parseCometChatReplyTarget,
  toCometChatInboundMessage,
  type CometChatCallbackMessage,
} from './cometchat-callback.parser.js';

/** The sample of cometchat.md. */
const SAMPLE = {
  trigger: 'after_message',
  data: {
    id: '1687',
    muid: '_g9bf2m46t',
    conversationId: 'user1_user_support_bot',
    sender: 'user1',
    receiverType: 'user',
    receiver: 'support_bot',
    category: 'message',
    type: 'text',
    data: {
      text: 'hi',
      entities: {
        sender: { entity: { uid: 'user1', name: 'Ann' }, entityType: 'user' },
        receiver: { entity: { uid: 'support_bot' }, entityType: 'user' },
      },
    },
    sentAt: 1680125130,
    updatedAt: 1680125130,
  },
  appId: '2248348660ad9bd4',
  region: 'eu',
  origin: { platform: 'web' },
  chatAPIVersion: '3.0',
  bot: 'support_bot',
};
const OPTIONS = { botUid: 'support_bot' };

type Sample = typeof SAMPLE;
const withMessage = (changes: Partial<Sample['data']>, top: Partial<Sample> = {}): unknown => ({
  ...SAMPLE,
  ...top,
  data: { ...SAMPLE.data, ...changes },
});
const withText = (text: string, changes: Record<string, unknown> = {}): unknown =>
  withMessage({ data: { ...SAMPLE.data.data, text }, ...changes });
const inGroup = (text: string, changes: Record<string, unknown> = {}): unknown =>
  withText(text, { receiverType: 'group', receiver: 'support-group', ...changes });

describe('parseCometChatCallback', () => {
  it('parses the documented one-to-one sample', () => {
    expect(parseCometChatCallback(SAMPLE, OPTIONS)).toEqual({
      kind: 'message',
      appId: '2248348660ad9bd4',
      messageId: '1687',
      dedupeKey: '2248348660ad9bd4:1687',
      senderUid: 'user1',
      senderName: 'Ann',
      isGroup: false,
      replyTo: { receiver: 'user1', receiverType: 'user' },
      text: 'hi',
      mentionedBot: false,
    });
  });

  it('replies to the group GUID for a group message and strips the bot mention', () => {
    expect(
      parseCometChatCallback(inGroup('<@uid:support_bot> what are your opening hours?'), OPTIONS),
    ).toMatchObject({
      kind: 'message',
      isGroup: true,
      replyTo: { receiver: 'support-group', receiverType: 'group' },
      text: 'what are your opening hours?',
      mentionedBot: true,
    });
  });

  it('removes @all mentions and writes other users as @name, keeping the question readable', () => {
    const body = inGroup('<@all:everyone> <@uid:support_bot>, is <@uid:bob> on call?', {
      mentionedUsers: [
        { uid: 'support_bot', name: 'Support' },
        { uid: 'bob', name: 'Bob' },
      ],
    });
    expect(parseCometChatCallback(body, OPTIONS)).toMatchObject({
      text: 'is @Bob on call?',
      mentionedBot: true,
    });
  });

  it('falls back to the uid when the mentioned user has no known name', () => {
    expect(parseCometChatCallback(inGroup('ask <@uid:carol> first'), OPTIONS)).toMatchObject({
      text: 'ask @carol first',
      mentionedBot: false,
    });
  });

  it('detects the bot in data.mentionedUsers even without markup', () => {
    for (const mentionedUsers of [[{ uid: 'support_bot' }], ['support_bot']]) {
      expect(parseCometChatCallback(inGroup('help please', { mentionedUsers }), OPTIONS)).toMatchObject({
        mentionedBot: true,
      });
    }
  });

  it('keeps line breaks and indentation of the question', () => {
    expect(
      parseCometChatCallback(withText('<@uid:support_bot> why does\n    this fail?'), OPTIONS),
    ).toMatchObject({
      text: 'why does\n    this fail?',
    });
  });

  it('takes the sender from the entities and a numeric id when the flat fields are missing', () => {
    const body = withMessage({ sender: undefined, id: 1687 as unknown as string });
    expect(parseCometChatCallback(body, OPTIONS)).toMatchObject({
      senderUid: 'user1',
      dedupeKey: '2248348660ad9bd4:1687',
    });
  });

  it("drops the bot's own messages", () => {
    expect(
      parseCometChatCallback(withMessage({ sender: 'Support_Bot', receiver: 'user1' }), OPTIONS),
    ).toEqual({
      kind: 'ignored',
      reason: 'own-message',
    });
  });

  it('reports images, files, audio and video as unsupported with the reply context', () => {
    const result = parseCometChatCallback(
      withMessage({ type: 'image', data: { url: 'x' } as never }),
      OPTIONS,
    );
    expect(result).toMatchObject({
      kind: 'ignored',
      reason: 'unsupported',
      messageType: 'image',
      mentionedBot: false,
      context: { dedupeKey: '2248348660ad9bd4:1687', replyTo: { receiver: 'user1', receiverType: 'user' } },
    });
  });

  it('ignores other categories, other triggers and text that is only a mention', () => {
    expect(
      parseCometChatCallback(withMessage({ category: 'action', type: 'groupMember' }), OPTIONS),
    ).toMatchObject({
      reason: 'not-a-message',
    });
    expect(
      parseCometChatCallback(withMessage({ category: 'custom', type: 'location' }), OPTIONS),
    ).toMatchObject({
      reason: 'not-a-message',
    });
    expect(parseCometChatCallback({ ...SAMPLE, trigger: 'before_message' }, OPTIONS)).toEqual({
      kind: 'ignored',
      reason: 'unknown-trigger',
    });
    expect(parseCometChatCallback(inGroup('<@uid:support_bot>  '), OPTIONS)).toMatchObject({
      reason: 'empty-text',
    });
  });

  it('ignores payloads of another app or another bot, and direct messages to someone else', () => {
    expect(parseCometChatCallback(SAMPLE, { ...OPTIONS, appId: 'otherapp' })).toMatchObject({
      reason: 'wrong-app',
    });
    expect(parseCometChatCallback({ ...SAMPLE, bot: 'other_bot' }, OPTIONS)).toMatchObject({
      reason: 'wrong-bot',
    });
    expect(
      parseCometChatCallback(withMessage({ receiver: 'user2' }, { bot: undefined }), OPTIONS),
    ).toMatchObject({
      reason: 'not-for-bot',
    });
  });

  it('uses the configured app id when the payload has none', () => {
    expect(
      parseCometChatCallback({ ...SAMPLE, appId: undefined }, { ...OPTIONS, appId: 'cfg' }),
    ).toMatchObject({
      dedupeKey: 'cfg:1687',
    });
    expect(parseCometChatCallback({ ...SAMPLE, appId: undefined }, OPTIONS)).toMatchObject({
      reason: 'missing-fields',
    });
  });

  it('ignores payloads missing what a reply needs', () => {
    for (const changes of [
      { id: undefined },
      { receiverType: 'broadcast' },
      { receiver: '', data: { text: 'hi' } },
    ]) {
      expect(parseCometChatCallback(withMessage(changes as never), OPTIONS)).toMatchObject({
        reason: 'missing-fields',
      });
    }
    for (const body of [
      null,
      'x',
      [],
      { trigger: 'after_message' },
      { trigger: 'after_message', data: 'x' },
    ]) {
      expect(parseCometChatCallback(body, OPTIONS)).toMatchObject({ kind: 'ignored' });
    }
  });

  it('never throws on arbitrary JSON, and only returns messages with text', () => {
    const message = fc.record(
      {
        id: fc.oneof(fc.string(), fc.nat(), fc.anything()),
        sender: fc.oneof(fc.constantFrom('user1', 'support_bot'), fc.anything()),
        receiver: fc.oneof(fc.constantFrom('support_bot', 'g1'), fc.anything()),
        receiverType: fc.oneof(fc.constantFrom('user', 'group'), fc.anything()),
        category: fc.oneof(fc.constant('message'), fc.anything()),
        type: fc.oneof(fc.constantFrom('text', 'image'), fc.anything()),
        mentionedUsers: fc.anything(),
        data: fc.oneof(fc.record({ text: fc.string() }), fc.anything()),
      },
      { requiredKeys: [] },
    );
    const body = fc.record(
      { trigger: fc.constant('after_message'), appId: fc.string(), data: message },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(body, fc.jsonValue()), (value) => {
        const result = parseCometChatCallback(value, OPTIONS);
        if (result.kind === 'message') expect(result.text.trim()).not.toBe('');
      }),
    );
  });
});

describe('toCometChatInboundMessage', () => {
  it('maps a one-to-one message, keyed and replied to by the sender', () => {
    const message = parseCometChatCallback(SAMPLE, OPTIONS) as CometChatCallbackMessage;
    const inbound = toCometChatInboundMessage(message, 'provider-2', SAMPLE);
    expect(inbound).toEqual({
      botProviderId: 'provider-2',
      platform: 'cometchat',
      platformMessageId: '2248348660ad9bd4:1687',
      chatKey: 'user1',
      isGroup: false,
      senderId: 'user1',
      senderName: 'Ann',
      mentionedBot: false,
      text: 'hi',
      replyTarget: { receiver: 'user1', receiverType: 'user' },
      raw: SAMPLE,
    });
    expect(parseCometChatReplyTarget(JSON.parse(JSON.stringify(inbound.replyTarget)))).toEqual(
      inbound.replyTarget,
    );
  });

  it('maps a group message, keyed by the group', () => {
    const message = parseCometChatCallback(
      inGroup('<@uid:support_bot> hi'),
      OPTIONS,
    ) as CometChatCallbackMessage;
    expect(toCometChatInboundMessage(message, 'p')).toMatchObject({
      chatKey: 'support-group',
      mentionedBot: true,
    });
  });

  it('maps a file as unsupported content with no text, for a polite reply', () => {
    const body = withMessage({
      type: 'file',
      receiverType: 'group',
      receiver: 'g1',
      mentionedUsers: ['support_bot'],
    } as never);
    const result = parseCometChatCallback(body, OPTIONS);
    if (result.kind !== 'ignored' || result.reason !== 'unsupported') throw new Error('expected unsupported');
    expect(toCometChatInboundMessage(result, 'p')).toMatchObject({
      platformMessageId: '2248348660ad9bd4:1687',
      chatKey: 'g1',
      text: '',
      unsupportedContent: 'file',
      mentionedBot: true,
      replyTarget: { receiver: 'g1', receiverType: 'group' },
    });
  });

  it('reads back only well-formed reply targets', () => {
    expect(parseCometChatReplyTarget({ receiver: 'x', receiverType: 'broadcast' })).toBeUndefined();
    expect(parseCometChatReplyTarget({ receiver: '', receiverType: 'user' })).toBeUndefined();
    expect(parseCometChatReplyTarget(null)).toBeUndefined();
  });
});
