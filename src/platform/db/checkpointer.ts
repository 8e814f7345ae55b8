import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.js';
import { SupervisedWorker, workerScript } from '../worker.js';
import type { CheckpointerMessage } from './checkpointer-worker.js';
import type { Db } from './index.js';

/** SQLite's own checkpoint threshold, in pages. */
const SQLITE_DEFAULT_PAGES = 1000;
/** How often the checkpointer copies the WAL back into the database file. */
const CHECKPOINT_INTERVAL_MS = 200;
/**
 * The serving connection's own checkpoint threshold while the checkpointer runs, in pages (4 KiB each): a
 * backstop that bounds the WAL should the checkpointer thread fall behind or die, far above what it leaves.
 */
const BACKSTOP_PAGES = 25_000;

/**
 * WAL checkpoints of a SQLite store, off the thread that serves requests. By default SQLite checkpoints on
 * the connection that commits, whenever the WAL passes 1,000 pages: under heavy writes that is a copy and an
 * fsync of every page the last commits touched, inside some unlucky request's commit, on the event loop. Here
 * a worker thread checkpoints every 200 ms on its own connection, and while it does the serving connection only
 * checkpoints itself past BACKSTOP_PAGES (measured in bench/RESULTS.md, "WAL checkpoints off the event loop").
 */
export class WalCheckpointer {
  readonly #db: Db;
  readonly #worker: SupervisedWorker<CheckpointerMessage>;
  readonly #logger: Logger | undefined;
  /** The serving connection's threshold before the checkpointer raised it. */
  #previous = SQLITE_DEFAULT_PAGES;
  /** Whether the threshold is raised: only while a worker thread is checkpointing. */
  #raised = false;
  /** The last change of the threshold, so that changes apply in order. */
  #setting: Promise<void> = Promise.resolve();

  constructor(db: Db, o: { metrics: Metrics; logger?: Logger }) {
    const file = sqliteFile(db);
    if (!file) throw new Error('the WAL checkpointer needs a SQLite file store');
    this.#db = db;
    this.#logger = o.logger;
    this.#worker = new SupervisedWorker<CheckpointerMessage>({
      script: workerScript(import.meta.url, 'checkpointer-worker.js', '../../../dist/platform/db'),
      data: { file, intervalMs: CHECKPOINT_INTERVAL_MS },
      name: 'SQLite checkpointer',
      logger: o.logger,
      onMessage: (m) => {
        if (m.type === 'error') o.logger?.warn({ error: m.message }, 'SQLite checkpoint failed');
        else if (m.type === 'round') {
          o.metrics.sqliteWalPages.set(m.walPages);
          // A worker that checkpoints: the serving connection may leave the copying to it.
          if (!this.#raised) this.#threshold(true);
        }
      },
      // A worker that died (or could not start) checkpoints nothing: SQLite's own threshold applies again
      // until one reports a round.
      onExit: () => {
        if (this.#raised) this.#threshold(false);
      },
    });
  }

  /** Whether a store's WAL can be checkpointed by another thread: a SQLite file (not `:memory:`). */
  static applies(db: Db): boolean {
    return sqliteFile(db) !== undefined;
  }

  async start(): Promise<void> {
    const r = await sql<Record<string, number>>`pragma wal_autocheckpoint`.execute(this.#db.kysely);
    this.#previous = Number(Object.values(r.rows[0] ?? {})[0] ?? SQLITE_DEFAULT_PAGES);
    this.#worker.start();
  }

  /** Ends the worker thread and gives the serving connection back its own threshold. */
  async stop(): Promise<void> {
    await this.#worker.stop();
    if (this.#raised) this.#threshold(false);
    await this.#setting;
  }

  /** Raises the serving connection's threshold to the backstop, or gives it back its previous one. */
  #threshold(raised: boolean): void {
    this.#raised = raised;
    const pages = raised ? BACKSTOP_PAGES : this.#previous;
    this.#setting = this.#setting.then(() =>
      sql
        .raw(`pragma wal_autocheckpoint = ${Math.trunc(pages)}`)
        .execute(this.#db.kysely)
        .then(
          () => undefined,
          // The store is closing: nothing is left to checkpoint for.
          (err: unknown) => this.#logger?.warn({ err }, 'setting the SQLite checkpoint threshold failed'),
        ),
    );
  }
}

/** The file of a SQLite store, or undefined for PostgreSQL and `:memory:`. */
function sqliteFile(db: Db): string | undefined {
  if (db.dialect !== 'sqlite') return undefined;
  const file = db.location.slice('sqlite:'.length);
  return file === ':memory:' ? undefined : file;
}
