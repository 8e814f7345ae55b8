/**
 * SCIM filters and sort orders (RFC 7644 §3.4.2) as searches the identity store runs in the database. Plain
 * attributes compare in SQL with every operator; sealed ones (userName, e-mails, names, phone numbers,
 * addresses) only through what their blind indexes reveal: case-insensitive equality of `userName` and of an
 * e-mail address, and presence. Anything else about a sealed attribute is refused with `invalidFilter`,
 * never answered wrongly (docs/scim.md, "What a filter can ask").
 */
import {
  GRAM,
  type GroupCondition,
  type GroupSearchColumn,
  type GroupSort,
  type MembershipCondition,
  PREFIX_MAX,
  type SearchOp,
  type User,
  type UserCondition,
  type UserSealedField,
  type UserSearchColumn,
  type UserSort,
} from '../identity/model.js';
import { RosterError } from '../platform/errors.js';
import type { AttrPath, CompValue, Filter } from './ast.js';
import {
  ENTERPRISE_USER_SCHEMA,
  GROUP_SCHEMA,
  type ResourceName,
  ROSTER_USER_SCHEMA,
  resolveAttribute,
  USER_SCHEMA,
} from './schemas.js';

const refuse = (detail: string) => new RosterError('scim.invalid_filter', { detail });

/** The attribute a path names, as `schema-less lower-case name[.sub]`, checking any URN prefix. */
function attributeKey(path: AttrPath, schemas: readonly string[]): string {
  if (path.uri !== undefined && !schemas.some((s) => s.toLowerCase() === path.uri?.toLowerCase())) {
    throw refuse(`unknown schema in attribute path '${path.uri}:${path.attr}'`);
  }
  const attr = path.attr.toLowerCase();
  return path.sub === undefined ? attr : `${attr}.${path.sub.toLowerCase()}`;
}

const USER_SCHEMAS = [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, ROSTER_USER_SCHEMA];

/** Plain user attributes: column and whether its comparisons are case-exact (RFC 7643 `caseExact`). */
const USER_COLUMNS: Record<string, { column: UserSearchColumn; caseExact: boolean; dateTime?: true }> = {
  id: { column: 'id', caseExact: true },
  externalid: { column: 'externalId', caseExact: true },
  title: { column: 'title', caseExact: false },
  department: { column: 'department', caseExact: false },
  'manager.value': { column: 'manager', caseExact: false },
  manager: { column: 'manager', caseExact: false },
  'location.site': { column: 'site', caseExact: false },
  'location.country': { column: 'country', caseExact: false },
  kind: { column: 'kind', caseExact: false },
  status: { column: 'status', caseExact: false },
  'meta.created': { column: 'createdAt', caseExact: true, dateTime: true },
  'meta.lastmodified': { column: 'updatedAt', caseExact: true, dateTime: true },
};

/** Sub-attributes of `roles` other than its value: answered by checking the users who hold a role. */
const ROLE_DETAILS = new Set(['roles.display', 'roles.type', 'roles.primary']);

/** Sealed user attributes: what their presence is stored as, and which has an equality index. */
const USER_SEALED: Record<string, { field: UserSealedField; eq?: 'userName' | 'email' }> = {
  username: { field: 'userName', eq: 'userName' },
  emails: { field: 'emails', eq: 'email' },
  'emails.value': { field: 'emails', eq: 'email' },
  displayname: { field: 'displayName' },
  name: { field: 'givenName' },
  'name.givenname': { field: 'givenName' },
  'name.familyname': { field: 'familyName' },
  'name.formatted': { field: 'formattedName' },
  phonenumbers: { field: 'phoneNumbers' },
  'phonenumbers.value': { field: 'phoneNumbers' },
  addresses: { field: 'addresses' },
};

function stringValue(key: string, value: CompValue, dateTime: boolean | undefined): string {
  if (typeof value !== 'string') throw refuse(`'${key}' compares with a string`);
  if (!dateTime) return value;
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw refuse(`'${key}' compares with a date-time (RFC 3339)`);
  return new Date(t).toISOString();
}

function column(column: UserSearchColumn, op: SearchOp, value: string, caseExact: boolean): UserCondition {
  return { kind: 'column', column, op, value, caseExact };
}

/**
 * A SCIM filter over Users as a search condition. `exact` is false when the condition is a superset of the
 * answer (a `co` or `ew` on an encrypted attribute, matched on trigrams, or an `sw` longer than the indexed
 * prefixes): the caller then checks each candidate with `matchesUser`.
 * @throws scim.invalid_filter
 */
export function userCondition(f: Filter): { condition: UserCondition; exact: boolean } {
  const state = { exact: true, negated: 0, groups: false };
  const condition = userNode(f, state);
  if (!state.exact && state.groups) {
    throw refuse("'groups' cannot be combined with co, ew or a long sw on an encrypted attribute");
  }
  return { condition, exact: state.exact };
}

interface WalkState {
  exact: boolean;
  /** How many `not`s enclose the node being translated. */
  negated: number;
  groups: boolean;
}

function userNode(f: Filter, state: WalkState): UserCondition {
  switch (f.op) {
    case 'and':
    case 'or':
      return { kind: f.op, items: [userNode(f.left, state), userNode(f.right, state)] };
    case 'not': {
      state.negated += 1;
      const item = userNode(f.filter, state);
      state.negated -= 1;
      return { kind: 'not', item };
    }
    case 'valuePath':
      return userValuePath(f.path, f.filter, state);
    default:
      return userComparison(f.path, f.op, f.op === 'pr' ? undefined : f.value, state);
  }
}

/** sw, co and ew on userName or an e-mail address, through the prefix and trigram terms. */
function sealedTerms(
  key: string,
  field: 'userName' | 'email',
  op: 'sw' | 'co' | 'ew',
  value: string,
  state: WalkState,
): UserCondition {
  const chars = Array.from(value.normalize('NFC').toLowerCase());
  let condition: UserCondition;
  let exact: boolean;
  if (op === 'sw') {
    if (chars.length === 0)
      return { kind: 'sealedPresent', field: field === 'userName' ? 'userName' : 'emails' };
    exact = chars.length <= PREFIX_MAX;
    condition = {
      kind: 'sealedTerms',
      field,
      termKind: 'prefix',
      texts: [chars.slice(0, PREFIX_MAX).join('')],
    };
  } else {
    if (chars.length < GRAM) {
      throw refuse(`'${key}' is encrypted: ${op} needs at least ${GRAM} characters (docs/scim.md)`);
    }
    const grams = new Set<string>();
    for (let i = 0; i + GRAM <= chars.length; i++) grams.add(chars.slice(i, i + GRAM).join(''));
    exact = false;
    condition = { kind: 'sealedTerms', field, termKind: 'gram', texts: [...grams] };
  }
  if (!exact) {
    if (state.negated > 0) {
      throw refuse(`'${key}' is encrypted: ${op} with this value cannot be negated (docs/scim.md)`);
    }
    state.exact = false;
  }
  return condition;
}

function userComparison(
  path: AttrPath,
  op: SearchOp | 'pr',
  value: CompValue | undefined,
  state: WalkState,
): UserCondition {
  const key = attributeKey(path, USER_SCHEMAS);
  if (key === 'active') {
    if (op === 'pr') return { kind: 'all' };
    checkBoolean('active', op, value);
    const isActive = column('status', 'eq', 'active', true);
    return value === (op === 'eq') ? isActive : { kind: 'not', item: isActive };
  }
  if (key === 'meta.resourcetype') {
    if (op === 'pr') return { kind: 'all' };
    if (op !== 'eq' || typeof value !== 'string') throw refuse("'meta.resourceType' supports eq and pr");
    return value.toLowerCase() === 'user' ? { kind: 'all' } : { kind: 'none' };
  }
  if (key === 'groups' || key === 'groups.value') {
    state.groups = true;
    return { kind: 'memberOf', group: membership('groups', op, value) };
  }
  if (key === 'roles' || key === 'roles.value') {
    if (op === 'pr') return { kind: 'role', test: null };
    const role: UserCondition = {
      kind: 'role',
      test: { op: op === 'ne' ? 'eq' : op, value: stringValue(key, value ?? null, false) },
    };
    return op === 'ne' ? { kind: 'not', item: role } : role;
  }
  if (ROLE_DETAILS.has(key)) {
    if (key === 'roles.primary') checkBoolean(key, op, value);
    // Only a role's value is indexed: the candidates are the users holding any role (every user for `ne`,
    // which a user without roles satisfies too), checked one by one.
    if (state.negated > 0) throw refuse(`'${key}' cannot be negated; compare roles.value (docs/scim.md)`);
    state.exact = false;
    return op === 'ne' ? { kind: 'all' } : { kind: 'role', test: null };
  }
  const plain = USER_COLUMNS[key];
  if (plain) {
    if (op === 'pr') return { kind: 'present', column: plain.column };
    return column(plain.column, op, stringValue(key, value ?? null, plain.dateTime), plain.caseExact);
  }
  const sealed = USER_SEALED[key];
  if (sealed) {
    if (op === 'pr') return { kind: 'sealedPresent', field: sealed.field };
    if (sealed.eq && (op === 'eq' || op === 'ne')) {
      const eq: UserCondition = {
        kind: 'sealedEq',
        field: sealed.eq,
        value: stringValue(key, value ?? null, false),
      };
      return op === 'eq' ? eq : { kind: 'not', item: eq };
    }
    if (sealed.eq && (op === 'sw' || op === 'co' || op === 'ew')) {
      return sealedTerms(key, sealed.eq, op, stringValue(key, value ?? null, false), state);
    }
    throw refuse(
      `'${key}' is encrypted: ${sealed.eq ? 'only eq, ne, sw, co, ew and pr' : 'only pr'} can be answered on it (docs/scim.md)`,
    );
  }
  throw refuse(`no filterable User attribute '${key}'`);
}

/** `emails[value eq "x"]`: a complex filter on a sealed attribute, answerable only as an equality on `value`. */
/** Multi-valued User attributes whose elements can be checked in memory (after decryption). */
const USER_ELEMENTS: Record<string, (u: User) => readonly object[]> = {
  emails: (u) => u.emails,
  phonenumbers: (u) => u.phoneNumbers,
  addresses: (u) => u.addresses,
  roles: (u) => u.roles,
};

/**
 * A filter made of comparisons joined by `or` only, none of them `ne`: per element it means what it means per
 * resource. (`ne` on one element is "another value", not the resource-wide "no value equals".)
 */
function perElementAsPerResource(f: Filter): boolean {
  if (f.op === 'or') return perElementAsPerResource(f.left) && perElementAsPerResource(f.right);
  return f.op !== 'and' && f.op !== 'not' && f.op !== 'valuePath' && f.op !== 'ne';
}

/**
 * A boolean attribute compares with eq and ne against true or false, or is present: RFC 7644 §3.4.2.2 makes
 * gt, ge, lt and le on a boolean an invalid filter, and a string ("True") would silently match nothing.
 */
function checkBoolean(key: string, op: SearchOp | 'pr', value: CompValue | undefined): void {
  if (op === 'pr') return;
  if (typeof value !== 'boolean' || (op !== 'eq' && op !== 'ne')) {
    throw refuse(`'${key}' supports eq, ne and pr with true or false`);
  }
}

/** Every comparison on `primary` inside `roles[…]`, wherever it sits (checkBoolean). */
function checkRolePrimaries(f: Filter): void {
  switch (f.op) {
    case 'and':
    case 'or':
      checkRolePrimaries(f.left);
      checkRolePrimaries(f.right);
      return;
    case 'not':
      checkRolePrimaries(f.filter);
      return;
    case 'valuePath':
      return;
    default:
      if (f.path.attr.toLowerCase() === 'primary' && f.path.sub === undefined) {
        checkBoolean('roles.primary', f.op, f.op === 'pr' ? undefined : f.value);
      }
  }
}

/**
 * `attr[filter]`: the filter must hold for one element (RFC 7644 §3.4.2.2). Comparisons joined by `or` are
 * translated as they stand. With `and` or `not` inside, the database answers a superset (the comparisons on
 * `value` through their indexes, the rest as "any") and every candidate is checked element by element.
 */
function userValuePath(path: AttrPath, inner: Filter, state: WalkState): UserCondition {
  const key = attributeKey(path, USER_SCHEMAS);
  if (key.includes('.')) throw refuse('a value filter applies to a multi-valued attribute');
  const comparison = (f: Exclude<Filter, { op: 'and' | 'or' | 'not' | 'valuePath' }>) => {
    if (f.path.sub !== undefined || f.path.uri !== undefined) {
      throw refuse('a value filter names sub-attributes only');
    }
    const sub = f.path.attr.toLowerCase();
    return userComparison({ attr: path.attr, sub }, f.op, f.op === 'pr' ? undefined : f.value, state);
  };
  const exact = (f: Filter): UserCondition => {
    switch (f.op) {
      case 'or':
        return { kind: 'or', items: [exact(f.left), exact(f.right)] };
      case 'and':
      case 'not':
      case 'valuePath':
        throw refuse('a value filter cannot nest another');
      default:
        return comparison(f);
    }
  };
  if (key === 'groups') {
    state.groups = true;
    return { kind: 'memberOf', group: membershipOf('groups', inner) };
  }
  if (key === 'roles') checkRolePrimaries(inner);
  if (perElementAsPerResource(inner)) return exact(inner);
  if (!USER_ELEMENTS[key]) throw refuse(`'${key}[…]' combines comparisons with or only`);
  if (state.negated > 0) throw refuse(`'${key}[…]' with and or not cannot be negated (docs/scim.md)`);
  let narrowed = false;
  const superset = (f: Filter): UserCondition => {
    switch (f.op) {
      case 'and':
        return { kind: 'and', items: [superset(f.left), superset(f.right)] };
      case 'or':
        return { kind: 'or', items: [superset(f.left), superset(f.right)] };
      case 'not':
        return { kind: 'all' };
      case 'valuePath':
        throw refuse('a value filter cannot nest another');
      default:
        if (f.op === 'ne' || f.path.attr.toLowerCase() !== 'value' || f.path.sub !== undefined) {
          return { kind: 'all' };
        }
        narrowed = true;
        return comparison(f);
    }
  };
  let condition = superset(inner);
  if (!narrowed) {
    // A role's filter without its value: the holders of any role are the candidates (they are plain data).
    if (key !== 'roles') {
      throw refuse(`'${key}[…]' needs a comparison on value to narrow the search (docs/scim.md)`);
    }
    condition = { kind: 'role', test: null };
  }
  state.exact = false;
  return condition;
}

/** Whether one element of a multi-valued attribute matches a value filter (sub-attributes are caseless). */
function matchesElement(el: object, f: Filter): boolean {
  switch (f.op) {
    case 'and':
      return matchesElement(el, f.left) && matchesElement(el, f.right);
    case 'or':
      return matchesElement(el, f.left) || matchesElement(el, f.right);
    case 'not':
      return !matchesElement(el, f.filter);
    case 'valuePath':
      return false;
    default: {
      const name = f.path.attr.toLowerCase();
      const hit = Object.entries(el).find(([k]) => k.toLowerCase() === name)?.[1];
      const values = hit === undefined || hit === null || hit === '' ? [] : [hit];
      if (f.op === 'pr') return values.length > 0;
      if (f.op === 'ne') return values.every((v) => compare('ne', v, f.value, false, false));
      return values.some((v) => compare(f.op as SearchOp, v, f.value, false, false));
    }
  }
}

/** `groups.value op v` or `members.value op v` about one membership: eq, ne and pr on the value only. */
function membership(attr: string, op: SearchOp | 'pr', value: CompValue | undefined): MembershipCondition {
  if (op === 'pr') return { kind: 'any' };
  if ((op !== 'eq' && op !== 'ne') || typeof value !== 'string') {
    throw refuse(`'${attr}' supports eq, ne and pr on its value`);
  }
  return { kind: op, id: value };
}

/** `groups[…]` or `members[…]`: the filter holds for one membership (RFC 7644 §3.4.2.2). */
function membershipOf(attr: string, f: Filter): MembershipCondition {
  switch (f.op) {
    case 'and':
    case 'or':
      return { kind: f.op, items: [membershipOf(attr, f.left), membershipOf(attr, f.right)] };
    case 'not':
      return { kind: 'not', item: membershipOf(attr, f.filter) };
    case 'valuePath':
      throw refuse('a value filter cannot nest another');
    default: {
      const sub = f.path.attr.toLowerCase();
      if (f.path.sub !== undefined || f.path.uri !== undefined || (sub !== 'value' && f.op !== 'pr')) {
        throw refuse(`'${attr}[…]' compares its value only`);
      }
      return membership(attr, f.op, f.op === 'pr' ? undefined : f.value);
    }
  }
}

const GROUP_COLUMNS: Record<string, { column: GroupSearchColumn; caseExact: boolean; dateTime?: true }> = {
  id: { column: 'id', caseExact: true },
  externalid: { column: 'externalId', caseExact: true },
  displayname: { column: 'displayName', caseExact: false },
  'meta.created': { column: 'createdAt', caseExact: true, dateTime: true },
  'meta.lastmodified': { column: 'updatedAt', caseExact: true, dateTime: true },
};

/** A SCIM filter over Groups as a search condition. @throws scim.invalid_filter */
export function groupCondition(f: Filter): GroupCondition {
  switch (f.op) {
    case 'and':
    case 'or':
      return { kind: f.op, items: [groupCondition(f.left), groupCondition(f.right)] };
    case 'not':
      return { kind: 'not', item: groupCondition(f.filter) };
    case 'valuePath': {
      const key = attributeKey(f.path, [GROUP_SCHEMA]);
      if (key !== 'members') throw refuse(`no multi-valued Group attribute '${key}'`);
      return { kind: 'members', member: membershipOf('members', f.filter) };
    }
    default:
      return groupComparison(f.path, f.op, f.op === 'pr' ? undefined : f.value);
  }
}

function groupComparison(path: AttrPath, op: SearchOp | 'pr', value: CompValue | undefined): GroupCondition {
  const key = attributeKey(path, [GROUP_SCHEMA]);
  if (key === 'meta.resourcetype') {
    if (op === 'pr') return { kind: 'all' };
    if (op !== 'eq' || typeof value !== 'string') throw refuse("'meta.resourceType' supports eq and pr");
    return value.toLowerCase() === 'group' ? { kind: 'all' } : { kind: 'none' };
  }
  if (key === 'members' || key === 'members.value') {
    return { kind: 'members', member: membership('members', op, value) };
  }
  const plain = GROUP_COLUMNS[key];
  if (!plain) throw refuse(`no filterable Group attribute '${key}'`);
  if (op === 'pr') return { kind: 'present', column: plain.column };
  return {
    kind: 'column',
    column: plain.column,
    op,
    value: stringValue(key, value ?? null, plain.dateTime),
    caseExact: plain.caseExact,
  };
}

/** `sortBy` over Users: plain attributes only. @throws scim.invalid_filter for a sealed or unknown one */
export function userSort(path: AttrPath, descending: boolean): UserSort {
  const key = attributeKey(path, USER_SCHEMAS);
  const plain = USER_COLUMNS[key];
  if (plain) return { column: plain.column, descending, caseExact: plain.caseExact };
  if (USER_SEALED[key]) throw refuse(`'${key}' is encrypted and cannot be sorted on (docs/scim.md)`);
  throw refuse(`no sortable User attribute '${key}'`);
}

export function groupSort(path: AttrPath, descending: boolean): GroupSort {
  const key = attributeKey(path, [GROUP_SCHEMA]);
  const plain = GROUP_COLUMNS[key];
  if (!plain) throw refuse(`no sortable Group attribute '${key}'`);
  return { column: plain.column, descending, caseExact: plain.caseExact };
}

/** The values a filter attribute has on a user, for checking candidates in memory (see `userCondition`). */
function userValues(u: User, key: string): unknown[] {
  const one = (v: unknown) => (v === null || v === undefined || v === '' ? [] : [v]);
  switch (key) {
    case 'id':
      return [u.id];
    case 'externalid':
      return one(u.externalId);
    case 'username':
      return [u.userName];
    case 'emails':
    case 'emails.value':
      return u.emails.map((e) => e.value);
    case 'displayname':
      return one(u.displayName);
    case 'name':
      return u.name ? [u.name] : [];
    case 'name.givenname':
      return one(u.name?.givenName);
    case 'name.familyname':
      return one(u.name?.familyName);
    case 'name.formatted':
      return one(u.name?.formatted);
    case 'phonenumbers':
    case 'phonenumbers.value':
      return u.phoneNumbers.map((p) => p.value);
    case 'addresses':
      return u.addresses.length > 0 ? [u.addresses] : [];
    case 'roles':
    case 'roles.value':
      return u.roles.map((r) => r.value);
    case 'roles.display':
      return u.roles.flatMap((r) => one(r.display));
    case 'roles.type':
      return u.roles.flatMap((r) => one(r.type));
    case 'roles.primary':
      return u.roles.flatMap((r) => (r.primary === undefined ? [] : [r.primary]));
    case 'title':
      return one(u.title);
    case 'department':
      return one(u.department);
    case 'manager':
    case 'manager.value':
      return one(u.manager);
    case 'location.site':
      return one(u.location?.site);
    case 'location.country':
      return one(u.location?.country);
    case 'kind':
      return [u.kind];
    case 'status':
      return [u.status];
    case 'active':
      return [u.status === 'active'];
    case 'meta.created':
      return [u.createdAt];
    case 'meta.lastmodified':
      return [u.updatedAt];
    case 'meta.resourcetype':
      return ['User'];
    default:
      throw refuse(`no filterable User attribute '${key}'`);
  }
}

function compare(
  op: SearchOp,
  actual: unknown,
  expected: CompValue,
  caseExact: boolean,
  dateTime: boolean,
): boolean {
  if (typeof expected === 'boolean' || typeof actual === 'boolean') {
    return op === 'eq' ? actual === expected : op === 'ne' ? actual !== expected : false;
  }
  if (typeof actual !== 'string' || typeof expected !== 'string') return false;
  let a = actual;
  let e = expected;
  if (dateTime) {
    a = new Date(Date.parse(a)).toISOString();
    e = new Date(Date.parse(e)).toISOString();
  } else if (!caseExact) {
    a = a.normalize('NFC').toLowerCase();
    e = e.normalize('NFC').toLowerCase();
  }
  switch (op) {
    case 'eq':
      return a === e;
    case 'ne':
      return a !== e;
    case 'co':
      return a.includes(e);
    case 'sw':
      return a.startsWith(e);
    case 'ew':
      return a.endsWith(e);
    case 'gt':
      return a > e;
    case 'ge':
      return a >= e;
    case 'lt':
      return a < e;
    case 'le':
      return a <= e;
  }
}

/** Whether a user matches a filter, evaluated in memory: the check of the candidates of an inexact search. */
export function matchesUser(u: User, f: Filter, prefix?: AttrPath): boolean {
  switch (f.op) {
    case 'and':
      return matchesUser(u, f.left, prefix) && matchesUser(u, f.right, prefix);
    case 'or':
      return matchesUser(u, f.left, prefix) || matchesUser(u, f.right, prefix);
    case 'not':
      return !matchesUser(u, f.filter, prefix);
    case 'valuePath': {
      const elements = USER_ELEMENTS[attributeKey(f.path, USER_SCHEMAS)];
      // Only `or`s of comparisons reach here for other attributes: per resource they mean the same.
      if (!elements) return matchesUser(u, f.filter, f.path);
      return elements(u).some((el) => matchesElement(el, f.filter));
    }
    default: {
      const path = prefix ? { attr: prefix.attr, sub: f.path.attr } : f.path;
      const key = attributeKey(path, USER_SCHEMAS);
      const values = userValues(u, key);
      if (f.op === 'pr') return values.length > 0;
      const plain = USER_COLUMNS[key];
      const caseExact = plain?.caseExact ?? false;
      const dateTime = plain?.dateTime ?? false;
      if (f.op === 'ne') return values.every((v) => compare('ne', v, f.value, caseExact, dateTime));
      return values.some((v) => compare(f.op as SearchOp, v, f.value, caseExact, dateTime));
    }
  }
}

// ---- searches from the root (RFC 7644 §3.4.2, §3.4.3)

/** A filter folded for one resource type: `true` matches every resource, `false` none. */
export type FoldedFilter = Filter | boolean;

/**
 * A root search's filter for each resource type. "For filtered attributes that are not part of a particular
 * resource type, the service provider SHALL treat the attribute as if there is no attribute value" (RFC 7644
 * §3.4.2.2): a comparison or presence test on it is false in that type (so `not` of it is true), and the
 * constants fold away, leaving a filter the type's own translation accepts.
 * @throws scim.invalid_filter when an attribute is defined by none of the types
 */
export function filterPerKind(f: Filter, kinds: readonly ResourceName[]): Record<ResourceName, FoldedFilter> {
  for (const path of outerPaths(f)) {
    if (!kinds.some((k) => definedIn(k, path))) {
      const name = `${path.uri ? `${path.uri}:` : ''}${path.attr}${path.sub ? `.${path.sub}` : ''}`;
      throw refuse(`no ${kinds.join(' or ')} attribute '${name}'`);
    }
  }
  const out = { User: false, Group: false } as Record<ResourceName, FoldedFilter>;
  for (const k of kinds) out[k] = fold(f, k);
  return out;
}

function fold(f: Filter, kind: ResourceName): FoldedFilter {
  switch (f.op) {
    case 'and':
    case 'or': {
      const left = fold(f.left, kind);
      const right = fold(f.right, kind);
      // The neutral element drops out; the absorbing one decides.
      const absorbing = f.op === 'or';
      if (typeof left === 'boolean') return left === absorbing ? absorbing : right;
      if (typeof right === 'boolean') return right === absorbing ? absorbing : left;
      return { op: f.op, left, right };
    }
    case 'not': {
      const inner = fold(f.filter, kind);
      return typeof inner === 'boolean' ? !inner : { op: 'not', filter: inner };
    }
    default:
      return definedIn(kind, f.path) ? f : false;
  }
}

/** The attribute paths a filter tests (a value filter's own paths are relative to its attribute). */
function outerPaths(f: Filter): AttrPath[] {
  switch (f.op) {
    case 'and':
    case 'or':
      return [...outerPaths(f.left), ...outerPaths(f.right)];
    case 'not':
      return outerPaths(f.filter);
    default:
      return [f.path];
  }
}

function definedIn(kind: ResourceName, path: AttrPath): boolean {
  try {
    resolveAttribute(kind, path);
    return true;
  } catch (err) {
    if (err instanceof RosterError && err.code === 'scim.invalid_path') return false;
    throw err;
  }
}
