import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Answer, Client } from '../../support/app.js';
import { useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * Request-rate limits: per tenant and per node (global), 429 problem+json with Retry-After, tenants
 * independent of each other below the global limit, /healthz never throttled. Limits are small (a few
 * requests per second) and the tests count 429s rather than time anything precisely.
 */

/** Long enough for any bucket of >= 1 r/s to be full again. */
const REFILL_MS = 1_200;

function expectThrottled(res: Answer): void {
  expect(res.status, res.raw).toBe(429);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status: 429, code: 'request.rate_limited' });
  const retryAfter = res.headers['retry-after'];
  expect(typeof retryAfter, 'Retry-After header').toBe('string');
  expect(retryAfter).toMatch(/^\d+$/);
  expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
}

/** Fires `n` requests at once; returns the answers. */
function burst(api: Client, n: number, path = '/api/v1/products'): Promise<Answer[]> {
  return Promise.all(Array.from({ length: n }, () => api.get(path)));
}

/** As `burst`, also saying how long it took (in seconds), to bound what a limiter may refill meanwhile. */
async function timedBurst(api: Client, n: number): Promise<{ answers: Answer[]; seconds: number }> {
  const started = performance.now();
  const answers = await burst(api, n);
  return { answers, seconds: (performance.now() - started) / 1000 };
}

type TenantHandle = { tenantId: string; token: string; api: Client };

const count = (answers: Answer[], status: number) => answers.filter((a) => a.status === status).length;

function expectOnlyOkOrThrottled(answers: Answer[]): void {
  for (const a of answers) {
    if (a.status !== 200) expectThrottled(a);
  }
}

describeEachStore('REST throttling', (kind) => {
  describe('per-tenant limit (5 r/s), no global limit', () => {
    const t = useTestApp(kind, { ROSTER_RATE_LIMIT_TENANT: '5', ROSTER_RATE_LIMIT_GLOBAL: '0' });

    it('answers 429 problem+json with an integer Retry-After >= 1 once a tenant exceeds its rate', async () => {
      const { api } = await t().newTenant();
      await sleep(REFILL_MS);
      const { answers, seconds } = await timedBurst(api, 30);
      expectOnlyOkOrThrottled(answers);
      const ok = count(answers, 200);
      // One second's worth (5) may pass in a burst, plus what refills while the burst is served.
      expect(ok).toBeGreaterThanOrEqual(5);
      expect(ok).toBeLessThanOrEqual(5 + Math.ceil(5 * seconds) + 1);
      expect(count(answers, 429)).toBe(30 - ok);
    });

    it('a throttled client that waits Retry-After seconds is served again', async () => {
      const { api } = await t().newTenant();
      await sleep(REFILL_MS);
      const answers = await burst(api, 15);
      const refused = answers.find((a) => a.status === 429);
      expect(refused).toBeDefined();
      await sleep(Number((refused as Answer).headers['retry-after']) * 1000);
      const again = await api.get('/api/v1/products');
      expect(again.status, again.raw).toBe(200);
    });

    it('one tenant exhausting its limit does not throttle another tenant', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      await sleep(REFILL_MS);
      const { answers: flood, seconds } = await timedBurst(a.api, 40);
      expect(count(flood, 429)).toBeGreaterThanOrEqual(40 - (5 + Math.ceil(5 * seconds) + 1));
      // A is still being refused...
      expectThrottled(await a.api.get('/api/v1/products'));
      // ...while B has its whole allowance.
      const fromB = await burst(b.api, 5);
      expect(fromB.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    });

    it('every kind of tenant request counts, writes included', async () => {
      const { api } = await t().newTenant();
      await sleep(REFILL_MS);
      const started = performance.now();
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          api.post('/api/v1/products', { sku: `SKU-${i}`, name: `p${i}` }),
        ),
      );
      const seconds = (performance.now() - started) / 1000;
      for (const a of answers) if (a.status !== 201) expectThrottled(a);
      expect(count(answers, 429)).toBeGreaterThanOrEqual(20 - (5 + Math.ceil(5 * seconds) + 1));
      expect(count(answers, 429)).toBeGreaterThan(0);
      // Refused writes did nothing.
      await sleep(REFILL_MS);
      const list = await api.get('/api/v1/products?limit=200');
      expect(list.status).toBe(200);
      expect(list.body.items).toHaveLength(count(answers, 201));
    });

    it('/healthz is never throttled', async () => {
      const { api } = await t().newTenant();
      await sleep(REFILL_MS);
      expect(count(await burst(api, 20), 429)).toBeGreaterThan(0);
      const anonymous = t().client(undefined);
      const probes = await Promise.all(Array.from({ length: 100 }, () => anonymous.get('/healthz')));
      expect(probes.map((p) => p.status)).toEqual(probes.map(() => 200));
      // Not even with a token whose tenant is throttled.
      const withToken = await Promise.all(Array.from({ length: 20 }, () => api.get('/healthz')));
      expect(withToken.map((p) => p.status)).toEqual(withToken.map(() => 200));
    });
  });

  describe('global limit (8 r/s) above a per-tenant limit (5 r/s)', () => {
    const t = useTestApp(kind, { ROSTER_RATE_LIMIT_TENANT: '5', ROSTER_RATE_LIMIT_GLOBAL: '8' });
    /** New tenants, created once the node's allowance has refilled (creating them counts too). */
    async function tenants(n: number) {
      await sleep(REFILL_MS);
      const out = [];
      for (let i = 0; i < n; i++) out.push(await t().newTenant());
      await sleep(REFILL_MS);
      return out;
    }

    it('tenants within their own limits are throttled together once the node exceeds the global limit', async () => {
      const [a, b] = (await tenants(2)) as [TenantHandle, TenantHandle];
      const started = performance.now();
      const [fromA, fromB] = await Promise.all([burst(a.api, 5), burst(b.api, 5)]);
      const seconds = (performance.now() - started) / 1000;
      const all = [...fromA, ...fromB];
      expectOnlyOkOrThrottled(all);
      // Each tenant stayed within 5 r/s, together they made 10: the global 8 r/s refuses some.
      expect(count(all, 429)).toBeGreaterThanOrEqual(Math.min(1, 10 - (8 + Math.ceil(8 * seconds))));
      expect(count(all, 200)).toBeGreaterThanOrEqual(5);
      expect(count(all, 200)).toBeLessThanOrEqual(8 + Math.ceil(8 * seconds));
    });

    it('/healthz is never throttled, even when the global limit is exhausted', async () => {
      const [a] = (await tenants(1)) as [TenantHandle];
      expect(count(await burst(a.api, 20), 429)).toBeGreaterThan(0);
      const probes = await Promise.all(
        Array.from({ length: 60 }, () => t().client(undefined).get('/healthz')),
      );
      expect(probes.every((p) => p.status === 200)).toBe(true);
    });

    it('requests a tenant is refused for its own limit do not use up the other tenants’ global allowance', async () => {
      const [a, b] = (await tenants(2)) as [TenantHandle, TenantHandle];
      // A floods: at most 5 of these are served, the rest are refused by A's own limit.
      const flood = await burst(a.api, 40);
      expect(count(flood, 200)).toBeLessThanOrEqual(6);
      // The node has served about 5 requests of its 8 r/s: B, well within its own limit, gets in.
      const fromB = await burst(b.api, 2);
      expect(fromB.map((r) => r.status)).toEqual([200, 200]);
    });
  });

  describe('defaults', () => {
    const t = useTestApp(kind, { ROSTER_RATE_LIMIT_TENANT: '', ROSTER_RATE_LIMIT_GLOBAL: '' });

    it('limits a tenant to 50 r/s by default', async () => {
      const { api } = await t().newTenant();
      await sleep(REFILL_MS);
      const { answers, seconds } = await timedBurst(api, 120);
      expectOnlyOkOrThrottled(answers);
      expect(count(answers, 200)).toBeGreaterThanOrEqual(50);
      expect(count(answers, 200)).toBeLessThanOrEqual(50 + Math.ceil(50 * seconds) + 1);
    });
  });
});
