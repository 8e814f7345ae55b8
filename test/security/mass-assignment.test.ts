/**
 * Attack: mass assignment. Bodies that set what the server owns (ids, tenants, times, versions, counters,
 * `meta`), or that grant more than the caller holds (roles on users and tokens, permissions on roles, another
 * tenant on tokens), are refused: 422 naming the field, or 403 naming the permission. A refused request
 * writes nothing (read from the database): no row, and no audit entry but its `access.denied`.
 *
 * SCIM (/scim/v2) answers such bodies as RFC 7644 says: read-only attributes (`id`, `meta`, a user's `groups`,
 * the Roster extension's `licenses`) in a POST or PUT body are ignored (§3.3, §3.5.1), and so are attributes
 * SCIM does not define (`tenantId`); a PATCH aimed at them is refused (400 `mutability`, or `invalidPath` for
 * what is no attribute at all, §3.5.2). Either way nothing read-only changes (read back, and from the database).
 */
import { describe, expect, it } from 'vitest';
import { type Answer, useTestApp } from '../support/app.js';
import { expectScimError, expectScimType, SCIM_CT, SCIM_ROSTER, scimBody } from '../support/scim-routes.js';
import { describeEachStore } from '../support/stores.js';
import {
  ADMIN_PASSWORD,
  APP_OPTIONS,
  denialCount,
  ENV,
  expectFieldRefused,
  expectForbidden,
  fingerprint,
  JSON_CT,
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

// A person's `roles` (SCIM roles: who the user is, "Nurse") are a writable user field and grant nothing in
// Roster, whose access roles go to tokens and admin accounts only: they are not an attack here.
const ATTACKS: Attack[] = [
  ...overposting('POST /users', (w, b) => w.api.post('/api/v1/users', b), user, {
    groups: [],
  }),
  ...overposting(
    'PATCH /users/:id',
    (w, b) => w.api.patch(`/api/v1/users/${w.otherUserId}`, b),
    () => ({}),
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
    { groups: [] },
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

  // ------------------------------------------------------------------------------------------------
  describe('SCIM: read-only and foreign attributes are ignored on POST and PUT, refused on PATCH, never set', () => {
    const FAKE_ID = '01900000-0000-7000-8000-0000000000aa';
    /** Read-only attributes of a SCIM User, set to what a client would like them to be. */
    const readOnlyUser = (w: World) => ({
      id: FAKE_ID,
      meta: {
        resourceType: 'Group',
        created: NOW,
        lastModified: NOW,
        version: 'W/"99"',
        location: `https://evil.example/scim/v2/Users/${FAKE_ID}`,
      },
      groups: [{ value: w.scimGroupId, display: 'chosen' }],
      tenantId: OTHER_TENANT,
    });
    const readOnlyLicenses = (w: World) => ({ licenses: [{ product: w.spareSku, state: 'assigned' }] });

    /** What of a user is read-only, read back through SCIM and REST; and the rows behind it. */
    async function readOnlyState(w: World, userId: string): Promise<unknown> {
      const scim = await w.api.get(`/scim/v2/Users/${userId}`);
      expect(scim.status, scim.raw).toBe(200);
      const rest = await w.api.get(`/api/v1/users/${userId}`);
      expect(rest.status, rest.raw).toBe(200);
      const members = await w.api.get(`/api/v1/groups/${w.scimGroupId}/members?limit=200`);
      return {
        id: scim.body.id,
        created: scim.body.meta.created,
        resourceType: scim.body.meta.resourceType,
        location: scim.body.meta.location,
        groups: scim.body.groups ?? [],
        licenses: scim.body[SCIM_ROSTER]?.licenses ?? [],
        restCreatedAt: rest.body.createdAt,
        members: ((members.body?.items ?? []) as { id?: string; userId?: string }[]).map(
          (m) => m.id ?? m.userId,
        ),
      };
    }

    /** The fingerprint less what a write of a user's writable attributes may change (its version, the audit). */
    const rowsBeside = (f: Record<string, unknown>) => {
      const { user_versions: _v, audit: _a, ...rest } = f;
      return rest;
    };

    it('POST /Users with id, meta, groups, licenses and tenantId creates a plain user of the caller, as if they were absent', async () => {
      const w = await world();
      const before = await fingerprint(t());
      const body = scimBody.user(`${u('ro')}@example.com`, {
        ...readOnlyUser(w),
        [SCIM_ROSTER]: { ...readOnlyLicenses(w), kind: 'contractor' },
      });
      const res = await w.api.post('/scim/v2/Users', body, SCIM_CT);
      expect(res.status, res.raw).toBe(201);
      expect(res.body.id).not.toBe(FAKE_ID);
      expect(res.body.meta.created).not.toBe(NOW);
      expect(res.body.meta.resourceType).toBe('User');
      expect(res.body.meta.version).not.toBe('W/"99"');
      expect(res.body.meta.version).toBe(res.headers.etag);
      expect(res.body.meta.location).toMatch(new RegExp(`^http://[^/]+/scim/v2/Users/${res.body.id}$`));
      expect(res.headers.location).toBe(res.body.meta.location);
      expect(res.body.groups).toBeUndefined();
      expect(res.body[SCIM_ROSTER].licenses).toEqual([]);
      // The writable attribute beside them was taken.
      expect(res.body[SCIM_ROSTER].kind).toBe('contractor');
      expect(res.raw.includes(OTHER_TENANT)).toBe(false);
      // One user more, of the caller's tenant; no membership, seat, group or tenant.
      const after = await fingerprint(t());
      expect(after.users).toBe((before.users as number) + 1);
      expect({ ...after, users: before.users, user_versions: 0, active_users: 0, audit: 0 }).toEqual({
        ...before,
        user_versions: 0,
        active_users: 0,
        audit: 0,
      });
      expect((await w.api.get(`/api/v1/users/${res.body.id}`)).status).toBe(200);
      expect((await w.api.get(`/scim/v2/Users/${FAKE_ID}`)).status).toBe(404);
      expect((await w.api.get(`/api/v1/users/${res.body.id}/licenses`)).body.items).toEqual([]);
    });

    it('POST /Groups and POST /Bulk with id, meta and tenantId create with ids and times of their own', async () => {
      const w = await world();
      const before = await fingerprint(t());
      const group = await w.api.post(
        '/scim/v2/Groups',
        scimBody.group(u('ro'), {
          id: FAKE_ID,
          meta: { created: NOW, version: 'W/"9"' },
          tenantId: OTHER_TENANT,
        }),
        SCIM_CT,
      );
      expect(group.status, group.raw).toBe(201);
      expect(group.body.id).not.toBe(FAKE_ID);
      expect(group.body.meta.created).not.toBe(NOW);
      expect(group.body.meta.version).not.toBe('W/"9"');
      expect(group.body.meta.version).toBe(group.headers.etag);
      expect((await w.api.get(`/api/v1/groups/${group.body.id}`)).status).toBe(200);
      const bulk = await w.api.post(
        '/scim/v2/Bulk',
        scimBody.bulk([
          {
            method: 'POST',
            bulkId: 'ro',
            path: '/Users',
            data: scimBody.user(`${u('ro')}@example.com`, {
              ...readOnlyUser(w),
              [SCIM_ROSTER]: readOnlyLicenses(w),
            }),
          },
        ]),
        SCIM_CT,
      );
      expect(bulk.status, bulk.raw).toBe(200);
      const op = bulk.body.Operations[0];
      expect(op.status, JSON.stringify(op)).toBe('201');
      expect(op.location).not.toContain(FAKE_ID);
      const id = String(op.location).split('/').pop() as string;
      const made = await w.api.get(`/scim/v2/Users/${id}`);
      expect(made.status, made.raw).toBe(200);
      expect(made.body.groups).toBeUndefined();
      expect(made.body[SCIM_ROSTER].licenses).toEqual([]);
      expect(made.body.meta.created).not.toBe(NOW);
      const after = await fingerprint(t());
      expect([
        after.users,
        after.groups,
        after.members,
        after.assignments,
        after.used,
        after.tenants,
      ]).toEqual([
        (before.users as number) + 1,
        (before.groups as number) + 1,
        before.members,
        before.assignments,
        before.used,
        before.tenants,
      ]);
    });

    it('PUT /Users/:id with changed id-less read-only attributes leaves them as they are (groups, seats, times)', async () => {
      const w = await world();
      const before = await readOnlyState(w, w.scimUserId);
      const rows = await fingerprint(t());
      const current = await w.api.get(`/scim/v2/Users/${w.scimUserId}`);
      // What the client read, with every read-only attribute but the id changed (or emptied).
      const { id: _id, ...changed } = readOnlyUser(w);
      const body = {
        ...current.body,
        ...changed,
        groups: [],
        [SCIM_ROSTER]: { ...current.body[SCIM_ROSTER], licenses: [] },
      };
      const res = await w.api.put(`/scim/v2/Users/${w.scimUserId}`, body, SCIM_CT);
      expect(res.status, res.raw).toBe(200);
      expect(await readOnlyState(w, w.scimUserId)).toEqual(before);
      expect(rowsBeside(await fingerprint(t()))).toEqual(rowsBeside(rows));
      // With a groups list naming another group, and licenses naming another product: the same.
      const other = await w.api.put(
        `/scim/v2/Users/${w.scimUserId}`,
        {
          ...body,
          groups: [{ value: w.groupId }],
          [SCIM_ROSTER]: { ...current.body[SCIM_ROSTER], ...readOnlyLicenses(w) },
        },
        SCIM_CT,
      );
      expect(other.status, other.raw).toBe(200);
      expect(await readOnlyState(w, w.scimUserId)).toEqual(before);
      expect(rowsBeside(await fingerprint(t()))).toEqual(rowsBeside(rows));
    });

    it('PUT /Users/:id and PUT /Groups/:id naming another id never move or copy the resource', async () => {
      const w = await world();
      const before = await readOnlyState(w, w.scimUserId);
      const rows = await fingerprint(t());
      const current = await w.api.get(`/scim/v2/Users/${w.scimUserId}`);
      for (const [url, body] of [
        [`/scim/v2/Users/${w.scimUserId}`, { ...current.body, id: FAKE_ID }],
        [`/scim/v2/Users/${w.scimUserId}`, { ...current.body, id: w.otherUserId }],
        [`/scim/v2/Groups/${w.scimGroupId}`, scimBody.group(u('g'), { id: w.groupId, members: [] })],
      ] as const) {
        const res = await w.api.put(url, body, SCIM_CT);
        // Refused as changing the read-only id (or, were it ignored, answered with the URL's id).
        if (res.status === 200) expect(res.body.id, res.raw).toBe(url.split('/').pop());
        else {
          expectScimError(res, 400, 'scim.mutability', `PUT ${url}`);
          expectScimType(res, 'mutability');
        }
      }
      expect(await readOnlyState(w, w.scimUserId)).toEqual(before);
      expect(rowsBeside(await fingerprint(t()))).toEqual(rowsBeside(rows));
    });

    /** PATCH operations aimed at what a client may not write; each refused with this scimType. */
    const PATCHES: [string, 'Users' | 'Groups', (w: World) => unknown, string][] = [
      ['replace id', 'Users', () => ({ op: 'replace', path: 'id', value: FAKE_ID }), 'mutability'],
      [
        'replace meta',
        'Users',
        () => ({ op: 'replace', path: 'meta', value: { created: NOW } }),
        'mutability',
      ],
      [
        'replace meta.created',
        'Users',
        () => ({ op: 'replace', path: 'meta.created', value: NOW }),
        'mutability',
      ],
      [
        'replace meta.version',
        'Users',
        () => ({ op: 'replace', path: 'meta.version', value: 'W/"99"' }),
        'mutability',
      ],
      [
        'add groups',
        'Users',
        (w) => ({ op: 'add', path: 'groups', value: [{ value: w.groupId }] }),
        'mutability',
      ],
      ['replace groups', 'Users', () => ({ op: 'replace', path: 'groups', value: [] }), 'mutability'],
      ['remove groups', 'Users', () => ({ op: 'remove', path: 'groups' }), 'mutability'],
      [
        'remove one group',
        'Users',
        (w) => ({ op: 'remove', path: `groups[value eq "${w.scimGroupId}"]` }),
        'mutability',
      ],
      [
        'add licenses',
        'Users',
        (w) => ({ op: 'add', path: `${SCIM_ROSTER}:licenses`, value: [{ product: w.spareSku }] }),
        'mutability',
      ],
      ['remove licenses', 'Users', () => ({ op: 'remove', path: `${SCIM_ROSTER}:licenses` }), 'mutability'],
      [
        'replace without a path, with id and meta',
        'Users',
        () => ({ op: 'replace', value: { id: FAKE_ID, meta: { created: NOW }, title: 'x' } }),
        'mutability',
      ],
      [
        'add without a path, with groups',
        'Users',
        (w) => ({ op: 'add', value: { groups: [{ value: w.groupId }] } }),
        'mutability',
      ],
      [
        'replace tenantId',
        'Users',
        () => ({ op: 'replace', path: 'tenantId', value: OTHER_TENANT }),
        'invalidPath',
      ],
      [
        'replace without a path, with tenantId',
        'Users',
        () => ({ op: 'replace', value: { tenantId: OTHER_TENANT } }),
        'invalidPath',
      ],
      ['replace id', 'Groups', () => ({ op: 'replace', path: 'id', value: FAKE_ID }), 'mutability'],
      [
        'replace meta.created',
        'Groups',
        () => ({ op: 'replace', path: 'meta.created', value: NOW }),
        'mutability',
      ],
      [
        'replace without a path, with id',
        'Groups',
        () => ({ op: 'replace', value: { id: FAKE_ID, displayName: u('g') } }),
        'mutability',
      ],
      [
        'replace tenantId',
        'Groups',
        () => ({ op: 'replace', path: 'tenantId', value: OTHER_TENANT }),
        'invalidPath',
      ],
    ];

    for (const [label, resource, op, scimType] of PATCHES) {
      it(`PATCH /${resource}/:id: ${label} answers 400 ${scimType} and changes nothing`, async () => {
        const w = await world();
        const id = resource === 'Users' ? w.scimUserId : w.scimGroupId;
        const before = await readOnlyState(w, w.scimUserId);
        const group = await w.api.get(`/scim/v2/Groups/${w.scimGroupId}`);
        const rows = await fingerprint(t());
        const res = await w.api.patch(
          `/scim/v2/${resource}/${id}`,
          { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [op(w)] },
          SCIM_CT,
        );
        expectScimError(res, 400, undefined, label);
        expectScimType(res, scimType, label);
        expect(res.raw.includes(OTHER_TENANT), 'echoed').toBe(false);
        expect(await fingerprint(t()), 'nothing written').toEqual(rows);
        expect(await readOnlyState(w, w.scimUserId)).toEqual(before);
        expect((await w.api.get(`/scim/v2/Groups/${w.scimGroupId}`)).body).toEqual(group.body);
        // The same operation inside /Bulk fails alike, writing nothing.
        const bulk = await w.api.post(
          '/scim/v2/Bulk',
          scimBody.bulk([
            {
              method: 'PATCH',
              path: `/${resource}/${id}`,
              data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [op(w)] },
            },
          ]),
          JSON_CT,
        );
        expect(bulk.status, bulk.raw).toBe(200);
        expect(bulk.body.Operations[0].status, bulk.raw).toBe('400');
        expect(bulk.body.Operations[0].response.scimType, bulk.raw).toBe(scimType);
        expect(await fingerprint(t()), 'nothing written through /Bulk').toEqual(rows);
      });
    }
  });
});
