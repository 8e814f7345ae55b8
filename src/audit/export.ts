import type { Queryable } from '../platform/db/index.js';
import { nodeKey } from './merkle.js';
import { type LeafEntry, leafOf } from './model.js';
import type { NoteVerifier } from './note.js';
import {
  type CheckpointRow,
  entriesByLeaf,
  fetchNodeRanges,
  getTree,
  listCheckpoints,
  type TreeHead,
} from './tree-store.js';
import { exportLine, TreeVerifier, VerifyFailure } from './verify.js';

const PAGE = 2000;

type Step =
  | { kind: 'entry'; leaf: LeafEntry; stored: Uint8Array | undefined }
  | { kind: 'checkpoint'; row: CheckpointRow };

/**
 * A tree's integrated entries in leaf order up to `size` (exclusive), each with its stored leaf hash, and
 * every stored checkpoint of size <= `size` right after the entry that completes it. Reads page by page.
 * Leaf positions are taken as stored: a missing or repeated position shows up to the verifier.
 */
async function* walkTree(q: Queryable, tree: TreeHead, size: number): AsyncGenerator<Step> {
  let next = 0;
  let checkpoints = await listCheckpoints(q, tree.tree, { afterSize: 0, limit: PAGE, maxSize: size });
  let ci = 0;
  const nextCheckpoint = async (): Promise<CheckpointRow | undefined> => {
    if (ci >= checkpoints.length && checkpoints.length === PAGE) {
      const after = checkpoints[checkpoints.length - 1]?.size ?? 0;
      checkpoints = await listCheckpoints(q, tree.tree, { afterSize: after, limit: PAGE, maxSize: size });
      ci = 0;
    }
    return checkpoints[ci];
  };
  while (next < size) {
    const rows = await entriesByLeaf(q, tree.tenantId, next, size, PAGE);
    if (rows.length === 0) break;
    const first = Number(rows[0]?.leaf_index);
    const last = Number(rows[rows.length - 1]?.leaf_index);
    const stored = await fetchNodeRanges(q, tree.tree, [{ level: 0, from: first, to: last }]);
    for (const r of rows) {
      const index = Number(r.leaf_index);
      yield { kind: 'entry', leaf: leafOf(r, index), stored: stored.get(nodeKey({ level: 0, index })) };
      for (let c = await nextCheckpoint(); c && c.size <= index + 1; c = await nextCheckpoint()) {
        yield { kind: 'checkpoint', row: c };
        ci++;
      }
    }
    next = last + 1;
  }
  // Checkpoints beyond the last entry found (entries removed from the end): still shown to the verifier.
  for (let c = await nextCheckpoint(); c; c = await nextCheckpoint()) {
    yield { kind: 'checkpoint', row: c };
    ci++;
  }
}

/**
 * The export of a tree up to its covering checkpoint `head`, as JSON Lines: `head` first, the entries and
 * stored checkpoints in order, and `head` again last. Every line is canonical JSON.
 */
export async function* exportTree(
  q: Queryable,
  tree: TreeHead,
  head: CheckpointRow,
  onProgress?: (entries: number) => void,
): AsyncGenerator<string> {
  yield exportLine({ type: 'checkpoint', note: head.note });
  let n = 0;
  for await (const step of walkTree(q, tree, head.size)) {
    if (step.kind === 'checkpoint') {
      yield exportLine({ type: 'checkpoint', note: step.row.note });
      continue;
    }
    const hash = step.stored ?? new Uint8Array(0);
    yield exportLine({ type: 'entry', leafHash: Buffer.from(hash).toString('base64'), entry: step.leaf });
    n++;
    if (onProgress && (n % 1000 === 0 || n === head.size)) onProgress(n);
  }
}

export interface LiveResult {
  readonly tree: string;
  readonly entries: number;
  readonly checkpoints: number;
}

/**
 * Checks a tree in the store against its own signed checkpoints: recomputes every leaf from the entry rows,
 * compares it with the stored leaf hash (naming the entry that was altered), recomputes every stored tree
 * node, and checks every checkpoint's signature with `verifiers` (the operator's public key, never keys read
 * from the store) and its root. @throws VerifyFailure
 */
export async function verifyLive(
  q: Queryable,
  treeName: string,
  verifiers: readonly NoteVerifier[],
  onProgress?: (entries: number, total: number) => void,
): Promise<LiveResult> {
  const tree = await getTree(q, treeName);
  if (!tree) throw new VerifyFailure(`tree ${treeName}`, 'no such tree');
  const v = new TreeVerifier(verifiers);
  let pendingNodes: { level: number; index: number; hash: Uint8Array }[] = [];
  const checkNodes = async () => {
    if (pendingNodes.length === 0) return;
    const ranges = new Map<number, { level: number; from: number; to: number }>();
    for (const n of pendingNodes) {
      const r = ranges.get(n.level);
      if (r) r.to = Math.max(r.to, n.index);
      else ranges.set(n.level, { level: n.level, from: n.index, to: n.index });
    }
    const stored = await fetchNodeRanges(q, treeName, [...ranges.values()]);
    for (const n of pendingNodes) {
      const s = stored.get(nodeKey(n));
      if (!s || Buffer.compare(Buffer.from(s), Buffer.from(n.hash)) !== 0) {
        throw new VerifyFailure(
          `tree ${treeName}`,
          `stored node ${nodeKey(n)} ${s ? 'differs from' : 'is missing for'} the entries it covers: proofs from it would be wrong`,
        );
      }
    }
    pendingNodes = [];
  };
  for await (const step of walkTree(q, tree, tree.size)) {
    if (step.kind === 'checkpoint') {
      const where = `checkpoint of size ${step.row.size}`;
      v.checkpoint(v.open(step.row.note, where), where);
      continue;
    }
    const where = `entry ${step.leaf.index} (seq ${step.leaf.seq})`;
    if (!step.stored) throw new VerifyFailure(where, 'the entry has no stored leaf hash');
    pendingNodes.push(...v.entry(step.leaf, where, step.stored));
    if (pendingNodes.length >= 4 * PAGE) await checkNodes();
    if (onProgress && v.size % 1000 === 0) onProgress(v.size, tree.size);
  }
  await checkNodes();
  if (v.size !== tree.size) {
    throw new VerifyFailure(
      `tree ${treeName}`,
      `the store holds ${v.size} integrated entries where the tree head says ${tree.size}: entry ${v.size} is missing`,
    );
  }
  if (Buffer.compare(Buffer.from(v.root()), Buffer.from(tree.rootHash)) !== 0) {
    throw new VerifyFailure(`tree ${treeName}`, 'the stored tree head does not match the entries');
  }
  return { tree: treeName, entries: v.size, checkpoints: v.checkpoints };
}
