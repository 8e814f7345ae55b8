import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type KeyProvider, loadLocalKeyFile } from '../../../src/crypto/local-kek.js';
import type { TenantKey } from '../../../src/crypto/model.js';
import { FieldCipher, Keyring } from '../../../src/crypto/service.js';
import { systemClock } from '../../../src/platform/clock.js';
import { type Db, openDatabase } from '../../../src/platform/db/index.js';
import { migrateToLatest } from '../../../src/platform/db/migrations.js';
import { RosterError } from '../../../src/platform/errors.js';
import { newId } from '../../../src/platform/ids.js';

const dir = mkdtempSync(join(tmpdir(), 'roster-keyring-'));
const base = loadLocalKeyFile(join(dir, 'roster.key')).provider;
let db: Db;

/** The local provider, counting unwraps (one per cache miss). */
function countingProvider(): KeyProvider & { unwraps: number } {
  const p = {
    name: base.name,
    unwraps: 0,
    currentVersion: () => base.currentVersion(),
    versions: () => base.versions(),
    createVersion: () => base.createVersion(),
    refresh: () => base.refresh(),
    destroyVersion: (v: number) => base.destroyVersion(v),
    close: async () => undefined,
    wrap: (k: Buffer, aad: Buffer) => base.wrap(k, aad),
    async unwrap(v: number, w: Buffer, aad: Buffer) {
      p.unwraps++;
      return base.unwrap(v, w, aad);
    },
  };
  return p;
}

const zero = (b: Buffer) => b.every((x) => x === 0);
const copy = (k: TenantKey) => ({ enc: Buffer.from(k.encKey), idx: Buffer.from(k.indexKey) });

/** Tenants whose keys exist in the store but are in no keyring's cache. */
const tenants: string[] = [];

beforeAll(async () => {
  db = await openDatabase('sqlite::memory:');
  await migrateToLatest(db);
  const creator = new Keyring({ provider: base, clock: systemClock });
  for (let i = 0; i < 6; i++) {
    const id = newId();
    await db.kysely
      .insertInto('tenants')
      .values({ id, name: `t${i}`, name_key: `t${i}`, created_at: new Date().toISOString() })
      .execute();
    await creator.createTenantKey(db.kysely, id);
    tenants.push(id);
  }
  creator.clear();
});

afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  vi.useRealTimers();
});

const tenant = (i: number) => () => tenants[i] as string;
const A = tenant(0);
const B = tenant(1);
const C = tenant(2);
const D = tenant(3);

describe('Keyring', () => {
  it('stores a wrapped key, and unwraps the same key later', async () => {
    const p = countingProvider();
    const creator = new Keyring({ provider: p, clock: systemClock });
    const id = newId();
    await db.kysely
      .insertInto('tenants')
      .values({ id, name: id, name_key: id, created_at: new Date().toISOString() })
      .execute();
    await creator.createTenantKey(db.kysely, id);
    const row = await db.kysely
      .selectFrom('tenant_keys')
      .selectAll()
      .where('tenant_id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.version).toBe(1);
    expect(row.kek_version).toBe(1);
    expect(row.wrapped_key).toHaveLength(12 + 32 + 16);
    // The creating keyring caches the new key: no unwrap needed.
    const k1 = copy(await creator.tenantKey(db.kysely, id));
    expect(p.unwraps).toBe(0);
    // Another keyring (another node, a restart) unwraps the stored key to the same derived keys.
    const other = countingProvider();
    const k2 = await new Keyring({ provider: other, clock: systemClock }).tenantKey(db.kysely, id);
    expect(other.unwraps).toBe(1);
    expect(k2.tenantId).toBe(id);
    expect(k2.version).toBe(1);
    expect(k2.encKey.equals(k1.enc)).toBe(true);
    expect(k2.indexKey.equals(k1.idx)).toBe(true);
    expect(zero(k1.enc)).toBe(false);
  });

  it('gives tenants.not_found for a tenant without a key', async () => {
    const ring = new Keyring({ provider: base, clock: systemClock });
    await expect(ring.tenantKey(db.kysely, newId())).rejects.toMatchObject({ code: 'tenants.not_found' });
  });

  it('reports crypto.integrity when the stored wrapped key was altered', async () => {
    const id = newId();
    await db.kysely
      .insertInto('tenants')
      .values({ id, name: id, name_key: id, created_at: new Date().toISOString() })
      .execute();
    await new Keyring({ provider: base, clock: systemClock }).createTenantKey(db.kysely, id);
    const row = await db.kysely
      .selectFrom('tenant_keys')
      .select('wrapped_key')
      .where('tenant_id', '=', id)
      .executeTakeFirstOrThrow();
    const tampered = Buffer.from(row.wrapped_key);
    tampered[20] = (tampered[20] as number) ^ 0xff;
    await db.kysely
      .updateTable('tenant_keys')
      .set({ wrapped_key: tampered })
      .where('tenant_id', '=', id)
      .execute();
    const err = await new Keyring({ provider: base, clock: systemClock }).tenantKey(db.kysely, id).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RosterError);
    expect((err as RosterError).code).toBe('crypto.integrity');
  });

  it('holds at most cacheSize keys, least recently used out first', async () => {
    const p = countingProvider();
    const ring = new Keyring({ provider: p, clock: systemClock, cacheSize: 2 });
    const get = (id: string) => ring.tenantKey(db.kysely, id);
    await get(A());
    await get(B());
    expect(p.unwraps).toBe(2);
    await get(A()); // hit; A becomes the most recently used
    expect(p.unwraps).toBe(2);
    await get(C()); // miss; evicts B
    expect(p.unwraps).toBe(3);
    await get(A());
    await get(C());
    expect(p.unwraps).toBe(3);
    await get(B()); // evicted earlier: unwrapped again, evicting A
    expect(p.unwraps).toBe(4);
    await get(A());
    expect(p.unwraps).toBe(5);
  });

  it('with cacheSize 1 unwraps on every change of tenant', async () => {
    const p = countingProvider();
    const ring = new Keyring({ provider: p, clock: systemClock, cacheSize: 1 });
    for (const id of [A(), A(), B(), B(), A(), C(), C()]) await ring.tenantKey(db.kysely, id);
    expect(p.unwraps).toBe(4);
  });

  it('zeroises a key it evicts for size once the grace period is over, and leaves the cached ones intact', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const ring = new Keyring({ provider: base, clock: systemClock, cacheSize: 2 });
      const ka = await ring.tenantKey(db.kysely, A());
      expect(zero(ka.encKey) || zero(ka.indexKey)).toBe(false);
      const kb = await ring.tenantKey(db.kysely, B());
      await ring.tenantKey(db.kysely, C()); // evicts A
      // A request that was handed A's key may still be decrypting with it: not wiped yet.
      expect(zero(ka.encKey) || zero(ka.indexKey)).toBe(false);
      vi.advanceTimersByTime(60_000);
      expect(zero(ka.encKey)).toBe(true);
      expect(zero(ka.indexKey)).toBe(true);
      expect(zero(kb.encKey) || zero(kb.indexKey)).toBe(false);
      await ring.tenantKey(db.kysely, D()); // evicts B
      vi.advanceTimersByTime(60_000);
      expect(zero(kb.encKey) && zero(kb.indexKey)).toBe(true);
      // An evicted tenant's key comes back intact on the next lookup.
      const again = await ring.tenantKey(db.kysely, A());
      expect(zero(again.encKey)).toBe(false);
    } finally {
      vi.useRealTimers();
    }
  });

  it('clear({ now: true }) zeroises every cached key at once; clear() after the grace period', async () => {
    const p = countingProvider();
    const ring = new Keyring({ provider: p, clock: systemClock });
    const keys = [await ring.tenantKey(db.kysely, A()), await ring.tenantKey(db.kysely, B())];
    ring.clear({ now: true });
    for (const k of keys) expect(zero(k.encKey) && zero(k.indexKey)).toBe(true);
    await ring.tenantKey(db.kysely, A());
    expect(p.unwraps).toBe(3);
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const later = await ring.tenantKey(db.kysely, A());
      ring.clear();
      expect(zero(later.encKey)).toBe(false);
      vi.advanceTimersByTime(60_000);
      expect(zero(later.encKey) && zero(later.indexKey)).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it('expires keys after cacheTtlMs and zeroises the expired key', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const p = countingProvider();
    const ring = new Keyring({ provider: p, clock: systemClock, cacheTtlMs: 1000 });
    const first = await ring.tenantKey(db.kysely, A());
    vi.advanceTimersByTime(999);
    expect(await ring.tenantKey(db.kysely, A())).toBe(first);
    expect(p.unwraps).toBe(1);
    vi.advanceTimersByTime(2);
    const second = await ring.tenantKey(db.kysely, A());
    expect(p.unwraps).toBe(2);
    expect(second).not.toBe(first);
    vi.advanceTimersByTime(60_000);
    expect(zero(first.encKey)).toBe(true);
    expect(zero(second.encKey)).toBe(false);
  });

  it('defaults to a 10-minute TTL', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
    const p = countingProvider();
    const ring = new Keyring({ provider: p, clock: systemClock });
    await ring.tenantKey(db.kysely, A());
    vi.advanceTimersByTime(10 * 60_000 - 1);
    await ring.tenantKey(db.kysely, A());
    expect(p.unwraps).toBe(1);
    vi.advanceTimersByTime(2);
    await ring.tenantKey(db.kysely, A());
    expect(p.unwraps).toBe(2);
  });

  describe('keys already handed to callers', () => {
    // UserService.list does `key = await keys.tenantKey(...)`, then awaits the rows, then decodes them
    // with `key`. If the cache zeroises that same Buffer meanwhile, the request decodes with an all-zero
    // key and fails with crypto.integrity (or, on a write path, would seal under a zero key).

    it('stay intact when two requests look up the same tenant on a cold cache', async () => {
      const ring = new Keyring({ provider: base, clock: systemClock });
      const [k1, k2] = await Promise.all([ring.tenantKey(db.kysely, A()), ring.tenantKey(db.kysely, A())]);
      expect(zero(k1.encKey), 'first caller key was zeroised').toBe(false);
      expect(zero(k2.encKey), 'second caller key was zeroised').toBe(false);
      expect(k1.encKey.equals(k2.encKey)).toBe(true);
    });

    it('still open the tenant values when the cache entry expires during the request', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      vi.setSystemTime(new Date('2030-01-01T00:00:00Z'));
      const ring = new Keyring({ provider: base, clock: systemClock, cacheTtlMs: 1000 });
      const rowId = newId();
      const sealed = new FieldCipher(await ring.tenantKey(db.kysely, A()), 'users', rowId).sealJson(
        'user_name',
        'alice',
      );
      // Request 1 (a list) takes the key, then waits for its rows...
      const held = await ring.tenantKey(db.kysely, A());
      vi.advanceTimersByTime(1001);
      // ...while request 2 for the same tenant finds the entry expired and refreshes it.
      await ring.tenantKey(db.kysely, A());
      // Request 1 now decodes its rows.
      expect(new FieldCipher(held, 'users', rowId).openJson('user_name', sealed)).toBe('alice');
    });
  });
});
