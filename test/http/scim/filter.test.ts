/**
 * SCIM 2.0 filtering, sorting, paging and projection over HTTP (RFC 7644 §3.4.2, §3.4.3; RFC 7643 §2.2, §7), on
 * both stores. A tenant is seeded through `POST /scim/v2/Users` and `/Groups`; every filter's answer is compared
 * with what a small reference evaluator in this file computes from the seeded resources (RFC semantics: caseless
 * strings unless `caseExact`, date-times as instants, multi-valued attributes matching when any value does, an
 * absent attribute matching `ne` and `not`, never a comparison).
 */
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENT = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ROSTER = 'urn:roster:params:scim:schemas:extension:roster:1.0:User';
const LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const SCIM_JSON = { 'content-type': 'application/scim+json' };

// biome-ignore lint/suspicious/noExplicitAny: SCIM documents are inspected loosely
type Doc = Record<string, any>;

// ---- the seed

interface Seed {
  userName: string;
  emails: { value: string; type: string; primary?: boolean }[];
  title?: string;
  department?: string;
  site?: string;
  country?: string;
  kind: string;
  active: boolean;
  externalId?: string;
  givenName?: string;
  familyName?: string;
  displayName?: string;
}

const USER_NAMES = [
  'Alice.Smith@Example.com',
  'bob.jones@example.com',
  'carol',
  'DAVE.WILSON@EXAMPLE.COM',
  'eve.adams@corp.example.net',
  'frank_o@example.com',
  'grace.hopper@navy.example.org',
  'heidi',
  'ivan.petrov@example.com',
  'judy.abc@example.org',
  'Mallory.Abcdef@example.com',
  'niaj@corp.example.net',
  'olivia.brown@example.com',
  'peggy',
  'quentin.abc',
  'Rupert.Giles@Example.org',
  'sybil.trelawney@example.com',
  'trent@example.com',
  'ursula.k@example.net',
  'victor.xyz@example.com',
  'walter.white@example.com',
  'xena',
  'yvonne.strahovski@corp.example.net',
  'zach.abc@example.com',
  // Longer than the 32 indexed prefix characters, sharing them: `sw` past 32 characters is checked after decryption.
  'provisioning.service.account.number-01@corp.example',
  'provisioning.service.account.number-01b@corp.example',
  'provisioning.service.account.number-02@corp.example',
  'PROVISIONING.SERVICE.ACCOUNT.NUMBER-03@CORP.EXAMPLE',
  'abc.start@example.com',
  'Tom.Endabc',
];

const TITLES = ['Engineer', 'Senior Engineer', 'analyst', 'Director', undefined, 'Sales Rep', 'intern'];
const DEPARTMENTS = ['Engineering', 'Sales', 'engineering', undefined, 'Finance'];
const SITES = ['ber-1', 'NYC-2', undefined];
const COUNTRIES = ['DE', 'US', undefined, 'fr'];
const KINDS = ['employee', 'contractor', 'external', 'service'];

function seedOf(i: number): Seed {
  const userName = USER_NAMES[i] as string;
  const local = (userName.split('@')[0] as string).toLowerCase();
  const emails: Seed['emails'] = [];
  if (userName.includes('@') && i % 4 !== 2)
    emails.push({ value: userName.toLowerCase(), type: 'work', primary: true });
  if (i % 3 === 0) emails.push({ value: `${local}.home${i}@home.example.org`, type: 'home' });
  const title = i === 27 ? '50% Lead_x' : i === 28 ? 'Leadxx' : i === 29 ? 'lead 50 percent' : TITLES[i % 7];
  const given = local.split(/[._-]/)[0] as string;
  return {
    userName,
    emails,
    ...(title !== undefined ? { title } : {}),
    ...(DEPARTMENTS[i % 5] !== undefined ? { department: DEPARTMENTS[i % 5] } : {}),
    ...(SITES[i % 3] !== undefined ? { site: SITES[i % 3] } : {}),
    ...(COUNTRIES[i % 4] !== undefined ? { country: COUNTRIES[i % 4] } : {}),
    kind: KINDS[i % 4] as string,
    active: i % 5 !== 3,
    ...(i % 6 !== 5 ? { externalId: `Ext-${String(i).padStart(3, '0')}` } : {}),
    // peggy (13) has a family name only: `name pr` is about the whole name.
    ...(i % 3 !== 1 && i !== 13 ? { givenName: given.charAt(0).toUpperCase() + given.slice(1) } : {}),
    ...(i % 3 !== 1 ? { familyName: `Family${i}` } : {}),
    ...(i % 4 === 1 ? { displayName: `Display ${i}` } : {}),
  };
}

const SEEDS: readonly Seed[] = USER_NAMES.map((_, i) => seedOf(i));

/** The k-th e-mail address of the i-th seeded user. */
const emailOf = (i: number, k: number): string => SEEDS[i]?.emails[k]?.value ?? '';

function userBody(s: Seed): Doc {
  const name = {
    ...(s.givenName ? { givenName: s.givenName } : {}),
    ...(s.familyName ? { familyName: s.familyName } : {}),
  };
  const location = { ...(s.site ? { site: s.site } : {}), ...(s.country ? { country: s.country } : {}) };
  return {
    schemas: [USER, ...(s.department ? [ENT] : []), ROSTER],
    userName: s.userName,
    ...(s.externalId ? { externalId: s.externalId } : {}),
    ...(Object.keys(name).length > 0 ? { name } : {}),
    ...(s.displayName ? { displayName: s.displayName } : {}),
    ...(s.title ? { title: s.title } : {}),
    active: s.active,
    ...(s.emails.length > 0 ? { emails: s.emails } : {}),
    ...(s.department ? { [ENT]: { department: s.department } } : {}),
    [ROSTER]: { kind: s.kind, ...(Object.keys(location).length > 0 ? { location } : {}) },
  };
}

/** Groups: display name and the indexes of their members in SEEDS. */
const GROUP_SEEDS: readonly { displayName: string; members: number[] }[] = [
  { displayName: 'Engineering Team', members: [0, 1, 2, 3] },
  { displayName: 'engineering leads', members: [3, 4] },
  { displayName: 'Sales', members: [5, 6, 7] },
  { displayName: 'All Staff', members: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] },
  { displayName: 'Admins', members: [] },
];

// ---- a reference evaluator

type CompareOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';
const COMPARE_OPS: readonly CompareOp[] = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'];

type F =
  | { op: CompareOp; path: string; value: string | boolean | number }
  | { op: 'pr'; path: string }
  | { op: 'and' | 'or'; l: F; r: F }
  | { op: 'not'; f: F }
  | { op: 'vp'; path: string; f: F };

const cmp = (path: string, op: CompareOp, value: string | boolean | number): F => ({ op, path, value });
const pr = (path: string): F => ({ op: 'pr', path });
const and = (l: F, r: F): F => ({ op: 'and', l, r });
const or = (l: F, r: F): F => ({ op: 'or', l, r });
const not = (f: F): F => ({ op: 'not', f });
const vp = (path: string, f: F): F => ({ op: 'vp', path, f });

/** The filter's text, every logical operand in parentheses (the precedence tests write their own text). */
function render(f: F): string {
  switch (f.op) {
    case 'and':
    case 'or':
      return `(${render(f.l)}) ${f.op} (${render(f.r)})`;
    case 'not':
      return `not (${render(f.f)})`;
    case 'vp':
      return `${f.path}[${render(f.f)}]`;
    case 'pr':
      return `${f.path} pr`;
    default:
      return `${f.path} ${f.op} ${JSON.stringify(f.value)}`;
  }
}

/** A path without its schema URN, lower-cased. */
function keyOf(path: string): string {
  for (const urn of [USER, ENT, ROSTER, GROUP]) {
    if (path.toLowerCase().startsWith(`${urn.toLowerCase()}:`))
      return path.slice(urn.length + 1).toLowerCase();
  }
  return path.toLowerCase();
}

const CASE_EXACT = new Set(['id', 'externalid', 'members', 'members.value', 'groups', 'groups.value']);
const DATE_TIME = new Set(['meta.created', 'meta.lastmodified']);

function valuesOf(doc: Doc, key: string): unknown[] {
  const one = (v: unknown) => (v === undefined || v === null || v === '' ? [] : [v]);
  switch (key) {
    case 'id':
      return one(doc.id);
    case 'externalid':
      return one(doc.externalId);
    case 'username':
      return one(doc.userName);
    case 'title':
      return one(doc.title);
    case 'displayname':
      return one(doc.displayName);
    case 'name':
      return doc.name && Object.keys(doc.name).length > 0 ? [doc.name] : [];
    case 'name.givenname':
      return one(doc.name?.givenName);
    case 'name.familyname':
      return one(doc.name?.familyName);
    case 'emails':
    case 'emails.value':
      return (doc.emails ?? []).map((e: Doc) => e.value);
    case 'active':
      return [doc.active];
    case 'groups':
    case 'groups.value':
      return (doc.groups ?? []).map((g: Doc) => g.value);
    case 'members':
    case 'members.value':
      return (doc.members ?? []).map((m: Doc) => m.value);
    case 'department':
      return one(doc[ENT]?.department);
    case 'location.country':
      return one(doc[ROSTER]?.location?.country);
    case 'location.site':
      return one(doc[ROSTER]?.location?.site);
    case 'kind':
      return one(doc[ROSTER]?.kind);
    case 'status':
      return one(doc[ROSTER]?.status);
    case 'meta.created':
      return one(doc.meta?.created);
    case 'meta.lastmodified':
      return one(doc.meta?.lastModified);
    case 'meta.resourcetype':
      return one(doc.meta?.resourceType);
    default:
      throw new Error(`the reference evaluator does not know '${key}'`);
  }
}

function compare(key: string, op: CompareOp, actual: unknown, expected: string | boolean | number): boolean {
  if (typeof actual === 'boolean' || typeof expected === 'boolean') {
    return op === 'eq' ? actual === expected : op === 'ne' ? actual !== expected : false;
  }
  if (typeof actual !== 'string' || typeof expected !== 'string') return false;
  let a: string | number = actual;
  let e: string | number = expected;
  if (DATE_TIME.has(key)) {
    a = Date.parse(actual);
    e = Date.parse(expected);
  } else if (!CASE_EXACT.has(key)) {
    a = actual.normalize('NFC').toLowerCase();
    e = expected.normalize('NFC').toLowerCase();
  }
  switch (op) {
    case 'eq':
      return a === e;
    case 'ne':
      return a !== e;
    case 'co':
      return String(a).includes(String(e));
    case 'sw':
      return String(a).startsWith(String(e));
    case 'ew':
      return String(a).endsWith(String(e));
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

function matches(doc: Doc, f: F, prefix?: string): boolean {
  switch (f.op) {
    case 'and':
      return matches(doc, f.l, prefix) && matches(doc, f.r, prefix);
    case 'or':
      return matches(doc, f.l, prefix) || matches(doc, f.r, prefix);
    case 'not':
      return !matches(doc, f.f, prefix);
    case 'vp': {
      // A value filter holds for one value of the multi-valued attribute (RFC 7644 §3.4.2.2).
      const key = keyOf(f.path);
      const items: Doc[] =
        key === 'emails' ? (doc.emails ?? []) : key === 'members' ? (doc.members ?? []) : [];
      return items.some((item) => matches(item, f.f, key));
    }
    default: {
      if (prefix !== undefined) {
        // Inside a value filter: `doc` is one value of the attribute `prefix`.
        const key = `${prefix}.${f.path.toLowerCase()}`;
        const v = doc[f.path];
        if (f.op === 'pr') return v !== undefined && v !== null && v !== '';
        const op = f.op.toLowerCase() as CompareOp;
        if (v === undefined || v === null) return op === 'ne';
        return compare(key, op, v, f.value);
      }
      const key = keyOf(f.path);
      const values = valuesOf(doc, key);
      if (f.op === 'pr') return values.length > 0;
      // Operators are case-insensitive (RFC 7644 §3.4.2.2).
      const op = f.op.toLowerCase() as CompareOp;
      if (op === 'ne') return values.every((v) => compare(key, 'ne', v, f.value));
      return values.some((v) => compare(key, op, v, f.value));
    }
  }
}

const sortedIds = (docs: readonly Doc[]) => docs.map((d) => d.id as string).sort();

/** A date-time in another offset: the same instant written differently (RFC 3339). */
function withOffset(iso: string, minutes: number): string {
  const d = new Date(Date.parse(iso) + minutes * 60_000);
  const m = Math.abs(minutes);
  const hh = String(Math.floor(m / 60)).padStart(2, '0');
  const mm = String(m % 60).padStart(2, '0');
  return `${d.toISOString().slice(0, 23)}${minutes < 0 ? '-' : '+'}${hh}:${mm}`;
}

/** Code-point order, for the expected sort orders. */
const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

// ---- the tests

interface World {
  api: Client;
  /** User resources in SEEDS order, read back after the groups were made. */
  users: Doc[];
  groups: Doc[];
}

type Shape = 'some' | 'all' | 'none';
type Case = readonly [name: string, filter: (w: World) => F, shape?: Shape];

/** 1,800 characters with well over 1,664 distinct trigrams (a fixed linear congruential sequence). */
const MANY_TRIGRAMS = (() => {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  let x = 42;
  let out = '';
  for (let i = 0; i < 1800; i++) {
    x = (x * 1103515245 + 12345) % 2147483648;
    out += alphabet[(x >>> 16) % 36];
  }
  return out;
})();
const LONG_PREFIX = 'provisioning.service.account.num'; // exactly 32 characters

const USER_CASES: readonly Case[] = [
  // title: a plain, caseless string
  ['title eq, caseless', () => cmp('title', 'eq', 'engineer')],
  ['title ne (absent titles match)', () => cmp('title', 'ne', 'Engineer')],
  ['title co', () => cmp('title', 'co', 'ENGINEER')],
  ['title sw', () => cmp('title', 'sw', 'sen')],
  ['title ew', () => cmp('title', 'ew', 'REP')],
  ['title gt', () => cmp('title', 'gt', 'engineer')],
  ['title ge', () => cmp('title', 'ge', 'Engineer')],
  ['title lt', () => cmp('title', 'lt', 'director')],
  ['title le', () => cmp('title', 'le', 'Director')],
  ['title pr', () => pr('title')],
  ['title co "50%": % is no wildcard', () => cmp('title', 'co', '50%')],
  ['title co "d_x": _ is no wildcard', () => cmp('title', 'co', 'd_x')],
  ['title sw "%"', () => cmp('title', 'sw', '%'), 'none'],
  ['attribute names and operators in any case', () => cmp('TITLE', 'EQ' as CompareOp, 'Engineer')],
  // externalId: caseExact
  ['externalId eq', () => cmp('externalId', 'eq', 'Ext-007')],
  [
    'externalId eq in another case does not match (caseExact)',
    () => cmp('externalId', 'eq', 'ext-007'),
    'none',
  ],
  ['externalId ne', () => cmp('externalId', 'ne', 'Ext-007')],
  ['externalId co', () => cmp('externalId', 'co', 'xt-00')],
  ['externalId co in another case', () => cmp('externalId', 'co', 'EXT-00'), 'none'],
  ['externalId sw', () => cmp('externalId', 'sw', 'Ext-01')],
  ['externalId sw in another case', () => cmp('externalId', 'sw', 'ext'), 'none'],
  ['externalId ew', () => cmp('externalId', 'ew', '9')],
  ['externalId gt', () => cmp('externalId', 'gt', 'Ext-020')],
  ['externalId ge', () => cmp('externalId', 'ge', 'Ext-020')],
  ['externalId lt', () => cmp('externalId', 'lt', 'Ext-005')],
  ['externalId le', () => cmp('externalId', 'le', 'Ext-005')],
  ['externalId pr', () => pr('externalId')],
  // enterprise department
  ['department eq, caseless', () => cmp('department', 'eq', 'ENGINEERING')],
  ['department ne', () => cmp('department', 'ne', 'engineering')],
  ['department co', () => cmp('department', 'co', 'INEER')],
  ['department sw', () => cmp('department', 'sw', 'fin')],
  ['department ew', () => cmp('department', 'ew', 'es')],
  ['department gt', () => cmp('department', 'gt', 'f')],
  ['department le', () => cmp('department', 'le', 'finance')],
  ['department pr', () => pr('department')],
  ['department by its URN', () => cmp(`${ENT}:department`, 'eq', 'Sales')],
  // Roster extension
  ['kind eq', () => cmp('kind', 'eq', 'contractor')],
  ['kind ne', () => cmp('kind', 'ne', 'employee')],
  ['kind co', () => cmp('kind', 'co', 'ploy')],
  ['kind sw', () => cmp('kind', 'sw', 'EXT')],
  ['kind ew', () => cmp('kind', 'ew', 'ice')],
  ['kind lt', () => cmp('kind', 'lt', 'e')],
  ['kind ge', () => cmp('kind', 'ge', 'external')],
  ['kind by its URN', () => cmp(`${ROSTER}:kind`, 'eq', 'service')],
  ['status eq', () => cmp('status', 'eq', 'suspended')],
  ['location.country eq, caseless', () => cmp('location.country', 'eq', 'de')],
  ['location.country ne', () => cmp('location.country', 'ne', 'DE')],
  ['location.country co', () => cmp('location.country', 'co', 'r')],
  ['location.country sw', () => cmp('location.country', 'sw', 'u')],
  ['location.country ew', () => cmp('location.country', 'ew', 'E')],
  ['location.country gt', () => cmp('location.country', 'gt', 'E')],
  ['location.country le', () => cmp('location.country', 'le', 'DE')],
  ['location.country pr', () => pr('location.country')],
  ['location.country by its URN', () => cmp(`${ROSTER}:location.country`, 'eq', 'FR')],
  ['location.site eq, caseless', () => cmp('location.site', 'eq', 'nyc-2')],
  ['location.site pr', () => pr('location.site')],
  // meta
  ['meta.created gt', (w) => cmp('meta.created', 'gt', w.users[14]?.meta.created)],
  ['meta.created ge', (w) => cmp('meta.created', 'ge', w.users[14]?.meta.created)],
  ['meta.created lt', (w) => cmp('meta.created', 'lt', w.users[14]?.meta.created)],
  ['meta.created le', (w) => cmp('meta.created', 'le', w.users[14]?.meta.created)],
  ['meta.created eq', (w) => cmp('meta.created', 'eq', w.users[14]?.meta.created)],
  [
    'meta.created eq, the instant in +00:00',
    (w) => cmp('meta.created', 'eq', withOffset(w.users[14]?.meta.created, 0)),
  ],
  [
    'meta.created gt, the instant in +02:00',
    (w) => cmp('meta.created', 'gt', withOffset(w.users[9]?.meta.created, 120)),
  ],
  [
    'meta.created lt, the instant in -05:30',
    (w) => cmp('meta.created', 'lt', withOffset(w.users[20]?.meta.created, -330)),
  ],
  [
    'meta.created gt and lt',
    (w) =>
      and(
        cmp('meta.created', 'gt', w.users[5]?.meta.created),
        cmp('meta.created', 'lt', w.users[25]?.meta.created),
      ),
  ],
  ['meta.lastModified ge', (w) => cmp('meta.lastModified', 'ge', w.users[10]?.meta.lastModified)],
  ['meta.resourceType eq', () => cmp('meta.resourceType', 'eq', 'User'), 'all'],
  ['id eq', (w) => cmp('id', 'eq', w.users[5]?.id)],
  ['id eq in upper case (caseExact)', (w) => cmp('id', 'eq', String(w.users[5]?.id).toUpperCase()), 'none'],
  ['id ne', (w) => cmp('id', 'ne', w.users[5]?.id)],
  ['groups eq', (w) => cmp('groups', 'eq', w.groups[2]?.id)],
  ['groups.value eq', (w) => cmp('groups.value', 'eq', w.groups[1]?.id)],
  // active
  ['active eq true', () => cmp('active', 'eq', true)],
  ['active eq false', () => cmp('active', 'eq', false)],
  ['active ne true', () => cmp('active', 'ne', true)],
  ['active pr', () => pr('active'), 'all'],
  // logic
  ['and', () => and(cmp('title', 'eq', 'engineer'), cmp('kind', 'eq', 'employee'))],
  ['or', () => or(cmp('title', 'eq', 'analyst'), cmp('department', 'eq', 'sales'))],
  ['not', () => not(cmp('kind', 'eq', 'employee'))],
  ['not pr', () => not(pr('title'))],
  [
    'not over or, and',
    () =>
      and(not(or(cmp('title', 'eq', 'engineer'), cmp('kind', 'eq', 'service'))), cmp('active', 'eq', true)),
  ],
  [
    'nested',
    () =>
      or(
        and(cmp('kind', 'eq', 'employee'), not(pr('department'))),
        and(cmp('location.country', 'eq', 'us'), cmp('title', 'sw', 's')),
      ),
  ],
  // encrypted userName
  ['userName eq, caseless', () => cmp('userName', 'eq', 'alice.smith@example.com')],
  ['userName eq in upper case', () => cmp('userName', 'eq', 'ALICE.SMITH@EXAMPLE.COM')],
  ['userName eq, no such user', () => cmp('userName', 'eq', 'nobody@example.com'), 'none'],
  ['userName ne', () => cmp('userName', 'ne', 'bob.jones@EXAMPLE.com')],
  ['userName sw', () => cmp('userName', 'sw', 'PROV')],
  ['userName sw one character', () => cmp('userName', 'sw', 'a')],
  ['userName sw of exactly 32 characters', () => cmp('userName', 'sw', LONG_PREFIX.toUpperCase())],
  [
    'userName sw longer than 32 characters',
    () => cmp('userName', 'sw', 'provisioning.service.account.number-01'),
  ],
  [
    'userName sw longer than 32 characters, one match',
    () => cmp('userName', 'sw', 'Provisioning.Service.Account.Number-01@'),
  ],
  [
    'userName sw longer than 32 characters, none',
    () => cmp('userName', 'sw', `${LONG_PREFIX}ber-09`),
    'none',
  ],
  ['userName sw the whole name', () => cmp('userName', 'sw', 'tom.endabc')],
  ['userName co', () => cmp('userName', 'co', 'abc')],
  ['userName co of three characters, any case', () => cmp('userName', 'co', 'ABC')],
  ['userName co of the whole name', () => cmp('userName', 'co', 'heidi')],
  ['userName co, no match', () => cmp('userName', 'co', 'zzq'), 'none'],
  // Many trigrams, only the rarest few kept: one in the middle that nobody holds means nobody matches.
  [
    'userName co, long, one trigram held by nobody',
    () => cmp('userName', 'co', 'provisioning.sQrvice'),
    'none',
  ],
  ['userName co, long', () => cmp('userName', 'co', 'service.account.number')],
  // More distinct trigrams than one statement may return columns (1,664 on PostgreSQL): counted in chunks.
  ['userName co, 1,800 characters', () => cmp('userName', 'co', MANY_TRIGRAMS), 'none'],
  ['userName ew', () => cmp('userName', 'ew', 'ABC')],
  ['userName ew a domain', () => cmp('userName', 'ew', '@example.com')],
  ['userName pr', () => pr('userName'), 'all'],
  ['not userName sw (exact, so negatable)', () => not(cmp('userName', 'sw', 'p'))],
  ['not userName eq', () => not(cmp('userName', 'eq', 'Carol'))],
  ['userName co and a plain attribute', () => and(cmp('userName', 'co', 'abc'), cmp('active', 'eq', true))],
  [
    'userName co or a plain attribute',
    () => or(cmp('userName', 'co', 'abc'), cmp('title', 'eq', 'director')),
  ],
  [
    'userName ew and not a plain attribute',
    () => and(cmp('userName', 'ew', '.com'), not(cmp('kind', 'eq', 'employee'))),
  ],
  [
    'userName long sw or userName co',
    () => or(cmp('userName', 'sw', `${LONG_PREFIX}ber-02`), cmp('userName', 'co', 'xyz')),
  ],
  // encrypted e-mails
  ['emails.value eq, caseless', () => cmp('emails.value', 'eq', 'BOB.JONES@example.com')],
  ['emails eq', () => cmp('emails', 'eq', 'bob.jones@example.com')],
  ['emails eq a second address', () => cmp('emails', 'eq', emailOf(3, 1).toUpperCase())],
  ['emails[value eq]', () => vp('emails', cmp('value', 'eq', emailOf(4, 0)))],
  ['emails ne', () => cmp('emails', 'ne', 'bob.jones@example.com')],
  ['emails pr', () => pr('emails')],
  ['emails co "@example"', () => cmp('emails', 'co', '@example')],
  ['emails.value co', () => cmp('emails.value', 'co', 'HOME.EXAMPLE')],
  ['emails ew', () => cmp('emails', 'ew', '.org')],
  ['emails sw', () => cmp('emails', 'sw', 'grace')],
  ['emails[value co]', () => vp('emails', cmp('value', 'co', '.home'))],
  ['emails[value sw]', () => vp('emails', cmp('value', 'sw', 'ivan'))],
  ['emails[value ew]', () => vp('emails', cmp('value', 'ew', 'corp.example.net'))],
  [
    'emails[value sw and value ew]: both of one address',
    () => vp('emails', and(cmp('value', 'sw', 'dave'), cmp('value', 'ew', '.com'))),
  ],
  [
    'emails[value eq or value eq]',
    () => vp('emails', or(cmp('value', 'eq', emailOf(3, 1)), cmp('value', 'eq', 'bob.jones@example.com'))),
  ],
  [
    'emails[value co and value ew]: true of two different addresses only',
    () => vp('emails', and(cmp('value', 'co', 'home'), cmp('value', 'ew', '.com'))),
    'none',
  ],
  [
    'emails[value eq and value eq]: two different addresses of one user',
    () => vp('emails', and(cmp('value', 'eq', emailOf(3, 0)), cmp('value', 'eq', emailOf(3, 1)))),
    'none',
  ],
  // presence of other encrypted attributes
  ['displayName pr', () => pr('displayName')],
  ['name.givenName pr', () => pr('name.givenName')],
  ['name.familyName pr', () => pr('name.familyName')],
  ['name pr (any component)', () => pr('name')],
];

/** Filters Roster must refuse with 400 invalidFilter rather than answer wrongly. */
const REFUSED: readonly (readonly [string, string])[] = [
  ['co on userName under not', 'not (userName co "zq7")'],
  ['ew on userName under not', 'not (userName ew "zq7")'],
  ['co on emails under not', 'not (emails co "zq7")'],
  ['long sw on userName under not', `not (userName sw "${LONG_PREFIX}ber-zq7")`],
  ['co under not inside an and', 'not (active eq true and userName co "zq7")'],
  ['co of two characters', 'userName co "q7"'],
  ['ew of two characters', 'userName ew "q7"'],
  ['co of two characters on emails', 'emails co "q7"'],
  ['co on name.givenName', 'name.givenName co "zq7"'],
  ['eq on displayName', 'displayName eq "zq7"'],
  ['gt on userName', 'userName gt "zq7"'],
  ['a value filter on emails.type', 'emails[type eq "work"]'],
  ['groups with an inexact encrypted comparison', 'groups eq "zq7" and userName co "zq7"'],
  ['a number compared with title', 'title eq 42'],
  ['a date-time that is none', 'meta.created gt "zq7"'],
  ['a filter that does not parse', 'title eq'],
  ['an unbalanced parenthesis', '(title eq "zq7"'],
];

const GROUP_CASES: readonly Case[] = [
  ['displayName eq, caseless', () => cmp('displayName', 'eq', 'engineering team')],
  ['displayName ne', () => cmp('displayName', 'ne', 'Sales')],
  ['displayName co', () => cmp('displayName', 'co', 'ENGINEER')],
  ['displayName sw', () => cmp('displayName', 'sw', 'eng')],
  ['displayName ew', () => cmp('displayName', 'ew', 'S')],
  ['displayName gt', () => cmp('displayName', 'gt', 'b')],
  ['externalId eq', () => cmp('externalId', 'eq', 'grp-2')],
  ['externalId eq in another case', () => cmp('externalId', 'eq', 'GRP-2'), 'none'],
  ['members[value eq]', (w) => vp('members', cmp('value', 'eq', w.users[3]?.id))],
  ['members.value eq', (w) => cmp('members.value', 'eq', w.users[5]?.id)],
  ['members pr', () => pr('members')],
  ['not members pr', () => not(pr('members'))],
  [
    'members[value eq and value eq]: no single member is both',
    (w) => vp('members', and(cmp('value', 'eq', w.users[0]?.id), cmp('value', 'eq', w.users[1]?.id))),
    'none',
  ],
  [
    'members[value eq or value eq]',
    (w) => vp('members', or(cmp('value', 'eq', w.users[4]?.id), cmp('value', 'eq', w.users[7]?.id))),
  ],
  [
    'members and displayName',
    (w) => and(vp('members', cmp('value', 'eq', w.users[0]?.id)), cmp('displayName', 'co', 'team')),
  ],
  ['meta.resourceType eq', () => cmp('meta.resourceType', 'eq', 'Group'), 'all'],
];

describeEachStore('SCIM filters, sorting, paging and projection', (kind) => {
  const t = useTestApp(kind);
  let w: World;

  beforeAll(async () => {
    const { api } = await t().newTenant();
    const created: Doc[] = [];
    for (const s of SEEDS) {
      const res = await api.post('/scim/v2/Users', userBody(s), SCIM_JSON);
      if (res.status !== 201) throw new Error(`seeding ${s.userName}: ${res.raw}`);
      created.push(res.body);
    }
    const groups: Doc[] = [];
    for (const [i, g] of GROUP_SEEDS.entries()) {
      const res = await api.post(
        '/scim/v2/Groups',
        {
          schemas: [GROUP],
          displayName: g.displayName,
          externalId: `grp-${i}`,
          members: g.members.map((m) => ({ value: created[m]?.id })),
        },
        SCIM_JSON,
      );
      if (res.status !== 201) throw new Error(`seeding group ${g.displayName}: ${res.raw}`);
      groups.push(res.body);
    }
    const users: Doc[] = [];
    for (const u of created) {
      const res = await api.get(`/scim/v2/Users/${u.id}`);
      if (res.status !== 200) throw new Error(`reading ${u.id}: ${res.raw}`);
      users.push(res.body);
    }
    w = { api, users, groups };
  });

  const list = (resource: 'Users' | 'Groups', query: Record<string, string | number>) =>
    w.api.get(
      `/scim/v2/${resource}?${new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]))}`,
    );

  function expectListResponse(res: Answer, what: string): void {
    expect(res.status, `${what} -> ${res.raw}`).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^application\/scim\+json/);
    expect(res.body.schemas).toEqual([LIST]);
  }

  function expectScimError(res: Answer, status: number, scimType: string | undefined, what: string): void {
    expect(res.status, `${what} -> ${res.raw}`).toBe(status);
    expect(String(res.headers['content-type'])).toMatch(/^application\/scim\+json/);
    expect(res.body.schemas).toEqual([ERROR]);
    expect(res.body.status).toBe(String(status));
    if (scimType !== undefined) expect(res.body.scimType).toBe(scimType);
  }

  async function expectFilter(resource: 'Users' | 'Groups', text: string, f: F, shape: Shape = 'some') {
    const docs = resource === 'Users' ? w.users : w.groups;
    const expected = docs.filter((d) => matches(d, f));
    // The case is meaningful: it selects what it was written to select.
    if (shape === 'some') expect(expected.length, `reference answer to ${text}`).toBeGreaterThan(0);
    if (shape === 'some') expect(expected.length, `reference answer to ${text}`).toBeLessThan(docs.length);
    if (shape === 'none') expect(expected, `reference answer to ${text}`).toEqual([]);
    if (shape === 'all') expect(expected.length, `reference answer to ${text}`).toBe(docs.length);
    const res = await list(resource, { filter: text, count: 1000 });
    expectListResponse(res, text);
    expect(sortedIds(res.body.Resources ?? []), text).toEqual(sortedIds(expected));
    expect(res.body.totalResults, text).toBe(expected.length);
    expect(res.body.itemsPerPage, text).toBe(expected.length);
  }

  describe('Users: each filter returns exactly the matching users', () => {
    for (const [name, filter, shape] of USER_CASES) {
      it(name, async () => {
        const f = filter(w);
        await expectFilter('Users', render(f), f, shape);
      });
    }
  });

  describe('Users: precedence (not, then and, then or) and parentheses', () => {
    const analyst = cmp('title', 'eq', 'analyst');
    const intern = cmp('title', 'eq', 'intern');
    const inactive = cmp('active', 'eq', false);
    const cases: readonly (readonly [string, F])[] = [
      ['title eq "analyst" or title eq "intern" and active eq false', or(analyst, and(intern, inactive))],
      ['(title eq "analyst" or title eq "intern") and active eq false', and(or(analyst, intern), inactive)],
      ['active eq false and title eq "intern" or title eq "analyst"', or(and(inactive, intern), analyst)],
      ['active eq false and (title eq "intern" or title eq "analyst")', and(inactive, or(intern, analyst))],
      ['not (title eq "analyst") and active eq false', and(not(analyst), inactive)],
      ['not (title eq "analyst" and active eq false)', not(and(analyst, inactive))],
      [
        'title eq "analyst" or title eq "intern" or kind eq "service" and active eq false',
        or(or(analyst, intern), and(cmp('kind', 'eq', 'service'), inactive)),
      ],
      ['((title eq "analyst"))', analyst],
      [
        'userName co "abc" or title eq "intern" and active eq false',
        or(cmp('userName', 'co', 'abc'), and(intern, inactive)),
      ],
      [
        '(userName co "abc" or title eq "intern") and active eq false',
        and(or(cmp('userName', 'co', 'abc'), intern), inactive),
      ],
    ];

    it('the seed tells the readings apart', () => {
      const ids = (f: F) => sortedIds(w.users.filter((d) => matches(d, f)));
      expect(ids(cases[0]?.[1] as F)).not.toEqual(ids(cases[1]?.[1] as F));
      expect(ids(cases[2]?.[1] as F)).not.toEqual(ids(cases[3]?.[1] as F));
      expect(ids(cases[4]?.[1] as F)).not.toEqual(ids(cases[5]?.[1] as F));
      expect(ids(cases[8]?.[1] as F)).not.toEqual(ids(cases[9]?.[1] as F));
    });

    it.each(cases)('%s', async (text, f) => {
      await expectFilter('Users', text, f);
    });
  });

  describe('Users: filters answered with 400 invalidFilter', () => {
    it.each(REFUSED)('%s', async (_name, text) => {
      const res = await list('Users', { filter: text });
      expectScimError(res, 400, 'invalidFilter', text);
      // Details name attributes and positions, never values.
      expect(res.raw).not.toContain('zq7');
      expect(res.raw).not.toContain('"q7"');
    });

    it('also through POST /Users/.search', async () => {
      const res = await w.api.post(
        '/scim/v2/Users/.search',
        { schemas: [SEARCH], filter: 'not (userName co "zq7")' },
        SCIM_JSON,
      );
      expectScimError(res, 400, 'invalidFilter', '.search not co');
    });
  });

  describe('Groups: each filter returns exactly the matching groups', () => {
    for (const [name, filter, shape] of GROUP_CASES) {
      it(name, async () => {
        const f = filter(w);
        await expectFilter('Groups', render(f), f, shape);
      });
    }
  });

  describe('sortBy and sortOrder', () => {
    /** Titles as RFC 7644 §3.4.2.3 orders them: caseless, absent ones last when ascending and first when descending. */
    function expectedTitles(docs: readonly Doc[], descending: boolean): (string | null)[] {
      const present = docs
        .map((d) => d.title as string | undefined)
        .filter((x): x is string => x !== undefined)
        .map((x) => x.toLowerCase())
        .sort(byCodePoint);
      const absent = docs.filter((d) => d.title === undefined).map(() => null);
      return descending ? [...absent, ...present.reverse()] : [...present, ...absent];
    }
    const titlesOf = (res: Answer) =>
      (res.body.Resources as Doc[]).map((d) => d.title?.toLowerCase() ?? null);

    const present = (titles: (string | null)[]) => titles.filter((x) => x !== null);

    it('title ascending: caseless order (RFC 7644 §3.4.2.3)', async () => {
      const res = await list('Users', { sortBy: 'title', sortOrder: 'ascending' });
      expectListResponse(res, 'sortBy=title');
      expect(present(titlesOf(res))).toEqual(present(expectedTitles(w.users, false)));
    });

    it('title ascending: users without a title last (RFC 7644 §3.4.2.3)', async () => {
      const res = await list('Users', { sortBy: 'title', sortOrder: 'ascending' });
      expectListResponse(res, 'sortBy=title');
      const titles = titlesOf(res);
      const n = present(titles).length;
      expect(titles.slice(n), 'the last ones').toEqual(titles.slice(n).map(() => null));
      expect(titles).toHaveLength(w.users.length);
    });

    it('title descending: caseless order', async () => {
      const res = await list('Users', { sortBy: 'title', sortOrder: 'descending' });
      expectListResponse(res, 'sortBy=title descending');
      expect(present(titlesOf(res))).toEqual(present(expectedTitles(w.users, true)));
    });

    it('title descending: users without a title first', async () => {
      const res = await list('Users', { sortBy: 'title', sortOrder: 'descending' });
      expectListResponse(res, 'sortBy=title descending');
      const titles = titlesOf(res);
      const absent = titles.length - present(titles).length;
      expect(titles.slice(0, absent), 'the first ones').toEqual(titles.slice(0, absent).map(() => null));
    });

    it('title without sortOrder is ascending', async () => {
      const asc = await list('Users', { sortBy: 'title', sortOrder: 'ascending' });
      const res = await list('Users', { sortBy: 'title' });
      expectListResponse(res, 'sortBy=title');
      expect(res.body).toEqual(asc.body);
    });

    it('title with a filter and a page', async () => {
      const f = cmp('active', 'eq', true);
      const all = expectedTitles(
        w.users.filter((d) => matches(d, f)),
        false,
      );
      const res = await list('Users', { filter: render(f), sortBy: 'title', startIndex: 3, count: 5 });
      expectListResponse(res, 'sorted page');
      expect(res.body.totalResults).toBe(all.length);
      expect(titlesOf(res)).toEqual(all.slice(2, 7));
    });

    it('meta.created ascending and descending', async () => {
      const asc = await list('Users', { sortBy: 'meta.created' });
      expectListResponse(asc, 'sortBy=meta.created');
      const times = (asc.body.Resources as Doc[]).map((d) => Date.parse(d.meta.created));
      expect(times).toHaveLength(w.users.length);
      expect(times).toEqual([...times].sort((a, b) => a - b));
      const desc = await list('Users', { sortBy: 'meta.created', sortOrder: 'descending' });
      expectListResponse(desc, 'sortBy=meta.created descending');
      const back = (desc.body.Resources as Doc[]).map((d) => Date.parse(d.meta.created));
      expect(back).toEqual([...back].sort((a, b) => b - a));
      expect(sortedIds(desc.body.Resources)).toEqual(sortedIds(w.users));
    });

    it('an encrypted attribute as sortBy is refused with 400', async () => {
      for (const sortBy of ['userName', 'emails.value', 'name.givenName']) {
        expectScimError(await list('Users', { sortBy }), 400, 'invalidFilter', `sortBy=${sortBy}`);
      }
    });

    it('an unknown sortOrder is refused with 400', async () => {
      expectScimError(
        await list('Users', { sortBy: 'title', sortOrder: 'sideways' }),
        400,
        'invalidValue',
        'sortOrder',
      );
    });

    it('Groups sort by displayName, caseless', async () => {
      const res = await list('Groups', { sortBy: 'displayName', sortOrder: 'descending' });
      expectListResponse(res, 'Groups sortBy=displayName');
      const names = (res.body.Resources as Doc[]).map((d) => String(d.displayName).toLowerCase());
      expect(names).toEqual(
        w.groups
          .map((g) => String(g.displayName).toLowerCase())
          .sort(byCodePoint)
          .reverse(),
      );
    });
  });

  describe('paging (RFC 7644 §3.4.2.4)', () => {
    it('startIndex is 1-based; pages of count cover every user once, totalResults and itemsPerPage hold', async () => {
      const full = await list('Users', {});
      expectListResponse(full, 'all');
      expect(full.body.totalResults).toBe(w.users.length);
      expect(sortedIds(full.body.Resources)).toEqual(sortedIds(w.users));
      const order = (full.body.Resources as Doc[]).map((d) => d.id);
      const seen: string[] = [];
      for (let start = 1; start <= w.users.length; start += 7) {
        const res = await list('Users', { startIndex: start, count: 7 });
        expectListResponse(res, `startIndex=${start}`);
        expect(res.body.totalResults).toBe(w.users.length);
        expect(res.body.startIndex).toBe(start);
        expect(res.body.itemsPerPage).toBe(Math.min(7, w.users.length - start + 1));
        expect(res.body.Resources).toHaveLength(res.body.itemsPerPage);
        seen.push(...(res.body.Resources as Doc[]).map((d) => d.id));
      }
      expect(seen).toEqual(order);
    });

    it('startIndex below 1 is 1', async () => {
      const first = await list('Users', { startIndex: 1, count: 4 });
      for (const startIndex of [0, -3]) {
        const res = await list('Users', { startIndex, count: 4 });
        expectListResponse(res, `startIndex=${startIndex}`);
        expect(res.body.startIndex).toBe(1);
        expect(res.body.Resources).toEqual(first.body.Resources);
      }
    });

    it('count=0 answers totalResults with no resources; a negative count is 0', async () => {
      for (const count of [0, -5]) {
        const res = await list('Users', { count, filter: 'active eq true' });
        expectListResponse(res, `count=${count}`);
        expect(res.body.totalResults).toBe(w.users.filter((d) => d.active).length);
        expect(res.body.itemsPerPage).toBe(0);
        expect(res.body.Resources ?? []).toEqual([]);
      }
    });

    it('a count above maxResults is lowered, not refused', async () => {
      const config = await w.api.get('/scim/v2/ServiceProviderConfig');
      expect(config.status).toBe(200);
      const max = config.body.filter.maxResults;
      expect(Number.isInteger(max)).toBe(true);
      const res = await list('Users', { count: max + 5000 });
      expectListResponse(res, 'count above maxResults');
      expect(res.body.totalResults).toBe(w.users.length);
      expect(res.body.itemsPerPage).toBeLessThanOrEqual(max);
      expect(res.body.Resources).toHaveLength(Math.min(max, w.users.length));
    });

    it('a startIndex past the end answers totalResults and no resources', async () => {
      const res = await list('Users', { startIndex: w.users.length + 1, count: 10 });
      expectListResponse(res, 'past the end');
      expect(res.body.totalResults).toBe(w.users.length);
      expect(res.body.itemsPerPage).toBe(0);
      expect(res.body.Resources ?? []).toEqual([]);
    });

    it('count and startIndex that are not integers are refused with 400', async () => {
      expectScimError(await list('Users', { count: 'ten' }), 400, 'invalidValue', 'count=ten');
      expectScimError(await list('Users', { startIndex: '1.5' }), 400, 'invalidValue', 'startIndex=1.5');
    });

    it('pages of a filter checked after decryption (co) add up, with the right totalResults', async () => {
      const f = cmp('userName', 'co', 'example');
      const expected = w.users.filter((d) => matches(d, f));
      const full = await list('Users', { filter: render(f), count: 1000 });
      expectListResponse(full, 'co all');
      expect(sortedIds(full.body.Resources)).toEqual(sortedIds(expected));
      const seen: string[] = [];
      for (let start = 1; start <= expected.length; start += 4) {
        const res = await list('Users', { filter: render(f), startIndex: start, count: 4 });
        expectListResponse(res, `co startIndex=${start}`);
        expect(res.body.totalResults).toBe(expected.length);
        expect(res.body.itemsPerPage).toBe(Math.min(4, expected.length - start + 1));
        seen.push(...(res.body.Resources as Doc[]).map((d) => d.id));
      }
      expect(seen).toEqual((full.body.Resources as Doc[]).map((d) => d.id));
    });

    it('a sorted inexact filter pages in sort order', async () => {
      const f = cmp('emails', 'co', 'example');
      const all = await list('Users', { filter: render(f), sortBy: 'meta.created', sortOrder: 'descending' });
      expectListResponse(all, 'sorted co');
      const times = (all.body.Resources as Doc[]).map((d) => Date.parse(d.meta.created));
      expect(times).toEqual([...times].sort((a, b) => b - a));
      const page = await list('Users', {
        filter: render(f),
        sortBy: 'meta.created',
        sortOrder: 'descending',
        startIndex: 2,
        count: 3,
      });
      expectListResponse(page, 'sorted co page');
      expect(page.body.totalResults).toBe(all.body.totalResults);
      expect(page.body.Resources).toEqual((all.body.Resources as Doc[]).slice(1, 4));
    });
  });

  describe('attributes and excludedAttributes (RFC 7644 §3.4.2.5; RFC 7643 §2.2 returned)', () => {
    const byId = (id: string) => w.users.find((u) => u.id === id) as Doc;

    it('attributes=userName: id and schemas (returned always) and userName, nothing else', async () => {
      const res = await list('Users', { attributes: 'userName' });
      expectListResponse(res, 'attributes=userName');
      expect(res.body.Resources).toHaveLength(w.users.length);
      for (const r of res.body.Resources as Doc[]) {
        expect(Object.keys(r).sort()).toEqual(['id', 'schemas', 'userName']);
        expect(r.schemas).toEqual([USER]);
        expect(r.userName).toBe(byId(r.id).userName);
      }
    });

    it('attributes=userName,title leaves out what is absent', async () => {
      const res = await list('Users', { attributes: 'userName,title' });
      expectListResponse(res, 'attributes=userName,title');
      for (const r of res.body.Resources as Doc[]) {
        const full = byId(r.id);
        expect(r).toEqual({
          schemas: [USER],
          id: full.id,
          userName: full.userName,
          ...(full.title !== undefined ? { title: full.title } : {}),
        });
      }
    });

    it('attributes=name.givenName returns that sub-attribute only', async () => {
      const res = await list('Users', { attributes: 'name.givenName' });
      expectListResponse(res, 'attributes=name.givenName');
      for (const r of res.body.Resources as Doc[]) {
        const full = byId(r.id);
        const given = full.name?.givenName;
        expect(r).toEqual({
          schemas: [USER],
          id: full.id,
          ...(given !== undefined ? { name: { givenName: given } } : {}),
        });
      }
    });

    it('attributes=emails.value returns the addresses without type or primary', async () => {
      const res = await list('Users', { attributes: 'emails.value', filter: 'emails pr' });
      expectListResponse(res, 'attributes=emails.value');
      expect(res.body.Resources.length).toBeGreaterThan(0);
      for (const r of res.body.Resources as Doc[]) {
        expect(r.emails).toEqual(byId(r.id).emails.map((e: Doc) => ({ value: e.value })));
      }
    });

    it('an enterprise extension attribute by its URN', async () => {
      const res = await list('Users', { attributes: `${ENT}:department` });
      expectListResponse(res, 'attributes=department');
      for (const r of res.body.Resources as Doc[]) {
        const dept = byId(r.id)[ENT]?.department;
        expect(r).toEqual({
          schemas: dept !== undefined ? [USER, ENT] : [USER],
          id: r.id,
          ...(dept !== undefined ? { [ENT]: { department: dept } } : {}),
        });
      }
    });

    it('a Roster extension sub-attribute by its URN', async () => {
      const res = await list('Users', { attributes: `${ROSTER}:location.country` });
      expectListResponse(res, 'attributes=location.country');
      for (const r of res.body.Resources as Doc[]) {
        const country = byId(r.id)[ROSTER]?.location?.country;
        expect(r).toEqual({
          schemas: country !== undefined ? [USER, ROSTER] : [USER],
          id: r.id,
          ...(country !== undefined ? { [ROSTER]: { location: { country } } } : {}),
        });
      }
    });

    it('excludedAttributes=emails leaves out the e-mails and nothing else', async () => {
      const res = await list('Users', { excludedAttributes: 'emails' });
      expectListResponse(res, 'excludedAttributes=emails');
      for (const r of res.body.Resources as Doc[]) {
        const { emails: _, ...rest } = byId(r.id);
        expect(r).toEqual(rest);
      }
    });

    it('excludedAttributes cannot remove id or schemas (returned always)', async () => {
      const res = await list('Users', { excludedAttributes: 'id,schemas,title' });
      expectListResponse(res, 'excludedAttributes=id,schemas,title');
      for (const r of res.body.Resources as Doc[]) {
        const { title: _, ...rest } = byId(r.id);
        expect(r).toEqual(rest);
      }
    });

    it('excludedAttributes naming a whole extension drops it and its URN from schemas', async () => {
      const res = await list('Users', { excludedAttributes: ROSTER });
      expectListResponse(res, 'excludedAttributes=roster');
      for (const r of res.body.Resources as Doc[]) {
        const { [ROSTER]: _, ...rest } = byId(r.id);
        expect(r).toEqual({ ...rest, schemas: rest.schemas.filter((s: string) => s !== ROSTER) });
      }
    });

    it('GET /Users/{id} takes the same parameters', async () => {
      const u = w.users[0] as Doc;
      const res = await w.api.get(`/scim/v2/Users/${u.id}?attributes=userName,name.givenName`);
      expect(res.status, res.raw).toBe(200);
      expect(res.body).toEqual({
        schemas: [USER],
        id: u.id,
        userName: u.userName,
        name: { givenName: u.name.givenName },
      });
    });

    it('Groups: excludedAttributes=members', async () => {
      const res = await list('Groups', { excludedAttributes: 'members' });
      expectListResponse(res, 'Groups excludedAttributes=members');
      for (const r of res.body.Resources as Doc[]) {
        const { members: _, ...rest } = w.groups.find((g) => g.id === r.id) as Doc;
        expect(r).toEqual(rest);
      }
    });
  });

  describe('POST /.search (RFC 7644 §3.4.3)', () => {
    const requests: readonly Record<string, string | number>[] = [
      { filter: 'title eq "engineer" or kind eq "service"' },
      { filter: 'userName co "abc" and active eq true', sortBy: 'meta.created', sortOrder: 'descending' },
      { filter: 'emails[value ew ".org"]', startIndex: 2, count: 2 },
      { filter: `userName sw "${LONG_PREFIX}ber-0"`, attributes: 'userName,externalId' },
      { sortBy: 'title', startIndex: 4, count: 6, excludedAttributes: 'emails,groups' },
      { filter: 'not (location.country pr) and department pr', count: 0 },
    ];

    it.each(requests)('gives what GET gives: %o', async (q) => {
      const get = await list('Users', q);
      expectListResponse(get, JSON.stringify(q));
      const { attributes, excludedAttributes, ...rest } = q;
      const body = {
        schemas: [SEARCH],
        ...rest,
        ...(attributes !== undefined ? { attributes: String(attributes).split(',') } : {}),
        ...(excludedAttributes !== undefined
          ? { excludedAttributes: String(excludedAttributes).split(',') }
          : {}),
      };
      const post = await w.api.post('/scim/v2/Users/.search', body, SCIM_JSON);
      expectListResponse(post, JSON.stringify(body));
      expect(post.body).toEqual(get.body);
    });

    it('Groups: gives what GET gives', async () => {
      const q = {
        filter: `members[value eq "${w.users[3]?.id}"] or displayName eq "admins"`,
        sortBy: 'displayName',
      };
      const get = await list('Groups', q);
      expectListResponse(get, 'Groups GET');
      const post = await w.api.post('/scim/v2/Groups/.search', { schemas: [SEARCH], ...q }, SCIM_JSON);
      expectListResponse(post, 'Groups .search');
      expect(post.body).toEqual(get.body);
      const f = or(vp('members', cmp('value', 'eq', w.users[3]?.id)), cmp('displayName', 'eq', 'admins'));
      expect(sortedIds(post.body.Resources)).toEqual(sortedIds(w.groups.filter((g) => matches(g, f))));
    });

    it('a body without the SearchRequest schema is 400 invalidSyntax', async () => {
      for (const body of [
        { filter: 'title pr' },
        { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], filter: 'title pr' },
        { schemas: SEARCH, filter: 'title pr' },
        [{ schemas: [SEARCH] }],
      ]) {
        const res = await w.api.post('/scim/v2/Users/.search', body, SCIM_JSON);
        expectScimError(res, 400, 'invalidSyntax', JSON.stringify(body));
      }
    });

    it('a filter that is not a string is 400 invalidFilter', async () => {
      const res = await w.api.post('/scim/v2/Users/.search', { schemas: [SEARCH], filter: 42 }, SCIM_JSON);
      expectScimError(res, 400, 'invalidFilter', 'filter: 42');
    });
  });

  describe('random filters (fast-check) agree with the reference evaluator', () => {
    it('plain attributes, active, meta.created and userName eq/ne/sw, combined with and/or/not', async () => {
      const docs = w.users;
      const valuesFor = (path: string) =>
        [...new Set(docs.flatMap((d) => valuesOf(d, keyOf(path)).map(String)))].sort(byCodePoint);
      const recase = (a: fc.Arbitrary<string>) =>
        fc
          .tuple(a, fc.constantFrom('same', 'upper', 'lower'))
          .map(([v, c]) => (c === 'upper' ? v.toUpperCase() : c === 'lower' ? v.toLowerCase() : v));
      const fragment = (values: readonly string[]) =>
        fc
          .tuple(fc.constantFrom(...values), fc.nat(40), fc.nat(40))
          .map(([v, a, b]) =>
            v.slice(Math.min(a, b) % (v.length + 1), Math.max(a, b) % (v.length + 1) || undefined),
          );
      const plainPaths = [
        'title',
        'externalId',
        'department',
        `${ENT}:department`,
        'location.country',
        'location.site',
        'kind',
        `${ROSTER}:kind`,
        'status',
      ];
      const plainLeaf = fc.constantFrom(...plainPaths).chain((path) => {
        const values = valuesFor(path);
        const value = fc.oneof(
          { weight: 3, arbitrary: recase(fc.constantFrom(...values)) },
          { weight: 3, arbitrary: recase(fragment(values)) },
          { weight: 1, arbitrary: fc.string({ unit: fc.constantFrom(...'aeinrstxE-_%0'), maxLength: 4 }) },
        );
        return fc.tuple(fc.constantFrom(...COMPARE_OPS), value).map(([op, v]) => cmp(path, op, v));
      });
      const userNames = docs.map((d) => d.userName as string);
      const userNameLeaf = fc.oneof(
        fc
          .tuple(fc.constantFrom<CompareOp>('eq', 'ne'), recase(fc.constantFrom(...userNames)))
          .map(([op, v]) => cmp('userName', op, v)),
        fc
          .tuple(recase(fc.constantFrom(...userNames)), fc.integer({ min: 1, max: 32 }))
          .map(([v, n]) => cmp('userName', 'sw', v.slice(0, n))),
      );
      const createdLeaf = fc
        .tuple(
          fc.constantFrom<CompareOp>('eq', 'ne', 'gt', 'ge', 'lt', 'le'),
          fc.constantFrom(...docs.map((d) => d.meta.created as string)),
          fc.constantFrom(0, 0, 60, -90),
        )
        .map(([op, v, offset]) => cmp('meta.created', op, withOffset(v, offset)));
      const activeLeaf = fc
        .tuple(fc.constantFrom<CompareOp>('eq', 'ne'), fc.boolean())
        .map(([op, v]) => cmp('active', op, v));
      const prLeaf = fc
        .constantFrom(
          'title',
          'externalId',
          'department',
          'location.site',
          'userName',
          'emails',
          'displayName',
          'name.givenName',
        )
        .map(pr);
      const leaf = fc.oneof(
        { weight: 5, arbitrary: plainLeaf },
        { weight: 2, arbitrary: userNameLeaf },
        { weight: 1, arbitrary: createdLeaf },
        { weight: 1, arbitrary: activeLeaf },
        { weight: 1, arbitrary: prLeaf },
      );
      const tree = (depth: number): fc.Arbitrary<F> =>
        depth === 0
          ? leaf
          : fc.oneof(
              { weight: 2, arbitrary: leaf },
              { weight: 1, arbitrary: fc.tuple(tree(depth - 1), tree(depth - 1)).map(([l, r]) => and(l, r)) },
              { weight: 1, arbitrary: fc.tuple(tree(depth - 1), tree(depth - 1)).map(([l, r]) => or(l, r)) },
              { weight: 1, arbitrary: tree(depth - 1).map(not) },
            );

      await fc.assert(
        fc.asyncProperty(tree(3), async (f) => {
          const text = render(f);
          const expected = sortedIds(docs.filter((d) => matches(d, f)));
          const res = await list('Users', { filter: text, count: 1000, attributes: 'id' });
          expect(res.status, `${text} -> ${res.raw}`).toBe(200);
          expect(sortedIds(res.body.Resources ?? []), text).toEqual(expected);
          expect(res.body.totalResults, text).toBe(expected.length);
        }),
        { numRuns: 80 },
      );
    });
  });
});

describeEachStore('SCIM filters on non-ASCII values', (kind) => {
  const t = useTestApp(kind);

  it('compares caseless attributes caselessly beyond ASCII (RFC 7643 §2.2 caseExact false)', async () => {
    const { api } = await t().newTenant();
    const docs: Doc[] = [];
    for (const [userName, title, department] of [
      ['u1', 'ÉQUIPE Lead', 'Forschung Ärzte'],
      ['u2', 'équipe lead', 'forschung ärzte'],
      ['u3', 'Equipe Lead', 'Forschung Arzte'],
      ['u4', 'Ωmega Σquad', 'ΣΩ'],
    ] as const) {
      const res = await api.post(
        '/scim/v2/Users',
        { schemas: [USER, ENT], userName, title, [ENT]: { department } },
        SCIM_JSON,
      );
      expect(res.status, res.raw).toBe(201);
      docs.push(res.body);
    }
    const filters: F[] = [
      cmp('title', 'eq', 'Équipe LEAD'),
      cmp('title', 'co', 'ÉQUIPE'),
      cmp('title', 'sw', 'éq'),
      cmp('title', 'ew', 'σquad'),
      cmp('department', 'eq', 'FORSCHUNG ÄRZTE'),
      cmp('department', 'co', 'ärz'),
      cmp('department', 'eq', 'σω'),
    ];
    for (const f of filters) {
      const text = render(f);
      const expected = sortedIds(docs.filter((d) => matches(d, f)));
      expect(expected.length, `reference answer to ${text}`).toBeGreaterThan(0);
      const res = await api.get(`/scim/v2/Users?filter=${encodeURIComponent(text)}`);
      expect(res.status, `${text} -> ${res.raw}`).toBe(200);
      expect(sortedIds(res.body.Resources ?? []), text).toEqual(expected);
    }
  });
});
