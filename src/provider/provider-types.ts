import { ApiProperty, ApiPropertyOptional, IntersectionType } from '@nestjs/swagger';
import {
  IsIn,
  IsInt,
  IsNotEmpty,
  IsNumber,
  IsOptional,
  IsString,
  IsUrl,
  IsUUID,
  Matches,
  Max,
  MaxLength,
  Min,
  ValidateIf,
} from 'class-validator';
import type { ClassConstructor } from 'class-transformer';

export const PROVIDER_CATEGORIES = ['model', 'embedding', 'bot'] as const;
export type ProviderCategory = (typeof PROVIDER_CATEGORIES)[number];

const URL_OPTIONS = { require_tld: false, require_protocol: true, protocols: ['http', 'https'] };

// ---------------------------------------------------------------- models and embeddings

/** Where an OpenAI-compatible server is and which model to use. */
class OpenAiCompatibleEndpoint {
  @ApiProperty({
    example: 'https://api.openai.com/v1',
    description: 'Any OpenAI-compatible base URL (OpenAI, DeepSeek, Qwen, Moonshot, MiniMax, Ollama, vLLM…)',
  })
  @IsUrl(URL_OPTIONS)
  baseUrl!: string;

  @ApiPropertyOptional({
    description: 'Secret. Omit for servers without auth (Ollama, vLLM).',
    example: 'sk-…',
  })
  @IsOptional()
  @IsString()
  @MaxLength(500)
  apiKey?: string;

  @ApiProperty({
    example: 'gpt-4o-mini',
    description: 'The model name, e.g. gpt-4o-mini or text-embedding-3-small',
  })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  model!: string;
}

/** An Azure OpenAI resource and one of its deployments. */
class AzureOpenAiDeployment {
  @ApiProperty({ example: 'https://my-resource.openai.azure.com' })
  @IsUrl(URL_OPTIONS)
  endpoint!: string;

  @ApiProperty({ description: 'Secret' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(500)
  apiKey!: string;

  @ApiProperty({ example: 'gpt-4o', description: 'The deployment name' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  deployment!: string;

  @ApiProperty({ example: '2024-10-21' })
  @Matches(/^\d{4}-\d{2}-\d{2}(-preview)?$/, {
    message: 'apiVersion must look like 2024-10-21 or 2025-01-01-preview',
  })
  apiVersion!: string;
}

class RequestTimeout {
  @ApiPropertyOptional({ minimum: 1000, maximum: 600000, default: 60000 })
  @IsOptional()
  @IsInt()
  @Min(1000)
  @Max(600_000)
  timeoutMs?: number;
}

/** How a chat model answers. */
class GenerationSettings extends RequestTimeout {
  @ApiPropertyOptional({ minimum: 0, maximum: 2, example: 0.3 })
  @IsOptional()
  @IsNumber()
  @Min(0)
  @Max(2)
  temperature?: number;

  @ApiPropertyOptional({ minimum: 1, maximum: 200000, description: 'Cap on answer tokens' })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(200_000)
  maxTokens?: number;

  @ApiPropertyOptional({
    minimum: 1024,
    maximum: 2000000,
    default: 16384,
    description: "The model's context window in tokens; prompts are trimmed to it",
  })
  @IsOptional()
  @IsInt()
  @Min(1024)
  @Max(2_000_000)
  contextTokens?: number;
}

/** What an embedding model returns. */
class EmbeddingSettings extends RequestTimeout {
  @ApiProperty({
    example: 1536,
    minimum: 1,
    maximum: 2000,
    description: 'Vector size (pgvector HNSW indexes up to 2000)',
  })
  @IsInt()
  @Min(1)
  @Max(2000)
  dimensions!: number;
}

export class OpenAiCompatibleModelConfig extends IntersectionType(
  OpenAiCompatibleEndpoint,
  GenerationSettings,
) {}

export class AzureOpenAiModelConfig extends IntersectionType(AzureOpenAiDeployment, GenerationSettings) {}

/** Answers without an LLM: the best matching passages, formatted, with their sources. */
export class ExtractiveModelConfig {}

export class OpenAiCompatibleEmbeddingConfig extends IntersectionType(
  OpenAiCompatibleEndpoint,
  EmbeddingSettings,
) {}

export class AzureOpenAiEmbeddingConfig extends IntersectionType(AzureOpenAiDeployment, EmbeddingSettings) {}

// ---------------------------------------------------------------- bots

/** Answering policies shared by every bot type (all optional, with defaults). */
export class BotPolicyConfig {
  @ApiPropertyOptional({
    format: 'uuid',
    description: 'The store this bot answers from; the default store when omitted',
  })
  @IsOptional()
  @IsUUID()
  storeId?: string;

  @ApiPropertyOptional({
    enum: ['mention', 'always'],
    default: 'mention',
    description: 'In groups: answer only when @mentioned, or every message',
  })
  @IsOptional()
  @IsIn(['mention', 'always'])
  groupReply?: 'mention' | 'always';

  @ApiPropertyOptional({
    enum: ['per-user', 'shared'],
    default: 'per-user',
    description: 'In groups: one history per member, or one shared by the group',
  })
  @IsOptional()
  @IsIn(['per-user', 'shared'])
  groupContext?: 'per-user' | 'shared';

  @ApiPropertyOptional({
    minimum: 1,
    maximum: 20000,
    default: 4000,
    description: 'Longer questions get a polite refusal',
  })
  @IsOptional()
  @IsInt()
  @Min(1)
  @Max(20_000)
  maxQuestionLength?: number;

  @ApiPropertyOptional({
    minimum: 0,
    maximum: 1000,
    default: 20,
    description: 'Messages per user per minute; 0 = unlimited',
  })
  @IsOptional()
  @IsInt()
  @Min(0)
  @Max(1000)
  rateLimitPerMinute?: number;

  @ApiPropertyOptional({ minimum: 0, default: 0, description: 'Tokens per day for this bot; 0 = unlimited' })
  @IsOptional()
  @IsInt()
  @Min(0)
  dailyTokenBudget?: number;
}

export class WeComBotConfig extends BotPolicyConfig {
  @ApiProperty({ example: 'aibAbCdEf123', description: "The AI bot's BotID from the WeCom admin console" })
  @IsString()
  @Matches(/^[\w-]{1,128}$/, {
    message: 'botId must be the BotID shown in the WeCom console (letters, digits, _ or -)',
  })
  botId!: string;

  @ApiProperty({ description: 'Secret. The callback Token from the WeCom console' })
  @IsString()
  @Matches(/^[A-Za-z0-9]{1,64}$/, {
    message: 'token must be the Token from the WeCom console (letters and digits, at most 64)',
  })
  token!: string;

  @ApiProperty({ description: 'Secret. The 43-character EncodingAESKey from the WeCom console' })
  @IsString()
  @Matches(/^[A-Za-z0-9+/]{43}$/, {
    message: 'encodingAesKey must be the 43-character EncodingAESKey from the WeCom console',
  })
  encodingAesKey!: string;

  @ApiPropertyOptional({ default: 'Thinking…', description: 'Shown while the answer is being prepared' })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  thinkingText?: string;
}

export const TENCENT_REGIONS = [
  'china',
  'singapore',
  'seoul',
  'tokyo',
  'frankfurt',
  'silicon-valley',
  'jakarta',
] as const;

export class TencentChatBotConfig extends BotPolicyConfig {
  @ApiProperty({ example: '1400000000' })
  @Matches(/^\d{5,12}$/, { message: 'sdkAppId must be the numeric SDKAppID of the Chat application' })
  sdkAppId!: string;

  @ApiProperty({ description: "Secret. The application's key (for UserSig)" })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  secretKey!: string;

  @ApiProperty({ example: 'administrator', description: 'An app administrator account used for REST calls' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(32)
  adminIdentifier!: string;

  @ApiProperty({ example: '@RBT#001' })
  @Matches(/^@RBT#.{1,27}$/, {
    message: 'robotId must be a robot UserID starting with @RBT# (at most 32 bytes)',
  })
  robotId!: string;

  @ApiProperty({ description: 'Secret. The webhook authentication token from the console' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  callbackToken!: string;

  @ApiPropertyOptional({ enum: TENCENT_REGIONS, description: 'Data centre; or give apiBaseUrl' })
  @ValidateIf(
    (config: TencentChatBotConfig) => config.apiBaseUrl === undefined || config.region !== undefined,
  )
  @IsIn(TENCENT_REGIONS, {
    message: `region must be one of ${TENCENT_REGIONS.join(', ')} (or set apiBaseUrl)`,
  })
  region?: (typeof TENCENT_REGIONS)[number];

  @ApiPropertyOptional({ description: 'Overrides the regional REST host (proxies, tests)' })
  @IsOptional()
  @IsUrl(URL_OPTIONS)
  apiBaseUrl?: string;

  @ApiPropertyOptional({
    enum: ['final', 'stream'],
    default: 'final',
    description: 'One final message, or streamed updates',
  })
  @IsOptional()
  @IsIn(['final', 'stream'])
  replyMode?: 'final' | 'stream';
}

export class CometChatBotConfig extends BotPolicyConfig {
  @ApiProperty({ example: '2248348660ad9bd4' })
  @Matches(/^[\w-]{1,64}$/, { message: 'appId must be the CometChat App ID' })
  appId!: string;

  @ApiProperty({ enum: ['us', 'eu', 'in'] })
  @IsIn(['us', 'eu', 'in'], { message: 'region must be us, eu or in' })
  region!: 'us' | 'eu' | 'in';

  @ApiProperty({ description: 'Secret. A REST API key with full access' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  apiKey!: string;

  @ApiProperty({ example: 'support_bot' })
  @Matches(/^[a-z0-9_-]{1,50}$/, {
    message: 'botUid must be the bot user UID (lower case, at most 50 characters)',
  })
  botUid!: string;

  @ApiProperty({ example: 'parley' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(100)
  basicAuthUsername!: string;

  @ApiProperty({ description: 'Secret' })
  @IsString()
  @IsNotEmpty()
  @MaxLength(200)
  basicAuthPassword!: string;

  @ApiPropertyOptional({
    description: 'Overrides https://{appId}.api-{region}.cometchat.io (proxies, tests)',
  })
  @IsOptional()
  @IsUrl(URL_OPTIONS)
  apiBaseUrl?: string;
}

// ---------------------------------------------------------------- registry

export interface ProviderTypeDefinition<C extends object = object> {
  category: ProviderCategory;
  type: string;
  configClass: ClassConstructor<C>;
  /** Fields encrypted at rest and masked in responses. */
  secretFields: readonly string[];
  /**
   * Config fields whose values, joined with ":", are unique per type and route inbound webhooks to the
   * bot (one wecom-bot per botId, one tencent-chat per app + robot).
   */
  routingFields?: readonly (keyof C & string)[];
  /** The callback path to paste into the platform console. */
  callbackPath?: (config: C, providerId: string) => string;
}

function define<C extends object>(definition: ProviderTypeDefinition<C>): ProviderTypeDefinition {
  return definition as unknown as ProviderTypeDefinition;
}

export const PROVIDER_TYPES: readonly ProviderTypeDefinition[] = [
  define({
    category: 'model',
    type: 'openai-compatible',
    configClass: OpenAiCompatibleModelConfig,
    secretFields: ['apiKey'],
  }),
  define({
    category: 'model',
    type: 'azure-openai',
    configClass: AzureOpenAiModelConfig,
    secretFields: ['apiKey'],
  }),
  define({ category: 'model', type: 'extractive', configClass: ExtractiveModelConfig, secretFields: [] }),
  define({
    category: 'embedding',
    type: 'openai-compatible',
    configClass: OpenAiCompatibleEmbeddingConfig,
    secretFields: ['apiKey'],
  }),
  define({
    category: 'embedding',
    type: 'azure-openai',
    configClass: AzureOpenAiEmbeddingConfig,
    secretFields: ['apiKey'],
  }),
  define<WeComBotConfig>({
    category: 'bot',
    type: 'wecom-bot',
    configClass: WeComBotConfig,
    secretFields: ['token', 'encodingAesKey'],
    routingFields: ['botId'],
    callbackPath: (config) => `/api/wecom-bot/callback/${encodeURIComponent(config.botId)}`,
  }),
  define<TencentChatBotConfig>({
    category: 'bot',
    type: 'tencent-chat',
    configClass: TencentChatBotConfig,
    secretFields: ['secretKey', 'callbackToken'],
    routingFields: ['sdkAppId', 'robotId'],
    callbackPath: (config) => `/api/tencent-chat/callback/${config.sdkAppId}`,
  }),
  define<CometChatBotConfig>({
    category: 'bot',
    type: 'cometchat',
    configClass: CometChatBotConfig,
    secretFields: ['apiKey', 'basicAuthPassword'],
    callbackPath: (_config, providerId) => `/api/cometchat/callback/${providerId}`,
  }),
];

export function findProviderType(category: string, type: string): ProviderTypeDefinition | undefined {
  return PROVIDER_TYPES.find((definition) => definition.category === category && definition.type === type);
}

export const PROVIDER_CONFIG_CLASSES = [
  ...new Set(PROVIDER_TYPES.map((definition) => definition.configClass)),
];

/** The routing key of a bot config, or null for types without one. */
export function routingKeyOf(
  definition: ProviderTypeDefinition,
  config: Record<string, unknown>,
): string | null {
  return definition.routingFields
    ? definition.routingFields.map((field) => String(config[field])).join(':')
    : null;
}
