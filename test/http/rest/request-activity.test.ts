import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { expect, it } from 'vitest';
import type { App } from '../../../src/main.js';
import type { Clock } from '../../../src/platform/clock.js';
import { anotherNode } from '../../integration/crypto/rotation-fixtures.js';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * GET /api/v1/requests/activity: the requests answered per scope (a tenant, or the platform) and minute or
 * hour, by outcome, counted in memory by the HTTP edge of every node and added to the database on flush.
 * Every request the tests send is also counted here, in a model keyed by the clock's minute (the clock only
 * moves when a test moves it), and the route must answer exactly the model's figures as of the last flush.
 */

/** A clock that stands still until the test moves it. */
class PinnedClock implements Clock {
  #ms: number;
  constructor(ms: number) {
    this.#ms = ms;
  }
  now(): Date {
    return new Date(this.#ms);
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
}

interface Counts {
  requests: number;
  clientErrors: number;
  serverErrors: number;
  throttled: number;
}
type Item = { start: string } & Counts;

const PLATFORM = 'platform';
const MINUTE = 60_000;

/** What every request sent so far must have counted, per scope and minute. */
class Model {
  readonly #counts = new Map<string, Map<string, Counts>>();
  readonly #clock: Clock;
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  add(scope: string, status: number): void {
    const ms = this.#clock.now().getTime();
    const minute = new Date(ms - (ms % MINUTE)).toISOString();
    let scopes = this.#counts.get(scope);
    if (!scopes) {
      scopes = new Map();
      this.#counts.set(scope, scopes);
    }
    let c = scopes.get(minute);
    if (!c) {
      c = { requests: 0, clientErrors: 0, serverErrors: 0, throttled: 0 };
      scopes.set(minute, c);
    }
    c.requests++;
    if (status === 429) c.throttled++;
    else if (status >= 500) c.serverErrors++;
    else if (status >= 400) c.clientErrors++;
  }

  /** The scope's buckets whose minutes start in [since, until), oldest first. */
  items(scope: string, since: string, until: string, bucket: 'minute' | 'hour' = 'minute'): Item[] {
    const out = new Map<string, Counts>();
    for (const [minute, c] of this.#counts.get(scope) ?? []) {
      if (minute < since || minute >= until) continue;
      const start = bucket === 'hour' ? `${minute.slice(0, 13)}:00:00.000Z` : minute;
      const o = out.get(start) ?? { requests: 0, clientErrors: 0, serverErrors: 0, throttled: 0 };
      o.requests += c.requests;
      o.clientErrors += c.clientErrors;
      o.serverErrors += c.serverErrors;
      o.throttled += c.throttled;
      out.set(start, o);
    }
    return [...out.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([start, c]) => ({ start, ...c }));
  }
}

describeEachStore('REST request activity', (kind) => {
  // A little past the start of the current minute: tests move it on by whole minutes.
  const firstMinute = Math.floor(Date.now() / MINUTE) * MINUTE;
  const clock = new PinnedClock(firstMinute + 1_000);
  const startedAt = new Date(firstMinute).toISOString();
  const model = new Model(clock);
  // A low tenant limit, to be exceeded on purpose; the flush timer far off (the tests flush themselves).
  const t = useTestApp(
    kind,
    { ROSTER_RATE_LIMIT_TENANT: '20', ROSTER_REQUEST_COUNTS_FLUSH_INTERVAL: '60' },
    { clock },
  );

  /** `client`, with every answer counted in the model under `scope`. */
  function tracked(client: Client, scope: string): Client {
    const note = async (p: Promise<Answer>) => {
      const res = await p;
      model.add(scope, res.status);
      return res;
    };
    return {
      get: (p, h) => note(client.get(p, h)),
      delete: (p, h) => note(client.delete(p, h)),
      post: (p, b, h) => note(client.post(p, b, h)),
      put: (p, b, h) => note(client.put(p, b, h)),
      patch: (p, b, h) => note(client.patch(p, b, h)),
      raw: (m, p, b, h) => note(client.raw(m, p, b, h)),
    };
  }

  const admin = () => tracked(t().admin, PLATFORM);
  const thisMinute = () => new Date(Math.floor(clock.now().getTime() / MINUTE) * MINUTE).toISOString();
  const until = () => new Date(clock.now().getTime() + MINUTE).toISOString();
  const range = () => `since=${encodeURIComponent(startedAt)}&until=${encodeURIComponent(until())}`;

  async function tenant(): Promise<{ tenantId: string; api: Client; token: string }> {
    const { tenantId, api, token } = await t().newTenant();
    // newTenant's two platform requests: the tenant, then its token.
    model.add(PLATFORM, 201);
    model.add(PLATFORM, 201);
    return { tenantId, token, api: tracked(api, tenantId) };
  }

  /** Writes what every node counted so far. */
  async function flush(apps: readonly App[] = []): Promise<void> {
    for (const app of [t().app, ...apps]) expect(await app.requestCounts.flush()).toBe(true);
  }

  /**
   * Flushes, then reads the scope's figures through `api`: the answer and what the model expects of it (the
   * read itself is counted after it answers). Throttled reads are tried again after Retry-After.
   */
  async function read(
    api: Client,
    scope: string,
    options: { bucket?: 'minute' | 'hour'; headers?: Record<string, string>; apps?: readonly App[] } = {},
  ): Promise<{ res: Answer; expected: Item[] }> {
    const bucket = options.bucket ?? 'minute';
    for (;;) {
      await flush(options.apps);
      const expected = model.items(scope, startedAt, until(), bucket);
      const res = await api.get(`/api/v1/requests/activity?${range()}&bucket=${bucket}`, options.headers);
      if (res.status !== 429) return { res, expected };
      await sleep(Number(res.headers['retry-after']) * 1000);
    }
  }

  /** The scope's figures, per minute and per hour, are exactly the model's. */
  async function expectFigures(
    api: Client,
    scope: string,
    options: { headers?: Record<string, string>; apps?: readonly App[] } = {},
  ): Promise<void> {
    const minutes = await read(api, scope, options);
    expect(minutes.res.status, minutes.res.raw).toBe(200);
    expect(minutes.res.body).toEqual({
      bucket: 'minute',
      since: startedAt,
      until: until(),
      items: minutes.expected,
    });
    const hours = await read(api, scope, { ...options, bucket: 'hour' });
    expect(hours.res.status, hours.res.raw).toBe(200);
    expect(hours.res.body.items).toEqual(hours.expected);
  }

  it('counts a tenant’s answers by outcome and minute: 2xx, 404, 403, 409, 422, 400 and 429', async () => {
    const a = await tenant();
    // A token of the tenant without users:read (nor tenants:read): its requests are the tenant's too.
    const weak = await admin().post('/api/v1/tokens', {
      tenantId: a.tenantId,
      name: 'weak',
      roles: ['provisioner'],
    });
    expect(weak.status, weak.raw).toBe(201);
    const weakApi = tracked(t().client(weak.body.token), a.tenantId);

    // Minute 1: successes, a 409, a 422, a 400, a 404 and two 403s.
    expect((await a.api.get('/api/v1/products')).status).toBe(200);
    expect((await a.api.post('/api/v1/products', { sku: 'RQ-1', name: 'one' })).status).toBe(201);
    expect((await a.api.post('/api/v1/products', { sku: 'RQ-1', name: 'again' })).status).toBe(409);
    expect((await a.api.post('/api/v1/users', { nothing: true })).status).toBe(422);
    const malformed = await a.api.raw('POST', '/api/v1/users', '{"userName":', {
      'content-type': 'application/json',
    });
    expect(malformed.status, malformed.raw).toBe(400);
    expect((await a.api.get(`/api/v1/users/${randomUUID()}`)).status).toBe(404);
    expect((await weakApi.get('/api/v1/users')).status).toBe(403);
    expect((await weakApi.get('/api/v1/requests/activity')).status).toBe(403);
    const first = model.items(a.tenantId, startedAt, until());
    expect(first).toEqual([
      { start: thisMinute(), requests: 8, clientErrors: 6, serverErrors: 0, throttled: 0 },
    ]);

    // Minute 2: a burst over the tenant's 20 r/s: some answered, the rest 429.
    clock.advance(MINUTE);
    const burst = await Promise.all(Array.from({ length: 60 }, () => a.api.get('/api/v1/products')));
    const throttled = burst.filter((r) => r.status === 429).length;
    expect(throttled).toBeGreaterThan(0);
    expect(burst.every((r) => r.status === 200 || r.status === 429)).toBe(true);
    expect(model.items(a.tenantId, thisMinute(), until())).toEqual([
      { start: thisMinute(), requests: 60, clientErrors: 0, serverErrors: 0, throttled },
    ]);
    await sleep(1_200);

    // Minute 3: the reads of the figures count too (once flushed).
    clock.advance(MINUTE);
    await expectFigures(a.api, a.tenantId);
    expect(model.items(a.tenantId, startedAt, until())).toHaveLength(3);

    // The platform account naming the tenant sees the tenant's figures (and its reads count for the tenant).
    await expectFigures(tracked(t().admin, a.tenantId), a.tenantId, {
      headers: { 'roster-tenant': a.tenantId },
    });
    // A minute later, the figures still add up.
    clock.advance(MINUTE);
    await expectFigures(a.api, a.tenantId);
  });

  it('keeps tenants apart; a platform account alone reads the platform scope’s figures', async () => {
    const a = await tenant();
    const b = await tenant();
    expect((await a.api.get('/api/v1/products')).status).toBe(200);
    expect((await b.api.get(`/api/v1/users/${randomUUID()}`)).status).toBe(404);
    expect((await b.api.get(`/api/v1/users/${randomUUID()}`)).status).toBe(404);
    expect(model.items(b.tenantId, startedAt, until())).toEqual([
      { start: thisMinute(), requests: 2, clientErrors: 2, serverErrors: 0, throttled: 0 },
    ]);
    await expectFigures(a.api, a.tenantId);
    await expectFigures(b.api, b.tenantId);
    // The platform scope: every request of a platform token without Roster-Tenant (tenants and tokens made).
    await expectFigures(admin(), PLATFORM);
    // Requests refused before their scope is known are nobody's: a bad token, a tenant that does not exist.
    await flush();
    const before = model.items(PLATFORM, startedAt, until());
    expect((await t().client('rst_not-a-real-token-0123456789').get('/api/v1/products')).status).toBe(401);
    const unknown = await t().admin.get('/api/v1/products', { 'roster-tenant': randomUUID() });
    expect(unknown.status, unknown.raw).toBe(404);
    await flush();
    const after = await t().admin.get(`/api/v1/requests/activity?${range()}`);
    model.add(PLATFORM, after.status);
    expect(after.status, after.raw).toBe(200);
    expect(after.body.items).toEqual(before);
  });

  it('keeps the counts of a failed flush and writes them with the next one', async () => {
    const a = await tenant();
    clock.advance(MINUTE);
    const db = t().app.db.kysely;
    await db.schema.alterTable('request_counts').renameTo('request_counts_away').execute();
    try {
      expect((await a.api.get('/api/v1/products')).status).toBe(200);
      // Reading the figures fails meanwhile: a server error, counted too.
      expect((await a.api.get('/api/v1/requests/activity')).status).toBeGreaterThanOrEqual(500);
      expect(await t().app.requestCounts.flush()).toBe(false);
      expect(t().app.requestCounts.pending).toBeGreaterThan(0);
      expect((await a.api.get(`/api/v1/users/${randomUUID()}`)).status).toBe(404);
      expect(await t().app.requestCounts.flush()).toBe(false);
    } finally {
      await db.schema.alterTable('request_counts_away').renameTo('request_counts').execute();
    }
    expect(model.items(a.tenantId, thisMinute(), until())).toEqual([
      { start: thisMinute(), requests: 3, clientErrors: 1, serverErrors: 1, throttled: 0 },
    ]);
    await expectFigures(a.api, a.tenantId);
    expect(t().app.requestCounts.pending).toBeGreaterThan(0); // the reads since the flush
    await expectFigures(admin(), PLATFORM);
  });

  it('refuses a reversed or oversized range, a bad instant, an unknown bucket or parameter with 400 problems', async () => {
    const { api, tenantId } = await tenant();
    const now = clock.now();
    const iso = (ms: number) => encodeURIComponent(new Date(now.getTime() + ms).toISOString());
    for (const query of [
      `since=${iso(0)}&until=${iso(-1000)}`,
      `since=${iso(0)}&until=${iso(0)}`,
      `since=${iso(-86_400_001)}&until=${iso(0)}`,
      `since=${iso(-61 * 86_400_000)}&until=${iso(0)}&bucket=hour`,
      `since=${iso(-60_000)}&bucket=second`,
      'since=yesterday',
      'until=2026-12-31T23:59:60Z',
      'scope=platform',
    ]) {
      const res = await api.get(`/api/v1/requests/activity?${query}`);
      expect(res.status, `${query}: ${res.raw}`).toBe(400);
      expect(String(res.headers['content-type'])).toContain('application/problem+json');
      expect(res.body.code, query).toBe('request.invalid_parameter');
    }
    // Without a range: the last hour, up to now, by minute.
    const plain = await api.get('/api/v1/requests/activity');
    expect(plain.status, plain.raw).toBe(200);
    expect(plain.body.bucket).toBe('minute');
    expect(plain.body.until).toBe(clock.now().toISOString());
    expect(Date.parse(plain.body.until) - Date.parse(plain.body.since)).toBe(3_600_000);
    // A day of minutes is allowed; thirty days of hours too.
    expect(
      (await api.get(`/api/v1/requests/activity?since=${iso(-86_400_000)}&until=${iso(0)}`)).status,
    ).toBe(200);
    expect(
      (await api.get(`/api/v1/requests/activity?since=${iso(-30 * 86_400_000)}&until=${iso(0)}&bucket=hour`))
        .status,
    ).toBe(200);
    await expectFigures(api, tenantId);
  });

  if (kind === 'postgres') {
    it('two nodes on one database: each adds its own counts, both read the sum', async () => {
      const a = await tenant();
      const other = await anotherNode(t(), { clock });
      try {
        const viaOther = tracked(other.client(a.token), a.tenantId);
        clock.advance(MINUTE);
        for (let i = 0; i < 3; i++) expect((await a.api.get('/api/v1/products')).status).toBe(200);
        for (let i = 0; i < 4; i++) {
          expect((await viaOther.get(`/api/v1/users/${randomUUID()}`)).status).toBe(404);
        }
        expect((await viaOther.get('/api/v1/products')).status).toBe(200);
        expect(model.items(a.tenantId, thisMinute(), until())).toEqual([
          { start: thisMinute(), requests: 8, clientErrors: 4, serverErrors: 0, throttled: 0 },
        ]);
        // Read through either node once both flushed: the cluster's figures.
        await expectFigures(a.api, a.tenantId, { apps: [other.app] });
        await expectFigures(viaOther, a.tenantId, { apps: [other.app] });
      } finally {
        await other.close();
      }
    });
  }
});
