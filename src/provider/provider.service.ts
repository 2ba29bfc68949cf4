import { Inject, Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { DataSource, FindOptionsWhere, Repository } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { isMask, maskSecret, SecretBox } from '../common/crypto/secret-box.js';
import { ConflictError, isUniqueViolation, NotFoundError, ValidationFailedError } from '../common/errors.js';
import { Page, toPage } from '../common/pagination.js';
import { toFieldErrors } from '../common/validation.js';
import {
  CreateProviderDto,
  ListProvidersQueryDto,
  ProviderDto,
  UpdateProviderDto,
} from './dto/provider.dto.js';
import { Provider } from './provider.entity.js';
import {
  findProviderType,
  ProviderCategory,
  ProviderTypeDefinition,
  routingKeyOf,
} from './provider-types.js';

/** A provider with its secrets decrypted, for internal use only (never returned by the API, never logged). */
export interface ResolvedProvider<C extends object = Record<string, unknown>> {
  id: string;
  name: string;
  category: ProviderCategory;
  type: string;
  enabled: boolean;
  config: C;
}

const FOREIGN_KEY_VIOLATION = '23503';

/**
 * How long `resolve`, `findBot` and `findBotsByPrefix` may answer from memory. Every webhook resolves its
 * bot (often twice), so this saves round trips and decryptions on the hot path. A change made through this
 * instance clears the cache at once; a change made through another instance sharing the database (scale-out)
 * is seen here within this time.
 */
export const PROVIDER_CACHE_TTL_MS = 5_000;
/** Lookups are keyed by ids and routing keys taken from webhook URLs: bound the memory they can take. */
const PROVIDER_CACHE_MAX_ENTRIES = 1_000;

interface CacheEntry {
  expiresAt: number;
  value: Promise<unknown>;
}

@Injectable()
export class ProviderService {
  private readonly providers: Repository<Provider>;
  /** Resolved providers (secrets decrypted), by lookup; see PROVIDER_CACHE_TTL_MS. */
  private readonly cache = new Map<string, CacheEntry>();

  constructor(
    dataSource: DataSource,
    private readonly secretBox: SecretBox,
    @Inject(AppConfig) private readonly appConfig: AppConfig,
  ) {
    this.providers = dataSource.getRepository(Provider);
  }

  async create(dto: CreateProviderDto): Promise<ProviderDto> {
    const definition = this.definitionOf(dto.category, dto.type);
    const config = await validateConfig(definition, dto.config);
    await this.checkStoreReference(definition, config);
    const provider = this.providers.create({
      name: dto.name,
      displayName: dto.displayName ?? dto.name,
      category: dto.category,
      type: dto.type,
      config: this.seal(definition, config),
      routingKey: routingKeyOf(definition, config),
      enabled: dto.enabled ?? true,
    });
    try {
      return this.toDto(await this.save(provider, definition, config));
    } finally {
      this.cache.clear();
    }
  }

  async list(query: ListProvidersQueryDto): Promise<Page<ProviderDto>> {
    const where: FindOptionsWhere<Provider> = {};
    if (query.category) where.category = query.category;
    if (query.type) where.type = query.type;
    if (query.enabled !== undefined) where.enabled = query.enabled;
    const [rows, total] = await this.providers.findAndCount({
      where,
      order: { createdAt: 'ASC', id: 'ASC' },
      skip: query.offset,
      take: query.pageSize,
    });
    return toPage(
      rows.map((row) => this.toDto(row)),
      total,
      query,
    );
  }

  async get(id: string): Promise<ProviderDto> {
    return this.toDto(await this.find(id));
  }

  async update(id: string, dto: UpdateProviderDto): Promise<ProviderDto> {
    const provider = await this.find(id);
    const definition = this.definitionOf(provider.category, provider.type);
    if (dto.config) {
      const merged = mergeConfig(this.open(definition, provider.config), dto.config, definition.secretFields);
      const config = await validateConfig(definition, merged);
      await this.checkStoreReference(definition, config);
      provider.config = this.seal(definition, config);
      provider.routingKey = routingKeyOf(definition, config);
    }
    if (dto.name !== undefined) provider.name = dto.name;
    if (dto.displayName !== undefined) provider.displayName = dto.displayName;
    if (dto.enabled !== undefined) provider.enabled = dto.enabled;
    try {
      return this.toDto(await this.save(provider, definition, this.open(definition, provider.config)));
    } finally {
      this.cache.clear();
    }
  }

  async remove(id: string): Promise<void> {
    const provider = await this.find(id);
    try {
      await this.providers.remove(provider);
    } catch (error) {
      if ((error as { driverError?: { code?: string } }).driverError?.code === FOREIGN_KEY_VIOLATION) {
        throw new ConflictError(`Provider ${id} is in use (by a store or a bot); detach it first`);
      }
      throw error;
    } finally {
      this.cache.clear();
    }
  }

  /** The provider with decrypted secrets, for the modules that call out to it (cached briefly). */
  async resolve<C extends object = Record<string, unknown>>(id: string): Promise<ResolvedProvider<C>> {
    const resolved = await this.cached(`id:${id}`, async () => this.toResolved<C>(await this.find(id)));
    return copyResolved(resolved);
  }

  /** Finds an enabled-or-not bot by its routing key (e.g. WeCom botId, Tencent `sdkAppId:robotId`). */
  async findBot<C extends object = Record<string, unknown>>(
    type: string,
    routingKey: string,
  ): Promise<ResolvedProvider<C> | undefined> {
    const resolved = await this.cached(`bot:${type}:${routingKey}`, async () => {
      const row = await this.providers.findOne({ where: { category: 'bot', type, routingKey } });
      return row ? this.toResolved<C>(row) : undefined;
    });
    return resolved && copyResolved(resolved);
  }

  /** All bots of a type whose routing key starts with a prefix (e.g. every robot of one Tencent app). */
  async findBotsByPrefix<C extends object = Record<string, unknown>>(
    type: string,
    prefix: string,
  ): Promise<ResolvedProvider<C>[]> {
    const resolved = await this.cached(`prefix:${type}:${prefix}`, async () => {
      const rows = await this.providers
        .createQueryBuilder('provider')
        .where('provider.category = :category AND provider.type = :type', { category: 'bot', type })
        .andWhere('starts_with(provider.routing_key, :prefix)', { prefix })
        .getMany();
      return rows.map((row) => this.toResolved<C>(row));
    });
    return resolved.map((provider) => copyResolved(provider));
  }

  /**
   * Serves a lookup from memory for PROVIDER_CACHE_TTL_MS; concurrent misses share one query. Failures and
   * empty results are not kept (a bot created through another instance is found at once).
   */
  private cached<T>(key: string, load: () => Promise<T>): Promise<T> {
    const now = performance.now();
    const hit = this.cache.get(key);
    if (hit && hit.expiresAt > now) return hit.value as Promise<T>;
    if (this.cache.size >= PROVIDER_CACHE_MAX_ENTRIES) this.cache.clear();
    const value = load();
    const entry: CacheEntry = { expiresAt: now + PROVIDER_CACHE_TTL_MS, value };
    this.cache.set(key, entry);
    const forget = () => {
      if (this.cache.get(key) === entry) this.cache.delete(key);
    };
    value.then((result) => {
      if (result === undefined || (Array.isArray(result) && result.length === 0)) forget();
    }, forget);
    return value;
  }

  private async find(id: string): Promise<Provider> {
    const provider = await this.providers.findOne({ where: { id } });
    if (!provider) throw new NotFoundError('Provider', id);
    return provider;
  }

  private async save(
    provider: Provider,
    definition: ProviderTypeDefinition,
    config: object,
  ): Promise<Provider> {
    try {
      return await this.providers.save(provider);
    } catch (error) {
      if (isUniqueViolation(error, 'providers_name_unique')) {
        throw new ConflictError(`A provider named "${provider.name}" already exists`, [
          { field: 'name', messages: ['name is already taken'] },
        ]);
      }
      if (isUniqueViolation(error, 'providers_type_routing_key_unique')) {
        throw new ConflictError(
          `Another ${definition.type} provider already uses ${describeRoutingKey(definition, config)}`,
        );
      }
      throw error;
    }
  }

  /** A bot's `storeId` must name an existing store (deleting a store a bot uses is refused: 409). */
  private async checkStoreReference(
    definition: ProviderTypeDefinition,
    config: Record<string, unknown>,
  ): Promise<void> {
    if (definition.category !== 'bot' || typeof config.storeId !== 'string') return;
    const rows: unknown[] = await this.providers.manager.query(`SELECT 1 FROM stores WHERE id = $1`, [
      config.storeId,
    ]);
    if (rows.length === 0) {
      throw new ValidationFailedError([
        { field: 'config.storeId', messages: ['config.storeId must be the id of an existing store'] },
      ]);
    }
  }

  private definitionOf(category: string, type: string): ProviderTypeDefinition {
    const definition = findProviderType(category, type);
    if (!definition) {
      throw new ValidationFailedError([
        { field: 'type', messages: [`type ${type} does not exist in category ${category}`] },
      ]);
    }
    return definition;
  }

  private seal(definition: ProviderTypeDefinition, config: Record<string, unknown>): Record<string, unknown> {
    return mapSecrets(config, definition.secretFields, (value) => this.secretBox.encrypt(value));
  }

  private open(definition: ProviderTypeDefinition, stored: Record<string, unknown>): Record<string, unknown> {
    return mapSecrets(stored, definition.secretFields, (value) =>
      SecretBox.isEncrypted(value) ? this.secretBox.decrypt(value) : value,
    );
  }

  private toResolved<C extends object>(row: Provider): ResolvedProvider<C> {
    const definition = this.definitionOf(row.category, row.type);
    return {
      id: row.id,
      name: row.name,
      category: row.category,
      type: row.type,
      enabled: row.enabled,
      config: this.open(definition, row.config) as C,
    };
  }

  private toDto(row: Provider): ProviderDto {
    const definition = this.definitionOf(row.category, row.type);
    const config = mapSecrets(this.open(definition, row.config), definition.secretFields, maskSecret);
    const callbackPath = definition.callbackPath?.(this.open(definition, row.config), row.id);
    return {
      id: row.id,
      name: row.name,
      displayName: row.displayName,
      category: row.category,
      type: row.type,
      config,
      enabled: row.enabled,
      ...(callbackPath ? { callbackUrl: this.appConfig.publicBaseUrl + callbackPath } : {}),
      createdAt: row.createdAt,
      updatedAt: row.updatedAt,
    };
  }
}

/** Callers get their own copy: the cached provider (and its config) must not be changed through them. */
function copyResolved<C extends object>(provider: ResolvedProvider<C>): ResolvedProvider<C> {
  return { ...provider, config: { ...provider.config } };
}

async function validateConfig(
  definition: ProviderTypeDefinition,
  raw: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const instance = plainToInstance(definition.configClass, raw) as object;
  // forbidUnknownValues off: a config class without fields (extractive) must accept `{}`.
  const errors = await validate(instance, {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: false,
  });
  if (errors.length > 0) throw new ValidationFailedError(toFieldErrors(errors, 'config'));
  return Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined && value !== null));
}

/** PATCH semantics: omitted or masked secrets keep their stored value; null removes an optional field. */
function mergeConfig(
  stored: Record<string, unknown>,
  patch: Record<string, unknown>,
  secretFields: readonly string[],
): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...stored };
  for (const [key, value] of Object.entries(patch)) {
    if (secretFields.includes(key) && (value === undefined || isMask(value))) continue;
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged;
}

function mapSecrets(
  config: Record<string, unknown>,
  secretFields: readonly string[],
  map: (value: string) => string,
): Record<string, unknown> {
  const result = { ...config };
  for (const field of secretFields) {
    const value = result[field];
    if (typeof value === 'string') result[field] = map(value);
  }
  return result;
}

function describeRoutingKey(definition: ProviderTypeDefinition, config: object): string {
  return (definition.routingFields ?? [])
    .map((field) => `${field} ${String((config as Record<string, unknown>)[field])}`)
    .join(' and ');
}
