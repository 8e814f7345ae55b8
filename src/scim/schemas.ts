/**
 * The SCIM schemas Roster publishes and enforces (RFC 7643): the message and schema URNs, the User, Group,
 * Enterprise User and Roster extension definitions that `/Schemas` answers, the resource types of
 * `/ResourceTypes`, the `/ServiceProviderConfig` document, and what those definitions drive: attribute lookup
 * (names and URNs are case-insensitive, RFC 7643 §2.1), projection by `attributes` / `excludedAttributes`
 * (RFC 7644 §3.4.2.5, §3.9), coercion of client quirks and validation of incoming resources. Pure: no I/O.
 *
 * The definitions follow RFC 7643 §8.7.1 attribute by attribute, and publish only what Roster stores or
 * computes. Where Roster behaves differently from the RFC's characteristics the definition says what Roster
 * does (a client reading /Schemas must not be misled); each such place is marked "Roster:" below.
 */
import { type FieldError, RosterError } from '../platform/errors.js';
import type {
  AttributeDef,
  AttributeType,
  AttrPath,
  Mutability,
  Returned,
  SchemaDef,
  Uniqueness,
} from './ast.js';

// ---- URNs (IANA's SCIM schema URI registries, RFC 7643 §10; and Roster's own extension)

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const ROSTER_USER_SCHEMA = 'urn:roster:params:scim:schemas:extension:roster:1.0:User';
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const BULK_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
export const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const SERVICE_PROVIDER_CONFIG_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
export const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
export const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

// ---- attribute definitions

interface AttrOptions {
  readonly multiValued?: boolean;
  readonly required?: boolean;
  readonly caseExact?: boolean;
  readonly mutability?: Mutability;
  readonly returned?: Returned;
  readonly uniqueness?: Uniqueness;
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
  readonly subAttributes?: readonly AttributeDef[];
}

/** An attribute definition; characteristics not given take the defaults of RFC 7643 §2.2. */
function attr(name: string, type: AttributeType, description: string, o: AttrOptions = {}): AttributeDef {
  return {
    name,
    type,
    multiValued: o.multiValued ?? false,
    description,
    required: o.required ?? false,
    caseExact: o.caseExact ?? false,
    ...(o.canonicalValues ? { canonicalValues: o.canonicalValues } : {}),
    ...(o.referenceTypes ? { referenceTypes: o.referenceTypes } : {}),
    ...(o.subAttributes ? { subAttributes: o.subAttributes } : {}),
    mutability: o.mutability ?? 'readWrite',
    returned: o.returned ?? 'default',
    uniqueness: o.uniqueness ?? 'none',
  };
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

const primary = (what: string) =>
  attr(
    'primary',
    'boolean',
    `A Boolean value indicating the 'primary' or preferred ${what}. The value true appears at most once.`,
  );

const display = (what: string) => attr('display', 'string', `A human-readable name for the ${what}.`);

/**
 * The common attributes (RFC 7643 §3.1): part of every resource, outside any schema's attribute list (so
 * `/Schemas` does not publish them, as RFC 7643 §8.7.1 does not). Lookups find them as core attributes.
 */
export const COMMON_ATTRIBUTES: readonly AttributeDef[] = deepFreeze([
  attr('id', 'string', 'Unique, stable identifier of the resource, assigned by Roster (a UUID).', {
    caseExact: true,
    mutability: 'readOnly',
    returned: 'always',
    uniqueness: 'server',
  }),
  // Roster: unique within the tenant (a second resource with the same externalId is a uniqueness conflict).
  attr(
    'externalId',
    'string',
    "The provisioning client's identifier for the resource. Unique within the tenant and resource type.",
    { caseExact: true, uniqueness: 'server' },
  ),
  attr('schemas', 'reference', 'The URNs of the schemas whose attributes the resource holds.', {
    multiValued: true,
    required: true,
    referenceTypes: ['uri'],
    returned: 'always',
  }),
  attr('meta', 'complex', 'Resource metadata, assigned by Roster.', {
    mutability: 'readOnly',
    subAttributes: [
      attr('resourceType', 'string', "The name of the resource's type: User or Group.", {
        caseExact: true,
        mutability: 'readOnly',
      }),
      attr('created', 'dateTime', 'When the resource was created.', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', 'When the resource was last changed.', { mutability: 'readOnly' }),
      attr('location', 'reference', 'The URI of the resource.', {
        caseExact: true,
        referenceTypes: ['uri'],
        mutability: 'readOnly',
      }),
      attr('version', 'string', 'The version of the resource, as a weak entity tag (the ETag header).', {
        caseExact: true,
        mutability: 'readOnly',
      }),
    ],
  }),
]);

const ENCRYPTED = 'Roster stores it encrypted';

/** RFC 7643 §4.1, the attributes Roster keeps, characteristics as §8.7.1 gives them unless marked "Roster:". */
export const USER_SCHEMA_DEF: SchemaDef = deepFreeze({
  id: USER_SCHEMA,
  name: 'User',
  description: 'User Account',
  attributes: [
    attr(
      'userName',
      'string',
      'Unique identifier for the User, typically used by the user to sign in to a service provider. ' +
        'Required and non-empty; unique within the tenant, compared without regard to case. ' +
        `${ENCRYPTED}: a filter can ask only for equality (eq, ne) and presence (pr).`,
      { required: true, uniqueness: 'server' },
    ),
    attr(
      'name',
      'complex',
      "The components of the user's real name. Roster keeps formatted, familyName and givenName " +
        `(other components are not stored). ${ENCRYPTED}: a filter can ask only for presence (pr).`,
      {
        subAttributes: [
          attr(
            'formatted',
            'string',
            "The full name, formatted for display (e.g., 'Ms. Barbara J Jensen, III').",
          ),
          attr(
            'familyName',
            'string',
            'The family name of the User, or last name in most Western languages.',
          ),
          attr('givenName', 'string', 'The given name of the User, or first name in most Western languages.'),
        ],
      },
    ),
    attr(
      'displayName',
      'string',
      `The name of the User, suitable for display to end-users. ${ENCRYPTED}: a filter can ask only for presence (pr).`,
    ),
    attr('title', 'string', 'The user\'s title, such as "Vice President".'),
    attr(
      'active',
      'boolean',
      "The User's administrative status, derived from the Roster status " +
        `(${ROSTER_USER_SCHEMA}:status): true exactly when the status is active. ` +
        'Setting true activates the user; setting false suspends an active user.',
    ),
    attr(
      'emails',
      'complex',
      'Email addresses for the User. Each address belongs to one user of the tenant, compared without ' +
        `regard to case. ${ENCRYPTED}: a filter can ask only for an address's equality and for presence.`,
      {
        multiValued: true,
        subAttributes: [
          // Roster: every entry needs its address, and an address is unique within the tenant.
          attr('value', 'string', 'An email address of the User. Required in each entry.', {
            required: true,
            uniqueness: 'server',
          }),
          display('address'),
          attr('type', 'string', "A label indicating the address's function, e.g., 'work' or 'home'.", {
            canonicalValues: ['work', 'home', 'other'],
          }),
          primary('email address'),
        ],
      },
    ),
    attr(
      'phoneNumbers',
      'complex',
      `Phone numbers for the User. ${ENCRYPTED}: a filter can ask only for presence (pr).`,
      {
        multiValued: true,
        subAttributes: [
          // Roster: every entry needs its number.
          attr(
            'value',
            'string',
            'A phone number of the User, preferably in the RFC 3966 form (tel:+1-201-555-0123); ' +
              'Roster does not check the form. Required in each entry.',
            { required: true },
          ),
          display('number'),
          attr(
            'type',
            'string',
            "A label indicating the number's function, e.g., 'work', 'home', 'mobile'.",
            {
              canonicalValues: ['work', 'home', 'mobile', 'fax', 'pager', 'other'],
            },
          ),
          primary('phone number'),
        ],
      },
    ),
    attr(
      'addresses',
      'complex',
      `Physical mailing addresses for the User. ${ENCRYPTED}: a filter can ask only for presence (pr).`,
      {
        multiValued: true,
        subAttributes: [
          attr(
            'formatted',
            'string',
            'The full mailing address, formatted for display; may contain newlines.',
          ),
          attr('streetAddress', 'string', 'The full street address component; may contain newlines.'),
          attr('locality', 'string', 'The city or locality component.'),
          attr('region', 'string', 'The state or region component.'),
          attr('postalCode', 'string', 'The zip code or postal code component.'),
          attr('country', 'string', 'The country name component.'),
          attr('type', 'string', "A label indicating the address's function, e.g., 'work' or 'home'.", {
            canonicalValues: ['work', 'home', 'other'],
          }),
          // Roster: RFC 7643 §8.7.1 lists no `primary` here, but §2.4 gives it to every multi-valued attribute.
          primary('mailing address'),
        ],
      },
    ),
    attr(
      'groups',
      'complex',
      'The groups the User is a direct member of (Roster has no nested or dynamic groups). ' +
        'Read-only: membership changes through the Group resource.',
      {
        multiValued: true,
        mutability: 'readOnly',
        subAttributes: [
          attr('value', 'string', 'The id of the group.', { mutability: 'readOnly' }),
          attr('$ref', 'reference', 'The URI of the Group resource.', {
            referenceTypes: ['User', 'Group'],
            mutability: 'readOnly',
          }),
          attr('display', 'string', "The group's displayName.", { mutability: 'readOnly' }),
          attr('type', 'string', "How the User is a member: always 'direct' in Roster.", {
            canonicalValues: ['direct', 'indirect'],
            mutability: 'readOnly',
          }),
        ],
      },
    ),
    attr(
      'roles',
      'complex',
      "A list of roles for the User that collectively represent who the User is, e.g., 'Student', " +
        "'Faculty'. No vocabulary: any text. Roster: at most 50, each value once without regard to case; " +
        "a filter can compare a role's value with every operator.",
      {
        multiValued: true,
        subAttributes: [
          // Roster: every entry needs its value.
          attr('value', 'string', 'The value of a role. Required in each entry.', { required: true }),
          display('role'),
          attr('type', 'string', "A label indicating the role's function.", { canonicalValues: [] }),
          primary('role'),
        ],
      },
    ),
  ],
});

/** RFC 7643 §4.2. */
export const GROUP_SCHEMA_DEF: SchemaDef = deepFreeze({
  id: GROUP_SCHEMA,
  name: 'Group',
  description: 'Group',
  attributes: [
    // Roster: required (as RFC 7643 §4.2 says; §8.7.1 lists it as optional) and unique within the tenant.
    attr(
      'displayName',
      'string',
      'A human-readable name for the Group. Required; unique within the tenant, compared without regard to case.',
      { required: true, uniqueness: 'server' },
    ),
    attr(
      'members',
      'complex',
      'The members of the Group: users of the same tenant (a group holds no groups).',
      {
        multiValued: true,
        subAttributes: [
          attr('value', 'string', 'The id of a User who is a member.', { mutability: 'immutable' }),
          // Roster: members are Users only.
          attr('$ref', 'reference', "The URI of the member's User resource.", {
            referenceTypes: ['User'],
            mutability: 'immutable',
          }),
          attr(
            'display',
            'string',
            'A human-readable name for the member. Not stored: a value sent is ignored.',
            {
              mutability: 'immutable',
            },
          ),
          attr('type', 'string', "The type of the member: 'User'.", {
            canonicalValues: ['User'],
            mutability: 'immutable',
          }),
        ],
      },
    ),
  ],
});

/** RFC 7643 §4.3, the attributes Roster keeps. */
export const ENTERPRISE_USER_SCHEMA_DEF: SchemaDef = deepFreeze({
  id: ENTERPRISE_USER_SCHEMA,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    attr('department', 'string', 'Identifies the name of a department.'),
    attr(
      'manager',
      'complex',
      "The User's manager: another user of the same tenant, referenced by id. Roster keeps the id only.",
      {
        subAttributes: [
          attr('value', 'string', "The id of the manager's User resource."),
          attr('$ref', 'reference', "The URI of the manager's User resource; Roster derives it from value.", {
            referenceTypes: ['User'],
          }),
          attr('displayName', 'string', "The displayName of the User's manager. Read-only.", {
            mutability: 'readOnly',
          }),
        ],
      },
    ),
  ],
});

/** Roster's own user attributes. `kind` and `status` accept their canonical values only. */
export const ROSTER_USER_SCHEMA_DEF: SchemaDef = deepFreeze({
  id: ROSTER_USER_SCHEMA,
  name: 'RosterUser',
  description:
    "Roster's own user attributes: where the user works, what kind of user they are, their lifecycle status " +
    'and their license seats.',
  attributes: [
    attr(
      'location',
      'complex',
      'Where the user works; license pools may be limited to a site or a country.',
      {
        subAttributes: [
          attr('site', 'string', 'The site code (letters, digits, dot, dash, underscore; at most 64).'),
          attr('country', 'string', 'The country, as an ISO 3166-1 alpha-2 code.'),
        ],
      },
    ),
    attr('kind', 'string', 'What kind of user this is: employee, contractor, external or service.', {
      canonicalValues: ['employee', 'contractor', 'external', 'service'],
    }),
    attr(
      'status',
      'string',
      'The lifecycle status: staged (created, not yet allowed in), active, suspended (temporarily off) or ' +
        `deprovisioned (left, access removed). The core attribute active is derived from it.`,
      { canonicalValues: ['staged', 'active', 'suspended', 'deprovisioned'] },
    ),
    attr(
      'licenses',
      'complex',
      "The user's license seats, held or waited for. Read-only: seats are assigned through Roster's API.",
      {
        multiValued: true,
        mutability: 'readOnly',
        subAttributes: [
          attr('product', 'string', 'The SKU of the licensed product.', { mutability: 'readOnly' }),
          attr('state', 'string', 'Whether the seat is held (active) or waited for (waitlisted).', {
            canonicalValues: ['active', 'waitlisted'],
            mutability: 'readOnly',
          }),
          attr('pool', 'string', 'The name of the pool the seat comes from, when it is held.', {
            mutability: 'readOnly',
          }),
          attr('waitlistPosition', 'integer', 'The place on the waitlist (1 is next), when waitlisted.', {
            mutability: 'readOnly',
          }),
        ],
      },
    ),
  ],
});

/** Every schema `/Schemas` publishes. */
export const SCHEMA_DEFS: readonly SchemaDef[] = Object.freeze([
  USER_SCHEMA_DEF,
  GROUP_SCHEMA_DEF,
  ENTERPRISE_USER_SCHEMA_DEF,
  ROSTER_USER_SCHEMA_DEF,
]);

/** Attributes whose canonical values are the only ones Roster accepts (elsewhere they are suggestions). */
const CLOSED_VALUES: ReadonlySet<AttributeDef> = new Set(
  ROSTER_USER_SCHEMA_DEF.attributes.filter((a) => a.name === 'kind' || a.name === 'status'),
);

// ---- resource types

export type ResourceName = 'User' | 'Group';

/** The schemas a resource type is made of, with the common attributes. */
export interface ResourceSchemas {
  readonly core: SchemaDef;
  readonly extensions: readonly SchemaDef[];
  readonly common: readonly AttributeDef[];
}

export const RESOURCE_SCHEMAS: Readonly<Record<ResourceName, ResourceSchemas>> = Object.freeze({
  User: Object.freeze({
    core: USER_SCHEMA_DEF,
    extensions: Object.freeze([ENTERPRISE_USER_SCHEMA_DEF, ROSTER_USER_SCHEMA_DEF]),
    common: COMMON_ATTRIBUTES,
  }),
  Group: Object.freeze({ core: GROUP_SCHEMA_DEF, extensions: Object.freeze([]), common: COMMON_ATTRIBUTES }),
});

/** A resource type as `/ResourceTypes` publishes it (RFC 7643 §6), without `meta`. */
export interface ResourceTypeDef {
  readonly schemas: readonly string[];
  readonly id: string;
  readonly name: string;
  readonly endpoint: string;
  readonly description: string;
  readonly schema: string;
  readonly schemaExtensions: readonly { readonly schema: string; readonly required: boolean }[];
}

export const RESOURCE_TYPES: readonly ResourceTypeDef[] = deepFreeze([
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
  },
  {
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: 'Group',
    name: 'Group',
    endpoint: '/Groups',
    description: 'Group',
    schema: GROUP_SCHEMA,
    schemaExtensions: [],
  },
]);

// ---- discovery documents

export interface ResourceMeta {
  readonly resourceType: string;
  readonly location: string;
}

const trimBase = (baseUrl: string) => baseUrl.replace(/\/+$/, '');

/** What `/Schemas/{id}` answers (RFC 7643 §7). */
export function schemaResource(
  def: SchemaDef,
  baseUrl: string,
): SchemaDef & { readonly schemas: readonly string[]; readonly meta: ResourceMeta } {
  return {
    schemas: [SCHEMA_SCHEMA],
    id: def.id,
    name: def.name,
    description: def.description,
    attributes: def.attributes,
    meta: { resourceType: 'Schema', location: `${trimBase(baseUrl)}/Schemas/${def.id}` },
  };
}

/** What `/ResourceTypes/{id}` answers (RFC 7643 §6). */
export function resourceTypeResource(
  rt: ResourceTypeDef,
  baseUrl: string,
): ResourceTypeDef & { readonly meta: ResourceMeta } {
  return {
    ...rt,
    meta: { resourceType: 'ResourceType', location: `${trimBase(baseUrl)}/ResourceTypes/${rt.id}` },
  };
}

export interface ServiceProviderConfigOptions {
  /** The absolute URL of the SCIM base (`…/scim/v2`). */
  readonly baseUrl: string;
  readonly bulkMaxOperations: number;
  readonly bulkMaxPayloadSize: number;
  readonly filterMaxResults: number;
  readonly documentationUri?: string;
}

export interface ServiceProviderConfig {
  readonly schemas: readonly string[];
  readonly documentationUri?: string;
  readonly patch: { readonly supported: boolean };
  readonly bulk: {
    readonly supported: boolean;
    readonly maxOperations: number;
    readonly maxPayloadSize: number;
  };
  readonly filter: { readonly supported: boolean; readonly maxResults: number };
  readonly changePassword: { readonly supported: boolean };
  readonly sort: { readonly supported: boolean };
  readonly etag: { readonly supported: boolean };
  readonly authenticationSchemes: readonly {
    readonly type: string;
    readonly name: string;
    readonly description: string;
    readonly specUri: string;
    readonly primary: boolean;
  }[];
  readonly meta: ResourceMeta;
}

/** What `/ServiceProviderConfig` answers (RFC 7643 §5). */
export function serviceProviderConfig(opts: ServiceProviderConfigOptions): ServiceProviderConfig {
  return {
    schemas: [SERVICE_PROVIDER_CONFIG_SCHEMA],
    ...(opts.documentationUri !== undefined ? { documentationUri: opts.documentationUri } : {}),
    patch: { supported: true },
    bulk: { supported: true, maxOperations: opts.bulkMaxOperations, maxPayloadSize: opts.bulkMaxPayloadSize },
    filter: { supported: true, maxResults: opts.filterMaxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'A Roster tenant API token, sent as a bearer token in the Authorization header.',
        specUri: 'https://www.rfc-editor.org/rfc/rfc6750',
        primary: true,
      },
    ],
    meta: {
      resourceType: 'ServiceProviderConfig',
      location: `${trimBase(opts.baseUrl)}/ServiceProviderConfig`,
    },
  };
}

// ---- lookup

/** Lower-cased names and URNs of one resource type's schemas (RFC 7643 §2.1: they are case-insensitive). */
interface Index {
  readonly set: ResourceSchemas;
  /** Every schema of the resource type, by lower-cased URN. */
  readonly byUrn: ReadonlyMap<string, SchemaDef>;
  /** Each schema's attributes by lower-cased name; the core schema's include the common attributes. */
  readonly attrs: ReadonlyMap<SchemaDef, ReadonlyMap<string, AttributeDef>>;
  /** The schemas, longest URN first, for splitting `urn:…:attr` keys. */
  readonly byLength: readonly SchemaDef[];
}

const INDEXES = new WeakMap<ResourceSchemas, Index>();

function byName(attrs: readonly AttributeDef[]): Map<string, AttributeDef> {
  return new Map(attrs.map((a) => [a.name.toLowerCase(), a]));
}

function indexOf(resource: ResourceName | ResourceSchemas): Index {
  const set = typeof resource === 'string' ? RESOURCE_SCHEMAS[resource] : resource;
  let ix = INDEXES.get(set);
  if (ix === undefined) {
    const all = [set.core, ...set.extensions];
    ix = {
      set,
      byUrn: new Map(all.map((s) => [s.id.toLowerCase(), s])),
      attrs: new Map(
        all.map((s) => [s, byName(s === set.core ? [...set.common, ...s.attributes] : s.attributes)]),
      ),
      byLength: [...all].sort((a, b) => b.id.length - a.id.length),
    };
    INDEXES.set(set, ix);
  }
  return ix;
}

const SUBS = new WeakMap<AttributeDef, ReadonlyMap<string, AttributeDef>>();

/** The sub-attributes of a complex attribute by lower-cased name (empty for any other). */
function subsOf(def: AttributeDef): ReadonlyMap<string, AttributeDef> {
  let subs = SUBS.get(def);
  if (subs === undefined) {
    subs = byName(def.subAttributes ?? []);
    SUBS.set(def, subs);
  }
  return subs;
}

/** The sub-attribute `name` of `def`, case-insensitively. */
export function findSubAttribute(def: AttributeDef, name: string): AttributeDef | undefined {
  return subsOf(def).get(name.toLowerCase());
}

interface Found {
  readonly schema: SchemaDef;
  readonly def: AttributeDef;
  readonly sub?: AttributeDef;
}

type Lookup = Found | { readonly error: string };

const shown = (text: string) => (text.length > 200 ? `${text.slice(0, 200)}…` : text);

function pathText(p: AttrPath): string {
  return shown(`${p.uri === undefined ? '' : `${p.uri}:`}${p.attr}${p.sub === undefined ? '' : `.${p.sub}`}`);
}

/** Finds an attribute: a URN-qualified path in that schema only, else the core (with common) then extensions. */
function lookup(ix: Index, path: AttrPath, extensions: boolean): Lookup {
  const name = path.attr.toLowerCase();
  let schema: SchemaDef | undefined;
  let def: AttributeDef | undefined;
  if (path.uri !== undefined) {
    schema = ix.byUrn.get(path.uri.toLowerCase());
    if (schema === undefined) {
      return {
        error: `The attribute path '${pathText(path)}' names a schema ${ix.set.core.name} resources do not have`,
      };
    }
    def = ix.attrs.get(schema)?.get(name);
  } else {
    for (const s of extensions ? [ix.set.core, ...ix.set.extensions] : [ix.set.core]) {
      def = ix.attrs.get(s)?.get(name);
      if (def !== undefined) {
        schema = s;
        break;
      }
    }
  }
  if (schema === undefined || def === undefined) {
    return { error: `No ${ix.set.core.name} attribute '${pathText(path)}'` };
  }
  if (path.sub === undefined) return { schema, def };
  const sub = findSubAttribute(def, path.sub);
  if (sub === undefined) {
    return {
      error: `The ${ix.set.core.name} attribute '${def.name}' has no sub-attribute '${shown(path.sub)}'`,
    };
  }
  return { schema, def, sub };
}

export interface ResolvedAttribute {
  /** The URN of the schema that defines the attribute (the core schema's for the common attributes). */
  readonly schema: string;
  readonly def: AttributeDef;
  /** The sub-attribute, when the path names one. */
  readonly sub?: AttributeDef;
}

/**
 * The definition of the attribute a path names. Names and URNs compare case-insensitively (RFC 7643 §2.1); an
 * unqualified name is looked up among the common and core attributes first, then in the extensions; a
 * URN-qualified one only in that schema.
 * @throws scim.invalid_path for an unknown schema, attribute or sub-attribute
 */
export function resolveAttribute(
  resource: ResourceName | ResourceSchemas,
  path: AttrPath,
): ResolvedAttribute {
  const found = lookup(indexOf(resource), path, true);
  if ('error' in found) throw new RosterError('scim.invalid_path', { detail: found.error });
  return { schema: found.schema.id, def: found.def, ...(found.sub ? { sub: found.sub } : {}) };
}

/**
 * The path as the schema spells it, one spelling per attribute: core and common attributes unqualified
 * (`USERNAME` and `urn:…:core:2.0:User:userName` are `userName`), extension attributes qualified with
 * their URN (`department` is `urn:…:enterprise:2.0:User:department`).
 * @throws scim.invalid_path
 */
export function canonicalPath(resource: ResourceName | ResourceSchemas, path: AttrPath): AttrPath {
  const r = resolveAttribute(resource, path);
  return {
    ...(r.schema === indexOf(resource).set.core.id ? {} : { uri: r.schema }),
    attr: r.def.name,
    ...(r.sub ? { sub: r.sub.name } : {}),
  };
}

/** `canonicalPath` as text: `userName`, `name.givenName`, `urn:…:enterprise:2.0:User:manager.value`. */
export function canonicalName(resource: ResourceName | ResourceSchemas, path: AttrPath): string {
  const p = canonicalPath(resource, path);
  return `${p.uri === undefined ? '' : `${p.uri}:`}${p.attr}${p.sub === undefined ? '' : `.${p.sub}`}`;
}

/** What a member name of a resource document stands for. */
type KeyTarget =
  | { readonly kind: 'schemas' }
  | { readonly kind: 'extension'; readonly schema: SchemaDef }
  | ({ readonly kind: 'attribute' } & Found)
  | { readonly kind: 'unknown' };

/** `attr` or `attr.sub` as a path (a name with more dots is no path). */
function splitDotted(text: string): AttrPath | undefined {
  const parts = text.split('.');
  if (parts.length > 2 || parts.some((p) => p === '')) return undefined;
  return parts[1] === undefined ? { attr: parts[0] ?? '' } : { attr: parts[0] ?? '', sub: parts[1] };
}

/**
 * A top-level member of a document: `schemas`, an extension's URN, a core or common attribute (`userName`,
 * `name.givenName`), or an attribute qualified by its schema's URN (`urn:…:enterprise:2.0:User:department`, as
 * some clients flatten extension attributes). Unqualified names are not looked up in the extensions: in a
 * document, extension attributes live under their URN (RFC 7643 §3.3).
 */
function topLevelKey(ix: Index, key: string): KeyTarget {
  const lower = key.toLowerCase();
  if (lower === 'schemas') return { kind: 'schemas' };
  const schema = ix.byUrn.get(lower);
  if (schema !== undefined) {
    return schema === ix.set.core ? { kind: 'unknown' } : { kind: 'extension', schema };
  }
  if (lower.startsWith('urn:')) {
    const owner = ix.byLength.find((s) => lower.startsWith(`${s.id.toLowerCase()}:`));
    const path = owner && splitDotted(key.slice(owner.id.length + 1));
    if (owner === undefined || path === undefined) return { kind: 'unknown' };
    const found = lookup(ix, { uri: owner.id, ...path }, false);
    return 'error' in found ? { kind: 'unknown' } : { kind: 'attribute', ...found };
  }
  const path = splitDotted(key);
  const found = path && lookup(ix, path, false);
  return found === undefined || 'error' in found ? { kind: 'unknown' } : { kind: 'attribute', ...found };
}

// ---- documents

type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Sets an own member: a member named `__proto__` stays a member and never becomes the prototype. */
function put(target: Doc, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function has(target: Doc, key: string): boolean {
  return Object.hasOwn(target, key);
}

/** A deep copy of JSON data, safe against prototype keys. */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (!isObject(v)) return v;
  const out: Doc = {};
  for (const [k, x] of Object.entries(v)) put(out, k, clone(x));
  return out;
}

// ---- projection

export interface ProjectionOptions {
  readonly attributes?: readonly AttrPath[];
  readonly excludedAttributes?: readonly AttrPath[];
}

/** The attributes a parameter names: whole attributes, single sub-attributes, whole extensions. */
interface Named {
  readonly attrs: Map<AttributeDef, { whole: boolean; readonly subs: Set<AttributeDef> }>;
  readonly extensions: Set<SchemaDef>;
}

/** A path naming a whole extension: `urn:…:enterprise:2.0:User` (however the path parser split it). */
function wholeExtension(ix: Index, p: AttrPath): SchemaDef | undefined {
  if (p.sub !== undefined) return undefined;
  const schema = ix.byUrn.get((p.uri === undefined ? p.attr : `${p.uri}:${p.attr}`).toLowerCase());
  return schema === ix.set.core ? undefined : schema;
}

function namedBy(ix: Index, paths: readonly AttrPath[] | undefined): Named | undefined {
  if (paths === undefined || paths.length === 0) return undefined;
  const named: Named = { attrs: new Map(), extensions: new Set() };
  for (const p of paths) {
    const ext = wholeExtension(ix, p);
    if (ext !== undefined) {
      named.extensions.add(ext);
      continue;
    }
    const found = lookup(ix, p, true);
    // An attribute Roster does not define has no value here; asking for it, or to leave it out, changes nothing.
    if ('error' in found) continue;
    let entry = named.attrs.get(found.def);
    if (entry === undefined) {
      entry = { whole: false, subs: new Set() };
      named.attrs.set(found.def, entry);
    }
    if (found.sub === undefined) entry.whole = true;
    else entry.subs.add(found.sub);
  }
  return named;
}

interface Projection {
  readonly include: Named | undefined;
  readonly exclude: Named | undefined;
}

/** The value of one attribute as the answer carries it, or undefined when it is left out. */
function projectAttribute(
  def: AttributeDef,
  value: unknown,
  ext: SchemaDef | undefined,
  pr: Projection,
): unknown {
  if (def.returned === 'never') return undefined;
  const asked = pr.include?.attrs.get(def);
  const askedExt = ext !== undefined && (pr.include?.extensions.has(ext) ?? false);
  const refused = pr.exclude?.attrs.get(def);
  // `always` ignores both parameters (RFC 7644 §3.4.2.5).
  if (def.returned !== 'always') {
    if (pr.include !== undefined ? asked === undefined && !askedExt : def.returned === 'request')
      return undefined;
    if (refused?.whole || (ext !== undefined && pr.exclude?.extensions.has(ext))) return undefined;
  }
  if (def.type !== 'complex' || def.subAttributes === undefined) return value;
  const only =
    def.returned !== 'always' && asked !== undefined && !asked.whole && !askedExt ? asked.subs : undefined;
  const pick = (el: unknown) => projectSubAttributes(def, el, only, asked?.subs, refused?.subs);
  if (def.multiValued && Array.isArray(value)) {
    const kept = value.map(pick).filter((v) => v !== undefined);
    return kept.length === 0 && value.length > 0 ? undefined : kept;
  }
  return pick(value);
}

function projectSubAttributes(
  def: AttributeDef,
  el: unknown,
  only: ReadonlySet<AttributeDef> | undefined,
  asked: ReadonlySet<AttributeDef> | undefined,
  refused: ReadonlySet<AttributeDef> | undefined,
): unknown {
  if (!isObject(el)) return el;
  const out: Doc = {};
  for (const [k, v] of Object.entries(el)) {
    const sub = findSubAttribute(def, k);
    if (sub === undefined) {
      if (only === undefined) put(out, k, v);
      continue;
    }
    if (sub.returned === 'never') continue;
    if (sub.returned !== 'always') {
      if (only !== undefined ? !only.has(sub) : sub.returned === 'request' && !asked?.has(sub)) continue;
      if (refused?.has(sub)) continue;
    }
    put(out, sub.name, v);
  }
  return Object.keys(out).length === 0 && Object.keys(el).length > 0 ? undefined : out;
}

/**
 * A resource document as an answer carries it (RFC 7644 §3.4.2.5, §3.9): `returned: always` attributes
 * (id, schemas) always, `never` ones never, `request` ones only when `attributes` names them, `default` ones
 * unless `excludedAttributes` names them or `attributes` is given without them. Paths may name sub-attributes
 * (`name.givenName`, `emails.value`), extension attributes (`urn:…:enterprise:2.0:User:department`, or
 * unqualified) and whole extensions. An extension object left empty is dropped, and its URN leaves `schemas`.
 * When both parameters are given, `attributes` selects and `excludedAttributes` then removes. Paths naming
 * no attribute Roster defines are ignored (such an attribute has no value to return or leave out). The
 * document's attribute names are expected in their canonical spelling (see `coerce`); the answer may share
 * nested values with it; `doc` itself is not changed.
 */
export function project(
  resource: ResourceName | ResourceSchemas,
  doc: Record<string, unknown>,
  opts: ProjectionOptions = {},
): Record<string, unknown> {
  const ix = indexOf(resource);
  const pr: Projection = {
    include: namedBy(ix, opts.attributes),
    exclude: namedBy(ix, opts.excludedAttributes),
  };
  const kept = new Map<string, unknown>();
  const dropped = new Set<string>();
  for (const [key, value] of Object.entries(doc)) {
    const t = topLevelKey(ix, key);
    if (t.kind === 'schemas') {
      kept.set('schemas', value);
    } else if (t.kind === 'extension') {
      const inner = isObject(value) ? projectExtension(ix, t.schema, value, pr) : undefined;
      if (inner !== undefined && Object.keys(inner).length > 0) kept.set(t.schema.id, inner);
      else dropped.add(t.schema.id.toLowerCase());
    } else if (t.kind === 'attribute' && t.sub === undefined) {
      const v = projectAttribute(t.def, value, t.schema === ix.set.core ? undefined : t.schema, pr);
      if (v !== undefined) kept.set(t.schema === ix.set.core ? t.def.name : key, v);
    } else if (pr.include === undefined) {
      kept.set(key, value);
    }
  }
  const out: Doc = {};
  for (const [key, value] of kept) {
    put(
      out,
      key,
      key === 'schemas' && Array.isArray(value)
        ? value.filter((s) => typeof s !== 'string' || !dropped.has(s.toLowerCase()))
        : value,
    );
  }
  return out;
}

function projectExtension(ix: Index, ext: SchemaDef, value: Doc, pr: Projection): Doc {
  const attrs = ix.attrs.get(ext);
  const out: Doc = {};
  for (const [k, v] of Object.entries(value)) {
    const def = attrs?.get(k.toLowerCase());
    if (def === undefined) {
      if (pr.include === undefined && !(pr.exclude?.extensions.has(ext) ?? false)) put(out, k, v);
      continue;
    }
    const projected = projectAttribute(def, v, ext, pr);
    if (projected !== undefined) put(out, def.name, projected);
  }
  return out;
}

// ---- coercion

function duplicate(path: string): RosterError {
  return new RosterError('scim.invalid_syntax', {
    detail: `The attribute '${shown(path)}' is given more than once (attribute names are case-insensitive)`,
  });
}

/** Sets `target[key]`, merging objects member by member; the same member twice is an error. */
function merge(target: Doc, key: string, value: unknown, path: string): void {
  if (!has(target, key)) {
    put(target, key, value);
    return;
  }
  const existing = target[key];
  if (!isObject(existing) || !isObject(value)) throw duplicate(path);
  for (const [k, v] of Object.entries(value)) merge(existing, k, v, `${path}.${k}`);
}

/** `{[a]: {[b]: value}}` for the keys given, built safely. */
function nest(keys: readonly string[], value: unknown): unknown {
  return keys.reduceRight<unknown>((inner, k) => {
    const o: Doc = {};
    put(o, k, inner);
    return o;
  }, value);
}

function coerceValue(def: AttributeDef, value: unknown): unknown {
  if (def.multiValued && Array.isArray(value)) return value.map((v) => coerceSingle(def, v));
  return coerceSingle(def, value);
}

function coerceSingle(def: AttributeDef, value: unknown): unknown {
  // Microsoft Entra ID sends booleans as strings ("True", "False").
  if (def.type === 'boolean' && typeof value === 'string' && /^(true|false)$/i.test(value)) {
    return value.toLowerCase() === 'true';
  }
  if (def.type === 'complex' && isObject(value)) return coerceMembers(subsOf(def), value, def.name);
  if (typeof value === 'string' && CLOSED_VALUES.has(def)) {
    return def.canonicalValues?.find((c) => c.toLowerCase() === value.toLowerCase()) ?? value;
  }
  return clone(value);
}

/** The members of a complex value or an extension object, under their canonical names. */
function coerceMembers(attrs: ReadonlyMap<string, AttributeDef>, value: Doc, path: string): Doc {
  const out: Doc = {};
  for (const [key, v] of Object.entries(value)) {
    const def = attrs.get(key.toLowerCase());
    if (def !== undefined) {
      merge(out, def.name, coerceValue(def, v), `${path}.${def.name}`);
      continue;
    }
    const dotted = splitDotted(key);
    const parent = dotted?.sub === undefined ? undefined : attrs.get(dotted.attr.toLowerCase());
    const sub =
      parent && !parent.multiValued && dotted?.sub ? findSubAttribute(parent, dotted.sub) : undefined;
    if (parent !== undefined && sub !== undefined) {
      merge(out, parent.name, nest([sub.name], coerceValue(sub, v)), `${path}.${parent.name}`);
    } else {
      merge(out, key, clone(v), `${path}.${key}`);
    }
  }
  return out;
}

/**
 * A copy of a client's resource document in the form Roster reads: member names in their canonical spelling
 * (`UserName` is `userName`, extension URNs too), attributes flattened under a URN
 * (`urn:…:enterprise:2.0:User:department`) or dotted (`name.givenName`) moved to where they belong, the
 * strings "true" and "false" (any case, as Microsoft Entra ID sends them) turned into booleans wherever the
 * schema says boolean, and `kind` / `status` values in their canonical case. Other values and unknown members
 * are kept as they are. `doc` is not changed; the copy shares nothing with it.
 * @throws scim.invalid_syntax when an attribute is given twice (under names that differ only in case)
 */
export function coerce(
  resource: ResourceName | ResourceSchemas,
  doc: Record<string, unknown>,
): Record<string, unknown> {
  const ix = indexOf(resource);
  const out: Doc = {};
  for (const [key, value] of Object.entries(doc)) {
    const t = topLevelKey(ix, key);
    switch (t.kind) {
      case 'schemas':
        merge(
          out,
          'schemas',
          Array.isArray(value)
            ? value.map((s) => (typeof s === 'string' ? (ix.byUrn.get(s.toLowerCase())?.id ?? s) : clone(s)))
            : clone(value),
          'schemas',
        );
        break;
      case 'extension': {
        const attrs = ix.attrs.get(t.schema) ?? new Map<string, AttributeDef>();
        merge(
          out,
          t.schema.id,
          isObject(value) ? coerceMembers(attrs, value, t.schema.id) : clone(value),
          t.schema.id,
        );
        break;
      }
      case 'attribute': {
        const inExtension = t.schema !== ix.set.core;
        if (t.sub !== undefined && t.def.multiValued) {
          // `emails.value` names one part of many values: not a member a document can have.
          merge(out, key, clone(value), key);
          break;
        }
        const keys = [...(inExtension ? [t.schema.id] : []), t.def.name, ...(t.sub ? [t.sub.name] : [])];
        const [first = t.def.name, ...rest] = keys;
        merge(out, first, nest(rest, coerceValue(t.sub ?? t.def, value)), keys.join('.'));
        break;
      }
      case 'unknown':
        merge(out, key, clone(value), key);
        break;
    }
  }
  return out;
}

// ---- validation

const pointerPart = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

class Checker {
  readonly errors: FieldError[] = [];

  fail(pointer: string, detail: string): void {
    this.errors.push({ pointer, detail });
  }

  /**
   * One attribute's value. Read-only attributes are not checked: a client's value for them is ignored
   * (RFC 7644 §3.5.1; POST is treated alike), which lets a client send back what it read. Null means
   * unassigned (RFC 7643 §2.5).
   */
  attribute(def: AttributeDef, value: unknown, pointer: string): void {
    if (value === null || value === undefined || def.mutability === 'readOnly') return;
    if (!def.multiValued) {
      this.single(def, value, pointer);
    } else if (!Array.isArray(value)) {
      this.fail(pointer, 'must be an array');
    } else {
      value.forEach((v, i) => {
        this.single(def, v, `${pointer}/${i}`);
      });
    }
  }

  single(def: AttributeDef, value: unknown, pointer: string): void {
    switch (def.type) {
      case 'string':
      case 'reference':
      case 'binary':
        if (typeof value !== 'string') this.fail(pointer, 'must be a string');
        else if (def.required && value.trim() === '') this.fail(pointer, 'must not be empty');
        else if (CLOSED_VALUES.has(def) && !def.canonicalValues?.includes(value)) {
          this.fail(pointer, `must be one of ${def.canonicalValues?.join(', ')}`);
        }
        return;
      case 'dateTime':
        if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
          this.fail(pointer, 'must be a date-time (RFC 3339)');
        }
        return;
      case 'boolean':
        if (typeof value !== 'boolean') this.fail(pointer, 'must be a boolean');
        return;
      case 'integer':
        if (typeof value !== 'number' || !Number.isInteger(value)) this.fail(pointer, 'must be an integer');
        return;
      case 'decimal':
        if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(pointer, 'must be a number');
        return;
      case 'complex':
        if (!isObject(value)) this.fail(pointer, 'must be an object');
        else this.members(subsOf(def), value, pointer);
        return;
    }
  }

  /** The members of a complex value or extension object; members the schema does not define are ignored. */
  members(attrs: ReadonlyMap<string, AttributeDef>, value: Doc, pointer: string): void {
    const given = new Set<AttributeDef>();
    for (const [k, v] of Object.entries(value)) {
      const def = attrs.get(k.toLowerCase());
      if (def === undefined) continue;
      if (v !== null && v !== undefined) given.add(def);
      this.attribute(def, v, `${pointer}/${pointerPart(def.name)}`);
    }
    for (const def of attrs.values()) {
      if (def.required && def.mutability !== 'readOnly' && !given.has(def)) {
        this.fail(`${pointer}/${pointerPart(def.name)}`, 'is required');
      }
    }
  }
}

function syntax(detail: string, pointer?: string): RosterError {
  return new RosterError('scim.invalid_syntax', {
    detail,
    ...(pointer === undefined ? {} : { errors: [{ pointer, detail }] }),
  });
}

/**
 * Checks a client's resource document (after `coerce`) for a create (POST) or a full replacement (PUT):
 * `schemas` lists the core schema and only schemas of this resource type; every attribute Roster defines has
 * the type its schema gives (strings, booleans, objects for complex attributes, arrays for multi-valued
 * ones); required attributes are there (`userName` of a User, `displayName` of a Group, the `value` of each
 * e-mail address and phone number). Details and pointers name attributes, never values.
 *
 * What is not Roster's is decided so:
 * - an attribute Roster does not define (`nickName`, `preferredLanguage`, the enterprise `employeeNumber`,
 *   which Microsoft Entra ID's default mappings send) is ignored: Roster has nowhere to keep it, and refusing
 *   would stop provisioning over data Roster does not need;
 * - a URN Roster does not know, in `schemas` or as a member name, is refused (`scim.invalid_syntax`): it is an
 *   extension the client expects to be kept, or a misspelt URN whose data would otherwise vanish silently;
 * - an extension of this resource type whose object is there but whose URN `schemas` leaves out is accepted:
 *   the member name says which schema it is.
 * Read-only attributes (`id`, `meta`, `groups`, licenses) are ignored, as RFC 7644 §3.5.1 asks of PUT. POST
 * and PUT are checked alike (`mode` only words the messages): whether an immutable value matches the stored
 * one needs the stored resource, so that check is the caller's (Roster's only immutable attributes are the
 * sub-attributes of Group members, whose entries are added and removed whole).
 * @throws scim.invalid_syntax for a body that is no object or a wrong `schemas`
 * @throws scim.invalid_value for attribute values of the wrong type and missing required attributes
 */
export function validateResource(
  resource: ResourceName | ResourceSchemas,
  doc: Record<string, unknown>,
  mode: 'create' | 'replace',
): void {
  const ix = indexOf(resource);
  const name = ix.set.core.name;
  if (!isObject(doc)) throw syntax(`The ${name} must be a JSON object`);
  const schemasKey = Object.keys(doc).find((k) => k.toLowerCase() === 'schemas');
  const schemas = schemasKey === undefined ? undefined : doc[schemasKey];
  if (!Array.isArray(schemas) || schemas.some((s) => typeof s !== 'string')) {
    throw syntax(`schemas must be an array of schema URNs that includes ${ix.set.core.id}`, '/schemas');
  }
  const listed = (schemas as string[]).map((s) => s.toLowerCase());
  if (!listed.includes(ix.set.core.id.toLowerCase())) {
    throw syntax(`schemas must include ${ix.set.core.id}`, '/schemas');
  }
  listed.forEach((s, i) => {
    if (!ix.byUrn.has(s)) {
      throw syntax(
        `/schemas/${i} names a schema ${name} resources do not have (see /ResourceTypes/${name})`,
        `/schemas/${i}`,
      );
    }
  });

  // The core and common attributes are checked first (with the required ones: userName, displayName), then
  // the extensions, so errors come in the order a reader of the schema expects.
  const core: Doc = {};
  put(core, 'schemas', schemas);
  const later: ((check: Checker) => void)[] = [];
  for (const [key, value] of Object.entries(doc)) {
    const t = topLevelKey(ix, key);
    if (t.kind === 'extension') {
      const pointer = `/${pointerPart(t.schema.id)}`;
      const attrs = ix.attrs.get(t.schema) ?? new Map<string, AttributeDef>();
      if (isObject(value)) later.push((check) => check.members(attrs, value, pointer));
      else if (value !== null) later.push((check) => check.fail(pointer, 'must be an object'));
    } else if (t.kind === 'attribute') {
      const inExtension = t.schema !== ix.set.core;
      const base = inExtension ? `/${pointerPart(t.schema.id)}/${t.def.name}` : `/${t.def.name}`;
      const { def, sub } = t;
      // A flattened `emails.value` is no member a document can have: ignored like an unknown attribute.
      if (sub !== undefined) {
        if (!def.multiValued) later.push((check) => check.attribute(sub, value, `${base}/${sub.name}`));
      } else if (inExtension) {
        later.push((check) => check.attribute(def, value, base));
      } else {
        put(core, def.name, value);
      }
    } else if (t.kind === 'unknown' && key.toLowerCase().startsWith('urn:')) {
      throw syntax(`'${shown(key)}' is not an attribute or schema extension of ${name} resources`);
    }
  }
  const check = new Checker();
  check.members(ix.attrs.get(ix.set.core) ?? new Map(), core, '');
  for (const run of later) run(check);

  if (check.errors.length > 0) {
    const errors = check.errors.map((e) =>
      e.detail === 'is required' ? { ...e, detail: `is required to ${mode} a ${name}` } : e,
    );
    const listedErrors = errors.slice(0, 10).map((e) => `${e.pointer} ${e.detail}`);
    const more = errors.length > 10 ? `; and ${errors.length - 10} more` : '';
    throw new RosterError('scim.invalid_value', {
      detail: errors.length === 1 ? (listedErrors[0] ?? '') : `${listedErrors.join('; ')}${more}`,
      errors,
    });
  }
}
