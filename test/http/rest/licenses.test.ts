import { describe, expect, it } from 'vitest';
import type { Client } from '../../support/app.js';
import { useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * Products, pools and direct license assignments over the REST API: the contract of the license-seat
 * issue (paths, fields, statuses), allocation order, waitlist FIFO with location eligibility, seat release
 * on deactivation and deletion, audit entries, and the seat invariants.
 */

const UNKNOWN = '01890000-0000-7000-8000-000000000000';
const HOME = { site: 'ber', country: 'DE' };

interface Loc {
  site?: string;
  country?: string;
}

interface Entry {
  seq: number;
  action: string;
  target: { type: string; id: string | null };
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

describeEachStore('REST licenses', (kind) => {
  const t = useTestApp(kind);
  let seq = 0;

  async function product(api: Client, sku: string, name = `Product ${sku}`) {
    const res = await api.post('/api/v1/products', { sku, name });
    expect(res.status, res.raw).toBe(201);
    return res.body as { id: string; sku: string; name: string };
  }

  async function pool(
    api: Client,
    body: { product: string; name: string; capacity: number; location?: Loc | null; priority?: number },
  ) {
    const res = await api.post('/api/v1/pools', body);
    expect(res.status, res.raw).toBe(201);
    return res.body as { id: string; name: string };
  }

  /** A new active user, by default at site ber in DE (`null`: no location at all). */
  async function user(api: Client, location: Loc | null = HOME, extra: Record<string, unknown> = {}) {
    const n = ++seq;
    const res = await api.post('/api/v1/users', {
      userName: `user-${n}@licenses.test`,
      ...(location ? { location } : {}),
      ...extra,
    });
    expect(res.status, res.raw).toBe(201);
    return res.body.id as string;
  }

  async function assign(api: Client, userId: string, sku: string) {
    const res = await api.post(`/api/v1/users/${userId}/licenses`, { product: sku });
    expect(res.status, res.raw).toBe(201);
    return res.body;
  }

  async function licenses(api: Client, userId: string) {
    const res = await api.get(`/api/v1/users/${userId}/licenses`);
    expect(res.status, res.raw).toBe(200);
    return res.body.items as {
      product: string;
      state: string;
      source: string;
      pool?: { id: string; name: string };
      waitlistPosition?: number;
    }[];
  }

  async function getPool(api: Client, id: string) {
    const res = await api.get(`/api/v1/pools/${id}`);
    expect(res.status, res.raw).toBe(200);
    return res.body;
  }

  async function allEntries(api: Client): Promise<Entry[]> {
    const out: Entry[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const res = await api.get(
        `/api/v1/audit/entries?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status, res.raw).toBe(200);
      out.push(...res.body.items);
      cursor = res.body.nextCursor;
      if (cursor === undefined) return out;
    }
    throw new Error('audit paging did not end');
  }

  /** Invariants 1-3 over the API: used equals active holders per pool, never above capacity, one per user. */
  async function expectInvariants(api: Client, sku: string, userIds: readonly string[]) {
    const active = new Map<string, number>();
    for (const id of userIds) {
      const items = (await licenses(api, id)).filter((a) => a.product.toUpperCase() === sku.toUpperCase());
      expect(items.length).toBeLessThanOrEqual(1);
      for (const a of items) {
        if (a.state === 'active') {
          expect(a.pool).toBeDefined();
          active.set(a.pool?.id as string, (active.get(a.pool?.id as string) ?? 0) + 1);
        }
      }
    }
    const pools = await api.get(`/api/v1/pools?product=${encodeURIComponent(sku)}&limit=200`);
    expect(pools.status, pools.raw).toBe(200);
    for (const p of pools.body.items) {
      expect(p.used, `pool ${p.name}`).toBe(active.get(p.id) ?? 0);
      expect(p.used).toBeLessThanOrEqual(p.capacity);
    }
  }

  describe('products', () => {
    it('creates and lists products; SKUs are unique per tenant, case-insensitively', async () => {
      const { api } = await t().newTenant();
      const created = await api.post('/api/v1/products', { sku: 'M365-E3', name: 'Microsoft 365 E3' });
      expect(created.status, created.raw).toBe(201);
      expect(created.body).toMatchObject({ sku: 'M365-E3', name: 'Microsoft 365 E3' });
      expect(typeof created.body.id).toBe('string');

      const dup = await api.post('/api/v1/products', { sku: 'm365-e3', name: 'Another' });
      expect(dup.status, dup.raw).toBe(409);
      expect(dup.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(dup.body.code).toBe('licenses.sku_taken');

      await product(api, 'ADOBE-CC');
      const list = await api.get('/api/v1/products');
      expect(list.status, list.raw).toBe(200);
      expect(list.body.items.map((p: { sku: string }) => p.sku).sort()).toEqual(['ADOBE-CC', 'M365-E3']);
      for (const p of list.body.items) expect(p).toMatchObject({ waitlisted: 0, oldestWaitSince: null });

      // Another tenant has its own SKU namespace.
      const other = await t().newTenant();
      expect((await other.api.post('/api/v1/products', { sku: 'M365-E3', name: 'x' })).status).toBe(201);
      const otherList = await other.api.get('/api/v1/products');
      expect(otherList.body.items.map((p: { sku: string }) => p.sku)).toEqual(['M365-E3']);
    });
  });

  describe('pools', () => {
    it('creates a pool and reads it back with every contract field', async () => {
      const { api } = await t().newTenant();
      await product(api, 'VISIO');
      const res = await api.post('/api/v1/pools', {
        product: 'visio',
        name: 'Berlin',
        capacity: 7,
        location: { site: 'ber-1', country: 'DE' },
        priority: 5,
      });
      expect(res.status, res.raw).toBe(201);
      expect(res.body).toMatchObject({
        name: 'Berlin',
        product: 'VISIO',
        capacity: 7,
        used: 0,
        waitlisted: 0,
        location: { site: 'ber-1', country: 'DE' },
        priority: 5,
      });
      const read = await getPool(api, res.body.id);
      expect(read).toMatchObject({
        id: res.body.id,
        name: 'Berlin',
        product: 'VISIO',
        capacity: 7,
        used: 0,
        waitlisted: 0,
        location: { site: 'ber-1', country: 'DE' },
        priority: 5,
      });

      const plain = await pool(api, { product: 'VISIO', name: 'Anywhere', capacity: 3 });
      const plainRead = await getPool(api, plain.id);
      expect(plainRead).toMatchObject({
        name: 'Anywhere',
        product: 'VISIO',
        capacity: 3,
        used: 0,
        waitlisted: 0,
      });
      expect(typeof plainRead.priority).toBe('number');
      expect(plainRead.location === null || Object.values(plainRead.location).every((v) => v === null)).toBe(
        true,
      );

      const list = await api.get('/api/v1/pools');
      expect(list.status).toBe(200);
      expect(list.body.items.map((p: { id: string }) => p.id).sort()).toEqual([res.body.id, plain.id].sort());
      const byProduct = await api.get('/api/v1/pools?product=visio');
      expect(byProduct.body.items).toHaveLength(2);
    });

    it('refuses a pool of an unknown product with 422 naming the field', async () => {
      const { api } = await t().newTenant();
      const res = await api.post('/api/v1/pools', { product: 'NOPE', name: 'x', capacity: 1 });
      expect(res.status, res.raw).toBe(422);
      expect(res.body.code).toBe('licenses.unknown_product');
      expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/product']);
      // A product of another tenant is unknown too.
      const other = await t().newTenant();
      await product(other.api, 'THEIRS');
      const cross = await api.post('/api/v1/pools', { product: 'THEIRS', name: 'x', capacity: 1 });
      expect(cross.status).toBe(422);
      expect((await api.get('/api/v1/pools')).body.items).toEqual([]);
    });

    it('answers 404 for an unknown pool and for another tenant’s pool', async () => {
      const { api } = await t().newTenant();
      expect((await api.get(`/api/v1/pools/${UNKNOWN}`)).status).toBe(404);
      expect((await api.patch(`/api/v1/pools/${UNKNOWN}`, { capacity: 2 })).status).toBe(404);
      expect((await api.delete(`/api/v1/pools/${UNKNOWN}`)).status).toBe(404);
      const other = await t().newTenant();
      await product(other.api, 'X');
      const theirs = await pool(other.api, { product: 'X', name: 'p', capacity: 1 });
      expect((await api.get(`/api/v1/pools/${theirs.id}`)).status).toBe(404);
      expect((await api.patch(`/api/v1/pools/${theirs.id}`, { capacity: 5 })).status).toBe(404);
      expect((await api.delete(`/api/v1/pools/${theirs.id}`)).status).toBe(404);
      expect((await getPool(other.api, theirs.id)).capacity).toBe(1);
    });

    it('refuses lowering capacity below used (409, nobody loses a seat); lowering to used is fine', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const p = await pool(api, { product: 'P', name: 'pool', capacity: 5 });
      const holders = [await user(api), await user(api), await user(api)];
      for (const u of holders) expect((await assign(api, u, 'P')).state).toBe('active');

      const refused = await api.patch(`/api/v1/pools/${p.id}`, { capacity: 2 });
      expect(refused.status, refused.raw).toBe(409);
      expect(refused.body.code).toBe('licenses.capacity_below_used');
      expect(await getPool(api, p.id)).toMatchObject({ capacity: 5, used: 3 });
      for (const u of holders) expect((await licenses(api, u))[0]?.state).toBe('active');

      const lowered = await api.patch(`/api/v1/pools/${p.id}`, { capacity: 3 });
      expect(lowered.status, lowered.raw).toBe(200);
      expect(lowered.body).toMatchObject({ capacity: 3, used: 3 });
      // Full now: the next one waits.
      const late = await user(api);
      expect((await assign(api, late, 'P')).state).toBe('waitlisted');
      await expectInvariants(api, 'P', [...holders, late]);
    });

    it('raising capacity serves the waitlist at once, oldest first', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const p = await pool(api, { product: 'P', name: 'pool', capacity: 1 });
      const holder = await user(api);
      await assign(api, holder, 'P');
      const waiters: string[] = [];
      const positions: number[] = [];
      for (let i = 0; i < 4; i++) {
        const u = await user(api);
        const a = await assign(api, u, 'P');
        expect(a.state).toBe('waitlisted');
        expect(a.pool).toBeUndefined();
        waiters.push(u);
        positions.push(a.waitlistPosition);
      }
      // Later waiters have higher positions.
      for (let i = 1; i < positions.length; i++)
        expect(positions[i]).toBeGreaterThan(positions[i - 1] as number);
      expect(await getPool(api, p.id)).toMatchObject({ used: 1, waitlisted: 4 });
      // The product list tells the whole waitlist and since when its longest-waiting person waits.
      const waitOf = async () => {
        const list = await api.get('/api/v1/products');
        expect(list.status, list.raw).toBe(200);
        return list.body.items.find((x: { sku: string }) => x.sku === 'P') as {
          waitlisted: number;
          oldestWaitSince: string | null;
        };
      };
      const before = await waitOf();
      expect(before.waitlisted).toBe(4);
      expect(Date.parse(before.oldestWaitSince ?? '')).toBeLessThanOrEqual(Date.now());

      const raised = await api.patch(`/api/v1/pools/${p.id}`, { capacity: 3 });
      expect(raised.status, raised.raw).toBe(200);
      expect(raised.body).toMatchObject({ capacity: 3, used: 3, waitlisted: 2 });
      // The two oldest were served: the oldest wait left is a later one.
      const after = await waitOf();
      expect(after.waitlisted).toBe(2);
      expect(Date.parse(after.oldestWaitSince ?? '')).toBeGreaterThanOrEqual(
        Date.parse(before.oldestWaitSince ?? ''),
      );
      const states = [];
      for (const u of waiters) states.push((await licenses(api, u))[0]?.state);
      expect(states).toEqual(['active', 'active', 'waitlisted', 'waitlisted']);
      expect((await licenses(api, waiters[0] as string))[0]?.pool).toEqual({ id: p.id, name: 'pool' });
      await expectInvariants(api, 'P', [holder, ...waiters]);
      // Room for all: nobody waits.
      expect((await api.patch(`/api/v1/pools/${p.id}`, { capacity: 5 })).status).toBe(200);
      expect(await waitOf()).toMatchObject({ waitlisted: 0, oldestWaitSince: null });
    });

    it('a new pool serves people already waiting for its product', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const waiters = [await user(api), await user(api), await user(api)];
      for (const u of waiters) expect((await assign(api, u, 'P')).state).toBe('waitlisted');
      const p = await pool(api, { product: 'P', name: 'late', capacity: 2 });
      expect(await getPool(api, p.id)).toMatchObject({ used: 2, waitlisted: 1 });
      const states = [];
      for (const u of waiters) states.push((await licenses(api, u))[0]?.state);
      expect(states).toEqual(['active', 'active', 'waitlisted']);
    });

    it('renames, reprioritises and rescopes a pool', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const p = await pool(api, { product: 'P', name: 'old', capacity: 2, location: { country: 'DE' } });
      const res = await api.patch(`/api/v1/pools/${p.id}`, {
        name: 'new',
        priority: 7,
        location: { site: 'ber', country: 'DE' },
      });
      expect(res.status, res.raw).toBe(200);
      expect(res.body).toMatchObject({ name: 'new', priority: 7, location: { site: 'ber', country: 'DE' } });
      expect(await getPool(api, p.id)).toMatchObject({ name: 'new', priority: 7, capacity: 2 });
    });

    describe('utilisation cap', () => {
      it('defaults to 90, is set on create and changed by PATCH, and is read back everywhere', async () => {
        const { api } = await t().newTenant();
        await product(api, 'P');
        const plain = await api.post('/api/v1/pools', { product: 'P', name: 'plain', capacity: 4 });
        expect(plain.status, plain.raw).toBe(201);
        expect(plain.body.utilisationCap).toBe(90);
        const capped = await api.post('/api/v1/pools', {
          product: 'P',
          name: 'capped',
          capacity: 4,
          utilisationCap: 75,
        });
        expect(capped.status, capped.raw).toBe(201);
        expect(capped.body.utilisationCap).toBe(75);
        expect((await getPool(api, plain.body.id)).utilisationCap).toBe(90);
        expect((await getPool(api, capped.body.id)).utilisationCap).toBe(75);

        const patched = await api.patch(
          `/api/v1/pools/${capped.body.id}`,
          { utilisationCap: 95 },
          { 'if-match': capped.headers.etag as string },
        );
        expect(patched.status, patched.raw).toBe(200);
        expect(patched.body).toMatchObject({ utilisationCap: 95, capacity: 4, name: 'capped' });
        // Other changes keep the cap.
        expect((await api.patch(`/api/v1/pools/${capped.body.id}`, { capacity: 6 })).body).toMatchObject({
          capacity: 6,
          utilisationCap: 95,
        });
        const list = await api.get('/api/v1/pools?product=P');
        expect(
          list.body.items.map((p: { name: string; utilisationCap: number }) => [p.name, p.utilisationCap]),
        ).toEqual([
          ['plain', 90],
          ['capped', 95],
        ]);
        // The edges are allowed.
        expect((await api.patch(`/api/v1/pools/${plain.body.id}`, { utilisationCap: 1 })).status).toBe(200);
        expect((await api.patch(`/api/v1/pools/${plain.body.id}`, { utilisationCap: 100 })).status).toBe(200);
      });

      /** A new tenant with product P and one pool `p` of 4 seats capped at `cap` %. */
      async function cappedPool(cap: number) {
        const { api } = await t().newTenant();
        await product(api, 'P');
        const p = await api.post('/api/v1/pools', {
          product: 'P',
          name: 'p',
          capacity: 4,
          utilisationCap: cap,
        });
        expect(p.status, p.raw).toBe(201);
        return { api, p };
      }

      it('refuses a cap that is not a whole percent from 1 to 100 and changes nothing', async () => {
        const { api, p } = await cappedPool(80);
        for (const bad of [0, 101, 1.5, '90', null, -5]) {
          const created = await api.post('/api/v1/pools', {
            product: 'P',
            name: `bad-${String(bad)}`,
            capacity: 4,
            utilisationCap: bad,
          });
          expect(created.status, `create ${String(bad)}: ${created.raw}`).toBe(422);
          expect(String(created.headers['content-type'])).toContain('application/problem+json');
          expect(created.body.code).toBe('request.validation_failed');
          expect(created.body.errors.map((e: { pointer: string }) => e.pointer)).toContain('/utilisationCap');

          const patched = await api.patch(`/api/v1/pools/${p.body.id}`, { utilisationCap: bad });
          expect(patched.status, `patch ${String(bad)}: ${patched.raw}`).toBe(422);
          expect(patched.body.code).toBe('request.validation_failed');
          expect(patched.body.errors.map((e: { pointer: string }) => e.pointer)).toContain('/utilisationCap');
        }
        expect(await getPool(api, p.body.id)).toMatchObject({ utilisationCap: 80, version: p.body.version });
        expect((await api.get('/api/v1/pools')).body.items).toHaveLength(1);
      });

      it("records the cap in the pool's audit entries, before and after", async () => {
        const { api, p } = await cappedPool(70);
        expect((await api.patch(`/api/v1/pools/${p.body.id}`, { utilisationCap: 85 })).status).toBe(200);
        const about = (await allEntries(api)).filter((e) => e.target.id === p.body.id);
        const created = about.find((e) => e.action === 'pool.created');
        expect(created?.after).toMatchObject({ utilisationCap: 70, capacity: 4 });
        const updated = about.find((e) => e.action === 'pool.updated');
        expect(updated?.before).toMatchObject({ utilisationCap: 70 });
        expect(updated?.after).toMatchObject({ utilisationCap: 85 });
      });
    });

    it('refuses deleting a pool with active seats (409); deletes it once idle', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const p = await pool(api, { product: 'P', name: 'pool', capacity: 1 });
      const u = await user(api);
      await assign(api, u, 'P');
      const refused = await api.delete(`/api/v1/pools/${p.id}`);
      expect(refused.status, refused.raw).toBe(409);
      expect(refused.body.code).toBe('licenses.pool_in_use');
      expect(await getPool(api, p.id)).toMatchObject({ used: 1 });
      expect((await licenses(api, u))[0]).toMatchObject({ state: 'active', pool: { id: p.id } });

      expect((await api.delete(`/api/v1/users/${u}/licenses/P`)).status).toBe(204);
      const gone = await api.delete(`/api/v1/pools/${p.id}`);
      expect(gone.status, gone.raw).toBe(204);
      expect((await api.get(`/api/v1/pools/${p.id}`)).status).toBe(404);
    });
  });

  describe('assignments', () => {
    it('assigns (201), answers 200 for an existing assignment, lists, releases (204) and 404s a missing one', async () => {
      const { api } = await t().newTenant();
      await product(api, 'M365-E3');
      const p = await pool(api, { product: 'M365-E3', name: 'Main', capacity: 2 });
      const u = await user(api, { site: 'ber', country: 'DE' });

      const first = await api.post(`/api/v1/users/${u}/licenses`, { product: 'm365-e3' });
      expect(first.status, first.raw).toBe(201);
      expect(first.body).toEqual({
        product: 'M365-E3',
        state: 'active',
        source: 'direct',
        pool: { id: p.id, name: 'Main' },
      });
      const again = await api.post(`/api/v1/users/${u}/licenses`, { product: 'M365-E3' });
      expect(again.status, again.raw).toBe(200);
      expect(again.body).toEqual(first.body);
      expect(await getPool(api, p.id)).toMatchObject({ used: 1 });

      expect(await licenses(api, u)).toEqual([first.body]);

      const released = await api.delete(`/api/v1/users/${u}/licenses/m365-e3`);
      expect(released.status, released.raw).toBe(204);
      expect(await licenses(api, u)).toEqual([]);
      expect(await getPool(api, p.id)).toMatchObject({ used: 0 });

      const missing = await api.delete(`/api/v1/users/${u}/licenses/M365-E3`);
      expect(missing.status, missing.raw).toBe(404);
      expect((await api.delete(`/api/v1/users/${u}/licenses/NO-SUCH-SKU`)).status).toBe(404);
    });

    it('gives a waitlist place when no pool has room, and dropping it frees the place', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const p = await pool(api, { product: 'P', name: 'tiny', capacity: 1 });
      const a = await user(api, { site: 'ber', country: 'DE' });
      const b = await user(api, { site: 'ber', country: 'DE' });
      await assign(api, a, 'P');
      const waiting = await api.post(`/api/v1/users/${b}/licenses`, { product: 'P' });
      expect(waiting.status, waiting.raw).toBe(201);
      expect(waiting.body).toMatchObject({ product: 'P', state: 'waitlisted', source: 'direct' });
      expect(waiting.body.pool).toBeUndefined();
      expect(Number.isInteger(waiting.body.waitlistPosition)).toBe(true);
      expect(await licenses(api, b)).toEqual([waiting.body]);
      expect(await getPool(api, p.id)).toMatchObject({ used: 1, waitlisted: 1 });

      expect((await api.delete(`/api/v1/users/${b}/licenses/P`)).status).toBe(204);
      expect(await getPool(api, p.id)).toMatchObject({ used: 1, waitlisted: 0 });
      // Releasing the holder now serves nobody: the waitlist is empty.
      expect((await api.delete(`/api/v1/users/${a}/licenses/P`)).status).toBe(204);
      expect(await getPool(api, p.id)).toMatchObject({ used: 0, waitlisted: 0 });
      expect(await licenses(api, b)).toEqual([]);
    });

    it('a product with no pool at all waitlists', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const u = await user(api, { site: 'ber', country: 'DE' });
      const a = await assign(api, u, 'P');
      expect(a).toMatchObject({ product: 'P', state: 'waitlisted', source: 'direct' });
    });

    it('refuses inactive users (409), unknown products (422 naming the field) and unknown users (404)', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const p = await pool(api, { product: 'P', name: 'pool', capacity: 5 });
      const suspended = await user(api, { site: 'ber', country: 'DE' }, { active: false });
      const inactive = await api.post(`/api/v1/users/${suspended}/licenses`, { product: 'P' });
      expect(inactive.status, inactive.raw).toBe(409);
      expect(inactive.body.code).toBe('licenses.user_inactive');

      const deprovisioned = await user(api, { site: 'ber', country: 'DE' }, { status: 'deprovisioned' });
      expect((await api.post(`/api/v1/users/${deprovisioned}/licenses`, { product: 'P' })).status).toBe(409);
      expect(await licenses(api, suspended)).toEqual([]);
      expect(await getPool(api, p.id)).toMatchObject({ used: 0, waitlisted: 0 });

      const u = await user(api, { site: 'ber', country: 'DE' });
      const unknown = await api.post(`/api/v1/users/${u}/licenses`, { product: 'NOPE' });
      expect(unknown.status, unknown.raw).toBe(422);
      expect(unknown.body.code).toBe('licenses.unknown_product');
      expect(unknown.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/product']);

      expect((await api.post(`/api/v1/users/${UNKNOWN}/licenses`, { product: 'P' })).status).toBe(404);
      expect((await api.get(`/api/v1/users/${UNKNOWN}/licenses`)).status).toBe(404);
      expect((await api.delete(`/api/v1/users/${UNKNOWN}/licenses/P`)).status).toBe(404);
    });

    it('gives a seat to a user with no location, or with a country only (unscoped and country pools)', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const anywhere = await pool(api, { product: 'P', name: 'anywhere', capacity: 1 });
      const de = await pool(api, { product: 'P', name: 'de', capacity: 1, location: { country: 'DE' } });
      const nowhere = await user(api, null);
      const a = await api.post(`/api/v1/users/${nowhere}/licenses`, { product: 'P' });
      expect(a.status, a.raw).toBe(201);
      expect(a.body).toMatchObject({ state: 'active', pool: { id: anywhere.id } });

      const countryOnly = await user(api, { country: 'DE' });
      const b = await api.post(`/api/v1/users/${countryOnly}/licenses`, { product: 'P' });
      expect(b.status, b.raw).toBe(201);
      expect(b.body).toMatchObject({ state: 'active', pool: { id: de.id } });

      const siteOnly = await user(api, { site: 'ber' });
      const c = await api.post(`/api/v1/users/${siteOnly}/licenses`, { product: 'P' });
      expect(c.status, c.raw).toBe(201);
      // The only pool with room is scoped to DE, and this user is not known to be in DE.
      expect(c.body).toMatchObject({ state: 'waitlisted' });
    });
  });

  describe('allocation order', () => {
    it('site-scoped pools first, then country-scoped, each by priority, then unscoped; never another location', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      // Pools that may serve a user at site ber in DE, created out of order.
      const unscopedLow = await pool(api, { product: 'P', name: 'unscoped-p50', capacity: 1, priority: 50 });
      const unscopedHigh = await pool(api, { product: 'P', name: 'unscoped-p1', capacity: 1, priority: 1 });
      const countryLate = await pool(api, {
        product: 'P',
        name: 'de-p30',
        capacity: 1,
        priority: 30,
        location: { country: 'DE' },
      });
      const countryEarly = await pool(api, {
        product: 'P',
        name: 'de-p10',
        capacity: 1,
        priority: 10,
        location: { country: 'DE' },
      });
      const site = await pool(api, {
        product: 'P',
        name: 'ber-p200',
        capacity: 1,
        priority: 200,
        location: { site: 'ber', country: 'DE' },
      });
      // Pools scoped elsewhere, with better priority and room: they must never serve this user.
      const otherSite = await pool(api, {
        product: 'P',
        name: 'muc',
        capacity: 10,
        priority: 0,
        location: { site: 'muc', country: 'DE' },
      });
      const otherCountry = await pool(api, {
        product: 'P',
        name: 'fr',
        capacity: 10,
        priority: 0,
        location: { country: 'FR' },
      });
      const otherSiteAnyCountry = await pool(api, {
        product: 'P',
        name: 'ham-site',
        capacity: 10,
        priority: 0,
        location: { site: 'ham' },
      });

      const expected = [site, countryEarly, countryLate, unscopedHigh, unscopedLow];
      const users: string[] = [];
      for (const want of expected) {
        const u = await user(api, { site: 'ber', country: 'DE' });
        users.push(u);
        const a = await assign(api, u, 'P');
        expect(a, `expected pool ${want.name}`).toMatchObject({
          state: 'active',
          pool: { id: want.id, name: want.name },
        });
      }
      const last = await user(api, { site: 'ber', country: 'DE' });
      users.push(last);
      expect((await assign(api, last, 'P')).state).toBe('waitlisted');
      for (const p of [otherSite, otherCountry, otherSiteAnyCountry]) {
        expect(await getPool(api, p.id), p.name).toMatchObject({ used: 0, waitlisted: 0 });
      }
      // The waiter counts only for the pools that may serve them.
      expect(await getPool(api, site.id)).toMatchObject({ used: 1, waitlisted: 1 });
      expect(await getPool(api, unscopedLow.id)).toMatchObject({ used: 1, waitlisted: 1 });
      await expectInvariants(api, 'P', users);
    });

    it('a site-scoped pool beats a better-priority country pool, which beats a better-priority unscoped pool', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const unscoped = await pool(api, { product: 'P', name: 'u', capacity: 5, priority: 0 });
      const country = await pool(api, {
        product: 'P',
        name: 'c',
        capacity: 1,
        priority: 100,
        location: { country: 'DE' },
      });
      const site = await pool(api, {
        product: 'P',
        name: 's',
        capacity: 1,
        priority: 1000,
        location: { site: 'ber' },
      });
      const a = await user(api, { site: 'ber', country: 'DE' });
      const b = await user(api, { site: 'ber', country: 'DE' });
      const c = await user(api, { site: 'ber', country: 'DE' });
      expect((await assign(api, a, 'P')).pool.id).toBe(site.id);
      expect((await assign(api, b, 'P')).pool.id).toBe(country.id);
      expect((await assign(api, c, 'P')).pool.id).toBe(unscoped.id);
    });
  });

  describe('release and the waitlist', () => {
    it('a released seat goes to the oldest waiter the pool may serve, skipping waiters elsewhere', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const ber = await pool(api, { product: 'P', name: 'ber', capacity: 1, location: { site: 'ber' } });
      const holder = await user(api, { site: 'ber', country: 'DE' });
      await assign(api, holder, 'P');
      const muc1 = await user(api, { site: 'muc', country: 'DE' });
      const ber1 = await user(api, { site: 'ber', country: 'DE' });
      const muc2 = await user(api, { site: 'muc', country: 'DE' });
      const ber2 = await user(api, { site: 'ber', country: 'DE' });
      const pos: Record<string, number> = {};
      for (const u of [muc1, ber1, muc2, ber2]) {
        const a = await assign(api, u, 'P');
        expect(a.state).toBe('waitlisted');
        pos[u] = a.waitlistPosition;
      }
      expect(pos[muc1]).toBeLessThan(pos[ber1] as number);
      expect(pos[ber1]).toBeLessThan(pos[muc2] as number);
      expect(pos[muc2]).toBeLessThan(pos[ber2] as number);
      expect(await getPool(api, ber.id)).toMatchObject({ used: 1, waitlisted: 2 });

      expect((await api.delete(`/api/v1/users/${holder}/licenses/P`)).status).toBe(204);
      expect((await licenses(api, ber1))[0]).toMatchObject({
        state: 'active',
        pool: { id: ber.id, name: 'ber' },
      });
      expect((await licenses(api, ber1))[0]?.waitlistPosition).toBeUndefined();
      expect((await licenses(api, muc1))[0]).toMatchObject({
        state: 'waitlisted',
        waitlistPosition: pos[muc1],
      });
      expect((await licenses(api, muc2))[0]?.state).toBe('waitlisted');
      expect((await licenses(api, ber2))[0]?.state).toBe('waitlisted');
      expect(await getPool(api, ber.id)).toMatchObject({ used: 1, waitlisted: 1 });

      // An unscoped pool serves the oldest waiter of all.
      await pool(api, { product: 'P', name: 'any', capacity: 1 });
      expect((await licenses(api, muc1))[0]?.state).toBe('active');
      expect((await licenses(api, muc2))[0]?.state).toBe('waitlisted');
      await expectInvariants(api, 'P', [holder, muc1, ber1, muc2, ber2]);
    });

    it('deactivating a user (PATCH active:false) releases all their seats to the waitlist at once', async () => {
      const { api } = await t().newTenant();
      await product(api, 'A');
      await product(api, 'B');
      const pa = await pool(api, { product: 'A', name: 'a', capacity: 1 });
      const pb = await pool(api, { product: 'B', name: 'b', capacity: 1 });
      const leaver = await user(api, { site: 'ber', country: 'DE' });
      await assign(api, leaver, 'A');
      await assign(api, leaver, 'B');
      const waitA = await user(api, { site: 'ber', country: 'DE' });
      const waitB = await user(api, { site: 'ber', country: 'DE' });
      expect((await assign(api, waitA, 'A')).state).toBe('waitlisted');
      expect((await assign(api, waitB, 'B')).state).toBe('waitlisted');

      const res = await api.patch(`/api/v1/users/${leaver}`, { active: false });
      expect(res.status, res.raw).toBe(200);
      expect(res.body.active).toBe(false);
      expect(await licenses(api, leaver)).toEqual([]);
      expect((await licenses(api, waitA))[0]).toMatchObject({ state: 'active', pool: { id: pa.id } });
      expect((await licenses(api, waitB))[0]).toMatchObject({ state: 'active', pool: { id: pb.id } });
      expect(await getPool(api, pa.id)).toMatchObject({ used: 1, waitlisted: 0 });
      expect(await getPool(api, pb.id)).toMatchObject({ used: 1, waitlisted: 0 });

      // Reactivated, they get nothing back by themselves, and a new request now waits.
      expect((await api.patch(`/api/v1/users/${leaver}`, { active: true })).status).toBe(200);
      expect(await licenses(api, leaver)).toEqual([]);
      expect((await assign(api, leaver, 'A')).state).toBe('waitlisted');
    });

    it('deleting a user releases their seat to the waitlist; a waiting deleted user leaves the waitlist', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const p = await pool(api, { product: 'P', name: 'p', capacity: 1 });
      const holder = await user(api, { site: 'ber', country: 'DE' });
      const gone = await user(api, { site: 'ber', country: 'DE' });
      const next = await user(api, { site: 'ber', country: 'DE' });
      await assign(api, holder, 'P');
      expect((await assign(api, gone, 'P')).state).toBe('waitlisted');
      expect((await assign(api, next, 'P')).state).toBe('waitlisted');
      expect(await getPool(api, p.id)).toMatchObject({ used: 1, waitlisted: 2 });

      // The first waiter is deleted: their place is dropped.
      expect((await api.delete(`/api/v1/users/${gone}`)).status).toBe(204);
      expect(await getPool(api, p.id)).toMatchObject({ used: 1, waitlisted: 1 });

      const del = await api.delete(`/api/v1/users/${holder}`);
      expect(del.status, del.raw).toBe(204);
      expect((await api.get(`/api/v1/users/${holder}`)).status).toBe(404);
      expect((await licenses(api, next))[0]).toMatchObject({ state: 'active', pool: { id: p.id } });
      expect(await getPool(api, p.id)).toMatchObject({ used: 1, waitlisted: 0 });
    });

    it('a waiter who moves to where a pool has room is no longer left waiting', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const ber = await pool(api, { product: 'P', name: 'ber', capacity: 1, location: { site: 'ber' } });
      const muc = await pool(api, { product: 'P', name: 'muc', capacity: 0, location: { site: 'muc' } });
      const u = await user(api, { site: 'muc', country: 'DE' });
      expect((await assign(api, u, 'P')).state).toBe('waitlisted');
      expect(await getPool(api, muc.id)).toMatchObject({ used: 0, waitlisted: 1 });
      expect(await getPool(api, ber.id)).toMatchObject({ used: 0, waitlisted: 0 });

      const moved = await api.patch(`/api/v1/users/${u}`, { location: { site: 'ber' } });
      expect(moved.status, moved.raw).toBe(200);
      // Now judged by the new location: the muc pool no longer counts them, the ber pool may serve them.
      expect(await getPool(api, muc.id)).toMatchObject({ waitlisted: 0 });
      // Waitlisted means "no eligible pool has room": the ber pool has room, so they hold its seat.
      expect((await licenses(api, u))[0]).toMatchObject({ state: 'active', pool: { id: ber.id } });
      expect(await getPool(api, ber.id)).toMatchObject({ used: 1, waitlisted: 0 });
    });
  });

  describe('audit', () => {
    it('records assignment, waitlisting, release and waitlist promotion, without PII', async () => {
      const { api } = await t().newTenant();
      await product(api, 'P');
      const p = await pool(api, { product: 'P', name: 'p', capacity: 1 });
      const pii = {
        displayName: 'Zelda Secretname',
        emails: [{ value: 'zelda.secret@private.example', primary: true }],
        phoneNumbers: [{ value: '+49 170 5550199' }],
        name: { givenName: 'Zelda', familyName: 'Secretname' },
      };
      const holderRes = await api.post('/api/v1/users', {
        userName: 'holder.secret@private.example',
        location: { site: 'ber', country: 'DE' },
        ...pii,
      });
      const waiterRes = await api.post('/api/v1/users', {
        userName: 'waiter.secret@private.example',
        location: { site: 'ber', country: 'DE' },
        displayName: 'Waiter Hiddenname',
      });
      expect(holderRes.status).toBe(201);
      expect(waiterRes.status).toBe(201);
      const holder = holderRes.body.id as string;
      const waiter = waiterRes.body.id as string;
      const start = (await allEntries(api)).at(-1)?.seq ?? 0;

      await assign(api, holder, 'P');
      await assign(api, waiter, 'P');
      expect((await api.delete(`/api/v1/users/${holder}/licenses/P`)).status).toBe(204);

      const entries = (await allEntries(api)).filter((e) => e.seq > start);
      const about = (id: string) => entries.filter((e) => e.target.id === id);
      const holderActions = about(holder).map((e) => e.action);
      const waiterActions = about(waiter).map((e) => e.action);
      expect(holderActions).toContain('license.assigned');
      expect(holderActions).toContain('license.released');
      expect(waiterActions).toContain('license.waitlisted');
      // The promotion: an entry about the waiter, recording the move into the pool.
      const promotion = about(waiter).find(
        (e) => e.action !== 'license.waitlisted' && JSON.stringify(e.after ?? {}).includes(p.id),
      );
      expect(promotion, JSON.stringify(about(waiter))).toBeDefined();
      expect(promotion?.after).toMatchObject({ state: 'active' });
      // The promotion happened in the same request (transaction) as the release.
      const releasedAt = entries.find((e) => e.action === 'license.released')?.seq as number;
      expect(promotion?.seq).toBeGreaterThan(releasedAt);

      const text = JSON.stringify(entries);
      for (const secret of [
        'holder.secret',
        'waiter.secret',
        'private.example',
        'Zelda',
        'Secretname',
        'Hiddenname',
        '5550199',
      ]) {
        expect(text).not.toContain(secret);
      }
    });
  });
});
