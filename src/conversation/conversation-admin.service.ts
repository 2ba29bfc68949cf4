import { Injectable } from '@nestjs/common';
import { DataSource, SelectQueryBuilder } from 'typeorm';
import { NotFoundError } from '../common/errors.js';
import { Page, PageQueryDto, toPage } from '../common/pagination.js';
import { Chat } from './chat.entity.js';
import {
  ConversationDto,
  ListConversationsQueryDto,
  MessageDto,
  UsageReportDto,
  UsageReportQueryDto,
} from './dto/conversation.dto.js';
import { Message } from './message.entity.js';

/** Read side of the conversation engine for the admin API. */
@Injectable()
export class ConversationAdminService {
  constructor(private readonly dataSource: DataSource) {}

  async list(query: ListConversationsQueryDto): Promise<Page<ConversationDto>> {
    const builder = this.dataSource.getRepository(Chat).createQueryBuilder('chat');
    filter(builder, query);
    const [rows, total] = await builder
      .orderBy('chat.last_message_at', 'DESC', 'NULLS LAST')
      .addOrderBy('chat.id')
      .skip(query.offset)
      .take(query.pageSize)
      .getManyAndCount();
    return toPage(rows.map(toConversationDto), total, query);
  }

  async messages(chatId: string, query: PageQueryDto): Promise<Page<MessageDto>> {
    if (!(await this.dataSource.getRepository(Chat).existsBy({ id: chatId })))
      throw new NotFoundError('Conversation', chatId);
    const [rows, total] = await this.dataSource.getRepository(Message).findAndCount({
      where: { chatId },
      order: { createdAt: 'ASC', role: 'DESC' },
      skip: query.offset,
      take: query.pageSize,
    });
    return toPage(rows.map(toMessageDto), total, query);
  }

  async usage(query: UsageReportQueryDto): Promise<UsageReportDto> {
    const to = query.to ?? new Date();
    const from = query.from ?? new Date(to.getTime() - 24 * 3600 * 1000);
    const [row] = (await this.dataSource.query(
      `SELECT
         count(*) FILTER (WHERE role = 'user')::int AS messages,
         count(*) FILTER (WHERE role = 'assistant' AND status = 'done')::int AS answered,
         count(*) FILTER (WHERE role = 'assistant' AND status = 'failed')::int AS failures,
         count(*) FILTER (WHERE role = 'assistant' AND delivery_status = 'failed')::int AS delivery_failures,
         coalesce(sum(prompt_tokens), 0)::bigint AS prompt_tokens,
         coalesce(sum(completion_tokens), 0)::bigint AS completion_tokens,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE role = 'assistant' AND status = 'done') AS latency_p50,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE role = 'assistant' AND status = 'done') AS latency_p95,
         percentile_cont(0.5) WITHIN GROUP (ORDER BY first_token_ms) FILTER (WHERE role = 'assistant' AND status = 'done') AS first_token_p50,
         percentile_cont(0.95) WITHIN GROUP (ORDER BY first_token_ms) FILTER (WHERE role = 'assistant' AND status = 'done') AS first_token_p95
       FROM messages
       WHERE created_at >= $1 AND created_at < $2 AND ($3::uuid IS NULL OR bot_provider_id = $3)`,
      [from, to, query.botId ?? null],
    )) as UsageRow[];
    const round = (value: number | null) => (value === null ? null : Math.round(Number(value)));
    return {
      from,
      to,
      messages: row.messages,
      answered: row.answered,
      failures: row.failures,
      deliveryFailures: row.delivery_failures,
      promptTokens: Number(row.prompt_tokens),
      completionTokens: Number(row.completion_tokens),
      latencyP50Ms: round(row.latency_p50),
      latencyP95Ms: round(row.latency_p95),
      firstTokenP50Ms: round(row.first_token_p50),
      firstTokenP95Ms: round(row.first_token_p95),
    };
  }
}

interface UsageRow {
  messages: number;
  answered: number;
  failures: number;
  delivery_failures: number;
  prompt_tokens: string;
  completion_tokens: string;
  latency_p50: number | null;
  latency_p95: number | null;
  first_token_p50: number | null;
  first_token_p95: number | null;
}

function filter(builder: SelectQueryBuilder<Chat>, query: ListConversationsQueryDto): void {
  if (query.botId) builder.andWhere('chat.bot_provider_id = :botId', { botId: query.botId });
  if (query.platform) builder.andWhere('chat.platform = :platform', { platform: query.platform });
  if (query.from) builder.andWhere('chat.last_message_at >= :from', { from: query.from });
  if (query.to) builder.andWhere('chat.last_message_at < :to', { to: query.to });
  if (query.user) {
    builder.andWhere(
      `EXISTS (SELECT 1 FROM messages m WHERE m.chat_id = chat.id AND m.role = 'user' AND m.sender_id = :user)`,
      { user: query.user },
    );
  }
}

function toConversationDto(chat: Chat): ConversationDto {
  return {
    id: chat.id,
    botProviderId: chat.botProviderId,
    platform: chat.platform,
    chatKey: chat.chatKey,
    isGroup: chat.isGroup,
    participants: chat.participants,
    messageCount: chat.messageCount,
    lastMessageAt: chat.lastMessageAt,
    createdAt: chat.createdAt,
  };
}

function toMessageDto(message: Message): MessageDto {
  return {
    id: message.id,
    role: message.role,
    platformMessageId: message.platformMessageId,
    replyToId: message.replyToId,
    senderId: message.senderId,
    senderName: message.senderName,
    content: message.content,
    quotedText: message.quotedText,
    status: message.status,
    error: message.error,
    sources: message.sources,
    promptTokens: message.promptTokens,
    completionTokens: message.completionTokens,
    firstTokenMs: message.firstTokenMs,
    latencyMs: message.latencyMs,
    deliveryStatus: message.deliveryStatus,
    deliveryError: message.deliveryError,
    feedback: message.feedback,
    createdAt: message.createdAt,
    finishedAt: message.finishedAt,
  };
}
