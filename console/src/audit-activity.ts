import { api, type Page } from './api';
import type { AuditEntry } from './types';

/** The newest `count` audit entries of the scope, newest first, in one request (`order=desc`). */
export async function newestEntries(count: number): Promise<readonly AuditEntry[]> {
  const page = await api.get<Page<AuditEntry>>('/api/v1/audit/entries', { order: 'desc', limit: count });
  return page.items;
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
