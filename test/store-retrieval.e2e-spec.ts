import { startFakeOpenAiServer, type FakeOpenAiServer } from './fakes/fake-openai-server.js';
import {
  addTextsAndWait,
  createProvider,
  createStore,
  extractiveModel,
  fakeEmbeddingModel,
} from './fixtures/store-fixtures.js';
import { startTestApp, TestApp } from './support/test-app.js';

const ENGLISH = [
  {
    title: 'Refund policy',
    content:
      '# Refunds\n\nCustomers are refunded within 14 days once the returned item has been inspected. ' +
      'Refunds go back to the original payment method.',
  },
  {
    title: 'Shipping',
    content:
      '# Delivery times\n\nStandard shipping takes three to five working days. Express delivery arrives the next day ' +
      'when ordered before noon.',
  },
  {
    title: 'Account security',
    content:
      '# Passwords\n\nTo reset a forgotten password, open the sign-in page and choose "Forgot password". ' +
      'Passwords must have at least twelve characters.',
  },
  {
    title: 'Warranty',
    content:
      '# Warranty\n\nElectronics carry a two-year warranty covering manufacturing defects. Accidental damage is not covered.',
  },
  {
    title: 'Opening hours',
    content: '# Stores\n\nOur stores open from 9 am to 8 pm on weekdays and from 10 am to 6 pm on Saturdays.',
  },
  {
    title: 'Gift cards',
    content: '# Gift cards\n\nGift cards never expire and can be used online or in any store.',
  },
];

const CHINESE = [
  {
    title: '退款政策',
    content: '# 退款\n\n审核通过后，款项将在十四天内原路退回到您的付款账户。',
  },
  {
    title: '配送说明',
    content: '# 配送时间\n\n普通快递三到五个工作日送达，加急快递次日送达。偏远地区可能需要更长时间。',
  },
  {
    title: '账户安全',
    content: '# 密码\n\n忘记密码时，请在登录页面点击“忘记密码”并通过手机验证码重置。',
  },
  {
    title: '保修服务',
    content: '# 保修\n\n所有电子产品享受两年免费保修，人为损坏不在保修范围内。',
  },
  {
    title: '营业时间',
    content: '# 门店\n\n门店周一至周五早上九点到晚上八点营业，周六十点到六点营业。',
  },
];

/** Question → the title of the document that answers it. */
const ENGLISH_QUESTIONS: [string, string][] = [
  ['How long until I get my money back after returning something?', 'Refund policy'],
  ['How many days does delivery take?', 'Shipping'],
  ['I forgot my password, how can I reset it?', 'Account security'],
  ['Is accidental damage covered by the warranty?', 'Warranty'],
  ['What time do the stores open on Saturday?', 'Opening hours'],
  ['Do gift cards expire?', 'Gift cards'],
];

const CHINESE_QUESTIONS: [string, string][] = [
  ['退款多久能退回？', '退款政策'],
  ['快递几天能送到？', '配送说明'],
  ['忘记密码怎么办？', '账户安全'],
  ['电子产品保修多久？', '保修服务'],
  ['周六几点营业？', '营业时间'],
];

interface Hit {
  documentTitle: string;
}

async function firstHits(t: TestApp, storeId: string, questions: [string, string][]) {
  const results: { question: string; expected: string; got: string | undefined; mode: string }[] = [];
  for (const [question, expected] of questions) {
    const response = await t
      .admin()
      .post(`/api/v1/stores/${storeId}/search`)
      .send({ query: question, topK: 3 });
    expect(response.status).toBe(200);
    results.push({
      question,
      expected,
      got: (response.body.hits as Hit[])[0]?.documentTitle,
      mode: response.body.mode as string,
    });
  }
  return results;
}

describe('Retrieval ranks the right passage first', () => {
  let t: TestApp;
  let fake: FakeOpenAiServer;
  let fullTextStore: string;
  let hybridStore: string;

  beforeAll(async () => {
    t = await startTestApp();
    fake = await startFakeOpenAiServer({ embeddingDimensions: 96 });
    const modelId = await createProvider(t, extractiveModel());
    const embeddingId = await createProvider(t, fakeEmbeddingModel(fake.baseUrl, 'fake-embedding', 96));
    fullTextStore = await createStore(t, { name: 'full-text', modelProviderId: modelId });
    hybridStore = await createStore(t, {
      name: 'hybrid',
      modelProviderId: modelId,
      embeddingProviderId: embeddingId,
    });
    for (const storeId of [fullTextStore, hybridStore]) {
      const documents = await addTextsAndWait(t, storeId, [...ENGLISH, ...CHINESE]);
      expect(documents.every((document) => document.status === 'ready')).toBe(true);
    }
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  it('in English with full-text search only (stemming: refunded ~ refund, passwords ~ password)', async () => {
    const results = await firstHits(t, fullTextStore, ENGLISH_QUESTIONS);
    expect(results.map((r) => r.mode)).toEqual(ENGLISH_QUESTIONS.map(() => 'full-text'));
    expect(results.map((r) => [r.question, r.got])).toEqual(ENGLISH_QUESTIONS);
  });

  it('in Chinese with full-text search only (character bigrams)', async () => {
    const results = await firstHits(t, fullTextStore, CHINESE_QUESTIONS);
    expect(results.map((r) => [r.question, r.got])).toEqual(CHINESE_QUESTIONS);
  });

  it('in English and Chinese with hybrid search (embeddings + full-text, fused)', async () => {
    const results = await firstHits(t, hybridStore, [...ENGLISH_QUESTIONS, ...CHINESE_QUESTIONS]);
    expect(new Set(results.map((r) => r.mode))).toEqual(new Set(['hybrid']));
    expect(results.map((r) => [r.question, r.got])).toEqual([...ENGLISH_QUESTIONS, ...CHINESE_QUESTIONS]);
  });

  it('returns scores, ranks and sources with each hit', async () => {
    const response = await t
      .admin()
      .post(`/api/v1/stores/${hybridStore}/search`)
      .send({ query: 'reset a forgotten password', topK: 2 })
      .expect(200);
    expect(response.body.hits).toHaveLength(2);
    expect(response.body.hits[0]).toMatchObject({
      documentTitle: 'Account security',
      headingPath: ['Passwords'],
      source: 'Account security › Passwords',
      vectorRank: expect.any(Number),
      textRank: 1,
    });
    expect(response.body.hits[0].score).toBeGreaterThan(response.body.hits[1].score);
  });

  it('finds nothing rather than failing for a query of stopwords or punctuation', async () => {
    const response = await t
      .admin()
      .post(`/api/v1/stores/${fullTextStore}/search`)
      .send({ query: "what is the ?!' & | :*" })
      .expect(200);
    expect(response.body).toEqual({ mode: 'full-text', hits: [] });
  });

  it('falls back to full-text when the embedding service fails for the query (one quick retry)', async () => {
    fake.script.enqueue(
      ...Array.from({ length: 2 }, () => ({
        endpoint: 'embeddings' as const,
        kind: 'error' as const,
        status: 503,
      })),
    );
    const response = await t
      .admin()
      .post(`/api/v1/stores/${hybridStore}/search`)
      .send({ query: 'Do gift cards expire?' })
      .expect(200);
    expect(response.body.mode).toBe('full-text');
    expect(response.body.hits[0].documentTitle).toBe('Gift cards');
  });
});
