import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ADMIN_TOKEN, type Answer, type Client, useTestApp } from '../../support/app.js';
import { auditTrail, type Denial, denialOf, expectOnlyDenials } from '../../support/audit-views.js';
import { describeEachStore } from '../../support/stores.js';

const UNKNOWN = '01890000-0000-7000-8000-000000000000';
const TOKEN_FORMAT = /^rst_[A-Za-z0-9_-]+$/;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The secret and its hash appear nowhere in an answer (body or headers). */
function expectNoSecret(res: Answer, secret: string): void {
  const everything = `${res.raw}\n${JSON.stringify(res.headers)}`;
  expect(everything).not.toContain(secret);
  expect(everything).not.toContain(secret.slice(4));
  expect(everything.toLowerCase()).not.toContain(sha256(secret));
  expect(everything.toLowerCase()).not.toContain(createHash('sha256').update(secret).digest('base64url'));
}

describeEachStore('REST tokens', (kind) => {
  const t = useTestApp(kind);

  async function mint(body: Record<string, unknown>) {
    const res = await t().admin.post('/api/v1/tokens', body);
    expect(res.status, res.raw).toBe(201);
    return { id: res.body.id as string, secret: res.body.token as string, body: res.body, res };
  }

  /** Mints through `api` (a tenant caller) and expects 201. */
  async function mintAs(api: Client, body: Record<string, unknown>, headers?: Record<string, string>) {
    const res = await api.post('/api/v1/tokens', body, headers);
    expect(res.status, res.raw).toBe(201);
    return { id: res.body.id as string, secret: res.body.token as string, body: res.body, res };
  }

  /** The id of the tenant-admin token `newTenant` minted (named 'test'). */
  async function ownTokenId(tenantId: string): Promise<string> {
    const list = await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}`);
    const own = list.body.items.filter((x: { name: string }) => x.name === 'test');
    expect(own).toHaveLength(1);
    return own[0].id as string;
  }

  /** The names of a tenant's tokens, as the platform sees them. */
  async function tokenNames(tenantId: string): Promise<string[]> {
    const list = await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}&limit=200`);
    expect(list.status, list.raw).toBe(200);
    return list.body.items.map((x: { name: string }) => x.name);
  }

  /** A 403 problem naming `permission`, recorded as a denial of `actor` in `tenantId`'s log. */
  function denied(
    res: Answer,
    d: { tenantId: string | null; actor: string; method: string; route: string; permission: string },
  ): Denial {
    expect(res.status, res.raw).toBe(403);
    expect(res.body).toMatchObject({ code: 'auth.forbidden', permission: d.permission });
    expect(res.body).not.toHaveProperty('token');
    return denialOf(res, { ...d, code: 'auth.forbidden' });
  }

  describe('create', () => {
    it('mints a tenant token: 201 {id, token}, a prefixed secret of at least 256 bits, shown once', async () => {
      const { tenantId } = await t().newTenant();
      const before = Date.now();
      const { id, secret, body, res } = await mint({ tenantId, name: 'ci', roles: ['tenant-admin'] });
      expect(res.headers['cache-control']).toBe('no-store');
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(body).toMatchObject({
        id,
        tenantId,
        name: 'ci',
        roles: ['tenant-admin'],
        expiresAt: null,
        revokedAt: null,
        lastUsedAt: null,
      });
      expect(Date.parse(body.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(body).not.toHaveProperty('tokenHash');
      expect(body).not.toHaveProperty('token_hash');
      // base64url of at least 32 random bytes: 43+ characters of a 64-symbol alphabet = 6 bits each
      expect(secret).toMatch(TOKEN_FORMAT);
      const random = secret.slice('rst_'.length);
      expect(random.length * 6).toBeGreaterThanOrEqual(256);
      expect(random.length).toBeGreaterThanOrEqual(43);
      expect(Buffer.from(random, 'base64url').length).toBeGreaterThanOrEqual(32);
      // it authenticates, bound to its tenant
      const self = await t().client(secret).get(`/api/v1/tenants/${tenantId}`);
      expect(self.status, self.raw).toBe(200);
      expect(self.body.id).toBe(tenantId);
    });

    it('never repeats a secret', async () => {
      const { tenantId } = await t().newTenant();
      const secrets = new Set<string>();
      for (let i = 0; i < 10; i++) secrets.add((await mint({ tenantId, name: `t${i}`, roles: [] })).secret);
      expect(secrets.size).toBe(10);
      const chars = new Set([...secrets].join(''));
      // a random 256-bit secret spans the alphabet; a counter or a hex string would not
      expect(chars.size).toBeGreaterThan(40);
    });

    it('GET /tokens and GET /tokens/{id} never show the secret nor its hash', async () => {
      const { tenantId } = await t().newTenant();
      const { id, secret, body } = await mint({ tenantId, name: 'hidden', roles: ['tenant-admin'] });
      // use it once so that every stored column is filled
      expect((await t().client(secret).get('/api/v1/users')).status).toBe(200);
      const one = await t().admin.get(`/api/v1/tokens/${id}`);
      expect(one.status).toBe(200);
      expect(one.body).not.toHaveProperty('token');
      expect(one.body).toMatchObject({
        id,
        tenantId,
        name: 'hidden',
        roles: ['tenant-admin'],
        createdAt: body.createdAt,
      });
      expectNoSecret(one, secret);
      const list = await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}`);
      expect(list.status).toBe(200);
      expect(list.body.items.map((x: { id: string }) => x.id)).toContain(id);
      for (const item of list.body.items) expect(item).not.toHaveProperty('token');
      expectNoSecret(list, secret);
      const all = await t().admin.get('/api/v1/tokens?limit=200');
      expectNoSecret(all, secret);
    });

    it('answers 404 when the tenant does not exist, and stores nothing', async () => {
      const before = await t().admin.get('/api/v1/tokens?limit=200');
      const res = await t().admin.post('/api/v1/tokens', { tenantId: UNKNOWN, name: 'orphan', roles: [] });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('tenants.not_found');
      expect(res.body).not.toHaveProperty('token');
      const after = await t().admin.get('/api/v1/tokens?limit=200');
      expect(after.body.items).toEqual(before.body.items);
    });

    it('rejects invalid bodies with 422', async () => {
      const { tenantId } = await t().newTenant();
      for (const body of [
        {},
        { tenantId, name: '' },
        { tenantId: 'nope', name: 'x' },
        { tenantId, name: 'x', roles: ['Not Valid'] },
        { tenantId, name: 'x', expiresAt: 'tomorrow' },
        { tenantId, name: 'x', token: 'rst_chosen-by-the-caller-0123456789' },
      ]) {
        const res = await t().admin.post('/api/v1/tokens', body);
        expect(res.status, JSON.stringify(body)).toBe(422);
      }
    });

    it('mints platform tokens that act on the platform and, with Roster-Tenant, on a tenant', async () => {
      const { id, secret, body } = await mint({ name: 'platform-bot', roles: ['platform-admin'] });
      expect(body.tenantId).toBeNull();
      const platform = t().client(secret);
      const tenant = await platform.post('/api/v1/tenants', { name: `made-by-token-${id}` });
      expect(tenant.status, tenant.raw).toBe(201);
      const user = await platform.post(
        '/api/v1/users',
        { userName: 'via-platform' },
        { 'roster-tenant': tenant.body.id },
      );
      expect(user.status, user.raw).toBe(201);
      expect((await platform.get('/api/v1/users')).status).toBe(403);
      const listed = await t().admin.get('/api/v1/tokens?limit=200');
      const mine = listed.body.items.find((x: { id: string }) => x.id === id);
      expect(mine).toMatchObject({ tenantId: null, name: 'platform-bot', createdBy: 'admin-token' });
    });
  });

  describe('tenant admins', () => {
    it("a tenant-admin mints its own tenant's tokens, with or without naming its tenant; they work within their roles", async () => {
      const { tenantId, api } = await t().newTenant();
      const other = await t().newTenant();
      const own = await ownTokenId(tenantId);
      const user = await api.post('/api/v1/users', { userName: 'minted-for' });
      expect(user.status, user.raw).toBe(201);

      // No tenantId: the tenant is the caller's.
      const viewer = await mintAs(api, { name: 'viewer-bot', roles: ['viewer'] });
      expect(viewer.res.headers['cache-control']).toBe('no-store');
      expect(viewer.secret).toMatch(TOKEN_FORMAT);
      expect(viewer.body).toMatchObject({
        tenantId,
        name: 'viewer-bot',
        roles: ['viewer'],
        createdBy: own,
        revokedAt: null,
      });
      // Its own tenantId named: the same.
      const helpdesk = await mintAs(api, { tenantId, name: 'helpdesk-bot', roles: ['helpdesk'] });
      expect(helpdesk.body).toMatchObject({ tenantId, roles: ['helpdesk'], createdBy: own });
      // Roster-Tenant naming its own tenant is harmless.
      const admin2 = await mintAs(
        api,
        { name: 'second-admin', roles: ['tenant-admin'] },
        { 'roster-tenant': tenantId },
      );
      expect(admin2.body).toMatchObject({ tenantId, roles: ['tenant-admin'] });

      // The helpdesk changes a user's status.
      const h = t().client(helpdesk.secret);
      const hActor = `token:${helpdesk.id}`;
      const status = await h.patch(`/api/v1/users/${user.body.id}`, { active: false });
      expect(status.status, status.raw).toBe(200);
      expect(status.body.active).toBe(false);
      const updates = (await auditTrail(api)).filter(
        (e) => e.action === 'user.updated' && e.target.id === user.body.id,
      );
      expect(updates.map((e) => e.actor)).toEqual([hActor]);

      // The viewer reads, and does nothing else; the helpdesk changes nothing but a status.
      const v = t().client(viewer.secret);
      const vActor = `token:${viewer.id}`;
      expect((await v.get('/api/v1/users')).status).toBe(200);
      expect((await v.get(`/api/v1/users/${user.body.id}`)).status).toBe(200);
      expect((await v.get(`/api/v1/tenants/${tenantId}`)).status).toBe(200);
      const trailBefore = await auditTrail(api);
      const denials = [
        denied(await v.post('/api/v1/users', { userName: 'by-viewer' }), {
          tenantId,
          actor: vActor,
          method: 'POST',
          route: '/api/v1/users',
          permission: 'users:write',
        }),
        denied(await v.patch(`/api/v1/users/${user.body.id}`, { active: true }), {
          tenantId,
          actor: vActor,
          method: 'PATCH',
          route: '/api/v1/users/:id',
          permission: 'users:write',
        }),
        denied(await v.post('/api/v1/tokens', { name: 'by-viewer', roles: [] }), {
          tenantId,
          actor: vActor,
          method: 'POST',
          route: '/api/v1/tokens',
          permission: 'tokens:manage',
        }),
        denied(await h.patch(`/api/v1/users/${user.body.id}`, { department: 'Helpdesk' }), {
          tenantId,
          actor: hActor,
          method: 'PATCH',
          route: '/api/v1/users/:id',
          permission: 'users:write',
        }),
        denied(await h.post('/api/v1/tokens', { name: 'by-helpdesk', roles: ['viewer'] }), {
          tenantId,
          actor: hActor,
          method: 'POST',
          route: '/api/v1/tokens',
          permission: 'tokens:manage',
        }),
      ];
      expectOnlyDenials(trailBefore, await auditTrail(api), denials);
      expect((await api.get(`/api/v1/users/${user.body.id}`)).body.active).toBe(false);
      // The second tenant-admin acts as a tenant-admin of the same tenant, nowhere else.
      const a2 = t().client(admin2.secret);
      expect((await a2.post('/api/v1/users', { userName: 'by-second-admin' })).status).toBe(201);
      expect((await a2.get(`/api/v1/tenants/${other.tenantId}`)).status).toBe(404);

      // All three are the tenant's, minted by its admin token, and audited as such in its log only.
      expect(await tokenNames(tenantId)).toEqual(['test', 'viewer-bot', 'helpdesk-bot', 'second-admin']);
      expect(await tokenNames(other.tenantId)).toEqual(['test']);
      const trail = await auditTrail(api);
      const minted = trail.filter((e) => e.action === 'token.created' && e.actor === `token:${own}`);
      expect(minted.map((e) => e.target.id)).toEqual([viewer.id, helpdesk.id, admin2.id]);
      expect((await auditTrail(other.api)).filter((e) => e.action === 'token.created')).toHaveLength(1);
      for (const m of [viewer, helpdesk, admin2]) {
        expect(JSON.stringify(trail)).not.toContain(m.secret);
        expect((await t().client(m.secret).get('/api/v1/openapi.json')).status).toBe(200);
      }
    });

    it('a tenant token without tokens:manage cannot mint, list, read or revoke tokens: 403 naming tokens:manage', async () => {
      const { tenantId, api } = await t().newTenant();
      const own = await ownTokenId(tenantId);
      const v = await mint({ tenantId, name: 'viewer', roles: ['viewer'] });
      const viewer = t().client(v.secret);
      const d = { tenantId, actor: `token:${v.id}`, permission: 'tokens:manage' };
      const trailBefore = await auditTrail(api);
      const denials = [
        denied(await viewer.post('/api/v1/tokens', { name: 'escalate', roles: ['viewer'] }), {
          ...d,
          method: 'POST',
          route: '/api/v1/tokens',
        }),
        denied(await viewer.post('/api/v1/tokens', { tenantId, name: 'escalate', roles: [] }), {
          ...d,
          method: 'POST',
          route: '/api/v1/tokens',
        }),
        denied(await viewer.get('/api/v1/tokens'), { ...d, method: 'GET', route: '/api/v1/tokens' }),
        denied(await viewer.get(`/api/v1/tokens/${own}`), {
          ...d,
          method: 'GET',
          route: '/api/v1/tokens/:id',
        }),
        denied(await viewer.delete(`/api/v1/tokens/${own}`), {
          ...d,
          method: 'DELETE',
          route: '/api/v1/tokens/:id',
        }),
        denied(await viewer.delete(`/api/v1/tokens/${v.id}`), {
          ...d,
          method: 'DELETE',
          route: '/api/v1/tokens/:id',
        }),
      ];
      // Nothing minted nor revoked: only the denials were recorded.
      expectOnlyDenials(trailBefore, await auditTrail(api), denials);
      expect(await tokenNames(tenantId)).toEqual(['test', 'viewer']);
      expect((await api.get('/api/v1/users')).status).toBe(200);
      expect((await viewer.get('/api/v1/users')).status).toBe(200);
      // Without a token at all: 401.
      const anon = t().client(undefined);
      expect((await anon.post('/api/v1/tokens', { name: 'anon' })).status).toBe(401);
      expect((await anon.get('/api/v1/tokens')).status).toBe(401);
      expect(await tokenNames(tenantId)).toEqual(['test', 'viewer']);
    });

    it("another tenant's tenantId, or Roster-Tenant naming it, is refused with 403 naming tenants:act; nothing is minted", async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const own = await ownTokenId(a.tenantId);
      const d = {
        tenantId: a.tenantId,
        actor: `token:${own}`,
        method: 'POST',
        route: '/api/v1/tokens',
        permission: 'tenants:act',
      };
      const aBefore = await auditTrail(a.api);
      const bBefore = await auditTrail(b.api);
      const denials = [
        denied(await a.api.post('/api/v1/tokens', { tenantId: b.tenantId, name: 'intruder', roles: [] }), d),
        denied(
          await a.api.post('/api/v1/tokens', { tenantId: b.tenantId, name: 'intruder', roles: ['viewer'] }),
          d,
        ),
        denied(
          await a.api.post(
            '/api/v1/tokens',
            { name: 'intruder', roles: ['viewer'] },
            { 'roster-tenant': b.tenantId },
          ),
          d,
        ),
        // Both at once: the same refusal.
        denied(
          await a.api.post(
            '/api/v1/tokens',
            { tenantId: b.tenantId, name: 'intruder', roles: ['viewer'] },
            { 'roster-tenant': b.tenantId },
          ),
          d,
        ),
      ];
      expectOnlyDenials(aBefore, await auditTrail(a.api), denials);
      expect(await auditTrail(b.api)).toEqual(bBefore);
      expect(await tokenNames(a.tenantId)).toEqual(['test']);
      expect(await tokenNames(b.tenantId)).toEqual(['test']);
      const platform = (await t().admin.get('/api/v1/tokens?limit=200')).body.items.filter(
        (x: { name: string }) => x.name === 'intruder',
      );
      expect(platform).toEqual([]);
    });

    it('nobody grants a role beyond their own permissions: 403 naming the first one missing; nothing is minted', async () => {
      const { tenantId, api } = await t().newTenant();
      // A custom role that mints tokens and reads, nothing more.
      const role = await api.post('/api/v1/roles', {
        name: 'token-minter',
        permissions: [
          'tokens:manage',
          'tenants:read',
          'users:read',
          'groups:read',
          'licenses:read',
          'pools:read',
        ],
      });
      expect(role.status, role.raw).toBe(201);
      const m = await mintAs(api, { name: 'minter', roles: ['token-minter'] });
      const minter = t().client(m.secret);
      const d = { tenantId, actor: `token:${m.id}`, method: 'POST', route: '/api/v1/tokens' };
      const trailBefore = await auditTrail(api);
      const denials = [
        denied(await minter.post('/api/v1/tokens', { name: 'x', roles: ['helpdesk'] }), {
          ...d,
          permission: 'users:status',
        }),
        denied(await minter.post('/api/v1/tokens', { name: 'x', roles: ['viewer', 'tenant-admin'] }), {
          ...d,
          permission: 'users:write',
        }),
        denied(await minter.post('/api/v1/tokens', { name: 'x', roles: ['auditor'] }), {
          ...d,
          permission: 'audit:read',
        }),
        denied(
          await minter.post('/api/v1/tokens', {
            name: 'x',
            roles: [{ role: 'helpdesk', expiresAt: new Date(Date.now() + 3600_000).toISOString() }],
          }),
          { ...d, permission: 'users:status' },
        ),
      ];
      expectOnlyDenials(trailBefore, await auditTrail(api), denials);
      expect(await tokenNames(tenantId)).toEqual(['test', 'minter']);
      // What it holds, it may give: the built-in viewer and its own role.
      const viewer = await mintAs(minter, { name: 'viewer', roles: ['viewer'] });
      expect(viewer.body).toMatchObject({ tenantId, roles: ['viewer'], createdBy: m.id });
      const twin = await mintAs(minter, { name: 'twin', roles: ['token-minter'] });
      expect(twin.body.roles).toEqual(['token-minter']);
      expect((await t().client(twin.secret).get('/api/v1/tokens')).status).toBe(200);
      expect((await t().client(viewer.secret).get('/api/v1/users')).status).toBe(200);
      expect(await tokenNames(tenantId)).toEqual(['test', 'minter', 'viewer', 'twin']);
    });

    it('platform-admin is never given to a tenant token (422 roles.platform_only), unknown roles are 422 roles.unknown', async () => {
      const { tenantId, api } = await t().newTenant();
      const cases: [Client, { tenantId?: string; name: string; roles: unknown[] }][] = [
        [api, { name: 'up', roles: ['platform-admin'] }],
        [api, { tenantId, name: 'up', roles: ['viewer', 'platform-admin'] }],
        [t().admin, { tenantId, name: 'up', roles: ['platform-admin'] }],
        [t().admin, { tenantId, name: 'up', roles: ['viewer', { role: 'platform-admin' }] }],
      ];
      for (const [client, body] of cases) {
        const res = await client.post('/api/v1/tokens', body);
        expect(res.status, res.raw).toBe(422);
        expect(res.body.code).toBe('roles.platform_only');
        expect(res.body.errors).toEqual([
          expect.objectContaining({ pointer: `/roles/${body.roles.length - 1}` }),
        ]);
        expect(res.body).not.toHaveProperty('token');
      }
      for (const client of [api, t().admin]) {
        const res = await client.post('/api/v1/tokens', {
          tenantId,
          name: 'nope',
          roles: ['viewer', 'no-such-role'],
        });
        expect(res.status, res.raw).toBe(422);
        expect(res.body.code).toBe('roles.unknown');
        expect(res.body.errors).toEqual([expect.objectContaining({ pointer: '/roles/1' })]);
      }
      expect(await tokenNames(tenantId)).toEqual(['test']);
    });

    it('a token minted with no roles can do nothing (least privilege): 403 on tenant routes', async () => {
      const { tenantId, api } = await t().newTenant();
      const bare = await mintAs(api, { name: 'bare', roles: [] });
      expect(bare.body.roles).toEqual([]);
      const c = t().client(bare.secret);
      const d = { tenantId, actor: `token:${bare.id}` };
      const trailBefore = await auditTrail(api);
      const denials = [
        denied(await c.get('/api/v1/users'), {
          ...d,
          method: 'GET',
          route: '/api/v1/users',
          permission: 'users:read',
        }),
        denied(await c.post('/api/v1/users', { userName: 'by-bare' }), {
          ...d,
          method: 'POST',
          route: '/api/v1/users',
          permission: 'users:write',
        }),
        denied(await c.get(`/api/v1/tenants/${tenantId}`), {
          ...d,
          method: 'GET',
          route: '/api/v1/tenants/:id',
          permission: 'tenants:read',
        }),
        denied(await c.get('/api/v1/tokens'), {
          ...d,
          method: 'GET',
          route: '/api/v1/tokens',
          permission: 'tokens:manage',
        }),
      ];
      expectOnlyDenials(trailBefore, await auditTrail(api), denials);
      // It still authenticates: the routes any valid credential may call answer.
      expect((await c.get('/api/v1/openapi.json')).status).toBe(200);
      expect((await c.get('/api/v1/audit/public-key')).status).toBe(200);
      expect((await api.get('/api/v1/users')).body.items).toEqual([]);
    });
  });

  describe('expiry', () => {
    it('rejects an expiresAt in the past or now with 422, storing nothing', async () => {
      const { tenantId } = await t().newTenant();
      for (const expiresAt of [new Date(Date.now() - 60_000).toISOString(), '2000-01-01T00:00:00Z']) {
        const res = await t().admin.post('/api/v1/tokens', { tenantId, name: 'past', roles: [], expiresAt });
        expect(res.status, res.raw).toBe(422);
        expect(res.body.code).toBe('tokens.invalid_expiry');
        expect(res.body.errors).toEqual([expect.objectContaining({ pointer: '/expiresAt' })]);
      }
      const list = await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}`);
      expect(list.body.items.map((x: { name: string }) => x.name)).toEqual(['test']);
    });

    it('accepts a future expiry, works until then, and answers 401 after it', async () => {
      const { tenantId } = await t().newTenant();
      const expiresAt = new Date(Date.now() + 1500);
      const { id, secret, body } = await mint({
        tenantId,
        name: 'short-lived',
        roles: ['viewer'],
        expiresAt: expiresAt.toISOString(),
      });
      expect(body.expiresAt).toBe(expiresAt.toISOString());
      const api = t().client(secret);
      expect((await api.get('/api/v1/users')).status).toBe(200);
      await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + 100);
      const late = await api.get('/api/v1/users');
      expect(late.status).toBe(401);
      expect(late.headers['www-authenticate']).toBe('Bearer');
      expect((await t().admin.get(`/api/v1/tokens/${id}`)).body.expiresAt).toBe(expiresAt.toISOString());
    });

    it('stores an expiry given with an offset as UTC', async () => {
      const { tenantId } = await t().newTenant();
      const { body } = await mint({
        tenantId,
        name: 'offset',
        roles: [],
        expiresAt: '2999-06-01T12:00:00+02:00',
      });
      expect(body.expiresAt).toBe('2999-06-01T10:00:00.000Z');
    });
  });

  describe('revocation', () => {
    it('revokes at once; revoking again changes nothing; unknown ids answer 404', async () => {
      const { tenantId } = await t().newTenant();
      const { id, secret } = await mint({ tenantId, name: 'doomed', roles: ['viewer'] });
      const api = t().client(secret);
      expect((await api.get('/api/v1/users')).status).toBe(200);
      const revoked = await t().admin.delete(`/api/v1/tokens/${id}`);
      expect(revoked.status, revoked.raw).toBe(200);
      expect(revoked.body).toMatchObject({ id, tenantId, name: 'doomed' });
      expect(Date.parse(revoked.body.revokedAt)).not.toBeNaN();
      expectNoSecret(revoked, secret);
      const after = await api.get('/api/v1/users');
      expect(after.status).toBe(401);
      expect((await api.get(`/api/v1/tenants/${tenantId}`)).status).toBe(401);

      const read = await t().admin.get(`/api/v1/tokens/${id}`);
      expect(read.body.revokedAt).toBe(revoked.body.revokedAt);
      const again = await t().admin.delete(`/api/v1/tokens/${id}`);
      expect(again.status).toBe(200);
      expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
      expect((await t().admin.delete(`/api/v1/tokens/${UNKNOWN}`)).status).toBe(404);
      expect((await t().admin.get(`/api/v1/tokens/${UNKNOWN}`)).status).toBe(404);
      expect((await t().admin.get('/api/v1/tokens/not-a-uuid')).status).toBe(400);
    });

    it('a revoked platform token loses platform access at once', async () => {
      const { id, secret } = await mint({ name: 'platform-doomed', roles: ['platform-admin'] });
      const api = t().client(secret);
      expect((await api.get('/api/v1/tokens')).status).toBe(200);
      expect((await t().admin.delete(`/api/v1/tokens/${id}`)).status).toBe(200);
      expect((await api.get('/api/v1/tokens')).status).toBe(401);
      expect((await api.post('/api/v1/tenants', { name: `after-revoke-${id}` })).status).toBe(401);
    });

    it("a tenant-admin revokes its own tenant's tokens; another tenant's and platform tokens answer 404 like unknown ids", async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const aOwn = await ownTokenId(a.tenantId);
      const bOwn = await ownTokenId(b.tenantId);
      const victim = await mint({ tenantId: a.tenantId, name: 'victim', roles: ['viewer'] });
      const bVictim = await mint({ tenantId: b.tenantId, name: 'b-victim', roles: ['viewer'] });
      const platform = await mint({ name: 'platform-victim', roles: ['platform-admin'] });

      // Reading is scoped the same way: its own tenant's tokens only, others are unknown.
      const one = await a.api.get(`/api/v1/tokens/${victim.id}`);
      expect(one.status, one.raw).toBe(200);
      expect(one.body).toMatchObject({
        id: victim.id,
        tenantId: a.tenantId,
        name: 'victim',
        roles: ['viewer'],
      });
      expectNoSecret(one, victim.secret);
      const unknown = await a.api.get(`/api/v1/tokens/${UNKNOWN}`);
      expect(unknown.status).toBe(404);
      expect(unknown.body.code).toBe('tokens.not_found');
      for (const id of [bVictim.id, bOwn, platform.id]) {
        const res = await a.api.get(`/api/v1/tokens/${id}`);
        expect(res.status, id).toBe(404);
        expect(res.body.code).toBe('tokens.not_found');
        expect(res.body.detail).toBe(unknown.body.detail);
      }
      for (const query of ['', '?limit=200', `?tenantId=${a.tenantId}`]) {
        const list = await a.api.get(`/api/v1/tokens${query}`);
        expect(list.status, list.raw).toBe(200);
        expect(list.body.items.map((x: { id: string }) => x.id)).toEqual([aOwn, victim.id]);
        expectNoSecret(list, victim.secret);
      }
      const bList = await a.api.get(`/api/v1/tokens?tenantId=${b.tenantId}`);
      expect(bList.status).toBe(200);
      expect(bList.body.items).toEqual([]);
      expect(JSON.stringify(bList.body)).not.toContain(bVictim.id);

      // Another tenant's token and a platform token: 404, as an unknown id, and they keep working.
      const aTrail = await auditTrail(a.api);
      const bTrail = await auditTrail(b.api);
      for (const id of [bVictim.id, bOwn, platform.id, UNKNOWN]) {
        const res = await a.api.delete(`/api/v1/tokens/${id}`);
        expect(res.status, id).toBe(404);
        expect(res.body.code).toBe('tokens.not_found');
      }
      expect(await auditTrail(a.api)).toEqual(aTrail);
      expect(await auditTrail(b.api)).toEqual(bTrail);
      expect((await t().client(bVictim.secret).get('/api/v1/users')).status).toBe(200);
      expect((await b.api.get('/api/v1/users')).status).toBe(200);
      expect((await t().client(platform.secret).get('/api/v1/tenants')).status).toBe(200);
      for (const id of [bVictim.id, bOwn, platform.id]) {
        expect((await t().admin.get(`/api/v1/tokens/${id}`)).body.revokedAt, id).toBeNull();
      }

      // Its own tenant's token: revoked at once, audited as done by the tenant admin.
      const v = t().client(victim.secret);
      expect((await v.get('/api/v1/users')).status).toBe(200);
      const revoked = await a.api.delete(`/api/v1/tokens/${victim.id}`);
      expect(revoked.status, revoked.raw).toBe(200);
      expect(revoked.body).toMatchObject({ id: victim.id, tenantId: a.tenantId, name: 'victim' });
      expect(Date.parse(revoked.body.revokedAt)).not.toBeNaN();
      expectNoSecret(revoked, victim.secret);
      expect((await v.get('/api/v1/users')).status).toBe(401);
      const again = await a.api.delete(`/api/v1/tokens/${victim.id}`);
      expect(again.status).toBe(200);
      expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
      const entries = (await auditTrail(a.api)).filter((e) => e.action === 'token.revoked');
      expect(entries.map((e) => [e.actor, e.target.id])).toEqual([[`token:${aOwn}`, victim.id]]);
      expect((await auditTrail(b.api)).filter((e) => e.action === 'token.revoked')).toEqual([]);
    });

    it('a tenant token without tokens:manage cannot revoke tokens, not even its own: 403 naming tokens:manage', async () => {
      const { tenantId, api } = await t().newTenant();
      const { id, secret } = await mint({ tenantId, name: 'victim', roles: ['viewer'] });
      const viewer = await mint({ tenantId, name: 'viewer', roles: ['viewer'] });
      const c = t().client(viewer.secret);
      const d = {
        tenantId,
        actor: `token:${viewer.id}`,
        method: 'DELETE',
        route: '/api/v1/tokens/:id',
        permission: 'tokens:manage',
      };
      const trailBefore = await auditTrail(api);
      const denials = [
        denied(await c.delete(`/api/v1/tokens/${id}`), d),
        denied(await c.delete(`/api/v1/tokens/${viewer.id}`), d),
        denied(await c.delete(`/api/v1/tokens/${UNKNOWN}`), d),
      ];
      expectOnlyDenials(trailBefore, await auditTrail(api), denials);
      expect((await t().client(secret).get('/api/v1/users')).status).toBe(200);
      expect((await c.get('/api/v1/users')).status).toBe(200);
      expect((await t().admin.get(`/api/v1/tokens/${id}`)).body.revokedAt).toBeNull();
    });
  });

  describe('last use', () => {
    it('sets lastUsedAt after the token is used', async () => {
      const { tenantId } = await t().newTenant();
      const { id, secret, body } = await mint({ tenantId, name: 'tracked', roles: ['viewer'] });
      expect((await t().admin.get(`/api/v1/tokens/${id}`)).body.lastUsedAt).toBeNull();
      const used = Date.now();
      expect((await t().client(secret).get('/api/v1/users')).status).toBe(200);
      await vi.waitFor(
        async () => {
          const read = await t().admin.get(`/api/v1/tokens/${id}`);
          expect(read.body.lastUsedAt).not.toBeNull();
        },
        { timeout: 5000, interval: 50 },
      );
      const read = await t().admin.get(`/api/v1/tokens/${id}`);
      const last = Date.parse(read.body.lastUsedAt);
      expect(last).toBeGreaterThanOrEqual(Date.parse(body.createdAt));
      expect(last).toBeGreaterThanOrEqual(used - 1000);
      expect(last).toBeLessThanOrEqual(Date.now() + 1000);
    });
  });

  describe('list', () => {
    it('pages every token once and filters by tenant', async () => {
      const { tenantId } = await t().newTenant();
      const minted = [(await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}`)).body.items[0].id];
      for (let i = 0; i < 4; i++) minted.push((await mint({ tenantId, name: `p${i}`, roles: [] })).id);
      const seen: string[] = [];
      let cursor: string | undefined;
      const sizes: number[] = [];
      do {
        const res = await t().admin.get(
          `/api/v1/tokens?tenantId=${tenantId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(res.status, res.raw).toBe(200);
        sizes.push(res.body.items.length);
        for (const item of res.body.items) expect(item.tenantId).toBe(tenantId);
        seen.push(...res.body.items.map((x: { id: string }) => x.id));
        cursor = res.body.nextCursor;
      } while (cursor !== undefined);
      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual(minted);
      expect((await t().admin.get(`/api/v1/tokens?tenantId=${UNKNOWN}`)).body.items).toEqual([]);
    });
  });

  it('the admin token itself is accepted; unknown, malformed and missing tokens are 401', async () => {
    expect((await t().client(ADMIN_TOKEN).get('/api/v1/tokens')).status).toBe(200);
    for (const header of [
      'Bearer rst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      'Bearer short',
      `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}`,
      `${ADMIN_TOKEN}`,
    ]) {
      const res = await t().client(undefined).get('/api/v1/tokens', { authorization: header });
      expect(res.status, header).toBe(401);
    }
  });
});
