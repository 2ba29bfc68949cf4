import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsIn,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  Max,
  MaxLength,
  Min,
  ValidateNested,
} from 'class-validator';
import type { RetrievalMode } from '../retrieval/retrieval.service.js';

export class SearchRequestDto {
  @ApiProperty({ example: 'How long do refunds take?' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(4000)
  query!: string;

  @ApiPropertyOptional({ minimum: 1, maximum: 50, description: "Defaults to the store's topK" })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(50)
  topK?: number;
}

export class SearchHitDto {
  @ApiProperty({ format: 'uuid' }) chunkId!: string;
  @ApiProperty({ format: 'uuid' }) documentId!: string;
  @ApiProperty({ description: 'The title of the source document' }) documentTitle!: string;
  @ApiProperty({ type: [String], example: ['Billing', 'Refunds'] }) headingPath!: string[];
  @ApiProperty({ description: 'The source, e.g. "Handbook › Billing › Refunds"' }) source!: string;
  @ApiProperty() content!: string;
  @ApiProperty({
    description:
      'Higher is better, comparable within one response: the reciprocal-rank-fusion score (hybrid) or the full-text rank',
  })
  score!: number;
  @ApiPropertyOptional({ description: 'Rank in the vector (cosine) list, from 1; absent when not in it' })
  vectorRank?: number;
  @ApiPropertyOptional({ description: 'Rank in the full-text list, from 1; absent when not in it' })
  textRank?: number;
  @ApiPropertyOptional({ description: 'Cosine similarity to the query, when the store has embeddings' })
  similarity?: number;
}

export class SearchResponseDto {
  @ApiProperty({
    enum: ['hybrid', 'full-text', 'vector'],
    description:
      'hybrid, or full-text when the store has no embedding provider (or embedding the query failed)',
  })
  mode!: RetrievalMode;
  @ApiProperty({ type: [SearchHitDto] }) hits!: SearchHitDto[];
}

export class ChatTurnDto {
  @ApiProperty({ enum: ['user', 'assistant'] })
  @IsIn(['user', 'assistant'])
  role!: 'user' | 'assistant';

  @ApiProperty()
  @IsString()
  @MaxLength(20_000)
  content!: string;
}

export class AskRequestDto {
  @ApiProperty({ example: 'How long do refunds take?' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(20_000)
  question!: string;

  @ApiPropertyOptional({ type: [ChatTurnDto], description: 'Earlier turns, oldest first' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(200)
  @ValidateNested({ each: true })
  @Type(() => ChatTurnDto)
  history?: ChatTurnDto[];
}

export class SourceRefDto {
  @ApiProperty({ format: 'uuid' }) documentId!: string;
  @ApiProperty() title!: string;
  @ApiProperty({ type: [String] }) headingPath!: string[];
  @ApiProperty({ format: 'uuid' }) chunkId!: string;
  @ApiProperty() score!: number;
}

export class AskUsageDto {
  @ApiProperty() promptTokens!: number;
  @ApiProperty() completionTokens!: number;
  @ApiProperty() latencyMs!: number;
  @ApiPropertyOptional() firstTokenMs?: number;
}

export class AskErrorDto {
  @ApiProperty({ example: 'timeout' }) kind!: string;
  @ApiProperty() message!: string;
}

export class AskResponseDto {
  @ApiProperty({ description: "The answer (the store's fallback message when the model failed)" })
  answer!: string;
  @ApiProperty({ type: [SourceRefDto] }) sources!: SourceRefDto[];
  @ApiProperty({ type: AskUsageDto }) usage!: AskUsageDto;
  @ApiPropertyOptional({ enum: ['stop', 'length', 'content-filter', 'other'] }) finishReason?: string;
  @ApiPropertyOptional({ type: AskErrorDto, description: 'Set when the model failed' })
  error?: AskErrorDto;
}
