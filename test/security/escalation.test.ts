/**
 * Attack: privilege escalation through roles. Read-only tokens cannot define roles; a role manager cannot
 * define, widen or delete a role beyond what it holds, nor mint itself more; a tenant admin cannot put
 * platform permissions in a role; expired grants and revoked tokens confer nothing; a change to a custom
 * role reaches its holders at once on the node that made it and within 2 s on another node. SCIM (/scim/v2) is
 * the `scim:provision` permission's alone: nothing else opens it (users:write, groups:write, a custom role
 * without it, an expired grant), a role manager cannot hand it out without holding it, and a provisioner
 * cannot reach past SCIM with it (no REST writes, tokens or roles; SCIM's `roles` and `entitlements`
 * attributes grant nothing).
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILT_IN_ROLES, PERMISSIONS } from '../../src/access/permissions.js';
import { type App, buildApp } from '../../src/main.js';
import { loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logging.js';
import { ADMIN_TOKEN, type Answer, type Client, clientFor, useTestApp } from '../support/app.js';
import { loadRouteTable, routeName } from '../support/routes.js';
import { isScim, SCIM_CT, scimBody } from '../support/scim-routes.js';
import { describeEachStore } from '../support/stores.js';
import {
  ADMIN_PASSWORD,
  APP_OPTIONS,
  denialCount,
  ENV,
  expectError,
  expectForbidden,
  expectForbiddenFor,
  expectProblem,
  fillUrl,
  fingerprint,
  lazyWorld,
  mint,
  sendValid,
  u,
  type World,
} from './support.js';

const ROUTES = await loadRouteTable();
/** The SCIM routes, from the route table: each is the `scim:provision` permission's. */
const SCIM_ROUTES = ROUTES.filter((r) => isScim(r.url));

/** How long a node trusts its cached roles and tokens (docs/permissions.md, docs/security.md). */
const PROPAGATION_MS = 2_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describeEachStore('attack: privilege escalation through roles', (kind) => {
  const t = useTestApp(kind, ENV, APP_OPTIONS);
  const world = lazyWorld(t, 'esc');

  /** A custom role of the world's tenant with exactly these permissions, and a token holding only it. */
  async function holderOf(
    w: World,
    permissions: string[],
  ): Promise<{ role: string; api: Client; id: string }> {
    const role = u('custom');
    const res = await w.api.post('/api/v1/roles', { name: role, permissions });
    expect(res.status, res.raw).toBe(201);
    return { role, ...(await mint(t(), w.api, [role])) };
  }

  /** Runs `attacks`, each expected to be refused with 403 naming a permission; nothing else may change. */
  async function expectAllRefused(w: World, attacks: [string, () => Promise<unknown>, string][]) {
    const before = await fingerprint(t());
    const denied = await denialCount(t(), w.tenantId);
    for (const [label, attack, permission] of attacks) {
      expectForbidden((await attack()) as never, permission, label);
    }
    expect(await fingerprint(t()), 'nothing written').toEqual(before);
    expect(await denialCount(t(), w.tenantId)).toBe(denied + attacks.length);
  }

  it('helpdesk and viewer tokens cannot create, change or delete roles (403 roles:manage)', async () => {
    const w = await world();
    const attacks: [string, () => Promise<unknown>, string][] = [];
    for (const roleName of ['helpdesk', 'viewer', 'auditor', 'provisioner']) {
      const c = await mint(t(), w.api, [roleName]);
      attacks.push(
        [
          `${roleName}: POST /roles`,
          () => c.api.post('/api/v1/roles', { name: u('r'), permissions: [] }),
          'roles:manage',
        ],
        [
          `${roleName}: PATCH /roles/:name`,
          () => c.api.patch(`/api/v1/roles/${w.roleName}`, { permissions: ['users:write'] }),
          'roles:manage',
        ],
        [
          `${roleName}: DELETE /roles/:name`,
          () => c.api.delete(`/api/v1/roles/${w.roleName}`),
          'roles:manage',
        ],
        [
          `${roleName}: POST /tokens`,
          () => c.api.post('/api/v1/tokens', { name: u('t'), roles: ['tenant-admin'] }),
          'tokens:manage',
        ],
      );
    }
    await expectAllRefused(w, attacks);
  });

  it("helpdesk changes a user's status and nothing else: any other field, a create or a delete needs more", async () => {
    const w = await world();
    const helpdesk = await mint(t(), w.api, ['helpdesk']);
    const url = `/api/v1/users/${w.otherUserId}`;
    // The narrow change goes through with users:status alone (suspend, then reactivate).
    const off = await helpdesk.api.patch(url, { active: false });
    expect(off.status, off.raw).toBe(200);
    expect(off.body.active).toBe(false);
    const on = await helpdesk.api.patch(url, { status: 'active' });
    expect(on.status, on.raw).toBe(200);
    expect(on.body.status).toBe('active');
    // Anything wider is refused naming users:write, and writes nothing.
    await expectAllRefused(w, [
      ['PATCH another field', () => helpdesk.api.patch(url, { displayName: 'Changed' }), 'users:write'],
      [
        'PATCH status with another field',
        () => helpdesk.api.patch(url, { active: false, displayName: 'Changed' }),
        'users:write',
      ],
      [
        'POST /users with status fields only',
        () => helpdesk.api.post('/api/v1/users', { active: false }),
        'users:write',
      ],
      [
        'POST /users',
        () => helpdesk.api.post('/api/v1/users', { userName: `${u('hd')}@example.com`, active: false }),
        'users:write',
      ],
      ['DELETE /users/:id', () => helpdesk.api.delete(url), 'users:delete'],
    ]);
  });

  it('a token with only roles:manage cannot define, widen or delete a role beyond it, nor mint itself more', async () => {
    const w = await world();
    const manager = await holderOf(w, ['roles:manage']);
    // A role the tenant admin defined, with more than the manager holds.
    const wide = u('wide');
    expect((await w.api.post('/api/v1/roles', { name: wide, permissions: ['users:write'] })).status).toBe(
      201,
    );
    await expectAllRefused(w, [
      [
        'define a role with users:write',
        () => manager.api.post('/api/v1/roles', { name: u('r'), permissions: ['users:write'] }),
        'users:write',
      ],
      [
        'define a role with roles:manage and tokens:manage',
        () =>
          manager.api.post('/api/v1/roles', { name: u('r'), permissions: ['roles:manage', 'tokens:manage'] }),
        'tokens:manage',
      ],
      [
        'add tokens:manage to its own role',
        () =>
          manager.api.patch(`/api/v1/roles/${manager.role}`, {
            permissions: ['roles:manage', 'tokens:manage'],
          }),
        'tokens:manage',
      ],
      [
        'add tokens:manage to another role',
        () =>
          manager.api.patch(`/api/v1/roles/${w.roleName}`, { permissions: ['tokens:manage', 'users:read'] }),
        'tokens:manage',
      ],
      [
        'take users:write out of a role (only who could grant it may)',
        () => manager.api.patch(`/api/v1/roles/${wide}`, { permissions: [] }),
        'users:write',
      ],
      ['delete a role with users:write', () => manager.api.delete(`/api/v1/roles/${wide}`), 'users:write'],
      [
        'mint itself a tenant-admin token',
        () => manager.api.post('/api/v1/tokens', { name: u('t'), roles: ['tenant-admin'] }),
        'tokens:manage',
      ],
      [
        'mint itself a token of its own role',
        () => manager.api.post('/api/v1/tokens', { name: u('t'), roles: [manager.role] }),
        'tokens:manage',
      ],
      [
        'give an admin account tenant-admin',
        () =>
          manager.api.post('/api/v1/admins', {
            username: u('a'),
            password: ADMIN_PASSWORD,
            roles: ['tenant-admin'],
          }),
        'admins:manage',
      ],
    ]);
    // Within what it holds, it may.
    const own = await manager.api.post('/api/v1/roles', { name: u('r'), permissions: ['roles:manage'] });
    expect(own.status, own.raw).toBe(201);
  });

  it('an admin-account manager cannot give an account more than it holds', async () => {
    const w = await world();
    const manager = await holderOf(w, ['admins:manage', 'admins:read', 'users:read']);
    await expectAllRefused(w, [
      [
        'create an account with tenant-admin',
        () =>
          manager.api.post('/api/v1/admins', {
            username: u('a'),
            password: ADMIN_PASSWORD,
            roles: ['tenant-admin'],
          }),
        'tenants:read',
      ],
      [
        'give an existing account helpdesk',
        () => manager.api.patch(`/api/v1/admins/${w.adminId}`, { roles: ['viewer', 'helpdesk'] }),
        'tenants:read',
      ],
    ]);
  });

  it('a tenant admin cannot put platform permissions in a role (422 roles.invalid_permission)', async () => {
    const w = await world();
    const before = await fingerprint(t());
    for (const p of ['keys:manage', 'tenants:act']) {
      const created = await w.api.post('/api/v1/roles', { name: u('r'), permissions: [p] });
      expectProblem(created, 422, 'roles.invalid_permission', p);
      expect(created.body.errors).toEqual([{ pointer: '/permissions/0', detail: expect.any(String) }]);
      const changed = await w.api.patch(`/api/v1/roles/${w.roleName}`, { permissions: ['users:read', p] });
      expectProblem(changed, 422, 'roles.invalid_permission', p);
    }
    expect(await fingerprint(t())).toEqual(before);
    // And a tenant token never reaches a platform route, whatever its roles.
    for (const path of ['/api/v1/keys', '/api/v1/tenants', '/metrics']) {
      const res = await w.api.get(path);
      expect(res.status, path).toBe(403);
    }
  });

  it('an expired grant confers nothing: tenant-admin until 2 s from now, then 403 (viewer stays)', async () => {
    const w = await world();
    const expiresAt = new Date(Date.now() + 2_000).toISOString();
    const c = await mint(t(), w.api, ['viewer', { role: 'tenant-admin', expiresAt }]);
    const created = await c.api.post('/api/v1/users', { userName: `${u('before')}@example.com` });
    expect(created.status, created.raw).toBe(201);
    await sleep(Date.parse(expiresAt) - Date.now() + 100);
    const before = await fingerprint(t());
    const after = await c.api.post('/api/v1/users', { userName: `${u('after')}@example.com` });
    expectForbidden(after, 'users:write', 'after the grant expired');
    expectForbidden(await c.api.post('/api/v1/tokens', { name: u('t'), roles: ['viewer'] }), 'tokens:manage');
    expectForbidden(await c.api.delete(`/api/v1/users/${created.body.id}`), 'users:delete');
    expect(await fingerprint(t())).toEqual(before);
    // The permanent grant still works.
    expect((await c.api.get('/api/v1/users')).status).toBe(200);
  });

  it("a revoked token's roles are gone at once (401 everywhere)", async () => {
    const w = await world();
    const c = await mint(t(), w.api, ['tenant-admin']);
    expect((await c.api.get('/api/v1/users')).status).toBe(200);
    const revoked = await w.api.delete(`/api/v1/tokens/${c.id}`);
    expect(revoked.status, revoked.raw).toBe(200);
    for (const res of [
      await c.api.get('/api/v1/users'),
      await c.api.post('/api/v1/users', { userName: `${u('x')}@example.com` }),
      await c.api.post('/api/v1/tokens', { name: u('t'), roles: ['tenant-admin'] }),
    ]) {
      expectProblem(res, 401, 'auth.unauthenticated');
    }
  });

  // ------------------------------------------------------------------------------------------------
  describe('SCIM is scim:provision alone', () => {
    /** Every SCIM route with the world's ids and a valid request: each refused naming scim:provision. */
    async function expectScimRefused(w: World, c: Client, label: string): Promise<void> {
      const before = await fingerprint(t());
      const denied = await denialCount(t(), w.tenantId);
      for (const r of SCIM_ROUTES) {
        const url = fillUrl(r, w);
        const res = await sendValid(c, r, url, w);
        expectForbiddenFor(url, res, 'scim:provision', `${label}: ${routeName(r)}`);
      }
      expect(await fingerprint(t()), `${label}: nothing written`).toEqual(before);
      expect(await denialCount(t(), w.tenantId), `${label}: one access.denied each`).toBe(
        denied + SCIM_ROUTES.length,
      );
    }

    it('every SCIM route names scim:provision (generated from the route table)', () => {
      expect(SCIM_ROUTES.length).toBeGreaterThanOrEqual(17);
      for (const r of SCIM_ROUTES) {
        expect(r.auth, routeName(r)).toBe('tenant');
        expect(r.permission, routeName(r)).toBe('scim:provision');
      }
    });

    it('built-in roles without it, and a custom role with every identity permission but it, get 403 on every SCIM route', async () => {
      const w = await world();
      for (const role of ['helpdesk', 'viewer', 'auditor']) {
        expect(BUILT_IN_ROLES[role as keyof typeof BUILT_IN_ROLES].permissions).not.toContain(
          'scim:provision',
        );
        await expectScimRefused(w, (await mint(t(), w.api, [role])).api, role);
      }
      const identity = await holderOf(w, [
        'users:read',
        'users:write',
        'users:status',
        'users:delete',
        'users:offboard',
        'onboarding:run',
        'groups:read',
        'groups:write',
        'licenses:assign',
      ]);
      await expectScimRefused(w, identity.api, 'every identity permission but scim:provision');
    });

    it('a provisioner provisions through SCIM and reaches nothing else: no REST writes, tokens or roles', async () => {
      const w = await world();
      const provisioner = await mint(t(), w.api, ['provisioner']);
      // SCIM's own User attributes that sound like power (RFC 7643 §4.1.2) grant nothing in Roster.
      const created = await provisioner.api.post(
        '/scim/v2/Users',
        scimBody.user(`${u('prov')}@example.com`, {
          roles: [{ value: 'tenant-admin', primary: true }],
          entitlements: [{ value: 'platform-admin' }],
        }),
        SCIM_CT,
      );
      expect(created.status, created.raw).toBe(201);
      // A person's roles are kept as who the person is (data, like a title); they give no token any power,
      // as what follows shows. Entitlements are not stored at all.
      expect(created.body.roles).toEqual([{ value: 'tenant-admin', primary: true }]);
      expect(created.body.entitlements).toBeUndefined();
      const group = await provisioner.api.post('/scim/v2/Groups', scimBody.group(u('prov')), SCIM_CT);
      expect(group.status, group.raw).toBe(201);
      const tokens = (await fingerprint(t())).tokens;
      await expectAllRefused(w, [
        [
          'POST /api/v1/users',
          () => provisioner.api.post('/api/v1/users', { userName: `${u('p')}@example.com` }),
          'users:write',
        ],
        [
          'PATCH /api/v1/users/:id',
          () => provisioner.api.patch(`/api/v1/users/${created.body.id}`, { title: 'x' }),
          'users:write',
        ],
        [
          'DELETE /api/v1/users/:id',
          () => provisioner.api.delete(`/api/v1/users/${created.body.id}`),
          'users:delete',
        ],
        [
          'POST /api/v1/groups',
          () => provisioner.api.post('/api/v1/groups', { displayName: u('g') }),
          'groups:write',
        ],
        [
          'POST /api/v1/tokens',
          () => provisioner.api.post('/api/v1/tokens', { name: u('t'), roles: ['provisioner'] }),
          'tokens:manage',
        ],
        [
          'POST /api/v1/roles',
          () => provisioner.api.post('/api/v1/roles', { name: u('r'), permissions: ['scim:provision'] }),
          'roles:manage',
        ],
        [
          'POST /api/v1/users/:id/licenses',
          () => provisioner.api.post(`/api/v1/users/${created.body.id}/licenses`, { product: w.sku }),
          'licenses:assign',
        ],
      ]);
      expect((await fingerprint(t())).tokens).toBe(tokens);
    });

    it('a role or token manager without scim:provision cannot hand it out (403 naming it)', async () => {
      const w = await world();
      const roles = await holderOf(w, ['roles:manage']);
      const tokens = await holderOf(w, ['tokens:manage', 'users:read']);
      // A token of the provisioner role needs every permission of it: the first the manager lacks (in the role's
      // order) is named.
      const held = new Set(['tokens:manage', 'users:read']);
      const firstMissing = (BUILT_IN_ROLES.provisioner.permissions as readonly string[]).find(
        (p) => !held.has(p),
      ) as string;
      expect(Object.keys(PERMISSIONS)).toContain(firstMissing);
      await expectAllRefused(w, [
        [
          'define a role with scim:provision',
          () => roles.api.post('/api/v1/roles', { name: u('r'), permissions: ['scim:provision'] }),
          'scim:provision',
        ],
        [
          'add scim:provision to its own role',
          () =>
            roles.api.patch(`/api/v1/roles/${roles.role}`, {
              permissions: ['roles:manage', 'scim:provision'],
            }),
          'scim:provision',
        ],
        [
          'mint a provisioner token',
          () => tokens.api.post('/api/v1/tokens', { name: u('t'), roles: ['provisioner'] }),
          firstMissing,
        ],
      ]);
    });

    it('taking scim:provision out of a role, or a grant of it running out, closes SCIM at once', async () => {
      const w = await world();
      const holder = await holderOf(w, ['scim:provision']);
      expect((await holder.api.get('/scim/v2/Users')).status).toBe(200);
      const changed = await w.api.patch(`/api/v1/roles/${holder.role}`, { permissions: ['users:read'] });
      expect(changed.status, changed.raw).toBe(200);
      expectForbiddenFor('/scim/v2/Users', await holder.api.get('/scim/v2/Users'), 'scim:provision');
      // A grant of the provisioner role for 2 s.
      const expiresAt = new Date(Date.now() + 2_000).toISOString();
      const timed = await mint(t(), w.api, ['viewer', { role: 'provisioner', expiresAt }]);
      const ok = await timed.api.post('/scim/v2/Users', scimBody.user(`${u('timed')}@example.com`), SCIM_CT);
      expect(ok.status, ok.raw).toBe(201);
      await sleep(Date.parse(expiresAt) - Date.now() + 100);
      const before = await fingerprint(t());
      const late: [string, Answer][] = [
        ['/scim/v2/Users', await timed.api.get('/scim/v2/Users')],
        [
          '/scim/v2/Users',
          await timed.api.post('/scim/v2/Users', scimBody.user(`${u('late')}@example.com`), SCIM_CT),
        ],
        [
          `/scim/v2/Users/${ok.body.id}`,
          await timed.api.patch(`/scim/v2/Users/${ok.body.id}`, scimBody.patch('active', false), SCIM_CT),
        ],
      ];
      for (const [url, res] of late)
        expectForbiddenFor(url, res, 'scim:provision', `after the grant: ${url}`);
      expect(await fingerprint(t())).toEqual(before);
      // A revoked provisioner token: 401, in the SCIM error schema.
      expect((await w.api.delete(`/api/v1/tokens/${timed.id}`)).status).toBe(200);
      expectError('/scim/v2/Users', await timed.api.get('/scim/v2/Users'), 401, 'auth.unauthenticated');
    });
  });

  describe('changes to a custom role reach its holders', () => {
    let node2: App | undefined;
    afterAll(async () => {
      await node2?.close();
    });

    /** A second node on the same store and key file (another process of one deployment). */
    async function secondNode(): Promise<App> {
      node2 ??= await buildApp(
        loadConfig({
          ROSTER_DATABASE_URL: t().store.url,
          ROSTER_KEY_FILE: join(t().store.dir, 'roster.key'),
          ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
          ROSTER_LOG_LEVEL: 'silent',
          ...ENV,
        }),
        { logger: createLogger('silent') },
      );
      return node2;
    }

    it('on the node that made the change at once, on another node within 2 s', async () => {
      const w = await world();
      const holder = await holderOf(w, ['users:read', 'users:write', 'groups:read']);
      const other = clientFor(await secondNode(), (await mint(t(), w.api, [holder.role])).token);
      // Both nodes have the role cached as it is.
      for (const c of [holder.api, other]) {
        const res = await c.post('/api/v1/users', { userName: `${u('ok')}@example.com` });
        expect(res.status, res.raw).toBe(201);
      }
      const changed = await w.api.patch(`/api/v1/roles/${holder.role}`, {
        permissions: ['users:read', 'groups:write'],
      });
      expect(changed.status, changed.raw).toBe(200);
      const at = Date.now();
      // This node: at once, both ways.
      expectForbidden(
        await holder.api.post('/api/v1/users', { userName: `${u('no')}@example.com` }),
        'users:write',
      );
      expect((await holder.api.post('/api/v1/groups', { displayName: u('g') })).status).toBe(201);
      // The other node: within the propagation time.
      let refusedAfter: number | undefined;
      while (Date.now() - at < PROPAGATION_MS + 1_000) {
        const res = await other.post('/api/v1/users', { userName: `${u('late')}@example.com` });
        if (res.status === 403) {
          expect(res.body.permission).toBe('users:write');
          refusedAfter = Date.now() - at;
          break;
        }
        expect(res.status, res.raw).toBe(201);
        await sleep(100);
      }
      expect(refusedAfter, 'the other node never refused').toBeDefined();
      expect(refusedAfter).toBeLessThanOrEqual(PROPAGATION_MS + 200);
      expect((await other.post('/api/v1/groups', { displayName: u('g') })).status).toBe(201);
    });

    it('a token revoked on one node stops working on another within 2 s', async () => {
      const w = await world();
      const c = await mint(t(), w.api, ['tenant-admin']);
      const other = clientFor(await secondNode(), c.token);
      expect((await other.get('/api/v1/users')).status).toBe(200);
      expect((await w.api.delete(`/api/v1/tokens/${c.id}`)).status).toBe(200);
      await sleep(PROPAGATION_MS + 100);
      expectProblem(await other.get('/api/v1/users'), 401, 'auth.unauthenticated');
    });
  });
});
