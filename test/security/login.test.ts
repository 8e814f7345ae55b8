/**
 * Attack: user enumeration and brute force on the admin login (POST /api/v1/auth/login). An unknown
 * username, an unknown tenant, a wrong password and a disabled account answer alike (status, body less the
 * request id, headers) after the same password-hash work (checked through the service's injectable hasher);
 * repeated failures lock the account and the client address (429 with Retry-After), unknown names too.
 * SCIM (/scim/v2), the identity providers' door, takes bearer tokens: an unknown, malformed, expired or revoked
 * one answers alike there (a SCIM 401), and an admin session gets in only with scim:provision and, to write,
 * its CSRF token.
 */
import type { LightMyRequestResponse } from 'fastify';
import { expect, it } from 'vitest';
import { argon2Hasher, type PasswordHasher } from '../../src/access/admins/password.js';
import { AdminService } from '../../src/access/admins/service.js';
import { base32Decode, totp } from '../../src/access/admins/totp.js';
import { systemClock } from '../../src/platform/clock.js';
import { type Answer, type Client, useTestApp } from '../support/app.js';
import { expectScimError, SCIM_CT, scimBody } from '../support/scim-routes.js';
import { describeEachStore } from '../support/stores.js';
import { ADMIN_PASSWORD, APP_OPTIONS, ENV, expectForbiddenFor, fingerprint, mint, u } from './support.js';

const LOGIN = '/api/v1/auth/login';
/** docs: 5 failures lock an account, 20 an address (ACCOUNT_THROTTLE, IP_THROTTLE). */
const ACCOUNT_THRESHOLD = 5;
const IP_THRESHOLD = 20;

let ips = 0;
/** A client address no other test uses (the address throttle is per address). */
const freshIp = () => `10.9.${Math.floor(++ips / 250)}.${(ips % 250) + 1}`;

/** What a client can tell two answers apart by: status, body without the request id, stable headers. */
function observable(res: LightMyRequestResponse): unknown {
  const { requestId: _r, ...body } = JSON.parse(res.body || '{}') as Record<string, unknown>;
  const { 'x-request-id': _x, date: _d, 'content-length': _l, ...headers } = res.headers;
  return { status: res.statusCode, body, headers };
}

describeEachStore('attack: login enumeration and brute force', (kind) => {
  const t = useTestApp(kind, ENV, APP_OPTIONS);

  const login = (body: Record<string, unknown>, ip: string) =>
    t().app.http.inject({ method: 'POST', url: LOGIN, payload: body, remoteAddress: ip });

  /** A tenant with an active and a disabled admin account. */
  async function accounts() {
    const tenant = await t().newTenant();
    const names = { active: u('active'), disabled: u('disabled') };
    for (const username of Object.values(names)) {
      const res = await tenant.api.post('/api/v1/admins', {
        username,
        password: ADMIN_PASSWORD,
        roles: ['viewer'],
      });
      expect(res.status, res.raw).toBe(201);
      if (username === names.disabled) {
        const off = await tenant.api.patch(`/api/v1/admins/${res.body.id}`, { disabled: true });
        expect(off.status, off.raw).toBe(200);
      }
    }
    return { tenantId: tenant.tenantId, ...names };
  }

  it('an unknown username, an unknown tenant, a wrong password and a disabled account answer alike', async () => {
    const a = await accounts();
    const attempts = {
      'unknown username': { tenant: a.tenantId, username: u('nobody'), password: ADMIN_PASSWORD },
      'unknown tenant': { tenant: u('no-tenant'), username: a.active, password: ADMIN_PASSWORD },
      'wrong password': { tenant: a.tenantId, username: a.active, password: `${ADMIN_PASSWORD}!` },
      'disabled account, right password': {
        tenant: a.tenantId,
        username: a.disabled,
        password: ADMIN_PASSWORD,
      },
      'username in another case, wrong password': {
        tenant: a.tenantId,
        username: a.active.toUpperCase(),
        password: 'wrong password!',
      },
    };
    const answers = new Map<string, unknown>();
    // Each from its own address, so that no attempt is throttled by another.
    for (const [label, body] of Object.entries(attempts))
      answers.set(label, observable(await login(body, freshIp())));
    const [first, ...rest] = [...answers.values()];
    expect((first as { status: number }).status).toBe(401);
    expect((first as { body: { code: string } }).body.code).toBe('auth.login_failed');
    for (const [label, answer] of answers) expect(answer, label).toEqual(first);
    for (const answer of rest) expect(answer).toEqual(first);
    // The right password works (the accounts exist as set up).
    const ok = await login({ tenant: a.tenantId, username: a.active, password: ADMIN_PASSWORD }, freshIp());
    expect(ok.statusCode, ok.body).toBe(200);
  });

  it('an unknown username costs the same password-hash work as a wrong password', async () => {
    const a = await accounts();
    const calls: { stored: string }[] = [];
    const counting: PasswordHasher = {
      hash: (password) => argon2Hasher.hash(password),
      async verify(stored, password) {
        calls.push({ stored });
        return argon2Hasher.verify(stored, password);
      },
    };
    const { audit, keys, tenants } = t().app.services;
    const service = new AdminService({
      db: t().app.db,
      clock: systemClock,
      audit,
      keys,
      tenants,
      grantable: async () => {},
      hasher: counting,
    });
    const attempt = async (body: { tenant?: string; username: string; password: string }) => {
      calls.length = 0;
      await expect(service.login(body, { ip: freshIp(), requestId: u('req') })).rejects.toMatchObject({
        code: 'auth.login_failed',
      });
      return [...calls];
    };
    const unknown = await attempt({ tenant: a.tenantId, username: u('nobody'), password: ADMIN_PASSWORD });
    const unknownTenant = await attempt({
      tenant: u('no-tenant'),
      username: a.active,
      password: ADMIN_PASSWORD,
    });
    const wrong = await attempt({ tenant: a.tenantId, username: a.active, password: 'wrong password!' });
    const disabled = await attempt({ tenant: a.tenantId, username: a.disabled, password: ADMIN_PASSWORD });
    for (const [label, c] of Object.entries({ unknown, unknownTenant, wrong, disabled })) {
      expect(c, label).toHaveLength(1);
      // A real argon2id hash with the same parameters as the stored ones: the same work.
      expect(c[0]?.stored.replace(/\$[^$]*\$[^$]*$/, ''), label).toBe(
        wrong[0]?.stored.replace(/\$[^$]*\$[^$]*$/, ''),
      );
      expect(c[0]?.stored, label).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    }
  });

  it('an account is locked after repeated failures (429 Retry-After), from any address, even with the right password', async () => {
    const a = await accounts();
    for (let i = 0; i < ACCOUNT_THRESHOLD; i++) {
      const res = await login(
        { tenant: a.tenantId, username: a.active, password: `wrong ${i} password` },
        freshIp(),
      );
      expect(res.statusCode, `failure ${i + 1}`).toBe(401);
    }
    for (const password of ['still wrong password', ADMIN_PASSWORD]) {
      const res = await login({ tenant: a.tenantId, username: a.active, password }, freshIp());
      expect(res.statusCode, res.body).toBe(429);
      expect(JSON.parse(res.body).code).toBe('auth.login_throttled');
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
  });

  it('an unknown username is locked alike, so a lock reveals nothing', async () => {
    const a = await accounts();
    const ghost = u('ghost');
    const known: LightMyRequestResponse[] = [];
    const unknown: LightMyRequestResponse[] = [];
    for (let i = 0; i <= ACCOUNT_THRESHOLD; i++) {
      known.push(
        await login({ tenant: a.tenantId, username: a.disabled, password: `wrong ${i} password` }, freshIp()),
      );
      unknown.push(
        await login({ tenant: a.tenantId, username: ghost, password: `wrong ${i} password` }, freshIp()),
      );
    }
    expect(unknown.map((r) => r.statusCode)).toEqual([...Array(ACCOUNT_THRESHOLD).fill(401), 429]);
    expect(unknown.map(observable)).toEqual(known.map(observable));
    expect(Number(unknown.at(-1)?.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('one address trying many usernames is locked (429 Retry-After); another address is not', async () => {
    const a = await accounts();
    const ip = freshIp();
    for (let i = 0; i < IP_THRESHOLD; i++) {
      const res = await login({ tenant: a.tenantId, username: u(`spray${i}`), password: ADMIN_PASSWORD }, ip);
      expect(res.statusCode, `failure ${i + 1}: ${res.body}`).toBe(401);
    }
    const locked = await login({ tenant: a.tenantId, username: a.active, password: ADMIN_PASSWORD }, ip);
    expect(locked.statusCode, locked.body).toBe(429);
    expect(Number(locked.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const elsewhere = await login(
      { tenant: a.tenantId, username: a.active, password: ADMIN_PASSWORD },
      freshIp(),
    );
    expect(elsewhere.statusCode, elsewhere.body).toBe(200);
  });

  /** A first login of a new admin account of the tenant with `roles`: its session cookie and CSRF token. */
  async function session(api: Client, tenantId: string, roles: string[]) {
    const username = u('scim-admin');
    const made = await api.post('/api/v1/admins', { username, password: ADMIN_PASSWORD, roles });
    expect(made.status, made.raw).toBe(201);
    const ip = freshIp();
    const step = await login({ tenant: tenantId, username, password: ADMIN_PASSWORD }, ip);
    expect(step.statusCode, step.body).toBe(200);
    const { challenge, secret, mfa } = JSON.parse(step.body);
    expect(mfa).toBe('enrolment_required');
    const enrol = await t().app.http.inject({
      method: 'POST',
      url: '/api/v1/auth/totp/enrol',
      payload: { challenge, code: totp(base32Decode(secret), Date.now()) },
      remoteAddress: ip,
    });
    expect(enrol.statusCode, enrol.body).toBe(200);
    const set = enrol.headers['set-cookie'];
    const cookie = String(Array.isArray(set) ? set[0] : set).split(';')[0] as string;
    return { cookie, csrf: JSON.parse(enrol.body).csrfToken as string };
  }

  it('SCIM: an unknown, malformed, expired or revoked bearer token answers alike, a SCIM 401', async () => {
    const tenant = await t().newTenant();
    const expiring = await mint(t(), tenant.api, ['provisioner'], {
      expiresAt: new Date(Date.now() + 1_000).toISOString(),
    });
    const revoked = await mint(t(), tenant.api, ['provisioner']);
    for (const c of [expiring, revoked]) expect((await c.api.get('/scim/v2/Users')).status).toBe(200);
    expect((await tenant.api.delete(`/api/v1/tokens/${revoked.id}`)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const credentials: Record<string, string> = {
      'an unknown token': `Bearer rst_${'A'.repeat(43)}`,
      'a malformed header': `Basic ${Buffer.from(`x:${revoked.token}`).toString('base64')}`,
      'an expired token': `Bearer ${expiring.token}`,
      'a revoked token': `Bearer ${revoked.token}`,
      'a token with a character changed': `Bearer ${revoked.token.slice(0, -1)}${revoked.token.endsWith('A') ? 'B' : 'A'}`,
    };
    const before = await fingerprint(t(), tenant.tenantId);
    for (const [method, url, payload] of [
      ['GET', '/scim/v2/Users', undefined],
      ['POST', '/scim/v2/Users', scimBody.user(`${u('x')}@example.com`)],
      ['POST', '/scim/v2/Bulk', scimBody.bulkUser(`${u('x')}@example.com`)],
    ] as const) {
      const answers = new Map<string, unknown>();
      for (const [label, authorization] of Object.entries(credentials)) {
        const res = await t().app.http.inject({
          method,
          url,
          headers: { authorization, ...(payload ? SCIM_CT : {}) },
          ...(payload ? { payload: JSON.stringify(payload) } : {}),
          remoteAddress: freshIp(),
        });
        const answer: Answer = {
          status: res.statusCode,
          headers: res.headers,
          body: JSON.parse(res.body),
          raw: res.body,
        };
        expectScimError(answer, 401, 'auth.unauthenticated', `${method} ${url} with ${label}`);
        expect(res.headers['www-authenticate'], label).toMatch(/^Bearer\b/);
        answers.set(label, observable(res));
      }
      const [first] = [...answers.values()];
      for (const [label, answer] of answers) expect(answer, `${method} ${url} with ${label}`).toEqual(first);
    }
    expect(await fingerprint(t(), tenant.tenantId)).toEqual(before);
  });

  it('SCIM: an admin session gets in only with scim:provision, and writes only with its CSRF token', async () => {
    const tenant = await t().newTenant();
    const admin = await session(tenant.api, tenant.tenantId, ['tenant-admin']);
    const viewer = await session(tenant.api, tenant.tenantId, ['viewer']);
    const asSession = (
      s: { cookie: string },
      method: 'GET' | 'POST',
      url: string,
      body?: unknown,
      extra = {},
    ) =>
      t().app.http.inject({
        method,
        url,
        headers: { cookie: s.cookie, ...(body ? SCIM_CT : {}), ...extra },
        ...(body ? { payload: JSON.stringify(body) } : {}),
      });
    const toAnswer = (res: Awaited<ReturnType<typeof asSession>>): Answer => ({
      status: res.statusCode,
      headers: res.headers,
      body: res.body ? JSON.parse(res.body) : undefined,
      raw: res.body,
    });
    expect((await asSession(admin, 'GET', '/scim/v2/Users')).statusCode).toBe(200);
    expectForbiddenFor(
      '/scim/v2/Users',
      toAnswer(await asSession(viewer, 'GET', '/scim/v2/Users', undefined, { 'x-csrf-token': viewer.csrf })),
      'scim:provision',
      "a viewer's session",
    );
    const before = await fingerprint(t(), tenant.tenantId);
    for (const [label, extra] of [
      ['without the CSRF token', {}],
      ['with a wrong CSRF token', { 'x-csrf-token': 'not-the-token' }],
      ["with another session's CSRF token", { 'x-csrf-token': viewer.csrf }],
    ] as const) {
      for (const url of ['/scim/v2/Users', '/scim/v2/Bulk']) {
        const body = url.endsWith('Bulk')
          ? scimBody.bulkUser(`${u('csrf')}@example.com`)
          : scimBody.user(`${u('csrf')}@example.com`);
        const res = toAnswer(await asSession(admin, 'POST', url, body, extra));
        expectScimError(res, 403, 'auth.csrf_failed', `${url} ${label}`);
      }
    }
    expect(await fingerprint(t(), tenant.tenantId), 'nothing written without the CSRF token').toEqual(before);
    const ok = await asSession(admin, 'POST', '/scim/v2/Users', scimBody.user(`${u('csrf')}@example.com`), {
      'x-csrf-token': admin.csrf,
    });
    expect(ok.statusCode, ok.body).toBe(201);
  });
});
