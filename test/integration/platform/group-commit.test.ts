/**
 * GroupCommitter on both stores: works submitted together commit in one transaction, each under its own
 * savepoint, so a work that fails (by throwing, or by a statement the database refuses, which on PostgreSQL
 * aborts the transaction until the savepoint is rolled back) leaves no trace and never fails its neighbours.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type BatchStats, GroupCommitter } from '../../../src/platform/db/group-commit.js';
import type { Db, Tx } from '../../../src/platform/db/index.js';
import { createTestStore, describeEachStore, openTestDb, type TestStore } from '../../support/stores.js';

describeEachStore('group commit', (kind) => {
  let store: TestStore;
  let db: Db;
  beforeAll(async () => {
    store = createTestStore(kind);
    db = await openTestDb(store);
    await sql`create table gc_probe (id integer primary key, note text not null)`.execute(db.kysely);
  });
  afterAll(async () => {
    await db?.close();
    await store?.drop();
  });

  const rows = async () =>
    (await sql<{ id: number }>`select id from gc_probe order by id`.execute(db.kysely)).rows.map((r) =>
      Number(r.id),
    );
  const insert = (tx: Tx, id: number) =>
    sql`insert into gc_probe (id, note) values (${id}, ${'w'})`.execute(tx);

  it('a failing work rolls back alone, first, middle or last of its batch; the others commit together', async () => {
    const batches: BatchStats[] = [];
    const committer = new GroupCommitter(db, { onBatch: (s) => batches.push(s), maxBatch: 100 });
    await insert(db.kysely as unknown as Tx, 1000);
    // Submitted in one turn of the event loop: one batch. Work 0 throws after writing; works 4 and 9 write,
    // then hit the primary key (the database refuses the statement); the rest write their own row.
    const works = Array.from({ length: 10 }, (_, i) =>
      committer.submit(async (tx) => {
        await insert(tx, i + 1);
        if (i === 0) throw new Error('refused by the work');
        if (i === 4 || i === 9) await insert(tx, 1000);
        await sql`update gc_probe set note = ${`done ${i}`} where id = ${i + 1}`.execute(tx);
        return i;
      }),
    );
    const settled = await Promise.allSettled(works);
    expect(settled.map((s) => s.status)).toEqual([
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
    ]);
    expect((settled[0] as PromiseRejectedResult).reason).toMatchObject({ message: 'refused by the work' });
    expect(await rows()).toEqual([2, 3, 4, 6, 7, 8, 9, 1000]);
    const notes = await sql<{ note: string }>`select note from gc_probe where id = 9`.execute(db.kysely);
    expect(notes.rows[0]?.note).toBe('done 8');
    expect(batches).toEqual([expect.objectContaining({ size: 10, failed: 3, committed: true })]);

    // The next batch starts clean: savepoint names are reused and nothing of the last one lingers.
    const again = await Promise.all([2001, 2002].map((id) => committer.submit((tx) => insert(tx, id))));
    expect(again).toHaveLength(2);
    expect(await rows()).toEqual([2, 3, 4, 6, 7, 8, 9, 1000, 2001, 2002]);
    await committer.close();
  });
});
