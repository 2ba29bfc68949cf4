import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsBoolean,
  IsInt,
  IsNotEmpty,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import { PageMetaDto } from '../../common/pagination.js';

const SLUG = /^[a-z0-9][a-z0-9-]{0,63}$/;
const SLUG_MESSAGE = 'name must be a slug: lower-case letters, digits and dashes, at most 64 characters';
/** PATCH: the field may be omitted, but not null (only nullable fields accept null). */
const presentUnlessOmitted = (_object: object, value: unknown) => value !== undefined;

export class CreateStoreDto {
  @ApiProperty({ example: 'helpdesk', description: 'Unique slug' })
  @Matches(SLUG, { message: SLUG_MESSAGE })
  name!: string;

  @ApiPropertyOptional({ example: 'IT helpdesk', description: 'Defaults to the name' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  displayName?: string;

  @ApiProperty({
    format: 'uuid',
    description: 'A provider of category `model` (e.g. `extractive` for no LLM)',
  })
  @IsUUID()
  modelProviderId!: string;

  @ApiPropertyOptional({
    format: 'uuid',
    nullable: true,
    description: 'A provider of category `embedding`; without one, retrieval is full-text only',
  })
  @IsOptional()
  @IsUUID()
  embeddingProviderId?: string | null;

  @ApiPropertyOptional({
    example: 'You are the IT helpdesk of Example Corp. Answer briefly.',
    description: 'Instructions given to the model before the retrieved passages',
  })
  @IsOptional()
  @IsString()
  @MaxLength(20_000)
  systemPrompt?: string;

  @ApiPropertyOptional({ example: 'Hi! Ask me anything about IT.', nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  welcomeMessage?: string | null;

  @ApiPropertyOptional({
    example: 'Sorry, I cannot answer right now. Please try again later.',
    nullable: true,
    description: 'Said when the model fails',
  })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  fallbackMessage?: string | null;

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 50,
    default: 5,
    description: 'Passages retrieved per question',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(50)
  topK?: number;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 100,
    default: 10,
    description: 'Previous messages of the conversation given to the model',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(100)
  historyMessages?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 200000, nullable: true, description: 'Cap on answer tokens' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(200_000)
  maxAnswerTokens?: number | null;

  @ApiPropertyOptional({
    description:
      'The store bots without a storeId use. The first store is the default; making another one the default unsets the old one.',
  })
  @IsOptional()
  @IsBoolean()
  isDefault?: boolean;
}

export class UpdateStoreDto {
  @ApiPropertyOptional({ description: 'Unique slug' })
  @ValidateIf(presentUnlessOmitted)
  @Matches(SLUG, { message: SLUG_MESSAGE })
  name?: string;

  @ApiPropertyOptional()
  @ValidateIf(presentUnlessOmitted)
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  displayName?: string;

  @ApiPropertyOptional({ format: 'uuid' })
  @ValidateIf(presentUnlessOmitted)
  @IsUUID()
  modelProviderId?: string;

  @ApiPropertyOptional({
    format: 'uuid',
    nullable: true,
    description: 'null removes it (full-text only). Changing it re-indexes every document.',
  })
  @IsOptional()
  @IsUUID()
  embeddingProviderId?: string | null;

  @ApiPropertyOptional()
  @ValidateIf(presentUnlessOmitted)
  @IsString()
  @MaxLength(20_000)
  systemPrompt?: string;

  @ApiPropertyOptional({ nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  welcomeMessage?: string | null;

  @ApiPropertyOptional({ nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  fallbackMessage?: string | null;

  @ApiPropertyOptional({ minimum: 1, maximum: 50 })
  @ValidateIf(presentUnlessOmitted)
  @IsInt()
  @Min(1)
  @Max(50)
  topK?: number;

  @ApiPropertyOptional({ minimum: 0, maximum: 100 })
  @ValidateIf(presentUnlessOmitted)
  @IsInt()
  @Min(0)
  @Max(100)
  historyMessages?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 200000, nullable: true })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(200_000)
  maxAnswerTokens?: number | null;

  @ApiPropertyOptional({
    description: 'true makes this the default store (unsetting the old one); a default store cannot be unset',
  })
  @ValidateIf(presentUnlessOmitted)
  @IsBoolean()
  isDefault?: boolean;
}

export class StoreDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty({ format: 'uuid' }) modelProviderId!: string;
  @ApiProperty({ format: 'uuid', nullable: true, type: String }) embeddingProviderId!: string | null;
  @ApiProperty() systemPrompt!: string;
  @ApiProperty({ nullable: true, type: String }) welcomeMessage!: string | null;
  @ApiProperty({ nullable: true, type: String }) fallbackMessage!: string | null;
  @ApiProperty() topK!: number;
  @ApiProperty() historyMessages!: number;
  @ApiProperty({ nullable: true, type: Number }) maxAnswerTokens!: number | null;
  @ApiProperty() isDefault!: boolean;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}

export class StorePageDto extends PageMetaDto {
  @ApiProperty({ type: [StoreDto] }) items!: StoreDto[];
}
