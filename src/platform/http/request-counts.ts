import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import type { Db, Queryable } from '../db/index.js';
import { transact } from '../db/tx.js';
import type { Metrics } from '../metrics.js';
import { BUCKET_PREFIX, type Bucket } from '../time-buckets.js';

/**
 * Requests answered per scope and clock minute, by outcome: counted in memory on the request path (one map
 * entry incremented), added to the `request_counts` table every few seconds by each node (so the figures are
 * the cluster's), read back per minute or hour for the console's error and throttling rates.
 */

/** The scope of requests that act on no tenant (a platform credential without Roster-Tenant). */
export const PLATFORM_SCOPE = 'platform';

/** Rows older than this are deleted (at most once an hour per node). */
export const RETENTION_MS = 35 * 86_400_000;
const PURGE_EVERY_MS = 3_600_000;
/** Most (scope, minute) pairs held unwritten (a store down for long): the oldest minutes go first. */
export const MAX_PENDING = 50_000;
/** Rows per insert statement (6 parameters each: well under either store's limit). */
const CHUNK = 500;

export interface RequestCounts {
  requests: number;
  /** 4xx other than 429. */
  clientErrors: number;
  /** 5xx. */
  serverErrors: number;
  /** 429. */
  throttled: number;
}

export interface CountRow extends RequestCounts {
  readonly scope: string;
  /** The minute's start, ISO-8601 UTC (`2026-12-04T15:03:00.000Z`). */
  readonly minute: string;
}

// ---- store: the `request_counts` table

/**
 * Adds `rows` to the stored counts (insert, or add to the row of the same scope and minute). Rows go in
 * (scope, minute) order, so that nodes flushing at once lock the rows they share in the same order.
 */
export async function addCounts(q: Queryable, rows: readonly CountRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += CHUNK) {
    await q
      .insertInto('request_counts')
      .values(
        rows.slice(i, i + CHUNK).map((r) => ({
          scope: r.scope,
          minute: r.minute,
          requests: r.requests,
          client_errors: r.clientErrors,
          server_errors: r.serverErrors,
          throttled: r.throttled,
        })),
      )
      .onConflict((oc) =>
        oc.columns(['scope', 'minute']).doUpdateSet((eb) => ({
          requests: eb('request_counts.requests', '+', eb.ref('excluded.requests')),
          client_errors: eb('request_counts.client_errors', '+', eb.ref('excluded.client_errors')),
          server_errors: eb('request_counts.server_errors', '+', eb.ref('excluded.server_errors')),
          throttled: eb('request_counts.throttled', '+', eb.ref('excluded.throttled')),
        })),
      )
      .execute();
  }
}

/** Deletes the counts of minutes before `before` (an ISO instant); returns how many rows went. */
export async function purgeCounts(q: Queryable, before: string): Promise<number> {
  const res = await q.deleteFrom('request_counts').where('minute', '<', before).executeTakeFirst();
  return Number(res.numDeletedRows);
}

/**
 * A scope's counts per minute or hour of the minutes that start in [since, until), summed by the database
 * over the (scope, minute) key. Buckets without counts are left out; oldest first.
 */
export async function countRequestsBy(
  q: Queryable,
  scope: string,
  range: { since: string; until: string },
  bucket: Bucket,
): Promise<({ key: string } & RequestCounts)[]> {
  const key = sql<string>`substr(minute, 1, ${sql.lit(BUCKET_PREFIX[bucket])})`;
  const rows = await q
    .selectFrom('request_counts')
    .select((eb) => [
      key.as('k'),
      eb.fn.sum<number | string>('requests').as('requests'),
      eb.fn.sum<number | string>('client_errors').as('client_errors'),
      eb.fn.sum<number | string>('server_errors').as('server_errors'),
      eb.fn.sum<number | string>('throttled').as('throttled'),
    ])
    .where('scope', '=', scope)
    .where('minute', '>=', range.since)
    .where('minute', '<', range.until)
    .groupBy(key)
    .orderBy(key)
    .execute();
  return rows.map((r) => ({
    key: r.k,
    requests: Number(r.requests),
    clientErrors: Number(r.client_errors),
    serverErrors: Number(r.server_errors),
    throttled: Number(r.throttled),
  }));
}

// ---- the tally: counts in memory, flushed every few seconds

/**
 * This node's counts not yet written, per minute and scope. `record` is all the request path pays; `flush`
 * (every `flushIntervalMs` once started, on `close`, or when called) adds them to the table in one
 * transaction. A flush that fails puts its counts back, to go with the next one; while the store stays away,
 * at most `maxPending` pairs are held and the oldest minutes are dropped (logged, counted in
 * `roster_request_counts_dropped_total`).
 */
export class RequestTally {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #intervalMs: number;
  readonly #maxPending: number;
  /** minute -> scope -> counts. */
  #pending = new Map<string, Map<string, RequestCounts>>();
  #size = 0;
  #minuteStart = Number.NaN;
  #minuteKey = '';
  #timer: NodeJS.Timeout | undefined;
  #last: Promise<boolean> = Promise.resolve(true);
  /** Flushes asked for and not finished. */
  #inFlight = 0;
  #failures = 0;
  #lastPurge = Number.NEGATIVE_INFINITY;

  constructor(deps: {
    db: Db;
    clock: Clock;
    logger: Logger;
    metrics: Metrics;
    flushIntervalMs: number;
    maxPending?: number;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#metrics = deps.metrics;
    this.#intervalMs = deps.flushIntervalMs;
    this.#maxPending = deps.maxPending ?? MAX_PENDING;
  }

  /** Counts one answered request of `scope` (a tenant id or {@link PLATFORM_SCOPE}) with `status`. */
  record(scope: string, status: number): void {
    const now = this.#clock.now().getTime();
    if (!(now >= this.#minuteStart && now < this.#minuteStart + 60_000)) {
      this.#minuteStart = now - (now % 60_000);
      this.#minuteKey = new Date(this.#minuteStart).toISOString();
    }
    let minute = this.#pending.get(this.#minuteKey);
    if (!minute) {
      minute = new Map();
      this.#pending.set(this.#minuteKey, minute);
    }
    let c = minute.get(scope);
    if (!c) {
      c = { requests: 0, clientErrors: 0, serverErrors: 0, throttled: 0 };
      minute.set(scope, c);
      this.#size++;
    }
    c.requests++;
    if (status === 429) c.throttled++;
    else if (status >= 500) c.serverErrors++;
    else if (status >= 400) c.clientErrors++;
    if (this.#size > this.#maxPending) this.#shed();
  }

  /** How many (scope, minute) pairs wait to be written. */
  get pending(): number {
    return this.#size;
  }

  /** Flushes every `flushIntervalMs` until `close`. */
  start(): void {
    if (this.#timer) return;
    // A tick that finds a flush still running (a slow or hanging store) leaves it alone: no queue builds up.
    this.#timer = setInterval(() => {
      if (this.#inFlight === 0) void this.flush();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  /**
   * Writes everything counted so far (after any flush under way); true when it was written (or there was
   * nothing to write), false when the store refused it and the counts were kept. Never throws.
   */
  flush(): Promise<boolean> {
    this.#inFlight++;
    const run = this.#last
      .then(() => this.#write())
      .finally(() => {
        this.#inFlight--;
      });
    this.#last = run;
    return run;
  }

  /** Stops the timer and writes what is left (before the store closes). */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    if (!(await this.flush()) && this.#size > 0) {
      this.#logger.warn({ pairs: this.#size }, 'request counts: the last flush failed; its counts are lost');
    }
  }

  async #write(): Promise<boolean> {
    const rows = this.#take();
    if (rows.length > 0) {
      try {
        await transact(this.#db, (tx) => addCounts(tx, rows));
        if (this.#failures > 0) {
          this.#logger.info({ failures: this.#failures }, 'request counts: flushing again');
          this.#failures = 0;
        }
      } catch (err) {
        this.#metrics.requestCountFlushFailures.inc();
        // One warning per outage: the store's own failure is reported where it matters (readiness, 503s).
        if (this.#failures++ === 0) {
          this.#logger.warn(
            { err, pairs: rows.length },
            'request counts: flush failed; kept for the next one',
          );
        }
        this.#restore(rows);
        return false;
      }
    }
    await this.#purgeIfDue();
    return true;
  }

  /** Takes every pending count out, as rows in (scope, minute) order. */
  #take(): CountRow[] {
    const rows: CountRow[] = [];
    for (const [minute, scopes] of this.#pending) {
      for (const [scope, c] of scopes) rows.push({ scope, minute, ...c });
    }
    this.#pending = new Map();
    this.#size = 0;
    rows.sort((a, b) => (a.scope !== b.scope ? (a.scope < b.scope ? -1 : 1) : a.minute < b.minute ? -1 : 1));
    return rows;
  }

  /** Puts the rows of a failed flush back, added to whatever was counted meanwhile. */
  #restore(rows: readonly CountRow[]): void {
    for (const r of rows) {
      let minute = this.#pending.get(r.minute);
      if (!minute) {
        minute = new Map();
        this.#pending.set(r.minute, minute);
      }
      const c = minute.get(r.scope);
      if (c) {
        c.requests += r.requests;
        c.clientErrors += r.clientErrors;
        c.serverErrors += r.serverErrors;
        c.throttled += r.throttled;
      } else {
        minute.set(r.scope, {
          requests: r.requests,
          clientErrors: r.clientErrors,
          serverErrors: r.serverErrors,
          throttled: r.throttled,
        });
        this.#size++;
      }
    }
    if (this.#size > this.#maxPending) this.#shed();
  }

  /** Drops the oldest minutes until at most `maxPending` pairs are held. */
  #shed(): void {
    const dropped: string[] = [];
    let requests = 0;
    while (this.#size > this.#maxPending) {
      let oldest: string | undefined;
      for (const k of this.#pending.keys()) if (oldest === undefined || k < oldest) oldest = k;
      if (oldest === undefined) break;
      const scopes = this.#pending.get(oldest) as Map<string, RequestCounts>;
      for (const c of scopes.values()) requests += c.requests;
      this.#size -= scopes.size;
      this.#pending.delete(oldest);
      dropped.push(oldest);
    }
    this.#metrics.requestCountsDropped.inc(requests);
    this.#logger.warn(
      { minutes: dropped, requests, limit: this.#maxPending },
      'request counts: too many unwritten; dropped the oldest minutes',
    );
  }

  async #purgeIfDue(): Promise<void> {
    const now = this.#clock.now().getTime();
    if (now - this.#lastPurge < PURGE_EVERY_MS) return;
    this.#lastPurge = now;
    try {
      await purgeCounts(this.#db.kysely, new Date(now - RETENTION_MS).toISOString());
    } catch (err) {
      this.#logger.warn({ err }, 'request counts: purge of old minutes failed');
    }
  }
}
