import { type ExpressionBuilder, sql } from 'kysely';
import type { Queryable } from '../platform/db/index.js';
import type { Database } from '../platform/db/schema.js';
import { type AuditEntry, BUCKET_PREFIX, type Bucket, type EntryOrder } from './model.js';

/**
 * The audit log's queries. Append and read only: nothing here updates or deletes an entry.
 */
export interface AppendRow {
  tenantId: string | null;
  at: string;
  actor: string;
  action: string;
  targetType: string;
  targetId: string | null;
  before: string | null;
  after: string | null;
  requestId: string | null;
}

export async function appendEntries(q: Queryable, rows: readonly AppendRow[]): Promise<void> {
  if (rows.length === 0) return;
  await q
    .insertInto('audit_entries')
    .values(
      rows.map((r) => ({
        tenant_id: r.tenantId,
        at: r.at,
        actor: r.actor,
        action: r.action,
        target_type: r.targetType,
        target_id: r.targetId,
        before: r.before,
        after: r.after,
        request_id: r.requestId,
      })),
    )
    .execute();
}

export interface EntryFilter {
  readonly actor?: string;
  readonly action?: string;
  readonly targetType?: string;
  readonly targetId?: string;
  /** ISO instants: since inclusive, until exclusive. */
  readonly since?: string;
  readonly until?: string;
}

/** The entries of one scope (a tenant, or the platform when null) that a filter selects, as one condition. */
function matching(
  eb: ExpressionBuilder<Database, 'audit_entries'>,
  scope: { tenantId: string | null },
  filter: EntryFilter,
) {
  const all = [scope.tenantId === null ? eb('tenant_id', 'is', null) : eb('tenant_id', '=', scope.tenantId)];
  if (filter.actor !== undefined) all.push(eb('actor', '=', filter.actor));
  if (filter.action !== undefined) all.push(eb('action', '=', filter.action));
  if (filter.targetType !== undefined) all.push(eb('target_type', '=', filter.targetType));
  if (filter.targetId !== undefined) all.push(eb('target_id', '=', filter.targetId));
  if (filter.since !== undefined) all.push(eb('at', '>=', filter.since));
  if (filter.until !== undefined) all.push(eb('at', '<', filter.until));
  return eb.and(all);
}

/**
 * How many entries fall in each minute or hour of [since, until), counted by the database (one grouped query
 * over the (tenant, action, time) index), for the console's rates. Buckets without entries are left out.
 */
export async function countEntriesBy(
  q: Queryable,
  scope: { tenantId: string | null },
  filter: EntryFilter & { since: string; until: string },
  bucket: Bucket,
): Promise<{ key: string; count: number }[]> {
  const key = sql<string>`substr(at, 1, ${sql.lit(BUCKET_PREFIX[bucket])})`;
  const rows = await q
    .selectFrom('audit_entries')
    .select([key.as('k'), (eb) => eb.fn.countAll<number | string>().as('n')])
    .where((eb) => matching(eb, scope, filter))
    .groupBy(key)
    .orderBy(key)
    .execute();
  return rows.map((r) => ({ key: r.k, count: Number(r.n) }));
}

/**
 * Entries of one scope (a tenant, or the platform when null) in sequence order: oldest first after `fromSeq`,
 * or newest first before it (`desc`; 0 means from the newest).
 */
export async function listEntries(
  q: Queryable,
  scope: { tenantId: string | null },
  page: { fromSeq: number; limit: number; order: EntryOrder },
  filter: EntryFilter = {},
): Promise<AuditEntry[]> {
  let query = q
    .selectFrom('audit_entries')
    .selectAll()
    .where((eb) => matching(eb, scope, filter));
  if (page.order === 'asc') query = query.where('seq', '>', page.fromSeq);
  else if (page.fromSeq > 0) query = query.where('seq', '<', page.fromSeq);
  const rows = await query.orderBy('seq', page.order).limit(page.limit).execute();
  return rows.map((r) => ({
    seq: r.seq,
    leafIndex: r.leaf_index === null ? null : Number(r.leaf_index),
    time: r.at,
    tenantId: r.tenant_id,
    actor: r.actor,
    action: r.action,
    targetType: r.target_type,
    targetId: r.target_id,
    before: r.before === null ? null : (JSON.parse(r.before) as Record<string, unknown>),
    after: r.after === null ? null : (JSON.parse(r.after) as Record<string, unknown>),
    requestId: r.request_id,
  }));
}
