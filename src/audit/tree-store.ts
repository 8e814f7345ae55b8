import { sql } from 'kysely';
import type { Db, Dialect, Queryable } from '../platform/db/index.js';
import type { NodeRef } from './merkle.js';
import type { CheckpointRow, EntryRow } from './model.js';

export type { CheckpointRow } from './model.js';

/**
 * The Merkle log's queries: the integrator's writes (leaf positions, perfect-subtree hashes, tree heads,
 * checkpoints) and the reads proofs and verification need. Entries themselves are only read here; their
 * one write is setting `leaf_index` once, from null.
 */

/** An entry waiting for its leaf position. */
export type PendingRow = EntryRow;

export interface TreeHead {
  tree: string;
  tenantId: string | null;
  size: number;
  rootHash: Uint8Array;
  integratedAt: string;
  checkpointSize: number;
  checkpointAt: string | null;
}

/** Rows per statement when writing many: well under both dialects' bound-parameter limits. */
const CHUNK = 500;

function chunks<T>(items: readonly T[], size = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Takes the integrator's lock for the current transaction: false when another node holds it. On PostgreSQL
 * a transaction-scoped advisory lock (released by commit, rollback or a dead session); on SQLite a write to
 * the lock row, which takes the database's write lock before anything is read.
 */
export async function tryLockIntegrator(db: Db, tx: Queryable, at: string): Promise<boolean> {
  if (db.dialect === 'postgres') {
    const key = `roster.audit.integrator:${db.schema ?? 'public'}`;
    const { rows } = await sql<{
      locked: boolean;
    }>`select pg_try_advisory_xact_lock(hashtextextended(${key}, 0)) as locked`.execute(tx);
    return rows[0]?.locked === true;
  }
  await tx.updateTable('audit_integrator').set({ at }).where('name', '=', 'integrator').execute();
  return true;
}

/** Entries not yet in a tree, oldest first. */
export async function pendingEntries(q: Queryable, limit: number): Promise<PendingRow[]> {
  return q
    .selectFrom('audit_entries')
    .select([
      'seq',
      'tenant_id',
      'at',
      'actor',
      'action',
      'target_type',
      'target_id',
      'before',
      'after',
      'request_id',
    ])
    .where('leaf_index', 'is', null)
    .orderBy('seq', 'asc')
    .limit(limit)
    .execute();
}

/** Sets each entry's leaf index, only where it is still null; returns how many rows it set. */
export async function assignLeafIndexes(
  db: Db,
  q: Queryable,
  rows: readonly { seq: number; leafIndex: number }[],
): Promise<number> {
  let set = 0;
  for (const part of chunks(rows)) {
    const values = sql.join(part.map((r) => sql`(${r.seq}, ${r.leafIndex})`));
    const result =
      db.dialect === 'postgres'
        ? await sql`update audit_entries as e set leaf_index = v.li::bigint
            from (values ${values}) as v(seq, li)
            where e.seq = v.seq::bigint and e.leaf_index is null`.execute(q)
        : await sql`update audit_entries set leaf_index = v.column2
            from (values ${values}) as v
            where audit_entries.seq = v.column1 and audit_entries.leaf_index is null`.execute(q);
    set += Number(result.numAffectedRows ?? 0n);
  }
  return set;
}

export async function insertNodes(
  q: Queryable,
  tree: string,
  nodes: readonly { level: number; index: number; hash: Uint8Array }[],
): Promise<void> {
  for (const part of chunks(nodes)) {
    await q
      .insertInto('audit_nodes')
      .values(part.map((n) => ({ tree, level: n.level, idx: n.index, hash: n.hash })))
      .execute();
  }
}

/**
 * The stored nodes named by `refs`, keyed by `level/index` (missing ones are absent). One statement of
 * point lookups joined with UNION ALL: each is a primary-key search whatever the planner knows (an OR of
 * (level, idx) pairs made SQLite without statistics scan the whole tree).
 */
export async function fetchNodes(
  q: Queryable,
  tree: string,
  refs: readonly NodeRef[],
  dialect: Dialect = 'sqlite',
): Promise<Map<string, Uint8Array>> {
  if (dialect === 'postgres') {
    // One short statement whatever the number of nodes: cheap to parse and plan, index lookups per pair.
    const out = new Map<string, Uint8Array>();
    if (refs.length === 0) return out;
    const { rows } = await sql<{ level: number; idx: number | string; hash: Uint8Array }>`
      select n.level, n.idx, n.hash
      from unnest(${refs.map((r) => r.level)}::int[], ${refs.map((r) => r.index)}::bigint[]) as r(level, idx)
      join audit_nodes n on n.tree = ${tree} and n.level = r.level and n.idx = r.idx`.execute(q);
    for (const r of rows) out.set(`${r.level}/${Number(r.idx)}`, r.hash);
    return out;
  }
  return unionOfNodes(
    q,
    refs.map(
      (r) =>
        sql`select level, idx, hash from audit_nodes where tree = ${tree} and level = ${r.level} and idx = ${r.index}`,
    ),
  );
}

/** Stored nodes of levels/index ranges (inclusive), for verification of a run of leaves. */
export async function fetchNodeRanges(
  q: Queryable,
  tree: string,
  ranges: readonly { level: number; from: number; to: number }[],
): Promise<Map<string, Uint8Array>> {
  return unionOfNodes(
    q,
    ranges.map(
      (r) =>
        sql`select level, idx, hash from audit_nodes where tree = ${tree} and level = ${r.level} and idx >= ${r.from} and idx <= ${r.to}`,
    ),
  );
}

async function unionOfNodes(q: Queryable, parts: ReturnType<typeof sql>[]): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const group of chunks(parts, 100)) {
    if (group.length === 0) continue;
    const { rows } = await sql<{ level: number; idx: number | string; hash: Uint8Array }>`${sql.join(
      group,
      sql` union all `,
    )}`.execute(q);
    for (const r of rows) out.set(`${r.level}/${Number(r.idx)}`, r.hash);
  }
  return out;
}

export async function getTree(q: Queryable, tree: string): Promise<TreeHead | undefined> {
  const r = await q.selectFrom('audit_trees').selectAll().where('tree', '=', tree).executeTakeFirst();
  return r ? treeHead(r) : undefined;
}

export async function listTrees(q: Queryable): Promise<TreeHead[]> {
  const rows = await q.selectFrom('audit_trees').selectAll().orderBy('tree').execute();
  return rows.map(treeHead);
}

function treeHead(r: {
  tree: string;
  tenant_id: string | null;
  size: number;
  root_hash: Uint8Array;
  integrated_at: string;
  checkpoint_size: number;
  checkpoint_at: string | null;
}): TreeHead {
  return {
    tree: r.tree,
    tenantId: r.tenant_id,
    size: Number(r.size),
    rootHash: r.root_hash,
    integratedAt: r.integrated_at,
    checkpointSize: Number(r.checkpoint_size),
    checkpointAt: r.checkpoint_at,
  };
}

export async function saveTree(
  q: Queryable,
  head: { tree: string; tenantId: string | null; size: number; rootHash: Uint8Array; at: string },
  existed: boolean,
): Promise<void> {
  if (existed) {
    await q
      .updateTable('audit_trees')
      .set({ size: head.size, root_hash: head.rootHash, integrated_at: head.at })
      .where('tree', '=', head.tree)
      .execute();
  } else {
    await q
      .insertInto('audit_trees')
      .values({
        tree: head.tree,
        tenant_id: head.tenantId,
        size: head.size,
        root_hash: head.rootHash,
        integrated_at: head.at,
      })
      .execute();
  }
}

/** Trees that grew past their last checkpoint, and whose last checkpoint is older than `signedBefore`. */
export async function treesDueForCheckpoint(q: Queryable, signedBefore: string): Promise<TreeHead[]> {
  const rows = await q
    .selectFrom('audit_trees')
    .selectAll()
    .whereRef('size', '>', 'checkpoint_size')
    .where((eb) => eb.or([eb('checkpoint_at', 'is', null), eb('checkpoint_at', '<=', signedBefore)]))
    .execute();
  return rows.map(treeHead);
}

export async function insertCheckpoint(q: Queryable, c: CheckpointRow): Promise<void> {
  await q
    .insertInto('audit_checkpoints')
    .values({
      tree: c.tree,
      size: c.size,
      root_hash: c.rootHash,
      at: c.at,
      key_hash: c.keyHash,
      note: c.note,
    })
    .onConflict((oc) => oc.columns(['tree', 'size']).doNothing())
    .execute();
  await q
    .updateTable('audit_trees')
    .set({ checkpoint_size: c.size, checkpoint_at: c.at })
    .where('tree', '=', c.tree)
    .where('checkpoint_size', '<', c.size)
    .execute();
}

function checkpointRow(r: {
  tree: string;
  size: number;
  root_hash: Uint8Array;
  at: string;
  key_hash: string;
  note: string;
}): CheckpointRow {
  return {
    tree: r.tree,
    size: Number(r.size),
    rootHash: r.root_hash,
    at: r.at,
    keyHash: r.key_hash,
    note: r.note,
  };
}

export async function latestCheckpoint(q: Queryable, tree: string): Promise<CheckpointRow | undefined> {
  const r = await q
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('tree', '=', tree)
    .orderBy('size', 'desc')
    .limit(1)
    .executeTakeFirst();
  return r ? checkpointRow(r) : undefined;
}

/** Checkpoints of a tree by size, after `afterSize`, optionally bounded in time (ISO instants). */
export async function listCheckpoints(
  q: Queryable,
  tree: string,
  page: { afterSize: number; limit: number; since?: string; until?: string; maxSize?: number },
): Promise<CheckpointRow[]> {
  let query = q
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('tree', '=', tree)
    .where('size', '>', page.afterSize);
  if (page.since !== undefined) query = query.where('at', '>=', page.since);
  if (page.until !== undefined) query = query.where('at', '<', page.until);
  if (page.maxSize !== undefined) query = query.where('size', '<=', page.maxSize);
  const rows = await query.orderBy('size', 'asc').limit(page.limit).execute();
  return rows.map(checkpointRow);
}

/** Integrated entries of a tree in leaf order, from leaf `fromIndex` (inclusive), up to `limit`. */
export async function entriesByLeaf(
  q: Queryable,
  tenantId: string | null,
  fromIndex: number,
  toIndex: number,
  limit: number,
) {
  let query = q
    .selectFrom('audit_entries')
    .selectAll()
    .where('leaf_index', '>=', fromIndex)
    .where('leaf_index', '<', toIndex);
  query = tenantId === null ? query.where('tenant_id', 'is', null) : query.where('tenant_id', '=', tenantId);
  return query.orderBy('leaf_index', 'asc').limit(limit).execute();
}

export async function signingKeys(q: Queryable): Promise<{ keyHash: string; verifierKey: string }[]> {
  const rows = await q.selectFrom('audit_signing_keys').selectAll().orderBy('created_at').execute();
  return rows.map((r) => ({ keyHash: r.key_hash, verifierKey: r.verifier_key }));
}

export async function recordSigningKey(
  q: Queryable,
  key: { keyHash: string; verifierKey: string; createdAt: string },
): Promise<void> {
  await q
    .insertInto('audit_signing_keys')
    .values({ key_hash: key.keyHash, verifier_key: key.verifierKey, created_at: key.createdAt })
    .onConflict((oc) => oc.column('key_hash').doNothing())
    .execute();
}
