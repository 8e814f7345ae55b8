/**
 * SCIM 2.0 `/Bulk` over HTTP (RFC 7644 §3.7), on both stores: bulkId references (forward ones too), `version`
 * as If-Match per operation, `failOnErrors`, each operation its own transaction, circular and unknown
 * references, the advertised limits, and the BulkResponse shape.
 */
import { describe, expect, it } from 'vitest';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
const SCIM_JSON = { 'content-type': 'application/scim+json' };
const UNKNOWN_ID = '01890000-0000-7000-8000-000000000000';
const WEAK_ETAG = /^W\/"[^"]+"$/;

// biome-ignore lint/suspicious/noExplicitAny: SCIM documents are inspected loosely
type Doc = Record<string, any>;

const user = (userName: string, extra: Doc = {}): Doc => ({ schemas: [USER], userName, ...extra });
const patchOp = (...operations: Doc[]): Doc => ({ schemas: [PATCH_OP], Operations: operations });

describeEachStore('SCIM /Bulk', (kind) => {
  const t = useTestApp(kind);

  const bulk = (api: Client, operations: unknown[], extra: Doc = {}) =>
    api.post('/scim/v2/Bulk', { schemas: [BULK_REQUEST], Operations: operations, ...extra }, SCIM_JSON);

  /** The BulkResponse of a 200 answer, checked for its shape. */
  function operationsOf(res: Answer): Doc[] {
    expect(res.status, res.raw).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^application\/scim\+json/);
    expect(res.body.schemas).toEqual([BULK_RESPONSE]);
    expect(Array.isArray(res.body.Operations)).toBe(true);
    return res.body.Operations;
  }

  const byBulkId = (ops: Doc[], bulkId: string) => {
    const found = ops.filter((o) => o.bulkId === bulkId);
    expect(found, `bulkId ${bulkId}`).toHaveLength(1);
    return found[0] as Doc;
  };

  /** A successful operation: status as a string, the resource's absolute location and (not for DELETE) version. */
  function expectSuccess(op: Doc, method: string, status: string, resource: 'Users' | 'Groups'): string {
    expect(op.method, JSON.stringify(op)).toBe(method);
    expect(op.status, JSON.stringify(op)).toBe(status);
    expect(op.location, JSON.stringify(op)).toMatch(
      new RegExp(`^https?://[^/]+/scim/v2/${resource}/[0-9a-f-]{36}$`),
    );
    if (method !== 'DELETE') expect(op.version, JSON.stringify(op)).toMatch(WEAK_ETAG);
    expect(op.response?.schemas ?? [], JSON.stringify(op)).not.toContain(ERROR);
    return String(op.location).split('/').pop() as string;
  }

  /** A failed operation: status as a string and `response` in the SCIM error schema. */
  function expectFailure(op: Doc, method: string, status: number, scimType?: string): void {
    expect(op.method, JSON.stringify(op)).toBe(method);
    expect(op.status, JSON.stringify(op)).toBe(String(status));
    expect(op.response?.schemas, JSON.stringify(op)).toEqual([ERROR]);
    expect(op.response.status, JSON.stringify(op)).toBe(String(status));
    expect(typeof op.response.detail).toBe('string');
    if (scimType !== undefined) expect(op.response.scimType, JSON.stringify(op)).toBe(scimType);
    expect(op.version).toBeUndefined();
  }

  function expectScimError(res: Answer, status: number, scimType?: string): void {
    expect(res.status, res.raw).toBe(status);
    expect(String(res.headers['content-type'])).toMatch(/^application\/scim\+json/);
    expect(res.body.schemas).toEqual([ERROR]);
    expect(res.body.status).toBe(String(status));
    if (scimType !== undefined) expect(res.body.scimType).toBe(scimType);
  }

  async function usersNamed(api: Client, prefix: string): Promise<Doc[]> {
    const res = await api.get(
      `/scim/v2/Users?filter=${encodeURIComponent(`userName sw "${prefix}"`)}&count=1000`,
    );
    expect(res.status, res.raw).toBe(200);
    return res.body.Resources ?? [];
  }

  async function createUser(api: Client, userName: string): Promise<Doc> {
    const res = await api.post('/scim/v2/Users', user(userName), SCIM_JSON);
    expect(res.status, res.raw).toBe(201);
    return res.body;
  }

  async function limits(api: Client): Promise<{ maxOperations: number; maxPayloadSize: number }> {
    const res = await api.get('/scim/v2/ServiceProviderConfig');
    expect(res.status, res.raw).toBe(200);
    expect(res.body.bulk.supported).toBe(true);
    const { maxOperations, maxPayloadSize } = res.body.bulk;
    expect(Number.isInteger(maxOperations) && maxOperations > 0).toBe(true);
    expect(Number.isInteger(maxPayloadSize) && maxPayloadSize > 0).toBe(true);
    return { maxOperations, maxPayloadSize };
  }

  describe('bulkId references', () => {
    it('creates a group whose members name a user by bulkId, the group op coming first', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(api, [
          {
            method: 'POST',
            path: '/Groups',
            bulkId: 'g1',
            data: {
              schemas: [GROUP],
              displayName: 'Tour Guides',
              members: [{ type: 'User', value: 'bulkId:u1' }],
            },
          },
          { method: 'POST', path: '/Users', bulkId: 'u1', data: user('alice@example.com') },
        ]),
      );
      expect(ops).toHaveLength(2);
      const userId = expectSuccess(byBulkId(ops, 'u1'), 'POST', '201', 'Users');
      const groupId = expectSuccess(byBulkId(ops, 'g1'), 'POST', '201', 'Groups');

      const u = await api.get(`/scim/v2/Users/${userId}`);
      expect(u.status, u.raw).toBe(200);
      expect(u.body.userName).toBe('alice@example.com');
      expect(u.body.meta.location).toBe(byBulkId(ops, 'u1').location);
      // The group joined after the user was created: the user's resource (its `groups`) changed, so did its tag.
      expect(u.headers.etag).toBe(u.body.meta.version);
      expect(u.headers.etag).not.toBe(byBulkId(ops, 'u1').version);
      expect(u.body.groups.map((g: Doc) => g.value)).toEqual([groupId]);

      const g = await api.get(`/scim/v2/Groups/${groupId}`);
      expect(g.status, g.raw).toBe(200);
      expect(g.body.displayName).toBe('Tour Guides');
      expect(g.body.members.map((m: Doc) => m.value)).toEqual([userId]);
      expect(g.body.meta.location).toBe(byBulkId(ops, 'g1').location);
      expect(g.headers.etag).toBe(byBulkId(ops, 'g1').version);
    });

    it('resolves a reference to a user created later in the same request (enterprise manager)', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(api, [
          {
            method: 'POST',
            path: '/Users',
            bulkId: 'report',
            data: { schemas: [USER, ENT], userName: 'report', [ENT]: { manager: { value: 'bulkId:boss' } } },
          },
          { method: 'POST', path: '/Users', bulkId: 'boss', data: user('boss') },
        ]),
      );
      const bossId = expectSuccess(byBulkId(ops, 'boss'), 'POST', '201', 'Users');
      const reportId = expectSuccess(byBulkId(ops, 'report'), 'POST', '201', 'Users');
      const report = await api.get(`/scim/v2/Users/${reportId}`);
      expect(report.body[ENT].manager.value).toBe(bossId);
    });

    it('resolves a bulkId in the data of a PATCH on an existing group', async () => {
      const { api } = await t().newTenant();
      const group = await api.post(
        '/scim/v2/Groups',
        { schemas: [GROUP], displayName: 'Existing' },
        SCIM_JSON,
      );
      expect(group.status, group.raw).toBe(201);
      const ops = operationsOf(
        await bulk(api, [
          {
            method: 'PATCH',
            path: `/Groups/${group.body.id}`,
            data: patchOp({ op: 'add', path: 'members', value: [{ value: 'bulkId:new' }] }),
          },
          { method: 'POST', path: '/Users', bulkId: 'new', data: user('newcomer') },
        ]),
      );
      const userId = expectSuccess(byBulkId(ops, 'new'), 'POST', '201', 'Users');
      const patch = ops.find((o) => o.method === 'PATCH') as Doc;
      expectSuccess(patch, 'PATCH', '200', 'Groups');
      expect(patch.version).toBe('W/"2"');
      const g = await api.get(`/scim/v2/Groups/${group.body.id}`);
      expect(g.body.members.map((m: Doc) => m.value)).toEqual([userId]);
    });

    it('resolves a bulkId in the path of a later operation', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(api, [
          { method: 'POST', path: '/Users', bulkId: 'p', data: user('pathref') },
          {
            method: 'PATCH',
            path: '/Users/bulkId:p',
            data: patchOp({ op: 'replace', path: 'title', value: 'Patched' }),
          },
        ]),
      );
      const id = expectSuccess(byBulkId(ops, 'p'), 'POST', '201', 'Users');
      const patch = ops.find((o) => o.method === 'PATCH') as Doc;
      expectSuccess(patch, 'PATCH', '200', 'Users');
      expect(patch.location).toBe(byBulkId(ops, 'p').location);
      expect((await api.get(`/scim/v2/Users/${id}`)).body.title).toBe('Patched');
    });

    it('fails operations in a circular reference with 400; the others still run', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(api, [
          {
            method: 'POST',
            path: '/Users',
            bulkId: 'a',
            data: { schemas: [USER, ENT], userName: 'circ-a', [ENT]: { manager: { value: 'bulkId:b' } } },
          },
          {
            method: 'POST',
            path: '/Users',
            bulkId: 'b',
            data: { schemas: [USER, ENT], userName: 'circ-b', [ENT]: { manager: { value: 'bulkId:a' } } },
          },
          { method: 'POST', path: '/Users', bulkId: 'c', data: user('circ-c') },
        ]),
      );
      expect(ops).toHaveLength(3);
      expectFailure(byBulkId(ops, 'a'), 'POST', 400, 'invalidValue');
      expectFailure(byBulkId(ops, 'b'), 'POST', 400, 'invalidValue');
      expect(byBulkId(ops, 'a').location).toBeUndefined();
      expectSuccess(byBulkId(ops, 'c'), 'POST', '201', 'Users');
      expect((await usersNamed(api, 'circ-')).map((u) => u.userName)).toEqual(['circ-c']);
    });

    it('fails an operation naming an unknown bulkId with 400', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(api, [
          {
            method: 'POST',
            path: '/Groups',
            bulkId: 'g',
            data: { schemas: [GROUP], displayName: 'Dangling', members: [{ value: 'bulkId:nowhere' }] },
          },
        ]),
      );
      expect(ops).toHaveLength(1);
      expectFailure(byBulkId(ops, 'g'), 'POST', 400, 'invalidValue');
      const groups = await api.get('/scim/v2/Groups');
      expect(groups.body.totalResults).toBe(0);
    });

    it('fails an operation naming the bulkId of a POST that failed with 400', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(api, [
          { method: 'POST', path: '/Users', bulkId: 'bad', data: { schemas: [USER], userName: '' } },
          {
            method: 'POST',
            path: '/Groups',
            bulkId: 'g',
            data: { schemas: [GROUP], displayName: 'Orphans', members: [{ value: 'bulkId:bad' }] },
          },
        ]),
      );
      expect(ops).toHaveLength(2);
      expectFailure(byBulkId(ops, 'bad'), 'POST', 400, 'invalidValue');
      expectFailure(byBulkId(ops, 'g'), 'POST', 400, 'invalidValue');
      expect((await api.get('/scim/v2/Groups')).body.totalResults).toBe(0);
    });
  });

  describe('version (If-Match per operation)', () => {
    it('PUT, PATCH and DELETE apply with the current version and answer 412 in that operation with a stale one', async () => {
      const { api } = await t().newTenant();
      const a = await createUser(api, 'ver-a');
      const b = await createUser(api, 'ver-b');
      const c = await createUser(api, 'ver-c');
      for (const u of [a, b, c]) expect(u.meta.version).toMatch(WEAK_ETAG);
      const ops = operationsOf(
        await bulk(api, [
          {
            method: 'PUT',
            path: `/Users/${a.id}`,
            version: a.meta.version,
            data: user('ver-a', { title: 'Replaced' }),
          },
          {
            method: 'PATCH',
            path: `/Users/${b.id}`,
            version: 'W/"7"',
            data: patchOp({ op: 'replace', path: 'title', value: 'Stale' }),
          },
          {
            method: 'PATCH',
            path: `/Users/${b.id}`,
            version: b.meta.version,
            data: patchOp({ op: 'replace', path: 'title', value: 'Patched' }),
          },
          { method: 'DELETE', path: `/Users/${c.id}`, version: 'W/"9"' },
          { method: 'DELETE', path: `/Users/${c.id}`, version: c.meta.version },
          // a's version moved on with the first operation
          {
            method: 'PUT',
            path: `/Users/${a.id}`,
            version: a.meta.version,
            data: user('ver-a', { title: 'Lost' }),
          },
        ]),
      );
      expect(ops).toHaveLength(6);
      expectSuccess(ops[0] as Doc, 'PUT', '200', 'Users');
      expect(ops[0]?.version).toMatch(WEAK_ETAG);
      expect(ops[0]?.version).not.toBe(a.meta.version);
      expectFailure(ops[1] as Doc, 'PATCH', 412);
      expectSuccess(ops[2] as Doc, 'PATCH', '200', 'Users');
      expect(ops[2]?.version).toMatch(WEAK_ETAG);
      expect(ops[2]?.version).not.toBe(b.meta.version);
      expectFailure(ops[3] as Doc, 'DELETE', 412);
      expectSuccess(ops[4] as Doc, 'DELETE', '204', 'Users');
      expect(ops[4]?.location).toBe(c.meta.location);
      expectFailure(ops[5] as Doc, 'PUT', 412);

      const afterA = await api.get(`/scim/v2/Users/${a.id}`);
      expect(afterA.body.title).toBe('Replaced');
      expect(afterA.headers.etag).toBe(ops[0]?.version);
      const afterB = await api.get(`/scim/v2/Users/${b.id}`);
      expect(afterB.body.title).toBe('Patched');
      expect((await api.get(`/scim/v2/Users/${c.id}`)).status).toBe(404);
    });

    it('applies PUT, PATCH and DELETE without a version unconditionally', async () => {
      const { api } = await t().newTenant();
      const a = await createUser(api, 'nov-a');
      const g = await api.post('/scim/v2/Groups', { schemas: [GROUP], displayName: 'NoVersion' }, SCIM_JSON);
      const ops = operationsOf(
        await bulk(api, [
          {
            method: 'PATCH',
            path: `/Users/${a.id}`,
            data: patchOp({ op: 'add', path: 'title', value: 'T' }),
          },
          {
            method: 'PUT',
            path: `/Groups/${g.body.id}`,
            data: { schemas: [GROUP], displayName: 'Renamed', members: [{ value: a.id }] },
          },
          { method: 'DELETE', path: `/Users/${a.id}` },
        ]),
      );
      expectSuccess(ops[0] as Doc, 'PATCH', '200', 'Users');
      expectSuccess(ops[1] as Doc, 'PUT', '200', 'Groups');
      expectSuccess(ops[2] as Doc, 'DELETE', '204', 'Users');
      const after = await api.get(`/scim/v2/Groups/${g.body.id}`);
      expect(after.body.displayName).toBe('Renamed');
      expect(after.body.members ?? []).toEqual([]);
    });
  });

  describe('errors and failOnErrors', () => {
    it('failOnErrors: 1 stops after the first error; later operations are not run and not in the response', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(
          api,
          [
            { method: 'POST', path: '/Users', bulkId: 'one', data: user('foe-1') },
            {
              method: 'PATCH',
              path: `/Users/${UNKNOWN_ID}`,
              data: patchOp({ op: 'add', path: 'title', value: 'x' }),
            },
            { method: 'POST', path: '/Users', bulkId: 'two', data: user('foe-2') },
            { method: 'POST', path: '/Users', bulkId: 'three', data: user('foe-3') },
          ],
          { failOnErrors: 1 },
        ),
      );
      expect(ops).toHaveLength(2);
      expectSuccess(byBulkId(ops, 'one'), 'POST', '201', 'Users');
      expectFailure(ops.find((o) => o.method === 'PATCH') as Doc, 'PATCH', 404);
      expect(ops.some((o) => o.bulkId === 'two' || o.bulkId === 'three')).toBe(false);
      expect((await usersNamed(api, 'foe-')).map((u) => u.userName)).toEqual(['foe-1']);
    });

    it('failOnErrors: 2 stops after the second error', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(
          api,
          [
            { method: 'DELETE', path: `/Users/${UNKNOWN_ID}` },
            { method: 'POST', path: '/Users', bulkId: 'ok', data: user('foe2-ok') },
            { method: 'POST', path: '/Users', bulkId: 'dup', data: user('FOE2-OK') },
            { method: 'POST', path: '/Users', bulkId: 'late', data: user('foe2-late') },
          ],
          { failOnErrors: 2 },
        ),
      );
      expect(ops).toHaveLength(3);
      expectFailure(ops.find((o) => o.method === 'DELETE') as Doc, 'DELETE', 404);
      expectSuccess(byBulkId(ops, 'ok'), 'POST', '201', 'Users');
      expectFailure(byBulkId(ops, 'dup'), 'POST', 409, 'uniqueness');
      expect((await usersNamed(api, 'foe2-')).map((u) => u.userName)).toEqual(['foe2-ok']);
    });

    it('without failOnErrors every operation runs, and a failure undoes nothing that went before', async () => {
      const { api } = await t().newTenant();
      const ops = operationsOf(
        await bulk(api, [
          { method: 'POST', path: '/Users', bulkId: 'a', data: user('tx-a') },
          { method: 'POST', path: '/Users', bulkId: 'a2', data: user('TX-A') },
          {
            method: 'POST',
            path: '/Groups',
            bulkId: 'g',
            data: { schemas: [GROUP], displayName: 'tx-group', members: [{ value: UNKNOWN_ID }] },
          },
          { method: 'POST', path: '/Users', bulkId: 'b', data: user('tx-b') },
          { method: 'DELETE', path: `/Groups/${UNKNOWN_ID}` },
          { method: 'POST', path: '/Things', bulkId: 'x', data: { schemas: [USER], userName: 'tx-x' } },
        ]),
      );
      expect(ops).toHaveLength(6);
      expectSuccess(byBulkId(ops, 'a'), 'POST', '201', 'Users');
      expectFailure(byBulkId(ops, 'a2'), 'POST', 409, 'uniqueness');
      expectFailure(byBulkId(ops, 'g'), 'POST', 400, 'invalidValue');
      expectSuccess(byBulkId(ops, 'b'), 'POST', '201', 'Users');
      expectFailure(ops.find((o) => o.method === 'DELETE') as Doc, 'DELETE', 404);
      expectFailure(byBulkId(ops, 'x'), 'POST', 400, 'invalidPath');
      expect((await usersNamed(api, 'tx-')).map((u) => u.userName).sort()).toEqual(['tx-a', 'tx-b']);
      // The failed group left nothing behind.
      expect((await api.get('/scim/v2/Groups')).body.totalResults).toBe(0);
    });

    it("cannot reach another tenant's resources", async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const victim = await createUser(a.api, 'victim');
      const ops = operationsOf(
        await bulk(b.api, [
          { method: 'DELETE', path: `/Users/${victim.id}` },
          { method: 'PUT', path: `/Users/${victim.id}`, data: user('victim', { title: 'Owned' }) },
        ]),
      );
      expectFailure(ops[0] as Doc, 'DELETE', 404);
      expectFailure(ops[1] as Doc, 'PUT', 404);
      const still = await a.api.get(`/scim/v2/Users/${victim.id}`);
      expect(still.status).toBe(200);
      expect(still.body.title).toBeUndefined();
    });
  });

  describe('limits (RFC 7644 §3.7.4)', () => {
    it('ServiceProviderConfig advertises bulk with maxOperations and maxPayloadSize', async () => {
      const { api } = await t().newTenant();
      await limits(api);
    });

    it('accepts exactly maxOperations operations', async () => {
      const { api } = await t().newTenant();
      const { maxOperations } = await limits(api);
      const operations = Array.from({ length: maxOperations }, () => ({
        method: 'DELETE',
        path: `/Users/${UNKNOWN_ID}`,
      }));
      // failOnErrors keeps it quick: the request is accepted, and stops at the first (404) error.
      const ops = operationsOf(await bulk(api, operations, { failOnErrors: 1 }));
      expect(ops).toHaveLength(1);
      expectFailure(ops[0] as Doc, 'DELETE', 404);
    });

    it('answers more than maxOperations with 413 in the SCIM error schema, and runs none', async () => {
      const { api } = await t().newTenant();
      const { maxOperations } = await limits(api);
      const operations = Array.from({ length: maxOperations + 1 }, (_, i) => ({
        method: 'POST',
        path: '/Users',
        bulkId: `u${i}`,
        data: user(`many-${i}`),
      }));
      const res = await bulk(api, operations);
      expectScimError(res, 413);
      expect((await usersNamed(api, 'many-')).length).toBe(0);
    });

    it('answers a payload over maxPayloadSize with 413 in the SCIM error schema, and runs none', async () => {
      const { api } = await t().newTenant();
      const { maxPayloadSize } = await limits(api);
      const body = JSON.stringify({
        schemas: [BULK_REQUEST],
        Operations: [
          {
            method: 'POST',
            path: '/Users',
            bulkId: 'big',
            data: user('big', { title: 'x'.repeat(maxPayloadSize) }),
          },
        ],
      });
      expect(Buffer.byteLength(body)).toBeGreaterThan(maxPayloadSize);
      const res = await api.raw('POST', '/scim/v2/Bulk', body, SCIM_JSON);
      expectScimError(res, 413);
      expect((await usersNamed(api, 'big')).length).toBe(0);
    });
  });

  describe('the request shape', () => {
    it('refuses what is not a BulkRequest with 400 invalidSyntax', async () => {
      const { api } = await t().newTenant();
      const one = { method: 'POST', path: '/Users', bulkId: 'x', data: user('shape') };
      const bad: unknown[] = [
        { Operations: [one] },
        { schemas: [USER], Operations: [one] },
        { schemas: [BULK_REQUEST] },
        { schemas: [BULK_REQUEST], Operations: [] },
        { schemas: [BULK_REQUEST], Operations: [{ ...one, bulkId: undefined }] },
        { schemas: [BULK_REQUEST], Operations: [one, { ...one, data: user('shape2') }] },
        { schemas: [BULK_REQUEST], Operations: [{ ...one, method: 'GET' }] },
        { schemas: [BULK_REQUEST], Operations: [{ ...one, path: undefined }] },
        { schemas: [BULK_REQUEST], Operations: [{ method: 'PUT', path: `/Users/${UNKNOWN_ID}` }] },
        { schemas: [BULK_REQUEST], failOnErrors: 0, Operations: [one] },
        [one],
      ];
      for (const body of bad) {
        const res = await api.post('/scim/v2/Bulk', body, SCIM_JSON);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expectScimError(res, 400, 'invalidSyntax');
      }
      expect((await usersNamed(api, 'shape')).length).toBe(0);
    });

    it('needs scim:provision', async () => {
      const { tenantId } = await t().newTenant();
      const tok = await t().admin.post('/api/v1/tokens', { tenantId, name: 'viewer', roles: ['viewer'] });
      expect(tok.status, tok.raw).toBe(201);
      const viewer = t().client(tok.body.token);
      const res = await bulk(viewer, [{ method: 'POST', path: '/Users', bulkId: 'x', data: user('nope') }]);
      expectScimError(res, 403);
    });
  });
});
