import { sql } from 'kysely';
import { RosterError } from '../errors.js';
import { mapDriverError } from './errors.js';
import { type Db, inTransaction, type Tx } from './index.js';

/** One unit of work: runs inside a shared transaction, under its own savepoint. */
export type Work<T> = (tx: Tx) => Promise<T>;

export interface GroupCommitOptions {
  /** Most works per transaction (default 100 on SQLite, 60 on PostgreSQL). */
  readonly maxBatch?: number;
  /**
   * How long the first work of a batch may wait for company when a transaction is free, in ms (default 0:
   * under light load a work commits at once; under load, works queue behind the running transaction).
   */
  readonly maxWaitMs?: number;
  /** Transactions in flight at once (default 1 for SQLite, which has one writer, 4 for PostgreSQL). */
  readonly concurrency?: number;
  /** Maps a work's own error (e.g. a unique violation) to what its caller should see. */
  readonly mapError?: (err: unknown) => unknown;
  /** Called after each batch commits or fails. */
  readonly onBatch?: (stats: BatchStats) => void;
}

export interface BatchStats {
  readonly size: number;
  readonly failed: number;
  /** How long the oldest work of the batch waited before its transaction began, in ms. */
  readonly waitMs: number;
  /** How long the transaction took, commit included, in ms. */
  readonly commitMs: number;
  readonly committed: boolean;
}

interface Pending {
  readonly work: Work<unknown>;
  readonly lockKey: string | undefined;
  readonly enqueued: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
  retries: number;
}

/** Errors worth one more try in a later batch: deadlock, serialization failure, lock contention. */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001' || code === '55P03';
}

/**
 * Group commit: gathers concurrent works and commits them together in one transaction, each under its own
 * savepoint, so one failing work rolls back alone and never fails its neighbours, while the database sees
 * one commit (one fsync) for the whole batch. A work's promise settles only after the batch's commit.
 */
export class GroupCommitter {
  readonly #db: Db;
  readonly #maxBatch: number;
  readonly #maxWaitMs: number;
  readonly #concurrency: number;
  readonly #mapError: (err: unknown) => unknown;
  readonly #onBatch: ((stats: BatchStats) => void) | undefined;
  #queue: Pending[] = [];
  #inFlight = 0;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #idle: (() => void) | undefined;

  constructor(db: Db, options: GroupCommitOptions = {}) {
    this.#db = db;
    // PostgreSQL keeps 64 subtransactions per backend in shared memory; more (one per savepoint that writes)
    // overflow to pg_subtrans and slow every other session's snapshots. SQLite has no such limit.
    this.#maxBatch = options.maxBatch ?? (db.dialect === 'postgres' ? 60 : 100);
    this.#maxWaitMs = options.maxWaitMs ?? 0;
    this.#concurrency = options.concurrency ?? (db.dialect === 'sqlite' ? 1 : 4);
    this.#mapError = options.mapError ?? mapDriverError;
    this.#onBatch = options.onBatch;
  }

  /**
   * Runs `work` in the next batch; settles with its result or its (mapped) error once the batch commits.
   * `lockKey` names what the work contends for (e.g. a tenant's seats): on PostgreSQL a batch first takes
   * a transaction-scoped advisory lock per distinct key, in sorted order, so batches that would lock the same
   * rows in different orders queue behind each other instead of deadlocking (each deadlock costs
   * PostgreSQL's deadlock_timeout, one second by default, before it is even detected).
   */
  submit<T>(work: Work<T>, options: { lockKey?: string } = {}): Promise<T> {
    if (this.#closed) return Promise.reject(new RosterError('server.shutting_down'));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({
        work,
        lockKey: options.lockKey,
        enqueued: performance.now(),
        resolve: resolve as (v: unknown) => void,
        reject,
        retries: 0,
      });
      this.#schedule();
    });
  }

  /** Refuses new works and waits for queued and running batches to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#queue.length === 0 && this.#inFlight === 0) return;
    await new Promise<void>((resolve) => {
      this.#idle = resolve;
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#queue.length === 0 || this.#inFlight >= this.#concurrency) return;
    if (this.#queue.length >= this.#maxBatch || this.#maxWaitMs === 0 || this.#closed) {
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = undefined;
      // Let works submitted in the same turn of the event loop join this batch.
      setImmediate(() => this.#flush());
      return;
    }
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      this.#flush();
    }, this.#maxWaitMs);
  }

  #flush(): void {
    if (this.#queue.length === 0 || this.#inFlight >= this.#concurrency) return;
    const batch = this.#queue.splice(0, this.#maxBatch);
    this.#inFlight++;
    void this.#run(batch).finally(() => {
      this.#inFlight--;
      if (this.#queue.length > 0) this.#schedule();
      else if (this.#inFlight === 0 && this.#idle) this.#idle();
    });
  }

  async #run(batch: Pending[]): Promise<void> {
    const started = performance.now();
    const waitMs = started - Math.min(...batch.map((p) => p.enqueued));
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown; retry: boolean })[] = [];
    try {
      await this.#db.kysely.transaction().execute((tx) =>
        inTransaction(async () => {
          outcomes.length = 0;
          if (this.#db.dialect === 'postgres') {
            const keys = [
              ...new Set(batch.map((p) => p.lockKey).filter((k): k is string => k !== undefined)),
            ].sort();
            for (const key of keys)
              await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(tx);
          }
          for (const [i, p] of batch.entries()) {
            const name = sql.raw(`gc_${i}`);
            await sql`savepoint ${name}`.execute(tx);
            try {
              const value = await p.work(tx);
              await sql`release savepoint ${name}`.execute(tx);
              outcomes.push({ ok: true, value });
            } catch (error) {
              await sql`rollback to savepoint ${name}`.execute(tx);
              await sql`release savepoint ${name}`.execute(tx);
              outcomes.push({ ok: false, error, retry: isRetryable(error) && p.retries < 3 });
            }
          }
        }),
      );
    } catch (err) {
      // The commit itself failed: nothing of the batch is durable. Every work fails (mapped, e.g. 503);
      // callers with idempotency keys may retry safely.
      const error = this.#mapError(err);
      for (const p of batch) p.reject(error);
      this.#onBatch?.({
        size: batch.length,
        failed: batch.length,
        waitMs,
        commitMs: performance.now() - started,
        committed: false,
      });
      return;
    }
    let failed = 0;
    for (const [i, p] of batch.entries()) {
      const o = outcomes[i];
      if (!o) p.reject(new RosterError('server.internal'));
      else if (o.ok) p.resolve(o.value);
      else if (o.retry) {
        p.retries++;
        this.#queue.push(p);
      } else {
        failed++;
        p.reject(this.#mapError(o.error));
      }
    }
    this.#onBatch?.({
      size: batch.length,
      failed,
      waitMs,
      commitMs: performance.now() - started,
      committed: true,
    });
  }
}
