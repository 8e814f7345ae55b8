// `npm run scim:smoke`: starts Roster (embedded SQLite in a temporary folder, or ROSTER_DATABASE_URL), creates a
// tenant and a provisioner token, and replays the provisioning sequences Microsoft Entra ID and Okta send
// (create, find by userName, update, add to a group, deactivate, delete) against /scim/v2, checking each answer.
// Exits 0 when every step answered as the RFC and the client expect, 1 otherwise (naming the step).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCIM_JSON = 'application/scim+json';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

let steps = 0;
function check(ok, step, details) {
  steps += 1;
  if (!ok) {
    const err = new Error(`step failed: ${step}${details ? `\n${details}` : ''}`);
    err.step = step;
    throw err;
  }
  process.stdout.write(`  ok  ${step}\n`);
}

async function call(base, token, method, path, body, headers = {}) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined
        ? {}
        : { 'content-type': path.startsWith('/scim') ? SCIM_JSON : 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, body: json, text };
}

async function waitReady(base, child) {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`roster exited with ${child.exitCode}`);
    try {
      const r = await fetch(`${base}/readyz`);
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('roster did not become ready within 20 s');
}

/** Microsoft Entra ID's provisioning sequence, in its own request shapes. */
async function entra(scim) {
  process.stdout.write('Entra ID-style sequence\n');
  const userName = `adele.vance.${randomBytes(3).toString('hex')}@contoso.example`;
  // Entra first asks whether the user exists.
  let r = await scim('GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}`);
  check(r.status === 200 && r.body.totalResults === 0, 'entra: GET /Users?filter=userName eq … finds nobody');
  r = await scim('POST', '/Users', {
    schemas: [USER, ENTERPRISE],
    externalId: 'e-1001',
    userName,
    active: 'True',
    displayName: 'Adele Vance',
    title: 'Retail Manager',
    emails: [{ primary: 'true', type: 'work', value: userName }],
    name: { formatted: 'Adele Vance', familyName: 'Vance', givenName: 'Adele' },
    [ENTERPRISE]: { department: 'Retail' },
  });
  check(
    r.status === 201 && r.body.id && r.body.active === true,
    'entra: POST /Users creates (string booleans)',
    r.text,
  );
  const id = r.body.id;
  check(r.headers.get('etag') === r.body.meta.version, 'entra: ETag header equals meta.version');
  r = await scim('GET', `/Users?filter=${encodeURIComponent(`userName eq "${userName.toUpperCase()}"`)}`);
  check(
    r.status === 200 && r.body.totalResults === 1 && r.body.Resources[0].id === id,
    'entra: userName eq is case-insensitive',
  );
  r = await scim('PATCH', `/Users/${id}`, {
    schemas: [PATCH_OP],
    Operations: [
      { op: 'Replace', path: 'title', value: 'Store Manager' },
      { op: 'Add', path: `${ENTERPRISE}:department`, value: 'Sales' },
      { op: 'Replace', path: 'emails[type eq "work"].value', value: userName },
    ],
  });
  check(
    r.status === 200 && r.body.title === 'Store Manager' && r.body[ENTERPRISE]?.department === 'Sales',
    'entra: PATCH Replace/Add with capitalised ops and extension paths',
    r.text,
  );
  r = await scim('POST', '/Groups', {
    schemas: [GROUP],
    displayName: `Retail ${randomBytes(2).toString('hex')}`,
    externalId: 'g-1',
  });
  check(r.status === 201, 'entra: POST /Groups', r.text);
  const gid = r.body.id;
  r = await scim('PATCH', `/Groups/${gid}`, {
    schemas: [PATCH_OP],
    Operations: [{ op: 'Add', path: 'members', value: [{ value: id }] }],
  });
  check(r.status === 200 || r.status === 204, 'entra: PATCH Add members', r.text);
  r = await scim('GET', `/Groups/${gid}`);
  check(
    r.body.members?.some((m) => m.value === id),
    'entra: the group lists the member',
  );
  r = await scim('GET', `/Users/${id}`);
  check(
    r.body.groups?.some((g) => g.value === gid),
    'entra: the user lists the group',
  );
  r = await scim('PATCH', `/Groups/${gid}`, {
    schemas: [PATCH_OP],
    Operations: [{ op: 'Remove', path: 'members', value: [{ value: id }] }],
  });
  check(r.status === 200 || r.status === 204, 'entra: PATCH Remove members by value', r.text);
  r = await scim('GET', `/Groups/${gid}`);
  check(!(r.body.members ?? []).some((m) => m.value === id), 'entra: the member is gone');
  r = await scim('PATCH', `/Users/${id}`, {
    schemas: [PATCH_OP],
    Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
  });
  check(r.status === 200 && r.body.active === false, 'entra: PATCH active "False" deactivates', r.text);
  r = await scim('DELETE', `/Users/${id}`);
  check(r.status === 204, 'entra: DELETE /Users/{id}');
  r = await scim('GET', `/Users/${id}`);
  check(
    r.status === 404 && r.body.schemas?.[0] === 'urn:ietf:params:scim:api:messages:2.0:Error',
    'entra: the user is gone (404, SCIM error)',
  );
}

/** Okta's provisioning sequence, in its own request shapes. */
async function okta(scim) {
  process.stdout.write('Okta-style sequence\n');
  const userName = `isaac.brooks.${randomBytes(3).toString('hex')}@example.com`;
  let r = await scim(
    'GET',
    `/Users?filter=${encodeURIComponent(`userName eq "${userName}"`)}&startIndex=1&count=100`,
  );
  check(
    r.status === 200 && r.body.totalResults === 0 && Array.isArray(r.body.Resources),
    'okta: GET /Users?filter=userName eq … &startIndex=1&count=100',
  );
  r = await scim('POST', '/Users', {
    schemas: [USER],
    userName,
    name: { givenName: 'Isaac', familyName: 'Brooks' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: 'Isaac Brooks',
    locale: 'en-US',
    externalId: '00ujl29u0le5T6Aj10h7',
    groups: [],
    password: 'not-stored-1!',
    active: true,
  });
  check(r.status === 201, 'okta: POST /Users', r.text);
  const id = r.body.id;
  check(r.body.password === undefined, 'okta: the answer never carries a password');
  r = await scim('GET', `/Users/${id}`);
  check(r.status === 200 && r.body.userName === userName, 'okta: GET /Users/{id}');
  r = await scim('PUT', `/Users/${id}`, {
    schemas: [USER],
    id,
    userName,
    name: { givenName: 'Isaac', familyName: 'Brooks-Young' },
    emails: [{ primary: true, value: userName, type: 'work' }],
    displayName: 'Isaac Brooks-Young',
    active: true,
  });
  check(
    r.status === 200 && r.body.name?.familyName === 'Brooks-Young',
    'okta: PUT /Users/{id} replaces',
    r.text,
  );
  r = await scim('POST', '/Groups', {
    schemas: [GROUP],
    displayName: `Engineering ${randomBytes(2).toString('hex')}`,
    members: [],
  });
  check(r.status === 201, 'okta: POST /Groups');
  const gid = r.body.id;
  r = await scim('PATCH', `/Groups/${gid}`, {
    schemas: [PATCH_OP],
    Operations: [{ op: 'add', path: 'members', value: [{ value: id, display: userName }] }],
  });
  check(r.status === 200 || r.status === 204, 'okta: PATCH add member', r.text);
  r = await scim(
    'GET',
    `/Groups?filter=${encodeURIComponent(`displayName eq "${(await scim('GET', `/Groups/${gid}`)).body.displayName}"`)}`,
  );
  check(r.status === 200 && r.body.totalResults === 1, 'okta: GET /Groups?filter=displayName eq …');
  r = await scim('PATCH', `/Users/${id}`, {
    schemas: [PATCH_OP],
    Operations: [{ op: 'replace', value: { active: false } }],
  });
  check(
    r.status === 200 && r.body.active === false,
    'okta: PATCH replace {active:false} deactivates',
    r.text,
  );
  r = await scim('DELETE', `/Users/${id}`);
  check(r.status === 204, 'okta: DELETE /Users/{id}');
  r = await scim('DELETE', `/Groups/${gid}`);
  check(r.status === 204, 'okta: DELETE /Groups/{id}');
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'roster-scim-smoke-'));
  const port = await freePort();
  const admin = `smoke-${randomBytes(16).toString('hex')}`;
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [join(ROOT, 'bin/roster.js'), 'serve'], {
    env: {
      ...process.env,
      ROSTER_PORT: String(port),
      ROSTER_HOST: '127.0.0.1',
      ROSTER_DATABASE_URL: process.env.ROSTER_DATABASE_URL ?? `sqlite:${join(dir, 'roster.db')}`,
      ROSTER_KEY_FILE: join(dir, 'roster.key'),
      ROSTER_ADMIN_TOKEN: admin,
      ROSTER_LOG_LEVEL: 'warn',
      ROSTER_RATE_LIMIT_TENANT: '0',
      ROSTER_RATE_LIMIT_GLOBAL: '0',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    await waitReady(base, child);
    const tenant = await call(base, admin, 'POST', '/api/v1/tenants', {
      name: `scim-smoke-${randomBytes(3).toString('hex')}`,
    });
    check(tenant.status === 201, 'create a tenant', tenant.text);
    const token = await call(base, admin, 'POST', '/api/v1/tokens', {
      tenantId: tenant.body.id,
      name: 'scim smoke',
      roles: ['provisioner'],
    });
    check(
      token.status === 201 && typeof token.body.token === 'string',
      'create a provisioner token',
      token.text,
    );
    const scim = (method, path, body, headers) =>
      call(base, token.body.token, method, `/scim/v2${path}`, body, headers);
    const spc = await scim('GET', '/ServiceProviderConfig');
    check(spc.status === 200 && spc.body.patch?.supported === true, 'GET /ServiceProviderConfig');
    await entra(scim);
    await okta(scim);
    process.stdout.write(`scim:smoke passed: ${steps} steps\n`);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`scim:smoke FAILED: ${err.message}\n`);
  process.exit(1);
});
