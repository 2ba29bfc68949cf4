import type { InboundMessage } from '../conversation/conversation.types.js';

export type CometChatReceiverType = 'user' | 'group';

/** Where a reply goes: `user` → the sender, `group` → the group GUID (cometchat.md). */
export type CometChatReplyTarget = { receiver: string; receiverType: CometChatReceiverType };

export interface CometChatMessageContext {
  appId: string;
  messageId: string;
  /** `appId:messageId`. */
  dedupeKey: string;
  senderUid: string;
  senderName?: string;
  isGroup: boolean;
  replyTo: CometChatReplyTarget;
}

export interface CometChatCallbackMessage extends CometChatMessageContext {
  kind: 'message';
  /** The text with mention markup resolved: the bot's and `@all` mentions removed, others as `@name`. */
  text: string;
  mentionedBot: boolean;
}

export type CometChatIgnoreReason =
  | 'invalid-body'
  | 'unknown-trigger'
  | 'missing-fields'
  | 'wrong-app'
  | 'wrong-bot'
  | 'own-message'
  | 'not-for-bot'
  | 'not-a-message'
  | 'empty-text'
  | 'unsupported';

/** A message we cannot read (image, file, audio, video): the context allows a polite reply. */
export interface CometChatCallbackUnsupported {
  kind: 'ignored';
  reason: 'unsupported';
  /** CometChat's message type: `image`, `video`, `audio` or `file`. */
  messageType: string;
  /** Only `data.mentionedUsers` can tell (media carry no mention markup). */
  mentionedBot: boolean;
  context: CometChatMessageContext;
}

export interface CometChatCallbackSkipped {
  kind: 'ignored';
  reason: Exclude<CometChatIgnoreReason, 'unsupported'>;
}

export type CometChatCallbackResult =
  CometChatCallbackMessage | CometChatCallbackUnsupported | CometChatCallbackSkipped;

export interface CometChatCallbackParseOptions {
  /** The bot's uid: its own messages are dropped, its mentions detected. */
  botUid: string;
  /** When set, payloads of another app are ignored; also the fallback when the payload has no `appId`. */
  appId?: string;
}

const UNSUPPORTED_TYPES = new Set(['image', 'video', 'audio', 'file']);
const MENTION = /<@(uid|all):([^<>]*)>([^\S\n]*)/g;

/**
 * Parses CometChat's bot callback (`after_message`, cometchat.md) defensively: the docs say its exact
 * shape may vary, so unknown fields are ignored and nothing here throws.
 */
export function parseCometChatCallback(
  body: unknown,
  options: CometChatCallbackParseOptions,
): CometChatCallbackResult {
  const skip = (reason: CometChatCallbackSkipped['reason']): CometChatCallbackSkipped => ({
    kind: 'ignored',
    reason,
  });
  if (!isRecord(body)) return skip('invalid-body');
  if (body.trigger !== 'after_message') return skip('unknown-trigger');
  const botUid = options.botUid.toLowerCase();

  const payloadAppId = nonEmptyString(body.appId);
  if (payloadAppId && options.appId && payloadAppId !== options.appId) return skip('wrong-app');
  const payloadBot = nonEmptyString(body.bot);
  if (payloadBot && payloadBot.toLowerCase() !== botUid) return skip('wrong-bot');

  const message = body.data;
  if (!isRecord(message)) return skip('missing-fields');
  const inner = isRecord(message.data) ? message.data : {};
  const senderEntity = entityOf(inner, 'sender');
  const appId = payloadAppId ?? options.appId;
  const messageId = idString(message.id);
  const senderUid = nonEmptyString(message.sender) ?? nonEmptyString(senderEntity?.uid);
  const receiver = nonEmptyString(message.receiver) ?? nonEmptyString(entityOf(inner, 'receiver')?.uid);
  const receiverType = message.receiverType;
  if (
    !appId ||
    !messageId ||
    !senderUid ||
    !receiver ||
    (receiverType !== 'user' && receiverType !== 'group')
  ) {
    return skip('missing-fields');
  }
  // Never answer ourselves: loops (cometchat.md).
  if (senderUid.toLowerCase() === botUid) return skip('own-message');
  const isGroup = receiverType === 'group';
  if (!isGroup && receiver.toLowerCase() !== botUid) return skip('not-for-bot');

  const senderName = nonEmptyString(senderEntity?.name);
  const context: CometChatMessageContext = {
    appId,
    messageId,
    dedupeKey: `${appId}:${messageId}`,
    senderUid,
    ...(senderName !== undefined ? { senderName } : {}),
    isGroup,
    replyTo: isGroup ? { receiver, receiverType: 'group' } : { receiver: senderUid, receiverType: 'user' },
  };

  const category = message.category;
  const type = message.type;
  if (category !== undefined && category !== 'message') return skip('not-a-message');
  const mentioned = mentionedUsers(message, inner);
  const botInMentionedUsers = mentioned.some((user) => user.uid.toLowerCase() === botUid);
  if (typeof type === 'string' && UNSUPPORTED_TYPES.has(type)) {
    return {
      kind: 'ignored',
      reason: 'unsupported',
      messageType: type,
      mentionedBot: botInMentionedUsers,
      context,
    };
  }
  if (type !== 'text' || typeof inner.text !== 'string') return skip('not-a-message');

  const { text, mentionedBot } = resolveMentions(inner.text, botUid, mentioned);
  if (text.length === 0) return skip('empty-text');
  return { kind: 'message', ...context, text, mentionedBot: mentionedBot || botInMentionedUsers };
}

interface MentionedUser {
  uid: string;
  name?: string;
}

/** CometChat's SDK puts `mentionedUsers` on the message; accept it on the message or its data. */
function mentionedUsers(message: Record<string, unknown>, inner: Record<string, unknown>): MentionedUser[] {
  const list = Array.isArray(message.mentionedUsers)
    ? message.mentionedUsers
    : Array.isArray(inner.mentionedUsers)
      ? inner.mentionedUsers
      : [];
  const users: MentionedUser[] = [];
  for (const item of list as unknown[]) {
    if (typeof item === 'string' && item.length > 0) users.push({ uid: item });
    else if (isRecord(item) && nonEmptyString(item.uid)) {
      users.push({ uid: item.uid as string, name: nonEmptyString(item.name) });
    }
  }
  return users;
}

/**
 * Mentions look like `<@uid:UID>` / `<@all:Alias>` (cometchat.md, from CometChat's UI kit): the bot's and
 * `@all` are removed; another user's becomes `@name` (or `@uid`) so the question keeps its meaning.
 */
function resolveMentions(
  raw: string,
  botUid: string,
  mentioned: MentionedUser[],
): { text: string; mentionedBot: boolean } {
  let mentionedBot = false;
  const names = new Map(mentioned.map((user) => [user.uid.toLowerCase(), user.name ?? user.uid]));
  const replaced = raw.replace(MENTION, (_match, kind: string, value: string, space: string) => {
    const uid = value.trim();
    if (kind === 'all') return '';
    if (uid.toLowerCase() === botUid) {
      mentionedBot = true;
      return '';
    }
    return `@${names.get(uid.toLowerCase()) ?? uid}${space}`;
  });
  const text = replaced.replace(/^\s*[,:，：]/, '').trim();
  return { text, mentionedBot };
}

/** Reads a reply target back (e.g. from a stored `replyTarget`); undefined when it is not one. */
export function parseCometChatReplyTarget(value: unknown): CometChatReplyTarget | undefined {
  if (!isRecord(value)) return undefined;
  const { receiver, receiverType } = value;
  if (typeof receiver !== 'string' || receiver.length === 0) return undefined;
  return receiverType === 'user' || receiverType === 'group' ? { receiver, receiverType } : undefined;
}

/**
 * The platform-neutral message for the conversation engine: a readable message, or an unsupported one
 * (empty text, `unsupportedContent` set, so the engine can answer "text only" politely). `replyTarget` is
 * the `CometChatReplyTarget` to hand back to `CometChatRestClient.sendText`.
 */
export function toCometChatInboundMessage(
  entry: CometChatCallbackMessage | CometChatCallbackUnsupported,
  botProviderId: string,
  raw?: unknown,
): InboundMessage {
  const context: CometChatMessageContext = entry.kind === 'message' ? entry : entry.context;
  const inbound: InboundMessage = {
    botProviderId,
    platform: 'cometchat',
    platformMessageId: context.dedupeKey,
    chatKey: context.replyTo.receiver,
    isGroup: context.isGroup,
    senderId: context.senderUid,
    mentionedBot: entry.mentionedBot,
    text: entry.kind === 'message' ? entry.text : '',
    replyTarget: { ...context.replyTo },
    raw,
  };
  if (context.senderName !== undefined) inbound.senderName = context.senderName;
  if (entry.kind === 'ignored') inbound.unsupportedContent = entry.messageType;
  return inbound;
}

function entityOf(
  inner: Record<string, unknown>,
  role: 'sender' | 'receiver',
): Record<string, unknown> | undefined {
  const entities = inner.entities;
  if (!isRecord(entities)) return undefined;
  const wrapper = entities[role];
  return isRecord(wrapper) && isRecord(wrapper.entity) ? wrapper.entity : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function idString(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  return nonEmptyString(value);
}
