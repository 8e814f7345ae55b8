/**
 * The WAL checkpointer of a SQLite store: a worker thread copies committed WAL frames back into the database
 * file, so the connection serving requests never checkpoints on its own below the backstop.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { WalCheckpointer } from '../../../src/platform/db/checkpointer.js';
import { type Db, openDatabase } from '../../../src/platform/db/index.js';
import { Metrics } from '../../../src/platform/metrics.js';

const autocheckpoint = async (db: Db) =>
  Number(
    Object.values(
      (await sql<Record<string, number>>`pragma wal_autocheckpoint`.execute(db.kysely)).rows[0] ?? {},
    )[0],
  );

async function until(what: string, ok: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('WAL checkpointer (SQLite)', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });

  /** A SQLite store in a folder of its own, both removed after the test. */
  async function tempStore(): Promise<{ file: string; db: Db }> {
    const dir = mkdtempSync(join(tmpdir(), 'roster-ckpt-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'roster.db');
    const db = await openDatabase(`sqlite:${file}`);
    cleanup.push(() => db.close());
    return { file, db };
  }

  it('copies committed pages into the database file from its own thread, and hands checkpoints back when stopped', async () => {
    const { file, db } = await tempStore();
    expect(await autocheckpoint(db)).toBe(1000);

    const metrics = new Metrics();
    const checkpointer = new WalCheckpointer(db, { metrics });
    await checkpointer.start();
    let stopped = false;
    cleanup.push(async () => {
      if (!stopped) await checkpointer.stop();
    });
    // Once the worker has checkpointed, the serving connection checkpoints only past the backstop.
    let raised = await autocheckpoint(db);
    const end = Date.now() + 10_000;
    while (raised <= 10_000 && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 50));
      raised = await autocheckpoint(db);
    }
    expect(raised).toBeGreaterThan(10_000);

    // About 2,500 pages (10 MiB): below the backstop, so only the checkpointer can move them into the file.
    await sql`create table filler (id integer primary key, data blob not null)`.execute(db.kysely);
    await db.kysely.transaction().execute(async (tx) => {
      for (let i = 0; i < 40; i++) {
        await sql`insert into filler (data) values (randomblob(256 * 1024))`.execute(tx);
      }
    });
    await until('the database file holds the committed pages', () => statSync(file).size >= 10 * 1024 * 1024);
    const gauge = await metrics.registry.getSingleMetricAsString('roster_sqlite_wal_pages');
    expect(gauge).toMatch(/roster_sqlite_wal_pages \d+/);

    await checkpointer.stop();
    stopped = true;
    expect(await autocheckpoint(db)).toBe(1000);
  });

  it('leaves SQLite its own checkpoints while no worker checkpoints (here one that cannot open the file)', async () => {
    const { file, db } = await tempStore();
    // The open connection keeps working on the unlinked file; a new connection cannot find it.
    rmSync(file);
    const checkpointer = new WalCheckpointer(db, { metrics: new Metrics() });
    await checkpointer.start();
    await new Promise((r) => setTimeout(r, 1500));
    expect(await autocheckpoint(db)).toBe(1000);
    await checkpointer.stop();
    expect(await autocheckpoint(db)).toBe(1000);
  });

  it('applies to SQLite files only', async () => {
    const memory = await openDatabase('sqlite::memory:');
    cleanup.push(() => memory.close());
    expect(WalCheckpointer.applies(memory)).toBe(false);
    expect(() => new WalCheckpointer(memory, { metrics: new Metrics() })).toThrow(/SQLite file/);
  });
});
