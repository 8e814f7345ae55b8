import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Clock } from '../../../src/platform/clock.js';
import { type Db, openDatabase } from '../../../src/platform/db/index.js';
import { migrateToLatest } from '../../../src/platform/db/migrations.js';
import {
  countRequestsBy,
  PLATFORM_SCOPE,
  RETENTION_MS,
  RequestTally,
} from '../../../src/platform/http/request-counts.js';
import { Metrics } from '../../../src/platform/metrics.js';

/**
 * RequestTally on its own (an in-memory SQLite): counts by outcome, adding up over flushes, keeping the counts
 * of a failed flush, dropping the oldest minutes over its bound (logged without PII), the last flush on close,
 * and the purge of minutes older than the retention.
 */

const MINUTE = 60_000;
const T0 = Date.parse('2026-12-04T15:03:00.000Z');

class PinnedClock implements Clock {
  ms: number;
  constructor(ms: number) {
    this.ms = ms;
  }
  now(): Date {
    return new Date(this.ms);
  }
}

function logLines() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { logger, lines };
}

let db: Db;
beforeEach(async () => {
  db = await openDatabase('sqlite::memory:');
  await migrateToLatest(db);
});
afterEach(async () => {
  await db.close();
});

const all = (scope: string) =>
  countRequestsBy(
    db.kysely,
    scope,
    { since: new Date(T0 - 40 * 86_400_000).toISOString(), until: new Date(T0 + 86_400_000).toISOString() },
    'minute',
  );

describe('RequestTally', () => {
  it('counts requests by outcome per scope and minute, and adds every flush to the stored rows', async () => {
    const clock = new PinnedClock(T0 + 5_000);
    const metrics = new Metrics({ defaultMetrics: false });
    const tally = new RequestTally({ db, clock, logger: logLines().logger, metrics, flushIntervalMs: 5_000 });
    for (const status of [200, 201, 204, 304, 400, 403, 404, 409, 422, 429, 429, 500, 503]) {
      tally.record('t1', status);
    }
    tally.record(PLATFORM_SCOPE, 200);
    expect(tally.pending).toBe(2);
    expect(await tally.flush()).toBe(true);
    expect(tally.pending).toBe(0);
    clock.ms += MINUTE;
    tally.record('t1', 404);
    clock.ms -= MINUTE;
    tally.record('t1', 200);
    expect(await tally.flush()).toBe(true);
    expect(await all('t1')).toEqual([
      { key: '2026-12-04T15:03', requests: 14, clientErrors: 5, serverErrors: 2, throttled: 2 },
      { key: '2026-12-04T15:04', requests: 1, clientErrors: 1, serverErrors: 0, throttled: 0 },
    ]);
    expect(await all(PLATFORM_SCOPE)).toEqual([
      { key: '2026-12-04T15:03', requests: 1, clientErrors: 0, serverErrors: 0, throttled: 0 },
    ]);
    expect(await all('t2')).toEqual([]);
  });

  it('keeps the counts of a failed flush, adds what came meanwhile, and drops the oldest minutes over its bound', async () => {
    const clock = new PinnedClock(T0);
    const metrics = new Metrics({ defaultMetrics: false });
    const { logger, lines } = logLines();
    const tally = new RequestTally({ db, clock, logger, metrics, flushIntervalMs: 5_000, maxPending: 4 });
    await db.kysely.schema.alterTable('request_counts').renameTo('away').execute();
    tally.record('t1', 200);
    tally.record('t2', 500);
    expect(await tally.flush()).toBe(false);
    expect(await tally.flush()).toBe(false);
    expect(tally.pending).toBe(2);
    expect((await metrics.requestCountFlushFailures.get()).values[0]?.value).toBe(2);
    // One warning for the outage, not one per failed flush.
    expect(lines.filter((l) => String(l.msg).includes('flush failed'))).toHaveLength(1);
    tally.record('t1', 429);
    // Two more minutes of two scopes: six pairs over a bound of four: the oldest minute goes.
    clock.ms += MINUTE;
    tally.record('t1', 200);
    tally.record('t3', 200);
    clock.ms += MINUTE;
    tally.record('t1', 200);
    expect(tally.pending).toBe(3);
    expect((await metrics.requestCountsDropped.get()).values[0]?.value).toBe(3);
    const warning = lines.find((l) => String(l.msg).includes('dropped the oldest minutes'));
    expect(warning).toMatchObject({ minutes: ['2026-12-04T15:03:00.000Z'], requests: 3, limit: 4 });
    await db.kysely.schema.alterTable('away').renameTo('request_counts').execute();
    expect(await tally.flush()).toBe(true);
    expect(lines.some((l) => l.msg === 'request counts: flushing again')).toBe(true);
    expect(await all('t1')).toEqual([
      { key: '2026-12-04T15:04', requests: 1, clientErrors: 0, serverErrors: 0, throttled: 0 },
      { key: '2026-12-04T15:05', requests: 1, clientErrors: 0, serverErrors: 0, throttled: 0 },
    ]);
    expect(await all('t3')).toHaveLength(1);
  });

  it('flushes run one after the other; what is counted while one runs goes with the next', async () => {
    const clock = new PinnedClock(T0);
    const metrics = new Metrics({ defaultMetrics: false });
    const tally = new RequestTally({ db, clock, logger: logLines().logger, metrics, flushIntervalMs: 5_000 });
    tally.record('t1', 200);
    const first = tally.flush();
    tally.record('t1', 200);
    const second = tally.flush();
    expect(await Promise.all([first, second])).toEqual([true, true]);
    expect((await all('t1'))[0]?.requests).toBe(2);
  });

  it('flushes by itself every interval once started, and stops on close', async () => {
    const clock = new PinnedClock(T0);
    const metrics = new Metrics({ defaultMetrics: false });
    const tally = new RequestTally({ db, clock, logger: logLines().logger, metrics, flushIntervalMs: 20 });
    tally.start();
    tally.record('t1', 200);
    await expect.poll(async () => (await all('t1'))[0]?.requests, { timeout: 2_000 }).toBe(1);
    await tally.close();
    tally.record('t1', 200);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(tally.pending).toBe(1);
    expect((await all('t1'))[0]?.requests).toBe(1);
  });

  it('writes what is left on close, and purges minutes older than the retention at most once an hour', async () => {
    const clock = new PinnedClock(T0);
    const metrics = new Metrics({ defaultMetrics: false });
    const old = new RequestTally({ db, clock, logger: logLines().logger, metrics, flushIntervalMs: 5_000 });
    old.record('t1', 200);
    await old.close();
    expect(await all('t1')).toHaveLength(1);

    // 35 days and a minute later: the first flush purges, the next ones within the hour do not.
    clock.ms = T0 + RETENTION_MS + MINUTE;
    const tally = new RequestTally({ db, clock, logger: logLines().logger, metrics, flushIntervalMs: 5_000 });
    await db.kysely
      .insertInto('request_counts')
      .values({
        scope: 't1',
        minute: new Date(T0 + 2 * MINUTE).toISOString(),
        requests: 1,
        client_errors: 0,
        server_errors: 0,
        throttled: 0,
      })
      .execute();
    expect(await tally.flush()).toBe(true);
    const left = await db.kysely.selectFrom('request_counts').select('minute').execute();
    expect(left.map((r) => r.minute)).toEqual([new Date(T0 + 2 * MINUTE).toISOString()]);
    clock.ms += 2 * MINUTE;
    expect(await tally.flush()).toBe(true);
    expect(await db.kysely.selectFrom('request_counts').select('minute').execute()).toHaveLength(1);
    clock.ms += 3_600_000;
    expect(await tally.flush()).toBe(true);
    expect(await db.kysely.selectFrom('request_counts').select('minute').execute()).toHaveLength(0);
  });
});
