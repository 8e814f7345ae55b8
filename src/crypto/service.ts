import { randomBytes } from 'node:crypto';
import type { Clock } from '../platform/clock.js';
import { isoTime } from '../platform/clock.js';
import type { Queryable } from '../platform/db/index.js';
import { RosterError } from '../platform/errors.js';
import type { KeyProvider } from './local-kek.js';
import {
  blindIndex,
  deriveTenantKey,
  fieldAad,
  normaliseCaseless,
  open,
  seal,
  type TenantKey,
} from './model.js';
import { findLatestTenantKey, insertTenantKey } from './store.js';

export interface KeyringOptions {
  readonly provider: KeyProvider;
  readonly clock: Clock;
  /** Most unwrapped tenant keys held in memory (default 1,000). */
  readonly cacheSize?: number;
  /** How long an unwrapped key stays cached, in ms (default 10 minutes). */
  readonly cacheTtlMs?: number;
}

/** How long an evicted key's bytes live on for requests still using it. */
const EVICTED_KEY_GRACE_MS = 60_000;

function scrub(key: TenantKey): void {
  key.encKey.fill(0);
  key.indexKey.fill(0);
}

function tenantKeyAad(tenantId: string, version: number): Buffer {
  return Buffer.from(`roster/tenant-key|${tenantId}|${version}`, 'utf8');
}

/**
 * The keys service: creates per-tenant keys wrapped by the provider's KEK, unwraps them on demand (with a
 * bounded, time-limited cache whose evicted keys are zeroised), and seals, opens and blind-indexes fields.
 */
export class Keyring {
  readonly #provider: KeyProvider;
  readonly #clock: Clock;
  readonly #cache = new Map<string, { key: TenantKey; expires: number }>();
  readonly #cacheSize: number;
  readonly #ttl: number;

  constructor(options: KeyringOptions) {
    this.#provider = options.provider;
    this.#clock = options.clock;
    this.#cacheSize = options.cacheSize ?? 1000;
    this.#ttl = options.cacheTtlMs ?? 10 * 60_000;
  }

  get providerName(): string {
    return this.#provider.name;
  }

  /** Creates a tenant's first key inside the caller's transaction. */
  async createTenantKey(tx: Queryable, tenantId: string): Promise<void> {
    const root = randomBytes(32);
    const { kekVersion, wrapped } = await this.#provider.wrap(root, tenantKeyAad(tenantId, 1));
    await insertTenantKey(tx, { tenantId, version: 1, kekVersion, wrapped, createdAt: isoTime(this.#clock) });
    this.#remember(deriveTenantKey(tenantId, 1, root));
    root.fill(0);
  }

  /**
   * The tenant's current key, unwrapped.
   * @throws RosterError tenants.not_found when the tenant has no key; crypto.integrity when unwrapping fails.
   */
  async tenantKey(q: Queryable, tenantId: string): Promise<TenantKey> {
    const now = this.#clock.now().getTime();
    const hit = this.#cache.get(tenantId);
    if (hit && hit.expires > now) {
      // Refresh LRU position.
      this.#cache.delete(tenantId);
      this.#cache.set(tenantId, hit);
      return hit.key;
    }
    if (hit) this.#evict(tenantId);
    const row = await findLatestTenantKey(q, tenantId);
    if (!row) throw new RosterError('tenants.not_found');
    const root = await this.#provider.unwrap(
      row.kek_version,
      row.wrapped_key,
      tenantKeyAad(tenantId, row.version),
    );
    const key = deriveTenantKey(tenantId, row.version, root);
    root.fill(0);
    return this.#remember(key);
  }

  /** Caches a key; when a concurrent miss cached the same key first, that one is kept and returned. */
  #remember(key: TenantKey): TenantKey {
    const now = this.#clock.now().getTime();
    const existing = this.#cache.get(key.tenantId);
    if (existing && existing.expires > now && existing.key.version === key.version) {
      scrub(key);
      return existing.key;
    }
    if (existing) this.#evict(key.tenantId);
    this.#cache.set(key.tenantId, { key, expires: now + this.#ttl });
    while (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#evict(oldest);
    }
    return key;
  }

  /**
   * Forgets a key and zeroises its bytes once requests that were handed it are done with it: JavaScript
   * cannot tell when a caller drops a reference, so the wipe waits out a grace period (far longer than any
   * request) rather than pulling the key from under a decryption in progress.
   */
  #evict(tenantId: string): void {
    const entry = this.#cache.get(tenantId);
    this.#cache.delete(tenantId);
    if (!entry) return;
    const timer = setTimeout(() => scrub(entry.key), EVICTED_KEY_GRACE_MS);
    timer.unref();
  }

  /** Drops every cached key (zeroised after the grace period; at once with `now`, at shutdown). */
  clear(options: { now?: boolean } = {}): void {
    for (const [id, entry] of [...this.#cache.entries()]) {
      if (options.now) {
        this.#cache.delete(id);
        scrub(entry.key);
      } else this.#evict(id);
    }
  }
}

/** Seals and opens the fields of one row under a tenant key. */
export class FieldCipher {
  readonly #key: TenantKey;
  readonly #table: string;
  readonly #rowId: string;

  constructor(key: TenantKey, table: string, rowId: string) {
    this.#key = key;
    this.#table = table;
    this.#rowId = rowId;
  }

  sealText(column: string, value: string): Buffer {
    return seal(this.#key.encKey, this.#key.version, Buffer.from(value, 'utf8'), this.#aad(column));
  }

  openText(column: string, sealed: Buffer): string {
    return open(this.#key.encKey, sealed, this.#aad(column)).toString('utf8');
  }

  sealJson(column: string, value: unknown): Buffer {
    return this.sealText(column, JSON.stringify(value));
  }

  openJson<T>(column: string, sealed: Buffer): T {
    return JSON.parse(this.openText(column, sealed)) as T;
  }

  #aad(column: string): Buffer {
    return fieldAad(this.#key.tenantId, this.#table, this.#rowId, column);
  }
}

/** Case-insensitive blind index of a value for equality lookups and uniqueness. */
export function caselessIndex(key: TenantKey, label: string, value: string): string {
  return blindIndex(key.indexKey, label, normaliseCaseless(value));
}
