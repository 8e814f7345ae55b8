import { expect, it } from 'vitest';
import { useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

describeEachStore('licenses smoke', (kind) => {
  const t = useTestApp(kind);
  it('onboards into a pool, waitlists when full, serves the waitlist on offboarding', async () => {
    const { api } = await t().newTenant();
    expect((await api.post('/api/v1/products', { sku: 'M365-E3', name: 'Microsoft 365 E3' })).status).toBe(
      201,
    );
    const pool = await api.post('/api/v1/pools', {
      product: 'm365-e3',
      name: 'Berlin',
      capacity: 1,
      location: { site: 'ber' },
    });
    expect(pool.status, pool.raw).toBe(201);
    const onboard = (n: number, key = `k-${n}`) =>
      api.post(
        '/api/v1/onboardings',
        {
          user: { userName: `u${n}@x.test`, location: { site: 'ber', country: 'DE' } },
          products: ['M365-E3'],
        },
        { 'idempotency-key': key },
      );
    const a = await onboard(1);
    expect(a.status, a.raw).toBe(201);
    expect(a.body.assignments).toEqual([
      { product: 'M365-E3', state: 'active', source: 'direct', pool: { id: pool.body.id, name: 'Berlin' } },
    ]);
    const b = await onboard(2);
    expect(b.body.assignments[0].state).toBe('waitlisted');
    expect(typeof b.body.assignments[0].waitlistPosition).toBe('number');
    const replay = await onboard(1);
    expect(replay.status).toBe(201);
    expect(replay.raw).toBe(a.raw);
    const reuse = await api.post(
      '/api/v1/onboardings',
      { user: { userName: 'other@x.test' }, products: [] },
      { 'idempotency-key': 'k-1' },
    );
    expect(reuse.status).toBe(422);
    let p = await api.get(`/api/v1/pools/${pool.body.id}`);
    expect(p.body).toMatchObject({ used: 1, capacity: 1, waitlisted: 1, product: 'M365-E3' });
    const off = await api.post(`/api/v1/users/${a.body.user.id}/offboard`);
    expect(off.status, off.raw).toBe(200);
    expect(off.body.user.status).toBe('deprovisioned');
    const lic = await api.get(`/api/v1/users/${b.body.user.id}/licenses`);
    expect(lic.body.items).toEqual([
      { product: 'M365-E3', state: 'active', source: 'direct', pool: { id: pool.body.id, name: 'Berlin' } },
    ]);
    p = await api.get(`/api/v1/pools/${pool.body.id}`);
    expect(p.body).toMatchObject({ used: 1, waitlisted: 0 });
    expect((await api.patch(`/api/v1/pools/${pool.body.id}`, { capacity: 0 })).status).toBe(409);
    expect((await api.delete(`/api/v1/pools/${pool.body.id}`)).status).toBe(409);
  });
});
