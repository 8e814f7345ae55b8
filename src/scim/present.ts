/**
 * Roster's users and groups as SCIM resources (RFC 7643 §4), and SCIM documents back into Roster's inputs.
 * The mapping is the one place that knows both vocabularies: core and enterprise attributes map onto the
 * user's fields, Roster's own (location, kind, status, license seats) sit in the Roster extension.
 */
import type { Group, GroupInput, MultiValue, User, UserInput } from '../identity/model.js';
import type { Assignment } from '../licenses/model.js';
import { RosterError } from '../platform/errors.js';
import { etagOf } from '../platform/etag.js';
import { ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA, ROSTER_USER_SCHEMA, USER_SCHEMA } from './schemas.js';

type Doc = Record<string, unknown>;

/** Where resources live, for `meta.location` and `$ref`s: the absolute base URL of /scim/v2. */
export interface ScimUrls {
  readonly base: string;
}

const defined = (o: Doc): Doc =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null));

/** A user as a SCIM User resource, with the enterprise and Roster extensions. */
export function userResource(
  u: User,
  extras: { groups: readonly Group[]; licenses: readonly Assignment[] },
  urls: ScimUrls,
): Doc {
  const enterprise = defined({
    department: u.department ?? undefined,
    manager: u.manager ? { value: u.manager, $ref: `${urls.base}/Users/${u.manager}` } : undefined,
  });
  const roster = defined({
    location: u.location ? defined({ site: u.location.site, country: u.location.country }) : undefined,
    kind: u.kind,
    status: u.status,
    licenses: extras.licenses.map((a) =>
      defined({
        product: a.sku,
        state: a.state,
        pool: a.pool?.name,
        waitlistPosition: a.waitlistPosition ?? undefined,
      }),
    ),
  });
  return defined({
    schemas: [
      USER_SCHEMA,
      ...(Object.keys(enterprise).length > 0 ? [ENTERPRISE_USER_SCHEMA] : []),
      ROSTER_USER_SCHEMA,
    ],
    id: u.id,
    externalId: u.externalId ?? undefined,
    userName: u.userName,
    name: u.name ? defined({ ...u.name }) : undefined,
    displayName: u.displayName ?? undefined,
    title: u.title ?? undefined,
    active: u.status === 'active',
    emails: u.emails.length > 0 ? u.emails : undefined,
    phoneNumbers: u.phoneNumbers.length > 0 ? u.phoneNumbers : undefined,
    addresses: u.addresses.length > 0 ? u.addresses : undefined,
    roles: u.roles.length > 0 ? u.roles : undefined,
    groups:
      extras.groups.length > 0
        ? extras.groups.map((g) => ({
            value: g.id,
            $ref: `${urls.base}/Groups/${g.id}`,
            display: g.displayName,
            type: 'direct',
          }))
        : undefined,
    [ENTERPRISE_USER_SCHEMA]: Object.keys(enterprise).length > 0 ? enterprise : undefined,
    [ROSTER_USER_SCHEMA]: roster,
    meta: {
      resourceType: 'User',
      created: u.createdAt,
      lastModified: u.updatedAt,
      location: `${urls.base}/Users/${u.id}`,
      version: etagOf(u.version),
    },
  });
}

/** A group as a SCIM Group resource; `members` only when given (a listing may leave them out). */
export function groupResource(g: Group, members: readonly string[] | undefined, urls: ScimUrls): Doc {
  return defined({
    schemas: [GROUP_SCHEMA],
    id: g.id,
    externalId: g.externalId ?? undefined,
    displayName: g.displayName,
    members: members?.map((m) => ({ value: m, $ref: `${urls.base}/Users/${m}`, type: 'User' })),
    meta: {
      resourceType: 'Group',
      created: g.createdAt,
      lastModified: g.updatedAt,
      location: `${urls.base}/Groups/${g.id}`,
      version: etagOf(g.version),
    },
  });
}

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(doc: Doc, key: string, pointer: string): string | null {
  const v = doc[key];
  if (v === undefined || v === null) return null;
  if (typeof v !== 'string') throw invalid(pointer, 'must be a string');
  return v;
}

function invalid(pointer: string, detail: string): RosterError {
  return new RosterError('scim.invalid_value', {
    detail: `${pointer} ${detail}`,
    errors: [{ pointer, detail }],
  });
}

/** Multi-valued `{value, type, primary, display}` entries: only those members, `value` required. */
function multiValues(v: unknown, pointer: string): MultiValue[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(pointer, 'must be an array');
  return v.map((e, i) => {
    if (!isObject(e) || typeof e.value !== 'string')
      throw invalid(`${pointer}/${i}/value`, 'must be a string');
    return defined({
      value: e.value,
      type: typeof e.type === 'string' ? e.type : undefined,
      primary: e.primary === true ? true : undefined,
      display: typeof e.display === 'string' ? e.display : undefined,
    }) as unknown as MultiValue;
  });
}

const ADDRESS_KEYS = [
  'type',
  'formatted',
  'streetAddress',
  'locality',
  'region',
  'postalCode',
  'country',
] as const;

function addresses(v: unknown): UserInput['addresses'] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid('/addresses', 'must be an array');
  return v.map((e, i) => {
    if (!isObject(e)) throw invalid(`/addresses/${i}`, 'must be an object');
    const out: Doc = {};
    for (const k of ADDRESS_KEYS) {
      const s = e[k];
      if (s === undefined || s === null) continue;
      if (typeof s !== 'string') throw invalid(`/addresses/${i}/${k}`, 'must be a string');
      out[k] = s;
    }
    if (e.primary === true) out.primary = true;
    return out;
  });
}

/**
 * A SCIM User document (already coerced to canonical attribute names and types) as Roster's user fields. In
 * `replace` mode it is a full replacement of the writable fields: what the document leaves out is cleared, as
 * PUT means (RFC 7644 §3.5.1), down to the parts of `name`.
 */
export function userInputOf(doc: Doc, mode: 'create' | 'replace'): UserInput {
  const userName = str(doc, 'userName', '/userName');
  if (userName === null || userName.trim() === '') throw invalid('/userName', 'is required');
  const name = doc.name;
  if (name !== undefined && name !== null && !isObject(name)) throw invalid('/name', 'must be an object');
  const enterprise = doc[ENTERPRISE_USER_SCHEMA];
  const roster = doc[ROSTER_USER_SCHEMA];
  const ent = isObject(enterprise) ? enterprise : {};
  const ros = isObject(roster) ? roster : {};
  const manager = ent.manager;
  let managerId: string | null = null;
  if (typeof manager === 'string') managerId = manager;
  else if (isObject(manager) && typeof manager.value === 'string') managerId = manager.value;
  else if (manager !== undefined && manager !== null) throw invalid('/manager/value', 'must be a string');
  if (managerId === '') managerId = null;
  const location = ros.location;
  if (location !== undefined && location !== null && !isObject(location)) {
    throw invalid('/location', 'must be an object');
  }
  const active = doc.active;
  if (active !== undefined && active !== null && typeof active !== 'boolean')
    throw invalid('/active', 'must be a boolean');
  const nameDoc = isObject(name) ? name : {};
  const nameParts = {
    givenName: str(nameDoc, 'givenName', '/name/givenName'),
    familyName: str(nameDoc, 'familyName', '/name/familyName'),
    formatted: str(nameDoc, 'formatted', '/name/formatted'),
  };
  // A replacement names every part: null removes what the document leaves out (the update is a merge patch).
  const personName = mode === 'replace' ? nameParts : defined(nameParts);
  const hasName = Object.values(nameParts).some((v) => v !== null);
  const loc = isObject(location) ? location : {};
  const site = str(loc, 'site', '/location/site');
  const country = str(loc, 'country', '/location/country');
  const input: UserInput = {
    userName,
    externalId: str(doc, 'externalId', '/externalId'),
    name: hasName ? (personName as UserInput['name']) : null,
    displayName: str(doc, 'displayName', '/displayName'),
    emails: multiValues(doc.emails, '/emails'),
    phoneNumbers: multiValues(doc.phoneNumbers, '/phoneNumbers'),
    addresses: addresses(doc.addresses),
    roles: multiValues(doc.roles, '/roles'),
    title: str(doc, 'title', '/title'),
    department: str(ent, 'department', '/department'),
    manager: managerId,
    location: site === null && country === null ? null : { site, country },
  };
  const kind = str(ros, 'kind', '/kind');
  if (kind !== null) input.kind = kind as UserInput['kind'];
  const status = str(ros, 'status', '/status');
  if (status !== null) input.status = status as UserInput['status'];
  if (typeof active === 'boolean') input.active = active;
  return input;
}

/** A SCIM Group document as Roster's group fields; `members` replaces the member list when present. */
export function groupInputOf(doc: Doc, replace: boolean): GroupInput {
  const displayName = str(doc, 'displayName', '/displayName');
  if (displayName === null || displayName.trim() === '') throw invalid('/displayName', 'is required');
  const input: GroupInput = { displayName, externalId: str(doc, 'externalId', '/externalId') };
  const members = doc.members;
  if (members !== undefined && members !== null) {
    if (!Array.isArray(members)) throw invalid('/members', 'must be an array');
    input.members = members.map((m, i) => {
      if (!isObject(m) || typeof m.value !== 'string')
        throw invalid(`/members/${i}/value`, 'must be a string');
      return m.value;
    });
  } else if (replace) {
    input.members = [];
  }
  return input;
}
