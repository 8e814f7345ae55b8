// Screenshots of the admin console for the README and docs/console.md: the dashboard, a user page and the
// licenses (pools) screen, at 1280x800, into docs/screenshots/.
//
// Starts Roster in this process (the compiled dist/, as `npm run build` leaves it, with the console in
// console/dist) on a temporary SQLite store, fills a demo tenant through the REST API (products, pools from
// nearly empty to full with a waitlist, about fifty people onboarded over the last ten minutes, groups, a
// few edits, offboardings and refused requests), signs an admin account in with password and TOTP in
// headless Chromium (Debian `chromium` through playwright-core), and saves the three PNGs.
//
// Usage: npm run screenshots   (builds first), or node scripts/screenshots.js [--out docs/screenshots]
// ROSTER_CHROMIUM names another Chromium executable.
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const { values: argv } = parseArgs({
  options: { out: { type: 'string', default: join(ROOT, 'docs/screenshots') } },
});
const VIEWPORT = { width: 1280, height: 800 };
const ADMIN_TOKEN = `screenshots-${Date.now()}-0123456789abcdef0123456789abcdef`;
const PASSWORD = 'correct horse battery staple';
const TENANT = 'northwind';
const ADMIN = 'dana.admin';
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
const load = (path) => import(pathToFileURL(join(ROOT, 'dist', path)).href);

function findChromium() {
  const candidates = process.env.ROSTER_CHROMIUM
    ? [process.env.ROSTER_CHROMIUM]
    : [
        '/usr/bin/chromium',
        '/usr/bin/chromium-browser',
        ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'chromium')),
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

// ---- the demo tenant

const PRODUCTS = [
  { sku: 'OFFICE', name: 'Office suite' },
  { sku: 'DESIGN', name: 'Design studio' },
  { sku: 'CAD', name: 'CAD workstation' },
  { sku: 'VPN', name: 'Remote access' },
  { sku: 'ANALYTICS', name: 'Analytics platform' },
];
const POOLS = [
  { product: 'OFFICE', name: 'office-global', capacity: 56 },
  { product: 'DESIGN', name: 'design-lon', capacity: 10, location: { site: 'lon-1' } },
  { product: 'DESIGN', name: 'design-any', capacity: 4, priority: 10 },
  { product: 'CAD', name: 'cad-main', capacity: 6 },
  { product: 'VPN', name: 'vpn-eu', capacity: 40, location: { country: 'DE' } },
  { product: 'VPN', name: 'vpn-world', capacity: 25, priority: 10 },
  { product: 'ANALYTICS', name: 'analytics', capacity: 20 },
];
const PEOPLE = [
  ['Maya', 'Okafor', 'Design', 'lon-1', 'GB'],
  ['Liam', 'Schneider', 'Engineering', 'ber-1', 'DE'],
  ['Sofia', 'Rossi', 'Finance', 'mil-1', 'IT'],
  ['Noah', 'Jensen', 'Engineering', 'cph-1', 'DK'],
  ['Amara', 'Mensah', 'Sales', 'lon-1', 'GB'],
  ['Lucas', 'Moreau', 'Marketing', 'par-1', 'FR'],
  ['Hana', 'Sato', 'Engineering', 'ber-1', 'DE'],
  ['Mateo', 'García', 'Sales', 'mad-1', 'ES'],
  ['Elena', 'Popescu', 'Support', 'buc-1', 'RO'],
  ['Oskar', 'Nowak', 'Engineering', 'waw-1', 'PL'],
  ['Priya', 'Raman', 'Analytics', 'lon-1', 'GB'],
  ['Jonas', 'Weber', 'Engineering', 'muc-1', 'DE'],
  ['Chloé', 'Dubois', 'Design', 'par-1', 'FR'],
  ['Ethan', 'Murphy', 'Support', 'dub-1', 'IE'],
  ['Ines', 'Ferreira', 'Finance', 'lis-1', 'PT'],
  ['Mikael', 'Lindqvist', 'Engineering', 'sto-1', 'SE'],
  ['Zara', 'Ahmed', 'Design', 'lon-1', 'GB'],
  ['Pieter', 'de Vries', 'Sales', 'ams-1', 'NL'],
  ['Aiko', 'Tanaka', 'Analytics', 'ber-1', 'DE'],
  ['Tomás', 'Novák', 'Engineering', 'prg-1', 'CZ'],
  ['Leila', 'Haddad', 'Marketing', 'par-1', 'FR'],
  ['Finn', 'Becker', 'Engineering', 'ham-1', 'DE'],
  ['Grace', 'Owusu', 'Support', 'lon-1', 'GB'],
  ['Marco', 'Bianchi', 'Design', 'mil-1', 'IT'],
  ['Nora', 'Hansen', 'Finance', 'osl-1', 'NO'],
  ['Ravi', 'Patel', 'Engineering', 'lon-1', 'GB'],
  ['Lea', 'Fischer', 'Analytics', 'ber-1', 'DE'],
  ['Diego', 'Santos', 'Sales', 'lis-1', 'PT'],
  ['Yara', 'Khalil', 'Design', 'lon-1', 'GB'],
  ['Anton', 'Virtanen', 'Engineering', 'hel-1', 'FI'],
  ['Clara', 'Meyer', 'Marketing', 'muc-1', 'DE'],
  ['Samuel', 'Adeyemi', 'Engineering', 'lon-1', 'GB'],
  ['Julia', 'Kowalska', 'Support', 'waw-1', 'PL'],
  ['Hugo', 'Lambert', 'Sales', 'bru-1', 'BE'],
  ['Emma', 'Johansson', 'Design', 'sto-1', 'SE'],
  ['Karim', 'Benali', 'Engineering', 'par-1', 'FR'],
  ['Olivia', 'Brown', 'Finance', 'lon-1', 'GB'],
  ['Felix', 'Wagner', 'Engineering', 'vie-1', 'AT'],
  ['Lucía', 'Martín', 'Analytics', 'mad-1', 'ES'],
  ['Jan', 'Dvořák', 'Support', 'prg-1', 'CZ'],
  ['Aisha', 'Bello', 'Design', 'lon-1', 'GB'],
  ['Max', 'Schmidt', 'Engineering', 'ber-1', 'DE'],
  ['Sara', 'Lund', 'Marketing', 'cph-1', 'DK'],
  ['Tariq', 'Hussain', 'Engineering', 'lon-1', 'GB'],
  ['Camille', 'Laurent', 'Finance', 'par-1', 'FR'],
  ['Erik', 'Nilsson', 'Engineering', 'got-1', 'SE'],
  ['Nina', 'Horvat', 'Support', 'zag-1', 'HR'],
  ['Paulo', 'Costa', 'Sales', 'por-1', 'PT'],
];

/** Products by department (everyone gets OFFICE; Germans VPN from the German pool, others the world pool). */
function productsOf([, , department, , country], i) {
  const out = ['OFFICE'];
  if (department === 'Design') out.push('DESIGN');
  if (department === 'Engineering' && i % 4 === 1) out.push('CAD');
  if (department === 'Analytics' || department === 'Finance') out.push('ANALYTICS');
  if (country === 'DE' || i % 3 === 0) out.push('VPN');
  return out;
}

function slug(s) {
  return s
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z]+/g, '');
}

async function main() {
  const chromiumPath = findChromium();
  if (!chromiumPath) throw new Error('Chromium not found: apt-get install chromium, or set ROSTER_CHROMIUM');
  const { buildApp } = await load('main.js');
  const { loadConfig } = await load('platform/config.js');
  const { createLogger } = await load('platform/logging.js');
  const { base32Decode, totp } = await load('access/admins/totp.js');

  const dir = mkdtempSync(join(tmpdir(), 'roster-screenshots-'));
  let offset = 0;
  const clock = { now: () => new Date(Date.now() + offset) };
  const app = await buildApp(
    loadConfig({
      ROSTER_DATABASE_URL: `sqlite:${join(dir, 'roster.db')}`,
      ROSTER_KEY_FILE: join(dir, 'roster.key'),
      ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
      ROSTER_LOG_LEVEL: 'warn',
      ROSTER_RATE_LIMIT_TENANT: '0',
      ROSTER_RATE_LIMIT_GLOBAL: '0',
    }),
    { logger: createLogger('warn'), clock },
  );
  let browser;
  try {
    await app.http.listen({ port: 0, host: '127.0.0.1' });
    const origin = `http://127.0.0.1:${app.http.server.address().port}`;

    const call = async (method, path, body, token, headers = {}) => {
      const res = await app.http.inject({
        method,
        url: path,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      });
      const parsed = res.body ? JSON.parse(res.body) : undefined;
      return { status: res.statusCode, body: parsed, headers: res.headers };
    };
    const must = async (status, ...args) => {
      const res = await call(...args);
      if (res.status !== status) {
        throw new Error(`${args[0]} ${args[1]} answered ${res.status}: ${JSON.stringify(res.body)}`);
      }
      return res;
    };

    log('demo tenant: products, pools, people');
    const tenant = (await must(201, 'POST', '/api/v1/tenants', { name: TENANT }, ADMIN_TOKEN)).body;
    const token = (
      await must(
        201,
        'POST',
        '/api/v1/tokens',
        { tenantId: tenant.id, name: 'HR system', roles: ['tenant-admin'] },
        ADMIN_TOKEN,
      )
    ).body.token;
    const viewer = (
      await must(
        201,
        'POST',
        '/api/v1/tokens',
        { tenantId: tenant.id, name: 'Reporting', roles: ['viewer'] },
        ADMIN_TOKEN,
      )
    ).body.token;
    for (const p of PRODUCTS) await must(201, 'POST', '/api/v1/products', p, token);
    for (const p of POOLS) await must(201, 'POST', '/api/v1/pools', p, token);
    const groups = {};
    for (const name of ['Design team', 'Engineering', 'Remote workers', 'Finance']) {
      groups[name] = (await must(201, 'POST', '/api/v1/groups', { displayName: name }, token)).body.id;
    }

    // Onboarded over the last ten minutes (Roster's clock moved back for each), so that the dashboard's
    // onboardings per minute show a history.
    const users = [];
    const tenMinutes = 10 * 60_000;
    for (const [i, person] of PEOPLE.entries()) {
      const [given, family, department, site, country] = person;
      offset = -Math.round(tenMinutes - (i + 1) * (tenMinutes / (PEOPLE.length + 4)));
      const userName = `${slug(given)}.${slug(family)}@northwind.test`;
      const res = await must(
        201,
        'POST',
        '/api/v1/onboardings',
        {
          user: {
            userName,
            name: { givenName: given, familyName: family },
            displayName: `${given} ${family}`,
            emails: [{ value: userName, type: 'work', primary: true }],
            title: department === 'Engineering' ? 'Software engineer' : `${department} specialist`,
            department,
            location: { site, country },
            ...(i % 11 === 5 ? { kind: 'contractor' } : {}),
          },
          products: productsOf(person, i),
        },
        token,
        { 'idempotency-key': `screenshots-${i}` },
      );
      users.push(res.body.user);
      const group =
        department === 'Design'
          ? 'Design team'
          : department === 'Engineering'
            ? 'Engineering'
            : department === 'Finance'
              ? 'Finance'
              : null;
      if (group)
        await must(
          204,
          'PUT',
          `/api/v1/groups/${groups[group]}/members/${res.body.user.id}`,
          undefined,
          token,
        );
      if (country !== 'GB' && i % 4 === 1) {
        await must(
          204,
          'PUT',
          `/api/v1/groups/${groups['Remote workers']}/members/${res.body.user.id}`,
          undefined,
          token,
        );
      }
    }
    offset = -90_000;
    // A few changes: a promotion, a suspension, two leavers, and refused requests of a read-only token.
    const maya = users[0];
    const got = await must(200, 'GET', `/api/v1/users/${maya.id}`, undefined, token);
    await must(200, 'PATCH', `/api/v1/users/${maya.id}`, { title: 'Lead designer' }, token, {
      'content-type': 'application/merge-patch+json',
      'if-match': got.headers.etag,
    });
    await must(201, 'POST', `/api/v1/users/${maya.id}/licenses`, { product: 'CAD' }, token);
    const suspended = users[13];
    const s = await must(200, 'GET', `/api/v1/users/${suspended.id}`, undefined, token);
    await must(200, 'PATCH', `/api/v1/users/${suspended.id}`, { status: 'suspended' }, token, {
      'content-type': 'application/merge-patch+json',
      'if-match': s.headers.etag,
    });
    offset = -40_000;
    for (const leaver of [users[7], users[22]]) {
      await must(200, 'POST', `/api/v1/users/${leaver.id}/offboard`, {}, token);
    }
    offset = -20_000;
    await call('POST', '/api/v1/pools', { product: 'CAD', name: 'cad-extra', capacity: 5 }, viewer);
    await call('DELETE', `/api/v1/users/${users[3].id}`, undefined, viewer);
    offset = 0;

    log('admin account: password, then TOTP');
    await must(
      201,
      'POST',
      '/api/v1/admins',
      { username: ADMIN, password: PASSWORD, roles: ['tenant-admin'] },
      token,
    );
    const step = await must(200, 'POST', '/api/v1/auth/login', {
      tenant: TENANT,
      username: ADMIN,
      password: PASSWORD,
    });
    const secret = base32Decode(step.body.secret);
    // The previous 30-second step's code for the enrolment, the current one for the sign-in below.
    if (Date.now() % 30_000 > 27_000) await sleep(3_100);
    await must(200, 'POST', '/api/v1/auth/totp/enrol', {
      challenge: step.body.challenge,
      code: totp(secret, Date.now() - 30_000),
    });

    log(`chromium: ${chromiumPath}`);
    browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext({
      viewport: VIEWPORT,
      deviceScaleFactor: 1,
      locale: 'en-GB',
      timezoneId: 'Europe/London',
      colorScheme: 'light',
    });
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    const problems = [];
    page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
    page.on('pageerror', (e) => problems.push(`page: ${e.message}`));
    page.on('response', (r) => r.status() >= 400 && problems.push(`${r.status()} ${r.url()}`));

    await page.goto(`${origin}/console/`);
    await page.getByTestId('login-tenant').fill(TENANT);
    await page.getByTestId('login-username').fill(ADMIN);
    await page.getByTestId('login-password').fill(PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByTestId('totp-code').waitFor();
    if (Date.now() % 30_000 > 27_000) await sleep(3_100);
    await page.getByTestId('totp-code').fill(totp(secret, Date.now()));
    await page.getByTestId('totp-submit').click();
    await page.getByTestId('nav-dashboard').waitFor();

    // The dashboard samples the pools every 5 s (the licenses screen's history): some more people join
    // meanwhile, so that the history moves.
    log('dashboard: letting it refresh while a few more people join');
    await page.getByTestId('recent-activity').waitFor();
    const late = [
      ['Iris', 'Vogel', 'Engineering', 'ber-1', 'DE'],
      ['Omar', 'Farouk', 'Sales', 'lon-1', 'GB'],
      ['Bea', 'Larsen', 'Design', 'lon-1', 'GB'],
      ['Kai', 'Müller', 'Engineering', 'ber-1', 'DE'],
    ];
    for (const [i, person] of late.entries()) {
      await sleep(5_200);
      const [given, family, department, site, country] = person;
      const userName = `${slug(given)}.${slug(family)}@northwind.test`;
      await must(
        201,
        'POST',
        '/api/v1/onboardings',
        {
          user: {
            userName,
            name: { givenName: given, familyName: family },
            department,
            location: { site, country },
          },
          products: productsOf(person, i * 2),
        },
        token,
        { 'idempotency-key': `screenshots-late-${i}` },
      );
    }
    await sleep(5_500);
    await page.mouse.move(0, 0);
    mkdirSync(argv.out, { recursive: true });
    await page.screenshot({ path: join(argv.out, 'dashboard.png') });
    log(`  ${join(argv.out, 'dashboard.png')}`);

    log('user page');
    await page.getByTestId('nav-users').click();
    await page.getByTestId(`user-row-${maya.userName}`).getByRole('link').click();
    await page.getByTestId('user-licenses').waitFor();
    await page.getByTestId('user-audit').waitFor();
    await page.getByTestId('user-groups').waitFor();
    await sleep(300);
    await page.screenshot({ path: join(argv.out, 'user.png') });
    log(`  ${join(argv.out, 'user.png')}`);

    log('licenses (pools)');
    await page.getByTestId('nav-licenses').click();
    await page.getByTestId('pool-cad-main').waitFor();
    await page.getByTestId('resize-pool-cad-main').waitFor();
    await sleep(500);
    await page.screenshot({ path: join(argv.out, 'pools.png') });
    log(`  ${join(argv.out, 'pools.png')}`);

    if (problems.length > 0) throw new Error(`the console reported problems:\n${problems.join('\n')}`);
  } finally {
    await browser?.close();
    await app.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (err) {
  log(`screenshots: ${err.stack ?? err}`);
  process.exitCode = 1;
}
