import { startFakeOpenAiServer, type FakeOpenAiServer } from '../../test/fakes/fake-openai-server.js';
import type { ChatDoneEvent, ChatRequest, ChatStreamEvent } from './chat-model.port.js';
import { LlmError } from './llm-error.js';
import { OpenAiChatModel, type OpenAiCompatibleChatConfig } from './openai-chat.model.js';
import { countMessageTokens, countTokens } from './token-counter.js';

const API_KEY = 'sk-test-secret-0123456789';
const question: ChatRequest = {
  messages: [
    { role: 'system', content: 'You answer from the knowledge base.' },
    { role: 'user', content: 'How long do refunds take?' },
  ],
};

interface Collected {
  tokens: string[];
  done?: ChatDoneEvent;
  error?: unknown;
}

async function collect(events: AsyncIterable<ChatStreamEvent>): Promise<Collected> {
  const result: Collected = { tokens: [] };
  try {
    for await (const event of events) {
      if (event.type === 'token') result.tokens.push(event.text);
      else result.done = event;
    }
  } catch (error) {
    result.error = error;
  }
  return result;
}

function expectLlmError(error: unknown, kind: LlmError['kind']): LlmError {
  expect(error).toBeInstanceOf(LlmError);
  expect((error as LlmError).kind).toBe(kind);
  expect((error as LlmError).message).not.toContain(API_KEY);
  return error as LlmError;
}

describe('OpenAiChatModel (openai-compatible) against a fake server through the real SDK', () => {
  let server: FakeOpenAiServer;
  const model = (overrides: Partial<OpenAiCompatibleChatConfig> = {}) =>
    OpenAiChatModel.compatible({
      baseUrl: server.baseUrl,
      apiKey: API_KEY,
      model: 'gpt-test',
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      ...overrides,
    });

  beforeEach(async () => {
    server = await startFakeOpenAiServer({ apiKey: API_KEY });
  });
  afterEach(() => server.close());

  it('streams the answer token by token and reports the usage the server sends', async () => {
    const { tokens, done, error } = await collect(
      model({ temperature: 0.2 }).stream({ ...question, maxTokens: 100 }),
    );

    expect(error).toBeUndefined();
    expect(tokens.length).toBeGreaterThan(3);
    expect(tokens.join('')).toBe('Echo: How long do refunds take?');
    expect(done).toMatchObject({ type: 'done', finishReason: 'stop' });
    expect(done?.usage.completionTokens).toBe(countTokens(tokens.join('')));
    expect(done?.usage.promptTokens).toBeGreaterThan(0);
    expect(done?.firstTokenMs).toBeGreaterThanOrEqual(0);
    expect(done?.latencyMs).toBeGreaterThanOrEqual(done?.firstTokenMs ?? 0);
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0].path).toBe('/v1/chat/completions');
    expect(server.requests[0].headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(server.requests[0].body).toMatchObject({
      model: 'gpt-test',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 100,
      temperature: 0.2,
      messages: question.messages,
    });
  });

  it('counts tokens locally when the server sends no usage', async () => {
    await server.close();
    server = await startFakeOpenAiServer({ usage: false, tokens: ['Refunds ', 'take ', '14 days.'] });

    const { done } = await collect(model().stream(question));

    expect(done?.usage).toEqual({
      promptTokens: countMessageTokens(question.messages),
      completionTokens: countTokens('Refunds take 14 days.'),
    });
  });

  it('reports finishReason "length" when the answer hits maxTokens', async () => {
    const { tokens, done } = await collect(model().stream({ ...question, maxTokens: 2 }));

    expect(tokens).toHaveLength(2);
    expect(done?.finishReason).toBe('length');
  });

  it('retries a 429 after the delay its Retry-After header asks for, then succeeds', async () => {
    server.script.enqueue({ kind: 'rate-limit', retryAfter: '1' });
    const delays: number[] = [];

    const { tokens, error } = await collect(
      model({
        retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5_000 },
        onRetry: (_e, _a, ms) => delays.push(ms),
      }).stream(question),
    );

    expect(error).toBeUndefined();
    expect(tokens.join('')).toContain('refunds');
    expect(delays).toEqual([1000]);
    expect(server.requests).toHaveLength(2);
  });

  it('retries server errors and connections dropped before the first token', async () => {
    server.script.enqueue({ kind: 'error', status: 503 }, { kind: 'disconnect' });

    const { tokens, error } = await collect(model().stream(question));

    expect(error).toBeUndefined();
    expect(tokens.length).toBeGreaterThan(0);
    expect(server.requests).toHaveLength(3);
  });

  it('gives up with a retryable error once the attempts are used', async () => {
    server.script.enqueue({ kind: 'error', status: 500 }, { kind: 'error', status: 502 });

    const { error } = await collect(
      model({ retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 1 } }).stream(question),
    );

    const failure = expectLlmError(error, 'unavailable');
    expect(failure.retryable).toBe(true);
    expect(failure.status).toBe(502);
    expect(server.requests).toHaveLength(2);
  });

  it('does not retry a rejected request', async () => {
    server.script.enqueue({
      kind: 'error',
      status: 400,
      body: { error: { message: 'messages must not be empty' } },
    });

    const { error } = await collect(model().stream(question));

    const failure = expectLlmError(error, 'bad-request');
    expect(failure.retryable).toBe(false);
    expect(failure.message).toContain('messages must not be empty');
    expect(server.requests).toHaveLength(1);
  });

  it('fails with "auth" and never repeats the API key, even when the server echoes it', async () => {
    const { error } = await collect(model({ apiKey: 'sk-wrong-key-987654321' }).stream(question));

    const failure = expectLlmError(error, 'auth');
    expect(failure.status).toBe(401);
    expect(failure.message).not.toContain('sk-wrong-key-987654321');
    expect(failure.message).toContain('model "gpt-test" at http://127.0.0.1');
  });

  it('times out a server that never answers', async () => {
    server.script.enqueue({ kind: 'hang' });

    const { error } = await collect(model({ timeoutMs: 200, retry: { attempts: 1 } }).stream(question));

    expect(expectLlmError(error, 'timeout').retryable).toBe(true);
  });

  it('retries a timeout that happened before the first token', async () => {
    server.script.enqueue({ kind: 'hang' });

    const { tokens, error } = await collect(model({ timeoutMs: 200 }).stream(question));

    expect(error).toBeUndefined();
    expect(tokens.length).toBeGreaterThan(0);
    expect(server.requests).toHaveLength(2);
  });

  it('times out a stream that goes silent, without retrying what was already streamed', async () => {
    server.script.enqueue({ kind: 'stall', afterTokens: 2 });

    const { tokens, error } = await collect(model({ timeoutMs: 200 }).stream(question));

    expect(tokens).toHaveLength(2);
    expectLlmError(error, 'timeout');
    expect(server.requests).toHaveLength(1);
  });

  it('fails with "unavailable" when the connection drops mid-stream, and does not retry', async () => {
    server.script.enqueue({ kind: 'disconnect', afterTokens: 2 });

    const { tokens, done, error } = await collect(model().stream(question));

    expect(tokens).toHaveLength(2);
    expect(done).toBeUndefined();
    expectLlmError(error, 'unavailable');
    expect(server.requests).toHaveLength(1);
  });

  it('maps an error event inside the stream to "unavailable"', async () => {
    server.script.enqueue({ kind: 'stream-error', afterTokens: 1, message: 'model overloaded' });

    const { tokens, error } = await collect(model().stream(question));

    expect(tokens).toHaveLength(1);
    expect(expectLlmError(error, 'unavailable').message).toContain('model overloaded');
  });

  it('maps malformed server-sent events to "bad-response"', async () => {
    server.script.enqueue({ kind: 'malformed' });

    const { error } = await collect(model().stream(question));

    expect(expectLlmError(error, 'bad-response').retryable).toBe(false);
    expect(server.requests).toHaveLength(1);
  });

  it('cancels a running stream when the signal aborts', async () => {
    await server.close();
    server = await startFakeOpenAiServer({
      tokens: Array.from({ length: 500 }, (_, i) => `t${i} `),
      tokenDelayMs: 2,
    });
    const controller = new AbortController();
    const tokens: string[] = [];

    let caught: unknown;
    try {
      for await (const event of model().stream(question, controller.signal)) {
        if (event.type === 'token') tokens.push(event.text);
        if (tokens.length === 3) controller.abort();
      }
    } catch (error) {
      caught = error;
    }

    expect(tokens).toHaveLength(3);
    expectLlmError(caught, 'cancelled');
    await expect(server.requests[0].outcome).resolves.toBe('aborted');
  });

  it('does not call the server when the signal is already aborted', async () => {
    const { error } = await collect(model().stream(question, AbortSignal.abort()));

    expectLlmError(error, 'cancelled');
    expect(server.requests).toHaveLength(0);
  });

  it('stops the request when the consumer stops reading', async () => {
    await server.close();
    server = await startFakeOpenAiServer({
      tokens: Array.from({ length: 500 }, (_, i) => `t${i} `),
      tokenDelayMs: 2,
    });

    for await (const event of model().stream(question)) {
      if (event.type === 'token') break;
    }

    await expect(server.requests[0].outcome).resolves.toBe('aborted');
  });

  it('switches to max_completion_tokens when the server rejects max_tokens', async () => {
    await server.close();
    server = await startFakeOpenAiServer({ rejectParams: ['max_tokens'] });
    const chat = model();

    const first = await collect(chat.stream({ ...question, maxTokens: 50 }));
    const second = await collect(chat.stream({ ...question, maxTokens: 50 }));

    expect(first.error).toBeUndefined();
    expect(second.error).toBeUndefined();
    expect(
      server.requests.map((request) => Object.keys(request.body as object).includes('max_tokens')),
    ).toEqual([true, false, false]);
    expect(server.requests[2].body).toMatchObject({ max_completion_tokens: 50 });
  });

  it('fails with "unavailable" when nothing listens at the base URL', async () => {
    const baseUrl = server.baseUrl;
    await server.close();
    const chat = OpenAiChatModel.compatible({ baseUrl, model: 'gpt-test', retry: { attempts: 1 } });

    const { error } = await collect(chat.stream(question));

    expect(expectLlmError(error, 'unavailable').message).toMatch(/could not connect/);
    server = await startFakeOpenAiServer();
  });

  it('tests the connection', async () => {
    await expect(model().testConnection()).resolves.toMatchObject({ ok: true });
    const failed = await model({ apiKey: 'sk-bad-key-55555' }).testConnection();
    expect(failed).toMatchObject({ ok: false, errorKind: 'auth' });
    expect(failed.message).not.toContain('sk-bad-key-55555');
  });
});

describe('OpenAiChatModel (azure-openai)', () => {
  let server: FakeOpenAiServer;
  beforeEach(async () => {
    server = await startFakeOpenAiServer({ apiKey: API_KEY });
  });
  afterEach(() => server.close());

  it('calls the deployment path with the api-version and the api-key header', async () => {
    const chat = OpenAiChatModel.azure({
      endpoint: server.origin,
      apiKey: API_KEY,
      deployment: 'gpt4o-prod',
      apiVersion: '2024-10-21',
    });

    const { tokens, done, error } = await collect(chat.stream(question));

    expect(error).toBeUndefined();
    expect(tokens.join('')).toBe('Echo: How long do refunds take?');
    expect(done?.usage.promptTokens).toBeGreaterThan(0);
    const [request] = server.requests;
    expect(request.path).toBe('/openai/deployments/gpt4o-prod/chat/completions');
    expect(request.query['api-version']).toBe('2024-10-21');
    expect(request.headers['api-key']).toBe(API_KEY);
    expect(request.headers.authorization).toBeUndefined();
  });
});
