import type { RetrievedPassage } from '../store/retrieval/retrieval.types.js';
import type { ChatDoneEvent, ChatRequest, ChatStreamEvent } from './chat-model.port.js';
import { ExtractiveChatModel, NOT_FOUND_EN, NOT_FOUND_ZH } from './extractive-chat.model.js';
import { LlmError } from './llm-error.js';
import { countTokens } from './token-counter.js';

const passage = (overrides: Partial<RetrievedPassage>): RetrievedPassage => ({
  chunkId: 'c1',
  documentId: 'd1',
  documentTitle: 'Refund policy',
  headingPath: ['Refund policy', 'Timeline'],
  content: 'Refunds are issued within 14 days of the request.',
  score: 0.9,
  ...overrides,
});

async function answer(model: ExtractiveChatModel, request: ChatRequest) {
  const tokens: string[] = [];
  let done: ChatDoneEvent | undefined;
  for await (const event of model.stream(request) as AsyncIterable<ChatStreamEvent>) {
    if (event.type === 'token') tokens.push(event.text);
    else done = event;
  }
  return { text: tokens.join(''), tokens, done };
}

const ask = (question: string, passages: RetrievedPassage[] = []): ChatRequest => ({
  messages: [{ role: 'user', content: question }],
  question,
  passages,
});

describe('ExtractiveChatModel', () => {
  it('answers with the best passages, best first, each under its source', async () => {
    const { text, tokens, done } = await answer(
      new ExtractiveChatModel(),
      ask('How long do refunds take?', [
        passage({
          chunkId: 'low',
          content: 'Shipping takes 3 days.',
          documentTitle: 'Shipping',
          headingPath: [],
          score: 0.2,
        }),
        passage({ chunkId: 'high' }),
      ]),
    );

    expect(text).toBe(
      '**Refund policy › Timeline**\nRefunds are issued within 14 days of the request.\n\n**Shipping**\nShipping takes 3 days.',
    );
    expect(tokens.length).toBeGreaterThan(1);
    expect(done).toMatchObject({ finishReason: 'stop', usage: { completionTokens: countTokens(text) } });
    expect(done?.usage.promptTokens).toBeGreaterThan(0);
  });

  it('quotes at most maxPassages and skips duplicates', async () => {
    const passages = [1, 2, 3, 4].map((n) =>
      passage({ chunkId: `c${n}`, content: `Fact number ${n}.`, score: 1 / n }),
    );
    passages.push(passage({ chunkId: 'dup', content: 'Fact number 1.', score: 0.95 }));

    const { text } = await answer(new ExtractiveChatModel({ maxPassages: 2 }), ask('facts?', passages));

    expect(text).toContain('Fact number 1.');
    expect(text).toContain('Fact number 2.');
    expect(text).not.toContain('Fact number 3.');
    expect(text.match(/Fact number 1\./g)).toHaveLength(1);
  });

  it('trims a long passage at a sentence end to stay within the answer budget', async () => {
    const long = Array.from(
      { length: 80 },
      (_, i) => `Sentence ${i} explains one more detail of the policy.`,
    ).join(' ');

    const { text } = await answer(
      new ExtractiveChatModel({ maxAnswerTokens: 120 }),
      ask('policy?', [passage({ content: long })]),
    );

    expect(countTokens(text)).toBeLessThanOrEqual(120);
    expect(text).toMatch(/policy\. …$/);
  });

  it('says it found nothing, in the language of the question, or with the caller’s text', async () => {
    const model = new ExtractiveChatModel();

    expect((await answer(model, ask('Do you ship to Mars?'))).text).toBe(NOT_FOUND_EN);
    expect((await answer(model, ask('你们发货到火星吗？'))).text).toBe(NOT_FOUND_ZH);
    expect((await answer(model, { ...ask('Mars?'), notFoundText: 'Ask support@example.com.' })).text).toBe(
      'Ask support@example.com.',
    );
    expect(
      (await answer(new ExtractiveChatModel({ notFoundText: 'Nothing here.' }), ask('Mars?'))).text,
    ).toBe('Nothing here.');
  });

  it('is cancelled by its signal', async () => {
    const controller = new AbortController();
    const long = 'Line of the answer.\n'.repeat(50);
    const events = new ExtractiveChatModel({ maxAnswerTokens: 2000 }).stream(
      ask('q', [passage({ content: long })]),
      controller.signal,
    );

    const iterator = events[Symbol.asyncIterator]();
    await iterator.next();
    controller.abort();

    await expect(iterator.next()).rejects.toBeInstanceOf(LlmError);
  });
});
