import { ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import {
  IsBoolean,
  IsIn,
  IsNotEmpty,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
} from 'class-validator';
import { PageMetaDto, PageQueryDto } from '../../common/pagination.js';
import {
  PROVIDER_CATEGORIES,
  PROVIDER_CONFIG_CLASSES,
  PROVIDER_TYPES,
  type ProviderCategory,
} from '../provider-types.js';

const TYPES = [...new Set(PROVIDER_TYPES.map((definition) => definition.type))];
const SLUG = /^[a-z0-9][a-z0-9-]{0,63}$/;
const SLUG_MESSAGE = 'name must be a slug: lower-case letters, digits and dashes, at most 64 characters';

const configSchema = {
  description:
    'Settings for the chosen type (see the *Config schemas). Secret fields are write-only: responses show a mask such as "****cdef"; send the mask back, or omit the field, to keep the stored value.',
  oneOf: PROVIDER_CONFIG_CLASSES.map((configClass) => ({ $ref: getSchemaPath(configClass) })),
};

export class CreateProviderDto {
  @ApiProperty({ example: 'openai-main', description: 'Unique slug' })
  @Matches(SLUG, { message: SLUG_MESSAGE })
  name!: string;

  @ApiPropertyOptional({ example: 'OpenAI (production)', description: 'Defaults to the name' })
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  displayName?: string;

  @ApiProperty({ enum: PROVIDER_CATEGORIES })
  @IsIn(PROVIDER_CATEGORIES)
  category!: ProviderCategory;

  @ApiProperty({ enum: TYPES, example: 'openai-compatible' })
  @IsString()
  @IsIn(TYPES)
  type!: string;

  @ApiProperty(configSchema)
  @IsObject()
  config!: Record<string, unknown>;

  @ApiPropertyOptional({ default: true })
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class UpdateProviderDto {
  @ApiPropertyOptional({ description: 'Unique slug' })
  @IsOptional()
  @Matches(SLUG, { message: SLUG_MESSAGE })
  name?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  displayName?: string;

  @ApiPropertyOptional({
    ...configSchema,
    description:
      'Fields to change; merged into the stored config (null removes an optional field). ' +
      configSchema.description,
  })
  @IsOptional()
  @IsObject()
  config?: Record<string, unknown>;

  @ApiPropertyOptional()
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;
}

export class ListProvidersQueryDto extends PageQueryDto {
  @ApiPropertyOptional({ enum: PROVIDER_CATEGORIES })
  @IsOptional()
  @IsIn(PROVIDER_CATEGORIES)
  category?: ProviderCategory;

  @ApiPropertyOptional({ enum: TYPES })
  @IsOptional()
  @IsIn(TYPES)
  type?: string;

  @ApiPropertyOptional({ description: 'Only enabled (true) or disabled (false) providers' })
  @IsOptional()
  @Transform(({ value }) => (value === 'true' ? true : value === 'false' ? false : value))
  @IsBoolean()
  enabled?: boolean;
}

export class ProviderDto {
  @ApiProperty({ format: 'uuid' }) id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() displayName!: string;
  @ApiProperty({ enum: PROVIDER_CATEGORIES }) category!: ProviderCategory;
  @ApiProperty({ enum: TYPES }) type!: string;
  @ApiProperty({ ...configSchema, description: 'The config with every secret masked' })
  config!: Record<string, unknown>;
  @ApiProperty() enabled!: boolean;
  @ApiPropertyOptional({
    description: 'Bots only: the URL to paste into the platform console (from PUBLIC_BASE_URL)',
    example: 'https://bots.example.com/api/wecom-bot/callback/aibAbCdEf123',
  })
  callbackUrl?: string;
  @ApiProperty() createdAt!: Date;
  @ApiProperty() updatedAt!: Date;
}

export class ProviderPageDto extends PageMetaDto {
  @ApiProperty({ type: [ProviderDto] }) items!: ProviderDto[];
}
