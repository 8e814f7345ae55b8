import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  consistencyProof,
  consistencyProofRefs,
  EMPTY_ROOT,
  Frontier,
  frontierRefs,
  inclusionProof,
  inclusionProofRefs,
  leafHash,
  type NodeRef,
  type NodeWithHash,
  nodeHash,
  nodeKey,
  rootAt,
  rootOf,
  rootRefs,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/audit/merkle.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const hexAll = (bs: readonly Uint8Array[]): string[] => bs.map(hex);
const keys = (refs: readonly NodeRef[]): string[] => refs.map(nodeKey);
const sortedKeys = (refs: readonly NodeRef[]): string[] => keys(refs).sort();

// ---- published known answers
//
// Copied literally from google/certificate-transparency cpp/merkletree/merkle_tree_test.cc (kSHA256EmptyTreeHash,
// kInputs, kSHA256Roots, kSHA256Paths, kSHA256Proofs); transparency-dev/merkle proof/verify_test.go carries the
// same values and adds the 6 -> 7 consistency proof. Leaf numbers are 1-based there, as here.

const CT_EMPTY_TREE_HASH = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

const CT_INPUTS = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];

/** Roots of the trees of sizes 1..8. */
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

/** Audit paths: `leaf` is 1-based, `snapshot` the tree size. */
const CT_PATHS: readonly { leaf: number; snapshot: number; path: string[] }[] = [
  { leaf: 1, snapshot: 1, path: [] },
  {
    leaf: 1,
    snapshot: 8,
    path: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    leaf: 6,
    snapshot: 8,
    path: [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  { leaf: 3, snapshot: 3, path: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  {
    leaf: 2,
    snapshot: 5,
    path: [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
];

/** Consistency proofs between tree sizes `snapshot1` and `snapshot2`. */
const CT_PROOFS: readonly { snapshot1: number; snapshot2: number; proof: string[] }[] = [
  { snapshot1: 1, snapshot2: 1, proof: [] },
  {
    snapshot1: 1,
    snapshot2: 8,
    proof: [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  },
  {
    snapshot1: 6,
    snapshot2: 8,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
  {
    snapshot1: 2,
    snapshot2: 5,
    proof: [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  },
  // transparency-dev/merkle proof/verify_test.go only.
  {
    snapshot1: 6,
    snapshot2: 7,
    proof: [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  },
];

/** Which stored nodes a proof reads: transparency-dev/merkle proof/proof_test.go (TestInclusion), [level, index]. */
const TD_INCLUSION_NODES: readonly { size: number; index: number; ids: [number, number][] }[] = [
  { size: 1, index: 0, ids: [] },
  { size: 2, index: 0, ids: [[0, 1]] },
  { size: 2, index: 1, ids: [[0, 0]] },
  {
    size: 3,
    index: 1,
    ids: [
      [0, 0],
      [0, 2],
    ],
  },
  {
    size: 7,
    index: 0,
    ids: [
      [0, 1],
      [1, 1],
      [0, 6],
      [1, 2],
    ],
  },
  {
    size: 7,
    index: 1,
    ids: [
      [0, 0],
      [1, 1],
      [0, 6],
      [1, 2],
    ],
  },
  {
    size: 7,
    index: 2,
    ids: [
      [0, 3],
      [1, 0],
      [0, 6],
      [1, 2],
    ],
  },
  {
    size: 7,
    index: 3,
    ids: [
      [0, 2],
      [1, 0],
      [0, 6],
      [1, 2],
    ],
  },
  {
    size: 7,
    index: 4,
    ids: [
      [0, 5],
      [0, 6],
      [2, 0],
    ],
  },
  {
    size: 7,
    index: 5,
    ids: [
      [0, 4],
      [0, 6],
      [2, 0],
    ],
  },
  {
    size: 7,
    index: 6,
    ids: [
      [1, 2],
      [2, 0],
    ],
  },
  {
    size: 4,
    index: 2,
    ids: [
      [0, 3],
      [1, 0],
    ],
  },
  {
    size: 5,
    index: 3,
    ids: [
      [0, 2],
      [1, 0],
      [0, 4],
    ],
  },
  {
    size: 6,
    index: 3,
    ids: [
      [0, 2],
      [1, 0],
      [1, 2],
    ],
  },
  {
    size: 6,
    index: 4,
    ids: [
      [0, 5],
      [2, 0],
    ],
  },
  {
    size: 15,
    index: 10,
    ids: [
      [0, 11],
      [1, 4],
      [0, 14],
      [1, 6],
      [3, 0],
    ],
  },
  {
    size: 31,
    index: 24,
    ids: [
      [0, 25],
      [1, 13],
      [0, 30],
      [1, 14],
      [3, 2],
      [4, 0],
    ],
  },
  {
    size: 95,
    index: 81,
    ids: [
      [0, 80],
      [1, 41],
      [2, 21],
      [0, 94],
      [1, 46],
      [2, 22],
      [4, 4],
      [6, 0],
    ],
  },
];

/** transparency-dev/merkle proof/proof_test.go (TestConsistency), [level, index]. */
const TD_CONSISTENCY_NODES: readonly { size1: number; size2: number; ids: [number, number][] }[] = [
  { size1: 1, size2: 2, ids: [[0, 1]] },
  {
    size1: 1,
    size2: 4,
    ids: [
      [0, 1],
      [1, 1],
    ],
  },
  {
    size1: 1,
    size2: 6,
    ids: [
      [0, 1],
      [1, 1],
      [1, 2],
    ],
  },
  { size1: 2, size2: 3, ids: [[0, 2]] },
  {
    size1: 2,
    size2: 8,
    ids: [
      [1, 1],
      [2, 1],
    ],
  },
  {
    size1: 3,
    size2: 7,
    ids: [
      [0, 2],
      [0, 3],
      [1, 0],
      [0, 6],
      [1, 2],
    ],
  },
  {
    size1: 4,
    size2: 7,
    ids: [
      [0, 6],
      [1, 2],
    ],
  },
  {
    size1: 5,
    size2: 7,
    ids: [
      [0, 4],
      [0, 5],
      [0, 6],
      [2, 0],
    ],
  },
  {
    size1: 6,
    size2: 7,
    ids: [
      [1, 2],
      [0, 6],
      [2, 0],
    ],
  },
  {
    size1: 7,
    size2: 8,
    ids: [
      [0, 6],
      [0, 7],
      [1, 2],
      [2, 0],
    ],
  },
  { size1: 1, size2: 1, ids: [] },
  { size1: 2, size2: 2, ids: [] },
  { size1: 3, size2: 3, ids: [] },
  { size1: 4, size2: 4, ids: [] },
  { size1: 5, size2: 5, ids: [] },
  { size1: 7, size2: 7, ids: [] },
  { size1: 8, size2: 8, ids: [] },
  { size1: 2, size2: 4, ids: [[1, 1]] },
  {
    size1: 3,
    size2: 5,
    ids: [
      [0, 2],
      [0, 3],
      [1, 0],
      [0, 4],
    ],
  },
  {
    size1: 3,
    size2: 6,
    ids: [
      [0, 2],
      [0, 3],
      [1, 0],
      [1, 2],
    ],
  },
  { size1: 4, size2: 6, ids: [[1, 2]] },
  {
    size1: 1,
    size2: 7,
    ids: [
      [0, 1],
      [1, 1],
      [0, 6],
      [1, 2],
    ],
  },
  {
    size1: 10,
    size2: 15,
    ids: [
      [1, 4],
      [1, 5],
      [0, 14],
      [1, 6],
      [3, 0],
    ],
  },
  {
    size1: 24,
    size2: 31,
    ids: [
      [3, 2],
      [0, 30],
      [1, 14],
      [2, 6],
      [4, 0],
    ],
  },
  {
    size1: 81,
    size2: 95,
    ids: [
      [0, 80],
      [0, 81],
      [1, 41],
      [2, 21],
      [0, 94],
      [1, 46],
      [2, 22],
      [4, 4],
      [6, 0],
    ],
  },
];

const idKeys = (ids: readonly [number, number][]): string[] =>
  ids.map(([level, index]) => nodeKey({ level, index })).sort();

// ---- helpers

interface Built {
  readonly leaves: Uint8Array[];
  readonly store: Map<string, Uint8Array>;
  readonly appended: NodeWithHash[][];
  readonly frontier: Frontier;
}

/** Appends the leaf hashes through a Frontier and stores every node it hands back. */
function build(leaves: Uint8Array[]): Built {
  const frontier = Frontier.empty();
  const store = new Map<string, Uint8Array>();
  const appended: NodeWithHash[][] = [];
  for (const leaf of leaves) {
    const nodes = frontier.append(leaf);
    appended.push(nodes);
    for (const n of nodes) store.set(nodeKey(n), n.hash);
  }
  return { leaves, store, appended, frontier };
}

const syntheticLeaves = (n: number, seed: number): Uint8Array[] =>
  Array.from({ length: n }, (_, i) => leafHash(Buffer.from(`${seed}:${i}`)));

const CT_LEAVES = CT_INPUTS.map((s) => leafHash(unhex(s)));
const CT_TREE = build(CT_LEAVES);

/** A lookup that records every node it is asked for and fails on a node that was never stored. */
function tracked(store: ReadonlyMap<string, Uint8Array>): {
  get: (ref: NodeRef) => Uint8Array;
  asked: Set<string>;
} {
  const asked = new Set<string>();
  return {
    asked,
    get: (ref) => {
      asked.add(nodeKey(ref));
      const h = store.get(nodeKey(ref));
      if (h === undefined) throw new Error(`test: node ${nodeKey(ref)} not stored`);
      return h;
    },
  };
}

/** The largest power of two strictly below n. */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 6962 section 2.1.1 PATH straight from the leaves (an independent reference). */
function refPath(m: number, d: readonly Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  const k = split(d.length);
  return m < k
    ? [...refPath(m, d.slice(0, k)), rootOf(d.slice(k))]
    : [...refPath(m - k, d.slice(k)), rootOf(d.slice(0, k))];
}

/** RFC 6962 section 2.1.2 SUBPROOF straight from the leaves. */
function refSubproof(m: number, d: readonly Uint8Array[], b: boolean): Uint8Array[] {
  if (m === d.length) return b ? [] : [rootOf(d)];
  const k = split(d.length);
  return m <= k
    ? [...refSubproof(m, d.slice(0, k), b), rootOf(d.slice(k))]
    : [...refSubproof(m - k, d.slice(k), false), rootOf(d.slice(0, k))];
}

const refProof = (m: number, d: readonly Uint8Array[]): Uint8Array[] =>
  m === 0 || m === d.length ? [] : refSubproof(m, d, true);

/** Every perfect subtree of a tree of the given leaves, recomputed naively with rootOf. */
function naivePerfect(leaves: readonly Uint8Array[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let level = 0, w = 1; w <= leaves.length; level++, w *= 2) {
    for (let index = 0; (index + 1) * w <= leaves.length; index++) {
      out.set(nodeKey({ level, index }), hex(rootOf(leaves.slice(index * w, (index + 1) * w))));
    }
  }
  return out;
}

const flipped = (b: Uint8Array, at: number, mask: number): Uint8Array => {
  const c = new Uint8Array(b);
  c[at % c.length] = (c[at % c.length] as number) ^ mask;
  return c;
};

function flipInProof(proof: readonly Uint8Array[], which: number, at: number, mask: number): Uint8Array[] {
  const out = [...proof];
  const i = which % out.length;
  out[i] = flipped(out[i] as Uint8Array, at, mask);
  return out;
}

const SOME_HASH = unhex('abacaba000000000000000000000000000000000000000000060061e00123456');

// ---- known answers

describe('merkle: RFC 6962 known answers (certificate-transparency reference tree)', () => {
  it('hashes the empty tree to SHA-256 of the empty string', () => {
    expect(hex(EMPTY_ROOT)).toBe(CT_EMPTY_TREE_HASH);
    expect(hex(rootOf([]))).toBe(CT_EMPTY_TREE_HASH);
    expect(hex(Frontier.empty().root())).toBe(CT_EMPTY_TREE_HASH);
    expect(hex(rootAt(0, new Map()))).toBe(CT_EMPTY_TREE_HASH);
    expect(rootRefs(0)).toEqual([]);
  });

  it('the tree of one leaf has the leaf hash as its root', () => {
    expect(hex(leafHash(new Uint8Array()))).toBe(CT_ROOTS[0]);
  });

  it('rootOf, Frontier and rootAt give the published root for every size 1..8', () => {
    const f = Frontier.empty();
    for (let n = 1; n <= 8; n++) {
      f.append(CT_LEAVES[n - 1] as Uint8Array);
      expect(f.size).toBe(n);
      expect(hex(f.root()), `Frontier size ${n}`).toBe(CT_ROOTS[n - 1]);
      expect(hex(rootOf(CT_LEAVES.slice(0, n))), `rootOf size ${n}`).toBe(CT_ROOTS[n - 1]);
      expect(hex(rootAt(n, CT_TREE.store)), `rootAt size ${n}`).toBe(CT_ROOTS[n - 1]);
      expect(hex(Frontier.fromNodes(n, CT_TREE.store).root()), `fromNodes size ${n}`).toBe(CT_ROOTS[n - 1]);
    }
  });

  it('nodeHash is SHA-256(0x01 || left || right): the size-2 root from the two leaves', () => {
    expect(hex(nodeHash(CT_LEAVES[0] as Uint8Array, CT_LEAVES[1] as Uint8Array))).toBe(CT_ROOTS[1]);
  });

  for (const v of CT_PATHS) {
    const index = v.leaf - 1;
    const root = unhex(CT_ROOTS[v.snapshot - 1] as string);
    const leaf = CT_LEAVES[index] as Uint8Array;
    const path = v.path.map(unhex);

    it(`inclusion proof of leaf ${v.leaf} in tree size ${v.snapshot} from stored nodes`, () => {
      const { get, asked } = tracked(CT_TREE.store);
      expect(hexAll(inclusionProof(index, v.snapshot, get))).toEqual(v.path);
      const refs = new Set(keys(inclusionProofRefs(index, v.snapshot)));
      for (const k of asked) expect(refs.has(k), `read ${k}, not listed by inclusionProofRefs`).toBe(true);
    });

    it(`published path of leaf ${v.leaf} in size ${v.snapshot} verifies, and every corruption fails`, () => {
      expect(verifyInclusion(leaf, index, v.snapshot, path, root)).toBe(true);
      // The corruptions of the reference verifier tests (merkle_tree_test.cc VerifierCheck).
      const bad: [string, boolean][] = [
        ['index - 1', verifyInclusion(leaf, index - 1, v.snapshot, path, root)],
        ['index + 1', verifyInclusion(leaf, index + 1, v.snapshot, path, root)],
        ['index ^ 2', verifyInclusion(leaf, index ^ 2, v.snapshot, path, root)],
        ['size * 2', verifyInclusion(leaf, index, v.snapshot * 2, path, root)],
        ['size / 2', verifyInclusion(leaf, index, Math.floor(v.snapshot / 2), path, root)],
        ['wrong leaf', verifyInclusion(leafHash(Buffer.from('WrongLeaf')), index, v.snapshot, path, root)],
        ['empty root', verifyInclusion(leaf, index, v.snapshot, path, EMPTY_ROOT)],
        ['random root', verifyInclusion(leaf, index, v.snapshot, path, SOME_HASH)],
        ['trailing garbage', verifyInclusion(leaf, index, v.snapshot, [...path, new Uint8Array()], root)],
        ['trailing root', verifyInclusion(leaf, index, v.snapshot, [...path, root], root)],
        ['preceding garbage', verifyInclusion(leaf, index, v.snapshot, [new Uint8Array(), ...path], root)],
        ['preceding root', verifyInclusion(leaf, index, v.snapshot, [root, ...path], root)],
      ];
      for (let i = 0; i < path.length; i++) {
        bad.push([
          `proof[${i}] bit 3`,
          verifyInclusion(leaf, index, v.snapshot, flipInProof(path, i, 0, 8), root),
        ]);
        const replaced = [...path];
        replaced[i] = EMPTY_ROOT;
        bad.push([`proof[${i}] replaced`, verifyInclusion(leaf, index, v.snapshot, replaced, root)]);
      }
      if (path.length > 0) {
        bad.push(['removed component', verifyInclusion(leaf, index, v.snapshot, path.slice(0, -1), root)]);
      }
      if (path.length > 1) {
        const inserted = [path[0] as Uint8Array, SOME_HASH, ...path.slice(1)];
        bad.push(['inserted component', verifyInclusion(leaf, index, v.snapshot, inserted, root)]);
      }
      expect(bad.filter(([, ok]) => ok).map(([d]) => d)).toEqual([]);
    });
  }

  it('the {0, 0} path vector is an invalid request', () => {
    expect(() => inclusionProofRefs(0, 0)).toThrow(RangeError);
    expect(() => inclusionProof(0, 0, CT_TREE.store)).toThrow(RangeError);
  });

  for (const v of CT_PROOFS) {
    const root1 = unhex(CT_ROOTS[v.snapshot1 - 1] as string);
    const root2 = unhex(CT_ROOTS[v.snapshot2 - 1] as string);
    const proof = v.proof.map(unhex);

    it(`consistency proof ${v.snapshot1} -> ${v.snapshot2} from stored nodes`, () => {
      const { get, asked } = tracked(CT_TREE.store);
      expect(hexAll(consistencyProof(v.snapshot1, v.snapshot2, get))).toEqual(v.proof);
      const refs = new Set(keys(consistencyProofRefs(v.snapshot1, v.snapshot2)));
      for (const k of asked) expect(refs.has(k), `read ${k}, not listed by consistencyProofRefs`).toBe(true);
    });

    it(`published proof ${v.snapshot1} -> ${v.snapshot2} verifies, and every corruption fails`, () => {
      const [s1, s2] = [v.snapshot1, v.snapshot2];
      expect(verifyConsistency(s1, s2, proof, root1, root2)).toBe(true);
      if (proof.length === 0) return; // The reference corrupts only non-trivial proofs.
      const wrong = new Uint8Array(Buffer.from('WrongRoot'));
      const bad: [string, boolean][] = [
        ['size1 - 1', verifyConsistency(s1 - 1, s2, proof, root1, root2)],
        ['size1 + 1', verifyConsistency(s1 + 1, s2, proof, root1, root2)],
        ['size1 ^ 2', verifyConsistency(s1 ^ 2, s2, proof, root1, root2)],
        ['size2 * 2', verifyConsistency(s1, s2 * 2, proof, root1, root2)],
        ['size2 / 2', verifyConsistency(s1, Math.floor(s2 / 2), proof, root1, root2)],
        ['wrong root1', verifyConsistency(s1, s2, proof, wrong, root2)],
        ['wrong root2', verifyConsistency(s1, s2, proof, root1, wrong)],
        ['random root1', verifyConsistency(s1, s2, proof, SOME_HASH, root2)],
        ['random root2', verifyConsistency(s1, s2, proof, root1, SOME_HASH)],
        ['swapped roots', verifyConsistency(s1, s2, proof, root2, root1)],
        ['empty proof', verifyConsistency(s1, s2, [], root1, root2)],
        ['trailing garbage', verifyConsistency(s1, s2, [...proof, new Uint8Array()], root1, root2)],
        ['trailing root1', verifyConsistency(s1, s2, [...proof, root1], root1, root2)],
        ['trailing root2', verifyConsistency(s1, s2, [...proof, root2], root1, root2)],
        ['trailing last', verifyConsistency(s1, s2, [...proof, proof.at(-1) as Uint8Array], root1, root2)],
        ['preceding garbage', verifyConsistency(s1, s2, [new Uint8Array(), ...proof], root1, root2)],
        ['preceding root1', verifyConsistency(s1, s2, [root1, ...proof], root1, root2)],
        ['preceding root2', verifyConsistency(s1, s2, [root2, ...proof], root1, root2)],
        ['preceding proof[0]', verifyConsistency(s1, s2, [proof[0] as Uint8Array, ...proof], root1, root2)],
        ['truncated proof', verifyConsistency(s1, s2, proof.slice(0, -1), root1, root2)],
      ];
      for (let i = 0; i < proof.length; i++) {
        bad.push([
          `proof[${i}] bit 4`,
          verifyConsistency(s1, s2, flipInProof(proof, i, 0, 16), root1, root2),
        ]);
        const replaced = [...proof];
        replaced[i] = EMPTY_ROOT;
        bad.push([`proof[${i}] replaced`, verifyConsistency(s1, s2, replaced, root1, root2)]);
      }
      expect(bad.filter(([, ok]) => ok).map(([d]) => d)).toEqual([]);
    });
  }

  it('edge cases of the reference consistency verifier', () => {
    // Sizes that are always consistent: an empty tree, and a tree with itself.
    expect(verifyConsistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)).toBe(true);
    expect(verifyConsistency(0, 1, [], EMPTY_ROOT, unhex(CT_ROOTS[0] as string))).toBe(true);
    expect(verifyConsistency(0, 8, [], EMPTY_ROOT, unhex(CT_ROOTS[7] as string))).toBe(true);
    expect(verifyConsistency(1, 1, [], unhex(CT_ROOTS[0] as string), unhex(CT_ROOTS[0] as string))).toBe(
      true,
    );
    // Time travel to the past.
    expect(verifyConsistency(1, 0, [], EMPTY_ROOT, EMPTY_ROOT)).toBe(false);
    expect(verifyConsistency(2, 1, [], SOME_HASH, SOME_HASH)).toBe(false);
    // Empty proof between different sizes.
    expect(verifyConsistency(1, 2, [], unhex(CT_ROOTS[0] as string), unhex(CT_ROOTS[1] as string))).toBe(
      false,
    );
    // Roots do not match.
    expect(verifyConsistency(0, 0, [], EMPTY_ROOT, SOME_HASH)).toBe(false);
    expect(verifyConsistency(1, 1, [], EMPTY_ROOT, SOME_HASH)).toBe(false);
    // Roots match but the proof is not empty.
    for (const [a, b] of [
      [0, 0],
      [0, 1],
      [1, 1],
    ] as const) {
      expect(verifyConsistency(a, b, [EMPTY_ROOT], EMPTY_ROOT, EMPTY_ROOT), `${a} -> ${b}`).toBe(false);
    }
    // From the empty tree, the old root must be the empty root.
    expect(verifyConsistency(0, 1, [], SOME_HASH, unhex(CT_ROOTS[0] as string))).toBe(false);
  });

  it('edge cases of the reference inclusion verifier', () => {
    for (const [index, size] of [
      [0, 0],
      [0, 1],
      [1, 0],
      [2, 1],
    ] as const) {
      expect(verifyInclusion(SOME_HASH, index, size, [], new Uint8Array())).toBe(false);
      expect(verifyInclusion(new Uint8Array(), index, size, [], EMPTY_ROOT)).toBe(false);
      expect(verifyInclusion(SOME_HASH, index, size, [], EMPTY_ROOT)).toBe(false);
    }
    // A single-entry tree: the root is the leaf hash and the path is empty.
    const h = leafHash(Buffer.from('data'));
    expect(verifyInclusion(h, 0, 1, [], h)).toBe(true);
    expect(verifyInclusion(h, 0, 1, [], new Uint8Array())).toBe(false);
    expect(verifyInclusion(new Uint8Array(), 0, 1, [], h)).toBe(false);
  });
});

describe('merkle: which stored nodes a proof reads (transparency-dev/merkle proof/proof_test.go)', () => {
  for (const v of TD_INCLUSION_NODES) {
    it(`inclusion of leaf ${v.index} in size ${v.size}`, () => {
      const refs = inclusionProofRefs(v.index, v.size);
      expect(sortedKeys(refs)).toEqual(idKeys(v.ids));
      expect(new Set(keys(refs)).size).toBe(refs.length);
    });
  }
  for (const [size, index] of [
    [0, 0],
    [0, 1],
    [1, 2],
    [0, 3],
    [7, 8],
  ] as const) {
    it(`inclusion of leaf ${index} in size ${size} is a RangeError`, () => {
      expect(() => inclusionProofRefs(index, size)).toThrow(RangeError);
    });
  }
  for (const v of TD_CONSISTENCY_NODES) {
    it(`consistency ${v.size1} -> ${v.size2}`, () => {
      const refs = consistencyProofRefs(v.size1, v.size2);
      expect(sortedKeys(refs)).toEqual(idKeys(v.ids));
      expect(new Set(keys(refs)).size).toBe(refs.length);
    });
  }
  for (const [size1, size2] of [
    [5, 0],
    [9, 8],
  ] as const) {
    it(`consistency ${size1} -> ${size2} is a RangeError`, () => {
      expect(() => consistencyProofRefs(size1, size2)).toThrow(RangeError);
    });
  }
});

// ---- properties

const RUNS = { numRuns: 200 };

describe('merkle: properties', () => {
  it('Frontier: root equals rootOf, append returns exactly the newly completed perfect subtrees', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.nat(), (n, seed) => {
        const t = build(syntheticLeaves(n, seed));
        expect(t.frontier.size).toBe(n);
        expect(hex(t.frontier.root())).toBe(hex(rootOf(t.leaves)));

        // Leaf i completes the nodes ending at i + 1: one per trailing zero bit of i + 1, and the leaf.
        t.appended.forEach((nodes, i) => {
          const expected: string[] = [];
          for (let level = 0, w = 1; (i + 1) % w === 0; level++, w *= 2) {
            expected.push(nodeKey({ level, index: (i + 1) / w - 1 }));
          }
          expect(keys(nodes), `append #${i}`).toEqual(expected);
        });

        // Together they are every perfect subtree, each once, with the naively recomputed hash.
        const all = t.appended.flat();
        const naive = naivePerfect(t.leaves);
        expect(all.length).toBe(naive.size);
        expect(new Map(all.map((x) => [nodeKey(x), hex(x.hash)]))).toEqual(naive);
      }),
      RUNS,
    );
  });

  it('Frontier.fromNodes and rootAt at any past size agree with rootOf, and appending continues', () => {
    const arb = fc
      .integer({ min: 0, max: 300 })
      .chain((n) => fc.tuple(fc.constant(n), fc.integer({ min: 0, max: n }), fc.nat()));
    fc.assert(
      fc.property(arb, ([n, m, seed]) => {
        const t = build(syntheticLeaves(n, seed));
        const expected = hex(rootOf(t.leaves.slice(0, m)));

        const { get, asked } = tracked(t.store);
        expect(hex(rootAt(m, get))).toBe(expected);
        expect([...asked].sort()).toEqual(sortedKeys(rootRefs(m)));
        expect(keys(rootRefs(m))).toEqual(keys(frontierRefs(m)));

        const restored = Frontier.fromNodes(m, t.store);
        expect(restored.size).toBe(m);
        expect(hex(restored.root())).toBe(expected);
        for (let i = m; i < n; i++) {
          const nodes = restored.append(t.leaves[i] as Uint8Array);
          expect(nodes.map((x) => [nodeKey(x), hex(x.hash)])).toEqual(
            (t.appended[i] as NodeWithHash[]).map((x) => [nodeKey(x), hex(x.hash)]),
          );
        }
        expect(hex(restored.root())).toBe(hex(t.frontier.root()));

        // frontierRefs: the binary decomposition of m, largest first.
        const refs = frontierRefs(m);
        const widths = refs.map((r) => 2 ** r.level);
        expect(widths.reduce((a, b) => a + b, 0)).toBe(m);
        for (let i = 1; i < widths.length; i++) expect(widths[i]).toBeLessThan(widths[i - 1] as number);
      }),
      RUNS,
    );
  });

  const inclusionCase = fc.integer({ min: 1, max: 300 }).chain((n) =>
    fc.integer({ min: 1, max: n }).chain((size) =>
      fc.record({
        n: fc.constant(n),
        size: fc.constant(size),
        index: fc.integer({ min: 0, max: size - 1 }),
        seed: fc.nat(),
        which: fc.nat(),
        at: fc.nat(),
        bit: fc.integer({ min: 0, max: 7 }),
        other: fc.nat(),
      }),
    ),
  );

  it('inclusion proofs from stored nodes match RFC 6962 PATH, read only the listed nodes, and verify', () => {
    fc.assert(
      fc.property(inclusionCase, ({ n, size, index, seed }) => {
        const t = build(syntheticLeaves(n, seed));
        const refs = inclusionProofRefs(index, size);
        expect(new Set(keys(refs)).size).toBe(refs.length);
        for (const r of refs) expect(t.store.has(nodeKey(r)), `ref ${nodeKey(r)} is stored`).toBe(true);

        const { get, asked } = tracked(t.store);
        const proof = inclusionProof(index, size, get);
        expect([...asked].sort()).toEqual(sortedKeys(refs));
        expect(hexAll(proof)).toEqual(hexAll(refPath(index, t.leaves.slice(0, size))));

        const root = rootOf(t.leaves.slice(0, size));
        expect(verifyInclusion(t.leaves[index] as Uint8Array, index, size, proof, root)).toBe(true);
      }),
      RUNS,
    );
  });

  it('an inclusion proof with a flipped bit, or for another index, size, root or leaf, does not verify', () => {
    fc.assert(
      fc.property(inclusionCase, ({ n, size, index, seed, which, at, bit, other }) => {
        const t = build(syntheticLeaves(n, seed));
        const proof = inclusionProof(index, size, t.store);
        const root = rootOf(t.leaves.slice(0, size));
        const leaf = t.leaves[index] as Uint8Array;
        const mask = 1 << bit;

        if (proof.length > 0) {
          expect(verifyInclusion(leaf, index, size, flipInProof(proof, which, at, mask), root)).toBe(false);
        }
        expect(verifyInclusion(flipped(leaf, at, mask), index, size, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, index, size, proof, flipped(root, at, mask))).toBe(false);
        if (size > 1) {
          const otherIndex = (index + 1 + (other % (size - 1))) % size; // Any index but this one.
          expect(verifyInclusion(leaf, otherIndex, size, proof, root), `index ${otherIndex}`).toBe(false);
          expect(verifyInclusion(t.leaves[otherIndex] as Uint8Array, index, size, proof, root)).toBe(false);
        }
        // Another size, checked against that size's own root.
        if (n > 1) {
          const otherSize = 1 + ((size + (other % (n - 1))) % n); // 1..n, not size.
          if (otherSize !== size) {
            const otherRoot = rootOf(t.leaves.slice(0, otherSize));
            expect(verifyInclusion(leaf, index, otherSize, proof, otherRoot), `size ${otherSize}`).toBe(
              false,
            );
          }
        }
        expect(verifyInclusion(leaf, index, size * 2, proof, root)).toBe(false);
        expect(verifyInclusion(leaf, index, size, [...proof, SOME_HASH], root)).toBe(false);
      }),
      RUNS,
    );
  });

  const consistencyCase = fc.integer({ min: 1, max: 300 }).chain((n) =>
    fc.integer({ min: 0, max: n }).chain((to) =>
      fc.record({
        n: fc.constant(n),
        to: fc.constant(to),
        from: fc.integer({ min: 0, max: to }),
        seed: fc.nat(),
        which: fc.nat(),
        at: fc.nat(),
        bit: fc.integer({ min: 0, max: 7 }),
        other: fc.nat(),
      }),
    ),
  );

  it('consistency proofs from stored nodes match RFC 6962 PROOF, read only the listed nodes, and verify', () => {
    fc.assert(
      fc.property(consistencyCase, ({ n, from, to, seed }) => {
        const t = build(syntheticLeaves(n, seed));
        const refs = consistencyProofRefs(from, to);
        expect(new Set(keys(refs)).size).toBe(refs.length);
        for (const r of refs) expect(t.store.has(nodeKey(r)), `ref ${nodeKey(r)} is stored`).toBe(true);

        const { get, asked } = tracked(t.store);
        const proof = consistencyProof(from, to, get);
        expect([...asked].sort()).toEqual(sortedKeys(refs));
        expect(hexAll(proof)).toEqual(hexAll(refProof(from, t.leaves.slice(0, to))));
        if (from === 0 || from === to) expect(proof).toEqual([]);

        const fromRoot = rootOf(t.leaves.slice(0, from));
        const toRoot = rootOf(t.leaves.slice(0, to));
        expect(verifyConsistency(from, to, proof, fromRoot, toRoot)).toBe(true);
      }),
      RUNS,
    );
  });

  it('a consistency proof with a flipped bit, or for other sizes or roots, does not verify', () => {
    fc.assert(
      fc.property(consistencyCase, ({ n, from, to, seed, which, at, bit, other }) => {
        const t = build(syntheticLeaves(n, seed));
        const proof = consistencyProof(from, to, t.store);
        const rootAtSize = (s: number) => rootOf(t.leaves.slice(0, s));
        const fromRoot = rootAtSize(from);
        const toRoot = rootAtSize(to);
        const mask = 1 << bit;

        expect(verifyConsistency(from, to, proof, flipped(fromRoot, at, mask), toRoot)).toBe(false);
        if (from > 0) {
          expect(verifyConsistency(from, to, proof, fromRoot, flipped(toRoot, at, mask))).toBe(false);
        }
        expect(verifyConsistency(from, to, [...proof, SOME_HASH], fromRoot, toRoot)).toBe(false);
        if (proof.length === 0) return;

        expect(verifyConsistency(from, to, flipInProof(proof, which, at, mask), fromRoot, toRoot)).toBe(
          false,
        );
        expect(verifyConsistency(from, to, proof, toRoot, fromRoot)).toBe(false);
        expect(verifyConsistency(from, to, proof.slice(0, -1), fromRoot, toRoot)).toBe(false);
        // Another old size (with its own root), then another new size (with its own root).
        const otherFrom = (from + 1 + (other % to)) % (to + 1); // 0..to, not from.
        expect(
          verifyConsistency(otherFrom, to, proof, rootAtSize(otherFrom), toRoot),
          `from ${otherFrom}`,
        ).toBe(false);
        if (n > from) {
          const otherTo = from + ((to - from + 1 + (other % (n - from))) % (n - from + 1)); // from..n, not to.
          expect(otherTo).not.toBe(to);
          expect(
            verifyConsistency(from, otherTo, proof, fromRoot, rootAtSize(otherTo)),
            `to ${otherTo}`,
          ).toBe(false);
        }
      }),
      RUNS,
    );
  });
});

// ---- invalid input

describe('merkle: invalid input', () => {
  const bad = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53];

  it('proof and root functions throw RangeError on invalid sizes and indexes', () => {
    const store = CT_TREE.store;
    const calls: [string, () => unknown][] = [
      ['inclusion index = size', () => inclusionProofRefs(5, 5)],
      ['inclusion index > size', () => inclusionProof(9, 8, store)],
      ['consistency from > to', () => consistencyProofRefs(4, 3)],
      ['consistency from > to (proof)', () => consistencyProof(8, 7, store)],
    ];
    for (const x of bad) {
      calls.push(
        [`inclusion index ${x}`, () => inclusionProofRefs(x, 8)],
        [`inclusion size ${x}`, () => inclusionProofRefs(0, x)],
        [`inclusionProof index ${x}`, () => inclusionProof(x, 8, store)],
        [`consistency from ${x}`, () => consistencyProofRefs(x, 8)],
        [`consistency to ${x}`, () => consistencyProofRefs(0, x)],
        [`consistencyProof from ${x}`, () => consistencyProof(x, 8, store)],
        [`rootRefs ${x}`, () => rootRefs(x)],
        [`rootAt ${x}`, () => rootAt(x, store)],
        [`frontierRefs ${x}`, () => frontierRefs(x)],
        [`Frontier.fromNodes ${x}`, () => Frontier.fromNodes(x, store)],
      );
    }
    for (const [what, call] of calls) expect(call, what).toThrow(RangeError);
  });

  it('missing or malformed stored nodes and leaf hashes are rejected', () => {
    expect(() => Frontier.fromNodes(9, CT_TREE.store)).toThrow(/0\/8/);
    expect(() => rootAt(3, () => new Uint8Array(31))).toThrow(RangeError);
    expect(() => inclusionProof(0, 8, new Map())).toThrow(/missing/);
    expect(() => Frontier.empty().append(new Uint8Array(33))).toThrow(RangeError);
    expect(() => rootOf([new Uint8Array(5)])).toThrow(RangeError);
  });

  it('verifiers return false on garbage and never throw', () => {
    const leaf = CT_LEAVES[0] as Uint8Array;
    const path = (CT_PATHS[1] as { path: string[] }).path.map(unhex);
    const root = unhex(CT_ROOTS[7] as string);
    expect(verifyInclusion(leaf, 0, 8, path, root)).toBe(true);
    const junk: unknown[] = [
      undefined,
      null,
      'abc',
      42,
      {},
      [1, 2, 3],
      new Uint8Array(0),
      new Uint8Array(64),
    ];
    const cast = <T>(x: unknown) => x as T;
    for (const j of junk) {
      expect(verifyInclusion(cast(j), 0, 8, path, root)).toBe(false);
      expect(verifyInclusion(leaf, 0, 8, path, cast(j))).toBe(false);
      expect(verifyInclusion(leaf, 0, 8, cast(j), root)).toBe(false);
      expect(verifyInclusion(leaf, 0, 8, [...path.slice(0, 2), cast(j)], root)).toBe(false);
      expect(verifyInclusion(leaf, cast(j), 8, path, root)).toBe(false);
      expect(verifyInclusion(leaf, 0, cast(j), path, root)).toBe(false);
    }
    for (const x of bad) {
      expect(verifyInclusion(leaf, x, 8, path, root)).toBe(false);
      expect(verifyInclusion(leaf, 0, x, path, root)).toBe(false);
    }

    const proof = (CT_PROOFS[2] as { proof: string[] }).proof.map(unhex);
    const r6 = unhex(CT_ROOTS[5] as string);
    expect(verifyConsistency(6, 8, proof, r6, root)).toBe(true);
    for (const j of junk) {
      expect(verifyConsistency(6, 8, cast(j), r6, root)).toBe(false);
      expect(verifyConsistency(6, 8, [cast(j), ...proof.slice(1)], r6, root)).toBe(false);
      expect(verifyConsistency(6, 8, proof, cast(j), root)).toBe(false);
      expect(verifyConsistency(6, 8, proof, r6, cast(j))).toBe(false);
      expect(verifyConsistency(cast(j), 8, proof, r6, root)).toBe(false);
      expect(verifyConsistency(6, cast(j), proof, r6, root)).toBe(false);
    }
    for (const x of bad) {
      expect(verifyConsistency(x, 8, proof, r6, root)).toBe(false);
      expect(verifyConsistency(6, x, proof, r6, root)).toBe(false);
    }
    // A huge proof of the right shape is rejected, not looped over forever.
    expect(
      verifyInclusion(
        leaf,
        0,
        8,
        Array.from({ length: 1000 }, () => SOME_HASH),
        root,
      ),
    ).toBe(false);
    expect(
      verifyConsistency(
        6,
        8,
        Array.from({ length: 1000 }, () => SOME_HASH),
        r6,
        root,
      ),
    ).toBe(false);
  });
});

// ---- large indexes

describe('merkle: indexes near 2^40', () => {
  const T = 2 ** 40;

  /** Each ref is a whole perfect subtree inside [0, size), with integer coordinates. */
  function expectInside(refs: readonly NodeRef[], size: number): void {
    for (const r of refs) {
      expect(Number.isSafeInteger(r.level) && Number.isSafeInteger(r.index), nodeKey(r)).toBe(true);
      expect(r.index).toBeGreaterThanOrEqual(0);
      expect((r.index + 1) * 2 ** r.level, nodeKey(r)).toBeLessThanOrEqual(size);
    }
  }

  it('nodeKey keeps the full index', () => {
    expect(nodeKey({ level: 3, index: T })).toBe('3/1099511627776');
  });

  it('frontierRefs and rootRefs decompose 2^40 + 5 as 2^40 + 4 + 1', () => {
    const want = [
      { level: 40, index: 0 },
      { level: 2, index: 2 ** 38 },
      { level: 0, index: T + 4 },
    ];
    expect(frontierRefs(T + 5)).toEqual(want);
    expect(rootRefs(T + 5)).toEqual(want);
    expect(frontierRefs(T)).toEqual([{ level: 40, index: 0 }]);
  });

  it('inclusion refs for leaves around 2^40', () => {
    expect(inclusionProofRefs(T, T + 1)).toEqual([{ level: 40, index: 0 }]);
    expect(sortedKeys(inclusionProofRefs(T + 2, T + 3))).toEqual(
      idKeys([
        [1, 2 ** 39],
        [40, 0],
      ]),
    );

    // The last leaf of the first 2^40: its sibling at every level, then the new leaf 2^40.
    const refs = inclusionProofRefs(T - 1, T + 1);
    const want: [number, number][] = [];
    for (let level = 0; level < 40; level++) want.push([level, 2 ** (40 - level) - 2]);
    want.push([0, T]);
    expect(sortedKeys(refs)).toEqual(idKeys(want));

    for (const [index, size] of [
      [T - 1, T + 1],
      [T + 12_345, T + 99_999],
      [2 ** 41 + 7, 2 ** 41 + 2 ** 39 + 3],
      [2 ** 52, 2 ** 53 - 1],
    ] as const) {
      const r = inclusionProofRefs(index, size);
      expectInside(r, size);
      expect(r.length).toBeLessThanOrEqual(2 * 54);
    }
  });

  it('consistency refs between sizes around 2^40', () => {
    expect(consistencyProofRefs(T, T + 1)).toEqual([{ level: 0, index: T }]);
    for (const [from, to] of [
      [T - 3, T + 7],
      [T + 1, 2 ** 41 - 1],
      [3, T + 5],
      [2 ** 52 + 1, 2 ** 53 - 1],
    ] as const) {
      const r = consistencyProofRefs(from, to);
      expectInside(r, to);
      expect(r.length).toBeGreaterThan(0);
      expect(r.length).toBeLessThanOrEqual(2 * 54);
    }
  });

  it('a Frontier restored at 2^40 + 5 appends with exact indexes and verifiable proofs', () => {
    // Synthetic hashes for the stored right edge: distinct per node.
    const fake = (ref: NodeRef) => leafHash(Buffer.from(nodeKey(ref)));
    const store = new Map<string, Uint8Array>();
    for (const r of frontierRefs(T + 5)) store.set(nodeKey(r), fake(r));
    const f = Frontier.fromNodes(T + 5, store);
    expect(hex(f.root())).toBe(hex(rootAt(T + 5, store)));

    const leaf = leafHash(Buffer.from('late leaf'));
    const nodes = f.append(leaf);
    expect(f.size).toBe(T + 6);
    expect(nodes.map((x) => ({ level: x.level, index: x.index }))).toEqual([
      { level: 0, index: T + 5 },
      { level: 1, index: 2 ** 39 + 2 },
    ]);
    for (const x of nodes) store.set(nodeKey(x), x.hash);

    // Every node the proof of the new leaf needs is stored (the right edge and what append returned).
    const proof = inclusionProof(T + 5, T + 6, store);
    expect(verifyInclusion(leaf, T + 5, T + 6, proof, f.root())).toBe(true);
    expect(verifyInclusion(leaf, T + 4, T + 6, proof, f.root())).toBe(false);
    const cons = consistencyProof(T + 5, T + 6, store);
    expect(verifyConsistency(T + 5, T + 6, cons, rootAt(T + 5, store), f.root())).toBe(true);
    expect(verifyConsistency(T + 4, T + 6, cons, rootAt(T + 5, store), f.root())).toBe(false);
  });
});
