import type {
  AnswerSnapshot,
  ChannelDelivery,
  DeliveryOutcome,
  Platform,
} from '../../src/conversation/conversation.types.js';

/**
 * A channel delivery that records what the engine hands it, for engine tests that need no platform.
 * Registered through the engine's own extension point (ChannelRegistry), as channel modules do.
 */
export class RecordingDelivery implements ChannelDelivery {
  readonly delivered: AnswerSnapshot[] = [];
  readonly progressed: AnswerSnapshot[] = [];
  failWith?: string;
  /** While set, deliver() waits for it (after recording the answer): a slow platform. */
  holdUntil?: Promise<unknown>;

  constructor(readonly platform: Platform) {}

  async progress(answer: AnswerSnapshot): Promise<void> {
    this.progressed.push(answer);
  }

  async deliver(answer: AnswerSnapshot): Promise<DeliveryOutcome> {
    this.delivered.push(answer);
    if (this.holdUntil) await this.holdUntil;
    if (this.failWith) return { status: 'failed', error: this.failWith };
    return { status: 'delivered', platformMessageIds: [`sent-${this.delivered.length}`] };
  }
}
