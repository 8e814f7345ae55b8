/**
 * Attack: cross-tenant object access (BOLA), GENERATED FROM THE ROUTE TABLE. Tenant A's tenant-admin token
 * goes after tenant B's objects through every route that takes an id (a route with a path parameter this
 * suite cannot fill fails the coverage test): each answer must be exactly the answer for an id nobody has,
 * hold nothing of B, and change nothing of B (read from the database). Then the other ways in: naming B in
 * Roster-Tenant, minting a token for B, replaying B's idempotency key, and searching the audit log for B.
 * SCIM (/scim/v2) too: its ids through every route, and B's ids and values in SCIM filters, in references of
 * SCIM bodies and in /Bulk operations. SCIM errors use the SCIM error schema, not problem+json.
 */
import { describe, expect, it } from 'vitest';
import type { RouteEntry } from '../../src/platform/http/server.js';
import { type Answer, type Client, useTestApp } from '../support/app.js';
import { loadRouteTable, routeKey, routeName } from '../support/routes.js';
import {
  expectScimError,
  expectScimType,
  SCIM_BULK_RESPONSE,
  SCIM_CT,
  SCIM_LIST,
  SCIM_ROSTER,
  scimBody,
} from '../support/scim-routes.js';
import { describeEachStore } from '../support/stores.js';
import {
  APP_OPTIONS,
  buildWorld,
  denialCount,
  ENV,
  expectError,
  expectForbidden,
  expectForbiddenFor,
  expectNoLeak,
  fillUrl,
  fingerprint,
  isShared,
  type Owner,
  ownedParamsOf,
  paramsOf,
  sendValid,
  u,
  uncovered,
  type World,
} from './support.js';

const ROUTES = await loadRouteTable();
/** The routes that take the id of a tenant's own thing. */
const WITH_IDS = ROUTES.filter((r) => r.auth !== 'public' && ownedParamsOf(r.url).length > 0);
/**
 * The routes whose path parameters all name what every tenant shares (SCIM's /Schemas/{id} and
 * /ResourceTypes/{id}): B has no ids of its own there, so they are attacked for what they answer instead.
 */
const SHARED_ONLY = ROUTES.filter(
  (r) => r.auth !== 'public' && paramsOf(r.url).length > 0 && ownedParamsOf(r.url).length === 0,
);

/** The resource types the issue names: each must be reached by at least one attacked route. */
const RESOURCE_ROUTES = [
  'GET /api/v1/users/:id',
  'GET /api/v1/groups/:id',
  'GET /api/v1/groups/:id/members',
  'PUT /api/v1/groups/:id/members/:userId',
  'GET /api/v1/tokens/:id',
  'GET /api/v1/roles/:name',
  'GET /api/v1/pools/:id',
  'GET /api/v1/users/:id/licenses',
  'DELETE /api/v1/users/:id/licenses/:sku',
  'GET /api/v1/erasure-requests/:id',
  'GET /api/v1/keys/jobs/:id',
  'GET /api/v1/admins/:id',
  'GET /scim/v2/Users/:id',
  'PUT /scim/v2/Users/:id',
  'PATCH /scim/v2/Users/:id',
  'DELETE /scim/v2/Users/:id',
  'GET /scim/v2/Groups/:id',
  'PUT /scim/v2/Groups/:id',
  'PATCH /scim/v2/Groups/:id',
  'DELETE /scim/v2/Groups/:id',
];

/** Every assignment of owners to `n` parameters in which at least one is `b` (the others `a`). */
function mixes<T>(n: number, a: T, b: T): T[][] {
  const out: T[][] = [];
  for (let mask = 1; mask < 1 << n; mask++)
    out.push(Array.from({ length: n }, (_, i) => (mask & (1 << i) ? b : a)));
  return out;
}

/**
 * Every assignment of owners to the path parameters of `r` in which at least one of its own-thing parameters
 * is `b` (the others `a`); shared parameters (SCIM schemas, resource types) are nobody's and stay `a`'s.
 */
function ownerMixes(r: RouteEntry, a: World, b: World): Owner[][] {
  const params = paramsOf(r.url);
  const owned = params.filter((p) => !isShared(p.key)).length;
  return mixes<Owner>(owned, a, b).map((mix) => {
    let i = 0;
    return params.map((p) => (isShared(p.key) ? a : (mix[i++] as Owner)));
  });
}

/** An answer as a client can compare it: status, body without its request id, headers that are not per-request. */
function observable(res: Answer): unknown {
  const { requestId: _r, ...body } = (res.body ?? {}) as Record<string, unknown>;
  const { 'x-request-id': _x, date: _d, ...headers } = res.headers;
  return { status: res.status, body, headers };
}

describeEachStore('attack: cross-tenant object access (BOLA)', (kind) => {
  const t = useTestApp(kind, ENV, APP_OPTIONS);

  let worldsP: Promise<{ a: World; b: World }> | undefined;
  const worlds = () => {
    worldsP ??= (async () => ({ a: await buildWorld(t(), 'a'), b: await buildWorld(t(), 'b') }))();
    return worldsP;
  };

  it('every route with a path parameter is attacked, and every resource type is among them', () => {
    expect(uncovered([...WITH_IDS, ...SHARED_ONLY])).toEqual([]);
    for (const key of RESOURCE_ROUTES) expect(WITH_IDS.map(routeKey), key).toContain(key);
    // Only the SCIM discovery routes name nothing of a tenant (and they are there).
    expect(SHARED_ONLY.map(routeKey).sort()).toEqual([
      'GET /scim/v2/ResourceTypes/:id',
      'GET /scim/v2/Schemas/:id',
    ]);
  });

  describe("A's tenant-admin token on B's ids answers exactly as for unknown ids", () => {
    for (const r of WITH_IDS) {
      // A tenant token never passes a platform route, whatever the id; elsewhere B's ids are unknown to A.
      const expected = r.auth === 'platform' ? 403 : 404;
      it(`${routeName(r)}: ${expected}, nothing of B in the answer, nothing of A or B changed`, async () => {
        const { a, b } = await worlds();
        const beforeA = await fingerprint(t(), a.tenantId);
        const beforeB = await fingerprint(t(), b.tenantId);
        const deniedB = await denialCount(t(), b.tenantId);
        for (const owners of ownerMixes(r, a, b)) {
          const url = fillUrl(r, owners);
          const res = await sendValid(a.api, r, url, a);
          expectError(url, res, expected, undefined, `${r.method} ${url}`);
          if (expected === 403) expect(res.body.permission).toBe(r.permission);
          expectNoLeak(res, b, `${r.method} ${url}`);
          const ghost = await sendValid(
            a.api,
            r,
            fillUrl(
              r,
              owners.map((o) => (o === b ? 'nowhere' : o)),
            ),
            a,
          );
          expect(observable(res), `${r.method} ${url} vs unknown ids`).toEqual(observable(ghost));
        }
        expect(await fingerprint(t(), b.tenantId), "B's state").toEqual(beforeB);
        expect(await fingerprint(t(), a.tenantId), "A's state").toEqual(beforeA);
        // A's refusals are on A's record, never on B's.
        expect(await denialCount(t(), b.tenantId)).toBe(deniedB);
      });
    }
  });

  describe('routes naming only what every tenant shares answer A alike for any tenant, and nothing of B', () => {
    for (const r of SHARED_ONLY) {
      it(`${routeName(r)}: the same answer to A and B, nothing of B in it, an unknown name 404`, async () => {
        const { a, b } = await worlds();
        const beforeB = await fingerprint(t(), b.tenantId);
        const mine = await sendValid(a.api, r, fillUrl(r, a), a);
        expect(mine.status, mine.raw.slice(0, 300)).toBe(200);
        // "B's" name of a shared thing is the same name: the same answer, and B's own answer is the same too.
        const theirs = await sendValid(a.api, r, fillUrl(r, b), a);
        expect(observable(theirs)).toEqual(observable(mine));
        const bOwn = await sendValid(b.api, r, fillUrl(r, b), b);
        expect(bOwn.body).toEqual(mine.body);
        expectNoLeak(mine, b, routeName(r));
        const nowhere = await sendValid(
          a.api,
          r,
          fillUrl(
            r,
            paramsOf(r.url).map(() => 'nowhere'),
          ),
          a,
        );
        expectError(r.url, nowhere, 404, 'request.not_found', `${routeName(r)} unknown`);
        expect(await fingerprint(t(), b.tenantId)).toEqual(beforeB);
      });
    }
  });

  it("A naming B in Roster-Tenant is refused (403 tenants:act) on every tenant route, and B's data stays out", async () => {
    const { b } = await worlds();
    // A world of its own: where the header is ignored, the valid writes below change A's things.
    const a = await buildWorld(t(), 'header');
    const beforeB = await fingerprint(t(), b.tenantId);
    const wrong: string[] = [];
    for (const r of ROUTES.filter((x) => x.auth === 'tenant' || x.auth === 'scoped')) {
      // Its own ids or B's: with the header it must not matter, the header alone is refused.
      for (const owner of [a, b]) {
        const url = fillUrl(r, owner);
        const res = await sendValid(a.api, r, url, owner, { 'roster-tenant': b.tenantId });
        expectNoLeak(res, b, `${r.method} ${url} naming B`);
        if (res.status !== 403 || res.body?.permission !== 'tenants:act')
          wrong.push(`${routeName(r)} (${owner === a ? "A's" : "B's"} ids): ${res.status} ${res.body?.code}`);
      }
    }
    expect(await fingerprint(t(), b.tenantId), "B's state").toEqual(beforeB);
    expect(wrong, 'answered other than 403 naming tenants:act').toEqual([]);
  });

  it('a platform token without tenants:act cannot name a tenant (403 tenants:act) and changes nothing', async () => {
    const { a, b } = await worlds();
    // A platform token holding every tenant permission, but not tenants:act.
    const res = await t().admin.post('/api/v1/tokens', { name: 'no-act', roles: ['tenant-admin'] });
    expect(res.status, res.raw).toBe(201);
    const platform = t().client(res.body.token);
    const beforeB = await fingerprint(t(), b.tenantId);
    for (const r of ROUTES.filter((x) => x.auth === 'tenant')) {
      const url = fillUrl(r, b);
      const answer = await sendValid(platform, r, url, b, { 'roster-tenant': b.tenantId });
      expectForbiddenFor(url, answer, 'tenants:act', `${r.method} ${url}`);
      expectNoLeak(answer, b, `${r.method} ${url}`);
    }
    expect(await fingerprint(t(), b.tenantId)).toEqual(beforeB);
    expect(a.tenantId).not.toBe(b.tenantId);
  });

  it("A's token minting a token for B is refused with 403 tenants:act, and B gets no token", async () => {
    const { a, b } = await worlds();
    const beforeB = await fingerprint(t(), b.tenantId);
    for (const roles of [[], ['viewer'], ['tenant-admin']]) {
      const res = await a.api.post('/api/v1/tokens', { tenantId: b.tenantId, name: 'for-b', roles });
      expectForbidden(res, 'tenants:act', `roles ${roles}`);
      expectNoLeak(res, b, 'minting for B');
    }
    // With the header too.
    const named = await a.api.post(
      '/api/v1/tokens',
      { tenantId: b.tenantId, name: 'for-b', roles: [] },
      { 'roster-tenant': b.tenantId },
    );
    expectForbidden(named, 'tenants:act', 'minting for B naming B');
    expect(await fingerprint(t(), b.tenantId)).toEqual(beforeB);
  });

  it("replaying B's onboarding (B's Idempotency-Key and body) never answers B's stored result", async () => {
    const { a, b } = await worlds();
    const beforeB = await fingerprint(t(), b.tenantId);
    const res = await a.api.post('/api/v1/onboardings', b.onboarding.body, {
      'idempotency-key': b.onboarding.key,
    });
    // Keys are per tenant: for A it is a new onboarding of A's own (B's SKU is unknown to A).
    expect(res.status, res.raw).toBe(422);
    expect(res.body.code).toBe('licenses.unknown_product');
    expectNoLeak(res, b, "replay of B's key");
    // With a body of A's own it is A's own new user, never B's answer.
    const body = { user: { userName: 'replayer@example.com' }, products: [] };
    const own = await a.api.post('/api/v1/onboardings', body, { 'idempotency-key': b.onboarding.key });
    expect(own.status, own.raw).toBe(201);
    expect(own.body.user.id).not.toBe(b.onboarding.userId);
    expectNoLeak(own, b, "onboarding under B's key");
    const replay = await a.api.post('/api/v1/onboardings', body, { 'idempotency-key': b.onboarding.key });
    expect(replay.body.user.id).toBe(own.body.user.id);
    expect(await fingerprint(t(), b.tenantId)).toEqual(beforeB);
    // B's replay still answers B's first result.
    const bReplay = await b.api.post('/api/v1/onboardings', b.onboarding.body, {
      'idempotency-key': b.onboarding.key,
    });
    expect(bReplay.body.user.id).toBe(b.onboarding.userId);
  });

  it("A's audit entries, holders and reports searched with B's ids show nothing of B", async () => {
    const { a, b } = await worlds();
    await t().app.integrator.catchUp(a.tenantId);
    await t().app.integrator.catchUp(b.tenantId);
    const at = encodeURIComponent(new Date().toISOString());
    // Each search with B's value, and the same search with a value nobody has.
    const searches: [string, string][] = [
      [`/api/v1/audit/entries?targetId=${b.userId}`, '/api/v1/audit/entries?targetId=nobody'],
      [`/api/v1/audit/entries?targetId=${b.groupId}`, '/api/v1/audit/entries?targetId=nobody'],
      [`/api/v1/audit/entries?actor=token:${b.tokenId}`, '/api/v1/audit/entries?actor=token:nobody'],
      [`/api/v1/audit/entries?targetId=${b.tenantId}`, '/api/v1/audit/entries?targetId=nobody'],
      [
        `/api/v1/audit/holders?group=${b.groupId}&at=${at}`,
        `/api/v1/audit/holders?group=01900000-0000-7000-8000-00000000000c&at=${at}`,
      ],
      [
        `/api/v1/audit/holders?product=${encodeURIComponent(b.sku)}&at=${at}`,
        `/api/v1/audit/holders?product=NO-SUCH-SKU&at=${at}`,
      ],
      [
        `/api/v1/audit/holders?role=${encodeURIComponent(b.roleName)}&at=${at}`,
        `/api/v1/audit/holders?role=no-such-role&at=${at}`,
      ],
    ];
    for (const [path, ghostPath] of searches) {
      const res = await a.api.get(path);
      const ghost = await a.api.get(ghostPath);
      expect(res.status, `${path}: ${res.raw.slice(0, 300)}`).toBe(ghost.status);
      expect(res.status, path).toBeLessThan(500);
      if (res.status === 200) expect(res.body.items, path).toEqual([]);
      // The holders answer names what was asked (A's own input): B's value may come back only there.
      expectNoLeak(
        res,
        b,
        path,
        [b.groupId, b.sku, b.roleName].map((v) => decodeURIComponent(v)),
      );
    }
    const period = new Date().toISOString().slice(0, 7);
    for (const format of ['json', 'csv']) {
      const report = await a.api.get(`/api/v1/reports/compliance?period=${period}&format=${format}`);
      expect(report.status, report.raw.slice(0, 300)).toBe(200);
      expectNoLeak(report, b, `report (${format})`);
    }
  });

  it('no list or document A can read holds anything of B (every GET without ids, generated)', async () => {
    const { a, b } = await worlds();
    await t().app.integrator.catchUp(a.tenantId);
    const queries: Record<string, string> = {
      'GET /api/v1/audit/proofs/inclusion': 'index=0&treeSize=1',
      'GET /api/v1/audit/proofs/consistency': 'from=1&to=2',
      'GET /api/v1/audit/holders': `product=${encodeURIComponent(a.sku)}&at=${encodeURIComponent(new Date().toISOString())}`,
      'GET /api/v1/reports/compliance': `period=${new Date().toISOString().slice(0, 7)}`,
    };
    const reads = ROUTES.filter(
      (r: RouteEntry) => r.method === 'GET' && r.auth !== 'public' && paramsOf(r.url).length === 0,
    );
    expect(reads.length).toBeGreaterThan(10);
    for (const r of reads) {
      const q = queries[routeKey(r)];
      const res = await a.api.get(q ? `${r.url}?${q}` : r.url);
      expect(res.status, `${routeName(r)}: ${res.raw.slice(0, 300)}`).toBeLessThan(500);
      expectNoLeak(res, b, routeName(r));
    }
  });

  // ------------------------------------------------------------------------------------------------
  describe('SCIM: B in filters, in references of bodies and in /Bulk operations', () => {
    const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
    const q = (s: string) => JSON.stringify(s);
    /** Filters naming B's SCIM user and group by each attribute a filter can ask (and the count B finds). */
    const filters = (b: World): [string, string][] => [
      ['/Users', `id eq ${q(b.scimUserId)}`],
      ['/Users', `id eq ${q(b.userId)}`],
      ['/Users', `userName eq ${q(`scim-${b.tag}@example.com`)}`],
      ['/Users', `userName eq ${q(`USER-${b.tag}@EXAMPLE.COM`)}`],
      ['/Users', `externalId eq ${q(`sext-${b.tag}`)}`],
      ['/Users', `emails.value eq ${q(`smail-${b.tag}@example.org`)}`],
      ['/Users', `emails[value eq ${q(`mail-${b.tag}@example.org`)}]`],
      ['/Users', `${ENTERPRISE}:department eq ${q(`sdept-${b.tag}`)}`],
      ['/Users', `groups.value eq ${q(b.scimGroupId)}`],
      ['/Groups', `id eq ${q(b.scimGroupId)}`],
      ['/Groups', `displayName eq ${q(`sgroup-${b.tag}`)}`],
      ['/Groups', `externalId eq ${q(`sgext-${b.tag}`)}`],
      ['/Groups', `members.value eq ${q(b.scimUserId)}`],
    ];

    it("A's filters and searches with B's ids and values find nothing; B's own find B's", async () => {
      const { a, b } = await worlds();
      const beforeB = await fingerprint(t(), b.tenantId);
      for (const [resource, filter] of filters(b)) {
        const what = `${resource}?filter=${filter}`;
        const listed = await a.api.get(`/scim/v2${resource}?filter=${encodeURIComponent(filter)}`);
        const searched = await a.api.post(
          `/scim/v2${resource}/.search`,
          scimBody.search({ filter, count: 10 }),
          SCIM_CT,
        );
        for (const [how, res] of [
          ['GET', listed],
          ['POST .search', searched],
        ] as const) {
          expect(res.status, `${how} ${what}: ${res.raw.slice(0, 300)}`).toBe(200);
          expect(res.body.schemas).toEqual([SCIM_LIST]);
          expect(res.body.totalResults, `${how} ${what}`).toBe(0);
          expect(res.body.Resources ?? [], `${how} ${what}`).toEqual([]);
          expectNoLeak(res, b, `${how} ${what}`);
        }
        // The filter itself works: B finds its own with it.
        const own = await b.api.get(`/scim/v2${resource}?filter=${encodeURIComponent(filter)}`);
        expect(own.status, own.raw.slice(0, 300)).toBe(200);
        expect(own.body.totalResults, `B: ${what}`).toBe(1);
      }
      expect(await fingerprint(t(), b.tenantId)).toEqual(beforeB);
    });

    it("A's /Bulk operations on B's users and groups fail each exactly as on unknown ids, changing nothing", async () => {
      const { a, b } = await worlds();
      const beforeA = await fingerprint(t(), a.tenantId);
      const beforeB = await fingerprint(t(), b.tenantId);
      const deniedB = await denialCount(t(), b.tenantId);
      const ops = (userId: string, groupId: string) =>
        scimBody.bulk([
          {
            method: 'PUT',
            path: `/Users/${userId}`,
            data: scimBody.user(`${u('bulk-put')}@example.com`),
          },
          { method: 'PATCH', path: `/Users/${userId}`, data: scimBody.patch('title', 'Pwned') },
          { method: 'PATCH', path: `/Groups/${groupId}`, data: scimBody.patch('displayName', u('pwned')) },
          {
            method: 'PATCH',
            path: `/Groups/${groupId}`,
            data: scimBody.patch('members', [{ value: userId }], 'add'),
          },
          { method: 'DELETE', path: `/Users/${userId}` },
          { method: 'DELETE', path: `/Groups/${groupId}` },
        ]);
      const res = await a.api.post('/scim/v2/Bulk', ops(b.scimUserId, b.scimGroupId), SCIM_CT);
      const ghost = await a.api.post(
        '/scim/v2/Bulk',
        ops('01900000-0000-7000-8000-000000000013', '01900000-0000-7000-8000-000000000014'),
        SCIM_CT,
      );
      for (const [label, answer] of [
        ["B's ids", res],
        ['unknown ids', ghost],
      ] as const) {
        expect(answer.status, `${label}: ${answer.raw.slice(0, 300)}`).toBe(200);
        expect(answer.body.schemas).toEqual([SCIM_BULK_RESPONSE]);
        const statuses = (answer.body.Operations as { status: string }[]).map((o) => o.status);
        expect(statuses, label).toEqual(['404', '404', '404', '404', '404', '404']);
      }
      expectNoLeak(res, b, "/Bulk on B's ids", [b.scimUserId, b.scimGroupId]);
      // Exactly the unknown ids' answer, but for the ids themselves (the operations' paths, A's own input).
      const scrub = (raw: string, ...ids: string[]) =>
        ids.reduce((text, id) => text.split(id).join('<id>'), raw);
      expect(scrub(res.raw, b.scimUserId, b.scimGroupId)).toBe(
        scrub(ghost.raw, '01900000-0000-7000-8000-000000000013', '01900000-0000-7000-8000-000000000014'),
      );
      expect(await fingerprint(t(), b.tenantId), "B's state").toEqual(beforeB);
      expect(await fingerprint(t(), a.tenantId), "A's state").toEqual(beforeA);
      expect(await denialCount(t(), b.tenantId)).toBe(deniedB);
    });

    it("A cannot name B's user as a SCIM member or manager (400 like an unknown user), and nothing changes", async () => {
      const { a, b } = await worlds();
      const beforeA = await fingerprint(t(), a.tenantId);
      const beforeB = await fingerprint(t(), b.tenantId);
      const nobody = '01900000-0000-7000-8000-000000000013';
      const cases: [string, (c: Client, id: string) => Promise<Answer>, string][] = [
        [
          'POST /Groups with a member',
          (c, id) => c.post('/scim/v2/Groups', scimBody.group(u('g'), { members: [{ value: id }] }), SCIM_CT),
          'identity.invalid_member',
        ],
        [
          'PUT /Groups/:id with a member',
          (c, id) =>
            c.put(
              `/scim/v2/Groups/${a.scimGroupId}`,
              scimBody.group(u('g'), { members: [{ value: a.scimUserId }, { value: id }] }),
              SCIM_CT,
            ),
          'identity.invalid_member',
        ],
        [
          'PATCH /Groups/:id adding a member',
          (c, id) =>
            c.patch(
              `/scim/v2/Groups/${a.scimGroupId}`,
              scimBody.patch('members', [{ value: id }], 'add'),
              SCIM_CT,
            ),
          'identity.invalid_member',
        ],
        [
          'POST /Users with a manager',
          (c, id) =>
            c.post(
              '/scim/v2/Users',
              scimBody.user(`${u('m')}@example.com`, { [ENTERPRISE]: { manager: { value: id } } }),
              SCIM_CT,
            ),
          'identity.invalid_manager',
        ],
        [
          'PATCH /Users/:id setting the manager',
          (c, id) =>
            c.patch(
              `/scim/v2/Users/${a.scimUserId}`,
              scimBody.patch(`${ENTERPRISE}:manager`, { value: id }),
              SCIM_CT,
            ),
          'identity.invalid_manager',
        ],
      ];
      for (const [label, call, code] of cases) {
        const res = await call(a.api, b.scimUserId);
        expectScimError(res, 400, code, label);
        expectScimType(res, 'invalidValue', label);
        expectNoLeak(res, b, label);
        const ghost = await call(a.api, nobody);
        expect(observable(res), `${label}: as for a user nobody has`).toEqual(observable(ghost));
      }
      // Nor through /Bulk, where each operation answers as the request would.
      const bulk = await a.api.post(
        '/scim/v2/Bulk',
        scimBody.bulk([
          {
            method: 'POST',
            bulkId: 'g',
            path: '/Groups',
            data: scimBody.group(u('g'), { members: [{ value: b.scimUserId }] }),
          },
        ]),
        SCIM_CT,
      );
      expect(bulk.status, bulk.raw).toBe(200);
      expect(bulk.body.Operations[0].status).toBe('400');
      expect(bulk.body.Operations[0].response.code).toBe('identity.invalid_member');
      expectNoLeak(bulk, b, '/Bulk naming B as a member');
      expect(await fingerprint(t(), b.tenantId), "B's state").toEqual(beforeB);
      expect(await fingerprint(t(), a.tenantId), "A's state").toEqual(beforeA);
    });

    it("A's own SCIM user names nothing of B: its groups and licenses are A's", async () => {
      const { a, b } = await worlds();
      const res = await a.api.get(`/scim/v2/Users/${a.scimUserId}`);
      expect(res.status, res.raw).toBe(200);
      expect(res.body.groups.map((g: { value: string }) => g.value)).toEqual([a.scimGroupId]);
      expect(res.body[SCIM_ROSTER].licenses.map((l: { product: string }) => l.product)).toEqual([a.sku]);
      expectNoLeak(res, b, "A's SCIM user");
    });
  });
});
