import { Inject, Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config.js';
import { AppSetting } from '../database/app-setting.entity.js';

const SETTING_KEY = 'admin_api_key_sha256';
const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * Holds the admin key's hash. The service never runs open: without ADMIN_API_KEY a key is generated on first
 * start, only its hash is stored, and the key is printed once (to stdout, not to the structured log).
 */
@Injectable()
export class AdminKeyService implements OnApplicationBootstrap {
  private expectedHash?: Buffer;

  constructor(
    private readonly dataSource: DataSource,
    @Inject(AppConfig) private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.ADMIN_API_KEY) {
      this.expectedHash = sha256(this.config.ADMIN_API_KEY);
      return;
    }
    const settings = this.dataSource.getRepository(AppSetting);
    const generated = `pk_${randomBytes(24).toString('base64url')}`;
    const inserted = await settings
      .createQueryBuilder()
      .insert()
      .values({ key: SETTING_KEY, value: sha256(generated).toString('hex') })
      .orIgnore()
      .returning('key')
      .execute();
    if (inserted.raw.length > 0) {
      process.stdout.write(
        `\n  Parley generated an admin API key (shown once, only its hash is stored):\n\n    ${generated}\n\n` +
          '  Use it as "Authorization: Bearer <key>". Set ADMIN_API_KEY to choose your own.\n\n',
      );
    }
    const stored = await settings.findOneByOrFail({ key: SETTING_KEY });
    this.expectedHash = Buffer.from(stored.value, 'hex');
  }

  /** Constant-time check of a presented key (hashes have equal length whatever the input). */
  verify(presented: string): boolean {
    if (!this.expectedHash) return false;
    return timingSafeEqual(sha256(presented), this.expectedHash);
  }
}
