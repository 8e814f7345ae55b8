import type { AuditRecord } from '../audit/model.js';
import type { AuditLog } from '../audit/service.js';
import type { User } from '../identity/model.js';
import type { UserService } from '../identity/service.js';
import { type Clock, isoTime } from '../platform/clock.js';
import type { TenantContext } from '../platform/context.js';
import type { Db, Queryable, Tx } from '../platform/db/index.js';
import { transact } from '../platform/db/tx.js';
import { type ErrorCode, type FieldError, RosterError } from '../platform/errors.js';
import { checkIfMatch } from '../platform/etag.js';
import { newId } from '../platform/ids.js';
import { type Page, pageById } from '../platform/paging.js';
import { timeRange } from '../platform/time-buckets.js';
import {
  type Assignment,
  type AssignmentSource,
  DEFAULT_POOL_PRIORITY,
  DEFAULT_UTILISATION_CAP,
  type Pool,
  type PoolLocation,
  type Product,
  type ProductUsage,
  samplingInstant,
  skuKey,
} from './model.js';
import * as store from './store.js';

interface Deps {
  readonly db: Db;
  readonly clock: Clock;
  readonly audit: AuditLog;
  readonly users: UserService;
  /** The utilisation history's sampling interval and retention (defaults: 60 s, 400 days). */
  readonly usage?: { readonly sampleIntervalMs?: number; readonly retentionDays?: number };
}

/** The longest time range one usage answer covers. */
export const MAX_USAGE_RANGE_DAYS = 400;
/** The most rows of one pool a usage answer holds (the newest of the range). */
export const MAX_USAGE_POINTS = 10_000;
const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;

const UNIQUES: Record<string, ErrorCode> = {
  products_sku_uq: 'licenses.sku_taken',
  pools_name_uq: 'licenses.pool_name_taken',
  assignments_user_product_uq: 'licenses.already_assigned',
};

export interface PoolInput {
  product?: string;
  name?: string;
  capacity?: number;
  location?: { site?: string | null; country?: string | null } | null;
  priority?: number;
  utilisationCap?: number;
}

/** The audit form of an assignment (no PII: product, pool and state only). */
function auditAssignment(a: Assignment): Record<string, unknown> {
  return {
    product: a.sku,
    state: a.state,
    source: a.source,
    pool: a.pool,
    waitlistPosition: a.waitlistPosition,
  };
}

function auditPool(p: Pool): Record<string, unknown> {
  const { tenantId: _t, createdAt: _c, updatedAt: _u, waitlisted: _w, ...rest } = p;
  return rest;
}

function normaliseLocation(loc: PoolInput['location']): PoolLocation | null {
  const site = loc?.site ?? null;
  const country = loc?.country ? loc.country.toUpperCase() : null;
  return site === null && country === null ? null : { site, country };
}

/**
 * Products, pools and seats. Seats are taken with a conditional update that only succeeds while one is
 * free, so no interleaving of writers can oversubscribe a pool; a released seat goes at once to the oldest
 * waitlisted assignment the pool may serve, in the same transaction.
 */
export class LicenseService {
  readonly #d: Deps;
  /**
   * Products by tenant and SKU. A product never changes or goes away once created (there is no route that
   * would), so a found product can be remembered; unknown SKUs are always asked of the store.
   */
  readonly #products = new Map<string, Product>();
  readonly #sampleIntervalMs: number;
  readonly #retentionMs: number;
  /** When this process last deleted expired history (at most hourly). */
  #lastPurge: number | undefined;
  constructor(deps: Deps) {
    this.#d = deps;
    this.#sampleIntervalMs = deps.usage?.sampleIntervalMs ?? 60_000;
    this.#retentionMs = (deps.usage?.retentionDays ?? 400) * DAY_MS;
  }

  // ---- products

  /** @throws licenses.sku_taken */
  async createProduct(ctx: TenantContext, input: { sku: string; name: string }): Promise<Product> {
    const now = this.#d.clock.now();
    const product: Product = {
      id: newId(now.getTime()),
      tenantId: ctx.tenantId,
      sku: input.sku.trim(),
      name: input.name.trim(),
      createdAt: now.toISOString(),
    };
    return transact(
      this.#d.db,
      async (tx) => {
        await store.insertProduct(tx, product, skuKey(product.sku));
        await this.#d.audit.record(tx, ctx, ctx.tenantId, [
          {
            action: 'product.created',
            targetType: 'product',
            targetId: product.id,
            before: null,
            after: { sku: product.sku, name: product.name },
          },
        ]);
        return product;
      },
      UNIQUES,
    );
  }

  async listProducts(ctx: TenantContext, page: { cursor?: string; limit: number }): Promise<Page<Product>> {
    return pageById(page, (range) => store.listProducts(this.#d.db.kysely, ctx.tenantId, range));
  }

  /**
   * The products named by SKUs (case-insensitive).
   * @throws licenses.unknown_product naming each unknown SKU's position under `pointer`
   */
  async resolveProducts(
    q: Queryable,
    tenantId: string,
    skus: readonly string[],
    pointer: string,
  ): Promise<Product[]> {
    const keys = skus.map(skuKey);
    const found = new Map<string, Product>();
    const missing: string[] = [];
    for (const k of keys) {
      const hit = this.#products.get(`${tenantId}\0${k}`);
      if (hit) found.set(k, hit);
      else missing.push(k);
    }
    if (missing.length > 0) {
      for (const [k, p] of await store.findProductsBySku(q, tenantId, missing)) {
        found.set(k, p);
        if (this.#products.size >= 10_000) this.#products.clear();
        this.#products.set(`${tenantId}\0${k}`, p);
      }
    }
    const errors: FieldError[] = [];
    const out: Product[] = [];
    skus.forEach((sku, i) => {
      const p = found.get(skuKey(sku));
      if (p) out.push(p);
      else
        errors.push({
          pointer: skus.length === 1 && !pointer.endsWith('s') ? pointer : `${pointer}/${i}`,
          detail: 'is not a product of this tenant',
        });
    });
    if (errors.length > 0) throw new RosterError('licenses.unknown_product', { errors });
    return out;
  }

  // ---- pools

  /** @throws licenses.unknown_product, licenses.pool_name_taken */
  async createPool(
    ctx: TenantContext,
    input: Required<Pick<PoolInput, 'product' | 'name' | 'capacity'>> & PoolInput,
  ): Promise<Pool> {
    return transact(
      this.#d.db,
      async (tx) => {
        const [product] = await this.resolveProducts(tx, ctx.tenantId, [input.product], '/product');
        const now = this.#d.clock.now();
        const loc = normaliseLocation(input.location);
        const id = newId(now.getTime());
        await store.insertPool(tx, {
          id,
          tenant_id: ctx.tenantId,
          product_id: (product as Product).id,
          name: input.name.trim(),
          name_key: input.name.trim().toLowerCase(),
          capacity: input.capacity,
          used: 0,
          site: loc?.site ?? null,
          country: loc?.country ?? null,
          priority: input.priority ?? DEFAULT_POOL_PRIORITY,
          utilisation_cap: input.utilisationCap ?? DEFAULT_UTILISATION_CAP,
          version: 1,
          created_at: now.toISOString(),
          updated_at: now.toISOString(),
        });
        // A new pool may serve people already waiting.
        const served = await this.#serveWaitlist(tx, id);
        const pool = (await store.findPool(tx, ctx.tenantId, id)) as Pool;
        await this.#d.audit.record(tx, ctx, ctx.tenantId, [
          { action: 'pool.created', targetType: 'pool', targetId: id, before: null, after: auditPool(pool) },
          ...served,
        ]);
        return pool;
      },
      UNIQUES,
    );
  }

  /** @throws licenses.pool_not_found */
  async getPool(ctx: TenantContext, id: string): Promise<Pool> {
    const pool = await store.findPool(this.#d.db.kysely, ctx.tenantId, id);
    if (!pool) throw new RosterError('licenses.pool_not_found');
    return pool;
  }

  async listPools(
    ctx: TenantContext,
    filter: { product?: string },
    page: { cursor?: string; limit: number },
  ): Promise<Page<Pool>> {
    const db = this.#d.db.kysely;
    let productId: string | undefined;
    if (filter.product !== undefined) {
      const p = await store.findProductBySku(db, ctx.tenantId, skuKey(filter.product));
      if (!p) return { items: [] };
      productId = p.id;
    }
    return pageById(page, (range) =>
      store.listPools(db, ctx.tenantId, productId === undefined ? {} : { productId }, range),
    );
  }

  /**
   * Changes a pool's name, capacity, priority, utilisation cap or location. Lowering capacity below the seats
   * in use is refused; raising it serves the waitlist at once.
   * @throws licenses.pool_not_found, licenses.capacity_below_used, request.precondition_failed
   */
  async updatePool(
    ctx: TenantContext,
    id: string,
    patch: Omit<PoolInput, 'product'>,
    ifMatch?: string,
  ): Promise<Pool> {
    return transact(
      this.#d.db,
      async (tx) => {
        const before = await store.findPool(tx, ctx.tenantId, id);
        if (!before) throw new RosterError('licenses.pool_not_found');
        checkIfMatch(ifMatch, before.version);
        const loc =
          patch.location === undefined
            ? before.location
            : normaliseLocation(patch.location === null ? null : { ...before.location, ...patch.location });
        const capacity = patch.capacity ?? before.capacity;
        const ok = await store.updatePool(tx, ctx.tenantId, id, before.version, {
          name: patch.name?.trim() ?? before.name,
          capacity,
          priority: patch.priority ?? before.priority,
          utilisationCap: patch.utilisationCap ?? before.utilisationCap,
          site: loc?.site ?? null,
          country: loc?.country ?? null,
          updatedAt: isoTime(this.#d.clock),
        });
        if (!ok) {
          const now = await store.findPool(tx, ctx.tenantId, id);
          if (now && now.used > capacity) {
            throw new RosterError('licenses.capacity_below_used', {
              errors: [{ pointer: '/capacity', detail: `is below the ${now.used} seats in use` }],
            });
          }
          throw new RosterError('store.conflict');
        }
        const served = await this.#serveWaitlist(tx, id);
        const after = (await store.findPool(tx, ctx.tenantId, id)) as Pool;
        await this.#d.audit.record(tx, ctx, ctx.tenantId, [
          {
            action: 'pool.updated',
            targetType: 'pool',
            targetId: id,
            before: auditPool(before),
            after: auditPool(after),
          },
          ...served,
        ]);
        return after;
      },
      UNIQUES,
    );
  }

  /**
   * Deletes a pool that holds no seat, and its utilisation history with it.
   * @throws licenses.pool_not_found, licenses.pool_in_use
   */
  async deletePool(ctx: TenantContext, id: string, ifMatch?: string): Promise<void> {
    await transact(this.#d.db, async (tx) => {
      const before = await store.findPool(tx, ctx.tenantId, id);
      if (!before) throw new RosterError('licenses.pool_not_found');
      checkIfMatch(ifMatch, before.version);
      if (!(await store.deleteIdlePool(tx, ctx.tenantId, id))) throw new RosterError('licenses.pool_in_use');
      await store.deleteUsageOfPool(tx, ctx.tenantId, id);
      await this.#d.audit.record(tx, ctx, ctx.tenantId, [
        { action: 'pool.deleted', targetType: 'pool', targetId: id, before: auditPool(before), after: null },
      ]);
    });
  }

  // ---- utilisation history

  /**
   * One sampling round, in one transaction: records the counters (capacity, used, waitlisted) of every pool
   * of every tenant whose counters changed since its latest row, at `now` truncated to the sampling
   * interval. At most once an hour (per process) it first deletes the rows past the retention, and the few
   * rows a concurrent sampler may have written for a pool deleted meanwhile.
   */
  async sampleUsage(
    now: Date = this.#d.clock.now(),
  ): Promise<{ at: string; written: number; purged: number }> {
    const at = samplingInstant(now, this.#sampleIntervalMs);
    const ms = now.getTime();
    const purge = this.#lastPurge === undefined || ms - this.#lastPurge >= HOUR_MS;
    const result = await transact(this.#d.db, async (tx) => {
      let purged = 0;
      if (purge) {
        purged += await store.deleteUsageBefore(tx, new Date(ms - this.#retentionMs).toISOString());
        // Orphans are recent: written by a round that overlapped the pool's deletion.
        const recent = ms - 2 * HOUR_MS - 2 * this.#sampleIntervalMs;
        purged += await store.deleteOrphanUsage(tx, new Date(recent).toISOString());
      }
      const written = await store.recordUsage(tx, at);
      return { at, written, purged };
    });
    if (purge) this.#lastPurge = ms;
    return result;
  }

  /**
   * The utilisation history of a product's pools over [since, until] (defaults: the 24 hours up to now).
   * Each pool's rows in the range come in time order, preceded by its latest row before `since`, shown at
   * `since`: the value in force when the range starts. A pool with more than MAX_USAGE_POINTS rows in the
   * range gets only the newest MAX_USAGE_POINTS, and then nothing carried in.
   * @throws licenses.product_not_found, request.invalid_parameter (a reversed or too long range)
   */
  async usage(
    ctx: TenantContext,
    sku: string,
    range: { since?: string; until?: string },
  ): Promise<ProductUsage> {
    const { since, until } = timeRange(range, this.#d.clock.now(), {
      defaultMs: DAY_MS,
      maxMs: MAX_USAGE_RANGE_DAYS * DAY_MS,
      tooLong: `The range is longer than ${MAX_USAGE_RANGE_DAYS} days: narrow it`,
    });
    const db = this.#d.db.kysely;
    const product = await store.findProductBySku(db, ctx.tenantId, skuKey(sku));
    if (!product) throw new RosterError('licenses.product_not_found');
    const pools = await store.poolsOfProduct(db, ctx.tenantId, product.id);
    const ids = pools.map((p) => p.id);
    const [inForce, rows] = await Promise.all([
      store.usageInForce(db, ctx.tenantId, ids, since),
      // One more than the bound tells a pool whose range holds more rows than it.
      store.usageBetween(db, ctx.tenantId, ids, since, until, MAX_USAGE_POINTS + 1),
    ]);
    return {
      product: product.sku,
      since,
      until,
      pools: pools.map((p) => {
        const items = rows.get(p.id) ?? [];
        // Too many rows: the newest MAX_USAGE_POINTS, and nothing carried in (the value at since is unknown).
        if (items.length > MAX_USAGE_POINTS) return { ...p, items: items.slice(-MAX_USAGE_POINTS) };
        const first = inForce.get(p.id);
        return { ...p, items: first && items[0]?.at !== since ? [{ ...first, at: since }, ...items] : items };
      }),
    };
  }

  // ---- assignments

  /**
   * Gives `user` a seat of `product` inside the caller's transaction: from the first eligible pool with
   * room, else a place on the waitlist. An existing assignment is returned unchanged (`created: false`);
   * `freshUser` says the user was created in this transaction, so none can exist.
   * @throws licenses.user_inactive
   */
  async assignIn(
    tx: Tx,
    ctx: TenantContext,
    user: User,
    product: Product,
    source: AssignmentSource,
    options: { freshUser?: boolean } = {},
  ): Promise<{ assignment: Assignment; created: boolean }> {
    // A user created in this same transaction has no assignment yet: skip the look-up.
    if (!options.freshUser) {
      const existing = await store.findAssignment(tx, ctx.tenantId, user.id, product.id);
      if (existing) return { assignment: existing, created: false };
    }
    if (user.status !== 'active') throw new RosterError('licenses.user_inactive');
    const at = { site: user.location?.site ?? null, country: user.location?.country ?? null };
    const now = isoTime(this.#d.clock);
    let pool: { id: string; name: string } | null = null;
    for (const candidate of await store.candidatePools(tx, ctx.tenantId, product.id, at)) {
      if (await store.takeSeat(tx, candidate.id)) {
        pool = candidate;
        break;
      }
    }
    const waitlistPosition = pool ? null : await store.nextWaitlistPosition(tx, product.id);
    const assignment: Assignment = {
      id: newId(),
      userId: user.id,
      productId: product.id,
      sku: product.sku,
      state: pool ? 'active' : 'waitlisted',
      source,
      pool,
      waitlistPosition,
      createdAt: now,
    };
    await store.insertAssignment(tx, {
      id: assignment.id,
      tenantId: ctx.tenantId,
      userId: user.id,
      productId: product.id,
      poolId: pool?.id ?? null,
      state: assignment.state,
      source,
      waitlistPosition,
      userSite: at.site,
      userCountry: at.country,
      createdAt: now,
    });
    await this.#d.audit.record(tx, ctx, ctx.tenantId, [
      {
        action: pool ? 'license.assigned' : 'license.waitlisted',
        targetType: 'user',
        targetId: user.id,
        before: null,
        after: auditAssignment(assignment),
      },
    ]);
    return { assignment, created: true };
  }

  /**
   * Assigns a product to a user directly.
   * @throws identity.user_not_found, licenses.unknown_product, licenses.user_inactive
   */
  async assign(
    ctx: TenantContext,
    userId: string,
    sku: string,
  ): Promise<{ assignment: Assignment; created: boolean }> {
    try {
      return await transact(
        this.#d.db,
        async (tx) => {
          const user = await this.#d.users.get(ctx, userId, tx);
          const [product] = await this.resolveProducts(tx, ctx.tenantId, [sku], '/product');
          return this.assignIn(tx, ctx, user, product as Product, 'direct');
        },
        UNIQUES,
      );
    } catch (err) {
      // A concurrent request assigned it first: answer with that assignment, as for any existing one.
      if (!(err instanceof RosterError) || err.code !== 'licenses.already_assigned') throw err;
      const product = await store.findProductBySku(this.#d.db.kysely, ctx.tenantId, skuKey(sku));
      const existing =
        product && (await store.findAssignment(this.#d.db.kysely, ctx.tenantId, userId, product.id));
      if (!existing) throw err;
      return { assignment: existing, created: false };
    }
  }

  /**
   * Releases a user's assignments (all, or one product's) inside the caller's transaction: seats go back
   * to their pools and on to the waitlist, waitlist places are dropped.
   */
  async releaseIn(tx: Tx, ctx: TenantContext, userId: string, productId?: string): Promise<Assignment[]> {
    const all = await store.listAssignmentsOfUser(tx, ctx.tenantId, userId);
    const chosen = productId === undefined ? all : all.filter((a) => a.productId === productId);
    const records: AuditRecord[] = [];
    const released: Assignment[] = [];
    for (const a of chosen) {
      // A concurrent release may have removed it first: then its seat was already given back, once.
      if (!(await store.deleteAssignment(tx, a.id))) continue;
      released.push(a);
      records.push({
        action: 'license.released',
        targetType: 'user',
        targetId: userId,
        before: auditAssignment(a),
        after: null,
      });
      if (a.pool) {
        await store.giveBackSeat(tx, a.pool.id);
        records.push(...(await this.#serveWaitlist(tx, a.pool.id)));
      }
    }
    await this.#d.audit.record(tx, ctx, ctx.tenantId, records);
    return released;
  }

  /** Releases one product of a user. @throws identity.user_not_found, licenses.assignment_not_found */
  async release(ctx: TenantContext, userId: string, sku: string): Promise<void> {
    await transact(this.#d.db, async (tx) => {
      await this.#d.users.get(ctx, userId, tx);
      const product = await store.findProductBySku(tx, ctx.tenantId, skuKey(sku));
      const released = product ? await this.releaseIn(tx, ctx, userId, product.id) : [];
      if (released.length === 0) throw new RosterError('licenses.assignment_not_found');
    });
  }

  /** @throws identity.user_not_found */
  async listForUser(ctx: TenantContext, userId: string): Promise<Assignment[]> {
    await this.#d.users.get(ctx, userId);
    return store.listAssignmentsOfUser(this.#d.db.kysely, ctx.tenantId, userId);
  }

  /** The assignments of several users of the tenant, by user id (users of other tenants have none). */
  async listForUsers(ctx: TenantContext, userIds: readonly string[]): Promise<Map<string, Assignment[]>> {
    return store.listAssignmentsOfUsers(this.#d.db.kysely, ctx.tenantId, userIds);
  }

  /**
   * Follows a user's changes (registered as a user hook): a user who stops being active, or is deleted,
   * loses every seat at once; a user who moves keeps their waitlist places, now judged by the new location.
   */
  async onUserChanged(tx: Tx, ctx: TenantContext, before: User, after: User | null): Promise<void> {
    if (after === null || after.status !== 'active') {
      await this.releaseIn(tx, ctx, before.id);
      return;
    }
    const moved =
      (before.location?.site ?? null) !== (after.location?.site ?? null) ||
      (before.location?.country ?? null) !== (after.location?.country ?? null);
    if (moved) {
      const at = { site: after.location?.site ?? null, country: after.location?.country ?? null };
      await store.relocateWaitlisted(tx, ctx.tenantId, after.id, at);
      // Waitlisted means no eligible pool has room: where they are now, one may.
      const records: AuditRecord[] = [];
      for (const a of await store.listAssignmentsOfUser(tx, ctx.tenantId, after.id)) {
        if (a.state !== 'waitlisted') continue;
        for (const pool of await store.candidatePools(tx, ctx.tenantId, a.productId, at)) {
          if (!(await store.takeSeat(tx, pool.id))) continue;
          if (await store.activateAssignment(tx, a.id, pool.id, isoTime(this.#d.clock))) {
            records.push({
              action: 'license.assigned',
              targetType: 'user',
              targetId: after.id,
              before: { product: a.sku, state: 'waitlisted', waitlistPosition: a.waitlistPosition },
              after: {
                product: a.sku,
                state: 'active',
                source: a.source,
                pool: { id: pool.id, name: pool.name },
                reason: 'relocated',
              },
            });
          } else await store.giveBackSeat(tx, pool.id);
          break;
        }
      }
      await this.#d.audit.record(tx, ctx, ctx.tenantId, records);
    }
  }

  /** Recounts seats from assignments: used must equal active assignments for every pool (invariant 1). */
  async checkInvariants(
    ctx: TenantContext,
  ): Promise<{ pool: string; used: number; active: number; capacity: number }[]> {
    const db = this.#d.db.kysely;
    const counts = await store.activeCountsByPool(db, ctx.tenantId);
    const pools = await store.listPools(db, ctx.tenantId, {}, { afterId: undefined, limit: 1_000_000 });
    return pools
      .map((p) => ({ pool: p.id, used: p.used, active: counts.get(p.id) ?? 0, capacity: p.capacity }))
      .filter((r) => r.used !== r.active || r.used > r.capacity);
  }

  /** Gives a pool's free seats to the oldest waitlisted assignments it may serve; returns their audit records. */
  async #serveWaitlist(tx: Tx, poolId: string): Promise<AuditRecord[]> {
    const pool = await store.poolScope(tx, poolId);
    if (!pool) return [];
    const records: AuditRecord[] = [];
    const at = isoTime(this.#d.clock);
    for (;;) {
      const waiting = await store.waitlistFor(tx, pool, 16);
      if (waiting.length === 0) return records;
      for (const w of waiting) {
        if (!(await store.takeSeat(tx, poolId))) return records;
        if (await store.activateAssignment(tx, w.id, poolId, at)) {
          records.push({
            action: 'license.assigned',
            targetType: 'user',
            targetId: w.user_id,
            before: { product: pool.sku, state: 'waitlisted', waitlistPosition: w.waitlist_position },
            after: {
              product: pool.sku,
              state: 'active',
              source: 'direct',
              pool: { id: pool.id, name: pool.name },
              reason: 'waitlist',
            },
          });
        } else {
          await store.giveBackSeat(tx, poolId);
        }
      }
    }
  }
}
