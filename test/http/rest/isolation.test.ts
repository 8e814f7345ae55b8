/**
 * Tenant isolation, GENERATED FROM THE ROUTE TABLE: every route with path parameters is called by tenant A
 * with tenant B's ids (each mix of A's and B's where there are several), and every list is read by A and
 * searched with B's values. A route with a parameter this generator cannot fill fails the coverage test.
 * The SCIM routes (/scim/v2) alike: their errors in the SCIM error schema, their lists filtered with B's values
 * (and B named in their bodies and /Bulk operations); their discovery routes name what every tenant shares.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { RouteEntry } from '../../../src/platform/http/server.js';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import {
  auditTrail,
  DERIVED_FROM_AUDIT,
  type Denial,
  denialOf,
  expectChangedOnlyByDenials,
  expectOnlyDenials,
  notStateView,
  stable,
} from '../../support/audit-views.js';
import { erasureAndKeyJob } from '../../support/keys.js';
import { loadRouteTable, routeKey, routeName, uniqueName } from '../../support/routes.js';
import {
  expectErrorAt,
  expectScimError,
  expectScimType,
  SCIM_CT,
  SCIM_ENTERPRISE,
  SCIM_LIST,
  SCIM_SHARED_PARAMS,
  scimBody,
} from '../../support/scim-routes.js';
import { describeEachStore } from '../../support/stores.js';

/** Rate limits off: these tests send many requests per second on purpose. */
const ENV = { ROSTER_RATE_LIMIT_TENANT: '0', ROSTER_RATE_LIMIT_GLOBAL: '0' };

/** The route table, read at collection time so that every route gets its own named test. */
const ROUTES = await loadRouteTable();

const u = uniqueName;

// ---------------------------------------------------------------------------------------------------------
// The generator's knowledge: how to fill each path parameter, and a valid request for each write.

/** Everything of one tenant that paths and bodies refer to. */
interface World {
  readonly tenantId: string;
  readonly tenantName: string;
  readonly token: string;
  readonly api: Client;
  /** The token's audit form (`token:<id>`): the actor of what `api` does, and of its denials. */
  readonly actor: string;
  /** An instant after everything the world was built with (holders are asked about it). */
  readonly at: string;
  /** In the group, holds a seat, manages `otherUserId`. */
  readonly userId: string;
  readonly otherUserId: string;
  readonly groupId: string;
  readonly tokenId: string;
  /** A custom role of this tenant. */
  readonly roleName: string;
  /** An admin account of this tenant. */
  readonly adminId: string;
  /** An erasure record of a third user (erased at set-up). */
  readonly erasureId: string;
  /** The job of a rotation of this tenant's key, begun at set-up (running while the tests run). */
  readonly keyJobId: string;
  readonly sku?: string;
  readonly spareSku?: string;
  readonly poolId?: string;
  readonly idlePoolId?: string;
  /** Values that identify this tenant's data: none may reach another tenant's answers. */
  readonly secrets: string[];
  /** Searchable values of the first user and the group. */
  readonly values: {
    userName: string;
    email: string;
    externalId: string;
    department: string;
    groupName: string;
    groupExternalId: string;
    sharedUserName: string;
  };
}

/** Path parameters by `<preceding segment>/:<name>`; `method` lets PUT pick a user not yet a member. */
const PARAMS: Record<string, (w: World, method: string) => string | undefined> = {
  'tenants/:id': (w) => w.tenantId,
  'users/:id': (w) => w.userId,
  'groups/:id': (w) => w.groupId,
  'members/:userId': (w, method) => (method === 'PUT' ? w.otherUserId : w.userId),
  'tokens/:id': (w) => w.tokenId,
  'pools/:id': (w) => w.poolId,
  'licenses/:sku': (w) => w.sku,
  'products/:sku': (w) => w.sku,
  'erasure-requests/:id': (w) => w.erasureId,
  'jobs/:id': (w) => w.keyJobId,
  'roles/:name': (w) => w.roleName,
  'admins/:id': (w) => w.adminId,
  // SCIM: users and groups by id; the discovery routes name what every tenant shares (not B's, not A's).
  'Users/:id': (w) => w.userId,
  'Groups/:id': (w) => w.groupId,
  'Schemas/:id': () => SCIM_SHARED_PARAMS['Schemas/:id'],
  'ResourceTypes/:id': () => SCIM_SHARED_PARAMS['ResourceTypes/:id'],
};

/** Whether path parameter `key` names what every tenant shares (SCIM's schemas and resource types). */
const isShared = (key: string) => Object.hasOwn(SCIM_SHARED_PARAMS, key);

/** A value no tenant has, per parameter: B's ids must answer exactly like these. */
const NOWHERE: Record<string, () => string> = {
  'tenants/:id': () => '01900000-0000-7000-8000-00000000000a',
  'users/:id': () => '01900000-0000-7000-8000-00000000000b',
  'groups/:id': () => '01900000-0000-7000-8000-00000000000c',
  'members/:userId': () => '01900000-0000-7000-8000-00000000000d',
  'tokens/:id': () => '01900000-0000-7000-8000-00000000000e',
  'pools/:id': () => '01900000-0000-7000-8000-00000000000f',
  'licenses/:sku': () => 'NO-SUCH-SKU',
  'products/:sku': () => 'NO-SUCH-SKU',
  'erasure-requests/:id': () => '01900000-0000-7000-8000-000000000010',
  'jobs/:id': () => '01900000-0000-7000-8000-000000000011',
  'roles/:name': () => 'no-such-role-xyz',
  'admins/:id': () => '01900000-0000-7000-8000-000000000012',
  'Users/:id': () => '01900000-0000-7000-8000-000000000013',
  'Groups/:id': () => '01900000-0000-7000-8000-000000000014',
  'Schemas/:id': () => 'urn:ietf:params:scim:schemas:core:2.0:Nothing',
  'ResourceTypes/:id': () => 'Nothing',
};

/** The code of the 404 of a route whose only parameter names a thing nobody (of the caller's tenant) has. */
const NOT_FOUND_CODES: Record<string, string> = {
  'roles/:name': 'roles.not_found',
  'admins/:id': 'admins.not_found',
  'Users/:id': 'identity.user_not_found',
  'Groups/:id': 'identity.group_not_found',
};

/**
 * Query strings of the GET routes that require one (the Merkle-log routes): a valid request for the CALLER's
 * own things. The proofs need integrated entries: call `catchUp` on the tree first.
 */
const QUERIES: Record<string, (w: World) => string> = {
  'GET /api/v1/audit/proofs/inclusion': () => 'index=0&treeSize=1',
  'GET /api/v1/audit/proofs/consistency': () => 'from=1&to=2',
  'GET /api/v1/audit/holders': (w) =>
    `${w.sku ? `product=${encodeURIComponent(w.sku)}` : `group=${w.groupId}`}&at=${encodeURIComponent(w.at)}`,
  'GET /api/v1/reports/compliance': () => `period=${new Date().toISOString().slice(0, 7)}`,
  // SCIM lists take `count` (RFC 7644 §3.4.2.4), not `limit`.
  'GET /scim/v2/Users': () => 'count=1000',
  'GET /scim/v2/Groups': () => 'count=1000',
};

interface Call {
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** A password admin accounts accept (at least 12 characters). */
const ADMIN_PASSWORD = 'correct horse battery staple';

/** A valid request of each write route, referring to the CALLER's own things (`w`). */
const WRITES: Record<string, (w: World) => Call> = {
  'POST /api/v1/tenants': () => ({ body: { name: u('tenant') } }),
  'POST /api/v1/tokens': (w) => ({ body: { tenantId: w.tenantId, name: u('token') } }),
  'DELETE /api/v1/tokens/:id': () => ({}),
  'POST /api/v1/roles': () => ({ body: { name: u('role'), permissions: ['users:read'] } }),
  'PATCH /api/v1/roles/:name': () => ({
    body: { description: 'Pwned', permissions: ['users:read', 'users:write'] },
  }),
  'DELETE /api/v1/roles/:name': () => ({}),
  'POST /api/v1/admins': () => ({
    body: { username: u('admin'), password: ADMIN_PASSWORD, roles: ['viewer'] },
  }),
  'PATCH /api/v1/admins/:id': () => ({ body: { roles: ['tenant-admin'], disabled: true } }),
  'DELETE /api/v1/admins/:id/totp': () => ({}),
  'POST /api/v1/users': () => ({ body: { userName: `${u('user')}@example.com` } }),
  'PATCH /api/v1/users/:id': () => ({ body: { title: 'Pwned', department: 'Pwned' } }),
  'DELETE /api/v1/users/:id': () => ({}),
  'POST /api/v1/groups': () => ({ body: { displayName: u('group') } }),
  'PATCH /api/v1/groups/:id': () => ({ body: { description: 'Pwned' } }),
  'DELETE /api/v1/groups/:id': () => ({}),
  'PUT /api/v1/groups/:id/members/:userId': () => ({}),
  'DELETE /api/v1/groups/:id/members/:userId': () => ({}),
  'POST /api/v1/products': () => ({ body: { sku: u('SKU'), name: 'Product' } }),
  'POST /api/v1/pools': (w) => ({ body: { product: w.sku, name: u('pool'), capacity: 3 } }),
  'PATCH /api/v1/pools/:id': () => ({ body: { capacity: 0, name: 'Pwned' } }),
  'DELETE /api/v1/pools/:id': () => ({}),
  'POST /api/v1/users/:id/licenses': (w) => ({ body: { product: w.spareSku } }),
  'DELETE /api/v1/users/:id/licenses/:sku': () => ({}),
  'POST /api/v1/users/:id/offboard': () => ({}),
  'POST /api/v1/erasure-requests': (w) => ({ body: { userId: w.otherUserId } }),
  'POST /api/v1/keys/rotate': () => ({}),
  'POST /api/v1/tenants/:id/keys/rotate': () => ({}),
  'POST /api/v1/onboardings': () => ({
    body: { user: { userName: `${u('joiner')}@example.com` }, products: [] },
    headers: { 'idempotency-key': u('idem') },
  }),
  // SCIM 2.0 (RFC 7644).
  'POST /scim/v2/Users/.search': () => ({ body: scimBody.search(), headers: SCIM_CT }),
  'POST /scim/v2/Users': () => ({ body: scimBody.user(`${u('scim')}@example.com`), headers: SCIM_CT }),
  'PUT /scim/v2/Users/:id': () => ({
    body: scimBody.user(`${u('scim-put')}@example.com`, { title: 'Pwned' }),
    headers: SCIM_CT,
  }),
  'PATCH /scim/v2/Users/:id': () => ({ body: scimBody.patch('title', 'Pwned'), headers: SCIM_CT }),
  'DELETE /scim/v2/Users/:id': () => ({}),
  'POST /scim/v2/Groups/.search': () => ({ body: scimBody.search(), headers: SCIM_CT }),
  'POST /scim/v2/.search': () => ({ body: scimBody.search(), headers: SCIM_CT }),
  'POST /scim/v2/Groups': () => ({ body: scimBody.group(u('scim-group')), headers: SCIM_CT }),
  'PUT /scim/v2/Groups/:id': () => ({ body: scimBody.group(u('scim-put')), headers: SCIM_CT }),
  'PATCH /scim/v2/Groups/:id': () => ({ body: scimBody.patch('displayName', u('pwned')), headers: SCIM_CT }),
  'DELETE /scim/v2/Groups/:id': () => ({}),
  'POST /scim/v2/Bulk': () => ({ body: scimBody.bulkUser(`${u('bulk')}@example.com`), headers: SCIM_CT }),
};

function paramsOf(url: string): { name: string; key: string }[] {
  const segs = url.split('/');
  return segs.flatMap((s, i) =>
    s.startsWith(':') ? [{ name: s.slice(1), key: `${segs[i - 1]}/${s}` }] : [],
  );
}

function unknownPart(r: RouteEntry): string | undefined {
  for (const p of paramsOf(r.url)) {
    if (!PARAMS[p.key]) return `no filler for path parameter ${p.key}`;
    if (!NOWHERE[p.key]) return `no unknown value for path parameter ${p.key}`;
  }
  if (r.method !== 'GET' && !WRITES[routeKey(r)]) return 'no request body/headers known for this write';
  return undefined;
}

type Owner = World | 'nowhere';

/** The url with each parameter taken from its owner (a world, or a value nobody has). */
function fillUrl(r: RouteEntry, owners: readonly Owner[]): string {
  let url = r.url;
  paramsOf(r.url).forEach((p, i) => {
    const o = owners[i];
    const v = o === 'nowhere' ? NOWHERE[p.key]?.() : o ? PARAMS[p.key]?.(o, r.method) : undefined;
    if (v === undefined) throw new Error(`${routeKey(r)}: nothing to fill ${p.key} with`);
    url = url.replace(`:${p.name}`, encodeURIComponent(v));
  });
  return url;
}

async function send(
  c: Client,
  r: RouteEntry,
  owners: readonly Owner[],
  caller: World,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const call = WRITES[routeKey(r)]?.(caller) ?? {};
  const h: Record<string, string> = { ...(call.headers ?? {}), ...headers };
  if (call.body !== undefined) h['content-type'] ??= 'application/json';
  return c.raw(r.method, fillUrl(r, owners), call.body === undefined ? '' : JSON.stringify(call.body), h);
}

/** Every assignment of owners to `n` parameters in which at least one is `b` (the others `a`). */
function mixes<T>(n: number, a: T, b: T): T[][] {
  const out: T[][] = [];
  for (let mask = 1; mask < 1 << n; mask++)
    out.push(Array.from({ length: n }, (_, i) => (mask & (1 << i) ? b : a)));
  return out;
}

function expectNoLeak(res: Answer, of: World, what: string): void {
  for (const s of of.secrets)
    expect(res.raw.includes(s), `${what}: leaks ${s}: ${res.raw.slice(0, 400)}`).toBe(false);
}

// biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely
async function listAll(c: Client, path: string, headers?: Record<string, string>): Promise<any[]> {
  // biome-ignore lint/suspicious/noExplicitAny: answers are inspected loosely
  const items: any[] = [];
  let cursor: string | undefined;
  for (;;) {
    const sep = path.includes('?') ? '&' : '?';
    const r = await c.get(`${path}${sep}limit=200${cursor ? `&cursor=${cursor}` : ''}`, headers);
    expect(r.status, r.raw).toBe(200);
    items.push(...r.body.items);
    cursor = r.body.nextCursor;
    if (!cursor) return items;
  }
}

// ---------------------------------------------------------------------------------------------------------

/**
 * GET routes without path parameters that answer one object, not a paged list (SCIM's discovery lists are fixed
 * and take no paging either).
 */
const SINGLE_ANSWERS = [
  '/openapi.json',
  '/audit/checkpoints/latest',
  '/audit/public-key',
  '/audit/activity',
  '/requests/activity',
  '/usage',
  '/scim/v2/ServiceProviderConfig',
  '/scim/v2/Schemas',
  '/scim/v2/ResourceTypes',
];

describeEachStore('tenant isolation of every route (generated from the route table)', (kind) => {
  const t = useTestApp(kind, ENV, { keyCache: { versionCheckMs: 20 } });
  const hasRoute = (method: string, url: string) => ROUTES.some((r) => r.method === method && r.url === url);

  async function world(label: string, shared: string): Promise<World> {
    const tag = `${label}${randomBytes(4).toString('hex')}`;
    const tenantName = `tenant-${tag}`;
    const tenant = await t().admin.post('/api/v1/tenants', { name: tenantName });
    expect(tenant.status, tenant.raw).toBe(201);
    const tenantId: string = tenant.body.id;
    const tok = await t().admin.post('/api/v1/tokens', {
      tenantId,
      name: `token-${tag}`,
      roles: ['tenant-admin'],
    });
    expect(tok.status, tok.raw).toBe(201);
    const api = t().client(tok.body.token);
    const values = {
      userName: `user-${tag}@example.com`,
      email: `mail-${tag}@example.org`,
      externalId: `ext-${tag}`,
      department: `dept-${tag}`,
      groupName: `group-${tag}`,
      groupExternalId: `gext-${tag}`,
      sharedUserName: shared,
    };
    const user = await api.post('/api/v1/users', {
      userName: values.userName,
      externalId: values.externalId,
      displayName: `Display ${tag}`,
      name: { givenName: `Given${tag}`, familyName: `Family${tag}` },
      emails: [{ value: values.email, primary: true }],
      phoneNumbers: [{ value: `+49-${tag}` }],
      department: values.department,
      title: `title-${tag}`,
      location: { site: 'ber-1', country: 'DE' },
    });
    expect(user.status, user.raw).toBe(201);
    const other = await api.post('/api/v1/users', {
      userName: shared,
      emails: [{ value: shared }],
      manager: user.body.id,
      location: { site: 'ber-1', country: 'DE' },
    });
    expect(other.status, other.raw).toBe(201);
    const group = await api.post('/api/v1/groups', {
      displayName: values.groupName,
      externalId: values.groupExternalId,
      description: `desc-${tag}`,
      members: [user.body.id],
    });
    expect(group.status, group.raw).toBe(201);
    const spare = await t().admin.post('/api/v1/tokens', { tenantId, name: `spare-${tag}` });
    expect(spare.status, spare.raw).toBe(201);
    const keyThings = await erasureAndKeyJob(t(), api, tenantId);
    const roleName = `role-${tag}`;
    const role = await api.post('/api/v1/roles', {
      name: roleName,
      description: `desc-${tag}`,
      permissions: ['users:read'],
    });
    expect(role.status, role.raw).toBe(201);
    const adminName = `admin-${tag}`;
    const adminAccount = await api.post('/api/v1/admins', {
      username: adminName,
      password: ADMIN_PASSWORD,
      roles: ['viewer'],
    });
    expect(adminAccount.status, adminAccount.raw).toBe(201);
    const secrets = [
      tenantId,
      tenantName,
      tok.body.id,
      tok.body.token,
      spare.body.id,
      spare.body.token,
      keyThings.erasedUserId,
      keyThings.erasureId,
      keyThings.keyJobId,
      user.body.id,
      other.body.id,
      group.body.id,
      roleName,
      adminName,
      adminAccount.body.id,
      tag,
    ];
    let sku: string | undefined;
    let spareSku: string | undefined;
    let poolId: string | undefined;
    let idlePoolId: string | undefined;
    if (hasRoute('POST', '/api/v1/products') && hasRoute('POST', '/api/v1/pools')) {
      sku = `SKU-${tag}`;
      spareSku = `SPARE-${tag}`;
      for (const s of [sku, spareSku]) {
        const p = await api.post('/api/v1/products', { sku: s, name: `product ${s}` });
        expect(p.status, p.raw).toBe(201);
        secrets.push(p.body.id);
      }
      const pool = await api.post('/api/v1/pools', { product: sku, name: `pool-${tag}`, capacity: 5 });
      expect(pool.status, pool.raw).toBe(201);
      poolId = pool.body.id;
      const idle = await api.post('/api/v1/pools', { product: spareSku, name: `idle-${tag}`, capacity: 5 });
      expect(idle.status, idle.raw).toBe(201);
      idlePoolId = idle.body.id;
      secrets.push(pool.body.id, idle.body.id);
      if (hasRoute('POST', '/api/v1/users/:id/licenses')) {
        const seat = await api.post(`/api/v1/users/${user.body.id}/licenses`, { product: sku });
        expect(seat.status, seat.raw).toBe(201);
      }
    }
    return {
      tenantId,
      tenantName,
      token: tok.body.token,
      api,
      actor: `token:${tok.body.id}`,
      at: new Date().toISOString(),
      userId: user.body.id,
      otherUserId: other.body.id,
      groupId: group.body.id,
      tokenId: spare.body.id,
      roleName,
      adminId: adminAccount.body.id,
      erasureId: keyThings.erasureId,
      keyJobId: keyThings.keyJobId,
      ...(sku ? { sku } : {}),
      ...(spareSku ? { spareSku } : {}),
      ...(poolId ? { poolId } : {}),
      ...(idlePoolId ? { idlePoolId } : {}),
      secrets,
      values,
    };
  }

  let worldsP: Promise<{ a: World; b: World }> | undefined;
  /** Tenants A and B, built once per store; both have a user with the same userName and e-mail. */
  function worlds(): Promise<{ a: World; b: World }> {
    worldsP ??= (async () => {
      const shared = `shared-${randomBytes(4).toString('hex')}@example.com`;
      return { a: await world('a', shared), b: await world('b', shared) };
    })();
    return worldsP;
  }

  /**
   * Everything a tenant can read of itself, through every readable route of the table (generated too), with
   * its own ids: the "unchanged" check covers new routes without edits.
   */
  async function view(w: World): Promise<unknown> {
    const out: Record<string, unknown> = {};
    for (const r of ROUTES) {
      if (r.method !== 'GET' || r.auth === 'public' || r.auth === 'platform') continue;
      if (r.url.endsWith('/openapi.json') || unknownPart(r)) continue;
      // Derived from the audit trail (compared in full below), not state a request changes: the Merkle-log
      // routes answer from what the background integrator has integrated and signed so far, which grows
      // while no request changes anything.
      if (notStateView(r)) continue;
      // Its first page: the whole trail is compared below, where a 403's access.denied entries are counted.
      if (routeKey(r) === 'GET /api/v1/audit/entries') continue;
      const res = await send(
        w.api,
        r,
        paramsOf(r.url).map(() => w),
        w,
      );
      out[routeKey(r)] = { status: res.status, body: stable(res.body) };
    }
    for (const path of ['/api/v1/users', '/api/v1/groups']) out[`all ${path}`] = await listAll(w.api, path);
    out.audit = await auditTrail(w.api);
    const groups = out['all /api/v1/groups'] as { id: string }[];
    for (const g of groups) out[`members ${g.id}`] = await listAll(w.api, `/api/v1/groups/${g.id}/members`);
    const token = await t().admin.get(`/api/v1/tokens/${w.tokenId}`);
    out.spareToken = stable(token.body);
    return out;
  }

  // ----------------------------------------------------------------------------------------------
  it('the route table is the app’s, and every route with path parameters can be filled', () => {
    expect(t().app.http.routeTable.map((r) => ({ ...r }))).toEqual(ROUTES);
    const withParams = ROUTES.filter((r) => paramsOf(r.url).length > 0);
    // Not vacuous: the identity routes are there.
    for (const key of [
      'GET /api/v1/users/:id',
      'PUT /api/v1/groups/:id/members/:userId',
      'GET /api/v1/tenants/:id',
    ])
      expect(withParams.map(routeKey)).toContain(key);
    const unknown = ROUTES.flatMap((r) => {
      if (r.auth === 'public') return [];
      const why = unknownPart(r);
      return why ? [`${routeName(r)}: ${why}`] : [];
    });
    expect(unknown).toEqual([]);
    // The generator's tables name routes of the app (a renamed route must not leave them stale).
    for (const key of [...Object.keys(QUERIES), ...DERIVED_FROM_AUDIT])
      expect(ROUTES.map(routeKey)).toContain(key);
  });

  // ----------------------------------------------------------------------------------------------
  describe("A's credentials on B's ids", () => {
    // Routes whose parameters all name what every tenant shares (SCIM's schemas and resource types) have no
    // ids of B: the next describe covers them.
    for (const r of ROUTES.filter((x) => paramsOf(x.url).some((p) => !isShared(p.key)))) {
      const expected = r.auth === 'platform' ? 403 : 404;
      it(`${routeName(r)}: every mix of B's ids answers ${expected}, like unknown ids, and changes nothing`, async () => {
        if (unknownPart(r)) throw new Error(`${routeName(r)}: ${unknownPart(r)}`);
        const { a, b } = await worlds();
        const beforeA = await view(a);
        const beforeB = await view(b);
        const n = paramsOf(r.url).length;
        // A 403 is a refusal naming the missing permission, audited in the caller's trail: A's token's, in A's
        // tenant.
        const denials: Denial[] = [];
        const refused = (res: Answer, method: string, caller: Caller) => {
          if (caller.expected !== 403) return;
          if (res.body !== undefined)
            expect(res.body.code, `${method} ${r.url}: the refusal`).toBe('auth.forbidden');
          denials.push(
            denialOf(res, {
              tenantId: a.tenantId,
              actor: a.actor,
              method,
              route: r.url,
              code: 'auth.forbidden',
              permission: caller.permission,
            }),
          );
        };

        interface Caller {
          readonly label: string;
          readonly client: Client;
          readonly headers: Record<string, string>;
          readonly expected: number;
          /** The permission a 403 names. */
          readonly permission?: string | undefined;
        }
        // A platform route refuses a tenant token, naming the route's permission.
        const own = { expected, permission: expected === 403 ? r.permission : undefined };
        const callers: Caller[] = [
          { label: "A's token", client: a.api, headers: {}, ...own },
          // Naming its own tenant in the header is harmless: answered as without it.
          {
            label: "A's token naming A in Roster-Tenant",
            client: a.api,
            headers: { 'roster-tenant': a.tenantId },
            ...own,
          },
          // A tenant token cannot be pointed elsewhere with the header: refused, naming tenants:act (never served
          // from A's tenant instead).
          {
            label: "A's token naming B in Roster-Tenant",
            client: a.api,
            headers: { 'roster-tenant': b.tenantId },
            expected: 403,
            permission: 'tenants:act',
          },
        ];
        if (r.auth === 'tenant' || r.auth === 'scoped')
          callers.push({
            label: 'platform token acting as A',
            client: t().admin,
            headers: { 'roster-tenant': a.tenantId },
            expected: 404,
          });

        for (const caller of callers) {
          for (const owners of mixes<Owner>(n, a, b)) {
            const what = `${caller.label} on ${fillUrl(r, owners)} (${owners.map((o) => (o === a ? 'A' : 'B')).join(',')})`;
            const res = await send(caller.client, r, owners, a, caller.headers);
            expect(res.status, `${what}: ${res.raw.slice(0, 300)}`).toBe(caller.expected);
            expectErrorAt(r.url, res, caller.expected, undefined, what);
            expectNoLeak(res, b, what);
            refused(res, r.method, caller);
            // Where the route's only parameter names a thing of B, the answer is that thing's own "not found".
            const single = paramsOf(r.url)[0]?.key;
            if (caller.expected === 404 && n === 1 && single && NOT_FOUND_CODES[single])
              expect(res.body?.code, what).toBe(NOT_FOUND_CODES[single]);
            // Indistinguishable from an id nobody has (where the route gets that far).
            const ghost = await send(
              caller.client,
              r,
              owners.map((o) => (o === b ? 'nowhere' : o)),
              a,
              caller.headers,
            );
            expect(ghost.status, `${what} vs unknown ids: ${ghost.raw.slice(0, 300)}`).toBe(res.status);
            expect(ghost.body?.code, `${what} vs unknown ids`).toBe(res.body?.code);
            refused(ghost, r.method, caller);
            // The same path with a trailing slash (the router ignores it) and, for reads, HEAD.
            const slash = await caller.client.raw(
              r.method,
              `${fillUrl(r, owners)}/`,
              WRITES[routeKey(r)]?.(a).body === undefined
                ? ''
                : JSON.stringify(WRITES[routeKey(r)]?.(a).body),
              {
                ...(WRITES[routeKey(r)]?.(a).headers ?? {}),
                ...(WRITES[routeKey(r)]?.(a).body === undefined
                  ? {}
                  : {
                      'content-type':
                        WRITES[routeKey(r)]?.(a).headers?.['content-type'] ?? 'application/json',
                    }),
                ...caller.headers,
              },
            );
            expect(slash.status, `${what} with a trailing slash: ${slash.raw.slice(0, 300)}`).toBe(
              caller.expected,
            );
            expectNoLeak(slash, b, `${what} with a trailing slash`);
            // The router ignores the slash: the refusal names the route's pattern.
            refused(slash, r.method, caller);
            if (r.method === 'GET') {
              const head = await caller.client.raw('HEAD', fillUrl(r, owners), '', caller.headers);
              expect(head.status, `HEAD ${what}`).toBe(caller.expected);
              expect(head.raw, `HEAD ${what}`).toBe('');
              refused(head, 'HEAD', caller);
            }
          }
        }
        expect(await view(b), "B's data changed").toEqual(beforeB);
        // Nothing of A changed either, but for exactly one access.denied entry per 403 (none for a 404): the
        // refusals of the header naming B among them, on every route.
        expect(denials.filter((d) => d.permission === 'tenants:act').length).toBeGreaterThan(0);
        if (expected === 403)
          expect(denials.filter((d) => d.permission === r.permission).length).toBeGreaterThan(0);
        expectChangedOnlyByDenials(
          beforeA,
          await view(a),
          { audit: denials },
          "A's data after failed requests",
        );
      });
    }
  });

  describe('routes naming only what every tenant shares (SCIM discovery)', () => {
    for (const r of ROUTES.filter(
      (x) => paramsOf(x.url).length > 0 && paramsOf(x.url).every((p) => isShared(p.key)),
    )) {
      it(`${routeName(r)}: A and B get the same answer, with nothing of either tenant; an unknown name is 404`, async () => {
        const { a, b } = await worlds();
        const beforeA = await view(a);
        const beforeB = await view(b);
        const mine = await send(a.api, r, [a], a);
        expect(mine.status, mine.raw.slice(0, 300)).toBe(200);
        expect(String(mine.headers['content-type'])).toMatch(/^application\/scim\+json/);
        const theirs = await send(b.api, r, [b], b);
        expect(theirs.body).toEqual(mine.body);
        const viaAdmin = await send(t().admin, r, [a], a, { 'roster-tenant': a.tenantId });
        expect(viaAdmin.body).toEqual(mine.body);
        expectNoLeak(mine, a, `${routeName(r)} for A`);
        expectNoLeak(mine, b, `${routeName(r)} for A`);
        const nowhere = await send(a.api, r, ['nowhere'], a);
        expectErrorAt(r.url, nowhere, 404, 'request.not_found', `${routeName(r)} unknown`);
        // A's token naming B is refused naming tenants:act, audited in A's trail.
        const named = await send(a.api, r, [b], a, { 'roster-tenant': b.tenantId });
        expectErrorAt(r.url, named, 403, 'auth.forbidden', "A's token naming B");
        const denial = denialOf(named, {
          tenantId: a.tenantId,
          actor: a.actor,
          method: r.method,
          route: r.url,
          code: 'auth.forbidden',
          permission: 'tenants:act',
        });
        expect(await view(b), "B's data changed").toEqual(beforeB);
        expectChangedOnlyByDenials(beforeA, await view(a), { audit: [denial] }, "A's data");
      });
    }
  });

  // ----------------------------------------------------------------------------------------------
  describe('lists never show another tenant’s rows', () => {
    for (const r of ROUTES.filter(
      (x) =>
        x.method === 'GET' && paramsOf(x.url).length === 0 && x.auth !== 'public' && x.auth !== 'platform',
    )) {
      it(`${routeName(r)}: A's answers hold nothing of B`, async () => {
        const { a, b } = await worlds();
        // The Merkle-log routes answer from integrated entries: integrate and sign A's tree first (the proofs'
        // ranges are then valid, and checkpoints/latest exists: before any checkpoint it answers 404).
        expect(await t().app.integrator.catchUp(a.tenantId), "A's checkpoint").toBeDefined();
        // Lists take a page size; single answers take no query at all (unknown parameters are refused).
        const query =
          QUERIES[routeKey(r)]?.(a) ?? (SINGLE_ANSWERS.some((end) => r.url.endsWith(end)) ? '' : 'limit=200');
        const trailA = await auditTrail(a.api);
        const trailB = await auditTrail(b.api);
        const denials: Denial[] = [];
        for (const [label, client, headers] of [
          ["A's token", a.api, {}],
          ["A's token naming A", a.api, { 'roster-tenant': a.tenantId }],
          ['platform token acting as A', t().admin, { 'roster-tenant': a.tenantId }],
        ] as [string, Client, Record<string, string>][]) {
          const res = await client.get(`${r.url}${query ? `?${query}` : ''}`, headers);
          expect(res.status, `${label}: ${res.raw.slice(0, 300)}`).toBe(200);
          expectNoLeak(res, b, label);
          for (const item of (res.body?.items ?? []) as { tenantId?: unknown; origin?: unknown }[]) {
            if ('tenantId' in item) expect(item.tenantId, label).toBe(a.tenantId);
            // Checkpoints name their tree in the origin.
            if ('origin' in item) expect(item.origin, label).toMatch(new RegExp(`/audit/${a.tenantId}$`));
          }
          // SCIM's lists (RFC 7644 §3.4.2): exactly A's users or groups, as A's REST API lists them.
          const restList = { '/scim/v2/Users': '/api/v1/users', '/scim/v2/Groups': '/api/v1/groups' }[r.url];
          if (restList) {
            expect(res.body.schemas, label).toEqual([SCIM_LIST]);
            const own = (await listAll(a.api, restList)).map((x: { id: string }) => x.id).sort();
            expect(res.body.totalResults, label).toBe(own.length);
            expect(res.body.Resources.map((x: { id: string }) => x.id).sort(), label).toEqual(own);
          }
        }
        // A's token naming B in the header is refused, naming tenants:act: neither B's rows nor A's instead.
        const named = await a.api.get(`${r.url}${query ? `?${query}` : ''}`, { 'roster-tenant': b.tenantId });
        expect(named.status, `A's token naming B: ${named.raw.slice(0, 300)}`).toBe(403);
        expect(named.body.code).toBe('auth.forbidden');
        expect(named.body.items, "A's token naming B").toBeUndefined();
        expect(named.body.Resources, "A's token naming B").toBeUndefined();
        expectErrorAt(r.url, named, 403, 'auth.forbidden', "A's token naming B");
        expectNoLeak(named, b, "A's token naming B");
        denials.push(
          denialOf(named, {
            tenantId: a.tenantId,
            actor: a.actor,
            method: 'GET',
            route: r.url,
            code: 'auth.forbidden',
            permission: 'tenants:act',
          }),
        );
        // Audited in A's trail, and only there.
        expectOnlyDenials(trailA, await auditTrail(a.api), denials, "A's trail");
        expectOnlyDenials(trailB, await auditTrail(b.api), [], "B's trail");
      });
    }

    for (const r of ROUTES.filter(
      (x) => x.method === 'GET' && paramsOf(x.url).length === 0 && x.auth === 'platform',
    )) {
      it(`${routeName(r)}: A's token gets 403 and nothing of B`, async () => {
        const { a, b } = await worlds();
        const trailA = await auditTrail(a.api);
        const trailB = await auditTrail(b.api);
        const res = await a.api.get(r.url);
        expect(res.status, res.raw).toBe(403);
        expectNoLeak(res, b, "A's token");
        // The refusal is audited in A's trail, and only there.
        const denial = denialOf(res, {
          tenantId: a.tenantId,
          actor: a.actor,
          method: 'GET',
          route: r.url,
          code: 'auth.forbidden',
          // The refusal names the permission the route needs (a platform one).
          permission: r.permission,
        });
        expect(r.permission, 'a platform route names its permission').toBeDefined();
        expect(res.body.code).toBe('auth.forbidden');
        expectOnlyDenials(trailA, await auditTrail(a.api), [denial], "A's trail");
        expectOnlyDenials(trailB, await auditTrail(b.api), [], "B's trail");
      });
    }

    it('A sees exactly its own users, groups and audit entries', async () => {
      const { a, b } = await worlds();
      const users = await listAll(a.api, '/api/v1/users');
      expect(users.map((x) => x.id).sort()).toEqual([a.userId, a.otherUserId].sort());
      const groups = await listAll(a.api, '/api/v1/groups');
      expect(groups.map((x) => x.id)).toEqual([a.groupId]);
      const audit = await auditTrail(a.api);
      expect(audit.length).toBeGreaterThan(0);
      for (const e of audit) expect(e.tenantId).toBe(a.tenantId);
      const targets = new Set(audit.map((e) => e.target?.id));
      for (const id of [b.userId, b.otherUserId, b.groupId, b.tokenId]) expect(targets.has(id)).toBe(false);
    });

    it.each([
      ['userName', (w: World) => `userName=${encodeURIComponent(w.values.userName)}`],
      [
        'userName in another case',
        (w: World) => `userName=${encodeURIComponent(w.values.userName.toUpperCase())}`,
      ],
      ['email', (w: World) => `email=${encodeURIComponent(w.values.email)}`],
      ['externalId', (w: World) => `externalId=${encodeURIComponent(w.values.externalId)}`],
      ['department', (w: World) => `department=${encodeURIComponent(w.values.department)}`],
    ])("GET /api/v1/users?%s with B's value finds nothing for A (and B's row for B)", async (_n, q) => {
      const { a, b } = await worlds();
      const res = await a.api.get(`/api/v1/users?${q(b)}`);
      expect(res.status, res.raw).toBe(200);
      expect(res.body.items).toEqual([]);
      expectNoLeak(res, b, 'A filtering');
      const viaAdmin = await t().admin.get(`/api/v1/users?${q(b)}`, { 'roster-tenant': a.tenantId });
      expect(viaAdmin.body.items).toEqual([]);
      // The filter itself works: B finds its own user with it.
      const own = await b.api.get(`/api/v1/users?${q(b)}`);
      expect(own.body.items.map((x: { id: string }) => x.id)).toEqual([b.userId]);
    });

    it('a userName and e-mail both tenants use find only the caller’s own user', async () => {
      const { a, b } = await worlds();
      for (const q of [`userName=${a.values.sharedUserName}`, `email=${a.values.sharedUserName}`]) {
        const res = await a.api.get(`/api/v1/users?${q}`);
        expect(res.body.items.map((x: { id: string }) => x.id)).toEqual([a.otherUserId]);
        const resB = await b.api.get(`/api/v1/users?${q}`);
        expect(resB.body.items.map((x: { id: string }) => x.id)).toEqual([b.otherUserId]);
      }
    });

    it.each([
      ['displayName', (w: World) => `displayName=${encodeURIComponent(w.values.groupName)}`],
      ['externalId', (w: World) => `externalId=${encodeURIComponent(w.values.groupExternalId)}`],
    ])("GET /api/v1/groups?%s with B's value finds nothing for A", async (_n, q) => {
      const { a, b } = await worlds();
      const res = await a.api.get(`/api/v1/groups?${q(b)}`);
      expect(res.status, res.raw).toBe(200);
      expect(res.body.items).toEqual([]);
      const own = await b.api.get(`/api/v1/groups?${q(b)}`);
      expect(own.body.items.map((x: { id: string }) => x.id)).toEqual([b.groupId]);
    });

    it("GET /api/v1/pools?product=<B's SKU> finds nothing for A", async () => {
      const { a, b } = await worlds();
      if (!hasRoute('GET', '/api/v1/pools') || !b.sku) return;
      const res = await a.api.get(`/api/v1/pools?product=${encodeURIComponent(b.sku)}`);
      expect(res.status, res.raw).toBeLessThan(500);
      if (res.status === 200) expect(res.body.items).toEqual([]);
      expectNoLeak(res, b, 'A filtering pools');
      const own = await b.api.get(`/api/v1/pools?product=${encodeURIComponent(b.sku)}`);
      expect(own.body.items.map((x: { id: string }) => x.id)).toEqual([b.poolId]);
    });

    /** SCIM filters naming B's first user or group by each attribute a filter can ask (RFC 7644 §3.4.2.2). */
    const scimFilters = (w: World): [string, string][] => {
      const q = JSON.stringify;
      return [
        ['/Users', `id eq ${q(w.userId)}`],
        ['/Users', `userName eq ${q(w.values.userName)}`],
        ['/Users', `userName eq ${q(w.values.userName.toUpperCase())}`],
        ['/Users', `emails.value eq ${q(w.values.email)}`],
        ['/Users', `emails[value eq ${q(w.values.email)}]`],
        ['/Users', `externalId eq ${q(w.values.externalId)}`],
        ['/Users', `${SCIM_ENTERPRISE}:department eq ${q(w.values.department)}`],
        ['/Users', `groups.value eq ${q(w.groupId)}`],
        ['/Users', `userName eq ${q(w.values.userName)} or externalId eq ${q(w.values.externalId)}`],
        ['/Users', `not (userName eq "nobody@example.com") and id eq ${q(w.userId)}`],
        ['/Groups', `id eq ${q(w.groupId)}`],
        ['/Groups', `displayName eq ${q(w.values.groupName)}`],
        ['/Groups', `externalId eq ${q(w.values.groupExternalId)}`],
        ['/Groups', `members.value eq ${q(w.userId)}`],
      ];
    };

    it("SCIM filters and searches with B's values find nothing for A (and B's row for B)", async () => {
      const { a, b } = await worlds();
      for (const [resource, filter] of scimFilters(b)) {
        const what = `${resource} filter=${filter}`;
        const answers: [string, Answer][] = [
          ["A's GET", await a.api.get(`/scim/v2${resource}?filter=${encodeURIComponent(filter)}`)],
          [
            "A's .search",
            await a.api.post(`/scim/v2${resource}/.search`, scimBody.search({ filter }), SCIM_CT),
          ],
          [
            'platform token acting as A',
            await t().admin.get(`/scim/v2${resource}?filter=${encodeURIComponent(filter)}`, {
              'roster-tenant': a.tenantId,
            }),
          ],
        ];
        for (const [label, res] of answers) {
          expect(res.status, `${label} ${what}: ${res.raw.slice(0, 300)}`).toBe(200);
          expect(res.body.totalResults, `${label} ${what}`).toBe(0);
          expect(res.body.Resources ?? [], `${label} ${what}`).toEqual([]);
          expectNoLeak(res, b, `${label} ${what}`);
        }
        // The filter itself works: B finds its own row with it.
        const own = await b.api.get(`/scim/v2${resource}?filter=${encodeURIComponent(filter)}`);
        expect(own.status, own.raw.slice(0, 300)).toBe(200);
        expect(
          own.body.Resources.map((x: { id: string }) => x.id),
          `B: ${what}`,
        ).toEqual([resource === '/Users' ? b.userId : b.groupId]);
      }
    });

    it('SCIM: a userName and e-mail both tenants use find only the caller’s own user', async () => {
      const { a, b } = await worlds();
      for (const filter of [
        `userName eq "${a.values.sharedUserName}"`,
        `emails.value eq "${a.values.sharedUserName}"`,
      ]) {
        for (const w of [a, b]) {
          const res = await w.api.get(`/scim/v2/Users?filter=${encodeURIComponent(filter)}`);
          expect(
            res.body.Resources.map((x: { id: string }) => x.id),
            filter,
          ).toEqual([w.otherUserId]);
        }
      }
    });

    it("a cursor taken from B's list shows A nothing of B", async () => {
      const { a, b } = await worlds();
      for (const path of ['/api/v1/users', '/api/v1/groups', '/api/v1/audit/entries']) {
        const page = await b.api.get(`${path}?limit=1`);
        expect(page.status).toBe(200);
        if (!page.body.nextCursor) continue;
        const res = await a.api.get(`${path}?cursor=${page.body.nextCursor}`);
        expect(res.status, res.raw).toBeLessThan(500);
        expectNoLeak(res, b, `${path} with B's cursor`);
      }
    });
  });

  // ----------------------------------------------------------------------------------------------
  describe('references to B in bodies', () => {
    it('A cannot name B’s user as manager or group member (422), nor B’s product, and nothing changes', async () => {
      const { a, b } = await worlds();
      const beforeA = await view(a);
      const beforeB = await view(b);
      const cases: [string, () => Promise<Answer>, string][] = [
        [
          'POST /users with manager B',
          () => a.api.post('/api/v1/users', { userName: `${u('x')}@example.com`, manager: b.userId }),
          'identity.invalid_manager',
        ],
        [
          'PATCH /users/:id with manager B',
          () => a.api.patch(`/api/v1/users/${a.otherUserId}`, { manager: b.userId }),
          'identity.invalid_manager',
        ],
        [
          'POST /groups with member B',
          () => a.api.post('/api/v1/groups', { displayName: u('g'), members: [b.userId] }),
          'identity.invalid_member',
        ],
      ];
      if (hasRoute('POST', '/api/v1/users/:id/licenses') && b.sku)
        cases.push([
          'POST /users/:id/licenses with B’s product',
          () => a.api.post(`/api/v1/users/${a.otherUserId}/licenses`, { product: b.sku }),
          'licenses.unknown_product',
        ]);
      if (hasRoute('POST', '/api/v1/pools') && b.sku)
        cases.push([
          'POST /pools for B’s product',
          () => a.api.post('/api/v1/pools', { product: b.sku, name: u('pool'), capacity: 1 }),
          'licenses.unknown_product',
        ]);
      if (hasRoute('POST', '/api/v1/onboardings') && b.sku)
        cases.push([
          'POST /onboardings with B’s product',
          () =>
            a.api.post(
              '/api/v1/onboardings',
              { user: { userName: `${u('j')}@example.com` }, products: [b.sku] },
              { 'idempotency-key': u('idem') },
            ),
          'licenses.unknown_product',
        ]);
      for (const [label, call, code] of cases) {
        const res = await call();
        expect(res.status, `${label}: ${res.raw}`).toBe(422);
        expect(res.body.code, label).toBe(code);
        expectNoLeak(res, b, label);
      }
      expect(await view(b)).toEqual(beforeB);
      expect(await view(a)).toEqual(beforeA);
    });

    it('SCIM: A cannot name B’s user as manager or group member (400 like an unknown user), nor reach B through /Bulk; nothing changes', async () => {
      const { a, b } = await worlds();
      const beforeA = await view(a);
      const beforeB = await view(b);
      const nobody = '01900000-0000-7000-8000-000000000013';
      const cases: [string, (id: string) => Promise<Answer>, string][] = [
        [
          'POST /scim/v2/Users with manager',
          (id) =>
            a.api.post(
              '/scim/v2/Users',
              scimBody.user(`${u('x')}@example.com`, { [SCIM_ENTERPRISE]: { manager: { value: id } } }),
              SCIM_CT,
            ),
          'identity.invalid_manager',
        ],
        [
          'PATCH /scim/v2/Users/:id with manager',
          (id) =>
            a.api.patch(
              `/scim/v2/Users/${a.otherUserId}`,
              scimBody.patch(`${SCIM_ENTERPRISE}:manager`, { value: id }),
              SCIM_CT,
            ),
          'identity.invalid_manager',
        ],
        [
          'POST /scim/v2/Groups with member',
          (id) =>
            a.api.post('/scim/v2/Groups', scimBody.group(u('g'), { members: [{ value: id }] }), SCIM_CT),
          'identity.invalid_member',
        ],
        [
          'PATCH /scim/v2/Groups/:id adding member',
          (id) =>
            a.api.patch(
              `/scim/v2/Groups/${a.groupId}`,
              scimBody.patch('members', [{ value: id }], 'add'),
              SCIM_CT,
            ),
          'identity.invalid_member',
        ],
      ];
      for (const [label, call, code] of cases) {
        const res = await call(b.userId);
        expectScimError(res, 400, code, label);
        expectScimType(res, 'invalidValue', label);
        expectNoLeak(res, b, label);
        const ghost = await call(nobody);
        expect({ ...ghost.body, requestId: 0 }, `${label}: as for a user nobody has`).toEqual({
          ...res.body,
          requestId: 0,
        });
      }
      // /Bulk: each operation on B's user or group fails as on an unknown one (404), and nothing of B changes.
      const bulk = await a.api.post(
        '/scim/v2/Bulk',
        scimBody.bulk([
          { method: 'PATCH', path: `/Users/${b.userId}`, data: scimBody.patch('title', 'Pwned') },
          { method: 'PUT', path: `/Groups/${b.groupId}`, data: scimBody.group(u('g')) },
          { method: 'DELETE', path: `/Users/${b.otherUserId}` },
        ]),
        SCIM_CT,
      );
      expect(bulk.status, bulk.raw).toBe(200);
      expect(bulk.body.Operations.map((o: { status: string }) => o.status)).toEqual(['404', '404', '404']);
      expect(bulk.body.Operations.map((o: { response: { code: string } }) => o.response.code)).toEqual([
        'identity.user_not_found',
        'identity.group_not_found',
        'identity.user_not_found',
      ]);
      expectNoLeak(bulk, b, '/Bulk on B');
      expect(await view(b)).toEqual(beforeB);
      expect(await view(a)).toEqual(beforeA);
    });

    it('A cannot erase B’s user (404 like an unknown id) and nothing changes', async () => {
      const { a, b } = await worlds();
      const beforeA = await view(a);
      const beforeB = await view(b);
      for (const userId of [b.userId, b.otherUserId]) {
        const res = await a.api.post('/api/v1/erasure-requests', { userId });
        expect(res.status, res.raw).toBe(404);
        expect(res.body.code).toBe('identity.user_not_found');
        expectNoLeak(res, b, 'POST /erasure-requests with B’s user');
      }
      expect(await view(b)).toEqual(beforeB);
      expect(await view(a)).toEqual(beforeA);
    });

    it('uniqueness is per tenant: C may use every value B uses, so a 409 never reveals B', async () => {
      const { b } = await worlds();
      const c = await world('c', `c-${randomBytes(3).toString('hex')}@example.com`);
      const beforeB = await view(b);
      const user = await c.api.post('/api/v1/users', {
        userName: b.values.userName.toUpperCase(),
        emails: [{ value: b.values.email }],
        externalId: b.values.externalId,
      });
      expect(user.status, user.raw).toBe(201);
      const shared = await c.api.post('/api/v1/users', { userName: b.values.sharedUserName });
      expect(shared.status, shared.raw).toBe(201);
      const group = await c.api.post('/api/v1/groups', {
        displayName: b.values.groupName,
        externalId: b.values.groupExternalId,
      });
      expect(group.status, group.raw).toBe(201);
      if (hasRoute('POST', '/api/v1/products') && b.sku) {
        const product = await c.api.post('/api/v1/products', { sku: b.sku, name: 'same sku' });
        expect(product.status, product.raw).toBe(201);
      }
      expect(await view(b)).toEqual(beforeB);
    });
  });
});
