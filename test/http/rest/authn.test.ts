/**
 * Authentication and authorisation of every route, GENERATED FROM THE ROUTE TABLE: a route added to the app
 * is covered here without editing this file. A write route (or a path parameter) this generator does not
 * know how to call makes the coverage test fail instead of being skipped silently. Under /scim/v2 the refusals
 * use the SCIM error schema (RFC 7644 §3.12), not problem+json; SCIM's searches (POST /.search) read like GETs.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  BUILT_IN_ROLES,
  isPermission,
  type Permission,
  PLATFORM_PERMISSIONS,
  TENANT_PERMISSIONS,
} from '../../../src/access/permissions.js';
import { ANY_AUTHENTICATED, type RouteEntry } from '../../../src/platform/http/server.js';
import { ADMIN_TOKEN, type Answer, type Client, useTestApp } from '../../support/app.js';
import {
  ADMIN_ACTOR,
  actorOf,
  auditTrail,
  DERIVED_FROM_AUDIT,
  type Denial,
  denialOf,
  derivedFromAudit,
  expectChangedOnlyByDenials,
  notStateView,
  stable,
} from '../../support/audit-views.js';
import { erasureAndKeyJob } from '../../support/keys.js';
import { loadRouteTable, routeKey, routeName, uniqueName } from '../../support/routes.js';
import {
  expectErrorAt,
  readsOnly,
  SCIM_CT,
  SCIM_SHARED_PARAMS,
  scimBody,
} from '../../support/scim-routes.js';
import { describeEachStore } from '../../support/stores.js';

/** Rate limits off: these tests send many requests per second on purpose. */
const ENV = { ROSTER_RATE_LIMIT_TENANT: '0', ROSTER_RATE_LIMIT_GLOBAL: '0' };

/** The route table, read at collection time so that every route gets its own named tests. */
const ROUTES = await loadRouteTable();
const AUTH_MODES = ['public', 'any', 'platform', 'tenant', 'scoped'] as const;
/** The routes any valid credential may call (no permission): the API document and the log's public key. */
const OPEN_TO_ANY_CREDENTIAL = ['GET /api/v1/openapi.json', 'GET /api/v1/audit/public-key'];

// ---------------------------------------------------------------------------------------------------------
// How to call each route: path parameters, bodies and extra headers.

const u = uniqueName;

/** The things of one tenant that path parameters and bodies refer to. */
interface World {
  readonly tenantId: string;
  readonly token: string;
  readonly api: Client;
  /** The token's audit form (`token:<id>`): the actor of what `api` does, and of its denials. */
  readonly actor: string;
  /** An instant after everything the world was built with (holders are asked about it). */
  readonly at: string;
  /** In the group, holding a seat. */
  readonly userId: string;
  /** In no group, holding nothing. */
  readonly otherUserId: string;
  readonly groupId: string;
  readonly tokenId: string;
  /** An erasure record and a finished rotation job of this tenant's key. */
  readonly erasureId: string;
  readonly keyJobId: string;
  /** A custom role nobody holds (deletable). */
  readonly roleName: string;
  /** An admin account of the tenant (roles ['viewer'], never logged in). */
  readonly adminId: string;
  /** A product the first user holds a seat of (absent when the app has no license routes). */
  readonly sku?: string;
  /** A product the first user holds nothing of, whose pool has room. */
  readonly spareSku?: string;
  /** A pool no seat is taken from (deletable). */
  readonly idlePoolId?: string;
}

/** Path parameters by `<preceding segment>/:<name>`. */
const PARAMS: Record<string, (w: World, method: string) => string | undefined> = {
  'tenants/:id': (w) => w.tenantId,
  'users/:id': (w) => w.userId,
  'groups/:id': (w) => w.groupId,
  // PUT adds a member (so: someone not in the group yet), DELETE removes one.
  'members/:userId': (w, method) => (method === 'PUT' ? w.otherUserId : w.userId),
  'tokens/:id': (w) => w.tokenId,
  'pools/:id': (w) => w.idlePoolId,
  'licenses/:sku': (w) => w.sku,
  'products/:sku': (w) => w.sku,
  'erasure-requests/:id': (w) => w.erasureId,
  'jobs/:id': (w) => w.keyJobId,
  'roles/:name': (w) => w.roleName,
  'admins/:id': (w) => w.adminId,
  // SCIM: users and groups by id; the discovery routes name what every tenant shares.
  'Users/:id': (w) => w.userId,
  'Groups/:id': (w) => w.groupId,
  'Schemas/:id': () => SCIM_SHARED_PARAMS['Schemas/:id'],
  'ResourceTypes/:id': () => SCIM_SHARED_PARAMS['ResourceTypes/:id'],
};

/**
 * Query strings of the GET routes that require one (the Merkle-log routes): a valid request for world `w`.
 * The proofs need integrated entries: call `catchUp` on the tree first (tenant worlds have many entries).
 */
const QUERIES: Record<string, (w: World) => string> = {
  'GET /api/v1/audit/proofs/inclusion': () => 'index=0&treeSize=1',
  'GET /api/v1/audit/proofs/consistency': () => 'from=1&to=2',
  'GET /api/v1/audit/holders': (w) =>
    `${w.sku ? `product=${encodeURIComponent(w.sku)}` : `group=${w.groupId}`}&at=${encodeURIComponent(w.at)}`,
  'GET /api/v1/reports/compliance': () => `period=${new Date().toISOString().slice(0, 7)}`,
  // A fixed range (the default one ends at the request's time): 30 days back to a day ahead, by hour.
  'GET /api/v1/audit/activity': () => ACTIVITY_RANGE,
  // What background work keeps (request counts flushed every few seconds, usage sampled every minute) may
  // grow between two calls over a range that includes now: a day that ended before the test began.
  'GET /api/v1/requests/activity': () => PAST_DAY,
  'GET /api/v1/products/:sku/usage': () => PAST_DAY,
};

const PAST_DAY = `since=${encodeURIComponent(new Date(Date.now() - 2 * 86_400_000).toISOString())}&until=${encodeURIComponent(new Date(Date.now() - 86_400_000).toISOString())}`;

const ACTIVITY_RANGE = `since=${encodeURIComponent(new Date(Date.now() - 30 * 86_400_000).toISOString())}&until=${encodeURIComponent(new Date(Date.now() + 86_400_000).toISOString())}&bucket=hour`;

/** Fields an answer computes at request time, so that two identical requests differ in them. */
const GENERATED: Record<string, readonly string[]> = {
  'GET /api/v1/reports/compliance': ['generatedAt'],
};

/** A route's answer body without its request-time fields (each checked to be there, as an instant). */
function comparable(r: RouteEntry, body: unknown): unknown {
  const fields = GENERATED[routeKey(r)];
  if (!fields) return body;
  const copy = { ...(body as Record<string, unknown>) };
  for (const f of fields) {
    expect(Number.isNaN(Date.parse(String(copy[f]))), `${routeKey(r)}: ${f} ${copy[f]}`).toBe(false);
    delete copy[f];
  }
  return copy;
}

/** A password admin accounts accept (at least 12 characters). */
const ADMIN_PASSWORD = 'correct horse battery';

interface Call {
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** Every route that is not a GET needs an entry here: a valid request of the route for world `w`. */
const WRITES: Record<string, (w: World) => Call> = {
  'POST /api/v1/tenants': () => ({ body: { name: u('tenant') } }),
  'POST /api/v1/tokens': (w) => ({ body: { tenantId: w.tenantId, name: u('token') } }),
  'DELETE /api/v1/tokens/:id': () => ({}),
  'POST /api/v1/users': () => ({ body: { userName: `${u('user')}@example.com` } }),
  'PATCH /api/v1/users/:id': () => ({ body: { title: u('title') } }),
  'DELETE /api/v1/users/:id': () => ({}),
  'POST /api/v1/groups': () => ({ body: { displayName: u('group') } }),
  'PATCH /api/v1/groups/:id': () => ({ body: { description: u('description') } }),
  'DELETE /api/v1/groups/:id': () => ({}),
  'PUT /api/v1/groups/:id/members/:userId': () => ({}),
  'DELETE /api/v1/groups/:id/members/:userId': () => ({}),
  'POST /api/v1/products': () => ({ body: { sku: u('SKU'), name: 'Product' } }),
  'POST /api/v1/pools': (w) => ({ body: { product: w.sku, name: u('pool'), capacity: 3 } }),
  'PATCH /api/v1/pools/:id': () => ({ body: { capacity: 7 } }),
  'DELETE /api/v1/pools/:id': () => ({}),
  'POST /api/v1/users/:id/licenses': (w) => ({ body: { product: w.spareSku } }),
  'DELETE /api/v1/users/:id/licenses/:sku': () => ({}),
  'POST /api/v1/users/:id/offboard': () => ({}),
  'POST /api/v1/roles': () => ({ body: { name: u('role'), permissions: ['users:read'] } }),
  'PATCH /api/v1/roles/:name': () => ({ body: { description: u('description') } }),
  'DELETE /api/v1/roles/:name': () => ({}),
  'POST /api/v1/admins': () => ({
    body: { username: u('admin'), password: ADMIN_PASSWORD, roles: ['viewer'] },
  }),
  // A real change each time: a timed auditor grant ending at a new instant (the caller must be able to grant
  // viewer and auditor, the roles the account holds and gets).
  'PATCH /api/v1/admins/:id': () => ({
    body: {
      roles: ['viewer', { role: 'auditor', expiresAt: new Date(Date.now() + 86_400_000).toISOString() }],
      disabled: false,
    },
  }),
  'DELETE /api/v1/admins/:id/totp': () => ({}),
  'POST /api/v1/erasure-requests': (w) => ({ body: { userId: w.otherUserId } }),
  'POST /api/v1/keys/rotate': () => ({}),
  'POST /api/v1/tenants/:id/keys/rotate': () => ({}),
  'POST /api/v1/onboardings': () => ({
    body: { user: { userName: `${u('joiner')}@example.com` }, products: [] },
    headers: { 'idempotency-key': u('idem') },
  }),
  // SCIM 2.0 (RFC 7644), in its own media type; every call a new userName or displayName.
  'POST /scim/v2/Users/.search': () => ({ body: scimBody.search(), headers: SCIM_CT }),
  'POST /scim/v2/Users': () => ({ body: scimBody.user(`${u('scim')}@example.com`), headers: SCIM_CT }),
  'PUT /scim/v2/Users/:id': () => ({
    body: scimBody.user(`${u('scim-put')}@example.com`, { title: u('title') }),
    headers: SCIM_CT,
  }),
  'PATCH /scim/v2/Users/:id': () => ({ body: scimBody.patch('title', u('title')), headers: SCIM_CT }),
  'DELETE /scim/v2/Users/:id': () => ({}),
  'POST /scim/v2/Groups/.search': () => ({ body: scimBody.search(), headers: SCIM_CT }),
  'POST /scim/v2/Groups': () => ({ body: scimBody.group(u('scim-group')), headers: SCIM_CT }),
  'PUT /scim/v2/Groups/:id': () => ({ body: scimBody.group(u('scim-put')), headers: SCIM_CT }),
  'PATCH /scim/v2/Groups/:id': () => ({
    body: scimBody.patch('displayName', u('scim-patch')),
    headers: SCIM_CT,
  }),
  'DELETE /scim/v2/Groups/:id': () => ({}),
  'POST /scim/v2/.search': () => ({ body: scimBody.search(), headers: SCIM_CT }),
  'POST /scim/v2/Bulk': () => ({ body: scimBody.bulkUser(`${u('bulk')}@example.com`), headers: SCIM_CT }),
};

/**
 * Scoped routes whose platform side is a set of its own, apart from the tenants' (tokens, by contrast, are one
 * set the platform sees whole): the audit log's platform trail and the platform's admin accounts. Without
 * Roster-Tenant a platform token sees that set only.
 */
const PLATFORM_APART = ['/api/v1/audit/', '/api/v1/admins'];

/**
 * The single items of such sets: a tenant's item is not found in the platform's set (and the reverse). `make`
 * creates an item of the platform's set with the platform token `admin` and answers the world's fields that
 * name it; `notFound` is the code a set without the item answers.
 */
const PLATFORM_ITEMS: Record<
  string,
  { readonly notFound: string; readonly make: (admin: Client) => Promise<Partial<World>> }
> = {
  'GET /api/v1/admins/:id': {
    notFound: 'admins.not_found',
    make: async (admin) => {
      const res = await admin.post('/api/v1/admins', {
        username: u('platform-admin'),
        password: ADMIN_PASSWORD,
        roles: ['viewer'],
      });
      expect(res.status, res.raw).toBe(201);
      expect(res.body.tenantId).toBeNull();
      return { adminId: res.body.id };
    },
  },
};

/** A request of a public login or session route without valid credentials, and what it answers. */
interface PublicCall {
  readonly label: string;
  /** Built per request: a login names a fresh account each time, so that no account gets locked. */
  readonly body?: () => unknown;
  readonly status: number;
  /** The problem code of a refusal (absent for a 2xx). */
  readonly code?: string;
}

/** A challenge no login step issued. */
const bogusChallenge = () => randomBytes(32).toString('base64url');

/**
 * What every public route answers, by route. The probes answer 200 to anyone. The login and session routes
 * take no bearer token (they read the session cookie themselves), so without valid credentials they refuse
 * (or, logging out, have nothing to end). A public route missing here fails the route-table test: someone
 * must say what it answers before it is public.
 */
const PUBLIC: Record<string, 'probe' | 'console' | readonly PublicCall[]> = {
  'GET /console': 'console',
  'GET /console/*': 'console',
  'GET /healthz': 'probe',
  'GET /readyz': 'probe',
  'POST /api/v1/auth/login': [
    {
      label: 'an unknown platform account',
      body: () => ({ username: u('nobody'), password: ADMIN_PASSWORD }),
      status: 401,
      code: 'auth.login_failed',
    },
    {
      label: 'an unknown tenant',
      body: () => ({ tenant: u('no-tenant'), username: u('nobody'), password: ADMIN_PASSWORD }),
      status: 401,
      code: 'auth.login_failed',
    },
    {
      label: 'no password',
      body: () => ({ username: u('nobody') }),
      status: 422,
      code: 'request.validation_failed',
    },
  ],
  'POST /api/v1/auth/login/totp': [
    {
      label: 'an unknown challenge and a code',
      body: () => ({ challenge: bogusChallenge(), code: '123456' }),
      status: 401,
      code: 'auth.challenge_invalid',
    },
    {
      label: 'an unknown challenge and a recovery code',
      body: () => ({ challenge: bogusChallenge(), recoveryCode: 'abcd-efgh-ijkl' }),
      status: 401,
      code: 'auth.challenge_invalid',
    },
    {
      label: 'neither a code nor a recovery code',
      body: () => ({ challenge: bogusChallenge() }),
      status: 422,
      code: 'request.validation_failed',
    },
  ],
  'POST /api/v1/auth/totp/enrol': [
    {
      label: 'an unknown challenge',
      body: () => ({ challenge: bogusChallenge(), code: '123456' }),
      status: 401,
      code: 'auth.challenge_invalid',
    },
    {
      label: 'a code that is no code',
      body: () => ({ challenge: bogusChallenge(), code: '12ab' }),
      status: 422,
      code: 'request.validation_failed',
    },
  ],
  // Nothing to end: the answer is the same as for a session, and the cookie is cleared.
  'POST /api/v1/auth/logout': [{ label: 'no session', status: 204 }],
  'GET /api/v1/auth/session': [{ label: 'no session', status: 401, code: 'auth.unauthenticated' }],
  'POST /api/v1/auth/password': [
    {
      label: 'no session',
      body: () => ({ currentPassword: ADMIN_PASSWORD, newPassword: `${ADMIN_PASSWORD} again` }),
      status: 401,
      code: 'auth.unauthenticated',
    },
    {
      label: 'no new password',
      body: () => ({ currentPassword: ADMIN_PASSWORD }),
      status: 422,
      code: 'request.validation_failed',
    },
  ],
};

function paramsOf(url: string): { name: string; key: string }[] {
  const segs = url.split('/');
  return segs.flatMap((s, i) =>
    s.startsWith(':') ? [{ name: s.slice(1), key: `${segs[i - 1]}/${s}` }] : [],
  );
}

/** Why the generator cannot call a route, or undefined when it can. */
function unknownPart(r: RouteEntry): string | undefined {
  for (const p of paramsOf(r.url)) if (!PARAMS[p.key]) return `no filler for path parameter ${p.key}`;
  if (r.method !== 'GET' && !WRITES[routeKey(r)]) return 'no request body/headers known for this write';
  return undefined;
}

function fillUrl(r: RouteEntry, w: World): string {
  let url = r.url;
  for (const p of paramsOf(r.url)) {
    const v = PARAMS[p.key]?.(w, r.method);
    if (v === undefined) throw new Error(`${routeKey(r)}: the world has nothing for ${p.key}`);
    url = url.replace(`:${p.name}`, encodeURIComponent(v));
  }
  const query = QUERIES[routeKey(r)]?.(w);
  return query === undefined ? url : `${url}?${query}`;
}

/** Sends route `r` for world `w` with exactly the given credentials header (or none). */
async function send(
  c: Client,
  r: RouteEntry,
  w: World,
  headers: Record<string, string> = {},
  authorization?: string,
): Promise<Answer> {
  const call = WRITES[routeKey(r)]?.(w) ?? {};
  const h: Record<string, string> = { ...(call.headers ?? {}), ...headers };
  if (authorization !== undefined) h.authorization = authorization;
  if (call.body !== undefined) h['content-type'] ??= 'application/json';
  return c.raw(r.method, fillUrl(r, w), call.body === undefined ? '' : JSON.stringify(call.body), h);
}

/** A 401 with a Bearer challenge: problem+json, or under /scim/v2 (`url`) the SCIM error schema. */
function expectUnauthenticated(res: Answer, what: string, url = ''): void {
  expect(res.status, `${what}: ${res.raw}`).toBe(401);
  expect(res.headers['www-authenticate'], what).toMatch(/^Bearer\b/);
  expectErrorAt(url, res, 401, 'auth.unauthenticated', what);
  if (!url.startsWith('/scim/')) {
    expect(String(res.headers['content-type']), what).toMatch(/^application\/problem\+json/);
    expect(res.body?.code, what).toBe('auth.unauthenticated');
    expect(res.body?.type, what).toBe('urn:roster:problem:auth.unauthenticated');
  }
}

const is2xx = (res: Answer) => res.status >= 200 && res.status < 300;

// ---------------------------------------------------------------------------------------------------------

describeEachStore(
  'authentication and authorisation of every route (generated from the route table)',
  (kind) => {
    const t = useTestApp(kind, ENV, { keyCache: { versionCheckMs: 20 } });
    const hasRoute = (method: string, url: string) =>
      ROUTES.some((r) => r.method === method && r.url === url);

    /** A tenant's world: two users (the first in a group and holding a seat), a group, a token, pools. */
    async function world(tenant?: { tenantId: string; token: string; api: Client }): Promise<World> {
      const { tenantId, token: secret, api } = tenant ?? (await t().newTenant());
      const user = await api.post('/api/v1/users', {
        userName: `${u('alice')}@example.com`,
        // Seat allocation for a user without a location has its own test (errors.test.ts).
        location: { site: 'ber-1', country: 'DE' },
        emails: [{ value: `${u('alice')}@example.com` }],
      });
      expect(user.status, user.raw).toBe(201);
      const other = await api.post('/api/v1/users', {
        userName: `${u('bob')}@example.com`,
        location: { site: 'ber-1', country: 'DE' },
      });
      expect(other.status, other.raw).toBe(201);
      const group = await api.post('/api/v1/groups', { displayName: u('group'), members: [user.body.id] });
      expect(group.status, group.raw).toBe(201);
      const token = await t().admin.post('/api/v1/tokens', { tenantId, name: u('spare') });
      expect(token.status, token.raw).toBe(201);
      const roleName = u('role');
      const role = await api.post('/api/v1/roles', { name: roleName, permissions: ['users:read'] });
      expect(role.status, role.raw).toBe(201);
      const admin = await api.post('/api/v1/admins', {
        username: u('admin'),
        password: ADMIN_PASSWORD,
        roles: ['viewer'],
      });
      expect(admin.status, admin.raw).toBe(201);
      expect(admin.body.tenantId).toBe(tenantId);
      let sku: string | undefined;
      let spareSku: string | undefined;
      let idlePoolId: string | undefined;
      if (hasRoute('POST', '/api/v1/products') && hasRoute('POST', '/api/v1/pools')) {
        sku = u('SKU');
        const spare = u('SKU');
        spareSku = spare;
        for (const s of [sku, spare]) {
          const p = await api.post('/api/v1/products', { sku: s, name: s });
          expect(p.status, p.raw).toBe(201);
        }
        const pool = await api.post('/api/v1/pools', { product: sku, name: u('pool'), capacity: 5 });
        expect(pool.status, pool.raw).toBe(201);
        const idle = await api.post('/api/v1/pools', { product: spare, name: u('pool'), capacity: 5 });
        expect(idle.status, idle.raw).toBe(201);
        idlePoolId = idle.body.id;
        if (hasRoute('POST', '/api/v1/users/:id/licenses')) {
          const seat = await api.post(`/api/v1/users/${user.body.id}/licenses`, { product: sku });
          expect(seat.status, seat.raw).toBe(201);
        }
      }
      return {
        tenantId,
        token: secret,
        api,
        userId: user.body.id,
        otherUserId: other.body.id,
        groupId: group.body.id,
        tokenId: token.body.id,
        roleName,
        adminId: admin.body.id,
        ...(await erasureAndKeyJob(t(), api, tenantId)),
        actor: await actorOf(api, user.body.id),
        at: new Date().toISOString(),
        ...(sku ? { sku } : {}),
        ...(spareSku ? { spareSku } : {}),
        ...(idlePoolId ? { idlePoolId } : {}),
      };
    }

    /** Everything the tenant and the platform scope can see of themselves (for "nothing changed"). */
    async function everything(w: World): Promise<unknown> {
      const views: Record<string, unknown> = {};
      for (const r of ROUTES) {
        // Probes, metrics (they count requests) and the API document are not state.
        if (r.method !== 'GET' || r.auth === 'public') continue;
        if (r.url === '/metrics' || r.url.endsWith('/openapi.json')) continue;
        // Nor what is derived from the audit trail (the trail itself is compared in full below): the Merkle-log
        // routes answer from what the background integrator has integrated and signed so far, which grows
        // while no request changes anything.
        if (notStateView(r)) continue;
        // Its first page: the whole trail is compared below, where a 403's access.denied entries are counted.
        if (routeKey(r) === 'GET /api/v1/audit/entries') continue;
        if (unknownPart(r)) continue;
        if (r.auth !== 'platform') {
          const tenantSide = await send(w.api, r, w);
          views[`tenant ${routeKey(r)}`] = { status: tenantSide.status, body: stable(tenantSide.body) };
        }
        if (r.auth === 'platform' || r.auth === 'scoped') {
          const platformSide = await send(t().admin, r, w);
          views[`platform ${routeKey(r)}`] = { status: platformSide.status, body: stable(platformSide.body) };
        }
      }
      views.audit = await auditTrail(w.api);
      views.platformAudit = await auditTrail(t().admin);
      return views;
    }

    interface Creds {
      readonly w: World;
      /** Tenant-bound and platform-wide secrets, each once valid, now expired or revoked. */
      readonly dead: { label: string; secret: string }[];
    }
    let credsP: Promise<Creds> | undefined;
    /** Built once per store: expired tokens are minted with a short expiry, shown to work, then outlived. */
    function creds(): Promise<Creds> {
      credsP ??= (async () => {
        const w = await world();
        const expiresAt = new Date(Date.now() + 1500).toISOString();
        const mint = async (tenantId: string | null, expires: boolean) => {
          const res = await t().admin.post('/api/v1/tokens', {
            tenantId,
            name: u('short'),
            roles: [tenantId === null ? 'platform-admin' : 'tenant-admin'],
            ...(expires ? { expiresAt } : {}),
          });
          expect(res.status, res.raw).toBe(201);
          return res.body as { id: string; token: string };
        };
        const expiredTenant = await mint(w.tenantId, true);
        const expiredPlatform = await mint(null, true);
        const revokedTenant = await mint(w.tenantId, false);
        const revokedPlatform = await mint(null, false);
        // Every one of them works first: a 401 later is then the expiry's or the revocation's doing.
        for (const tok of [expiredTenant, revokedTenant]) {
          const ok = await t().client(tok.token).get(`/api/v1/tenants/${w.tenantId}`);
          expect(ok.status, ok.raw).toBe(200);
        }
        for (const tok of [expiredPlatform, revokedPlatform]) {
          const ok = await t().client(tok.token).get('/api/v1/tenants');
          expect(ok.status, ok.raw).toBe(200);
        }
        for (const tok of [revokedTenant, revokedPlatform]) {
          const del = await t().admin.delete(`/api/v1/tokens/${tok.id}`);
          expect(del.status, del.raw).toBe(200);
          expect(del.body.revokedAt).toEqual(expect.any(String));
        }
        const wait = Date.parse(expiresAt) - Date.now() + 100;
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const dead = [
          { label: 'expired tenant token', secret: expiredTenant.token },
          { label: 'expired platform token', secret: expiredPlatform.token },
          { label: 'revoked tenant token', secret: revokedTenant.token },
          { label: 'revoked platform token', secret: revokedPlatform.token },
        ];
        return { w, dead };
      })();
      return credsP;
    }

    /** Header values that must never authenticate, built around a secret that would. */
    function malformed(secret: string): string[] {
      return [
        '',
        'Bearer',
        'Bearer ',
        secret,
        `Basic ${Buffer.from(`user:${secret}`).toString('base64')}`,
        `Basic ${secret}`,
        `Token ${secret}`,
        `BearerX ${secret}`,
        `Bearer:${secret}`,
        `Bearer "${secret}"`,
        `Bearer ${secret} ${secret}`,
        `Bearer ${secret},`,
        `Bearer ${secret.slice(0, 8)}`,
        `Bearer ${'A'.repeat(600)}`,
      ];
    }

    function unknown(secret: string): string[] {
      const flipped = secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A');
      return [
        `Bearer rst_${randomBytes(32).toString('base64url')}`,
        `Bearer ${flipped}`,
        `Bearer ${secret}x`,
        `Bearer ${secret.slice(0, -1)}`,
        `Bearer ${ADMIN_TOKEN.toUpperCase()}`,
      ];
    }

    // ------------------------------------------------------------------------------------------------
    it('the route table is the app’s, lists every mode, and the generator knows how to call every route', () => {
      expect(t().app.http.routeTable.map((r) => ({ ...r }))).toEqual(ROUTES);
      for (const r of ROUTES) expect(AUTH_MODES, routeName(r)).toContain(r.auth);
      expect(new Set(ROUTES.map(routeKey)).size, 'duplicate routes').toBe(ROUTES.length);
      // A vacuous table would make every generated test vacuous.
      for (const mode of ['public', 'any', 'platform', 'tenant', 'scoped'] as const)
        expect(
          ROUTES.some((r) => r.auth === mode),
          `no ${mode} route`,
        ).toBe(true);
      // Public is a decision: the exact set, so that a new public route fails here until it is looked at.
      const publicRoutes = [
        'GET /api/v1/auth/session',
        'GET /console',
        'GET /console/*',
        'GET /healthz',
        'GET /readyz',
        'POST /api/v1/auth/login',
        'POST /api/v1/auth/login/totp',
        'POST /api/v1/auth/logout',
        'POST /api/v1/auth/password',
        'POST /api/v1/auth/totp/enrol',
      ];
      expect(
        ROUTES.filter((r) => r.auth === 'public')
          .map(routeKey)
          .sort(),
      ).toEqual(publicRoutes);
      expect(Object.keys(PUBLIC).sort(), 'what each public route answers').toEqual(publicRoutes);
      const unknownRoutes = ROUTES.flatMap((r) => {
        const why =
          r.auth === 'public'
            ? PUBLIC[routeKey(r)]
              ? undefined
              : 'nobody said what this public route answers'
            : unknownPart(r);
        return why ? [`${routeName(r)}: ${why}`] : [];
      });
      expect(unknownRoutes).toEqual([]);
      // The generator's tables name routes of the app (a renamed route must not leave them stale).
      for (const key of [
        ...Object.keys(QUERIES),
        ...Object.keys(GENERATED),
        ...DERIVED_FROM_AUDIT,
        ...Object.keys(PLATFORM_ITEMS),
      ])
        expect(ROUTES.map(routeKey), key).toContain(key);
      for (const prefix of PLATFORM_APART)
        expect(
          ROUTES.some((r) => r.auth === 'scoped' && r.url.startsWith(prefix)),
          prefix,
        ).toBe(true);
      for (const key of Object.keys(PLATFORM_ITEMS))
        expect(ROUTES.find((r) => routeKey(r) === key)?.auth, key).toBe('scoped');
    });

    // ------------------------------------------------------------------------------------------------
    describe('401 on every non-public route', () => {
      for (const r of ROUTES.filter((x) => x.auth !== 'public')) {
        it(`${routeName(r)}: no token, malformed header, unknown, expired and revoked tokens answer 401`, async () => {
          if (unknownPart(r)) throw new Error(`${routeName(r)}: ${unknownPart(r)}`);
          const { w, dead } = await creds();
          // Malformed headers are built around a secret that would work on this route for this world.
          const goodSecret = r.auth === 'platform' ? ADMIN_TOKEN : w.token;
          const anon = t().client(undefined);
          const headers: Record<string, string> =
            r.auth === 'tenant' || r.auth === 'scoped' ? { 'roster-tenant': w.tenantId } : {};
          const before = await everything(w);
          expectUnauthenticated(await send(anon, r, w, headers), 'no Authorization header', r.url);
          for (const h of malformed(goodSecret))
            expectUnauthenticated(
              await send(anon, r, w, headers, h),
              `malformed ${JSON.stringify(h)}`,
              r.url,
            );
          for (const h of unknown(goodSecret))
            expectUnauthenticated(await send(anon, r, w, headers, h), h, r.url);
          for (const d of dead)
            expectUnauthenticated(await send(anon, r, w, headers, `Bearer ${d.secret}`), d.label, r.url);
          if (r.method === 'GET') {
            const head = await anon.raw('HEAD', fillUrl(r, w), '', headers);
            expect(head.status, 'HEAD without a token').toBe(401);
            expect(head.headers['www-authenticate'], 'HEAD without a token').toMatch(/^Bearer\b/);
          }
          expect(await everything(w)).toEqual(before);
        });
      }
    });

    describe('public routes answer without a token', () => {
      /** What a caller learns from an answer (not its request id). */
      const summary = (res: Answer) => ({
        status: res.status,
        contentType: String(res.headers['content-type'] ?? '').split(';')[0],
        code: res.body?.code,
        type: res.body?.type,
        raw: res.body?.code === undefined ? res.raw : undefined,
      });

      for (const r of ROUTES.filter((x) => x.auth === 'public')) {
        const expected = PUBLIC[routeKey(r)];
        if (expected === 'console') {
          // The admin console's static files: the page (also for its client routes) to anyone, no data in it;
          // everything it shows comes from the API, which needs the session.
          it(`${routeName(r)} serves the console page without a token, and ignores a bad one`, async () => {
            const anon = t().client(undefined);
            const path = r.url === '/console' ? '/console' : '/console/users';
            const variants: Record<string, string>[] = [
              {},
              { authorization: 'Bearer not-a-valid-token-at-all' },
            ];
            for (const headers of variants) {
              const res = await anon.raw('GET', path, '', headers);
              expect(res.status, res.raw.slice(0, 200)).toBe(200);
              expect(String(res.headers['content-type'])).toMatch(/^text\/html/);
              expect(String(res.headers['content-security-policy'])).toMatch(/default-src 'self'/);
            }
          });
          continue;
        }
        if (expected === 'probe') {
          it(`${routeName(r)} answers 200 without a token, and ignores a bad one`, async () => {
            const anon = t().client(undefined);
            const res = await anon.raw(r.method, r.url, '', {});
            expect(res.status, res.raw).toBe(200);
            const junk = await anon.raw(r.method, r.url, '', {
              authorization: 'Bearer not-a-valid-token-at-all',
            });
            expect(junk.status, junk.raw).toBe(200);
            if (r.method === 'GET') expect((await anon.raw('HEAD', r.url, '', {})).status).toBe(200);
          });
          continue;
        }
        it(`${routeName(r)} needs no bearer token, ignores one, and refuses without valid credentials`, async () => {
          if (!expected) throw new Error(`${routeName(r)}: nobody said what this public route answers`);
          const tenant = await t().newTenant();
          const anon = t().client(undefined);
          // None of these is a session: each must change nothing (a valid bearer token included).
          const ignored: { label: string; headers: Record<string, string> }[] = [
            {
              label: 'a malformed bearer token',
              headers: { authorization: 'Bearer not-a-valid-token-at-all' },
            },
            { label: "a tenant's valid bearer token", headers: { authorization: `Bearer ${tenant.token}` } },
            { label: 'the platform admin token', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } },
            {
              label: 'an unknown session cookie',
              headers: { cookie: `roster_session=${randomBytes(32).toString('base64url')}` },
            },
          ];
          for (const c of expected) {
            const call = (headers: Record<string, string>) => {
              const body = c.body?.();
              return anon.raw(r.method, r.url, body === undefined ? '' : JSON.stringify(body), {
                ...(body === undefined ? {} : { 'content-type': 'application/json' }),
                ...headers,
              });
            };
            const check = (res: Answer, what: string) => {
              expect(res.status, `${what}: ${res.raw}`).toBeLessThan(500);
              expect(res.status, `${what}: ${res.raw}`).toBe(c.status);
              if (c.code === undefined) {
                expect(res.raw, what).toBe('');
                // Logging out clears the cookie, whether or not there was a session.
                const cookie = [res.headers['set-cookie']].flat().join('\n');
                expect(cookie, what).toMatch(/^roster_session=;/);
                expect(cookie, what).toMatch(/Max-Age=0/i);
                return;
              }
              expect([401, 422], what).toContain(res.status);
              expect(String(res.headers['content-type']), what).toMatch(/^application\/problem\+json/);
              expect(res.body?.code, what).toBe(c.code);
              expect(res.body?.type, what).toBe(`urn:roster:problem:${c.code}`);
            };
            const plain = await call({});
            check(plain, c.label);
            for (const v of ignored) {
              const res = await call(v.headers);
              check(res, `${c.label}, with ${v.label}`);
              expect(summary(res), `${c.label}, with ${v.label}`).toEqual(summary(plain));
            }
            if (r.method === 'GET') {
              const head = await anon.raw('HEAD', r.url, '', {});
              expect(head.status, `HEAD, ${c.label}`).toBe(c.status);
            }
          }
        });
      }
    });

    // ------------------------------------------------------------------------------------------------
    describe('platform routes: tenant tokens get 403, platform tokens get through', () => {
      for (const r of ROUTES.filter((x) => x.auth === 'platform')) {
        it(`${routeName(r)}: a tenant token gets 403 auth.forbidden and changes nothing`, async () => {
          if (unknownPart(r)) throw new Error(`${routeName(r)}: ${unknownPart(r)}`);
          const w = await world();
          const before = await everything(w);
          const denials: Denial[] = [];
          for (const headers of [{}, { 'roster-tenant': w.tenantId }] as Record<string, string>[]) {
            const res = await send(w.api, r, w, headers);
            expect(res.status, res.raw).toBe(403);
            expect(res.body.code).toBe('auth.forbidden');
            expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
            denials.push(
              denialOf(res, {
                tenantId: w.tenantId,
                actor: w.actor,
                method: r.method,
                route: r.url,
                code: 'auth.forbidden',
                permission: r.permission,
              }),
            );
          }
          // Nothing changed but the caller's tenant trail: one access.denied entry per refused request.
          expectChangedOnlyByDenials(before, await everything(w), { audit: denials, platformAudit: [] });
          // The same request with a platform token goes through (so the 403 was the token's doing).
          for (const secret of [ADMIN_TOKEN, (await mintPlatform()).token]) {
            const ok = await send(t().client(secret), r, w);
            expect(is2xx(ok), `platform token: ${ok.status} ${ok.raw.slice(0, 300)}`).toBe(true);
            if (r.method !== 'GET') break; // a write is done once
          }
        });
      }
    });

    async function mintPlatform(): Promise<{ id: string; token: string }> {
      const res = await t().admin.post('/api/v1/tokens', { name: u('platform'), roles: ['platform-admin'] });
      expect(res.status, res.raw).toBe(201);
      expect(res.body.tenantId).toBeNull();
      return res.body;
    }

    // ------------------------------------------------------------------------------------------------
    describe('tenant routes: platform tokens need Roster-Tenant', () => {
      for (const r of ROUTES.filter((x) => x.auth === 'tenant')) {
        it(`${routeName(r)}: a platform token without Roster-Tenant gets 403 auth.tenant_required; with it, it works`, async () => {
          if (unknownPart(r)) throw new Error(`${routeName(r)}: ${unknownPart(r)}`);
          const w = await world();
          const platform = await mintPlatform();
          const before = await everything(w);
          const denials: Denial[] = [];
          for (const secret of [ADMIN_TOKEN, platform.token]) {
            for (const headers of [{}, { 'roster-tenant': '' }] as Record<string, string>[]) {
              const res = await send(t().client(secret), r, w, headers);
              expect(res.status, res.raw).toBe(403);
              expect(res.body.code).toBe('auth.tenant_required');
              expectErrorAt(r.url, res, 403, 'auth.tenant_required');
              denials.push(
                denialOf(res, {
                  tenantId: null,
                  actor: secret === ADMIN_TOKEN ? ADMIN_ACTOR : `token:${platform.id}`,
                  method: r.method,
                  route: r.url,
                  code: 'auth.tenant_required',
                }),
              );
            }
            const nowhere = await send(t().client(secret), r, w, {
              'roster-tenant': '01900000-0000-7000-8000-000000000000',
            });
            expect(nowhere.status, nowhere.raw).toBe(404);
            expect(nowhere.body.code).toBe('tenants.not_found');
            expectErrorAt(r.url, nowhere, 404, 'tenants.not_found');
          }
          // Platform tokens (tenant null): their refusals are in the platform trail, the tenant's is untouched;
          // the 404s for an unknown tenant are no refusal and write nothing.
          expectChangedOnlyByDenials(before, await everything(w), { audit: [], platformAudit: denials });

          // With the header, the platform token acts on that tenant.
          const auditBefore = await auditTrail(w.api);
          const res = await send(t().client(platform.token), r, w, { 'roster-tenant': w.tenantId });
          expect(is2xx(res), `${res.status} ${res.raw.slice(0, 300)}`).toBe(true);
          // A read (a GET, or a SCIM search through POST) answers as for the tenant's own token; a write is
          // audited in the named tenant.
          if (readsOnly(r)) {
            const own = await send(w.api, r, w);
            expect(own.status).toBe(res.status);
            expect(comparable(r, res.body)).toEqual(comparable(r, own.body));
          } else {
            const added = (await auditTrail(w.api)).slice(auditBefore.length);
            expect(added.length, 'the write is audited in the named tenant').toBeGreaterThan(0);
            for (const e of added) {
              expect(e.tenantId).toBe(w.tenantId);
              expect(e.actor).toBe(`token:${platform.id}`);
            }
          }
        });
      }
    });

    describe('scoped and any routes', () => {
      for (const r of ROUTES.filter((x) => x.auth === 'scoped' && x.method === 'GET')) {
        it(`${routeName(r)}: tenant tokens see their tenant, platform tokens the platform or the named tenant`, async () => {
          if (unknownPart(r)) throw new Error(`${routeName(r)}: ${unknownPart(r)}`);
          const w = await world();
          // The Merkle-log routes answer from integrated entries: integrate and sign both trees first, so that
          // the proofs' ranges are valid and checkpoints/latest exists (no checkpoint yet answers 404), and so
          // that the background integrator has nothing left to move between the answers compared below.
          expect(await t().app.integrator.catchUp(w.tenantId), 'tenant checkpoint').toBeDefined();
          expect(await t().app.integrator.catchUp('platform'), 'platform checkpoint').toBeDefined();
          const own = await send(w.api, r, w);
          expect(own.status, own.raw).toBe(200);
          const named = await send(t().admin, r, w, { 'roster-tenant': w.tenantId });
          expect(named.status, named.raw).toBe(200);
          expect(named.body).toEqual(own.body);
          const platform = await send(t().admin, r, w);
          const apart = PLATFORM_ITEMS[routeKey(r)];
          if (apart) {
            // The tenant's item is not in the platform's set; the platform's own is, and no tenant sees it.
            expect(platform.status, platform.raw).toBe(404);
            expect(platform.body.code).toBe(apart.notFound);
            const pw: World = { ...w, ...(await apart.make(t().admin)) };
            const mine = await send(t().admin, r, pw);
            expect(mine.status, mine.raw).toBe(200);
            expect(mine.body.tenantId).toBeNull();
            for (const [label, res] of [
              ['tenant token', await send(w.api, r, pw)],
              [
                'platform token naming the tenant',
                await send(t().admin, r, pw, { 'roster-tenant': w.tenantId }),
              ],
            ] as const) {
              expect(res.status, `${label}: ${res.raw}`).toBe(404);
              expect(res.body.code, label).toBe(apart.notFound);
            }
          } else {
            expect(platform.status, platform.raw).toBe(200);
          }
          // The audit log and the admin accounts have a platform set of their own; tokens are one set, which the
          // platform sees whole.
          if (PLATFORM_APART.some((prefix) => r.url.startsWith(prefix))) {
            expect(platform.body).not.toEqual(own.body);
            for (const item of (platform.body.items ?? []) as { tenantId?: unknown }[])
              if ('tenantId' in item) expect(item.tenantId).toBeNull();
          }
          for (const item of (own.body.items ?? []) as { tenantId?: unknown }[])
            if ('tenantId' in item) expect(item.tenantId).toBe(w.tenantId);
        });
      }
      for (const r of ROUTES.filter((x) => x.auth === 'any')) {
        it(`${routeName(r)}: tenant and platform tokens both get through`, async () => {
          if (unknownPart(r)) throw new Error(`${routeName(r)}: ${unknownPart(r)}`);
          const w = await world();
          for (const c of [w.api, t().admin, t().client((await mintPlatform()).token)]) {
            const res = await send(c, r, w);
            expect(is2xx(res), `${res.status} ${res.raw.slice(0, 300)}`).toBe(true);
          }
        });
      }
    });

    // ------------------------------------------------------------------------------------------------
    describe('every route x every built-in role, and custom roles (generated from the route table)', () => {
      it('every non-public route names a permission of the catalogue, of its own scope', () => {
        for (const r of ROUTES.filter((x) => x.auth !== 'public')) {
          expect(r.permission, `${routeName(r)} names no permission`).toBeDefined();
          if (r.permission === ANY_AUTHENTICATED) {
            expect(OPEN_TO_ANY_CREDENTIAL, `${routeName(r)} is open to any credential`).toContain(
              routeKey(r),
            );
            continue;
          }
          expect(isPermission(String(r.permission)), `${routeName(r)}: ${r.permission}`).toBe(true);
          const platformOnly = PLATFORM_PERMISSIONS.has(r.permission as Permission);
          expect(platformOnly, `${routeName(r)}: ${r.permission}`).toBe(r.auth === 'platform');
        }
        for (const key of OPEN_TO_ANY_CREDENTIAL) expect(ROUTES.map(routeKey), key).toContain(key);
      });

      /** What role `perms` may do on route `r` with the generator's request. */
      function allows(r: RouteEntry, perms: readonly string[], w: World): boolean {
        if (r.permission === ANY_AUTHENTICATED) return true;
        if (r.auth === 'platform') return false; // a tenant-bound token, whatever its roles
        if (perms.includes(String(r.permission))) return true;
        const narrower = r.narrower;
        if (!narrower || !perms.includes(narrower.permission)) return false;
        const body = WRITES[routeKey(r)]?.(w).body;
        return (
          typeof body === 'object' &&
          body !== null &&
          Object.keys(body).every((k) => narrower.fields.includes(k))
        );
      }

      for (const r of ROUTES.filter((x) => x.auth !== 'public')) {
        it(`${routeName(r)}: each role gets through exactly when it holds ${r.permission}`, async () => {
          if (unknownPart(r)) throw new Error(`${routeName(r)}: ${unknownPart(r)}`);
          const w = await world();
          if (derivedFromAudit(r) || routeKey(r) === 'GET /api/v1/audit/entries') {
            await t().app.integrator.catchUp(w.tenantId);
            await t().app.integrator.catchUp('platform');
          }
          const callers: { label: string; perms: readonly string[]; client: Client; actor: string }[] = [];
          const mint = async (label: string, roles: string[], perms: readonly string[]) => {
            const res = await w.api.post('/api/v1/tokens', { name: u(label), roles });
            expect(res.status, res.raw).toBe(201);
            callers.push({ label, perms, client: t().client(res.body.token), actor: `token:${res.body.id}` });
          };
          for (const [name, role] of Object.entries(BUILT_IN_ROLES)) {
            if (name !== 'platform-admin') await mint(name, [name], role.permissions);
          }
          // Custom roles: exactly the route's permission, and every tenant permission but it.
          if (r.permission !== ANY_AUTHENTICATED && !PLATFORM_PERMISSIONS.has(r.permission as Permission)) {
            for (const [label, perms] of [
              ['only-it', [String(r.permission)]],
              ['all-but-it', TENANT_PERMISSIONS.filter((p) => p !== r.permission)],
            ] as const) {
              const name = u(`custom-${label}`);
              const role = await w.api.post('/api/v1/roles', { name, permissions: perms });
              expect(role.status, role.raw).toBe(201);
              await mint(`custom ${label}`, [name], perms);
            }
          }
          const denied = callers.filter((c) => !allows(r, c.perms, w));
          const allowed = callers.filter((c) => allows(r, c.perms, w));
          const before = await everything(w);
          const denials: Denial[] = [];
          for (const c of denied) {
            const res = await send(c.client, r, w);
            expect(res.status, `${c.label}: ${res.raw}`).toBe(403);
            expect(res.body.code, c.label).toBe('auth.forbidden');
            expectErrorAt(r.url, res, 403, 'auth.forbidden', c.label);
            denials.push(
              denialOf(res, {
                tenantId: w.tenantId,
                actor: c.actor,
                method: r.method,
                route: r.url,
                code: 'auth.forbidden',
                permission: r.permission,
              }),
            );
          }
          // The refusals changed nothing but the caller's trail (one access.denied entry each).
          expectChangedOnlyByDenials(before, await everything(w), { audit: denials, platformAudit: [] });
          for (const [i, c] of allowed.entries()) {
            const res = await send(c.client, r, w);
            expect(res.status, `${c.label}: ${res.raw.slice(0, 300)}`).not.toBe(401);
            // Past the route's check, a write may still be refused for what it would grant (a role with a
            // permission the caller lacks): a 403 naming that other permission.
            if (res.status === 403) {
              expect(res.body.code, c.label).toBe('auth.forbidden');
              expect(res.body.permission, c.label).not.toBe(r.permission);
              expect(c.perms, `${c.label}: the 403 names a permission it holds`).not.toContain(
                res.body.permission,
              );
            }
            // The first one (tenant-admin) does it; after it a write may find its target gone or taken.
            if (i === 0 || readsOnly(r))
              expect(is2xx(res), `${c.label}: ${res.status} ${res.raw.slice(0, 300)}`).toBe(true);
          }
          // The platform admin: on the platform, or on the tenant it names.
          const headers: Record<string, string> = r.auth === 'tenant' ? { 'roster-tenant': w.tenantId } : {};
          const admin = await send(t().client((await mintPlatform()).token), r, w, headers);
          expect([401, 403], `platform-admin: ${admin.raw.slice(0, 300)}`).not.toContain(admin.status);
        });
      }
    });

    // ------------------------------------------------------------------------------------------------
    describe('token lifecycle', () => {
      it('a token stops working the moment it is revoked, and revocation is audited', async () => {
        const w = await world();
        const minted = await t().admin.post('/api/v1/tokens', {
          tenantId: w.tenantId,
          name: u('victim'),
          roles: ['tenant-admin'],
        });
        expect(minted.status).toBe(201);
        expect(minted.headers['cache-control']).toBe('no-store');
        const c = t().client(minted.body.token);
        expect((await c.get('/api/v1/users')).status).toBe(200);
        const revoked = await t().admin.delete(`/api/v1/tokens/${minted.body.id}`);
        expect(revoked.status, revoked.raw).toBe(200);
        expectUnauthenticated(await c.get('/api/v1/users'), 'revoked');
        const again = await t().admin.delete(`/api/v1/tokens/${minted.body.id}`);
        expect(again.status).toBe(200);
        expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
        const audit = await auditTrail(w.api);
        expect(
          audit.filter((e) => e.action === 'token.revoked' && e.target.id === minted.body.id),
        ).toHaveLength(1);
      });

      it('a token revoked while requests with it are in flight answers 401 once the revocation has answered', async () => {
        const w = await world();
        const failures: string[] = [];
        for (let round = 0; round < 5; round++) {
          const minted = await t().admin.post('/api/v1/tokens', {
            tenantId: w.tenantId,
            name: u('busy'),
            roles: ['tenant-admin'],
          });
          expect(minted.status).toBe(201);
          const c = t().client(minted.body.token);
          expect((await c.get('/api/v1/users')).status).toBe(200);
          let stop = false;
          const deadline = Date.now() + 1500;
          const hammers = Array.from({ length: 4 }, async () => {
            while (!stop && Date.now() < deadline) await c.get(`/api/v1/tenants/${w.tenantId}`);
          });
          let after: Answer;
          try {
            await new Promise((resolve) => setTimeout(resolve, 5));
            const revoked = await t().admin.delete(`/api/v1/tokens/${minted.body.id}`);
            expect(revoked.status, revoked.raw).toBe(200);
            after = await c.get('/api/v1/users');
          } finally {
            stop = true;
            await Promise.all(hammers);
          }
          if (after.status !== 401) failures.push(`round ${round}: ${after.status} after revocation`);
        }
        expect(failures).toEqual([]);
      });

      it('a token minted with an expiry works until then and answers 401 after', async () => {
        const { w, dead } = await creds();
        for (const d of dead) {
          const res = await t().client(d.secret).get(`/api/v1/tenants/${w.tenantId}`);
          expectUnauthenticated(res, d.label);
        }
      });

      it('the bearer scheme is case-insensitive and the secret is shown only on creation', async () => {
        const w = await world();
        const minted = await t().admin.post('/api/v1/tokens', {
          tenantId: w.tenantId,
          name: u('case'),
          roles: ['tenant-admin'],
        });
        for (const scheme of ['Bearer', 'bearer', 'BEARER']) {
          const res = await t()
            .client(undefined)
            .get('/api/v1/users', {
              authorization: `${scheme} ${minted.body.token}`,
            });
          expect(res.status, scheme).toBe(200);
        }
        const read = await t().admin.get(`/api/v1/tokens/${minted.body.id}`);
        expect(read.status).toBe(200);
        expect(read.raw.includes(minted.body.token)).toBe(false);
        const list = await t().admin.get(`/api/v1/tokens?tenantId=${w.tenantId}`);
        expect(list.raw.includes(minted.body.token)).toBe(false);
      });
    });
  },
);
