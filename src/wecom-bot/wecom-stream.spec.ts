import fc from 'fast-check';
import { utf8Length } from '../common/text.js';
import type { AnswerSnapshot } from '../conversation/conversation.types.js';
import {
  fitWithNote,
  responseUrlContent,
  splitOverflow,
  streamView,
  streamWindowPassed,
  thinkingTextFor,
} from './wecom-stream.js';

const MAX = 20480;
const receivedAt = new Date('2026-11-20T10:00:00Z');
const seconds = (n: number) => new Date(receivedAt.getTime() + n * 1000);
const rules = { thinkingText: 'Thinking…', windowSeconds: 330, now: seconds(5) };

function snapshot(overrides: Partial<AnswerSnapshot> = {}): AnswerSnapshot {
  return {
    answerId: '6f1c0e7e-8a4e-4d1b-9a53-0d9f6f1f2a10',
    botProviderId: 'bot',
    platform: 'wecom-bot',
    status: 'generating',
    content: '',
    finished: false,
    replyTarget: { responseUrl: 'https://qyapi.weixin.qq.com/cgi-bin/aibot/response?response_code=x' },
    chatKey: 'zhangsan',
    isGroup: false,
    receivedAt,
    finishedAt: null,
    sources: [],
    ...overrides,
  };
}

const done = (content: string) => snapshot({ status: 'done', finished: true, content });
/** Paragraphs of CJK and emoji: multi-byte characters everywhere. */
const longAnswer = (paragraphs: number) =>
  Array.from({ length: paragraphs }, (_, i) => `第${i}段 ${'知识🙂'.repeat(100)}`).join('\n\n');

describe('streamView', () => {
  it('finishes an unknown answer at once with empty content', () => {
    expect(streamView(undefined, rules)).toEqual({ content: '', finish: true });
  });

  it('shows the thinking text until the answer has text', () => {
    expect(streamView(snapshot({ status: 'queued' }), rules)).toEqual({
      content: 'Thinking…',
      finish: false,
    });
    expect(streamView(snapshot({ content: '  \n' }), rules)).toEqual({ content: 'Thinking…', finish: false });
  });

  it('shows the answer so far, converted to what WeCom renders', () => {
    const view = streamView(snapshot({ content: '| a | b |\n|---|---|\n| 1 | 2 |' }), rules);
    expect(view).toEqual({ content: '- a: 1; b: 2', finish: false });
  });

  it('finishes with the whole answer once it is done or failed', () => {
    expect(streamView(done('All **done**.'), rules)).toEqual({ content: 'All **done**.', finish: true });
    const failed = snapshot({ status: 'failed', finished: true, content: 'Sorry, try again later.' });
    expect(streamView(failed, rules)).toEqual({ content: 'Sorry, try again later.', finish: true });
  });

  it('shows a finished answer even after the window (it is complete)', () => {
    expect(streamView(done('late but whole'), { ...rules, now: seconds(400) })).toEqual({
      content: 'late but whole',
      finish: true,
    });
  });

  it('finishes a still running answer at the window with a note that the full answer follows', () => {
    const view = streamView(snapshot({ content: 'The first half' }), { ...rules, now: seconds(330) });
    expect(view.finish).toBe(true);
    expect(view.content).toMatch(/^The first half\n\n.*full answer will follow/);
    const chinese = streamView(snapshot({ content: '前半部分' }), { ...rules, now: seconds(331) });
    expect(chinese.content).toMatch(/^前半部分\n\n.*完整回答将稍后单独发送/);
  });

  it('keeps the window note within 20480 bytes', () => {
    const view = streamView(snapshot({ content: longAnswer(80) }), { ...rules, now: seconds(340) });
    expect(utf8Length(view.content)).toBeLessThanOrEqual(MAX);
    expect(view.content).toMatch(/完整回答将稍后单独发送/);
  });

  it('never exceeds 20480 bytes nor splits a character, whatever the answer', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme', minLength: 0, maxLength: 9000 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 400 }),
        (content, finished, elapsed) => {
          const view = streamView(snapshot({ content, finished, status: finished ? 'done' : 'generating' }), {
            ...rules,
            now: seconds(elapsed),
          });
          expect(utf8Length(view.content)).toBeLessThanOrEqual(MAX);
          expect(view.content).not.toMatch(
            /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('splitOverflow', () => {
  it('leaves an answer that fits alone', () => {
    expect(splitOverflow('short')).toEqual({ head: 'short' });
  });

  it('cuts an overlong answer at a paragraph, and the rest continues it', () => {
    const answer = longAnswer(30);
    const { head, rest } = splitOverflow(answer);
    expect(utf8Length(head)).toBeLessThanOrEqual(MAX);
    expect(head).toMatch(/\n\n\*（未完，见下一条消息）\*$/);
    const shown = head.replace(/\n\n\*（未完，见下一条消息）\*$/, '');
    expect(answer.startsWith(shown)).toBe(true);
    expect(shown).toMatch(/🙂$/);
    expect(rest).toBeDefined();
    expect(rest!.startsWith('*（续）*\n\n第')).toBe(true);
    expect(`${shown}\n\n${rest!.slice('*（续）*\n\n'.length)}`).toBe(answer);
  });

  it('cuts the rest too, with a note, when even that does not fit', () => {
    const { rest } = splitOverflow('word '.repeat(10_000));
    expect(utf8Length(rest!)).toBeLessThanOrEqual(MAX);
    expect(rest).toMatch(/too long for WeCom/);
  });

  it('splits any answer into a head and a rest that together are the answer', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', minLength: 6000, maxLength: 12000 }), (text) => {
        const { head, rest } = splitOverflow(text);
        expect(utf8Length(head)).toBeLessThanOrEqual(MAX);
        if (!rest) return expect(text).toBe(head);
        expect(utf8Length(rest)).toBeLessThanOrEqual(MAX);
        const shown = head.slice(0, head.lastIndexOf('\n\n*'));
        expect(text.startsWith(shown)).toBe(true);
        if (!/too long for WeCom|回答过长/.test(rest)) {
          const continued = rest.slice(rest.indexOf('*\n\n') + 3);
          expect(text.slice(shown.length).trimStart()).toBe(continued);
        }
      }),
      { numRuns: 50 },
    );
  });
});

describe('fitWithNote', () => {
  it('keeps what fits, and cuts what does not with a note', () => {
    expect(fitWithNote('fits')).toBe('fits');
    const cut = fitWithNote('é'.repeat(20_000));
    expect(utf8Length(cut)).toBeLessThanOrEqual(MAX);
    expect(cut).toMatch(/^é+\n\n\*\(the answer was too long for WeCom and was cut here\)\*$/);
  });
});

describe('responseUrlContent', () => {
  const inWindow = { windowSeconds: 330, now: seconds(30) };

  it('sends nothing when the stream showed the whole answer', () => {
    expect(responseUrlContent(done('short'), inWindow)).toBeUndefined();
  });

  it('sends the rest of an overlong answer', () => {
    const answer = longAnswer(30);
    const sent = responseUrlContent(done(answer), inWindow);
    expect(sent).toEqual({ content: splitOverflow(answer).rest, reason: 'overflow' });
  });

  it('judges the window by when the answer finished, not when delivery runs', () => {
    const finishedInTime = snapshot({
      status: 'done',
      finished: true,
      content: 'short',
      finishedAt: seconds(300),
    });
    expect(responseUrlContent(finishedInTime, { windowSeconds: 330, now: seconds(340) })).toBeUndefined();
    const finishedLate = snapshot({
      status: 'done',
      finished: true,
      content: 'late',
      finishedAt: seconds(335),
    });
    expect(responseUrlContent(finishedLate, { windowSeconds: 330, now: seconds(336) })?.reason).toBe(
      'window',
    );
  });

  it('sends the whole answer once the window has passed', () => {
    expect(responseUrlContent(done('**late** answer'), { windowSeconds: 330, now: seconds(331) })).toEqual({
      content: '**late** answer',
      reason: 'window',
    });
    const long = responseUrlContent(done(longAnswer(60)), { windowSeconds: 330, now: seconds(400) });
    expect(utf8Length(long!.content)).toBeLessThanOrEqual(MAX);
    expect(long!.content).toMatch(/回答过长，已截断/);
  });

  it('counts the window from the user’s message', () => {
    expect(streamWindowPassed(receivedAt, seconds(329.9), 330)).toBe(false);
    expect(streamWindowPassed(receivedAt, seconds(330), 330)).toBe(true);
  });
});

describe('thinkingTextFor', () => {
  it('uses the configured text, else the default in the user’s language', () => {
    expect(thinkingTextFor('Hang on…', 'zh')).toBe('Hang on…');
    expect(thinkingTextFor(undefined, 'en')).toBe('Thinking…');
    expect(thinkingTextFor('  ', 'zh')).toBe('正在思考…');
  });
});
