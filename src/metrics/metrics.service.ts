import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const ACCEPT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const ANSWER_BUCKETS = [0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300];

export type WebhookOutcome = 'accepted' | 'rejected' | 'error';

/**
 * Prometheus metrics of one Parley instance. Each app has its own registry, so several apps in one process
 * (tests) never collide.
 */
@Injectable()
export class Metrics {
  readonly registry = new Registry();

  readonly webhookRequests = new Counter({
    name: 'parley_webhook_requests_total',
    help: 'Platform webhook requests by channel and outcome (accepted 2xx, rejected 4xx, error 5xx)',
    labelNames: ['channel', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookAckSeconds = new Histogram({
    name: 'parley_webhook_ack_seconds',
    help: 'Time to acknowledge a platform webhook',
    labelNames: ['channel'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly acceptBatchSize = new Histogram({
    name: 'parley_accept_batch_size',
    help: 'Webhooks served by one accept statement (those arriving while one runs share the next)',
    buckets: [1, 2, 4, 8, 16, 32, 64],
    registers: [this.registry],
  });

  readonly acceptSeconds = new Histogram({
    name: 'parley_accept_seconds',
    help: 'Time to run one accept statement, connection included: its batch, and the webhooks arriving meanwhile, wait for it',
    buckets: ACCEPT_BUCKETS,
    registers: [this.registry],
  });

  readonly answers = new Counter({
    name: 'parley_answers_total',
    help: 'Answers finished, by outcome (done, failed = fallback message sent)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly answerRetries = new Counter({
    name: 'parley_answer_retries_total',
    help: 'Answers started again after the database dropped their connection mid-answer',
    registers: [this.registry],
  });

  readonly firstTokenSeconds = new Histogram({
    name: 'parley_answer_first_token_seconds',
    help: 'Time from the start of generation to the first token',
    buckets: ANSWER_BUCKETS,
    registers: [this.registry],
  });

  readonly answerSeconds = new Histogram({
    name: 'parley_answer_seconds',
    help: 'Total time to generate an answer',
    buckets: ANSWER_BUCKETS,
    registers: [this.registry],
  });

  readonly modelErrors = new Counter({
    name: 'parley_model_errors_total',
    help: 'Model calls that failed after retries, by kind (timeout, rate-limited, unavailable, ...)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly deliveries = new Counter({
    name: 'parley_deliveries_total',
    help: 'Answers handed to a platform, by channel and status (delivered, skipped, failed)',
    labelNames: ['channel', 'status'] as const,
    registers: [this.registry],
  });

  readonly tokens = new Counter({
    name: 'parley_tokens_total',
    help: 'Model tokens used, by kind (prompt, completion)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  /** Counts the answers waiting for a worker; set by the conversation engine, which owns them. */
  private queuedAnswers?: () => Promise<number>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'parley_' });
    const depth = () => this.queuedAnswers?.() ?? Promise.resolve(-1);
    new Gauge({
      name: 'parley_answer_queue_depth',
      help: 'Answers waiting for a worker (-1: could not be counted)',
      registers: [this.registry],
      async collect() {
        this.set(await depth().catch(() => -1));
      },
    });
  }

  /** Where parley_answer_queue_depth comes from. */
  countQueuedAnswersWith(count: () => Promise<number>): void {
    this.queuedAnswers = count;
  }
}
