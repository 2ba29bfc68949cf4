import type { InboundMessage } from '../conversation/conversation.types.js';
import type { TencentSendTarget } from './tencent-rest.client.js';

export type TencentBotCommand = 'Bot.OnC2CMessage' | 'Bot.OnGroupMessage';

/** Who wrote to which robot, where: enough to reply (also for messages we cannot read). */
export interface TencentMessageContext {
  command: TencentBotCommand;
  /** The robot the message was addressed to (`@RBT#...`). */
  robotAccount: string;
  fromAccount: string;
  isGroup: boolean;
  groupId?: string;
  /** C2C: `MsgKey` (or `MsgSeq_MsgRandom_MsgTime`); group: `GroupId:MsgSeq`. */
  dedupeKey: string;
}

export interface TencentCallbackMessage extends TencentMessageContext {
  kind: 'message';
  /** The text elements joined, with mentions of the robot(s) stripped. */
  text: string;
  mentionedRobot: boolean;
}

export type TencentIgnoreReason =
  | 'invalid-body'
  | 'unknown-command'
  | 'missing-fields'
  | 'robot-sender'
  | 'no-robot'
  | 'custom-elem'
  | 'empty-text'
  | 'unsupported';

/** A message we cannot read (image, file, voice...): the context allows a polite reply. */
export interface TencentCallbackUnsupported {
  kind: 'ignored';
  reason: 'unsupported';
  elemTypes: string[];
  context: TencentMessageContext;
}

export interface TencentCallbackSkipped {
  kind: 'ignored';
  reason: Exclude<TencentIgnoreReason, 'unsupported'>;
  /** The callback command, when the body had one. */
  command?: string;
}

export type TencentCallbackIgnored = TencentCallbackUnsupported | TencentCallbackSkipped;

export type TencentCallbackEntry = TencentCallbackMessage | TencentCallbackIgnored;

export interface TencentCallbackParseOptions {
  /** Robot nicknames by robot account: group clients insert `@<nick>` rather than `@<id>`. */
  robotNicks?: Readonly<Record<string, string>>;
}

const ROBOT_PREFIX = '@RBT#';

const UNSUPPORTED_ELEMS = new Set([
  'TIMImageElem',
  'TIMFileElem',
  'TIMSoundElem',
  'TIMVideoFileElem',
  'TIMLocationElem',
  'TIMRelayElem',
]);

/**
 * Parses a Tencent Cloud Chat robot webhook body (any JSON) into one entry per addressed robot.
 * A C2C message addresses one robot; a group message can @mention several robots of the app, which
 * share the app's single callback URL (tencent-chat.md), so each gets its own entry.
 * Never throws.
 */
export function parseTencentCallback(
  body: unknown,
  options: TencentCallbackParseOptions = {},
): TencentCallbackEntry[] {
  if (!isRecord(body)) return [{ kind: 'ignored', reason: 'invalid-body' }];
  const command = body.CallbackCommand;
  if (command !== 'Bot.OnC2CMessage' && command !== 'Bot.OnGroupMessage') {
    return [{ kind: 'ignored', reason: 'unknown-command', command: asString(command) }];
  }
  const fromAccount = asNonEmptyString(body.From_Account);
  if (!fromAccount) return [{ kind: 'ignored', reason: 'missing-fields', command }];
  // Never answer another robot (or ourselves): loops (tencent-chat.md).
  if (fromAccount.startsWith(ROBOT_PREFIX)) return [{ kind: 'ignored', reason: 'robot-sender', command }];

  const contexts =
    command === 'Bot.OnC2CMessage' ? c2cContexts(body, fromAccount) : groupContexts(body, fromAccount);
  if (typeof contexts === 'string') return [{ kind: 'ignored', reason: contexts, command }];

  const content = readMsgBody(body.MsgBody);
  const mentionTokens = contexts.flatMap((context) => robotTokens(context.robotAccount, options));
  const { text, stripped } = stripMentions(content.text, mentionTokens);

  return contexts.map((context): TencentCallbackEntry => {
    if (text.length > 0) {
      return { kind: 'message', ...context, text, mentionedRobot: context.isGroup || stripped };
    }
    if (content.unsupported.length > 0) {
      return { kind: 'ignored', reason: 'unsupported', elemTypes: content.unsupported, context };
    }
    return { kind: 'ignored', reason: content.hasCustom ? 'custom-elem' : 'empty-text', command };
  });
}

function c2cContexts(
  body: Record<string, unknown>,
  fromAccount: string,
): TencentMessageContext[] | 'missing-fields' | 'no-robot' {
  const robotAccount = asNonEmptyString(body.To_Account);
  if (!robotAccount) return 'no-robot';
  // Group payloads lack MsgKey; some C2C ones may too: MsgKey is MsgSeq_MsgRandom_MsgTime (tencent-chat.md).
  const msgKey =
    asNonEmptyString(body.MsgKey) ??
    joinDefined('_', [asIntString(body.MsgSeq), asIntString(body.MsgRandom), asIntString(body.MsgTime)]);
  if (!msgKey) return 'missing-fields';
  return [{ command: 'Bot.OnC2CMessage', robotAccount, fromAccount, isGroup: false, dedupeKey: msgKey }];
}

function groupContexts(
  body: Record<string, unknown>,
  fromAccount: string,
): TencentMessageContext[] | 'missing-fields' | 'no-robot' {
  const groupId = asNonEmptyString(body.GroupId);
  const msgSeq = asIntString(body.MsgSeq);
  if (!groupId || !msgSeq) return 'missing-fields';
  const robots = Array.isArray(body.AtRobots_Account)
    ? [
        ...new Set(
          body.AtRobots_Account.filter((id): id is string => typeof id === 'string' && id.length > 0),
        ),
      ]
    : [];
  if (robots.length === 0) return 'no-robot';
  return robots.map((robotAccount) => ({
    command: 'Bot.OnGroupMessage',
    robotAccount,
    fromAccount,
    isGroup: true,
    groupId,
    dedupeKey: `${groupId}:${msgSeq}`,
  }));
}

interface MsgBodyContent {
  text: string;
  unsupported: string[];
  hasCustom: boolean;
}

function readMsgBody(msgBody: unknown): MsgBodyContent {
  const content: MsgBodyContent = { text: '', unsupported: [], hasCustom: false };
  if (!Array.isArray(msgBody)) return content;
  const texts: string[] = [];
  for (const elem of msgBody) {
    if (!isRecord(elem)) continue;
    const type = elem.MsgType;
    if (type === 'TIMTextElem') {
      const text = isRecord(elem.MsgContent) ? elem.MsgContent.Text : undefined;
      if (typeof text === 'string') texts.push(text);
    } else if (type === 'TIMCustomElem') {
      // Typing indicators arrive as custom elems: never send them to the model (tencent-chat.md).
      content.hasCustom = true;
    } else if (
      typeof type === 'string' &&
      UNSUPPORTED_ELEMS.has(type) &&
      !content.unsupported.includes(type)
    ) {
      content.unsupported.push(type);
    }
  }
  content.text = texts.join('');
  return content;
}

function robotTokens(robotAccount: string, options: TencentCallbackParseOptions): string[] {
  const nick = options.robotNicks?.[robotAccount]?.trim();
  return nick ? [robotAccount, nick] : [robotAccount];
}

/** Removes `@<token>` mentions (the raw text holds e.g. `@@RBT#001 hello`, tencent-chat.md). */
function stripMentions(text: string, tokens: string[]): { text: string; stripped: boolean } {
  let result = text;
  let stripped = false;
  const ordered = [...new Set(tokens)].sort((a, b) => b.length - a.length);
  for (const token of ordered) {
    const pattern = new RegExp(`@${escapeRegExp(token)}(?=$|[\\s,，:：])[,，:：]?[^\\S\\n]*`, 'g');
    result = result.replace(pattern, () => {
      stripped = true;
      return '';
    });
  }
  return { text: result.trim(), stripped };
}

const ELEM_NAMES: Readonly<Record<string, string>> = {
  TIMImageElem: 'image',
  TIMFileElem: 'file',
  TIMSoundElem: 'voice message',
  TIMVideoFileElem: 'video',
  TIMLocationElem: 'location',
  TIMRelayElem: 'forwarded messages',
};

/**
 * The platform-neutral message for the conversation engine: a readable message, or an unsupported one
 * (empty text, `unsupportedContent` set, so the engine can answer "text only" politely). `replyTarget` is
 * the `TencentSendTarget` to hand back to `TencentRestClient.sendText`.
 */
export function toTencentInboundMessage(
  entry: TencentCallbackMessage | TencentCallbackUnsupported,
  botProviderId: string,
  raw?: unknown,
): InboundMessage {
  const context: TencentMessageContext = entry.kind === 'message' ? entry : entry.context;
  const replyTarget: TencentSendTarget =
    context.isGroup && context.groupId !== undefined
      ? { kind: 'group', robot: context.robotAccount, groupId: context.groupId }
      : { kind: 'c2c', robot: context.robotAccount, toAccount: context.fromAccount };
  const inbound: InboundMessage = {
    botProviderId,
    platform: 'tencent-chat',
    platformMessageId: context.dedupeKey,
    chatKey: replyTarget.kind === 'group' ? replyTarget.groupId : context.fromAccount,
    isGroup: context.isGroup,
    senderId: context.fromAccount,
    senderIsBot: false,
    // Group robot callbacks only fire for an @mention of the robot (tencent-chat.md).
    mentionedBot: entry.kind === 'message' ? entry.mentionedRobot : context.isGroup,
    text: entry.kind === 'message' ? entry.text : '',
    replyTarget,
    raw,
  };
  if (entry.kind === 'ignored') {
    inbound.unsupportedContent = entry.elemTypes.map((type) => ELEM_NAMES[type] ?? type).join(', ');
  }
  return inbound;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function asString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function asNonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

/** A non-negative integer given as a JSON number or a digit string. */
function asIntString(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return String(value);
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return value;
  return undefined;
}

function joinDefined(separator: string, parts: (string | undefined)[]): string | undefined {
  return parts.every((part) => part !== undefined) ? parts.join(separator) : undefined;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
