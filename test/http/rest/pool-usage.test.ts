import { expect, it } from 'vitest';
import { type App, buildApp } from '../../../src/main.js';
import { loadConfig } from '../../../src/platform/config.js';
import { createLogger } from '../../../src/platform/logging.js';
import { ShiftingClock } from '../../integration/crypto/rotation-fixtures.js';
import { ADMIN_TOKEN, type Client, clientFor, testEnv, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * A pool's utilisation history: the sampler (`LicenseService.sampleUsage`, driven here with chosen instants)
 * writes a pool's counters to `pool_usage` only when they changed since its latest row, and
 * GET /api/v1/products/{sku}/usage reads them back per pool, starting with the value in force at `since`.
 */

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

interface Point {
  at: string;
  capacity: number;
  used: number;
  waitlisted: number;
}

const iso = (ms: number) => new Date(ms).toISOString();
const q = (ms: number) => encodeURIComponent(iso(ms));

describeEachStore('REST pool usage history', (kind) => {
  const clock = new ShiftingClock();
  // Hourly sampling: the app's own timer never fires during the file, the tests sample themselves.
  const t = useTestApp(kind, { ROSTER_USAGE_SAMPLE_INTERVAL: '3600' }, { clock });
  // Instants well after anything the app's start-up round wrote, on the hour.
  const T0 = Math.ceil(Date.now() / HOUR) * HOUR + 2 * DAY;
  let seq = 0;

  const sample = (ms: number) => t().app.services.licenses.sampleUsage(new Date(ms));

  async function setup(capacity = 2, sku = 'P') {
    const tenant = await t().newTenant();
    const { api } = tenant;
    expect((await api.post('/api/v1/products', { sku, name: `Product ${sku}` })).status).toBe(201);
    const pool = await api.post('/api/v1/pools', { product: sku, name: 'main', capacity });
    expect(pool.status, pool.raw).toBe(201);
    return { ...tenant, poolId: pool.body.id as string, version: pool.body.version as number };
  }

  async function user(api: Client): Promise<string> {
    const res = await api.post('/api/v1/users', { userName: `usage-${++seq}@usage.test` });
    expect(res.status, res.raw).toBe(201);
    return res.body.id;
  }

  async function assign(api: Client, userId: string, sku = 'P') {
    const res = await api.post(`/api/v1/users/${userId}/licenses`, { product: sku });
    expect(res.status, res.raw).toBe(201);
  }

  async function usage(api: Client, sku: string, since: number, until: number) {
    const res = await api.get(`/api/v1/products/${sku}/usage?since=${q(since)}&until=${q(until)}`);
    expect(res.status, res.raw).toBe(200);
    return res.body as {
      product: string;
      since: string;
      until: string;
      pools: { id: string; name: string; capacity: number; utilisationCap: number; items: Point[] }[];
    };
  }

  async function itemsOf(api: Client, since: number, until: number, sku = 'P'): Promise<Point[]> {
    const body = await usage(api, sku, since, until);
    expect(body.pools).toHaveLength(1);
    return body.pools[0]?.items ?? [];
  }

  it('writes a row only when a counter changed, at the sampling instant', async () => {
    const { api, poolId } = await setup(1);
    const first = await sample(T0 + 5 * 60_000);
    expect(first.at).toBe(iso(T0));
    expect(first.written).toBeGreaterThanOrEqual(1);
    // Nothing changed: no row, however often it samples.
    await sample(T0 + HOUR);
    await sample(T0 + 2 * HOUR + 1);
    expect(await itemsOf(api, T0 - HOUR, T0 + 3 * HOUR)).toEqual([
      { at: iso(T0), capacity: 1, used: 0, waitlisted: 0 },
    ]);

    // A seat taken, then someone waiting, then more capacity: each change is a row.
    await assign(api, await user(api));
    await sample(T0 + 3 * HOUR);
    await assign(api, await user(api));
    await sample(T0 + 4 * HOUR);
    await sample(T0 + 5 * HOUR);
    const raised = await api.patch(`/api/v1/pools/${poolId}`, { capacity: 3 });
    expect(raised.status, raised.raw).toBe(200);
    await sample(T0 + 6 * HOUR);
    // The same instant again (another node, or a restart within the interval) writes nothing twice.
    await sample(T0 + 6 * HOUR + 59 * 60_000);
    const body = await usage(api, 'p', T0 - HOUR, T0 + 7 * HOUR);
    expect(body).toMatchObject({ product: 'P', since: iso(T0 - HOUR), until: iso(T0 + 7 * HOUR) });
    expect(body.pools).toEqual([
      {
        id: poolId,
        name: 'main',
        capacity: 3,
        utilisationCap: 90,
        items: [
          { at: iso(T0), capacity: 1, used: 0, waitlisted: 0 },
          { at: iso(T0 + 3 * HOUR), capacity: 1, used: 1, waitlisted: 0 },
          { at: iso(T0 + 4 * HOUR), capacity: 1, used: 1, waitlisted: 1 },
          { at: iso(T0 + 6 * HOUR), capacity: 3, used: 2, waitlisted: 0 },
        ],
      },
    ]);
    // A sampler whose clock lags behind the latest row writes nothing (history never goes back in time).
    await api.patch(`/api/v1/pools/${poolId}`, { capacity: 4 });
    await sample(T0 + 2 * HOUR);
    expect(await itemsOf(api, T0 - HOUR, T0 + 7 * HOUR)).toHaveLength(4);
  });

  it('starts each pool with the value in force at since, shown at since', async () => {
    const { api } = await setup(2);
    await sample(T0 + 10 * HOUR);
    await assign(api, await user(api));
    await sample(T0 + 12 * HOUR);

    expect(await itemsOf(api, T0 + 11 * HOUR, T0 + 13 * HOUR)).toEqual([
      { at: iso(T0 + 11 * HOUR), capacity: 2, used: 0, waitlisted: 0 },
      { at: iso(T0 + 12 * HOUR), capacity: 2, used: 1, waitlisted: 0 },
    ]);
    // A row exactly at since is that value: nothing is carried in before it.
    expect(await itemsOf(api, T0 + 12 * HOUR, T0 + 13 * HOUR)).toEqual([
      { at: iso(T0 + 12 * HOUR), capacity: 2, used: 1, waitlisted: 0 },
    ]);
    // No row in the range: only the value in force.
    expect(await itemsOf(api, T0 + 20 * HOUR, T0 + 21 * HOUR)).toEqual([
      { at: iso(T0 + 20 * HOUR), capacity: 2, used: 1, waitlisted: 0 },
    ]);
    // Before the first row: nothing.
    expect(await itemsOf(api, T0, T0 + 9 * HOUR)).toEqual([]);
    // until is inclusive.
    expect((await itemsOf(api, T0, T0 + 10 * HOUR)).map((p) => p.at)).toEqual([iso(T0 + 10 * HOUR)]);
  });

  it('lists every pool of the product, with its cap, and a pool never sampled with no items', async () => {
    const { api } = await setup(4);
    const second = await api.post('/api/v1/pools', {
      product: 'P',
      name: 'second',
      capacity: 10,
      utilisationCap: 75,
    });
    expect(second.status, second.raw).toBe(201);
    const body = await usage(api, 'P', T0 - HOUR, T0);
    expect(body.pools.map((p) => [p.name, p.capacity, p.utilisationCap, p.items])).toEqual([
      ['main', 4, 90, []],
      ['second', 10, 75, []],
    ]);
    // A product without pools answers with none.
    expect((await api.post('/api/v1/products', { sku: 'EMPTY', name: 'Empty' })).status).toBe(201);
    expect((await usage(api, 'EMPTY', T0 - HOUR, T0)).pools).toEqual([]);
  });

  it('defaults to the 24 hours up to now', async () => {
    const { api } = await setup();
    const res = await api.get('/api/v1/products/P/usage');
    expect(res.status, res.raw).toBe(200);
    const until = Date.parse(res.body.until);
    expect(Math.abs(until - clock.now().getTime())).toBeLessThan(5_000);
    expect(until - Date.parse(res.body.since)).toBe(DAY);
    // since alone: up to now; until alone: the day before it.
    const fromSince = await api.get(`/api/v1/products/P/usage?since=${q(clock.now().getTime() - HOUR)}`);
    expect(fromSince.status, fromSince.raw).toBe(200);
    const toUntil = await api.get(`/api/v1/products/P/usage?until=${q(T0)}`);
    expect(toUntil.body).toMatchObject({ since: iso(T0 - DAY), until: iso(T0) });
  });

  it('refuses a reversed, empty or too long range and bad instants with 400 problems', async () => {
    const { api } = await setup();
    for (const query of [
      `since=${q(T0)}&until=${q(T0 - 1000)}`,
      `since=${q(T0)}&until=${q(T0)}`,
      `since=${q(T0 - 400 * DAY - 1)}&until=${q(T0)}`,
      `since=${q(T0 + HOUR)}&until=${q(T0)}`,
      'since=yesterday',
      'until=2026-13-01T00:00:00Z',
      'from=2026-01-01T00:00:00Z',
    ]) {
      const res = await api.get(`/api/v1/products/P/usage?${query}`);
      expect(res.status, `${query}: ${res.raw}`).toBe(400);
      expect(String(res.headers['content-type'])).toContain('application/problem+json');
      expect(res.body.code, query).toBe('request.invalid_parameter');
    }
    // Exactly 400 days is allowed.
    const longest = await api.get(`/api/v1/products/P/usage?since=${q(T0 - 400 * DAY)}&until=${q(T0)}`);
    expect(longest.status, longest.raw).toBe(200);
  });

  it("answers 404 for an unknown SKU and for another tenant's SKU; needs pools:read", async () => {
    const a = await setup(1, 'MINE');
    const b = await setup(1, 'THEIRS');
    await sample(T0 + 30 * HOUR);
    for (const path of ['/api/v1/products/NOPE/usage', '/api/v1/products/THEIRS/usage']) {
      const res = await a.api.get(path);
      expect(res.status, res.raw).toBe(404);
      expect(String(res.headers['content-type'])).toContain('application/problem+json');
      expect(res.body.code).toBe('licenses.product_not_found');
    }
    // Each sees its own history only.
    const mine = await usage(a.api, 'mine', T0, T0 + 31 * HOUR);
    expect(mine.pools.map((p) => p.id)).toEqual([a.poolId]);
    expect((await usage(b.api, 'THEIRS', T0, T0 + 31 * HOUR)).pools.map((p) => p.id)).toEqual([b.poolId]);
    // The platform token acts on a tenant only through Roster-Tenant.
    const viaAdmin = await t().admin.get(
      `/api/v1/products/MINE/usage?since=${q(T0)}&until=${q(T0 + 31 * HOUR)}`,
      { 'roster-tenant': a.tenantId },
    );
    expect(viaAdmin.status, viaAdmin.raw).toBe(200);
    expect(viaAdmin.body.pools).toEqual(mine.pools);
    expect((await t().client(undefined).get('/api/v1/products/MINE/usage')).status).toBe(401);
    // A SKU that cannot be one is a bad parameter.
    expect((await a.api.get('/api/v1/products/-bad/usage')).status).toBe(400);
  });

  it('answers at most the newest 10000 rows of a pool, then with nothing carried in', async () => {
    const { api, poolId, tenantId } = await setup(5);
    const base = T0 + 60 * DAY;
    const row = (i: number) => ({
      tenant_id: tenantId,
      pool_id: poolId,
      at: iso(base + i * 60_000),
      capacity: 5,
      used: i % 5,
      waitlisted: 0,
    });
    const db = t().app.db.kysely;
    for (let from = 0; from < 10_002; from += 500) {
      const chunk = Array.from({ length: Math.min(500, 10_002 - from) }, (_, k) => row(from + k));
      await db.insertInto('pool_usage').values(chunk).execute();
    }
    // Rows 1..10001 lie in the range, row 0 before it: the newest 10000 are 2..10001.
    const items = await itemsOf(api, base + 30_000, base + 10_001 * 60_000);
    expect(items).toHaveLength(10_000);
    expect(items[0]).toEqual({ at: iso(base + 2 * 60_000), capacity: 5, used: 2, waitlisted: 0 });
    expect(items.at(-1)?.at).toBe(iso(base + 10_001 * 60_000));
    // Within the bound, the value in force is carried in as usual.
    const fewer = await itemsOf(api, base + 30_000, base + 9_000 * 60_000);
    expect(fewer).toHaveLength(9_001);
    expect(fewer[0]).toEqual({ at: iso(base + 30_000), capacity: 5, used: 0, waitlisted: 0 });
  });

  it("deletes a pool's history with the pool", async () => {
    const { api, poolId, version } = await setup(3);
    await sample(T0 + 40 * HOUR);
    await api.patch(`/api/v1/pools/${poolId}`, { capacity: 5 });
    await sample(T0 + 41 * HOUR);
    const rows = () =>
      t().app.db.kysely.selectFrom('pool_usage').select('at').where('pool_id', '=', poolId).execute();
    expect(await rows()).toHaveLength(2);
    expect(version).toBe(1);
    const gone = await api.delete(`/api/v1/pools/${poolId}`);
    expect(gone.status, gone.raw).toBe(204);
    expect(await rows()).toEqual([]);
    expect((await usage(api, 'P', T0, T0 + 42 * HOUR)).pools).toEqual([]);
    // Sampling again does not bring it back.
    await sample(T0 + 42 * HOUR);
    expect(await rows()).toEqual([]);
  });

  // Two apps in one process cannot share a SQLite file (a synchronous driver waiting for the write lock
  // blocks the very thread that holds it); several nodes share a PostgreSQL store.
  if (kind === 'postgres') {
    it('a second node on the same store serves the same history; both sampling one instant write it once', async () => {
      const { api, poolId, tenantId } = await setup(2);
      await sample(T0 + 50 * HOUR);
      const store = t().store;
      const other: App = await buildApp(
        loadConfig(testEnv(store, { ROSTER_USAGE_SAMPLE_INTERVAL: '3600' })),
        { logger: createLogger('silent'), clock },
      );
      try {
        await assign(api, await user(api));
        const [x, y] = await Promise.all([
          sample(T0 + 51 * HOUR),
          other.services.licenses.sampleUsage(new Date(T0 + 51 * HOUR + 1000)),
        ]);
        expect(x.at).toBe(y.at);
        const range = `since=${q(T0 + 49 * HOUR)}&until=${q(T0 + 52 * HOUR)}`;
        const there = await clientFor(other, ADMIN_TOKEN).get(`/api/v1/products/P/usage?${range}`, {
          'roster-tenant': tenantId,
        });
        expect(there.status, there.raw).toBe(200);
        const here = await api.get(`/api/v1/products/P/usage?${range}`);
        expect(there.body).toEqual(here.body);
        expect(here.body.pools[0].id).toBe(poolId);
        expect(here.body.pools[0].items.map((p: Point) => [p.at, p.used])).toEqual([
          [iso(T0 + 50 * HOUR), 0],
          [iso(T0 + 51 * HOUR), 1],
        ]);
      } finally {
        await other.close();
      }
    });
  }
});

describeEachStore('REST pool usage sampler and retention', (kind) => {
  const clock = new ShiftingClock();
  const t = useTestApp(
    kind,
    { ROSTER_USAGE_SAMPLE_INTERVAL: '1', ROSTER_USAGE_RETENTION_DAYS: '1' },
    { clock },
  );

  async function setup() {
    const { api } = await t().newTenant();
    expect((await api.post('/api/v1/products', { sku: 'S', name: 'S' })).status).toBe(201);
    const pool = await api.post('/api/v1/pools', { product: 'S', name: 'p', capacity: 1 });
    expect(pool.status, pool.raw).toBe(201);
    return { api, poolId: pool.body.id as string };
  }

  const rowsOf = (poolId: string) =>
    t()
      .app.db.kysely.selectFrom('pool_usage')
      .select(['at', 'used'])
      .where('pool_id', '=', poolId)
      .orderBy('at')
      .execute();

  it('samples by itself every ROSTER_USAGE_SAMPLE_INTERVAL', async () => {
    const { api, poolId } = await setup();
    await expect.poll(() => rowsOf(poolId), { timeout: 5_000, interval: 200 }).toHaveLength(1);
    const res = await api.get('/api/v1/products/S/usage');
    expect(res.status, res.raw).toBe(200);
    expect(res.body.pools[0].items).toHaveLength(1);
    expect(res.body.pools[0].items[0]).toMatchObject({ capacity: 1, used: 0, waitlisted: 0 });
    // Whole seconds: the instant is the sampling time truncated to the interval.
    expect(res.body.pools[0].items[0].at).toMatch(/:\d\d\.000Z$/);
  });

  it('deletes rows past the retention; a quiet pool then gets a fresh row', async () => {
    const { poolId } = await setup();
    const T = Math.ceil(Date.now() / 1000) * 1000 + 10 * 86_400_000;
    await t().app.services.licenses.sampleUsage(new Date(T));
    // (The app's own 1 s rounds may have written a row at the real time meanwhile: older, and purged below.)
    expect((await rowsOf(poolId)).map((r) => r.at).filter((at) => at >= iso(T))).toEqual([iso(T)]);
    // Two days later, with a retention of one day: the old row goes, the pool's counters are written anew.
    const later = await t().app.services.licenses.sampleUsage(new Date(T + 2 * 86_400_000));
    expect(later.purged).toBeGreaterThanOrEqual(1);
    expect((await rowsOf(poolId)).map((r) => r.at)).toEqual([iso(T + 2 * 86_400_000)]);
  });
});
