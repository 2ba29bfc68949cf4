import { truncateUtf8 } from '../common/text.js';
import type { WeComCrypto } from './wecom-crypto.js';

/** WeCom's limit for stream and markdown content, in UTF-8 bytes (shared/protocols/wecom-ai-bot.md). */
export const WECOM_CONTENT_MAX_BYTES = 20480;

export interface WeComStreamReply {
  msgtype: 'stream';
  stream: {
    id: string;
    finish: boolean;
    /** The full accumulated answer, not a delta. */
    content: string;
    feedback?: { id: string };
  };
}

export interface WeComTextReply {
  msgtype: 'text';
  text: { content: string };
}

/** A passive reply, encrypted into the HTTP response of a callback. */
export type WeComReply = WeComStreamReply | WeComTextReply;

/** An active reply, posted unencrypted to a message's response_url (usable once, valid 1 hour). */
export interface WeComMarkdownMessage {
  msgtype: 'markdown';
  markdown: { content: string };
}

export interface WeComEncryptedReply {
  encrypt: string;
  msgsignature: string;
  timestamp: string;
  nonce: string;
}

export interface StreamReplyOptions {
  /** Lets the user rate the answer; WeCom sends a feedback_event carrying this id. */
  feedbackId?: string;
}

/** A stream reply; `content` is cut to 20480 UTF-8 bytes on a character boundary. */
export function streamReply(
  id: string,
  content: string,
  finish: boolean,
  options: StreamReplyOptions = {},
): WeComStreamReply {
  const stream: WeComStreamReply['stream'] = {
    id,
    finish,
    content: truncateUtf8(content, WECOM_CONTENT_MAX_BYTES),
  };
  if (options.feedbackId) stream.feedback = { id: options.feedbackId };
  return { msgtype: 'stream', stream };
}

/** A text reply: only valid as the answer to an enter_chat event (the welcome message). */
export function textReply(content: string): WeComTextReply {
  return { msgtype: 'text', text: { content } };
}

/** The body for response_url; `content` is cut to 20480 UTF-8 bytes on a character boundary. */
export function markdownMessage(content: string): WeComMarkdownMessage {
  return { msgtype: 'markdown', markdown: { content: truncateUtf8(content, WECOM_CONTENT_MAX_BYTES) } };
}

/**
 * Encrypts a reply into WeCom's envelope. The timestamp and nonce must be echoed from the REQUEST
 * and signed with it (shared/protocols/wecom-ai-bot.md, "Replies" and "Pitfalls").
 * An AI bot's receive id is ''.
 */
export function encryptReply(
  crypto: Pick<WeComCrypto, 'encrypt' | 'signature'>,
  plaintextJson: string | WeComReply,
  timestamp: string,
  nonce: string,
  receiveId = '',
): WeComEncryptedReply {
  const plaintext = typeof plaintextJson === 'string' ? plaintextJson : JSON.stringify(plaintextJson);
  const encrypt = crypto.encrypt(plaintext, receiveId);
  return { encrypt, msgsignature: crypto.signature(timestamp, nonce, encrypt), timestamp, nonce };
}
