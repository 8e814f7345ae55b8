import type { Queryable } from '../platform/db/index.js';
import type { AuditEntry } from './model.js';

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

/** Entries of one scope (a tenant, or the platform when null) after `afterSeq`, in sequence order. */
export async function listEntries(
  q: Queryable,
  scope: { tenantId: string | null },
  page: { afterSeq: number; limit: number },
  filter: EntryFilter = {},
): Promise<AuditEntry[]> {
  let query = q.selectFrom('audit_entries').selectAll().where('seq', '>', page.afterSeq);
  query =
    scope.tenantId === null
      ? query.where('tenant_id', 'is', null)
      : query.where('tenant_id', '=', scope.tenantId);
  if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
  if (filter.action !== undefined) query = query.where('action', '=', filter.action);
  if (filter.targetType !== undefined) query = query.where('target_type', '=', filter.targetType);
  if (filter.targetId !== undefined) query = query.where('target_id', '=', filter.targetId);
  if (filter.since !== undefined) query = query.where('at', '>=', filter.since);
  if (filter.until !== undefined) query = query.where('at', '<', filter.until);
  const rows = await query.orderBy('seq', 'asc').limit(page.limit).execute();
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
