import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  parseTencentCallback,
  toTencentInboundMessage,
  type TencentCallbackMessage,
} from './tencent-callback.parser.js';
import { parseTencentSendTarget } from './tencent-rest.client.js';

/** The samples of tencent-chat.md. */
const C2C_SAMPLE = {
  CallbackCommand: 'Bot.OnC2CMessage',
  From_Account: 'jared',
  To_Account: '@RBT#001',
  MsgSeq: 48374,
  MsgRandom: 2837546,
  MsgTime: 1557481126,
  MsgKey: '48374_2837546_1557481126',
  MsgId: '144115233406643804-1727580296-4026038328',
  OnlineOnlyFlag: 1,
  MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: 'hello' } }],
  CloudCustomData: '',
  EventTime: 1670574414123,
};
const GROUP_SAMPLE = {
  CallbackCommand: 'Bot.OnGroupMessage',
  GroupId: '@TGS#2J4SZEAEL',
  Type: 'Public',
  From_Account: 'jared',
  Operator_Account: 'admin',
  Random: 123456,
  MsgSeq: 123,
  MsgTime: 1490686222,
  OnlineOnlyFlag: 1,
  MsgBody: [{ MsgType: 'TIMTextElem', MsgContent: { Text: '@@RBT#001 hello' } }],
  AtRobots_Account: ['@RBT#001'],
  CloudCustomData: '',
  EventTime: 1670574414123,
};

const withBody = <T extends object>(sample: T, ...elems: object[]): T => ({ ...sample, MsgBody: elems });
const text = (Text: string): object => ({ MsgType: 'TIMTextElem', MsgContent: { Text } });

describe('parseTencentCallback', () => {
  it('parses the documented C2C sample, addressed to To_Account and deduped by MsgKey', () => {
    expect(parseTencentCallback(C2C_SAMPLE)).toEqual([
      {
        kind: 'message',
        command: 'Bot.OnC2CMessage',
        robotAccount: '@RBT#001',
        fromAccount: 'jared',
        isGroup: false,
        text: 'hello',
        dedupeKey: '48374_2837546_1557481126',
        mentionedRobot: false,
      },
    ]);
  });

  it('builds the C2C dedupe key from MsgSeq_MsgRandom_MsgTime when MsgKey is absent', () => {
    const { MsgKey: _omitted, ...noKey } = C2C_SAMPLE;
    expect(parseTencentCallback(noKey)[0]).toMatchObject({
      kind: 'message',
      dedupeKey: '48374_2837546_1557481126',
    });
  });

  it('ignores a C2C message without MsgKey nor MsgSeq/MsgRandom/MsgTime', () => {
    const { MsgKey: _k, MsgRandom: _r, ...bare } = C2C_SAMPLE;
    expect(parseTencentCallback(bare)).toEqual([
      { kind: 'ignored', reason: 'missing-fields', command: 'Bot.OnC2CMessage' },
    ]);
  });

  it('parses the documented group sample: the mention stripped, deduped by GroupId:MsgSeq', () => {
    expect(parseTencentCallback(GROUP_SAMPLE)).toEqual([
      {
        kind: 'message',
        command: 'Bot.OnGroupMessage',
        robotAccount: '@RBT#001',
        fromAccount: 'jared',
        isGroup: true,
        groupId: '@TGS#2J4SZEAEL',
        text: 'hello',
        dedupeKey: '@TGS#2J4SZEAEL:123',
        mentionedRobot: true,
      },
    ]);
  });

  it('returns one entry per mentioned robot, with every robot mention stripped', () => {
    const body = {
      ...withBody(GROUP_SAMPLE, text('@@RBT#001 @@RBT#002 what is our refund policy?')),
      AtRobots_Account: ['@RBT#001', '@RBT#002', '@RBT#001'],
    };
    const entries = parseTencentCallback(body);
    expect(entries.map((entry) => entry.kind === 'message' && [entry.robotAccount, entry.text])).toEqual([
      ['@RBT#001', 'what is our refund policy?'],
      ['@RBT#002', 'what is our refund policy?'],
    ]);
  });

  it('strips @<nick> mentions of the robot and keeps other people mentioned', () => {
    const body = withBody(GROUP_SAMPLE, text('@Helper，@alice asked: how do I reset\u2005my password?'));
    const [entry] = parseTencentCallback(body, { robotNicks: { '@RBT#001': 'Helper' } });
    expect(entry).toMatchObject({ kind: 'message', text: '@alice asked: how do I reset\u2005my password?' });
  });

  it('strips a mention in the middle of the text and prefers the longest nick', () => {
    const body = withBody(GROUP_SAMPLE, text('hi @Bot Helper can you help?\nsecond line'));
    const [entry] = parseTencentCallback(body, { robotNicks: { '@RBT#001': 'Bot Helper' } });
    expect(entry).toMatchObject({ text: 'hi can you help?\nsecond line' });
  });

  it('does not strip a longer word that merely starts with the nick', () => {
    const body = withBody(GROUP_SAMPLE, text('@@RBT#001 ask @Botany about plants'));
    const [entry] = parseTencentCallback(body, { robotNicks: { '@RBT#001': 'Bot' } });
    expect(entry).toMatchObject({ text: 'ask @Botany about plants' });
  });

  it('flags a C2C mention of the robot as mentionedRobot', () => {
    const [entry] = parseTencentCallback(withBody(C2C_SAMPLE, text('@@RBT#001 hi')));
    expect(entry).toMatchObject({ kind: 'message', text: 'hi', mentionedRobot: true });
  });

  it('joins the text elements and skips the others', () => {
    const body = withBody(
      C2C_SAMPLE,
      text('Is this '),
      { MsgType: 'TIMFaceElem', MsgContent: { Index: 1, Data: 'x' } },
      text('covered?'),
      { MsgType: 'TIMImageElem', MsgContent: {} },
    );
    expect(parseTencentCallback(body)[0]).toMatchObject({ kind: 'message', text: 'Is this covered?' });
  });

  it('ignores messages from robots (loops)', () => {
    expect(parseTencentCallback({ ...C2C_SAMPLE, From_Account: '@RBT#002' })).toEqual([
      { kind: 'ignored', reason: 'robot-sender', command: 'Bot.OnC2CMessage' },
    ]);
  });

  it('ignores typing indicators (custom elems)', () => {
    const body = withBody(C2C_SAMPLE, {
      MsgType: 'TIMCustomElem',
      MsgContent: { Data: '{"businessID":"typing"}' },
    });
    expect(parseTencentCallback(body)).toEqual([
      { kind: 'ignored', reason: 'custom-elem', command: 'Bot.OnC2CMessage' },
    ]);
  });

  it('reports images, files and voice as unsupported, with what is needed for a polite reply', () => {
    const body = withBody(
      GROUP_SAMPLE,
      { MsgType: 'TIMImageElem', MsgContent: {} },
      { MsgType: 'TIMSoundElem', MsgContent: {} },
      { MsgType: 'TIMFileElem', MsgContent: {} },
    );
    expect(parseTencentCallback(body)).toEqual([
      {
        kind: 'ignored',
        reason: 'unsupported',
        elemTypes: ['TIMImageElem', 'TIMSoundElem', 'TIMFileElem'],
        context: {
          command: 'Bot.OnGroupMessage',
          robotAccount: '@RBT#001',
          fromAccount: 'jared',
          isGroup: true,
          groupId: '@TGS#2J4SZEAEL',
          dedupeKey: '@TGS#2J4SZEAEL:123',
        },
      },
    ]);
  });

  it('ignores messages without text, also when only the mention was sent', () => {
    for (const body of [
      withBody(C2C_SAMPLE),
      withBody(GROUP_SAMPLE, text('@@RBT#001  ')),
      { ...C2C_SAMPLE, MsgBody: 'x' },
    ]) {
      expect(parseTencentCallback(body)).toEqual([
        { kind: 'ignored', reason: 'empty-text', command: body.CallbackCommand },
      ]);
    }
  });

  it('ignores other callback commands', () => {
    expect(parseTencentCallback({ CallbackCommand: 'C2C.CallbackAfterSendMsg' })).toEqual([
      { kind: 'ignored', reason: 'unknown-command', command: 'C2C.CallbackAfterSendMsg' },
    ]);
  });

  it('ignores a group message that names no robot, or lacks GroupId/MsgSeq', () => {
    expect(parseTencentCallback({ ...GROUP_SAMPLE, AtRobots_Account: [] })[0]).toMatchObject({
      reason: 'no-robot',
    });
    expect(parseTencentCallback({ ...GROUP_SAMPLE, MsgSeq: 'seq' })[0]).toMatchObject({
      reason: 'missing-fields',
    });
    expect(parseTencentCallback({ ...GROUP_SAMPLE, GroupId: 7 })[0]).toMatchObject({
      reason: 'missing-fields',
    });
  });

  it('accepts numeric fields sent as digit strings', () => {
    expect(parseTencentCallback({ ...GROUP_SAMPLE, MsgSeq: '123' })[0]).toMatchObject({
      dedupeKey: '@TGS#2J4SZEAEL:123',
    });
  });

  it('rejects bodies that are not JSON objects', () => {
    for (const body of [null, 'text', 42, [C2C_SAMPLE]]) {
      expect(parseTencentCallback(body)).toEqual([{ kind: 'ignored', reason: 'invalid-body' }]);
    }
  });

  it('never throws on arbitrary JSON, and only returns messages with text', () => {
    const elem = fc.record({
      MsgType: fc.constantFrom('TIMTextElem', 'TIMCustomElem', 'TIMImageElem', 'x'),
      MsgContent: fc.anything(),
    });
    const body = fc.record(
      {
        CallbackCommand: fc.constantFrom('Bot.OnC2CMessage', 'Bot.OnGroupMessage', 'other'),
        From_Account: fc.oneof(fc.string(), fc.anything()),
        To_Account: fc.oneof(fc.string(), fc.anything()),
        GroupId: fc.oneof(fc.string(), fc.anything()),
        MsgSeq: fc.oneof(fc.nat(), fc.anything()),
        MsgKey: fc.oneof(fc.string(), fc.anything()),
        AtRobots_Account: fc.oneof(fc.array(fc.string()), fc.anything()),
        MsgBody: fc.oneof(fc.array(elem), fc.anything()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.oneof(body, fc.jsonValue()), (value) => {
        const entries = parseTencentCallback(value);
        expect(entries.length).toBeGreaterThan(0);
        for (const entry of entries) if (entry.kind === 'message') expect(entry.text.trim()).not.toBe('');
      }),
    );
  });
});

describe('toTencentInboundMessage', () => {
  it('maps a C2C message, replying to the sender from the robot', () => {
    const [message] = parseTencentCallback(C2C_SAMPLE) as TencentCallbackMessage[];
    const inbound = toTencentInboundMessage(message, 'provider-1');
    expect(inbound.unsupportedContent).toBeUndefined();
    expect(inbound).toMatchObject({
      botProviderId: 'provider-1',
      platform: 'tencent-chat',
      platformMessageId: '48374_2837546_1557481126',
      chatKey: 'jared',
      isGroup: false,
      senderId: 'jared',
      mentionedBot: false,
      text: 'hello',
      replyTarget: { kind: 'c2c', robot: '@RBT#001', toAccount: 'jared' },
    });
    expect(parseTencentSendTarget(JSON.parse(JSON.stringify(inbound.replyTarget)))).toEqual(
      inbound.replyTarget,
    );
  });

  it('maps a group message, keyed and replied to by group', () => {
    const [message] = parseTencentCallback(GROUP_SAMPLE) as TencentCallbackMessage[];
    expect(toTencentInboundMessage(message, 'provider-1')).toMatchObject({
      platformMessageId: '@TGS#2J4SZEAEL:123',
      chatKey: '@TGS#2J4SZEAEL',
      isGroup: true,
      mentionedBot: true,
      replyTarget: { kind: 'group', robot: '@RBT#001', groupId: '@TGS#2J4SZEAEL' },
    });
  });

  it('maps an image sent to the robot as unsupported content with no text, for a polite reply', () => {
    const body = withBody(
      GROUP_SAMPLE,
      { MsgType: 'TIMImageElem', MsgContent: {} },
      { MsgType: 'TIMSoundElem', MsgContent: {} },
    );
    const [entry] = parseTencentCallback(body);
    if (entry.kind !== 'ignored' || entry.reason !== 'unsupported') throw new Error('expected unsupported');
    expect(toTencentInboundMessage(entry, 'provider-1')).toMatchObject({
      platformMessageId: '@TGS#2J4SZEAEL:123',
      text: '',
      unsupportedContent: 'image, voice message',
      mentionedBot: true,
      replyTarget: { kind: 'group', robot: '@RBT#001', groupId: '@TGS#2J4SZEAEL' },
    });
  });

  it('reads back only well-formed reply targets', () => {
    expect(parseTencentSendTarget({ kind: 'group', robot: '@RBT#001' })).toBeUndefined();
    expect(parseTencentSendTarget({ kind: 'c2c', robot: '', toAccount: 'x' })).toBeUndefined();
    expect(parseTencentSendTarget('c2c')).toBeUndefined();
  });
});
