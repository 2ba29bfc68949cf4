// The file path, not the bare name: the package's package.json declares "main" twice (TLSSigAPI.js, which does
// not exist, then TLSSigAPIv2.js); Node takes the last, Jest's resolver the first.
import { Api } from 'tls-sig-api-v2/TLSSigAPIv2.js';

/** What the REST client needs from a UserSig source (lets tests observe renewals). */
export interface TencentUserSigSource {
  /** A valid UserSig for the admin identifier. Never log it. */
  get(): string;
  /** Forgets the cached UserSig: the next `get()` generates a new one (after a 70001). */
  invalidate(): void;
}

export interface TencentUserSigConfig {
  sdkAppId: number;
  secretKey: string;
  identifier: string;
  /** Lifetime of each generated UserSig in seconds (default 7 days). */
  expireSeconds?: number;
}

export const DEFAULT_USER_SIG_EXPIRE_SECONDS = 7 * 24 * 3600;

/** Renew when less than this share of the lifetime remains. */
const RENEW_REMAINING_RATIO = 0.1;

/**
 * Generates the admin UserSig with Tencent's own `tls-sig-api-v2`, caches it and renews it early.
 */
export class TencentUserSigProvider implements TencentUserSigSource {
  private readonly api: Api;
  private readonly identifier: string;
  private readonly expireSeconds: number;
  private cached: { userSig: string; renewAtMs: number } | undefined;

  constructor(config: TencentUserSigConfig) {
    if (!Number.isSafeInteger(config.sdkAppId) || config.sdkAppId <= 0) {
      throw new RangeError('sdkAppId must be a positive integer');
    }
    if (!config.secretKey) throw new RangeError('secretKey is required');
    if (!config.identifier) throw new RangeError('identifier is required');
    this.expireSeconds = config.expireSeconds ?? DEFAULT_USER_SIG_EXPIRE_SECONDS;
    if (!Number.isSafeInteger(this.expireSeconds) || this.expireSeconds <= 0) {
      throw new RangeError('expireSeconds must be a positive integer');
    }
    this.api = new Api(config.sdkAppId, config.secretKey);
    this.identifier = config.identifier;
  }

  get(): string {
    const now = Date.now();
    if (this.cached && now < this.cached.renewAtMs) return this.cached.userSig;
    const userSig = this.api.genUserSig(this.identifier, this.expireSeconds);
    const lifetimeMs = this.expireSeconds * 1000;
    this.cached = { userSig, renewAtMs: now + lifetimeMs * (1 - RENEW_REMAINING_RATIO) };
    return userSig;
  }

  invalidate(): void {
    this.cached = undefined;
  }

  /** Keeps the secret key and the sig out of logs (`JSON.stringify`, `util.inspect`). */
  toJSON(): Record<string, unknown> {
    return { identifier: this.identifier, expireSeconds: this.expireSeconds };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `TencentUserSigProvider ${JSON.stringify(this.toJSON())}`;
  }
}
