import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { base32Decode, totp } from '../../../src/access/admins/totp.js';
import { ERROR_CATALOGUE, type ErrorCode } from '../../../src/platform/errors.js';
import type { RouteEntry } from '../../../src/platform/http/server.js';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import {
  ADMIN_ACTOR,
  actorOf,
  auditTrail,
  denialOf,
  expectChangedOnlyByDenials,
  notStateView,
  stable,
} from '../../support/audit-views.js';
import { erasureAndKeyJob } from '../../support/keys.js';
import { loadRouteTable, routeKey, uniqueName } from '../../support/routes.js';
import {
  expectScimError,
  expectScimType,
  isScim,
  SCIM_CT,
  SCIM_ENTERPRISE,
  SCIM_SHARED_PARAMS,
  scimBody,
} from '../../support/scim-routes.js';
import { describeEachStore } from '../../support/stores.js';

// ---------------------------------------------------------------------------------------------------------
// helpers

const JSON_CT = { 'content-type': 'application/json' };
const MERGE_CT = { 'content-type': 'application/merge-patch+json' };

/** Asserts an RFC 9457 problem+json answer with the catalogue's stable type, title, status and code. */
function expectProblem(res: Answer, status: number, code: ErrorCode): void {
  expect(res.status, res.raw).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json\s*(;|$)/);
  expect(res.body, res.raw).toMatchObject({
    type: `urn:roster:problem:${code}`,
    title: ERROR_CATALOGUE[code].title,
    status,
    code,
  });
}

/**
 * Asserts that the field errors name the given JSON pointers, and nothing else than them or their ancestors
 * (merge-patch schemas are `anyOf [schema, null]`, so a bad nested value also fails at the enclosing field).
 */
function expectPointers(res: Answer, pointers: readonly string[]): void {
  const errors = (res.body?.errors ?? []) as { pointer: string; detail: string }[];
  const got = new Set(errors.map((e) => e.pointer));
  for (const p of pointers) expect(got.has(p), `${p} not named in ${res.raw}`).toBe(true);
  for (const g of got) {
    const related = pointers.some((p) => p === g || p.startsWith(`${g}/`));
    expect(related, `unexpected pointer ${g} in ${res.raw}`).toBe(true);
  }
  for (const e of errors) {
    expect(typeof e.detail).toBe('string');
    expect(e.pointer === '' || e.pointer.startsWith('/')).toBe(true);
  }
}

function expectNoEcho(res: Answer, ...secrets: string[]): void {
  for (const s of secrets) expect(res.raw.includes(s), `${s} echoed in ${res.raw}`).toBe(false);
}

let marks = 0;
/** A distinctive string: if it shows up in an error body, the body echoed the rejected value. */
function mark(label = 'rejected'): string {
  return `ZQX${label}${++marks}QZX`;
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

/**
 * Everything a tenant can see of itself: users, groups with members, and its audit trail (less `leafIndex`,
 * which the background integrator sets: see test/support/audit-views.ts).
 */
async function tenantState(api: Client): Promise<unknown> {
  const users = await listAll(api, '/api/v1/users');
  const groups = await listAll(api, '/api/v1/groups');
  const members: Record<string, unknown> = {};
  for (const g of groups) members[g.id] = await listAll(api, `/api/v1/groups/${g.id}/members`);
  const audit = await auditTrail(api);
  return { users, groups, members, audit };
}

/** What the platform scope shows: tenants, tokens (less `lastUsedAt`, written on use) and platform audit. */
async function platformState(admin: Client): Promise<unknown> {
  return {
    tenants: await listAll(admin, '/api/v1/tenants'),
    tokens: (await listAll(admin, '/api/v1/tokens')).map(({ lastUsedAt: _l, ...tok }) => tok),
    audit: await auditTrail(admin),
  };
}

/** Rate limits off: these tests send many requests per second on purpose. */
const ENV = { ROSTER_RATE_LIMIT_TENANT: '0', ROSTER_RATE_LIMIT_GLOBAL: '0' };

function nested(depth: number): string {
  // {"a": [[...]]}: the outer object is level 1, each array one more level.
  return `{"userName":"deep","a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
}

// ---------------------------------------------------------------------------------------------------------
// The route table (read at collection time) and how to send a valid body to each write route, for the
// error checks that are generated for every route.

const ROUTES = await loadRouteTable();
const u = uniqueName;

/** The things of one tenant that paths and bodies refer to. */
interface Fixture {
  readonly tenantId: string;
  readonly api: Client;
  readonly userId: string;
  readonly otherUserId: string;
  readonly groupId: string;
  readonly tokenId: string;
  readonly erasureId: string;
  readonly keyJobId: string;
  readonly sku?: string;
  readonly spareSku?: string;
  readonly poolId?: string;
  /** A custom role of the tenant. */
  readonly roleName: string;
  /** An admin account of the tenant (password {@link ADMIN_PASSWORD}, TOTP not yet enrolled). */
  readonly adminId: string;
  readonly adminName: string;
  /** For the public /api/v1/auth write routes: the login in progress or session their valid body needs. */
  readonly login?: LoginState;
}

/** The password of the fixtures' admin accounts (at least 12 characters). */
const ADMIN_PASSWORD = 'correct horse battery staple';

interface LoginState {
  /** The challenge of a password step (to enrol, or for the second factor). */
  readonly challenge?: string;
  /** The TOTP secret proposed for enrolment. */
  readonly secret?: string;
  readonly recoveryCode?: string;
  /** A session: its cookie and CSRF token. */
  readonly cookie?: string;
  readonly csrf?: string;
}

const PARAMS: Record<string, (f: Fixture, method: string) => string | undefined> = {
  'tenants/:id': (f) => f.tenantId,
  'users/:id': (f) => f.userId,
  'groups/:id': (f) => f.groupId,
  'members/:userId': (f, method) => (method === 'PUT' ? f.otherUserId : f.userId),
  'tokens/:id': (f) => f.tokenId,
  'pools/:id': (f) => f.poolId,
  'licenses/:sku': (f) => f.sku,
  'products/:sku': (f) => f.sku,
  'erasure-requests/:id': (f) => f.erasureId,
  'jobs/:id': (f) => f.keyJobId,
  'roles/:name': (f) => f.roleName,
  'admins/:id': (f) => f.adminId,
  // SCIM: users and groups by id (opaque strings, RFC 7643 §3.1); the discovery routes' shared names.
  'Users/:id': (f) => f.userId,
  'Groups/:id': (f) => f.groupId,
  'Schemas/:id': () => SCIM_SHARED_PARAMS['Schemas/:id'],
  'ResourceTypes/:id': () => SCIM_SHARED_PARAMS['ResourceTypes/:id'],
};

/**
 * The "not found" code of each SCIM path parameter: SCIM ids are opaque strings (RFC 7643 §3.1), so an id that
 * is no UUID is an id nobody has (404), where REST refuses it as a malformed parameter (400).
 */
const SCIM_NOT_FOUND: Record<string, string> = {
  'Users/:id': 'identity.user_not_found',
  'Groups/:id': 'identity.group_not_found',
  'Schemas/:id': 'request.not_found',
  'ResourceTypes/:id': 'request.not_found',
};

/** A valid body (and headers) for every write route that takes a body. */
const BODIES: Record<
  string,
  (f: Fixture) => { body: Record<string, unknown>; headers?: Record<string, string> }
> = {
  'POST /api/v1/tenants': () => ({ body: { name: u('tenant') } }),
  'POST /api/v1/tokens': (f) => ({ body: { tenantId: f.tenantId, name: u('token'), roles: ['viewer'] } }),
  'POST /api/v1/users': () => ({ body: { userName: `${u('user')}@example.com`, title: 'Engineer' } }),
  'PATCH /api/v1/users/:id': () => ({ body: { title: u('title'), department: 'Ops' } }),
  'POST /api/v1/groups': () => ({ body: { displayName: u('group'), description: 'x' } }),
  'PATCH /api/v1/groups/:id': () => ({ body: { description: u('description') } }),
  'POST /api/v1/products': () => ({ body: { sku: u('SKU'), name: 'Product' } }),
  'POST /api/v1/pools': (f) => ({ body: { product: f.sku, name: u('pool'), capacity: 3 } }),
  'PATCH /api/v1/pools/:id': () => ({ body: { capacity: 9, name: u('pool') } }),
  'POST /api/v1/users/:id/licenses': (f) => ({ body: { product: f.spareSku } }),
  'POST /api/v1/erasure-requests': (f) => ({ body: { userId: f.otherUserId } }),
  'POST /api/v1/onboardings': () => ({
    body: { user: { userName: `${u('joiner')}@example.com` }, products: [] },
    headers: { 'idempotency-key': u('idem') },
  }),
  'POST /api/v1/roles': () => ({ body: { name: u('role'), description: 'x', permissions: ['users:read'] } }),
  'PATCH /api/v1/roles/:name': () => ({
    body: { description: u('description'), permissions: ['users:read', 'groups:read'] },
  }),
  'POST /api/v1/admins': () => ({
    body: { username: u('admin'), password: ADMIN_PASSWORD, roles: ['viewer'] },
  }),
  'PATCH /api/v1/admins/:id': () => ({ body: { disabled: false, roles: ['viewer', 'auditor'] } }),
  // Public routes: no token; their valid bodies need the fixture's admin account and a login in progress.
  'POST /api/v1/auth/login': (f) => ({
    body: { tenant: f.tenantId, username: f.adminName, password: ADMIN_PASSWORD },
  }),
  'POST /api/v1/auth/totp/enrol': (f) => ({
    body: {
      challenge: f.login?.challenge ?? 'no-challenge',
      code: f.login?.secret ? totp(base32Decode(f.login.secret), Date.now()) : '000000',
    },
  }),
  'POST /api/v1/auth/login/totp': (f) => ({
    body: { challenge: f.login?.challenge ?? 'no-challenge', recoveryCode: f.login?.recoveryCode ?? 'none' },
  }),
  'POST /api/v1/auth/password': (f) => ({
    body: { currentPassword: ADMIN_PASSWORD, newPassword: 'another horse battery staple' },
    headers: f.login?.cookie
      ? { cookie: f.login.cookie, 'x-csrf-token': f.login.csrf ?? '' }
      : ({} as Record<string, string>),
  }),
  // SCIM 2.0 (RFC 7644): resources, PatchOp, SearchRequest and BulkRequest messages.
  'POST /scim/v2/Users/.search': () => ({ body: scimBody.search({ count: 5, startIndex: 1 }) }),
  'POST /scim/v2/Users': () => ({ body: scimBody.user(`${u('scim')}@example.com`, { title: 'Engineer' }) }),
  'PUT /scim/v2/Users/:id': () => ({
    body: scimBody.user(`${u('scim-put')}@example.com`, { title: 'Lead' }),
  }),
  'PATCH /scim/v2/Users/:id': () => ({ body: scimBody.patch('title', u('title')) }),
  'POST /scim/v2/Groups/.search': () => ({ body: scimBody.search({ count: 5, startIndex: 1 }) }),
  'POST /scim/v2/.search': () => ({ body: scimBody.search({ count: 5, startIndex: 1 }) }),
  'POST /scim/v2/Groups': () => ({ body: scimBody.group(u('scim-group')) }),
  'PUT /scim/v2/Groups/:id': () => ({ body: scimBody.group(u('scim-put')) }),
  'PATCH /scim/v2/Groups/:id': () => ({ body: scimBody.patch('displayName', u('scim-patch')) }),
  'POST /scim/v2/Bulk': () => ({ body: scimBody.bulkUser(`${u('bulk')}@example.com`) }),
};

/** SCIM write routes whose body is a resource (RFC 7643): an unknown URN in it is refused (invalidSyntax). */
const SCIM_RESOURCE_WRITES = new Set([
  'POST /scim/v2/Users',
  'PUT /scim/v2/Users/:id',
  'POST /scim/v2/Groups',
  'PUT /scim/v2/Groups/:id',
]);

/** Write routes that take no body at all. */
const BODYLESS = new Set([
  'PUT /api/v1/groups/:id/members/:userId',
  'POST /api/v1/users/:id/offboard',
  'POST /api/v1/keys/rotate',
  'POST /api/v1/tenants/:id/keys/rotate',
  'POST /api/v1/auth/logout',
]);

function paramsOf(url: string): { name: string; key: string }[] {
  const segs = url.split('/');
  return segs.flatMap((seg, i) =>
    seg.startsWith(':') ? [{ name: seg.slice(1), key: `${segs[i - 1]}/${seg}` }] : [],
  );
}

function fillUrl(r: RouteEntry, f: Fixture, override?: string): string {
  let url = r.url;
  for (const p of paramsOf(r.url)) {
    const v = override ?? PARAMS[p.key]?.(f, r.method);
    if (v === undefined) throw new Error(`${routeKey(r)}: no value for ${p.key}`);
    url = url.replace(`:${p.name}`, encodeURIComponent(v));
  }
  return url;
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH']);

// ---------------------------------------------------------------------------------------------------------

describeEachStore('REST errors', (kind) => {
  const t = useTestApp(kind, ENV, { keyCache: { versionCheckMs: 20 } });
  const hasRoute = (method: string, url: string) => ROUTES.some((r) => r.method === method && r.url === url);

  /** A fresh tenant with two users (one managed by the other) and a group holding the first. */
  async function world() {
    const tenant = await t().newTenant();
    const { api } = tenant;
    const alice = await api.post('/api/v1/users', {
      userName: 'Alice@Example.com',
      externalId: 'ext-alice',
      emails: [{ value: 'alice@example.com', primary: true }],
      department: 'Research',
    });
    expect(alice.status, alice.raw).toBe(201);
    const bob = await api.post('/api/v1/users', {
      userName: 'bob@example.com',
      emails: [{ value: 'bob@example.com' }],
      manager: alice.body.id,
    });
    expect(bob.status, bob.raw).toBe(201);
    const group = await api.post('/api/v1/groups', {
      displayName: 'Engineering',
      externalId: 'ext-eng',
      members: [alice.body.id],
    });
    expect(group.status, group.raw).toBe(201);
    return {
      ...tenant,
      alice: alice.body as { id: string },
      bob: bob.body as { id: string },
      group: group.body as { id: string },
      state: () => tenantState(api),
    };
  }

  // ------------------------------------------------------------------------------------------- 400
  describe('400 malformed JSON', () => {
    const secret = 'ZQXmalformedQZX';
    const cases: [string, string | Buffer][] = [
      ['truncated JSON', `{"userName":"${secret}"`],
      ['trailing garbage', `{"userName":"${secret}"} ${secret}`],
      ['not JSON at all', `userName=${secret}`],
      ['single quotes', `{'userName':'${secret}'}`],
      ['empty body', ''],
      ['whitespace only', '   \n'],
      [
        'invalid UTF-8',
        Buffer.concat([
          Buffer.from(`{"userName":"${secret}`),
          Buffer.from([0xff, 0xfe, 0xc3]),
          Buffer.from('"}'),
        ]),
      ],
      [
        'overlong UTF-8 encoding',
        Buffer.concat([Buffer.from('{"userName":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]),
      ],
      ['__proto__ key', `{"userName":"${secret}","__proto__":{"isAdmin":true}}`],
      ['nested __proto__ key', `{"userName":"x","name":{"__proto__":{"givenName":"${secret}"}}}`],
      ['escaped __proto__ key', `{"userName":"${secret}","\\u005f_proto__":{}}`],
      ['constructor.prototype', `{"userName":"${secret}","constructor":{"prototype":{"isAdmin":true}}}`],
      ['nesting of 33 levels', nested(33)],
      ['nesting of 10000 levels', `{"userName":"x","a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`],
    ];

    it.each(cases)('POST /users rejects %s with 400 and changes nothing', async (_name, payload) => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.raw('POST', '/api/v1/users', payload, JSON_CT);
      expectProblem(res, 400, 'request.malformed_json');
      expectNoEcho(res, secret);
      expect(await w.state()).toEqual(before);
    });

    it.each(cases)('PATCH /users/:id rejects %s with 400 and changes nothing', async (_name, payload) => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.raw('PATCH', `/api/v1/users/${w.alice.id}`, payload, MERGE_CT);
      expectProblem(res, 400, 'request.malformed_json');
      expectNoEcho(res, secret);
      expect(await w.state()).toEqual(before);
    });

    it('POST /groups and POST /tenants reject malformed JSON with 400', async () => {
      const w = await world();
      const before = await w.state();
      const g = await w.api.raw('POST', '/api/v1/groups', `{"displayName":"${secret}",}`, JSON_CT);
      expectProblem(g, 400, 'request.malformed_json');
      expectNoEcho(g, secret);
      expect(await w.state()).toEqual(before);
      const platformBefore = await platformState(t().admin);
      const tn = await t().admin.raw('POST', '/api/v1/tenants', `{"name":"${secret}"`, JSON_CT);
      expectProblem(tn, 400, 'request.malformed_json');
      expectNoEcho(tn, secret);
      expect(await platformState(t().admin)).toEqual(platformBefore);
    });

    it('32 levels of nesting pass the parser (the schema then answers 422), 33 do not', async () => {
      const w = await world();
      const ok = await w.api.raw('POST', '/api/v1/users', nested(32), JSON_CT);
      expectProblem(ok, 422, 'request.validation_failed');
      expectPointers(ok, ['/a']);
      const deep = await w.api.raw('POST', '/api/v1/users', nested(33), JSON_CT);
      expectProblem(deep, 400, 'request.malformed_json');
    });

    it('a UTF-8 byte order mark and multi-byte characters are accepted', async () => {
      const w = await world();
      const res = await w.api.raw(
        'POST',
        '/api/v1/users',
        Buffer.concat([
          Buffer.from([0xef, 0xbb, 0xbf]),
          Buffer.from('{"userName":"jürgen-日本@example.com"}'),
        ]),
        JSON_CT,
      );
      expect(res.status, res.raw).toBe(201);
      expect(res.body.userName).toBe('jürgen-日本@example.com');
    });
  });

  describe('400 invalid parameters', () => {
    it.each([
      ['a path id that is not a uuid', '/api/v1/users/not-a-uuid'],
      ['a group id that is not a uuid', '/api/v1/groups/12345/members'],
      ['limit=0', '/api/v1/users?limit=0'],
      ['limit above the maximum', '/api/v1/users?limit=201'],
      ['limit that is not a number', '/api/v1/groups?limit=ten'],
      ['an unknown query parameter', '/api/v1/users?isAdmin=true'],
      ['a bad enum value', '/api/v1/users?status=sleeping'],
      ['a bad boolean', '/api/v1/users?active=maybe'],
    ])('%s answers 400 request.invalid_parameter', async (_name, path) => {
      const w = await world();
      const res = await w.api.get(path);
      expectProblem(res, 400, 'request.invalid_parameter');
      expect(res.body.errors.length).toBeGreaterThan(0);
    });

    it.each([
      ['bad percent-encoding in the path', '/api/v1/users/%E0%A4%A'],
      ['a path parameter longer than the router allows', `/api/v1/users/ZQX${'a'.repeat(200)}QZX`],
      ['a raw non-ASCII path', '/api/v1/users/%C3%BCber'],
    ])('%s answers a 4xx problem+json without the value', async (_name, path) => {
      const w = await world();
      const res = await w.api.get(path);
      expect(res.status, res.raw.slice(0, 300)).toBeGreaterThanOrEqual(400);
      expect(res.status, res.raw.slice(0, 300)).toBeLessThan(500);
      expect(String(res.headers['content-type']), res.raw.slice(0, 300)).toMatch(
        /^application\/problem\+json/,
      );
      expect(Object.keys(ERROR_CATALOGUE)).toContain(res.body?.code);
      expectNoEcho(res, 'ZQXaaaa', '%E0%A4%A', 'ber');
    });

    it.each([
      ['not base64 JSON', 'bm90LWpzb24'],
      ['a number key on a string-keyed list', Buffer.from('{"k":5}').toString('base64url')],
      ['garbage', '%25%25%25'],
    ])('a tampered cursor (%s) answers 400 request.invalid_cursor', async (_name, cursor) => {
      const w = await world();
      for (const path of ['/api/v1/users', '/api/v1/groups']) {
        const res = await w.api.get(`${path}?cursor=${cursor}`);
        expectProblem(res, 400, 'request.invalid_cursor');
      }
      const audit = await w.api.get(
        `/api/v1/audit/entries?cursor=${Buffer.from('{"k":"x"}').toString('base64url')}`,
      );
      expectProblem(audit, 400, 'request.invalid_cursor');
    });
  });

  // ------------------------------------------------------------------------------------------- 401/403
  describe('401 and 403', () => {
    it('a request without a token answers 401 problem+json with WWW-Authenticate and changes nothing', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark();
      const res = await t().client(undefined).post('/api/v1/users', { userName: secret });
      expectProblem(res, 401, 'auth.unauthenticated');
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expectNoEcho(res, secret);
      const bad = await t()
        .client('rst_not-a-real-token-0000000000000')
        .post('/api/v1/users', { userName: secret });
      expectProblem(bad, 401, 'auth.unauthenticated');
      expect(bad.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(await w.state()).toEqual(before);
    });

    it('a tenant token on POST /api/v1/tenants answers 403 auth.forbidden, creates no tenant and audits the refusal', async () => {
      const w = await world();
      const actor = await actorOf(w.api, w.alice.id);
      const before = await platformState(t().admin);
      const tenantBefore = await w.state();
      const name = mark('tenant');
      const res = await w.api.post('/api/v1/tenants', { name });
      expectProblem(res, 403, 'auth.forbidden');
      expectNoEcho(res, name);
      expect(await platformState(t().admin)).toEqual(before);
      // The refusal is one access.denied entry in the caller's tenant, and nothing else changed there.
      expect(res.body.permission, 'the permission named in the answer').toBe('tenants:manage');
      const denial = denialOf(res, {
        tenantId: w.tenantId,
        actor,
        method: 'POST',
        route: '/api/v1/tenants',
        code: 'auth.forbidden',
        permission: 'tenants:manage',
      });
      expectChangedOnlyByDenials(tenantBefore, await w.state(), { audit: [denial] });
    });

    it('a tenant token without tokens:manage on POST /api/v1/tokens answers 403 naming it, mints nothing and audits the refusal', async () => {
      const w = await world();
      // Tokens of the tenant that lack tokens:manage: a viewer, and one minted without roles.
      const callers: { client: Client; actor: string }[] = [];
      for (const roles of [['viewer'], []]) {
        const tok = await t().admin.post('/api/v1/tokens', {
          tenantId: w.tenantId,
          name: mark('weak'),
          roles,
        });
        expect(tok.status, tok.raw).toBe(201);
        callers.push({ client: t().client(tok.body.token), actor: `token:${tok.body.id}` });
      }
      const before = await platformState(t().admin);
      const tenantBefore = await w.state();
      const denials = [];
      for (const { client, actor } of callers) {
        for (const body of [
          { tenantId: w.tenantId, name: 'escalate', roles: ['tenant-admin'] },
          { name: 'escalate' },
        ]) {
          const res = await client.post('/api/v1/tokens', body);
          expectProblem(res, 403, 'auth.forbidden');
          expect(res.body.token).toBeUndefined();
          expect(res.body.permission, 'the permission named in the answer').toBe('tokens:manage');
          denials.push(
            denialOf(res, {
              tenantId: w.tenantId,
              actor,
              method: 'POST',
              route: '/api/v1/tokens',
              code: 'auth.forbidden',
              permission: 'tokens:manage',
            }),
          );
        }
      }
      expect(await platformState(t().admin)).toEqual(before);
      expectChangedOnlyByDenials(tenantBefore, await w.state(), { audit: denials });
    });

    it('a tenant-admin token naming another tenant on POST /api/v1/tokens answers 403 naming tenants:act, mints nothing and audits the refusal', async () => {
      const w = await world();
      const other = await world();
      const actor = await actorOf(w.api, w.alice.id);
      const before = await platformState(t().admin);
      const tenantBefore = await w.state();
      const otherBefore = await other.state();
      const res = await w.api.post('/api/v1/tokens', {
        tenantId: other.tenantId,
        name: 'escalate',
        roles: ['viewer'],
      });
      expectProblem(res, 403, 'auth.forbidden');
      expect(res.body.token).toBeUndefined();
      expect(res.body.permission, 'the permission named in the answer').toBe('tenants:act');
      expect(await platformState(t().admin)).toEqual(before);
      expect(await other.state()).toEqual(otherBefore);
      const denial = denialOf(res, {
        tenantId: w.tenantId,
        actor,
        method: 'POST',
        route: '/api/v1/tokens',
        code: 'auth.forbidden',
        permission: 'tenants:act',
      });
      expectChangedOnlyByDenials(tenantBefore, await w.state(), { audit: [denial] });
    });

    it('a tenant-admin token granting platform-admin on POST /api/v1/tokens answers 422 roles.platform_only, mints nothing and audits nothing', async () => {
      const w = await world();
      const before = await platformState(t().admin);
      const tenantBefore = await w.state();
      for (const [body, pointer] of [
        [{ name: 'escalate', roles: ['platform-admin'] }, '/roles/0'],
        [
          { tenantId: w.tenantId, name: 'escalate', roles: ['viewer', { role: 'platform-admin' }] },
          '/roles/1',
        ],
      ] as const) {
        const res = await w.api.post('/api/v1/tokens', body);
        expectProblem(res, 422, 'roles.platform_only');
        expect(res.body.token).toBeUndefined();
        expectPointers(res, [pointer]);
      }
      expect(await platformState(t().admin)).toEqual(before);
      expect(await w.state()).toEqual(tenantBefore);
      // What it may do: mint a token of its own tenant, which the refusals above were not.
      const own = await w.api.post('/api/v1/tokens', { name: mark('own'), roles: ['viewer'] });
      expect(own.status, own.raw).toBe(201);
      expect(own.body.tenantId).toBe(w.tenantId);
    });

    it('a platform token on a tenant route without Roster-Tenant answers 403 auth.tenant_required', async () => {
      const w = await world();
      const before = await w.state();
      const platformBefore = await platformState(t().admin);
      const list = await t().admin.get('/api/v1/users');
      expectProblem(list, 403, 'auth.tenant_required');
      const create = await t().admin.post('/api/v1/users', { userName: 'via-admin@example.com' });
      expectProblem(create, 403, 'auth.tenant_required');
      const empty = await t().admin.post(
        '/api/v1/users',
        { userName: 'via-admin@example.com' },
        {
          'roster-tenant': '',
        },
      );
      expectProblem(empty, 403, 'auth.tenant_required');
      expect(await w.state()).toEqual(before);
      // The refusals are audited in the platform trail (the admin token has no tenant), and only there.
      const denials = (
        [
          [list, 'GET'],
          [create, 'POST'],
          [empty, 'POST'],
        ] as const
      ).map(([res, method]) =>
        denialOf(res, {
          tenantId: null,
          actor: ADMIN_ACTOR,
          method,
          route: '/api/v1/users',
          code: 'auth.tenant_required',
        }),
      );
      expectChangedOnlyByDenials(platformBefore, await platformState(t().admin), { audit: denials });
      // ...and with the header it acts on that tenant.
      const named = await t().admin.get(`/api/v1/users/${w.alice.id}`, { 'roster-tenant': w.tenantId });
      expect(named.status, named.raw).toBe(200);
      expect(named.body.id).toBe(w.alice.id);
    });
  });

  // ------------------------------------------------------------------------------------------- 404
  describe('404', () => {
    it('an unknown route answers 404 request.not_found problem+json', async () => {
      const w = await world();
      for (const path of ['/api/v1/nope', '/api/v2/users', '/']) {
        const res = await w.api.get(path);
        expectProblem(res, 404, 'request.not_found');
      }
      const wrongMethod = await w.api.put('/api/v1/users', { userName: 'x' });
      expect(wrongMethod.status).toBeGreaterThanOrEqual(400);
      expect(wrongMethod.status).toBeLessThan(500);
      expect(String(wrongMethod.headers['content-type'])).toMatch(/^application\/problem\+json/);
    });

    it('another tenant’s ids answer 404 exactly like unknown ids, without their data', async () => {
      const a = await world();
      const b = await world();
      const bUser = await b.api.get(`/api/v1/users/${b.alice.id}`);
      const unknown = '01900000-0000-7000-8000-000000000000';
      const userB = await a.api.get(`/api/v1/users/${b.alice.id}`);
      const userU = await a.api.get(`/api/v1/users/${unknown}`);
      expectProblem(userB, 404, 'identity.user_not_found');
      expectProblem(userU, 404, 'identity.user_not_found');
      expect({ ...userB.body, requestId: 0 }).toEqual({ ...userU.body, requestId: 0 });
      expectNoEcho(userB, 'alice@example.com', 'Research', 'ext-alice', bUser.body.createdAt);
      const groupB = await a.api.get(`/api/v1/groups/${b.group.id}`);
      expectProblem(groupB, 404, 'identity.group_not_found');
      expectNoEcho(groupB, 'Engineering', 'ext-eng');
      const tenantB = await a.api.get(`/api/v1/tenants/${b.tenantId}`);
      expectProblem(tenantB, 404, 'tenants.not_found');
    });

    it('a Roster-Tenant header naming no tenant answers 404 tenants.not_found', async () => {
      const res = await t().admin.get('/api/v1/users', {
        'roster-tenant': '01900000-0000-7000-8000-000000000000',
      });
      expectProblem(res, 404, 'tenants.not_found');
      const junk = await t().admin.get('/api/v1/users', { 'roster-tenant': 'not-a-tenant' });
      expectProblem(junk, 404, 'tenants.not_found');
    });

    it('removing a non-member answers 404 identity.member_not_found and changes nothing', async () => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.delete(`/api/v1/groups/${w.group.id}/members/${w.bob.id}`);
      expectProblem(res, 404, 'identity.member_not_found');
      expect(await w.state()).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------- 409
  describe('409 uniqueness conflicts', () => {
    it.each([
      ['userName, case-insensitively', { userName: 'ALICE@example.COM' }, 'identity.user_name_taken'],
      ['userName, after trimming', { userName: '  Alice@Example.com  ' }, 'identity.user_name_taken'],
      [
        'e-mail, case-insensitively',
        { userName: 'carol@example.com', emails: [{ value: 'ALICE@Example.com' }] },
        'identity.email_taken',
      ],
      [
        'e-mail held as a second address',
        {
          userName: 'carol@example.com',
          emails: [{ value: 'carol@example.com' }, { value: 'bob@example.com' }],
        },
        'identity.email_taken',
      ],
      [
        'externalId',
        { userName: 'carol@example.com', externalId: 'ext-alice' },
        'identity.external_id_taken',
      ],
    ] as const)('creating a user with a taken %s answers 409 and changes nothing', async (_n, body, code) => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.post('/api/v1/users', body);
      expectProblem(res, 409, code);
      expectNoEcho(res, 'alice@example.com', 'ALICE@', 'ext-alice', 'bob@example.com');
      expect(await w.state()).toEqual(before);
    });

    it.each([
      ['userName', { userName: 'alice@EXAMPLE.com' }, 'identity.user_name_taken'],
      ['e-mail', { emails: [{ value: 'Alice@example.com' }] }, 'identity.email_taken'],
      ['externalId', { externalId: 'ext-alice' }, 'identity.external_id_taken'],
    ] as const)('patching a user onto a taken %s answers 409 and changes nothing', async (_n, body, code) => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.patch(`/api/v1/users/${w.bob.id}`, body);
      expectProblem(res, 409, code);
      expectNoEcho(res, 'alice@', 'Alice@', 'ext-alice');
      expect(await w.state()).toEqual(before);
    });

    it.each([
      ['displayName, case-insensitively', { displayName: 'ENGINEERING' }, 'identity.group_name_taken'],
      ['displayName, after trimming', { displayName: ' Engineering ' }, 'identity.group_name_taken'],
      ['externalId', { displayName: 'Sales', externalId: 'ext-eng' }, 'identity.external_id_taken'],
    ] as const)(
      'creating a group with a taken %s answers 409 and changes nothing',
      async (_n, body, code) => {
        const w = await world();
        const before = await w.state();
        const res = await w.api.post('/api/v1/groups', body);
        expectProblem(res, 409, code);
        expectNoEcho(res, 'ENGINEERING', 'ext-eng');
        expect(await w.state()).toEqual(before);
      },
    );

    it('patching a group onto a taken displayName answers 409 and changes nothing', async () => {
      const w = await world();
      const sales = await w.api.post('/api/v1/groups', { displayName: 'Sales' });
      expect(sales.status).toBe(201);
      const before = await w.state();
      const res = await w.api.patch(`/api/v1/groups/${sales.body.id}`, { displayName: 'engineering' });
      expectProblem(res, 409, 'identity.group_name_taken');
      expect(await w.state()).toEqual(before);
    });

    it('creating a tenant with a taken name (case-insensitively) answers 409 and changes nothing', async () => {
      const name = mark('tenant');
      const first = await t().admin.post('/api/v1/tenants', { name });
      expect(first.status).toBe(201);
      const before = await platformState(t().admin);
      const res = await t().admin.post('/api/v1/tenants', { name: name.toLowerCase() });
      expectProblem(res, 409, 'tenants.name_taken');
      expectNoEcho(res, name, name.toLowerCase());
      expect(await platformState(t().admin)).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------- 412
  describe('412 stale If-Match', () => {
    it('PATCH and DELETE of a user with a stale If-Match answer 412 and change nothing', async () => {
      const w = await world();
      const ok = await w.api.patch(`/api/v1/users/${w.alice.id}`, { title: 'Dr' }, { 'if-match': 'W/"1"' });
      expect(ok.status, ok.raw).toBe(200);
      expect(ok.headers.etag).toBe('W/"2"');
      const before = await w.state();
      for (const tag of ['W/"1"', '"1"', '"3"', 'W/"1", W/"3"', 'garbage']) {
        const patch = await w.api.patch(
          `/api/v1/users/${w.alice.id}`,
          { title: 'Prof' },
          { 'if-match': tag },
        );
        expectProblem(patch, 412, 'request.precondition_failed');
        const del = await w.api.delete(`/api/v1/users/${w.alice.id}`, { 'if-match': tag });
        expectProblem(del, 412, 'request.precondition_failed');
      }
      expect(await w.state()).toEqual(before);
      const current = await w.api.delete(`/api/v1/users/${w.alice.id}`, { 'if-match': 'W/"1", "2"' });
      expect(current.status, current.raw).toBe(204);
    });

    it('PATCH and DELETE of a group with a stale If-Match answer 412 and change nothing', async () => {
      const w = await world();
      // Adding a member bumps the group's version.
      const add = await w.api.put(`/api/v1/groups/${w.group.id}/members/${w.bob.id}`);
      expect(add.status, add.raw).toBe(204);
      const cur = await w.api.get(`/api/v1/groups/${w.group.id}`);
      expect(cur.body.version).toBe(2);
      const before = await w.state();
      const patch = await w.api.patch(
        `/api/v1/groups/${w.group.id}`,
        { description: 'x' },
        { 'if-match': 'W/"1"' },
      );
      expectProblem(patch, 412, 'request.precondition_failed');
      const del = await w.api.delete(`/api/v1/groups/${w.group.id}`, { 'if-match': 'W/"1"' });
      expectProblem(del, 412, 'request.precondition_failed');
      expect(await w.state()).toEqual(before);
      const ok = await w.api.patch(
        `/api/v1/groups/${w.group.id}`,
        { description: 'x' },
        { 'if-match': cur.headers.etag as string },
      );
      expect(ok.status, ok.raw).toBe(200);
    });
  });

  // ------------------------------------------------------------------------------------------- 413
  describe('413 body over the default limit (1 MiB)', () => {
    it('a body over 1 MiB answers 413 and changes nothing; just under passes the size check', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark();
      const over = `{"userName":"${secret}"}${' '.repeat(1024 * 1024)}`;
      const res = await w.api.raw('POST', '/api/v1/users', over, JSON_CT);
      expectProblem(res, 413, 'request.body_too_large');
      expectNoEcho(res, secret);
      const patch = await w.api.raw('PATCH', `/api/v1/users/${w.alice.id}`, over, MERGE_CT);
      expectProblem(patch, 413, 'request.body_too_large');
      expect(await w.state()).toEqual(before);
      const body = `{"userName":"${secret}"}`;
      const under = await w.api.raw(
        'POST',
        '/api/v1/users',
        body + ' '.repeat(1024 * 1024 - body.length),
        JSON_CT,
      );
      expect(under.status, under.raw).toBe(201);
    });
  });

  // ------------------------------------------------------------------------------------------- 415
  describe('415 content types', () => {
    it.each([
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=xyz',
      'application/xml',
      'text/json',
      'application/jsonx',
      'application/json-seq',
      'application/javascript',
    ])('POST /users with %s answers 415 and changes nothing', async (ct) => {
      const w = await world();
      const before = await w.state();
      const secret = mark();
      const res = await w.api.raw('POST', '/api/v1/users', JSON.stringify({ userName: secret }), {
        'content-type': ct,
      });
      expectProblem(res, 415, 'request.unsupported_media_type');
      expectNoEcho(res, secret);
      expect(await w.state()).toEqual(before);
    });

    it('a body without a content type answers 415', async () => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.raw('POST', '/api/v1/users', '{"userName":"no-type@example.com"}', {});
      expectProblem(res, 415, 'request.unsupported_media_type');
      const patch = await w.api.raw('PATCH', `/api/v1/users/${w.alice.id}`, '{"title":"x"}', {
        'content-type': 'text/plain',
      });
      expectProblem(patch, 415, 'request.unsupported_media_type');
      expect(await w.state()).toEqual(before);
    });

    it('JSON media types (with parameters, any case) are accepted', async () => {
      const w = await world();
      for (const [i, ct] of [
        'application/json; charset=utf-8',
        'Application/JSON',
        'application/scim+json',
        'application/merge-patch+json',
      ].entries()) {
        const res = await w.api.raw(
          'POST',
          '/api/v1/users',
          JSON.stringify({ userName: `ct-${i}@example.com` }),
          {
            'content-type': ct,
          },
        );
        expect(res.status, `${ct}: ${res.raw}`).toBe(201);
      }
    });
  });

  // ------------------------------------------------------------------------------------------- SCIM
  describe('SCIM errors (RFC 7644 §3.12): the SCIM error schema, never problem+json', () => {
    const scim = (w: { api: Client }, method: string, path: string, body?: unknown, headers = {}) =>
      w.api.raw(method, `/scim/v2${path}`, body === undefined ? '' : JSON.stringify(body), {
        ...(body === undefined ? {} : SCIM_CT),
        ...headers,
      });

    it('401 and 403: a Bearer challenge, and the missing permission named', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark();
      const anon = await t().client(undefined).post('/scim/v2/Users', scimBody.user(secret), SCIM_CT);
      expectScimError(anon, 401, 'auth.unauthenticated');
      expect(anon.headers['www-authenticate']).toMatch(/^Bearer/);
      expectNoEcho(anon, secret);
      const viewer = await t().admin.post('/api/v1/tokens', {
        tenantId: w.tenantId,
        name: mark('v'),
        roles: ['viewer'],
      });
      expect(viewer.status, viewer.raw).toBe(201);
      const denied = await t()
        .client(viewer.body.token)
        .post('/scim/v2/Users', scimBody.user(secret), SCIM_CT);
      expectScimError(denied, 403, 'auth.forbidden');
      expect(denied.body.permission).toBe('scim:provision');
      expect(denied.body.detail).toContain('scim:provision');
      expectNoEcho(denied, secret);
      const noTenant = await t().admin.get('/scim/v2/Users');
      expectScimError(noTenant, 403, 'auth.tenant_required');
      const unknownTenant = await t().admin.get('/scim/v2/Users', {
        'roster-tenant': '01900000-0000-7000-8000-000000000000',
      });
      expectScimError(unknownTenant, 404, 'tenants.not_found');
      const { audit: _a, ...rest } = (await w.state()) as Record<string, unknown>;
      const { audit: _b, ...restBefore } = before as Record<string, unknown>;
      expect(rest).toEqual(restBefore);
    });

    it('404 for unknown ids and routes, 405 with Allow for a method a SCIM path lacks', async () => {
      const w = await world();
      const unknown = '01900000-0000-7000-8000-000000000000';
      expectScimError(await scim(w, 'GET', `/Users/${unknown}`), 404, 'identity.user_not_found');
      expectScimError(await scim(w, 'GET', `/Groups/${unknown}`), 404, 'identity.group_not_found');
      expectScimError(await scim(w, 'GET', '/Schemas/urn:nothing'), 404, 'request.not_found');
      expectScimError(await scim(w, 'GET', '/Nothing'), 404, 'request.not_found');
      expectScimError(await scim(w, 'GET', '/Users/x/y'), 404, 'request.not_found');
      const put = await scim(w, 'PUT', '/Users', scimBody.user('x'));
      expectScimError(put, 405, 'request.method_not_allowed');
      expect(String(put.headers.allow).split(/,\s*/).sort()).toEqual(['GET', 'POST']);
    });

    it('409 uniqueness for a taken userName, e-mail, externalId or group displayName; nothing changes', async () => {
      const w = await world();
      const before = await w.state();
      for (const [label, path, body, code] of [
        ['userName', '/Users', scimBody.user('ALICE@example.COM'), 'identity.user_name_taken'],
        [
          'e-mail',
          '/Users',
          scimBody.user('carol@example.com', { emails: [{ value: 'Alice@Example.com' }] }),
          'identity.email_taken',
        ],
        [
          'externalId',
          '/Users',
          scimBody.user('carol@example.com', { externalId: 'ext-alice' }),
          'identity.external_id_taken',
        ],
        ['group displayName', '/Groups', scimBody.group('ENGINEERING'), 'identity.group_name_taken'],
      ] as const) {
        const res = await scim(w, 'POST', path, body);
        expectScimError(res, 409, code, label);
        expectScimType(res, 'uniqueness', label);
        expectNoEcho(res, 'alice@', 'Alice@', 'ALICE@', 'ext-alice', 'ENGINEERING');
      }
      const patch = await scim(
        w,
        'PATCH',
        `/Users/${w.bob.id}`,
        scimBody.patch('userName', 'alice@EXAMPLE.com'),
      );
      expectScimError(patch, 409, 'identity.user_name_taken');
      expectScimType(patch, 'uniqueness');
      expect(await w.state()).toEqual(before);
    });

    it('412 for a stale If-Match on PUT, PATCH and DELETE; nothing changes', async () => {
      const w = await world();
      const before = await w.state();
      const current = await scim(w, 'GET', `/Users/${w.alice.id}`);
      expect(current.status, current.raw).toBe(200);
      const etag = String(current.headers.etag);
      expect(etag).toMatch(/^W\/".+"$/);
      expect(current.body.meta.version).toBe(etag);
      for (const tag of ['W/"999"', '"0"', 'garbage', `${etag.slice(0, -1)}x"`]) {
        for (const [method, body] of [
          ['PUT', { ...current.body, title: 'x' }],
          ['PATCH', scimBody.patch('title', 'x')],
          ['DELETE', undefined],
        ] as const) {
          const res = await scim(w, method, `/Users/${w.alice.id}`, body, { 'if-match': tag });
          expectScimError(res, 412, 'request.precondition_failed', `${method} If-Match ${tag}`);
        }
      }
      expect(await w.state()).toEqual(before);
      const ok = await scim(w, 'PATCH', `/Users/${w.alice.id}`, scimBody.patch('title', 'x'), {
        'if-match': etag,
      });
      expect(ok.status, ok.raw).toBe(200);
      expect(ok.headers.etag).not.toBe(etag);
      expect(ok.body.meta.version).toBe(ok.headers.etag);
      // The old tag is stale now.
      const stale = await scim(w, 'DELETE', `/Users/${w.alice.id}`, undefined, { 'if-match': etag });
      expectScimError(stale, 412, 'request.precondition_failed');
    });

    it('400 where REST answers 422: invalid values, unknown managers and members (invalidValue)', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark();
      const nobody = '01900000-0000-7000-8000-000000000000';
      for (const [label, method, path, body, code] of [
        ['userName a number', 'POST', '/Users', { ...scimBody.user('x'), userName: 5 }, 'scim.invalid_value'],
        [
          'no userName',
          'POST',
          '/Users',
          { schemas: scimBody.user('x').schemas, title: secret },
          'scim.invalid_value',
        ],
        [
          'emails not an array',
          'POST',
          '/Users',
          scimBody.user('x@example.com', { emails: { value: secret } }),
          'scim.invalid_value',
        ],
        [
          'an unknown manager',
          'POST',
          '/Users',
          scimBody.user('x@example.com', { [SCIM_ENTERPRISE]: { manager: { value: nobody } } }),
          'identity.invalid_manager',
        ],
        [
          'an unknown member',
          'POST',
          '/Groups',
          scimBody.group(secret, { members: [{ value: nobody }] }),
          'identity.invalid_member',
        ],
        [
          'a PATCH value of the wrong type',
          'PATCH',
          `/Users/${w.alice.id}`,
          scimBody.patch('active', { x: secret }),
          undefined,
        ],
      ] as const) {
        const res = await scim(w, method, path, body);
        expectScimError(res, 400, code, label);
        expectScimType(res, 'invalidValue', label);
        expectNoEcho(res, secret);
      }
      expect(await w.state()).toEqual(before);
    });

    it('400 invalidFilter, invalidPath, invalidSyntax and tooMany name what is wrong, never the value', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark();
      const cases: [string, Promise<Answer>, string][] = [
        [
          'a filter that does not parse',
          scim(w, 'GET', `/Users?filter=${encodeURIComponent(`userName zz "${secret}"`)}`),
          'invalidFilter',
        ],
        [
          'a filter on an attribute Users do not have',
          scim(w, 'GET', `/Users?filter=${encodeURIComponent(`zzNoSuchAttribute eq "${secret}"`)}`),
          'invalidFilter',
        ],
        [
          'a search filter that does not parse',
          scim(w, 'POST', '/Users/.search', scimBody.search({ filter: `(userName eq "${secret}"` })),
          'invalidFilter',
        ],
        [
          'a PATCH path naming nothing',
          scim(w, 'PATCH', `/Users/${w.alice.id}`, scimBody.patch('zzNoSuchAttribute', secret)),
          'invalidPath',
        ],
        [
          'a PatchOp without its schema',
          scim(w, 'PATCH', `/Users/${w.alice.id}`, {
            Operations: [{ op: 'replace', path: 'title', value: secret }],
          }),
          'invalidSyntax',
        ],
        ['a search without its schema', scim(w, 'POST', '/Users/.search', { count: 1 }), 'invalidSyntax'],
        ['a BulkRequest without operations', scim(w, 'POST', '/Bulk', scimBody.bulk([])), 'invalidSyntax'],
      ];
      for (const [label, call, scimType] of cases) {
        const res = await call;
        expectScimError(res, 400, undefined, label);
        expectScimType(res, scimType, label);
        expectNoEcho(res, secret);
      }
      // More operations than the advertised bulk.maxOperations: 413 (RFC 7644 §3.7.4), nothing run.
      const config = await scim(w, 'GET', '/ServiceProviderConfig');
      const max = config.body.bulk.maxOperations as number;
      const tooMany = await scim(
        w,
        'POST',
        '/Bulk',
        scimBody.bulk(
          Array.from({ length: max + 1 }, (_, i) => ({
            method: 'POST',
            bulkId: `b${i}`,
            path: '/Users',
            data: scimBody.user(`${secret}-${i}@example.com`),
          })),
        ),
      );
      expectScimError(tooMany, 413, undefined, 'a BulkRequest over maxOperations');
      expectNoEcho(tooMany, secret);
      expect(await w.state()).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------- 422
  describe('422 schema violations', () => {
    const s = () => mark();
    const userCreateCases: [string, () => [unknown, string[], string[]]][] = [
      [
        'an unknown field',
        () => {
          const v = s();
          return [{ userName: 'x@example.com', isAdmin: v }, ['/isAdmin'], [v]];
        },
      ],
      [
        'an unknown nested field',
        () => {
          const v = s();
          return [{ userName: 'x@example.com', name: { middleName: v } }, ['/name/middleName'], [v]];
        },
      ],
      [
        'an unknown field in an e-mail',
        () => {
          const v = s();
          return [
            { userName: 'x@example.com', emails: [{ value: 'x@example.com', verified: v }] },
            ['/emails/0/verified'],
            [v],
          ];
        },
      ],
      [
        'read-only id',
        () => {
          const v = '01900000-0000-7000-8000-00000000beef';
          return [{ id: v, userName: 'x@example.com' }, ['/id'], [v]];
        },
      ],
      [
        'read-only createdAt',
        () => {
          const v = '1999-09-09T09:09:09.999Z';
          return [{ userName: 'x@example.com', createdAt: v }, ['/createdAt'], [v]];
        },
      ],
      [
        'read-only updatedAt',
        () => {
          const v = '1999-08-08T08:08:08.888Z';
          return [{ userName: 'x@example.com', updatedAt: v }, ['/updatedAt'], [v]];
        },
      ],
      ['read-only version', () => [{ userName: 'x@example.com', version: 987654 }, ['/version'], ['987654']]],
      [
        'a wrong type for userName',
        () => {
          const v = s();
          return [{ userName: [v] }, ['/userName'], [v]];
        },
      ],
      [
        'a wrong type for active',
        () => {
          const v = s();
          return [{ userName: 'x@example.com', active: v }, ['/active'], [v]];
        },
      ],
      [
        'a wrong type for emails',
        () => {
          const v = s();
          return [{ userName: 'x@example.com', emails: v }, ['/emails'], [v]];
        },
      ],
      [
        'a bad e-mail format',
        () => {
          const v = `${s()}-not-an-email`;
          return [{ userName: 'x@example.com', emails: [{ value: v }] }, ['/emails/0/value'], [v]];
        },
      ],
      [
        'a bad e-mail format in the second entry',
        () => {
          const v = `${s()}@@bad`;
          return [
            { userName: 'x@example.com', emails: [{ value: 'ok@example.com' }, { value: v }] },
            ['/emails/1/value'],
            [v],
          ];
        },
      ],
      [
        'a manager id that is not a uuid',
        () => {
          const v = s();
          return [{ userName: 'x@example.com', manager: v }, ['/manager'], [v]];
        },
      ],
      [
        'a bad kind',
        () => {
          const v = s();
          return [{ userName: 'x@example.com', kind: v }, ['/kind'], [v]];
        },
      ],
      [
        'a bad status',
        () => {
          const v = s();
          return [{ userName: 'x@example.com', status: v }, ['/status'], [v]];
        },
      ],
      [
        'a bad country code',
        () => {
          const v = 'QQQ';
          return [{ userName: 'x@example.com', location: { country: v } }, ['/location/country'], ['"QQQ"']];
        },
      ],
      [
        'a missing userName',
        () => {
          const v = s();
          return [{ displayName: v }, ['/userName'], [v]];
        },
      ],
      ['an empty userName', () => [{ userName: '' }, ['/userName'], []]],
      ['a blank userName', () => [{ userName: '    ' }, ['/userName'], []]],
      [
        'a userName over 256 characters',
        () => {
          const v = s() + 'x'.repeat(300);
          return [{ userName: v }, ['/userName'], [v.slice(0, 40)]];
        },
      ],
      [
        'two primary e-mails',
        () => [
          {
            userName: 'x@example.com',
            emails: [
              { value: 'a@example.com', primary: true },
              { value: 'b@example.com', primary: true },
            ],
          },
          ['/emails'],
          [],
        ],
      ],
      ['a body that is an array', () => [[{ userName: 'x@example.com' }], [''], []]],
    ];

    it.each(userCreateCases)('POST /users with %s answers 422 naming the field', async (_n, make) => {
      const w = await world();
      const [body, pointers, secrets] = make();
      const before = await w.state();
      const res = await w.api.post('/api/v1/users', body);
      expectProblem(res, 422, 'request.validation_failed');
      expectPointers(res, pointers);
      expectNoEcho(res, ...secrets);
      expect(await w.state()).toEqual(before);
    });

    it('POST /users with a manager that does not exist answers 422 identity.invalid_manager at /manager', async () => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.post('/api/v1/users', {
        userName: 'x@example.com',
        manager: '01900000-0000-7000-8000-00000000abcd',
      });
      expectProblem(res, 422, 'identity.invalid_manager');
      expectPointers(res, ['/manager']);
      expectNoEcho(res, '01900000-0000-7000-8000-00000000abcd');
      expect(await w.state()).toEqual(before);
    });

    it('POST /users with active and status disagreeing answers 422', async () => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.post('/api/v1/users', {
        userName: 'x@example.com',
        active: true,
        status: 'suspended',
      });
      expectProblem(res, 422, 'identity.inconsistent_status');
      expect(await w.state()).toEqual(before);
    });

    const userPatchCases: [string, (self: string) => [unknown, string[], string[]]][] = [
      [
        'read-only id',
        () => {
          const v = '01900000-0000-7000-8000-00000000feed';
          return [{ id: v }, ['/id'], [v]];
        },
      ],
      ['read-only version', () => [{ version: 424242 }, ['/version'], ['424242']]],
      [
        'read-only createdAt',
        () => {
          const v = '1999-07-07T07:07:07.777Z';
          return [{ createdAt: v }, ['/createdAt'], [v]];
        },
      ],
      [
        'an unknown field',
        () => {
          const v = s();
          return [{ title: 'ok', secretField: v }, ['/secretField'], [v]];
        },
      ],
      ['userName removed', () => [{ userName: null }, ['/userName'], []]],
      ['a blank userName', () => [{ userName: '   ' }, ['/userName'], []]],
      [
        'a wrong type',
        () => {
          const v = s();
          return [{ department: { v } }, ['/department'], [v]];
        },
      ],
      [
        'a bad e-mail',
        () => {
          const v = `${s()}-at-nowhere`;
          return [{ emails: [{ value: v }] }, ['/emails/0/value'], [v]];
        },
      ],
      [
        'a manager that is not a uuid',
        () => {
          const v = s();
          return [{ manager: v }, ['/manager'], [v]];
        },
      ],
    ];

    it.each(userPatchCases)('PATCH /users/:id with %s answers 422 naming the field', async (_n, make) => {
      const w = await world();
      const [body, pointers, secrets] = make(w.alice.id);
      const before = await w.state();
      const res = await w.api.raw('PATCH', `/api/v1/users/${w.alice.id}`, JSON.stringify(body), MERGE_CT);
      expectProblem(res, 422, 'request.validation_failed');
      expectPointers(res, pointers);
      expectNoEcho(res, ...secrets);
      expect(await w.state()).toEqual(before);
    });

    it('PATCH /users/:id making a user their own manager, or naming an unknown manager, answers 422 at /manager', async () => {
      const w = await world();
      const before = await w.state();
      for (const manager of [w.alice.id, '01900000-0000-7000-8000-00000000dcba']) {
        const res = await w.api.patch(`/api/v1/users/${w.alice.id}`, { manager });
        expectProblem(res, 422, 'identity.invalid_manager');
        expectPointers(res, ['/manager']);
      }
      expect(await w.state()).toEqual(before);
    });

    it.each([
      ['a missing displayName', () => [{ description: 'x' }, ['/displayName']]],
      ['a blank displayName', () => [{ displayName: '  ' }, ['/displayName']]],
      ['an unknown field', () => [{ displayName: 'Ops', owner: 'x' }, ['/owner']]],
      ['read-only memberCount', () => [{ displayName: 'Ops', memberCount: 3 }, ['/memberCount']]],
      ['a member that is not a uuid', () => [{ displayName: 'Ops', members: ['nope'] }, ['/members/0']]],
    ] as [string, () => [unknown, string[]]][])(
      'POST /groups with %s answers 422 naming the field',
      async (_n, make) => {
        const w = await world();
        const [body, pointers] = make();
        const before = await w.state();
        const res = await w.api.post('/api/v1/groups', body);
        expectProblem(res, 422, 'request.validation_failed');
        expectPointers(res, pointers);
        expect(await w.state()).toEqual(before);
      },
    );

    it('POST /groups with members that are not users of the tenant answers 422 identity.invalid_member', async () => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.post('/api/v1/groups', {
        displayName: 'Ops',
        members: [w.alice.id, '01900000-0000-7000-8000-00000000aaaa'],
      });
      expectProblem(res, 422, 'identity.invalid_member');
      expectPointers(res, ['/members/1']);
      // The group insert came first in that transaction: it must have rolled back.
      expect(await w.state()).toEqual(before);
      const retry = await w.api.post('/api/v1/groups', { displayName: 'Ops' });
      expect(retry.status, retry.raw).toBe(201);
    });

    it('PATCH /groups/:id removing or blanking displayName, or with read-only fields, answers 422', async () => {
      const w = await world();
      const before = await w.state();
      for (const [body, pointer] of [
        [{ displayName: null }, '/displayName'],
        [{ displayName: '' }, '/displayName'],
        [{ id: '01900000-0000-7000-8000-000000000001' }, '/id'],
        [{ members: [w.bob.id] }, '/members'],
      ] as const) {
        const res = await w.api.patch(`/api/v1/groups/${w.group.id}`, body);
        expectProblem(res, 422, 'request.validation_failed');
        expectPointers(res, [pointer]);
      }
      expect(await w.state()).toEqual(before);
    });

    it('POST /tenants and POST /tokens violations answer 422 naming the field', async () => {
      const w = await world();
      const before = await platformState(t().admin);
      const blank = await t().admin.post('/api/v1/tenants', { name: '   ' });
      expectProblem(blank, 422, 'request.validation_failed');
      expectPointers(blank, ['/name']);
      const extra = await t().admin.post('/api/v1/tenants', { name: 'ok', id: w.tenantId });
      expectProblem(extra, 422, 'request.validation_failed');
      expectPointers(extra, ['/id']);
      const past = await t().admin.post('/api/v1/tokens', { name: 'old', expiresAt: '2001-01-01T00:00:00Z' });
      expectProblem(past, 422, 'tokens.invalid_expiry');
      expectPointers(past, ['/expiresAt']);
      const badDate = await t().admin.post('/api/v1/tokens', { name: 'x', expiresAt: 'tomorrow-ish' });
      expectProblem(badDate, 422, 'request.validation_failed');
      expectPointers(badDate, ['/expiresAt']);
      expectNoEcho(badDate, 'tomorrow-ish');
      const badRole = await t().admin.post('/api/v1/tokens', { name: 'x', roles: ['Not A Role'] });
      expectProblem(badRole, 422, 'request.validation_failed');
      expectPointers(badRole, ['/roles/0']);
      expectNoEcho(badRole, 'Not A Role');
      // A well-formed name that names no role: roles.unknown at its index.
      const unknownRole = await t().admin.post('/api/v1/tokens', {
        tenantId: w.tenantId,
        name: 'x',
        roles: ['viewer', 'no-such-role'],
      });
      expectProblem(unknownRole, 422, 'roles.unknown');
      expectPointers(unknownRole, ['/roles/1']);
      const unknownGrant = await t().admin.post('/api/v1/tokens', {
        name: 'x',
        roles: [{ role: 'no-such-role', expiresAt: null }],
      });
      expectProblem(unknownGrant, 422, 'roles.unknown');
      expectPointers(unknownGrant, ['/roles/0']);
      const missing = await t().admin.post('/api/v1/tokens', { tenantId: w.tenantId });
      expectProblem(missing, 422, 'request.validation_failed');
      expectPointers(missing, ['/name']);
      expect(await platformState(t().admin)).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------- no 5xx
  describe('no input produces a 5xx', () => {
    // PostgreSQL text columns cannot hold U+0000; the service must answer 4xx (or store it), never 500.
    const nulUserFields: [string, Record<string, unknown>][] = [
      ['department', { department: 'Re\u0000search' }],
      ['externalId', { externalId: 'ext\u0000' }],
      ['title', { title: '\u0000' }],
      ['location.site', { location: { site: 'a\u0000b' } }],
    ];

    it.each(nulUserFields)('POST /users with a NUL in %s never answers 5xx', async (_n, extra) => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.post('/api/v1/users', { userName: 'nul@example.com', ...extra });
      expect(res.status, res.raw).toBeLessThan(500);
      if (res.status >= 400) expect(await w.state()).toEqual(before);
    });

    it.each(nulUserFields)('PATCH /users/:id with a NUL in %s never answers 5xx', async (_n, extra) => {
      const w = await world();
      const before = await w.state();
      const res = await w.api.patch(`/api/v1/users/${w.alice.id}`, extra);
      expect(res.status, res.raw).toBeLessThan(500);
      if (res.status >= 400) expect(await w.state()).toEqual(before);
    });

    it.each([
      ['POST /groups displayName', 'POST', '/api/v1/groups', { displayName: 'Ops\u0000' }],
      ['POST /groups externalId', 'POST', '/api/v1/groups', { displayName: 'Ops', externalId: '\u0000' }],
      ['PATCH /groups/:id description', 'PATCH', '/api/v1/groups/{group}', { description: '\u0000' }],
      ['POST /tenants name', 'POST', '/api/v1/tenants', { name: 'ten\u0000ant' }],
      ['POST /tokens name', 'POST', '/api/v1/tokens', { name: 'to\u0000ken', tenantId: '{tenant}' }],
    ])('%s with a NUL never answers 5xx', async (_n, method, path, body) => {
      const w = await world();
      const fill = (v: string) => v.replace('{group}', w.group.id).replace('{tenant}', w.tenantId);
      const payload = JSON.parse(fill(JSON.stringify(body)));
      const platform = path.includes('tenants') || path.includes('tokens');
      const client = platform ? t().admin : w.api;
      const before = platform ? await platformState(t().admin) : await w.state();
      const res = await client.raw(method, fill(path), JSON.stringify(payload), JSON_CT);
      expect(res.status, res.raw).toBeLessThan(500);
      if (res.status >= 400)
        expect(platform ? await platformState(t().admin) : await w.state()).toEqual(before);
    });

    it.each([
      ['users?department', '/api/v1/users?department=%00'],
      ['users?externalId', '/api/v1/users?externalId=a%00b'],
      ['users?location', '/api/v1/users?location=%00'],
      ['groups?externalId', '/api/v1/groups?externalId=%00'],
      ['groups?displayName', '/api/v1/groups?displayName=%00'],
      ['users?cursor', `/api/v1/users?cursor=${Buffer.from('{"k":"a\\u0000"}').toString('base64url')}`],
      ['groups?cursor', `/api/v1/groups?cursor=${Buffer.from('{"k":"\\u0000"}').toString('base64url')}`],
      [
        'members?cursor',
        `/api/v1/groups/{group}/members?cursor=${Buffer.from('{"k":"\\u0000"}').toString('base64url')}`,
      ],
      [
        'tokens?cursor (platform)',
        `/api/v1/tokens?cursor=${Buffer.from('{"k":"\\u0000"}').toString('base64url')}`,
      ],
    ])('a NUL in the list filter or cursor %s never answers 5xx', async (_n, path) => {
      const w = await world();
      const client = path.includes('tokens') ? t().admin : w.api;
      const res = await client.get(path.replace('{group}', w.group.id));
      expect(res.status, res.raw).toBeLessThan(500);
    });

    it('assigning a seat to a user without a location never answers 5xx', async () => {
      if (!hasRoute('POST', '/api/v1/users/:id/licenses') || !hasRoute('POST', '/api/v1/pools')) return;
      const w = await world(); // alice has no location
      const product = await w.api.post('/api/v1/products', { sku: 'NOLOC-1', name: 'No location' });
      expect(product.status, product.raw).toBe(201);
      const pool = await w.api.post('/api/v1/pools', { product: 'NOLOC-1', name: 'everywhere', capacity: 5 });
      expect(pool.status, pool.raw).toBe(201);
      const before = await w.state();
      const seat = await w.api.post(`/api/v1/users/${w.alice.id}/licenses`, { product: 'NOLOC-1' });
      expect(seat.status, seat.raw).toBeLessThan(500);
      if (seat.status >= 400) expect(await w.state()).toEqual(before);
    });

    it('onboarding a user without a location with a product never answers 5xx', async () => {
      if (!hasRoute('POST', '/api/v1/onboardings') || !hasRoute('POST', '/api/v1/pools')) return;
      const w = await world();
      const product = await w.api.post('/api/v1/products', { sku: 'NOLOC-2', name: 'No location' });
      expect(product.status, product.raw).toBe(201);
      const pool = await w.api.post('/api/v1/pools', { product: 'NOLOC-2', name: 'everywhere', capacity: 5 });
      expect(pool.status, pool.raw).toBe(201);
      const before = await w.state();
      const res = await w.api.post(
        '/api/v1/onboardings',
        { user: { userName: 'joiner-noloc@example.com' }, products: ['NOLOC-2'] },
        { 'idempotency-key': mark('idem') },
      );
      expect(res.status, res.raw).toBeLessThan(500);
      if (res.status >= 400) expect(await w.state()).toEqual(before);
    });

    // Strings without NUL: NUL has its own tests above.
    const text = fc.string({ unit: 'binary', maxLength: 40 }).filter((x) => !x.includes('\u0000'));
    const anyJson = fc.jsonValue({ maxDepth: 4 });
    const fieldValue = fc.oneof(text, anyJson, fc.constant(null));
    const userLike = fc.dictionary(
      fc.constantFrom(
        'userName',
        'externalId',
        'name',
        'displayName',
        'emails',
        'phoneNumbers',
        'addresses',
        'title',
        'department',
        'location',
        'kind',
        'manager',
        'active',
        'status',
        'id',
        'version',
      ),
      fieldValue,
      { maxKeys: 6 },
    );

    it('random user bodies on POST and PATCH never answer 5xx, and a rejected one changes nothing', async () => {
      const w = await world();
      const audit = async () => (await listAll(w.api, '/api/v1/audit/entries')).length;
      await fc.assert(
        fc.asyncProperty(fc.oneof(userLike, anyJson), fc.boolean(), async (body, patch) => {
          const n = await audit();
          const bobBefore = await w.api.get(`/api/v1/users/${w.bob.id}`);
          const res = patch
            ? await w.api.patch(`/api/v1/users/${w.bob.id}`, body)
            : await w.api.post('/api/v1/users', body);
          expect(res.status, `${JSON.stringify(body)} -> ${res.raw}`).toBeLessThan(500);
          const bobAfter = await w.api.get(`/api/v1/users/${w.bob.id}`);
          if (res.status >= 400) {
            expect(String(res.headers['content-type'])).toMatch(/^application\/problem\+json/);
            expect(await audit()).toBe(n);
            expect(bobAfter.body).toEqual(bobBefore.body);
          } else if (patch && bobAfter.body.version === bobBefore.body.version) {
            // A patch that changes nothing writes nothing.
            expect(bobAfter.body).toEqual(bobBefore.body);
            expect(await audit()).toBe(n);
          } else {
            expect(await audit()).toBe(n + 1);
          }
        }),
        { numRuns: 120 },
      );
    });

    it('random group bodies and query strings never answer 5xx', async () => {
      const w = await world();
      const groupLike = fc.dictionary(
        fc.constantFrom('displayName', 'externalId', 'description', 'members', 'memberCount'),
        fieldValue,
        { maxKeys: 4 },
      );
      const query = fc.dictionary(
        fc.constantFrom(
          'limit',
          'cursor',
          'userName',
          'email',
          'department',
          'site',
          'active',
          'kind',
          'country',
        ),
        fc.oneof(text, fc.integer().map(String)),
        { maxKeys: 3 },
      );
      await fc.assert(
        fc.asyncProperty(groupLike, query, async (body, q) => {
          const created = await w.api.post('/api/v1/groups', body);
          expect(created.status, `${JSON.stringify(body)} -> ${created.raw}`).toBeLessThan(500);
          const patched = await w.api.patch(`/api/v1/groups/${w.group.id}`, body);
          expect(patched.status, `${JSON.stringify(body)} -> ${patched.raw}`).toBeLessThan(500);
          const qs = new URLSearchParams(q).toString();
          const list = await w.api.get(`/api/v1/users?${qs}`);
          expect(list.status, `${qs} -> ${list.raw}`).toBeLessThan(500);
        }),
        { numRuns: 80 },
      );
    });
  });
});

describeEachStore('REST errors with ROSTER_BODY_LIMIT=2kb', (kind) => {
  const t = useTestApp(kind, { ...ENV, ROSTER_BODY_LIMIT: '2kb' });

  function padded(body: object, size: number): string {
    const json = JSON.stringify(body);
    expect(json.length).toBeLessThanOrEqual(size);
    return json + ' '.repeat(size - json.length);
  }

  it('a body of exactly 2048 bytes is accepted; 2049 bytes answer 413 and change nothing', async () => {
    const { api } = await t().newTenant();
    const before = await tenantState(api);
    const secret = mark();
    const over = await api.raw('POST', '/api/v1/users', padded({ userName: secret }, 2049), JSON_CT);
    expectProblem(over, 413, 'request.body_too_large');
    expectNoEcho(over, secret);
    const group = await api.raw('POST', '/api/v1/groups', padded({ displayName: secret }, 4096), JSON_CT);
    expectProblem(group, 413, 'request.body_too_large');
    expect(await tenantState(api)).toEqual(before);
    const exact = await api.raw('POST', '/api/v1/users', padded({ userName: secret }, 2048), JSON_CT);
    expect(exact.status, exact.raw).toBe(201);
  });

  it('PATCH bodies over the limit answer 413 and change nothing', async () => {
    const { api } = await t().newTenant();
    const user = await api.post('/api/v1/users', { userName: 'limit@example.com' });
    expect(user.status).toBe(201);
    const before = await tenantState(api);
    const res = await api.raw(
      'PATCH',
      `/api/v1/users/${user.body.id}`,
      padded({ title: 'x' }, 3000),
      MERGE_CT,
    );
    expectProblem(res, 413, 'request.body_too_large');
    expect(await tenantState(api)).toEqual(before);
  });

  it('an over-limit body that is also malformed still answers 413, not 5xx', async () => {
    const { api } = await t().newTenant();
    const res = await api.raw('POST', '/api/v1/users', `{"userName":${'['.repeat(5000)}`, JSON_CT);
    expectProblem(res, 413, 'request.body_too_large');
  });
});

describeEachStore('REST errors on every write route (generated from the route table)', (kind) => {
  const t = useTestApp(kind, ENV, { keyCache: { versionCheckMs: 20 } });
  const hasRoute = (method: string, url: string) => ROUTES.some((r) => r.method === method && r.url === url);

  async function fixture(): Promise<Fixture> {
    const { tenantId, api } = await t().newTenant();
    const loc = { site: 'ber-1', country: 'DE' };
    const user = await api.post('/api/v1/users', { userName: `${u('alice')}@example.com`, location: loc });
    expect(user.status, user.raw).toBe(201);
    const other = await api.post('/api/v1/users', { userName: `${u('bob')}@example.com`, location: loc });
    expect(other.status, other.raw).toBe(201);
    const group = await api.post('/api/v1/groups', { displayName: u('group'), members: [user.body.id] });
    expect(group.status, group.raw).toBe(201);
    const token = await t().admin.post('/api/v1/tokens', { tenantId, name: u('spare') });
    expect(token.status, token.raw).toBe(201);
    const role = await api.post('/api/v1/roles', { name: u('role'), permissions: ['users:read'] });
    expect(role.status, role.raw).toBe(201);
    const adminName = u('admin');
    const admin = await api.post('/api/v1/admins', {
      username: adminName,
      password: ADMIN_PASSWORD,
      roles: ['viewer'],
    });
    expect(admin.status, admin.raw).toBe(201);
    const f: Fixture = {
      tenantId,
      api,
      userId: user.body.id,
      otherUserId: other.body.id,
      groupId: group.body.id,
      tokenId: token.body.id,
      roleName: role.body.name,
      adminId: admin.body.id,
      adminName,
      ...(await erasureAndKeyJob(t(), api, tenantId)),
    };
    if (!hasRoute('POST', '/api/v1/products') || !hasRoute('POST', '/api/v1/pools')) return f;
    const sku = u('SKU');
    const spareSku = u('SPARE');
    for (const s of [sku, spareSku]) {
      const p = await api.post('/api/v1/products', { sku: s, name: s });
      expect(p.status, p.raw).toBe(201);
    }
    const pool = await api.post('/api/v1/pools', { product: sku, name: u('pool'), capacity: 5 });
    expect(pool.status, pool.raw).toBe(201);
    const spare = await api.post('/api/v1/pools', { product: spareSku, name: u('pool'), capacity: 5 });
    expect(spare.status, spare.raw).toBe(201);
    return { ...f, sku, spareSku, poolId: pool.body.id };
  }

  const anonymous = () => t().client(undefined);
  const passwordStep = (f: Fixture) =>
    anonymous().post('/api/v1/auth/login', {
      tenant: f.tenantId,
      username: f.adminName,
      password: ADMIN_PASSWORD,
    });
  const cookieOf = (res: Answer): string => {
    const set = res.headers['set-cookie'];
    const line = Array.isArray(set) ? set[0] : set;
    expect(line, res.raw).toBeDefined();
    return String(line).split(';')[0] as string;
  };

  /** The first login of the fixture's admin: password, then TOTP enrolment; a session and recovery codes. */
  async function enrolled(f: Fixture): Promise<{ cookie: string; csrf: string; recoveryCodes: string[] }> {
    const step = await passwordStep(f);
    expect(step.status, step.raw).toBe(200);
    expect(step.body.mfa).toBe('enrolment_required');
    const code = totp(base32Decode(step.body.secret), Date.now());
    const res = await anonymous().post('/api/v1/auth/totp/enrol', { challenge: step.body.challenge, code });
    expect(res.status, res.raw).toBe(200);
    return { cookie: cookieOf(res), csrf: res.body.csrfToken, recoveryCodes: res.body.recoveryCodes };
  }

  /**
   * What the valid body of a public /api/v1/auth write route needs, made before the state is read: a
   * password step to enrol after, a second-factor challenge with a recovery code, or a session.
   */
  async function loginFor(key: string, f: Fixture): Promise<Fixture> {
    if (key === 'POST /api/v1/auth/totp/enrol') {
      const step = await passwordStep(f);
      expect(step.status, step.raw).toBe(200);
      expect(step.body.mfa).toBe('enrolment_required');
      return { ...f, login: { challenge: step.body.challenge, secret: step.body.secret } };
    }
    if (key === 'POST /api/v1/auth/login/totp') {
      const { recoveryCodes } = await enrolled(f);
      const step = await passwordStep(f);
      expect(step.status, step.raw).toBe(200);
      expect(step.body.mfa).toBe('required');
      return { ...f, login: { challenge: step.body.challenge, recoveryCode: recoveryCodes[0] as string } };
    }
    if (key === 'POST /api/v1/auth/password') {
      const { cookie, csrf } = await enrolled(f);
      return { ...f, login: { cookie, csrf } };
    }
    return f;
  }

  /** The caller of a route: the platform token, no token for public routes, else the tenant's token. */
  const callerOf = (r: RouteEntry, f: Fixture): Client =>
    r.auth === 'platform' ? t().admin : r.auth === 'public' ? anonymous() : f.api;

  /** Every readable view of the tenant and the platform, through the route table (less volatile fields). */
  async function views(f: Fixture): Promise<unknown> {
    const out: Record<string, unknown> = {};
    for (const r of ROUTES) {
      if (r.method !== 'GET' || r.auth === 'public' || r.url === '/metrics' || r.url.endsWith('openapi.json'))
        continue;
      if (paramsOf(r.url).some((p) => !PARAMS[p.key])) continue;
      // Derived from the audit trail (compared in full below), not state a request changes: the Merkle-log
      // routes answer from what the background integrator has integrated and signed so far, which grows
      // while no request changes anything.
      if (notStateView(r)) continue;
      const c = r.auth === 'platform' ? t().admin : f.api;
      const res = await c.get(fillUrl(r, f));
      out[routeKey(r)] = stable({ s: res.status, b: res.body ?? null });
    }
    out.audit = await auditTrail(f.api);
    out.platformAudit = await auditTrail(t().admin);
    return out;
  }

  /**
   * The body errors of a SCIM write route (RFC 7644 §3.12): what is no JSON 400 `invalidSyntax`, a foreign
   * media type 415, a body that is no object 400 `invalidSyntax`, each field of the valid body with a value of
   * another type 400 (`invalidSyntax` or `invalidValue`, SCIM has no 422) naming the field, and in a resource
   * an unknown schema URN 400 `invalidSyntax`; all in the SCIM error schema, none echoing a value. Attributes
   * SCIM does not define are ignored (RFC 7643 §3.3: the service provider keeps what its schemas define).
   */
  async function scimBodyErrors(
    key: string,
    send: (payload: string, ct: string) => Promise<Answer>,
    valid: Record<string, unknown>,
  ): Promise<void> {
    for (const payload of ['{"a":', '', `{"__proto__":{"x":1},${JSON.stringify(valid).slice(1)}`, '[1,2']) {
      const res = await send(payload, 'application/scim+json');
      expectScimError(res, 400, 'request.malformed_json', `${key} ${payload}`);
      expectScimType(res, 'invalidSyntax', payload);
    }
    for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
      const res = await send(JSON.stringify(valid), ct);
      expectScimError(res, 415, 'request.unsupported_media_type', ct);
    }
    const notObject = await send(JSON.stringify([valid]), 'application/scim+json');
    expectScimError(notObject, 400, 'scim.invalid_syntax', 'an array');
    expectScimType(notObject, 'invalidSyntax');
    for (const [field, value] of Object.entries(valid)) {
      // A value of another type: `true`, or an object where `true` is the right type.
      const wrong = typeof value === 'boolean' ? { zz: value } : true;
      const res = await send(JSON.stringify({ ...valid, [field]: wrong }), 'application/scim+json');
      expect(res.status, `${key} ${field}: ${JSON.stringify(wrong)} -> ${res.raw}`).toBe(400);
      expectScimError(res, 400, undefined, `${key} ${field}`);
      expect(['invalidSyntax', 'invalidValue'], `${field}: ${res.raw}`).toContain(res.body.scimType);
      expect(res.body.detail, `${field} named in ${res.raw}`).toContain(field);
    }
    if (SCIM_RESOURCE_WRITES.has(key)) {
      const secret = mark('urn');
      const res = await send(
        JSON.stringify({ ...valid, 'urn:example:params:scim:schemas:unknown:1.0': { value: secret } }),
        'application/scim+json',
      );
      expectScimError(res, 400, 'scim.invalid_syntax', `${key} with an unknown URN`);
      expectScimType(res, 'invalidSyntax');
      expectNoEcho(res, secret);
    }
  }

  it('the generator knows every write route: its body, or that it takes none', () => {
    const writes = ROUTES.filter((r) => WRITE_METHODS.has(r.method)).map(routeKey);
    expect(writes.length).toBeGreaterThan(5);
    const unknown = writes.filter((k) => !BODIES[k] && !BODYLESS.has(k));
    expect(unknown).toEqual([]);
    const params = ROUTES.flatMap((r) =>
      paramsOf(r.url)
        .filter((p) => !PARAMS[p.key])
        .map((p) => `${routeKey(r)} ${p.key}`),
    );
    expect(params).toEqual([]);
  });

  // Public write routes too: their bodies are parsed and validated like any other, before the handler.
  for (const r of ROUTES.filter((x) => WRITE_METHODS.has(x.method))) {
    const key = routeKey(r);
    it(`${key}: malformed JSON 400, non-JSON 415, unknown or mistyped fields 422 at their pointer; nothing changes`, async () => {
      const make = BODIES[key];
      if (!make) {
        expect(BODYLESS.has(key), `${key} is not known to the generator`).toBe(true);
        return;
      }
      const f = await loginFor(key, await fixture());
      const c = callerOf(r, f);
      const url = fillUrl(r, f);
      const send = (payload: string, ct: string) =>
        c.raw(r.method, url, payload, { ...(make(f).headers ?? {}), 'content-type': ct });
      const valid = make(f).body;
      const before = await views(f);

      if (isScim(r.url)) {
        await scimBodyErrors(key, send, valid);
        expect(await views(f)).toEqual(before);
        for (const ct of ['application/scim+json', 'application/json']) {
          // The valid body is accepted, in either media type: the failures above were the defects' doing.
          const ok = await send(JSON.stringify(make(f).body), ct);
          expect(ok.status, `${ct}: ${ok.raw}`).toBeGreaterThanOrEqual(200);
          expect(ok.status, `${ct}: ${ok.raw}`).toBeLessThan(300);
          expect(String(ok.headers['content-type'])).toMatch(/^application\/scim\+json/);
        }
        return;
      }

      for (const payload of ['{"a":', '', `{"__proto__":{"x":1},${JSON.stringify(valid).slice(1)}`, '[1,2']) {
        const res = await send(payload, 'application/json');
        expectProblem(res, 400, 'request.malformed_json');
      }
      for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'application/xml']) {
        const res = await send(JSON.stringify(valid), ct);
        expectProblem(res, 415, 'request.unsupported_media_type');
      }
      const secret = mark('field');
      const unknownField = await send(
        JSON.stringify({ ...valid, zzUnknownField: secret }),
        'application/json',
      );
      expectProblem(unknownField, 422, 'request.validation_failed');
      expectPointers(unknownField, ['/zzUnknownField']);
      expectNoEcho(unknownField, secret);
      const notObject = await send(JSON.stringify([valid]), 'application/json');
      expectProblem(notObject, 422, 'request.validation_failed');
      for (const [field, value] of Object.entries(valid)) {
        // A value of another type: `true`, or an object where `true` is the right type.
        const wrong = typeof value === 'boolean' ? { zz: value } : true;
        const res = await send(JSON.stringify({ ...valid, [field]: wrong }), 'application/json');
        expect(res.status, `${field}: ${JSON.stringify(wrong)} -> ${res.raw}`).toBe(422);
        expect(res.body.code).toBe('request.validation_failed');
        expectPointers(res, [`/${field}`]);
      }
      expect(await views(f)).toEqual(before);

      // The valid body is accepted: the failures above were the defects' doing.
      const ok = await send(JSON.stringify(valid), 'application/json');
      expect(ok.status, ok.raw).toBeGreaterThanOrEqual(200);
      expect(ok.status, ok.raw).toBeLessThan(300);
    });
  }

  for (const r of ROUTES.filter((x) => paramsOf(x.url).length > 0 && x.auth !== 'public')) {
    it(`${routeKey(r)}: malformed path parameters answer 400 problem+json; over-long ones a problem without the value`, async () => {
      const f = await fixture();
      const c = r.auth === 'platform' ? t().admin : f.api;
      const body = BODIES[routeKey(r)]?.(f);
      const send = (bad: string) =>
        c.raw(r.method, fillUrl(r, f, bad), body ? JSON.stringify(body.body) : '', {
          ...(body ? { 'content-type': 'application/json', ...(body.headers ?? {}) } : {}),
        });
      const before = await views(f);
      if (isScim(r.url)) {
        // SCIM ids are opaque strings: a malformed one is an id nobody has (404), in the SCIM error schema.
        const code = SCIM_NOT_FOUND[paramsOf(r.url)[0]?.key ?? ''];
        expect(code, `${routeKey(r)}: its not-found code`).toBeDefined();
        for (const bad of ['not-a-valid-id!', "1' OR '1'='1", '../Users', '%00']) {
          const res = await send(bad);
          expectScimError(res, 404, code, `${routeKey(r)} ${bad}`);
          expectNoEcho(res, bad);
        }
        const long = `ZQX${'x'.repeat(300)}QZX`;
        const res = await send(long);
        expectScimError(res, 414, 'request.uri_too_long', `${routeKey(r)} long`);
        expectNoEcho(res, long.slice(0, 40));
        expect(await views(f)).toEqual(before);
        return;
      }
      for (const bad of ['not-a-valid-id!', "1' OR '1'='1"]) {
        const res = await send(bad);
        expectProblem(res, 400, 'request.invalid_parameter');
      }
      // Longer than the router accepts: still a problem+json 4xx of the catalogue, without the value.
      const long = `ZQX${'x'.repeat(300)}QZX`;
      const res = await send(long);
      expect(res.status, res.raw.slice(0, 300)).toBeGreaterThanOrEqual(400);
      expect(res.status, res.raw.slice(0, 300)).toBeLessThan(500);
      expect(String(res.headers['content-type']), res.raw.slice(0, 300)).toMatch(
        /^application\/problem\+json/,
      );
      expect(Object.keys(ERROR_CATALOGUE)).toContain(res.body?.code);
      expect(res.body.type).toBe(`urn:roster:problem:${res.body.code}`);
      expectNoEcho(res, long.slice(0, 40));
      expect(await views(f)).toEqual(before);
    });
  }
});

describeEachStore('413 on every write route (generated, ROSTER_BODY_LIMIT=2kb)', (kind) => {
  const t = useTestApp(kind, { ...ENV, ROSTER_BODY_LIMIT: '2kb' });
  // Public write routes too: the limit holds before any handler (or login) runs.
  for (const r of ROUTES.filter((x) => WRITE_METHODS.has(x.method))) {
    it(`${routeKey(r)}: a body over the limit answers 413 and changes nothing`, async () => {
      const { tenantId, api } = await t().newTenant();
      const f: Fixture = {
        tenantId,
        api,
        userId: '01900000-0000-7000-8000-000000000001',
        otherUserId: '01900000-0000-7000-8000-000000000002',
        groupId: '01900000-0000-7000-8000-000000000003',
        tokenId: '01900000-0000-7000-8000-000000000004',
        erasureId: '01900000-0000-7000-8000-000000000005',
        keyJobId: '01900000-0000-7000-8000-000000000006',
        sku: 'SKU-1',
        spareSku: 'SKU-2',
        poolId: '01900000-0000-7000-8000-000000000005',
        roleName: 'no-such-role',
        adminId: '01900000-0000-7000-8000-000000000007',
        adminName: 'no-such-admin',
      };
      const c = r.auth === 'platform' ? t().admin : r.auth === 'public' ? t().client(undefined) : api;
      const made = BODIES[routeKey(r)]?.(f);
      const secret = mark();
      const json = JSON.stringify({ ...(made?.body ?? {}), pad: secret });
      const before = { tenant: await tenantState(api), platform: await platformState(t().admin) };
      // SCIM's /Bulk takes up to the bulk.maxPayloadSize it advertises (RFC 7644 §3.7.4), not ROSTER_BODY_LIMIT.
      let pad = 4096;
      if (routeKey(r) === 'POST /scim/v2/Bulk') {
        const config = await api.get('/scim/v2/ServiceProviderConfig');
        expect(config.status, config.raw).toBe(200);
        pad = config.body.bulk.maxPayloadSize + 1;
      }
      const res = await c.raw(r.method, fillUrl(r, f), json + ' '.repeat(pad), {
        ...(made?.headers ?? {}),
        'content-type': 'application/json',
      });
      if (isScim(r.url)) expectScimError(res, 413, 'request.body_too_large', routeKey(r));
      else expectProblem(res, 413, 'request.body_too_large');
      expectNoEcho(res, secret);
      expect({ tenant: await tenantState(api), platform: await platformState(t().admin) }).toEqual(before);
    });
  }
});
