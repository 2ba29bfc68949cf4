import fc from 'fast-check';
import { parseWeComMessage, WeComPayloadError, type WeComCallback } from './wecom-message.parser.js';

// The sample from shared/protocols/wecom-ai-bot.md ("Decrypted inbound JSON").
const PROTOCOL_SAMPLE = JSON.stringify({
  msgid: 'CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=',
  aibotid: 'AIBOTID',
  chatid: 'CHATID',
  chattype: 'group',
  from: { userid: 'USERID' },
  response_url: 'https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=...',
  msgtype: 'text',
  text: { content: '@RobotA hello robot' },
  quote: { msgtype: 'text', text: { content: 'quoted text' } },
});

const single = (fields: Record<string, unknown>): string =>
  JSON.stringify({
    msgid: 'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6',
    aibotid: 'AIBOT',
    chattype: 'single',
    from: { userid: 'zhangsan' },
    response_url: 'https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=x',
    ...fields,
  });

const group = (text: string): string =>
  JSON.stringify({
    msgid: 'm1',
    aibotid: 'AIBOT',
    chatid: 'wrkSFfCgAAxxx',
    chattype: 'group',
    from: { userid: 'lisi' },
    msgtype: 'text',
    text: { content: text },
  });

const event = (eventtype: string, detail?: unknown): string =>
  JSON.stringify({
    msgid: 'e1',
    create_time: 1700000000,
    aibotid: 'AIBOT',
    from: { corpid: 'wpxxxx', userid: 'wangwu' },
    msgtype: 'event',
    event: { eventtype, ...(detail === undefined ? {} : { [eventtype]: detail }) },
  });

function messageOf(callback: WeComCallback) {
  if (callback.kind !== 'message') throw new Error(`expected a message, got ${callback.kind}`);
  return callback;
}

function eventOf(callback: WeComCallback) {
  if (callback.kind !== 'event') throw new Error(`expected an event, got ${callback.kind}`);
  return callback;
}

function thrown(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('did not throw');
}

describe('parseWeComMessage', () => {
  describe('text messages', () => {
    it('parses the protocol sample: mention stripped, quote kept as context', () => {
      expect(parseWeComMessage(PROTOCOL_SAMPLE)).toEqual({
        kind: 'message',
        msgId: 'CAIQ16HMjQYY/NGagIOAgAMgq4KM0AI=',
        botId: 'AIBOTID',
        chatType: 'group',
        chatId: 'CHATID',
        userId: 'USERID',
        responseUrl: 'https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=...',
        msgType: 'text',
        text: 'hello robot',
        quotedText: 'quoted text',
      });
    });

    it('parses a single-chat text message without touching @ signs', () => {
      const parsed = messageOf(
        parseWeComMessage(single({ msgtype: 'text', text: { content: ' @home is where? ' } })),
      );
      expect(parsed).toMatchObject({ chatType: 'single', userId: 'zhangsan', text: '@home is where?' });
      expect(parsed.chatId).toBeUndefined();
      expect(parsed.unsupported).toBeUndefined();
    });

    it('keeps a 32-hex msgid as an opaque string', () => {
      expect(parseWeComMessage(single({ msgtype: 'text', text: { content: 'hi' } })).msgId).toBe(
        'a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6',
      );
    });

    it('gives an empty text when text.content is missing', () => {
      expect(messageOf(parseWeComMessage(single({ msgtype: 'text' }))).text).toBe('');
    });
  });

  describe('mentions in groups', () => {
    it.each([
      ['a leading mention and an ASCII space', '@RobotA hello robot', 'hello robot'],
      ['the U+2005 space WeCom puts after mentions', '@RobotA\u2005hello', 'hello'],
      ['a full-width space', '@智能助手\u3000报销流程是什么？', '报销流程是什么？'],
      ['an embedded mention', 'please @RobotA summarise this', 'please summarise this'],
      ['a trailing mention', '报销流程是什么？ @RobotA', '报销流程是什么？'],
      ['a mention alone', '@RobotA', ''],
      ['a mention followed by a newline', '@RobotA\nline one\nline two', 'line one\nline two'],
    ])('strips %s', (_label, text, expected) => {
      expect(messageOf(parseWeComMessage(group(text))).text).toBe(expected);
    });

    it('strips only the first mention when the bot name is unknown', () => {
      expect(messageOf(parseWeComMessage(group('@RobotA ask @Alice about it'))).text).toBe(
        'ask @Alice about it',
      );
    });

    it('does not take an e-mail address for a mention', () => {
      expect(messageOf(parseWeComMessage(group('mail a@b.com @RobotA now'))).text).toBe('mail a@b.com now');
    });

    it('strips exactly the configured bot name, even with a space in it', () => {
      const parsed = parseWeComMessage(group('@Alice, @HR Bot what is the policy?'), { botName: 'HR Bot' });
      expect(messageOf(parsed).text).toBe('@Alice, what is the policy?');
    });

    it('falls back to the first mention when the configured name is absent', () => {
      const parsed = parseWeComMessage(group('@HRBot what is the policy?'), { botName: 'HR Bot' });
      expect(messageOf(parsed).text).toBe('what is the policy?');
    });

    it('treats a payload with a chatid but no chattype as a group', () => {
      const json = JSON.stringify({ ...JSON.parse(group('@Bot hi')), chattype: undefined });
      expect(messageOf(parseWeComMessage(json))).toMatchObject({ chatType: 'group', text: 'hi' });
    });
  });

  describe('mixed messages', () => {
    const items = [
      { msgtype: 'text', text: { content: 'what is in' } },
      { msgtype: 'image', image: { url: 'https://example.com/a' } },
      { msgtype: 'text', text: { content: 'this picture?' } },
    ];

    it('joins the text items and flags the image as unsupported', () => {
      const parsed = messageOf(parseWeComMessage(single({ msgtype: 'mixed', mixed: { msg_item: items } })));
      expect(parsed).toMatchObject({
        msgType: 'mixed',
        text: 'what is in\nthis picture?',
        unsupported: 'image',
      });
    });

    it('accepts mixed given as a JSON string', () => {
      const json = single({ msgtype: 'mixed', mixed: JSON.stringify({ msg_item: items }) });
      expect(messageOf(parseWeComMessage(json)).text).toBe('what is in\nthis picture?');
    });

    it('accepts msg_item given as a JSON string', () => {
      const json = single({ msgtype: 'mixed', mixed: { msg_item: JSON.stringify(items) } });
      expect(messageOf(parseWeComMessage(json)).text).toBe('what is in\nthis picture?');
    });

    it('strips the mention from the first text item in a group', () => {
      const json = JSON.stringify({
        ...JSON.parse(group('')),
        msgtype: 'mixed',
        mixed: { msg_item: [{ msgtype: 'text', text: { content: '@RobotA 看看这张图' } }, items[1]] },
      });
      expect(messageOf(parseWeComMessage(json))).toMatchObject({ text: '看看这张图', unsupported: 'image' });
    });

    it('throws a WeComPayloadError for mixed given as a string that is not JSON', () => {
      const error = thrown(() => parseWeComMessage(single({ msgtype: 'mixed', mixed: '{not json' })));
      expect(error).toBeInstanceOf(WeComPayloadError);
      expect((error as WeComPayloadError).field).toBe('mixed');
    });

    it('ignores malformed items', () => {
      const json = single({
        msgtype: 'mixed',
        mixed: { msg_item: [null, 7, { msgtype: 'text' }, items[0]] },
      });
      expect(messageOf(parseWeComMessage(json)).text).toBe('what is in');
    });
  });

  describe('other message types', () => {
    it('reads a voice message, already transcribed by WeCom', () => {
      const parsed = messageOf(
        parseWeComMessage(single({ msgtype: 'voice', voice: { content: '明天几点开会' } })),
      );
      expect(parsed).toMatchObject({ msgType: 'voice', text: '明天几点开会' });
      expect(parsed.unsupported).toBeUndefined();
    });

    it.each([
      ['image', { image: { url: 'https://example.com/i' } }],
      ['file', { file: { url: 'https://example.com/f' } }],
      ['video', { video: { url: 'https://example.com/v' } }],
    ])('flags %s as unsupported with an empty text', (msgtype, fields) => {
      const parsed = messageOf(parseWeComMessage(single({ msgtype, ...fields })));
      expect(parsed).toMatchObject({ msgType: msgtype, text: '', unsupported: msgtype });
    });

    it('flags an unknown msgtype as unsupported without failing', () => {
      expect(messageOf(parseWeComMessage(single({ msgtype: 'location' })))).toMatchObject({
        msgType: 'location',
        text: '',
        unsupported: 'unknown',
      });
    });

    it('does not mistake an inherited property name for a msgtype', () => {
      expect(messageOf(parseWeComMessage(single({ msgtype: 'constructor' }))).unsupported).toBe('unknown');
    });
  });

  describe('quotes', () => {
    it.each([
      ['text', { msgtype: 'text', text: { content: 'the old answer' } }, 'the old answer'],
      ['voice', { msgtype: 'voice', voice: { content: 'spoken words' } }, 'spoken words'],
      [
        'mixed',
        { msgtype: 'mixed', mixed: { msg_item: [{ msgtype: 'text', text: { content: 'caption' } }] } },
        'caption',
      ],
    ])('keeps the text of a quoted %s message as context', (_label, quote, expected) => {
      const parsed = messageOf(
        parseWeComMessage(single({ msgtype: 'text', text: { content: 'why?' }, quote })),
      );
      expect(parsed).toMatchObject({ text: 'why?', quotedText: expected });
    });

    it('has no quoted text for a quoted image', () => {
      const quote = { msgtype: 'image', image: { url: 'https://example.com/i' } };
      const parsed = messageOf(
        parseWeComMessage(single({ msgtype: 'text', text: { content: 'and?' }, quote })),
      );
      expect(parsed.quotedText).toBeUndefined();
      expect(parsed.unsupported).toBeUndefined();
    });
  });

  describe('stream refreshes', () => {
    it('parses a refresh with its stream id', () => {
      const json = JSON.stringify({
        msgid: 'r1',
        aibotid: 'AIBOT',
        chatid: 'CHAT',
        chattype: 'group',
        from: { userid: 'lisi' },
        msgtype: 'stream',
        stream: { id: 'STREAMID' },
      });
      expect(parseWeComMessage(json)).toEqual({
        kind: 'stream-refresh',
        msgId: 'r1',
        botId: 'AIBOT',
        userId: 'lisi',
        chatType: 'group',
        chatId: 'CHAT',
        streamId: 'STREAMID',
      });
    });

    it('names stream.id when it is missing', () => {
      expect(() => parseWeComMessage(single({ msgtype: 'stream', stream: {} }))).toThrow('stream.id');
    });
  });

  describe('events', () => {
    it('reads event.eventtype, not event, for enter_chat', () => {
      expect(parseWeComMessage(event('enter_chat', {}))).toEqual({
        kind: 'event',
        msgId: 'e1',
        botId: 'AIBOT',
        userId: 'wangwu',
        eventType: 'enter_chat',
        detail: {},
      });
    });

    it('parses an event without the object named after it', () => {
      expect(eventOf(parseWeComMessage(event('enter_chat')))).toMatchObject({ eventType: 'enter_chat' });
    });

    it.each([
      [1, 'accurate'],
      [2, 'inaccurate'],
      [3, 'cancelled'],
    ])('maps feedback type %s to %s', (type, expected) => {
      const parsed = eventOf(parseWeComMessage(event('feedback_event', { id: 'FB1', type })));
      expect(parsed.feedback).toEqual({ id: 'FB1', type: expected });
    });

    it('keeps the reasons and comment of an inaccurate answer', () => {
      const detail = { id: 'FB1', type: 2, content: ' 答非所问 ', inaccurate_reason_list: [2, 4] };
      expect(eventOf(parseWeComMessage(event('feedback_event', detail))).feedback).toEqual({
        id: 'FB1',
        type: 'inaccurate',
        reasons: ['2', '4'],
        comment: '答非所问',
      });
    });

    it('reads reasons given under other names and shapes', () => {
      const detail = {
        id: 'FB1',
        type: '2',
        inaccurate_reasons: ['outdated', { reason: 'wrong link' }, { id: 7 }, null, ''],
        reason_list: 'too long',
      };
      expect(eventOf(parseWeComMessage(event('feedback_event', detail))).feedback?.reasons).toEqual([
        'outdated',
        'wrong link',
        '7',
        'too long',
      ]);
    });

    it('omits feedback with an unknown type or no id, keeping the raw detail', () => {
      const unknownType = eventOf(parseWeComMessage(event('feedback_event', { id: 'FB1', type: 9 })));
      expect(unknownType.feedback).toBeUndefined();
      expect(unknownType.detail).toEqual({ id: 'FB1', type: 9 });
      expect(eventOf(parseWeComMessage(event('feedback_event', { type: 1 }))).feedback).toBeUndefined();
    });

    it('keeps a template card event detail as sent', () => {
      const detail = { card_type: 'button_interaction', event_key: 'yes', task_id: 'T1' };
      expect(eventOf(parseWeComMessage(event('template_card_event', detail))).detail).toEqual(detail);
    });

    it('keeps chat fields when an event carries them', () => {
      const json = JSON.stringify({
        ...JSON.parse(event('enter_chat', {})),
        chattype: 'single',
        chatid: 'C',
      });
      expect(eventOf(parseWeComMessage(json))).toMatchObject({ chatType: 'single', chatId: 'C' });
    });

    it('throws for an event given as a bare string', () => {
      const json = JSON.stringify({ ...JSON.parse(event('enter_chat')), event: 'enter_chat' });
      expect(() => parseWeComMessage(json)).toThrow('event.eventtype');
    });

    it('does not read an inherited property as the event detail', () => {
      expect(eventOf(parseWeComMessage(event('__proto__'))).detail).toBeUndefined();
    });
  });

  describe('malformed payloads', () => {
    it.each([
      ['msgid', { msgid: undefined }],
      ['msgtype', { msgtype: undefined }],
      ['aibotid', { aibotid: 42 }],
      ['from.userid', { from: {} }],
      ['from.userid', { from: 'zhangsan' }],
    ])('names the missing field %s', (field, override) => {
      const json = JSON.stringify({
        ...JSON.parse(single({ msgtype: 'text', text: { content: 'x' } })),
        ...override,
      });
      const error = thrown(() => parseWeComMessage(json));
      expect(error).toBeInstanceOf(WeComPayloadError);
      expect((error as WeComPayloadError).field).toBe(field);
      expect((error as Error).message).toContain(`"${field}"`);
    });

    it.each([
      ['invalid JSON', '{"msgid":'],
      ['a JSON array', '[]'],
      ['JSON null', 'null'],
      ['a JSON string', '"hello"'],
      ['an empty string', ''],
    ])('throws a WeComPayloadError for %s', (_label, json) => {
      expect(thrown(() => parseWeComMessage(json))).toBeInstanceOf(WeComPayloadError);
    });

    it('throws a WeComPayloadError for a non-string at runtime', () => {
      expect(thrown(() => parseWeComMessage(undefined as unknown as string))).toBeInstanceOf(
        WeComPayloadError,
      );
    });
  });

  describe('properties', () => {
    const onlyPayloadErrors = (json: string) => {
      try {
        parseWeComMessage(json, { botName: 'Bot' });
      } catch (error) {
        if (!(error instanceof WeComPayloadError)) throw error;
      }
    };
    const scalar = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
    const field = fc.oneof(scalar, fc.jsonValue({ maxDepth: 3 }), fc.dictionary(fc.string(), scalar));
    const msgtype = fc.constantFrom(
      'text',
      'mixed',
      'voice',
      'image',
      'file',
      'stream',
      'event',
      'x',
      'toString',
    );
    const nearlyValid = fc
      .record({
        msgid: fc.oneof(fc.string(), scalar),
        aibotid: fc.oneof(fc.constant('AIBOT'), scalar),
        chattype: fc.oneof(fc.constantFrom('single', 'group'), scalar),
        chatid: field,
        from: fc.oneof(fc.record({ userid: fc.oneof(fc.string(), scalar) }), field),
        msgtype: fc.oneof(msgtype, scalar),
        text: field,
        mixed: fc.oneof(field, fc.json(), fc.array(fc.record({ msgtype, text: field }))),
        voice: field,
        quote: fc.oneof(field, fc.record({ msgtype, text: field, mixed: field })),
        stream: field,
        event: fc.oneof(
          field,
          fc.record({
            eventtype: fc.oneof(fc.constantFrom('feedback_event', 'valueOf', '__proto__'), scalar),
            feedback_event: fc.oneof(
              field,
              fc.record({ id: field, type: field, content: field, inaccurate_reason_list: field }),
            ),
          }),
        ),
      })
      .map((value) => JSON.stringify(value));

    it('only ever throws WeComPayloadError for arbitrary strings', () => {
      fc.assert(fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' })), onlyPayloadErrors), {
        numRuns: 500,
      });
    });

    it('only ever throws WeComPayloadError for arbitrary JSON', () => {
      fc.assert(fc.property(fc.json(), onlyPayloadErrors), { numRuns: 500 });
    });

    it('only ever throws WeComPayloadError for nearly valid payloads with wrong types', () => {
      fc.assert(fc.property(nearlyValid, onlyPayloadErrors), { numRuns: 1000 });
    });

    it('always returns a text message with the fields it was given', () => {
      fc.assert(
        fc.property(fc.string({ minLength: 1 }), fc.string({ unit: 'binary' }), (msgid, content) => {
          const parsed = messageOf(parseWeComMessage(single({ msgid, msgtype: 'text', text: { content } })));
          expect(parsed.msgId).toBe(msgid);
          expect(parsed.text).toBe(content.trim());
        }),
      );
    });
  });
});
