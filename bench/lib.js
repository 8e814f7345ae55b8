// Shared helpers of the benchmark: processes, ports, load generation, CPU accounting, stores, statistics.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, setPriority, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const PG_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * BENCH_PRIORITY (a nice value, e.g. -10): applied to the bench's own processes only (this driver and load
 * generator, the server child, the raw-SQL child), never to PostgreSQL, so that other work on a shared
 * machine disturbs the measurement less. Unset: normal priority.
 */
export function prioritise(pid = 0) {
  const nice = process.env.BENCH_PRIORITY;
  if (nice === undefined || nice === '') return;
  try {
    setPriority(pid, Number(nice));
  } catch (err) {
    process.stderr.write(`BENCH_PRIORITY: cannot renice ${pid || 'self'}: ${err.message}\n`);
  }
}

/** A TCP port that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts `node <nodeArgs> <script> <args>` as a child process and waits until `readyUrl` answers.
 * Returns { pid, stop(), exited, output() } where stop() sends SIGTERM and waits for the exit.
 */
export async function startProcess({ name, script, args = [], nodeArgs = [], env = {}, readyUrl }) {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  prioritise(child.pid);
  let tail = '';
  const keep = (chunk) => {
    tail = (tail + chunk.toString()).slice(-8000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (gone) throw new Error(`${name} exited before it was ready:\n${tail}`);
    try {
      const res = await fetch(readyUrl);
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not become ready within 60 s:\n${tail}`);
    }
    await sleep(50);
  }
  return {
    pid: child.pid,
    exited,
    output: () => tail,
    async stop(timeoutMs = 30_000) {
      if (gone) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const res = await exited;
      clearTimeout(timer);
      return res;
    },
  };
}

/** Runs a helper script to completion and returns the last JSON line it printed on stdout. */
export function runJsonScript(script, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    prioritise(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => {
      out += c;
    });
    child.stderr.on('data', (c) => {
      err = (err + c).slice(-8000);
    });
    child.once('exit', (code) => {
      const lines = out.trim().split('\n');
      const last = lines[lines.length - 1];
      if (code !== 0 || !last) {
        reject(new Error(`${script} ${args.join(' ')} failed (exit ${code}):\n${err}${out}`));
        return;
      }
      try {
        resolve(JSON.parse(last));
      } catch {
        reject(new Error(`${script} printed no JSON result:\n${out}\n${err}`));
      }
    });
  });
}

// ---- HTTP helpers for the set-up calls (not measured)

export async function call(base, method, path, token, body, headers = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text}`);
  const type = res.headers.get('content-type') ?? '';
  return type.includes('json') ? JSON.parse(text) : text;
}

// ---- load generation

/**
 * Drives `connections` keep-alive connections for `duration` seconds with autocannon (in this process,
 * never in the server's). `makeRequest(i)` returns { body, headers } for the i-th request (i is unique
 * across the run), so every request can carry its own Idempotency-Key and userName.
 * Latencies are recorded here from autocannon's per-response events (sub-millisecond, every status).
 */
export async function drive({ url, path, connections, duration, makeRequest, startIndex = 0 }) {
  let next = startIndex;
  const lat2xx = [];
  let latOther = 0;
  const instance = autocannon({
    url,
    connections,
    pipelining: 1,
    duration,
    timeout: 30,
    requests: [
      {
        method: 'POST',
        path,
        setupRequest(req) {
          const { body, headers } = makeRequest(next++);
          req.body = body;
          Object.assign(req.headers, headers);
          return req;
        },
      },
    ],
  });
  instance.on('response', (_client, statusCode, _bytes, responseTime) => {
    if (statusCode >= 200 && statusCode < 300) lat2xx.push(responseTime);
    else latOther++;
  });
  // CLOCK_MONOTONIC in microseconds: the clock of V8's CPU profiles, to cut a server profile to this window.
  const fromUs = Number(process.hrtime.bigint() / 1000n);
  const result = await instance;
  const toUs = Number(process.hrtime.bigint() / 1000n);
  lat2xx.sort((a, b) => a - b);
  const seconds = result.duration;
  const errors = result.non2xx + result.errors + result.timeouts;
  const statusCodes = Object.fromEntries(
    Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]),
  );
  return {
    connections,
    seconds,
    ok: result['2xx'],
    rate: result['2xx'] / seconds,
    p50: quantile(lat2xx, 0.5),
    p99: quantile(lat2xx, 0.99),
    max: lat2xx.length > 0 ? lat2xx[lat2xx.length - 1] : null,
    errors,
    non2xx: result.non2xx,
    socketErrors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    latOther,
    nextIndex: next,
    window: { fromUs, toUs },
  };
}

// ---- statistics

/** The q-quantile of a sorted array (nearest rank). */
export function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i];
}

export function median(values) {
  const v = values.filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** Of several runs, the one with the median rate (its latencies belong to the same run). */
export function medianRun(runs) {
  const sorted = [...runs].sort((a, b) => a.rate - b.rate);
  return sorted[Math.floor((sorted.length - 1) / 2)];
}

// ---- CPU accounting from /proc (Linux)

const CLK_TCK = 100;

function procTicks(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return undefined;
  }
}

function pidsNamed(name) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === name) out.push(Number(entry));
    } catch {
      // gone
    }
  }
  return out;
}

function machineTicks() {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  const total = v.reduce((a, b) => a + b, 0);
  return { idle, total };
}

/**
 * CPU used between construction and `read()`: by the given pids, by every `postgres` process, by this
 * process (the load generator), and by the whole machine; in percent of one core.
 */
export class CpuMeter {
  constructor(pids) {
    this.pids = pids;
    this.wall = performance.now();
    this.own = process.cpuUsage();
    this.start = new Map(pids.map((p) => [p, procTicks(p) ?? 0]));
    this.pg = new Map(pidsNamed('postgres').map((p) => [p, procTicks(p) ?? 0]));
    this.machine = machineTicks();
  }

  read() {
    const seconds = (performance.now() - this.wall) / 1000;
    const pct = (ticks) => (ticks / CLK_TCK / seconds) * 100;
    let procs = 0;
    for (const [p, t0] of this.start) procs += Math.max(0, (procTicks(p) ?? t0) - t0);
    let pgTicks = 0;
    for (const p of pidsNamed('postgres')) {
      const now = procTicks(p);
      if (now !== undefined) pgTicks += now - (this.pg.get(p) ?? 0);
    }
    const own = process.cpuUsage(this.own);
    const m = machineTicks();
    const busy = 1 - (m.idle - this.machine.idle) / Math.max(1, m.total - this.machine.total);
    return {
      server: pct(procs),
      postgres: pct(pgTicks),
      loadgen: ((own.user + own.system) / 1e6 / seconds) * 100,
      machine: busy * 100 * cpus().length,
    };
  }
}

// ---- stores

/**
 * A fresh, empty store: a temp SQLite file, or a new PostgreSQL schema (bench_<random>); each with a temp
 * folder for the key file. `drop()` removes the schema and the folder.
 */
export function newStore(kind) {
  const dir = mkdtempSync(join(tmpdir(), 'roster-bench-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  if (kind === 'sqlite') {
    const file = join(dir, 'roster.db');
    return {
      kind,
      dir,
      file,
      url: `sqlite:${file}`,
      keyFile: join(dir, 'roster.key'),
      drop: async () => removeDir(),
    };
  }
  const schema = `bench_${randomBytes(5).toString('hex')}`;
  const sep = PG_URL.includes('?') ? '&' : '?';
  return {
    kind,
    dir,
    schema,
    // application_name tags the server's connections so that pg_stat_activity can be sampled for them alone.
    url: `${PG_URL}${sep}schema=${schema}&application_name=${schema}`,
    keyFile: join(dir, 'roster.key'),
    async drop() {
      removeDir();
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

export async function postgresReachable() {
  const client = new pg.Client({ connectionString: PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    const r = await client.query('show server_version');
    return r.rows[0].server_version;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

// ---- the machine

export function machineInfo(pgVersion) {
  let cpuModel = 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) cpuModel = m[1].trim();
  } catch {
    // not Linux
  }
  return {
    cpuModel,
    cores: cpus().length,
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    postgres: pgVersion ?? 'not reachable',
    platform: `${process.platform} ${process.arch}`,
  };
}

export const fmt = {
  rate: (x) => (x === null || x === undefined ? '-' : Math.round(x).toLocaleString('en-US')),
  ms: (x) => (x === null || x === undefined ? '-' : x < 10 ? x.toFixed(2) : x.toFixed(1)),
  ratio: (x) => (x === null || x === undefined || !Number.isFinite(x) ? '-' : `${x.toFixed(2)}x`),
  pct: (x) => (x === null || x === undefined ? '-' : `${Math.round(x)}%`),
};

// ---- invariant check, straight on the store (run after the writer has stopped)

const POOL_CHECK_SQL = `
  select p.id, p.name, p.used, p.capacity,
         (select count(*) from assignments a where a.pool_id = p.id and a.state = 'active') as active
  from pools p order by p.name`;
const COUNTS_SQL = `
  select (select count(*) from users) as users,
         (select count(*) from user_emails) as emails,
         (select count(*) from assignments) as assignments,
         (select count(*) from assignments where state = 'waitlisted') as waitlisted,
         (select count(*) from audit_entries) as audit,
         (select count(*) from idempotency_keys) as idempotency`;

function verdict(pools, counts) {
  const violations = [];
  for (const p of pools) {
    const used = Number(p.used);
    const active = Number(p.active);
    const capacity = Number(p.capacity);
    if (used !== active) violations.push(`pool ${p.name}: used ${used} != ${active} active assignments`);
    if (used > capacity) violations.push(`pool ${p.name}: used ${used} > capacity ${capacity}`);
  }
  const c = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, Number(v)]));
  return {
    ok: violations.length === 0,
    violations,
    pools: pools.map((p) => ({ name: p.name, used: Number(p.used), active: Number(p.active) })),
    counts: c,
  };
}

/** Invariant 1 per pool: used == active assignments and used <= capacity; plus row counts. */
export async function checkStore(store) {
  if (store.kind === 'sqlite') {
    const { default: SQLite } = await import('better-sqlite3');
    const db = new SQLite(store.file, { readonly: true });
    try {
      return verdict(db.prepare(POOL_CHECK_SQL).all(), db.prepare(COUNTS_SQL).get());
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: PG_URL, options: `-c search_path=${store.schema}` });
  await client.connect();
  try {
    const pools = (await client.query(POOL_CHECK_SQL)).rows;
    const counts = (await client.query(COUNTS_SQL)).rows[0];
    return verdict(pools, counts);
  } finally {
    await client.end();
  }
}

/** PostgreSQL's count of deadlocks detected in the benchmark database so far (all sessions). */
export async function pgDeadlocks() {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    const r = await client.query('select deadlocks from pg_stat_database where datname = current_database()');
    return Number(r.rows[0]?.deadlocks ?? 0);
  } finally {
    await client.end();
  }
}

/**
 * Samples what the store's PostgreSQL backends (tagged with application_name = schema) are doing, every
 * `everyMs`: running (active, no wait event), waiting on a lock, on the client (idle in transaction: the
 * server has not sent the next statement yet), on I/O, or idle. `stop()` returns the share of each state.
 */
export function samplePgBackends(applicationName, everyMs = 100) {
  const client = new pg.Client({ connectionString: PG_URL });
  const counts = new Map();
  let samples = 0;
  let stopped = false;
  const loop = (async () => {
    await client.connect();
    while (!stopped) {
      const r = await client.query(
        `select state, wait_event_type, wait_event from pg_stat_activity
          where application_name = $1 and backend_type = 'client backend'`,
        [applicationName],
      );
      samples++;
      for (const row of r.rows) {
        const key =
          row.state === 'active'
            ? row.wait_event_type
              ? `active, waiting ${row.wait_event_type}:${row.wait_event}`
              : 'active, running'
            : row.state === 'idle in transaction'
              ? 'idle in transaction (waiting for the server)'
              : row.state;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
      await sleep(everyMs);
    }
    await client.end();
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      const total = [...counts.values()].reduce((a, b) => a + b, 0);
      return {
        samples,
        meanBackends: samples > 0 ? total / samples : 0,
        states: [...counts.entries()]
          .sort((a, b) => b[1] - a[1])
          .map(([state, n]) => ({
            state,
            share: n / Math.max(1, total),
            perSample: n / Math.max(1, samples),
          })),
      };
    },
  };
}
