import { beforeAll, describe, expect, it } from 'vitest';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * SCIM discovery (RFC 7643 §5-§7, RFC 7644 §4): /ServiceProviderConfig, /Schemas, /ResourceTypes. What is
 * advertised must be well formed (every attribute with the characteristics of RFC 7643 §7) and true of the
 * resources the service actually returns.
 */

const BASE = '/scim/v2';
const SCIM_CT = { 'content-type': 'application/scim+json' };

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ROSTER = 'urn:roster:params:scim:schemas:extension:roster:1.0:User';
const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const SPC = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';
const RESOURCE_TYPE = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

/** The common attributes (RFC 7643 §3.1), part of every resource but published in no schema. */
const COMMON = new Set(['id', 'externalId', 'schemas', 'meta']);

const TYPES = ['string', 'boolean', 'decimal', 'integer', 'dateTime', 'binary', 'reference', 'complex'];
const MUTABILITY = ['readOnly', 'readWrite', 'immutable', 'writeOnly'];
const RETURNED = ['always', 'never', 'default', 'request'];
const UNIQUENESS = ['none', 'server', 'global'];

interface Attribute {
  name: string;
  type: string;
  multiValued: boolean;
  description: string;
  required: boolean;
  caseExact: boolean;
  mutability: string;
  returned: string;
  uniqueness: string;
  canonicalValues?: string[];
  referenceTypes?: string[];
  subAttributes?: Attribute[];
}

interface Schema {
  schemas: string[];
  id: string;
  name: string;
  description: string;
  attributes: Attribute[];
  meta: { resourceType: string; location: string };
}

function expectScimJson(res: Answer, status = 200): void {
  expect(res.status, res.raw).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/scim\+json\s*(;|$)/);
}

function expectScimError(res: Answer, status: number): void {
  expectScimJson(res, status);
  expect(res.body).toMatchObject({ schemas: [ERROR], status: String(status) });
  expect(typeof res.body.detail).toBe('string');
}

function expectAbsoluteLocation(location: unknown, path: string): void {
  expect(typeof location).toBe('string');
  const url = new URL(location as string);
  expect(['http:', 'https:']).toContain(url.protocol);
  expect(url.pathname).toBe(`${BASE}${path}`);
}

/**
 * Every characteristic RFC 7643 §7 gives an attribute, with a value from its vocabulary; sub-attributes of
 * complex attributes alike (and no deeper: §2.3.8, "A complex attribute MUST NOT contain sub-attributes that
 * have sub-attributes").
 */
function expectAttribute(a: Attribute, where: string, depth = 0): void {
  const at = `${where}.${a?.name}`;
  expect(typeof a.name, at).toBe('string');
  expect(a.name.length, at).toBeGreaterThan(0);
  expect(TYPES, at).toContain(a.type);
  expect(typeof a.multiValued, at).toBe('boolean');
  expect(typeof a.description, at).toBe('string');
  expect(a.description.length, at).toBeGreaterThan(0);
  expect(typeof a.required, at).toBe('boolean');
  expect(typeof a.caseExact, at).toBe('boolean');
  expect(MUTABILITY, at).toContain(a.mutability);
  expect(RETURNED, at).toContain(a.returned);
  expect(UNIQUENESS, at).toContain(a.uniqueness);
  if (a.canonicalValues !== undefined) {
    expect(Array.isArray(a.canonicalValues), at).toBe(true);
    for (const v of a.canonicalValues) expect(typeof v, at).toBe('string');
  }
  if (a.type === 'reference') {
    expect(Array.isArray(a.referenceTypes), `${at} referenceTypes`).toBe(true);
    expect(a.referenceTypes?.length, `${at} referenceTypes`).toBeGreaterThan(0);
  } else {
    expect(a.referenceTypes, `${at} referenceTypes on a ${a.type}`).toBeUndefined();
  }
  if (a.type === 'complex') {
    expect(depth, `${at}: a complex sub-attribute`).toBe(0);
    expect(Array.isArray(a.subAttributes), `${at} subAttributes`).toBe(true);
    expect(a.subAttributes?.length, `${at} subAttributes`).toBeGreaterThan(0);
    const names = (a.subAttributes ?? []).map((s) => s.name.toLowerCase());
    expect(new Set(names).size, `${at}: sub-attribute names repeat`).toBe(names.length);
    for (const s of a.subAttributes ?? []) expectAttribute(s, at, depth + 1);
  } else {
    expect(a.subAttributes, `${at} subAttributes on a ${a.type}`).toBeUndefined();
  }
}

function attr(schema: Schema, name: string): Attribute {
  const a = schema.attributes.find((x) => x.name === name);
  expect(a, `${schema.id} has no attribute ${name}`).toBeDefined();
  return a as Attribute;
}

function sub(a: Attribute, name: string): Attribute {
  const s = a.subAttributes?.find((x) => x.name === name);
  expect(s, `${a.name} has no sub-attribute ${name}`).toBeDefined();
  return s as Attribute;
}

describeEachStore('SCIM discovery', (kind) => {
  const t = useTestApp(kind);
  /** A provisioner: the least privilege an identity provider needs. */
  let scim: Client;

  beforeAll(async () => {
    const { tenantId } = await t().newTenant();
    const tok = await t().admin.post('/api/v1/tokens', { tenantId, name: 'idp', roles: ['provisioner'] });
    expect(tok.status, tok.raw).toBe(201);
    scim = t().client(tok.body.token);
  });

  async function schemasById(): Promise<Map<string, Schema>> {
    const res = await scim.get(`${BASE}/Schemas`);
    expectScimJson(res);
    return new Map((res.body.Resources as Schema[]).map((s) => [s.id, s]));
  }

  describe('/ServiceProviderConfig', () => {
    it('advertises patch, bulk, filter, sort and etag with numeric limits, the bearer scheme, schemas and meta', async () => {
      const res = await scim.get(`${BASE}/ServiceProviderConfig`);
      expectScimJson(res);
      const spc = res.body;
      expect(spc.schemas).toEqual([SPC]);
      expect(spc.patch).toEqual({ supported: true });
      expect(spc.bulk.supported).toBe(true);
      expect(Number.isInteger(spc.bulk.maxOperations)).toBe(true);
      expect(spc.bulk.maxOperations).toBeGreaterThan(0);
      expect(Number.isInteger(spc.bulk.maxPayloadSize)).toBe(true);
      expect(spc.bulk.maxPayloadSize).toBeGreaterThan(0);
      expect(spc.filter.supported).toBe(true);
      expect(Number.isInteger(spc.filter.maxResults)).toBe(true);
      expect(spc.filter.maxResults).toBeGreaterThan(0);
      expect(spc.sort).toEqual({ supported: true });
      expect(spc.etag).toEqual({ supported: true });
      expect(typeof spc.changePassword?.supported).toBe('boolean');

      expect(Array.isArray(spc.authenticationSchemes)).toBe(true);
      expect(spc.authenticationSchemes.length).toBeGreaterThan(0);
      for (const s of spc.authenticationSchemes) {
        expect(typeof s.type).toBe('string');
        expect(typeof s.name).toBe('string');
        expect(typeof s.description).toBe('string');
      }
      const bearer = spc.authenticationSchemes.find((s: { type: string }) => s.type === 'oauthbearertoken');
      expect(bearer, 'the bearer token scheme').toBeDefined();
      expect(bearer.primary).toBe(true);

      expect(spc.meta.resourceType).toBe('ServiceProviderConfig');
      expectAbsoluteLocation(spc.meta.location, '/ServiceProviderConfig');
      // RFC 7643 §5: "id … MUST NOT be included" (the configuration is no resource with an id).
      expect(spc).not.toHaveProperty('id');
    });

    it('the etag it advertises is real: resources carry an ETag equal to meta.version', async () => {
      const created = await scim.post(
        `${BASE}/Users`,
        { schemas: [USER], userName: `etag-${Date.now()}@discovery.test` },
        SCIM_CT,
      );
      expectScimJson(created, 201);
      expect(created.headers.etag).toBe(created.body.meta.version);
      const read = await scim.get(`${BASE}/Users/${created.body.id}`);
      expectScimJson(read);
      expect(read.headers.etag).toBe(read.body.meta.version);
    });

    /** Users with the given titles, found again by an externalId prefix. */
    async function titled(titles: string[]): Promise<string> {
      const tag = `sort-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
      for (const title of titles) {
        const res = await scim.post(
          `${BASE}/Users`,
          {
            schemas: [USER],
            userName: `${title}-${tag}@discovery.test`,
            title,
            externalId: `${tag}-${title}`,
          },
          SCIM_CT,
        );
        expectScimJson(res, 201);
      }
      return encodeURIComponent(`externalId sw "${tag}-"`);
    }

    it('the sort it advertises is real: sortBy on a plain attribute orders the answer both ways', async () => {
      const filter = await titled(['bravo', 'alpha', 'charlie']);
      const asc = await scim.get(`${BASE}/Users?filter=${filter}&sortBy=title`);
      expectScimJson(asc);
      expect(asc.body.Resources.map((u: { title: string }) => u.title)).toEqual([
        'alpha',
        'bravo',
        'charlie',
      ]);
      const desc = await scim.get(`${BASE}/Users?filter=${filter}&sortBy=title&sortOrder=descending`);
      expectScimJson(desc);
      expect(desc.body.Resources.map((u: { title: string }) => u.title)).toEqual([
        'charlie',
        'bravo',
        'alpha',
      ]);
    });

    it('sortBy on a caseExact=false attribute orders without regard to case (RFC 7644 §3.4.2.3)', async () => {
      const filter = await titled(['Bravo', 'alpha', 'Charlie']);
      const asc = await scim.get(`${BASE}/Users?filter=${filter}&sortBy=title`);
      expectScimJson(asc);
      expect(asc.body.Resources.map((u: { title: string }) => u.title)).toEqual([
        'alpha',
        'Bravo',
        'Charlie',
      ]);
    });

    it('the filter maxResults it advertises bounds a page: a larger count is lowered, never refused', async () => {
      const spc = (await scim.get(`${BASE}/ServiceProviderConfig`)).body;
      const res = await scim.get(`${BASE}/Users?count=${spc.filter.maxResults + 1}`);
      expectScimJson(res);
      expect(res.body.schemas).toEqual([LIST_RESPONSE]);
      expect(res.body.itemsPerPage).toBeLessThanOrEqual(spc.filter.maxResults);
    });

    it('the bulk it advertises is real, and maxOperations is enforced', async () => {
      const spc = (await scim.get(`${BASE}/ServiceProviderConfig`)).body;
      const one = await scim.post(
        `${BASE}/Bulk`,
        {
          schemas: [BULK_REQUEST],
          Operations: [
            {
              method: 'POST',
              path: '/Users',
              bulkId: 'b1',
              data: { schemas: [USER], userName: `bulk-${Date.now()}@discovery.test` },
            },
          ],
        },
        SCIM_CT,
      );
      expectScimJson(one);
      expect(one.body.schemas).toEqual([BULK_RESPONSE]);
      expect(one.body.Operations).toHaveLength(1);
      expect(one.body.Operations[0]).toMatchObject({ method: 'POST', bulkId: 'b1', status: '201' });

      const ops = Array.from({ length: spc.bulk.maxOperations + 1 }, (_, i) => ({
        method: 'DELETE',
        path: `/Users/00000000-0000-7000-8000-${String(i).padStart(12, '0')}`,
      }));
      // RFC 7644 §3.7.4: over either limit is 413, and the error says which limit.
      const tooMany = await scim.post(`${BASE}/Bulk`, { schemas: [BULK_REQUEST], Operations: ops }, SCIM_CT);
      expectScimError(tooMany, 413);
      expect(tooMany.body.detail).toContain(String(spc.bulk.maxOperations));
    });

    it('the bulk maxPayloadSize it advertises is enforced: 413 naming the limit', async () => {
      const spc = (await scim.get(`${BASE}/ServiceProviderConfig`)).body;
      const body = JSON.stringify({ schemas: [BULK_REQUEST], Operations: [] });
      const over = await scim.raw(
        'POST',
        `${BASE}/Bulk`,
        body + ' '.repeat(spc.bulk.maxPayloadSize - body.length + 1),
        SCIM_CT,
      );
      expectScimError(over, 413);
      expect(over.body.detail).toMatch(new RegExp(`maxPayloadSize|${spc.bulk.maxPayloadSize}`));
    });
  });

  describe('/Schemas', () => {
    it('is a ListResponse of exactly the User, Group, Enterprise User and Roster extension schemas', async () => {
      const res = await scim.get(`${BASE}/Schemas`);
      expectScimJson(res);
      expect(res.body.schemas).toEqual([LIST_RESPONSE]);
      expect(res.body.totalResults).toBe(4);
      expect(res.body.Resources).toHaveLength(4);
      expect(res.body.itemsPerPage).toBe(4);
      expect(res.body.startIndex).toBe(1);
      expect(res.body.Resources.map((s: Schema) => s.id).sort()).toEqual(
        [ENTERPRISE, GROUP, USER, ROSTER].sort(),
      );
    });

    it('each schema has schemas, id, name, meta and attributes with every RFC 7643 §7 characteristic', async () => {
      const byId = await schemasById();
      for (const s of byId.values()) {
        expect(s.schemas, s.id).toEqual([SCHEMA]);
        expect(typeof s.name, s.id).toBe('string');
        expect(typeof s.description, s.id).toBe('string');
        expect(s.meta.resourceType, s.id).toBe('Schema');
        expectAbsoluteLocation(s.meta.location, `/Schemas/${s.id}`);
        expect(Array.isArray(s.attributes), s.id).toBe(true);
        expect(s.attributes.length, s.id).toBeGreaterThan(0);
        const names = s.attributes.map((a) => a.name.toLowerCase());
        expect(new Set(names).size, `${s.id}: attribute names repeat`).toBe(names.length);
        for (const a of s.attributes) expectAttribute(a, s.id);
      }
    });

    it('the User schema: userName required and unique, groups read-only, emails and the core attributes', async () => {
      const user = (await schemasById()).get(USER) as Schema;
      expect(user.name).toBe('User');
      expect(attr(user, 'userName')).toMatchObject({
        type: 'string',
        multiValued: false,
        required: true,
        uniqueness: 'server',
      });
      expect(attr(user, 'active')).toMatchObject({ type: 'boolean', multiValued: false });
      const name = attr(user, 'name');
      expect(name).toMatchObject({ type: 'complex', multiValued: false });
      for (const s of ['givenName', 'familyName', 'formatted']) expect(sub(name, s).type).toBe('string');
      const emails = attr(user, 'emails');
      expect(emails).toMatchObject({ type: 'complex', multiValued: true });
      expect(sub(emails, 'value').type).toBe('string');
      expect(sub(emails, 'primary').type).toBe('boolean');
      const groups = attr(user, 'groups');
      expect(groups).toMatchObject({ type: 'complex', multiValued: true, mutability: 'readOnly' });
      expect(sub(groups, 'value').type).toBe('string');
      expect(sub(groups, '$ref')).toMatchObject({ type: 'reference' });
      for (const a of ['displayName', 'title', 'phoneNumbers', 'addresses']) attr(user, a);
      // The common attributes are no schema's (RFC 7643 §3.1, as §8.7.1 lists them).
      for (const c of COMMON)
        expect(
          user.attributes.find((a) => a.name === c),
          c,
        ).toBeUndefined();
    });

    it('the Group schema: displayName required, members referencing Users', async () => {
      const group = (await schemasById()).get(GROUP) as Schema;
      expect(group.name).toBe('Group');
      expect(attr(group, 'displayName')).toMatchObject({ type: 'string', required: true });
      const members = attr(group, 'members');
      expect(members).toMatchObject({ type: 'complex', multiValued: true });
      expect(sub(members, 'value').type).toBe('string');
      expect(sub(members, '$ref').referenceTypes).toContain('User');
    });

    it('the Enterprise User extension: department and manager (value, $ref, read-only displayName)', async () => {
      const ent = (await schemasById()).get(ENTERPRISE) as Schema;
      expect(attr(ent, 'department')).toMatchObject({ type: 'string', multiValued: false });
      const manager = attr(ent, 'manager');
      expect(manager).toMatchObject({ type: 'complex', multiValued: false });
      expect(sub(manager, 'value').type).toBe('string');
      expect(sub(manager, '$ref')).toMatchObject({ type: 'reference', referenceTypes: ['User'] });
      expect(sub(manager, 'displayName').mutability).toBe('readOnly');
    });

    it('the Roster extension: location, kind, status with their canonical values, read-only licenses', async () => {
      const roster = (await schemasById()).get(ROSTER) as Schema;
      const location = attr(roster, 'location');
      expect(location.type).toBe('complex');
      for (const s of ['site', 'country']) expect(sub(location, s).type).toBe('string');
      expect(attr(roster, 'kind').canonicalValues?.slice().sort()).toEqual(
        ['contractor', 'employee', 'external', 'service'].sort(),
      );
      expect(attr(roster, 'status').canonicalValues?.slice().sort()).toEqual(
        ['active', 'deprovisioned', 'staged', 'suspended'].sort(),
      );
      const licenses = attr(roster, 'licenses');
      expect(licenses).toMatchObject({ type: 'complex', multiValued: true, mutability: 'readOnly' });
      for (const s of ['product', 'state', 'pool', 'waitlistPosition']) sub(licenses, s);
    });

    it('/Schemas/{id} answers each schema by its exact id, as the list shows it', async () => {
      const byId = await schemasById();
      for (const [id, listed] of byId) {
        const res = await scim.get(`${BASE}/Schemas/${id}`);
        expectScimJson(res);
        expect(res.body).toEqual(listed);
      }
    });

    it('/Schemas/{id} of an unknown schema is 404 with the SCIM error schema', async () => {
      for (const id of [
        'urn:ietf:params:scim:schemas:core:2.0:Nope',
        'urn:ietf:params:scim:schemas:core:2.0:User:extra',
        'User',
      ]) {
        const res = await scim.get(`${BASE}/Schemas/${encodeURIComponent(id)}`);
        expectScimError(res, 404);
        expect(res.body.scimType).toBeUndefined();
      }
    });
  });

  describe('/ResourceTypes', () => {
    it('is a ListResponse of User and Group with endpoint, schema, schemaExtensions and meta', async () => {
      const res = await scim.get(`${BASE}/ResourceTypes`);
      expectScimJson(res);
      expect(res.body.schemas).toEqual([LIST_RESPONSE]);
      expect(res.body.totalResults).toBe(2);
      expect(res.body.Resources).toHaveLength(2);
      const byId = new Map(res.body.Resources.map((r: { id: string }) => [r.id, r]));
      expect(byId.get('User')).toMatchObject({
        schemas: [RESOURCE_TYPE],
        id: 'User',
        name: 'User',
        endpoint: '/Users',
        schema: USER,
        meta: { resourceType: 'ResourceType' },
      });
      const userExt = (byId.get('User') as { schemaExtensions: { schema: string; required: boolean }[] })
        .schemaExtensions;
      expect(userExt.slice().sort((a, b) => a.schema.localeCompare(b.schema))).toEqual(
        [
          { schema: ENTERPRISE, required: false },
          { schema: ROSTER, required: false },
        ].sort((a, b) => a.schema.localeCompare(b.schema)),
      );
      expect(byId.get('Group')).toMatchObject({
        schemas: [RESOURCE_TYPE],
        id: 'Group',
        name: 'Group',
        endpoint: '/Groups',
        schema: GROUP,
        meta: { resourceType: 'ResourceType' },
      });
      const groupExt = (byId.get('Group') as { schemaExtensions?: unknown[] }).schemaExtensions ?? [];
      expect(groupExt).toEqual([]);
      for (const r of res.body.Resources) expectAbsoluteLocation(r.meta.location, `/ResourceTypes/${r.id}`);
    });

    it('/ResourceTypes/User and /ResourceTypes/Group answer the listed entries; unknown is 404', async () => {
      const list = await scim.get(`${BASE}/ResourceTypes`);
      for (const id of ['User', 'Group']) {
        const res = await scim.get(`${BASE}/ResourceTypes/${id}`);
        expectScimJson(res);
        expect(res.body).toEqual(list.body.Resources.find((r: { id: string }) => r.id === id));
      }
      const unknown = await scim.get(`${BASE}/ResourceTypes/Device`);
      expectScimError(unknown, 404);
    });

    it('every schema a resource type names is published under /Schemas, and every endpoint answers', async () => {
      const byId = await schemasById();
      const types = (await scim.get(`${BASE}/ResourceTypes`)).body.Resources as {
        endpoint: string;
        schema: string;
        schemaExtensions: { schema: string }[];
      }[];
      const named = types.flatMap((r) => [r.schema, ...(r.schemaExtensions ?? []).map((e) => e.schema)]);
      expect(named.slice().sort()).toEqual([...byId.keys()].sort());
      for (const r of types) {
        const res = await scim.get(`${BASE}${r.endpoint}?count=1`);
        expectScimJson(res);
        expect(res.body.schemas).toEqual([LIST_RESPONSE]);
      }
    });
  });

  describe('the published schemas describe the resources served', () => {
    it('every member of a full User is a common attribute, a User attribute or a listed extension', async () => {
      const byId = await schemasById();
      const tag = Date.now();
      const manager = await scim.post(
        `${BASE}/Users`,
        { schemas: [USER], userName: `mgr-${tag}@discovery.test` },
        SCIM_CT,
      );
      expectScimJson(manager, 201);
      const group = await scim.post(
        `${BASE}/Groups`,
        { schemas: [GROUP], displayName: `discovery-${tag}` },
        SCIM_CT,
      );
      expectScimJson(group, 201);
      const created = await scim.post(
        `${BASE}/Users`,
        {
          schemas: [USER, ENTERPRISE, ROSTER],
          userName: `full-${tag}@discovery.test`,
          externalId: `ext-${tag}`,
          name: { givenName: 'Ada', familyName: 'Lovelace', formatted: 'Ada Lovelace' },
          displayName: 'Ada',
          title: 'Countess',
          emails: [{ value: `ada-${tag}@discovery.test`, type: 'work', primary: true }],
          phoneNumbers: [{ value: '+44 20 0000 0000', type: 'work' }],
          addresses: [{ type: 'work', locality: 'London', country: 'GB' }],
          [ENTERPRISE]: { department: 'Analytics', manager: { value: manager.body.id } },
          [ROSTER]: { location: { site: 'lon-1', country: 'GB' }, kind: 'contractor' },
        },
        SCIM_CT,
      );
      expectScimJson(created, 201);
      const patched = await scim.patch(
        `${BASE}/Groups/${group.body.id}`,
        {
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [{ op: 'add', path: 'members', value: [{ value: created.body.id }] }],
        },
        SCIM_CT,
      );
      expectScimJson(patched);
      const res = await scim.get(`${BASE}/Users/${created.body.id}`);
      expectScimJson(res);
      const user = res.body as Record<string, unknown>;
      expect(user.groups).toHaveLength(1);

      const userSchema = byId.get(USER) as Schema;
      const extensions = [ENTERPRISE, ROSTER];
      for (const s of user.schemas as string[]) expect([USER, ...extensions]).toContain(s);
      for (const [key, value] of Object.entries(user)) {
        if (COMMON.has(key)) continue;
        if (extensions.includes(key)) {
          expect(user.schemas, `${key} present but not in schemas`).toContain(key);
          const ext = byId.get(key) as Schema;
          for (const inner of Object.keys(value as object)) {
            expect(
              ext.attributes.some((a) => a.name === inner),
              `${key}:${inner} is not in the published schema`,
            ).toBe(true);
          }
          continue;
        }
        const def = userSchema.attributes.find((a) => a.name === key);
        expect(def, `User member ${key} is not in the published schema`).toBeDefined();
        if (def?.type === 'complex') {
          const items = def.multiValued ? (value as object[]) : [value as object];
          for (const item of items) {
            for (const inner of Object.keys(item)) {
              expect(
                def.subAttributes?.some((s) => s.name === inner),
                `${key}.${inner} is not in the published schema`,
              ).toBe(true);
            }
          }
        }
      }
    });

    it('every member of a Group is a common attribute or a Group attribute', async () => {
      const byId = await schemasById();
      const groupSchema = byId.get(GROUP) as Schema;
      const u = await scim.post(
        `${BASE}/Users`,
        { schemas: [USER], userName: `member-${Date.now()}@discovery.test` },
        SCIM_CT,
      );
      const g = await scim.post(
        `${BASE}/Groups`,
        {
          schemas: [GROUP],
          displayName: `shape-${Date.now()}`,
          externalId: 'g-ext',
          members: [{ value: u.body.id }],
        },
        SCIM_CT,
      );
      expectScimJson(g, 201);
      expect(g.body.schemas).toEqual([GROUP]);
      for (const [key, value] of Object.entries(g.body as Record<string, unknown>)) {
        if (COMMON.has(key)) continue;
        const def = groupSchema.attributes.find((a) => a.name === key);
        expect(def, `Group member ${key} is not in the published schema`).toBeDefined();
        if (def?.type === 'complex') {
          for (const item of value as object[]) {
            for (const inner of Object.keys(item)) {
              expect(
                def.subAttributes?.some((s) => s.name === inner),
                `${key}.${inner}`,
              ).toBe(true);
            }
          }
        }
      }
    });
  });
});
