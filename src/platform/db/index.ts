import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresDialect, SqliteDialect, sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Dialect = 'sqlite' | 'postgres';
export type Tx = Transaction<Database>;
export type Queryable = Kysely<Database> | Tx;

export interface Db {
  readonly kysely: Kysely<Database>;
  readonly dialect: Dialect;
  /** Where the data lives, with any password removed (safe for logs). */
  readonly location: string;
  /** The PostgreSQL schema Roster's tables live in, when one was named (`?schema=`). */
  readonly schema?: string;
  close(): Promise<void>;
}

/**
 * Marks the code running inside a transaction (set by `inTransaction`). SQLite has one connection: a query
 * made through the database instead of the open transaction would wait for that transaction, which waits for
 * the query, forever. The SQLite driver refuses such a query at once instead, so the mistake is an error
 * (and a failing test), never a hung server.
 */
const openTransaction = new AsyncLocalStorage<true>();

/** Runs `fn` (a transaction's body) marked as inside the transaction. */
export function inTransaction<T>(fn: () => Promise<T>): Promise<T> {
  return openTransaction.run(true, fn);
}

/** SqliteDialect whose driver refuses to hand out the connection to code running inside a transaction. */
class GuardedSqliteDialect extends SqliteDialect {
  override createDriver() {
    const driver = super.createDriver();
    const acquire = driver.acquireConnection.bind(driver);
    driver.acquireConnection = async () => {
      if (openTransaction.getStore()) {
        throw new Error(
          'a query went to the database instead of the open transaction (on SQLite that waits forever)',
        );
      }
      return acquire();
    };
    return driver;
  }
}

// bigint (int8) counts and sequence numbers fit a JS number for any realistic size of this service.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10));

export interface OpenOptions {
  /** PostgreSQL connection pool size (default 10). */
  readonly poolSize?: number;
}

/**
 * Opens the store named by a `sqlite:<path>` or `postgres://` URL. A SQLite file and its folder are created
 * on first use. A PostgreSQL URL may carry `?schema=<name>` to place Roster's tables in that schema.
 */
export async function openDatabase(url: string, options: OpenOptions = {}): Promise<Db> {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  return openPostgres(url, options.poolSize ?? 10);
}

function openSqlite(path: string): Db {
  const file = path === ':memory:' ? path : resolve(path);
  // The data folder holds the database (and by default the key file): owner-only.
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const database = new SQLite(file);
  database.pragma('journal_mode = WAL');
  // FULL: an acknowledged commit survives power loss, not only a process crash.
  database.pragma('synchronous = FULL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  // Deleted content is overwritten with zeros, not left in free pages: an erased user's sealed data key
  // must not stay readable in the file (docs/encryption.md, Erasure).
  database.pragma('secure_delete = ON');
  // SQLite's own lower() folds A-Z only; searches compare caseless attributes as lower(column) = value
  // lower-cased in JavaScript, and PostgreSQL folds all of Unicode: the same answer on both stores needs
  // the same folding (an application-defined function overrides the built-in one of the same name).
  database.function('lower', { deterministic: true }, (value: unknown) =>
    typeof value === 'string' ? value.toLowerCase() : value,
  );
  // Kysely prepares every query anew; preparing is a good part of a query's cost in better-sqlite3, and
  // Roster runs the same few dozen statements over and over: keep them prepared.
  const statements = new Map<string, SQLite.Statement>();
  const cached = {
    close: () => database.close(),
    prepare(text: string): SQLite.Statement {
      // Every transaction takes the write lock when it begins: a deferred one that read first would fail at
      // once (SQLITE_BUSY, no waiting) when another connection (the audit integrator's thread, a CLI
      // process) committed in between; an immediate one waits its turn under busy_timeout instead.
      const sql = text === 'begin' ? 'begin immediate' : text;
      let stmt = statements.get(sql);
      if (!stmt) {
        stmt = database.prepare(sql);
        if (statements.size >= 2000) statements.clear();
        statements.set(sql, stmt);
      }
      return stmt;
    },
  };
  const kysely = new Kysely<Database>({ dialect: new GuardedSqliteDialect({ database: cached }) });
  return {
    kysely,
    dialect: 'sqlite',
    location: `sqlite:${file}`,
    close: () => kysely.destroy(),
  };
}

async function openPostgres(url: string, poolSize: number): Promise<Db> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  if (schema !== null && !/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new Error('the schema parameter must be a lower-case SQL identifier');
  }
  const pool = new pg.Pool({
    connectionString: parsed.toString(),
    max: poolSize,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  // An idle client's error (server restart) must not crash the process; the next query reports it.
  pool.on('error', () => {});
  const kysely = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  if (schema) await sql`create schema if not exists ${sql.id(schema)}`.execute(kysely);
  parsed.password = '';
  return {
    kysely,
    dialect: 'postgres',
    ...(schema ? { schema } : {}),
    location: `${parsed.protocol}//${parsed.host}${parsed.pathname}${schema ? ` (schema ${schema})` : ''}`,
    close: () => kysely.destroy(),
  };
}

/** True when the database answers a trivial query. */
export async function pingDatabase(db: Db): Promise<boolean> {
  try {
    await sql`select 1`.execute(db.kysely);
    return true;
  } catch {
    return false;
  }
}
