import type { Logger } from 'pino';
import type { Clock } from '../platform/clock.js';
import type { Db, Queryable, Tx } from '../platform/db/index.js';
import { transact } from '../platform/db/tx.js';
import { RosterError } from '../platform/errors.js';
import type { Metrics } from '../platform/metrics.js';
import { Frontier, frontierRefs, leafHash, nodeKey } from './merkle.js';
import { leafBytes, leafOf, treeOf } from './model.js';
import { formatCheckpoint, type NoteSigner } from './note.js';
import { keyHashHex } from './signing-key.js';
import {
  assignLeafIndexes,
  type CheckpointRow,
  fetchNodes,
  getTree,
  insertCheckpoint,
  insertNodes,
  latestCheckpoint,
  type PendingRow,
  pendingEntries,
  saveTree,
  type TreeHead,
  treesDueForCheckpoint,
  tryLockIntegrator,
} from './tree-store.js';

export interface IntegratorOptions {
  readonly db: Db;
  readonly clock: Clock;
  readonly signer: NoteSigner;
  /** Prefix of every tree's origin line: `<logName>/audit/<tenant id | platform>`. */
  readonly logName: string;
  /** A growing tree gets a new signed checkpoint at least this often. */
  readonly checkpointIntervalMs: number;
  /** Entries integrated per transaction. */
  readonly batchSize?: number;
  /** What rounds report: metrics on the main thread, messages from the worker thread. */
  readonly events?: IntegratorEvents;
}

export interface IntegratorEvents {
  /** Age of the oldest pending entry when a round starts (0: none pending). */
  lag(seconds: number): void;
  /** A round that integrated or signed something. */
  round(integrated: number, signed: number, seconds: number): void;
  /** A round of the background loop failed (the next one tries again). */
  failed(err: unknown): void;
}

/** Events as metrics and log lines: what a node reports, whichever thread integrates. */
export function metricEvents(metrics: Metrics, logger?: Logger): IntegratorEvents {
  return {
    lag: (seconds) => metrics.auditLag.set(seconds),
    round(integrated, signed, seconds) {
      metrics.auditIntegrated.inc(integrated);
      metrics.auditCheckpoints.inc(signed);
      metrics.auditRound.observe(seconds);
    },
    failed: (err) => logger?.warn({ err }, 'audit integration round failed'),
  };
}

export interface RoundResult {
  /** False when another node's integrator held the lock. */
  readonly locked: boolean;
  readonly integrated: number;
  readonly signed: number;
  /** Another integrator moved a tree between planning and writing: nothing was written, go again. */
  readonly retry?: boolean;
}

interface TreePlan {
  readonly head: { tree: string; tenantId: string | null; size: number; rootHash: Uint8Array; at: string };
  readonly existed: boolean;
  readonly fromSize: number;
  readonly nodes: { level: number; index: number; hash: Uint8Array }[];
  readonly positions: { seq: number; leafIndex: number }[];
}

class StalePlan extends Error {}

/** The origin line of a tree's checkpoints. */
export function originOf(logName: string, tenantId: string | null): string {
  return `${logName}/audit/${treeOf(tenantId)}`;
}

/**
 * Integrates committed audit entries into their trees' Merkle logs and signs checkpoints. Entries get leaf
 * positions in the order the integrator sees them committed (by `seq` among the pending ones), so an entry
 * that commits late is appended late instead of leaving a hole. Every round is one transaction under the
 * integrator lock (a PostgreSQL advisory lock across nodes): it either assigns positions, stores the new
 * nodes and moves the tree head together, or does nothing; a crash mid-round loses no entry and repeats none.
 */
export class Integrator {
  readonly #o: IntegratorOptions;
  readonly #batch: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: IntegratorOptions) {
    this.#o = options;
    this.#batch = options.batchSize ?? 5000;
  }

  /**
   * One round: integrates up to a batch of pending entries and signs the checkpoints that are due. The
   * hashing is done before the transaction, from what is committed; the transaction (under the integrator
   * lock) then only checks that the tree heads are still those the plan grew from, and writes. A plan made
   * stale by another integrator is dropped whole (`retry`), never half-written.
   */
  async round(forceCheckpointFor: readonly string[] = []): Promise<RoundResult> {
    const { db, clock } = this.#o;
    const now = clock.now();
    const started = performance.now();
    const rows = await pendingEntries(db.kysely, this.#batch);
    const oldest = rows[0];
    this.#o.events?.lag(oldest ? Math.max(0, (now.getTime() - Date.parse(oldest.at)) / 1000) : 0);
    const plans = await this.#plan(rows, now.toISOString());
    try {
      return await transact(db, async (tx) => {
        if (!(await tryLockIntegrator(db, tx, now.toISOString())))
          return { locked: false, integrated: 0, signed: 0 };
        for (const plan of plans) await this.#write(tx, plan);
        const due = new Map<string, TreeHead>();
        const signedBefore = new Date(now.getTime() - this.#o.checkpointIntervalMs).toISOString();
        for (const t of await treesDueForCheckpoint(tx, signedBefore)) due.set(t.tree, t);
        for (const tree of forceCheckpointFor) {
          const head = await getTree(tx, tree);
          if (head && head.size > head.checkpointSize) due.set(tree, head);
        }
        for (const head of due.values()) await this.#sign(tx, head, now.toISOString());
        if (rows.length > 0 || due.size > 0)
          this.#o.events?.round(rows.length, due.size, (performance.now() - started) / 1000);
        return { locked: true, integrated: rows.length, signed: due.size };
      });
    } catch (err) {
      if (err instanceof StalePlan) return { locked: true, integrated: 0, signed: 0, retry: true };
      throw err;
    }
  }

  /** Leaf positions, hashes and new tree heads for `rows`, from the committed tree heads (no lock held). */
  async #plan(rows: PendingRow[], at: string): Promise<TreePlan[]> {
    const byTree = new Map<string, PendingRow[]>();
    for (const r of rows) {
      const tree = treeOf(r.tenant_id);
      const list = byTree.get(tree);
      if (list) list.push(r);
      else byTree.set(tree, [r]);
    }
    const q = this.#o.db.kysely;
    const plans: TreePlan[] = [];
    for (const [tree, list] of byTree) {
      const head = await getTree(q, tree);
      const fromSize = head?.size ?? 0;
      const frontier = Frontier.fromNodes(fromSize, await this.#frontierNodes(q, tree, fromSize));
      const nodes = [];
      const positions = [];
      for (const r of list) {
        const index = frontier.size;
        nodes.push(...frontier.append(leafHash(leafBytes(leafOf(r, index)))));
        positions.push({ seq: r.seq, leafIndex: index });
      }
      plans.push({
        head: {
          tree,
          tenantId: list[0]?.tenant_id ?? null,
          size: frontier.size,
          rootHash: frontier.root(),
          at,
        },
        existed: head !== undefined,
        fromSize,
        nodes,
        positions,
      });
    }
    return plans;
  }

  /** Writes a plan inside the locked transaction. @throws StalePlan when the tree moved since planning. */
  async #write(tx: Tx, plan: TreePlan): Promise<void> {
    const head = await getTree(tx, plan.head.tree);
    if ((head?.size ?? 0) !== plan.fromSize) throw new StalePlan();
    const assigned = await assignLeafIndexes(this.#o.db, tx, plan.positions);
    if (assigned !== plan.positions.length) throw new StalePlan();
    await insertNodes(tx, plan.head.tree, plan.nodes);
    await saveTree(tx, plan.head, plan.existed);
  }

  async #frontierNodes(q: Queryable, tree: string, size: number) {
    const refs = frontierRefs(size);
    const stored = await fetchNodes(q, tree, refs, this.#o.db.dialect);
    for (const ref of refs) {
      if (!stored.has(nodeKey(ref)))
        throw new Error(`audit tree ${tree}: stored node ${nodeKey(ref)} is missing`);
    }
    return stored;
  }

  async #sign(tx: Tx, head: TreeHead, at: string): Promise<void> {
    const { signer, logName } = this.#o;
    const body = formatCheckpoint({
      origin: originOf(logName, head.tenantId),
      size: head.size,
      rootHash: head.rootHash,
      extensions: [`time ${at}`],
    });
    await insertCheckpoint(tx, {
      tree: head.tree,
      size: head.size,
      rootHash: head.rootHash,
      at,
      keyHash: keyHashHex(signer.keyHash),
      note: signer.sign(body),
    });
  }

  /**
   * Integrates everything committed so far and makes sure a signed checkpoint covers all of `tree`'s
   * entries; returns that checkpoint (undefined: the tree has no entries). Waits for another node's
   * integrator when it holds the lock. Used before exports and reports.
   */
  async catchUp(tree: string, timeoutMs = 60_000): Promise<CheckpointRow | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let r: RoundResult;
      try {
        r = await this.round([tree]);
      } catch (err) {
        // SQLite: another process held the write lock past the busy timeout; that is waiting, not failing.
        if (!(err instanceof RosterError && err.code === 'store.unavailable') || Date.now() > deadline)
          throw err;
        r = { locked: false, integrated: 0, signed: 0 };
      }
      if (r.locked && !r.retry && r.integrated < this.#batch) break;
      if (Date.now() > deadline) throw new Error('the audit integrator did not catch up in time');
      if (!r.locked) await new Promise((res) => setTimeout(res, 50));
    }
    return latestCheckpoint(this.#o.db.kysely, tree);
  }

  /** Runs rounds every `pollMs` (at once again after a full batch) until `stop`. */
  start(pollMs = 200): void {
    if (this.#timer || this.#stopped) return;
    const tick = () => {
      this.#running = (async () => {
        let full = true;
        while (full && !this.#stopped) {
          const r = await this.round();
          full = r.locked && (r.retry === true || r.integrated >= this.#batch);
        }
      })()
        .catch((err: unknown) => this.#o.events?.failed(err))
        .finally(() => {
          this.#running = undefined;
          if (!this.#stopped) {
            this.#timer = setTimeout(tick, pollMs);
            this.#timer.unref();
          }
        });
    };
    this.#timer = setTimeout(tick, 0);
    this.#timer.unref();
  }

  /** Stops the loop after the round in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }
}
