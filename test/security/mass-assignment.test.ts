/**
 * Attack: mass assignment. Bodies that set what the server owns (ids, tenants, times, versions, counters,
 * `meta`), or that grant more than the caller holds (roles on users and tokens, permissions on roles, another
 * tenant on tokens), are refused: 422 naming the field, or 403 naming the permission. A refused request
 * writes nothing (read from the database): no row, and no audit entry but its `access.denied`.
 */
import { describe, expect, it } from 'vitest';
import { type Answer, useTestApp } from '../support/app.js';
import { describeEachStore } from '../support/stores.js';
import {
  ADMIN_PASSWORD,
  APP_OPTIONS,
  denialCount,
  ENV,
  expectFieldRefused,
  expectForbidden,
  fingerprint,
  lazyWorld,
  mint,
  u,
  type World,
} from './support.js';

const OTHER_TENANT = '01900000-0000-7000-8000-0000000000bb';
const NOW = '2020-01-01T00:00:00.000Z';

/** Fields every stored resource has that only the server sets. */
const SERVER_OWNED: Record<string, unknown> = {
  tenantId: OTHER_TENANT,
  id: '01900000-0000-7000-8000-0000000000aa',
  createdAt: NOW,
  updatedAt: NOW,
  version: 99,
  meta: { resourceType: 'User', created: NOW },
};

interface Attack {
  readonly label: string;
  readonly send: (w: World) => Promise<Answer>;
  /** 422 naming this pointer, or 403 naming this permission. */
  readonly refused: { pointer: string } | { permission: string };
}

/** Each server-owned field (and `extra` ones) added to a valid body of a route: one attack each. */
function overposting(
  route: string,
  call: (w: World, body: Record<string, unknown>) => Promise<Answer>,
  valid: (w: World) => Record<string, unknown>,
  extra: Record<string, unknown> = {},
  wrap: (field: string) => string = (f) => `/${f}`,
): Attack[] {
  return Object.entries({ ...SERVER_OWNED, ...extra }).map(([field, value]) => ({
    label: `${route} with ${field}`,
    send: (w) => call(w, { ...valid(w), [field]: value }),
    refused: { pointer: wrap(field) },
  }));
}

const user = () => ({ userName: `${u('user')}@example.com` });

const ATTACKS: Attack[] = [
  ...overposting('POST /users', (w, b) => w.api.post('/api/v1/users', b), user, {
    roles: ['platform-admin'],
    groups: [],
  }),
  ...overposting(
    'PATCH /users/:id',
    (w, b) => w.api.patch(`/api/v1/users/${w.otherUserId}`, b),
    () => ({}),
    {
      roles: ['tenant-admin'],
    },
  ),
  ...overposting(
    'POST /groups',
    (w, b) => w.api.post('/api/v1/groups', b),
    () => ({ displayName: u('g') }),
    {
      memberCount: 5,
    },
  ),
  ...overposting(
    'PATCH /groups/:id',
    (w, b) => w.api.patch(`/api/v1/groups/${w.groupId}`, b),
    () => ({}),
    {
      members: [],
    },
  ),
  ...overposting(
    'POST /pools',
    (w, b) => w.api.post('/api/v1/pools', b),
    (w) => ({ product: w.sku, name: u('pool'), capacity: 1 }),
    { used: 0, waitlisted: 0 },
  ),
  ...overposting(
    'PATCH /pools/:id',
    (w, b) => w.api.patch(`/api/v1/pools/${w.idlePoolId}`, b),
    () => ({}),
    {
      used: 5,
      waitlisted: 3,
    },
  ),
  ...overposting(
    'POST /products',
    (w, b) => w.api.post('/api/v1/products', b),
    () => ({
      sku: u('SKU'),
      name: 'p',
    }),
  ),
  ...overposting(
    'POST /roles',
    (w, b) => w.api.post('/api/v1/roles', b),
    () => ({ name: u('role'), permissions: [] }),
    { builtIn: true },
  ),
  ...overposting(
    'PATCH /roles/:name',
    (w, b) => w.api.patch(`/api/v1/roles/${w.roleName}`, b),
    () => ({}),
    {
      name: 'renamed',
      builtIn: true,
    },
  ),
  ...overposting(
    'POST /tokens',
    (w, b) => w.api.post('/api/v1/tokens', b),
    () => ({ name: u('token') }),
    { revokedAt: null, lastUsedAt: NOW, createdBy: 'admin-token', token: 'rst_chosen', roleGrants: [] },
  ).filter((a) => !a.label.endsWith('with tenantId')),
  ...overposting(
    'POST /admins',
    (w, b) => w.api.post('/api/v1/admins', b),
    () => ({ username: u('adm'), password: ADMIN_PASSWORD }),
    { disabled: false, totpEnrolled: true, recoveryCodesLeft: 10, passwordHash: 'x' },
  ),
  ...overposting(
    'POST /onboardings',
    (w, b) => w.api.post('/api/v1/onboardings', { user: b, products: [] }, { 'idempotency-key': u('idem') }),
    user,
    { roles: ['tenant-admin'] },
    (f) => `/user/${f}`,
  ),
  ...overposting(
    'POST /erasure-requests',
    (w, b) => w.api.post('/api/v1/erasure-requests', b),
    (w) => ({ userId: w.otherUserId }),
  ),
  // Another tenant on a token: refused as acting on another tenant.
  {
    label: 'POST /tokens with the tenantId of another tenant',
    send: (w) => w.api.post('/api/v1/tokens', { name: u('t'), tenantId: OTHER_TENANT }),
    refused: { permission: 'tenants:act' },
  },
  // Roles beyond the caller's (a tenant admin): platform-admin, on a token or an admin account.
  {
    label: 'POST /tokens with roles [platform-admin]',
    send: (w) => w.api.post('/api/v1/tokens', { name: u('t'), roles: ['platform-admin'] }),
    refused: { pointer: '/roles/0' },
  },
  {
    label: 'POST /tokens with a grant of platform-admin that ends',
    send: (w) =>
      w.api.post('/api/v1/tokens', {
        name: u('t'),
        roles: ['viewer', { role: 'platform-admin', expiresAt: '2099-01-01T00:00:00Z' }],
      }),
    refused: { pointer: '/roles/1' },
  },
  {
    label: 'POST /admins with roles [platform-admin]',
    send: (w) =>
      w.api.post('/api/v1/admins', {
        username: u('adm'),
        password: ADMIN_PASSWORD,
        roles: ['platform-admin'],
      }),
    refused: { pointer: '/roles/0' },
  },
  // The pointer names the index in the request's `roles` (the account holds one role already).
  {
    label: 'PATCH /admins/:id with roles [platform-admin]',
    send: (w) => w.api.patch(`/api/v1/admins/${w.adminId}`, { roles: ['platform-admin'] }),
    refused: { pointer: '/roles/0' },
  },
  // Permissions beyond the caller's (a tenant admin) on roles: platform permissions.
  ...['keys:manage', 'tenants:act', 'tenants:manage', 'keys:read', 'metrics:read'].flatMap((p): Attack[] => [
    {
      label: `POST /roles with ${p}`,
      send: (w) => w.api.post('/api/v1/roles', { name: u('r'), permissions: ['users:read', p] }),
      refused: { pointer: '/permissions/1' },
    },
    {
      label: `PATCH /roles/:name adding ${p}`,
      send: (w) => w.api.patch(`/api/v1/roles/${w.roleName}`, { permissions: [p] }),
      refused: { pointer: '/permissions/0' },
    },
  ]),
];

describeEachStore('attack: mass assignment', (kind) => {
  const t = useTestApp(kind, ENV, APP_OPTIONS);
  const world = lazyWorld(t, 'mass');

  it('the attack list is not vacuous: every write body of the identity, license, access and lifecycle routes', () => {
    expect(ATTACKS.length).toBeGreaterThan(80);
    for (const route of [
      'POST /users',
      'PATCH /pools/:id',
      'POST /tokens',
      'POST /roles',
      'POST /onboardings',
    ])
      expect(
        ATTACKS.some((a) => a.label.startsWith(route)),
        route,
      ).toBe(true);
  });

  describe('a tenant admin setting server-owned fields or granting beyond itself is refused, and nothing is written', () => {
    for (const attack of ATTACKS) {
      it(attack.label, async () => {
        const w = await world();
        const before = await fingerprint(t());
        const denied = await denialCount(t(), w.tenantId);
        const res = await attack.send(w);
        if ('pointer' in attack.refused) expectFieldRefused(res, attack.refused.pointer, attack.label);
        else expectForbidden(res, attack.refused.permission, attack.label);
        // Never echoed back.
        expect(res.raw.includes('rst_chosen')).toBe(false);
        expect(await fingerprint(t()), 'nothing written (rows, versions, audit entries)').toEqual(before);
        expect(await denialCount(t(), w.tenantId), 'access.denied entries').toBe(
          denied + (res.status === 403 ? 1 : 0),
        );
      });
    }
  });

  describe('a caller with fewer permissions cannot grant more than it holds', () => {
    it('tokens: a token manager cannot mint tenant-admin, nor a custom role with more permissions, for itself or others', async () => {
      const w = await world();
      const managerRole = u('token-manager');
      const wider = u('wider');
      for (const [name, permissions] of [
        [managerRole, ['tokens:manage', 'users:read']],
        [wider, ['users:read', 'users:write']],
      ] as const) {
        const res = await w.api.post('/api/v1/roles', { name, permissions });
        expect(res.status, res.raw).toBe(201);
      }
      const manager = await mint(t(), w.api, [managerRole]);
      const before = await fingerprint(t());
      const denied = await denialCount(t(), w.tenantId);
      const cases: [unknown[], string][] = [
        // The first permission of the role (catalogue order) that the caller lacks.
        [['tenant-admin'], 'tenants:read'],
        [[wider], 'users:write'],
        [[{ role: wider, expiresAt: new Date(Date.now() + 60_000).toISOString() }], 'users:write'],
        [['viewer', 'helpdesk'], 'tenants:read'],
        [[managerRole, 'auditor'], 'tenants:read'],
      ];
      for (const [roles, missing] of cases) {
        const res = await manager.api.post('/api/v1/tokens', { name: u('t'), roles });
        expect(res.status, `${JSON.stringify(roles)}: ${res.raw}`).toBe(403);
        expect(res.body.code).toBe('auth.forbidden');
        expect(res.body.permission, JSON.stringify(roles)).toBe(missing);
      }
      const platform = await manager.api.post('/api/v1/tokens', { name: u('t'), roles: ['platform-admin'] });
      expect(platform.status, platform.raw).toBe(422);
      expect(platform.body.code).toBe('roles.platform_only');
      expect(await fingerprint(t())).toEqual(before);
      expect(await denialCount(t(), w.tenantId)).toBe(denied + cases.length);
      // What it holds, it may give.
      const ok = await manager.api.post('/api/v1/tokens', { name: u('t'), roles: [managerRole] });
      expect(ok.status, ok.raw).toBe(201);
    });

    it('a tenant token naming tenantId null mints a token of its own tenant, never a platform token', async () => {
      const w = await world();
      const res = await w.api.post('/api/v1/tokens', { name: u('t'), tenantId: null, roles: ['viewer'] });
      expect(res.status, res.raw).toBe(201);
      expect(res.body.tenantId).toBe(w.tenantId);
      const minted = t().client(res.body.token);
      expect((await minted.get('/api/v1/tenants')).status).toBe(403);
    });
  });
});
