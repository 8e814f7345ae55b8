// Audit-log proofs benchmark (issue 7's criterion: "proof generation on a log of 1,000,000 entries: p99 under
// 5 ms"). For each store it builds one tenant tree of N entries quickly (bulk multi-row inserts into
// audit_entries, then Roster's own Integrator integrates them, timed), checks the tree against an independent
// in-memory rebuild from the stored leaf hashes and against the signed checkpoint, then measures AuditProofs
// (dist/audit/proofs.js) one call at a time:
//   - inclusion proofs of random leaves in the full tree,
//   - consistency proofs between random sizes (1 <= from <= to <= size),
//   - inclusion proofs at random (index, size) pairs,
// and, optionally, the same two endpoints over HTTP (buildApp + app.http.inject, a tenant token).
// Every proof is verified (verifyInclusion / verifyConsistency from dist/audit/merkle.js) against roots
// computed independently of the stored interior nodes, and every proved leaf hash against its entry's row;
// a proof that does not verify makes the script exit 1 (after writing the results).
//
// Usage: node bench/audit.js [--dist <compiled Roster, default dist/>]   (`npm run bench` runs it too: part
// `audit` of BENCH_PARTS, with run.js's snapshot of dist/). Settings (environment):
//   BENCH_AUDIT_ENTRIES=1000000  entries in the tenant tree (BENCH_QUICK=1: 100000)
//   BENCH_AUDIT_PROOFS=2000      proofs measured per kind (BENCH_QUICK=1: 500), after 100 unmeasured ones
//   BENCH_AUDIT_HTTP=1000        requests per endpoint over app.http.inject (0: skip; BENCH_QUICK=1: 200)
//   BENCH_AUDIT_BATCH=20000      the Integrator's batchSize (entries per integration round/transaction)
//   BENCH_AUDIT_TARGET_MS=5      the p99 target per proof kind
//   BENCH_AUDIT_TIME_LIMIT=30    seconds at most per measured set (a proof kind, an endpoint): a store whose
//                                proofs are slow stops early (reported), instead of holding the bench for hours
//   BENCH_AUDIT_SEED=<n>         seed of the random indexes and sizes (default: random, recorded)
//   BENCH_AUDIT_PROFILE=1        CPU-profile (in process) the integration and the proof phases; summaries in
//                                the output, .cpuprofile files under BENCH_OUT/profiles
//   BENCH_STORES=sqlite,postgres BENCH_OUT=.tmp/bench   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test
//   BENCH_PRIORITY=-10           nice value for this process (not PostgreSQL), as in run.js
// The SQLite store is a file in BENCH_OUT, the PostgreSQL store a schema bench_audit_<random>; both are
// removed at the end. Writes BENCH_OUT/audit.json and BENCH_OUT/audit.md; prints the markdown on stdout and
// the progress on stderr. Exit codes: 0 measured (whether or not the target was met), 1 a proof or a check
// failed or a store could not be measured, 2 bad settings.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PerformanceObserver } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { CpuMeter, fmt, machineInfo, PG_URL, postgresReachable, prioritise, quantile, ROOT } from './lib.js';
import { profileMarkdown, summariseProfile } from './profile-summary.js';

const { values: argv } = parseArgs({ options: { dist: { type: 'string', default: join(ROOT, 'dist') } } });
const env = process.env;
const quick = env.BENCH_QUICK === '1';
const num = (name, fallback) => {
  const v = Number(env[name] ?? fallback);
  if (!Number.isSafeInteger(v) || v < 0) {
    process.stderr.write(`${name} must be a non-negative integer\n`);
    process.exit(2);
  }
  return v;
};
const cfg = {
  entries: num('BENCH_AUDIT_ENTRIES', quick ? 100_000 : 1_000_000),
  proofs: num('BENCH_AUDIT_PROOFS', quick ? 500 : 2000),
  http: num('BENCH_AUDIT_HTTP', quick ? 200 : 1000),
  batch: num('BENCH_AUDIT_BATCH', 20_000),
  targetMs: Number(env.BENCH_AUDIT_TARGET_MS ?? 5),
  seed: num('BENCH_AUDIT_SEED', randomBytes(4).readUInt32BE(0)),
  timeLimit: num('BENCH_AUDIT_TIME_LIMIT', 30),
  profile: env.BENCH_AUDIT_PROFILE === '1',
  stores: (env.BENCH_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim()),
  out: join(ROOT, env.BENCH_OUT ?? '.tmp/bench'),
  dist: argv.dist,
};
const WARMUP = 100;
const WARMUP_SECONDS = 5;
const TARGET_ENTRIES = 1_000_000;
const ADMIN_TOKEN = `bench-admin-${randomBytes(16).toString('hex')}`;
const LOG_NAME = 'roster';

const log = (msg) => process.stderr.write(`${msg}\n`);
const seconds = (t0) => (performance.now() - t0) / 1000;
const int = (x) => Math.round(x).toLocaleString('en-US');

if (!existsSync(join(cfg.dist, 'audit/proofs.js'))) {
  log(`${cfg.dist}/audit/proofs.js is missing: run npm run build first`);
  process.exit(2);
}
if (cfg.entries < 1 || cfg.batch < 1 || cfg.proofs < 1) {
  log('BENCH_AUDIT_ENTRIES, BENCH_AUDIT_BATCH and BENCH_AUDIT_PROOFS must be at least 1');
  process.exit(2);
}

// Roster's compiled code.
const load = (path) => import(pathToFileURL(join(cfg.dist, path)).href);
const { openDatabase } = await load('platform/db/index.js');
const { migrateToLatest } = await load('platform/db/migrations.js');
const { Integrator, originOf } = await load('audit/integrator.js');
const { AuditProofs } = await load('audit/proofs.js');
const { verifyInclusion, verifyConsistency } = await load('audit/merkle.js');
const { generateSignerKey, NoteSigner, NoteVerifier, openNote, parseCheckpoint } =
  await load('audit/note.js');
const { leafOf, leafBytes } = await load('audit/model.js');
const { buildApp } = await load('main.js');
const { loadConfig } = await load('platform/config.js');
const { systemClock } = await load('platform/clock.js');

// ---- random numbers (seeded, so that a run can be repeated)

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- an independent Merkle tree (RFC 6962), from the stored leaf hashes only

const sha = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const ONE = Buffer.of(1);
const ZERO = Buffer.of(0);

/** All perfect levels over `n` leaf hashes (level 0 = a buffer of n * 32 bytes). */
function buildLevels(level0, n) {
  const levels = [level0];
  let cur = level0;
  let count = n;
  while (count > 1) {
    const next = Math.floor(count / 2);
    const buf = Buffer.allocUnsafe(next * 32);
    for (let i = 0; i < next; i++) sha(ONE, cur.subarray(64 * i, 64 * i + 64)).copy(buf, 32 * i);
    levels.push(buf);
    cur = buf;
    count = next;
  }
  return levels;
}

/** MTH of the first `size` leaves: the perfect subtrees of size's binary decomposition, folded from the right. */
function rootOfSize(levels, size) {
  if (size === 0) return sha();
  const parts = [];
  let start = 0;
  while (start < size) {
    let level = 0;
    while (2 ** (level + 1) <= size - start) level++;
    const idx = start / 2 ** level;
    parts.push(levels[level].subarray(32 * idx, 32 * idx + 32));
    start += 2 ** level;
  }
  let acc = parts[parts.length - 1];
  for (let i = parts.length - 2; i >= 0; i--) acc = sha(ONE, parts[i], acc);
  return acc;
}

const equal = (a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

// ---- stores

function newAuditStore(kind) {
  const dir = mkdtempSync(join(tmpdir(), 'roster-bench-audit-'));
  const tag = randomBytes(5).toString('hex');
  const base = { kind, dir, keyFile: join(dir, 'roster.key'), auditKeyFile: join(dir, 'audit.key') };
  if (kind === 'sqlite') {
    mkdirSync(cfg.out, { recursive: true });
    const file = join(cfg.out, `audit-${tag}.db`);
    return {
      ...base,
      file,
      url: `sqlite:${file}`,
      async drop() {
        for (const f of [file, `${file}-wal`, `${file}-shm`]) rmSync(f, { force: true });
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const schema = `bench_audit_${tag}`;
  const sep = PG_URL.includes('?') ? '&' : '?';
  return {
    ...base,
    schema,
    url: `${PG_URL}${sep}schema=${schema}&application_name=${schema}`,
    async drop() {
      rmSync(dir, { recursive: true, force: true });
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(`drop schema if exists ${schema} cascade`);
      } finally {
        await client.end();
      }
    },
  };
}

/** A raw connection to the store (outside Roster), for the bulk load and the checks. */
async function rawConnection(store) {
  if (store.kind === 'sqlite') {
    const { default: SQLite } = await import('better-sqlite3');
    const db = new SQLite(store.file);
    db.pragma('journal_mode = WAL');
    db.pragma('busy_timeout = 5000');
    return {
      kind: 'sqlite',
      db,
      all: async (text, params = []) => db.prepare(text).all(...params),
      close: async () => db.close(),
    };
  }
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${store.schema}` });
  await client.connect();
  return {
    kind: 'postgres',
    client,
    all: async (text, params = []) => (await client.query(text, params)).rows,
    close: () => client.end(),
  };
}

function appConfig(store) {
  return loadConfig({
    ROSTER_DATABASE_URL: store.url,
    ROSTER_KEY_FILE: store.keyFile,
    ROSTER_AUDIT_KEY_FILE: store.auditKeyFile,
    ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
    ROSTER_LOG_LEVEL: 'warn',
    ROSTER_RATE_LIMIT_TENANT: '0',
    ROSTER_RATE_LIMIT_GLOBAL: '0',
  });
}

async function inject(app, method, url, token, body) {
  const res = await app.http.inject({
    method,
    url,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return res;
}

/** A tenant and a tenant token, created through Roster itself (its audit entries go to the log too). */
async function createTenant(store, db) {
  const app = await buildApp(appConfig(store), { db });
  try {
    const t = await inject(app, 'POST', '/api/v1/tenants', ADMIN_TOKEN, { name: 'Audit bench' });
    if (t.statusCode !== 201) throw new Error(`POST /api/v1/tenants answered ${t.statusCode}: ${t.body}`);
    const tenantId = JSON.parse(t.body).id;
    const k = await inject(app, 'POST', '/api/v1/tokens', ADMIN_TOKEN, {
      tenantId,
      name: 'audit-bench',
      roles: ['tenant-admin'],
    });
    if (k.statusCode !== 201) throw new Error(`POST /api/v1/tokens answered ${k.statusCode}: ${k.body}`);
    const { token, id: tokenId } = JSON.parse(k.body);
    return { tenantId, token, tokenId };
  } finally {
    await app.close();
  }
}

// ---- the bulk load: realistic entries (an onboarding's three: user.created, license.assigned, user.onboarded)

const USER_AFTER = (id) =>
  JSON.stringify({
    id,
    userName: '***',
    externalId: null,
    name: { givenName: '***', familyName: '***' },
    displayName: null,
    emails: ['***'],
    phoneNumbers: [],
    addresses: [],
    title: null,
    department: 'Engineering',
    location: { site: 's3', country: 'DE' },
    kind: 'employee',
    manager: null,
    active: true,
    status: 'active',
    version: 1,
  });
const POOL = { id: randomUUID(), name: 'site s3' };
const ASSIGNED = JSON.stringify({
  product: 'BENCH-SEAT',
  state: 'active',
  source: 'direct',
  pool: POOL,
  waitlistPosition: null,
});
const ONBOARDED = JSON.stringify({ products: [{ product: 'BENCH-SEAT', state: 'active' }] });

/** Rows `from` to `to - 1` as column arrays: at, action, target_id, after, request_id. */
function makeRows(from, to, t0) {
  const cols = { at: [], action: [], targetId: [], after: [], requestId: [] };
  let userId = '';
  let requestId = '';
  for (let i = from; i < to; i++) {
    const k = i % 3;
    if (k === 0 || i === from) {
      userId = randomUUID();
      requestId = randomUUID();
    }
    cols.at.push(new Date(t0 + i).toISOString());
    cols.action.push(k === 0 ? 'user.created' : k === 1 ? 'license.assigned' : 'user.onboarded');
    cols.targetId.push(userId);
    cols.after.push(k === 0 ? USER_AFTER(userId) : k === 1 ? ASSIGNED : ONBOARDED);
    cols.requestId.push(requestId);
  }
  return cols;
}

async function bulkLoad(store, tenantId, actor, n) {
  const raw = await rawConnection(store);
  const t0 = Date.now() - n; // one entry per millisecond, ending now
  const meter = new CpuMeter([]);
  const started = performance.now();
  const perTx = 100_000;
  let lastReport = started;
  try {
    if (raw.kind === 'sqlite') {
      // Set-up only: this connection does not need durable commits.
      raw.db.pragma('synchronous = OFF');
      const perStmt = 500;
      const stmt = (rows) =>
        raw.db.prepare(
          `insert into audit_entries (tenant_id, at, actor, action, target_type, target_id, before, after,
             request_id) values ${Array.from({ length: rows }, () => "(?, ?, ?, ?, 'user', ?, null, ?, ?)").join(', ')}`,
        );
      const full = stmt(perStmt);
      const insertRange = raw.db.transaction((from, to) => {
        const c = makeRows(from, to, t0);
        for (let s = 0; s < to - from; s += perStmt) {
          const e = Math.min(s + perStmt, to - from);
          const params = [];
          for (let i = s; i < e; i++) {
            params.push(tenantId, c.at[i], actor, c.action[i], c.targetId[i], c.after[i], c.requestId[i]);
          }
          (e - s === perStmt ? full : stmt(e - s)).run(...params);
        }
      });
      for (let from = 0; from < n; from += perTx) {
        insertRange(from, Math.min(n, from + perTx));
        lastReport = progress('  inserted', Math.min(n, from + perTx), n, started, lastReport);
      }
    } else {
      // One statement per 10,000 rows: the rows travel as 5 text arrays (unnest), 10 statements per transaction.
      const perStmt = 10_000;
      const text = `insert into audit_entries (tenant_id, at, actor, action, target_type, target_id, before,
          after, request_id)
        select $1, u.at, $2, u.action, 'user', u.target_id, null, u.after, u.request_id
        from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
          as u(at, action, target_id, after, request_id)`;
      for (let from = 0; from < n; from += perTx) {
        const to = Math.min(n, from + perTx);
        await raw.client.query('begin');
        for (let s = from; s < to; s += perStmt) {
          const c = makeRows(s, Math.min(to, s + perStmt), t0);
          await raw.client.query(text, [tenantId, actor, c.at, c.action, c.targetId, c.after, c.requestId]);
        }
        await raw.client.query('commit');
        lastReport = progress('  inserted', to, n, started, lastReport);
      }
      await raw.client.query('analyze audit_entries');
    }
  } finally {
    await raw.close();
  }
  const s = seconds(started);
  return { entries: n, seconds: s, rate: n / s, cpu: cpuOf(meter.read()) };
}

function progress(what, done, total, started, lastReport, extra = '') {
  const now = performance.now();
  if (done < total && now - lastReport < 2000) return lastReport;
  const s = (now - started) / 1000;
  log(`${what} ${int(done)} / ${int(total)} (${int(done / s)}/s, ${s.toFixed(1)} s)${extra}`);
  return now;
}

// ---- CPU profiles (in process, only with BENCH_AUDIT_PROFILE=1)

async function profiled(name, fn) {
  if (!cfg.profile) return { result: await fn(), profile: undefined };
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  const file = join(cfg.out, 'profiles', `audit-${name}-${Date.now()}.cpuprofile`);
  let result;
  try {
    result = await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    mkdirSync(join(cfg.out, 'profiles'), { recursive: true });
    writeFileSync(file, JSON.stringify(profile));
  }
  const summary = summariseProfile(file, 15);
  summary.file = relative(ROOT, file);
  return { result, profile: summary };
}

/** CPU in % of one core: this process, PostgreSQL, and the rest of the machine (other sessions' work). */
function cpuOf(u) {
  return { node: u.loadgen, postgres: u.postgres, other: Math.max(0, u.machine - u.loadgen - u.postgres) };
}

// ---- integration

async function integrate(db, signer, tree, total) {
  const integrator = new Integrator({
    db,
    clock: systemClock,
    signer,
    logName: LOG_NAME,
    checkpointIntervalMs: 5000,
    batchSize: cfg.batch,
  });
  const cpu = new CpuMeter([]);
  const started = performance.now();
  const rounds = [];
  let done = 0;
  let lastReport = started;
  for (;;) {
    const t = performance.now();
    const r = await integrator.round();
    if (!r.locked) throw new Error('the integrator lock is held by someone else');
    rounds.push({ ms: performance.now() - t, integrated: r.integrated, signed: r.signed });
    done += r.integrated;
    lastReport = progress(
      '  integrated',
      Math.min(done, total),
      total,
      started,
      lastReport,
      `, last round ${int(r.integrated)} in ${(performance.now() - t).toFixed(0)} ms`,
    );
    if (r.integrated < cfg.batch) break;
  }
  const tc = performance.now();
  const checkpoint = await integrator.catchUp(tree);
  const catchUpMs = performance.now() - tc;
  const s = seconds(started);
  const usage = cpu.read();
  const ms = rounds.filter((r) => r.integrated > 0).map((r) => r.ms);
  return {
    integrated: done,
    seconds: s,
    rate: done / s,
    rounds: rounds.length,
    roundMs: { mean: ms.reduce((a, b) => a + b, 0) / Math.max(1, ms.length), max: Math.max(0, ...ms) },
    checkpointsSigned: rounds.reduce((a, r) => a + r.signed, 0),
    catchUpMs,
    cpu: cpuOf(usage),
    checkpoint,
  };
}

// ---- the independent tree, from stored leaf hashes

async function readLeafHashes(store, tree, size) {
  const raw = await rawConnection(store);
  const level0 = Buffer.alloc(size * 32);
  const seen = new Uint8Array(size);
  let rows = 0;
  const take = (idx, hash) => {
    const i = Number(idx);
    if (i < 0 || i >= size || hash.length !== 32 || seen[i])
      throw new Error(`bad or duplicate leaf node ${i}`);
    seen[i] = 1;
    Buffer.from(hash).copy(level0, 32 * i);
    rows++;
  };
  try {
    if (raw.kind === 'sqlite') {
      const stmt = raw.db
        .prepare('select idx, hash from audit_nodes where tree = ? and level = 0 order by idx')
        .raw(true);
      for (const [idx, hash] of stmt.iterate(tree)) take(idx, hash);
    } else {
      const step = 100_000;
      for (let from = 0; from < size; from += step) {
        const r = await raw.client.query({
          text: 'select idx, hash from audit_nodes where tree = $1 and level = 0 and idx >= $2 and idx < $3',
          values: [tree, from, from + step],
          rowMode: 'array',
        });
        for (const [idx, hash] of r.rows) take(idx, hash);
      }
    }
  } finally {
    await raw.close();
  }
  if (rows !== size) throw new Error(`the tree of size ${size} has ${rows} leaf nodes stored`);
  return level0;
}

/** Leaf hashes recomputed from the entries' rows (the integrator's own leaf encoding), by leaf index. */
async function leafHashesFromEntries(db, tenantId, indexes) {
  const wanted = [...new Set(indexes)];
  const out = new Map();
  for (let i = 0; i < wanted.length; i += 500) {
    const rows = await db.kysely
      .selectFrom('audit_entries')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('leaf_index', 'in', wanted.slice(i, i + 500))
      .execute();
    for (const r of rows) {
      const idx = Number(r.leaf_index);
      out.set(idx, sha(ZERO, leafBytes(leafOf(r, idx))));
    }
  }
  return out;
}

// ---- measuring

function stats(ms, stoppedEarly = false) {
  const s = [...ms].sort((a, b) => a - b);
  return {
    stoppedEarly,
    n: s.length,
    p50: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    max: s.length > 0 ? s[s.length - 1] : null,
    mean: s.reduce((a, b) => a + b, 0) / Math.max(1, s.length),
  };
}

/**
 * Runs `calls` one at a time after up to WARMUP unmeasured ones (at most WARMUP_SECONDS of them); returns
 * latencies (ms) and answers. Stops early once BENCH_AUDIT_TIME_LIMIT seconds are spent on this set, so
 * that a slow store cannot hold the bench for hours (`stoppedEarly` says so; the calls not made are not
 * verified either).
 */
async function timeCalls(calls, fn) {
  const warm = performance.now();
  for (let i = 0; i < Math.min(WARMUP, calls.length); i++) {
    await fn(calls[i]);
    if (seconds(warm) > WARMUP_SECONDS) break;
  }
  // Garbage-collection pauses of this process, to tell which slow calls were slow because of one.
  const pauses = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) pauses.push([e.startTime, e.startTime + e.duration]);
  });
  observer.observe({ entryTypes: ['gc'] });
  const started = performance.now();
  const ms = [];
  const spans = [];
  const answers = [];
  for (const c of calls) {
    const t = performance.now();
    const a = await fn(c);
    const end = performance.now();
    ms.push(end - t);
    spans.push([t, end]);
    answers.push(a);
    if (seconds(started) > cfg.timeLimit && answers.length < calls.length) {
      log(`    time limit of ${cfg.timeLimit} s reached after ${answers.length} of ${calls.length} calls`);
      break;
    }
  }
  await new Promise((resolve) => setImmediate(resolve)); // let the observer deliver the last entries
  observer.disconnect();
  const slow = spans.filter(([a, b]) => b - a >= cfg.targetMs);
  const gc = {
    pauses: pauses.length,
    pauseMs: pauses.reduce((x, [a, b]) => x + (b - a), 0),
    slowCalls: slow.length,
    slowDuringGc: slow.filter(([a, b]) => pauses.some(([ga, gb]) => ga < b && gb > a)).length,
  };
  return { ms, answers, stoppedEarly: answers.length < calls.length, gc };
}

async function measureProofs(db, tree, size, levels, tenantId, random) {
  const proofs = new AuditProofs(db);
  const pick = (n) => Math.floor(random() * n);
  const incFull = Array.from({ length: cfg.proofs }, () => ({ index: pick(size), size }));
  const cons = Array.from({ length: cfg.proofs }, () => {
    const to = 1 + pick(size);
    return { from: 1 + pick(to), to };
  });
  const incPairs = Array.from({ length: cfg.proofs }, () => {
    const s = 1 + pick(size);
    return { index: pick(s), size: s };
  });

  const meter = new CpuMeter([]);
  const { result: timed, profile } = await profiled('proofs', async () => ({
    inclusionFull: await timeCalls(incFull, (c) => proofs.inclusion(tree, c.index, c.size)),
    consistency: await timeCalls(cons, (c) => proofs.consistency(tree, c.from, c.to)),
    inclusionPairs: await timeCalls(incPairs, (c) => proofs.inclusion(tree, c.index, c.size)),
  }));
  const cpu = cpuOf(meter.read());
  // The floor under these latencies on this machine: one trivial query through the same Kysely instance
  // (a proof makes two queries: the tree head, then its nodes).
  const floor = await timeCalls(Array.from({ length: cfg.proofs }), () =>
    sql`select 1 as one`.execute(db.kysely),
  );

  // Verification (not timed): leaves from the entries' rows, roots from the independent tree.
  const leaves = await leafHashesFromEntries(db, tenantId, [
    ...incFull.map((c) => c.index),
    ...incPairs.map((c) => c.index),
  ]);
  const failures = [];
  const hashCounts = { inclusionFull: [], consistency: [], inclusionPairs: [] };
  const checkInclusion = (kind, calls, answers) => {
    answers.forEach((p, i) => {
      const c = calls[i];
      const leaf = leaves.get(c.index);
      const root = rootOfSize(levels, c.size);
      hashCounts[kind].push(p.hashes.length);
      const why = !leaf
        ? 'no entry row at this leaf index'
        : !equal(p.leafHash, leaf)
          ? 'leafHash differs from the hash of the entry row'
          : !equal(p.rootHash, root)
            ? 'rootHash differs from the independent root'
            : !verifyInclusion(leaf, c.index, c.size, p.hashes, root)
              ? 'verifyInclusion rejects it'
              : undefined;
      if (why) failures.push(`${kind} index ${c.index} size ${c.size}: ${why}`);
    });
  };
  checkInclusion('inclusionFull', incFull, timed.inclusionFull.answers);
  checkInclusion('inclusionPairs', incPairs, timed.inclusionPairs.answers);
  timed.consistency.answers.forEach((p, i) => {
    const c = cons[i];
    const fromRoot = rootOfSize(levels, c.from);
    const toRoot = rootOfSize(levels, c.to);
    hashCounts.consistency.push(p.hashes.length);
    const why = !equal(p.fromRoot, fromRoot)
      ? 'fromRoot differs from the independent root'
      : !equal(p.toRoot, toRoot)
        ? 'toRoot differs from the independent root'
        : !verifyConsistency(c.from, c.to, p.hashes, fromRoot, toRoot)
          ? 'verifyConsistency rejects it'
          : undefined;
    if (why) failures.push(`consistency ${c.from} -> ${c.to}: ${why}`);
  });
  // The checker itself must be able to fail: a flipped bit in a proof must be rejected.
  const p0 = timed.inclusionFull.answers.find((p) => p.hashes.length > 0);
  if (p0) {
    const bad = p0.hashes.map((h) => Buffer.from(h));
    bad[0][0] ^= 1;
    if (verifyInclusion(leaves.get(p0.leafIndex), p0.leafIndex, p0.treeSize, bad, rootOfSize(levels, size)))
      failures.push('self-test: a tampered inclusion proof verified');
  }
  const c0 = timed.consistency.answers.find((p) => p.hashes.length > 0);
  if (c0) {
    const bad = c0.hashes.map((h) => Buffer.from(h));
    bad[bad.length - 1][31] ^= 1;
    if (verifyConsistency(c0.from, c0.to, bad, c0.fromRoot, c0.toRoot))
      failures.push('self-test: a tampered consistency proof verified');
  }
  const hashes = (a) => ({
    mean: a.reduce((x, y) => x + y, 0) / Math.max(1, a.length),
    max: Math.max(0, ...a),
  });
  return {
    kinds: {
      inclusionFull: {
        label: `inclusion, random leaf, tree size ${int(size)}`,
        ...stats(timed.inclusionFull.ms, timed.inclusionFull.stoppedEarly),
        gc: timed.inclusionFull.gc,
        hashes: hashes(hashCounts.inclusionFull),
      },
      consistency: {
        label: 'consistency, random 1 <= from <= to <= size',
        ...stats(timed.consistency.ms, timed.consistency.stoppedEarly),
        gc: timed.consistency.gc,
        hashes: hashes(hashCounts.consistency),
      },
      inclusionPairs: {
        label: 'inclusion, random (index, size) pairs',
        ...stats(timed.inclusionPairs.ms, timed.inclusionPairs.stoppedEarly),
        gc: timed.inclusionPairs.gc,
        hashes: hashes(hashCounts.inclusionPairs),
      },
    },
    // Latency by tree size (random pairs): flat if the work per proof does not grow with the log.
    bySize: sizeBuckets(incPairs, timed.inclusionPairs.ms, size),
    floor: stats(floor.ms, floor.stoppedEarly),
    verified: failures.length === 0,
    failures,
    cpu,
    profile,
  };
}

function sizeBuckets(calls, ms, size) {
  const edges = [...[0, 1_000, 32_768, 262_144].filter((e) => e < size), size];
  const out = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const sel = ms.filter((_, k) => calls[k].size > edges[i] && calls[k].size <= edges[i + 1]);
    if (sel.length === 0) continue;
    const s = stats(sel);
    out.push({ sizes: `${int(edges[i] + 1)}..${int(edges[i + 1])}`, n: s.n, p50: s.p50, p99: s.p99 });
  }
  return out;
}

async function measureHttp(store, db, tree, tenantId, token, size, levels, random) {
  const app = await buildApp(appConfig(store), { db });
  const pick = (n) => Math.floor(random() * n);
  const failures = [];
  try {
    const inc = Array.from({ length: cfg.http }, () => ({ index: pick(size), size }));
    const cons = Array.from({ length: cfg.http }, () => {
      const to = 1 + pick(size);
      return { from: 1 + pick(to), to };
    });
    const get = async (url) => {
      const res = await app.http.inject({
        method: 'GET',
        url,
        headers: { authorization: `Bearer ${token}` },
      });
      if (res.statusCode !== 200) throw new Error(`GET ${url} answered ${res.statusCode}: ${res.body}`);
      return JSON.parse(res.body);
    };
    const i = await timeCalls(inc, (c) =>
      get(`/api/v1/audit/proofs/inclusion?index=${c.index}&treeSize=${c.size}`),
    );
    const c = await timeCalls(cons, (x) => get(`/api/v1/audit/proofs/consistency?from=${x.from}&to=${x.to}`));
    const leaves = await leafHashesFromEntries(
      db,
      tenantId,
      inc.map((x) => x.index),
    );
    const b = (s) => Buffer.from(s, 'base64');
    const fullRoot = rootOfSize(levels, size);
    i.answers.forEach((p, k) => {
      const x = inc[k];
      const leaf = leaves.get(x.index);
      if (
        !leaf ||
        !equal(b(p.leafHash), leaf) ||
        !verifyInclusion(leaf, x.index, size, p.hashes.map(b), fullRoot)
      )
        failures.push(`HTTP inclusion index ${x.index}: does not verify`);
    });
    c.answers.forEach((p, k) => {
      const x = cons[k];
      if (
        !verifyConsistency(
          x.from,
          x.to,
          p.hashes.map(b),
          rootOfSize(levels, x.from),
          rootOfSize(levels, x.to),
        )
      )
        failures.push(`HTTP consistency ${x.from} -> ${x.to}: does not verify`);
    });
    // The latest checkpoint as served: signed by the key the store knows, over the independent root.
    const cp = await get('/api/v1/audit/checkpoints/latest');
    if (cp.treeSize !== size || !equal(b(cp.rootHash), fullRoot))
      failures.push('HTTP latest checkpoint: wrong size or root');
    return {
      inclusion: { ...stats(i.ms, i.stoppedEarly), gc: i.gc },
      consistency: { ...stats(c.ms, c.stoppedEarly), gc: c.gc },
      verified: failures.length === 0,
      failures,
      tree,
    };
  } finally {
    await app.close();
  }
}

// ---- storage

async function storage(store, tree) {
  const raw = await rawConnection(store);
  try {
    const nodes = Number(
      (
        await raw.all(
          `select count(*) as n from audit_nodes where tree = ${raw.kind === 'sqlite' ? '?' : '$1'}`,
          [tree],
        )
      )[0].n,
    );
    const levels = Number(
      (
        await raw.all(
          `select count(*) as n from audit_nodes where tree = ${raw.kind === 'sqlite' ? '?' : '$1'} and level = 0`,
          [tree],
        )
      )[0].n,
    );
    let tables;
    let total;
    // audit_nodes by part: PostgreSQL heap and indexes; SQLite each b-tree (the rowid table and the
    // primary-key index).
    let split;
    let autovacuum;
    if (raw.kind === 'sqlite') {
      const rows = await raw.all(
        `select coalesce(m.tbl_name, s.name) as tbl, sum(s.pgsize) as bytes
           from dbstat s left join sqlite_schema m on m.name = s.name group by tbl`,
      );
      tables = Object.fromEntries(rows.map((r) => [r.tbl, Number(r.bytes)]));
      const parts = await raw.all(
        `select name, sum(pgsize) as bytes from dbstat where name in (select name from sqlite_schema
           where tbl_name = 'audit_nodes') group by name`,
      );
      split = Object.fromEntries(parts.map((r) => [r.name, Number(r.bytes)]));
      raw.db.pragma('wal_checkpoint(TRUNCATE)');
      total = statSync(store.file).size;
    } else {
      const rows = await raw.all(
        `select c.relname as tbl, pg_total_relation_size(c.oid) as bytes
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = $1 and c.relkind = 'r'`,
        [store.schema],
      );
      tables = Object.fromEntries(rows.map((r) => [r.tbl, Number(r.bytes)]));
      total = Object.values(tables).reduce((a, b) => a + b, 0);
      const parts = await raw.all(
        `select pg_relation_size('audit_nodes') as heap, pg_indexes_size('audit_nodes') as indexes`,
      );
      split = { heap: Number(parts[0].heap), indexes: Number(parts[0].indexes) };
      // Did autovacuum run on the log's tables during the run (after the explicit vacuum, it should not)?
      autovacuum = await raw.all(
        `select relname, autovacuum_count, autoanalyze_count, last_autovacuum, last_autoanalyze
           from pg_stat_user_tables where schemaname = $1 and relname in ('audit_entries', 'audit_nodes')`,
        [store.schema],
      );
    }
    return {
      nodeRows: nodes,
      leafRows: levels,
      tables,
      totalBytes: total,
      auditNodesParts: split,
      autovacuum,
    };
  } finally {
    await raw.close();
  }
}

// ---- one store

async function runStore(kind) {
  const out = { kind, phases: {} };
  const store = newAuditStore(kind);
  activeStore = store;
  const random = rng(cfg.seed);
  const setupStarted = performance.now();
  let db;
  try {
    log(`[${kind}] store ${store.kind === 'sqlite' ? relative(ROOT, store.file) : `schema ${store.schema}`}`);
    let t = performance.now();
    db = await openDatabase(store.url);
    await migrateToLatest(db);
    const { signerKey, verifierKey } = generateSignerKey(LOG_NAME);
    writeFileSync(store.auditKeyFile, `${signerKey}\n`, { mode: 0o600 });
    const signer = NoteSigner.fromSignerKey(signerKey);
    const verifier = NoteVerifier.fromVerifierKey(verifierKey);
    const { tenantId, token, tokenId } = await createTenant(store, db);
    const tree = tenantId;
    out.phases.prepareSeconds = seconds(t);

    log(`[${kind}] bulk insert of ${int(cfg.entries)} audit entries for tenant ${tenantId}`);
    out.load = await bulkLoad(store, tenantId, `token:${tokenId}`, cfg.entries);
    log(
      `[${kind}]   ${int(out.load.rate)} entries/s, ${out.load.seconds.toFixed(1)} s, CPU: node ${fmt.pct(out.load.cpu.node)}, PostgreSQL ${fmt.pct(out.load.cpu.postgres)}, other ${fmt.pct(out.load.cpu.other)}`,
    );

    log(`[${kind}] integrating with the Integrator (batchSize ${int(cfg.batch)})`);
    const { result: integ, profile: integProfile } = await profiled(`${kind}-integrate`, () =>
      integrate(db, signer, tree, cfg.entries),
    );
    out.integration = { ...integ, checkpoint: undefined, profile: integProfile };
    log(
      `[${kind}]   ${int(integ.rate)} entries/s, ${integ.seconds.toFixed(1)} s, ${integ.rounds} rounds (mean ${integ.roundMs.mean.toFixed(0)} ms, max ${integ.roundMs.max.toFixed(0)} ms), CPU: node ${fmt.pct(integ.cpu.node)}, PostgreSQL ${fmt.pct(integ.cpu.postgres)}, other ${fmt.pct(integ.cpu.other)}`,
    );

    if (kind === 'postgres') {
      // Steady state before measuring: the bulk set-up leaves a million freshly updated rows (and two
      // million new node rows) that autovacuum would otherwise process on these 2 cores in the middle of the
      // proof measurements; a log integrated over time is vacuumed as it goes.
      t = performance.now();
      const raw = await rawConnection(store);
      try {
        await raw.client.query('vacuum (analyze) audit_entries, audit_nodes');
      } finally {
        await raw.close();
      }
      out.phases.vacuumSeconds = seconds(t);
      log(
        `[${kind}] vacuum (analyze) of audit_entries and audit_nodes: ${out.phases.vacuumSeconds.toFixed(1)} s`,
      );
    }

    // The tree as stored, checked against an independent rebuild and the signed checkpoint.
    t = performance.now();
    const head =
      (await db.kysely.selectFrom('audit_trees').selectAll().where('tree', '=', tree).executeTakeFirst()) ??
      {};
    const size = Number(head.size ?? 0);
    if (size < cfg.entries)
      throw new Error(`the tree holds ${size} entries, expected at least ${cfg.entries}`);
    const pending = await db.kysely
      .selectFrom('audit_entries')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('leaf_index', 'is', null)
      .executeTakeFirst();
    const levels = buildLevels(await readLeafHashes(store, tree, size), size);
    const root = rootOfSize(levels, size);
    const checks = [];
    if (Number(pending.n) !== 0) checks.push(`${pending.n} entries are still pending`);
    if (!equal(head.root_hash, root)) checks.push('the tree head root differs from the independent root');
    const cp = integ.checkpoint;
    try {
      const { text } = openNote(cp.note, [verifier]);
      const body = parseCheckpoint(text);
      if (body.size !== size || !equal(body.rootHash, root) || body.origin !== originOf(LOG_NAME, tenantId))
        checks.push(`the signed checkpoint (size ${body.size}) does not match the tree`);
    } catch (err) {
      checks.push(`the checkpoint note does not verify: ${err.message}`);
    }
    out.tree = { size, setupEntries: size - cfg.entries, checkSeconds: seconds(t), checks };
    out.phases.setupSeconds = seconds(setupStarted);
    log(
      `[${kind}] tree size ${int(size)} (${size - cfg.entries} from the tenant set-up); independent rebuild and checkpoint check ${checks.length === 0 ? 'ok' : `FAILED: ${checks.join('; ')}`} (${out.tree.checkSeconds.toFixed(1)} s)`,
    );
    log(`[${kind}] set-up took ${out.phases.setupSeconds.toFixed(1)} s`);

    log(`[${kind}] measuring ${int(cfg.proofs)} proofs of each kind (after ${WARMUP} unmeasured)`);
    t = performance.now();
    out.proofs = await measureProofs(db, tree, size, levels, tenantId, random);
    out.phases.proofSeconds = seconds(t);
    for (const k of Object.values(out.proofs.kinds))
      log(
        `[${kind}]   ${k.label}: p50 ${fmt.ms(k.p50)} p90 ${fmt.ms(k.p90)} p99 ${fmt.ms(k.p99)} max ${fmt.ms(k.max)} ms`,
      );
    log(
      `[${kind}]   every proof verified: ${out.proofs.verified ? 'yes' : `NO (${out.proofs.failures.length})`}; CPU: bench ${fmt.pct(out.proofs.cpu.node)}, PostgreSQL ${fmt.pct(out.proofs.cpu.postgres)}, other ${fmt.pct(out.proofs.cpu.other)}`,
    );
    for (const f of out.proofs.failures.slice(0, 10)) log(`[${kind}]     ${f}`);

    if (cfg.http > 0) {
      log(`[${kind}] ${int(cfg.http)} requests per proof endpoint over app.http.inject`);
      t = performance.now();
      out.http = await measureHttp(store, db, tree, tenantId, token, size, levels, random);
      out.phases.httpSeconds = seconds(t);
      log(
        `[${kind}]   inclusion p50 ${fmt.ms(out.http.inclusion.p50)} p99 ${fmt.ms(out.http.inclusion.p99)} ms; consistency p50 ${fmt.ms(out.http.consistency.p50)} p99 ${fmt.ms(out.http.consistency.p99)} ms; verified ${out.http.verified ? 'yes' : 'NO'}`,
      );
      for (const f of out.http.failures.slice(0, 10)) log(`[${kind}]     ${f}`);
    }

    out.storage = await storage(store, tree);
    log(
      `[${kind}] storage: ${int(out.storage.nodeRows)} audit_nodes rows (${(out.storage.nodeRows / size).toFixed(2)} per entry), audit_nodes ${mib(out.storage.tables.audit_nodes)}, audit_entries ${mib(out.storage.tables.audit_entries)}, whole store ${mib(out.storage.totalBytes)}`,
    );
  } catch (err) {
    out.error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`[${kind}] FAILED: ${out.error}`);
  } finally {
    await db?.close().catch(() => {});
    await store.drop().catch((err) => log(`[${kind}] could not remove the store: ${err.message}`));
    activeStore = undefined;
  }
  return out;
}

/** The store being measured: removed on SIGINT / SIGTERM too, so that an interrupted run leaves nothing. */
let activeStore;
let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    interrupted = true;
    log(`${signal}: removing the store and exiting`);
    const done = () => process.exit(signal === 'SIGINT' ? 130 : 143);
    if (!activeStore) done();
    else activeStore.drop().then(done, done);
  });
}

const mib = (b) => (b === undefined ? '-' : `${(b / 1024 ** 2).toFixed(1)} MiB`);
const perMillion = (b, size) =>
  b === undefined ? '-' : `${(((b / size) * 1e6) / 1024 ** 2).toFixed(0)} MiB`;

// ---- report

function verdictOf(r) {
  if (r.error || !r.proofs)
    return { met: false, text: `${r.kind}: not measured (${(r.error ?? '').split('\n')[0]})` };
  const kinds = Object.values(r.proofs.kinds);
  const worst = kinds.reduce((w, k) => (k.p99 > w.p99 ? k : w));
  const ok = r.proofs.verified && (r.http?.verified ?? true) && r.tree.checks.length === 0;
  const complete = kinds.every((k) => !k.stoppedEarly);
  const met = worst.p99 < cfg.targetMs && ok && complete && r.tree.size >= TARGET_ENTRIES;
  const notes = [
    ok ? 'every proof verified' : 'VERIFICATION FAILED',
    ...(complete ? [] : [`stopped at the time limit of ${cfg.timeLimit} s per proof kind`]),
    ...(r.tree.size < TARGET_ENTRIES
      ? [`log below the ${int(TARGET_ENTRIES)} entries of the criterion: indicative only`]
      : []),
  ];
  return {
    met,
    text: `${r.kind}: worst p99 ${fmt.ms(worst.p99)} ms (${worst.label}, ${worst.n} proofs) on a log of ${int(r.tree.size)} entries, target < ${cfg.targetMs} ms; ${notes.join('; ')}`,
  };
}

const gcCell = (gc) => (gc ? `${gc.slowCalls} (${gc.slowDuringGc})` : '-');

function report(result) {
  const L = [];
  const { machine } = result;
  L.push(`Run ${result.started} (${Math.round(result.seconds)} s), command: \`${result.command}\``);
  L.push('');
  L.push(
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB} GiB RAM, Node ${machine.node}, PostgreSQL ${machine.postgres}`,
  );
  L.push(
    `Settings: ${int(cfg.entries)} bulk-inserted entries in one tenant tree, integrator batchSize ${int(cfg.batch)}, ${int(cfg.proofs)} proofs per kind measured one at a time after up to ${WARMUP} unmeasured (at most ${cfg.timeLimit} s per kind), seed ${cfg.seed}.`,
  );
  L.push('');
  L.push('### Audit log: building the tree');
  L.push('');
  L.push(
    '| store | log size | bulk insert entries/s | integration entries/s | integration s | rounds | mean / max round ms | node CPU | PG CPU | other CPU | PG vacuum s | set-up total s | tree check |',
  );
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of result.stores) {
    if (!r.integration) {
      L.push(`| ${r.kind} | failed: ${(r.error ?? '').split('\n')[0]} ||||||||||| |`);
      continue;
    }
    const i = r.integration;
    L.push(
      `| ${r.kind} | ${int(r.tree?.size ?? 0)} | ${int(r.load.rate)} | ${int(i.rate)} | ${i.seconds.toFixed(1)} | ${i.rounds} | ${i.roundMs.mean.toFixed(0)} / ${i.roundMs.max.toFixed(0)} | ${fmt.pct(i.cpu.node)} | ${r.kind === 'postgres' ? fmt.pct(i.cpu.postgres) : '-'} | ${fmt.pct(i.cpu.other)} | ${r.phases.vacuumSeconds?.toFixed(0) ?? '-'} | ${r.phases.setupSeconds?.toFixed(0) ?? '-'} | ${r.tree ? (r.tree.checks.length === 0 ? 'ok' : `FAILED: ${r.tree.checks.join('; ')}`) : '-'} |`,
    );
  }
  L.push('');
  L.push('### Audit log: proof generation (AuditProofs, in process, one call at a time)');
  L.push('');
  L.push(
    `| store | proof | n | p50 ms | p90 ms | p99 ms | max ms | hashes per proof (mean / max) | calls >= ${cfg.targetMs} ms (during a GC pause) | verified |`,
  );
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of result.stores) {
    if (!r.proofs) continue;
    for (const k of Object.values(r.proofs.kinds)) {
      L.push(
        `| ${r.kind} | ${k.label} | ${k.n}${k.stoppedEarly ? ' (time limit)' : ''} | ${fmt.ms(k.p50)} | ${fmt.ms(k.p90)} | ${fmt.ms(k.p99)} | ${fmt.ms(k.max)} | ${k.hashes.mean.toFixed(1)} / ${k.hashes.max} | ${gcCell(k.gc)} | ${r.proofs.verified ? 'all' : `NO (${r.proofs.failures.length} failed)`} |`,
      );
    }
    const f = r.proofs.floor;
    L.push(
      `| ${r.kind} | (floor) \`select 1\` through the same Kysely, not a proof | ${f.n} | ${fmt.ms(f.p50)} | ${fmt.ms(f.p90)} | ${fmt.ms(f.p99)} | ${fmt.ms(f.max)} | - | - | - |`,
    );
  }
  L.push('');
  for (const r of result.stores) {
    if (r.proofs?.cpu)
      L.push(
        `- ${r.kind}, CPU during the proof measurements (% of one core): bench process ${fmt.pct(r.proofs.cpu.node)}, PostgreSQL ${fmt.pct(r.proofs.cpu.postgres)}, other work on the machine ${fmt.pct(r.proofs.cpu.other)}`,
      );
  }
  L.push('');
  const buckets = result.stores.filter((r) => r.proofs?.bySize.length);
  if (buckets.length > 0) {
    L.push(
      'Inclusion proofs at random (index, size) pairs, by tree size (flat when the work per proof grows with log2 of the size only):',
    );
    L.push('');
    L.push('| store | tree sizes | n | p50 ms | p99 ms |');
    L.push('|---|---|---:|---:|---:|');
    for (const r of buckets)
      for (const b of r.proofs.bySize)
        L.push(`| ${r.kind} | ${b.sizes} | ${b.n} | ${fmt.ms(b.p50)} | ${fmt.ms(b.p99)} |`);
    L.push('');
  }
  const http = result.stores.filter((r) => r.http);
  if (http.length > 0) {
    L.push(
      '### Audit log: the proof endpoints over HTTP (app.http.inject, tenant token, one request at a time)',
    );
    L.push('');
    L.push(
      `| store | endpoint | n | p50 ms | p90 ms | p99 ms | max ms | calls >= ${cfg.targetMs} ms (during a GC pause) | verified |`,
    );
    L.push('|---|---|---:|---:|---:|---:|---:|---:|---|');
    for (const r of http) {
      for (const [name, s] of [
        ['GET /api/v1/audit/proofs/inclusion (full size)', r.http.inclusion],
        ['GET /api/v1/audit/proofs/consistency', r.http.consistency],
      ]) {
        L.push(
          `| ${r.kind} | ${name} | ${s.n}${s.stoppedEarly ? ' (time limit)' : ''} | ${fmt.ms(s.p50)} | ${fmt.ms(s.p90)} | ${fmt.ms(s.p99)} | ${fmt.ms(s.max)} | ${gcCell(s.gc)} | ${r.http.verified ? 'all' : 'NO'} |`,
        );
      }
    }
    L.push('');
  }
  const st = result.stores.filter((r) => r.storage);
  if (st.length > 0) {
    L.push('### Audit log: storage');
    L.push('');
    L.push(
      '| store | audit_nodes rows | per entry | audit_nodes (tables + indexes) | per 1M entries | audit_entries | per 1M entries | whole store | per 1M entries |',
    );
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of st) {
      const s = r.storage;
      const n = r.tree.size;
      L.push(
        `| ${r.kind} | ${int(s.nodeRows)} | ${(s.nodeRows / n).toFixed(2)} | ${mib(s.tables.audit_nodes)} | ${perMillion(s.tables.audit_nodes, n)} | ${mib(s.tables.audit_entries)} | ${perMillion(s.tables.audit_entries, n)} | ${mib(s.totalBytes)} | ${perMillion(s.totalBytes, n)} |`,
      );
    }
    L.push('');
    for (const r of st) {
      const parts = Object.entries(r.storage.auditNodesParts ?? {});
      L.push(
        `- ${r.kind} audit_nodes by part: ${parts.map(([k, v]) => `${k} ${mib(v)} (${(v / r.storage.nodeRows).toFixed(0)} bytes per node)`).join(', ')}`,
      );
    }
    L.push('');
    L.push(
      "PostgreSQL sizes are pg_total_relation_size (heap, indexes, TOAST) after integration and a plain VACUUM (which does not shrink files): audit_entries keeps the space of the dead row versions of the integrator's leaf_index updates (reusable, not returned). SQLite sizes are dbstat pages (tables with their indexes) and the file size.",
    );
    L.push('');
  }
  L.push(`### Target: proof generation on a log of ${int(TARGET_ENTRIES)} entries, p99 < ${cfg.targetMs} ms`);
  L.push('');
  for (const v of result.verdicts) L.push(`- ${v.met ? 'MET' : 'MISSED'}: ${v.text}`);
  L.push('');
  for (const r of result.stores) {
    if (r.integration?.profile)
      L.push(profileMarkdown(r.integration.profile, `CPU profile of the integration: ${r.kind}`));
    if (r.proofs?.profile)
      L.push(profileMarkdown(r.proofs.profile, `CPU profile of the proof measurements: ${r.kind}`));
  }
  return L.join('\n');
}

// ---- main

async function main() {
  const t0 = performance.now();
  const started = new Date().toISOString();
  const command = `${Object.entries(env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v} `)
    .join('')}node bench/audit.js`;
  mkdirSync(cfg.out, { recursive: true });
  prioritise();
  const pgVersion = await postgresReachable();
  let stores = cfg.stores.filter((s) => s === 'sqlite' || s === 'postgres');
  if (!pgVersion && stores.includes('postgres')) {
    log(`PostgreSQL at ${PG_URL} does not answer: skipping it`);
    stores = stores.filter((s) => s !== 'postgres');
  }
  const machine = machineInfo(pgVersion);
  log(`audit bench: ${JSON.stringify({ ...cfg, stores })}`);
  const results = [];
  for (const kind of stores) {
    const r = await runStore(kind);
    if (interrupted) return; // the signal handler exits once the store is gone
    results.push(r);
  }
  const verdicts = results.map(verdictOf);
  const result = {
    started,
    seconds: seconds(t0),
    command,
    cfg: { ...cfg, stores },
    machine,
    stores: results,
    verdicts,
  };
  const md = report(result);
  result.markdown = md;
  writeFileSync(join(cfg.out, 'audit.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(cfg.out, 'audit.md'), `${md}\n`);
  process.stdout.write(`\n${md}\n`);
  log(
    `\nwritten: ${relative(ROOT, join(cfg.out, 'audit.md'))}, ${relative(ROOT, join(cfg.out, 'audit.json'))} (${Math.round(result.seconds)} s)`,
  );
  const failed = results.some(
    (r) => r.error || !r.proofs?.verified || (r.http && !r.http.verified) || (r.tree?.checks.length ?? 1) > 0,
  );
  if (failed) {
    log('FAILED: a proof or a check did not verify, or a store could not be measured (see above)');
    process.exitCode = 1;
  }
}

await main();
