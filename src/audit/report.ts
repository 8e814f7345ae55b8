import type { Queryable } from '../platform/db/index.js';
import { RosterError } from '../platform/errors.js';
import type { LeafEntry } from './model.js';
import { leafOf } from './model.js';
import type { ComplianceReport, ReportTable } from './report-render.js';
import { type CheckpointRow, entriesByLeaf } from './tree-store.js';

/**
 * Answers from the log itself: the entries of a tenant's tree up to a signed checkpoint, replayed in leaf
 * order. What a report or a "who held it" answer says can so be checked by anyone against the log.
 */

const PAGE = 2000;

/** A tenant's integrated entries in leaf order, up to `size` (a checkpoint's tree size). */
export async function* replay(q: Queryable, tenantId: string, size: number): AsyncGenerator<LeafEntry> {
  let next = 0;
  while (next < size) {
    const rows = await entriesByLeaf(q, tenantId, next, size, PAGE);
    if (rows.length === 0) return;
    for (const r of rows) yield leafOf(r, Number(r.leaf_index));
    next = Number(rows[rows.length - 1]?.leaf_index) + 1;
  }
}

export interface Period {
  readonly label: string;
  readonly start: string;
  readonly end: string;
}

/**
 * `2026-10` (a month) or `2026-Q4` (a quarter), UTC; end exclusive.
 * @throws reports.invalid_period (also for a period that has not begun at `now`)
 */
export function parsePeriod(text: string, now: Date): Period {
  const month = /^(\d{4})-(0[1-9]|1[0-2])$/.exec(text);
  const quarter = /^(\d{4})-Q([1-4])$/.exec(text);
  let start: Date;
  let end: Date;
  if (month) {
    start = new Date(Date.UTC(Number(month[1]), Number(month[2]) - 1, 1));
    end = new Date(Date.UTC(Number(month[1]), Number(month[2]), 1));
  } else if (quarter) {
    const q = Number(quarter[2]) - 1;
    start = new Date(Date.UTC(Number(quarter[1]), q * 3, 1));
    end = new Date(Date.UTC(Number(quarter[1]), q * 3 + 3, 1));
  } else throw new RosterError('reports.invalid_period');
  if (start.getTime() > now.getTime() || start.getUTCFullYear() < 2000) {
    throw new RosterError('reports.invalid_period');
  }
  return { label: text, start: start.toISOString(), end: end.toISOString() };
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null ? (v as Obj) : {});
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strings = (v: unknown): (string | undefined)[] => (Array.isArray(v) ? v.map(str) : []);

interface PoolState {
  name: string;
  product: string;
  capacity: number;
  used: number;
  peak: number;
}

/** Seat holdings replayed from the log: who holds which product in which pool, and since when. */
class Holdings {
  readonly pools = new Map<string, PoolState>();
  /** `user|product` -> the pool and the time the seat was taken. */
  readonly seats = new Map<string, { user: string; product: string; pool: string; since: string }>();
  /** `user|product` -> when the request was waitlisted. */
  readonly waiting = new Map<string, string>();
  readonly members = new Map<string, Map<string, string>>();
  /** Token id -> its roles, when it was minted and when it expires (roles are given to API tokens). */
  readonly tokens = new Map<string, { roles: string[]; since: string; expiresAt: string | null }>();

  /** Applies an entry; returns what it did to seats, for counters. */
  apply(e: LeafEntry): {
    taken?: { product: string; pool: string; waitedMs?: number };
    released?: { product: string; pool: string };
    /** Group memberships this entry started or ended. */
    joined?: string[];
    left?: string[];
  } {
    const before = obj(e.before);
    const after = obj(e.after);
    const user = e.target.id ?? '';
    switch (e.action) {
      case 'pool.created':
      case 'pool.updated': {
        const id = e.target.id ?? '';
        const p = this.pools.get(id);
        const capacity = typeof after.capacity === 'number' ? after.capacity : (p?.capacity ?? 0);
        this.pools.set(id, {
          name: str(after.name) ?? p?.name ?? id,
          product: str(after.sku) ?? p?.product ?? '',
          capacity,
          used: p?.used ?? 0,
          peak: p?.peak ?? 0,
        });
        return {};
      }
      case 'license.waitlisted': {
        const product = str(after.product);
        if (product) this.waiting.set(`${user}|${product}`, e.time);
        return {};
      }
      case 'license.assigned': {
        const product = str(after.product) ?? str(before.product);
        const pool = str(obj(after.pool).id);
        if (!product || !pool || after.state !== 'active') return {};
        const key = `${user}|${product}`;
        this.seats.set(key, { user, product, pool, since: e.time });
        const p = this.pools.get(pool);
        if (p) {
          p.used++;
          p.peak = Math.max(p.peak, p.used);
        }
        const waitedSince = this.waiting.get(key);
        this.waiting.delete(key);
        return {
          taken: {
            product,
            pool,
            ...(waitedSince ? { waitedMs: Date.parse(e.time) - Date.parse(waitedSince) } : {}),
          },
        };
      }
      case 'license.released': {
        const product = str(before.product);
        if (!product) return {};
        const key = `${user}|${product}`;
        this.waiting.delete(key);
        const seat = this.seats.get(key);
        if (!seat) return {};
        this.seats.delete(key);
        const p = this.pools.get(seat.pool);
        if (p) p.used--;
        return { released: { product, pool: seat.pool } };
      }
      case 'group.created':
      case 'group.member_added': {
        const group = e.target.id ?? '';
        const m = this.members.get(group) ?? new Map<string, string>();
        this.members.set(group, m);
        const joined = (e.action === 'group.created' ? strings(after.members) : [str(after.member)]).filter(
          (u): u is string => u !== undefined && !m.has(u),
        );
        for (const u of joined) m.set(u, e.time);
        return { joined };
      }
      case 'group.member_removed': {
        const member = str(before.member);
        const m = this.members.get(e.target.id ?? '');
        if (!member || !m?.delete(member)) return {};
        return { left: [member] };
      }
      case 'group.deleted': {
        const m = this.members.get(e.target.id ?? '');
        this.members.delete(e.target.id ?? '');
        return { left: [...(m?.keys() ?? [])] };
      }
      case 'token.created': {
        const roles = strings(after.roles).filter((r): r is string => r !== undefined);
        this.tokens.set(e.target.id ?? '', { roles, since: e.time, expiresAt: str(after.expiresAt) ?? null });
        return {};
      }
      case 'token.revoked':
        this.tokens.delete(e.target.id ?? '');
        return {};
      case 'pool.deleted': {
        const p = this.pools.get(e.target.id ?? '');
        if (p) p.name = `${p.name} (deleted)`;
        return {};
      }
      default:
        return {};
    }
  }

  /** Resets every pool's peak to its current use (the start of a period). */
  resetPeaks(): void {
    for (const p of this.pools.values()) p.peak = p.used;
  }
}

export interface HoldersAnswer {
  readonly at: string;
  readonly items: {
    userId?: string;
    tokenId?: string;
    since: string;
    pool?: { id: string; name: string };
    expiresAt?: string;
  }[];
}

/** Who held `product` (a SKU) or was a member of `group` (an id) at instant `at`, replayed from the log. */
export async function holdersAt(
  q: Queryable,
  tenantId: string,
  checkpoint: CheckpointRow,
  what: { product?: string; group?: string; role?: string },
  at: string,
): Promise<HoldersAnswer> {
  const h = new Holdings();
  for await (const e of replay(q, tenantId, checkpoint.size)) {
    if (e.time > at) continue;
    h.apply(e);
  }
  if (what.role !== undefined) {
    const role = what.role;
    return {
      at,
      items: [...h.tokens]
        .filter(([, t]) => t.roles.includes(role) && (t.expiresAt === null || t.expiresAt > at))
        .map(([tokenId, t]) => ({
          tokenId,
          since: t.since,
          ...(t.expiresAt ? { expiresAt: t.expiresAt } : {}),
        }))
        .sort((a, b) => compare(a.tokenId, b.tokenId)),
    };
  }
  if (what.group !== undefined) {
    const members = h.members.get(what.group) ?? new Map<string, string>();
    return {
      at,
      items: [...members].map(([userId, since]) => ({ userId, since })).sort(byUser),
    };
  }
  const sku = (what.product ?? '').toLowerCase();
  const items = [...h.seats.values()]
    .filter((s) => s.product.toLowerCase() === sku)
    .map((s) => ({
      userId: s.user,
      since: s.since,
      pool: { id: s.pool, name: h.pools.get(s.pool)?.name ?? s.pool },
    }))
    .sort(byUser);
  return { at, items };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function byUser(a: { userId: string }, b: { userId: string }): number {
  return compare(a.userId, b.userId);
}

/** A table of counts keyed by two values joined with NUL (`a\u0000b`), sorted by key. */
function pairCounts(
  id: string,
  title: string,
  counts: Map<string, number>,
  first: [key: string, label: string],
  second: [key: string, label: string],
  description?: string,
): ReportTable {
  return {
    id,
    title,
    ...(description ? { description } : {}),
    columns: [
      { key: first[0], label: first[1] },
      { key: second[0], label: second[1] },
      { key: 'count', label: 'Count', numeric: true },
    ],
    rows: [...counts.entries()].sort().map(([k, count]) => {
      const [a, b] = splitKey(k);
      return { [first[0]]: a, [second[0]]: b, count };
    }),
  };
}

function splitKey(k: string): [string, string] {
  const i = k.indexOf('\u0000');
  return [k.slice(0, i), k.slice(i + 1)];
}

function bump<K>(m: Map<K, number>, k: K, by = 1): void {
  m.set(k, (m.get(k) ?? 0) + by);
}

function median(values: number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

const hours = (ms: number): number => Math.round((ms / 3_600_000) * 100) / 100;

/**
 * The compliance report of a tenant for a period, computed from the log up to `checkpoint` (which must
 * cover the period's end, or be the latest): every figure is a count over entries the checkpoint signs.
 */
export async function computeReport(
  q: Queryable,
  tenant: { id: string; name: string },
  period: Period,
  checkpoint: CheckpointRow & { origin: string },
  generatedAt: string,
): Promise<ComplianceReport> {
  const h = new Holdings();
  const counts = new Map<string, number>();
  const assigned = new Map<string, number>();
  const released = new Map<string, number>();
  const waitlistedBy = new Map<string, number>();
  const waits = new Map<string, number[]>();
  const grants = new Map<string, number>();
  const denials = new Map<string, number>();
  const byActor = new Map<string, number>();
  const kinds = new Map<string, string>();
  const thirdParty = new Map<string, Set<string>>();
  const people = new Set<string>();
  let inPeriod = 0;
  let capacityChanges = 0;
  let started = false;

  for await (const e of replay(q, tenant.id, checkpoint.size)) {
    if (e.time >= period.end) continue;
    const during = e.time >= period.start;
    if (during && !started) {
      h.resetPeaks();
      started = true;
    }
    const after = obj(e.after);
    if (e.target.type === 'user' && e.target.id) {
      const kind = str(after.kind) ?? str(obj(e.before).kind);
      if (kind) kinds.set(e.target.id, kind);
    }
    const effect = h.apply(e);
    if (!during) continue;
    inPeriod++;
    bump(counts, e.action);
    if (e.target.type === 'user' && e.target.id) {
      people.add(e.target.id);
      const kind = kinds.get(e.target.id);
      if (kind === 'contractor' || kind === 'external') {
        const party = `${kind} people acted on`;
        thirdParty.set(party, (thirdParty.get(party) ?? new Set<string>()).add(e.target.id));
      }
    }
    if (e.actor.startsWith('token:')) bump(byActor, e.actor);
    if (effect.taken) {
      bump(assigned, `${effect.taken.product}\u0000${effect.taken.pool}`);
      if (effect.taken.waitedMs !== undefined) {
        const list = waits.get(effect.taken.product) ?? [];
        list.push(effect.taken.waitedMs);
        waits.set(effect.taken.product, list);
      }
    }
    if (effect.released) bump(released, `${effect.released.product}\u0000${effect.released.pool}`);
    if (e.action === 'license.waitlisted') bump(waitlistedBy, str(after.product) ?? '?');
    if (e.action === 'token.created') {
      const roles = Array.isArray(after.roles) ? (after.roles as unknown[]).map(String) : [];
      for (const r of roles.length ? roles : ['(no role)']) bump(grants, `granted\u0000${r}`);
    }
    if (e.action === 'token.revoked') {
      const roles = Array.isArray(obj(e.before).roles) ? (obj(e.before).roles as unknown[]).map(String) : [];
      for (const r of roles.length ? roles : ['(no role)']) bump(grants, `revoked\u0000${r}`);
    }
    const group = `group ${e.target.id ?? ''}`;
    if (effect.joined?.length) bump(grants, `granted\u0000${group}`, effect.joined.length);
    if (effect.left?.length) bump(grants, `revoked\u0000${group}`, effect.left.length);
    // People whose memberships changed were acted on too, though the entry's target is the group.
    for (const u of [...(effect.joined ?? []), ...(effect.left ?? [])]) people.add(u);
    if (e.action === 'pool.updated' && obj(e.before).capacity !== after.capacity) capacityChanges++;
    if (e.action === 'access.denied')
      bump(denials, `${e.actor}\u0000${str(after.permission) ?? str(after.route) ?? '?'}`);
  }
  if (!started) h.resetPeaks();

  const seatKeys = [...new Set([...assigned.keys(), ...released.keys()])];
  const tables: ReportTable[] = [
    {
      id: 'licenses',
      title: 'License assignments and releases',
      description: 'Seats taken and given back during the period, per product and pool.',
      columns: [
        { key: 'product', label: 'Product' },
        { key: 'pool', label: 'Pool' },
        { key: 'assigned', label: 'Assigned', numeric: true },
        { key: 'released', label: 'Released', numeric: true },
      ],
      rows: seatKeys
        .map((k) => {
          const [product, pool] = splitKey(k);
          // Keyed by pool id, named as the pool is named at the period's end (a renamed pool is one row).
          const name = h.pools.get(pool)?.name ?? pool;
          return { product, pool: name, assigned: assigned.get(k) ?? 0, released: released.get(k) ?? 0 };
        })
        .sort((a, b) => compare(a.product, b.product) || compare(a.pool, b.pool)),
    },
    {
      id: 'utilisation',
      title: 'Pool utilisation',
      description: 'Seats in use at the end of the period and the peak during it.',
      columns: [
        { key: 'pool', label: 'Pool' },
        { key: 'product', label: 'Product' },
        { key: 'capacity', label: 'Capacity', numeric: true },
        { key: 'used', label: 'In use at end', numeric: true },
        { key: 'peak', label: 'Peak in use', numeric: true },
        { key: 'peakPercent', label: 'Peak %', numeric: true },
      ],
      rows: [...h.pools.entries()]
        .sort(([, a], [, b]) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
        .map(([, p]) => ({
          pool: p.name,
          product: p.product,
          capacity: p.capacity,
          used: p.used,
          peak: p.peak,
          peakPercent: p.capacity > 0 ? Math.round((p.peak / p.capacity) * 1000) / 10 : 0,
        })),
    },
    {
      id: 'waitlist',
      title: 'Waitlist',
      description: 'Requests waitlisted (no pool had room) and the time those served waited, in hours.',
      columns: [
        { key: 'product', label: 'Product' },
        { key: 'waitlisted', label: 'Waitlisted', numeric: true },
        { key: 'served', label: 'Served from waitlist', numeric: true },
        { key: 'medianHours', label: 'Median wait (h)', numeric: true },
        { key: 'maxHours', label: 'Longest wait (h)', numeric: true },
        { key: 'waitingAtEnd', label: 'Still waiting at end', numeric: true },
      ],
      rows: [...new Set([...waitlistedBy.keys(), ...waits.keys()])].sort().map((product) => {
        const w = waits.get(product) ?? [];
        return {
          product,
          waitlisted: waitlistedBy.get(product) ?? 0,
          served: w.length,
          medianHours: hours(median(w)),
          maxHours: hours(w.length ? Math.max(...w) : 0),
          waitingAtEnd: [...h.waiting.keys()].filter((k) => k.endsWith(`|${product}`)).length,
        };
      }),
    },
    pairCounts(
      'grants',
      'Role and group grants and revocations',
      grants,
      ['change', 'Change'],
      ['role', 'Role or group'],
      'Roles given with API tokens, and group memberships.',
    ),
    pairCounts(
      'denials',
      'Permission denials',
      denials,
      ['actor', 'Actor'],
      ['permission', 'Permission or route'],
    ),
    {
      id: 'exceptions',
      title: 'Policy exceptions',
      description: 'Requests the seat quota refused (waitlisted) and capacity changes, per kind.',
      columns: [
        { key: 'exception', label: 'Exception' },
        { key: 'count', label: 'Count', numeric: true },
      ],
      rows: [
        { exception: 'quota exhausted: request waitlisted', count: counts.get('license.waitlisted') ?? 0 },
        { exception: 'pool capacity changed', count: capacityChanges },
        { exception: 'pool deleted', count: counts.get('pool.deleted') ?? 0 },
      ],
    },
    {
      id: 'third_parties',
      title: 'Access by third parties',
      description: 'Contractors and externals acted on, and actions taken by integration tokens.',
      columns: [
        { key: 'party', label: 'Party' },
        { key: 'count', label: 'Count', numeric: true },
      ],
      rows: [
        ...[...thirdParty.entries()].sort().map(([party, s]) => ({ party, count: s.size })),
        ...[...byActor.entries()].sort().map(([actor, count]) => ({ party: `actions by ${actor}`, count })),
      ],
    },
    {
      id: 'actions',
      title: 'Audit entries by action',
      columns: [
        { key: 'action', label: 'Action' },
        { key: 'count', label: 'Entries', numeric: true },
      ],
      rows: [...counts.entries()].sort().map(([action, count]) => ({ action, count })),
    },
  ];
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return {
    title: 'Compliance report',
    tenant,
    period,
    generatedAt,
    checkpoint: {
      origin: checkpoint.origin,
      treeSize: checkpoint.size,
      rootHash: Buffer.from(checkpoint.rootHash).toString('base64'),
      note: checkpoint.note,
    },
    summary: [
      { label: 'Onboardings', value: counts.get('user.onboarded') ?? 0 },
      { label: 'Offboardings', value: counts.get('user.offboarded') ?? 0 },
      { label: 'Users created', value: counts.get('user.created') ?? 0 },
      { label: 'Users deleted', value: counts.get('user.deleted') ?? 0 },
      { label: 'License assignments', value: sum(assigned) },
      { label: 'License releases', value: sum(released) },
      { label: 'Requests waitlisted', value: sum(waitlistedBy) },
      { label: 'Permission denials', value: sum(denials) },
      { label: 'Unique people acted on', value: people.size },
      { label: 'Audit entries in period', value: inPeriod },
    ],
    tables,
    charts: [
      {
        title: 'Peak pool utilisation',
        unit: 'seats',
        bars: [...h.pools.values()].map((p) => ({
          label: `${p.name} (${p.product})`,
          value: p.peak,
          max: p.capacity,
        })),
      },
    ],
  };
}
