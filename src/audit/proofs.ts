import type { Db, Dialect, Queryable } from '../platform/db/index.js';
import { RosterError } from '../platform/errors.js';
import {
  consistencyProof,
  consistencyProofRefs,
  inclusionProof,
  inclusionProofRefs,
  type NodeRef,
  nodeKey,
  rootAt,
  rootRefs,
} from './merkle.js';
import { type CheckpointRow, fetchNodes, getTree, latestCheckpoint, listCheckpoints } from './tree-store.js';

export interface InclusionProof {
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: Uint8Array;
  readonly rootHash: Uint8Array;
  readonly hashes: Uint8Array[];
}

export interface ConsistencyProof {
  readonly from: number;
  readonly to: number;
  readonly fromRoot: Uint8Array;
  readonly toRoot: Uint8Array;
  readonly hashes: Uint8Array[];
}

/**
 * Proofs over a tree's stored perfect-subtree hashes: each proof reads the O(log n) nodes it needs in one
 * query and hashes O(log n) times, whatever the size of the log.
 */
/** Nodes of this level and above are kept in memory once read: few (n / 256), and read by most proofs. */
const CACHED_LEVEL = 8;
const CACHE_SIZE = 100_000;

export class AuditProofs {
  readonly #db: Queryable;
  readonly #dialect: Dialect;
  /** Perfect-subtree hashes never change once stored: high nodes are cached by `tree level/index`. */
  readonly #cache = new Map<string, Uint8Array>();
  /** The largest integrated size seen per tree. */
  readonly #sizes = new Map<string, number>();

  constructor(db: Db) {
    this.#db = db.kysely;
    this.#dialect = db.dialect;
  }

  /** @throws audit.out_of_range */
  async inclusion(tree: string, leafIndex: number, treeSize: number): Promise<InclusionProof> {
    await this.#withinTree(tree, treeSize);
    if (leafIndex >= treeSize)
      throw new RosterError('audit.out_of_range', { detail: 'index must be below treeSize' });
    const refs = [
      ...inclusionProofRefs(leafIndex, treeSize),
      ...rootRefs(treeSize),
      { level: 0, index: leafIndex },
    ];
    const get = await this.#nodes(tree, refs);
    return {
      leafIndex,
      treeSize,
      leafHash: get({ level: 0, index: leafIndex }),
      rootHash: rootAt(treeSize, get),
      hashes: inclusionProof(leafIndex, treeSize, get),
    };
  }

  /** @throws audit.out_of_range */
  async consistency(tree: string, from: number, to: number): Promise<ConsistencyProof> {
    await this.#withinTree(tree, to);
    if (from > to) throw new RosterError('audit.out_of_range', { detail: 'from must not exceed to' });
    const refs = [...consistencyProofRefs(from, to), ...rootRefs(from), ...rootRefs(to)];
    const get = await this.#nodes(tree, refs);
    return {
      from,
      to,
      fromRoot: rootAt(from, get),
      toRoot: rootAt(to, get),
      hashes: consistencyProof(from, to, get),
    };
  }

  /** @throws audit.no_checkpoint */
  async latestCheckpoint(tree: string): Promise<CheckpointRow> {
    const c = await latestCheckpoint(this.#db, tree);
    if (!c) throw new RosterError('audit.no_checkpoint');
    return c;
  }

  listCheckpoints(
    tree: string,
    page: { afterSize: number; limit: number; since?: string; until?: string },
  ): Promise<CheckpointRow[]> {
    return listCheckpoints(this.#db, tree, page);
  }

  async #withinTree(tree: string, size: number): Promise<void> {
    // A tree only grows: a size within one seen before needs no read.
    if (size <= (this.#sizes.get(tree) ?? 0)) return;
    const head = await getTree(this.#db, tree);
    if (head) {
      if (this.#sizes.size >= CACHE_SIZE) this.#sizes.clear();
      this.#sizes.set(tree, head.size);
    }
    if (size > (head?.size ?? 0)) {
      throw new RosterError('audit.out_of_range', {
        detail: `the tree holds ${head?.size ?? 0} integrated entries`,
      });
    }
  }

  async #nodes(tree: string, refs: NodeRef[]): Promise<(ref: NodeRef) => Uint8Array> {
    const unique = [...new Map(refs.map((r) => [nodeKey(r), r])).values()];
    const found = new Map<string, Uint8Array>();
    const missing: NodeRef[] = [];
    for (const r of unique) {
      const hit = r.level >= CACHED_LEVEL ? this.#cache.get(`${tree} ${nodeKey(r)}`) : undefined;
      if (hit) found.set(nodeKey(r), hit);
      else missing.push(r);
    }
    for (const [key, hash] of await fetchNodes(this.#db, tree, missing, this.#dialect)) {
      found.set(key, hash);
      if (Number(key.slice(0, key.indexOf('/'))) >= CACHED_LEVEL) {
        if (this.#cache.size >= CACHE_SIZE) this.#cache.clear();
        this.#cache.set(`${tree} ${key}`, hash);
      }
    }
    return (ref) => {
      const h = found.get(nodeKey(ref));
      if (!h) throw new Error(`audit tree ${tree}: stored node ${nodeKey(ref)} is missing`);
      return h;
    };
  }
}
