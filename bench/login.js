// Login timing: does the admin login's password step take measurably longer for an existing account with a
// wrong password than for a username that does not exist? (issue 5: user enumeration through timing; the
// code path is tested in test/security/login.test.ts, the difference is measured here, never asserted.)
//
// In-process over the full HTTP stack (buildApp + app.http.inject) on SQLite, in one run: N attempts of each
// kind, interleaved (unknown, wrong password, unknown, ...) so that drift on a shared machine hits both
// alike. Every attempt comes from its own client address and every account is tried fewer times than the
// account lock threshold, so the login throttle never answers instead of the password check. Every answer
// must be 401 with the same problem type, or the run fails.
//
// Usage: node bench/login.js [--dist <compiled Roster, default dist/>]   (`npm run bench` runs it too: part
// `login` of BENCH_PARTS, with run.js's snapshot of dist/). Settings (environment):
//   BENCH_LOGIN_ATTEMPTS=400   attempts of each kind          BENCH_OUT=.tmp/bench (writes login.json)
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { newStore, ROOT } from './lib.js';

const { values: argv } = parseArgs({ options: { dist: { type: 'string', default: join(ROOT, 'dist') } } });
const env = process.env;
const ATTEMPTS = Number(env.BENCH_LOGIN_ATTEMPTS ?? 400);
const OUT = join(ROOT, env.BENCH_OUT ?? '.tmp/bench');
/** Below the account lock threshold (ACCOUNT_THROTTLE.threshold = 5 in src/access/admins/model.ts). */
const TRIES_PER_ACCOUNT = 4;
const ADMIN_TOKEN = `bench-admin-${randomBytes(16).toString('hex')}`;
const PASSWORD = `bench-${randomBytes(12).toString('hex')}`;
const LOGIN = '/api/v1/auth/login';

const log = (msg) => process.stderr.write(`${msg}\n`);
const load = (path) => import(pathToFileURL(join(argv.dist, path)).href);
const { buildApp } = await load('main.js');
const { loadConfig } = await load('platform/config.js');

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  return { n: s.length, p50: quantile(s, 0.5), p90: quantile(s, 0.9), p99: quantile(s, 0.99) };
}

async function call(app, method, url, body, headers = {}) {
  const res = await app.http.inject({
    method,
    url,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.body ? JSON.parse(res.body) : undefined };
}

async function main() {
  const store = newStore('sqlite');
  const app = await buildApp(
    loadConfig({
      ROSTER_DATABASE_URL: store.url,
      ROSTER_KEY_FILE: store.keyFile,
      ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
      ROSTER_LOG_LEVEL: 'warn',
      ROSTER_RATE_LIMIT_TENANT: '0',
      ROSTER_RATE_LIMIT_GLOBAL: '0',
    }),
  );
  const failures = [];
  try {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    const t = await call(app, 'POST', '/api/v1/tenants', { name: 'Login bench' }, auth);
    if (t.status !== 201) throw new Error(`POST /api/v1/tenants answered ${t.status}`);
    const tenant = t.body.id;
    const accounts = Math.ceil(ATTEMPTS / TRIES_PER_ACCOUNT);
    log(`login timing: creating ${accounts} admin accounts (argon2id each)`);
    const names = [];
    for (let i = 0; i < accounts; i++) {
      const username = `bench-admin-${i}`;
      const res = await call(
        app,
        'POST',
        '/api/v1/admins',
        { username, password: PASSWORD, roles: ['viewer'] },
        { ...auth, 'roster-tenant': tenant },
      );
      if (res.status !== 201) throw new Error(`POST /api/v1/admins answered ${res.status}`);
      names.push(username);
      if ((i + 1) % 25 === 0 || i + 1 === accounts) log(`  ${i + 1}/${accounts}`);
    }
    let ip = 0;
    const attempt = async (username) => {
      ip++;
      const remoteAddress = `10.${(ip >> 16) & 255}.${(ip >> 8) & 255}.${ip & 255}`;
      const t0 = performance.now();
      const res = await app.http.inject({
        method: 'POST',
        url: LOGIN,
        headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ tenant, username, password: `wrong-${randomBytes(8).toString('hex')}` }),
        remoteAddress,
      });
      const ms = performance.now() - t0;
      if (res.statusCode !== 401) failures.push(`${username}: ${res.statusCode}`);
      return { ms, type: JSON.parse(res.body).type };
    };
    // Warm-up: the first unknown-user attempt hashes the dummy once; JIT settles.
    for (let i = 0; i < 10; i++) await attempt(`warm-${i}`);
    const unknown = [];
    const wrong = [];
    const types = new Set();
    log(`login timing: ${ATTEMPTS} attempts of each kind, interleaved`);
    for (let i = 0; i < ATTEMPTS; i++) {
      const a = await attempt(`nobody-${randomBytes(6).toString('hex')}`);
      const b = await attempt(names[Math.floor(i / TRIES_PER_ACCOUNT)]);
      unknown.push(a.ms);
      wrong.push(b.ms);
      types.add(a.type).add(b.type);
    }
    if (types.size !== 1) failures.push(`answers of ${types.size} problem types: ${[...types].join(', ')}`);
    const u = stats(unknown);
    const w = stats(wrong);
    const result = {
      attempts: ATTEMPTS,
      unknownUsername: u,
      wrongPassword: w,
      differenceP50Ms: w.p50 - u.p50,
      ratioP50: w.p50 / u.p50,
      failures,
    };
    return result;
  } finally {
    await app.close();
    await store.drop();
  }
}

const fmt = (x) => (x === null ? '-' : x.toFixed(2));
const r = await main();
const markdown = [
  '| login attempt (SQLite, in-process HTTP) | n | p50 ms | p90 ms | p99 ms |',
  '|---|---:|---:|---:|---:|',
  `| unknown username | ${r.unknownUsername.n} | ${fmt(r.unknownUsername.p50)} | ${fmt(r.unknownUsername.p90)} | ${fmt(r.unknownUsername.p99)} |`,
  `| existing account, wrong password | ${r.wrongPassword.n} | ${fmt(r.wrongPassword.p50)} | ${fmt(r.wrongPassword.p90)} | ${fmt(r.wrongPassword.p99)} |`,
  '',
  `Difference of the medians: ${fmt(r.differenceP50Ms)} ms (wrong password / unknown = ${r.ratioP50.toFixed(3)}x). ` +
    `${r.failures.length === 0 ? 'Every answer was the same 401 problem.' : `FAILURES: ${r.failures.slice(0, 5).join('; ')}`}`,
].join('\n');
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'login.json'), `${JSON.stringify({ ...r, markdown }, null, 2)}\n`);
process.stdout.write(`${markdown}\n`);
if (r.failures.length > 0) process.exitCode = 1;
