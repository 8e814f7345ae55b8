import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { RosterError } from '../../../src/platform/errors.js';
import type { AttributeDef, AttrPath, Filter } from '../../../src/scim/ast.js';
import { parseFilter } from '../../../src/scim/filter.js';
import {
  type AttributeLookup,
  applyPatch,
  matchesFilter,
  type PatchOptions,
} from '../../../src/scim/patch.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 120_000, hookTimeout: 60_000 });

// ---- a small User-like and Group-like schema, and a lookup over them

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

function attr(
  name: string,
  type: AttributeDef['type'] = 'string',
  more: Partial<AttributeDef> = {},
): AttributeDef {
  return {
    name,
    type,
    multiValued: false,
    description: name,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...more,
  };
}

const multiValue = (name: string, extra: AttributeDef[] = []): AttributeDef =>
  attr(name, 'complex', {
    multiValued: true,
    subAttributes: [
      attr('value', 'string', { required: true }),
      attr('display'),
      attr('type', 'string', { canonicalValues: ['work', 'home', 'other'] }),
      attr('primary', 'boolean'),
      ...extra,
    ],
  });

const USER_ATTRS: AttributeDef[] = [
  attr('id', 'string', { mutability: 'readOnly', caseExact: true, returned: 'always' }),
  attr('externalId', 'string', { caseExact: true }),
  attr('userName', 'string', { required: true, uniqueness: 'server' }),
  attr('name', 'complex', {
    subAttributes: [attr('formatted'), attr('familyName'), attr('givenName')],
  }),
  attr('displayName'),
  attr('nickName'),
  attr('title'),
  attr('active', 'boolean'),
  multiValue('emails'),
  multiValue('phoneNumbers'),
  attr('addresses', 'complex', {
    multiValued: true,
    subAttributes: [
      attr('formatted'),
      attr('streetAddress'),
      attr('locality'),
      attr('region'),
      attr('postalCode'),
      attr('country'),
      attr('type'),
      attr('primary', 'boolean'),
    ],
  }),
  attr('groups', 'complex', {
    multiValued: true,
    mutability: 'readOnly',
    subAttributes: [
      attr('value', 'string', { mutability: 'readOnly' }),
      attr('$ref', 'reference', { mutability: 'readOnly', referenceTypes: ['Group'] }),
      attr('display', 'string', { mutability: 'readOnly' }),
      attr('type', 'string', { mutability: 'readOnly' }),
    ],
  }),
  attr('meta', 'complex', {
    mutability: 'readOnly',
    subAttributes: [
      attr('resourceType', 'string', { mutability: 'readOnly' }),
      attr('created', 'dateTime', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', { mutability: 'readOnly' }),
      attr('version', 'string', { mutability: 'readOnly' }),
    ],
  }),
  // Not in the brief's list: one attribute of each remaining type, for the type checks.
  attr('loginCount', 'integer'),
  attr('score', 'decimal'),
  attr('hiredAt', 'dateTime'),
  attr('badge', 'binary'),
  attr('tags', 'string', { multiValued: true }),
];

const ENTERPRISE_ATTRS: AttributeDef[] = [
  attr('employeeNumber'),
  attr('department'),
  attr('manager', 'complex', {
    subAttributes: [
      attr('value', 'string', { caseExact: true }),
      attr('displayName', 'string', { mutability: 'readOnly' }),
    ],
  }),
];

const GROUP_ATTRS: AttributeDef[] = [
  attr('id', 'string', { mutability: 'readOnly', caseExact: true }),
  attr('externalId', 'string', { caseExact: true }),
  attr('displayName', 'string', { required: true }),
  attr('members', 'complex', {
    multiValued: true,
    subAttributes: [
      attr('value', 'string', { mutability: 'immutable', caseExact: true }),
      attr('display', 'string', { mutability: 'readOnly' }),
      attr('type', 'string', { mutability: 'immutable', canonicalValues: ['User', 'Group'] }),
      attr('$ref', 'reference', { mutability: 'immutable', referenceTypes: ['User', 'Group'] }),
    ],
  }),
];

interface Schema {
  readonly id: string;
  readonly attributes: readonly AttributeDef[];
}

const invalidPath = (detail: string) => new RosterError('scim.invalid_path', { detail });

/** Core schema first; an unqualified name is looked up in the core, then the extensions. */
function lookupOver(schemas: readonly Schema[]): AttributeLookup {
  return (p: AttrPath) => {
    const candidates =
      p.uri === undefined ? schemas : schemas.filter((s) => s.id.toLowerCase() === p.uri?.toLowerCase());
    if (candidates.length === 0) throw invalidPath('unknown schema');
    for (const s of candidates) {
      const def = s.attributes.find((a) => a.name.toLowerCase() === p.attr.toLowerCase());
      if (def === undefined) continue;
      if (p.sub === undefined) return { schema: s.id, def };
      const sub = def.subAttributes?.find((a) => a.name.toLowerCase() === p.sub?.toLowerCase());
      if (sub === undefined) throw invalidPath(`${def.name} has no sub-attribute ${p.sub}`);
      return { schema: s.id, def, sub };
    }
    throw invalidPath(`unknown attribute ${p.attr}`);
  };
}

const userLookup = lookupOver([
  { id: USER, attributes: USER_ATTRS },
  { id: ENTERPRISE, attributes: ENTERPRISE_ATTRS },
]);
const groupLookup = lookupOver([{ id: GROUP, attributes: GROUP_ATTRS }]);

const defOf = (attrs: readonly AttributeDef[], name: string): AttributeDef => {
  const d = attrs.find((a) => a.name === name);
  if (d === undefined) throw new Error(name);
  return d;
};
const EMAILS = defOf(USER_ATTRS, 'emails');
const TAGS = defOf(USER_ATTRS, 'tags');
const MEMBERS = defOf(GROUP_ATTRS, 'members');

// ---- fixtures and helpers

type Doc = Record<string, unknown>;

function deepFreeze<T>(v: T): T {
  if (typeof v === 'object' && v !== null) {
    for (const k of Object.keys(v)) deepFreeze((v as Record<string, unknown>)[k]);
    Object.freeze(v);
  }
  return v;
}

function bjensen(): Doc {
  return {
    schemas: [USER, ENTERPRISE],
    id: '2819c223-7f76-453a-919d-413861904646',
    externalId: 'bjensen',
    userName: 'bjensen@example.com',
    name: { formatted: 'Ms. Barbara J Jensen III', familyName: 'Jensen', givenName: 'Barbara' },
    displayName: 'Babs Jensen',
    active: true,
    emails: [
      { value: 'bjensen@example.com', type: 'work', primary: true },
      { value: 'babs@jensen.org', type: 'home' },
    ],
    addresses: [
      { type: 'work', streetAddress: '100 Universal City Plaza', locality: 'Hollywood', primary: true },
      { type: 'home', streetAddress: '456 Hollywood Blvd', locality: 'Hollywood' },
    ],
    groups: [{ value: 'e9e30dba', display: 'Tour Guides', type: 'direct' }],
    [ENTERPRISE]: {
      employeeNumber: '701984',
      department: 'Tour Operations',
      manager: { value: '26118915-6090-4610-87e4-49d8ca9f808d', displayName: 'John Smith' },
    },
    meta: {
      resourceType: 'User',
      created: '2010-01-23T04:56:22Z',
      lastModified: '2011-05-13T04:42:34Z',
      version: 'W/"3694e05e9dff590"',
    },
  };
}

const MEMBER_1 = '2819c223-7f76-453a-919d-413861904646';
const MEMBER_2 = '902c246b-6245-4190-8e05-00816be7344a';
const MEMBER_3 = '6c5bb468-14b2-4183-baf2-06d523e03bd3';

function tourGuides(): Doc {
  return {
    schemas: [GROUP],
    id: 'e9e30dba-f08f-4109-8486-d5c6a331660a',
    displayName: 'Tour Guides',
    members: [
      { value: MEMBER_1, $ref: `https://example.com/v2/Users/${MEMBER_1}`, type: 'User' },
      { value: MEMBER_2, $ref: `https://example.com/v2/Users/${MEMBER_2}`, type: 'User' },
    ],
  };
}

function patchUser(doc: Doc, ops: unknown, opts?: PatchOptions) {
  return applyPatch(deepFreeze(doc), deepFreeze(ops), userLookup, opts);
}
function patchGroup(doc: Doc, ops: unknown, opts?: PatchOptions) {
  return applyPatch(deepFreeze(doc), deepFreeze(ops), groupLookup, opts);
}

/** The RosterError a call throws (fails the test when it throws nothing or something else). */
function caught(fn: () => unknown): RosterError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RosterError) return err;
    throw err;
  }
  throw new Error('expected a RosterError');
}

const ent = (doc: Doc) => doc[ENTERPRISE] as Doc;

// ---- RFC 7644 §3.5.2 examples

describe('applyPatch: the examples of RFC 7644 §3.5.2', () => {
  it('§3.5.2.1 adds a member to a group (its read-only display is ignored)', () => {
    const { doc, changed } = patchGroup(tourGuides(), [
      {
        op: 'add',
        path: 'members',
        value: [
          { display: 'Babs Jensen', $ref: `https://example.com/v2/Users/${MEMBER_3}`, value: MEMBER_3 },
        ],
      },
    ]);
    expect(changed).toBe(true);
    expect(doc.members).toEqual([
      ...(tourGuides().members as unknown[]),
      { value: MEMBER_3, $ref: `https://example.com/v2/Users/${MEMBER_3}` },
    ]);
  });

  it('§3.5.2.1 adds without a path: every key of the value is an attribute', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'add', value: { emails: [{ value: 'babs@jensen.org', type: 'home' }], nickName: 'Babs' } },
    ]);
    // The home e-mail is there already: not added twice.
    expect(doc.emails).toEqual(bjensen().emails);
    expect(doc.nickName).toBe('Babs');
  });

  it('§3.5.2.2 removes one member by a value filter', () => {
    const { doc } = patchGroup(tourGuides(), [{ op: 'remove', path: `members[value eq "${MEMBER_1}"]` }]);
    expect(doc.members).toEqual([(tourGuides().members as unknown[])[1]]);
  });

  it('§3.5.2.2 removes all members', () => {
    const { doc, changed } = patchGroup(tourGuides(), [{ op: 'remove', path: 'members' }]);
    expect(changed).toBe(true);
    expect(doc).not.toHaveProperty('members');
  });

  it('§3.5.2.2 removes a sub-attribute of a complex value, and a work address', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'remove', path: 'name.formatted' },
      { op: 'remove', path: 'addresses[type eq "work"]' },
    ]);
    expect(doc.name).toEqual({ familyName: 'Jensen', givenName: 'Barbara' });
    expect(doc.addresses).toEqual([(bjensen().addresses as unknown[])[1]]);
  });

  it('§3.5.2.2 replaces all members by a remove and an add in one request', () => {
    const { doc } = patchGroup(tourGuides(), [
      { op: 'remove', path: 'members' },
      { op: 'add', path: 'members', value: [{ value: MEMBER_3, display: 'James Smith' }] },
    ]);
    expect(doc.members).toEqual([{ value: MEMBER_3 }]);
  });

  it('§3.5.2.3 replaces all members', () => {
    const { doc } = patchGroup(tourGuides(), [
      { op: 'replace', path: 'members', value: [{ value: MEMBER_3 }, { value: MEMBER_1, type: 'User' }] },
    ]);
    expect(doc.members).toEqual([{ value: MEMBER_3 }, { value: MEMBER_1, type: 'User' }]);
  });

  it('§3.5.2.3 replaces a work address (merging: sub-attributes not given stay)', () => {
    const { doc } = patchUser(bjensen(), [
      {
        op: 'replace',
        path: 'addresses[type eq "work"]',
        value: {
          type: 'work',
          streetAddress: '911 Universal City Plaza',
          postalCode: '91608',
          primary: true,
        },
      },
    ]);
    expect((doc.addresses as Doc[])[0]).toEqual({
      type: 'work',
      streetAddress: '911 Universal City Plaza',
      locality: 'Hollywood',
      postalCode: '91608',
      primary: true,
    });
  });

  it('§3.5.2.3 replaces one sub-attribute of the matching elements', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'replace', path: 'addresses[type eq "work"].streetAddress', value: '1010 Broadway Ave' },
      { op: 'replace', path: 'emails[type eq "work"].value', value: 'barbara@example.com' },
    ]);
    expect((doc.addresses as Doc[])[0]?.streetAddress).toBe('1010 Broadway Ave');
    expect((doc.addresses as Doc[])[1]?.streetAddress).toBe('456 Hollywood Blvd');
    expect(doc.emails).toEqual([
      { value: 'barbara@example.com', type: 'work', primary: true },
      { value: 'babs@jensen.org', type: 'home' },
    ]);
  });

  it('§3.5.2.3 replaces without a path', () => {
    const { doc } = patchUser(bjensen(), [
      {
        op: 'replace',
        value: { emails: [{ value: 'bjensen@example.com', type: 'work' }], nickName: 'Babs' },
      },
    ]);
    expect(doc.emails).toEqual([{ value: 'bjensen@example.com', type: 'work' }]);
    expect(doc.nickName).toBe('Babs');
  });
});

// ---- identity providers' request shapes

describe('applyPatch: Okta and Entra ID requests', () => {
  it('Okta deactivates a user with a no-path replace', () => {
    const body = { schemas: [PATCH_OP], Operations: [{ op: 'replace', value: { active: false } }] };
    const { doc, changed } = patchUser(bjensen(), body.Operations);
    expect(changed).toBe(true);
    expect(doc.active).toBe(false);
  });

  it('Okta renames a group, echoing its id', () => {
    const id = tourGuides().id;
    const { doc } = patchGroup(tourGuides(), [{ op: 'replace', value: { id, displayName: 'Guides' } }]);
    expect(doc.displayName).toBe('Guides');
    expect(doc.id).toBe(id);
  });

  it('Okta removes a member by filter and adds one with its display', () => {
    const { doc } = patchGroup(tourGuides(), [
      { op: 'remove', path: `members[value eq "${MEMBER_2}"]` },
      { op: 'add', path: 'members', value: [{ value: MEMBER_3, display: 'ann@example.com' }] },
    ]);
    expect((doc.members as Doc[]).map((m) => m.value)).toEqual([MEMBER_1, MEMBER_3]);
  });

  it('Entra ID: "False" for a boolean, capitalised ops', () => {
    const { doc } = patchUser(bjensen(), [{ op: 'Replace', path: 'active', value: 'False' }]);
    expect(doc.active).toBe(false);
    const again = patchUser(doc, [{ op: 'Replace', path: 'active', value: 'TRUE' }]);
    expect(again.doc.active).toBe(true);
    const same = patchUser(bjensen(), [{ op: 'Replace', path: 'active', value: 'true' }]);
    expect(same.changed).toBe(false);
  });

  it('Entra ID: the manager as a bare string is {value}', () => {
    const doc0 = bjensen();
    delete (doc0[ENTERPRISE] as Doc).manager;
    const { doc } = patchUser(doc0, [
      { op: 'Add', path: `${ENTERPRISE}:manager`, value: '5f3c1a9e-0000-4000-8000-000000000001' },
    ]);
    expect(ent(doc).manager).toEqual({ value: '5f3c1a9e-0000-4000-8000-000000000001' });
    // Replacing it keeps the read-only displayName the server derives (the caller recomputes it).
    const next = patchUser(bjensen(), [{ op: 'Replace', path: `${ENTERPRISE}:manager`, value: 'other-id' }]);
    expect(ent(next.doc).manager).toEqual({ value: 'other-id', displayName: 'John Smith' });
  });

  it('Entra ID: a no-path replace whose keys are paths (dotted, filtered, URN-qualified)', () => {
    const { doc } = patchUser(bjensen(), [
      {
        op: 'replace',
        value: {
          displayName: 'Barbara Jensen',
          'emails[type eq "work"].value': 'barbara@example.com',
          'name.givenName': 'Barb',
          'name.familyName': 'Jensen-Smith',
          externalId: 'bj-01',
          [`${ENTERPRISE}:employeeNumber`]: '42',
          [`${ENTERPRISE}:manager.value`]: 'mgr-2',
        },
      },
    ]);
    expect(doc.displayName).toBe('Barbara Jensen');
    expect((doc.emails as Doc[])[0]?.value).toBe('barbara@example.com');
    expect(doc.name).toEqual({
      formatted: 'Ms. Barbara J Jensen III',
      familyName: 'Jensen-Smith',
      givenName: 'Barb',
    });
    expect(doc.externalId).toBe('bj-01');
    expect(ent(doc).employeeNumber).toBe('42');
    expect(ent(doc).manager).toEqual({ value: 'mgr-2', displayName: 'John Smith' });
  });

  it('Entra ID: a no-path add with the extension as a nested object', () => {
    const doc0 = bjensen();
    delete doc0[ENTERPRISE];
    doc0.schemas = [USER];
    const { doc } = patchUser(doc0, [
      {
        op: 'Add',
        value: { [ENTERPRISE]: { department: 'Sales', manager: { value: 'm1' } }, title: 'Lead' },
      },
    ]);
    expect(doc[ENTERPRISE]).toEqual({ department: 'Sales', manager: { value: 'm1' } });
    expect(doc.title).toBe('Lead');
    // The document's schemas now name the extension.
    expect(doc.schemas).toEqual([USER, ENTERPRISE]);
  });

  it('a path that is an extension URN stands for the attributes of that extension', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'add', path: ENTERPRISE, value: { department: 'Sales', employeeNumber: '7' } },
    ]);
    expect(ent(doc)).toEqual({ ...ent(bjensen()), department: 'Sales', employeeNumber: '7' });
    expect(
      caught(() => patchUser(bjensen(), [{ op: 'add', path: ENTERPRISE, value: { title: 'x' } }])).code,
    ).toBe('scim.invalid_path');
    expect(caught(() => patchUser(bjensen(), [{ op: 'remove', path: ENTERPRISE }])).code).toBe(
      'scim.invalid_path',
    );
  });

  it('Entra ID: remove with path members and a value list removes only those members', () => {
    const doc0 = tourGuides();
    (doc0.members as Doc[]).push({ value: MEMBER_3, type: 'User' });
    const { doc } = patchGroup(doc0, [
      { op: 'Remove', path: 'members', value: [{ value: MEMBER_1 }, { value: MEMBER_3 }] },
    ]);
    expect((doc.members as Doc[]).map((m) => m.value)).toEqual([MEMBER_2]);
    // Members not there: nothing to do.
    const none = patchGroup(tourGuides(), [{ op: 'Remove', path: 'members', value: [{ value: MEMBER_3 }] }]);
    expect(none.changed).toBe(false);
  });

  it('Entra ID: adding members that are there already adds nothing', () => {
    const { doc, changed } = patchGroup(tourGuides(), [
      { op: 'Add', path: 'members', value: [{ value: MEMBER_1 }, { value: MEMBER_2 }] },
    ]);
    expect(changed).toBe(false);
    expect(doc).toEqual(tourGuides());
  });

  it('createOnNoMatch: an add whose eq filter matches nothing creates the element (opt-in); a replace still fails', () => {
    const doc0 = bjensen();
    doc0.emails = [{ value: 'babs@jensen.org', type: 'home' }];
    const add = [{ op: 'add', path: 'emails[type eq "work"].value', value: 'b@example.com' }];
    expect(caught(() => patchUser(doc0, add)).code).toBe('scim.no_target');
    const { doc } = patchUser(doc0, add, { createOnNoMatch: true });
    expect(doc.emails).toEqual([
      { value: 'babs@jensen.org', type: 'home' },
      { type: 'work', value: 'b@example.com' },
    ]);
    // RFC 7644 §3.5.2.3: a replace whose filter matches nothing is noTarget, whatever the option.
    const replace = [{ op: 'replace', path: 'emails[type eq "work"].value', value: 'b@example.com' }];
    expect(caught(() => patchUser(doc0, replace, { createOnNoMatch: true })).code).toBe('scim.no_target');
    // A filter that describes no element still fails.
    const vague = [{ op: 'add', path: 'emails[type co "wo"].value', value: 'b@example.com' }];
    expect(caught(() => patchUser(doc0, vague, { createOnNoMatch: true })).code).toBe('scim.no_target');
  });
});

// ---- one describe per rule

describe('applyPatch: operations and their shape', () => {
  it('accepts op names in any case', () => {
    for (const op of ['add', 'Add', 'ADD', 'replace', 'Replace', 'rEpLaCe']) {
      expect(patchUser(bjensen(), [{ op, path: 'title', value: 'Boss' }]).doc.title).toBe('Boss');
    }
    expect(patchUser(bjensen(), [{ op: 'REMOVE', path: 'displayName' }]).doc).not.toHaveProperty(
      'displayName',
    );
  });

  it.each([
    ['not an array', { op: 'add' }],
    ['an operation that is not an object', ['add']],
    ['a null operation', [null]],
    ['no op', [{ path: 'title', value: 'x' }]],
    ['a numeric op', [{ op: 1, path: 'title', value: 'x' }]],
    ['an unknown op', [{ op: 'move', path: 'title', value: 'x' }]],
    ['a JSON Patch op', [{ op: 'test', path: 'title', value: 'x' }]],
    ['a path that is not a string', [{ op: 'add', path: ['title'], value: 'x' }]],
  ])('rejects %s: scim.invalid_syntax', (_, ops) => {
    expect(caught(() => patchUser(bjensen(), ops)).code).toBe('scim.invalid_syntax');
  });

  it('add and replace need a value (scim.invalid_value), remove needs a path (scim.no_target)', () => {
    expect(caught(() => patchUser(bjensen(), [{ op: 'add', path: 'title' }])).code).toBe(
      'scim.invalid_value',
    );
    expect(caught(() => patchUser(bjensen(), [{ op: 'replace' }])).code).toBe('scim.invalid_value');
    expect(caught(() => patchUser(bjensen(), [{ op: 'replace', value: 'x' }])).code).toBe(
      'scim.invalid_value',
    );
    const e = caught(() =>
      patchUser(bjensen(), [{ op: 'add', path: 'title', value: 'x' }, { op: 'remove' }]),
    );
    expect(e.code).toBe('scim.no_target');
    expect(e.detail).toMatch(/^Operations\[1\]/);
  });

  it('an empty list of operations changes nothing; more than maxOperations is scim.too_many', () => {
    expect(patchUser(bjensen(), []).changed).toBe(false);
    const ops = Array.from({ length: 3 }, () => ({ op: 'add', path: 'title', value: 'x' }));
    expect(caught(() => patchUser(bjensen(), ops, { maxOperations: 2 })).code).toBe('scim.too_many');
  });

  it.each([
    'unknown',
    'name.unknown',
    'emails[type eq "work"].unknown',
    'title[value eq "x"]',
    'name.givenName[value eq "x"]',
    'emails.value',
    'urn:example:unknown:1.0:User:title',
    'emails[type eq "work"',
    'emails[type eq "work"]]',
    '',
    '  ',
  ])('rejects the path %j: scim.invalid_path', (path) => {
    expect(caught(() => patchUser(bjensen(), [{ op: 'replace', path, value: 'x' }])).code).toBe(
      'scim.invalid_path',
    );
  });

  it('rejects unknown keys in values: scim.invalid_path', () => {
    const e = caught(() =>
      patchUser(bjensen(), [
        { op: 'add', path: 'title', value: 't' },
        { op: 'replace', value: { nope: 1 } },
      ]),
    );
    expect(e.errors).toEqual([{ pointer: '/Operations/1/value', detail: expect.stringContaining('nope') }]);
    expect(caught(() => patchUser(bjensen(), [{ op: 'replace', value: { nope: 1 } }])).code).toBe(
      'scim.invalid_path',
    );
    expect(
      caught(() =>
        patchUser(bjensen(), [{ op: 'add', path: 'emails', value: [{ value: 'a@b.c', kind: 'x' }] }]),
      ).code,
    ).toBe('scim.invalid_path');
    expect(
      caught(() => patchUser(bjensen(), [{ op: 'add', value: { [ENTERPRISE]: { nope: 'x' } } }])).code,
    ).toBe('scim.invalid_path');
  });

  it('rejects value filters it cannot evaluate: scim.invalid_filter', () => {
    for (const path of ['emails[nope eq "x"]', 'emails[primary gt true]', 'emails[value.sub eq "x"]']) {
      expect(caught(() => patchUser(bjensen(), [{ op: 'remove', path }])).code).toBe('scim.invalid_filter');
    }
  });
});

describe('applyPatch: paths', () => {
  it('sub-attributes, creating the complex value when absent', () => {
    const doc0 = bjensen();
    delete doc0.name;
    const { doc } = patchUser(doc0, [{ op: 'add', path: 'name.givenName', value: 'Barbara' }]);
    expect(doc.name).toEqual({ givenName: 'Barbara' });
  });

  it('attribute names and schema URNs in any case', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'replace', path: 'NAME.GIVENNAME', value: 'B' },
      { op: 'replace', path: `${ENTERPRISE.toUpperCase()}:DEPARTMENT`, value: 'R&D' },
      { op: 'replace', path: `${USER}:displayName`, value: 'BJ' },
    ]);
    expect((doc.name as Doc).givenName).toBe('B');
    expect(ent(doc).department).toBe('R&D');
    expect(doc.displayName).toBe('BJ');
    expect(Object.keys(doc)).not.toContain('NAME');
  });

  it('extension attributes live under the URN key; the last one removed takes the key away', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'remove', path: `${ENTERPRISE}:department` },
      { op: 'remove', path: `${ENTERPRISE}:employeeNumber` },
      { op: 'replace', path: `${ENTERPRISE}:manager.value`, value: 'm2' },
    ]);
    expect(doc[ENTERPRISE]).toEqual({ manager: { value: 'm2', displayName: 'John Smith' } });
    const gone = patchUser(doc, [{ op: 'remove', path: `${ENTERPRISE}:manager` }]);
    expect(gone.doc).not.toHaveProperty(ENTERPRISE);
    expect(gone.doc.schemas).toEqual([USER]);
  });

  it('a filter path with a sub-attribute on several matching elements', () => {
    const doc0 = bjensen();
    doc0.phoneNumbers = [
      { value: '555-1', type: 'work' },
      { value: '555-2', type: 'mobile' },
      { value: '555-3', type: 'WORK' },
    ];
    const { doc } = patchUser(doc0, [
      { op: 'add', path: 'phoneNumbers[type eq "work"].display', value: 'desk' },
    ]);
    expect(doc.phoneNumbers).toEqual([
      { value: '555-1', type: 'work', display: 'desk' },
      { value: '555-2', type: 'mobile' },
      { value: '555-3', type: 'WORK', display: 'desk' },
    ]);
  });

  it('removes a sub-attribute of the matching elements', () => {
    const { doc } = patchUser(bjensen(), [{ op: 'remove', path: 'addresses[type eq "home"].locality' }]);
    expect((doc.addresses as Doc[])[1]).toEqual({ type: 'home', streetAddress: '456 Hollywood Blvd' });
  });

  it('multi-valued attributes of simple values: the element is its value', () => {
    const doc0 = { ...bjensen(), tags: ['red', 'green'] };
    const added = patchUser(doc0, [{ op: 'add', path: 'tags', value: ['GREEN', 'blue'] }]);
    expect(added.doc.tags).toEqual(['red', 'green', 'blue']);
    const removed = patchUser(doc0, [{ op: 'remove', path: 'tags[value sw "r"]' }]);
    expect(removed.doc.tags).toEqual(['green']);
    const replaced = patchUser(doc0, [{ op: 'replace', path: 'tags[value eq "green"]', value: 'teal' }]);
    expect(replaced.doc.tags).toEqual(['red', 'teal']);
  });
});

describe('applyPatch: multi-valued attributes', () => {
  it('add appends, without a duplicate of an identical value (case as caseExact says)', () => {
    const { doc } = patchUser(bjensen(), [
      {
        op: 'add',
        path: 'emails',
        value: [
          { value: 'BJENSEN@example.com', type: 'WORK', primary: true },
          { value: 'new@example.com', type: 'other' },
          { value: 'new@example.com', type: 'other' },
        ],
      },
    ]);
    expect(doc.emails).toEqual([
      ...(bjensen().emails as unknown[]),
      { value: 'new@example.com', type: 'other' },
    ]);
  });

  it('add takes one value without an array', () => {
    const { doc } = patchUser(bjensen(), [{ op: 'add', path: 'emails', value: { value: 'x@example.com' } }]);
    expect((doc.emails as Doc[]).at(-1)).toEqual({ value: 'x@example.com' });
  });

  it('add of a member with the value of one there adds nothing, whatever else it says', () => {
    const { changed } = patchGroup(tourGuides(), [
      { op: 'add', path: 'members', value: { value: MEMBER_1, display: 'Someone', type: 'User' } },
    ]);
    expect(changed).toBe(false);
  });

  it('replace of the whole attribute replaces every value; null or [] unassigns it', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'replace', path: 'emails', value: [{ value: 'only@example.com' }] },
    ]);
    expect(doc.emails).toEqual([{ value: 'only@example.com' }]);
    expect(patchUser(bjensen(), [{ op: 'replace', path: 'emails', value: [] }]).doc).not.toHaveProperty(
      'emails',
    );
    expect(patchUser(bjensen(), [{ op: 'replace', path: 'emails', value: null }]).doc).not.toHaveProperty(
      'emails',
    );
    // add of nothing adds nothing
    expect(patchUser(bjensen(), [{ op: 'add', path: 'emails', value: [] }]).changed).toBe(false);
  });

  it('a remove whose filter matches every element unassigns the attribute', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'remove', path: 'emails[value ew ".com" or value ew ".org"]' },
    ]);
    expect(doc).not.toHaveProperty('emails');
  });

  it('a value filter matching nothing: scim.no_target for replace, add and remove', () => {
    for (const op of ['replace', 'add', 'remove']) {
      const e = caught(() =>
        patchUser(bjensen(), [{ op, path: 'emails[type eq "other"].value', value: 'x' }]),
      );
      expect(e.code).toBe('scim.no_target');
      expect(e.detail).toBe(
        'Operations[0]: no element of emails matches the filter of emails[type eq …].value',
      );
    }
    const doc0 = bjensen();
    delete doc0.phoneNumbers;
    expect(caught(() => patchUser(doc0, [{ op: 'remove', path: 'phoneNumbers[type eq "work"]' }])).code).toBe(
      'scim.no_target',
    );
  });

  it('a new element must carry its required sub-attributes', () => {
    const e = caught(() => patchUser(bjensen(), [{ op: 'add', path: 'emails', value: [{ type: 'work' }] }]));
    expect(e.code).toBe('scim.invalid_value');
    expect(caught(() => patchUser(bjensen(), [{ op: 'add', path: 'emails', value: [null] }])).code).toBe(
      'scim.invalid_value',
    );
  });
});

describe('applyPatch: complex single-valued attributes', () => {
  it('replace and add merge: sub-attributes not given stay (RFC 7644 §3.5.2.3)', () => {
    for (const op of ['replace', 'add']) {
      const { doc } = patchUser(bjensen(), [{ op, path: 'name', value: { givenName: 'Barb' } }]);
      expect(doc.name).toEqual({
        formatted: 'Ms. Barbara J Jensen III',
        familyName: 'Jensen',
        givenName: 'Barb',
      });
    }
  });

  it('a null sub-attribute in the value unassigns it; an array is not a complex value', () => {
    const { doc } = patchUser(bjensen(), [{ op: 'replace', path: 'name', value: { formatted: null } }]);
    expect(doc.name).toEqual({ familyName: 'Jensen', givenName: 'Barbara' });
    expect(caught(() => patchUser(bjensen(), [{ op: 'replace', path: 'name', value: [{}] }])).code).toBe(
      'scim.invalid_value',
    );
    expect(caught(() => patchUser(bjensen(), [{ op: 'replace', path: 'name', value: 'Barbara' }])).code).toBe(
      'scim.invalid_value',
    );
  });
});

describe('applyPatch: primary', () => {
  it('adding a primary value clears primary on the others', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'add', path: 'emails', value: [{ value: 'p@example.com', type: 'other', primary: true }] },
    ]);
    expect(doc.emails).toEqual([
      { value: 'bjensen@example.com', type: 'work', primary: false },
      { value: 'babs@jensen.org', type: 'home' },
      { value: 'p@example.com', type: 'other', primary: true },
    ]);
  });

  it('setting primary through a filter clears it on the others', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'replace', path: 'emails[type eq "home"].primary', value: true },
    ]);
    expect(doc.emails).toEqual([
      { value: 'bjensen@example.com', type: 'work', primary: false },
      { value: 'babs@jensen.org', type: 'home', primary: true },
    ]);
    const merged = patchUser(bjensen(), [
      { op: 'replace', path: 'addresses[type eq "home"]', value: { primary: true } },
    ]);
    expect((merged.doc.addresses as Doc[]).map((a) => a.primary)).toEqual([false, true]);
  });

  it('two primary values at once: scim.invalid_value', () => {
    const two = [
      { value: 'a@example.com', primary: true },
      { value: 'b@example.com', primary: true },
    ];
    expect(caught(() => patchUser(bjensen(), [{ op: 'replace', path: 'emails', value: two }])).code).toBe(
      'scim.invalid_value',
    );
    expect(caught(() => patchUser(bjensen(), [{ op: 'add', path: 'emails', value: two }])).code).toBe(
      'scim.invalid_value',
    );
    expect(
      caught(() => patchUser(bjensen(), [{ op: 'replace', path: 'emails[value pr].primary', value: true }]))
        .code,
    ).toBe('scim.invalid_value');
  });
});

describe('applyPatch: mutability and required attributes', () => {
  it.each([
    ['replace id', { op: 'replace', path: 'id', value: 'other' }],
    ['remove id', { op: 'remove', path: 'id' }],
    ['replace meta', { op: 'replace', path: 'meta', value: { version: 'W/"1"' } }],
    [
      'replace meta.lastModified',
      { op: 'replace', path: 'meta.lastModified', value: '2020-01-01T00:00:00Z' },
    ],
    ['add groups', { op: 'add', path: 'groups', value: [{ value: 'g2' }] }],
    ['remove groups', { op: 'remove', path: 'groups' }],
    ['remove one group', { op: 'remove', path: 'groups[value eq "e9e30dba"]' }],
    ['replace manager.displayName', { op: 'replace', path: `${ENTERPRISE}:manager.displayName`, value: 'X' }],
    ['a no-path id that differs', { op: 'replace', value: { id: 'other', title: 'x' } }],
    ['remove userName (required)', { op: 'remove', path: 'userName' }],
    ['replace userName with null (required)', { op: 'replace', path: 'userName', value: null }],
    ['remove a required sub-attribute', { op: 'remove', path: 'emails[type eq "work"].value' }],
  ])('%s: scim.mutability', (_, op) => {
    expect(caught(() => patchUser(bjensen(), [op])).code).toBe('scim.mutability');
  });

  it('read-only attributes given unchanged pass', () => {
    const b = bjensen();
    const { changed } = patchUser(bjensen(), [
      { op: 'replace', value: { id: b.id, meta: b.meta } },
      { op: 'replace', path: `${ENTERPRISE}:manager.displayName`, value: 'John Smith' },
    ]);
    expect(changed).toBe(false);
  });

  it('immutable: set while unassigned, never changed afterwards', () => {
    const e = caught(() =>
      patchGroup(tourGuides(), [
        { op: 'replace', path: `members[value eq "${MEMBER_1}"].value`, value: MEMBER_3 },
      ]),
    );
    expect(e.code).toBe('scim.mutability');
    expect(
      caught(() =>
        patchGroup(tourGuides(), [
          { op: 'replace', path: `members[value eq "${MEMBER_1}"]`, value: { type: 'Group' } },
        ]),
      ).code,
    ).toBe('scim.mutability');
    // type is unassigned on the new member: it may be set once.
    const doc0 = tourGuides();
    (doc0.members as Doc[]).push({ value: MEMBER_3 });
    const { doc } = patchGroup(doc0, [
      { op: 'add', path: `members[value eq "${MEMBER_3}"].type`, value: 'User' },
    ]);
    expect((doc.members as Doc[])[2]).toEqual({ value: MEMBER_3, type: 'User' });
    // removing a whole member is not changing its immutable sub-attributes
    expect(
      patchGroup(tourGuides(), [{ op: 'remove', path: `members[value eq "${MEMBER_1}"]` }]).changed,
    ).toBe(true);
  });
});

describe('applyPatch: values', () => {
  it.each([
    ['a number for a string', 'title', 5],
    ['an object for a string', 'title', { a: 1 }],
    ['an array for a single value', 'title', ['a']],
    ['"yes" for a boolean', 'active', 'yes'],
    ['1 for a boolean', 'active', 1],
    ['a string for an integer', 'loginCount', '5'],
    ['a fraction for an integer', 'loginCount', 1.5],
    ['a string for a decimal', 'score', '1.5'],
    ['a bad date-time', 'hiredAt', '2024-13-45'],
    ['a date without time', 'hiredAt', '2024-01-02'],
    ['bad base64', 'badge', 'not base64!'],
    ['a number for a sub-attribute', 'name.givenName', 7],
    ['a string for a manager value', `${ENTERPRISE}:manager.value`, false],
  ])('rejects %s: scim.invalid_value naming the path, never the value', (_, path, value) => {
    const e = caught(() => patchUser(bjensen(), [{ op: 'replace', path, value }]));
    expect(e.code).toBe('scim.invalid_value');
    expect(e.detail).toContain(path.replace(`${ENTERPRISE}:`, ''));
    expect(e.detail).toMatch(/^Operations\[0\]: /);
    if (typeof value === 'string' || typeof value === 'number') expect(e.detail).not.toContain(String(value));
  });

  it('accepts every type', () => {
    const { doc } = patchUser(bjensen(), [
      { op: 'add', path: 'loginCount', value: 3 },
      { op: 'add', path: 'score', value: 0.5 },
      { op: 'add', path: 'hiredAt', value: '2024-01-02T03:04:05.678+02:00' },
      { op: 'add', path: 'badge', value: 'aGVsbG8=' },
    ]);
    expect([doc.loginCount, doc.score, doc.hiredAt, doc.badge]).toEqual([
      3,
      0.5,
      '2024-01-02T03:04:05.678+02:00',
      'aGVsbG8=',
    ]);
  });

  it('null means unassigned for add and replace of single values', () => {
    expect(
      patchUser(bjensen(), [{ op: 'replace', path: 'displayName', value: null }]).doc,
    ).not.toHaveProperty('displayName');
    expect(patchUser(bjensen(), [{ op: 'add', value: { title: null } }]).changed).toBe(false);
  });

  it('error details never hold a value, even one in a filter', () => {
    const secret = 'secret.person@example.com';
    const attempts: unknown[][] = [
      [{ op: 'replace', path: `emails[value eq "${secret}"].value`, value: 'x@example.com' }],
      [{ op: 'remove', path: `emails[value eq "${secret}"]` }],
      [{ op: 'replace', path: `emails[value eq "${secret}"`, value: 'x' }],
      [{ op: 'replace', value: { [`emails[value eq "${secret}"].bogus`]: 'x' } }],
      [{ op: 'replace', value: { [secret]: 'x' } }],
      [{ op: 'add', path: 'emails', value: [{ value: secret, [secret]: 1 }] }],
      [{ op: 'replace', path: 'userName', value: { secret } }],
    ];
    for (const ops of attempts) {
      const e = caught(() => patchUser(bjensen(), ops));
      expect(e.detail).not.toContain('secret');
      expect(JSON.stringify(e.errors)).not.toContain('secret');
    }
  });
});

describe('applyPatch: purity, atomicity, prototype safety', () => {
  it('never changes its input and returns a new document', () => {
    const input = deepFreeze(bjensen());
    const { doc } = applyPatch(
      input,
      [{ op: 'add', path: 'emails', value: [{ value: 'n@example.com' }] }],
      userLookup,
    );
    expect(doc).not.toBe(input);
    expect(doc.emails).not.toBe(input.emails);
    expect(input).toEqual(bjensen());
  });

  it('a failing operation leaves nothing applied', () => {
    const input = bjensen();
    const e = caught(() =>
      applyPatch(
        input,
        [
          { op: 'replace', path: 'title', value: 'Boss' },
          { op: 'remove', path: 'emails[type eq "work"]' },
          { op: 'replace', path: 'id', value: 'x' },
        ],
        userLookup,
      ),
    );
    expect(e.detail).toMatch(/^Operations\[2\]/);
    expect(input).toEqual(bjensen());
  });

  it('changed is false when the result equals the input', () => {
    const b = bjensen();
    expect(
      patchUser(bjensen(), [
        { op: 'replace', path: 'displayName', value: b.displayName },
        { op: 'add', path: 'emails', value: [{ value: 'babs@jensen.org', type: 'home' }] },
        { op: 'replace', path: 'title', value: 'x' },
        { op: 'remove', path: 'title' },
        { op: 'remove', path: 'nickName' },
      ]).changed,
    ).toBe(false);
  });

  it('__proto__ and constructor never reach Object.prototype', () => {
    const attempts: unknown[] = [
      JSON.parse('[{"op":"add","value":{"__proto__":{"polluted":true}}}]'),
      JSON.parse('[{"op":"add","path":"name","value":{"__proto__":{"polluted":true}}}]'),
      JSON.parse('[{"op":"add","path":"emails","value":[{"value":"a@b.c","__proto__":{"polluted":true}}]}]'),
      [{ op: 'add', path: '__proto__.polluted', value: true }],
      [{ op: 'add', path: 'constructor.prototype', value: { polluted: true } }],
      [{ op: 'replace', path: '__proto__', value: { polluted: true } }],
      [{ op: 'replace', path: 'constructor', value: 'x' }],
      [{ op: 'replace', value: { constructor: { prototype: { polluted: true } } } }],
      [{ op: 'replace', path: 'emails[__proto__ eq "x"].value', value: 'x' }],
      [{ op: 'add', value: { [ENTERPRISE]: JSON.parse('{"__proto__":{"polluted":true}}') } }],
    ];
    for (const ops of attempts) {
      const e = caught(() => patchUser(bjensen(), ops));
      expect(e.code).toMatch(/^scim\./);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('polluted');
  });

  it('a __proto__ key already in the document stays an own key', () => {
    const input = JSON.parse('{"userName":"u","__proto__":{"polluted":true}}') as Doc;
    const { doc } = applyPatch(input, [{ op: 'add', path: 'title', value: 't' }], userLookup);
    expect(Object.getPrototypeOf(doc)).toBe(Object.prototype);
    expect(Object.hasOwn(doc, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

// ---- matchesFilter

describe('matchesFilter', () => {
  const work = { value: 'Bjensen@Example.com', type: 'work', primary: true, display: 'B' };
  const home = { value: 'babs@jensen.org', type: 'home' };
  const m = (el: unknown, f: string) => matchesFilter(el, parseFilter(f), EMAILS);

  it('compares strings as caseExact says', () => {
    expect(m(work, 'type eq "WORK"')).toBe(true);
    expect(m(work, 'value eq "bjensen@example.com"')).toBe(true);
    const exact: AttributeDef = {
      ...EMAILS,
      subAttributes: EMAILS.subAttributes?.map((s) => (s.name === 'type' ? { ...s, caseExact: true } : s)),
    };
    expect(matchesFilter(work, parseFilter('type eq "WORK"'), exact)).toBe(false);
    expect(matchesFilter(work, parseFilter('type eq "work"'), exact)).toBe(true);
  });

  it.each([
    ['type eq "work"', true, false],
    ['type ne "work"', false, true],
    ['value co "JENSEN"', true, true],
    ['value sw "bj"', true, false],
    ['value ew ".ORG"', false, true],
    ['value gt "bb"', true, false],
    ['value ge "babs@jensen.org"', true, true],
    ['value lt "bj"', false, true],
    ['value le "babs@jensen.org"', false, true],
    ['primary pr', true, false],
    ['display pr', true, false],
    ['primary eq true', true, false],
    ['primary ne true', false, true],
    ['type eq "work" and primary eq true', true, false],
    ['type eq "work" and primary eq false', false, false],
    ['type eq "home" or primary eq true', true, true],
    ['not (type eq "work")', false, true],
    ['not (type eq "work" or type eq "home")', false, false],
    ['(type eq "work" or type eq "home") and value co "jensen"', true, true],
    ['display eq null', false, true],
  ])('%s: work %s, home %s', (f, onWork, onHome) => {
    expect(m(work, f)).toBe(onWork);
    expect(m(home, f)).toBe(onHome);
  });

  it('numbers and date-times compare by value', () => {
    const def: AttributeDef = {
      ...EMAILS,
      subAttributes: [
        { ...TAGS, name: 'count', type: 'integer', multiValued: false },
        { ...TAGS, name: 'at', type: 'dateTime', multiValued: false },
      ],
    };
    const el = { count: 10, at: '2024-01-01T10:00:00+02:00' };
    expect(matchesFilter(el, parseFilter('count gt 9'), def)).toBe(true);
    expect(matchesFilter(el, parseFilter('count le 9.5'), def)).toBe(false);
    expect(matchesFilter(el, parseFilter('count eq 10'), def)).toBe(true);
    expect(matchesFilter(el, parseFilter('at lt "2024-01-01T09:00:00Z"'), def)).toBe(true);
    expect(matchesFilter(el, parseFilter('at eq "2024-01-01T08:00:00Z"'), def)).toBe(true);
    expect(() => matchesFilter(el, parseFilter('count co 1'), def)).toThrow(RosterError);
  });

  it('the element is the value of a multi-valued attribute of simple values', () => {
    expect(matchesFilter('Red', parseFilter('value eq "red"'), TAGS)).toBe(true);
    expect(matchesFilter('red', parseFilter('value sw "g"'), TAGS)).toBe(false);
    expect(caught(() => matchesFilter('red', parseFilter('type eq "x"'), TAGS)).code).toBe(
      'scim.invalid_filter',
    );
  });

  it('works on hand-built filters and members', () => {
    const f: Filter = { op: 'eq', path: { attr: 'value' }, value: MEMBER_1 };
    expect(matchesFilter({ value: MEMBER_1 }, f, MEMBERS)).toBe(true);
    expect(matchesFilter({ value: MEMBER_1.toUpperCase() }, f, MEMBERS)).toBe(false);
    expect(matchesFilter('not an object', f, MEMBERS)).toBe(false);
  });

  it('rejects what it cannot evaluate: scim.invalid_filter', () => {
    const bad: Filter[] = [
      { op: 'eq', path: { attr: 'nope' }, value: 'x' },
      { op: 'gt', path: { attr: 'primary' }, value: true },
      { op: 'co', path: { attr: 'primary' }, value: 'x' },
      { op: 'eq', path: { attr: 'value', sub: 'x' }, value: 'x' },
      { op: 'valuePath', path: { attr: 'value' }, filter: { op: 'pr', path: { attr: 'value' } } },
    ];
    for (const f of bad)
      expect(caught(() => matchesFilter(work, f, EMAILS)).code).toBe('scim.invalid_filter');
  });
});

// ---- properties

const NUM_RUNS = 500;

/** Short ASCII words: values that survive a filter's string literal without escapes getting in the way. */
const word = fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/);
const text = fc.string({ maxLength: 12 });

/** The single-valued simple attributes a property may replace, with a generator of valid values. */
const SIMPLE_TARGETS: { path: string; schema?: string; name: string; value: fc.Arbitrary<unknown> }[] = [
  { path: 'userName', name: 'userName', value: text },
  { path: 'displayName', name: 'displayName', value: text },
  { path: 'title', name: 'title', value: text },
  { path: 'externalId', name: 'externalId', value: text },
  { path: 'active', name: 'active', value: fc.boolean() },
  { path: 'loginCount', name: 'loginCount', value: fc.integer() },
  { path: 'score', name: 'score', value: fc.double({ noNaN: true, noDefaultInfinity: true }) },
  { path: `${ENTERPRISE}:department`, schema: ENTERPRISE, name: 'department', value: text },
  { path: `${ENTERPRISE}:employeeNumber`, schema: ENTERPRISE, name: 'employeeNumber', value: text },
];

const emailArb = fc.record(
  {
    value: fc.tuple(word, word).map(([a, b]) => `${a}@${b}.example`),
    type: fc.constantFrom('work', 'home', 'other'),
    display: text,
  },
  { requiredKeys: ['value'], noNullPrototype: true },
);

/** Documents of the User-like schema, with or without each attribute. */
const userDoc: fc.Arbitrary<Doc> = fc
  .record(
    {
      id: fc.uuid(),
      userName: text,
      displayName: text,
      title: text,
      externalId: text,
      active: fc.boolean(),
      loginCount: fc.integer(),
      name: fc.record({ givenName: text, familyName: text }, { requiredKeys: [], noNullPrototype: true }),
      emails: fc.uniqueArray(emailArb, { maxLength: 4, selector: (e) => e.value }),
      tags: fc.uniqueArray(word, { maxLength: 3 }),
      enterprise: fc.record(
        { department: text, employeeNumber: text },
        { requiredKeys: [], noNullPrototype: true },
      ),
      withSchemas: fc.boolean(),
    },
    { requiredKeys: ['id', 'userName', 'withSchemas'], noNullPrototype: true },
  )
  .map(({ enterprise, withSchemas, emails, ...rest }) => {
    const doc: Doc = { ...rest };
    if (emails !== undefined && emails.length > 0) doc.emails = emails;
    const hasExt = enterprise !== undefined && Object.keys(enterprise).length > 0;
    if (hasExt) doc[ENTERPRISE] = enterprise;
    if (withSchemas) doc.schemas = hasExt ? [USER, ENTERPRISE] : [USER];
    return doc;
  });

describe('applyPatch: properties', () => {
  it('a replace of a simple attribute reads back as that value and leaves everything else', () => {
    const target = fc.constantFrom(...SIMPLE_TARGETS).chain((t) => fc.tuple(fc.constant(t), t.value));
    fc.assert(
      fc.property(userDoc, target, fc.boolean(), (doc, [t, value], asString) => {
        // Entra's "True"/"False": the same value, as a string in any case.
        const sent = asString && typeof value === 'boolean' ? (value ? 'TrUe' : 'FALSE') : value;
        const before = structuredClone(doc);
        const { doc: after } = applyPatch(
          deepFreeze(doc),
          [{ op: 'replace', path: t.path, value: sent }],
          userLookup,
        );
        const holder = (t.schema === undefined ? after : after[t.schema]) as Doc;
        expect(holder[t.name]).toStrictEqual(value);
        // Everything else is as it was.
        const rest = structuredClone(after);
        const beforeRest = structuredClone(before);
        if (t.schema === undefined) {
          delete rest[t.name];
          delete beforeRest[t.name];
        } else {
          delete (rest[t.schema] as Doc)[t.name];
          if (beforeRest[t.schema] !== undefined) delete (beforeRest[t.schema] as Doc)[t.name];
          if (Object.keys(rest[t.schema] as Doc).length === 0) delete rest[t.schema];
          if (beforeRest[t.schema] !== undefined && Object.keys(beforeRest[t.schema] as Doc).length === 0) {
            delete beforeRest[t.schema];
          }
          // A new extension is named in schemas.
          if (Array.isArray(before.schemas)) expect(after.schemas).toContain(t.schema);
          delete rest.schemas;
          delete beforeRest.schemas;
        }
        expect(rest).toStrictEqual(beforeRest);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('adding e-mails and removing each by emails[value eq …] gives the original e-mails back', () => {
    const added = fc.uniqueArray(emailArb, {
      minLength: 1,
      maxLength: 5,
      selector: (e) => e.value.toLowerCase(),
    });
    fc.assert(
      fc.property(userDoc, added, fc.boolean(), (doc, extra, oneOp) => {
        const original = doc.emails as Doc[] | undefined;
        const known = new Set((original ?? []).map((e) => String(e.value).toLowerCase()));
        const fresh = extra.filter((e) => !known.has(e.value.toLowerCase()));
        const frozen = deepFreeze(doc);
        const adds = oneOp
          ? [{ op: 'add', path: 'emails', value: fresh }]
          : fresh.map((e) => ({ op: 'Add', path: 'emails', value: e }));
        const withAdded = applyPatch(frozen, adds, userLookup).doc;
        expect(withAdded.emails).toStrictEqual([...(original ?? []), ...fresh]);
        const removes = fresh.map((e) => ({
          op: 'remove',
          path: `emails[value eq ${JSON.stringify(e.value)}]`,
        }));
        const result = applyPatch(deepFreeze(withAdded), removes, userLookup);
        expect(result.doc.emails).toStrictEqual(original);
        expect(result.doc).toStrictEqual(doc);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it('garbage operations throw nothing but scim.* RosterErrors and never touch their input', () => {
    const paths = fc.oneof(
      fc.constantFrom(
        'userName',
        'name.givenName',
        'emails',
        'emails[type eq "work"].value',
        'emails[value pr]',
        'emails[type eq "work" and not (primary eq true)]',
        'members[value eq "x"]',
        'tags',
        'tags[value eq "a"]',
        'groups',
        'id',
        'meta.version',
        `${ENTERPRISE}:manager.value`,
        `${ENTERPRISE}:department`,
        ENTERPRISE,
        '__proto__',
        'constructor.prototype',
        'emails[__proto__ eq 1]',
        'emails[type gt true]',
        'name[givenName eq "x"]',
        'title',
        'active',
        'emails[type eq "home"].primary',
        'emails[value ew "example"]',
        `${ENTERPRISE}:manager`,
        '',
      ),
      word.map((w) => `emails[value eq "${w}@${w}.example"]`),
      fc.string({ maxLength: 20 }),
    );
    const values = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      text,
      fc.boolean(),
      emailArb,
      fc.array(emailArb, { maxLength: 3 }),
      fc.constantFrom('True', 'false', null, [], {}, { value: 'x' }, [{ value: 'y', primary: true }], {
        givenName: 'g',
      }),
      fc.dictionary(
        fc.constantFrom(
          'title',
          'name.givenName',
          'active',
          'emails',
          ENTERPRISE,
          `${ENTERPRISE}:manager`,
          '__proto__',
        ),
        fc.oneof(text, fc.boolean(), fc.jsonValue({ maxDepth: 2 })),
      ),
    );
    const wellFormed = fc.record(
      {
        op: fc.constantFrom('add', 'Add', 'remove', 'Remove', 'replace', 'REPLACE'),
        path: paths,
        value: values,
      },
      { requiredKeys: ['op'] },
    );
    const illFormed = fc.record(
      {
        op: fc.oneof(fc.constantFrom('move', 'test', '', 'copy'), fc.anything()),
        path: fc.oneof(paths, fc.anything()),
        value: fc.anything(),
      },
      { requiredKeys: [] },
    );
    const op = fc.oneof(
      { weight: 8, arbitrary: wellFormed },
      { weight: 1, arbitrary: illFormed },
      { weight: 1, arbitrary: fc.anything() },
    );
    const operations = fc.oneof(
      { weight: 9, arbitrary: fc.array(op, { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.anything() },
    );
    fc.assert(
      fc.property(userDoc, operations, (doc, ops) => {
        const docCopy = structuredClone(doc);
        const frozenOps = deepFreeze(ops);
        try {
          applyPatch(deepFreeze(doc), frozenOps, userLookup);
        } catch (err) {
          expect(err).toBeInstanceOf(RosterError);
          expect((err as RosterError).code).toMatch(/^scim\./);
        }
        expect(doc).toStrictEqual(docCopy);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
