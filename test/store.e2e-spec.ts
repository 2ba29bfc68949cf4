import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { GroundedAnswerService } from '../src/store/answer/grounded-answer.service.js';
import { ingestJobId } from '../src/store/ingestion/ingestion-queue.js';
import { IngestionWorker } from '../src/store/ingestion/ingestion.worker.js';
import { StoreService } from '../src/store/store.service.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from './fakes/fake-openai-server.js';
import { buildPdf } from './fixtures/office-fixtures.js';
import {
  addText,
  createProvider,
  createStore,
  extractiveModel,
  fakeChatModel,
  fakeEmbeddingModel,
  readSse,
  waitForDocument,
  type DocumentBody,
} from './fixtures/store-fixtures.js';
import { startTestApp, TEST_ADMIN_KEY, TestApp } from './support/test-app.js';

const travelHandbookPdf = () =>
  buildPdf(
    [
      [
        'Booking changes',
        'You can change a booking online up to 24 hours before departure.',
        'Luggage',
        'Each passenger may bring one suitcase of at most 23 kilograms.',
      ],
      [
        'Refund policy',
        'Refunds for cancelled trips are paid back to the original card',
        'within 14 business days after the cancellation is approved.',
      ],
    ],
    'Acme Travel Handbook',
  );
const chineseMarkdown = () => readFileSync(new URL('./fixtures/refund-policy.zh.md', import.meta.url));

const weComBot = (storeId?: string) => ({
  name: 'wecom-helpdesk',
  category: 'bot',
  type: 'wecom-bot',
  config: {
    botId: 'aibStoreBot',
    token: 'Tok3nValue',
    encodingAesKey: 'jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C',
    ...(storeId ? { storeId } : {}),
  },
});

function upload(t: TestApp, storeId: string, filename: string, content: Buffer, title?: string) {
  const request = t.admin().post(`/api/v1/stores/${storeId}/documents`).attach('file', content, filename);
  return title ? request.field('title', title) : request;
}

describe('Knowledge stores', () => {
  let t: TestApp;
  let extractiveId: string;

  beforeAll(async () => {
    t = await startTestApp();
    extractiveId = await createProvider(t, extractiveModel());
  });
  afterAll(async () => {
    await t?.close();
  });

  describe('store admin API', () => {
    it('creates the first store as the default one, with documented defaults', async () => {
      const response = await t
        .admin()
        .post('/api/v1/stores')
        .send({ name: 'general', modelProviderId: extractiveId })
        .expect(201);
      expect(response.body).toMatchObject({
        name: 'general',
        displayName: 'general',
        modelProviderId: extractiveId,
        embeddingProviderId: null,
        systemPrompt: '',
        topK: 5,
        historyMessages: 10,
        maxAnswerTokens: null,
        isDefault: true,
      });
    });

    it('rejects bad input with field-level messages', async () => {
      const response = await t
        .admin()
        .post('/api/v1/stores')
        .send({ name: 'Not A Slug', modelProviderId: 'nope', topK: 0 })
        .expect(400);
      const fields = (response.body.details as { field: string }[]).map((detail) => detail.field).sort();
      expect(fields).toEqual(['modelProviderId', 'name', 'topK']);
    });

    it('requires the model provider to exist and to be a model', async () => {
      const missing = await t
        .admin()
        .post('/api/v1/stores')
        .send({ name: 'x1', modelProviderId: '00000000-0000-4000-8000-000000000000' })
        .expect(400);
      expect(missing.body.details).toEqual([
        {
          field: 'modelProviderId',
          messages: ['modelProviderId must be the id of an existing model provider'],
        },
      ]);
      const wrongCategory = await t
        .admin()
        .post('/api/v1/stores')
        .send({ name: 'x2', modelProviderId: extractiveId, embeddingProviderId: extractiveId })
        .expect(400);
      expect(wrongCategory.body.details[0].field).toBe('embeddingProviderId');
    });

    it('refuses a duplicate name with 409', async () => {
      const response = await t
        .admin()
        .post('/api/v1/stores')
        .send({ name: 'general', modelProviderId: extractiveId })
        .expect(409);
      expect(response.body).toMatchObject({ code: 'conflict', details: [{ field: 'name' }] });
    });

    it('keeps exactly one default store', async () => {
      const second = await createStore(t, { name: 'second', modelProviderId: extractiveId, isDefault: true });
      const list = await t.admin().get('/api/v1/stores?pageSize=50').expect(200);
      const defaults = (list.body.items as { id: string; isDefault: boolean }[]).filter((s) => s.isDefault);
      expect(defaults.map((s) => s.id)).toEqual([second]);

      const unset = await t.admin().patch(`/api/v1/stores/${second}`).send({ isDefault: false }).expect(400);
      expect(unset.body.details[0].field).toBe('isDefault');

      // Deleting the default store hands the role to the oldest remaining one.
      await t.admin().delete(`/api/v1/stores/${second}`).expect(204);
      const settings = await t.app.get(StoreService).settingsFor();
      expect(settings).toMatchObject({
        name: 'general',
        topK: 5,
        historyMessages: 10,
        fallbackMessage: null,
      });
    });

    it('changes only the fields sent and clears nullable ones with null', async () => {
      const id = await createStore(t, {
        name: 'patchable',
        modelProviderId: extractiveId,
        fallbackMessage: 'Try later',
        maxAnswerTokens: 300,
      });
      const response = await t
        .admin()
        .patch(`/api/v1/stores/${id}`)
        .send({ topK: 8, fallbackMessage: null, systemPrompt: 'Be brief.' })
        .expect(200);
      expect(response.body).toMatchObject({
        topK: 8,
        fallbackMessage: null,
        systemPrompt: 'Be brief.',
        maxAnswerTokens: 300,
      });
      await t.admin().patch(`/api/v1/stores/${id}`).send({ topK: null }).expect(400);
      await t.admin().delete(`/api/v1/stores/${id}`).expect(204);
      await t.admin().get(`/api/v1/stores/${id}`).expect(404);
    });

    it('lists stores paginated', async () => {
      const page = await t.admin().get('/api/v1/stores?page=1&pageSize=1').expect(200);
      expect(page.body).toMatchObject({ page: 1, pageSize: 1, total: 1 });
      expect(page.body.items).toHaveLength(1);
    });
  });

  describe('stores and bots', () => {
    let storeId: string;
    let botId: string;

    beforeAll(async () => {
      storeId = await createStore(t, { name: 'bot-store', modelProviderId: extractiveId });
    });

    it('rejects a bot whose storeId does not exist, on config.storeId', async () => {
      const response = await t
        .admin()
        .post('/api/v1/providers')
        .send(weComBot('00000000-0000-4000-8000-000000000000'))
        .expect(400);
      expect(response.body.details).toEqual([
        { field: 'config.storeId', messages: ['config.storeId must be the id of an existing store'] },
      ]);
    });

    it('refuses to delete a store a bot uses (409), and a model a store uses (409)', async () => {
      botId = await createProvider(t, weComBot(storeId));
      const response = await t.admin().delete(`/api/v1/stores/${storeId}`).expect(409);
      expect(response.body.message).toContain('wecom-helpdesk');
      await t.admin().delete(`/api/v1/providers/${extractiveId}`).expect(409);
    });

    it('deletes the store once no bot uses it', async () => {
      await t.admin().delete(`/api/v1/providers/${botId}`).expect(204);
      await t.admin().delete(`/api/v1/stores/${storeId}`).expect(204);
    });
  });

  describe('documents with the extractive model and no embeddings', () => {
    let storeId: string;
    let pdf: DocumentBody;

    beforeAll(async () => {
      storeId = await createStore(t, { name: 'handbook', modelProviderId: extractiveId });
    });

    it('ingests an English PDF and answers from it with the source', async () => {
      const response = await upload(t, storeId, 'handbook.pdf', travelHandbookPdf()).expect(201);
      expect(response.body).toMatchObject({ status: 'pending', duplicate: false, filename: 'handbook.pdf' });
      pdf = await waitForDocument(t, storeId, response.body.id);
      expect(pdf).toMatchObject({ status: 'ready', error: null, title: 'Acme Travel Handbook' });
      expect(pdf.chunkCount).toBeGreaterThan(0);

      const answer = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/ask`)
        .send({ question: 'How long does a refund take after I cancel?' })
        .expect(200);
      expect(answer.body.answer).toContain('within 14 business days');
      expect(answer.body.answer).toContain('Acme Travel Handbook');
      expect(answer.body.sources[0]).toMatchObject({
        documentId: pdf.id,
        title: 'Acme Travel Handbook',
        headingPath: ['Page 2'],
      });
      expect(answer.body.usage.completionTokens).toBeGreaterThan(0);
    });

    it('ingests a Chinese Markdown file and answers a Chinese question from it', async () => {
      const response = await upload(t, storeId, '售后服务.md', chineseMarkdown()).expect(201);
      expect(response.body.filename).toBe('售后服务.md');
      const document = await waitForDocument(t, storeId, response.body.id);
      expect(document).toMatchObject({ status: 'ready', title: '售后服务指南' });

      const answer = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/ask`)
        .send({ question: '退款多久能到账？' })
        .expect(200);
      expect(answer.body.answer).toContain('款项将在十四天内原路退回');
      expect(answer.body.sources[0]).toMatchObject({
        documentId: document.id,
        title: '售后服务指南',
        headingPath: ['售后服务指南', '退款政策'],
      });
    });

    it('does not store identical content twice', async () => {
      const again = await upload(t, storeId, 'copy-of-handbook.pdf', travelHandbookPdf()).expect(200);
      expect(again.body).toMatchObject({ id: pdf.id, duplicate: true, status: 'ready' });
      const list = await t.admin().get(`/api/v1/stores/${storeId}/documents`).expect(200);
      expect(list.body.total).toBe(2);
    });

    it('marks a broken file failed, naming the stage, and the store keeps working', async () => {
      const broken = Buffer.concat([
        Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog'),
        Buffer.alloc(2000, 0x8f),
      ]);
      const response = await upload(t, storeId, 'broken.pdf', broken, 'Broken manual').expect(201);
      const document = await waitForDocument(t, storeId, response.body.id);
      expect(document).toMatchObject({ status: 'failed', failedStage: 'parse', chunkCount: 0 });
      expect(document.error).toMatch(/^Parsing failed: .*PDF/);

      const failed = await t.admin().get(`/api/v1/stores/${storeId}/documents?status=failed`).expect(200);
      expect(failed.body.items.map((item: DocumentBody) => item.id)).toEqual([document.id]);

      const search = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/search`)
        .send({ query: 'luggage suitcase weight' })
        .expect(200);
      expect(search.body.mode).toBe('full-text');
      expect(search.body.hits[0]).toMatchObject({
        documentId: pdf.id,
        source: 'Acme Travel Handbook › Page 1',
      });
      expect(search.body.hits[0].content).toContain('23 kilograms');
    });

    it('rejects a file type it cannot read, and a request with neither file nor content', async () => {
      const response = await upload(t, storeId, 'slides.ppt', Buffer.from('binary')).expect(400);
      expect(response.body.details[0].field).toBe('file');
      const empty = await t.admin().post(`/api/v1/stores/${storeId}/documents`).send({}).expect(400);
      expect(empty.body.details.map((detail: { field: string }) => detail.field)).toEqual([
        'content',
        'title',
      ]);
    });

    it('re-runs a job idempotently (a worker that crashed mid-way is retried without duplicates)', async () => {
      const rows: { version: number }[] = await t.app
        .get(DataSource)
        .query(`SELECT ingest_version AS version FROM documents WHERE id = $1`, [pdf.id]);
      const job = {
        id: pdf.id,
        name: 'ingest-document',
        data: { documentId: pdf.id, version: rows[0].version },
      };
      // The worker stopped before its final write: the document is still `processing` when the job reruns.
      const crashMidway = () =>
        t.app.get(DataSource).query(`UPDATE documents SET status = 'processing' WHERE id = $1`, [pdf.id]);
      await crashMidway();
      await t.app.get(IngestionWorker).run(job);
      await crashMidway();
      await t.app.get(IngestionWorker).run(job);
      const counts: { chunks: number; terms: number }[] = await t.app.get(DataSource).query(
        `SELECT (SELECT count(*)::int FROM chunks WHERE document_id = $1) AS chunks,
                (SELECT df FROM store_terms WHERE store_id = $2 AND lexeme = '') AS terms`,
        [pdf.id, storeId],
      );
      const all: { count: number }[] = await t.app
        .get(DataSource)
        .query(`SELECT count(*)::int AS count FROM chunks WHERE store_id = $1`, [storeId]);
      expect(counts[0].chunks).toBe(pdf.chunkCount);
      expect(counts[0].terms).toBe(all[0].count);
    });

    it('does nothing when a job reruns for a document it already ingested', async () => {
      const db = t.app.get(DataSource);
      const [before] = await db.query(
        `SELECT ingest_version AS version, indexed_at FROM documents WHERE id = $1`,
        [pdf.id],
      );
      const job = {
        id: pdf.id,
        name: 'ingest-document',
        data: { documentId: pdf.id, version: before.version },
      };
      await t.app.get(IngestionWorker).run(job);
      const [after] = await db.query(`SELECT status, indexed_at FROM documents WHERE id = $1`, [pdf.id]);
      expect(after).toEqual({ status: 'ready', indexed_at: before.indexed_at });
    });

    describe('a document whose ingestion worker stopped', () => {
      const db = () => t.app.get(DataSource);
      /** The state a killed worker leaves: the document processing, its pg-boss job active, no heartbeat. */
      async function abandon(documentId: string, retryCount: number): Promise<string> {
        // An UPDATE … RETURNING gives TypeORM's [rows, affected count].
        const [[{ version }]] = await db().query(
          `UPDATE documents SET status = 'processing', updated_at = now() - interval '1 hour' WHERE id = $1
           RETURNING ingest_version AS version`,
          [documentId],
        );
        const jobId = ingestJobId(documentId, version);
        await db().query(
          `UPDATE pgboss.job SET state = 'active', started_on = now(), completed_on = NULL, retry_count = $2
           WHERE name = 'ingest-document' AND id = $1`,
          [jobId, retryCount],
        );
        return jobId;
      }
      const jobState = async (jobId: string) =>
        (
          await db().query(`SELECT state FROM pgboss.job WHERE name = 'ingest-document' AND id = $1`, [jobId])
        )[0].state;

      it('is ingested again at once instead of when its job expires', async () => {
        const jobId = await abandon(pdf.id, 0);
        await t.app.get(IngestionWorker).sweep();
        expect(await jobState(jobId)).toBe('retry');
        // Skip pg-boss's retry delay (10 s) so the test does not wait for it.
        await db().query(
          `UPDATE pgboss.job SET start_after = now() WHERE name = 'ingest-document' AND id = $1`,
          [jobId],
        );
        const done = await waitForDocument(t, storeId, pdf.id);
        expect(done).toMatchObject({ status: 'ready', chunkCount: pdf.chunkCount });
      });

      it('ends failed, not processing forever, once its retries are used up', async () => {
        const [{ limit }] = await db().query(
          `SELECT retry_limit AS limit FROM pgboss.job WHERE name = 'ingest-document' AND id = $1`,
          [pdf.id],
        );
        const jobId = await abandon(pdf.id, limit);
        await t.app.get(IngestionWorker).sweep();
        expect(await jobState(jobId)).toBe('failed');
        await db().query(`UPDATE documents SET updated_at = now() - interval '1 hour' WHERE id = $1`, [
          pdf.id,
        ]);
        await t.app.get(IngestionWorker).sweep();
        const response = await t.admin().get(`/api/v1/stores/${storeId}/documents/${pdf.id}`).expect(200);
        expect(response.body).toMatchObject({ status: 'failed' });
        expect(response.body.error).toContain('interrupted');
      });
    });

    it('re-indexes every document', async () => {
      const response = await t.admin().post(`/api/v1/stores/${storeId}/reindex`).expect(202);
      expect(response.body).toEqual({ queued: 3 });
      const list = await t.admin().get(`/api/v1/stores/${storeId}/documents`).expect(200);
      const done = await Promise.all(
        list.body.items.map((item: DocumentBody) => waitForDocument(t, storeId, item.id)),
      );
      expect(done.map((document) => document.status).sort()).toEqual(['failed', 'ready', 'ready']);
      expect(done.find((document) => document.id === pdf.id)?.chunkCount).toBe(pdf.chunkCount);
    });

    it('deletes a document with its chunks', async () => {
      const doc = await addText(t, storeId, 'Parking', 'Parking at the airport costs 12 euros per day.');
      await waitForDocument(t, storeId, doc.id);
      const before = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/search`)
        .send({ query: 'airport parking' });
      expect(before.body.hits[0].documentId).toBe(doc.id);
      await t.admin().delete(`/api/v1/stores/${storeId}/documents/${doc.id}`).expect(204);
      await t.admin().delete(`/api/v1/stores/${storeId}/documents/${doc.id}`).expect(404);
      const after = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/search`)
        .send({ query: 'airport parking' });
      expect(after.body.hits.map((hit: { documentId: string }) => hit.documentId)).not.toContain(doc.id);
    });

    it('answers through GroundedAnswerService from the default store when no storeId is given', async () => {
      await t.admin().patch(`/api/v1/stores/${storeId}`).send({ isDefault: true }).expect(200);
      const answer = await t.app.get(GroundedAnswerService).answer({
        question: 'How heavy may my suitcase be?',
        history: [],
      });
      expect(answer.storeId).toBe(storeId);
      expect(answer.sources[0]).toMatchObject({ documentId: pdf.id, title: 'Acme Travel Handbook' });
      let text = '';
      for await (const event of answer.events) if (event.type === 'token') text += event.text;
      expect(text).toContain('23 kilograms');
    });
  });

  describe('with an OpenAI-compatible model and embeddings (fake server over HTTP)', () => {
    let fake: FakeOpenAiServer;
    let storeId: string;
    let chatId: string;
    let embeddingId: string;

    beforeAll(async () => {
      fake = await startFakeOpenAiServer({
        tokens: ['Refunds ', 'take ', '14 ', 'days ', '[1].'],
        tokenDelayMs: 30,
      });
      chatId = await createProvider(t, fakeChatModel(fake.baseUrl));
      embeddingId = await createProvider(t, fakeEmbeddingModel(fake.baseUrl));
      storeId = await createStore(t, {
        name: 'llm-store',
        modelProviderId: chatId,
        embeddingProviderId: embeddingId,
        systemPrompt: 'You are the Acme travel assistant.',
        historyMessages: 2,
      });
      const response = await upload(t, storeId, 'handbook.pdf', travelHandbookPdf()).expect(201);
      expect(await waitForDocument(t, storeId, response.body.id)).toMatchObject({ status: 'ready' });
    });
    afterAll(async () => {
      await fake?.close();
    });

    it('embeds chunks in batches and searches hybrid', async () => {
      expect(fake.requests.some((request) => request.endpoint === 'embeddings')).toBe(true);
      const rows: { dims: number }[] = await t.app
        .get(DataSource)
        .query(`SELECT DISTINCT embedding_dims AS dims FROM chunks WHERE store_id = $1`, [storeId]);
      expect(rows).toEqual([{ dims: 64 }]);
      const search = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/search`)
        .send({ query: 'refund for a cancelled trip', topK: 3 })
        .expect(200);
      expect(search.body.mode).toBe('hybrid');
      expect(search.body.hits[0].content).toContain('14 business days');
      expect(search.body.hits[0].vectorRank).toBe(1);
      expect(search.body.hits[0].textRank).toBe(1);
    });

    it('sends the retrieved passage and the (trimmed) history in the prompt', async () => {
      const before = fake.requests.length;
      const response = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/ask`)
        .send({
          question: 'And how long does the refund take?',
          history: [
            { role: 'user', content: 'An old question that is out of the window' },
            { role: 'assistant', content: 'An old answer' },
            { role: 'user', content: 'I cancelled my trip to Lisbon.' },
            { role: 'assistant', content: 'Sorry to hear that. How can I help?' },
          ],
        })
        .expect(200);
      expect(response.body).toMatchObject({ answer: 'Refunds take 14 days [1].', finishReason: 'stop' });
      expect(response.body.sources[0]).toMatchObject({
        title: 'Acme Travel Handbook',
        headingPath: ['Page 2'],
      });
      expect(response.body.usage.promptTokens).toBeGreaterThan(0);

      const chat = fake.requests.slice(before).find((request) => request.endpoint === 'chat');
      const messages = (chat?.body as { messages: { role: string; content: string }[] }).messages;
      expect(messages[0]).toMatchObject({ role: 'system' });
      expect(messages[0].content).toContain('You are the Acme travel assistant.');
      expect(messages.slice(1, 3)).toEqual([
        { role: 'user', content: 'I cancelled my trip to Lisbon.' },
        { role: 'assistant', content: 'Sorry to hear that. How can I help?' },
      ]);
      const last = messages[messages.length - 1].content;
      expect(last).toContain('[1] Acme Travel Handbook › Page 2');
      expect(last).toContain('within 14 business days after the cancellation is approved.');
      expect(last).toContain('Question: And how long does the refund take?');
      expect(JSON.stringify(messages)).not.toContain('An old question');
    });

    it('streams the answer token by token over SSE, then sources and usage', async () => {
      const server = t.app.getHttpServer();
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = server.address() as AddressInfo;
        const { status, events } = await readSse(`http://127.0.0.1:${port}/api/v1/stores/${storeId}/ask`, {
          method: 'POST',
          headers: {
            Authorization: `Bearer ${TEST_ADMIN_KEY}`,
            'Content-Type': 'application/json',
            Accept: 'text/event-stream',
          },
          body: JSON.stringify({ question: 'How long does a refund take?' }),
        });
        expect(status).toBe(200);
        const tokens = events.filter((event) => event.event === 'token');
        expect(tokens.map((event) => (event.data as { text: string }).text)).toEqual([
          'Refunds ',
          'take ',
          '14 ',
          'days ',
          '[1].',
        ]);
        // Each token was written as it came from the model (30 ms apart), not all at the end.
        expect(tokens[tokens.length - 1].at - tokens[0].at).toBeGreaterThan(60);
        const done = events[events.length - 1];
        expect(done.event).toBe('done');
        expect(done.data).toMatchObject({
          answer: 'Refunds take 14 days [1].',
          usage: { completionTokens: expect.any(Number), promptTokens: expect.any(Number) },
        });
        expect((done.data as { sources: { headingPath: string[] }[] }).sources[0].headingPath).toEqual([
          'Page 2',
        ]);
      } finally {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });

    it("says the store's fallback message when the model fails", async () => {
      await t.admin().patch(`/api/v1/stores/${storeId}`).send({ fallbackMessage: 'Please try again later.' });
      fake.script.enqueue({
        endpoint: 'chat',
        kind: 'error',
        status: 401,
        body: { error: { message: 'bad key' } },
      });
      const response = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/ask`)
        .send({ question: 'Refunds?' })
        .expect(200);
      expect(response.body).toMatchObject({ answer: 'Please try again later.', error: { kind: 'auth' } });
    });

    it('fails a document at the embed stage when the embedding API refuses it; the store keeps answering', async () => {
      fake.script.enqueue({
        endpoint: 'embeddings',
        kind: 'error',
        status: 400,
        body: { error: { message: 'input too long' } },
      });
      const document = await addText(t, storeId, 'Pets', 'Small pets may travel in the cabin in a carrier.');
      const done = await waitForDocument(t, storeId, document.id);
      expect(done).toMatchObject({ status: 'failed', failedStage: 'embed' });
      expect(done.error).toMatch(/^Embedding failed: /);
      const search = await t
        .admin()
        .post(`/api/v1/stores/${storeId}/search`)
        .send({ query: 'suitcase' })
        .expect(200);
      expect(search.body.hits[0].content).toContain('23 kilograms');
    });
  });

  it('re-indexes every document when the embedding provider changes (here: removed)', async () => {
    const stores = await t.admin().get('/api/v1/stores?pageSize=100').expect(200);
    const storeId = (stores.body.items as { id: string; name: string }[]).find(
      (s) => s.name === 'llm-store',
    )!.id;
    await t.admin().patch(`/api/v1/stores/${storeId}`).send({ embeddingProviderId: null }).expect(200);
    const list = await t.admin().get(`/api/v1/stores/${storeId}/documents`).expect(200);
    const done = await Promise.all(
      list.body.items.map((item: DocumentBody) => waitForDocument(t, storeId, item.id)),
    );
    // The document whose embedding failed before is ingested now that no embedding is needed.
    expect(done.map((document) => document.status)).toEqual(['ready', 'ready']);
    const embedded: { count: number }[] = await t.app
      .get(DataSource)
      .query(`SELECT count(*)::int AS count FROM chunks WHERE store_id = $1 AND embedding IS NOT NULL`, [
        storeId,
      ]);
    expect(embedded[0].count).toBe(0);
    const search = await t
      .admin()
      .post(`/api/v1/stores/${storeId}/search`)
      .send({ query: 'pets cabin' })
      .expect(200);
    expect(search.body).toMatchObject({ mode: 'full-text', hits: [{ documentTitle: 'Pets' }] });
  });

  it('documents the store routes in OpenAPI', async () => {
    const response = await t.anonymous().get('/docs-json').expect(200);
    const paths = Object.keys(response.body.paths);
    expect(paths).toEqual(
      expect.arrayContaining([
        '/api/v1/stores',
        '/api/v1/stores/{id}',
        '/api/v1/stores/{storeId}/documents',
        '/api/v1/stores/{id}/reindex',
        '/api/v1/stores/{id}/search',
        '/api/v1/stores/{id}/ask',
      ]),
    );
  });
});

describe('Document upload limit', () => {
  let t: TestApp;
  afterAll(async () => {
    await t?.close();
  });

  it('answers 413 in the shared error shape for a file over UPLOAD_LIMIT_MB', async () => {
    t = await startTestApp({ UPLOAD_LIMIT_MB: '1' });
    const modelId = await createProvider(t, extractiveModel());
    const storeId = await createStore(t, { name: 'limited', modelProviderId: modelId });
    const response = await upload(t, storeId, 'big.txt', Buffer.alloc(1024 * 1024 + 10, 'a')).expect(413);
    expect(response.body).toMatchObject({ statusCode: 413, code: 'payload_too_large' });
    expect(response.body.requestId).toBe(response.headers['x-request-id']);
    await upload(t, storeId, 'small.txt', Buffer.from('Small enough to keep.')).expect(201);
  });
});
