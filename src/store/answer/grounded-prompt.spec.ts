import fc from 'fast-check';
import { countMessageTokens } from '../../llm/token-counter.js';
import type { RetrievedPassage } from '../retrieval/retrieval.types.js';
import { GROUNDING_INSTRUCTIONS, buildGroundedPrompt, type HistoryMessage } from './grounded-prompt.js';

const passage = (
  id: string,
  score: number,
  content: string,
  headingPath: string[] = ['Refunds'],
): RetrievedPassage => ({
  chunkId: id,
  documentId: `doc-${id}`,
  documentTitle: 'Customer Handbook',
  headingPath,
  content,
  score,
});

const turn = (role: HistoryMessage['role'], content: string): HistoryMessage => ({ role, content });
const filler = (label: string, words: number) =>
  `${label} ${Array.from({ length: words }, (_, i) => `word${i}`).join(' ')}`;

describe('buildGroundedPrompt', () => {
  it('builds system prompt, history and a final message with numbered passages and the question', () => {
    const prompt = buildGroundedPrompt({
      systemPrompt: 'You are the Acme support assistant.',
      passages: [
        passage('b', 0.2, 'Shipping takes 3 days.', ['Shipping']),
        passage('a', 0.9, 'Refunds are issued within 14 days.'),
      ],
      history: [turn('user', 'Hi'), turn('assistant', 'Hello! How can I help?')],
      question: 'How long do refunds take?',
      contextBudgetTokens: 4000,
      answerReserveTokens: 500,
    });

    expect(prompt.messages).toEqual([
      { role: 'system', content: `You are the Acme support assistant.\n\n${GROUNDING_INSTRUCTIONS}` },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello! How can I help?' },
      {
        role: 'user',
        content:
          'Knowledge base passages:\n\n' +
          '[1] Customer Handbook › Refunds\nRefunds are issued within 14 days.\n\n' +
          '[2] Customer Handbook › Shipping\nShipping takes 3 days.\n\n' +
          'Question: How long do refunds take?',
      },
    ]);
    expect(prompt.passages.map((p) => p.chunkId)).toEqual(['a', 'b']);
    expect(prompt).toMatchObject({
      question: 'How long do refunds take?',
      maxTokens: 500,
      dropped: { passages: 0, historyMessages: 0 },
    });
    expect(prompt.promptTokens).toBe(countMessageTokens(prompt.messages));
  });

  it('says so when no passage matched', () => {
    const prompt = buildGroundedPrompt({
      systemPrompt: '',
      passages: [],
      history: [],
      question: '退款需要多久？',
      contextBudgetTokens: 1000,
      answerReserveTokens: 200,
    });

    expect(prompt.messages[0].content).toBe(GROUNDING_INSTRUCTIONS);
    expect(prompt.messages.at(-1)?.content).toBe(
      'Knowledge base passages: none matched this question.\n\nQuestion: 退款需要多久？',
    );
  });

  it('drops the lowest-scored passages first to respect the budget', () => {
    const passages = [0.5, 0.9, 0.1, 0.7, 0.3].map((score, i) =>
      passage(`p${i}`, score, filler(`passage ${i}`, 120)),
    );

    const prompt = buildGroundedPrompt({
      systemPrompt: 'Be brief.',
      passages,
      history: [],
      question: 'What is the policy?',
      contextBudgetTokens: 900,
      answerReserveTokens: 300,
    });

    expect(prompt.promptTokens).toBeLessThanOrEqual(600);
    expect(prompt.passages.map((p) => p.score)).toEqual([0.9, 0.7, 0.5].slice(0, prompt.passages.length));
    expect(prompt.passages.length).toBeGreaterThan(0);
    expect(prompt.dropped.passages).toBe(5 - prompt.passages.length);
  });

  it('drops the oldest history first, keeps the order, and never starts with an assistant turn', () => {
    const history = Array.from({ length: 12 }, (_, i) =>
      turn(i % 2 ? 'assistant' : 'user', filler(`turn ${i}`, 60)),
    );

    const prompt = buildGroundedPrompt({
      systemPrompt: 'Be brief.',
      passages: [passage('a', 1, 'Refunds are issued within 14 days.')],
      history,
      question: 'And for Canada?',
      contextBudgetTokens: 1200,
      answerReserveTokens: 300,
    });

    const kept = prompt.messages.slice(1, -1);
    expect(kept.length).toBeGreaterThan(0);
    expect(kept.length).toBeLessThan(12);
    expect(kept).toEqual(history.slice(12 - kept.length));
    expect(kept[0].role).toBe('user');
    expect(prompt.passages).toHaveLength(1);
    expect(prompt.promptTokens).toBeLessThanOrEqual(900);
  });

  it('keeps some history even when passages could fill the whole budget', () => {
    const prompt = buildGroundedPrompt({
      systemPrompt: '',
      passages: Array.from({ length: 10 }, (_, i) =>
        passage(`p${i}`, 1 - i / 10, filler(`passage ${i}`, 150)),
      ),
      history: [turn('user', 'Do you ship to Canada?'), turn('assistant', 'Yes, in 5 days.')],
      question: 'How much does it cost?',
      contextBudgetTokens: 2000,
      answerReserveTokens: 400,
    });

    expect(prompt.messages.slice(1, -1).map((m) => m.content)).toEqual([
      'Do you ship to Canada?',
      'Yes, in 5 days.',
    ]);
    expect(prompt.promptTokens).toBeLessThanOrEqual(1600);
  });

  it('truncates the best passage rather than sending none when it alone is too big', () => {
    const prompt = buildGroundedPrompt({
      systemPrompt: '',
      passages: [passage('big', 1, filler('huge passage', 2000))],
      history: [],
      question: 'Policy?',
      contextBudgetTokens: 700,
      answerReserveTokens: 200,
    });

    expect(prompt.passages).toHaveLength(1);
    expect(prompt.passages[0].content).toMatch(/^huge passage word0 .*…$/s);
    expect(prompt.promptTokens).toBeLessThanOrEqual(500);
  });

  it('truncates an over-long question and refuses a budget with no room for one', () => {
    const long = buildGroundedPrompt({
      systemPrompt: '',
      passages: [],
      history: [],
      question: filler('question', 3000),
      contextBudgetTokens: 600,
      answerReserveTokens: 100,
    });
    expect(long.promptTokens).toBeLessThanOrEqual(500);
    expect(long.question.endsWith('…')).toBe(true);

    expect(() =>
      buildGroundedPrompt({
        systemPrompt: filler('system', 400),
        passages: [],
        history: [],
        question: 'Hi',
        contextBudgetTokens: 500,
        answerReserveTokens: 100,
      }),
    ).toThrow(RangeError);
  });

  it('always fits the budget, keeps the best passages and the newest history (property)', () => {
    const text = fc
      .array(fc.constantFrom('refund', 'policy', '退款', '政策', 'days', '14', 'ship', '。', '.'), {
        minLength: 1,
        maxLength: 80,
      })
      .map((w) => w.join(' '));
    fc.assert(
      fc.property(
        fc.array(fc.tuple(text, fc.double({ min: 0, max: 1, noNaN: true })), { maxLength: 8 }),
        fc.array(text, { maxLength: 8 }),
        fc.integer({ min: 400, max: 3000 }),
        (rawPassages, rawHistory, budget) => {
          const passages = rawPassages.map(([content, score], i) => passage(`p${i}`, score, content));
          const history = rawHistory.map((content, i) => turn(i % 2 ? 'assistant' : 'user', content));
          const prompt = buildGroundedPrompt({
            systemPrompt: 'Be helpful.',
            passages,
            history,
            question: 'How long do refunds take?',
            contextBudgetTokens: budget,
            answerReserveTokens: 200,
          });
          expect(prompt.promptTokens).toBeLessThanOrEqual(budget - 200);
          const bestScores = passages
            .map((p) => p.score)
            .sort((a, b) => b - a)
            .slice(0, prompt.passages.length);
          expect(prompt.passages.map((p) => p.score)).toEqual(bestScores);
          const kept = prompt.messages.slice(1, -1);
          expect(kept).toEqual(history.slice(history.length - kept.length));
        },
      ),
      { numRuns: 80 },
    );
  });
});
