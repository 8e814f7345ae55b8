import { describe, expect, it } from 'vitest';
import { RosterError } from '../../../src/platform/errors.js';
import type { AttributeDef, AttrPath, SchemaDef } from '../../../src/scim/ast.js';
import {
  BULK_REQUEST,
  BULK_RESPONSE,
  COMMON_ATTRIBUTES,
  canonicalName,
  canonicalPath,
  coerce,
  ENTERPRISE_USER_SCHEMA,
  ENTERPRISE_USER_SCHEMA_DEF,
  ERROR_SCHEMA,
  GROUP_SCHEMA,
  GROUP_SCHEMA_DEF,
  LIST_RESPONSE,
  PATCH_OP,
  project,
  RESOURCE_SCHEMAS,
  RESOURCE_TYPE_SCHEMA,
  RESOURCE_TYPES,
  type ResourceName,
  type ResourceSchemas,
  ROSTER_USER_SCHEMA,
  ROSTER_USER_SCHEMA_DEF,
  resolveAttribute,
  resourceTypeResource,
  SCHEMA_DEFS,
  SCHEMA_SCHEMA,
  SEARCH_REQUEST,
  SERVICE_PROVIDER_CONFIG_SCHEMA,
  schemaResource,
  serviceProviderConfig,
  USER_SCHEMA,
  USER_SCHEMA_DEF,
  validateResource,
} from '../../../src/scim/schemas.js';

type Doc = Record<string, unknown>;

/** Every attribute and sub-attribute of a schema, by `attr` or `attr.sub`. */
function flatten(attrs: readonly AttributeDef[]): Map<string, AttributeDef> {
  const out = new Map<string, AttributeDef>();
  for (const a of attrs) {
    out.set(a.name, a);
    for (const s of a.subAttributes ?? []) out.set(`${a.name}.${s.name}`, s);
  }
  return out;
}

/** The characteristics RFC 7643 §2.2 / §7 define, without the description (Roster writes its own). */
type Characteristics = Omit<AttributeDef, 'name' | 'description' | 'subAttributes'>;

function characteristicsOf(a: AttributeDef): Characteristics {
  const { name: _n, description: _d, subAttributes: _s, ...rest } = a;
  return rest;
}

/** A line of RFC 7643 §8.7.1; characteristics it leaves out take the §2.2 defaults (caseExact false, none). */
function rfc(type: AttributeDef['type'], o: Partial<Characteristics> = {}): Characteristics {
  return {
    type,
    multiValued: false,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...o,
  };
}

const s = () => rfc('string');
const bool = () => rfc('boolean');
const multi = rfc('complex', { multiValued: true });

/** RFC 7643 §8.7.1, the User attributes Roster publishes, as the RFC gives them. */
const RFC_USER: Record<string, Characteristics> = {
  userName: rfc('string', { required: true, uniqueness: 'server' }),
  name: rfc('complex'),
  'name.formatted': s(),
  'name.familyName': s(),
  'name.givenName': s(),
  displayName: s(),
  title: s(),
  active: bool(),
  emails: multi,
  'emails.value': s(),
  'emails.display': s(),
  'emails.type': rfc('string', { canonicalValues: ['work', 'home', 'other'] }),
  'emails.primary': bool(),
  phoneNumbers: multi,
  'phoneNumbers.value': s(),
  'phoneNumbers.display': s(),
  'phoneNumbers.type': rfc('string', {
    canonicalValues: ['work', 'home', 'mobile', 'fax', 'pager', 'other'],
  }),
  'phoneNumbers.primary': bool(),
  addresses: multi,
  'addresses.formatted': s(),
  'addresses.streetAddress': s(),
  'addresses.locality': s(),
  'addresses.region': s(),
  'addresses.postalCode': s(),
  'addresses.country': s(),
  'addresses.type': rfc('string', { canonicalValues: ['work', 'home', 'other'] }),
  groups: rfc('complex', { multiValued: true, mutability: 'readOnly' }),
  'groups.value': rfc('string', { mutability: 'readOnly' }),
  'groups.$ref': rfc('reference', { mutability: 'readOnly', referenceTypes: ['User', 'Group'] }),
  'groups.display': rfc('string', { mutability: 'readOnly' }),
  'groups.type': rfc('string', { mutability: 'readOnly', canonicalValues: ['direct', 'indirect'] }),
  roles: multi,
  'roles.value': s(),
  'roles.display': s(),
  'roles.type': rfc('string', { canonicalValues: [] }),
  'roles.primary': bool(),
};

/** RFC 7643 §8.7.1, the Group schema. */
const RFC_GROUP: Record<string, Characteristics> = {
  displayName: s(),
  members: multi,
  'members.value': rfc('string', { mutability: 'immutable' }),
  'members.$ref': rfc('reference', { mutability: 'immutable', referenceTypes: ['User', 'Group'] }),
  'members.type': rfc('string', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
};

/** RFC 7643 §8.7.1, the Enterprise User attributes Roster publishes. */
const RFC_ENTERPRISE: Record<string, Characteristics> = {
  department: s(),
  manager: rfc('complex'),
  'manager.value': s(),
  'manager.$ref': rfc('reference', { referenceTypes: ['User'] }),
  'manager.displayName': rfc('string', { mutability: 'readOnly' }),
};

/**
 * Where Roster publishes other characteristics than §8.7.1, because it behaves so (each one is commented in
 * src/scim/schemas.ts), and attributes it adds. Anything else must match the RFC.
 */
const DEVIATIONS: Record<string, { changed: Record<string, Partial<Characteristics>>; added: string[] }> = {
  [USER_SCHEMA]: {
    changed: {
      'emails.value': { required: true, uniqueness: 'server' },
      'phoneNumbers.value': { required: true },
      'roles.value': { required: true },
    },
    added: ['addresses.primary'],
  },
  [GROUP_SCHEMA]: {
    changed: {
      displayName: { required: true, uniqueness: 'server' },
      'members.$ref': { referenceTypes: ['User'] },
      'members.type': { canonicalValues: ['User'] },
    },
    added: ['members.display'],
  },
  [ENTERPRISE_USER_SCHEMA]: { changed: {}, added: [] },
};

function expectRfc(def: SchemaDef, reference: Record<string, Characteristics>): void {
  const deviations = DEVIATIONS[def.id] ?? { changed: {}, added: [] };
  const published = flatten(def.attributes);
  expect([...published.keys()].sort()).toEqual([...Object.keys(reference), ...deviations.added].sort());
  for (const [path, expected] of Object.entries(reference)) {
    const a = published.get(path);
    expect(a, path).toBeDefined();
    if (a === undefined) continue;
    expect(characteristicsOf(a), path).toEqual({ ...expected, ...deviations.changed[path] });
    expect(a.description.length, `${path} has a description`).toBeGreaterThan(10);
  }
}

function rosterError(fn: () => unknown): RosterError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(RosterError);
    return err as RosterError;
  }
  throw new Error('expected a RosterError');
}

/** Everything an error tells the client. */
const told = (e: RosterError) => JSON.stringify({ message: e.message, detail: e.detail, errors: e.errors });

describe('URNs', () => {
  it('are the registered ones (RFC 7643 §10.2, RFC 7644 §10.2) and Roster’s own extension', () => {
    expect(USER_SCHEMA).toBe('urn:ietf:params:scim:schemas:core:2.0:User');
    expect(GROUP_SCHEMA).toBe('urn:ietf:params:scim:schemas:core:2.0:Group');
    expect(ENTERPRISE_USER_SCHEMA).toBe('urn:ietf:params:scim:schemas:extension:enterprise:2.0:User');
    expect(ROSTER_USER_SCHEMA).toBe('urn:roster:params:scim:schemas:extension:roster:1.0:User');
    expect(LIST_RESPONSE).toBe('urn:ietf:params:scim:api:messages:2.0:ListResponse');
    expect(PATCH_OP).toBe('urn:ietf:params:scim:api:messages:2.0:PatchOp');
    expect(ERROR_SCHEMA).toBe('urn:ietf:params:scim:api:messages:2.0:Error');
    expect(BULK_REQUEST).toBe('urn:ietf:params:scim:api:messages:2.0:BulkRequest');
    expect(BULK_RESPONSE).toBe('urn:ietf:params:scim:api:messages:2.0:BulkResponse');
    expect(SEARCH_REQUEST).toBe('urn:ietf:params:scim:api:messages:2.0:SearchRequest');
    expect(SERVICE_PROVIDER_CONFIG_SCHEMA).toBe(
      'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig',
    );
    expect(RESOURCE_TYPE_SCHEMA).toBe('urn:ietf:params:scim:schemas:core:2.0:ResourceType');
    expect(SCHEMA_SCHEMA).toBe('urn:ietf:params:scim:schemas:core:2.0:Schema');
  });
});

describe('schema definitions', () => {
  it('User: the published attributes have the characteristics of RFC 7643 §8.7.1', () => {
    expect(USER_SCHEMA_DEF).toMatchObject({ id: USER_SCHEMA, name: 'User', description: 'User Account' });
    expectRfc(USER_SCHEMA_DEF, RFC_USER);
  });

  it('Group: the published attributes have the characteristics of RFC 7643 §8.7.1', () => {
    expect(GROUP_SCHEMA_DEF).toMatchObject({ id: GROUP_SCHEMA, name: 'Group', description: 'Group' });
    expectRfc(GROUP_SCHEMA_DEF, RFC_GROUP);
  });

  it('Enterprise User: the published attributes have the characteristics of RFC 7643 §8.7.1', () => {
    expect(ENTERPRISE_USER_SCHEMA_DEF).toMatchObject({ id: ENTERPRISE_USER_SCHEMA, name: 'EnterpriseUser' });
    expectRfc(ENTERPRISE_USER_SCHEMA_DEF, RFC_ENTERPRISE);
  });

  it('spot checks by value', () => {
    const user = flatten(USER_SCHEMA_DEF.attributes);
    expect(user.get('userName')).toMatchObject({
      type: 'string',
      required: true,
      caseExact: false,
      uniqueness: 'server',
      returned: 'default',
    });
    const emails = user.get('emails');
    expect(emails?.multiValued).toBe(true);
    expect(emails?.subAttributes?.map((a) => a.name)).toEqual(['value', 'display', 'type', 'primary']);
    expect(user.get('groups')?.mutability).toBe('readOnly');
    expect(user.get('groups')?.subAttributes?.every((a) => a.mutability === 'readOnly')).toBe(true);
    const id = COMMON_ATTRIBUTES.find((a) => a.name === 'id');
    expect(id).toMatchObject({ returned: 'always', mutability: 'readOnly', caseExact: true });
    const meta = COMMON_ATTRIBUTES.find((a) => a.name === 'meta');
    expect(meta?.mutability).toBe('readOnly');
    expect(meta?.subAttributes?.map((a) => a.name)).toEqual([
      'resourceType',
      'created',
      'lastModified',
      'location',
      'version',
    ]);
    expect(COMMON_ATTRIBUTES.find((a) => a.name === 'schemas')?.returned).toBe('always');
  });

  it('Roster extension: location, kind, status and read-only licenses', () => {
    const roster = flatten(ROSTER_USER_SCHEMA_DEF.attributes);
    expect([...roster.keys()]).toEqual([
      'location',
      'location.site',
      'location.country',
      'kind',
      'status',
      'licenses',
      'licenses.product',
      'licenses.state',
      'licenses.pool',
      'licenses.waitlistPosition',
    ]);
    expect(roster.get('kind')?.canonicalValues).toEqual(['employee', 'contractor', 'external', 'service']);
    expect(roster.get('status')?.canonicalValues).toEqual(['staged', 'active', 'suspended', 'deprovisioned']);
    expect(roster.get('licenses')).toMatchObject({
      multiValued: true,
      type: 'complex',
      mutability: 'readOnly',
    });
    expect(roster.get('licenses.waitlistPosition')?.type).toBe('integer');
  });

  it('publishes the four schemas, as JSON, and cannot be changed by a caller', () => {
    expect(SCHEMA_DEFS.map((d) => d.id)).toEqual([
      USER_SCHEMA,
      GROUP_SCHEMA,
      ENTERPRISE_USER_SCHEMA,
      ROSTER_USER_SCHEMA,
    ]);
    for (const def of SCHEMA_DEFS) expect(JSON.parse(JSON.stringify(def))).toEqual(def);
    expect(Object.isFrozen(USER_SCHEMA_DEF.attributes[0])).toBe(true);
  });

  it('/Schemas/{id}: schemas and meta', () => {
    const doc = schemaResource(ENTERPRISE_USER_SCHEMA_DEF, 'https://roster.example/scim/v2/');
    expect(doc).toEqual({
      schemas: [SCHEMA_SCHEMA],
      id: ENTERPRISE_USER_SCHEMA,
      name: 'EnterpriseUser',
      description: 'Enterprise User',
      attributes: ENTERPRISE_USER_SCHEMA_DEF.attributes,
      meta: {
        resourceType: 'Schema',
        location: `https://roster.example/scim/v2/Schemas/${ENTERPRISE_USER_SCHEMA}`,
      },
    });
  });
});

describe('resource types and service provider configuration', () => {
  it('User at /Users with both extensions optional; Group at /Groups (RFC 7643 §6)', () => {
    const base = 'https://roster.example/scim/v2';
    expect(RESOURCE_TYPES.map((rt) => resourceTypeResource(rt, base))).toEqual([
      {
        schemas: [RESOURCE_TYPE_SCHEMA],
        id: 'User',
        name: 'User',
        endpoint: '/Users',
        description: 'User Account',
        schema: USER_SCHEMA,
        schemaExtensions: [
          { schema: ENTERPRISE_USER_SCHEMA, required: false },
          { schema: ROSTER_USER_SCHEMA, required: false },
        ],
        meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/User` },
      },
      {
        schemas: [RESOURCE_TYPE_SCHEMA],
        id: 'Group',
        name: 'Group',
        endpoint: '/Groups',
        description: 'Group',
        schema: GROUP_SCHEMA,
        schemaExtensions: [],
        meta: { resourceType: 'ResourceType', location: `${base}/ResourceTypes/Group` },
      },
    ]);
    // Every schema a resource type names is published.
    const published = new Set(SCHEMA_DEFS.map((d) => d.id));
    for (const rt of RESOURCE_TYPES) {
      expect(published.has(rt.schema)).toBe(true);
      for (const e of rt.schemaExtensions) expect(published.has(e.schema)).toBe(true);
    }
  });

  it('ServiceProviderConfig (RFC 7643 §5)', () => {
    const doc = serviceProviderConfig({
      baseUrl: 'https://roster.example/scim/v2',
      bulkMaxOperations: 1000,
      bulkMaxPayloadSize: 1_048_576,
      filterMaxResults: 200,
      documentationUri: 'https://roster.example/docs/scim',
    });
    expect(doc).toEqual({
      schemas: [SERVICE_PROVIDER_CONFIG_SCHEMA],
      documentationUri: 'https://roster.example/docs/scim',
      patch: { supported: true },
      bulk: { supported: true, maxOperations: 1000, maxPayloadSize: 1_048_576 },
      filter: { supported: true, maxResults: 200 },
      changePassword: { supported: false },
      sort: { supported: true },
      etag: { supported: true },
      authenticationSchemes: [
        {
          type: 'oauthbearertoken',
          name: 'OAuth Bearer Token',
          description: expect.any(String),
          specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
          primary: true,
        },
      ],
      meta: {
        resourceType: 'ServiceProviderConfig',
        location: 'https://roster.example/scim/v2/ServiceProviderConfig',
      },
    });
    const bare = serviceProviderConfig({
      baseUrl: 'https://roster.example/scim/v2/',
      bulkMaxOperations: 1,
      bulkMaxPayloadSize: 1,
      filterMaxResults: 1,
    });
    expect('documentationUri' in bare).toBe(false);
    expect(bare.meta.location).toBe('https://roster.example/scim/v2/ServiceProviderConfig');
  });
});

describe('resolveAttribute', () => {
  it('is case-insensitive on names and URNs (RFC 7643 §2.1)', () => {
    expect(resolveAttribute('User', { attr: 'USERNAME' })).toMatchObject({
      schema: USER_SCHEMA,
      def: { name: 'userName' },
    });
    const r = resolveAttribute('User', { attr: 'Name', sub: 'GIVENNAME' });
    expect(r.def.name).toBe('name');
    expect(r.sub?.name).toBe('givenName');
    expect(
      resolveAttribute('User', { uri: ENTERPRISE_USER_SCHEMA.toUpperCase(), attr: 'Department' }),
    ).toMatchObject({ schema: ENTERPRISE_USER_SCHEMA, def: { name: 'department' } });
  });

  it('finds unqualified names in the core schema first, then the extensions', () => {
    expect(resolveAttribute('User', { attr: 'department' }).schema).toBe(ENTERPRISE_USER_SCHEMA);
    expect(resolveAttribute('User', { attr: 'manager', sub: 'displayName' }).sub?.mutability).toBe(
      'readOnly',
    );
    expect(resolveAttribute('User', { attr: 'status' }).schema).toBe(ROSTER_USER_SCHEMA);
    expect(resolveAttribute('User', { attr: 'location', sub: 'site' }).schema).toBe(ROSTER_USER_SCHEMA);
    expect(resolveAttribute('User', { attr: 'displayName' }).schema).toBe(USER_SCHEMA);
    expect(resolveAttribute('Group', { attr: 'members', sub: 'value' }).sub?.mutability).toBe('immutable');
  });

  it('looks a URN-qualified name up in that schema only', () => {
    expect(resolveAttribute('User', { uri: USER_SCHEMA, attr: 'userName' }).def.name).toBe('userName');
    expect(
      rosterError(() => resolveAttribute('User', { uri: ENTERPRISE_USER_SCHEMA, attr: 'userName' })).code,
    ).toBe('scim.invalid_path');
    expect(rosterError(() => resolveAttribute('User', { uri: USER_SCHEMA, attr: 'department' })).code).toBe(
      'scim.invalid_path',
    );
  });

  it('knows the common attributes id, externalId, meta and schemas', () => {
    for (const resource of ['User', 'Group'] as const) {
      expect(resolveAttribute(resource, { attr: 'ID' }).def).toMatchObject({
        returned: 'always',
        caseExact: true,
      });
      expect(resolveAttribute(resource, { attr: 'externalid' }).def.name).toBe('externalId');
      expect(resolveAttribute(resource, { attr: 'meta', sub: 'LASTMODIFIED' }).sub).toMatchObject({
        name: 'lastModified',
        type: 'dateTime',
      });
      expect(resolveAttribute(resource, { attr: 'schemas' }).def.multiValued).toBe(true);
    }
    expect(resolveAttribute('User', { attr: 'id' }).schema).toBe(USER_SCHEMA);
    expect(resolveAttribute('Group', { uri: GROUP_SCHEMA, attr: 'meta' }).schema).toBe(GROUP_SCHEMA);
  });

  it('refuses unknown attributes, sub-attributes and schemas with scim.invalid_path naming the path', () => {
    const cases: [ResourceName, AttrPath, string][] = [
      ['User', { attr: 'nickName' }, 'nickName'],
      ['User', { attr: 'name', sub: 'middleName' }, 'middleName'],
      ['User', { attr: 'userName', sub: 'x' }, "'x'"],
      ['User', { uri: 'urn:example:nothing', attr: 'userName' }, 'urn:example:nothing:userName'],
      ['Group', { attr: 'department' }, 'department'],
      ['Group', { attr: 'members', sub: 'primary' }, 'primary'],
    ];
    for (const [resource, path, named] of cases) {
      const e = rosterError(() => resolveAttribute(resource, path));
      expect(e.code).toBe('scim.invalid_path');
      expect(e.detail).toContain(named);
    }
  });

  it('canonicalName spells a path as the schema does, extension attributes with their URN', () => {
    expect(canonicalName('User', { attr: 'USERNAME' })).toBe('userName');
    expect(canonicalName('User', { uri: USER_SCHEMA.toLowerCase(), attr: 'username' })).toBe('userName');
    expect(canonicalName('User', { attr: 'name', sub: 'FAMILYNAME' })).toBe('name.familyName');
    expect(canonicalName('User', { attr: 'Department' })).toBe(`${ENTERPRISE_USER_SCHEMA}:department`);
    expect(canonicalName('User', { attr: 'MANAGER', sub: 'VALUE' })).toBe(
      `${ENTERPRISE_USER_SCHEMA}:manager.value`,
    );
    expect(canonicalName('Group', { attr: 'DISPLAYNAME' })).toBe('displayName');
    expect(canonicalPath('User', { uri: ROSTER_USER_SCHEMA.toUpperCase(), attr: 'KIND' })).toEqual({
      uri: ROSTER_USER_SCHEMA,
      attr: 'kind',
    });
    expect(rosterError(() => canonicalName('User', { attr: 'nope' })).code).toBe('scim.invalid_path');
  });
});

function userDoc(): Doc {
  return {
    schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, ROSTER_USER_SCHEMA],
    id: 'u-1',
    externalId: 'ext-1',
    userName: 'bjensen',
    name: { formatted: 'Ms. Barbara J Jensen', familyName: 'Jensen', givenName: 'Barbara' },
    displayName: 'Babs Jensen',
    title: 'Tour Guide',
    active: true,
    emails: [
      { value: 'bjensen@example.com', type: 'work', primary: true },
      { value: 'babs@example.org', type: 'home' },
    ],
    phoneNumbers: [{ value: 'tel:+1-201-555-0123', type: 'work' }],
    groups: [
      { value: 'g-1', $ref: 'https://r.example/scim/v2/Groups/g-1', display: 'Guides', type: 'direct' },
    ],
    [ENTERPRISE_USER_SCHEMA]: {
      department: 'Tour Operations',
      manager: { value: 'u-2', $ref: 'https://r.example/scim/v2/Users/u-2' },
    },
    [ROSTER_USER_SCHEMA]: {
      location: { site: 'HQ', country: 'US' },
      kind: 'employee',
      status: 'active',
      licenses: [{ product: 'OFFICE', state: 'active', pool: 'US' }],
    },
    meta: {
      resourceType: 'User',
      created: '2026-01-01T00:00:00.000Z',
      lastModified: '2026-01-02T00:00:00.000Z',
      location: 'https://r.example/scim/v2/Users/u-1',
      version: 'W/"3"',
    },
  };
}

describe('project (RFC 7644 §3.4.2.5, §3.9)', () => {
  it('returns the default attributes when no parameter is given, and never changes the document', () => {
    const doc = userDoc();
    const out = project('User', doc);
    expect(out).toEqual(userDoc());
    expect(doc).toEqual(userDoc());
  });

  it('attributes=userName answers id, schemas and userName only', () => {
    const doc = userDoc();
    const out = project('User', doc, { attributes: [{ attr: 'userName' }] });
    expect(out).toEqual({ schemas: [USER_SCHEMA], id: 'u-1', userName: 'bjensen' });
    expect(project('User', doc, { attributes: [{ attr: 'USERNAME' }] })).toEqual(out);
    expect(doc).toEqual(userDoc());
  });

  it('excludedAttributes removes default attributes, never `always` ones', () => {
    const out = project('User', userDoc(), { excludedAttributes: [{ attr: 'emails' }, { attr: 'id' }] });
    const expected = userDoc();
    delete expected.emails;
    expect(out).toEqual(expected);
    const noTypes = project('User', userDoc(), { excludedAttributes: [{ attr: 'emails', sub: 'type' }] });
    expect(noTypes.emails).toEqual([
      { value: 'bjensen@example.com', primary: true },
      { value: 'babs@example.org' },
    ]);
  });

  it('selects sub-attributes', () => {
    const out = project('User', userDoc(), {
      attributes: [
        { attr: 'name', sub: 'givenName' },
        { attr: 'emails', sub: 'value' },
        { attr: 'meta', sub: 'version' },
      ],
    });
    expect(out).toEqual({
      schemas: [USER_SCHEMA],
      id: 'u-1',
      name: { givenName: 'Barbara' },
      emails: [{ value: 'bjensen@example.com' }, { value: 'babs@example.org' }],
      meta: { version: 'W/"3"' },
    });
  });

  it('selects extension attributes, qualified or not, and drops extensions left empty', () => {
    const qualified = project('User', userDoc(), {
      attributes: [{ uri: ENTERPRISE_USER_SCHEMA, attr: 'department' }],
    });
    expect(qualified).toEqual({
      schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
      id: 'u-1',
      [ENTERPRISE_USER_SCHEMA]: { department: 'Tour Operations' },
    });
    const bare = project('User', userDoc(), {
      attributes: [{ attr: 'manager', sub: 'value' }, { attr: 'kind' }],
    });
    expect(bare).toEqual({
      schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, ROSTER_USER_SCHEMA],
      id: 'u-1',
      [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'u-2' } },
      [ROSTER_USER_SCHEMA]: { kind: 'employee' },
    });
  });

  it('takes a whole extension by its URN, for either parameter', () => {
    // A path parser may split `urn:…:2.0:User` at its last colon.
    const split: AttrPath = { uri: ROSTER_USER_SCHEMA.slice(0, -5), attr: 'User' };
    const only = project('User', userDoc(), { attributes: [split] });
    expect(only).toEqual({
      schemas: [USER_SCHEMA, ROSTER_USER_SCHEMA],
      id: 'u-1',
      [ROSTER_USER_SCHEMA]: userDoc()[ROSTER_USER_SCHEMA],
    });
    const without = project('User', userDoc(), { excludedAttributes: [{ attr: ROSTER_USER_SCHEMA }] });
    expect(without[ROSTER_USER_SCHEMA]).toBeUndefined();
    expect(without.schemas).toEqual([USER_SCHEMA, ENTERPRISE_USER_SCHEMA]);
    const emptied = project('User', userDoc(), {
      excludedAttributes: [{ attr: 'department' }, { uri: ENTERPRISE_USER_SCHEMA, attr: 'MANAGER' }],
    });
    expect(emptied[ENTERPRISE_USER_SCHEMA]).toBeUndefined();
    expect(emptied.schemas).toEqual([USER_SCHEMA, ROSTER_USER_SCHEMA]);
  });

  it('ignores paths naming attributes Roster does not define', () => {
    expect(project('User', userDoc(), { attributes: [{ attr: 'nickName' }] })).toEqual({
      schemas: [USER_SCHEMA],
      id: 'u-1',
    });
    expect(project('User', userDoc(), { excludedAttributes: [{ attr: 'ims' }] })).toEqual(userDoc());
  });

  it('applies attributes, then excludedAttributes', () => {
    const out = project('User', userDoc(), {
      attributes: [{ attr: 'userName' }, { attr: 'emails' }],
      excludedAttributes: [{ attr: 'emails', sub: 'primary' }],
    });
    expect(out).toEqual({
      schemas: [USER_SCHEMA],
      id: 'u-1',
      userName: 'bjensen',
      emails: [
        { value: 'bjensen@example.com', type: 'work' },
        { value: 'babs@example.org', type: 'home' },
      ],
    });
  });

  it('Group: excludedAttributes=members', () => {
    const group = {
      schemas: [GROUP_SCHEMA],
      id: 'g-1',
      displayName: 'Guides',
      members: [{ value: 'u-1', $ref: 'https://r.example/scim/v2/Users/u-1', type: 'User' }],
      meta: { resourceType: 'Group' },
    };
    expect(project('Group', group, { excludedAttributes: [{ attr: 'members' }] })).toEqual({
      schemas: [GROUP_SCHEMA],
      id: 'g-1',
      displayName: 'Guides',
      meta: { resourceType: 'Group' },
    });
  });

  it('honours returned: never and request', () => {
    const base = (
      name: string,
      returned: AttributeDef['returned'],
      subAttributes?: AttributeDef[],
    ): AttributeDef => ({
      name,
      type: subAttributes ? 'complex' : 'string',
      multiValued: false,
      description: name,
      required: false,
      caseExact: false,
      mutability: 'readWrite',
      returned,
      uniqueness: 'none',
      ...(subAttributes ? { subAttributes } : {}),
    });
    const schemas: ResourceSchemas = {
      core: {
        id: 'urn:example:Thing',
        name: 'Thing',
        description: 'test',
        attributes: [
          base('secret', 'never'),
          base('note', 'request'),
          base('label', 'default'),
          base('box', 'default', [
            base('open', 'default'),
            base('hidden', 'never'),
            base('extra', 'request'),
          ]),
        ],
      },
      extensions: [],
      common: RESOURCE_SCHEMAS.User.common,
    };
    const doc = {
      schemas: ['urn:example:Thing'],
      id: 't-1',
      secret: 's',
      note: 'n',
      label: 'l',
      box: { open: 'o', hidden: 'h', extra: 'e' },
    };
    expect(project(schemas, doc)).toEqual({
      schemas: ['urn:example:Thing'],
      id: 't-1',
      label: 'l',
      box: { open: 'o' },
    });
    expect(
      project(schemas, doc, {
        attributes: [{ attr: 'note' }, { attr: 'secret' }, { attr: 'box', sub: 'extra' }],
      }),
    ).toEqual({ schemas: ['urn:example:Thing'], id: 't-1', note: 'n', box: { extra: 'e' } });
    expect(project(schemas, doc, { attributes: [{ attr: 'box' }] })).toEqual({
      schemas: ['urn:example:Thing'],
      id: 't-1',
      box: { open: 'o' },
    });
    expect(project(schemas, doc, { attributes: [{ attr: 'box', sub: 'hidden' }] })).toEqual({
      schemas: ['urn:example:Thing'],
      id: 't-1',
    });
  });
});

describe('coerce', () => {
  it('turns Microsoft Entra ID string booleans into booleans and names into their canonical spelling', () => {
    const body = {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:user', ENTERPRISE_USER_SCHEMA.toLowerCase()],
      externalId: 'e-1',
      UserName: 'bjensen@example.com',
      Active: 'False',
      displayName: 'True',
      emails: [
        { Primary: 'true', type: 'work', VALUE: 'bjensen@example.com' },
        { primary: 'FALSE', value: 'b@example.org' },
      ],
      name: { GivenName: 'Barbara', familyname: 'Jensen' },
      [ENTERPRISE_USER_SCHEMA.toUpperCase()]: {
        Department: 'Tours',
        MANAGER: { Value: 'u-2' },
        costCenter: '4130',
      },
    };
    const before = structuredClone(body);
    expect(coerce('User', body)).toEqual({
      schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
      externalId: 'e-1',
      userName: 'bjensen@example.com',
      active: false,
      displayName: 'True',
      emails: [
        { primary: true, type: 'work', value: 'bjensen@example.com' },
        { primary: false, value: 'b@example.org' },
      ],
      name: { givenName: 'Barbara', familyName: 'Jensen' },
      [ENTERPRISE_USER_SCHEMA]: { department: 'Tours', manager: { value: 'u-2' }, costCenter: '4130' },
    });
    expect(body).toEqual(before);
  });

  it('leaves other values alone', () => {
    const out = coerce('User', {
      schemas: [USER_SCHEMA],
      userName: 'a',
      active: 'yes',
      title: 'false',
      nickName: 'TRUE',
      emails: 'not-a-list',
    });
    expect(out).toEqual({
      schemas: [USER_SCHEMA],
      userName: 'a',
      active: 'yes',
      title: 'false',
      nickName: 'TRUE',
      emails: 'not-a-list',
    });
  });

  it('moves flattened attributes where they belong and spells kind and status canonically', () => {
    const out = coerce('User', {
      schemas: [USER_SCHEMA],
      userName: 'a',
      'name.givenName': 'Barbara',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department': 'Tours',
      [ENTERPRISE_USER_SCHEMA]: { manager: { value: 'u-2' } },
      [`${ROSTER_USER_SCHEMA}:kind`]: 'Contractor',
      [ROSTER_USER_SCHEMA]: { STATUS: 'SUSPENDED', 'location.site': 'HQ' },
      [`${ENTERPRISE_USER_SCHEMA}:employeeNumber`]: '701984',
    });
    expect(out).toEqual({
      schemas: [USER_SCHEMA],
      userName: 'a',
      name: { givenName: 'Barbara' },
      [ENTERPRISE_USER_SCHEMA]: { department: 'Tours', manager: { value: 'u-2' } },
      [ROSTER_USER_SCHEMA]: { kind: 'contractor', status: 'suspended', location: { site: 'HQ' } },
      [`${ENTERPRISE_USER_SCHEMA}:employeeNumber`]: '701984',
    });
  });

  it('refuses an attribute given twice under names differing in case', () => {
    const e = rosterError(() => coerce('User', { userName: 'a', USERNAME: 'b' }));
    expect(e.code).toBe('scim.invalid_syntax');
    expect(e.detail).toContain('userName');
    expect(told(e)).not.toMatch(/"a"|"b"/);
    expect(rosterError(() => coerce('User', { name: { givenName: 'a' }, 'NAME.GIVENNAME': 'b' })).code).toBe(
      'scim.invalid_syntax',
    );
  });

  it('returns a copy that shares nothing with the input', () => {
    const body = {
      schemas: [USER_SCHEMA],
      userName: 'a',
      emails: [{ value: 'x@example.com' }],
      unknown: { n: 1 },
    };
    const out = coerce('User', body);
    (out.emails as Doc[])[0] = { value: 'changed' };
    ((out.unknown as Doc) ?? {}).n = 2;
    (out.schemas as string[]).push('x');
    expect(body).toEqual({
      schemas: [USER_SCHEMA],
      userName: 'a',
      emails: [{ value: 'x@example.com' }],
      unknown: { n: 1 },
    });
  });

  it('keeps __proto__, constructor and prototype as plain members, polluting nothing', () => {
    const body = JSON.parse(
      '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"a",' +
        '"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},' +
        '"emails":[{"value":"x@example.com","__proto__":{"polluted":true}}],' +
        '"name":{"__proto__":{"polluted":true},"givenName":"B"}}',
    ) as Doc;
    const out = coerce('User', body);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    const email = (out.emails as Doc[])[0] ?? {};
    expect(Object.getPrototypeOf(email)).toBe(Object.prototype);
    expect((email as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out.name)).toBe(Object.prototype);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.hasOwn(out, 'constructor')).toBe(true);
    validateResource('User', out, 'create');
  });

  it('Group members', () => {
    expect(
      coerce('Group', {
        Schemas: [GROUP_SCHEMA],
        DisplayName: 'G',
        Members: [{ Value: 'u-1', Display: 'x' }],
      }),
    ).toEqual({ schemas: [GROUP_SCHEMA], displayName: 'G', members: [{ value: 'u-1', display: 'x' }] });
  });
});

describe('validateResource', () => {
  const SECRET = 'SECRET-VALUE-7';
  const entraUser = () =>
    coerce('User', {
      schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA],
      externalId: 'e-1',
      userName: 'bjensen@example.com',
      active: 'True',
      displayName: 'Babs',
      nickName: 'Babs',
      preferredLanguage: 'en-US',
      emails: [{ primary: 'true', type: 'work', value: 'bjensen@example.com' }],
      name: { givenName: 'Barbara', familyName: 'Jensen', middleName: 'Jane' },
      [ENTERPRISE_USER_SCHEMA]: { department: 'Tours', employeeNumber: '701984', manager: { value: 'u-2' } },
    });

  function invalid(resource: 'User' | 'Group', doc: Doc, mode: 'create' | 'replace' = 'create'): RosterError {
    const e = rosterError(() => validateResource(resource, doc, mode));
    expect(told(e)).not.toContain(SECRET);
    return e;
  }

  it('accepts what Entra ID sends, once coerced, ignoring attributes Roster does not keep', () => {
    expect(() => validateResource('User', entraUser(), 'create')).not.toThrow();
    expect(() => validateResource('User', entraUser(), 'replace')).not.toThrow();
  });

  it('ignores read-only attributes a client sends back', () => {
    const doc = {
      ...entraUser(),
      id: 7,
      meta: 'x',
      groups: 'x',
      [ROSTER_USER_SCHEMA]: { licenses: 'x', kind: 'employee' },
    };
    expect(() => validateResource('User', doc, 'replace')).not.toThrow();
  });

  it('accepts a known extension whose URN schemas leaves out', () => {
    const doc = { schemas: [USER_SCHEMA], userName: 'a', [ROSTER_USER_SCHEMA]: { kind: 'service' } };
    expect(() => validateResource('User', doc, 'create')).not.toThrow();
  });

  it('requires userName, non-empty', () => {
    const missing = invalid('User', { schemas: [USER_SCHEMA], displayName: SECRET });
    expect(missing.code).toBe('scim.invalid_value');
    expect(missing.errors).toEqual([{ pointer: '/userName', detail: 'is required to create a User' }]);
    expect(missing.detail).toBe('/userName is required to create a User');
    const nulled = invalid('User', { schemas: [USER_SCHEMA], userName: null }, 'replace');
    expect(nulled.detail).toBe('/userName is required to replace a User');
    const blank = invalid('User', { schemas: [USER_SCHEMA], userName: '  ' });
    expect(blank.errors).toEqual([{ pointer: '/userName', detail: 'must not be empty' }]);
  });

  it('checks types per the schema, naming attributes and never values', () => {
    const e = invalid('User', {
      schemas: [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, ROSTER_USER_SCHEMA],
      userName: 'a',
      active: SECRET,
      name: SECRET,
      title: 42,
      emails: [{ value: SECRET, primary: SECRET }, SECRET, { type: 'work' }],
      phoneNumbers: { value: SECRET },
      addresses: [{ locality: 5, primary: true }],
      [ENTERPRISE_USER_SCHEMA]: { department: 7, manager: { value: false } },
      [ROSTER_USER_SCHEMA]: { kind: SECRET, status: 'Suspended', location: { site: [SECRET] } },
    });
    expect(e.code).toBe('scim.invalid_value');
    expect(e.errors).toEqual([
      { pointer: '/active', detail: 'must be a boolean' },
      { pointer: '/name', detail: 'must be an object' },
      { pointer: '/title', detail: 'must be a string' },
      { pointer: '/emails/0/primary', detail: 'must be a boolean' },
      { pointer: '/emails/1', detail: 'must be an object' },
      { pointer: '/emails/2/value', detail: 'is required to create a User' },
      { pointer: '/phoneNumbers', detail: 'must be an array' },
      { pointer: '/addresses/0/locality', detail: 'must be a string' },
      { pointer: `/${ENTERPRISE_USER_SCHEMA}/department`, detail: 'must be a string' },
      { pointer: `/${ENTERPRISE_USER_SCHEMA}/manager/value`, detail: 'must be a string' },
      {
        pointer: `/${ROSTER_USER_SCHEMA}/kind`,
        detail: 'must be one of employee, contractor, external, service',
      },
      // Not coerced: validation wants the canonical spelling, which coerce gives.
      {
        pointer: `/${ROSTER_USER_SCHEMA}/status`,
        detail: 'must be one of staged, active, suspended, deprovisioned',
      },
      { pointer: `/${ROSTER_USER_SCHEMA}/location/site`, detail: 'must be a string' },
    ]);
    expect(e.detail).toContain('/active must be a boolean');
    expect(e.detail).toContain('and 3 more');
  });

  it('checks flattened extension attributes too', () => {
    const e = invalid('User', {
      schemas: [USER_SCHEMA],
      userName: 'a',
      [`${ENTERPRISE_USER_SCHEMA}:department`]: 1,
    });
    expect(e.errors).toEqual([
      { pointer: `/${ENTERPRISE_USER_SCHEMA}/department`, detail: 'must be a string' },
    ]);
  });

  it('wants schemas to list the core schema, and only schemas of the resource type', () => {
    const none = invalid('User', { userName: 'a' });
    expect(none.code).toBe('scim.invalid_syntax');
    expect(none.detail).toContain(USER_SCHEMA);
    expect(invalid('User', { schemas: USER_SCHEMA, userName: 'a' }).code).toBe('scim.invalid_syntax');
    const noCore = invalid('User', { schemas: [ENTERPRISE_USER_SCHEMA], userName: 'a' });
    expect(noCore.code).toBe('scim.invalid_syntax');
    expect(noCore.errors).toEqual([{ pointer: '/schemas', detail: expect.any(String) }]);
    const unknown = invalid('User', { schemas: [USER_SCHEMA, `urn:${SECRET}`], userName: 'a' });
    expect(unknown.code).toBe('scim.invalid_syntax');
    expect(unknown.errors?.[0]?.pointer).toBe('/schemas/1');
    expect(invalid('Group', { schemas: [GROUP_SCHEMA, ENTERPRISE_USER_SCHEMA], displayName: 'g' }).code).toBe(
      'scim.invalid_syntax',
    );
    expect(() =>
      validateResource('User', { schemas: [USER_SCHEMA.toUpperCase()], userName: 'a' }, 'create'),
    ).not.toThrow();
  });

  it('refuses an object under a URN that is no extension of the resource type', () => {
    const e = invalid('User', {
      schemas: [USER_SCHEMA],
      userName: 'a',
      'urn:example:custom:User': { x: SECRET },
    });
    expect(e.code).toBe('scim.invalid_syntax');
    expect(e.detail).toContain('urn:example:custom:User');
  });

  it('Group: displayName required, members a list of objects', () => {
    expect(() =>
      validateResource(
        'Group',
        coerce('Group', {
          schemas: [GROUP_SCHEMA],
          displayName: 'G',
          members: [{ value: 'u-1', type: 'User' }],
        }),
        'create',
      ),
    ).not.toThrow();
    expect(invalid('Group', { schemas: [GROUP_SCHEMA] }).errors).toEqual([
      { pointer: '/displayName', detail: 'is required to create a Group' },
    ]);
    expect(invalid('Group', { schemas: [GROUP_SCHEMA], displayName: 'G', members: SECRET }).errors).toEqual([
      { pointer: '/members', detail: 'must be an array' },
    ]);
    expect(
      invalid('Group', { schemas: [GROUP_SCHEMA], displayName: 'G', members: [SECRET, { value: 3 }] }).errors,
    ).toEqual([
      { pointer: '/members/0', detail: 'must be an object' },
      { pointer: '/members/1/value', detail: 'must be a string' },
    ]);
  });
});
