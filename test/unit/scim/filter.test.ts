import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { type ErrorCode, RosterError } from '../../../src/platform/errors.js';
import {
  type AttrPath,
  COMPARE_OPS,
  type CompValue,
  type Filter,
  type PatchPath,
} from '../../../src/scim/ast.js';
import {
  formatAttrPath,
  formatFilter,
  formatPatchPath,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LENGTH,
  parseAttrPath,
  parseFilter,
  parsePatchPath,
} from '../../../src/scim/filter.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

// ---- AST builders

const path = (attr: string, sub?: string, uri?: string): AttrPath => ({
  ...(uri !== undefined ? { uri } : {}),
  attr,
  ...(sub !== undefined ? { sub } : {}),
});
/** `a.b` → `{attr: 'a', sub: 'b'}`; no URNs (use `path` for those). */
const p = (dotted: string): AttrPath => {
  const [attr = '', sub] = dotted.split('.');
  return path(attr, sub);
};
const cmp = (op: (typeof COMPARE_OPS)[number], at: string | AttrPath, value: CompValue): Filter => ({
  op,
  path: typeof at === 'string' ? p(at) : at,
  value,
});
const pr = (at: string): Filter => ({ op: 'pr', path: p(at) });
const and = (left: Filter, right: Filter): Filter => ({ op: 'and', left, right });
const or = (left: Filter, right: Filter): Filter => ({ op: 'or', left, right });
const not = (filter: Filter): Filter => ({ op: 'not', filter });
const vp = (at: string, filter: Filter): Filter => ({ op: 'valuePath', path: p(at), filter });

/** Runs `fn`, which must throw a RosterError of `code`; returns it. */
function rejection(fn: () => unknown, code: ErrorCode): RosterError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}`).toBeInstanceOf(RosterError);
  expect((err as RosterError).code).toBe(code);
  return err as RosterError;
}

describe('parseFilter: the examples of RFC 7644 §3.4.2.2', () => {
  const examples: [string, Filter][] = [
    ['userName eq "bjensen"', cmp('eq', 'userName', 'bjensen')],
    [`name.familyName co "O'Malley"`, cmp('co', 'name.familyName', "O'Malley")],
    ['userName sw "J"', cmp('sw', 'userName', 'J')],
    [`${USER}:userName sw "J"`, cmp('sw', path('userName', undefined, USER), 'J')],
    ['title pr', pr('title')],
    ['meta.lastModified gt "2011-05-13T04:42:34Z"', cmp('gt', 'meta.lastModified', '2011-05-13T04:42:34Z')],
    ['meta.lastModified ge "2011-05-13T04:42:34Z"', cmp('ge', 'meta.lastModified', '2011-05-13T04:42:34Z')],
    ['meta.lastModified lt "2011-05-13T04:42:34Z"', cmp('lt', 'meta.lastModified', '2011-05-13T04:42:34Z')],
    ['meta.lastModified le "2011-05-13T04:42:34Z"', cmp('le', 'meta.lastModified', '2011-05-13T04:42:34Z')],
    ['title pr and userType eq "Employee"', and(pr('title'), cmp('eq', 'userType', 'Employee'))],
    ['title pr or userType eq "Intern"', or(pr('title'), cmp('eq', 'userType', 'Intern'))],
    [`schemas eq "${ENTERPRISE}"`, cmp('eq', 'schemas', ENTERPRISE)],
    [
      'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")',
      and(
        cmp('eq', 'userType', 'Employee'),
        or(cmp('co', 'emails', 'example.com'), cmp('co', 'emails.value', 'example.org')),
      ),
    ],
    [
      'userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")',
      and(
        cmp('ne', 'userType', 'Employee'),
        not(or(cmp('co', 'emails', 'example.com'), cmp('co', 'emails.value', 'example.org'))),
      ),
    ],
    [
      'userType eq "Employee" and (emails.type eq "work")',
      and(cmp('eq', 'userType', 'Employee'), cmp('eq', 'emails.type', 'work')),
    ],
    [
      'userType eq "Employee" and emails[type eq "work" and value co "@example.com"]',
      and(
        cmp('eq', 'userType', 'Employee'),
        vp('emails', and(cmp('eq', 'type', 'work'), cmp('co', 'value', '@example.com'))),
      ),
    ],
    [
      'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]',
      or(
        vp('emails', and(cmp('eq', 'type', 'work'), cmp('co', 'value', '@example.com'))),
        vp('ims', and(cmp('eq', 'type', 'xmpp'), cmp('co', 'value', '@foo.com'))),
      ),
    ],
  ];

  it.each(examples)('%s', (text, expected) => {
    const f = parseFilter(text);
    expect(f).toStrictEqual(expected);
    expect(parseFilter(formatFilter(f))).toStrictEqual(expected);
  });

  it('keeps attribute names as written and lower-cases operators (RFC 7644 §3.4.2.2: both case-insensitive)', () => {
    expect(parseFilter('Username Eq "john"')).toStrictEqual(cmp('eq', 'Username', 'john'));
    expect(parseFilter('title PR AND userType EQ "x" Or not(a Pr)')).toStrictEqual(
      or(and(pr('title'), cmp('eq', 'userType', 'x')), not(pr('a'))),
    );
  });
});

describe('parseFilter: what identity providers send', () => {
  it.each<[string, Filter]>([
    ['userName eq "a@b.c"', cmp('eq', 'userName', 'a@b.c')],
    ['externalId eq "x"', cmp('eq', 'externalId', 'x')],
    ['displayName eq "Group 1"', cmp('eq', 'displayName', 'Group 1')],
    [
      'id eq "g1" and members[value eq "2819c223-7f76-453a-919d-413861904646"]',
      and(cmp('eq', 'id', 'g1'), vp('members', cmp('eq', 'value', '2819c223-7f76-453a-919d-413861904646'))),
    ],
    [`${ENTERPRISE}:manager.value eq "m1"`, cmp('eq', path('manager', 'value', ENTERPRISE), 'm1')],
    [`${ENTERPRISE}:employeeNumber pr`, { op: 'pr', path: path('employeeNumber', undefined, ENTERPRISE) }],
    ['members.$ref pr', pr('members.$ref')],
  ])('%s', (text, expected) => {
    expect(parseFilter(text)).toStrictEqual(expected);
  });
});

describe('parseFilter: grammar', () => {
  it('binds not before and before or; and and or associate to the left', () => {
    const [a, b, c] = [pr('a'), pr('b'), pr('c')];
    expect(parseFilter('a pr or b pr and c pr')).toStrictEqual(or(a, and(b, c)));
    expect(parseFilter('a pr and b pr or c pr')).toStrictEqual(or(and(a, b), c));
    expect(parseFilter('a pr and b pr and c pr')).toStrictEqual(and(and(a, b), c));
    expect(parseFilter('a pr or b pr or c pr')).toStrictEqual(or(or(a, b), c));
    expect(parseFilter('a pr and (b pr or c pr)')).toStrictEqual(and(a, or(b, c)));
    expect(parseFilter('not (a pr) and b pr')).toStrictEqual(and(not(a), b));
    expect(parseFilter('not(a pr) or not (b pr and c pr)')).toStrictEqual(or(not(a), not(and(b, c))));
    expect(parseFilter('((a pr))')).toStrictEqual(a);
    expect(parseFilter('emails[not (type eq "work") or (primary eq true)]')).toStrictEqual(
      vp('emails', or(not(cmp('eq', 'type', 'work')), cmp('eq', 'primary', true))),
    );
  });

  it('reads JSON values: strings with escapes, numbers, true, false, null', () => {
    const value = (v: string) => (parseFilter(`x eq ${v}`) as { value: CompValue }).value;
    expect(value('"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t"')).toBe('a"b\\c/d\b\f\n\r\t');
    expect(value('"\\u00e9\\u00E9\\ud83d\\ude00"')).toBe('éé😀');
    expect(value('"héllo 😀 \u2028"')).toBe('héllo 😀 \u2028');
    expect(value('""')).toBe('');
    expect(value('42')).toBe(42);
    expect(value('-1.5e3')).toBe(-1500);
    expect(value('0.25E+2')).toBe(25);
    expect(Object.is(value('-0'), -0)).toBe(true);
    expect(value('true')).toBe(true);
    expect(value('False')).toBe(false);
    expect(value('NULL')).toBe(null);
  });

  it('tolerates runs of spaces and tabs, white space at either end and around brackets', () => {
    expect(parseFilter('  \tuserName \t eq\t\t"x"   and  ( a pr )  ')).toStrictEqual(
      and(cmp('eq', 'userName', 'x'), pr('a')),
    );
    expect(parseFilter('emails[ type eq "work" ]')).toStrictEqual(vp('emails', cmp('eq', 'type', 'work')));
    expect(parseFilter('(a pr)and(b pr)')).toStrictEqual(and(pr('a'), pr('b')));
  });

  it('reads keywords as attribute names where no keyword can stand', () => {
    expect(parseFilter('not pr')).toStrictEqual(pr('not'));
    expect(parseFilter('and eq "x" or or pr')).toStrictEqual(or(cmp('eq', 'and', 'x'), pr('or')));
    expect(parseFilter('eq eq "eq"')).toStrictEqual(cmp('eq', 'eq', 'eq'));
    expect(parseFilter('not[type pr]')).toStrictEqual(vp('not', pr('type')));
  });

  it('splits a URN-prefixed path at its last colon', () => {
    expect(parseFilter(`${USER}:name.familyName eq "J"`)).toStrictEqual(
      cmp('eq', path('name', 'familyName', USER), 'J'),
    );
    expect(parseFilter(`${USER}:emails[type eq "work"]`)).toStrictEqual({
      op: 'valuePath',
      path: path('emails', undefined, USER),
      filter: cmp('eq', 'type', 'work'),
    });
  });

  it('accepts the length and depth limits exactly', () => {
    const long = `a eq "${'x'.repeat(MAX_FILTER_LENGTH - 7)}"`;
    expect(long).toHaveLength(MAX_FILTER_LENGTH);
    expect(parseFilter(long)).toStrictEqual(cmp('eq', 'a', 'x'.repeat(MAX_FILTER_LENGTH - 7)));
    const deep = `${'('.repeat(MAX_FILTER_DEPTH)}a pr${')'.repeat(MAX_FILTER_DEPTH)}`;
    expect(parseFilter(deep)).toStrictEqual(pr('a'));
    const nots = `${'not ('.repeat(MAX_FILTER_DEPTH - 1)}e[a pr]${')'.repeat(MAX_FILTER_DEPTH - 1)}`;
    let expected: Filter = vp('e', pr('a'));
    for (let i = 1; i < MAX_FILTER_DEPTH; i++) expected = not(expected);
    expect(parseFilter(nots)).toStrictEqual(expected);
  });

  it('parses a long flat chain without recursion on its length', () => {
    const text = Array.from({ length: 300 }, (_, i) => `a${i} pr`).join(' and ');
    expect(text.length).toBeLessThan(MAX_FILTER_LENGTH);
    const f = parseFilter(text);
    expect(f.op).toBe('and');
    expect(formatFilter(f)).toBe(text);
  });
});

describe('parseFilter: rejections', () => {
  // `secrets` are the parts of the input that may be personal data: no detail may repeat them.
  const cases: { text: string; at?: number; secrets: string[] }[] = [
    { text: 'userName eq', at: 11, secrets: ['userName'] },
    { text: 'userName xx "alice"', at: 9, secrets: ['userName', 'alice', 'xx'] },
    { text: '(userName eq "alice"', at: 20, secrets: ['userName', 'alice'] },
    { text: 'emails[type eq "work"', at: 21, secrets: ['emails', 'work'] },
    { text: 'emails[type eq "a"][x eq "b"]', at: 19, secrets: ['emails', 'type'] },
    { text: 'emails[type eq "a" and members[value eq "b"]]', at: 30, secrets: ['emails', 'members'] },
    { text: '"alice" eq userName', at: 0, secrets: ['alice', 'userName'] },
    { text: 'userName eq "alice', at: 12, secrets: ['alice', 'userName'] },
    { text: 'userName eq "bob\u0001by"', at: 16, secrets: ['bob', 'userName'] },
    { text: 'userName eq "bob\nby"', at: 16, secrets: ['bob', 'userName'] },
    { text: 'userName eq "bob\\xby"', at: 16, secrets: ['bob', 'userName'] },
    { text: 'userName eq "bob\\u12g4"', at: 16, secrets: ['bob', 'userName'] },
    { text: "userName eq 'alice'", at: 12, secrets: ['alice', 'userName'] },
    { text: 'userName eq alice', at: 12, secrets: ['alice', 'userName'] },
    { text: 'userName eq"alice"', at: 11, secrets: ['alice', 'userName'] },
    { text: 'userName eq "alice"and a pr', at: 19, secrets: ['alice', 'userName'] },
    { text: 'userName eq "alice" "bob"', at: 20, secrets: ['alice', 'bob', 'userName'] },
    { text: 'userName eq "alice" andx b pr', at: 20, secrets: ['alice', 'andx'] },
    { text: 'userName eq 01', at: 12, secrets: ['userName'] },
    { text: 'userName eq 1e999', at: 12, secrets: ['userName', '1e999'] },
    { text: 'userName', at: 8, secrets: ['userName'] },
    { text: '', at: 0, secrets: [] },
    { text: '   ', at: 3, secrets: [] },
    { text: 'userName eq "alice" and', at: 23, secrets: ['alice'] },
    { text: 'not userName pr', at: 4, secrets: ['userName'] },
    { text: 'NOT userName pr', at: 4, secrets: ['userName'] },
    { text: 'not (userName pr', at: 16, secrets: ['userName'] },
    { text: 'userName pr)', at: 11, secrets: ['userName'] },
    { text: '()', at: 1, secrets: [] },
    { text: 'emails [type eq "work"]', at: 6, secrets: ['emails', 'work'] },
    { text: 'emails\t[type eq "work"]', at: 6, secrets: ['emails', 'work'] },
    { text: 'emails[]', at: 7, secrets: ['emails'] },
    { text: 'emails[type eq "work"].value eq "alice"', at: 22, secrets: ['alice', 'emails'] },
    { text: 'name.familyName.x eq "alice"', at: 5, secrets: ['alice', 'familyName'] },
    { text: '1userName eq "alice"', at: 0, secrets: ['alice', 'userName'] },
    { text: 'user$Name eq "alice"', at: 0, secrets: ['alice', 'user'] },
    { text: 'urn::userName eq "alice"', at: 0, secrets: ['alice', 'userName'] },
    { text: 'secretschema:userName eq "alice"', at: 0, secrets: ['alice', 'secretschema'] },
    { text: `${USER}: eq "alice"`, at: USER.length + 1, secrets: ['alice', 'ietf'] },
    { text: 'userName eq "alice" or émile pr', at: 23, secrets: ['alice', 'mile'] },
    { text: 'userName eq "alice", b pr', at: 19, secrets: ['alice'] },
  ];

  it.each(cases)('$text', ({ text, at, secrets }) => {
    const err = rejection(() => parseFilter(text), 'scim.invalid_filter');
    expect(err.status).toBe(400);
    expect(err.detail).toMatch(/^(expected|unexpected|unterminated|control|invalid|number|nesting) /);
    if (/^not \w/i.test(text)) expect(err.detail).toMatch(/^expected '\(' or an operator/);
    if (at !== undefined) expect(err.detail).toMatch(new RegExp(`position ${at}$`));
    for (const s of secrets) expect(err.detail?.toLowerCase()).not.toContain(s.toLowerCase());
    expect(err.message).toBe(err.detail);
  });

  it('refuses input over the length cap before reading it', () => {
    const err = rejection(
      () => parseFilter(`a eq "${'x'.repeat(MAX_FILTER_LENGTH)}"`),
      'scim.invalid_filter',
    );
    expect(err.detail).toBe(`the filter is longer than ${MAX_FILTER_LENGTH} characters`);
    rejection(() => parseFilter('('.repeat(1_000_000)), 'scim.invalid_filter');
  });

  it('refuses nesting over the depth cap, whatever nests', () => {
    const over = MAX_FILTER_DEPTH + 1;
    const deep = [
      `${'('.repeat(over)}a pr${')'.repeat(over)}`,
      `${'not ('.repeat(over)}a pr${')'.repeat(over)}`,
      `${'not('.repeat(MAX_FILTER_DEPTH)}e[a pr]${')'.repeat(MAX_FILTER_DEPTH)}`,
      '('.repeat(MAX_FILTER_LENGTH),
      'not ('.repeat(MAX_FILTER_LENGTH / 5),
    ];
    for (const text of deep) {
      const err = rejection(() => parseFilter(text), 'scim.invalid_filter');
      expect(err.detail).toMatch(
        new RegExp(`^nesting deeper than ${MAX_FILTER_DEPTH} levels at position \\d+$`),
      );
    }
  });
});

describe('parseAttrPath', () => {
  it.each<[string, AttrPath]>([
    ['userName', path('userName')],
    ['name.familyName', path('name', 'familyName')],
    ['meta.lastModified', path('meta', 'lastModified')],
    ['members.$ref', path('members', '$ref')],
    [`${USER}:userName`, path('userName', undefined, USER)],
    [`${ENTERPRISE}:manager.value`, path('manager', 'value', ENTERPRISE)],
    // The last ':' ends the URN: a bare schema URN reads as its last segment under the shorter URN.
    [ENTERPRISE, path('User', undefined, 'urn:ietf:params:scim:schemas:extension:enterprise:2.0')],
    [' emails ', path('emails')],
  ])('%s', (text, expected) => {
    expect(parseAttrPath(text)).toStrictEqual(expected);
    expect(parseAttrPath(formatAttrPath(expected))).toStrictEqual(expected);
  });

  it.each([
    '',
    '1abc',
    'a.b.c',
    'a.',
    '.a',
    'emails[type eq "x"]',
    'urn::a',
    'urn:x:',
    'x:userName',
    'a b',
    'a,b',
    '"a"',
    'a-$ref',
  ])('rejects %j', (text) => {
    const err = rejection(() => parseAttrPath(text), 'scim.invalid_path');
    expect(err.detail).toMatch(/position \d+$/);
  });
});

describe('parsePatchPath: RFC 7644 §3.5.2', () => {
  const member = '2819c223-7f76-453a-919d-413861904646';
  it.each<[string, PatchPath]>([
    ['members', { path: path('members') }],
    ['name.familyName', { path: path('name', 'familyName') }],
    ['name.givenName', { path: path('name', 'givenName') }],
    ['addresses[type eq "work"]', { path: path('addresses'), valueFilter: cmp('eq', 'type', 'work') }],
    [`members[value eq "${member}"]`, { path: path('members'), valueFilter: cmp('eq', 'value', member) }],
    [
      `members[value eq "${member}"].displayName`,
      { path: path('members'), valueFilter: cmp('eq', 'value', member), sub: 'displayName' },
    ],
    [
      'emails[type eq "work" and value ew "example.com"]',
      {
        path: path('emails'),
        valueFilter: and(cmp('eq', 'type', 'work'), cmp('ew', 'value', 'example.com')),
      },
    ],
    [
      'emails[type eq "work"].value',
      { path: path('emails'), valueFilter: cmp('eq', 'type', 'work'), sub: 'value' },
    ],
    [
      'addresses[type eq "work"].streetAddress',
      { path: path('addresses'), valueFilter: cmp('eq', 'type', 'work'), sub: 'streetAddress' },
    ],
    [`${ENTERPRISE}:employeeNumber`, { path: path('employeeNumber', undefined, ENTERPRISE) }],
    [`${ENTERPRISE}:manager.value`, { path: path('manager', 'value', ENTERPRISE) }],
    [`${ENTERPRISE}:manager`, { path: path('manager', undefined, ENTERPRISE) }],
    [
      `${USER}:emails[primary eq true].value`,
      { path: path('emails', undefined, USER), valueFilter: cmp('eq', 'primary', true), sub: 'value' },
    ],
  ])('%s', (text, expected) => {
    expect(parsePatchPath(text)).toStrictEqual(expected);
    expect(formatPatchPath(expected)).toBe(text);
  });

  it.each([
    '',
    'emails[type eq "work"',
    'emails[type xx "work"]',
    'emails[type eq "work"]value',
    'emails[type eq "work"] .value',
    'emails[type eq "work"].value.x',
    'emails[type eq "work"].',
    'emails [type eq "work"]',
    'emails[type eq "work"][value pr]',
    'emails[type eq "work" and x[y pr]]',
    'emails[]',
    'name.givenName eq "x"',
    'emails[type eq "work"].value eq "x"',
    'a.b.c',
    '"emails"',
  ])('rejects %j', (text) => {
    const err = rejection(() => parsePatchPath(text), 'scim.invalid_path');
    expect(err.detail).toMatch(/position \d+$/);
    expect(err.detail).not.toContain('work');
  });

  it('refuses an over-long path', () => {
    rejection(() => parsePatchPath(`a[b eq "${'x'.repeat(MAX_FILTER_LENGTH)}"]`), 'scim.invalid_path');
  });
});

describe('formatFilter', () => {
  it('writes the canonical text', () => {
    expect(formatFilter(parseFilter('  A  Pr  OR  b eq "x"  AND  not(c pr)'))).toBe(
      'A pr or (b eq "x" and not (c pr))',
    );
    expect(formatFilter(and(or(pr('a'), pr('b')), pr('c')))).toBe('(a pr or b pr) and c pr');
    expect(formatFilter(and(pr('a'), and(pr('b'), pr('c'))))).toBe('a pr and (b pr and c pr)');
    expect(formatFilter(cmp('eq', 'x', 'a"b\\c\n\u0001'))).toBe('x eq "a\\"b\\\\c\\n\\u0001"');
    expect(formatFilter(cmp('gt', 'x', -0))).toBe('x gt -0');
    expect(formatFilter(cmp('gt', 'x', 1e21))).toBe('x gt 1e+21');
    expect(formatFilter(cmp('eq', 'x', null))).toBe('x eq null');
  });

  it('refuses a number no filter can hold', () => {
    expect(() => formatFilter(cmp('eq', 'x', Number.NaN))).toThrow(RangeError);
    expect(() => formatFilter(cmp('eq', 'x', Number.POSITIVE_INFINITY))).toThrow(RangeError);
  });
});

// ---- properties

const KEYWORDS = ['and', 'or', 'not', 'NOT', 'Not', 'eq', 'pr', 'PR', 'true', 'null', 'ne', 'userName'];
const nameArb = fc.oneof(
  fc.stringMatching(/^[A-Za-z][A-Za-z0-9_-]{0,8}$/),
  fc.constantFrom(...KEYWORDS, '$ref', '$REF'),
);
const uriArb = fc.oneof(
  fc.constantFrom(USER, ENTERPRISE, 'urn:roster:params:scim:schemas:extension:roster:1.0:User'),
  fc
    .tuple(
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9+.-]{0,4}$/),
      fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,5}$/), { minLength: 1, maxLength: 3 }),
    )
    .map(([scheme, rest]) => [scheme, ...rest].join(':')),
);
const attrPathArb: fc.Arbitrary<AttrPath> = fc.record(
  { uri: uriArb, attr: nameArb, sub: nameArb },
  { requiredKeys: ['attr'] },
);

const trickyChars = fc.constantFrom(
  '"',
  '\\',
  '/',
  '\n',
  '\u0000',
  '\u001f',
  '\u2028',
  'a',
  ' ',
  'é',
  '😀',
  '\ud800',
);
const valueArb: fc.Arbitrary<CompValue> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: trickyChars, maxLength: 8 }),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
);

/** Arbitrary filters whose values come from `values`; value filters never nest (the grammar cannot say it). */
function filterArb(values: fc.Arbitrary<CompValue>, paths: fc.Arbitrary<AttrPath>) {
  const leaf: fc.Arbitrary<Filter> = fc.oneof(
    fc.record({ op: fc.constantFrom(...COMPARE_OPS), path: paths, value: values }),
    fc.record({ op: fc.constant('pr' as const), path: paths }),
  );
  const depth = { maxDepth: 5, depthIdentifier: 'filter', depthSize: 'small' } as const;
  return fc.letrec<{ filter: Filter; inner: Filter }>((tie) => {
    const logical = (sub: fc.Arbitrary<Filter>): fc.Arbitrary<Filter> =>
      fc.record({ op: fc.constantFrom('and' as const, 'or' as const), left: sub, right: sub });
    const negation = (sub: fc.Arbitrary<Filter>): fc.Arbitrary<Filter> =>
      fc.record({ op: fc.constant('not' as const), filter: sub });
    return {
      filter: fc.oneof(
        depth,
        leaf,
        logical(tie('filter')),
        negation(tie('filter')),
        fc.record({ op: fc.constant('valuePath' as const), path: paths, filter: tie('inner') }),
      ),
      inner: fc.oneof(depth, leaf, logical(tie('inner')), negation(tie('inner'))),
    };
  }).filter;
}

/** fc.record builds objects without a prototype; the parser returns plain ones. */
const plain = <T>(x: T): T => structuredClone(x);

/** Calls `parse`, which must return or throw a RosterError of `code`, and nothing else. */
function parsesOrRefuses<T>(parse: (s: string) => T, text: string, code: ErrorCode): T | RosterError {
  try {
    return parse(text);
  } catch (err) {
    expect(err).toBeInstanceOf(RosterError);
    expect((err as RosterError).code).toBe(code);
    expect((err as RosterError).detail).toBeTypeOf('string');
    return err as RosterError;
  }
}

const FILTER_TOKENS = [
  'userName',
  'emails',
  'name.familyName',
  `${USER}:userName`,
  'members.$ref',
  '.value',
  'eq',
  'EQ',
  'co',
  'pr',
  'gt',
  'and',
  'OR',
  'not',
  'not(',
  '(',
  ')',
  '[',
  ']',
  '"x"',
  '"a\\"b"',
  '"\\u00e9"',
  '"\\u12"',
  '"',
  '\\',
  '1',
  '-1.5e3',
  '1e999',
  'true',
  'null',
  ' ',
  '  ',
  '\t',
  ':',
  '.',
  '$',
  '\u0000',
  'é',
];
const tokenSoup = fc
  .tuple(fc.array(fc.constantFrom(...FILTER_TOKENS), { maxLength: 30 }), fc.constantFrom('', ' '))
  .map(([tokens, glue]) => tokens.join(glue));

/** The text of a filter, cut short, missing a character or with a token put in somewhere. */
function damagedFilterText(filters: fc.Arbitrary<Filter>): fc.Arbitrary<string> {
  const damage = fc.oneof(
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
    fc.record({ kind: fc.constant('drop' as const), at: fc.nat() }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(),
      token: fc.constantFrom(...FILTER_TOKENS),
    }),
  );
  return fc.tuple(filters, damage).map(([f, d]) => {
    const text = formatFilter(f);
    const at = d.at % (text.length + 1);
    if (d.kind === 'cut') return text.slice(0, at);
    if (d.kind === 'drop') return text.slice(0, at) + text.slice(at + 1);
    return text.slice(0, at) + d.token + text.slice(at);
  });
}

const anyText = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc.string({ unit: 'grapheme', maxLength: 60 }),
  tokenSoup,
  filterArb(valueArb, attrPathArb).map(formatFilter),
  damagedFilterText(filterArb(valueArb, attrPathArb)),
);

describe('properties', () => {
  it('parseFilter(formatFilter(f)) equals f', () => {
    fc.assert(
      fc.property(filterArb(valueArb, attrPathArb), (f) => {
        const text = formatFilter(f);
        fc.pre(text.length <= MAX_FILTER_LENGTH);
        expect(parseFilter(text)).toStrictEqual(plain(f));
      }),
      { numRuns: 1000 },
    );
  });

  it('parsePatchPath(formatPatchPath(p)) equals p', () => {
    const inner = filterArb(valueArb, attrPathArb).filter((f) => !JSON.stringify(f).includes('"valuePath"'));
    const patchPathArb: fc.Arbitrary<PatchPath> = fc.oneof(
      fc.record({ path: attrPathArb }),
      fc.record(
        { path: attrPathArb, valueFilter: inner, sub: nameArb },
        { requiredKeys: ['path', 'valueFilter'] },
      ),
    );
    fc.assert(
      fc.property(patchPathArb, (pp) => {
        const text = formatPatchPath(pp);
        fc.pre(text.length <= MAX_FILTER_LENGTH);
        expect(parsePatchPath(text)).toStrictEqual(plain(pp));
      }),
      { numRuns: 1000 },
    );
  });

  it('parseFilter returns or refuses with scim.invalid_filter on any string, and what it returns round-trips', () => {
    let parsed = 0;
    fc.assert(
      fc.property(anyText, (text) => {
        const r = parsesOrRefuses(parseFilter, text, 'scim.invalid_filter');
        if (r instanceof RosterError) return;
        parsed++;
        expect(parseFilter(formatFilter(r))).toStrictEqual(r);
      }),
      { numRuns: 2000 },
    );
    expect(parsed).toBeGreaterThan(0);
  });

  it('parsePatchPath and parseAttrPath return or refuse with scim.invalid_path on any string', () => {
    fc.assert(
      fc.property(anyText, (text) => {
        const r = parsesOrRefuses(parsePatchPath, text, 'scim.invalid_path');
        if (!(r instanceof RosterError)) expect(parsePatchPath(formatPatchPath(r))).toStrictEqual(r);
        const a = parsesOrRefuses(parseAttrPath, text, 'scim.invalid_path');
        if (!(a instanceof RosterError)) expect(parseAttrPath(formatAttrPath(a))).toStrictEqual(a);
      }),
      { numRuns: 2000 },
    );
  });

  it('no error detail repeats a value or attribute name of a damaged filter', () => {
    const secretValues = fc.oneof(
      fc.constantFrom('SECRET-alice@example.com', 'secret "quoted" \\ value', 'SeCrEt\n'),
      fc.integer().map((n) => `secret${n}`),
    );
    const secretPaths = fc.record(
      {
        uri: fc.constant('urn:secret:schema'),
        attr: fc.constantFrom('secretAttr', 'Secret_x'),
        sub: nameArb,
      },
      { requiredKeys: ['attr'] },
    );
    const refusers: [(s: string) => unknown, ErrorCode][] = [
      [parseFilter, 'scim.invalid_filter'],
      [(s) => parsePatchPath(`emails[${s}]`), 'scim.invalid_path'],
    ];
    let refused = 0;
    fc.assert(
      fc.property(damagedFilterText(filterArb(secretValues, secretPaths)), (damaged) => {
        for (const [parse, code] of refusers) {
          const r = parsesOrRefuses(parse, damaged, code);
          if (!(r instanceof RosterError)) continue;
          refused++;
          expect(r.detail?.toLowerCase()).not.toContain('secret');
        }
      }),
      { numRuns: 1000 },
    );
    expect(refused).toBeGreaterThan(500);
  });
});
