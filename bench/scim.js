// SCIM benchmark (issue 4): SCIM user creation over HTTP at concurrency 64, and filter latency on a tenant
// with 100,000 users (`userName eq`, the lookup Entra ID and Okta make before every create, plus `sw` and `co`
// on the encrypted userName through the prefix and trigram indexes), on SQLite and PostgreSQL.
//
// Roster runs as its own process (`roster serve`, rate limits off); the load comes from this process
// (autocannon for the creates, keep-alive fetch for the filters). The tenant is filled through SCIM itself, so
// every user is encrypted and indexed exactly as in production.
//
// Usage: node bench/scim.js [--app <folder with bin/ and dist/, default the repository>]   (`npm run bench`
// runs it as part `scim`). Settings (environment):
//   BENCH_SCIM_USERS=100000   users in the tenant before the filters are timed
//   BENCH_SCIM_DURATION=10    seconds of the create measurement      BENCH_SCIM_CONNECTIONS=64
//   BENCH_SCIM_QUERIES=1000   filter requests per kind (sequential, one connection)
//   BENCH_STORES=sqlite,postgres   BENCH_OUT=.tmp/bench (writes scim.json)
// Prints progress on stderr and one JSON line (the results) on stdout.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { call, drive, freePort, newStore, postgresReachable, quantile, ROOT, startProcess } from './lib.js';

const { values: argv } = parseArgs({ options: { app: { type: 'string', default: ROOT } } });
const env = process.env;
const cfg = {
  users: Number(env.BENCH_SCIM_USERS ?? 100_000),
  duration: Number(env.BENCH_SCIM_DURATION ?? 10),
  connections: Number(env.BENCH_SCIM_CONNECTIONS ?? 64),
  queries: Number(env.BENCH_SCIM_QUERIES ?? 1000),
  stores: (env.BENCH_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim()),
  out: join(ROOT, env.BENCH_OUT ?? '.tmp/bench'),
};
const ADMIN_TOKEN = `bench-admin-${randomBytes(16).toString('hex')}`;
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const RUN = randomBytes(3).toString('hex');

const log = (msg) => process.stderr.write(`${msg}\n`);

/** The i-th user of the run: distinct userName and e-mail, a few plain attributes. */
function scimUser(i) {
  const userName = `user${i}.${RUN}@bench.example`;
  return {
    schemas: [USER_SCHEMA],
    userName,
    name: { givenName: `Given${i}`, familyName: `Family${i % 997}` },
    displayName: `User ${i}`,
    title: i % 3 === 0 ? 'Engineer' : 'Analyst',
    emails: [{ value: userName, type: 'work', primary: true }],
    active: true,
  };
}

/** Creates users `from` … `to - 1` with `connections` requests in flight, reporting progress. */
async function fill(base, token, from, to, connections) {
  let next = from;
  let done = 0;
  let lastLog = Date.now();
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const res = await fetch(`${base}/scim/v2/Users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
        body: JSON.stringify(scimUser(i)),
      });
      await res.arrayBuffer();
      if (res.status !== 201) throw new Error(`fill: POST /scim/v2/Users answered ${res.status}`);
      done++;
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        log(`    filled ${from + done} / ${to}`);
      }
    }
  };
  await Promise.all(Array.from({ length: connections }, worker));
}

/** `cfg.queries` sequential GETs of `makePath(i)`; every answer must be 200 with `expect(body)` true. */
async function timeQueries(base, token, makePath, expect) {
  const ms = [];
  for (let i = 0; i < cfg.queries; i++) {
    const t0 = process.hrtime.bigint();
    const res = await fetch(`${base}${makePath(i)}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.json();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (res.status !== 200 || !expect(body, i)) {
      throw new Error(`query ${makePath(i)} answered ${res.status}: ${JSON.stringify(body).slice(0, 300)}`);
    }
  }
  ms.sort((a, b) => a - b);
  return { n: ms.length, p50: quantile(ms, 0.5), p99: quantile(ms, 0.99), max: ms[ms.length - 1] };
}

async function benchStore(kind) {
  const store = newStore(kind);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = await startProcess({
    name: `roster (${kind})`,
    script: join(argv.app, 'bin/roster.js'),
    args: ['serve'],
    env: {
      ROSTER_PORT: String(port),
      ROSTER_HOST: '127.0.0.1',
      ROSTER_DATABASE_URL: store.url,
      ROSTER_KEY_FILE: store.keyFile,
      ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
      ROSTER_LOG_LEVEL: 'warn',
      ROSTER_RATE_LIMIT_TENANT: '0',
      ROSTER_RATE_LIMIT_GLOBAL: '0',
    },
    readyUrl: `${base}/readyz`,
  });
  try {
    const tenant = await call(base, 'POST', '/api/v1/tenants', ADMIN_TOKEN, { name: `scim-bench-${RUN}` });
    const { token } = await call(base, 'POST', '/api/v1/tokens', ADMIN_TOKEN, {
      tenantId: tenant.id,
      name: 'scim bench',
      roles: ['provisioner'],
    });

    log(`  ${kind}: SCIM POST /Users at c=${cfg.connections} for ${cfg.duration} s`);
    await drive({
      url: base,
      path: '/scim/v2/Users',
      connections: cfg.connections,
      duration: 2,
      startIndex: 10_000_000,
      makeRequest: (i) => ({
        body: JSON.stringify(scimUser(i)),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      }),
    });
    const create = await drive({
      url: base,
      path: '/scim/v2/Users',
      connections: cfg.connections,
      duration: cfg.duration,
      startIndex: 20_000_000,
      makeRequest: (i) => ({
        body: JSON.stringify(scimUser(i)),
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      }),
    });
    log(
      `    ${create.rate.toFixed(0)} creates/s, p50 ${create.p50.toFixed(1)} ms, p99 ${create.p99.toFixed(1)} ms, errors ${create.errors}`,
    );

    const have = (await call(base, 'GET', '/scim/v2/Users?count=0', token)).totalResults;
    log(`  ${kind}: filling the tenant from ${have} to ${cfg.users} users`);
    const fillStart = Date.now();
    await fill(base, token, 0, Math.max(0, cfg.users - have), 16);
    const fillSeconds = (Date.now() - fillStart) / 1000;
    const total = (await call(base, 'GET', '/scim/v2/Users?count=0', token)).totalResults;
    log(`    ${total} users (${fillSeconds.toFixed(0)} s)`);

    const filled = Math.max(1, cfg.users - have);
    const pick = (i) => (i * 7919) % filled;
    const q = (f) => `/scim/v2/Users?filter=${encodeURIComponent(f)}`;
    log(`  ${kind}: ${cfg.queries} sequential filters of each kind`);
    const eq = await timeQueries(
      base,
      token,
      (i) => q(`userName eq "${scimUser(pick(i)).userName.toUpperCase()}"`),
      (b) => b.totalResults === 1,
    );
    log(`    userName eq: p50 ${eq.p50.toFixed(2)} ms, p99 ${eq.p99.toFixed(2)} ms`);
    const sw = await timeQueries(
      base,
      token,
      (i) => q(`userName sw "user${pick(i)}.${RUN}@"`),
      (b) => b.totalResults === 1,
    );
    log(`    userName sw: p50 ${sw.p50.toFixed(2)} ms, p99 ${sw.p99.toFixed(2)} ms`);
    const co = await timeQueries(
      base,
      token,
      (i) => q(`userName co "r${pick(i)}.${RUN}@"`),
      (b) => b.totalResults >= 1,
    );
    log(`    userName co: p50 ${co.p50.toFixed(2)} ms, p99 ${co.p99.toFixed(2)} ms`);
    const page = await timeQueries(
      base,
      token,
      (i) =>
        `/scim/v2/Users?filter=${encodeURIComponent('title eq "Engineer"')}&startIndex=${1 + ((i * 97) % 1000)}&count=100`,
      (b) => b.Resources.length === Math.max(0, Math.min(100, b.totalResults - b.startIndex + 1)),
    );
    log(`    title eq, page of 100: p50 ${page.p50.toFixed(2)} ms, p99 ${page.p99.toFixed(2)} ms`);
    return {
      store: kind,
      create: {
        connections: cfg.connections,
        seconds: create.seconds,
        rate: create.rate,
        p50: create.p50,
        p99: create.p99,
        errors: create.errors,
      },
      users: total,
      fillSeconds,
      filters: { userNameEq: eq, userNameSw: sw, userNameCo: co, pageOf100: page },
    };
  } finally {
    await server.stop();
    await store.drop();
  }
}

function markdown(results) {
  const L = [];
  L.push(
    `| store | SCIM creates/s (c=${cfg.connections}) | p50 ms | p99 ms | errors | users | \`userName eq\` p50 / p99 ms | \`sw\` p50 / p99 ms | \`co\` p50 / p99 ms | page of 100 p50 / p99 ms |`,
  );
  L.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  const f = (s) => `${s.p50.toFixed(2)} / ${s.p99.toFixed(2)}`;
  for (const r of results) {
    L.push(
      `| ${r.store} | ${r.create.rate.toFixed(0)} | ${r.create.p50.toFixed(1)} | ${r.create.p99.toFixed(1)} | ${r.create.errors} | ${r.users} | ${f(r.filters.userNameEq)} | ${f(r.filters.userNameSw)} | ${f(r.filters.userNameCo)} | ${f(r.filters.pageOf100)} |`,
    );
  }
  return L.join('\n');
}

async function main() {
  const results = [];
  for (const kind of cfg.stores) {
    if (kind === 'postgres' && !(await postgresReachable())) {
      throw new Error('PostgreSQL is not reachable (BENCH_PG_URL)');
    }
    results.push(await benchStore(kind));
  }
  const out = { settings: cfg, results, markdown: markdown(results) };
  mkdirSync(cfg.out, { recursive: true });
  writeFileSync(join(cfg.out, 'scim.json'), `${JSON.stringify(out, null, 2)}\n`);
  log(out.markdown);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  log(`bench/scim.js failed: ${err.stack ?? err}`);
  process.exit(1);
});
