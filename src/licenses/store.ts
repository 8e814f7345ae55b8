import { type ExpressionBuilder, sql } from 'kysely';
import { rowsByKey } from '../platform/db/batch.js';
import type { Queryable } from '../platform/db/index.js';
import type { Database, PoolsTable } from '../platform/db/schema.js';
import type { Assignment, AssignmentSource, AssignmentState, Pool, Product } from './model.js';

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
