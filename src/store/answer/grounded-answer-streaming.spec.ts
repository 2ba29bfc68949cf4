import { startFakeOpenAiServer, type FakeOpenAiServer } from '../../../test/fakes/fake-openai-server.js';
import { createChatModel } from '../../llm/llm.factory.js';
import type { ChatModel, ChatRequest } from '../../llm/chat-model.port.js';
import type { RetrievedPassage } from '../retrieval/retrieval.types.js';
import { buildGroundedPrompt } from './grounded-prompt.js';

const refundPassage: RetrievedPassage = {
  chunkId: 'chunk-1',
  documentId: 'doc-1',
  documentTitle: '售后服务指南',
  headingPath: ['售后服务指南', '退款政策'],
  content: '审核通过后，款项将在十四天内原路退回。',
  score: 0.8,
};

function groundedRequest(): ChatRequest {
  return buildGroundedPrompt({
    systemPrompt: '你是客服助手。',
    passages: [refundPassage],
    history: [
      { role: 'user', content: '你好' },
      { role: 'assistant', content: '您好，请问有什么可以帮您？' },
    ],
    question: '退款需要多久？',
    contextBudgetTokens: 4000,
    answerReserveTokens: 500,
  });
}

async function streamed(model: ChatModel, request: ChatRequest): Promise<string[]> {
  const tokens: string[] = [];
  for await (const event of model.stream(request)) if (event.type === 'token') tokens.push(event.text);
  return tokens;
}

describe('a grounded prompt sent to the chat models', () => {
  let server: FakeOpenAiServer;
  beforeEach(async () => {
    server = await startFakeOpenAiServer();
  });
  afterEach(() => server.close());

  it('reaches an OpenAI-compatible server with the passage, its source and the history, and streams back', async () => {
    const model = createChatModel('openai-compatible', { baseUrl: server.baseUrl, model: 'qwen-plus' });

    const tokens = await streamed(model, groundedRequest());

    const body = server.requests[0].body as { messages: { role: string; content: string }[] };
    expect(body.messages.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'user']);
    expect(body.messages[1].content).toBe('你好');
    expect(body.messages[3].content).toContain(
      '[1] 售后服务指南 › 退款政策\n审核通过后，款项将在十四天内原路退回。',
    );
    expect(body.messages[3].content).toContain('Question: 退款需要多久？');
    expect(tokens.length).toBeGreaterThan(10);
    expect(tokens.join('')).toContain('十四天内原路退回');
  });

  it('is answered by the extractive model with the passage and its source, without any server', async () => {
    const tokens = await streamed(createChatModel('extractive', {}), groundedRequest());

    expect(tokens.join('')).toBe('**售后服务指南 › 退款政策**\n审核通过后，款项将在十四天内原路退回。');
    expect(server.requests).toHaveLength(0);
  });
});
