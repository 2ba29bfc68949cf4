/**
 * Parses the decrypted JSON of a WeCom AI bot callback (see shared/protocols/wecom-ai-bot.md,
 * "Decrypted inbound JSON"; WeCom AI bot pages 100719, 101039) into a discriminated union.
 * Anything malformed ends in a WeComPayloadError, never another exception type.
 */

export type WeComChatType = 'single' | 'group';

/** Content the bot cannot read: the text is '' (or only the readable part, for `mixed`). */
export type WeComUnsupportedContent = 'image' | 'file' | 'video' | 'unknown';

export interface WeComMessage {
  kind: 'message';
  msgId: string;
  botId: string;
  chatType: WeComChatType;
  chatId?: string;
  userId: string;
  responseUrl?: string;
  /** WeCom's msgtype as sent: text, mixed, voice, image, file... */
  msgType: string;
  /** The question: mentions stripped (groups), quoted text excluded, trimmed. */
  text: string;
  /** The text of the quoted message the user replied to: context, not the question. */
  quotedText?: string;
  unsupported?: WeComUnsupportedContent;
}

export interface WeComStreamRefresh {
  kind: 'stream-refresh';
  msgId: string;
  botId: string;
  userId: string;
  chatType: WeComChatType;
  chatId?: string;
  streamId: string;
}

export type WeComFeedbackType = 'accurate' | 'inaccurate' | 'cancelled';

export interface WeComFeedback {
  /** The feedback id the bot set on its stream reply. */
  id: string;
  type: WeComFeedbackType;
  /** The reasons the user ticked for an inaccurate answer, as sent (codes become strings). */
  reasons?: string[];
  /** Free text the user typed, if any. */
  comment?: string;
}

export interface WeComEvent {
  kind: 'event';
  msgId: string;
  botId: string;
  userId: string;
  chatType?: WeComChatType;
  chatId?: string;
  /** enter_chat | template_card_event | feedback_event | ... */
  eventType: string;
  feedback?: WeComFeedback;
  /** The object named after the event type, as sent. */
  detail?: Record<string, unknown>;
}

export type WeComCallback = WeComMessage | WeComStreamRefresh | WeComEvent;

export interface WeComParseOptions {
  /** The bot's display name: when known, exactly `@<botName>` is stripped (names may contain spaces). */
  botName?: string;
}

export class WeComPayloadError extends Error {
  override readonly name = 'WeComPayloadError';

  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

interface Envelope {
  msgId: string;
  msgType: string;
  botId: string;
  userId: string;
  chatId?: string;
}

interface Content {
  text: string;
  unsupported?: WeComUnsupportedContent;
}

const FEEDBACK_TYPES = new Map<string, WeComFeedbackType>([
  ['1', 'accurate'],
  ['2', 'inaccurate'],
  ['3', 'cancelled'],
]);
const REASON_FIELDS = [
  'inaccurate_reason_list',
  'inaccurate_reasons',
  'inaccurate_reason',
  'reason_list',
  'reasons',
];
const REASON_TEXT_FIELDS = ['content', 'reason', 'text', 'name', 'id'];
const UNSUPPORTED = new Map<string, WeComUnsupportedContent>([
  ['image', 'image'],
  ['file', 'file'],
  ['video', 'video'],
]);

export function parseWeComMessage(json: string, options: WeComParseOptions = {}): WeComCallback {
  const root = parseRoot(json);
  const envelope = readEnvelope(root);
  switch (envelope.msgType) {
    case 'stream':
      return toStreamRefresh(root, envelope);
    case 'event':
      return toEvent(root, envelope);
    default:
      return toMessage(root, envelope, options);
  }
}

function parseRoot(json: unknown): Json {
  if (typeof json !== 'string') throw new WeComPayloadError('The decrypted payload must be a JSON string');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new WeComPayloadError('The decrypted payload is not valid JSON');
  }
  const root = asRecord(value);
  if (!root) throw new WeComPayloadError('The decrypted payload is not a JSON object');
  return root;
}

function readEnvelope(root: Json): Envelope {
  const chatId = asString(root.chatid);
  return {
    msgId: required(root.msgid, 'msgid'),
    msgType: required(root.msgtype, 'msgtype'),
    botId: required(root.aibotid, 'aibotid'),
    userId: required(asRecord(root.from)?.userid, 'from.userid'),
    ...(chatId ? { chatId } : {}),
  };
}

function required(value: unknown, field: string): string {
  if (typeof value === 'string' && value.length > 0) return value;
  throw new WeComPayloadError(`The WeCom payload is missing the string field "${field}"`, field);
}

function chatTypeOf(root: Json, chatId: string | undefined): WeComChatType {
  if (root.chattype === 'group' || root.chattype === 'single') return root.chattype;
  return chatId ? 'group' : 'single';
}

function base({ msgId, botId, userId }: Envelope) {
  return { msgId, botId, userId };
}

function toStreamRefresh(root: Json, envelope: Envelope): WeComStreamRefresh {
  const { chatId } = envelope;
  return {
    kind: 'stream-refresh',
    ...base(envelope),
    chatType: chatTypeOf(root, chatId),
    ...(chatId ? { chatId } : {}),
    streamId: required(asRecord(root.stream)?.id, 'stream.id'),
  };
}

// The event name is event.eventtype and its data sits under a key of that name; `event` itself is
// an object, never a string (shared/protocols/wecom-ai-bot.md, "Pitfalls").
function toEvent(root: Json, envelope: Envelope): WeComEvent {
  const event = asRecord(root.event);
  const eventType = required(event?.eventtype, 'event.eventtype');
  const detail = asRecord(event && Object.hasOwn(event, eventType) ? event[eventType] : undefined);
  const feedback = eventType === 'feedback_event' && detail ? toFeedback(detail) : undefined;
  const chatType = asString(root.chattype);
  const { chatId } = envelope;
  return {
    kind: 'event',
    ...base(envelope),
    ...(chatType ? { chatType: chatTypeOf(root, chatId) } : {}),
    ...(chatId ? { chatId } : {}),
    eventType,
    ...(feedback ? { feedback } : {}),
    ...(detail ? { detail } : {}),
  };
}

function toFeedback(detail: Json): WeComFeedback | undefined {
  const id = scalarText(detail.id);
  const type = FEEDBACK_TYPES.get(scalarText(detail.type) ?? '');
  if (!id || !type) return undefined;
  const reasons = readReasons(detail);
  const comment = asString(detail.content)?.trim();
  return { id, type, ...(reasons.length > 0 ? { reasons } : {}), ...(comment ? { comment } : {}) };
}

function readReasons(detail: Json): string[] {
  const reasons: string[] = [];
  for (const field of REASON_FIELDS) {
    const value = detail[field];
    for (const item of Array.isArray(value) ? value : [value]) {
      const reason = reasonText(item);
      if (reason) reasons.push(reason);
    }
  }
  return [...new Set(reasons)];
}

/** A reason is a code, a text, or an object holding one of those (shapes vary between sources). */
function reasonText(item: unknown): string | undefined {
  const record = asRecord(item);
  if (!record) return scalarText(item);
  return REASON_TEXT_FIELDS.map((field) => scalarText(record[field])).find((text) => text !== undefined);
}

/** A non-empty trimmed string, or a finite number as text; never coerces objects. */
function scalarText(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return typeof value === 'string' ? value.trim() || undefined : undefined;
}

function toMessage(root: Json, envelope: Envelope, options: WeComParseOptions): WeComMessage {
  const { chatId, msgType } = envelope;
  const chatType = chatTypeOf(root, chatId);
  const content = contentOf(root, msgType);
  const text = chatType === 'group' ? stripMention(content.text, options.botName) : content.text.trim();
  const quotedText = quotedTextOf(root.quote);
  const responseUrl = asString(root.response_url);
  return {
    kind: 'message',
    ...base(envelope),
    chatType,
    ...(chatId ? { chatId } : {}),
    ...(responseUrl ? { responseUrl } : {}),
    msgType,
    text,
    ...(quotedText ? { quotedText } : {}),
    ...(content.unsupported ? { unsupported: content.unsupported } : {}),
  };
}

/** The readable text of a message (or of a quoted message, or of a `mixed` item). */
function contentOf(container: Json, msgType: string, nested = false): Content {
  switch (msgType) {
    case 'text':
    case 'voice': // voice.content is WeCom's transcription, already text
      return { text: asString(asRecord(container[msgType])?.content) ?? '' };
    case 'mixed':
      return nested ? { text: '', unsupported: 'unknown' } : mixedContent(container.mixed);
    default:
      return { text: '', unsupported: UNSUPPORTED.get(msgType) ?? 'unknown' };
  }
}

function mixedContent(mixed: unknown): Content {
  const parsed = parseIfJsonText(mixed, 'mixed');
  const items = Array.isArray(parsed)
    ? parsed
    : parseIfJsonText(asRecord(parsed)?.msg_item, 'mixed.msg_item');
  const texts: string[] = [];
  let unsupported: WeComUnsupportedContent | undefined;
  for (const item of Array.isArray(items) ? items : []) {
    const record = asRecord(item) ?? {};
    const part = contentOf(record, asString(record.msgtype) ?? '', true);
    if (part.text.trim()) texts.push(part.text);
    unsupported ??= part.unsupported;
  }
  return { text: texts.join('\n'), ...(unsupported ? { unsupported } : {}) };
}

// A third-party typing says `mixed` may arrive as a JSON string [inferred] (shared/protocols/wecom-ai-bot.md).
function parseIfJsonText(value: unknown, field: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new WeComPayloadError(`The WeCom payload field "${field}" is a string but not JSON`, field);
  }
}

function quotedTextOf(quote: unknown): string | undefined {
  const record = asRecord(quote);
  const msgType = asString(record?.msgtype);
  if (!record || !msgType) return undefined;
  return contentOf(record, msgType).text.trim() || undefined;
}

// Group text carries the bot's @name followed by whitespace (WeCom uses U+2005 after mentions;
// users type ASCII or full-width U+3000 spaces). \s covers all three.
// Without a known name (or when it is absent) the first @token is taken to be the bot's.
function stripMention(text: string, botName?: string): string {
  const name = botName?.trim();
  const exact = name ? new RegExp(`(^|\\s)@${escapeRegExp(name)}(?=\\s|$)\\s*`, 'gu') : undefined;
  const mention = exact?.test(text) ? exact : /(^|\s)@\S+(?:\s+|$)/u;
  return text.replace(mention, (_match, before: string) => before).trim();
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function asRecord(value: unknown): Json | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Json) : undefined;
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
