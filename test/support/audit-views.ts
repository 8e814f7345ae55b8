/**
 * What the "a failed request changes nothing" checks of the generated REST suites compare, now that the audit
 * trail is also a Merkle log grown in the background and a 403 is itself an audit event:
 *
 * - an entry's `leafIndex` is null until the integrator (a background loop, every 200 ms) integrates it, then
 *   a number: it moves while no request changes anything, so state views leave it out;
 * - the routes that answer from the Merkle log (checkpoints, proofs, holders and reports replayed from it, the
 *   log's key) are derived from the audit trail, not state a request changes: the trail itself is compared
 *   in full, so state views leave them out (like /metrics);
 * - a 403 answered to an authenticated caller writes exactly one `access.denied` entry in the caller's tree,
 *   so "nothing changed" after a 403 means: nothing but exactly those entries ({@link expectOnlyDenials}).
 */
import { expect } from 'vitest';
import type { Answer, Client } from './app.js';

/** The audit form of the ROSTER_ADMIN_TOKEN actor (`actorRef` in src/platform/context.ts). */
export const ADMIN_ACTOR = 'admin-token';

/**
 * Routes answered from the Merkle log (or its key), or counted from the trail over a range ending now: derived
 * from the audit trail (by the asynchronous integrator), so they change while nothing happens (a checkpoint is signed, a proof's range becomes valid, a
 * report carries its generation time) and reflect no change a request makes beyond the trail.
 */
export const DERIVED_FROM_AUDIT: ReadonlySet<string> = new Set([
  'GET /api/v1/audit/checkpoints',
  'GET /api/v1/audit/checkpoints/latest',
  'GET /api/v1/audit/proofs/inclusion',
  'GET /api/v1/audit/proofs/consistency',
  'GET /api/v1/audit/holders',
  'GET /api/v1/reports/compliance',
  'GET /api/v1/audit/public-key',
  // Counts of the trail's entries over a range ending now (the trail itself is compared in full).
  'GET /api/v1/audit/activity',
]);

export const derivedFromAudit = (r: { method: string; url: string }): boolean =>
  DERIVED_FROM_AUDIT.has(`${r.method} ${r.url}`);

/**
 * Routes answering what background work keeps: each node's request counts (flushed every few seconds, and
 * every request counts, a refused one too) and the pools' usage samples (taken every minute). They change while
 * no request changes anything; their own suites (request-activity, pool-usage) check what requests do to them.
 */
export const KEPT_IN_BACKGROUND: ReadonlySet<string> = new Set([
  'GET /api/v1/requests/activity',
  'GET /api/v1/products/:sku/usage',
]);

/** Whether a GET route's answer is left out of the "nothing changed" state views (see above). */
export const notStateView = (r: { method: string; url: string }): boolean =>
  derivedFromAudit(r) || KEPT_IN_BACKGROUND.has(`${r.method} ${r.url}`);

/**
 * A route's answer as a state view compares it: without what changes on every read or in the background:
 * `lastUsedAt` (written whenever a token is used), request ids, and audit entries' `leafIndex`.
 */
export function stable(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? null), (k, x) =>
    k === 'lastUsedAt' || k === 'requestId' || k === 'leafIndex' ? undefined : x,
  );
}

/** An audit entry as state views hold it: everything but `leafIndex`. */
export interface TrailEntry {
  readonly seq: number;
  readonly time: string;
  readonly tenantId: string | null;
  readonly actor: string;
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string | null };
  readonly before: unknown;
  readonly after: unknown;
  readonly requestId: string | null;
}

/** The whole audit trail the caller sees (every page, in sequence order), without `leafIndex`. */
export async function auditTrail(c: Client, headers?: Record<string, string>): Promise<TrailEntry[]> {
  const items: TrailEntry[] = [];
  let cursor: string | undefined;
  for (;;) {
    const r = await c.get(`/api/v1/audit/entries?limit=200${cursor ? `&cursor=${cursor}` : ''}`, headers);
    expect(r.status, r.raw).toBe(200);
    for (const { leafIndex, ...e } of r.body.items as (TrailEntry & { leafIndex: unknown })[]) {
      // Only integration moves it, and only from null to a position.
      expect(leafIndex === null || Number.isSafeInteger(leafIndex), `leafIndex ${leafIndex}`).toBe(true);
      items.push(e);
    }
    cursor = r.body.nextCursor;
    if (!cursor) return items;
  }
}

/** The audit actor of the client `api`: the actor of the entry its own creation of `targetId` wrote. */
export async function actorOf(api: Client, targetId: string): Promise<string> {
  const mine = (await auditTrail(api)).filter(
    (e) => e.target.id === targetId && e.action.endsWith('.created'),
  );
  expect(
    mine.map((e) => e.action),
    `the creation of ${targetId} in the trail`,
  ).toHaveLength(1);
  return mine[0]?.actor ?? '';
}

/** A request answered 403 to an authenticated caller, as its `access.denied` entry must record it. */
export interface Denial {
  /** The caller's tenant; null for a platform token. */
  readonly tenantId: string | null;
  /** The caller in audit form: `token:<id>` or {@link ADMIN_ACTOR}. */
  readonly actor: string;
  readonly method: string;
  /** The route pattern (`/api/v1/tokens/:id`), not the path. */
  readonly route: string;
  readonly code: 'auth.forbidden' | 'auth.tenant_required';
  /** The permission refused (named in the answer and the entry); absent for other refusals. */
  readonly permission?: string | undefined;
  readonly requestId: string;
}

/** The denial that the 403 answer `res` (checked by the caller) must have written; HEAD answers too. */
export function denialOf(res: Answer, d: Omit<Denial, 'requestId'>): Denial {
  expect(res.status, res.raw).toBe(403);
  const requestId = res.headers['x-request-id'];
  expect(typeof requestId, 'x-request-id of the denied request').toBe('string');
  if (res.body !== undefined) {
    expect(res.body.requestId).toBe(requestId);
    expect(res.body.permission, 'the permission named in the answer').toBe(d.permission);
  }
  return { ...d, requestId: String(requestId) };
}

/** The entry a denial writes, exactly (less `leafIndex`, as in {@link auditTrail}). */
function deniedEntry(d: Denial): unknown {
  return {
    seq: expect.any(Number),
    time: expect.any(String),
    tenantId: d.tenantId,
    actor: d.actor,
    action: 'access.denied',
    target: { type: 'route', id: `${d.method} ${d.route}` },
    before: null,
    after: {
      route: d.route,
      method: d.method,
      code: d.code,
      ...(d.permission !== undefined ? { permission: d.permission } : {}),
      actor: d.actor,
    },
    requestId: d.requestId,
  };
}

/**
 * Asserts that trail `after` is trail `before` followed by exactly one `access.denied` entry per denial, in
 * the order the requests were sent: no entry changed or went, and nothing else was added.
 */
export function expectOnlyDenials(
  before: readonly TrailEntry[],
  after: readonly TrailEntry[],
  denials: readonly Denial[],
  what = 'audit trail',
): void {
  expect(after.slice(0, before.length), `${what}: earlier entries changed`).toEqual(before);
  expect(after.slice(before.length), `${what}: added entries`).toEqual(denials.map(deniedEntry));
}

/**
 * Asserts that view `after` equals view `before` except for its trails named in `denials`, which may differ
 * only by exactly those denials ({@link expectOnlyDenials}).
 */
export function expectChangedOnlyByDenials(
  before: unknown,
  after: unknown,
  denials: Record<string, readonly Denial[]>,
  what = 'state',
): void {
  const b = before as Record<string, unknown>;
  const a = after as Record<string, unknown>;
  const rest = (v: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(v).filter(([k]) => !Object.hasOwn(denials, k)));
  expect(rest(a), `${what} changed`).toEqual(rest(b));
  for (const [key, list] of Object.entries(denials)) {
    expect(Array.isArray(b[key]) && Array.isArray(a[key]), `${what}: ${key} is not a trail`).toBe(true);
    expectOnlyDenials(b[key] as TrailEntry[], a[key] as TrailEntry[], list, `${what}: ${key}`);
  }
}
