import 'reflect-metadata';
import { plainToInstance, Transform } from 'class-transformer';
import {
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  IsUrl,
  Matches,
  Max,
  Min,
  MinLength,
  validateSync,
  ValidationError,
} from 'class-validator';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const ROLES = ['all', 'api', 'worker'] as const;
export type Role = (typeof ROLES)[number];

const toInt = ({ value }: { value: unknown }) =>
  value === undefined || value === '' ? undefined : /^-?\d+$/.test(String(value)) ? Number(value) : value;
const emptyToUndefined = ({ value }: { value: unknown }) => (value === '' ? undefined : value);
// One entry: host[:port], optionally prefixed with http:// or https:// (no paths). See src/wecom-bot/wecom-response-url.ts.
const WECOM_HOST_ENTRY = String.raw`\s*(?:https?:\/\/)?(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?\s*`;
const WECOM_RESPONSE_URL_HOSTS_PATTERN = new RegExp(`^${WECOM_HOST_ENTRY}(?:,${WECOM_HOST_ENTRY})*$`);

/**
 * The environment Parley reads, validated once at boot. Each variable is documented in `.env.example`;
 * a bad value stops the process with one line naming the variable and the fix.
 */
export class AppConfig {
  @Transform(toInt)
  @IsInt({ message: 'PORT must be a whole number between 1 and 65535, e.g. PORT=3000' })
  @Min(1, { message: 'PORT must be a whole number between 1 and 65535, e.g. PORT=3000' })
  @Max(65535, { message: 'PORT must be a whole number between 1 and 65535, e.g. PORT=3000' })
  PORT = 3000;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  HOST = '0.0.0.0';

  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\/.+/, {
    message:
      'DATABASE_URL must be a Postgres URL such as postgres://user:pass@host:5432/db — or unset it to use the embedded database',
  })
  DATABASE_URL?: string;

  @Transform(emptyToUndefined)
  @IsString()
  @MinLength(1, { message: 'DATA_DIR must be a directory path, e.g. DATA_DIR=./data' })
  DATA_DIR = './data';

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl(
    { require_tld: false, require_protocol: true, protocols: ['http', 'https'] },
    {
      message:
        'PUBLIC_BASE_URL must be the http(s) URL platforms reach Parley at, e.g. https://bots.example.com',
    },
  )
  PUBLIC_BASE_URL?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(16, {
    message:
      'ADMIN_API_KEY must be at least 16 characters (try: openssl rand -hex 24), or unset it to generate one',
  })
  ADMIN_API_KEY?: string;

  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(32, {
    message:
      'SECRET_KEY must be at least 32 characters (try: openssl rand -base64 32), or unset it to keep a generated key in DATA_DIR',
  })
  SECRET_KEY?: string;

  @Transform(emptyToUndefined)
  @IsIn(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: LogLevel = 'info';

  @Transform(emptyToUndefined)
  @IsIn(ROLES, { message: 'ROLE must be all (API and worker), api or worker' })
  ROLE: Role = 'all';

  @Transform(toInt)
  @IsInt({ message: 'BODY_LIMIT_KB must be a whole number of kilobytes between 16 and 10240, e.g. 1024' })
  @Min(16, { message: 'BODY_LIMIT_KB must be a whole number of kilobytes between 16 and 10240, e.g. 1024' })
  @Max(10240, {
    message: 'BODY_LIMIT_KB must be a whole number of kilobytes between 16 and 10240, e.g. 1024',
  })
  BODY_LIMIT_KB = 1024;

  @Transform(toInt)
  @IsInt({ message: 'HTTP_KEEP_ALIVE_SECONDS must be a whole number of seconds between 1 and 600, e.g. 65' })
  @Min(1, { message: 'HTTP_KEEP_ALIVE_SECONDS must be a whole number of seconds between 1 and 600, e.g. 65' })
  @Max(600, {
    message: 'HTTP_KEEP_ALIVE_SECONDS must be a whole number of seconds between 1 and 600, e.g. 65',
  })
  HTTP_KEEP_ALIVE_SECONDS = 65;

  @Transform(toInt)
  @IsInt({ message: 'UPLOAD_LIMIT_MB must be a whole number of megabytes between 1 and 1024, e.g. 20' })
  @Min(1, { message: 'UPLOAD_LIMIT_MB must be a whole number of megabytes between 1 and 1024, e.g. 20' })
  @Max(1024, { message: 'UPLOAD_LIMIT_MB must be a whole number of megabytes between 1 and 1024, e.g. 20' })
  UPLOAD_LIMIT_MB = 20;

  @Transform(toInt)
  @IsInt({ message: 'DATABASE_POOL_SIZE must be a whole number between 2 and 100, e.g. 10' })
  @Min(2, { message: 'DATABASE_POOL_SIZE must be a whole number between 2 and 100, e.g. 10' })
  @Max(100, { message: 'DATABASE_POOL_SIZE must be a whole number between 2 and 100, e.g. 10' })
  DATABASE_POOL_SIZE = 10;

  @Transform(toInt)
  @IsInt({ message: 'WORKER_CONCURRENCY must be a whole number between 1 and 200, e.g. 16' })
  @Min(1, { message: 'WORKER_CONCURRENCY must be a whole number between 1 and 200, e.g. 16' })
  @Max(200, { message: 'WORKER_CONCURRENCY must be a whole number between 1 and 200, e.g. 16' })
  WORKER_CONCURRENCY = 16;

  @Transform(toInt)
  @IsInt({ message: 'ANSWER_TIMEOUT_SECONDS must be a whole number between 10 and 3600, e.g. 300' })
  @Min(10, { message: 'ANSWER_TIMEOUT_SECONDS must be a whole number between 10 and 3600, e.g. 300' })
  @Max(3600, { message: 'ANSWER_TIMEOUT_SECONDS must be a whole number between 10 and 3600, e.g. 300' })
  ANSWER_TIMEOUT_SECONDS = 300;

  @Transform(toInt)
  @IsInt({ message: 'ANSWER_STALE_SECONDS must be a whole number between 1 and 3600, e.g. 60' })
  @Min(1, { message: 'ANSWER_STALE_SECONDS must be a whole number between 1 and 3600, e.g. 60' })
  @Max(3600, { message: 'ANSWER_STALE_SECONDS must be a whole number between 1 and 3600, e.g. 60' })
  ANSWER_STALE_SECONDS = 60;

  /**
   * How far a WeCom callback's `timestamp` may be from our clock (replay protection; 0 turns the check off).
   * 300 s tolerates clock skew and WeCom's retries (3 tries, 5 s apart) while keeping a captured callback
   * from being replayed later; replays inside the window are harmless (msgid dedupe, idempotent refreshes).
   */
  @Transform(toInt)
  @IsInt({
    message: 'WECOM_TIMESTAMP_WINDOW_SECONDS must be a whole number between 0 (off) and 86400, e.g. 300',
  })
  @Min(0, {
    message: 'WECOM_TIMESTAMP_WINDOW_SECONDS must be a whole number between 0 (off) and 86400, e.g. 300',
  })
  @Max(86400, {
    message: 'WECOM_TIMESTAMP_WINDOW_SECONDS must be a whole number between 0 (off) and 86400, e.g. 300',
  })
  WECOM_TIMESTAMP_WINDOW_SECONDS = 300;

  /**
   * A WeCom answer still running this long after the user's message finishes its stream with a notice and
   * arrives through response_url instead (WeCom stops refreshing a stream 6 minutes after the message).
   */
  @Transform(toInt)
  @IsInt({ message: 'WECOM_STREAM_WINDOW_SECONDS must be a whole number between 1 and 350, e.g. 330' })
  @Min(1, { message: 'WECOM_STREAM_WINDOW_SECONDS must be a whole number between 1 and 350, e.g. 330' })
  @Max(350, { message: 'WECOM_STREAM_WINDOW_SECONDS must be a whole number between 1 and 350, e.g. 330' })
  WECOM_STREAM_WINDOW_SECONDS = 330;

  /** Hosts a WeCom response_url may point to (comma list; `http://host[:port]` allows plain HTTP). */
  @Transform(({ value }: { value: unknown }) =>
    value === '' || value === undefined ? 'qyapi.weixin.qq.com' : value,
  )
  @Matches(WECOM_RESPONSE_URL_HOSTS_PATTERN, {
    message:
      'WECOM_RESPONSE_URL_HOSTS must be a comma-separated list of host names, e.g. qyapi.weixin.qq.com (prefix http:// to allow plain HTTP)',
  })
  WECOM_RESPONSE_URL_HOSTS = 'qyapi.weixin.qq.com';

  /** The base URL shown in bot providers' callback URLs. */
  get publicBaseUrl(): string {
    return (this.PUBLIC_BASE_URL ?? `http://localhost:${this.PORT}`).replace(/\/+$/, '');
  }
}

/** Every variable AppConfig reads (optional ones have no initializer, so they cannot be discovered). */
export const ENV_NAMES = [
  'PORT',
  'HOST',
  'DATABASE_URL',
  'DATA_DIR',
  'PUBLIC_BASE_URL',
  'ADMIN_API_KEY',
  'SECRET_KEY',
  'LOG_LEVEL',
  'ROLE',
  'BODY_LIMIT_KB',
  'UPLOAD_LIMIT_MB',
  'HTTP_KEEP_ALIVE_SECONDS',
  'DATABASE_POOL_SIZE',
  'WORKER_CONCURRENCY',
  'ANSWER_TIMEOUT_SECONDS',
  'ANSWER_STALE_SECONDS',
  'WECOM_TIMESTAMP_WINDOW_SECONDS',
  'WECOM_STREAM_WINDOW_SECONDS',
  'WECOM_RESPONSE_URL_HOSTS',
];

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment; throws a ConfigError whose message is one line naming the variable and the fix. */
export function loadConfig(env: Record<string, string | undefined> = process.env): AppConfig {
  const plain = Object.fromEntries(Object.entries(env).filter(([key]) => ENV_NAMES.includes(key)));
  const config = plainToInstance(AppConfig, plain, { exposeDefaultValues: true });
  const errors = validateSync(config, { whitelist: false });
  if (errors.length > 0) throw new ConfigError(describe(errors[0]));
  return config;
}

function describe(error: ValidationError): string {
  const message = Object.values(error.constraints ?? {})[0] ?? 'is invalid';
  return `Invalid configuration: ${message} (got ${JSON.stringify(String(error.value))})`;
}
