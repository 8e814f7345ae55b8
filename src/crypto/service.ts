import type { Clock } from '../platform/clock.js';
import { isoTime } from '../platform/clock.js';
import type { Queryable } from '../platform/db/index.js';
import { RosterError } from '../platform/errors.js';
import { randomBytes } from '../platform/random.js';
import type { KeyProvider } from './local-kek.js';
import {
  blindIndex,
  deriveTenantKey,
  fieldAad,
  normaliseCaseless,
  open,
  seal,
  sealedHeader,
  TENANT_SEALED,
  type TenantKey,
  USER_SEALED,
} from './model.js';
import { findLiveTenantKeys, insertTenantKey, liveTenantKeyVersions } from './store.js';

export interface KeyringOptions {
  readonly provider: KeyProvider;
  readonly clock: Clock;
  /** Most tenants whose unwrapped keys are held in memory (default 1,000). */
  readonly cacheSize?: number;
  /** How long an unwrapped key stays cached, in ms (default 10 minutes). */
  readonly cacheTtlMs?: number;
  /**
   * How often a cached tenant's key versions are checked against the store, in ms (default 5 s): another
   * node may have rotated the tenant key. A rotation waits twice this long before it retires a version.
   */
  readonly versionCheckMs?: number;
}

/** How long an evicted key's bytes live on for requests still using it. */
const EVICTED_KEY_GRACE_MS = 60_000;

function scrub(key: TenantKey): void {
  key.encKey.fill(0);
  key.indexKey.fill(0);
}

export function tenantKeyAad(tenantId: string, version: number): Buffer {
  return Buffer.from(`roster/tenant-key|${tenantId}|${version}`, 'utf8');
}

/**
 * The live versions of one tenant's key: `current` seals and indexes new writes; every live version still
 * opens what it sealed and answers lookups (while a rotation rewrites rows from the old version to the new).
 *
 * A new version becomes current only `2 x versionCheckMs` after it was made: by then every node has seen it
 * (each re-checks a cached tenant's versions every `versionCheckMs`), so no node still writes under the old
 * version alone once any node writes under the new one; until then every node writes under the old one, and the
 * unique indexes compare like with like.
 */
export interface TenantKeySet {
  readonly tenantId: string;
  /** The newest version in force (see above). */
  readonly current: TenantKey;
  /** Every live version, newest first. */
  readonly all: readonly TenantKey[];
  /** @throws crypto.integrity when the version is retired or unknown. */
  get(version: number): TenantKey;
}

interface Entry {
  readonly set: TenantKeySet;
  readonly expires: number;
  checkedAt: number;
}

function keySet(
  tenantId: string,
  keys: TenantKey[],
  inForceFrom: ReadonlyMap<number, number> = new Map(),
  now: () => number = () => 0,
): TenantKeySet {
  const all = [...keys].sort((a, b) => b.version - a.version);
  if (all.length === 0) throw new RosterError('tenants.not_found');
  const oldest = all[all.length - 1] as TenantKey;
  return {
    tenantId,
    get current() {
      const t = now();
      return all.find((k) => (inForceFrom.get(k.version) ?? 0) <= t) ?? oldest;
    },
    all,
    get(version) {
      const k = all.find((x) => x.version === version);
      if (!k)
        throw new RosterError('crypto.integrity', { detail: 'the tenant key version is retired or unknown' });
      return k;
    },
  };
}

/**
 * The keys service: creates per-tenant keys wrapped by the provider's KEK, unwraps them on demand (with a
 * bounded, time-limited cache whose evicted keys are zeroised), and seals, opens and blind-indexes fields.
 */
export class Keyring {
  readonly #provider: KeyProvider;
  readonly #clock: Clock;
  readonly #cache = new Map<string, Entry>();
  readonly #cacheSize: number;
  readonly #ttl: number;
  readonly #versionCheck: number;

  constructor(options: KeyringOptions) {
    this.#provider = options.provider;
    this.#clock = options.clock;
    this.#cacheSize = options.cacheSize ?? 1000;
    this.#ttl = options.cacheTtlMs ?? 10 * 60_000;
    this.#versionCheck = options.versionCheckMs ?? 5000;
  }

  get providerName(): string {
    return this.#provider.name;
  }

  get provider(): KeyProvider {
    return this.#provider;
  }

  get versionCheckMs(): number {
    return this.#versionCheck;
  }

  /** When a tenant key version made at `createdAt` comes in force on every node (see `TenantKeySet`). */
  inForceAt(createdAt: string): number {
    return Date.parse(createdAt) + 2 * this.#versionCheck;
  }

  /** Creates a tenant's first key inside the caller's transaction. */
  async createTenantKey(tx: Queryable, tenantId: string): Promise<void> {
    await this.addTenantKeyVersion(tx, tenantId, 1);
  }

  /**
   * Adds a tenant key version (wrapped under the current KEK) inside the caller's transaction. The provider
   * re-reads its versions first: another node (or the CLI) may have rotated the KEK since this one looked.
   */
  async addTenantKeyVersion(tx: Queryable, tenantId: string, version: number): Promise<void> {
    await this.#provider.refresh();
    const root = randomBytes(32);
    try {
      const { kekVersion, wrapped } = await this.#provider.wrap(root, tenantKeyAad(tenantId, version));
      await insertTenantKey(tx, { tenantId, version, kekVersion, wrapped, createdAt: isoTime(this.#clock) });
      if (version === 1) this.#remember(keySet(tenantId, [deriveTenantKey(tenantId, 1, root)]));
      else this.forget(tenantId);
    } finally {
      root.fill(0);
    }
  }

  /**
   * The tenant's current key, unwrapped.
   * @throws RosterError tenants.not_found when the tenant has no key; crypto.integrity when unwrapping fails;
   *   crypto.unavailable when the key provider cannot be reached.
   */
  async tenantKey(q: Queryable, tenantId: string): Promise<TenantKey> {
    return (await this.tenantKeys(q, tenantId)).current;
  }

  /** Every live version of the tenant's key, unwrapped (see `TenantKeySet`). */
  async tenantKeys(q: Queryable, tenantId: string): Promise<TenantKeySet> {
    const now = this.#clock.now().getTime();
    const hit = this.#cache.get(tenantId);
    if (hit && hit.expires > now) {
      if (now - hit.checkedAt >= this.#versionCheck) {
        const live = await liveTenantKeyVersions(q, tenantId);
        const cached = hit.set.all.map((k) => k.version);
        if (live.length !== cached.length || live.some((v, i) => v !== cached[i]))
          return this.#load(q, tenantId);
        hit.checkedAt = now;
      }
      // Refresh LRU position.
      this.#cache.delete(tenantId);
      this.#cache.set(tenantId, hit);
      return hit.set;
    }
    return this.#load(q, tenantId);
  }

  async #load(q: Queryable, tenantId: string): Promise<TenantKeySet> {
    const rows = await findLiveTenantKeys(q, tenantId);
    if (rows.length === 0) throw new RosterError('tenants.not_found');
    const keys: TenantKey[] = [];
    const inForceFrom = new Map<number, number>();
    for (const row of rows) {
      // The first version is in force at once: no node can have written the tenant before it existed.
      if (row.version > 1) inForceFrom.set(row.version, Date.parse(row.created_at) + 2 * this.#versionCheck);
      const root = await this.#provider.unwrap(
        row.kek_version,
        row.wrapped_key,
        tenantKeyAad(tenantId, row.version),
      );
      keys.push(deriveTenantKey(tenantId, row.version, root));
      root.fill(0);
    }
    return this.#remember(keySet(tenantId, keys, inForceFrom, () => this.#clock.now().getTime()));
  }

  /** Caches a key set; when a concurrent miss cached the same versions first, that one is kept and returned. */
  #remember(set: TenantKeySet): TenantKeySet {
    const now = this.#clock.now().getTime();
    const existing = this.#cache.get(set.tenantId);
    if (
      existing &&
      existing.expires > now &&
      existing.set.all.length === set.all.length &&
      existing.set.all.every((k, i) => k.version === set.all[i]?.version)
    ) {
      for (const k of set.all) scrub(k);
      return existing.set;
    }
    if (existing) this.#evict(set.tenantId);
    this.#cache.set(set.tenantId, { set, expires: now + this.#ttl, checkedAt: now });
    while (this.#cache.size > this.#cacheSize) {
      const oldest = this.#cache.keys().next().value;
      if (oldest === undefined) break;
      this.#evict(oldest);
    }
    return set;
  }

  /** Drops a tenant's cached keys (after its versions changed here); the next lookup reloads them. */
  forget(tenantId: string): void {
    this.#evict(tenantId);
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
    const timer = setTimeout(() => {
      for (const k of entry.set.all) scrub(k);
    }, EVICTED_KEY_GRACE_MS);
    timer.unref();
  }

  /** Drops every cached key (zeroised after the grace period; at once with `now`, at shutdown). */
  clear(options: { now?: boolean } = {}): void {
    for (const [id, entry] of [...this.#cache.entries()]) {
      if (options.now) {
        this.#cache.delete(id);
        for (const k of entry.set.all) scrub(k);
      } else this.#evict(id);
    }
  }
}

/** Seals and opens the fields of one row, under a tenant key or under a user's data key. */
export class FieldCipher {
  readonly #secret: Buffer;
  readonly #version: number;
  readonly #format: number;
  readonly #tenantId: string;
  readonly #table: string;
  readonly #rowId: string;

  /** Under a tenant key version (format 0x01). */
  constructor(key: TenantKey, table: string, rowId: string);
  /** Under a user's data key (format 0x02). */
  constructor(key: { dataKey: Buffer; tenantId: string }, table: string, rowId: string);
  constructor(key: TenantKey | { dataKey: Buffer; tenantId: string }, table: string, rowId: string) {
    if ('dataKey' in key) {
      this.#secret = key.dataKey;
      this.#version = 0;
      this.#format = USER_SEALED;
    } else {
      this.#secret = key.encKey;
      this.#version = key.version;
      this.#format = TENANT_SEALED;
    }
    this.#tenantId = key.tenantId;
    this.#table = table;
    this.#rowId = rowId;
  }

  sealBytes(column: string, value: Buffer): Buffer {
    return seal(this.#secret, this.#version, value, this.#aad(column), this.#format);
  }

  openBytes(column: string, sealed: Buffer): Buffer {
    return open(this.#secret, sealed, this.#aad(column), this.#format);
  }

  sealText(column: string, value: string): Buffer {
    return this.sealBytes(column, Buffer.from(value, 'utf8'));
  }

  openText(column: string, sealed: Buffer): string {
    return this.openBytes(column, sealed).toString('utf8');
  }

  sealJson(column: string, value: unknown): Buffer {
    return this.sealText(column, JSON.stringify(value));
  }

  openJson<T>(column: string, sealed: Buffer): T {
    return JSON.parse(this.openText(column, sealed)) as T;
  }

  #aad(column: string): Buffer {
    return fieldAad(this.#tenantId, this.#table, this.#rowId, column);
  }
}

/**
 * A new data key for one user row, and its sealed form under the tenant key (bound to the tenant, the row
 * and the `data_key` column). Destroying the sealed form is erasing the user: nothing else can open the
 * values sealed under it.
 */
export function newDataKey(
  key: TenantKey,
  table: string,
  rowId: string,
): { dataKey: Buffer; sealed: Buffer } {
  const dataKey = randomBytes(32);
  return { dataKey, sealed: new FieldCipher(key, table, rowId).sealBytes('data_key', dataKey) };
}

/** Opens a row's sealed data key with the tenant key version named in its header. @throws crypto.integrity */
export function openDataKey(keys: TenantKeySet, table: string, rowId: string, sealed: Buffer): Buffer {
  const { format, version } = sealedHeader(sealed);
  if (format !== TENANT_SEALED) throw new RosterError('crypto.integrity');
  return new FieldCipher(keys.get(version), table, rowId).openBytes('data_key', sealed);
}

/** Opens a value sealed under some live version of the tenant key (the version is in its header). */
export function openTenantSealed(
  keys: TenantKeySet,
  table: string,
  rowId: string,
  column: string,
  sealed: Buffer,
): string {
  return new FieldCipher(keys.get(sealedHeader(sealed).version), table, rowId).openText(column, sealed);
}

/** Case-insensitive blind index of a value for equality lookups and uniqueness. */
export function caselessIndex(key: TenantKey, label: string, value: string): string {
  return blindIndex(key.indexKey, label, normaliseCaseless(value));
}

/** The value's index under every live key version (what a lookup must match while a rotation runs). */
export function caselessIndexes(keys: TenantKeySet, label: string, value: string): string[] {
  return keys.all.map((k) => caselessIndex(k, label, value));
}
