import { describe, expect, it } from 'vitest';
import type { Client } from '../../support/app.js';
import { useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * Joiners and leavers over REST: POST /api/v1/onboardings (idempotent, all or nothing, group-committed)
 * and POST /api/v1/users/{id}/offboard, with their audit entries and the group-commit metrics.
 */

const UNKNOWN = '01890000-0000-7000-8000-000000000000';
const HOME = { site: 'ber', country: 'DE' };

interface Entry {
  seq: number;
  action: string;
  target: { type: string; id: string | null };
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

describeEachStore('REST onboarding and offboarding', (kind) => {
  const t = useTestApp(kind);
  let seq = 0;

  async function setup(api: Client, pools: { sku: string; capacity: number }[]) {
    const out: Record<string, string> = {};
    for (const { sku, capacity } of pools) {
      if (!(await api.get('/api/v1/products')).body.items.some((p: { sku: string }) => p.sku === sku)) {
        expect((await api.post('/api/v1/products', { sku, name: sku })).status).toBe(201);
      }
      const p = await api.post('/api/v1/pools', { product: sku, name: `${sku}-pool`, capacity });
      expect(p.status, p.raw).toBe(201);
      out[sku] = p.body.id;
    }
    return out;
  }

  function onboard(api: Client, key: string | undefined, body: unknown) {
    return api.post('/api/v1/onboardings', body, key === undefined ? {} : { 'idempotency-key': key });
  }

  function person(extra: Record<string, unknown> = {}) {
    const n = ++seq;
    return { userName: `joiner-${n}@onboarding.test`, location: HOME, ...extra };
  }

  async function users(api: Client) {
    const res = await api.get('/api/v1/users?limit=200');
    expect(res.status, res.raw).toBe(200);
    return res.body.items as { id: string; userName: string; status: string }[];
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

  async function poolOf(api: Client, id: string) {
    const res = await api.get(`/api/v1/pools/${id}`);
    expect(res.status, res.raw).toBe(200);
    return res.body;
  }

  /** Everything a failed or replayed onboarding must leave untouched. */
  async function snapshot(api: Client, poolIds: string[]) {
    return {
      users: (await users(api)).map((u) => u.id).sort(),
      pools: await Promise.all(
        poolIds.map(async (id) => {
          const p = await poolOf(api, id);
          return { id, used: p.used, waitlisted: p.waitlisted };
        }),
      ),
      audit: (await allEntries(api)).length,
    };
  }

  describe('onboarding', () => {
    it('creates the user and a seat or waitlist place per product in one call (201)', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [
        { sku: 'M365-E3', capacity: 5 },
        { sku: 'ADOBE-CC', capacity: 0 },
      ]);
      const input = person({ displayName: 'New Joiner', department: 'Sales' });
      const res = await onboard(api, 'join-1', { user: input, products: ['m365-e3', 'ADOBE-CC'] });
      expect(res.status, res.raw).toBe(201);
      expect(res.body.user).toMatchObject({
        userName: input.userName,
        displayName: 'New Joiner',
        department: 'Sales',
        active: true,
        status: 'active',
      });
      expect(typeof res.body.user.id).toBe('string');
      const byProduct = Object.fromEntries(
        res.body.assignments.map((a: { product: string }) => [a.product, a]),
      );
      expect(res.body.assignments).toHaveLength(2);
      expect(byProduct['M365-E3']).toMatchObject({
        product: 'M365-E3',
        state: 'active',
        pool: { id: pools['M365-E3'], name: 'M365-E3-pool' },
      });
      expect(byProduct['M365-E3'].waitlistPosition).toBeUndefined();
      expect(byProduct['ADOBE-CC']).toMatchObject({ product: 'ADOBE-CC', state: 'waitlisted' });
      expect(byProduct['ADOBE-CC'].pool).toBeUndefined();
      expect(Number.isInteger(byProduct['ADOBE-CC'].waitlistPosition)).toBe(true);

      const read = await api.get(`/api/v1/users/${res.body.user.id}`);
      expect(read.status).toBe(200);
      expect(read.body.userName).toBe(input.userName);
      const lic = await api.get(`/api/v1/users/${res.body.user.id}/licenses`);
      expect(lic.body.items).toHaveLength(2);
      expect(await poolOf(api, pools['M365-E3'] as string)).toMatchObject({ used: 1 });
      expect(await poolOf(api, pools['ADOBE-CC'] as string)).toMatchObject({ used: 0, waitlisted: 1 });
    });

    it('onboards with no products', async () => {
      const { api } = await t().newTenant();
      const res = await onboard(api, 'no-products', { user: person(), products: [] });
      expect(res.status, res.raw).toBe(201);
      expect(res.body.assignments).toEqual([]);
      expect(await users(api)).toHaveLength(1);
    });

    it('requires an Idempotency-Key (400) and creates nothing without one', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [{ sku: 'P', capacity: 3 }]);
      const before = await snapshot(api, Object.values(pools));
      const res = await onboard(api, undefined, { user: person(), products: ['P'] });
      expect(res.status, res.raw).toBe(400);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body.code).toBe('idempotency.key_required');
      expect(await snapshot(api, Object.values(pools))).toEqual(before);
    });

    it('waitlistPosition orders the product waitlist: lower positions are served first', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [{ sku: 'P', capacity: 1 }]);
      const holder = await onboard(api, 'wl-holder', { user: person(), products: ['P'] });
      expect(holder.body.assignments[0].state).toBe('active');
      const waiters: { id: string; pos: number }[] = [];
      for (let i = 0; i < 4; i++) {
        const w = await onboard(api, `wl-${i}`, { user: person(), products: ['P'] });
        expect(w.status, w.raw).toBe(201);
        expect(w.body.assignments[0].state).toBe('waitlisted');
        waiters.push({ id: w.body.user.id, pos: w.body.assignments[0].waitlistPosition });
      }
      const positions = waiters.map((w) => w.pos);
      expect(new Set(positions).size).toBe(positions.length);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);

      // Each offboarding serves the lowest position still waiting.
      let current = holder.body.user.id as string;
      for (const w of waiters) {
        const off = await api.post(`/api/v1/users/${current}/offboard`);
        expect(off.status, off.raw).toBe(200);
        const lic = await api.get(`/api/v1/users/${w.id}/licenses`);
        expect(lic.body.items).toEqual([
          { product: 'P', state: 'active', source: 'direct', pool: { id: pools.P, name: 'P-pool' } },
        ]);
        current = w.id;
      }
    });

    it('a replay of the same key and body returns the first response byte for byte and creates nothing', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [{ sku: 'P', capacity: 1 }]);
      const body = { user: person({ displayName: 'Replay Person' }), products: ['P'] };
      const first = await onboard(api, 'replay-key', body);
      expect(first.status, first.raw).toBe(201);
      const after = await snapshot(api, Object.values(pools));

      for (let i = 0; i < 3; i++) {
        const again = await onboard(api, 'replay-key', body);
        expect(again.status).toBe(201);
        expect(again.raw).toBe(first.raw);
        expect(again.headers['content-type']).toBe(first.headers['content-type']);
      }
      // The same body with its members in another order is the same request.
      const reordered = await onboard(api, 'replay-key', { products: ['P'], user: { ...body.user } });
      expect(reordered.status).toBe(201);
      expect(reordered.raw).toBe(first.raw);
      expect(await snapshot(api, Object.values(pools))).toEqual(after);
      expect((await users(api)).filter((u) => u.userName === body.user.userName)).toHaveLength(1);
    });

    it('the same key with another body is refused with 422 and creates nothing', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [{ sku: 'P', capacity: 5 }]);
      const first = await onboard(api, 'reused', { user: person(), products: ['P'] });
      expect(first.status).toBe(201);
      const before = await snapshot(api, Object.values(pools));
      const other = person();
      const res = await onboard(api, 'reused', { user: other, products: ['P'] });
      expect(res.status, res.raw).toBe(422);
      expect(res.body.code).toBe('idempotency.key_reused');
      // The same person with other products is another request too.
      const firstBody = await api.get(`/api/v1/users/${first.body.user.id}`);
      const fewerProducts = await onboard(api, 'reused', {
        user: { userName: firstBody.body.userName, location: HOME },
        products: [],
      });
      expect(fewerProducts.status, fewerProducts.raw).toBe(422);
      expect(fewerProducts.body.code).toBe('idempotency.key_reused');
      expect(await snapshot(api, Object.values(pools))).toEqual(before);
      expect((await users(api)).some((u) => u.userName === other.userName)).toBe(false);
    });

    it('keys are per tenant: the same key in two tenants makes two independent onboardings', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const poolsA = await setup(a.api, [{ sku: 'P', capacity: 1 }]);
      const poolsB = await setup(b.api, [{ sku: 'P', capacity: 1 }]);
      const body = { user: person(), products: ['P'] };
      const inA = await onboard(a.api, 'shared-key', body);
      const inB = await onboard(b.api, 'shared-key', body);
      expect(inA.status, inA.raw).toBe(201);
      expect(inB.status, inB.raw).toBe(201);
      expect(inB.body.user.id).not.toBe(inA.body.user.id);
      expect(inB.headers['idempotency-replayed']).toBeUndefined();
      expect(inB.body.assignments[0]).toMatchObject({ state: 'active', pool: { id: poolsB.P } });
      expect(inA.body.assignments[0]).toMatchObject({ state: 'active', pool: { id: poolsA.P } });
      expect(await users(a.api)).toHaveLength(1);
      expect(await users(b.api)).toHaveLength(1);
      // Each tenant replays its own first answer.
      expect((await onboard(b.api, 'shared-key', body)).raw).toBe(inB.raw);
      const replayA = await onboard(a.api, 'shared-key', body);
      expect(replayA.raw).toBe(inA.raw);
    });

    it('a failed onboarding (userName taken: 409) creates nothing: no user, no seat, no audit entry', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [
        { sku: 'P', capacity: 5 },
        { sku: 'Q', capacity: 0 },
      ]);
      const taken = person();
      expect((await onboard(api, 'first', { user: taken, products: [] })).status).toBe(201);
      const before = await snapshot(api, Object.values(pools));
      const res = await onboard(api, 'clash', {
        user: { ...taken, displayName: 'Someone Else' },
        products: ['P', 'Q'],
      });
      expect(res.status, res.raw).toBe(409);
      expect(res.body.code).toBe('identity.user_name_taken');
      expect(await snapshot(api, Object.values(pools))).toEqual(before);

      // The waitlist was not disturbed either: the next waiter of Q is served as if the failure never was.
      const next = await onboard(api, 'after-clash', { user: person(), products: ['Q'] });
      expect(next.status, next.raw).toBe(201);
      expect(next.body.assignments[0].state).toBe('waitlisted');
    });

    it('a failed onboarding (unknown SKU: 422 naming it) creates nothing', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [{ sku: 'P', capacity: 5 }]);
      const before = await snapshot(api, Object.values(pools));
      const joiner = person();
      const res = await onboard(api, 'bad-sku', { user: joiner, products: ['P', 'NOPE'] });
      expect(res.status, res.raw).toBe(422);
      expect(res.body.code).toBe('licenses.unknown_product');
      expect(res.body.errors.map((e: { pointer: string }) => e.pointer)).toEqual(['/products/1']);
      expect(await snapshot(api, Object.values(pools))).toEqual(before);
      expect((await users(api)).some((u) => u.userName === joiner.userName)).toBe(false);
    });

    it('a failed onboarding (an inactive joiner cannot be given seats: 409) creates nothing', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [{ sku: 'P', capacity: 5 }]);
      const before = await snapshot(api, Object.values(pools));
      const res = await onboard(api, 'inactive', { user: person({ active: false }), products: ['P'] });
      expect(res.status, res.raw).toBe(409);
      expect(await snapshot(api, Object.values(pools))).toEqual(before);
    });

    it('a failed key can be used again once the request is corrected', async () => {
      const { api } = await t().newTenant();
      await setup(api, [{ sku: 'P', capacity: 5 }]);
      const joiner = person();
      expect((await onboard(api, 'retry-me', { user: joiner, products: ['NOPE'] })).status).toBe(422);
      const ok = await onboard(api, 'retry-me', { user: joiner, products: ['P'] });
      expect(ok.status, ok.raw).toBe(201);
      expect(ok.body.assignments[0].state).toBe('active');
    });

    it('writes audit entries for the user and each seat or waitlist place, without PII', async () => {
      const { api } = await t().newTenant();
      await setup(api, [
        { sku: 'P', capacity: 1 },
        { sku: 'Q', capacity: 0 },
      ]);
      const start = (await allEntries(api)).at(-1)?.seq ?? 0;
      const res = await onboard(api, 'audited', {
        user: {
          userName: 'hidden.joiner@secret.example',
          displayName: 'Hidden Joiner',
          name: { givenName: 'Hidden', familyName: 'Joinerson' },
          emails: [{ value: 'hidden.joiner@secret.example', primary: true }],
          phoneNumbers: [{ value: '+49 151 5550123' }],
          location: HOME,
        },
        products: ['P', 'Q'],
      });
      expect(res.status, res.raw).toBe(201);
      const id = res.body.user.id as string;
      const entries = (await allEntries(api)).filter((e) => e.seq > start);
      const actions = entries.filter((e) => e.target.id === id).map((e) => e.action);
      expect(actions).toContain('user.created');
      expect(actions).toContain('license.assigned');
      expect(actions).toContain('license.waitlisted');
      const text = JSON.stringify(entries);
      for (const secret of ['hidden.joiner', 'secret.example', 'Hidden', 'Joinerson', '5550123']) {
        expect(text).not.toContain(secret);
      }
      // A replay adds no entry.
      const count = (await allEntries(api)).length;
      expect(
        (
          await onboard(api, 'audited', {
            user: {
              userName: 'hidden.joiner@secret.example',
              displayName: 'Hidden Joiner',
              name: { givenName: 'Hidden', familyName: 'Joinerson' },
              emails: [{ value: 'hidden.joiner@secret.example', primary: true }],
              phoneNumbers: [{ value: '+49 151 5550123' }],
              location: HOME,
            },
            products: ['P', 'Q'],
          })
        ).raw,
      ).toBe(res.raw);
      expect((await allEntries(api)).length).toBe(count);
    });
  });

  describe('offboarding', () => {
    it('deprovisions the user and releases every seat at once, each going to the oldest waiter', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [
        { sku: 'A', capacity: 1 },
        { sku: 'B', capacity: 1 },
        { sku: 'C', capacity: 0 },
      ]);
      const leaver = await onboard(api, 'leaver', { user: person(), products: ['A', 'B', 'C'] });
      expect(leaver.status, leaver.raw).toBe(201);
      const leaverId = leaver.body.user.id as string;
      const waitA1 = await onboard(api, 'wa1', { user: person(), products: ['A'] });
      const waitA2 = await onboard(api, 'wa2', { user: person(), products: ['A'] });
      const waitB1 = await onboard(api, 'wb1', { user: person(), products: ['B'] });
      // Someone waiting for C behind the leaver.
      const waitC = await onboard(api, 'wc', { user: person(), products: ['C'] });
      for (const w of [waitA1, waitA2, waitB1, waitC]) expect(w.body.assignments[0].state).toBe('waitlisted');
      const start = (await allEntries(api)).at(-1)?.seq ?? 0;

      const off = await api.post(`/api/v1/users/${leaverId}/offboard`);
      expect(off.status, off.raw).toBe(200);
      expect(off.body.user).toMatchObject({ id: leaverId, status: 'deprovisioned', active: false });
      expect(off.body.released.map((a: { product: string }) => a.product).sort()).toEqual(['A', 'B', 'C']);

      const lic = async (r: { body: { user: { id: string } } }) =>
        (await api.get(`/api/v1/users/${r.body.user.id}/licenses`)).body.items;
      expect(await lic(leaver)).toEqual([]);
      expect(await lic(waitA1)).toEqual([
        { product: 'A', state: 'active', source: 'direct', pool: { id: pools.A, name: 'A-pool' } },
      ]);
      expect((await lic(waitA2))[0].state).toBe('waitlisted');
      expect(await lic(waitB1)).toEqual([
        { product: 'B', state: 'active', source: 'direct', pool: { id: pools.B, name: 'B-pool' } },
      ]);
      expect((await lic(waitC))[0].state).toBe('waitlisted');
      expect(await poolOf(api, pools.A as string)).toMatchObject({ used: 1, waitlisted: 1 });
      expect(await poolOf(api, pools.B as string)).toMatchObject({ used: 1, waitlisted: 0 });
      expect(await poolOf(api, pools.C as string)).toMatchObject({ used: 0, waitlisted: 1 });
      expect((await api.get(`/api/v1/users/${leaverId}`)).body.status).toBe('deprovisioned');

      const entries = (await allEntries(api)).filter((e) => e.seq > start);
      expect(entries.filter((e) => e.action === 'license.released' && e.target.id === leaverId)).toHaveLength(
        3,
      );
      const promoted = entries.filter((e) => e.target.id !== leaverId && e.after?.state === 'active');
      expect(promoted.map((e) => e.target.id).sort()).toEqual(
        [waitA1.body.user.id, waitB1.body.user.id].sort(),
      );

      // A deprovisioned user can not be given seats again.
      const again = await api.post(`/api/v1/users/${leaverId}/licenses`, { product: 'A' });
      expect(again.status, again.raw).toBe(409);
    });

    it('offboarding an offboarded user changes nothing; an unknown user is 404', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [{ sku: 'P', capacity: 1 }]);
      const u = await onboard(api, 'twice', { user: person(), products: ['P'] });
      const id = u.body.user.id as string;
      expect((await api.post(`/api/v1/users/${id}/offboard`)).status).toBe(200);
      const before = await snapshot(api, Object.values(pools));
      const again = await api.post(`/api/v1/users/${id}/offboard`);
      expect(again.status, again.raw).toBe(200);
      expect(again.body.user.status).toBe('deprovisioned');
      expect(again.body.released).toEqual([]);
      expect(await snapshot(api, Object.values(pools))).toEqual(before);
      expect((await api.post(`/api/v1/users/${UNKNOWN}/offboard`)).status).toBe(404);
      const other = await t().newTenant();
      expect((await other.api.post(`/api/v1/users/${id}/offboard`)).status).toBe(404);
    });
  });

  describe('group commit', () => {
    it('concurrent onboardings are committed in batches larger than one, visible on /metrics', async () => {
      const { api } = await t().newTenant();
      const pools = await setup(api, [{ sku: 'P', capacity: 10 }]);
      const n = 60;
      const answers = await Promise.all(
        Array.from({ length: n }, (_, i) => onboard(api, `gc-${i}`, { user: person(), products: ['P'] })),
      );
      for (const a of answers) expect(a.status, a.raw).toBe(201);
      expect(answers.filter((a) => a.body.assignments[0].state === 'active')).toHaveLength(10);
      expect(await poolOf(api, pools.P as string)).toMatchObject({ used: 10, waitlisted: n - 10 });

      const metrics = await t().admin.get('/metrics');
      expect(metrics.status, metrics.raw).toBe(200);
      const text = metrics.raw;
      expect(text).toContain('roster_group_commit_batch_size');
      expect(text).toContain('roster_group_commit_wait_seconds');
      const value = (line: RegExp) => {
        const m = text.split('\n').find((l) => line.test(l));
        expect(m, `no line matching ${line}`).toBeDefined();
        return Number((m as string).trim().split(/\s+/).at(-1));
      };
      const batches = value(/^roster_group_commit_batch_size_count(\{\})?\s/);
      const works = value(/^roster_group_commit_batch_size_sum(\{\})?\s/);
      const singles = value(/^roster_group_commit_batch_size_bucket\{le="1"\}\s/);
      expect(works).toBeGreaterThanOrEqual(n);
      // Fewer transactions than works: some batch held more than one onboarding.
      expect(batches).toBeLessThan(works);
      expect(singles).toBeLessThan(batches);
      expect(value(/^roster_group_commit_wait_seconds_count(\{\})?\s/)).toBe(batches);
    });
  });
});
