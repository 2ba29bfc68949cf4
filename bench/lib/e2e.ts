/**
 * End-to-end overhead: from the webhook sent to the reply arriving at the platform (the fake REST servers
 * for Tencent and CometChat; a finished stream seen by a refresh for WeCom), minus the model's own time
 * measured at the fake LLM (request received → response ended). What is left is Parley: ack, queue pickup,
 * retrieval, prompt, streaming and delivery.
 */
import type { FakeCometChatServer } from '../../test/fakes/fake-cometchat-server.js';
import type { FakeOpenAiServer, RecordedRequest } from '../../test/fakes/fake-openai-server.js';
import type { FakeTencentServer } from '../../test/fakes/fake-tencent-server.js';
import type { Channel, ChannelRequests, MessageOptions, PreparedRequest, WeComRequests } from './channels.js';
import { openLoop, RequestSource } from './load.js';
import { sleep } from './processes.js';
import { Samples, type LatencySummary } from './stats.js';

/** Calls `onPush` for everything later pushed onto `array` (the fakes record into plain arrays). */
function watchPush<T>(array: T[], onPush: (item: T) => void): void {
  Object.defineProperty(array, 'push', {
    configurable: true,
    value(this: T[], ...items: T[]): number {
      for (const item of items) onPush(item);
      return Array.prototype.push.apply(this, items);
    },
  });
}

const MARKER = /\[(e2e-[^\]\s]+)\]/;

/** Arrival times at the fakes, on this process's performance.now() clock. */
export class DeliveryWatch {
  /** Reply arrivals by the user they were sent to (Tencent To_Account, CometChat receiver). */
  readonly arrivals = new Map<string, number>();
  /** Model time by question marker `[e2e-...]`: received → response ended. */
  readonly modelMs = new Map<string, number>();

  constructor(llm: FakeOpenAiServer, tencent: FakeTencentServer, cometchat: FakeCometChatServer) {
    watchPush(llm.requests, (record: RecordedRequest) => {
      const receivedAt = performance.now();
      const marker = MARKER.exec(JSON.stringify(record.body ?? ''))?.[1];
      if (!marker || record.endpoint !== 'chat') return;
      void record.outcome.then(() => this.modelMs.set(marker, performance.now() - receivedAt));
    });
    watchPush(tencent.messages, (message) => {
      const to = message.body.To_Account;
      if (typeof to === 'string' && !this.arrivals.has(`tencent:${to}`)) {
        this.arrivals.set(`tencent:${to}`, performance.now());
      }
    });
    watchPush(cometchat.messages, (message) => {
      if (!this.arrivals.has(`cometchat:${message.receiver}`)) {
        this.arrivals.set(`cometchat:${message.receiver}`, performance.now());
      }
    });
  }
}

export interface E2EResult {
  channel: Channel;
  sent: number;
  delivered: number;
  /** Delivered replies whose model time is known. */
  measured: number;
  rate: number;
  endToEnd: LatencySummary;
  model: LatencySummary;
  overhead: LatencySummary;
  /** WeCom only: how often the finished stream was polled for (an upper bound on its share of the overhead). */
  pollMs?: number;
}

export interface E2EOptions {
  channel: Channel;
  origin: string;
  requests: ChannelRequests;
  watch: DeliveryWatch;
  rate: number;
  seconds: number;
  batch: string;
  /** Give up waiting for replies this long after the last message was sent. */
  deliveryTimeoutMs: number;
  wecomPollMs: number;
}

interface Sent {
  index: number;
  sentAt: number;
  key: string;
}

export async function runEndToEnd(options: E2EOptions): Promise<E2EResult> {
  const { channel, requests, watch } = options;
  const messageOptions: MessageOptions = { batch: options.batch, users: Number.MAX_SAFE_INTEGER };
  const count = Math.max(1, Math.round(options.rate * options.seconds));
  const indexOf = new Map<PreparedRequest, number>();
  const source = new RequestSource([], (index) => {
    const request = requests[channel].message(index, messageOptions);
    indexOf.set(request, index);
    return request;
  });
  const sent: Sent[] = [];
  const wecomArrivals = new Map<string, number>();
  const polls: Promise<void>[] = [];
  const deadline = () => performance.now() + options.deliveryTimeoutMs;
  let pollDeadline = Number.POSITIVE_INFINITY;

  await openLoop({
    origin: options.origin,
    rate: options.rate,
    seconds: count / options.rate,
    source,
    onResponse: (request, status, body, sentAt) => {
      const index = indexOf.get(request) ?? -1;
      if (status !== 200 || index < 0) return;
      if (channel === 'wecom') {
        const streamId = streamIdOf(requests.wecom, body);
        if (!streamId) return;
        sent.push({ index, sentAt, key: streamId });
        polls.push(
          pollStream(options, requests.wecom, streamId, index, () => pollDeadline).then((at) => {
            if (at !== undefined) wecomArrivals.set(streamId, at);
          }),
        );
      } else {
        sent.push({ index, sentAt, key: `${channel}:u${options.batch}-${index}` });
      }
    },
  });

  pollDeadline = deadline();
  const arrivalOf = (key: string) => (channel === 'wecom' ? wecomArrivals : watch.arrivals).get(key);
  if (channel === 'wecom') await Promise.all(polls);
  else {
    while (performance.now() < pollDeadline && sent.some((item) => arrivalOf(item.key) === undefined)) {
      await sleep(50);
    }
  }
  // Let the last models' 'close' events land.
  await sleep(100);

  const endToEnd = new Samples();
  const model = new Samples();
  const overhead = new Samples();
  let delivered = 0;
  for (const item of sent) {
    const arrival = arrivalOf(item.key);
    if (arrival === undefined) continue;
    delivered += 1;
    const modelMs = watch.modelMs.get(`${options.batch}-${item.index}`);
    if (modelMs === undefined) continue;
    endToEnd.add(arrival - item.sentAt);
    model.add(modelMs);
    overhead.add(arrival - item.sentAt - modelMs);
  }
  return {
    channel,
    sent: count,
    delivered,
    measured: overhead.count,
    rate: options.rate,
    endToEnd: endToEnd.summary(),
    model: model.summary(),
    overhead: overhead.summary(),
    ...(channel === 'wecom' ? { pollMs: options.wecomPollMs } : {}),
  };
}

interface StreamReplyJson {
  msgtype?: string;
  stream?: { id?: string; finish?: boolean };
}

function decryptReply(wecom: WeComRequests, body: string): StreamReplyJson | undefined {
  try {
    const envelope = JSON.parse(body) as { encrypt?: string };
    if (!envelope.encrypt) return undefined;
    return JSON.parse(wecom.crypto.decrypt(envelope.encrypt, '').message) as StreamReplyJson;
  } catch {
    return undefined;
  }
}

export function streamIdOf(wecom: WeComRequests, body: string): string | undefined {
  const reply = decryptReply(wecom, body);
  return reply?.msgtype === 'stream' ? reply.stream?.id : undefined;
}

/** Refreshes the stream every `wecomPollMs` (like WeCom does, only faster) until it is finished. */
async function pollStream(
  options: E2EOptions,
  wecom: WeComRequests,
  streamId: string,
  index: number,
  deadline: () => number,
): Promise<number | undefined> {
  let poll = 0;
  while (performance.now() < deadline()) {
    await sleep(options.wecomPollMs);
    const refresh = wecom.refresh(index * 10_000 + ++poll, streamId, {
      batch: options.batch,
      users: Number.MAX_SAFE_INTEGER,
    });
    try {
      const response = await fetch(new URL(refresh.path, options.origin), {
        method: 'POST',
        headers: refresh.headers,
        body: refresh.body,
        signal: AbortSignal.timeout(10_000),
      });
      const body = await response.text();
      const at = performance.now();
      if (decryptReply(wecom, body)?.stream?.finish === true) return at;
    } catch {
      // try again until the deadline
    }
  }
  return undefined;
}
