import type { Clock } from '../platform/clock.js';
import { isoTime } from '../platform/clock.js';
import { actorRef, type Context } from '../platform/context.js';
import type { Queryable } from '../platform/db/index.js';
import type { Bucket } from '../platform/time-buckets.js';
import type { AuditEntry, AuditRecord, EntryOrder } from './model.js';
import { type AppendRow, appendEntries, countEntriesBy, type EntryFilter, listEntries } from './store.js';

/**
 * The audit trail. `record` must be called with the transaction of the change it describes, so that the
 * change and its entry commit or roll back together (invariant 4).
 */
export class AuditLog {
  readonly #clock: Clock;
  /** Entries held back per transaction by `deferIn`, written by `flush` in one statement. */
  readonly #held = new WeakMap<object, AppendRow[]>();

  constructor(deps: { clock: Clock }) {
    this.#clock = deps.clock;
  }

  /**
   * Until `flush(tx)`, entries recorded in `tx` are held and then written in one multi-row insert (one
   * round trip per use case instead of one per entry). The caller must flush, or `discard` when the use case
   * fails, before the transaction (or its savepoint) ends.
   */
  deferIn(tx: Queryable): void {
    this.#held.set(tx, []);
  }

  /** Writes the entries held for `tx`, in the order they were recorded. */
  async flush(tx: Queryable): Promise<void> {
    const rows = this.#held.get(tx);
    this.#held.delete(tx);
    if (rows) await appendEntries(tx, rows);
  }

  /** Drops the entries held for `tx` (its use case failed and was rolled back). */
  discard(tx: Queryable): void {
    this.#held.delete(tx);
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
    const rows = records.map(
      (r): AppendRow => ({
        tenantId,
        at,
        actor,
        action: r.action,
        targetType: r.targetType,
        targetId: r.targetId,
        before: r.before === null ? null : JSON.stringify(r.before),
        after: r.after === null ? null : JSON.stringify(r.after),
        requestId: ctx.requestId ?? null,
      }),
    );
    const held = this.#held.get(tx);
    if (held) held.push(...rows);
    else await appendEntries(tx, rows);
  }

  /** One page of a scope's entries in sequence order. */
  /** Entries per minute or hour of [since, until) in a scope, as the database counts them. */
  activity(
    q: Queryable,
    tenantId: string | null,
    filter: { action?: string; actor?: string; since: string; until: string },
    bucket: Bucket,
  ): Promise<{ key: string; count: number }[]> {
    return countEntriesBy(q, { tenantId }, filter, bucket);
  }

  async list(
    q: Queryable,
    tenantId: string | null,
    page: { fromSeq: number; limit: number; order?: EntryOrder },
    filter: EntryFilter = {},
  ): Promise<{ items: AuditEntry[]; last: number | undefined }> {
    const rows = await listEntries(
      q,
      { tenantId },
      { fromSeq: page.fromSeq, limit: page.limit + 1, order: page.order ?? 'asc' },
      filter,
    );
    const items = rows.slice(0, page.limit);
    return { items, last: rows.length > page.limit ? items[items.length - 1]?.seq : undefined };
  }
}
