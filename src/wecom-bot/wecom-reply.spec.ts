import fc from 'fast-check';
import * as vendor from '@wecom/crypto';
import { utf8Length } from '../common/text.js';
import { WeComCrypto } from './wecom-crypto.js';
import {
  encryptReply,
  markdownMessage,
  streamReply,
  textReply,
  WECOM_CONTENT_MAX_BYTES,
  type WeComReply,
} from './wecom-reply.js';

const TOKEN = 'QDG6eK';
const KEY = 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C';
const REQUEST = { timestamp: '1409659813', nonce: '1372623149' };

const crypto = new WeComCrypto(TOKEN, KEY);

describe('streamReply', () => {
  it('builds a stream reply with the full content', () => {
    expect(streamReply('STREAM1', '**正在查询**', false)).toEqual({
      msgtype: 'stream',
      stream: { id: 'STREAM1', finish: false, content: '**正在查询**' },
    });
  });

  it('attaches a feedback id when given', () => {
    expect(streamReply('S', 'done', true, { feedbackId: 'FB1' }).stream).toEqual({
      id: 'S',
      finish: true,
      content: 'done',
      feedback: { id: 'FB1' },
    });
  });

  it('keeps content of exactly 20480 bytes', () => {
    const content = 'a'.repeat(WECOM_CONTENT_MAX_BYTES);
    expect(streamReply('S', content, true).stream.content).toBe(content);
  });

  it('cuts Chinese content to 20480 bytes on a character boundary', () => {
    const content = '中'.repeat(7000); // 21000 bytes
    const cut = streamReply('S', content, true).stream.content;
    expect(utf8Length(cut)).toBe(20478);
    expect(cut).toBe('中'.repeat(6826));
  });

  it('never splits an emoji', () => {
    const cut = streamReply('S', `${'a'.repeat(20478)}😀`, true).stream.content;
    expect(cut).toBe('a'.repeat(20478));
  });

  it('never exceeds 20480 bytes and is always a prefix', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 8000 }), fc.nat(3), (text, times) => {
        const content = text.repeat(times + 1);
        const cut = streamReply('S', content, false).stream.content;
        expect(utf8Length(cut)).toBeLessThanOrEqual(WECOM_CONTENT_MAX_BYTES);
        expect(content.startsWith(cut)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });
});

describe('textReply', () => {
  it('builds the welcome text reply', () => {
    expect(textReply('hello')).toEqual({ msgtype: 'text', text: { content: 'hello' } });
  });
});

describe('markdownMessage', () => {
  it('builds a response_url body cut to 20480 bytes', () => {
    const message = markdownMessage('好'.repeat(7000));
    expect(message.msgtype).toBe('markdown');
    expect(utf8Length(message.markdown.content)).toBeLessThanOrEqual(WECOM_CONTENT_MAX_BYTES);
  });
});

describe('encryptReply', () => {
  const replies: [string, WeComReply][] = [
    ['a stream reply', streamReply('STREAMID', '**答案**：请在 OA 中提交报销单。', true)],
    ['a text reply', textReply('你好，我是知识库助手')],
  ];

  it.each(replies)('produces %s that @wecom/crypto decrypts to the same JSON', (_label, reply) => {
    const envelope = encryptReply(crypto, reply, REQUEST.timestamp, REQUEST.nonce);
    const decrypted = vendor.decrypt(KEY, envelope.encrypt);
    expect(JSON.parse(decrypted.message)).toEqual(reply);
    expect(decrypted.id).toBe('');
  });

  it('encrypts a JSON string as is', () => {
    const json = '{"msgtype":"text","text":{"content":"hi"}}';
    const envelope = encryptReply(crypto, json, REQUEST.timestamp, REQUEST.nonce);
    expect(vendor.decrypt(KEY, envelope.encrypt).message).toBe(json);
  });

  it("echoes the request's timestamp and nonce, signed as @wecom/crypto signs them", () => {
    const envelope = encryptReply(crypto, textReply('hi'), REQUEST.timestamp, REQUEST.nonce);
    expect(envelope.timestamp).toBe(REQUEST.timestamp);
    expect(envelope.nonce).toBe(REQUEST.nonce);
    expect(envelope.msgsignature).toBe(
      vendor.getSignature(TOKEN, REQUEST.timestamp, REQUEST.nonce, envelope.encrypt),
    );
    expect(
      crypto.verifySignature(envelope.msgsignature, REQUEST.timestamp, REQUEST.nonce, envelope.encrypt),
    ).toBe(true);
  });

  it('has exactly the four envelope fields', () => {
    const envelope = encryptReply(crypto, textReply('hi'), REQUEST.timestamp, REQUEST.nonce);
    expect(Object.keys(envelope).sort()).toEqual(['encrypt', 'msgsignature', 'nonce', 'timestamp']);
  });

  it('round-trips arbitrary stream content through @wecom/crypto', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.boolean(),
        fc.string({ minLength: 1 }),
        (content, finish, nonce) => {
          const reply = streamReply('S', content, finish);
          const envelope = encryptReply(crypto, reply, REQUEST.timestamp, nonce);
          expect(JSON.parse(vendor.decrypt(KEY, envelope.encrypt).message)).toEqual(reply);
          expect(envelope.msgsignature).toBe(
            vendor.getSignature(TOKEN, REQUEST.timestamp, nonce, envelope.encrypt),
          );
        },
      ),
      { numRuns: 100 },
    );
  });
});
