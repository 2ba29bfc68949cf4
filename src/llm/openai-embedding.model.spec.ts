import {
  fakeEmbedding,
  startFakeOpenAiServer,
  type FakeOpenAiServer,
} from '../../test/fakes/fake-openai-server.js';
import { LlmError } from './llm-error.js';
import { OpenAiEmbeddingModel, type OpenAiCompatibleEmbeddingConfig } from './openai-embedding.model.js';

const API_KEY = 'sk-embed-secret-0123456789';

describe('OpenAiEmbeddingModel against a fake server through the real SDK', () => {
  let server: FakeOpenAiServer;
  const model = (overrides: Partial<OpenAiCompatibleEmbeddingConfig> = {}) =>
    OpenAiEmbeddingModel.compatible({
      baseUrl: server.baseUrl,
      apiKey: API_KEY,
      model: 'text-embedding-test',
      dimensions: 32,
      retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 },
      ...overrides,
    });
  const embeddingBodies = () =>
    server.requests.map(
      (request) => request.body as { input: string[]; encoding_format?: string; dimensions?: number },
    );

  beforeEach(async () => {
    server = await startFakeOpenAiServer({ apiKey: API_KEY, embeddingDimensions: 32 });
  });
  afterEach(() => server.close());

  it('embeds 150 texts in 3 batched requests and returns the vectors in input order', async () => {
    const texts = Array.from({ length: 150 }, (_, i) => `document number ${i} about topic ${i % 7}`);

    const vectors = await model().embed(texts);

    expect(embeddingBodies().map((body) => body.input.length)).toEqual([64, 64, 22]);
    expect(embeddingBodies()[1].input[0]).toBe(texts[64]);
    expect(embeddingBodies()[0]).toMatchObject({ encoding_format: 'float', model: 'text-embedding-test' });
    expect(vectors).toHaveLength(150);
    vectors.forEach((vector, i) => expect(vector).toEqual(fakeEmbedding(texts[i], 32)));
  });

  it('honours a configured batch size', async () => {
    await model({ batchSize: 10 }).embed(Array.from({ length: 25 }, (_, i) => `text ${i}`));

    expect(embeddingBodies().map((body) => body.input.length)).toEqual([10, 10, 5]);
  });

  it('sends dimensions only when configured to', async () => {
    await model().embed(['a']);
    await model({ sendDimensions: true }).embed(['a']);

    expect(embeddingBodies().map((body) => body.dimensions)).toEqual([undefined, 32]);
  });

  it('retries a rate-limited batch and keeps the order', async () => {
    server.script.enqueue({ kind: 'rate-limit', retryAfterMs: 1, endpoint: 'embeddings' });
    const texts = ['refund policy', 'shipping times', '退款政策'];

    const vectors = await model().embed(texts);

    expect(server.requests).toHaveLength(2);
    expect(vectors).toEqual(texts.map((text) => fakeEmbedding(text, 32)));
  });

  it('rejects vectors of another size than configured', async () => {
    server.script.enqueue({ kind: 'wrong-dimensions', dimensions: 8 });

    const failure = await model()
      .embed(['hello'])
      .catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(LlmError);
    expect(failure).toMatchObject({ kind: 'bad-response', retryable: false });
    expect((failure as LlmError).message).toContain('8 dimensions');
  });

  it('maps malformed JSON to "bad-response"', async () => {
    server.script.enqueue({ kind: 'malformed' });

    await expect(model().embed(['hello'])).rejects.toMatchObject({ kind: 'bad-response' });
  });

  it('times out a server that never answers', async () => {
    server.script.enqueue({ kind: 'hang' });

    await expect(model({ timeoutMs: 200, retry: { attempts: 1 } }).embed(['hello'])).rejects.toMatchObject({
      kind: 'timeout',
    });
  });

  it('is cancelled by its signal', async () => {
    server.script.enqueue({ kind: 'hang' });
    const controller = new AbortController();

    const pending = model().embed(['hello'], controller.signal);
    await new Promise<void>((resolve) => setImmediate(resolve));
    controller.abort();

    await expect(pending).rejects.toMatchObject({ kind: 'cancelled' });
  });

  it('refuses empty texts before calling the server', async () => {
    await expect(model().embed(['ok', '  '])).rejects.toMatchObject({ kind: 'bad-request' });
    expect(server.requests).toHaveLength(0);
  });

  it('returns nothing for nothing', async () => {
    await expect(model().embed([])).resolves.toEqual([]);
    expect(server.requests).toHaveLength(0);
  });

  it('reports the dimensions the server returns when testing the connection', async () => {
    await expect(model().testConnection()).resolves.toMatchObject({ ok: true, dimensions: 32 });
    await expect(model({ dimensions: 1536 }).testConnection()).resolves.toMatchObject({
      ok: false,
      dimensions: 32,
    });
    const failed = await model({ apiKey: 'sk-nope-nope-nope' }).testConnection();
    expect(failed).toMatchObject({ ok: false, errorKind: 'auth' });
  });

  it('calls the Azure deployment path', async () => {
    const azure = OpenAiEmbeddingModel.azure({
      endpoint: `${server.origin}/`,
      apiKey: API_KEY,
      deployment: 'embed-prod',
      apiVersion: '2024-10-21',
      dimensions: 32,
    });

    const [vector] = await azure.embed(['hello world']);

    expect(vector).toEqual(fakeEmbedding('hello world', 32));
    expect(server.requests[0].path).toBe('/openai/deployments/embed-prod/embeddings');
    expect(server.requests[0].query['api-version']).toBe('2024-10-21');
    expect(server.requests[0].headers['api-key']).toBe(API_KEY);
  });
});

describe('fakeEmbedding', () => {
  const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * b[i], 0);

  it('is deterministic, normalised, and closer for texts sharing words or CJK bigrams', () => {
    const refund = fakeEmbedding('How long does a refund take?', 256);
    expect(fakeEmbedding('How long does a refund take?', 256)).toEqual(refund);
    expect(Math.hypot(...refund)).toBeCloseTo(1, 10);
    expect(cosine(refund, fakeEmbedding('Refund timeline: a refund takes 14 days', 256))).toBeGreaterThan(
      cosine(refund, fakeEmbedding('Shipping to Canada costs 20 dollars', 256)),
    );
    const zh = fakeEmbedding('退款需要多久', 256);
    expect(cosine(zh, fakeEmbedding('退款一般需要十四天', 256))).toBeGreaterThan(
      cosine(zh, fakeEmbedding('发货到加拿大的运费', 256)),
    );
  });
});
