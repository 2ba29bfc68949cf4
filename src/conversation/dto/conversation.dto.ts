import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsDate, IsIn, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { PageMetaDto, PageQueryDto } from '../../common/pagination.js';

const PLATFORMS = ['wecom-bot', 'tencent-chat', 'cometchat'] as const;

export class ListConversationsQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'Only this bot provider' })
  @IsOptional()
  @IsUUID()
  botId?: string;

  @ApiPropertyOptional({ enum: PLATFORMS })
  @IsOptional()
  @IsIn(PLATFORMS)
  platform?: string;

  @ApiPropertyOptional({ description: 'Only chats this platform user wrote in' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  user?: string;

  @ApiPropertyOptional({ description: 'Last message at or after (ISO 8601)' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  from?: Date;

  @ApiPropertyOptional({ description: 'Last message before (ISO 8601)' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  to?: Date;
}

export class ParticipantDto {
  @ApiProperty() id!: string;
  @ApiPropertyOptional() name?: string;
}

export class ConversationDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ format: 'uuid' }) botProviderId!: string;
  @ApiProperty({ enum: PLATFORMS }) platform!: string;
  @ApiProperty({ description: "The platform's chat id (user id or group id)" }) chatKey!: string;
  @ApiProperty() isGroup!: boolean;
  @ApiProperty({ type: [ParticipantDto] }) participants!: ParticipantDto[];
  @ApiProperty({ description: 'User messages received' }) messageCount!: number;
  @ApiPropertyOptional({ nullable: true }) lastMessageAt!: Date | null;
  @ApiProperty() createdAt!: Date;
}

export class ConversationPageDto extends PageMetaDto {
  @ApiProperty({ type: [ConversationDto] }) items!: ConversationDto[];
}

export class SourceDto {
  @ApiProperty({ format: 'uuid' }) documentId!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ type: [String] }) headingPath!: string[];
  @ApiProperty({ format: 'uuid' }) chunkId!: string;
  @ApiProperty() score!: number;
}

export class MessageDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty({ enum: ['user', 'assistant'] }) role!: string;
  @ApiPropertyOptional({ nullable: true }) platformMessageId!: string | null;
  @ApiPropertyOptional({ nullable: true, format: 'uuid', description: 'For answers: the question' })
  replyToId!: string | null;
  @ApiProperty() senderId!: string;
  @ApiPropertyOptional({ nullable: true }) senderName!: string | null;
  @ApiProperty({ description: 'The question, or the answer (so far)' }) content!: string;
  @ApiPropertyOptional({ nullable: true }) quotedText!: string | null;
  @ApiProperty({
    enum: ['received', 'waiting', 'queued', 'generating', 'done', 'failed'],
    description:
      'A question is waiting until a worker takes it up (its answer then appears as a message of its own), ' +
      'then received; an answer is generating, then done or failed (or queued again after its worker stopped)',
  })
  status!: string;
  @ApiPropertyOptional({ nullable: true }) error!: string | null;
  @ApiPropertyOptional({ type: [SourceDto], nullable: true }) sources!: SourceDto[] | null;
  @ApiProperty() promptTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiPropertyOptional({ nullable: true, description: 'Time to first token, ms' }) firstTokenMs!:
    number | null;
  @ApiPropertyOptional({ nullable: true, description: 'Generation time, ms' }) latencyMs!: number | null;
  @ApiProperty({ enum: ['none', 'pending', 'sending', 'delivered', 'skipped', 'failed'] })
  deliveryStatus!: string;
  @ApiPropertyOptional({ nullable: true }) deliveryError!: string | null;
  @ApiPropertyOptional({ nullable: true, type: Object, description: 'accurate / inaccurate + reasons' })
  feedback!: unknown;
  @ApiProperty() createdAt!: Date;
  @ApiPropertyOptional({ nullable: true }) finishedAt!: Date | null;
}

export class MessagePageDto extends PageMetaDto {
  @ApiProperty({ type: [MessageDto] }) items!: MessageDto[];
}

export class UsageReportQueryDto {
  @ApiPropertyOptional({ description: 'From (ISO 8601); default: 24 hours ago' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  from?: Date;

  @ApiPropertyOptional({ description: 'To (ISO 8601); default: now' })
  @IsOptional()
  @Type(() => Date)
  @IsDate()
  to?: Date;

  @ApiPropertyOptional({ format: 'uuid' })
  @IsOptional()
  @IsUUID()
  botId?: string;
}

export class UsageReportDto {
  @ApiProperty() from!: Date;
  @ApiProperty() to!: Date;
  @ApiProperty({ description: 'Questions received' }) messages!: number;
  @ApiProperty({ description: 'Answers completed' }) answered!: number;
  @ApiProperty({ description: 'Answers that ended with the fallback message' }) failures!: number;
  @ApiProperty({ description: 'Answers whose delivery to the platform failed' }) deliveryFailures!: number;
  @ApiProperty() promptTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiPropertyOptional({ nullable: true, description: 'Answer latency p50, ms' }) latencyP50Ms!:
    number | null;
  @ApiPropertyOptional({ nullable: true, description: 'Answer latency p95, ms' }) latencyP95Ms!:
    number | null;
  @ApiPropertyOptional({ nullable: true, description: 'Time to first token p50, ms' }) firstTokenP50Ms!:
    number | null;
  @ApiPropertyOptional({ nullable: true, description: 'Time to first token p95, ms' }) firstTokenP95Ms!:
    number | null;
}
