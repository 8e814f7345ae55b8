/**
 * The verifiable audit log over REST: leaf positions, signed checkpoints, inclusion and consistency proofs
 * checked with the RFC 6962 verifiers against the served public key, the entry filters, tenant isolation,
 * "who held it at that time" replayed from the log, audited permission denials, and no PII in any leaf.
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { exportTree } from '../../../src/audit/export.js';
import {
  EMPTY_ROOT,
  leafHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/audit/merkle.js';
import { type LeafEntry, leafBytes } from '../../../src/audit/model.js';
import { generateSignerKey, NoteVerifier, openNote, parseCheckpoint } from '../../../src/audit/note.js';
import { getTree, latestCheckpoint } from '../../../src/audit/tree-store.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../../../src/platform/errors.js';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { auditTrail, denialOf, expectOnlyDenials } from '../../support/audit-views.js';
import { describeEachStore } from '../../support/stores.js';

interface Entry {
  seq: number;
  leafIndex: number | null;
  time: string;
  tenantId: string | null;
  actor: string;
  action: string;
  target: { type: string; id: string | null };
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  requestId: string | null;
}

interface CheckpointView {
  origin: string;
  treeSize: number;
  rootHash: string;
  time: string;
  note: string;
}

type Headers = Record<string, string>;

const unb64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));
const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const byNumber = (a: number, b: number) => a - b;

/** The entry as its leaf (what the integrator hashed), rebuilt from the API's JSON alone. */
function leafOfEntry(e: Entry): LeafEntry {
  if (e.leafIndex === null) throw new Error(`entry ${e.seq} is not integrated`);
  return {
    v: 1,
    tenantId: e.tenantId,
    index: e.leafIndex,
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    action: e.action,
    target: e.target,
    before: e.before,
    after: e.after,
    requestId: e.requestId,
  };
}

const leafHashOf = (e: Entry): Uint8Array => leafHash(leafBytes(leafOfEntry(e)));

function expectProblem(res: Answer, status: number, code: ErrorCode): void {
  expect(res.status, res.raw).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json\s*(;|$)/);
  expect(res.body, res.raw).toMatchObject({
    type: `urn:roster:problem:${code}`,
    title: ERROR_CATALOGUE[code].title,
    status,
    code,
  });
}

describeEachStore('REST verifiable audit log', (kind) => {
  // A short interval: the background integrator signs checkpoints of growing trees on its own too.
  const t = useTestApp(kind, { ROSTER_AUDIT_CHECKPOINT_INTERVAL: '0.2' });

  /** Every entry visible to `client` (with `headers`) for `query`, walking all pages. */
  async function allEntries(
    client: Client,
    headers: Headers = {},
    query = '',
    limit = 200,
  ): Promise<Entry[]> {
    const out: Entry[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const res = await client.get(
        `/api/v1/audit/entries?limit=${limit}${query ? `&${query}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        headers,
      );
      expect(res.status, res.raw).toBe(200);
      out.push(...res.body.items);
      cursor = res.body.nextCursor;
      if (cursor === undefined) return out;
    }
    throw new Error('audit paging did not end');
  }

  /** Every checkpoint of the caller's tree for `query`, walking pages of `limit`. */
  async function allCheckpoints(
    client: Client,
    headers: Headers = {},
    query = '',
    limit = 200,
  ): Promise<CheckpointView[]> {
    const out: CheckpointView[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const res = await client.get(
        `/api/v1/audit/checkpoints?limit=${limit}${query ? `&${query}` : ''}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        headers,
      );
      expect(res.status, res.raw).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(limit);
      out.push(...res.body.items);
      cursor = res.body.nextCursor;
      if (cursor === undefined) return out;
    }
    throw new Error('checkpoint paging did not end');
  }

  /** Polls until every entry of the view has a leaf index; fails after `deadline` (epoch ms). */
  async function integrated(client: Client, headers: Headers, deadline: number): Promise<Entry[]> {
    for (;;) {
      const entries = await allEntries(client, headers);
      const pending = entries.filter((e) => e.leafIndex === null);
      if (pending.length === 0) return entries;
      if (Date.now() > deadline) {
        throw new Error(
          `${pending.length} entries still without a leaf index: ${JSON.stringify(pending.slice(0, 3))}`,
        );
      }
      await sleep(25);
    }
  }

  /** Integrates everything committed and signs a checkpoint covering the tree (as exports and reports do). */
  async function catchUp(tree: string) {
    const c = await t().app.integrator.catchUp(tree);
    if (!c) throw new Error(`tree ${tree} has no entries`);
    return c;
  }

  async function verifier(): Promise<NoteVerifier> {
    const res = await t().client(undefined).get('/api/v1/audit/public-key');
    // The key route needs a caller, but any one.
    expect(res.status).toBe(401);
    const key = await t().admin.get('/api/v1/audit/public-key');
    expect(key.status, key.raw).toBe(200);
    expect(String(key.headers['content-type'])).toMatch(/^text\/plain/);
    expect(key.raw).toMatch(/^roster\+[0-9a-f]{8}\+[A-Za-z0-9+/=]+\n$/);
    return NoteVerifier.fromVerifierKey(key.raw.trim());
  }

  /** Opens a served checkpoint with the served key and checks that its note says what its JSON says. */
  function checkCheckpoint(v: NoteVerifier, c: CheckpointView, origin: string): void {
    const { text, verifiedBy } = openNote(c.note, [v]);
    expect(verifiedBy).toEqual(['roster']);
    const parsed = parseCheckpoint(text);
    expect(parsed.origin).toBe(origin);
    expect(c.origin).toBe(origin);
    expect(parsed.size).toBe(c.treeSize);
    expect(b64(parsed.rootHash)).toBe(c.rootHash);
    expect(parsed.extensions).toEqual([`time ${c.time}`]);
  }

  /** A tenant-admin token of an existing tenant, with its id (for actor references). */
  async function mintToken(tenantId: string, name = 'audit-log') {
    const tok = await t().admin.post('/api/v1/tokens', { tenantId, name, roles: ['tenant-admin'] });
    expect(tok.status, tok.raw).toBe(201);
    return { id: tok.body.id as string, actor: `token:${tok.body.id}`, api: t().client(tok.body.token) };
  }

  async function createUsers(api: Client, n: number, prefix = 'u'): Promise<string[]> {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) {
      const res = await api.post('/api/v1/users', { userName: `${prefix}-${i}-${randomUUID()}` });
      expect(res.status, res.raw).toBe(201);
      ids.push(res.body.id);
    }
    return ids;
  }

  describe('leaf positions', () => {
    it('every entry gets a leaf index within 1 s; a tenant’s indexes are 0..n-1 in seq order; the platform tree is separate', async () => {
      const { tenantId, api } = await t().newTenant();
      const [u1] = await createUsers(api, 3);
      const g = await api.post('/api/v1/groups', { displayName: 'Leafers', members: [u1] });
      expect(g.status, g.raw).toBe(201);
      expect((await api.patch(`/api/v1/users/${u1}`, { department: 'Leaves' })).status).toBe(200);
      expect((await api.delete(`/api/v1/groups/${g.body.id}`)).status).toBe(204);
      const deadline = Date.now() + 1000;

      const entries = await integrated(api, {}, deadline);
      // token.created, 3 x user.created, group.created, user.updated, group.deleted
      expect(entries).toHaveLength(7);
      expect(entries.map((e) => e.leafIndex as number).sort(byNumber)).toEqual(range(entries.length));
      // Committed one after the other, so positions follow seq.
      expect(entries.map((e) => e.leafIndex)).toEqual(range(entries.length));
      for (const e of entries) expect(e.tenantId).toBe(tenantId);
      // The platform's view of this tenant is the same tree.
      expect(await allEntries(t().admin, { 'roster-tenant': tenantId })).toEqual(entries);

      // The platform tree has its own positions, from 0, with this tenant's creation in it.
      const platform = await integrated(t().admin, {}, Date.now() + 1000);
      expect(platform.map((e) => e.leafIndex as number).sort(byNumber)).toEqual(range(platform.length));
      for (const e of platform) expect(e.tenantId).toBeNull();
      const created = platform.find((e) => e.action === 'tenant.created' && e.target.id === tenantId);
      expect(created?.leafIndex).toEqual(expect.any(Number));
      const seqs = new Set(entries.map((e) => e.seq));
      expect(platform.filter((e) => seqs.has(e.seq))).toEqual([]);

      // The stored tree heads agree with the positions handed out.
      const head = await getTree(t().app.db.kysely, tenantId);
      expect(head?.size).toBe(entries.length);
      expect(b64(head?.rootHash ?? new Uint8Array())).toBe(b64(rootOf(entries.map(leafHashOf))));
      const platformHead = await getTree(t().app.db.kysely, 'platform');
      expect(platformHead?.size).toBeGreaterThanOrEqual(platform.length);
    });
  });

  describe('checkpoints', () => {
    it('latest: 404 audit.no_checkpoint while a tenant’s tree is empty, then a note signed by the served key naming roster/audit/<tenant>', async () => {
      const v = await verifier();
      // A tenant made without a token: its creation is a platform event, its own tree is empty.
      const tenant = await t().admin.post('/api/v1/tenants', { name: `fresh-${randomUUID()}` });
      expect(tenant.status, tenant.raw).toBe(201);
      const tenantId = tenant.body.id as string;
      const as = { 'roster-tenant': tenantId };
      await t().app.integrator.catchUp('platform');
      expect(await allEntries(t().admin, as)).toEqual([]);
      expectProblem(await t().admin.get('/api/v1/audit/checkpoints/latest', as), 404, 'audit.no_checkpoint');
      expect(await t().app.integrator.catchUp(tenantId)).toBeUndefined();
      expect((await t().admin.get('/api/v1/audit/checkpoints', as)).body.items).toEqual([]);

      // Something happens in it: the tree gets an entry and, once integrated, a checkpoint.
      const user = await t().admin.post('/api/v1/users', { userName: `first-${randomUUID()}` }, as);
      expect(user.status, user.raw).toBe(201);
      await catchUp(tenantId);
      const latest = await t().admin.get('/api/v1/audit/checkpoints/latest', as);
      expect(latest.status, latest.raw).toBe(200);
      checkCheckpoint(v, latest.body, `roster/audit/${tenantId}`);
      const entries = await allEntries(t().admin, as);
      expect(entries.map((e) => e.action)).toEqual(['user.created']);
      expect(latest.body.treeSize).toBe(1);
      expect(latest.body.rootHash).toBe(b64(leafHashOf(entries[0] as Entry)));

      // More activity: the latest checkpoint covers it all, and its root is the tree of the entries.
      const { api } = await mintToken(tenantId);
      await createUsers(api, 4);
      await catchUp(tenantId);
      const after = await api.get('/api/v1/audit/checkpoints/latest');
      expect(after.status, after.raw).toBe(200);
      checkCheckpoint(v, after.body, `roster/audit/${tenantId}`);
      const all = await allEntries(api);
      expect(after.body.treeSize).toBe(all.length);
      expect(after.body.rootHash).toBe(b64(rootOf(all.map(leafHashOf))));
      expect(Date.parse(after.body.time)).toBeGreaterThanOrEqual(Date.parse(latest.body.time));
      // A note is only good for the key that signed it.
      const stranger = NoteVerifier.fromVerifierKey(generateSignerKey('roster').verifierKey);
      expect(() => openNote(after.body.note, [stranger])).toThrow();
      // The stored checkpoint is the one served.
      const stored = await latestCheckpoint(t().app.db.kysely, tenantId);
      expect(stored?.note).toBe(after.body.note);

      // The platform tree's own checkpoint.
      await catchUp('platform');
      const platform = await t().admin.get('/api/v1/audit/checkpoints/latest');
      expect(platform.status, platform.raw).toBe(200);
      checkCheckpoint(v, platform.body, 'roster/audit/platform');
      const platformEntries = await allEntries(t().admin);
      expect(platform.body.treeSize).toBe(platformEntries.length);
      expect(platform.body.rootHash).toBe(
        b64(
          rootOf(
            [...platformEntries]
              .sort((a, b) => (a.leafIndex as number) - (b.leafIndex as number))
              .map(leafHashOf),
          ),
        ),
      );
    });

    it('the list pages with a cursor in ascending size, every note verifies, and since/until bound it in time', async () => {
      const v = await verifier();
      const { tenantId, api } = await t().newTenant();
      const forced: CheckpointView[] = [];
      for (let round = 0; round < 6; round++) {
        await createUsers(api, 2, `r${round}`);
        await catchUp(tenantId);
        forced.push((await api.get('/api/v1/audit/checkpoints/latest')).body);
        await sleep(15);
      }
      const all = await allCheckpoints(api);
      expect(all.length).toBeGreaterThanOrEqual(6);
      const sizes = all.map((c) => c.treeSize);
      for (let i = 1; i < sizes.length; i++)
        expect(sizes[i] as number).toBeGreaterThan(sizes[i - 1] as number);
      // Every forced checkpoint is in the list, and the last one covers the whole tree.
      for (const c of forced) expect(all).toContainEqual(c);
      expect(all.at(-1)?.treeSize).toBe(1 + 6 * 2);
      const entries = await allEntries(api);
      const leaves = [...entries].sort((a, b) => (a.leafIndex as number) - (b.leafIndex as number));
      for (const c of all) {
        checkCheckpoint(v, c, `roster/audit/${tenantId}`);
        expect(c.rootHash).toBe(b64(rootOf(leaves.slice(0, c.treeSize).map(leafHashOf))));
      }
      // Times never go back as the tree grows.
      for (let i = 1; i < all.length; i++) {
        expect((all[i] as CheckpointView).time >= (all[i - 1] as CheckpointView).time).toBe(true);
      }

      // Pages of 2 and pages of 1 walk the same list.
      expect(await allCheckpoints(api, {}, '', 2)).toEqual(all);
      expect(await allCheckpoints(api, {}, '', 1)).toEqual(all);
      const first = await api.get('/api/v1/audit/checkpoints?limit=2');
      expect(first.body.items).toHaveLength(2);
      expect(typeof first.body.nextCursor).toBe('string');

      // since (inclusive) and until (exclusive) in time.
      const mid = all[Math.floor(all.length / 2)] as CheckpointView;
      const late = all[all.length - 2] as CheckpointView;
      const q = (p: string) => allCheckpoints(api, {}, p, 2);
      expect(await q(`since=${encodeURIComponent(mid.time)}`)).toEqual(all.filter((c) => c.time >= mid.time));
      expect(await q(`until=${encodeURIComponent(mid.time)}`)).toEqual(all.filter((c) => c.time < mid.time));
      expect(await q(`since=${encodeURIComponent(mid.time)}&until=${encodeURIComponent(late.time)}`)).toEqual(
        all.filter((c) => c.time >= mid.time && c.time < late.time),
      );
      expect((await q(`until=${encodeURIComponent(mid.time)}`)).length).toBeGreaterThan(0);
      expect((await q(`since=${encodeURIComponent(mid.time)}`)).length).toBeLessThan(all.length);
      // An offset time is the same instant.
      const shifted = new Date(Date.parse(mid.time)).toISOString().replace('Z', '+00:00');
      expect(await q(`since=${encodeURIComponent(shifted)}`)).toEqual(all.filter((c) => c.time >= mid.time));
      expect(await q('since=2999-01-01T00:00:00Z')).toEqual([]);
      expect(await q('until=2000-01-01T00:00:00Z')).toEqual([]);
    });
  });

  describe('proofs', () => {
    it('inclusion proofs of every leaf at every checkpoint size, and consistency proofs between every pair, verify against the signed roots', async () => {
      const v = await verifier();
      const { tenantId, api } = await t().newTenant();
      for (const n of [2, 1, 4, 3, 5, 4]) {
        await createUsers(api, n);
        await catchUp(tenantId);
      }
      const entries = await allEntries(api);
      expect(entries).toHaveLength(20);
      const leaves = [...entries].sort((a, b) => (a.leafIndex as number) - (b.leafIndex as number));
      expect(leaves.map((e) => e.leafIndex)).toEqual(range(20));
      const hashes = leaves.map(leafHashOf);
      const checkpoints = await allCheckpoints(api);
      const sizes = checkpoints.map((c) => c.treeSize);
      for (const s of [3, 4, 8, 11, 16, 20]) expect(sizes).toContain(s);

      for (const c of checkpoints) {
        checkCheckpoint(v, c, `roster/audit/${tenantId}`);
        const root = unb64(c.rootHash);
        for (let i = 0; i < c.treeSize; i++) {
          const res = await api.get(`/api/v1/audit/proofs/inclusion?index=${i}&treeSize=${c.treeSize}`);
          expect(res.status, res.raw).toBe(200);
          expect(res.body.leafIndex).toBe(i);
          expect(res.body.treeSize).toBe(c.treeSize);
          expect(res.body.rootHash, `root of size ${c.treeSize}`).toBe(c.rootHash);
          // The leaf hash is the hash of the entry as served, not only of what is stored.
          expect(res.body.leafHash, `leaf ${i}`).toBe(b64(hashes[i] as Uint8Array));
          const proof = (res.body.hashes as string[]).map(unb64);
          expect(
            verifyInclusion(hashes[i] as Uint8Array, i, c.treeSize, proof, root),
            `leaf ${i} of ${c.treeSize}`,
          ).toBe(true);
          // ...and not against any other root, nor for another leaf or position.
          const other = checkpoints.find((o) => o.treeSize !== c.treeSize) as CheckpointView;
          expect(verifyInclusion(hashes[i] as Uint8Array, i, c.treeSize, proof, unb64(other.rootHash))).toBe(
            false,
          );
          const wrongLeaf = hashes[(i + 1) % 20] as Uint8Array;
          expect(verifyInclusion(wrongLeaf, i, c.treeSize, proof, root)).toBe(false);
          if (c.treeSize > 1) {
            expect(
              verifyInclusion(hashes[i] as Uint8Array, (i + 1) % c.treeSize, c.treeSize, proof, root),
            ).toBe(false);
          }
        }
      }

      for (const a of checkpoints) {
        for (const b of checkpoints) {
          if (a.treeSize > b.treeSize) continue;
          const res = await api.get(`/api/v1/audit/proofs/consistency?from=${a.treeSize}&to=${b.treeSize}`);
          expect(res.status, res.raw).toBe(200);
          expect(res.body).toMatchObject({ from: a.treeSize, to: b.treeSize });
          expect(res.body.fromRoot).toBe(a.rootHash);
          expect(res.body.toRoot).toBe(b.rootHash);
          const proof = (res.body.hashes as string[]).map(unb64);
          const fromRoot = unb64(a.rootHash);
          const toRoot = unb64(b.rootHash);
          expect(
            verifyConsistency(a.treeSize, b.treeSize, proof, fromRoot, toRoot),
            `${a.treeSize} -> ${b.treeSize}`,
          ).toBe(true);
          if (a.treeSize < b.treeSize) {
            const bad = Uint8Array.from(toRoot);
            bad[0] = (bad[0] as number) ^ 1;
            expect(verifyConsistency(a.treeSize, b.treeSize, proof, fromRoot, bad)).toBe(false);
            expect(verifyConsistency(a.treeSize, b.treeSize, proof, toRoot, toRoot)).toBe(false);
          }
        }
      }

      // From the empty tree: no hashes, the empty root.
      const empty = await api.get('/api/v1/audit/proofs/consistency?from=0&to=20');
      expect(empty.status, empty.raw).toBe(200);
      expect(empty.body.hashes).toEqual([]);
      expect(empty.body.fromRoot).toBe(b64(EMPTY_ROOT));
      expect(empty.body.toRoot).toBe(checkpoints.at(-1)?.rootHash);
      // A size that is not a checkpoint's: the proof still verifies against the root of the entries.
      const res = await api.get('/api/v1/audit/proofs/inclusion?index=6&treeSize=13');
      expect(res.status, res.raw).toBe(200);
      const root13 = rootOf(hashes.slice(0, 13));
      expect(res.body.rootHash).toBe(b64(root13));
      expect(verifyInclusion(hashes[6] as Uint8Array, 6, 13, res.body.hashes.map(unb64), root13)).toBe(true);
    });

    it('answers 422 audit.out_of_range beyond the integrated tree, 400 on bad parameters and 401 without a token', async () => {
      const { tenantId, api } = await t().newTenant();
      await createUsers(api, 4);
      const head = await catchUp(tenantId);
      const n = head.size;
      expect(n).toBe(5);
      const get = (q: string) => api.get(`/api/v1/audit/${q}`);

      for (const q of [
        `proofs/inclusion?index=${n}&treeSize=${n}`,
        `proofs/inclusion?index=${n + 3}&treeSize=${n}`,
        `proofs/inclusion?index=0&treeSize=${n + 1}`,
        'proofs/inclusion?index=0&treeSize=1000000',
        `proofs/inclusion?index=0&treeSize=${Number.MAX_SAFE_INTEGER}`,
        `proofs/consistency?from=${n}&to=${n + 1}`,
        `proofs/consistency?from=0&to=${n + 1}`,
        'proofs/consistency?from=3&to=2',
        `proofs/consistency?from=${n + 1}&to=${n}`,
      ]) {
        expectProblem(await get(q), 422, 'audit.out_of_range');
      }
      // The edges that are in range.
      expect((await get(`proofs/inclusion?index=${n - 1}&treeSize=${n}`)).status).toBe(200);
      expect((await get(`proofs/consistency?from=${n}&to=${n}`)).status).toBe(200);
      expect((await get('proofs/consistency?from=0&to=0')).status).toBe(200);

      for (const q of [
        'proofs/inclusion',
        'proofs/inclusion?index=0',
        'proofs/inclusion?treeSize=1',
        'proofs/inclusion?index=-1&treeSize=1',
        'proofs/inclusion?index=0&treeSize=-1',
        'proofs/inclusion?index=0.5&treeSize=2',
        'proofs/inclusion?index=0&treeSize=1.5',
        'proofs/inclusion?index=zero&treeSize=1',
        'proofs/inclusion?index=0&treeSize=0',
        'proofs/inclusion?index=0&treeSize=1&extra=1',
        'proofs/consistency',
        'proofs/consistency?from=1',
        'proofs/consistency?to=1',
        'proofs/consistency?from=-1&to=1',
        'proofs/consistency?from=1&to=-2',
        'proofs/consistency?from=1.5&to=2',
        'proofs/consistency?from=1&to=two',
        'checkpoints?limit=0',
        'checkpoints?limit=201',
        'checkpoints?since=yesterday',
        'entries?until=soon',
      ]) {
        expectProblem(await get(q), 400, 'request.invalid_parameter');
      }
      expectProblem(await get('checkpoints?cursor=bogus'), 400, 'request.invalid_cursor');

      const anonymous = t().client(undefined);
      for (const q of [
        'entries',
        'checkpoints',
        'checkpoints/latest',
        'public-key',
        'proofs/inclusion?index=0&treeSize=1',
        'proofs/consistency?from=0&to=1',
        `holders?product=X&at=${encodeURIComponent(new Date().toISOString())}`,
      ]) {
        const res = await anonymous.get(`/api/v1/audit/${q}`);
        expectProblem(res, 401, 'auth.unauthenticated');
        expect(res.raw).not.toContain(head.note);
      }
      expectProblem(
        await t().client('rst_not-a-real-token-0123456789abcdef').get('/api/v1/audit/checkpoints/latest'),
        401,
        'auth.unauthenticated',
      );
    });
  });

  describe('tenant isolation', () => {
    it('a tenant token sees its own tree only: entries, checkpoints, proofs and holders', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      await createUsers(a.api, 2, 'a');
      const bUsers = await createUsers(b.api, 6, 'b');
      expect((await b.api.post('/api/v1/products', { sku: 'B-ONLY', name: 'B only' })).status).toBe(201);
      expect(
        (await b.api.post('/api/v1/pools', { product: 'B-ONLY', name: 'b-pool', capacity: 5 })).status,
      ).toBe(201);
      expect((await b.api.post(`/api/v1/users/${bUsers[0]}/licenses`, { product: 'B-ONLY' })).status).toBe(
        201,
      );
      const headA = await catchUp(a.tenantId);
      const headB = await catchUp(b.tenantId);
      expect(headA.size).toBe(3);
      expect(headB.size).toBe(10);

      const bEntries = await allEntries(b.api);
      const bSeqs = new Set(bEntries.map((e) => e.seq));
      for (const headers of [{}, { 'roster-tenant': a.tenantId }] as Headers[]) {
        // A tenant token's scope is its own tenant; naming it in Roster-Tenant changes nothing.
        const entries = await allEntries(a.api, headers);
        expect(entries).toHaveLength(3);
        for (const e of entries) expect(e.tenantId).toBe(a.tenantId);
        expect(entries.filter((e) => bSeqs.has(e.seq))).toEqual([]);
        expect(JSON.stringify(entries)).not.toContain(b.tenantId);
        for (const id of bUsers) {
          expect((await allEntries(a.api, headers, `targetId=${id}`)).length).toBe(0);
        }

        const latest = await a.api.get('/api/v1/audit/checkpoints/latest', headers);
        expect(latest.body.origin).toBe(`roster/audit/${a.tenantId}`);
        expect(latest.body.treeSize).toBe(3);
        expect(latest.body.rootHash).toBe(b64(headA.rootHash));
        const list = await allCheckpoints(a.api, headers);
        expect(list.length).toBeGreaterThan(0);
        for (const c of list) {
          expect(c.origin).toBe(`roster/audit/${a.tenantId}`);
          expect(c.note).not.toContain(b.tenantId);
        }
        // B's tree is larger: A cannot reach its sizes, and A's proofs are over A's leaves.
        expectProblem(
          await a.api.get(`/api/v1/audit/proofs/inclusion?index=5&treeSize=${headB.size}`, headers),
          422,
          'audit.out_of_range',
        );
        expectProblem(
          await a.api.get(`/api/v1/audit/proofs/consistency?from=3&to=${headB.size}`, headers),
          422,
          'audit.out_of_range',
        );
        const proof = await a.api.get('/api/v1/audit/proofs/inclusion?index=0&treeSize=3', headers);
        expect(proof.status, proof.raw).toBe(200);
        expect(proof.body.rootHash).toBe(b64(headA.rootHash));
        const consistency = await a.api.get('/api/v1/audit/proofs/consistency?from=1&to=3', headers);
        expect(consistency.body.toRoot).toBe(b64(headA.rootHash));

        const holders = await a.api.get(
          `/api/v1/audit/holders?product=B-ONLY&at=${encodeURIComponent(new Date().toISOString())}`,
          headers,
        );
        expect(holders.status, holders.raw).toBe(200);
        expect(holders.body.items).toEqual([]);
        expect(holders.body.checkpoint.origin).toBe(`roster/audit/${a.tenantId}`);
      }
      // Naming B in Roster-Tenant is refused on every route (403 naming tenants:act, audited in A's log),
      // never silently answered from A's tree nor from B's.
      const aToken = (await t().admin.get(`/api/v1/tokens?tenantId=${a.tenantId}`)).body.items[0]
        .id as string;
      const aTrail = await auditTrail(a.api);
      const bTrail = await auditTrail(b.api);
      const toB = { 'roster-tenant': b.tenantId };
      const at = encodeURIComponent(new Date().toISOString());
      const denials = [];
      for (const [path, route] of [
        ['/api/v1/audit/entries?limit=200', '/api/v1/audit/entries'],
        [`/api/v1/audit/entries?targetId=${bUsers[0]}`, '/api/v1/audit/entries'],
        ['/api/v1/audit/checkpoints/latest', '/api/v1/audit/checkpoints/latest'],
        ['/api/v1/audit/checkpoints', '/api/v1/audit/checkpoints'],
        [`/api/v1/audit/proofs/inclusion?index=5&treeSize=${headB.size}`, '/api/v1/audit/proofs/inclusion'],
        ['/api/v1/audit/proofs/inclusion?index=0&treeSize=3', '/api/v1/audit/proofs/inclusion'],
        [`/api/v1/audit/proofs/consistency?from=3&to=${headB.size}`, '/api/v1/audit/proofs/consistency'],
        [`/api/v1/audit/holders?product=B-ONLY&at=${at}`, '/api/v1/audit/holders'],
      ] as const) {
        const res = await a.api.get(path, toB);
        expectProblem(res, 403, 'auth.forbidden');
        expect(res.body.permission, path).toBe('tenants:act');
        expect(res.raw).not.toContain(bUsers[0]);
        expect(res.raw).not.toContain(b64(headB.rootHash));
        expect(res.raw).not.toContain(b64(headA.rootHash));
        denials.push(
          denialOf(res, {
            tenantId: a.tenantId,
            actor: `token:${aToken}`,
            method: 'GET',
            route,
            code: 'auth.forbidden',
            permission: 'tenants:act',
          }),
        );
      }
      expectOnlyDenials(aTrail, await auditTrail(a.api), denials, "A's trail");
      expect(await auditTrail(b.api), "B's trail").toEqual(bTrail);

      // B sees B's holder.
      const bHolders = await b.api.get(
        `/api/v1/audit/holders?product=B-ONLY&at=${encodeURIComponent(new Date().toISOString())}`,
      );
      expect(bHolders.body.items.map((i: { userId: string }) => i.userId)).toEqual([bUsers[0]]);
    });
  });

  describe('entry filters', () => {
    it('actor, action, targetType, targetId, since and until each narrow the list to exactly the matching entries', async () => {
      const { tenantId } = await t().newTenant();
      const one = await mintToken(tenantId, 'one');
      const two = await mintToken(tenantId, 'two');
      const [u1, u2] = await createUsers(one.api, 2);
      const g = await one.api.post('/api/v1/groups', { displayName: `G-${randomUUID()}` });
      expect(g.status).toBe(201);
      await sleep(20);
      const middle = new Date().toISOString();
      await sleep(20);
      expect((await two.api.put(`/api/v1/groups/${g.body.id}/members/${u1}`)).status).toBe(204);
      expect((await two.api.patch(`/api/v1/users/${u1}`, { department: 'Filters' })).status).toBe(200);
      expect((await two.api.post('/api/v1/products', { sku: 'FILTER-1', name: 'F' })).status).toBe(201);
      await sleep(20);
      const late = new Date().toISOString();
      await sleep(20);
      expect((await one.api.delete(`/api/v1/users/${u2}`)).status).toBe(204);
      // Integrated first, so that no leaf index changes between the listings compared.
      await catchUp(tenantId);

      const all = await allEntries(one.api);
      expect(all.length).toBe(10);
      const cases: [string, (e: Entry) => boolean][] = [
        [`actor=${encodeURIComponent(one.actor)}`, (e) => e.actor === one.actor],
        [`actor=${encodeURIComponent(two.actor)}`, (e) => e.actor === two.actor],
        ['actor=admin-token', (e) => e.actor === 'admin-token'],
        ['action=user.created', (e) => e.action === 'user.created'],
        ['action=group.member_added', (e) => e.action === 'group.member_added'],
        ['targetType=group', (e) => e.target.type === 'group'],
        ['targetType=product', (e) => e.target.type === 'product'],
        [`targetId=${u1}`, (e) => e.target.id === u1],
        [`targetId=${g.body.id}`, (e) => e.target.id === g.body.id],
        [`since=${encodeURIComponent(middle)}`, (e) => e.time >= middle],
        [`until=${encodeURIComponent(middle)}`, (e) => e.time < middle],
        [
          `since=${encodeURIComponent(middle)}&until=${encodeURIComponent(late)}`,
          (e) => e.time >= middle && e.time < late,
        ],
        [
          `actor=${encodeURIComponent(two.actor)}&targetType=user`,
          (e) => e.actor === two.actor && e.target.type === 'user',
        ],
        [`action=user.deleted&targetId=${u1}`, () => false],
      ];
      for (const [query, match] of cases) {
        const expected = all.filter(match);
        const got = await allEntries(one.api, {}, query);
        expect(got, query).toEqual(expected);
        // Paging through a filter gives the same.
        expect(await allEntries(one.api, {}, query, 1), `${query} by pages of 1`).toEqual(expected);
        expect(got.length, query).toBeLessThan(all.length);
        // Newest first: the same entries in reverse, whole or by pages of 1 (the cursor keeps the order).
        const newestFirst = [...expected].reverse();
        expect(await allEntries(one.api, {}, `${query}&order=desc`), `${query} desc`).toEqual(newestFirst);
        expect(await allEntries(one.api, {}, `${query}&order=desc`, 1), `${query} desc by 1`).toEqual(
          newestFirst,
        );
      }
      expect(await allEntries(one.api, {}, 'order=asc')).toEqual(all);
      expect(await allEntries(one.api, {}, 'order=desc', 3)).toEqual([...all].reverse());
      const newest = await one.api.get('/api/v1/audit/entries?order=desc&limit=2');
      expect(newest.body.items).toEqual(all.slice(-2).reverse());
      // The cursor carries the order: followed without `order`, it goes on backwards; a contrary order is a 400.
      const firstPage = await one.api.get('/api/v1/audit/entries?order=desc&limit=3');
      const cursor = encodeURIComponent(firstPage.body.nextCursor);
      const onwards = await one.api.get(`/api/v1/audit/entries?limit=3&cursor=${cursor}`);
      expect([...firstPage.body.items, ...onwards.body.items]).toEqual([...all].reverse().slice(0, 6));
      const contrary = await one.api.get(`/api/v1/audit/entries?order=asc&limit=3&cursor=${cursor}`);
      expect(contrary.status, contrary.raw).toBe(400);
      expect(contrary.body.code).toBe('request.invalid_parameter');
      const bad = await one.api.get('/api/v1/audit/entries?order=newest');
      expect(bad.status, bad.raw).toBe(400);
      expect(bad.headers['content-type']).toMatch(/application\/problem\+json/);
      // Every one-field filter used above matched something (the cases prove narrowing, not emptiness).
      for (const [query, match] of cases.slice(0, -1))
        expect(all.filter(match).length, query).toBeGreaterThan(0);
      // Filters do not widen the scope: another tenant's actor or target finds nothing.
      const other = await t().newTenant();
      expect(await allEntries(other.api, {}, `actor=${encodeURIComponent(one.actor)}`)).toEqual([]);
      expect(await allEntries(other.api, {}, `targetId=${u1}`)).toEqual([]);
    });
  });

  describe('holders', () => {
    /** The users holding an active seat of `sku`, as the license API shows them now. */
    async function seatHolders(api: Client, users: readonly string[], sku: string) {
      const out: { userId: string; pool: { id: string; name: string } }[] = [];
      for (const id of users) {
        const res = await api.get(`/api/v1/users/${id}/licenses`);
        expect(res.status, res.raw).toBe(200);
        for (const a of res.body.items) {
          if (a.product === sku && a.state === 'active') out.push({ userId: id, pool: a.pool });
        }
      }
      return out.sort((x, y) => (x.userId < y.userId ? -1 : 1));
    }

    /** Now, as an instant strictly between what happened before and what happens next. */
    async function instant(): Promise<string> {
      await sleep(5);
      const at = new Date().toISOString();
      await sleep(5);
      return at;
    }

    it('product: who held a seat at each instant, as observed then, through a full pool, a waitlist and an offboarding', async () => {
      const { api } = await t().newTenant();
      const sku = `SEAT-${randomUUID().slice(0, 8)}`;
      expect((await api.post('/api/v1/products', { sku, name: 'Seats' })).status).toBe(201);
      const pool = await api.post('/api/v1/pools', { product: sku, name: 'two-seats', capacity: 2 });
      expect(pool.status, pool.raw).toBe(201);
      const users: string[] = [];
      const observed: { at: string; holders: Awaited<ReturnType<typeof seatHolders>>; step: string }[] = [];
      const observe = async (step: string) => {
        const holders = await seatHolders(api, users, sku);
        observed.push({ step, holders, at: await instant() });
      };

      await observe('before anyone');
      for (let i = 0; i < 3; i++) {
        const res = await api.post(
          '/api/v1/onboardings',
          { user: { userName: `seat-${i}-${randomUUID()}` }, products: [sku] },
          { 'idempotency-key': `seat-${i}-${randomUUID()}` },
        );
        expect(res.status, res.raw).toBe(201);
        expect(res.body.assignments[0].state).toBe(i < 2 ? 'active' : 'waitlisted');
        users.push(res.body.user.id);
        await observe(`onboarded ${i}`);
      }
      const [first, second, third] = users as [string, string, string];
      expect(
        observed
          .at(-1)
          ?.holders.map((h) => h.userId)
          .sort(),
      ).toEqual([first, second].sort());

      const off = await api.post(`/api/v1/users/${first}/offboard`);
      expect(off.status, off.raw).toBe(200);
      await observe('offboarded the first: the waitlisted one gets the seat');
      expect(
        observed
          .at(-1)
          ?.holders.map((h) => h.userId)
          .sort(),
      ).toEqual([second, third].sort());

      expect((await api.delete(`/api/v1/users/${second}/licenses/${sku}`)).status).toBe(204);
      await observe('released the second');
      expect(observed.at(-1)?.holders.map((h) => h.userId)).toEqual([third]);

      expect((await api.post(`/api/v1/users/${first}/licenses`, { product: sku })).status).not.toBe(201);
      expect(
        (await api.post(`/api/v1/users/${second}/licenses`, { product: sku.toLowerCase() })).status,
      ).toBe(201);
      await observe('the second takes a seat again');

      const entries = await allEntries(api);
      const assigned = (user: string) =>
        entries.filter((e) => e.action === 'license.assigned' && e.target.id === user).map((e) => e.time);
      for (const { at, holders, step } of observed) {
        const res = await api.get(`/api/v1/audit/holders?product=${sku}&at=${encodeURIComponent(at)}`);
        expect(res.status, res.raw).toBe(200);
        expect(res.body.product).toBe(sku);
        expect(res.body.at).toBe(at);
        expect(
          res.body.items.map((i: { userId: string }) => i.userId),
          step,
        ).toEqual(holders.map((h) => h.userId));
        for (const item of res.body.items) {
          const seen = holders.find((h) => h.userId === item.userId);
          expect(item.pool, step).toEqual(seen?.pool);
          expect(item.pool.id).toBe(pool.body.id);
          // Since the last assignment before `at`.
          const since = assigned(item.userId)
            .filter((time) => time <= at)
            .at(-1);
          expect(item.since, step).toBe(since);
        }
        expect(res.body.checkpoint.origin).toMatch(/^roster\/audit\//);
      }
      // The SKU is matched without regard to case, as the license API does.
      const last = observed.at(-1) as (typeof observed)[number];
      const lower = await api.get(
        `/api/v1/audit/holders?product=${sku.toLowerCase()}&at=${encodeURIComponent(last.at)}`,
      );
      expect(lower.body.items.map((i: { userId: string }) => i.userId)).toEqual(
        last.holders.map((h) => h.userId),
      );
      // An instant before the log began: nobody.
      const early = await api.get(`/api/v1/audit/holders?product=${sku}&at=2001-01-01T00:00:00Z`);
      expect(early.status, early.raw).toBe(200);
      expect(early.body.items).toEqual([]);
      // The answer carries a checkpoint covering the whole tree, signed by the log's key.
      const v = await verifier();
      const latest = (await api.get('/api/v1/audit/checkpoints/latest')).body as CheckpointView;
      expect(early.body.checkpoint).toEqual(latest);
      expect(latest.treeSize).toBe(entries.length);
      checkCheckpoint(v, early.body.checkpoint, latest.origin);
    });

    /** The members of a group as the group API shows them now (none when the group is gone). */
    async function groupMembers(api: Client, group: string): Promise<string[]> {
      const res = await api.get(`/api/v1/groups/${group}/members?limit=200`);
      if (res.status === 404) return [];
      expect(res.status, res.raw).toBe(200);
      return res.body.items.map((m: { userId: string }) => m.userId).sort();
    }

    async function expectGroupHolders(
      api: Client,
      group: string,
      observed: { at: string; members: string[] }[],
    ) {
      for (const { at, members } of observed) {
        const res = await api.get(`/api/v1/audit/holders?group=${group}&at=${encodeURIComponent(at)}`);
        expect(res.status, res.raw).toBe(200);
        expect(res.body.group).toBe(group);
        expect(
          res.body.items.map((i: { userId: string }) => i.userId),
          `members at ${at}`,
        ).toEqual(members);
        for (const i of res.body.items) expect(i.since <= at).toBe(true);
      }
    }

    it('group: who was a member at each instant, through adds, removals and a member’s deletion', async () => {
      const { api } = await t().newTenant();
      const [a, b, c] = (await createUsers(api, 3, 'member')) as [string, string, string];
      const g = await api.post('/api/v1/groups', { displayName: `Holders-${randomUUID()}` });
      expect(g.status).toBe(201);
      const group = g.body.id as string;
      const observed: { at: string; members: string[] }[] = [];
      const observe = async () =>
        observed.push({ members: await groupMembers(api, group), at: await instant() });

      await observe();
      for (const step of [
        () => api.put(`/api/v1/groups/${group}/members/${a}`),
        () => api.put(`/api/v1/groups/${group}/members/${b}`),
        () => api.put(`/api/v1/groups/${group}/members/${b}`),
        () => api.delete(`/api/v1/groups/${group}/members/${a}`),
        () => api.put(`/api/v1/groups/${group}/members/${c}`),
        () => api.put(`/api/v1/groups/${group}/members/${a}`),
        () => api.delete(`/api/v1/users/${b}`),
      ]) {
        expect((await step()).status).toBe(204);
        await observe();
      }
      expect(observed.map((o) => o.members.length)).toEqual([0, 1, 2, 2, 1, 2, 3, 2]);
      await expectGroupHolders(api, group, observed);
    });

    it('group: members given when the group is created count from its creation', async () => {
      const { api } = await t().newTenant();
      const [a, b] = (await createUsers(api, 2, 'founder')) as [string, string];
      const before = await instant();
      const g = await api.post('/api/v1/groups', { displayName: `Founded-${randomUUID()}`, members: [a, b] });
      expect(g.status, g.raw).toBe(201);
      const group = g.body.id as string;
      const observed: { at: string; members: string[] }[] = [{ at: before, members: [] }];
      const observe = async () =>
        observed.push({ members: await groupMembers(api, group), at: await instant() });
      await observe();
      expect((await api.delete(`/api/v1/groups/${group}/members/${a}`)).status).toBe(204);
      await observe();
      expect(observed.map((o) => o.members)).toEqual([[], [a, b].sort(), [b]]);
      await expectGroupHolders(api, group, observed);
    });

    it('group: nobody belongs to a group once it is deleted', async () => {
      const { api } = await t().newTenant();
      const [a, b] = (await createUsers(api, 2, 'gone')) as [string, string];
      const g = await api.post('/api/v1/groups', { displayName: `Doomed-${randomUUID()}` });
      expect(g.status, g.raw).toBe(201);
      const group = g.body.id as string;
      const observed: { at: string; members: string[] }[] = [];
      const observe = async () =>
        observed.push({ members: await groupMembers(api, group), at: await instant() });
      expect((await api.put(`/api/v1/groups/${group}/members/${a}`)).status).toBe(204);
      expect((await api.put(`/api/v1/groups/${group}/members/${b}`)).status).toBe(204);
      await observe();
      expect((await api.delete(`/api/v1/groups/${group}`)).status).toBe(204);
      await observe();
      expect(observed.map((o) => o.members)).toEqual([[a, b].sort(), []]);
      await expectGroupHolders(api, group, observed);
    });
  });

  describe('permission denials', () => {
    it('a tenant token calling a platform-only route gets 403 and an access.denied entry in its tenant’s log', async () => {
      const { tenantId } = await t().newTenant();
      const tok = await mintToken(tenantId, 'denied');
      const platformBefore = await allEntries(t().admin);
      const res = await tok.api.post('/api/v1/tenants', { name: `not-allowed-${randomUUID()}` });
      expectProblem(res, 403, 'auth.forbidden');
      expect(res.body.permission).toBe('tenants:manage');
      const requestId = res.headers['x-request-id'];

      const entries = await integrated(tok.api, {}, Date.now() + 1000);
      const denied = entries.filter((e) => e.action === 'access.denied');
      expect(denied).toHaveLength(1);
      expect(denied[0]).toMatchObject({
        tenantId,
        actor: tok.actor,
        target: { type: 'route', id: 'POST /api/v1/tenants' },
        before: null,
        after: {
          route: '/api/v1/tenants',
          method: 'POST',
          code: 'auth.forbidden',
          permission: 'tenants:manage',
          actor: tok.actor,
        },
        requestId,
      });
      expect(denied[0]?.leafIndex).toBe(entries.length - 1);
      // Nothing was created, and nothing went to the platform log.
      expect((await allEntries(t().admin)).length).toBe(platformBefore.length);

      // A platform token on a tenant route without naming the tenant: denied, in the platform log.
      const platformTok = await t().admin.post('/api/v1/tokens', { name: 'plat', roles: ['platform-admin'] });
      expect(platformTok.status).toBe(201);
      const plat = t().client(platformTok.body.token);
      const start = await allEntries(t().admin);
      const refused = await plat.post('/api/v1/users', { userName: `nobody-${randomUUID()}` });
      expectProblem(refused, 403, 'auth.tenant_required');
      const platformNew = (await integrated(t().admin, {}, Date.now() + 1000)).filter(
        (e) => e.seq > (start.at(-1)?.seq ?? 0),
      );
      expect(platformNew).toHaveLength(1);
      expect(platformNew[0]).toMatchObject({
        tenantId: null,
        action: 'access.denied',
        actor: `token:${platformTok.body.id}`,
        target: { type: 'route', id: 'POST /api/v1/users' },
        after: { code: 'auth.tenant_required', route: '/api/v1/users', method: 'POST' },
        requestId: refused.headers['x-request-id'],
      });

      // No caller, nothing to audit.
      const tenantCount = (await allEntries(tok.api)).length;
      expect((await t().client(undefined).post('/api/v1/tenants', { name: 'anonymous' })).status).toBe(401);
      expect((await allEntries(tok.api)).length).toBe(tenantCount);
    });
  });

  describe('PII', () => {
    it('no user name, e-mail or name used ever appears in an entry, an exported leaf or a stored row', async () => {
      const { tenantId, api } = await t().newTenant();
      const mark = randomUUID().slice(0, 8);
      const sku = `PII-${mark}`;
      expect((await api.post('/api/v1/products', { sku, name: 'P' })).status).toBe(201);
      expect((await api.post('/api/v1/pools', { product: sku, name: 'p', capacity: 1 })).status).toBe(201);
      const person = (n: number) => ({
        userName: `secret.user${n}.${mark}@hidden.example`,
        name: { givenName: `Givenname${n}${mark}`, familyName: `Familyname${n}${mark}` },
        displayName: `Display${n}${mark}`,
        emails: [{ value: `mail${n}.${mark}@hidden.example`, primary: true }],
      });
      const created = await api.post('/api/v1/users', person(1));
      expect(created.status, created.raw).toBe(201);
      const onboarded = await api.post(
        '/api/v1/onboardings',
        { user: person(2), products: [sku] },
        { 'idempotency-key': `pii-${mark}` },
      );
      expect(onboarded.status, onboarded.raw).toBe(201);
      const waiting = await api.post(
        '/api/v1/onboardings',
        { user: person(3), products: [sku] },
        { 'idempotency-key': `pii-3-${mark}` },
      );
      expect(waiting.status, waiting.raw).toBe(201);
      const renamed = person(4);
      expect((await api.patch(`/api/v1/users/${created.body.id}`, renamed)).status).toBe(200);
      const g = await api.post('/api/v1/groups', { displayName: `Team-${mark}`, members: [created.body.id] });
      expect(g.status).toBe(201);
      expect((await api.post(`/api/v1/users/${onboarded.body.user.id}/offboard`)).status).toBe(200);
      expect((await api.delete(`/api/v1/users/${created.body.id}`)).status).toBe(204);
      const head = await catchUp(tenantId);

      const secrets = [1, 2, 3, 4].flatMap((n) => {
        const p = person(n);
        return [p.userName, p.name.givenName, p.name.familyName, p.displayName, p.emails[0]?.value ?? ''];
      });
      secrets.push(`@hidden.example`);
      const expectClean = (what: string, text: string) => {
        const lower = text.toLowerCase();
        for (const s of secrets) expect(lower.includes(s.toLowerCase()), `${what} contains ${s}`).toBe(false);
      };

      const entries = await allEntries(api);
      expect(entries.map((e) => e.action)).toEqual(
        expect.arrayContaining([
          'user.created',
          'user.onboarded',
          'user.updated',
          'user.offboarded',
          'user.deleted',
        ]),
      );
      expectClean('entries (tenant token)', JSON.stringify(entries));
      expectClean(
        'entries (platform view)',
        JSON.stringify(await allEntries(t().admin, { 'roster-tenant': tenantId })),
      );
      expectClean('platform entries', JSON.stringify(await allEntries(t().admin)));
      for (const e of entries) {
        const one = await api.get(`/api/v1/audit/entries?targetId=${e.target.id}&limit=200`);
        expectClean(`entries of ${e.target.id}`, one.raw);
      }

      // The export's leaves: exactly the bytes that are hashed into the tree.
      const tree = await getTree(t().app.db.kysely, tenantId);
      let lines = '';
      for await (const line of exportTree(t().app.db.kysely, tree as NonNullable<typeof tree>, head))
        lines += line;
      expect(lines.split('\n').filter((l) => l.includes('"type":"entry"'))).toHaveLength(head.size);
      expectClean('export', lines);
      // The stored rows themselves.
      const rows = await t()
        .app.db.kysely.selectFrom('audit_entries')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .execute();
      expect(rows.length).toBe(entries.length);
      expectClean('audit_entries rows', JSON.stringify(rows));
      const checkpoints = await allCheckpoints(api);
      expectClean('checkpoints', JSON.stringify(checkpoints));
    });
  });

  describe('holders by role', () => {
    interface RoleHolder {
      tokenId: string;
      since: string;
      expiresAt?: string;
    }

    /** Now, as an instant strictly between what happened before and what happens next. */
    async function between(): Promise<string> {
      await sleep(5);
      const at = new Date().toISOString();
      await sleep(5);
      return at;
    }

    const shift = (iso: string, ms: number): string => new Date(Date.parse(iso) + ms).toISOString();

    /** Mints a token (tenant-bound, or platform-wide when `tenantId` is null) and returns its id. */
    async function mint(tenantId: string | null, name: string, roles: string[], expiresAt?: string) {
      const res = await t().admin.post('/api/v1/tokens', {
        ...(tenantId === null ? {} : { tenantId }),
        name,
        roles,
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
      expect(res.status, res.raw).toBe(201);
      expect(res.body.tenantId).toBe(tenantId);
      return res.body.id as string;
    }

    /** The role's holders at `at` as served (sorted by token id), after checking the answer's frame. */
    async function roleHolders(
      client: Client,
      role: string,
      at: string,
      headers: Headers = {},
    ): Promise<RoleHolder[]> {
      const res = await client.get(
        `/api/v1/audit/holders?role=${encodeURIComponent(role)}&at=${encodeURIComponent(at)}`,
        headers,
      );
      expect(res.status, res.raw).toBe(200);
      expect(res.body.role).toBe(role);
      expect(res.body.at).toBe(new Date(at).toISOString());
      expect(res.body).not.toHaveProperty('product');
      expect(res.body).not.toHaveProperty('group');
      expect(res.body.checkpoint.origin).toMatch(/^roster\/audit\//);
      for (const i of res.body.items) expect(i).not.toHaveProperty('userId');
      return [...(res.body.items as RoleHolder[])].sort((a, b) => (a.tokenId < b.tokenId ? -1 : 1));
    }

    it('role: exactly the tokens given it at each instant, through mints, a revocation and an expiry; never another tenant’s', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      // `billing` is a custom role, defined by each tenant for itself (a platform token cannot hold it).
      for (const tenant of [a, b]) {
        const role = await tenant.api.post('/api/v1/roles', {
          name: 'billing',
          description: 'Reads seats and pools',
          permissions: ['licenses:read', 'pools:read'],
        });
        expect(role.status, role.raw).toBe(201);
      }
      const t0 = await between();

      const alpha = await mint(a.tenantId, 'alpha', ['auditor', 'billing']);
      const t1 = await between();
      const beta = await mint(a.tenantId, 'beta', ['auditor']);
      const t2 = await between();
      // Another tenant's token with the same roles (its own billing), and a platform token holding auditor
      // (billing is no platform role), in the middle of it all.
      const bToken = await mint(b.tenantId, 'b-auditor', ['auditor', 'billing']);
      const platformToken = await mint(null, 'platform-auditor', ['auditor']);
      const platformBilling = await t().admin.post('/api/v1/tokens', {
        name: 'platform-billing',
        roles: ['billing'],
      });
      expect(platformBilling.status, platformBilling.raw).toBe(422);
      expect(platformBilling.body.code).toBe('roles.unknown');
      const deltaExpiry = new Date(Date.now() + 24 * 3600_000).toISOString();
      const delta = await mint(a.tenantId, 'delta', ['billing'], deltaExpiry);
      const t3 = await between();
      // A short life: a few hundred ms from now.
      const gammaExpiry = new Date(Date.now() + 800).toISOString();
      const gamma = await mint(a.tenantId, 'gamma', ['billing', 'auditor', 'auditor'], gammaExpiry);
      const t4 = await between();
      const revoked = await t().admin.delete(`/api/v1/tokens/${beta}`);
      expect(revoked.status, revoked.raw).toBe(200);
      expect(revoked.body.revokedAt).toEqual(expect.any(String));
      const t5 = await between();
      // The test relies on gamma still being alive until here.
      expect(t5 < gammaExpiry, `too slow: ${t5} is past gamma's expiry ${gammaExpiry}`).toBe(true);
      while (Date.now() <= Date.parse(gammaExpiry) + 20) await sleep(25);
      const t6 = await between();
      expect(gammaExpiry <= t6).toBe(true);

      // When each token entered and (for beta) left the log.
      const entries = await allEntries(a.api);
      const timeOf = (action: string, id: string): string => {
        const found = entries.filter((e) => e.action === action && e.target.id === id);
        expect(found, `${action} ${id}`).toHaveLength(1);
        return (found[0] as Entry).time;
      };
      const created = entries.filter((e) => e.action === 'token.created').map((e) => e.target.id as string);
      // The tenant's own test token (minted by newTenant, role tenant-admin) came first; the others are ours.
      expect(created.slice(1)).toEqual([alpha, beta, delta, gamma]);
      const own = created[0] as string;
      expect(created).not.toContain(bToken);
      expect(created).not.toContain(platformToken);
      const since = {
        [own]: timeOf('token.created', own),
        [alpha]: timeOf('token.created', alpha),
        [beta]: timeOf('token.created', beta),
        [delta]: timeOf('token.created', delta),
        [gamma]: timeOf('token.created', gamma),
      };
      const betaRevokedAt = timeOf('token.revoked', beta);
      expect(betaRevokedAt > t4 && betaRevokedAt < t5).toBe(true);

      const holder = (id: string): RoleHolder => ({
        tokenId: id,
        since: since[id] as string,
        ...(id === gamma ? { expiresAt: gammaExpiry } : id === delta ? { expiresAt: deltaExpiry } : {}),
      });
      const expected = (ids: string[]) => ids.map(holder).sort((x, y) => (x.tokenId < y.tokenId ? -1 : 1));

      const cases: { step: string; at: string; auditor: string[]; billing: string[] }[] = [
        { step: 'before any', at: t0, auditor: [], billing: [] },
        { step: 'just before alpha', at: shift(since[alpha] as string, -1), auditor: [], billing: [] },
        {
          step: 'the instant alpha was minted',
          at: since[alpha] as string,
          auditor: [alpha],
          billing: [alpha],
        },
        { step: 'after alpha', at: t1, auditor: [alpha], billing: [alpha] },
        { step: 'after beta', at: t2, auditor: [alpha, beta], billing: [alpha] },
        { step: 'after delta', at: t3, auditor: [alpha, beta], billing: [alpha, delta] },
        { step: 'after gamma', at: t4, auditor: [alpha, beta, gamma], billing: [alpha, delta, gamma] },
        {
          step: 'just before the revocation',
          at: shift(betaRevokedAt, -1),
          auditor: [alpha, beta, gamma],
          billing: [alpha, delta, gamma],
        },
        {
          step: 'the instant beta was revoked',
          at: betaRevokedAt,
          auditor: [alpha, gamma],
          billing: [alpha, delta, gamma],
        },
        { step: 'after the revocation', at: t5, auditor: [alpha, gamma], billing: [alpha, delta, gamma] },
        {
          step: 'just before gamma expired',
          at: shift(gammaExpiry, -1),
          auditor: [alpha, gamma],
          billing: [alpha, delta, gamma],
        },
        { step: 'the instant gamma expired', at: gammaExpiry, auditor: [alpha], billing: [alpha, delta] },
        { step: 'after the expiry', at: t6, auditor: [alpha], billing: [alpha, delta] },
        {
          step: 'long after',
          at: '2999-01-01T00:00:00.000Z',
          auditor: [alpha],
          billing: [alpha],
        },
      ];
      for (const { step, at, auditor, billing } of cases) {
        expect(await roleHolders(a.api, 'auditor', at), `auditor ${step} (${at})`).toEqual(expected(auditor));
        expect(await roleHolders(a.api, 'billing', at), `billing ${step} (${at})`).toEqual(expected(billing));
        // The tenant's own token holds tenant-admin throughout (it existed before t0); ours never do.
        expect(await roleHolders(a.api, 'tenant-admin', at), `tenant-admin ${step}`).toEqual(expected([own]));
        expect(await roleHolders(a.api, 'nobody', at), `nobody ${step}`).toEqual([]);
      }

      // The same instant written with an offset is the same answer.
      const offset = new Date(Date.parse(t4) + 2 * 3600_000).toISOString().replace('Z', '+02:00');
      expect(await roleHolders(a.api, 'auditor', offset)).toEqual(expected([alpha, beta, gamma]));
      // The platform acting on the tenant sees the same answer.
      for (const { at, auditor } of cases) {
        expect(await roleHolders(t().admin, 'auditor', at, { 'roster-tenant': a.tenantId })).toEqual(
          expected(auditor),
        );
      }

      // The other tenant sees only its own token: never A's, never the platform's.
      const bSince = (await allEntries(b.api, {}, `action=token.created&targetId=${bToken}`)).map(
        (e) => e.time,
      );
      expect(bSince).toHaveLength(1);
      for (const role of ['auditor', 'billing']) {
        expect(await roleHolders(b.api, role, t6)).toEqual([{ tokenId: bToken, since: bSince[0] }]);
        expect(await roleHolders(b.api, role, t1)).toEqual([]);
      }
      const aIds = new Set([own, alpha, beta, gamma, delta]);
      for (const { at } of cases) {
        for (const role of ['auditor', 'billing', 'tenant-admin']) {
          const ids = (await roleHolders(a.api, role, at)).map((h) => h.tokenId);
          expect(ids).not.toContain(bToken);
          expect(ids).not.toContain(platformToken);
          for (const id of (await roleHolders(b.api, role, at)).map((h) => h.tokenId)) {
            expect(aIds.has(id), `${id} of tenant A in tenant B's answer`).toBe(false);
          }
        }
      }
      // Roster-Tenant does not widen a tenant token's scope: naming its own tenant changes nothing, naming
      // another is refused (403 naming tenants:act) and tells nothing of it.
      expect(await roleHolders(a.api, 'auditor', t6, { 'roster-tenant': a.tenantId })).toEqual(
        expected([alpha]),
      );
      const other = await a.api.get(`/api/v1/audit/holders?role=auditor&at=${encodeURIComponent(t6)}`, {
        'roster-tenant': b.tenantId,
      });
      expectProblem(other, 403, 'auth.forbidden');
      expect(other.body.permission).toBe('tenants:act');
      expect(other.raw).not.toContain(bToken);
      expect(other.raw).not.toContain(alpha);
    });

    it('role: 400 with product or group beside it, with none of the three, without `at`, or with an empty role', async () => {
      const { api } = await t().newTenant();
      const g = await api.post('/api/v1/groups', { displayName: `Roles-${randomUUID()}` });
      expect(g.status, g.raw).toBe(201);
      const at = encodeURIComponent(new Date().toISOString());
      // The well-formed query answers.
      expect((await api.get(`/api/v1/audit/holders?role=auditor&at=${at}`)).status).toBe(200);
      for (const q of [
        `role=auditor&product=SKU-1&at=${at}`,
        `product=SKU-1&role=auditor&at=${at}`,
        `role=auditor&group=${g.body.id}&at=${at}`,
        `role=auditor&product=SKU-1&group=${g.body.id}&at=${at}`,
        `at=${at}`,
        'role=auditor',
        'role=auditor&at=',
        'role=auditor&at=yesterday',
        `role=&at=${at}`,
      ]) {
        expectProblem(await api.get(`/api/v1/audit/holders?${q}`), 400, 'request.invalid_parameter');
      }
    });
  });
});
