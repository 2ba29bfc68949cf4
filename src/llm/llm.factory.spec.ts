import { ExtractiveChatModel } from './extractive-chat.model.js';
import { LlmConfigError } from './llm-error.js';
import { createChatModel, createEmbeddingModel, type ChatModelType } from './llm.factory.js';
import { OpenAiChatModel } from './openai-chat.model.js';
import { OpenAiEmbeddingModel } from './openai-embedding.model.js';

describe('llm factory', () => {
  it('creates each chat model type', () => {
    expect(createChatModel('extractive', {})).toBeInstanceOf(ExtractiveChatModel);
    expect(
      createChatModel('openai-compatible', { baseUrl: 'http://localhost:11434/v1', model: 'qwen2.5' }),
    ).toBeInstanceOf(OpenAiChatModel);
    expect(
      createChatModel('azure-openai', {
        endpoint: 'https://example.openai.azure.com',
        apiKey: 'k',
        deployment: 'gpt4o',
        apiVersion: '2024-10-21',
      }),
    ).toBeInstanceOf(OpenAiChatModel);
  });

  it('creates embedding models that know their dimensions', () => {
    const model = createEmbeddingModel('openai-compatible', {
      baseUrl: 'https://api.openai.com/v1',
      apiKey: 'k',
      model: 'text-embedding-3-small',
      dimensions: 1536,
    });
    expect(model).toBeInstanceOf(OpenAiEmbeddingModel);
    expect(model.dimensions).toBe(1536);
  });

  it('rejects unusable configurations with a clear message', () => {
    expect(() => createChatModel('openai-compatible', { baseUrl: 'ftp://x', model: 'm' })).toThrow(
      new LlmConfigError('baseUrl must be an http(s) URL'),
    );
    expect(() => createChatModel('openai-compatible', { baseUrl: 'http://x/v1', model: ' ' })).toThrow(
      'model is required',
    );
    expect(() =>
      createEmbeddingModel('openai-compatible', { baseUrl: 'http://x/v1', model: 'm', dimensions: 0 }),
    ).toThrow('dimensions must be a positive integer');
    expect(() => createChatModel('bard' as ChatModelType, {} as never)).toThrow(
      /Unknown chat model type "bard"/,
    );
  });
});
