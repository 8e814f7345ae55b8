/**
 * RFC 6962 / RFC 9162 Merkle tree over the audit log: hashing, a compact right edge (`Frontier`) for
 * appending, and inclusion and consistency proofs computed from stored perfect-subtree nodes. Pure: SHA-256
 * from node:crypto, no I/O.
 *
 * Storage model: node `(level, index)` is the hash of the perfect subtree over leaves
 * `[index * 2^level, (index + 1) * 2^level)`; level 0 holds the leaf hashes. Every proof is computed in two
 * phases: `…Refs()` lists the O(log n) nodes it needs (fetch them in one query), then the proof function
 * reads them through a `NodeSource`. Sizes and indexes are safe integers (no 32-bit bitwise arithmetic).
 */
import { createHash } from 'node:crypto';

/** Length in bytes of every hash (SHA-256). */
export const HASH_SIZE = 32;

/** A perfect subtree: leaves `[index * 2^level, (index + 1) * 2^level)`. */
export type NodeRef = { level: number; index: number };

/** A perfect subtree with its hash, as `Frontier.append` hands it over for storage. */
export type NodeWithHash = NodeRef & { hash: Uint8Array };

/** Stored perfect nodes, keyed by `nodeKey`, or a lookup function. */
export type NodeSource = ReadonlyMap<string, Uint8Array> | ((ref: NodeRef) => Uint8Array);

function sha256(...parts: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  const b = h.digest();
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** Leaf hash, RFC 6962 section 2.1: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Uint8Array {
  return sha256(LEAF_PREFIX, data);
}

/** Interior node hash, RFC 6962 section 2.1: SHA-256(0x01 || left || right). */
export function nodeHash(left: Uint8Array, right: Uint8Array): Uint8Array {
  return sha256(NODE_PREFIX, left, right);
}

/** The root of the empty tree, RFC 6962 section 2.1: SHA-256 of the empty string. Do not mutate. */
export const EMPTY_ROOT: Uint8Array = sha256();

/** Map key of a node: `${level}/${index}`. */
export function nodeKey(ref: NodeRef): string {
  return `${ref.level}/${ref.index}`;
}

// ---- arithmetic on safe integers

function isCount(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;
}

function checkCount(name: string, n: number): void {
  if (!isCount(n)) throw new RangeError(`${name} must be a non-negative safe integer, got ${String(n)}`);
}

/** The largest power of two strictly below n (n >= 2): RFC 6962's split point k. */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** log2 of n when n is a power of two, else -1. */
function exactLog2(n: number): number {
  let level = 0;
  let p = 1;
  while (p < n) {
    p *= 2;
    level++;
  }
  return p === n ? level : -1;
}

function checkHash(what: string, h: unknown): Uint8Array {
  if (!(h instanceof Uint8Array) || h.length !== HASH_SIZE) {
    throw new RangeError(`${what} must be a ${HASH_SIZE}-byte Uint8Array`);
  }
  return h;
}

function isHash(h: unknown): h is Uint8Array {
  return h instanceof Uint8Array && h.length === HASH_SIZE;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

// ---- subtrees [start, end) of the RFC 6962 recursion, from stored perfect nodes

/** A range of leaves whose MTH is one proof element; `start` is aligned as the RFC recursion leaves it. */
type Span = readonly [start: number, end: number];

/**
 * The perfect nodes whose fold gives MTH(D[start:end]), largest first: the binary decomposition of
 * `end - start` from `start`, since MTH(D[start:end]) = nodeHash(perfect(start, start+k), MTH(D[start+k:end])).
 */
function spanRefs(start: number, end: number, out: NodeRef[]): void {
  let s = start;
  while (s < end) {
    const n = end - s;
    const width = exactLog2(n) >= 0 ? n : splitPoint(n);
    out.push({ level: exactLog2(width), index: s / width });
    s += width;
  }
}

function lookup(nodes: NodeSource, ref: NodeRef): Uint8Array {
  const h = typeof nodes === 'function' ? nodes(ref) : nodes.get(nodeKey(ref));
  if (h === undefined) throw new Error(`merkle: node ${nodeKey(ref)} is missing`);
  return checkHash(`merkle: node ${nodeKey(ref)}`, h);
}

/** MTH(D[start:end]) from stored nodes: fold the right edge from the smallest subtree up. */
function spanHash(start: number, end: number, nodes: NodeSource): Uint8Array {
  const refs: NodeRef[] = [];
  spanRefs(start, end, refs);
  let acc: Uint8Array | undefined;
  for (let i = refs.length - 1; i >= 0; i--) {
    const h = lookup(nodes, refs[i] as NodeRef);
    acc = acc === undefined ? h : nodeHash(h, acc);
  }
  return acc ?? EMPTY_ROOT.slice();
}

function refsOf(spans: readonly Span[]): NodeRef[] {
  const all: NodeRef[] = [];
  for (const [s, e] of spans) spanRefs(s, e, all);
  const seen = new Set<string>();
  return all.filter((r) => {
    const k = nodeKey(r);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** RFC 6962 section 2.1.1 PATH(m, D[start:end]) as spans, leaf end first. */
function pathSpans(m: number, start: number, end: number, out: Span[]): void {
  const n = end - start;
  if (n <= 1) return;
  const k = splitPoint(n);
  if (m < k) {
    pathSpans(m, start, start + k, out);
    out.push([start + k, end]);
  } else {
    pathSpans(m - k, start + k, end, out);
    out.push([start, start + k]);
  }
}

/** RFC 6962 section 2.1.2 SUBPROOF(m, D[start:end], b) as spans. */
function subproofSpans(m: number, start: number, end: number, b: boolean, out: Span[]): void {
  const n = end - start;
  if (m === n) {
    if (!b) out.push([start, end]);
    return;
  }
  const k = splitPoint(n);
  if (m <= k) {
    subproofSpans(m, start, start + k, b, out);
    out.push([start + k, end]);
  } else {
    subproofSpans(m - k, start + k, end, false, out);
    out.push([start, start + k]);
  }
}

function inclusionSpans(index: number, size: number): Span[] {
  checkCount('index', index);
  checkCount('size', size);
  if (index >= size) throw new RangeError(`index ${index} is not below tree size ${size}`);
  const out: Span[] = [];
  pathSpans(index, 0, size, out);
  return out;
}

function consistencySpans(from: number, to: number): Span[] {
  checkCount('from', from);
  checkCount('to', to);
  if (from > to) throw new RangeError(`from ${from} is beyond to ${to}`);
  const out: Span[] = [];
  if (from > 0 && from < to) subproofSpans(from, 0, to, true, out);
  return out;
}

// ---- public: roots

/** MTH over already-hashed leaves, RFC 6962 section 2.1 (reference implementation, O(n)). */
export function rootOf(leafHashes: readonly Uint8Array[]): Uint8Array {
  for (const [i, h] of leafHashes.entries()) checkHash(`leaf hash ${i}`, h);
  const mth = (start: number, end: number): Uint8Array => {
    const n = end - start;
    if (n === 1) return leafHashes[start] as Uint8Array;
    const k = splitPoint(n);
    return nodeHash(mth(start, start + k), mth(start + k, end));
  };
  return leafHashes.length === 0 ? EMPTY_ROOT.slice() : mth(0, leafHashes.length);
}

/** The perfect subtrees of the binary decomposition of `size`, largest first: a tree's right edge. */
export function frontierRefs(size: number): NodeRef[] {
  checkCount('size', size);
  const out: NodeRef[] = [];
  spanRefs(0, size, out);
  return out;
}

/** The nodes `rootAt(size, …)` reads (the right edge of the tree of that size). */
export function rootRefs(size: number): NodeRef[] {
  return frontierRefs(size);
}

/** MTH of the tree of `size` leaves (RFC 6962 section 2.1) from stored perfect nodes; EMPTY_ROOT for 0. */
export function rootAt(size: number, nodes: NodeSource): Uint8Array {
  checkCount('size', size);
  return spanHash(0, size, nodes);
}

// ---- public: the frontier

/**
 * The right edge of a tree (a compact range over `[0, size)`): the perfect subtrees of the binary
 * decomposition of its size. Enough to append leaves and compute the root without the rest of the tree.
 */
export class Frontier {
  readonly #nodes: NodeWithHash[];
  #size: number;

  private constructor(size: number, nodes: NodeWithHash[]) {
    this.#size = size;
    this.#nodes = nodes;
  }

  /** The frontier of the empty tree. */
  static empty(): Frontier {
    return new Frontier(0, []);
  }

  /** Rebuilds the frontier of a tree of `size` leaves from its stored right edge (`frontierRefs(size)`). */
  static fromNodes(size: number, nodes: NodeSource): Frontier {
    const refs = frontierRefs(size);
    return new Frontier(
      size,
      refs.map((r) => ({ level: r.level, index: r.index, hash: lookup(nodes, r) })),
    );
  }

  /** Number of leaves. */
  get size(): number {
    return this.#size;
  }

  /**
   * Appends a leaf hash and returns every perfect node it completes, the leaf itself (level 0) first and
   * then each new parent up the edge, so the caller can store them.
   */
  append(leaf: Uint8Array): NodeWithHash[] {
    checkHash('leaf hash', leaf);
    if (!Number.isSafeInteger(this.#size + 1)) throw new RangeError('merkle: tree is full');
    const done: NodeWithHash[] = [{ level: 0, index: this.#size, hash: leaf }];
    this.#nodes.push({ level: 0, index: this.#size, hash: leaf });
    for (;;) {
      const right = this.#nodes[this.#nodes.length - 1];
      const left = this.#nodes[this.#nodes.length - 2];
      if (right === undefined || left === undefined || left.level !== right.level) break;
      this.#nodes.length -= 2;
      const parent = { level: left.level + 1, index: left.index / 2, hash: nodeHash(left.hash, right.hash) };
      this.#nodes.push(parent);
      done.push({ ...parent });
    }
    this.#size += 1;
    return done;
  }

  /** MTH of the current tree (RFC 6962 section 2.1): the edge folded from the smallest subtree up. */
  root(): Uint8Array {
    let acc: Uint8Array | undefined;
    for (let i = this.#nodes.length - 1; i >= 0; i--) {
      const h = (this.#nodes[i] as NodeWithHash).hash;
      acc = acc === undefined ? h : nodeHash(h, acc);
    }
    return acc ?? EMPTY_ROOT.slice();
  }
}

// ---- public: proofs from stored nodes

/** The stored nodes `inclusionProof(index, size, …)` reads, deduplicated. RangeError unless index < size. */
export function inclusionProofRefs(index: number, size: number): NodeRef[] {
  return refsOf(inclusionSpans(index, size));
}

/** Audit path of leaf `index` in the tree of `size` leaves, RFC 6962 section 2.1.1 PATH. */
export function inclusionProof(index: number, size: number, nodes: NodeSource): Uint8Array[] {
  return inclusionSpans(index, size).map(([s, e]) => spanHash(s, e, nodes));
}

/** The stored nodes `consistencyProof(from, to, …)` reads, deduplicated. RangeError unless 0 <= from <= to. */
export function consistencyProofRefs(from: number, to: number): NodeRef[] {
  return refsOf(consistencySpans(from, to));
}

/**
 * Consistency proof from the tree of `from` leaves to the tree of `to` leaves, RFC 6962 section 2.1.2
 * PROOF(from, D[to]); empty when from is 0 or from equals to.
 */
export function consistencyProof(from: number, to: number, nodes: NodeSource): Uint8Array[] {
  return consistencySpans(from, to).map(([s, e]) => spanHash(s, e, nodes));
}

// ---- public: verifiers (never throw)

/**
 * Verifies that `leaf` is leaf `index` of the tree of `size` leaves with root `root`, RFC 9162 section
 * 2.1.3.2. False on any invalid input.
 */
export function verifyInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean {
  try {
    if (!isCount(index) || !isCount(size) || index >= size) return false;
    if (!isHash(leaf) || !isHash(root) || !Array.isArray(proof) || !proof.every(isHash)) return false;
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        r = nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equalBytes(r, root);
  } catch {
    return false;
  }
}

/**
 * Verifies that the tree of `to` leaves with root `toRoot` extends the tree of `from` leaves with root
 * `fromRoot`, RFC 9162 section 2.1.4.2. For from == 0 the proof must be empty and `fromRoot` EMPTY_ROOT; for
 * from == to the proof must be empty and the roots equal. False on any invalid input.
 */
export function verifyConsistency(
  from: number,
  to: number,
  proof: readonly Uint8Array[],
  fromRoot: Uint8Array,
  toRoot: Uint8Array,
): boolean {
  try {
    if (!isCount(from) || !isCount(to) || from > to) return false;
    if (!isHash(fromRoot) || !isHash(toRoot) || !Array.isArray(proof) || !proof.every(isHash)) return false;
    if (from === 0) {
      return (
        proof.length === 0 && equalBytes(fromRoot, EMPTY_ROOT) && (to > 0 || equalBytes(toRoot, EMPTY_ROOT))
      );
    }
    if (from === to) return proof.length === 0 && equalBytes(fromRoot, toRoot);
    if (proof.length === 0) return false;
    const path = exactLog2(from) >= 0 ? [fromRoot, ...proof] : [...proof];
    let fn = from - 1;
    let sn = to - 1;
    while (fn % 2 === 1) {
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    let fr = path[0] as Uint8Array;
    let sr = fr;
    for (const c of path.slice(1)) {
      if (sn === 0) return false;
      if (fn % 2 === 1 || fn === sn) {
        fr = nodeHash(c, fr);
        sr = nodeHash(c, sr);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        sr = nodeHash(sr, c);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    return sn === 0 && equalBytes(fr, fromRoot) && equalBytes(sr, toRoot);
  } catch {
    return false;
  }
}
