import type { Clock } from '../platform/clock.js';
import { isoTime } from '../platform/clock.js';
import { actorRef, type Context } from '../platform/context.js';
import type { Queryable } from '../platform/db/index.js';
import type { AuditEntry, AuditRecord } from './model.js';
import { appendEntries, listEntries } from './store.js';

/**
 * The audit trail. `record` must be called with the transaction of the change it describes, so that the
 * change and its entry commit or roll back together (invariant 4).
 */
export class AuditLog {
  readonly #clock: Clock;

  constructor(deps: { clock: Clock }) {
    this.#clock = deps.clock;
  }

  /** Appends entries for changes in `tx` made by `ctx.actor` on `tenantId` (null: a platform event). */
  async record(
    tx: Queryable,
    ctx: Context,
    tenantId: string | null,
    records: readonly AuditRecord[],
  ): Promise<void> {
    const at = isoTime(this.#clock);
    const actor = actorRef(ctx.actor);
    await appendEntries(
      tx,
      records.map((r) => ({
        tenantId,
        at,
        actor,
        action: r.action,
        targetType: r.targetType,
        targetId: r.targetId,
        before: r.before === null ? null : JSON.stringify(r.before),
        after: r.after === null ? null : JSON.stringify(r.after),
        requestId: ctx.requestId ?? null,
      })),
    );
  }

  /** One page of a scope's entries in sequence order. */
  async list(
    q: Queryable,
    tenantId: string | null,
    page: { afterSeq: number; limit: number },
  ): Promise<{ items: AuditEntry[]; last: number | undefined }> {
    const rows = await listEntries(q, { tenantId }, { afterSeq: page.afterSeq, limit: page.limit + 1 });
    const items = rows.slice(0, page.limit);
    return { items, last: rows.length > page.limit ? items[items.length - 1]?.seq : undefined };
  }
}
