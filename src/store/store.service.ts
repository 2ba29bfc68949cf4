import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager, Repository } from 'typeorm';
import { ConflictError, isUniqueViolation, NotFoundError, ValidationFailedError } from '../common/errors.js';
import { Page, PageQueryDto, toPage } from '../common/pagination.js';
import { CreateStoreDto, StoreDto, UpdateStoreDto } from './dto/store.dto.js';
import { Store } from './entities/store.entity.js';
import { IngestionQueue } from './ingestion/ingestion-queue.js';
import { MAX_INDEXED_DIMENSIONS, VectorIndexService } from './retrieval/vector-index.service.js';
import type { StoreSettings } from './store.types.js';

/** Serialises changes of the default store (advisory lock id). */
const DEFAULT_STORE_LOCK = 72_657_301;

@Injectable()
export class StoreService {
  private readonly stores: Repository<Store>;

  constructor(
    private readonly dataSource: DataSource,
    private readonly vectorIndexes: VectorIndexService,
    private readonly ingestion: IngestionQueue,
  ) {
    this.stores = dataSource.getRepository(Store);
  }

  async create(dto: CreateStoreDto): Promise<StoreDto> {
    await this.checkProvider('modelProviderId', dto.modelProviderId, 'model');
    const dimensions = await this.checkEmbeddingProvider(dto.embeddingProviderId);
    if (dimensions) await this.vectorIndexes.ensure(dimensions);
    const store = await this.saving(dto.name, () =>
      this.dataSource.transaction(async (manager) => {
        await lockDefault(manager);
        const first = (await manager.count(Store)) === 0;
        const isDefault = first || dto.isDefault === true;
        if (isDefault) await manager.update(Store, { isDefault: true }, { isDefault: false });
        return manager.save(
          manager.create(Store, {
            name: dto.name,
            displayName: dto.displayName ?? dto.name,
            modelProviderId: dto.modelProviderId,
            embeddingProviderId: dto.embeddingProviderId ?? null,
            systemPrompt: dto.systemPrompt ?? '',
            welcomeMessage: dto.welcomeMessage ?? null,
            fallbackMessage: dto.fallbackMessage ?? null,
            topK: dto.topK ?? 5,
            historyMessages: dto.historyMessages ?? 10,
            maxAnswerTokens: dto.maxAnswerTokens ?? null,
            isDefault,
          }),
        );
      }),
    );
    return toStoreDto(store);
  }

  async list(query: PageQueryDto): Promise<Page<StoreDto>> {
    const [rows, total] = await this.stores.findAndCount({
      order: { createdAt: 'ASC', id: 'ASC' },
      skip: query.offset,
      take: query.pageSize,
    });
    return toPage(rows.map(toStoreDto), total, query);
  }

  async get(id: string): Promise<StoreDto> {
    return toStoreDto(await this.find(id));
  }

  async update(id: string, dto: UpdateStoreDto): Promise<StoreDto> {
    const current = await this.find(id);
    if (dto.modelProviderId !== undefined)
      await this.checkProvider('modelProviderId', dto.modelProviderId, 'model');
    const embeddingChanged =
      dto.embeddingProviderId !== undefined &&
      (dto.embeddingProviderId ?? null) !== current.embeddingProviderId;
    if (embeddingChanged) {
      const dimensions = await this.checkEmbeddingProvider(dto.embeddingProviderId);
      if (dimensions) await this.vectorIndexes.ensure(dimensions);
    }
    if (dto.isDefault === false && current.isDefault) {
      throw new ValidationFailedError([
        {
          field: 'isDefault',
          messages: ['isDefault cannot be unset: make another store the default (isDefault: true) instead'],
        },
      ]);
    }
    const store = await this.saving(dto.name ?? current.name, () =>
      this.dataSource.transaction(async (manager) => {
        const row = await manager.findOne(Store, { where: { id }, lock: { mode: 'pessimistic_write' } });
        if (!row) throw new NotFoundError('Store', id);
        if (dto.isDefault === true && !row.isDefault) {
          await lockDefault(manager);
          await manager.update(Store, { isDefault: true }, { isDefault: false });
          row.isDefault = true;
        }
        if (dto.name !== undefined) row.name = dto.name;
        if (dto.displayName !== undefined) row.displayName = dto.displayName;
        if (dto.modelProviderId !== undefined) row.modelProviderId = dto.modelProviderId;
        if (dto.embeddingProviderId !== undefined) row.embeddingProviderId = dto.embeddingProviderId ?? null;
        if (dto.systemPrompt !== undefined) row.systemPrompt = dto.systemPrompt;
        if (dto.welcomeMessage !== undefined) row.welcomeMessage = dto.welcomeMessage ?? null;
        if (dto.fallbackMessage !== undefined) row.fallbackMessage = dto.fallbackMessage ?? null;
        if (dto.topK !== undefined) row.topK = dto.topK;
        if (dto.historyMessages !== undefined) row.historyMessages = dto.historyMessages;
        if (dto.maxAnswerTokens !== undefined) row.maxAnswerTokens = dto.maxAnswerTokens ?? null;
        return manager.save(row);
      }),
    );
    // Vectors of another model (or none) are useless for the new one: ingest every document again.
    if (embeddingChanged) await this.ingestion.reingest(id);
    return toStoreDto(store);
  }

  async remove(id: string): Promise<void> {
    const store = await this.find(id);
    const bots: { name: string }[] = await this.dataSource.query(
      `SELECT name FROM providers WHERE category = 'bot' AND config->>'storeId' = $1 ORDER BY name`,
      [id],
    );
    if (bots.length > 0) {
      throw new ConflictError(
        `Store ${store.name} is used by ${bots.length === 1 ? 'bot' : 'bots'} ${bots.map((bot) => bot.name).join(', ')}; ` +
          'point them at another store first',
      );
    }
    await this.dataSource.transaction(async (manager) => {
      await lockDefault(manager);
      await manager.delete(Store, { id });
      if (store.isDefault) {
        // Keep exactly one default while any store exists: the oldest remaining one takes over.
        const next = await manager.findOne(Store, { where: {}, order: { createdAt: 'ASC', id: 'ASC' } });
        if (next) await manager.update(Store, { id: next.id }, { isDefault: true });
      }
    });
  }

  /** The store a bot answers from: `storeId`, or the default store when absent. */
  async settingsFor(storeId?: string | null): Promise<StoreSettings> {
    const store = await this.resolve(storeId);
    return {
      id: store.id,
      name: store.name,
      historyMessages: store.historyMessages,
      fallbackMessage: store.fallbackMessage,
      welcomeMessage: store.welcomeMessage,
      topK: store.topK,
      maxAnswerTokens: store.maxAnswerTokens,
    };
  }

  /** The store entity by id, or the default store when `storeId` is absent; NotFoundError otherwise. */
  async resolve(storeId?: string | null): Promise<Store> {
    if (storeId) return this.find(storeId);
    const store = await this.stores.findOne({ where: { isDefault: true } });
    if (!store) throw new NotFoundError('Store', '(default)');
    return store;
  }

  async find(id: string): Promise<Store> {
    const store = await this.stores.findOne({ where: { id } });
    if (!store) throw new NotFoundError('Store', id);
    return store;
  }

  private async saving(name: string, save: () => Promise<Store>): Promise<Store> {
    try {
      return await save();
    } catch (error) {
      if (isUniqueViolation(error, 'stores_name_unique')) {
        throw new ConflictError(`A store named "${name}" already exists`, [
          { field: 'name', messages: ['name is already taken'] },
        ]);
      }
      throw error;
    }
  }

  private async checkProvider(
    field: string,
    id: string,
    category: 'model' | 'embedding',
  ): Promise<Record<string, unknown>> {
    const rows: { category: string; config: Record<string, unknown> }[] = await this.dataSource.query(
      `SELECT category, config FROM providers WHERE id = $1`,
      [id],
    );
    if (rows.length === 0 || rows[0].category !== category) {
      throw new ValidationFailedError([
        {
          field,
          messages: [
            rows.length === 0
              ? `${field} must be the id of an existing ${category} provider`
              : `${field} must be a provider of category ${category}, not ${rows[0].category}`,
          ],
        },
      ]);
    }
    return rows[0].config;
  }

  /** Checks an embedding provider reference and returns its vector size (undefined when none). */
  private async checkEmbeddingProvider(id: string | null | undefined): Promise<number | undefined> {
    if (!id) return undefined;
    const config = await this.checkProvider('embeddingProviderId', id, 'embedding');
    const dimensions = Number(config.dimensions);
    if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > MAX_INDEXED_DIMENSIONS) {
      throw new ValidationFailedError([
        {
          field: 'embeddingProviderId',
          messages: [`the embedding provider's dimensions must be from 1 to ${MAX_INDEXED_DIMENSIONS}`],
        },
      ]);
    }
    return dimensions;
  }
}

async function lockDefault(manager: EntityManager): Promise<void> {
  await manager.query('SELECT pg_advisory_xact_lock($1)', [DEFAULT_STORE_LOCK]);
}

export function toStoreDto(store: Store): StoreDto {
  return {
    id: store.id,
    name: store.name,
    displayName: store.displayName,
    modelProviderId: store.modelProviderId,
    embeddingProviderId: store.embeddingProviderId,
    systemPrompt: store.systemPrompt,
    welcomeMessage: store.welcomeMessage,
    fallbackMessage: store.fallbackMessage,
    topK: store.topK,
    historyMessages: store.historyMessages,
    maxAnswerTokens: store.maxAnswerTokens,
    isDefault: store.isDefault,
    createdAt: store.createdAt,
    updatedAt: store.updatedAt,
  };
}
