import { afterEach, describe, expect, it, vi } from 'vitest';
import { argon2Hasher } from '../../../src/access/admins/password.js';
import { base32Decode, hotp, timeStep, totp } from '../../../src/access/admins/totp.js';
import type { Clock } from '../../../src/platform/clock.js';
import { type Answer, type clientFor, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

const PASSWORD = 'correct horse battery staple';
const UNKNOWN = '01890000-0000-7000-8000-000000000000';

/** A clock the tests move by hand (sessions, throttles and TOTP steps all read it). */
function movableClock(): Clock & { advance(ms: number): void } {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    advance(ms) {
      offset += ms;
    },
  };
}

interface Session {
  readonly cookie: string;
  readonly csrf: string;
  readonly body: Answer['body'];
}

describeEachStore('admin accounts, TOTP and sessions', (kind) => {
  const clock = movableClock();
  const t = useTestApp(kind, {}, { clock });
  let ipSeq = 0;
  /** Each test logs in from its own address, so per-IP counters of one test never touch another. */
  const freshIp = () => `10.${kind === 'sqlite' ? 1 : 2}.${Math.floor(++ipSeq / 250)}.${ipSeq % 250}`;

  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function send(
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    url: string,
    body?: unknown,
    headers: Record<string, string> = {},
    ip = '127.0.0.1',
  ): Promise<Answer> {
    const res = await t().app.http.inject({
      method,
      url,
      remoteAddress: ip,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
    });
    let parsed: unknown;
    try {
      parsed = res.body === '' ? undefined : JSON.parse(res.body);
    } catch {
      parsed = undefined;
    }
    return { status: res.statusCode, headers: res.headers, body: parsed, raw: res.body };
  }

  const passwordStep = (body: Record<string, unknown>, ip: string) =>
    send('POST', '/api/v1/auth/login', body, {}, ip);
  const secondStep = (body: Record<string, unknown>, ip: string) =>
    send('POST', '/api/v1/auth/login/totp', body, {}, ip);
  const enrolStep = (body: Record<string, unknown>, ip: string) =>
    send('POST', '/api/v1/auth/totp/enrol', body, {}, ip);

  /** Requests with a session cookie (and its CSRF token unless told otherwise). */
  function as(s: Session, csrf: string | null = s.csrf) {
    const headers = { cookie: s.cookie, ...(csrf !== null ? { 'x-csrf-token': csrf } : {}) };
    return {
      get: (url: string) => send('GET', url, undefined, headers),
      post: (url: string, body?: unknown) => send('POST', url, body ?? {}, headers),
      patch: (url: string, body: unknown) => send('PATCH', url, body, headers),
      delete: (url: string) => send('DELETE', url, undefined, headers),
    };
  }

  function cookieOf(res: Answer): string {
    const set = res.headers['set-cookie'];
    const line = Array.isArray(set) ? set[0] : set;
    expect(line).toBeDefined();
    return (line as string).split(';')[0] as string;
  }

  /** The code an authenticator shows now for a secret, in the next unused time step. */
  function codeFor(secret: string): string {
    clock.advance(30_000);
    return totp(base32Decode(secret), clock.now());
  }

  async function newAdmin(
    api: ReturnType<typeof clientFor>,
    username: string,
    roles: unknown[] = ['tenant-admin'],
  ): Promise<Answer['body']> {
    const res = await api.post('/api/v1/admins', { username, password: PASSWORD, roles });
    expect(res.status, res.raw).toBe(201);
    return res.body;
  }

  /** First login: password, then enrolment. Returns the session and the TOTP secret. */
  async function enrolFirst(tenant: string | undefined, username: string, ip = freshIp()) {
    const step = await passwordStep({ tenant, username, password: PASSWORD }, ip);
    expect(step.status, step.raw).toBe(200);
    expect(step.body.mfa).toBe('enrolment_required');
    const secret = step.body.secret as string;
    const res = await enrolStep({ challenge: step.body.challenge, code: codeFor(secret) }, ip);
    expect(res.status, res.raw).toBe(200);
    const session: Session = { cookie: cookieOf(res), csrf: res.body.csrfToken, body: res.body };
    return { session, secret, recoveryCodes: res.body.recoveryCodes as string[], res };
  }

  /** A later login: password, then a TOTP code. */
  async function login(tenant: string | undefined, username: string, secret: string, ip = freshIp()) {
    const step = await passwordStep({ tenant, username, password: PASSWORD }, ip);
    expect(step.status, step.raw).toBe(200);
    expect(step.body).toEqual({ mfa: 'required', challenge: expect.any(String) });
    const res = await secondStep({ challenge: step.body.challenge, code: codeFor(secret) }, ip);
    expect(res.status, res.raw).toBe(200);
    return { cookie: cookieOf(res), csrf: res.body.csrfToken, body: res.body } as Session;
  }

  async function auditOf(tenantId: string | null, action?: string) {
    let q = t().app.db.kysely.selectFrom('audit_entries').selectAll();
    q = tenantId === null ? q.where('tenant_id', 'is', null) : q.where('tenant_id', '=', tenantId);
    if (action) q = q.where('action', '=', action);
    return q.orderBy('seq').execute();
  }

  describe('enrolment and login', () => {
    it('enrols TOTP at the first login, then issues a session cookie usable for reads and CSRF-guarded writes', async () => {
      const { tenantId, api } = await t().newTenant();
      const created = await newAdmin(api, 'Alice');
      expect(created).toMatchObject({
        tenantId,
        username: 'Alice',
        roles: ['tenant-admin'],
        disabled: false,
        totpEnrolled: false,
        recoveryCodesLeft: 0,
      });
      for (const field of ['password', 'passwordHash', 'password_hash', 'totpSecret', 'recoveryCodes']) {
        expect(created).not.toHaveProperty(field);
      }
      expect(JSON.stringify(created)).not.toContain(PASSWORD);

      const ip = freshIp();
      const step = await passwordStep({ tenant: tenantId, username: 'alice', password: PASSWORD }, ip);
      expect(step.status, step.raw).toBe(200);
      expect(step.headers['set-cookie']).toBeUndefined();
      const uri = new URL(step.body.otpauthUri);
      expect(uri.protocol).toBe('otpauth:');
      expect(uri.searchParams.get('secret')).toBe(step.body.secret);
      expect(uri.searchParams.get('issuer')).toBe('Roster');
      expect(base32Decode(step.body.secret)).toHaveLength(20);

      // A wrong code does not enrol (and no session comes with it)
      const secret = base32Decode(step.body.secret);
      const wrong = String((Number(totp(secret, clock.now())) + 1) % 1_000_000).padStart(6, '0');
      const bad = await enrolStep({ challenge: step.body.challenge, code: wrong }, ip);
      expect(bad.status).toBe(401);
      expect(bad.body.code).toBe('auth.mfa_failed');
      expect(bad.headers['set-cookie']).toBeUndefined();

      const res = await enrolStep({ challenge: step.body.challenge, code: codeFor(step.body.secret) }, ip);
      expect(res.status, res.raw).toBe(200);
      expect(res.headers['cache-control']).toBe('no-store');
      const setCookie = String(res.headers['set-cookie']);
      expect(setCookie).toMatch(/^roster_session=[A-Za-z0-9_-]{43};/);
      expect(setCookie).toContain('HttpOnly');
      expect(setCookie).toContain('SameSite=Strict');
      expect(setCookie).toContain('Path=/');
      expect(setCookie).not.toContain('Secure'); // plain http here
      expect(res.body.recoveryCodes).toHaveLength(10);
      expect(new Set(res.body.recoveryCodes).size).toBe(10);
      expect(res.body.admin).toMatchObject({ id: created.id, totpEnrolled: true, recoveryCodesLeft: 10 });
      // The challenge was single use
      const again = await enrolStep({ challenge: step.body.challenge, code: codeFor(step.body.secret) }, ip);
      expect(again.status).toBe(401);
      expect(again.body.code).toBe('auth.challenge_invalid');

      const session: Session = { cookie: cookieOf(res), csrf: res.body.csrfToken, body: res.body };
      expect((await as(session, null).get('/api/v1/users')).status).toBe(200);
      const noCsrf = await as(session, null).post('/api/v1/groups', { displayName: 'ops' });
      expect(noCsrf.status).toBe(403);
      expect(noCsrf.body.code).toBe('auth.csrf_failed');
      const badCsrf = await as(session, 'x'.repeat(43)).post('/api/v1/groups', { displayName: 'ops' });
      expect(badCsrf.body.code).toBe('auth.csrf_failed');
      const made = await as(session).post('/api/v1/groups', { displayName: 'ops' });
      expect(made.status, made.raw).toBe(201);

      const me = await as(session, null).get('/api/v1/auth/session');
      expect(me.status).toBe(200);
      expect(me.body).toMatchObject({
        csrfToken: session.csrf,
        admin: { id: created.id, username: 'Alice' },
      });

      // The audit trail names the account, never the secret, the password or the code
      const entries = await auditOf(tenantId);
      const actions = entries.map((e) => e.action);
      expect(actions).toEqual(
        expect.arrayContaining([
          'admin.created',
          'admin.roles_granted',
          'auth.login_failed',
          'auth.mfa_enrolled',
          'auth.login_succeeded',
        ]),
      );
      const all = JSON.stringify(entries);
      expect(all).not.toContain(PASSWORD);
      expect(all).not.toContain(step.body.secret);
      expect(all).not.toContain(session.csrf);
      expect(all).not.toContain(session.cookie.split('=')[1]);
      for (const code of res.body.recoveryCodes) expect(all).not.toContain(code);
      const group = entries.find((e) => e.action === 'group.created');
      expect(group?.actor).toBe(`admin:${created.id}`);

      // Logout revokes: the cookie stops working
      const out = await as(session).post('/api/v1/auth/logout');
      expect(out.status).toBe(204);
      expect(String(out.headers['set-cookie'])).toMatch(/^roster_session=; Max-Age=0/);
      expect((await as(session, null).get('/api/v1/users')).status).toBe(401);
      expect((await as(session, null).get('/api/v1/auth/session')).status).toBe(401);
      expect((await auditOf(tenantId, 'auth.logout')).length).toBe(1);
    });

    it('logs in with a TOTP code (each usable once) or a recovery code (each usable once); tenant by name', async () => {
      const tenantName = `named-${kind}-${Date.now()}`;
      const { api } = await t().newTenant(tenantName);
      await newAdmin(api, 'bob');
      const { secret, recoveryCodes } = await enrolFirst(tenantName.toUpperCase(), 'BOB');
      const s = await login(tenantName, 'bob', secret);
      expect((await as(s, null).get('/api/v1/users')).status).toBe(200);

      // Replaying the code of the step just used fails, even with a fresh challenge
      const ip = freshIp();
      const used = totp(base32Decode(secret), clock.now());
      const step = await passwordStep({ tenant: tenantName, username: 'bob', password: PASSWORD }, ip);
      const replay = await secondStep({ challenge: step.body.challenge, code: used }, ip);
      expect(replay.status).toBe(401);
      expect(replay.body.code).toBe('auth.mfa_failed');
      // ... and so does the code of the step before it (an older code after a newer one was used)
      const older = hotp(base32Decode(secret), timeStep(clock.now()) - 1);
      const old = await secondStep({ challenge: step.body.challenge, code: older }, ip);
      expect(old.body.code).toBe('auth.mfa_failed');

      // A recovery code works once (dashes and case do not matter)
      const code = recoveryCodes[0] as string;
      const ok = await secondStep({ challenge: step.body.challenge, recoveryCode: code.toUpperCase() }, ip);
      expect(ok.status, ok.raw).toBe(200);
      expect(ok.body.admin.recoveryCodesLeft).toBe(9);
      const step2 = await passwordStep({ tenant: tenantName, username: 'bob', password: PASSWORD }, ip);
      const reused = await secondStep({ challenge: step2.body.challenge, recoveryCode: code }, ip);
      expect(reused.status).toBe(401);
      expect(reused.body.code).toBe('auth.mfa_failed');
      expect((await auditOf(ok.body.admin.tenantId, 'auth.recovery_code_used')).length).toBe(1);
    });

    it('gives no session for a password alone, and a challenge dies after five wrong codes', async () => {
      const { tenantId, api } = await t().newTenant();
      await newAdmin(api, 'carol');
      const { secret } = await enrolFirst(tenantId, 'carol');
      const ip = freshIp();
      const step = await passwordStep({ tenant: tenantId, username: 'carol', password: PASSWORD }, ip);
      expect(step.headers['set-cookie']).toBeUndefined();
      // The challenge is no credential
      const asCookie = await send('GET', '/api/v1/users', undefined, {
        cookie: `roster_session=${step.body.challenge}`,
      });
      expect(asCookie.status).toBe(401);
      for (let i = 0; i < 5; i++) {
        const res = await secondStep({ challenge: step.body.challenge, code: '000000' }, ip);
        expect(res.body.code).toBe(i < 5 ? 'auth.mfa_failed' : 'auth.challenge_invalid');
      }
      clock.advance(2_000); // past the lock the failures caused, well within the challenge's 5 minutes
      const dead = await secondStep({ challenge: step.body.challenge, code: codeFor(secret) }, ip);
      expect(dead.status).toBe(401);
      expect(dead.body.code).toBe('auth.challenge_invalid');
    });

    it('works for platform accounts (no tenant), whose secret the KEK wraps', async () => {
      const username = `root-${kind}-${Date.now()}`;
      const res = await t().admin.post('/api/v1/admins', {
        username,
        password: PASSWORD,
        roles: ['platform-admin'],
      });
      expect(res.status, res.raw).toBe(201);
      expect(res.body.tenantId).toBeNull();
      const { secret } = await enrolFirst(undefined, username);
      const s = await login(undefined, username, secret);
      expect((await as(s, null).get('/api/v1/tenants')).status).toBe(200);
      const tenant = await as(s).post('/api/v1/tenants', { name: `by-session-${kind}-${Date.now()}` });
      expect(tenant.status, tenant.raw).toBe(201);
      // The platform's accounts are not a tenant's
      const { api } = await t().newTenant();
      expect((await api.get(`/api/v1/admins/${res.body.id}`)).status).toBe(404);
    });
  });

  describe('user enumeration', () => {
    it('answers an unknown user, an unknown tenant, a wrong password and a disabled account alike, after the same hash work', async () => {
      const { tenantId, api } = await t().newTenant();
      const dave = await newAdmin(api, 'dave');
      const erin = await newAdmin(api, 'erin');
      expect((await api.patch(`/api/v1/admins/${erin.id}`, { disabled: true })).status).toBe(200);
      const verify = vi.spyOn(argon2Hasher, 'verify');
      const attempts: [string, Record<string, unknown>][] = [
        ['unknown user', { tenant: tenantId, username: 'nobody', password: PASSWORD }],
        ['wrong password', { tenant: tenantId, username: 'dave', password: `${PASSWORD}!` }],
        ['disabled', { tenant: tenantId, username: 'erin', password: PASSWORD }],
        ['unknown tenant id', { tenant: UNKNOWN, username: 'dave', password: PASSWORD }],
        ['unknown tenant name', { tenant: 'no-such-tenant', username: 'dave', password: PASSWORD }],
        ['no tenant', { username: 'dave', password: PASSWORD }],
      ];
      const answers: Answer[] = [];
      for (const [, body] of attempts) {
        const before = verify.mock.calls.length;
        const res = await passwordStep(body, freshIp());
        // Every attempt ran exactly one argon2id verification, known account or not
        expect(verify.mock.calls.length - before).toBe(1);
        const hashUsed = verify.mock.calls.at(-1)?.[0] as string;
        expect(hashUsed).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
        answers.push(res);
      }
      const shape = (a: Answer) => {
        const { requestId: _r, ...rest } = a.body;
        return {
          status: a.status,
          body: rest,
          type: a.headers['content-type'],
          cookie: a.headers['set-cookie'],
        };
      };
      const first = shape(answers[0] as Answer);
      expect(first.status).toBe(401);
      expect(first.body.code).toBe('auth.login_failed');
      for (const [i, a] of answers.entries()) expect(shape(a), attempts[i]?.[0]).toEqual(first);
      // The unknown user was checked against the dummy hash, the wrong password against dave's own
      const hashes = verify.mock.calls.map((c) => c[0]);
      expect(hashes[0]).not.toBe(hashes[1]);
      expect(hashes[2]).not.toBe(hashes[1]);
      // Audited without the name that was tried
      const failed = await auditOf(tenantId, 'auth.login_failed');
      expect(failed.map((e) => e.target_id)).toEqual([null, dave.id, erin.id]);
      expect(JSON.stringify(failed)).not.toContain('nobody');
    });
  });

  describe('throttling', () => {
    it('locks an account after 5 failures with growing delays, whatever the address, and a login clears it', async () => {
      const { tenantId, api } = await t().newTenant();
      await newAdmin(api, 'frank');
      const { secret } = await enrolFirst(tenantId, 'frank');
      const wrong = { tenant: tenantId, username: 'frank', password: 'wrong password!!' };
      for (let i = 0; i < 5; i++) {
        expect((await passwordStep(wrong, freshIp())).status).toBe(401);
      }
      const verify = vi.spyOn(argon2Hasher, 'verify');
      const right = { tenant: tenantId, username: 'frank', password: PASSWORD };
      const locked = await passwordStep(right, freshIp());
      expect(locked.status).toBe(429);
      expect(locked.body.code).toBe('auth.login_throttled');
      expect(locked.headers['retry-after']).toBe('1');
      expect(verify).not.toHaveBeenCalled(); // refused before any work
      clock.advance(1_001);
      expect((await passwordStep(wrong, freshIp())).status).toBe(401);
      const longer = await passwordStep(right, freshIp());
      expect(longer.status).toBe(429);
      expect(longer.headers['retry-after']).toBe('2'); // doubled
      clock.advance(2_001);
      // The right password then a code: in, and the counter starts again
      await login(tenantId, 'frank', secret);
      expect((await passwordStep(wrong, freshIp())).status).toBe(401);
      expect((await passwordStep(right, freshIp())).status).toBe(200);
    });

    it('locks unknown usernames the same way (throttling tells nothing either)', async () => {
      const { tenantId } = await t().newTenant();
      const body = { tenant: tenantId, username: 'ghost', password: 'wrong password!!' };
      for (let i = 0; i < 5; i++) expect((await passwordStep(body, freshIp())).status).toBe(401);
      const res = await passwordStep(body, freshIp());
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('1');
    });

    it('locks an address after 20 failures across usernames; other addresses go on', async () => {
      const { tenantId, api } = await t().newTenant();
      await newAdmin(api, 'heidi');
      const ip = freshIp();
      for (let i = 0; i < 20; i++) {
        const res = await passwordStep(
          { tenant: tenantId, username: `u${i}`, password: 'wrong password!!' },
          ip,
        );
        expect(res.status).toBe(401);
      }
      const right = { tenant: tenantId, username: 'heidi', password: PASSWORD };
      const res = await passwordStep(right, ip);
      expect(res.status).toBe(429);
      expect(res.body.code).toBe('auth.login_throttled');
      expect((await passwordStep(right, freshIp())).status).toBe(200);
    });

    it('counts wrong second factors against the account', async () => {
      const { tenantId, api } = await t().newTenant();
      await newAdmin(api, 'ivan');
      await enrolFirst(tenantId, 'ivan');
      const ip = freshIp();
      for (let i = 0; i < 5; i++) {
        const step = await passwordStep({ tenant: tenantId, username: 'ivan', password: PASSWORD }, ip);
        expect(step.status).toBe(200);
        await secondStep({ challenge: step.body.challenge, code: '000000' }, ip);
      }
      const res = await passwordStep({ tenant: tenantId, username: 'ivan', password: PASSWORD }, freshIp());
      expect(res.status).toBe(429);
    });
  });

  describe('sessions', () => {
    it('end after 30 minutes idle, and 12 hours after login however busy', async () => {
      const { tenantId, api } = await t().newTenant();
      await newAdmin(api, 'judy');
      const { secret, session } = await enrolFirst(tenantId, 'judy');
      clock.advance(29 * 60_000);
      expect((await as(session, null).get('/api/v1/users')).status).toBe(200);
      clock.advance(29 * 60_000);
      expect((await as(session, null).get('/api/v1/users')).status).toBe(200);
      clock.advance(31 * 60_000);
      expect((await as(session, null).get('/api/v1/users')).status).toBe(401);
      expect((await auditOf(tenantId, 'auth.session_expired')).length).toBe(1);

      const busy = await login(tenantId, 'judy', secret);
      for (let h = 0; h < 12 * 3 - 1; h++) {
        clock.advance(20 * 60_000);
        expect((await as(busy, null).get('/api/v1/users')).status, `after ${h}`).toBe(200);
      }
      clock.advance(20 * 60_000);
      expect((await as(busy, null).get('/api/v1/users')).status).toBe(401);
    });

    it('changes the own password with the current one and ends the other sessions', async () => {
      const { tenantId, api } = await t().newTenant();
      await newAdmin(api, 'ken');
      const { secret, session } = await enrolFirst(tenantId, 'ken');
      const other = await login(tenantId, 'ken', secret);
      const next = 'another long passphrase';
      const wrong = await as(session).post('/api/v1/auth/password', {
        currentPassword: 'not it at all',
        newPassword: next,
      });
      expect(wrong.status).toBe(401);
      expect(wrong.body.code).toBe('auth.login_failed');
      const weak = await as(session).post('/api/v1/auth/password', {
        currentPassword: PASSWORD,
        newPassword: 'short',
      });
      expect(weak.status).toBe(422);
      const noCsrf = await as(session, null).post('/api/v1/auth/password', {
        currentPassword: PASSWORD,
        newPassword: next,
      });
      expect(noCsrf.body.code).toBe('auth.csrf_failed');
      const ok = await as(session).post('/api/v1/auth/password', {
        currentPassword: PASSWORD,
        newPassword: next,
      });
      expect(ok.status, ok.raw).toBe(204);
      expect((await as(session, null).get('/api/v1/users')).status).toBe(200);
      expect((await as(other, null).get('/api/v1/users')).status).toBe(401);
      const old = await passwordStep({ tenant: tenantId, username: 'ken', password: PASSWORD }, freshIp());
      expect(old.status).toBe(401);
      const fresh = await passwordStep({ tenant: tenantId, username: 'ken', password: next }, freshIp());
      expect(fresh.status).toBe(200);
      expect(JSON.stringify(await auditOf(tenantId))).not.toContain(next);
    });
  });

  describe('management', () => {
    it('lists and reads the tenant’s accounts; other tenants’ ids answer 404; usernames are unique ignoring case', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const mine = await newAdmin(a.api, 'Laura');
      const theirs = await newAdmin(b.api, 'laura'); // the same name in another tenant is fine
      const dup = await a.api.post('/api/v1/admins', { username: 'LAURA', password: PASSWORD });
      expect(dup.status).toBe(409);
      expect(dup.body.code).toBe('admins.username_taken');
      const weak = await a.api.post('/api/v1/admins', { username: 'mallory', password: 'short' });
      expect(weak.status).toBe(422);
      expect(weak.body.code).toBe('admins.weak_password');
      const list = await a.api.get('/api/v1/admins');
      expect(list.status).toBe(200);
      expect(list.body.items.map((x: { id: string }) => x.id)).toEqual([mine.id]);
      const one = await a.api.get(`/api/v1/admins/${mine.id}`);
      expect(one.status).toBe(200);
      expect(one.headers.etag).toBeDefined();
      for (const [method, url, body] of [
        ['GET', `/api/v1/admins/${theirs.id}`, undefined],
        ['PATCH', `/api/v1/admins/${theirs.id}`, { disabled: true }],
        ['DELETE', `/api/v1/admins/${theirs.id}/totp`, undefined],
      ] as const) {
        const res = await send(method, url, body, { authorization: `Bearer ${a.token}` });
        expect(res.status, `${method} ${url}`).toBe(404);
        expect(res.body.code).toBe('admins.not_found');
      }
      expect((await b.api.get(`/api/v1/admins/${theirs.id}`)).body.disabled).toBe(false);
      expect((await t().client(undefined).get('/api/v1/admins')).status).toBe(401);
    });

    it('never lets a caller grant a role whose permissions it lacks; a custom role in use cannot be deleted', async () => {
      const { tenantId, api } = await t().newTenant();
      const role = await api.post('/api/v1/roles', {
        name: 'admin-manager',
        permissions: ['admins:manage', 'admins:read'],
      });
      expect(role.status, role.raw).toBe(201);
      const tok = await t().admin.post('/api/v1/tokens', { tenantId, name: 'mgr', roles: ['admin-manager'] });
      const mgr = t().client(tok.body.token);
      const escalate = await mgr.post('/api/v1/admins', {
        username: 'nina',
        password: PASSWORD,
        roles: ['tenant-admin'],
      });
      expect(escalate.status).toBe(403);
      expect(escalate.body.code).toBe('auth.forbidden');
      const peer = await mgr.post('/api/v1/admins', {
        username: 'nina',
        password: PASSWORD,
        roles: ['admin-manager'],
      });
      expect(peer.status, peer.raw).toBe(201);
      const up = await mgr.patch(`/api/v1/admins/${peer.body.id}`, { roles: ['admin-manager', 'auditor'] });
      expect(up.status).toBe(403);
      // Nor take away or disable what it could not have given
      const boss = await newAdmin(api, 'oscar');
      expect((await mgr.patch(`/api/v1/admins/${boss.id}`, { disabled: true })).status).toBe(403);
      expect((await mgr.delete(`/api/v1/admins/${boss.id}/totp`)).status).toBe(403);
      const unknown = await api.post('/api/v1/admins', {
        username: 'pat',
        password: PASSWORD,
        roles: ['no-such-role'],
      });
      expect(unknown.status).toBe(422);
      // Held by nina alone once the token is revoked: still in use
      expect((await t().admin.delete(`/api/v1/tokens/${tok.body.id}`)).status).toBe(200);
      const inUse = await api.delete('/api/v1/roles/admin-manager');
      expect(inUse.status).toBe(409);
      expect(inUse.body.code).toBe('roles.in_use');
      expect((await api.get(`/api/v1/admins/${boss.id}`)).body.disabled).toBe(false);
    });

    it('grants roles until an expiry; disabling ends sessions; a TOTP reset makes the next login enrol again', async () => {
      const { tenantId, api } = await t().newTenant();
      const until = new Date(clock.now().getTime() + 10 * 60_000).toISOString();
      const quinn = await newAdmin(api, 'quinn', [{ role: 'tenant-admin', expiresAt: until }]);
      expect(quinn.roleGrants).toEqual([{ role: 'tenant-admin', expiresAt: until }]);
      const past = await api.post('/api/v1/admins', {
        username: 'rita',
        password: PASSWORD,
        roles: [{ role: 'viewer', expiresAt: new Date(clock.now().getTime() - 1000).toISOString() }],
      });
      expect(past.status).toBe(422);
      expect(past.body.code).toBe('admins.invalid_expiry');
      const { secret, session } = await enrolFirst(tenantId, 'quinn');
      expect((await as(session, null).get('/api/v1/users')).status).toBe(200);
      clock.advance(10 * 60_000);
      const expired = await as(session, null).get('/api/v1/users');
      expect(expired.status).toBe(403);
      expect(expired.body.permission).toBe('users:read');

      const patched = await api.patch(
        `/api/v1/admins/${quinn.id}`,
        { roles: ['viewer'] },
        { 'if-match': '"999"' },
      );
      expect(patched.status).toBe(412);
      const viewer = await api.patch(`/api/v1/admins/${quinn.id}`, { roles: ['viewer'] });
      expect(viewer.status, viewer.raw).toBe(200);
      expect(viewer.body.roles).toEqual(['viewer']);
      expect((await as(session, null).get('/api/v1/users')).status).toBe(200);
      const actions = (await auditOf(tenantId)).map((e) => e.action);
      expect(actions).toEqual(
        expect.arrayContaining(['admin.roles_granted', 'admin.roles_revoked', 'admin.updated']),
      );

      const disabled = await api.patch(`/api/v1/admins/${quinn.id}`, { disabled: true });
      expect(disabled.body.disabled).toBe(true);
      expect((await as(session, null).get('/api/v1/users')).status).toBe(401);
      const refused = await passwordStep(
        { tenant: tenantId, username: 'quinn', password: PASSWORD },
        freshIp(),
      );
      expect(refused.body.code).toBe('auth.login_failed');
      expect((await api.patch(`/api/v1/admins/${quinn.id}`, { disabled: false })).status).toBe(200);
      const back = await login(tenantId, 'quinn', secret);

      const reset = await api.delete(`/api/v1/admins/${quinn.id}/totp`);
      expect(reset.status).toBe(200);
      expect(reset.body).toMatchObject({ totpEnrolled: false, recoveryCodesLeft: 0 });
      expect((await as(back, null).get('/api/v1/users')).status).toBe(401);
      const again = await enrolFirst(tenantId, 'quinn');
      expect(again.secret).not.toBe(secret);
      expect((await auditOf(tenantId, 'auth.mfa_reset')).length).toBe(1);
      expect((await auditOf(tenantId, 'auth.mfa_enrolled')).length).toBe(2);
    });
  });
});
