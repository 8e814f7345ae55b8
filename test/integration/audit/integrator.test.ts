/**
 * The audit integrator under the conditions of a real deployment: two nodes integrating the same store while
 * writers append, a round that fails half-way, a server killed with SIGKILL and restarted, transactions that
 * commit out of sequence order, and the checkpoint cadence of a continuously growing log. Whatever happens,
 * every entry ends up at exactly one leaf position, each tree is 0..n-1 without holes, its stored nodes and
 * head are the RFC 6962 tree of the entries as stored, and every checkpoint is signed over a true root.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest';
import { verifyLive } from '../../../src/audit/export.js';
import { Integrator } from '../../../src/audit/integrator.js';
import { frontierRefs, leafHash, rootOf } from '../../../src/audit/merkle.js';
import { leafBytes, leafOf, treeOf } from '../../../src/audit/model.js';
import {
  generateSignerKey,
  NoteSigner,
  NoteVerifier,
  openNote,
  parseCheckpoint,
} from '../../../src/audit/note.js';
import { AuditLog } from '../../../src/audit/service.js';
import { getTree } from '../../../src/audit/tree-store.js';
import { systemClock } from '../../../src/platform/clock.js';
import type { Actor, Context } from '../../../src/platform/context.js';
import type { Db } from '../../../src/platform/db/index.js';
import { transact } from '../../../src/platform/db/tx.js';
import { createTestStore, describeEachStore, openTestDb, type TestStore } from '../../support/stores.js';
import {
  ADMIN_TOKEN,
  assertBuilt,
  childEnv,
  freePort,
  killAllRoster,
  newTenant,
  REPO_ROOT,
  request,
  runRoster,
  type Server,
  startServer,
} from '../cli/process.js';

const LOG_NAME = 'roster';
const ACTOR: Actor = { type: 'system', id: 'system', tenantId: null, roles: [] };
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(assertBuilt);
afterAll(killAllRoster);

function newKeys() {
  const { signerKey, verifierKey } = generateSignerKey(LOG_NAME);
  return {
    signerKey,
    signer: NoteSigner.fromSignerKey(signerKey),
    verifier: NoteVerifier.fromVerifierKey(verifierKey),
  };
}

function integratorOn(db: Db, signer: NoteSigner, options: { intervalMs?: number; batchSize?: number } = {}) {
  return new Integrator({
    db,
    clock: systemClock,
    signer,
    logName: LOG_NAME,
    checkpointIntervalMs: options.intervalMs ?? 100,
    ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
  });
}

const audit = new AuditLog({ clock: systemClock });

/** Appends `n` entries to `tenantId`'s log (null: the platform's) in one transaction. */
async function write(db: Db, tenantId: string | null, n: number, label = 'w'): Promise<void> {
  const ctx: Context = { actor: ACTOR, requestId: `${label}-${randomUUID()}` };
  await transact(db, (tx) =>
    audit.record(
      tx,
      ctx,
      tenantId,
      range(n).map((k) => ({
        action: 'test.written',
        targetType: 'test',
        targetId: `${label}-${k}`,
        before: null,
        after: { label, k },
      })),
    ),
  );
}

/** Rounds until one finds nothing left to integrate (waiting out another node's lock). */
async function drain(integrator: Integrator): Promise<void> {
  for (let i = 0; i < 10_000; i++) {
    const r = await integrator.round();
    if (r.locked && r.integrated === 0) return;
    if (!r.locked) await sleep(5);
  }
  throw new Error('the integrator never drained');
}

/** Everything the integrator wrote, for before/after comparisons. */
async function snapshot(db: Db) {
  const q = db.kysely;
  const entries = await q.selectFrom('audit_entries').select(['seq', 'leaf_index']).orderBy('seq').execute();
  const trees = await q.selectFrom('audit_trees').selectAll().orderBy('tree').execute();
  const nodes = await q
    .selectFrom('audit_nodes')
    .selectAll()
    .orderBy('tree')
    .orderBy('level')
    .orderBy('idx')
    .execute();
  const checkpoints = await q
    .selectFrom('audit_checkpoints')
    .selectAll()
    .orderBy('tree')
    .orderBy('size')
    .execute();
  const norm = (rows: Record<string, unknown>[]) =>
    rows.map((r) =>
      Object.fromEntries(
        Object.entries(r).map(([k, v]) => [
          k,
          v instanceof Uint8Array ? hex(v) : typeof v === 'bigint' ? Number(v) : v,
        ]),
      ),
    );
  return {
    entries: norm(entries),
    trees: norm(trees),
    nodes: norm(nodes),
    checkpoints: norm(checkpoints),
    pending: entries.filter((e) => e.leaf_index === null).length,
  };
}

/**
 * Checks the whole store: every entry integrated once, each tree's positions 0..n-1, its head and every
 * stored node recomputed from the entry rows, every checkpoint signed by `verifier` over the root of its
 * prefix, and `verifyLive` agrees. Returns the size of each tree. With `allowPending`, entries not yet
 * integrated are allowed and left out (the integrated part must still be whole).
 */
async function expectSound(
  db: Db,
  verifier: NoteVerifier,
  options: { allowPending?: boolean } = {},
): Promise<Map<string, number>> {
  const q = db.kysely;
  const all = await q.selectFrom('audit_entries').selectAll().orderBy('seq').execute();
  if (!options.allowPending) {
    expect(
      all.filter((r) => r.leaf_index === null).map((r) => r.seq),
      'entries without a leaf index',
    ).toEqual([]);
  }
  const rows = all.filter((r) => r.leaf_index !== null);
  const byTree = new Map<string, typeof rows>();
  for (const r of rows) {
    const tree = treeOf(r.tenant_id);
    byTree.set(tree, [...(byTree.get(tree) ?? []), r]);
  }
  const heads = await q.selectFrom('audit_trees').select('tree').execute();
  expect(heads.map((h) => h.tree).sort()).toEqual([...byTree.keys()].sort());

  const sizes = new Map<string, number>();
  for (const [tree, list] of byTree) {
    const sorted = [...list].sort((a, b) => Number(a.leaf_index) - Number(b.leaf_index));
    expect(
      sorted.map((r) => Number(r.leaf_index)),
      `leaf positions of ${tree}`,
    ).toEqual(range(sorted.length));
    const leaves = sorted.map((r) => leafHash(leafBytes(leafOf(r, Number(r.leaf_index)))));
    const n = leaves.length;
    sizes.set(tree, n);

    const head = await getTree(q, tree);
    expect(head?.size, `size of ${tree}`).toBe(n);
    expect(hex(head?.rootHash ?? new Uint8Array()), `root of ${tree}`).toBe(hex(rootOf(leaves)));

    // Exactly the perfect subtrees of the n leaves are stored, each with its true hash.
    const expected = new Map<string, string>();
    for (let level = 0; 2 ** level <= n; level++) {
      const width = 2 ** level;
      for (let idx = 0; (idx + 1) * width <= n; idx++) {
        expected.set(`${level}/${idx}`, hex(rootOf(leaves.slice(idx * width, (idx + 1) * width))));
      }
    }
    const stored = await q.selectFrom('audit_nodes').selectAll().where('tree', '=', tree).execute();
    const got = new Map(stored.map((s) => [`${s.level}/${Number(s.idx)}`, hex(s.hash)]));
    expect(got.size, `stored nodes of ${tree}`).toBe(stored.length);
    expect(got, `stored nodes of ${tree}`).toEqual(expected);

    const checkpoints = await q
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('tree', '=', tree)
      .orderBy('size')
      .execute();
    expect(checkpoints.length, `checkpoints of ${tree}`).toBeGreaterThan(0);
    for (const c of checkpoints) {
      const size = Number(c.size);
      const parsed = parseCheckpoint(openNote(c.note, [verifier]).text);
      expect(parsed.origin).toBe(`${LOG_NAME}/audit/${tree}`);
      expect(parsed.size).toBe(size);
      expect(size).toBeGreaterThan(0);
      expect(size).toBeLessThanOrEqual(n);
      expect(hex(parsed.rootHash), `checkpoint ${size} of ${tree}`).toBe(hex(rootOf(leaves.slice(0, size))));
      expect(hex(c.root_hash)).toBe(hex(parsed.rootHash));
      expect(parsed.extensions).toEqual([`time ${c.at}`]);
    }
    expect(head?.checkpointSize).toBe(Number(checkpoints.at(-1)?.size));
    await expect(verifyLive(q, tree, [verifier])).resolves.toMatchObject({ tree, entries: n });
  }
  return sizes;
}

/** A Node process acting as one Roster node: writers and an integrator on its own connection (from dist/). */
const NODE_SCRIPT = `
const env = process.env;
const dist = (p) => import(new URL(p, env.NODE_DIST).href);
const { openDatabase } = await dist('platform/db/index.js');
const { transact } = await dist('platform/db/tx.js');
const { AuditLog } = await dist('audit/service.js');
const { Integrator } = await dist('audit/integrator.js');
const { NoteSigner } = await dist('audit/note.js');
const { systemClock } = await dist('platform/clock.js');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const db = await openDatabase(env.NODE_DB_URL);
const integrator = new Integrator({
  db, clock: systemClock, signer: NoteSigner.fromSignerKey(env.NODE_SIGNER), logName: 'roster',
  checkpointIntervalMs: 100, batchSize: Number(env.NODE_BATCH),
});
const audit = new AuditLog({ clock: systemClock });
const tenants = JSON.parse(env.NODE_TENANTS);
const start = Number(env.NODE_START);
const until = start + Number(env.NODE_DURATION);
const actor = { type: 'system', id: 'system', tenantId: null, roles: [] };
const s = { entries: 0, rounds: 0, lockedOut: 0, integrated: 0, signed: 0, errors: [] };
while (Date.now() < start) await sleep(2);
const writer = async (w) => {
  for (let i = 0; Date.now() < until; i++) {
    const tenant = tenants[(w * 7 + i) % tenants.length];
    const n = 1 + (i % 3);
    const records = Array.from({ length: n }, (_, k) => ({
      action: 'test.written', targetType: 'test', targetId: env.NODE_NAME + '-' + w + '-' + i + '-' + k,
      before: null, after: { node: env.NODE_NAME, w, i, k },
    }));
    try {
      await transact(db, (tx) => audit.record(tx, { actor, requestId: env.NODE_NAME + '-' + w + '-' + i }, tenant, records));
      s.entries += n;
    } catch (err) { s.errors.push('write: ' + String(err && err.stack || err)); }
    await sleep(Math.random() * 3);
  }
};
const round = async () => {
  const r = await integrator.round();
  s.rounds++;
  if (!r.locked) s.lockedOut++;
  s.integrated += r.integrated;
  s.signed += r.signed;
  return r;
};
const integrate = async () => {
  while (Date.now() < until) {
    try { await round(); } catch (err) { s.errors.push('round: ' + String(err && err.stack || err)); }
    await sleep(Math.random() * 2);
  }
};
await Promise.all([writer(0), writer(1), writer(2), integrate()]);
// This node's writes are all committed: integrate until nothing is pending.
for (let i = 0; i < 100000; i++) {
  try {
    const r = await round();
    if (r.locked && r.integrated === 0) break;
    if (!r.locked) await sleep(3);
  } catch (err) { s.errors.push('final round: ' + String(err && err.stack || err)); await sleep(10); }
}
await db.close();
process.stdout.write(JSON.stringify(s) + '\\n');
`;

interface NodeStats {
  entries: number;
  rounds: number;
  lockedOut: number;
  integrated: number;
  signed: number;
  errors: string[];
}

function runNode(env: Record<string, string>, timeoutMs: number): Promise<NodeStats> {
  return new Promise((resolveRun, rejectRun) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', NODE_SCRIPT], {
      env: childEnv(env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectRun(new Error(`node ${env.NODE_NAME} did not finish in ${timeoutMs} ms\n${out}\n${err}`));
    }, timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) {
        rejectRun(new Error(`node ${env.NODE_NAME} exited ${code}\n${out}\n${err}`));
        return;
      }
      try {
        resolveRun(JSON.parse(out.trim().split('\n').at(-1) ?? '') as NodeStats);
      } catch {
        rejectRun(new Error(`node ${env.NODE_NAME} printed no stats\n${out}\n${err}`));
      }
    });
  });
}

describeEachStore('audit integrator', (kind) => {
  let store: TestStore | undefined;
  const dbs: Db[] = [];
  const st = () => store as TestStore;
  async function open(): Promise<Db> {
    const db = dbs.length === 0 ? await openTestDb(st()) : await st().open();
    dbs.push(db);
    return db;
  }

  beforeEach(() => {
    store = createTestStore(kind);
  });
  afterEach(async () => {
    await killAllRoster();
    for (const db of dbs.splice(0)) await db.close();
    await store?.drop();
    store = undefined;
  });

  it('two nodes integrating while writers append: every entry at exactly one position, trees sound, checkpoints verify', async () => {
    const db = await open();
    const keys = newKeys();
    const tenants = [randomUUID(), randomUUID(), randomUUID(), null];
    const base = {
      NODE_DIST: `${pathToFileURL(join(REPO_ROOT, 'dist')).href}/`,
      NODE_DB_URL: st().url,
      NODE_SIGNER: keys.signerKey,
      NODE_TENANTS: JSON.stringify(tenants),
      // Both nodes start together, whatever their start-up time.
      NODE_START: String(Date.now() + 2500),
      NODE_DURATION: '3000',
      NODE_BATCH: '13',
    };
    const stats = await Promise.all(['a', 'b'].map((name) => runNode({ ...base, NODE_NAME: name }, 50_000)));
    for (const s of stats) expect(s.errors, 'errors in a node').toEqual([]);
    const [a, b] = stats as [NodeStats, NodeStats];
    const written = a.entries + b.entries;
    expect(written).toBeGreaterThan(200);
    // Both nodes integrated, and together each entry exactly once.
    expect(a.integrated).toBeGreaterThan(0);
    expect(b.integrated).toBeGreaterThan(0);
    expect(a.integrated + b.integrated).toBe(written);
    if (kind === 'postgres') {
      // The advisory lock turned one node away while the other held it.
      expect(a.lockedOut + b.lockedOut).toBeGreaterThan(0);
    }
    const sizes = await expectSound(db, keys.verifier);
    expect([...sizes.values()].reduce((x, y) => x + y, 0)).toBe(written);
    expect(sizes.size).toBe(4);
    // Each entry is where its node wrote it.
    const rows = await db.kysely.selectFrom('audit_entries').select(['tenant_id', 'after']).execute();
    expect(rows.filter((r) => r.after === null || !r.after.includes('"node"'))).toEqual([]);
  }, 90_000);

  // PostgreSQL only: SQLite serialises writers, so neither situation can arise there.
  if (kind === 'postgres')
    it('two integrators on two connections in one process take turns under the advisory lock', async () => {
      const db1 = await open();
      const db2 = await open();
      const keys = newKeys();
      const one = integratorOn(db1, keys.signer, { batchSize: 5 });
      const two = integratorOn(db2, keys.signer, { batchSize: 5 });
      const tenant = randomUUID();
      let stop = false;
      const tally = { rounds: 0, lockedOut: 0, integrated: 0 };
      const loop = async (i: Integrator) => {
        while (!stop) {
          const r = await i.round();
          tally.rounds++;
          if (!r.locked) tally.lockedOut++;
          tally.integrated += r.integrated;
        }
      };
      const writers = (async () => {
        for (let i = 0; i < 150; i++)
          await write(i % 2 ? db1 : db2, i % 3 ? tenant : null, 1 + (i % 4), `p${i}`);
      })();
      const loops = [loop(one), loop(two)];
      await writers;
      stop = true;
      await Promise.all(loops);
      await drain(one);
      expect(tally.lockedOut).toBeGreaterThan(0);
      const sizes = await expectSound(db1, keys.verifier);
      expect([...sizes.values()].reduce((x, y) => x + y, 0)).toBe(
        range(150).reduce((s, i) => s + 1 + (i % 4), 0),
      );
    });

  it('a round that fails half-way leaves nothing behind, and the next round integrates everything', async () => {
    const db = await open();
    const keys = newKeys();
    const integrator = integratorOn(db, keys.signer);
    const [a, b] = [randomUUID(), randomUUID()];
    await write(db, a, 5, 'a1');
    await write(db, b, 3, 'b1');
    await drain(integrator);
    expect((await getTree(db.kysely, b))?.size).toBe(3);

    // Pending: tree a first (it is appended first in the round), then tree b, whose right edge is damaged.
    await write(db, a, 4, 'a2');
    await write(db, b, 3, 'b2');
    await write(db, null, 2, 'p2');
    const [edge] = frontierRefs(3);
    expect(edge).toEqual({ level: 1, index: 0 });
    const victim = await db.kysely
      .selectFrom('audit_nodes')
      .selectAll()
      .where('tree', '=', b)
      .where('level', '=', 1)
      .where('idx', '=', 0)
      .executeTakeFirstOrThrow();
    await db.kysely
      .deleteFrom('audit_nodes')
      .where('tree', '=', b)
      .where('level', '=', 1)
      .where('idx', '=', 0)
      .execute();
    const before = await snapshot(db);
    expect(before.pending).toBe(9);

    await expect(integrator.round()).rejects.toThrow(/stored node 1\/0 is missing/);
    await expect(integrator.catchUp(a, 2000)).rejects.toThrow(/stored node 1\/0 is missing/);
    // Tree a was appended in the failed round before tree b failed: none of it stayed.
    expect(await snapshot(db)).toEqual(before);

    await db.kysely.insertInto('audit_nodes').values(victim).execute();
    const r = await integrator.round();
    expect(r).toMatchObject({ locked: true, integrated: 9 });
    const sizes = await expectSound(db, keys.verifier);
    expect(Object.fromEntries(sizes)).toEqual({ [a]: 9, [b]: 6, platform: 2 });
  });

  it('a round that fails while signing, after appending, leaves nothing behind either', async () => {
    const db = await open();
    const keys = newKeys();
    const good = integratorOn(db, keys.signer);
    const a = randomUUID();
    await write(db, a, 3, 'a1');
    await drain(good);
    await write(db, a, 6, 'a2');
    await write(db, null, 1, 'p');
    const before = await snapshot(db);

    // A signer that fails (a key that cannot be used, say): the round dies after every append.
    let calls = 0;
    const failing = new Proxy(keys.signer, {
      get(target, prop) {
        if (prop === 'sign')
          return () => {
            calls++;
            throw new Error('signing failed');
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    const broken = integratorOn(db, failing);
    await expect(broken.round([a])).rejects.toThrow(/signing failed/);
    expect(calls).toBe(1);
    expect(await snapshot(db)).toEqual(before);

    await expect(good.catchUp(a)).resolves.toMatchObject({ size: 9 });
    const sizes = await expectSound(db, keys.verifier);
    expect(Object.fromEntries(sizes)).toEqual({ [a]: 9, platform: 1 });
  });

  it('a server killed with SIGKILL under load and restarted integrates every entry exactly once; audit verify --live passes', async () => {
    const port = await freePort();
    const env = {
      ROSTER_DATABASE_URL: st().url,
      ROSTER_KEY_FILE: join(st().dir, 'roster.key'),
      ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
      ROSTER_LOG_LEVEL: 'warn',
      ROSTER_RATE_LIMIT_TENANT: '0',
      ROSTER_RATE_LIMIT_GLOBAL: '0',
      ROSTER_HOST: '127.0.0.1',
      ROSTER_PORT: String(port),
      ROSTER_AUDIT_CHECKPOINT_INTERVAL: '0.1',
    };
    const start = (): Promise<Server> =>
      startServer(['serve'], { cwd: st().dir, env, baseUrl: `http://127.0.0.1:${port}`, timeoutMs: 30_000 });

    let server = await start();
    const { tenantId, token } = await newTenant(server.baseUrl, ADMIN_TOKEN, `crash-${randomUUID()}`);
    const created = new Set<string>();

    /** Concurrent user creations; SIGKILL once `killAfter` of them were answered 201. */
    const load = async (s: Server, total: number, killAfter: number) => {
      let ok = 0;
      let next = 0;
      const worker = async () => {
        while (next < total) {
          const i = next++;
          try {
            const res = await request(s.baseUrl, 'POST', '/api/v1/users', {
              token,
              body: { userName: `crash-${i}-${randomUUID()}` },
            });
            if (res.status === 201) {
              created.add(res.body.id);
              if (++ok === killAfter) s.proc.signal('SIGKILL');
            }
          } catch {
            // cut off by the kill
          }
        }
      };
      await Promise.all(range(24).map(worker));
      return ok;
    };

    const verifier = () =>
      NoteVerifier.fromVerifierKey(
        NoteSigner.fromSignerKey(readFileSync(join(st().dir, 'audit.key'), 'utf8').trim()).verifierKey(),
      );
    const db = await open();
    let pendingAtKill = 0;
    for (const round of [0, 1]) {
      const ok = await load(server, 3000, 250 + round * 100);
      const exit = await server.proc.waitForExit(10_000);
      expect(exit.signal, 'the server died of the SIGKILL').toBe('SIGKILL');
      expect(ok).toBeGreaterThanOrEqual(250);
      // What the killed server left is whole: the integrated part of each tree is sound, the rest pending.
      pendingAtKill += (await snapshot(db)).pending;
      await expectSound(db, verifier(), { allowPending: true });
      server = await start();
    }
    // The kills left entries for the restarted servers to integrate (else this test resumes nothing).
    expect(pendingAtKill).toBeGreaterThan(0);
    // A last calm stretch on the restarted server.
    expect(await load(server, 40, -1)).toBe(40);

    // The restarted server integrates and signs whatever the killed ones left.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const s = await snapshot(db);
      const trees = s.trees as { size: number; checkpoint_size: number }[];
      if (s.pending === 0 && trees.length === 2 && trees.every((t) => t.checkpoint_size === t.size)) break;
      if (Date.now() > deadline) throw new Error(`not integrated in time: ${s.pending} pending`);
      await sleep(100);
    }
    await server.proc.kill();

    const cliEnv = { ROSTER_DATABASE_URL: env.ROSTER_DATABASE_URL, ROSTER_KEY_FILE: env.ROSTER_KEY_FILE };
    const verify = await runRoster(['audit', 'verify', '--live'], {
      cwd: st().dir,
      env: cliEnv,
      timeoutMs: 60_000,
    });
    expect(verify.code, `${verify.stdout}\n${verify.stderr}`).toBe(0);
    expect(verify.stdout).not.toContain('FAILED');
    expect(verify.stdout).toMatch(/^OK: platform: \d+ entries, \d+ checkpoints$/m);
    expect(verify.stdout).toMatch(
      new RegExp(`^OK: tenant ${tenantId}: \\d+ entries, \\d+ checkpoints$`, 'm'),
    );

    const sizes = await expectSound(db, verifier());
    // Every acknowledged creation is in the log once; every user in the store has its entry.
    const userCreated = await db.kysely
      .selectFrom('audit_entries')
      .select(['target_id', 'leaf_index'])
      .where('tenant_id', '=', tenantId)
      .where('action', '=', 'user.created')
      .execute();
    const ids = userCreated.map((r) => r.target_id as string);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of created) expect(ids).toContain(id);
    const users = await db.kysely
      .selectFrom('users')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .execute();
    expect(ids.sort()).toEqual(users.map((u) => u.id).sort());
    expect(sizes.get(tenantId)).toBe(ids.length + 1);
  }, 150_000);

  // PostgreSQL only: SQLite serialises writers, so neither situation can arise there.
  if (kind === 'postgres')
    it('an entry whose transaction commits after a later one is integrated when it commits, none is skipped', async () => {
      const db = await open();
      const keys = newKeys();
      const integrator = integratorOn(db, keys.signer);
      const tenant = randomUUID();
      await write(db, tenant, 2, 'first');
      await drain(integrator);

      let inserted!: () => void;
      let release!: () => void;
      const wasInserted = new Promise<void>((r) => {
        inserted = r;
      });
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const slow = transact(db, async (tx) => {
        await audit.record(tx, { actor: ACTOR, requestId: 'slow' }, tenant, [
          { action: 'test.slow', targetType: 'test', targetId: 'slow', before: null, after: null },
        ]);
        inserted();
        await gate;
      });
      await wasInserted;
      await write(db, tenant, 1, 'fast');
      // The slow transaction is still open: the round integrates the fast entry and does not wait for it.
      expect(await integrator.round([tenant])).toMatchObject({ locked: true, integrated: 1 });
      release();
      await slow;
      expect(await integrator.round([tenant])).toMatchObject({ locked: true, integrated: 1 });

      const rows = await db.kysely
        .selectFrom('audit_entries')
        .select(['seq', 'leaf_index', 'action'])
        .where('tenant_id', '=', tenant)
        .orderBy('seq')
        .execute();
      expect(rows.map((r) => [r.action, r.leaf_index])).toEqual([
        ['test.written', 0],
        ['test.written', 1],
        ['test.slow', 3],
        ['test.written', 2],
      ]);
      await expectSound(db, keys.verifier);
    });

  it('many transactions committing in any order while rounds run: every entry integrated once', async () => {
    const db = await open();
    const keys = newKeys();
    // On PostgreSQL the integrator has its own pool, as another node would: the writers' open transactions
    // do not hold it back. (Two SQLite connections in one process would only wait on each other.)
    const integrator = integratorOn(kind === 'postgres' ? await open() : db, keys.signer, { batchSize: 4 });
    const tenant = randomUUID();
    // (Whether some commits land out of seq order here depends on scheduling; the test above forces it.)
    let stop = false;
    const rounds = (async () => {
      while (!stop) {
        await integrator.round();
        await sleep(1);
      }
    })();
    await Promise.all(
      range(60).map(async (i) => {
        await sleep(Math.random() * 300);
        await transact(db, async (tx) => {
          await audit.record(tx, { actor: ACTOR, requestId: `tx-${i}` }, i % 5 ? tenant : null, [
            { action: 'test.tx', targetType: 'test', targetId: String(i), before: null, after: { i } },
          ]);
          await sleep(Math.random() * 30);
        });
      }),
    );
    stop = true;
    await rounds;
    await drain(integrator);
    const sizes = await expectSound(db, keys.verifier);
    expect(sizes.get(tenant)).toBe(48);
    expect(sizes.get('platform')).toBe(12);
  });

  it('while the log grows for 3 s with a 0.5 s interval, checkpoints are 0.5 to 1.5 s apart and the last covers everything', async () => {
    const db = await open();
    const keys = newKeys();
    const integrator = integratorOn(db, keys.signer, { intervalMs: 500 });
    const tenant = randomUUID();
    integrator.start();
    const began = Date.now();
    let written = 0;
    while (Date.now() - began < 3000) {
      await write(db, tenant, 1 + (written % 2), 'grow');
      written += 1 + (written % 2);
      await sleep(15);
    }
    const final = await integrator.catchUp(tenant);
    await integrator.stop();
    const total = written;
    expect(final?.size).toBe(total);

    const checkpoints = await db.kysely
      .selectFrom('audit_checkpoints')
      .selectAll()
      .where('tree', '=', tenant)
      .orderBy('size')
      .execute();
    const times = checkpoints.map((c) => Date.parse(c.at));
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    // A gap is the interval, plus up to one poll (200 ms) and one round, plus the event-loop delay of a loaded
    // 2-core CI machine: 1.5 s bounds it (the contract is at most 10 s). 3 s at one every 0.5-1.5 s, plus the
    // first and the forced last one.
    expect(checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(checkpoints.length).toBeLessThanOrEqual(8);
    expect(Date.parse(checkpoints[0]?.at ?? '') - began).toBeLessThan(1500);
    for (const [i, gap] of gaps.entries()) {
      expect(gap, `gap ${i} of ${JSON.stringify(gaps)}`).toBeLessThanOrEqual(1500);
      // Not more often than the interval, but for the last one, forced by catchUp.
      if (i < gaps.length - 1) expect(gap, `gap ${i} of ${JSON.stringify(gaps)}`).toBeGreaterThanOrEqual(500);
    }
    expect(Number(checkpoints.at(-1)?.size)).toBe(total);
    expect(checkpoints.at(-1)?.note).toBe(final?.note);
    await expectSound(db, keys.verifier);
  });
});
