import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { startFakeTencentServer, type FakeTencentServer } from '../../test/fakes/fake-tencent-server.js';
import { NotFoundError } from '../common/errors.js';
import type { AnswerSnapshot } from '../conversation/conversation.types.js';
import type { TencentChatBotConfig } from '../provider/provider-types.js';
import type { ProviderService, ResolvedProvider } from '../provider/provider.service.js';
import { TencentChatDelivery } from './tencent-chat.delivery.js';

const SDK_APP_ID = 1400000000;
const SECRET_KEY = 'delivery-spec-secret-0123456789abcdef';
const ROBOT = '@RBT#001';

let fake: FakeTencentServer;
let bots: Map<string, ResolvedProvider<TencentChatBotConfig>>;

const providers = {
  resolve: async (id: string) => {
    const bot = bots.get(id);
    if (!bot) throw new NotFoundError('Provider', id);
    return bot;
  },
} as unknown as ProviderService;

const newDelivery = () => new TencentChatDelivery(providers, pino({ level: 'silent' }));

function addBot(id: string, config: Partial<TencentChatBotConfig> = {}, enabled = true): void {
  bots.set(id, {
    id,
    name: id,
    category: 'bot',
    type: 'tencent-chat',
    enabled,
    config: {
      sdkAppId: String(SDK_APP_ID),
      secretKey: SECRET_KEY,
      adminIdentifier: 'administrator',
      robotId: ROBOT,
      callbackToken: 'token',
      apiBaseUrl: fake.baseUrl,
      ...config,
    },
  });
}

let sequence = 0;
function snapshot(
  botProviderId: string,
  content: string,
  overrides: Partial<AnswerSnapshot> = {},
): AnswerSnapshot {
  return {
    answerId: `answer-${sequence}`,
    botProviderId,
    platform: 'tencent-chat',
    status: 'generating',
    content,
    finished: false,
    replyTarget: { kind: 'c2c', robot: ROBOT, toAccount: 'jared' },
    chatKey: 'jared',
    isGroup: false,
    receivedAt: new Date(),
    finishedAt: null,
    sources: [],
    ...overrides,
  };
}
const done = (answer: AnswerSnapshot, content = answer.content): AnswerSnapshot => ({
  ...answer,
  content,
  status: 'done',
  finished: true,
  finishedAt: new Date(),
});

const sent = (command: string) => fake.messages.filter((message) => message.command === command);
const textOf = (body: Record<string, unknown>) =>
  ((body.MsgBody as { MsgContent: { Text: string } }[])[0]?.MsgContent.Text ?? '') as string;

beforeAll(async () => {
  fake = await startFakeTencentServer({ sdkAppId: SDK_APP_ID, secretKey: SECRET_KEY });
});
afterAll(async () => {
  await fake.close();
});
beforeEach(() => {
  fake.reset();
  bots = new Map();
  sequence += 1;
});

describe('TencentChatDelivery, final reply mode', () => {
  it('sends the answer from the robot to the user and returns its MsgKey', async () => {
    addBot('final');
    const delivery = newDelivery();
    const answer = snapshot('final', 'Hello Jared');
    await delivery.progress(answer);
    const outcome = await delivery.deliver(done(answer));
    expect(outcome.status).toBe('delivered');
    expect(sent('sendmsg')).toHaveLength(1);
    expect(sent('sendmsg')[0].body).toMatchObject({ From_Account: ROBOT, To_Account: 'jared' });
    expect(textOf(sent('sendmsg')[0].body)).toBe('Hello Jared');
    expect(outcome.platformMessageIds).toHaveLength(1);
    expect(outcome.platformMessageIds?.[0]).toMatch(/_/);
    expect(sent('send_stream_msg')).toHaveLength(0);
  });

  it('sends group answers with send_group_msg and returns the MsgSeq', async () => {
    addBot('group');
    const outcome = await newDelivery().deliver(
      done(snapshot('group', 'Hi all', { replyTarget: { kind: 'group', robot: ROBOT, groupId: '@TGS#1' } })),
    );
    expect(outcome).toEqual({ status: 'delivered', platformMessageIds: ['1'] });
    expect(sent('send_group_msg')[0].body).toMatchObject({ GroupId: '@TGS#1', From_Account: ROBOT });
  });

  it('reports the parts already sent when a later part fails', async () => {
    addBot('partial');
    fake.failNext(1, { errorCode: 80001, errorInfo: 'sensitive', after: 1 });
    const outcome = await newDelivery().deliver(done(snapshot('partial', 'word '.repeat(5000))));
    expect(outcome.status).toBe('failed');
    expect(outcome.platformMessageIds).toHaveLength(1);
    expect(outcome.error).toMatch(/80001/);
  });

  it('sends nothing for a disabled bot, a deleted bot or an empty answer', async () => {
    addBot('off', {}, false);
    addBot('empty');
    const delivery = newDelivery();
    expect((await delivery.deliver(done(snapshot('off', 'x')))).status).toBe('skipped');
    expect((await delivery.deliver(done(snapshot('gone', 'x')))).status).toBe('failed');
    expect((await delivery.deliver(done(snapshot('empty', '  ')))).status).toBe('skipped');
    expect(fake.messages).toHaveLength(0);
  });
});

describe('TencentChatDelivery, stream reply mode', () => {
  it('streams the new text of each progress to a C2C chat and finishes the stream on delivery', async () => {
    addBot('stream', { replyMode: 'stream' });
    const delivery = newDelivery();
    const answer = snapshot('stream', '');
    await delivery.progress({ ...answer, content: 'Hel' });
    await delivery.progress({ ...answer, content: 'Hello wor' });
    const outcome = await delivery.deliver(done(answer, 'Hello world'));
    const chunks = sent('send_stream_msg').map((message) => message.body);
    expect(chunks.map((chunk) => chunk.Chunk)).toEqual(['Hel', 'lo wor', 'ld']);
    expect(chunks.map((chunk) => chunk.Finish)).toEqual([undefined, undefined, 1]);
    expect(chunks[0].MsgKey).toBeUndefined();
    expect(new Set(chunks.slice(1).map((chunk) => chunk.MsgKey)).size).toBe(1);
    expect(chunks[0]).toMatchObject({ From_Account: ROBOT, To_Account: 'jared' });
    expect(outcome).toEqual({ status: 'delivered', platformMessageIds: [chunks[1].MsgKey] });
    expect(sent('sendmsg')).toHaveLength(0);
  });

  it('keeps chunks in order when progress reports overlap a slow call, and never repeats text', async () => {
    addBot('burst', { replyMode: 'stream' });
    fake.delayNext(100, 2);
    const delivery = newDelivery();
    const answer = snapshot('burst', '');
    const words = Array.from({ length: 12 }, (_, index) => `w${index} `);
    const upTo = (count: number) => ({ ...answer, content: words.slice(0, count).join('') });
    // The engine does not await progress: reports pile up while the first chunk is on its way.
    const pending = words.map((_, index) => delivery.progress(upTo(index + 1)));
    await Promise.all(pending);
    const first = sent('send_stream_msg').length;
    expect(first).toBeGreaterThanOrEqual(1);
    expect(first).toBeLessThan(words.length);
    const outcome = await delivery.deliver(done(answer, `${words.join('')}end`));
    const chunks = sent('send_stream_msg').map((message) => message.body);
    expect(chunks.map((chunk) => chunk.Chunk).join('')).toBe(`${words.join('')}end`);
    expect(chunks.filter((chunk) => chunk.Finish === 1)).toHaveLength(1);
    expect(chunks.at(-1)?.Finish).toBe(1);
    expect(outcome.status).toBe('delivered');
  });

  it('waits for a chunk in flight before finishing the stream', async () => {
    addBot('inflight', { replyMode: 'stream' });
    fake.delayNext(150);
    const delivery = newDelivery();
    const answer = snapshot('inflight', '');
    void delivery.progress({ ...answer, content: 'first ' });
    await new Promise((resolve) => setImmediate(resolve));
    void delivery.progress({ ...answer, content: 'first second ' });
    const outcome = await delivery.deliver(done(answer, 'first second third'));
    const chunks = sent('send_stream_msg').map((message) => message.body);
    expect(chunks.map((chunk) => chunk.Chunk)).toEqual(['first ', 'second third']);
    expect(chunks.map((chunk) => chunk.Finish)).toEqual([undefined, 1]);
    expect(outcome.status).toBe('delivered');
  });

  it('appends the apology when a failed answer replaces the streamed text', async () => {
    addBot('apology', { replyMode: 'stream' });
    const delivery = newDelivery();
    const answer = snapshot('apology', '');
    await delivery.progress({ ...answer, content: 'The refund po' });
    await delivery.deliver({ ...done(answer, 'Sorry, try again later.'), status: 'failed' });
    const chunks = sent('send_stream_msg').map((message) => message.body.Chunk);
    expect(chunks).toEqual(['The refund po', '\n\nSorry, try again later.']);
  });

  it('finishes the stream within one message and sends the overflow as numbered messages', async () => {
    addBot('long', { replyMode: 'stream' });
    const delivery = newDelivery();
    const answer = snapshot('long', '');
    await delivery.progress({ ...answer, content: 'Start. ' });
    const long = `Start. ${'lorem ipsum '.repeat(2000)}`;
    const outcome = await delivery.deliver(done(answer, long));
    const chunks = sent('send_stream_msg').map((message) => message.body);
    expect(chunks.at(-1)?.Finish).toBe(1);
    const overflow = sent('sendmsg').map((message) => textOf(message.body));
    expect(overflow.length).toBeGreaterThanOrEqual(2);
    expect(overflow[0]).toMatch(/^\(1\/\d\) /);
    const streamed = chunks.map((chunk) => chunk.Chunk as string).join('');
    const rest = overflow.map((part) => part.replace(/^\(\d+\/\d+\) /, '')).join(' ');
    const normalise = (text: string) => text.replace(/\s+/g, ' ').trim();
    const same = normalise(`${streamed} ${rest}`) === normalise(long);
    expect(same).toBe(true);
    expect(outcome.platformMessageIds).toHaveLength(1 + overflow.length);
  });

  it('sends the answer whole when the stream state is missing (another instance streamed it)', async () => {
    addBot('elsewhere', { replyMode: 'stream' });
    const outcome = await newDelivery().deliver(done(snapshot('elsewhere', 'Complete answer')));
    expect(sent('send_stream_msg')).toHaveLength(0);
    expect(sent('sendmsg').map((message) => textOf(message.body))).toEqual(['Complete answer']);
    expect(outcome.status).toBe('delivered');
  });

  it('falls back to a whole message when streaming fails', async () => {
    addBot('broken', { replyMode: 'stream' });
    const delivery = newDelivery();
    const answer = snapshot('broken', '');
    fake.failNext(1, { errorCode: 20003, errorInfo: 'invalid user' });
    await delivery.progress({ ...answer, content: 'Part' });
    await delivery.progress({ ...answer, content: 'Partial' });
    const outcome = await delivery.deliver(done(answer, 'Partial answer'));
    expect(sent('send_stream_msg')).toHaveLength(0);
    expect(sent('sendmsg').map((message) => textOf(message.body))).toEqual(['Partial answer']);
    expect(outcome.status).toBe('delivered');
  });

  it('posts a group placeholder, edits it at most once a second and ends with the final text', async () => {
    addBot('group-stream', { replyMode: 'stream' });
    const delivery = newDelivery();
    const answer = snapshot('group-stream', '', {
      replyTarget: { kind: 'group', robot: ROBOT, groupId: '@TGS#2' },
      isGroup: true,
    });
    await delivery.progress({ ...answer, content: 'One' });
    await delivery.progress({ ...answer, content: 'One two' });
    await delivery.progress({ ...answer, content: 'One two three' });
    const outcome = await delivery.deliver(done(answer, 'One two three four.'));
    expect(sent('send_group_msg').map((message) => textOf(message.body))).toEqual(['One']);
    const edits = sent('modify_group_msg').map((message) => message.body);
    // The two quick updates fall inside the throttle window; the final text always lands.
    expect(edits.map((edit) => textOf(edit))).toEqual(['One two three four.']);
    expect(edits[0]).toMatchObject({ GroupId: '@TGS#2', MsgSeq: 1 });
    expect(outcome).toEqual({ status: 'delivered', platformMessageIds: ['1'] });
  });
});
