import { type ExpressionBuilder, sql } from 'kysely';
import { rowsByKey } from '../platform/db/batch.js';
import type { Queryable } from '../platform/db/index.js';
import type { Database, PoolsTable } from '../platform/db/schema.js';
import type { Assignment, AssignmentSource, AssignmentState, Pool, Product, UsagePoint } from './model.js';

// ---- products

export async function insertProduct(q: Queryable, p: Product, key: string): Promise<void> {
  await q
    .insertInto('products')
    .values({
      id: p.id,
      tenant_id: p.tenantId,
      sku: p.sku,
      sku_key: key,
      name: p.name,
      waitlist_seq: 0,
      created_at: p.createdAt,
    })
    .execute();
}

function toProduct(r: {
  id: string;
  tenant_id: string;
  sku: string;
  name: string;
  created_at: string;
}): Product {
  return { id: r.id, tenantId: r.tenant_id, sku: r.sku, name: r.name, createdAt: r.created_at };
}

export async function findProductBySku(
  q: Queryable,
  tenantId: string,
  key: string,
): Promise<Product | undefined> {
  const r = await q
    .selectFrom('products')
    .select(['id', 'tenant_id', 'sku', 'name', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .where('sku_key', '=', key)
    .executeTakeFirst();
  return r && toProduct(r);
}

export async function findProductsBySku(
  q: Queryable,
  tenantId: string,
  keys: readonly string[],
): Promise<Map<string, Product>> {
  if (keys.length === 0) return new Map();
  const rows = await q
    .selectFrom('products')
    .select(['id', 'tenant_id', 'sku', 'sku_key', 'name', 'created_at'])
    .where('tenant_id', '=', tenantId)
    .where('sku_key', 'in', [...keys])
    .execute();
  return new Map(rows.map((r) => [r.sku_key, toProduct(r)]));
}

export async function listProducts(
  q: Queryable,
  tenantId: string,
  page: { afterId: string | undefined; limit: number },
) {
  // Each product with its waitlist: how many wait and since when the longest-waiting one does.
  const waiting = (eb: ExpressionBuilder<Database, 'products'>) =>
    eb
      .selectFrom('assignments')
      .whereRef('assignments.product_id', '=', 'products.id')
      .where('assignments.tenant_id', '=', tenantId)
      .where('assignments.state', '=', 'waitlisted');
  let query = q
    .selectFrom('products')
    .select(['id', 'tenant_id', 'sku', 'name', 'created_at'])
    .select((eb) => [
      waiting(eb)
        .select((e) => e.fn.countAll<number | string>().as('n'))
        .as('waitlisted'),
      waiting(eb)
        .select((e) => e.fn.min('assignments.created_at').as('t'))
        .as('oldest_wait'),
    ])
    .where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
  const rows = await query.orderBy('id').limit(page.limit).execute();
  return rows.map(
    (r): Product => ({
      ...toProduct(r),
      waitlist: { count: Number(r.waitlisted ?? 0), oldestSince: r.oldest_wait ?? null },
    }),
  );
}

/** Takes the next waitlist position of a product (a per-product counter; lower is served first). */
export async function nextWaitlistPosition(q: Queryable, productId: string): Promise<number> {
  const r = await q
    .updateTable('products')
    .set((eb) => ({ waitlist_seq: eb('waitlist_seq', '+', 1) }))
    .where('id', '=', productId)
    .returning('waitlist_seq')
    .executeTakeFirstOrThrow();
  return Number(r.waitlist_seq);
}

// ---- pools

/** Waitlisted assignments of the pool's product that the pool may serve (computed, never stored). */
function waitlistedCount(eb: ExpressionBuilder<Database, 'pools'>) {
  return eb
    .selectFrom('assignments as a')
    .select((e) => e.fn.countAll<number>().as('n'))
    .whereRef('a.tenant_id', '=', 'pools.tenant_id')
    .whereRef('a.product_id', '=', 'pools.product_id')
    .where('a.state', '=', 'waitlisted')
    .where((e) => e.or([e('pools.site', 'is', null), e('a.user_site', '=', e.ref('pools.site'))]))
    .where((e) => e.or([e('pools.country', 'is', null), e('a.user_country', '=', e.ref('pools.country'))]))
    .as('waitlisted');
}

function poolSelect(q: Queryable) {
  return q
    .selectFrom('pools')
    .innerJoin('products', 'products.id', 'pools.product_id')
    .selectAll('pools')
    .select('products.sku as sku')
    .select((eb) => waitlistedCount(eb));
}

type PoolRow = PoolsTable & { sku: string; waitlisted: number | string | null };

function toPool(r: PoolRow): Pool {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    productId: r.product_id,
    sku: r.sku,
    name: r.name,
    capacity: r.capacity,
    used: r.used,
    waitlisted: Number(r.waitlisted ?? 0),
    location: r.site === null && r.country === null ? null : { site: r.site, country: r.country },
    priority: r.priority,
    utilisationCap: Number(r.utilisation_cap),
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function insertPool(q: Queryable, row: PoolsTable): Promise<void> {
  await q.insertInto('pools').values(row).execute();
}

export async function findPool(q: Queryable, tenantId: string, id: string): Promise<Pool | undefined> {
  const r = await poolSelect(q)
    .where('pools.tenant_id', '=', tenantId)
    .where('pools.id', '=', id)
    .executeTakeFirst();
  return r && toPool(r as PoolRow);
}

export async function listPools(
  q: Queryable,
  tenantId: string,
  filter: { productId?: string },
  page: { afterId: string | undefined; limit: number },
): Promise<Pool[]> {
  let query = poolSelect(q).where('pools.tenant_id', '=', tenantId);
  if (filter.productId !== undefined) query = query.where('pools.product_id', '=', filter.productId);
  if (page.afterId !== undefined) query = query.where('pools.id', '>', page.afterId);
  const rows = await query.orderBy('pools.id').limit(page.limit).execute();
  return rows.map((r) => toPool(r as PoolRow));
}

/**
 * Writes a pool's settings if its version is unchanged and the new capacity still holds every seat in use.
 * Returns false when either check fails (the caller re-reads to tell which).
 */
export async function updatePool(
  q: Queryable,
  tenantId: string,
  id: string,
  expectedVersion: number,
  set: {
    name: string;
    capacity: number;
    priority: number;
    utilisationCap: number;
    site: string | null;
    country: string | null;
    updatedAt: string;
  },
): Promise<boolean> {
  const res = await q
    .updateTable('pools')
    .set((eb) => ({
      name: set.name,
      name_key: set.name.toLowerCase(),
      capacity: set.capacity,
      priority: set.priority,
      utilisation_cap: set.utilisationCap,
      site: set.site,
      country: set.country,
      version: eb('version', '+', 1),
      updated_at: set.updatedAt,
    }))
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .where('used', '<=', set.capacity)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Deletes a pool that holds no seat; false when it holds one (or is gone). */
export async function deleteIdlePool(q: Queryable, tenantId: string, id: string): Promise<boolean> {
  const res = await q
    .deleteFrom('pools')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('used', '=', 0)
    .executeTakeFirst();
  return Number(res.numDeletedRows) === 1;
}

// ---- utilisation history (pool_usage)

/**
 * Writes one `pool_usage` row at `at` for every pool (of every tenant) whose counters differ from its
 * latest row, or that has none, in one statement: INSERT … SELECT over the pools, each compared with its
 * latest row (one backward step of the primary key per pool). A row is written only when that latest row
 * is older than `at`, so a node whose clock lags never writes history out of order; nodes sampling the same
 * instant meet on the primary key (pool_id, at) and all but the first write nothing. Returns the rows
 * written.
 */
export async function recordUsage(q: Queryable, at: string): Promise<number> {
  const res = await q
    .insertInto('pool_usage')
    .columns(['tenant_id', 'pool_id', 'at', 'capacity', 'used', 'waitlisted'])
    .expression((eb) =>
      eb
        .selectFrom(
          eb
            .selectFrom('pools')
            .select(['pools.tenant_id', 'pools.id', 'pools.capacity', 'pools.used'])
            .select((e) => waitlistedCount(e))
            .as('cur'),
        )
        .select([
          'cur.tenant_id',
          'cur.id',
          sql<string>`cast(${at} as text)`.as('at'),
          'cur.capacity',
          'cur.used',
          'cur.waitlisted',
        ])
        // 1 when the latest row is older than `at` and differs; 0 when it is not; null when there is none.
        .where(
          (e) =>
            e.fn.coalesce(
              e
                .selectFrom('pool_usage as last')
                .select((x) =>
                  x
                    .case()
                    .when(
                      x.and([
                        x('last.at', '<', at),
                        x.or([
                          x('last.capacity', '<>', x.ref('cur.capacity')),
                          x('last.used', '<>', x.ref('cur.used')),
                          x('last.waitlisted', '<>', x.ref('cur.waitlisted')),
                        ]),
                      ]),
                    )
                    .then(sql.lit(1))
                    .else(sql.lit(0))
                    .end()
                    .as('changed'),
                )
                .whereRef('last.pool_id', '=', 'cur.id')
                .orderBy('last.at', 'desc')
                .limit(1),
              sql.lit(1),
            ),
          '=',
          sql.lit(1),
        ),
    )
    .onConflict((oc) => oc.columns(['pool_id', 'at']).doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0);
}

/** Deletes every history row older than `cutoff` (retention); returns how many. */
export async function deleteUsageBefore(q: Queryable, cutoff: string): Promise<number> {
  const res = await q.deleteFrom('pool_usage').where('at', '<', cutoff).executeTakeFirst();
  return Number(res.numDeletedRows);
}

/**
 * Deletes rows written since `since` for pools that no longer exist: a sampler on another node may have
 * read a pool just before its deletion committed and written one last row after it.
 */
export async function deleteOrphanUsage(q: Queryable, since: string): Promise<number> {
  const res = await q
    .deleteFrom('pool_usage')
    .where('at', '>=', since)
    .where((eb) =>
      eb.not(
        eb.exists(
          eb.selectFrom('pools').select(sql.lit(1).as('one')).whereRef('pools.id', '=', 'pool_usage.pool_id'),
        ),
      ),
    )
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** Deletes a pool's history (with the pool, in its transaction). */
export async function deleteUsageOfPool(q: Queryable, tenantId: string, poolId: string): Promise<void> {
  await q.deleteFrom('pool_usage').where('tenant_id', '=', tenantId).where('pool_id', '=', poolId).execute();
}

/** A product's pools as its usage history names them, oldest first. */
export async function poolsOfProduct(
  q: Queryable,
  tenantId: string,
  productId: string,
): Promise<{ id: string; name: string; capacity: number; utilisationCap: number }[]> {
  const rows = await q
    .selectFrom('pools')
    .select(['id', 'name', 'capacity', 'utilisation_cap'])
    .where('tenant_id', '=', tenantId)
    .where('product_id', '=', productId)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    capacity: Number(r.capacity),
    utilisationCap: Number(r.utilisation_cap),
  }));
}

type UsageRow = { pool_id: string; at: string; capacity: number; used: number; waitlisted: number };

function toUsagePoint(r: UsageRow): UsagePoint {
  return { at: r.at, capacity: Number(r.capacity), used: Number(r.used), waitlisted: Number(r.waitlisted) };
}

/** Each pool's latest row before `before` (the value in force then), by pool id. */
export async function usageInForce(
  q: Queryable,
  tenantId: string,
  poolIds: readonly string[],
  before: string,
): Promise<Map<string, UsagePoint>> {
  if (poolIds.length === 0) return new Map();
  // One backward step of the primary key per pool and column: no scan of a pool's older rows.
  const latest = <C extends 'at' | 'capacity' | 'used' | 'waitlisted'>(
    eb: ExpressionBuilder<Database, 'pools'>,
    column: C,
  ) =>
    eb
      .selectFrom('pool_usage as v')
      .select(`v.${column}` as `v.${C}`)
      .whereRef('v.pool_id', '=', 'pools.id')
      .where('v.at', '<', before)
      .orderBy('v.at', 'desc')
      .limit(1);
  const rows = await q
    .selectFrom('pools')
    .select('pools.id as pool_id')
    .select((eb) => [
      latest(eb, 'at').as('at'),
      latest(eb, 'capacity').as('capacity'),
      latest(eb, 'used').as('used'),
      latest(eb, 'waitlisted').as('waitlisted'),
    ])
    .where('pools.tenant_id', '=', tenantId)
    .where('pools.id', 'in', [...poolIds])
    .execute();
  const out = new Map<string, UsagePoint>();
  for (const r of rows) {
    if (r.at === null) continue;
    out.set(r.pool_id, toUsagePoint(r as UsageRow));
  }
  return out;
}

/** Each pool's rows in [since, until], in time order: the newest `perPool` of them (a window per pool). */
export async function usageBetween(
  q: Queryable,
  tenantId: string,
  poolIds: readonly string[],
  since: string,
  until: string,
  perPool: number,
): Promise<Map<string, UsagePoint[]>> {
  if (poolIds.length === 0) return new Map();
  const ranked = q
    .selectFrom('pool_usage')
    .select(['pool_id', 'at', 'capacity', 'used', 'waitlisted'])
    .select((eb) =>
      eb.fn
        .agg<number>('row_number')
        .over((ob) => ob.partitionBy('pool_id').orderBy('at', 'desc'))
        .as('rn'),
    )
    .where('tenant_id', '=', tenantId)
    .where('pool_id', 'in', [...poolIds])
    .where('at', '>=', since)
    .where('at', '<=', until);
  const rows = await q
    .selectFrom(ranked.as('r'))
    .select(['r.pool_id', 'r.at', 'r.capacity', 'r.used', 'r.waitlisted'])
    .where('r.rn', '<=', perPool)
    .orderBy('r.pool_id')
    .orderBy('r.at')
    .execute();
  const out = new Map<string, UsagePoint[]>();
  for (const r of rows) {
    const list = out.get(r.pool_id);
    if (list) list.push(toUsagePoint(r));
    else out.set(r.pool_id, [toUsagePoint(r)]);
  }
  return out;
}

/**
 * The pools that may serve someone at (site, country), in allocation order: pools scoped to the user's
 * site, then to their country, then unscoped; within each, by priority (lower first), then age.
 */
export async function candidatePools(
  q: Queryable,
  tenantId: string,
  productId: string,
  at: { site: string | null; country: string | null },
): Promise<{ id: string; name: string }[]> {
  return (
    q
      .selectFrom('pools')
      .select(['id', 'name'])
      .where('tenant_id', '=', tenantId)
      .where('product_id', '=', productId)
      // A user without a site (or country) is served only by pools not scoped to one.
      .where((e) =>
        at.site === null ? e('site', 'is', null) : e.or([e('site', 'is', null), e('site', '=', at.site)]),
      )
      .where((e) =>
        at.country === null
          ? e('country', 'is', null)
          : e.or([e('country', 'is', null), e('country', '=', at.country)]),
      )
      .orderBy(sql`case when site is not null then 0 when country is not null then 1 else 2 end`)
      .orderBy('priority')
      .orderBy('id')
      .execute()
  );
}

/**
 * Takes one seat of a pool if one is free: a conditional update that can only succeed while
 * used < capacity (invariant 1). True when the seat was taken.
 */
export async function takeSeat(q: Queryable, poolId: string): Promise<boolean> {
  const res = await q
    .updateTable('pools')
    .set((eb) => ({ used: eb('used', '+', 1) }))
    .where('id', '=', poolId)
    .whereRef('used', '<', 'capacity')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function giveBackSeat(q: Queryable, poolId: string): Promise<void> {
  await q
    .updateTable('pools')
    .set((eb) => ({ used: eb('used', '-', 1) }))
    .where('id', '=', poolId)
    .where('used', '>', 0)
    .execute();
}

export async function poolScope(q: Queryable, poolId: string) {
  return q
    .selectFrom('pools')
    .innerJoin('products', 'products.id', 'pools.product_id')
    .select([
      'pools.id',
      'pools.name',
      'pools.tenant_id',
      'pools.product_id',
      'pools.site',
      'pools.country',
      'products.sku',
    ])
    .where('pools.id', '=', poolId)
    .executeTakeFirst();
}

// ---- assignments

export interface AssignmentRow {
  id: string;
  tenantId: string;
  userId: string;
  productId: string;
  poolId: string | null;
  state: AssignmentState;
  source: AssignmentSource;
  waitlistPosition: number | null;
  userSite: string | null;
  userCountry: string | null;
  createdAt: string;
}

export async function insertAssignment(q: Queryable, a: AssignmentRow): Promise<void> {
  await q
    .insertInto('assignments')
    .values({
      id: a.id,
      tenant_id: a.tenantId,
      user_id: a.userId,
      product_id: a.productId,
      pool_id: a.poolId,
      state: a.state,
      source: a.source,
      waitlist_position: a.waitlistPosition,
      user_site: a.userSite,
      user_country: a.userCountry,
      created_at: a.createdAt,
      updated_at: a.createdAt,
    })
    .execute();
}

function assignmentSelect(q: Queryable) {
  return q
    .selectFrom('assignments')
    .innerJoin('products', 'products.id', 'assignments.product_id')
    .leftJoin('pools', 'pools.id', 'assignments.pool_id')
    .select([
      'assignments.id',
      'assignments.user_id',
      'assignments.product_id',
      'assignments.pool_id',
      'assignments.state',
      'assignments.source',
      'assignments.waitlist_position',
      'assignments.created_at',
      'products.sku',
      'pools.name as pool_name',
    ]);
}

type AssignmentJoined = {
  id: string;
  user_id: string;
  product_id: string;
  pool_id: string | null;
  state: string;
  source: string;
  waitlist_position: number | null;
  created_at: string;
  sku: string;
  pool_name: string | null;
};

function toAssignment(r: AssignmentJoined): Assignment {
  return {
    id: r.id,
    userId: r.user_id,
    productId: r.product_id,
    sku: r.sku,
    state: r.state as AssignmentState,
    source: r.source as AssignmentSource,
    pool: r.pool_id === null ? null : { id: r.pool_id, name: r.pool_name ?? '' },
    waitlistPosition: r.waitlist_position === null ? null : Number(r.waitlist_position),
    createdAt: r.created_at,
  };
}

export async function findAssignment(q: Queryable, tenantId: string, userId: string, productId: string) {
  const r = await assignmentSelect(q)
    .where('assignments.tenant_id', '=', tenantId)
    .where('assignments.user_id', '=', userId)
    .where('assignments.product_id', '=', productId)
    .executeTakeFirst();
  return r && toAssignment(r);
}

export async function listAssignmentsOfUser(
  q: Queryable,
  tenantId: string,
  userId: string,
): Promise<Assignment[]> {
  const rows = await assignmentSelect(q)
    .where('assignments.tenant_id', '=', tenantId)
    .where('assignments.user_id', '=', userId)
    .orderBy('products.sku')
    .execute();
  return rows.map(toAssignment);
}

/** The assignments of each of `userIds` (by SKU), in one query (a page of SCIM Users). */
export function listAssignmentsOfUsers(
  q: Queryable,
  tenantId: string,
  userIds: readonly string[],
): Promise<Map<string, Assignment[]>> {
  return rowsByKey(
    userIds,
    (ids) =>
      assignmentSelect(q)
        .where('assignments.tenant_id', '=', tenantId)
        .where('assignments.user_id', 'in', ids)
        .orderBy('products.sku')
        .execute(),
    (r) => r.user_id,
    toAssignment,
  );
}

export async function deleteAssignment(q: Queryable, id: string): Promise<boolean> {
  const res = await q.deleteFrom('assignments').where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) === 1;
}

/**
 * The oldest waitlisted assignments of a product that a pool may serve, in waitlist order.
 */
export async function waitlistFor(
  q: Queryable,
  pool: { tenant_id: string; product_id: string; site: string | null; country: string | null },
  limit: number,
): Promise<{ id: string; user_id: string; waitlist_position: number | null }[]> {
  let query = q
    .selectFrom('assignments')
    .select(['id', 'user_id', 'waitlist_position'])
    .where('tenant_id', '=', pool.tenant_id)
    .where('product_id', '=', pool.product_id)
    .where('state', '=', 'waitlisted');
  if (pool.site !== null) query = query.where('user_site', '=', pool.site);
  if (pool.country !== null) query = query.where('user_country', '=', pool.country);
  return query.orderBy('waitlist_position').limit(limit).execute();
}

/** Moves a waitlisted assignment into a pool; false when it is no longer waitlisted. */
export async function activateAssignment(
  q: Queryable,
  id: string,
  poolId: string,
  at: string,
): Promise<boolean> {
  const res = await q
    .updateTable('assignments')
    .set({ state: 'active', pool_id: poolId, waitlist_position: null, updated_at: at })
    .where('id', '=', id)
    .where('state', '=', 'waitlisted')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Keeps the location copy on a user's waitlisted assignments current (it decides which pools may serve them). */
export async function relocateWaitlisted(
  q: Queryable,
  tenantId: string,
  userId: string,
  at: { site: string | null; country: string | null },
): Promise<void> {
  await q
    .updateTable('assignments')
    .set({ user_site: at.site, user_country: at.country })
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .execute();
}

/** Seat counts per pool recomputed from assignments, for invariant checks. */
export async function activeCountsByPool(q: Queryable, tenantId: string): Promise<Map<string, number>> {
  const rows = await q
    .selectFrom('assignments')
    .select(['pool_id', (eb) => eb.fn.countAll<number>().as('n')])
    .where('tenant_id', '=', tenantId)
    .where('state', '=', 'active')
    .groupBy('pool_id')
    .execute();
  return new Map(rows.map((r) => [r.pool_id as string, Number(r.n)]));
}
