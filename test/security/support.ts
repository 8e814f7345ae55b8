/**
 * Shared by the attack suite (test/security): the route table, a tenant "world" that every path parameter
 * and body can refer to, a valid request per write route, and a cheap fingerprint of the store read straight
 * from the database (for "nothing changed").
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { expect } from 'vitest';
import type { RouteEntry } from '../../src/platform/http/server.js';
import type { Answer, Client, TestApp } from '../support/app.js';
import { erasureAndKeyJob } from '../support/keys.js';
import { routeKey, uniqueName } from '../support/routes.js';
import {
  expectErrorAt,
  expectForbiddenAt,
  SCIM_CT,
  SCIM_ENTERPRISE,
  SCIM_ROSTER,
  SCIM_SHARED_PARAMS,
  scimBody,
} from '../support/scim-routes.js';

/** Rate limits off (these suites send many requests per second on purpose); key jobs retire at once. */
export const ENV = { ROSTER_RATE_LIMIT_TENANT: '0', ROSTER_RATE_LIMIT_GLOBAL: '0' };
export const APP_OPTIONS = { keyCache: { versionCheckMs: 20 } };

export const u = uniqueName;

export const JSON_CT = { 'content-type': 'application/json' };

/** Everything of one tenant that paths and bodies refer to. */
export interface World {
  /** The tag in every name of this world's things (`user-<tag>@example.com`, `sgroup-<tag>`, ...). */
  readonly tag: string;
  readonly tenantId: string;
  readonly tenantName: string;
  /** A tenant-admin token of the tenant. */
  readonly token: string;
  readonly tokenId: string;
  readonly api: Client;
  /** In the group, holds a seat of `sku`. */
  readonly userId: string;
  /** In no group, holds nothing. */
  readonly otherUserId: string;
  readonly groupId: string;
  /** A token of the tenant without roles (revocable). */
  readonly spareTokenId: string;
  /** A custom role nobody holds. */
  readonly roleName: string;
  /** An admin account of the tenant (viewer), its username and password. */
  readonly adminId: string;
  readonly adminName: string;
  readonly erasureId: string;
  readonly keyJobId: string;
  readonly sku: string;
  readonly spareSku: string;
  readonly poolId: string;
  /** A pool no seat is taken from. */
  readonly idlePoolId: string;
  /**
   * The SCIM routes' user and group (created through SCIM): the user in the group, holding a seat of `sku`.
   * Apart from `userId` and `groupId`, which the REST write routes delete before the SCIM routes run (the
   * route table lists SCIM last).
   */
  readonly scimUserId: string;
  readonly scimGroupId: string;
  /** An onboarding done with this key and body. */
  readonly onboarding: { key: string; body: unknown; userId: string };
  /** Values that identify this tenant's data: none may reach another tenant's answers. */
  readonly secrets: string[];
}

/** Path parameters by `<preceding segment>/:<name>`; PUT of a member picks a user not yet in the group. */
export const PARAMS: Record<string, (w: World, method: string) => string> = {
  'tenants/:id': (w) => w.tenantId,
  'users/:id': (w) => w.userId,
  'groups/:id': (w) => w.groupId,
  'members/:userId': (w, method) => (method === 'PUT' ? w.otherUserId : w.userId),
  'tokens/:id': (w) => w.spareTokenId,
  'pools/:id': (w) => w.idlePoolId,
  'licenses/:sku': (w) => w.sku,
  'products/:sku': (w) => w.sku,
  'erasure-requests/:id': (w) => w.erasureId,
  'jobs/:id': (w) => w.keyJobId,
  'roles/:name': (w) => w.roleName,
  'admins/:id': (w) => w.adminId,
  // SCIM (/scim/v2): resources by id; the discovery routes name what every tenant shares.
  'Users/:id': (w) => w.scimUserId,
  'Groups/:id': (w) => w.scimGroupId,
  'Schemas/:id': () => SCIM_SHARED_PARAMS['Schemas/:id'] as string,
  'ResourceTypes/:id': () => SCIM_SHARED_PARAMS['ResourceTypes/:id'] as string,
};

/** A value no tenant has, per parameter. */
export const NOWHERE: Record<string, string> = {
  'tenants/:id': '01900000-0000-7000-8000-00000000000a',
  'users/:id': '01900000-0000-7000-8000-00000000000b',
  'groups/:id': '01900000-0000-7000-8000-00000000000c',
  'members/:userId': '01900000-0000-7000-8000-00000000000d',
  'tokens/:id': '01900000-0000-7000-8000-00000000000e',
  'pools/:id': '01900000-0000-7000-8000-00000000000f',
  'licenses/:sku': 'NO-SUCH-SKU',
  'products/:sku': 'NO-SUCH-SKU',
  'erasure-requests/:id': '01900000-0000-7000-8000-000000000010',
  'jobs/:id': '01900000-0000-7000-8000-000000000011',
  'roles/:name': 'no-such-role',
  'admins/:id': '01900000-0000-7000-8000-000000000012',
  'Users/:id': '01900000-0000-7000-8000-000000000013',
  'Groups/:id': '01900000-0000-7000-8000-000000000014',
  'Schemas/:id': 'urn:ietf:params:scim:schemas:core:2.0:Nothing',
  'ResourceTypes/:id': 'Nothing',
};

/** Whether path parameter `key` names something every tenant shares (SCIM's schemas and resource types). */
export const isShared = (key: string): boolean => Object.hasOwn(SCIM_SHARED_PARAMS, key);

/** The path parameters of `url` that name a tenant's own things. */
export const ownedParamsOf = (url: string) => paramsOf(url).filter((p) => !isShared(p.key));

/** The password of every admin account the suite creates. */
export const ADMIN_PASSWORD = 'correct horse battery staple';

export interface Call {
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** A valid request of each write route, referring to the caller's own things. */
export const WRITES: Record<string, (w: World) => Call> = {
  'POST /api/v1/tenants': () => ({ body: { name: u('tenant') } }),
  'POST /api/v1/tokens': () => ({ body: { name: u('token'), roles: ['viewer'] } }),
  'DELETE /api/v1/tokens/:id': () => ({}),
  'POST /api/v1/users': () => ({ body: { userName: `${u('user')}@example.com` } }),
  'PATCH /api/v1/users/:id': () => ({ body: { title: 'Pwned', department: 'Pwned' } }),
  'DELETE /api/v1/users/:id': () => ({}),
  'POST /api/v1/erasure-requests': (w) => ({ body: { userId: w.otherUserId } }),
  'POST /api/v1/groups': () => ({ body: { displayName: u('group') } }),
  'PATCH /api/v1/groups/:id': () => ({ body: { description: 'Pwned' } }),
  'DELETE /api/v1/groups/:id': () => ({}),
  'PUT /api/v1/groups/:id/members/:userId': () => ({}),
  'DELETE /api/v1/groups/:id/members/:userId': () => ({}),
  'POST /api/v1/roles': () => ({ body: { name: u('role'), permissions: ['users:read'] } }),
  'PATCH /api/v1/roles/:name': () => ({ body: { description: 'Pwned', permissions: [] } }),
  'DELETE /api/v1/roles/:name': () => ({}),
  'POST /api/v1/products': () => ({ body: { sku: u('SKU'), name: 'Product' } }),
  'POST /api/v1/pools': (w) => ({ body: { product: w.sku, name: u('pool'), capacity: 3 } }),
  'PATCH /api/v1/pools/:id': () => ({ body: { capacity: 0, name: 'Pwned' } }),
  'DELETE /api/v1/pools/:id': () => ({}),
  'POST /api/v1/users/:id/licenses': (w) => ({ body: { product: w.spareSku } }),
  'DELETE /api/v1/users/:id/licenses/:sku': () => ({}),
  'POST /api/v1/onboardings': () => ({
    body: { user: { userName: `${u('joiner')}@example.com` }, products: [] },
    headers: { 'idempotency-key': u('idem') },
  }),
  'POST /api/v1/users/:id/offboard': () => ({}),
  'POST /api/v1/keys/rotate': () => ({}),
  'POST /api/v1/admins': () => ({
    body: { username: u('admin'), password: ADMIN_PASSWORD, roles: ['viewer'] },
  }),
  'PATCH /api/v1/admins/:id': () => ({ body: { roles: ['helpdesk'] } }),
  'DELETE /api/v1/admins/:id/totp': () => ({}),
  // Public: the login steps read no credentials of the caller.
  'POST /api/v1/auth/login': (w) => ({
    body: { tenant: w.tenantId, username: w.adminName, password: 'not the password' },
  }),
  'POST /api/v1/auth/login/totp': () => ({ body: { challenge: 'no-such-challenge', code: '123456' } }),
  'POST /api/v1/auth/totp/enrol': () => ({ body: { challenge: 'no-such-challenge', code: '123456' } }),
  'POST /api/v1/auth/logout': () => ({}),
  'POST /api/v1/auth/password': () => ({
    body: { currentPassword: ADMIN_PASSWORD, newPassword: `${ADMIN_PASSWORD} 2` },
  }),
  'POST /api/v1/tenants/:id/keys/rotate': () => ({}),
  // SCIM 2.0 (RFC 7644), in its own media type.
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
  'PATCH /scim/v2/Groups/:id': () => ({
    body: scimBody.patch('displayName', u('pwned')),
    headers: SCIM_CT,
  }),
  'DELETE /scim/v2/Groups/:id': () => ({}),
  'POST /scim/v2/Bulk': () => ({ body: scimBody.bulkUser(`${u('bulk')}@example.com`), headers: SCIM_CT }),
};

export const isWrite = (r: RouteEntry): boolean => r.method !== 'GET' && r.method !== 'HEAD';

export function paramsOf(url: string): { name: string; key: string }[] {
  const segs = url.split('/');
  return segs.flatMap((s, i) =>
    s.startsWith(':') ? [{ name: s.slice(1), key: `${segs[i - 1]}/${s}` }] : [],
  );
}

/** Why the suite cannot call route `r`, or undefined when it can. */
export function unknownPart(r: RouteEntry): string | undefined {
  for (const p of paramsOf(r.url)) {
    if (!PARAMS[p.key]) return `no filler for path parameter ${p.key}`;
    if (!NOWHERE[p.key]) return `no unknown value for path parameter ${p.key}`;
  }
  if (isWrite(r) && !WRITES[routeKey(r)]) return 'no valid request known for this write';
  return undefined;
}

/** The routes (not public) the suite cannot call: each must be taught to it, or the coverage test fails. */
export function uncovered(routes: readonly RouteEntry[]): string[] {
  return routes.flatMap((r) => {
    const why = r.auth === 'public' ? undefined : unknownPart(r);
    return why ? [`${r.method} ${r.url}: ${why}`] : [];
  });
}

/** Who owns each path parameter: a world, or nobody (a value no tenant has). */
export type Owner = World | 'nowhere';

export function fillUrl(r: RouteEntry, owners: readonly Owner[] | World): string {
  const list = Array.isArray(owners) ? owners : paramsOf(r.url).map(() => owners as World);
  let url = r.url;
  paramsOf(r.url).forEach((p, i) => {
    const o = list[i];
    const fill = PARAMS[p.key];
    if (!o || !fill) throw new Error(`${routeKey(r)}: nothing to fill ${p.key} with`);
    url = url.replace(
      `:${p.name}`,
      encodeURIComponent(o === 'nowhere' ? (NOWHERE[p.key] ?? '') : fill(o, r.method)),
    );
  });
  return url;
}

/** Sends route `r` at `url` with `payload` (a raw body, or undefined for none) and the given headers. */
export function sendRaw(
  c: Client,
  r: RouteEntry,
  url: string,
  payload: string | Buffer | undefined,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return c.raw(r.method, url, payload ?? '', {
    ...(payload === undefined ? {} : JSON_CT),
    ...headers,
  });
}

/** Sends the valid request of route `r` (made for `caller`) at `url`. */
export function sendValid(
  c: Client,
  r: RouteEntry,
  url: string,
  caller: World,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const call = WRITES[routeKey(r)]?.(caller) ?? {};
  const payload = call.body === undefined ? undefined : JSON.stringify(call.body);
  return sendRaw(c, r, url, payload, { ...(call.headers ?? {}), ...headers });
}

/** A problem+json answer with this status (and code, when given), never echoing a 5xx cause. */
export function expectProblem(res: Answer, status: number, code?: string, what = ''): void {
  expect(res.status, `${what} ${res.raw.slice(0, 400)}`).toBe(status);
  expect(String(res.headers['content-type']), what).toMatch(/^application\/problem\+json/);
  expect(res.body?.status, what).toBe(status);
  if (code !== undefined) {
    expect(res.body?.code, what).toBe(code);
    expect(res.body?.type, what).toBe(`urn:roster:problem:${code}`);
  }
}

/** A 403 naming `permission`. */
export function expectForbidden(res: Answer, permission: string, what = ''): void {
  expectProblem(res, 403, 'auth.forbidden', what);
  expect(res.body.permission, `${what}: the permission named`).toBe(permission);
}

/**
 * The error of a request to `url` with this status (and code): the SCIM error schema under /scim/v2
 * (test/support/scim-routes.ts), problem+json elsewhere ({@link expectProblem}).
 */
export const expectError = expectErrorAt;

/** A 403 of a request to `url` naming `permission`, in the error format of `url`. */
export const expectForbiddenFor = expectForbiddenAt;

/** A 422 whose field errors name `pointer`, or a 403 naming a permission (the two ways to refuse). */
export function expectFieldRefused(res: Answer, pointer: string, what = ''): void {
  expectProblem(res, 422, undefined, what);
  const pointers = ((res.body?.errors ?? []) as { pointer: string }[]).map((e) => e.pointer);
  expect(pointers, `${what}: ${res.raw}`).toContain(pointer);
}

/** Asserts that no value identifying `of` is in the answer (but `echoed`: what the caller itself sent). */
export function expectNoLeak(res: Answer, of: World, what: string, echoed: readonly string[] = []): void {
  const raw = echoed.reduce((text, e) => text.split(e).join(''), res.raw);
  for (const s of of.secrets)
    expect(raw.includes(s), `${what}: leaks ${s}: ${raw.slice(0, 400)}`).toBe(false);
}

/** Mints a token of `api`'s tenant with these roles; its secret and client. */
export async function mint(
  t: TestApp,
  api: Client,
  roles: readonly unknown[],
  extra: Record<string, unknown> = {},
): Promise<{ id: string; token: string; api: Client }> {
  const res = await api.post('/api/v1/tokens', { name: u('minted'), roles, ...extra });
  expect(res.status, res.raw).toBe(201);
  return { id: res.body.id, token: res.body.token, api: t.client(res.body.token) };
}

/** A tenant with everything the routes name: users, a group, tokens, a role, products, pools, a seat. */
export async function buildWorld(t: TestApp, label: string): Promise<World> {
  const tag = `${label}${randomBytes(4).toString('hex')}`;
  const tenantName = `tenant-${tag}`;
  const tenant = await t.admin.post('/api/v1/tenants', { name: tenantName });
  expect(tenant.status, tenant.raw).toBe(201);
  const tenantId: string = tenant.body.id;
  const tok = await t.admin.post('/api/v1/tokens', {
    tenantId,
    name: `admin-${tag}`,
    roles: ['tenant-admin'],
  });
  expect(tok.status, tok.raw).toBe(201);
  const api = t.client(tok.body.token);
  const ok = async (res: Promise<Answer>) => {
    const a = await res;
    expect(a.status, a.raw).toBeLessThan(300);
    return a.body;
  };
  const user = await ok(
    api.post('/api/v1/users', {
      userName: `user-${tag}@example.com`,
      externalId: `ext-${tag}`,
      displayName: `Display ${tag}`,
      emails: [{ value: `mail-${tag}@example.org`, primary: true }],
      department: `dept-${tag}`,
      location: { site: 'ber-1', country: 'DE' },
    }),
  );
  const other = await ok(
    api.post('/api/v1/users', {
      userName: `other-${tag}@example.com`,
      location: { site: 'ber-1', country: 'DE' },
    }),
  );
  const group = await ok(
    api.post('/api/v1/groups', {
      displayName: `group-${tag}`,
      externalId: `gext-${tag}`,
      members: [user.id],
    }),
  );
  const spare = await ok(api.post('/api/v1/tokens', { name: `spare-${tag}`, roles: [] }));
  const roleName = `role-${tag}`;
  await ok(api.post('/api/v1/roles', { name: roleName, permissions: ['users:read'] }));
  const adminName = `admin-${tag}`;
  const admin = await ok(
    api.post('/api/v1/admins', { username: adminName, password: ADMIN_PASSWORD, roles: ['viewer'] }),
  );
  const sku = `SKU-${tag}`;
  const spareSku = `SPARE-${tag}`;
  const products = [];
  for (const s of [sku, spareSku])
    products.push(await ok(api.post('/api/v1/products', { sku: s, name: `p ${s}` })));
  const pool = await ok(api.post('/api/v1/pools', { product: sku, name: `pool-${tag}`, capacity: 5 }));
  const idle = await ok(api.post('/api/v1/pools', { product: spareSku, name: `idle-${tag}`, capacity: 5 }));
  await ok(api.post(`/api/v1/users/${user.id}/licenses`, { product: sku }));
  // The SCIM routes' own user and group, made through SCIM.
  const scimUser = await ok(
    api.post(
      '/scim/v2/Users',
      scimBody.user(`scim-${tag}@example.com`, {
        externalId: `sext-${tag}`,
        displayName: `Scim ${tag}`,
        emails: [{ value: `smail-${tag}@example.org`, primary: true }],
        [SCIM_ENTERPRISE]: { department: `sdept-${tag}` },
        [SCIM_ROSTER]: { location: { site: 'ber-1', country: 'DE' } },
      }),
      SCIM_CT,
    ),
  );
  const scimGroup = await ok(
    api.post(
      '/scim/v2/Groups',
      scimBody.group(`sgroup-${tag}`, { externalId: `sgext-${tag}`, members: [{ value: scimUser.id }] }),
      SCIM_CT,
    ),
  );
  await ok(api.post(`/api/v1/users/${scimUser.id}/licenses`, { product: sku }));
  // The rotation first: a stored onboarding answer keeps the old key version in use (the job would drain).
  const keyThings = await erasureAndKeyJob(t, api, tenantId);
  const onboardingBody = { user: { userName: `joiner-${tag}@example.com` }, products: [sku] };
  const onboardingKey = `idem-${tag}`;
  const joined = await ok(
    api.post('/api/v1/onboardings', onboardingBody, { 'idempotency-key': onboardingKey }),
  );
  return {
    tag,
    tenantId,
    tenantName,
    token: tok.body.token,
    tokenId: tok.body.id,
    api,
    userId: user.id,
    otherUserId: other.id,
    groupId: group.id,
    spareTokenId: spare.id,
    roleName,
    adminId: admin.id,
    adminName,
    erasureId: keyThings.erasureId,
    keyJobId: keyThings.keyJobId,
    sku,
    spareSku,
    poolId: pool.id,
    idlePoolId: idle.id,
    scimUserId: scimUser.id,
    scimGroupId: scimGroup.id,
    onboarding: { key: onboardingKey, body: onboardingBody, userId: joined.user.id },
    secrets: [
      tag,
      tenantId,
      tok.body.id,
      tok.body.token,
      spare.id,
      spare.token,
      user.id,
      other.id,
      group.id,
      admin.id,
      pool.id,
      idle.id,
      scimUser.id,
      scimGroup.id,
      joined.user.id,
      keyThings.erasureId,
      keyThings.keyJobId,
      keyThings.erasedUserId,
      ...products.map((p) => p.id),
    ],
  };
}

/**
 * A cheap fingerprint of the store (or of one tenant), read from the database: row counts, and the sums of
 * the version columns (so an update shows too). Audit entries count without `access.denied` and
 * `auth.login_failed` (a refusal is itself audited); token use times, login throttles and the Merkle log are
 * left out.
 */
export async function fingerprint(t: TestApp, tenantId?: string): Promise<Record<string, unknown>> {
  const db = t.app.db.kysely;
  const scoped = tenantId === undefined ? sql`1 = 1` : sql`tenant_id = ${tenantId}`;
  const count = (table: string, extra = sql`1 = 1`) =>
    sql<number>`(select count(*) from ${sql.table(table)} where ${scoped} and ${extra})`;
  const sum = (table: string, column: string) =>
    sql<number>`(select coalesce(sum(${sql.ref(column)}), 0) from ${sql.table(table)} where ${scoped})`;
  const row = await sql<Record<string, unknown>>`select
      ${count('users')} as users, ${sum('users', 'version')} as user_versions,
      ${count('users', sql`status = 'active'`)} as active_users,
      ${count('groups')} as groups, ${sum('groups', 'version')} as group_versions,
      ${count('group_members')} as members,
      ${count('api_tokens')} as tokens, ${count('api_tokens', sql`revoked_at is not null`)} as revoked,
      ${count('roles')} as roles, ${sum('roles', 'version')} as role_versions,
      ${count('admin_accounts')} as admins, ${sum('admin_accounts', 'version')} as admin_versions,
      ${count('admin_sessions')} as sessions,
      ${count('products')} as products,
      ${count('pools')} as pools, ${sum('pools', 'version')} as pool_versions, ${sum('pools', 'used')} as used,
      ${count('assignments')} as assignments,
      ${count('idempotency_keys')} as idempotency_keys,
      ${count('erasure_requests')} as erasures,
      ${count('key_jobs')} as key_jobs,
      ${count('tenant_keys')} as tenant_keys,
      ${count('audit_entries', sql`action not in ('access.denied', 'auth.login_failed')`)} as audit,
      (select count(*) from tenants) as tenants,
      (select count(*) from kek_versions) as keks`.execute(db);
  const out = row.rows[0] ?? {};
  // PostgreSQL answers counts and sums as strings (bigint), SQLite as numbers.
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(v)]));
}

/** The `access.denied` entries of a tenant (or of the platform scope, null) so far. */
export async function denialCount(t: TestApp, tenantId: string | null): Promise<number> {
  const q = t.app.db.kysely
    .selectFrom('audit_entries')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('action', '=', 'access.denied');
  const row = await (tenantId === null
    ? q.where('tenant_id', 'is', null)
    : q.where('tenant_id', '=', tenantId)
  ).executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Who sends a route in the generated suites: nobody for public routes, the platform admin for platform ones, else the tenant admin. */
export function callerOf(t: TestApp, r: RouteEntry, w: World): Client {
  if (r.auth === 'public') return t.client(undefined);
  return r.auth === 'platform' ? t.admin : w.api;
}

/** The write routes of the table (public ones included: their bodies are parsed alike). */
export const writeRoutes = (routes: readonly RouteEntry[]): RouteEntry[] => routes.filter(isWrite);

/** The newest audit entry that is not a refusal (one indexed read: cheap enough for every request). */
export async function lastAuditSeq(t: TestApp): Promise<number> {
  const row = await t.app.db.kysely
    .selectFrom('audit_entries')
    .select((eb) => eb.fn.max('seq').as('seq'))
    .where('action', 'not in', ['access.denied', 'auth.login_failed'])
    .executeTakeFirst();
  return Number(row?.seq ?? 0);
}

/** A world built on first use, once per suite (and store). */
export function lazyWorld(t: () => TestApp, label: string): () => Promise<World> {
  let p: Promise<World> | undefined;
  return () => {
    p ??= buildWorld(t(), label);
    return p;
  };
}

/** The coverage check of the generated write suites: each write route (public ones too) can be called. */
export function expectEveryWriteCovered(writes: readonly RouteEntry[]): void {
  expect(writes.map(routeKey)).toContain('POST /api/v1/users');
  expect(writes.length).toBeGreaterThan(20);
  expect(writes.filter((r) => !WRITES[routeKey(r)]).map(routeKey), 'no valid request known').toEqual([]);
  expect(uncovered(writes)).toEqual([]);
}
