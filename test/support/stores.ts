import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, inject } from 'vitest';
import { type Db, openDatabase } from '../../src/platform/db/index.js';
import { migrateToLatest } from '../../src/platform/db/migrations.js';

export type StoreKind = 'sqlite' | 'postgres';
export const STORE_KINDS: readonly StoreKind[] = ['sqlite', 'postgres'];

export const PG_URL = process.env.ROSTER_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

let pgReachable: Promise<boolean> | undefined;

/** Whether the test PostgreSQL answers. Under CI an unreachable PostgreSQL is a failure, never a skip. */
export function postgresReachable(): Promise<boolean> {
  pgReachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return pgReachable;
}

export interface TestStore {
  readonly kind: StoreKind;
  /** A ROSTER_DATABASE_URL naming this store (a private schema on PostgreSQL). */
  readonly url: string;
  /** A scratch folder for this store's files (SQLite database, key file). */
  readonly dir: string;
  open(): Promise<Db>;
  /** Removes the schema or files. */
  drop(): Promise<void>;
}

/** A fresh, empty store of the given kind, isolated from every other test run. */
export function createTestStore(kind: StoreKind): TestStore {
  const dir = mkdtempSync(join(tmpdir(), 'roster-test-'));
  if (kind === 'sqlite') {
    return {
      kind,
      dir,
      url: `sqlite:${join(dir, 'roster.db')}`,
      open: () => openDatabase(`sqlite:${join(dir, 'roster.db')}`),
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const schema = `rt_${randomBytes(6).toString('hex')}`;
  const sep = PG_URL.includes('?') ? '&' : '?';
  const url = `${PG_URL}${sep}schema=${schema}`;
  return {
    kind,
    dir,
    url,
    open: () => openDatabase(url),
    drop: async () => {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await client.end();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Opens and migrates a fresh store. */
export async function openTestDb(store: TestStore): Promise<Db> {
  const db = await store.open();
  await migrateToLatest(db);
  return db;
}

/**
 * Runs a suite once per store. Outside CI an unreachable PostgreSQL skips its half with a warning; under
 * CI the global setup has already failed the run.
 */
export function describeEachStore(name: string, fn: (kind: StoreKind) => void): void {
  for (const kind of STORE_KINDS) {
    const skip = kind === 'postgres' && !inject('pgAvailable');
    (skip ? describe.skip : describe)(`${name} [${kind}]`, () => fn(kind));
  }
}
