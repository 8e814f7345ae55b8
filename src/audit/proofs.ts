import type { Queryable } from '../platform/db/index.js';
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
export class AuditProofs {
  readonly #db: Queryable;

  constructor(db: Queryable) {
    this.#db = db;
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
    const head = await getTree(this.#db, tree);
    if (size > (head?.size ?? 0)) {
      throw new RosterError('audit.out_of_range', {
        detail: `the tree holds ${head?.size ?? 0} integrated entries`,
      });
    }
  }

  async #nodes(tree: string, refs: NodeRef[]): Promise<(ref: NodeRef) => Uint8Array> {
    const unique = [...new Map(refs.map((r) => [nodeKey(r), r])).values()];
    const found = await fetchNodes(this.#db, tree, unique);
    return (ref) => {
      const h = found.get(nodeKey(ref));
      if (!h) throw new Error(`audit tree ${tree}: stored node ${nodeKey(ref)} is missing`);
      return h;
    };
  }
}
