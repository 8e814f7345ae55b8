import { RosterError } from './errors.js';

/**
 * Counts per clock minute or hour over a time range (the audit activity and the request counts): the range
 * rules both routes share, and the bucket keys both stores group by.
 */

/** Lengths of the ISO-8601 prefix that names a bucket: `2026-12-04T08:15` (minute), `2026-12-04T08` (hour). */
export const BUCKET_PREFIX = { minute: 16, hour: 13 } as const;
export type Bucket = keyof typeof BUCKET_PREFIX;

/** Most buckets one answer holds: a day of minutes, two months of hours. */
export const MAX_BUCKETS = 1440;

const WIDTH_MS: Record<Bucket, number> = { minute: 60_000, hour: 3_600_000 };

/**
 * An RFC 3339 instant as an ISO string in UTC. The date-time format admits a leap second (23:59:60), which
 * Date cannot place: that is a 400, not a crash.
 * @throws request.invalid_parameter
 */
export function instantOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) {
    throw new RosterError('request.invalid_parameter', {
      detail: `'${value.slice(0, 40)}' is not an instant that can be placed (a leap second?)`,
    });
  }
  return new Date(ms).toISOString();
}

/**
 * A time range from optional query values: `until` defaults to `now`, `since` to `defaultMs` before `until`.
 * @throws request.invalid_parameter when until is not after since, or the range is longer than `maxMs`
 */
export function timeRange(
  query: { since?: string | undefined; until?: string | undefined },
  now: Date,
  limits: { defaultMs: number; maxMs: number; tooLong: string },
): { since: string; until: string } {
  const until = instantOf(query.until) ?? now.toISOString();
  const since = instantOf(query.since) ?? new Date(Date.parse(until) - limits.defaultMs).toISOString();
  const span = Date.parse(until) - Date.parse(since);
  if (span <= 0) throw new RosterError('request.invalid_parameter', { detail: 'until must be after since' });
  if (span > limits.maxMs) throw new RosterError('request.invalid_parameter', { detail: limits.tooLong });
  return { since, until };
}

/**
 * The range a bucketed count covers: `until` defaults to `now`, `since` to an hour before `until`.
 * @throws request.invalid_parameter when until is not after since, or the range holds more than MAX_BUCKETS
 */
export function bucketRange(
  query: { since?: string | undefined; until?: string | undefined; bucket: Bucket },
  now: Date,
): { since: string; until: string } {
  return timeRange(query, now, {
    defaultMs: 3_600_000,
    maxMs: MAX_BUCKETS * WIDTH_MS[query.bucket],
    tooLong: `The range holds more than ${MAX_BUCKETS} buckets of a ${query.bucket}: narrow it or use bucket=hour`,
  });
}

/** A bucket's start as an instant: its key is an ISO prefix, completed with zeros. */
export function bucketStart(key: string, bucket: Bucket): string {
  return new Date(`${key}${bucket === 'hour' ? ':00' : ''}:00.000Z`).toISOString();
}

/** The query-string properties of a bucketed count (JSON schema). */
export const bucketQuery = {
  since: { type: 'string', format: 'date-time', description: 'Default: one hour before until' },
  until: { type: 'string', format: 'date-time', description: 'Default: now' },
  bucket: { type: 'string', enum: Object.keys(BUCKET_PREFIX), default: 'minute' },
} as const;
