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
 * a worker thread checkpoints every 200 ms on its own connection, and the serving connection only checkpoints
 * itself past BACKSTOP_PAGES (measured in bench/RESULTS.md, "WAL checkpoints off the event loop").
 */
export class WalCheckpointer {
  readonly #db: Db;
  readonly #worker: SupervisedWorker<CheckpointerMessage>;

  constructor(db: Db, o: { metrics: Metrics; logger?: Logger }) {
    const file = sqliteFile(db);
    if (!file) throw new Error('the WAL checkpointer needs a SQLite file store');
    this.#db = db;
    this.#worker = new SupervisedWorker<CheckpointerMessage>({
      script: workerScript(import.meta.url, 'checkpointer-worker.js', '../../../dist/platform/db'),
      data: { file, intervalMs: CHECKPOINT_INTERVAL_MS },
      name: 'SQLite checkpointer',
      logger: o.logger,
      onMessage: (m) => {
        if (m.type === 'error') o.logger?.warn({ error: m.message }, 'SQLite checkpoint failed');
        else if (m.type === 'round') o.metrics.sqliteWalPages.set(m.walPages);
      },
    });
  }

  /** Whether a store's WAL can be checkpointed by another thread: a SQLite file (not `:memory:`). */
  static applies(db: Db): boolean {
    return sqliteFile(db) !== undefined;
  }

  async start(): Promise<void> {
    this.#worker.start();
    await autocheckpoint(this.#db, BACKSTOP_PAGES);
  }

  async stop(): Promise<void> {
    await this.#worker.stop();
    await autocheckpoint(this.#db, SQLITE_DEFAULT_PAGES);
  }
}

/** The file of a SQLite store, or undefined for PostgreSQL and `:memory:`. */
function sqliteFile(db: Db): string | undefined {
  if (db.dialect !== 'sqlite') return undefined;
  const file = db.location.slice('sqlite:'.length);
  return file === ':memory:' ? undefined : file;
}

function autocheckpoint(db: Db, pages: number): Promise<unknown> {
  return sql.raw(`pragma wal_autocheckpoint = ${Math.trunc(pages)}`).execute(db.kysely);
}
