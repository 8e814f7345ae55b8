import type { Queryable } from '../platform/db/index.js';
import type { KeyJobsTable } from '../platform/db/schema.js';

/** Queries on `tenant_keys`, the wrapped per-tenant keys. */
export async function insertTenantKey(
  q: Queryable,
  row: { tenantId: string; version: number; kekVersion: number; wrapped: Buffer; createdAt: string },
): Promise<void> {
  await q
    .insertInto('tenant_keys')
    .values({
      tenant_id: row.tenantId,
      version: row.version,
      kek_version: row.kekVersion,
      wrapped_key: row.wrapped,
      created_at: row.createdAt,
    })
    .execute();
}

/** The tenant's live (not retired) key versions, newest first, wrapped. */
export async function findLiveTenantKeys(q: Queryable, tenantId: string) {
  return q
    .selectFrom('tenant_keys')
    .select(['version', 'kek_version', 'wrapped_key', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .where('retired_at', 'is', null)
    .orderBy('version', 'desc')
    .execute();
}

/** The numbers of the tenant's live key versions, newest first (a cheap check of a cached key set). */
export async function liveTenantKeyVersions(q: Queryable, tenantId: string): Promise<number[]> {
  const rows = await q
    .selectFrom('tenant_keys')
    .select('version')
    .where('tenant_id', '=', tenantId)
    .where('retired_at', 'is', null)
    .orderBy('version', 'desc')
    .execute();
  return rows.map((r) => r.version);
}

export async function latestTenantKeyVersion(q: Queryable, tenantId: string): Promise<number | undefined> {
  const r = await q
    .selectFrom('tenant_keys')
    .select((eb) => eb.fn.max('version').as('v'))
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return r?.v === null || r?.v === undefined ? undefined : Number(r.v);
}

export async function tenantKeyVersions(q: Queryable, tenantId: string) {
  return q
    .selectFrom('tenant_keys')
    .select(['version', 'kek_version', 'created_at', 'retired_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('version')
    .execute();
}

// ---- KEK rotation

/** Live tenant keys wrapped under a KEK version below `kekVersion`, oldest first. */
export async function tenantKeysBelowKek(q: Queryable, kekVersion: number, limit: number) {
  return q
    .selectFrom('tenant_keys')
    .select(['tenant_id', 'version', 'kek_version', 'wrapped_key'])
    .where('kek_version', '<', kekVersion)
    .where('retired_at', 'is', null)
    .orderBy('tenant_id')
    .orderBy('version')
    .limit(limit)
    .execute();
}

export async function countTenantKeysBelowKek(q: Queryable, kekVersion: number): Promise<number> {
  const r = await q
    .selectFrom('tenant_keys')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('kek_version', '<', kekVersion)
    .where('retired_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/** Replaces a tenant key's wrapping if it is still under `from` (another node may have done it); 1 or 0. */
export async function rewrapTenantKey(
  q: Queryable,
  r: { tenantId: string; version: number; from: number; kekVersion: number; wrapped: Buffer },
): Promise<number> {
  const res = await q
    .updateTable('tenant_keys')
    .set({ kek_version: r.kekVersion, wrapped_key: r.wrapped })
    .where('tenant_id', '=', r.tenantId)
    .where('version', '=', r.version)
    .where('kek_version', '=', r.from)
    .where('retired_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows);
}

/** Live tenant keys per KEK version. */
export async function tenantKeysPerKek(q: Queryable): Promise<Map<number, number>> {
  const rows = await q
    .selectFrom('tenant_keys')
    .select(['kek_version', (eb) => eb.fn.countAll().as('n')])
    .where('retired_at', 'is', null)
    .groupBy('kek_version')
    .execute();
  return new Map(rows.map((r) => [r.kek_version, Number(r.n)]));
}

export async function tenantKeyStats(
  q: Queryable,
): Promise<{ tenants: number; liveVersions: number; retiredVersions: number }> {
  const r = await q
    .selectFrom('tenant_keys')
    .select((eb) => [
      eb.fn.count('tenant_id').distinct().as('tenants'),
      eb.fn.sum(eb.case().when('retired_at', 'is', null).then(1).else(0).end()).as('live'),
      eb.fn.sum(eb.case().when('retired_at', 'is not', null).then(1).else(0).end()).as('retired'),
    ])
    .executeTakeFirstOrThrow();
  return {
    tenants: Number(r.tenants),
    liveVersions: Number(r.live ?? 0),
    retiredVersions: Number(r.retired ?? 0),
  };
}

export async function kekVersions(q: Queryable) {
  return q.selectFrom('kek_versions').selectAll().orderBy('version').execute();
}

export async function insertKekVersion(
  q: Queryable,
  version: number,
  provider: string,
  at: string,
): Promise<void> {
  await q
    .insertInto('kek_versions')
    .values({ version, provider, created_at: at, retired_at: null })
    .execute();
}

/** Marks retired every KEK version below `current` that no live tenant key names; returns them. */
export async function retireUnusedKekVersions(q: Queryable, current: number, at: string): Promise<number[]> {
  const used = await tenantKeysPerKek(q);
  const candidates = await q
    .selectFrom('kek_versions')
    .select('version')
    .where('version', '<', current)
    .where('retired_at', 'is', null)
    .execute();
  const retired = candidates.map((c) => c.version).filter((v) => (used.get(v) ?? 0) === 0);
  if (retired.length > 0) {
    await q.updateTable('kek_versions').set({ retired_at: at }).where('version', 'in', retired).execute();
  }
  return retired;
}

/** Retires (and destroys the wrapped key of) every live tenant key version below `version`; returns them. */
export async function retireTenantKeysBelow(
  q: Queryable,
  tenantId: string,
  version: number,
  at: string,
): Promise<number[]> {
  const rows = await q
    .updateTable('tenant_keys')
    .set({ retired_at: at, wrapped_key: Buffer.alloc(0) })
    .where('tenant_id', '=', tenantId)
    .where('version', '<', version)
    .where('retired_at', 'is', null)
    .returning('version')
    .execute();
  return rows.map((r) => r.version).sort((a, b) => a - b);
}

// ---- jobs

export type KeyJobRow = KeyJobsTable;

export async function insertJob(
  q: Queryable,
  j: {
    id: string;
    kind: string;
    tenantId: string | null;
    fromVersion: number;
    toVersion: number;
    state: string;
    total: number;
    done: number;
    createdAt: string;
    heartbeatAt: string;
  },
): Promise<void> {
  await q
    .insertInto('key_jobs')
    .values({
      id: j.id,
      kind: j.kind,
      tenant_id: j.tenantId,
      from_version: j.fromVersion,
      to_version: j.toVersion,
      state: j.state,
      total: j.total,
      done: j.done,
      created_at: j.createdAt,
      heartbeat_at: j.heartbeatAt,
      finished_at: null,
    })
    .execute();
}

/** A running or draining job of this kind (and tenant), if any. */
export async function activeJob(q: Queryable, kind: string, tenantId: string | null): Promise<boolean> {
  let query = q
    .selectFrom('key_jobs')
    .select('id')
    .where('kind', '=', kind)
    .where('state', 'in', ['running', 'draining']);
  query = tenantId === null ? query.where('tenant_id', 'is', null) : query.where('tenant_id', '=', tenantId);
  return (await query.executeTakeFirst()) !== undefined;
}

export async function advanceJob(q: Queryable, id: string, n: number, at: string): Promise<KeyJobRow> {
  return q
    .updateTable('key_jobs')
    .set((eb) => ({ done: eb('done', '+', n), heartbeat_at: at }))
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function finishJob(
  q: Queryable,
  id: string,
  state: string,
  at: string | null,
): Promise<KeyJobRow> {
  return q
    .updateTable('key_jobs')
    .set({ state, finished_at: at, ...(at ? { heartbeat_at: at } : {}) })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

export async function findJob(q: Queryable, id: string): Promise<KeyJobRow | undefined> {
  return q.selectFrom('key_jobs').selectAll().where('id', '=', id).executeTakeFirst();
}

export async function unfinishedJobs(q: Queryable): Promise<KeyJobRow[]> {
  return q
    .selectFrom('key_jobs')
    .selectAll()
    .where('state', 'in', ['running', 'draining'])
    .orderBy('id')
    .execute();
}

/** Takes over a job by moving its heartbeat from the value last seen; false when another node did first. */
export async function claimJob(q: Queryable, id: string, seen: string, at: string): Promise<boolean> {
  const res = await q
    .updateTable('key_jobs')
    .set({ heartbeat_at: at })
    .where('id', '=', id)
    .where('heartbeat_at', '=', seen)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function recentJobs(q: Queryable, limit: number, tenantId?: string): Promise<KeyJobRow[]> {
  let query = q.selectFrom('key_jobs').selectAll();
  if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
  return query.orderBy('id', 'desc').limit(limit).execute();
}
