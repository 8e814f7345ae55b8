import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { ShiftingClock } from '../../integration/crypto/rotation-fixtures.js';
import { type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * GET /api/v1/audit/activity: entries per minute or hour of a time range, counted by the database (the
 * console's onboardings and refusals per minute, without paging through the log). The counts are checked
 * against the entries themselves, read through /api/v1/audit/entries.
 */

interface Entry {
  time: string;
  action: string;
  actor: string;
}

describeEachStore('REST audit activity', (kind) => {
  const clock = new ShiftingClock();
  const t = useTestApp(kind, {}, { clock });

  async function tenant() {
    const { tenantId, api } = await t().newTenant();
    return { tenantId, api };
  }

  async function createUsers(api: Client, n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      const res = await api.post('/api/v1/users', {
        userName: `act-${randomBytes(4).toString('hex')}@example.com`,
      });
      expect(res.status, res.raw).toBe(201);
    }
  }

  async function entriesOf(api: Client, query: string): Promise<Entry[]> {
    const res = await api.get(`/api/v1/audit/entries?limit=200&${query}`);
    expect(res.status, res.raw).toBe(200);
    expect(res.body.nextCursor).toBeUndefined();
    return res.body.items;
  }

  /** Buckets computed here, from the entries' own times. */
  function bucketsOf(entries: readonly Entry[], prefix: number): { start: string; count: number }[] {
    const counts = new Map<string, number>();
    for (const e of entries) {
      const k = e.time.slice(0, prefix);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const pad = prefix === 13 ? ':00:00.000Z' : ':00.000Z';
    return [...counts.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, count]) => ({ start: `${k}${pad}`, count }));
  }

  it('counts one action per minute and per hour exactly as the entries say, within the range', async () => {
    const { api } = await tenant();
    const since = clock.now().toISOString();
    // Three batches, two and a half minutes apart: three different minute buckets.
    for (const n of [3, 1, 4]) {
      await createUsers(api, n);
      clock.advance(150_000);
    }
    const until = clock.now().toISOString();
    const entries = await entriesOf(api, `action=user.created&since=${since}`);
    expect(entries).toHaveLength(8);

    const q = `since=${encodeURIComponent(since)}&until=${encodeURIComponent(until)}&action=user.created`;
    const minutes = await api.get(`/api/v1/audit/activity?${q}`);
    expect(minutes.status, minutes.raw).toBe(200);
    expect(minutes.body).toMatchObject({ since, until, bucket: 'minute', total: 8 });
    expect(minutes.body.buckets).toEqual(bucketsOf(entries, 16));
    expect(minutes.body.buckets.length).toBeGreaterThanOrEqual(3);

    const hours = await api.get(`/api/v1/audit/activity?${q}&bucket=hour`);
    expect(hours.status, hours.raw).toBe(200);
    expect(hours.body.buckets).toEqual(bucketsOf(entries, 13));
    expect(hours.body.total).toBe(8);

    // Every action when none is named; a range ending before the last batch leaves it out.
    const all = await api.get(`/api/v1/audit/activity?since=${encodeURIComponent(since)}`);
    expect(all.body.total).toBe((await entriesOf(api, `since=${since}`)).length);
    const lastBatch = entries.slice(-4)[0] as Entry;
    const early = await api.get(
      `/api/v1/audit/activity?since=${encodeURIComponent(since)}&until=${encodeURIComponent(lastBatch.time)}&action=user.created`,
    );
    expect(early.body.total).toBe(4);
  });

  it('sees only its own tenant; a platform token alone sees the platform log', async () => {
    const a = await tenant();
    const b = await tenant();
    const since = clock.now().toISOString();
    await createUsers(a.api, 2);
    await createUsers(b.api, 1);
    const q = `since=${encodeURIComponent(since)}&action=user.created`;
    expect((await b.api.get(`/api/v1/audit/activity?${q}`)).body.total).toBe(1);
    expect((await a.api.get(`/api/v1/audit/activity?${q}`)).body.total).toBe(2);
    // The platform token with Roster-Tenant acts on that tenant; without it, on the platform tree.
    expect(
      (await t().admin.get(`/api/v1/audit/activity?${q}`, { 'roster-tenant': a.tenantId })).body.total,
    ).toBe(2);
    expect((await t().admin.get(`/api/v1/audit/activity?${q}`)).body.total).toBe(0);
  });

  it('refuses a reversed or oversized range, a bad instant and an unknown bucket with 400 problems', async () => {
    const { api } = await tenant();
    const now = clock.now();
    const iso = (ms: number) => encodeURIComponent(new Date(now.getTime() + ms).toISOString());
    for (const [query, code] of [
      [`since=${iso(0)}&until=${iso(-1000)}`, 'request.invalid_parameter'],
      [`since=${iso(-86_400_001)}&until=${iso(0)}`, 'request.invalid_parameter'],
      [`since=${iso(-60_000)}&bucket=second`, 'request.invalid_parameter'],
      [`since=yesterday`, 'request.invalid_parameter'],
      // RFC 3339 admits a leap second; no clock can place it: 400, never a 500.
      [`since=2026-12-31T23:59:60Z`, 'request.invalid_parameter'],
    ] as const) {
      const res = await api.get(`/api/v1/audit/activity?${query}`);
      expect(res.status, `${query}: ${res.raw}`).toBe(400);
      expect(String(res.headers['content-type'])).toContain('application/problem+json');
      expect(res.body.code, query).toBe(code);
    }
    // The same instant on the other routes that take one.
    for (const path of [
      '/api/v1/audit/entries?until=2016-12-31T23:59:60Z',
      '/api/v1/audit/checkpoints?since=2016-12-31T23:59:60Z',
      '/api/v1/audit/holders?product=X&at=2016-12-31T23:59:60Z',
    ]) {
      const res = await api.get(path);
      expect(res.status, `${path}: ${res.raw}`).toBe(400);
      expect(res.body.code, path).toBe('request.invalid_parameter');
    }
    // Without a range: the last hour, up to now.
    const plain = await api.get('/api/v1/audit/activity');
    expect(plain.status, plain.raw).toBe(200);
    expect(Date.parse(plain.body.until) - Date.parse(plain.body.since)).toBe(3_600_000);
    expect(Math.abs(Date.parse(plain.body.until) - clock.now().getTime())).toBeLessThan(5_000);
    // A day of minutes is allowed; the same span in hours too, and more of them.
    expect((await api.get(`/api/v1/audit/activity?since=${iso(-86_400_000)}&until=${iso(0)}`)).status).toBe(
      200,
    );
    expect(
      (await api.get(`/api/v1/audit/activity?since=${iso(-30 * 86_400_000)}&until=${iso(0)}&bucket=hour`))
        .status,
    ).toBe(200);
  });
});
