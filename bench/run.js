// `npm run bench`: onboarding throughput of Roster over HTTP against SQLite and PostgreSQL, next to two
// ceilings measured in the same run: a bare Fastify server (HTTP) and the same rows written as raw SQL
// (database). See bench/RESULTS.md for the recorded figures and README-style notes on the settings.
//
// Settings (environment):
//   BENCH_DURATION=10      seconds per measured point          BENCH_WARMUP=2     warm-up seconds per point
//   BENCH_REPEATS=3        runs at the top concurrency (median) BENCH_CONCURRENCY=1,16,64
//   BENCH_STORES=sqlite,postgres                               BENCH_POOLS=8      site pools ("spread")
//   BENCH_PROFILE=auto     auto: CPU-profile the server when a target is missed; 1: always; 0: never
//   BENCH_QUICK=1          smoke run: 2 s points, 0.5 s warm-up, 1 repeat, no profiles
//   BENCH_IDLE_WAIT=120    seconds to wait for a quiet machine before each point (0: do not wait)
//   BENCH_OUT=.tmp/bench   where results.json, results.md and the profiles go
//   BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/test        BENCH_SKIP_BUILD=1 (do not build)
//   BENCH_PARTS=http,raw,roster,variants,audit,login,scim,console   a subset to run (the ratios need http and raw)
//   BENCH_VARIANTS=single,audit-off,encryption-off   which variants the `variants` part runs (all by default)
//   audit: the audit log's proof benchmark, bench/audit.js (run last, on this run's snapshot of dist/, for
//          BENCH_STORES, writing BENCH_OUT/audit.json and audit.md; its tables are appended to results.md).
//          Its own settings: BENCH_AUDIT_ENTRIES=1000000 BENCH_AUDIT_PROOFS=2000 BENCH_AUDIT_HTTP=1000
//          BENCH_AUDIT_BATCH=20000 BENCH_AUDIT_TARGET_MS=5 BENCH_AUDIT_TIME_LIMIT=30 BENCH_AUDIT_SEED
//          BENCH_AUDIT_PROFILE=1 (see bench/audit.js). A proof that does not verify makes npm run bench exit 1.
//   login: the admin login's timing for unknown usernames against wrong passwords, bench/login.js (SQLite,
//          in-process; BENCH_LOGIN_ATTEMPTS=400; writes BENCH_OUT/login.json; appended to results.md).
//   scim: SCIM creates/s at c=64 and filter latency on a tenant of 100,000 users, bench/scim.js (BENCH_STORES;
//          its own settings BENCH_SCIM_USERS=100000 BENCH_SCIM_DURATION=10 BENCH_SCIM_QUERIES=1000; writes
//          BENCH_OUT/scim.json; appended to results.md).
//   console: time to interactive of the console's dashboard and users page on tenants of 10,000 users in
//          headless Chromium, bench/console.js (its settings BENCH_CONSOLE_*; writes BENCH_OUT/console.json).
//   BENCH_PRIORITY=-10     nice value for the bench's own processes (not PostgreSQL) on a shared machine
//   BENCH_APP=<folder>     benchmark the bin/ and dist/ in that folder instead of a snapshot of this build
// `node bench/run.js --report <results.json>` rewrites the markdown of a saved run without measuring.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  CpuMeter,
  call,
  checkStore,
  drive,
  fmt,
  freePort,
  machineInfo,
  medianRun,
  newStore,
  pgDeadlocks,
  postgresReachable,
  prioritise,
  ROOT,
  runJsonScript,
  samplePgBackends,
  startProcess,
} from './lib.js';
import { profileMarkdown, summariseProfile } from './profile-summary.js';

const env = process.env;
const quick = env.BENCH_QUICK === '1';
const cfg = {
  duration: Number(env.BENCH_DURATION ?? (quick ? 2 : 10)),
  warmup: Number(env.BENCH_WARMUP ?? (quick ? 0.5 : 2)),
  repeats: Number(env.BENCH_REPEATS ?? (quick ? 1 : 3)),
  concurrency: (env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number),
  stores: (env.BENCH_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim()),
  pools: Number(env.BENCH_POOLS ?? 8),
  profile: env.BENCH_PROFILE ?? (quick ? '0' : 'auto'),
  idleWait: Number(env.BENCH_IDLE_WAIT ?? (quick ? 0 : 120)),
  priority: env.BENCH_PRIORITY ?? null,
  out: join(ROOT, env.BENCH_OUT ?? '.tmp/bench'),
  parts: new Set(
    (env.BENCH_PARTS ?? 'http,raw,roster,variants,audit,login,scim,console').split(',').map((s) => s.trim()),
  ),
  variants: new Set(
    (env.BENCH_VARIANTS ?? 'single,audit-off,encryption-off').split(',').map((s) => s.trim()),
  ),
};
const TOP = Math.max(...cfg.concurrency);
const ADMIN_TOKEN = `bench-admin-${randomBytes(16).toString('hex')}`;
const SKU = 'BENCH-SEAT';
const TARGETS = {
  sqlite: { ratio: 0.5, p99: 100 },
  postgres: { ratio: 0.35, p99: 100 },
  single: { ratio: 0.25 },
};

const log = (msg) => process.stderr.write(`${msg}\n`);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- build

/**
 * Copies dist/ and bin/ under the output folder, so that every server of this run executes the same code
 * even if dist/ is rebuilt meanwhile (packages still resolve from the project's node_modules above it).
 */
function snapshotApp() {
  const app = join(cfg.out, 'app');
  rmSync(app, { recursive: true, force: true });
  cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true });
  cpSync(join(ROOT, 'bin'), join(app, 'bin'), { recursive: true });
  // The built console (served from <app>/console/dist), for the console's time-to-interactive part.
  const consoleDist = join(ROOT, 'console/dist');
  if (existsSync(consoleDist)) cpSync(consoleDist, join(app, 'console/dist'), { recursive: true });
  return app;
}

/** The commit benchmarked, and whether src/ differs from it (read-only git calls). */
function sourceVersion() {
  const git = (...args) => spawnSync('git', args, { cwd: ROOT, encoding: 'utf8' }).stdout?.trim() ?? '';
  const commit = git('rev-parse', '--short', 'HEAD') || 'unknown';
  const dirty = git('status', '--porcelain', '--', 'src') !== '';
  return `${commit}${dirty ? ' (src/ has uncommitted changes)' : ''}`;
}

function ensureBuilt() {
  const main = join(ROOT, 'dist/main.js');
  const newest = (dir) => {
    let t = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
    }
    return t;
  };
  if ((env.BENCH_SKIP_BUILD === '1' || env.BENCH_APP) && existsSync(main)) return;
  if (existsSync(main) && statSync(main).mtimeMs >= newest(join(ROOT, 'src'))) return;
  log('dist/ is missing or older than src/: running npm run build');
  const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm run build failed');
}

// ---- a quiet machine

/** Cores busy over one second, whoever uses them. */
async function busyCores() {
  const m = new CpuMeter([]);
  await sleep(1000);
  return m.read().machine / 100;
}

/** Waits (up to BENCH_IDLE_WAIT s) until other work on the box uses less than 0.3 cores; returns that load. */
async function waitQuiet() {
  const started = Date.now();
  let busy = await busyCores();
  while (busy > 0.3 && cfg.idleWait > 0 && Date.now() - started < cfg.idleWait * 1000) {
    log(`  machine busy (${busy.toFixed(2)} cores used by other work): waiting`);
    await sleep(3000);
    busy = await busyCores();
  }
  if (busy > 0.3) log(`  proceeding on a busy machine (${busy.toFixed(2)} cores used by other work)`);
  return busy;
}

// ---- requests

/** The i-th onboarding: a unique Idempotency-Key and userName; site s<i mod pools> spreads users over pools. */
function onboardingMaker(token, tag) {
  const headers = {
    authorization: `Bearer ${token}`,
    'content-type': 'application/json',
  };
  return (i) => {
    const name = `u${i}.${tag}@bench.example`;
    return {
      headers: { ...headers, 'idempotency-key': `${tag}-${i}` },
      body:
        `{"user":{"userName":"${name}","name":{"givenName":"Ada","familyName":"Lovelace"},` +
        `"emails":[{"value":"${name}","type":"work","primary":true}],"department":"Engineering",` +
        `"location":{"site":"s${i % cfg.pools}","country":"DE"}},"products":["${SKU}"]}`,
    };
  };
}

/** Unmeasured load before a point; returns the request index to go on from. */
async function warmUp(base, connections, makeRequest) {
  if (cfg.warmup <= 0) return 0;
  const w = await drive({
    url: base,
    path: '/api/v1/onboardings',
    connections,
    duration: cfg.warmup,
    makeRequest,
  });
  return w.nextIndex;
}

async function measure(base, pids, connections, makeRequest) {
  const index = await warmUp(base, connections, makeRequest);
  const cpu = new CpuMeter(pids);
  const r = await drive({
    url: base,
    path: '/api/v1/onboardings',
    connections,
    duration: cfg.duration,
    makeRequest,
    startIndex: index,
  });
  r.cpu = cpu.read();
  r.cpu.background = Math.max(0, r.cpu.machine - r.cpu.server - r.cpu.postgres - r.cpu.loadgen);
  return r;
}

// ---- the HTTP ceiling

async function httpCeiling() {
  const results = {};
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  await waitQuiet();
  const server = await startProcess({
    name: 'bare-fastify',
    script: 'bench/bare-fastify.js',
    env: { PORT: String(port) },
    readyUrl: `${base}/healthz`,
  });
  try {
    for (const c of cfg.concurrency) {
      const runs = [];
      for (let k = 0; k < (c === TOP ? cfg.repeats : 1); k++) {
        await waitQuiet();
        const r = await measure(base, [server.pid], c, onboardingMaker('x'.repeat(48), 'bare'));
        log(
          `  bare fastify c=${c}: ${fmt.rate(r.rate)}/s p50 ${fmt.ms(r.p50)} p99 ${fmt.ms(r.p99)} errors ${r.errors}`,
        );
        runs.push(r);
      }
      results[c] = summarise(runs);
    }
  } finally {
    await server.stop();
  }
  return results;
}

// ---- the database ceiling

async function dbCeilings(stores) {
  const out = [];
  const plans = [];
  for (const kind of stores) {
    if (kind === 'sqlite') {
      plans.push({ kind, mode: 'tx', writers: 1, pools: cfg.pools, label: 'tx per onboarding, sequential' });
      plans.push({ kind, mode: 'batch', writers: 1, pools: cfg.pools, label: '100 per tx, sequential' });
      plans.push({
        kind,
        mode: 'bulk',
        writers: 1,
        pools: cfg.pools,
        label: '100 per tx as multi-row statements, sequential',
      });
    } else {
      plans.push({
        kind,
        mode: 'tx',
        writers: TOP,
        pools: cfg.pools,
        label: `tx per onboarding, ${TOP} writers`,
      });
      plans.push({
        kind,
        mode: 'tx',
        writers: TOP,
        pools: 1,
        label: `tx per onboarding, ${TOP} writers, 1 pool`,
      });
      plans.push({ kind, mode: 'batch', writers: 4, pools: cfg.pools, label: '100 per tx, 4 writers' });
      plans.push({
        kind,
        mode: 'bulk',
        writers: 4,
        pools: cfg.pools,
        label: '100 per tx as multi-row statements, 4 writers',
      });
    }
  }
  for (const p of plans) {
    await waitQuiet();
    const r = await runJsonScript('bench/raw-sql.js', [
      '--dist',
      join(cfg.app, 'dist'),
      '--store',
      p.kind,
      '--mode',
      p.mode,
      '--writers',
      String(p.writers),
      '--pools',
      String(p.pools),
      '--duration',
      String(cfg.duration),
      '--warmup',
      String(Math.min(1, cfg.warmup)),
    ]);
    r.label = p.label;
    log(
      `  raw SQL ${p.kind} ${p.label}: ${fmt.rate(r.rate)}/s tx p50 ${fmt.ms(r.txP50)} p99 ${fmt.ms(r.txP99)} invariant ${r.check.ok ? 'ok' : 'VIOLATED'}`,
    );
    out.push(r);
  }
  return out;
}

// ---- Roster

async function setUpTenant(base, setup) {
  const tenant = await call(base, 'POST', '/api/v1/tenants', ADMIN_TOKEN, { name: 'Bench' });
  const { token } = await call(base, 'POST', '/api/v1/tokens', ADMIN_TOKEN, {
    tenantId: tenant.id,
    name: 'bench',
    roles: ['tenant-admin'],
  });
  await call(base, 'POST', '/api/v1/products', token, { sku: SKU, name: 'Bench seat' });
  const pools =
    setup === 'single'
      ? [{ product: SKU, name: 'everyone', capacity: 10_000_000 }]
      : Array.from({ length: cfg.pools }, (_, i) => ({
          product: SKU,
          name: `site s${i}`,
          capacity: 10_000_000,
          location: { site: `s${i}` },
        }));
  for (const p of pools) await call(base, 'POST', '/api/v1/pools', token, p);
  return token;
}

/** Roster's group-commit metrics (sums and counts) from /metrics. */
async function groupCommitMetrics(base) {
  const text = await call(base, 'GET', '/metrics', ADMIN_TOKEN);
  const value = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) : 0;
  };
  return {
    batches: value(/^roster_group_commit_batch_size_count (\S+)$/m),
    works: value(/^roster_group_commit_batch_size_sum (\S+)$/m),
    commitSeconds: value(/^roster_group_commit_duration_seconds_sum\{committed="true"\} (\S+)$/m),
    commits: value(/^roster_group_commit_duration_seconds_count\{committed="true"\} (\S+)$/m),
    failedBatches: value(/^roster_group_commit_duration_seconds_count\{committed="false"\} (\S+)$/m),
    waitSeconds: value(/^roster_group_commit_wait_seconds_sum (\S+)$/m),
  };
}

async function rosterRun(kind, connections, setup, profileDir, extra = {}) {
  const extraEnv = extra.env ?? {};
  const store = newStore(kind);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  let r;
  try {
    await waitQuiet();
    const server = await startProcess({
      name: 'roster',
      script: join(cfg.app, 'bin/roster.js'),
      args: ['serve'],
      nodeArgs: [
        ...(profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
        ...(extra.nodeArgs ?? []),
      ],
      env: {
        ROSTER_DATABASE_URL: store.url,
        ROSTER_KEY_FILE: store.keyFile,
        ROSTER_HOST: '127.0.0.1',
        ROSTER_PORT: String(port),
        ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
        ROSTER_LOG_LEVEL: 'warn',
        ROSTER_RATE_LIMIT_TENANT: '0',
        ROSTER_RATE_LIMIT_GLOBAL: '0',
        ...extraEnv,
      },
      readyUrl: `${base}/readyz`,
    });
    try {
      const token = await setUpTenant(base, setup);
      const makeRequest = onboardingMaker(token, randomBytes(3).toString('hex'));
      const index = await warmUp(base, connections, makeRequest);
      const before = await groupCommitMetrics(base);
      const deadlocksBefore = kind === 'postgres' ? await pgDeadlocks() : 0;
      const sampler = kind === 'postgres' ? samplePgBackends(store.schema) : undefined;
      const cpu = new CpuMeter([server.pid]);
      const lag = sampleAuditLag(base);
      r = await drive({
        url: base,
        path: '/api/v1/onboardings',
        connections,
        duration: cfg.duration,
        makeRequest,
        startIndex: index,
      });
      r.audit = await lag.stop();
      r.cpu = cpu.read();
      r.cpu.background = Math.max(0, r.cpu.machine - r.cpu.server - r.cpu.postgres - r.cpu.loadgen);
      if (sampler) r.pgBackends = await sampler.stop();
      const deadlocks = kind === 'postgres' ? (await pgDeadlocks()) - deadlocksBefore : 0;
      const after = await groupCommitMetrics(base);
      const d = Object.fromEntries(Object.entries(after).map(([k, v]) => [k, v - (before[k] ?? 0)]));
      r.groupCommit = {
        batches: d.batches,
        meanBatch: d.batches > 0 ? d.works / d.batches : null,
        meanCommitMs: d.commits > 0 ? (d.commitSeconds / d.commits) * 1000 : null,
        meanWaitMs: d.batches > 0 ? (d.waitSeconds / d.batches) * 1000 : null,
        failedBatches: d.failedBatches,
        deadlocks,
      };
    } finally {
      const exit = await server.stop(60_000);
      if (exit.code !== 0) log(`  roster exited with ${exit.code ?? exit.signal}:\n${server.output()}`);
    }
    r.check = await checkStore(store);
    r.check.pools = undefined;
  } finally {
    await store.drop();
  }
  const inv = r.check.ok ? 'ok' : `VIOLATED (${r.check.violations.join('; ')})`;
  log(
    `  roster ${kind} ${setup} c=${connections}: ${fmt.rate(r.rate)}/s p50 ${fmt.ms(r.p50)} p99 ${fmt.ms(r.p99)} errors ${r.errors} ` +
      `batch ${r.groupCommit.meanBatch?.toFixed(1) ?? '-'} commit ${fmt.ms(r.groupCommit.meanCommitMs)} ms deadlocks ${r.groupCommit.deadlocks} ` +
      `cpu server ${fmt.pct(r.cpu.server)} pg ${fmt.pct(r.cpu.postgres)} loadgen ${fmt.pct(r.cpu.loadgen)} ` +
      `other ${fmt.pct(r.cpu.background)} invariant ${inv} audit lag max ${r.audit.maxLagS ?? '-'} s, caught up ${r.audit.catchUpMs === null ? '-' : `${Math.round(r.audit.catchUpMs)} ms`} after`,
  );
  if (r.errors > 0) log(`    status codes: ${JSON.stringify(r.statusCodes)}`);
  if (r.pgBackends) {
    log(
      `    PG backends (mean ${r.pgBackends.meanBackends.toFixed(1)}): ${r.pgBackends.states
        .slice(0, 5)
        .map((x) => `${x.state} ${Math.round(x.share * 100)}%`)
        .join(', ')}`,
    );
  }
  return r;
}

/**
 * The audit integrator under load: samples roster_audit_integration_lag_seconds (age of the oldest pending
 * entry when a round starts) every 250 ms while the load runs; `stop` then waits until a round finds nothing
 * pending and says how long that took after the load ended. Both null when the integrator is off.
 */
function sampleAuditLag(base) {
  const read = async () => {
    const res = await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const m = /^roster_audit_integration_lag_seconds (\S+)$/m.exec(await res.text());
    return m ? Number(m[1]) : null;
  };
  let max = null;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    read()
      .then((v) => {
        if (v !== null) max = Math.max(max ?? 0, v);
      })
      .catch(() => {})
      .finally(() => {
        busy = false;
      });
  }, 250);
  return {
    async stop() {
      clearInterval(timer);
      const ended = performance.now();
      let catchUpMs = null;
      if (max !== null) {
        for (let i = 0; i < 600; i++) {
          const v = await read().catch(() => null);
          if (v === 0) {
            catchUpMs = performance.now() - ended;
            break;
          }
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      return { maxLagS: max === null ? null : Math.round(max * 1000) / 1000, catchUpMs };
    },
  };
}

/** The median rate of the runs; latencies are those of the run with that median rate. */
function summarise(runs) {
  const mid = medianRun(runs);
  return {
    runs,
    mid,
    rate: mid.rate,
    p50: mid.p50,
    p99: mid.p99,
    errors: runs.reduce((a, r) => a + r.errors, 0),
    invariantOk: runs.every((r) => r.check === undefined || r.check.ok),
    rates: runs.map((r) => r.rate),
  };
}

async function rosterPoint(kind, c, setup, extra = {}) {
  const runs = [];
  for (let k = 0; k < (c === TOP ? cfg.repeats : 1); k++)
    runs.push(await rosterRun(kind, c, setup, undefined, extra));
  return summarise(runs);
}

// ---- report

function report({
  machine,
  http,
  raw,
  roster,
  variants,
  verdicts,
  profiles,
  started,
  seconds,
  audit,
  login,
  scim,
  console: consoleTti,
}) {
  const L = [];
  L.push(
    `Run ${started} (${Math.round(seconds)} s), command: \`${cfg.command}\`, Roster at ${env.BENCH_APP ? `${env.BENCH_APP} (BENCH_APP)` : cfg.source}`,
  );
  L.push('');
  L.push(
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.ramGiB} GiB RAM, Node ${machine.node}, PostgreSQL ${machine.postgres}, ${machine.platform}`,
  );
  L.push(
    `Settings: ${cfg.duration} s per point after ${cfg.warmup} s warm-up, median of ${cfg.repeats} at c=${TOP}, ${cfg.pools} site pools ("spread") unless noted, rate limits off, log level warn${cfg.priority === null ? '' : `, bench processes at nice ${cfg.priority} (PostgreSQL not)`}. "other CPU" is what the rest of the machine used during the point, in % of one core.`,
  );
  L.push('');
  L.push('### Roster onboardings over HTTP (pool set-up: spread over site pools)');
  L.push('');
  L.push(
    '| store | c | onboardings/s | p50 ms | p99 ms | errors | x HTTP ceiling | x DB ceiling (tx/onb.) | x DB ceiling (100/tx) | x DB ceiling (bulk) | mean batch | mean commit ms | PG deadlocks | server CPU | PG CPU | other CPU | invariant | runs (onb./s) |',
  );
  L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
  for (const kind of cfg.stores) {
    for (const c of cfg.concurrency) {
      const p = roster[kind]?.[c];
      if (!p) continue;
      const h = http[c] ?? { rate: null };
      const tx = raw.find((r) => r.store === kind && r.mode === 'tx' && r.pools === cfg.pools);
      const batch = raw.find((r) => r.store === kind && r.mode === 'batch');
      const bulk = raw.find((r) => r.store === kind && r.mode === 'bulk');
      const mid = p.mid;
      L.push(
        `| ${kind} | ${c} | ${fmt.rate(p.rate)} | ${fmt.ms(p.p50)} | ${fmt.ms(p.p99)} | ${p.errors} | ${fmt.ratio(h.rate ? p.rate / h.rate : null)} | ${fmt.ratio(tx ? p.rate / tx.rate : null)} | ${fmt.ratio(batch ? p.rate / batch.rate : null)} | ${fmt.ratio(bulk ? p.rate / bulk.rate : null)} | ${mid.groupCommit.meanBatch?.toFixed(1) ?? '-'} | ${fmt.ms(mid.groupCommit.meanCommitMs)} | ${kind === 'postgres' ? mid.groupCommit.deadlocks : '-'} | ${fmt.pct(mid.cpu.server)} | ${fmt.pct(mid.cpu.postgres)} | ${fmt.pct(mid.cpu.background)} | ${p.invariantOk ? 'ok' : 'VIOLATED'} | ${p.rates.map(fmt.rate).join(', ')} |`,
      );
    }
  }
  L.push('');
  L.push(`### Pool set-up variants (c=${TOP})`);
  L.push('');
  L.push(
    '| store | pools | onboardings/s | p50 ms | p99 ms | errors | x HTTP ceiling | mean batch | mean commit ms | PG deadlocks | audit lag max s | audit caught up ms | invariant | runs |',
  );
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|');
  for (const v of variants) {
    const mid = v.point.mid;
    L.push(
      `| ${v.kind} | ${v.label} | ${fmt.rate(v.point.rate)} | ${fmt.ms(v.point.p50)} | ${fmt.ms(v.point.p99)} | ${v.point.errors} | ${fmt.ratio(http[TOP] ? v.point.rate / http[TOP].rate : null)} | ${mid.groupCommit.meanBatch?.toFixed(1) ?? '-'} | ${fmt.ms(mid.groupCommit.meanCommitMs)} | ${v.kind === 'postgres' ? mid.groupCommit.deadlocks : '-'} | ${mid.audit?.maxLagS ?? '-'} | ${mid.audit?.catchUpMs == null ? '-' : Math.round(mid.audit.catchUpMs)} | ${v.point.invariantOk ? 'ok' : 'VIOLATED'} | ${v.point.rates.map(fmt.rate).join(', ')} |`,
    );
  }
  L.push('');
  const sampled = [
    ...cfg.concurrency.map((c) => ({ label: `spread, c=${c}`, run: roster.postgres?.[c]?.mid })),
    {
      label: `one pool, c=${TOP}`,
      run: variants.find((v) => v.kind === 'postgres' && v.setup === 'single')?.point.mid,
    },
  ].filter((x) => x.run?.pgBackends);
  if (sampled.length > 0) {
    L.push("### What Roster's PostgreSQL backends were doing (pg_stat_activity every 100 ms, median run)");
    L.push('');
    L.push('| point | connections | busy (not idle) | share of busy samples by state |');
    L.push('|---|---:|---:|---|');
    for (const { label, run } of sampled) {
      const b = run.pgBackends;
      const idle = b.states.find((x) => x.state === 'idle')?.share ?? 0;
      const busy = b.states.filter((x) => x.state !== 'idle' && x.share / Math.max(1e-9, 1 - idle) >= 0.005);
      L.push(
        `| ${label} | ${b.meanBackends.toFixed(1)} | ${(b.meanBackends * (1 - idle)).toFixed(1)} | ${busy
          .map((x) => `${x.state}: ${Math.round((x.share / (1 - idle)) * 100)}%`)
          .join('; ')} |`,
      );
    }
    L.push('');
  }
  L.push('### HTTP ceiling: bare Fastify, same body, 201');
  L.push('');
  L.push('| c | requests/s | p50 ms | p99 ms | errors | server CPU | load-generator CPU | runs |');
  L.push('|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const c of cfg.concurrency) {
    const h = http[c];
    if (!h) continue;
    const mid = h.mid;
    L.push(
      `| ${c} | ${fmt.rate(h.rate)} | ${fmt.ms(h.p50)} | ${fmt.ms(h.p99)} | ${h.errors} | ${fmt.pct(mid.cpu.server)} | ${fmt.pct(mid.cpu.loadgen)} | ${h.rates.map(fmt.rate).join(', ')} |`,
    );
  }
  L.push('');
  L.push('### Database ceiling: the same rows as raw SQL (no Roster)');
  L.push('');
  L.push(
    '| store | mode | pools | onboardings/s | tx p50 ms | tx p99 ms | deadlocks | writer CPU | PG CPU | invariant |',
  );
  L.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const r of raw) {
    L.push(
      `| ${r.store} | ${r.label} | ${r.pools} | ${fmt.rate(r.rate)} | ${fmt.ms(r.txP50)} | ${fmt.ms(r.txP99)} | ${r.store === 'postgres' ? r.deadlocks : '-'} | ${fmt.pct(r.cpu.writer)} | ${r.store === 'postgres' ? fmt.pct(r.cpu.postgres) : '-'} | ${r.check.ok ? 'ok' : 'VIOLATED'} |`,
    );
  }
  L.push('');
  L.push(`### Targets (c=${TOP}, medians)`);
  L.push('');
  for (const v of verdicts) L.push(`- ${v.met ? 'MET' : 'MISSED'}: ${v.text}`);
  L.push('');
  for (const p of profiles) L.push(profileMarkdown(p.summary, p.title));
  if (audit?.markdown) L.push(`## Audit log proofs (bench/audit.js)\n\n${audit.markdown}`);
  if (login?.markdown) L.push(`## Login timing (bench/login.js)\n\n${login.markdown}`);
  if (scim?.markdown) L.push(`## SCIM (bench/scim.js)\n\n${scim.markdown}`);
  if (consoleTti?.markdown)
    L.push(`## Console time to interactive (bench/console.js)\n\n${consoleTti.markdown}`);
  return L.join('\n');
}

// ---- the audit log's proofs (part `audit`: bench/audit.js as a child process, progress on stderr)

async function auditPart() {
  log('audit log proofs (bench/audit.js)');
  await waitQuiet();
  const file = join(cfg.out, 'audit.json');
  rmSync(file, { force: true });
  const child = spawnSync(process.execPath, ['bench/audit.js', '--dist', join(cfg.app, 'dist')], {
    cwd: ROOT,
    stdio: ['ignore', 2, 2],
    env: { ...env, BENCH_STORES: cfg.stores.join(','), BENCH_OUT: relative(ROOT, cfg.out) },
  });
  if (child.status !== 0) {
    log(`  bench/audit.js exited with ${child.status ?? child.signal}: npm run bench will exit 1`);
    process.exitCode = 1;
  }
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}

// ---- the admin login's timing (part `login`: bench/login.js as a child process, progress on stderr)

async function loginPart() {
  log('login timing (bench/login.js)');
  await waitQuiet();
  const file = join(cfg.out, 'login.json');
  rmSync(file, { force: true });
  const child = spawnSync(process.execPath, ['bench/login.js', '--dist', join(cfg.app, 'dist')], {
    cwd: ROOT,
    stdio: ['ignore', 2, 2],
    env: { ...env, BENCH_OUT: relative(ROOT, cfg.out) },
  });
  if (child.status !== 0) {
    log(`  bench/login.js exited with ${child.status ?? child.signal}: npm run bench will exit 1`);
    process.exitCode = 1;
  }
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}

// ---- SCIM and console (parts `scim` and `console`: bench/scim.js and bench/console.js as child processes,
// each writing BENCH_OUT/<part>.json and progress on stderr)

async function scriptPart(part, title) {
  log(`${title} (bench/${part}.js)`);
  await waitQuiet();
  const file = join(cfg.out, `${part}.json`);
  rmSync(file, { force: true });
  const child = spawnSync(process.execPath, [`bench/${part}.js`, '--app', cfg.app], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 2],
    env: { ...env, BENCH_OUT: relative(ROOT, cfg.out), BENCH_STORES: cfg.stores.join(',') },
  });
  if (child.status !== 0) {
    log(`  bench/${part}.js exited with ${child.status ?? child.signal}: npm run bench will exit 1`);
    process.exitCode = 1;
  }
  return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : undefined;
}

// ---- main

/** `node bench/run.js --report <results.json>`: rewrites the markdown of a saved run (no measuring). */
function reportOnly(file) {
  const saved = JSON.parse(readFileSync(file, 'utf8'));
  Object.assign(cfg, saved.cfg, { parts: new Set(Array.isArray(saved.cfg.parts) ? saved.cfg.parts : []) });
  const md = report(saved);
  writeFileSync(file.replace(/\.json$/, '.md'), `${md}\n`);
  process.stdout.write(`${md}\n`);
}

async function main() {
  const t0 = performance.now();
  const started = new Date().toISOString();
  cfg.command = `${Object.entries(env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v} `)
    .join('')}npm run bench`;
  ensureBuilt();
  prioritise();
  cfg.source = sourceVersion();
  mkdirSync(cfg.out, { recursive: true });
  // BENCH_APP: a folder with bin/ and dist/ to benchmark instead (e.g. a patched copy for a what-if).
  cfg.app = env.BENCH_APP ? join(ROOT, env.BENCH_APP) : snapshotApp();
  const pgVersion = await postgresReachable();
  if (!pgVersion && cfg.stores.includes('postgres')) {
    log(
      `PostgreSQL at ${env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'} does not answer: skipping it`,
    );
    cfg.stores = cfg.stores.filter((s) => s !== 'postgres');
  }
  const machine = machineInfo(pgVersion);
  log(`machine: ${JSON.stringify(machine)}`);
  log(`settings: ${JSON.stringify({ ...cfg, parts: [...cfg.parts] })}`);
  mkdirSync(cfg.out, { recursive: true });

  const has = (part) => cfg.parts.has(part);
  let http = {};
  if (has('http')) {
    log('HTTP ceiling (bare Fastify)');
    http = await httpCeiling();
  }
  let raw = [];
  if (has('raw')) {
    log('database ceiling (raw SQL)');
    raw = await dbCeilings(cfg.stores);
  }

  const roster = {};
  if (has('roster')) {
    for (const kind of cfg.stores) {
      roster[kind] = {};
      for (const c of cfg.concurrency) {
        log(`Roster ${kind} c=${c}`);
        roster[kind][c] = await rosterPoint(kind, c, 'spread');
      }
    }
  }
  const variants = [];
  if (has('variants')) {
    for (const kind of cfg.stores) {
      if (cfg.variants.has('single')) {
        log(`Roster ${kind} c=${TOP}, one pool for everyone`);
        variants.push({
          kind,
          label: '1 pool for everyone',
          setup: 'single',
          point: await rosterPoint(kind, TOP, 'single'),
        });
      }
      // The write path without the audit integrator (ROSTER_AUDIT_INTEGRATOR=off): what integrating costs.
      if (cfg.variants.has('audit-off')) {
        log(`Roster ${kind} c=${TOP}, ${cfg.pools} site pools, audit integrator off`);
        variants.push({
          kind,
          label: `${cfg.pools} site pools, audit integrator off`,
          setup: 'spread',
          point: await rosterPoint(kind, TOP, 'spread', { env: { ROSTER_AUDIT_INTEGRATOR: 'off' } }),
        });
      }
      // The same workload with sealing, opening and blind indexes replaced by identity functions (a preload
      // that only the benchmark uses): what encryption costs. The issue's target: within 15 %.
      if (cfg.variants.has('encryption-off')) {
        log(`Roster ${kind} c=${TOP}, ${cfg.pools} site pools, encryption off (identity cipher)`);
        variants.push({
          kind,
          label: `${cfg.pools} site pools, encryption off`,
          setup: 'spread',
          encryptionOff: true,
          point: await rosterPoint(kind, TOP, 'spread', {
            nodeArgs: ['--import', pathToFileURL(join(ROOT, 'bench/identity-cipher.js')).href],
            env: { BENCH_DIST: join(cfg.app, 'dist') },
          }),
        });
      }
      if (roster[kind]?.[TOP]) {
        variants.push({
          kind,
          label: `${cfg.pools} site pools (spread)`,
          setup: 'spread',
          point: roster[kind][TOP],
        });
      }
    }
  }

  const ceiling = http[TOP]?.rate ?? null;
  const verdicts = [];
  const missed = [];
  for (const kind of cfg.stores) {
    const p = roster[kind]?.[TOP];
    if (!p || ceiling === null) continue;
    const t = TARGETS[kind];
    const met = p.rate >= t.ratio * ceiling && p.p99 !== null && p.p99 < t.p99 && p.invariantOk;
    verdicts.push({
      met,
      text: `${kind}: ${fmt.rate(p.rate)} onboardings/s = ${fmt.ratio(p.rate / ceiling)} the HTTP ceiling (target >= ${t.ratio}x = ${fmt.rate(t.ratio * ceiling)}/s), p99 ${fmt.ms(p.p99)} ms (target < ${t.p99} ms)${p.invariantOk ? '' : ', INVARIANT VIOLATED'}`,
    });
    if (!met) missed.push({ kind, setup: 'spread' });
  }
  const single = variants.find((v) => v.kind === 'postgres' && v.setup === 'single');
  if (single && ceiling !== null) {
    const met = single.point.rate >= TARGETS.single.ratio * ceiling && single.point.invariantOk;
    verdicts.push({
      met,
      text: `postgres, one pool for everyone: ${fmt.rate(single.point.rate)} onboardings/s = ${fmt.ratio(single.point.rate / ceiling)} the HTTP ceiling (target >= ${TARGETS.single.ratio}x = ${fmt.rate(TARGETS.single.ratio * ceiling)}/s), p99 ${fmt.ms(single.point.p99)} ms`,
    });
    if (!met) missed.push({ kind: 'postgres', setup: 'single' });
  }
  // Encryption's cost: the same spread workload at c=TOP with and without it, in this run.
  for (const kind of cfg.stores) {
    const off = variants.find((v) => v.kind === kind && v.encryptionOff);
    const on = roster[kind]?.[TOP];
    if (!off || !on) continue;
    const cost = 1 - on.rate / off.point.rate;
    verdicts.push({
      met: cost <= 0.15,
      text: `${kind}, encryption's cost: ${fmt.rate(on.rate)} onboardings/s with it, ${fmt.rate(off.point.rate)}/s with identity in its place = ${(cost * 100).toFixed(1)} % slower (target within 15 %)`,
    });
  }

  const profiles = [];
  const toProfile =
    cfg.profile === '1'
      ? cfg.stores.map((kind) => ({ kind, setup: 'spread' }))
      : cfg.profile === 'auto'
        ? missed
        : [];
  for (const t of toProfile) {
    const dir = join(cfg.out, 'profiles', `${t.kind}-${t.setup}-c${TOP}-${Date.now()}`);
    mkdirSync(dir, { recursive: true });
    log(`CPU profile of the server: ${t.kind} ${t.setup} c=${TOP}`);
    const r = await rosterRun(t.kind, TOP, t.setup, dir);
    const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
    if (!file) {
      log('  no .cpuprofile was written (the server did not exit cleanly?)');
      continue;
    }
    const summary = summariseProfile(join(dir, file), 25, r.window);
    summary.file = relative(ROOT, summary.file);
    profiles.push({
      title: `Server CPU profile: ${t.kind}, ${t.setup === 'single' ? 'one pool' : 'spread'}, c=${TOP} (profiled run: ${fmt.rate(r.rate)}/s, p99 ${fmt.ms(r.p99)} ms, server CPU ${fmt.pct(r.cpu.server)})`,
      summary,
      run: r,
    });
  }

  const audit = has('audit') ? await auditPart() : undefined;
  const login = has('login') ? await loginPart() : undefined;
  const scim = has('scim') ? await scriptPart('scim', 'SCIM creates and filters') : undefined;
  const consoleTti = has('console') ? await scriptPart('console', 'console time to interactive') : undefined;

  const seconds = (performance.now() - t0) / 1000;
  const results = {
    started,
    seconds,
    machine,
    http,
    raw,
    roster,
    variants,
    verdicts,
    profiles,
    audit,
    login,
    scim,
    console: consoleTti,
  };
  const md = report(results);
  writeFileSync(join(cfg.out, 'results.md'), `${md}\n`);
  writeFileSync(
    join(cfg.out, 'results.json'),
    `${JSON.stringify({ ...results, cfg: { ...cfg, parts: [...cfg.parts] } }, null, 2)}\n`,
  );
  process.stdout.write(`\n${md}\n`);
  log(
    `\nwritten: ${relative(ROOT, join(cfg.out, 'results.md'))}, ${relative(ROOT, join(cfg.out, 'results.json'))}`,
  );
}

if (process.argv[2] === '--report' && process.argv[3]) reportOnly(process.argv[3]);
else await main();
