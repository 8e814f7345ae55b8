import { createHash } from 'node:crypto';
import { RosterError } from './errors.js';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 200;

/** One page of a list answer: `nextCursor` is absent on the last page. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

/**
 * Opaque cursor: base64url of the last key seen with a short checksum of it, so an edited, truncated or
 * foreign cursor is rejected with 400 rather than silently paging from elsewhere. It is not a signature and
 * need not be: a cursor never widens what a caller may see (every query filters by tenant first).
 */
export function encodeCursor(key: string | number): string {
  return Buffer.from(JSON.stringify({ k: key, s: checksum(key) }), 'utf8').toString('base64url');
}

function checksum(key: unknown): string {
  return createHash('sha256')
    .update('roster-cursor\0')
    .update(JSON.stringify(key) ?? '')
    .digest('base64url')
    .slice(0, 8);
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const k = parseCursor(cursor);
  if (typeof k !== 'string') throw new RosterError('request.invalid_cursor');
  return k;
}

export function decodeSeqCursor(cursor: string | undefined): number {
  if (cursor === undefined || cursor === '') return 0;
  const k = parseCursor(cursor);
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 0)
    throw new RosterError('request.invalid_cursor');
  return k;
}

/**
 * A cursor over a sequence read in either order: ascending ones are the plain sequence cursors above (so
 * cursors given out before descending reads existed still work), descending ones carry `d<seq>`. The
 * cursor, not the request, says which way the next page goes.
 */
export function encodeOrderedSeqCursor(seq: number, order: 'asc' | 'desc'): string {
  return encodeCursor(order === 'asc' ? seq : `d${seq}`);
}

/** @throws request.invalid_cursor */
export function decodeOrderedSeqCursor(
  cursor: string | undefined,
): { seq: number; order: 'asc' | 'desc' } | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  const k = parseCursor(cursor);
  if (typeof k === 'string' && /^d[0-9]{1,15}$/.test(k)) return { seq: Number(k.slice(1)), order: 'desc' };
  if (typeof k === 'number' && Number.isSafeInteger(k) && k >= 0) return { seq: k, order: 'asc' };
  throw new RosterError('request.invalid_cursor');
}

function parseCursor(cursor: string): unknown {
  let parsed: { k?: unknown; s?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown; s?: unknown };
  } catch {
    throw new RosterError('request.invalid_cursor');
  }
  if (typeof parsed !== 'object' || parsed === null || parsed.s !== checksum(parsed.k)) {
    throw new RosterError('request.invalid_cursor');
  }
  return parsed.k;
}

/**
 * Builds a page from up to `limit + 1` rows fetched in key order: the extra row only says another page
 * exists.
 */
export function pageOf<R, T>(
  rows: R[],
  limit: number,
  keyOf: (r: R) => string | number,
  map: (r: R) => T,
): Page<T> {
  const more = rows.length > limit;
  const kept = more ? rows.slice(0, limit) : rows;
  const last = kept[kept.length - 1];
  return {
    items: kept.map(map),
    ...(more && last !== undefined ? { nextCursor: encodeCursor(keyOf(last)) } : {}),
  };
}

/**
 * A page of rows that are their own items, keyed by `id`: `fetch` is asked for the rows after the cursor's
 * id, one more than the page holds (the extra one only says another page exists).
 */
export async function pageById<T extends { id: string }>(
  page: { cursor?: string; limit: number },
  fetch: (range: { afterId: string | undefined; limit: number }) => Promise<T[]>,
): Promise<Page<T>> {
  const rows = await fetch({ afterId: decodeCursor(page.cursor), limit: page.limit + 1 });
  return pageOf(
    rows,
    page.limit,
    (r) => r.id,
    (r) => r,
  );
}
