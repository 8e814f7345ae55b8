import { describe, expect, it, vi } from 'vitest';
import { useTestApp } from '../../support/app.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

/**
 * End-to-end consequence of the Keyring handing its cached key Buffers to callers and zeroising them on
 * eviction or replacement: concurrent requests of one tenant on a cold key cache (first requests after a
 * start, or after the 10-minute TTL) replace each other's cache entry, and a list request that decodes its
 * rows after awaiting them decodes with an all-zero key: 500 crypto.integrity for valid data.
 */
describe('concurrent reads on a cold key cache [sqlite]', () => {
  const t = useTestApp('sqlite');

  it('every concurrent list of a tenant users succeeds', async () => {
    const { api } = await t().newTenant();
    for (const userName of ['race.one', 'race.two', 'race.three']) {
      const res = await api.post('/api/v1/users', {
        userName,
        emails: [{ value: `${userName}@race.example` }],
      });
      expect(res.status, res.raw).toBe(201);
    }
    const statuses: number[] = [];
    for (let round = 0; round < 3; round++) {
      // As after a restart: nothing cached.
      t().app.services.keys.clear();
      const answers = await Promise.all([1, 2, 3].map(() => api.get('/api/v1/users')));
      statuses.push(...answers.map((a) => a.status));
    }
    expect(statuses).toEqual(Array(9).fill(200));
  });

  it('control: sequential lists on a cold cache succeed', async () => {
    const { api } = await t().newTenant();
    expect((await api.post('/api/v1/users', { userName: 'seq.one' })).status).toBe(201);
    t().app.services.keys.clear();
    for (let i = 0; i < 3; i++) expect((await api.get('/api/v1/users')).status).toBe(200);
  });
});
