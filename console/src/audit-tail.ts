import { api, type Page, type Query, serverNow } from './api';
import type { AuditEntry } from './types';

/**
 * Follows the audit log from the console: GET /api/v1/audit/entries answers in sequence order only, so the
 * newest entries are found by time windows (`since`), and later polls ask again from the newest time seen
 * (less an overlap, for entries committed late), dropping entries already seen by `seq`. A catch-up that
 * needs more than `maxPages` pages goes on from its cursor at the next poll.
 */
export class AuditTail {
  readonly #filter: Query;
  readonly #windows: readonly number[];
  readonly #want: number;
  readonly #keepMs: number | undefined;
  readonly #keepCount: number | undefined;
  readonly #maxPages: number;
  #lastTime: number | null = null;
  #cursor: string | undefined;
  #since: string | undefined;
  #seen = new Set<number>();
  #entries: AuditEntry[] = [];

  constructor(opts: {
    filter?: Query;
    /** Look-back windows tried in order on the first poll until `want` entries are found (ms). */
    windows: readonly number[];
    want?: number;
    /** Keep entries newer than this (ms before now)… */
    keepMs?: number;
    /** …or only the newest this many. */
    keepCount?: number;
    maxPages?: number;
  }) {
    this.#filter = opts.filter ?? {};
    this.#windows = opts.windows;
    this.#want = opts.want ?? 1;
    this.#keepMs = opts.keepMs;
    this.#keepCount = opts.keepCount;
    this.#maxPages = opts.maxPages ?? 5;
  }

  /** Entries kept, oldest first. */
  get entries(): readonly AuditEntry[] {
    return this.#entries;
  }

  /** True while a catch-up has pages left to read. */
  get behind(): boolean {
    return this.#cursor !== undefined;
  }

  async poll(now = serverNow()): Promise<void> {
    if (this.#cursor !== undefined || this.#lastTime !== null) {
      const since =
        this.#cursor !== undefined ? this.#since : new Date((this.#lastTime ?? now) - 5_000).toISOString();
      await this.#read(since, this.#cursor);
    } else {
      for (const [i, w] of this.#windows.entries()) {
        const since = new Date(now - w).toISOString();
        await this.#read(since, undefined);
        if (
          this.#entries.length >= this.#want ||
          this.#cursor !== undefined ||
          i === this.#windows.length - 1
        )
          break;
      }
      // Nothing at all yet: later polls look from now on.
      if (this.#lastTime === null) this.#lastTime = now;
    }
    this.#prune(now);
  }

  async #read(since: string | undefined, from: string | undefined): Promise<void> {
    let cursor = from;
    this.#since = since;
    for (let i = 0; i < this.#maxPages; i++) {
      const page = await api.get<Page<AuditEntry>>('/api/v1/audit/entries', {
        ...this.#filter,
        since,
        limit: 200,
        cursor,
      });
      for (const e of page.items) {
        if (this.#seen.has(e.seq)) continue;
        this.#seen.add(e.seq);
        this.#entries.push(e);
        const t = Date.parse(e.time);
        if (this.#lastTime === null || t > this.#lastTime) this.#lastTime = t;
      }
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    this.#cursor = cursor;
    this.#entries.sort((a, b) => a.seq - b.seq);
  }

  #prune(now: number): void {
    if (this.#keepMs !== undefined) {
      const keepMs = this.#keepMs;
      this.#entries = this.#entries.filter((e) => now - Date.parse(e.time) <= keepMs);
    }
    if (this.#keepCount !== undefined && this.#entries.length > this.#keepCount) {
      this.#entries = this.#entries.slice(-this.#keepCount);
    }
    // Seqs are remembered only as long as an overlapping poll could return them again.
    if (this.#seen.size > 5_000) this.#seen = new Set(this.#entries.map((e) => e.seq));
  }
}

/** Entries per clock minute as /api/v1/audit/activity counts them, oldest first, the current minute last. */
export interface Activity {
  /** One count per minute: `minutes` of them, the last the minute now running (partial). */
  readonly counts: readonly number[];
  /** Every entry of the range. */
  readonly total: number;
}

/**
 * The activity of one action over the last `minutes` clock minutes (the current one included), counted by
 * the server in one request, however many entries there are.
 */
export async function minuteActivity(action: string, now: number, minutes: number): Promise<Activity> {
  const current = Math.floor(now / 60_000) * 60_000;
  const since = current - (minutes - 1) * 60_000;
  const res = await api.get<{ total: number; buckets: { start: string; count: number }[] }>(
    '/api/v1/audit/activity',
    { action, since: new Date(since).toISOString(), bucket: 'minute' },
  );
  const counts = new Array<number>(minutes).fill(0);
  for (const b of res.buckets) {
    const i = Math.round((Date.parse(b.start) - since) / 60_000);
    if (i >= 0 && i < minutes) counts[i] = b.count;
  }
  return { counts, total: res.total };
}
