import type { AddressInfo } from 'node:net';
import { beforeAll, expect, it } from 'vitest';
import { ADMIN_TOKEN, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * The acceptance test of license seats under load, over real HTTP (fetch against a listening server):
 * 1,000 concurrent onboardings for one product whose pools hold 250 seats; then concurrent offboardings,
 * whose seats must go to the oldest eligible waiters; and 50 concurrent requests under one idempotency key.
 * Also: onboardings locking pools in different orders, concurrent assignment of one product to one user,
 * and concurrent releases of one holder's seat (each seat freed once).
 */

interface Reply {
  status: number;
  raw: string;
  // biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely
  body: any;
  headers: Headers;
}

interface Assignment {
  product: string;
  state: 'active' | 'waitlisted';
  source: string;
  pool?: { id: string; name: string };
  waitlistPosition?: number;
}

const BER = { site: 'ber', country: 'DE' };
const HAM = { site: 'ham', country: 'DE' };

/** Runs `fn` over `items` with at most `width` in flight. */
async function inWaves<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += width) {
    out.push(...(await Promise.all(items.slice(i, i + width).map(fn))));
  }
  return out;
}

/**
 * Checks that every concurrent request got `expected` (a soft assertion: the test fails but goes on), then
 * retries, one at a time, those refused with 409 store.conflict ("retry"), as a client would, so that the
 * checks after it still see the full data set. Server errors are never retried: none may happen.
 */
async function settle(
  what: string,
  answers: Reply[],
  expected: number,
  again: (i: number) => Promise<Reply>,
): Promise<Reply[]> {
  const serverErrors = answers.filter((a) => a.status >= 500);
  expect(
    serverErrors.map((a) => `${a.status} ${a.raw}`).slice(0, 3),
    `${what}: ${serverErrors.length} 5xx`,
  ).toEqual([]);
  const others = answers.filter((a) => a.status !== expected);
  expect
    .soft(
      others.map((a) => `${a.status} ${a.raw}`).slice(0, 3),
      `${what}: ${others.length} of ${answers.length} concurrent requests did not get ${expected}`,
    )
    .toEqual([]);
  const out = [...answers];
  for (const [i, a] of out.entries()) {
    let current = a;
    for (
      let attempt = 0;
      attempt < 5 && current.status === 409 && current.body?.code === 'store.conflict';
      attempt++
    ) {
      current = await again(i);
    }
    out[i] = current;
  }
  const still = out.filter((a) => a.status !== expected);
  expect(
    still.map((a) => `${a.status} ${a.raw}`).slice(0, 3),
    `${what}: not ${expected} even when retried`,
  ).toEqual([]);
  return out;
}

describeEachStore('license seats under concurrency, over HTTP', (kind) => {
  const t = useTestApp(kind);
  let base = '';

  beforeAll(async () => {
    // A backlog above 1,000: the client fires every connection at once, and while SQLite commits (which
    // blocks the event loop) the kernel queue must hold them rather than reset them.
    await t().app.http.listen({ port: 0, host: '127.0.0.1', backlog: 2048 });
    const address = t().app.http.server.address() as AddressInfo;
    base = `http://127.0.0.1:${address.port}`;
  });

  async function call(
    token: string,
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Reply> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const raw = await res.text();
    let parsed: unknown;
    try {
      parsed = raw === '' ? undefined : JSON.parse(raw);
    } catch {
      parsed = undefined;
    }
    return { status: res.status, raw, body: parsed, headers: res.headers };
  }

  /** Ground truth from the store: every assignment of the tenant. */
  async function storedAssignments(tenantId: string) {
    return t()
      .app.db.kysely.selectFrom('assignments')
      .select(['user_id', 'product_id', 'pool_id', 'state', 'waitlist_position'])
      .where('tenant_id', '=', tenantId)
      .execute();
  }

  it('1,000 concurrent onboardings share 250 seats exactly; offboarded seats go to the oldest eligible waiters', async () => {
    const started = performance.now();
    const { tenantId, token } = await t().newTenant();
    const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      call(token, method, path, body, headers);

    expect((await api('POST', '/api/v1/products', { sku: 'P', name: 'Seat product' })).status).toBe(201);
    const poolSpecs = [
      { name: 'ber-site', capacity: 40, location: { site: 'ber' } },
      { name: 'ham-site', capacity: 30, location: { site: 'ham' } },
      { name: 'de', capacity: 80, location: { country: 'DE' } },
      { name: 'global-a', capacity: 60, priority: 10 },
      { name: 'global-b', capacity: 40, priority: 20 },
    ];
    const pools = new Map<string, { name: string; capacity: number; site: string | null }>();
    for (const spec of poolSpecs) {
      const res = await api('POST', '/api/v1/pools', { product: 'P', ...spec });
      expect(res.status, res.raw).toBe(201);
      pools.set(res.body.id, {
        name: spec.name,
        capacity: spec.capacity,
        site: (spec.location as { site?: string } | undefined)?.site ?? null,
      });
    }
    const total = [...pools.values()].reduce((n, p) => n + p.capacity, 0);
    expect(total).toBe(250);

    // ---- 1,000 onboardings at once
    const N = 1000;
    const people = Array.from({ length: N }, (_, i) => ({
      key: `onboard-${i}`,
      user: { userName: `joiner-${i}@load.test`, location: i % 2 === 0 ? BER : HAM },
    }));
    const onboardOne = (i: number) => {
      const p = people[i] as (typeof people)[number];
      return api(
        'POST',
        '/api/v1/onboardings',
        { user: p.user, products: ['P'] },
        { 'idempotency-key': p.key },
      );
    };
    const answers = await settle(
      'onboardings',
      await Promise.all(people.map((_, i) => onboardOne(i))),
      201,
      onboardOne,
    );

    const site = new Map<string, string>(); // user id -> site
    const firstState = new Map<string, Assignment>();
    answers.forEach((a, i) => {
      expect(a.body.assignments).toHaveLength(1);
      const id = a.body.user.id as string;
      site.set(id, people[i]?.user.location.site as string);
      firstState.set(id, a.body.assignments[0]);
    });
    expect(site.size).toBe(N);
    const active = [...firstState.values()].filter((a) => a.state === 'active');
    const waiting = [...firstState.values()].filter((a) => a.state === 'waitlisted');
    expect(active).toHaveLength(250);
    expect(waiting).toHaveLength(750);
    for (const a of active) expect(a.waitlistPosition).toBeUndefined();
    for (const a of waiting) {
      expect(a.pool).toBeUndefined();
      expect(Number.isInteger(a.waitlistPosition)).toBe(true);
    }
    expect(new Set(waiting.map((a) => a.waitlistPosition)).size).toBe(750);

    // Pool eligibility: a site pool only ever served its own site.
    for (const [id, a] of firstState) {
      if (a.state !== 'active') continue;
      const p = pools.get(a.pool?.id as string);
      expect(p, 'the seat is in one of the product pools').toBeDefined();
      if (p?.site) expect(site.get(id)).toBe(p.site);
    }

    /** Checks invariants 1-3 through the API and the store; returns each user's assignment. */
    const checkInvariants = async (expectedActive: number) => {
      const listed = await api('GET', '/api/v1/pools?product=P&limit=200');
      expect(listed.status, listed.raw).toBe(200);
      const stored = await storedAssignments(tenantId);
      const activeByPool = new Map<string, number>();
      const perUser = new Map<string, number>();
      for (const r of stored) {
        perUser.set(r.user_id, (perUser.get(r.user_id) ?? 0) + 1);
        if (r.state === 'active')
          activeByPool.set(r.pool_id as string, (activeByPool.get(r.pool_id as string) ?? 0) + 1);
      }
      // No user holds two assignments (hence two active seats) of P.
      expect([...perUser.values()].filter((n) => n > 1)).toEqual([]);
      let used = 0;
      for (const p of listed.body.items) {
        expect(p.used, `pool ${p.name}: used vs active assignments`).toBe(activeByPool.get(p.id) ?? 0);
        expect(p.used).toBeLessThanOrEqual(p.capacity);
        used += p.used;
      }
      expect(used).toBe(expectedActive);
      expect(stored.filter((r) => r.state === 'active')).toHaveLength(expectedActive);
      return listed.body.items as {
        id: string;
        name: string;
        used: number;
        capacity: number;
        waitlisted: number;
      }[];
    };

    const poolsAfter = await checkInvariants(250);
    for (const p of poolsAfter) expect(p.used, p.name).toBe(p.capacity);

    // The API view of every user agrees: one assignment of P each, as answered at onboarding.
    const ids = [...firstState.keys()];
    const views = await inWaves(ids, 100, async (id) => {
      const res = await api('GET', `/api/v1/users/${id}/licenses`);
      expect(res.status, res.raw).toBe(200);
      return [id, res.body.items as Assignment[]] as const;
    });
    for (const [id, items] of views) {
      expect(items).toHaveLength(1);
      expect(items[0]).toEqual(firstState.get(id));
    }

    // Group commit statistics, for the record (batches > 1 are asserted in the REST onboarding tests: with
    // client and server in one process, SQLite's synchronous commits pace the client's requests).
    const metrics = await call(ADMIN_TOKEN, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    const metric = (re: RegExp) =>
      Number(
        metrics.raw
          .split('\n')
          .find((l) => re.test(l))
          ?.trim()
          .split(/\s+/)
          .at(-1),
      );
    const batches = metric(/^roster_group_commit_batch_size_count(\{\})?\s/);
    const works = metric(/^roster_group_commit_batch_size_sum(\{\})?\s/);
    expect(works).toBeGreaterThanOrEqual(N);
    expect(metrics.raw).toMatch(/^roster_group_commit_wait_seconds_count(\{\})? \d+/m);

    const onboardedAt = performance.now();

    // ---- offboard 100 active users whose seats any waiter may take (country and unscoped pools)
    const openPools = new Set(poolsAfter.filter((p) => !pools.get(p.id)?.site).map((p) => p.id));
    const leavers = ids.filter((id) => {
      const a = firstState.get(id) as Assignment;
      return a.state === 'active' && openPools.has(a.pool?.id as string);
    });
    expect(leavers.length).toBeGreaterThanOrEqual(100);
    // Take them from every such pool, not only the first.
    const byPool = new Map<string, string[]>();
    for (const id of leavers) {
      const poolId = firstState.get(id)?.pool?.id as string;
      byPool.set(poolId, [...(byPool.get(poolId) ?? []), id]);
    }
    const chosen: string[] = [];
    for (let round = 0; chosen.length < 100; round++) {
      for (const members of byPool.values()) {
        const id = members[round];
        if (id !== undefined && chosen.length < 100) chosen.push(id);
      }
    }
    expect(chosen).toHaveLength(100);
    expect(new Set(chosen.map((id) => firstState.get(id)?.pool?.id)).size).toBe(openPools.size);

    const offboardOne = (id: string) => api('POST', `/api/v1/users/${id}/offboard`);
    const offs = await settle('offboardings', await Promise.all(chosen.map(offboardOne)), 200, (i) =>
      offboardOne(chosen[i] as string),
    );
    for (const o of offs) expect(o.body.user.status).toBe('deprovisioned');

    const waitersByAge = ids
      .filter((id) => firstState.get(id)?.state === 'waitlisted')
      .sort(
        (a, b) =>
          (firstState.get(a)?.waitlistPosition as number) - (firstState.get(b)?.waitlistPosition as number),
      );
    const expectedPromoted = new Set(waitersByAge.slice(0, 100));
    const stateNow = async () => {
      const now = new Map<string, Assignment | undefined>();
      const all = await inWaves(ids, 100, async (id) => {
        const res = await api('GET', `/api/v1/users/${id}/licenses`);
        expect(res.status, res.raw).toBe(200);
        return [id, (res.body.items as Assignment[])[0]] as const;
      });
      for (const [id, a] of all) now.set(id, a);
      return now;
    };
    const afterOff = await stateNow();
    for (const id of chosen) expect(afterOff.get(id)).toBeUndefined();
    const promoted = waitersByAge.filter((id) => afterOff.get(id)?.state === 'active');
    expect(promoted).toHaveLength(100);
    // Exactly the 100 oldest waiters, every one of whom those pools may serve.
    expect(promoted.filter((id) => !expectedPromoted.has(id))).toEqual([]);
    for (const id of promoted) expect(openPools.has(afterOff.get(id)?.pool?.id as string)).toBe(true);
    // Everybody else kept their seat or their place.
    for (const id of ids) {
      if (chosen.includes(id) || expectedPromoted.has(id)) continue;
      expect(afterOff.get(id)).toEqual(firstState.get(id));
    }
    const poolsAfterOff = await checkInvariants(250);
    for (const p of poolsAfterOff) expect(p.used, p.name).toBe(p.capacity);

    // ---- offboard site-pool holders: their seats may only go to waiters of the same site, oldest first
    const siteHolders = (s: string) =>
      ids.filter((id) => {
        const a = afterOff.get(id);
        return a?.state === 'active' && pools.get(a.pool?.id as string)?.site === s;
      });
    const berLeavers = siteHolders('ber').slice(0, 20);
    const hamLeavers = siteHolders('ham').slice(0, 15);
    expect(berLeavers).toHaveLength(20);
    expect(hamLeavers).toHaveLength(15);
    const stillWaiting = waitersByAge.filter((id) => afterOff.get(id)?.state === 'waitlisted');
    const oldestBer = stillWaiting.filter((id) => site.get(id) === 'ber').slice(0, 20);
    const oldestHam = stillWaiting.filter((id) => site.get(id) === 'ham').slice(0, 15);
    const siteLeavers = [...berLeavers, ...hamLeavers];
    await settle('site offboardings', await Promise.all(siteLeavers.map(offboardOne)), 200, (i) =>
      offboardOne(siteLeavers[i] as string),
    );
    const afterSite = await stateNow();
    const promoted2 = stillWaiting.filter((id) => afterSite.get(id)?.state === 'active');
    expect(promoted2.filter((id) => site.get(id) === 'ber').sort()).toEqual([...oldestBer].sort());
    expect(promoted2.filter((id) => site.get(id) === 'ham').sort()).toEqual([...oldestHam].sort());
    for (const id of oldestBer)
      expect(pools.get(afterSite.get(id)?.pool?.id as string)?.name).toBe('ber-site');
    for (const id of oldestHam)
      expect(pools.get(afterSite.get(id)?.pool?.id as string)?.name).toBe('ham-site');
    await checkInvariants(250);

    const finished = performance.now();
    console.info(
      `[${kind}] 1,000 onboardings over HTTP: ${Math.round(onboardedAt - started)} ms (with checks); ` +
        `offboarding rounds: ${Math.round(finished - onboardedAt)} ms; ${works} works in ${batches} group-commit batches`,
    );
  }, 600_000);

  it('concurrent onboardings asking for the same products in different orders all succeed', async () => {
    // Seats are taken in the order asked; group-committed batches running side by side then lock the
    // products' pools in different orders. A database deadlock is the committer's to retry (it says so);
    // the caller asked for nothing wrong and must not see a conflict.
    const { tenantId, token } = await t().newTenant();
    const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      call(token, method, path, body, headers);
    const skus = ['A', 'B', 'C'];
    const orders = [
      ['A', 'B', 'C'],
      ['C', 'B', 'A'],
      ['B', 'C', 'A'],
      ['A', 'C', 'B'],
    ];
    for (const sku of skus) {
      expect((await api('POST', '/api/v1/products', { sku, name: sku })).status).toBe(201);
      expect((await api('POST', '/api/v1/pools', { product: sku, name: sku, capacity: 1000 })).status).toBe(
        201,
      );
    }
    const n = 400;
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        api(
          'POST',
          '/api/v1/onboardings',
          {
            user: { userName: `order-${i}@load.test`, location: BER },
            products: orders[i % orders.length],
          },
          { 'idempotency-key': `order-${i}` },
        ),
      ),
    );
    const refused = answers.filter((a) => a.status !== 201);
    expect(
      refused.map((a) => `${a.status} ${a.raw}`).slice(0, 3),
      `${refused.length} of ${n} not 201`,
    ).toEqual([]);
    const stored = await storedAssignments(tenantId);
    expect(stored.filter((r) => r.state === 'active')).toHaveLength(skus.length * (n - refused.length));
    // Refused ones left nothing behind.
    const users = new Set(stored.map((r) => r.user_id));
    expect(users.size).toBe(n - refused.length);
  }, 300_000);

  it('concurrent requests to assign one product to one user give one seat: one 201, the rest 200', async () => {
    const { tenantId, token } = await t().newTenant();
    const api = (method: string, path: string, body?: unknown) => call(token, method, path, body);
    expect((await api('POST', '/api/v1/products', { sku: 'P', name: 'P' })).status).toBe(201);
    const pool = await api('POST', '/api/v1/pools', { product: 'P', name: 'p', capacity: 5 });
    const user = await api('POST', '/api/v1/users', { userName: 'twice@load.test', location: BER });
    expect(user.status).toBe(201);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () =>
        api('POST', `/api/v1/users/${user.body.id}/licenses`, { product: 'P' }),
      ),
    );
    const statuses = answers.map((a) => a.status).sort((a, b) => a - b);
    expect(statuses, answers.find((a) => a.status >= 300)?.raw).toEqual([...Array(19).fill(200), 201]);
    for (const a of answers) expect(a.body).toEqual(answers[0]?.body);
    expect((await api('GET', `/api/v1/pools/${pool.body.id}`)).body).toMatchObject({ used: 1 });
    expect(await storedAssignments(tenantId)).toHaveLength(1);
  }, 120_000);

  it('concurrent offboardings and releases of one holder free one seat once: one waiter served, used stays true', async () => {
    const { tenantId, token } = await t().newTenant();
    const api = (method: string, path: string, body?: unknown) => call(token, method, path, body);
    expect((await api('POST', '/api/v1/products', { sku: 'P', name: 'P' })).status).toBe(201);
    const pool = await api('POST', '/api/v1/pools', { product: 'P', name: 'p', capacity: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const u = await api('POST', '/api/v1/users', { userName: `holder-${i}@load.test`, location: BER });
      expect(u.status).toBe(201);
      expect((await api('POST', `/api/v1/users/${u.body.id}/licenses`, { product: 'P' })).status).toBe(201);
      ids.push(u.body.id);
    }
    // Two holders, six waiters.
    const [first, second, ...waiters] = ids as [string, string, ...string[]];
    const answers = await Promise.all([
      ...Array.from({ length: 6 }, () => api('POST', `/api/v1/users/${first}/offboard`)),
      ...Array.from({ length: 6 }, () => api('DELETE', `/api/v1/users/${second}/licenses/P`)),
    ]);
    expect(answers.filter((a) => a.status >= 500).map((a) => a.raw)).toEqual([]);
    // Each holder let go of one seat, so exactly the two oldest waiters hold seats now.
    const stored = await storedAssignments(tenantId);
    const active = stored.filter((r) => r.state === 'active').map((r) => r.user_id);
    const p = await api('GET', `/api/v1/pools/${pool.body.id}`);
    // Never more active than capacity, and used counts them.
    expect(p.body.used, `used vs ${active.length} active assignments`).toBe(active.length);
    expect(active.length).toBeLessThanOrEqual(2);
    expect(active.sort()).toEqual([waiters[0], waiters[1]].sort());
    expect(p.body).toMatchObject({ used: 2, capacity: 2, waitlisted: 4 });
    // Releasing a license that is gone is a 404: only one of the concurrent releases did it.
    expect(answers.slice(6).filter((a) => a.status === 204)).toHaveLength(1);
    expect(answers.slice(6).filter((a) => a.status === 404)).toHaveLength(5);
  }, 120_000);

  it('50 concurrent requests under one idempotency key create one user and get identical answers', async () => {
    const { token } = await t().newTenant();
    const api = (method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      call(token, method, path, body, headers);
    expect((await api('POST', '/api/v1/products', { sku: 'P', name: 'P' })).status).toBe(201);
    const pool = await api('POST', '/api/v1/pools', { product: 'P', name: 'p', capacity: 10 });
    expect(pool.status).toBe(201);

    const body = {
      user: { userName: 'only-once@load.test', displayName: 'Only Once', location: BER },
      products: ['P'],
    };
    const answers = await Promise.all(
      Array.from({ length: 50 }, () =>
        api('POST', '/api/v1/onboardings', body, { 'idempotency-key': 'one-key-for-all' }),
      ),
    );
    const first = answers[0] as Reply;
    expect(first.status, first.raw).toBe(201);
    for (const a of answers) {
      expect(a.status).toBe(first.status);
      expect(a.raw).toBe(first.raw);
    }
    const users = await api('GET', '/api/v1/users?limit=200');
    expect(users.body.items).toHaveLength(1);
    expect(users.body.items[0].id).toBe(first.body.user.id);
    const p = await api('GET', `/api/v1/pools/${pool.body.id}`);
    expect(p.body).toMatchObject({ used: 1, waitlisted: 0 });
    // And later, one more replay answers the same.
    const later = await api('POST', '/api/v1/onboardings', body, { 'idempotency-key': 'one-key-for-all' });
    expect(later.status).toBe(201);
    expect(later.raw).toBe(first.raw);
  }, 120_000);
});
