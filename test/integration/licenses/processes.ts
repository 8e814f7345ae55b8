/**
 * Helpers for the license process tests: Roster nodes on a shared test store, the tenant/product/pool set-up
 * made through the API, onboarding requests, and a direct read of the store to check the seat invariants.
 * Spawning and HTTP come from ../cli/process.ts (every process started there is tracked and killed by
 * `killAllRoster`).
 */
import { join } from 'node:path';
import { expect } from 'vitest';
import type { Db } from '../../../src/platform/db/index.js';
import type { TestStore } from '../../support/stores.js';
import {
  ADMIN_TOKEN,
  freePort,
  type HttpAnswer,
  type Loose,
  type RequestOptions,
  request,
  type Server,
  startServer,
} from '../cli/process.js';

export { ADMIN_TOKEN };

/** The environment of every Roster node of a test: all nodes of one store share its database and key file. */
export function nodeEnv(store: TestStore, port: number): Record<string, string> {
  return {
    ROSTER_DATABASE_URL: store.url,
    ROSTER_KEY_FILE: join(store.dir, 'roster.key'),
    ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
    ROSTER_LOG_LEVEL: 'warn',
    ROSTER_RATE_LIMIT_TENANT: '0',
    ROSTER_RATE_LIMIT_GLOBAL: '0',
    ROSTER_HOST: '127.0.0.1',
    ROSTER_PORT: String(port),
  };
}

/** Starts `roster serve` on a free port over `store` and waits until /healthz answers 200. */
export async function startNode(store: TestStore): Promise<Server> {
  const port = await freePort();
  // The log level is warn: the "listening" line is not printed, so the address is given.
  return startServer(['serve'], {
    cwd: store.dir,
    env: nodeEnv(store, port),
    baseUrl: `http://127.0.0.1:${port}`,
    timeoutMs: 30_000,
  });
}

/** A request that never rejects: a socket error (no answer at all) comes back as `{ error }`. */
export type Outcome = { answer: HttpAnswer; error?: undefined } | { answer?: undefined; error: Error };

export async function attempt(
  baseUrl: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<Outcome> {
  try {
    return { answer: await request(baseUrl, method, path, options) };
  } catch (err) {
    return { error: err as Error };
  }
}

/** One API call that must succeed with `status`; returns its body. */
export async function expectCall(
  baseUrl: string,
  method: string,
  path: string,
  status: number,
  options: RequestOptions = {},
): Promise<Loose> {
  const res = await request(baseUrl, method, path, options);
  expect(res.status, `${method} ${path}: ${res.raw}`).toBe(status);
  return res.body;
}

export interface Seats {
  readonly tenantId: string;
  readonly token: string;
  readonly sku: string;
  readonly productId: string;
  readonly pools: readonly { id: string; name: string; capacity: number }[];
}

/** A tenant, a tenant-admin token, product `sku` and unscoped pools of the given capacities, through `baseUrl`. */
export async function setUpSeats(
  baseUrl: string,
  name: string,
  sku: string,
  capacities: readonly number[],
): Promise<Seats> {
  const tenant = await expectCall(baseUrl, 'POST', '/api/v1/tenants', 201, {
    token: ADMIN_TOKEN,
    body: { name },
  });
  const tok = await expectCall(baseUrl, 'POST', '/api/v1/tokens', 201, {
    token: ADMIN_TOKEN,
    body: { tenantId: tenant.id, name: 'licenses-test', roles: ['tenant-admin'] },
  });
  const token = tok.token as string;
  const product = await expectCall(baseUrl, 'POST', '/api/v1/products', 201, {
    token,
    body: { sku, name: `Product ${sku}` },
  });
  const pools: { id: string; name: string; capacity: number }[] = [];
  for (const [i, capacity] of capacities.entries()) {
    const pool = await expectCall(baseUrl, 'POST', '/api/v1/pools', 201, {
      token,
      body: { product: sku, name: `pool-${i}`, capacity, priority: 10 * (i + 1) },
    });
    expect(pool).toMatchObject({ capacity, used: 0, location: null });
    pools.push({ id: pool.id, name: pool.name, capacity });
  }
  return { tenantId: tenant.id, token, sku, productId: product.id, pools };
}

/**
 * The body of the onboarding number `n`. The user has a location unless `located` is false (every pool of
 * these tests is unscoped, so it serves either).
 */
export function onboardingBody(prefix: string, n: number, sku: string, located = true): Loose {
  return {
    user: {
      userName: `${prefix}-${n}@roster.test`,
      displayName: `User ${prefix} ${n}`,
      ...(located ? { location: { site: `site-${n % 7}`, country: 'DE' } } : {}),
    },
    products: [sku],
  };
}

export function postOnboarding(baseUrl: string, token: string, key: string, body: unknown): Promise<Outcome> {
  return attempt(baseUrl, 'POST', '/api/v1/onboardings', {
    token,
    body,
    headers: { 'idempotency-key': key },
  });
}

/** Runs `fn` over `items` with at most `limit` at once; results in input order. */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= items.length) return;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

// ---- the store as it is

export interface AssignmentRow {
  readonly id: string;
  readonly userId: string;
  readonly productId: string;
  readonly poolId: string | null;
  readonly state: string;
  readonly waitlistPosition: number | null;
}

export interface Snapshot {
  readonly users: Map<string, { id: string; status: string }>;
  readonly pools: Map<string, { id: string; capacity: number; used: number }>;
  readonly assignments: AssignmentRow[];
  /** audit action -> the target ids it names (with repetitions) */
  readonly audit: Map<string, string[]>;
  readonly idempotencyKeys: Set<string>;
}

/** Reads one tenant's users, pools, assignments, audit entries and idempotency keys straight from the store. */
export async function snapshot(db: Db, tenantId: string): Promise<Snapshot> {
  const k = db.kysely;
  const users = await k
    .selectFrom('users')
    .select(['id', 'status'])
    .where('tenant_id', '=', tenantId)
    .execute();
  const pools = await k
    .selectFrom('pools')
    .select(['id', 'capacity', 'used'])
    .where('tenant_id', '=', tenantId)
    .execute();
  const assignments = await k
    .selectFrom('assignments')
    .select(['id', 'user_id', 'product_id', 'pool_id', 'state', 'waitlist_position'])
    .where('tenant_id', '=', tenantId)
    .execute();
  const audit = await k
    .selectFrom('audit_entries')
    .select(['action', 'target_id'])
    .where('tenant_id', '=', tenantId)
    .execute();
  const keys = await k
    .selectFrom('idempotency_keys')
    .select(['key'])
    .where('tenant_id', '=', tenantId)
    .execute();
  const byAction = new Map<string, string[]>();
  for (const e of audit) {
    const list = byAction.get(e.action) ?? [];
    list.push(e.target_id ?? '');
    byAction.set(e.action, list);
  }
  return {
    users: new Map(users.map((u) => [u.id, u])),
    pools: new Map(
      pools.map((p) => [p.id, { id: p.id, capacity: Number(p.capacity), used: Number(p.used) }]),
    ),
    assignments: assignments.map((a) => ({
      id: a.id,
      userId: a.user_id,
      productId: a.product_id,
      poolId: a.pool_id,
      state: a.state,
      waitlistPosition: a.waitlist_position === null ? null : Number(a.waitlist_position),
    })),
    audit: byAction,
    idempotencyKeys: new Set(keys.map((r) => r.key)),
  };
}

export function activeCount(s: Snapshot, poolId?: string): number {
  return s.assignments.filter((a) => a.state === 'active' && (poolId === undefined || a.poolId === poolId))
    .length;
}

/** The API form of a user's stored assignments (as onboarding answers and GET /users/{id}/licenses show them). */
export function presented(s: Snapshot, seats: Seats, userId: string): Loose[] {
  return s.assignments
    .filter((a) => a.userId === userId)
    .map((a) => {
      const pool = seats.pools.find((p) => p.id === a.poolId);
      return {
        product: seats.sku,
        state: a.state,
        source: 'direct',
        ...(a.poolId !== null ? { pool: { id: a.poolId, name: pool?.name } } : {}),
        ...(a.waitlistPosition !== null ? { waitlistPosition: a.waitlistPosition } : {}),
      };
    });
}

/**
 * Every broken seat invariant of a snapshot, in words (empty when all hold):
 * used == active assignments and used <= capacity per pool; an active assignment always names an existing
 * pool and a waitlisted one none but a position; at most one assignment (and so one active seat) per user
 * and product; waitlist positions unique per product.
 */
export function seatViolations(s: Snapshot): string[] {
  const out: string[] = [];
  for (const p of s.pools.values()) {
    const active = activeCount(s, p.id);
    if (p.used !== active) out.push(`pool ${p.id}: used ${p.used} but ${active} active assignments`);
    if (p.used > p.capacity) out.push(`pool ${p.id}: used ${p.used} above capacity ${p.capacity}`);
  }
  const perUserProduct = new Map<string, number>();
  const activePerUserProduct = new Map<string, number>();
  const positions = new Map<string, number>();
  for (const a of s.assignments) {
    const up = `${a.userId}/${a.productId}`;
    perUserProduct.set(up, (perUserProduct.get(up) ?? 0) + 1);
    if (a.state === 'active') {
      activePerUserProduct.set(up, (activePerUserProduct.get(up) ?? 0) + 1);
      if (a.poolId === null || !s.pools.has(a.poolId)) out.push(`active assignment ${a.id} has no pool`);
      if (a.waitlistPosition !== null) out.push(`active assignment ${a.id} keeps a waitlist position`);
    } else if (a.state === 'waitlisted') {
      if (a.poolId !== null) out.push(`waitlisted assignment ${a.id} names pool ${a.poolId}`);
      if (a.waitlistPosition === null) out.push(`waitlisted assignment ${a.id} has no position`);
      else {
        const pk = `${a.productId}/${a.waitlistPosition}`;
        positions.set(pk, (positions.get(pk) ?? 0) + 1);
      }
    } else out.push(`assignment ${a.id} in unknown state ${a.state}`);
    if (!s.users.has(a.userId)) out.push(`assignment ${a.id} of unknown user ${a.userId}`);
  }
  for (const [up, n] of activePerUserProduct) if (n > 1) out.push(`${up}: ${n} active seats`);
  for (const [up, n] of perUserProduct) if (n > 1) out.push(`${up}: ${n} assignments`);
  for (const [pk, n] of positions) if (n > 1) out.push(`waitlist position ${pk} held ${n} times`);
  return out;
}
