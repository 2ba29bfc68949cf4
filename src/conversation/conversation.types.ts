/**
 * The platform-neutral contract between the channel modules (the doors) and the conversation engine.
 * A channel parses its wire format into an InboundMessage and implements a ChannelDelivery;
 * the engine never sees a wire format.
 */

/** The platforms Parley speaks to. Equals the bot provider's `type`. */
export type Platform = 'wecom-bot' | 'tencent-chat' | 'cometchat';

export interface InboundMessage {
  /** The bot provider (providers.id) the message was addressed to. */
  botProviderId: string;
  platform: Platform;
  /** The platform's message id; unique per bot provider — the dedupe key. */
  platformMessageId: string;
  /** Stable key of the chat on the platform: the user id for one-to-one, the group id for groups. */
  chatKey: string;
  isGroup: boolean;
  senderId: string;
  senderName?: string;
  /** True when the sender is a bot (the engine never answers bots). */
  senderIsBot?: boolean;
  /** True when the bot was @mentioned (groups); mentions already stripped from `text`. */
  mentionedBot: boolean;
  /** The question, mentions stripped, quoted text excluded. */
  text: string;
  /**
   * Set when the message holds content the bot cannot read (an image, a file, a voice note): the engine
   * answers with a polite "text only" reply instead of asking the model.
   */
  unsupportedContent?: string;
  /** Quoted text the user replied to, given to the model as context. */
  quotedText?: string;
  /** Where and how to reply: whatever the channel needs later (e.g. WeCom response_url, a group id). */
  replyTarget: Record<string, unknown>;
  /** The decoded platform payload, kept for audit and debugging. */
  raw?: unknown;
}

/** What `accept` returns to the channel. */
export interface AcceptResult {
  /** The assistant message id: the handle of the answer (the WeCom stream id). */
  answerId: string;
  /** True when this platform message was seen before (nothing new was enqueued). */
  duplicate: boolean;
  /** True when the engine decided not to answer (policy: not mentioned, bot sender...). */
  ignored: boolean;
  /** An immediate reply the engine chose instead of an answer (e.g. rate limit notice). */
  immediateReply?: string;
}

/** 'waiting': a question no worker has taken yet (its answer row does not exist yet). */
export type AnswerStatus = 'received' | 'waiting' | 'queued' | 'generating' | 'done' | 'failed';

/** A snapshot of an answer, as a channel reads it for delivery or a refresh. */
export interface AnswerSnapshot {
  answerId: string;
  botProviderId: string;
  platform: Platform;
  status: AnswerStatus;
  /** The answer so far (full text, not a delta). */
  content: string;
  finished: boolean;
  replyTarget: Record<string, unknown>;
  chatKey: string;
  isGroup: boolean;
  /** When the user's message was received (WeCom's 6-minute stream window counts from here). */
  receivedAt: Date;
  /** When the answer was finished (done or failed); null while it runs. */
  finishedAt: Date | null;
  /** Sources the answer used, for channels that show citations. */
  sources: { title: string; headingPath: string[] }[];
}

/**
 * Implemented by each channel module and registered with the engine under its platform.
 * `deliver` is called once the answer is final (done or failed with the fallback text);
 * `progress` (optional) while it streams, throttled by the engine.
 * Delivery must resolve with the outcome; it is recorded on the message.
 */
export interface ChannelDelivery {
  readonly platform: Platform;
  progress?(answer: AnswerSnapshot): Promise<void>;
  deliver(answer: AnswerSnapshot): Promise<DeliveryOutcome>;
}

export interface DeliveryOutcome {
  status: 'delivered' | 'skipped' | 'failed';
  /** Platform message ids of what was sent (several when split). */
  platformMessageIds?: string[];
  error?: string;
}
