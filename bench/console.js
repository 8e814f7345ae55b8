// Console benchmark (issue 8): time to interactive of the admin console's dashboard and users page on a
// tenant with 10,000 users (goal: under 1 s each), in headless Chromium (Debian `chromium` through
// playwright-core).
//
// Roster runs in this process (buildApp from the compiled dist/, as bench/login.js does), listening on a free
// port of 127.0.0.1 and serving the built console (console/dist: `npm run build`). Each tenant is filled
// through the REST API (onboardings with products, 16 in flight), so every user is encrypted, audited and
// holds seats as in production. Two scenarios, each a tenant of its own:
//   steady: the people joined over the last 30 days (Roster's clock is moved back while filling), and 20 in
//           the last 10 minutes: a tenant on an ordinary day;
//   burst:  all of them joined in the last minutes (a mass import just done): the dashboard's onboardings per
//           minute and recent activity must page through a busy audit log, which the API lists oldest first.
// The audit integrator is given time to catch up before measuring. An admin account is enrolled in TOTP
// through the API and its session cookie handed to the browser.
//
// Each load is cold: a new browser context (empty cache; the session cookie only), then the screen. Time to
// interactive is measured in the page, from navigation start (performance.timeOrigin) to the first moment
// the screen's content is on screen and usable, seen by a MutationObserver installed before the page's
// scripts run:
//   login:     the sign-in form (no session): the baseline, the console's own start without any data;
//   dashboard: seats in use, onboardings per minute, the utilisation bars and the recent-activity table all
//              show data from the API ("first data": seats and bars, which come first);
//   users:     the users table shows its first page (50 rows) and the pager.
// The screens' loads are interleaved; a load fails on any console error, failed request or answer >= 400.
//
// Usage: node bench/console.js [--app <folder with dist/ and console/dist/, default the repository>]
// Settings (environment):
//   BENCH_CONSOLE_USERS=10000   users per tenant             BENCH_CONSOLE_LOADS=10   measured loads per screen
//   BENCH_CONSOLE_WARMUP=2      unmeasured loads first       BENCH_CONSOLE_SCENARIOS=steady,burst
//   BENCH_STORES=sqlite         (or sqlite,postgres)         BENCH_OUT=.tmp/bench (writes console.json)
//   ROSTER_CHROMIUM=<path>      another Chromium
// Prints progress on stderr and one JSON line ({settings, results, markdown}) on stdout.
import { randomBytes } from 'node:crypto';
import { accessSync, constants, cpSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { call, newStore, postgresReachable, quantile, ROOT } from './lib.js';

const { values: argv } = parseArgs({ options: { app: { type: 'string', default: ROOT } } });
const env = process.env;
const cfg = {
  users: Number(env.BENCH_CONSOLE_USERS ?? 10_000),
  loads: Number(env.BENCH_CONSOLE_LOADS ?? 10),
  warmup: Number(env.BENCH_CONSOLE_WARMUP ?? 2),
  scenarios: (env.BENCH_CONSOLE_SCENARIOS ?? 'steady,burst').split(',').map((s) => s.trim()),
  concurrency: 16,
  stores: (env.BENCH_STORES ?? 'sqlite').split(',').map((s) => s.trim()),
  viewport: { width: 1280, height: 800 },
  out: join(ROOT, env.BENCH_OUT ?? '.tmp/bench'),
};
const ADMIN_TOKEN = `bench-admin-${randomBytes(16).toString('hex')}`;
const PASSWORD = `bench-${randomBytes(12).toString('hex')}`;
const RUN = randomBytes(3).toString('hex');
const GOAL_MS = 1000;
const DAY = 86_400_000;
const SCREENS = ['login', 'dashboard', 'users'];
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

const log = (msg) => process.stderr.write(`${msg}\n`);
const load = (path) => import(pathToFileURL(join(argv.app, 'dist', path)).href);

function findChromium() {
  const candidates = env.ROSTER_CHROMIUM
    ? [env.ROSTER_CHROMIUM]
    : [
        '/usr/bin/chromium',
        '/usr/bin/chromium-browser',
        ...(env.PATH ?? '').split(delimiter).map((d) => join(d, 'chromium')),
      ];
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not there
    }
  }
  return null;
}

/**
 * Roster serves the console found beside its dist/ (src/console/routes.ts: ../../console/dist). A copy of
 * dist/ alone (bench/run.js's snapshot) has none: it gets a copy of the repository's build.
 */
function ensureConsole() {
  const target = join(argv.app, 'console/dist');
  if (existsSync(join(target, 'index.html'))) return;
  const built = join(ROOT, 'console/dist');
  if (!existsSync(join(built, 'index.html'))) {
    throw new Error('the console is not built (console/dist/index.html): run `npm run build`');
  }
  log(`  ${argv.app} has no console/dist: copying the repository's build into it`);
  cpSync(built, target, { recursive: true });
}

const DEPARTMENTS = ['Engineering', 'Sales', 'Finance', 'Support', 'Marketing', 'Design', 'Operations'];
const COUNTRIES = ['DE', 'GB', 'FR', 'NL', 'SE', 'ES', 'IT', 'PL'];

/** The i-th person of a tenant: a few attributes, and products by department. */
function onboarding(tag, i) {
  const userName = `person${i}.${tag}@bench.example`;
  const department = DEPARTMENTS[i % DEPARTMENTS.length];
  const country = COUNTRIES[i % COUNTRIES.length];
  const products = ['OFFICE'];
  if (department === 'Engineering' || department === 'Design') products.push('CAD');
  if (i % 3 === 0) products.push('VPN');
  return {
    user: {
      userName,
      name: { givenName: `Given${i}`, familyName: `Family${i % 997}` },
      displayName: `Person ${i}`,
      emails: [{ value: userName, type: 'work', primary: true }],
      title: i % 5 === 0 ? 'Manager' : 'Specialist',
      department,
      location: { site: `${country.toLowerCase()}-${1 + (i % 3)}`, country },
    },
    products,
  };
}

/** Onboards people `from` … `to - 1` of the tenant with `concurrency` requests in flight. */
async function onboardRange(base, token, tag, from, to, progress) {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const res = await fetch(`${base}/api/v1/onboardings`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': `bench-${tag}-${i}`,
        },
        body: JSON.stringify(onboarding(tag, i)),
      });
      const text = await res.text();
      if (res.status !== 201)
        throw new Error(`fill: POST /api/v1/onboardings answered ${res.status}: ${text}`);
      progress();
    }
  };
  await Promise.all(Array.from({ length: Math.min(cfg.concurrency, to - from) }, worker));
}

/**
 * Fills a tenant. `steady`: in 50 batches whose times (Roster's clock) run from 30 days ago to an hour ago,
 * then 20 people over the last 10 minutes; `burst`: all now.
 */
async function fill(base, token, tag, scenario, clock) {
  let done = 0;
  let lastLog = Date.now();
  const progress = () => {
    done++;
    if (Date.now() - lastLog > 10_000) {
      lastLog = Date.now();
      log(`    onboarded ${done} / ${cfg.users}`);
    }
  };
  if (scenario === 'burst') {
    await onboardRange(base, token, tag, 0, cfg.users, progress);
    return;
  }
  const recent = Math.min(20, cfg.users);
  const aged = cfg.users - recent;
  const batches = 50;
  for (let b = 0; b < batches; b++) {
    clock.offset = -Math.round(30 * DAY - (b * (30 * DAY - 3_600_000)) / (batches - 1));
    await onboardRange(
      base,
      token,
      tag,
      Math.floor((b * aged) / batches),
      Math.floor(((b + 1) * aged) / batches),
      progress,
    );
  }
  for (let i = 0; i < recent; i++) {
    clock.offset = -Math.round(600_000 - (i * 570_000) / recent);
    await onboardRange(base, token, tag, aged + i, aged + i + 1, progress);
  }
  clock.offset = 0;
}

/** Waits until the audit integrator has nothing pending (its lag gauge reads 0 twice, 1 s apart). */
async function auditCaughtUp(base) {
  const deadline = Date.now() + 15 * 60_000;
  let zeros = 0;
  while (zeros < 2) {
    if (Date.now() > deadline) throw new Error('the audit integrator did not catch up within 15 minutes');
    const text = await call(base, 'GET', '/metrics', ADMIN_TOKEN);
    const m = /^roster_audit_integration_lag_seconds(?:\{[^}]*\})? ([0-9.e+-]+)$/m.exec(text);
    zeros = m && Number(m[1]) === 0 ? zeros + 1 : 0;
    await sleep(1000);
  }
}

/** Enrols a new admin account of the tenant in TOTP through the API: its session cookie. */
async function adminSession(base, tenantId, tag) {
  const { base32Decode, totp } = await load('access/admins/totp.js');
  const username = `bench-console-${tag}`;
  await call(
    base,
    'POST',
    '/api/v1/admins',
    ADMIN_TOKEN,
    { username, password: PASSWORD, roles: ['tenant-admin'] },
    { 'roster-tenant': tenantId },
  );
  const step = await call(base, 'POST', '/api/v1/auth/login', undefined, {
    tenant: tenantId,
    username,
    password: PASSWORD,
  });
  const res = await fetch(`${base}/api/v1/auth/totp/enrol`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ challenge: step.challenge, code: totp(base32Decode(step.secret), Date.now()) }),
  });
  await res.arrayBuffer();
  if (res.status !== 200) throw new Error(`POST /api/v1/auth/totp/enrol answered ${res.status}`);
  const [pair = ''] = (res.headers.getSetCookie()[0] ?? '').split(';');
  const eq = pair.indexOf('=');
  if (eq < 1) throw new Error('the enrolment set no session cookie');
  return { name: pair.slice(0, eq), value: pair.slice(eq + 1) };
}

/**
 * Runs in the page before its scripts: records performance.now() (ms since navigation start) the first time
 * each milestone of the screen holds, checked at every DOM change.
 */
function ttiObserver(screen) {
  const text = (id) => (document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '').trim();
  const seats = () =>
    /^\d[\d,]* \/ \d[\d,]*$/.test(text('seats-total')) &&
    document.querySelector('[data-testid^="pool-used-"]') !== null;
  const milestones = {
    login: { ready: () => document.querySelector('[data-testid="login-form"]') !== null },
    dashboard: {
      firstData: seats,
      ready: () =>
        seats() &&
        /^\d/.test(text('onboardings-per-minute')) &&
        document.querySelector('[data-testid="recent-activity"] tbody tr') !== null,
    },
    users: {
      ready: () =>
        document.querySelectorAll('[data-testid="users-table"] tbody tr').length === 50 &&
        document.querySelector('[data-testid="page-next"]') !== null,
    },
  }[screen];
  window.__marks = {};
  const check = () => {
    for (const [name, holds] of Object.entries(milestones)) {
      if (window.__marks[name] === undefined && holds()) window.__marks[name] = performance.now();
    }
    if (window.__marks.ready !== undefined) observer.disconnect();
  };
  const observer = new MutationObserver(check);
  const start = () =>
    observer.observe(document.documentElement, {
      childList: true,
      subtree: true,
      characterData: true,
      attributes: true,
    });
  if (document.documentElement) start();
  else document.addEventListener('readystatechange', start, { once: true });
}

/** One cold load of `screen`: its milestones and what it took to get there. */
async function coldLoad(browser, base, cookie, screen) {
  const context = await browser.newContext({ viewport: cfg.viewport });
  try {
    if (screen !== 'login') {
      await context.addCookies([{ ...cookie, url: base }]);
      // The console asks for its session only when this browser signed in before (a flag, no secret).
      await context.addInitScript(() => localStorage.setItem('roster.console.signedIn', '1'));
    }
    await context.addInitScript(ttiObserver, screen);
    const page = await context.newPage();
    const problems = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`failed: ${r.url()} ${r.failure()?.errorText}`));
    page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));
    await page.goto(`${base}/console/${screen === 'login' ? '' : `#/${screen}`}`);
    await page.waitForFunction(() => window.__marks.ready !== undefined, undefined, {
      timeout: 60_000,
      polling: 50,
    });
    const m = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const ready = window.__marks.ready;
      const api = performance
        .getEntriesByType('resource')
        .filter((r) => r.name.includes('/api/v1/') && r.responseEnd <= ready);
      return {
        tti: ready,
        firstData: window.__marks.firstData ?? null,
        domContentLoaded: nav ? nav.domContentLoadedEventEnd : null,
        apiRequests: api.length,
        apiBytes: api.reduce((n, r) => n + (r.encodedBodySize ?? 0), 0),
        timeline: [
          ['domInteractive', nav ? Math.round(nav.domInteractive) : null],
          ...performance
            .getEntriesByType('resource')
            .map((r) => [
              r.name.replace(location.origin, ''),
              Math.round(r.startTime),
              Math.round(r.responseEnd),
            ]),
        ],
      };
    });
    if (problems.length > 0) throw new Error(`load of ${screen} went wrong:\n  ${problems.join('\n  ')}`);
    return m;
  } finally {
    await context.close();
  }
}

function summary(loads) {
  const sorted = (f) =>
    loads
      .map(f)
      .filter((x) => x !== null)
      .sort((a, b) => a - b);
  const tti = sorted((l) => l.tti);
  const first = sorted((l) => l.firstData);
  const dcl = sorted((l) => l.domContentLoaded);
  return {
    n: tti.length,
    p50: quantile(tti, 0.5),
    p90: quantile(tti, 0.9),
    max: tti[tti.length - 1],
    firstDataP50: first.length > 0 ? quantile(first, 0.5) : null,
    domContentLoadedP50: quantile(dcl, 0.5),
    apiRequests: Math.max(...loads.map((l) => l.apiRequests)),
    apiKiB: Math.max(...loads.map((l) => l.apiBytes)) / 1024,
    loads,
  };
}

async function benchScenario(base, browser, scenario, clock) {
  const tag = `${scenario}-${RUN}`;
  // The tenant exists before its people (in the steady scenario, 30 days before now).
  if (scenario === 'steady') clock.offset = -31 * DAY;
  const tenant = await call(base, 'POST', '/api/v1/tenants', ADMIN_TOKEN, { name: `console-bench-${tag}` });
  const { token } = await call(base, 'POST', '/api/v1/tokens', ADMIN_TOKEN, {
    tenantId: tenant.id,
    name: 'console bench',
    roles: ['tenant-admin'],
  });
  for (const p of [
    { sku: 'OFFICE', name: 'Office suite' },
    { sku: 'CAD', name: 'CAD workstation' },
    { sku: 'VPN', name: 'Remote access' },
  ]) {
    await call(base, 'POST', '/api/v1/products', token, p);
  }
  for (const p of [
    { product: 'OFFICE', name: 'office-global', capacity: Math.ceil(cfg.users * 1.1) },
    { product: 'CAD', name: 'cad-main', capacity: Math.ceil(cfg.users * 0.2) },
    { product: 'VPN', name: 'vpn-de', capacity: Math.ceil(cfg.users * 0.05), location: { country: 'DE' } },
    { product: 'VPN', name: 'vpn-world', capacity: Math.ceil(cfg.users * 0.3), priority: 10 },
  ]) {
    await call(base, 'POST', '/api/v1/pools', token, p);
  }
  clock.offset = 0;

  log(`  ${scenario}: onboarding ${cfg.users} people (${cfg.concurrency} in flight)`);
  const fillStart = Date.now();
  await fill(base, token, tag, scenario, clock);
  const fillSeconds = (Date.now() - fillStart) / 1000;
  log(`    done in ${fillSeconds.toFixed(0)} s; waiting for the audit integrator`);
  await auditCaughtUp(base);

  const cookie = await adminSession(base, tenant.id, tag);
  for (let i = 0; i < cfg.warmup; i++) {
    for (const screen of SCREENS) await coldLoad(browser, base, cookie, screen);
  }
  const loads = Object.fromEntries(SCREENS.map((screen) => [screen, []]));
  for (let i = 0; i < cfg.loads; i++) {
    for (const screen of SCREENS) loads[screen].push(await coldLoad(browser, base, cookie, screen));
  }
  const pages = {};
  for (const screen of SCREENS) {
    const s = summary(loads[screen]);
    pages[screen] = s;
    log(
      `    ${screen}: TTI p50 ${s.p50.toFixed(0)} ms, p90 ${s.p90.toFixed(0)} ms, max ${s.max.toFixed(0)} ms (${s.apiRequests} API requests)`,
    );
  }
  return { scenario, users: cfg.users, fillSeconds, pages };
}

async function benchStore(kind, browser) {
  const { buildApp } = await load('main.js');
  const { loadConfig } = await load('platform/config.js');
  const { createLogger } = await load('platform/logging.js');
  const store = newStore(kind);
  const clock = { offset: 0, now: () => new Date(Date.now() + clock.offset) };
  const app = await buildApp(
    loadConfig({
      ROSTER_DATABASE_URL: store.url,
      ROSTER_KEY_FILE: store.keyFile,
      ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
      ROSTER_LOG_LEVEL: 'warn',
      ROSTER_RATE_LIMIT_TENANT: '0',
      ROSTER_RATE_LIMIT_GLOBAL: '0',
    }),
    { logger: createLogger('warn'), clock },
  );
  try {
    await app.http.listen({ port: 0, host: '127.0.0.1' });
    const base = `http://127.0.0.1:${app.http.server.address().port}`;
    const scenarios = [];
    for (const scenario of cfg.scenarios) {
      log(`${kind}, ${scenario}:`);
      scenarios.push(await benchScenario(base, browser, scenario, clock));
    }
    return { store: kind, scenarios };
  } finally {
    await app.close();
    await store.drop();
  }
}

const f0 = (x) => (x === null || x === undefined ? '—' : x.toFixed(0));

function markdown(results, machine) {
  const L = [
    `| store | tenant | screen | cold loads | TTI p50 ms | TTI p90 ms | max ms | first data p50 ms | DOMContentLoaded p50 ms | API requests | p90 under ${GOAL_MS} ms |`,
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of results) {
    for (const sc of r.scenarios) {
      for (const [screen, s] of Object.entries(sc.pages)) {
        L.push(
          `| ${r.store} | ${sc.scenario}, ${sc.users} users | ${screen === 'login' ? 'login (baseline: no data)' : screen} | ${s.n} | ${f0(s.p50)} | ${f0(s.p90)} | ${f0(s.max)} | ${f0(s.firstDataP50)} | ${f0(s.domContentLoadedP50)} | ${s.apiRequests} | ${screen === 'login' ? '—' : s.p90 < GOAL_MS ? 'yes' : '**no**'} |`,
        );
      }
    }
  }
  L.push(
    '',
    `Headless Chromium (${machine.chromium}) at ${cfg.viewport.width}x${cfg.viewport.height}, each load in a new ` +
      'browser context (empty cache), from navigation start until the screen shows its data (dashboard: seats, ' +
      'onboardings per minute, utilisation bars and recent activity, "first data" when seats and bars show; ' +
      'users: the first page of 50). Tenants: _steady_, people who joined over 30 days and 20 in the last 10 ' +
      'minutes; _burst_, all of them in the last minutes (the server counts onboardings per minute; the recent ' +
      'activity pages through the newest time window of the audit log, which the API lists oldest first). ' +
      `${machine.cpus} CPUs, load average ${machine.loadBefore} before the run.`,
  );
  return L.join('\n');
}

async function main() {
  const path = findChromium();
  if (!path) throw new Error('Chromium not found: apt-get install chromium, or set ROSTER_CHROMIUM');
  ensureConsole();
  const machine = { cpus: cpus().length, loadBefore: loadavg()[0].toFixed(1), chromium: '' };
  log(`console TTI: ${cfg.users} users a tenant, ${cfg.loads} cold loads per screen, Chromium ${path}`);
  const browser = await chromium.launch({ executablePath: path, headless: true, args: CHROMIUM_ARGS });
  machine.chromium = `Chromium ${browser.version()}`;
  const results = [];
  try {
    for (const kind of cfg.stores) {
      if (kind === 'postgres' && !(await postgresReachable())) {
        throw new Error('PostgreSQL is not reachable (BENCH_PG_URL)');
      }
      results.push(await benchStore(kind, browser));
    }
  } finally {
    await browser.close();
  }
  const out = { settings: cfg, machine, results, markdown: markdown(results, machine) };
  mkdirSync(cfg.out, { recursive: true });
  writeFileSync(join(cfg.out, 'console.json'), `${JSON.stringify(out, null, 2)}\n`);
  log(out.markdown);
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  log(`bench/console.js failed: ${err.stack ?? err}`);
  process.exitCode = 1;
});
