import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  distinctEmails,
  etagOf,
  matchesVersion,
  mergePatch,
  resolveStatus,
  USER_PII_FIELDS,
  USER_STATUSES,
  type UserStatus,
} from '../../../src/identity/model.js';
import { RosterError } from '../../../src/platform/errors.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

describe('mergePatch (RFC 7396)', () => {
  // RFC 7396 Appendix A, every example: [original, patch, result].
  const appendixA: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }],
    [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    [{ a: ['b'] }, { a: 'c' }, { a: 'c' }],
    [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [
      ['a', 'b'],
      ['c', 'd'],
      ['c', 'd'],
    ],
    [{ a: 'b' }, ['c'], ['c']],
    [{ a: 'foo' }, null, null],
    [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }],
    [[1, 2], { a: 'b', c: null }, { a: 'b' }],
    [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];

  it.each(appendixA)('%j patched with %j is %j', (original, patch, result) => {
    const before = JSON.stringify(original);
    expect(mergePatch(original, patch)).toStrictEqual(result);
    // The target is not modified in place.
    expect(JSON.stringify(original)).toBe(before);
  });

  it('the RFC 7396 section 3 example', () => {
    const target = {
      title: 'Goodbye!',
      author: { givenName: 'John', familyName: 'Doe' },
      tags: ['example', 'sample'],
      content: 'This will be unchanged',
    };
    const patch = {
      title: 'Hello!',
      phoneNumber: '+01-123-456-7890',
      author: { familyName: null },
      tags: ['example'],
    };
    expect(mergePatch(target, patch)).toStrictEqual({
      title: 'Hello!',
      author: { givenName: 'John' },
      tags: ['example'],
      content: 'This will be unchanged',
      phoneNumber: '+01-123-456-7890',
    });
  });

  // JSON documents without null members (a merge patch cannot express a null value in the result).
  const noNull = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.boolean(),
      fc.integer(),
      fc.string(),
      fc.array(tie('any'), { maxLength: 4 }),
      tie('object'),
    ),
    any: fc.oneof(fc.constant(null), tie('value')),
    object: fc.dictionary(fc.string({ maxLength: 4 }), tie('value'), { maxKeys: 5, noNullPrototype: true }),
  })).value;
  const json = fc.jsonValue({ maxDepth: 4 });

  /** The merge patch that turns `from` into `to` (RFC 7396 "generating a patch"). */
  function diff(from: unknown, to: unknown): unknown {
    const isObj = (v: unknown): v is Record<string, unknown> =>
      typeof v === 'object' && v !== null && !Array.isArray(v);
    if (!isObj(to) || !isObj(from)) return to;
    const patch: Record<string, unknown> = {};
    for (const k of Object.keys(from)) if (!Object.hasOwn(to, k)) patch[k] = null;
    for (const [k, v] of Object.entries(to)) {
      const was = Object.hasOwn(from, k) ? from[k] : undefined;
      if (was === undefined || JSON.stringify(was) !== JSON.stringify(v)) patch[k] = diff(was, v);
    }
    return patch;
  }

  it('a value patched with its own patch form yields that value, whatever the target', () => {
    fc.assert(
      fc.property(json, noNull, (target, value) => {
        expect(mergePatch(target, diff(target, value))).toStrictEqual(value);
      }),
    );
  });

  it('patching a null-free value with itself yields it (a null-free value is its own patch)', () => {
    fc.assert(
      fc.property(json, noNull, (target, value) => {
        expect(mergePatch(value, value)).toStrictEqual(value);
        // Non-objects replace the target outright.
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          expect(mergePatch(target, value)).toStrictEqual(value);
        }
      }),
    );
  });

  it('is idempotent: applying a patch twice equals applying it once', () => {
    fc.assert(
      fc.property(json, json, (target, patch) => {
        const once = mergePatch(target, patch);
        expect(mergePatch(once, patch)).toStrictEqual(once);
      }),
    );
  });

  it('an empty object patch changes nothing in an object, and turns a non-object into {}', () => {
    fc.assert(
      fc.property(json, (target) => {
        const out = mergePatch(target, {});
        if (typeof target === 'object' && target !== null && !Array.isArray(target)) {
          expect(out).toStrictEqual(target);
        } else {
          expect(out).toStrictEqual({});
        }
      }),
    );
  });

  it('leaves members the patch does not mention untouched, removes null ones, replaces with non-objects', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ maxLength: 4 }), json, { noNullPrototype: true }),
        fc.dictionary(fc.string({ maxLength: 4 }), json, { noNullPrototype: true }),
        (target, patch) => {
          const out = mergePatch(target, patch) as Record<string, unknown>;
          for (const k of Object.keys(target)) {
            if (!Object.hasOwn(patch, k)) expect(out[k]).toStrictEqual(target[k]);
          }
          for (const [k, v] of Object.entries(patch)) {
            if (v === null) expect(Object.hasOwn(out, k)).toBe(false);
            else expect(Object.hasOwn(out, k)).toBe(true);
          }
          // A member the patch sets to a non-object replaces the target's value outright.
          for (const [k, v] of Object.entries(patch)) {
            if (v !== null && (typeof v !== 'object' || Array.isArray(v))) expect(out[k]).toStrictEqual(v);
          }
        },
      ),
    );
  });

  it('does not modify the target or the patch', () => {
    fc.assert(
      fc.property(json, json, (target, patch) => {
        const t = JSON.stringify(target);
        const p = JSON.stringify(patch);
        mergePatch(target, patch);
        expect(JSON.stringify(target)).toBe(t);
        expect(JSON.stringify(patch)).toBe(p);
      }),
    );
  });

  it('treats a "__proto__" member as data and never changes the prototype of the result', () => {
    // JSON.parse makes "__proto__" an own member; RFC 7396 merges it like any other name.
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const out = mergePatch({}, patch) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect((out as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.hasOwn(out, '__proto__')).toBe(true);
    expect(out.a).toBe(1);
  });
});

describe('resolveStatus', () => {
  const statuses = [...USER_STATUSES] as UserStatus[];

  it('keeps the current status when neither status nor active is given', () => {
    for (const current of statuses) {
      expect(resolveStatus(current, undefined, undefined)).toBe(current);
      expect(resolveStatus(current, null, null)).toBe(current);
    }
  });

  it('takes an explicit status', () => {
    for (const current of statuses)
      for (const s of statuses) expect(resolveStatus(current, s, undefined)).toBe(s);
  });

  it('active=true means active', () => {
    for (const current of statuses) expect(resolveStatus(current, undefined, true)).toBe('active');
  });

  it.each([
    ['active', 'suspended'],
    ['staged', 'staged'],
    ['suspended', 'suspended'],
    ['deprovisioned', 'deprovisioned'],
  ] as [UserStatus, UserStatus][])('active=false from %s gives %s', (current, expected) => {
    expect(resolveStatus(current, undefined, false)).toBe(expected);
    expect(resolveStatus(current, null, false)).toBe(expected);
  });

  it('accepts status and active together when they agree', () => {
    expect(resolveStatus('staged', 'active', true)).toBe('active');
    expect(resolveStatus('active', 'deprovisioned', false)).toBe('deprovisioned');
    expect(resolveStatus('active', 'staged', false)).toBe('staged');
    expect(resolveStatus('staged', 'suspended', false)).toBe('suspended');
  });

  it.each([
    ['active', false],
    ['suspended', true],
    ['staged', true],
    ['deprovisioned', true],
  ] as [UserStatus, boolean][])('rejects status %s with active=%s', (status, active) => {
    for (const current of statuses) {
      let err: unknown;
      try {
        resolveStatus(current, status, active);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RosterError);
      expect((err as RosterError).code).toBe('identity.inconsistent_status');
      expect((err as RosterError).status).toBe(422);
      expect((err as RosterError).errors).toEqual([{ pointer: '/active', detail: 'disagrees with /status' }]);
    }
  });

  it('always yields a known status, and `active` is honoured whenever it is consistent', () => {
    const status = fc.option(fc.constantFrom(...statuses), { nil: undefined });
    const active = fc.option(fc.boolean(), { nil: undefined });
    fc.assert(
      fc.property(fc.constantFrom(...statuses), status, active, (current, s, a) => {
        let out: UserStatus;
        try {
          out = resolveStatus(current, s, a);
        } catch (err) {
          expect((err as RosterError).code).toBe('identity.inconsistent_status');
          expect(s !== undefined && a !== undefined && (s === 'active') !== a).toBe(true);
          return;
        }
        expect(statuses).toContain(out);
        if (a === true) expect(out).toBe('active');
        if (a === false) expect(out).not.toBe('active');
        if (s !== undefined) expect(out).toBe(s);
      }),
    );
  });
});

describe('matchesVersion (If-Match)', () => {
  it.each([
    ['*', 3, true],
    ['"3"', 3, true],
    ['W/"3"', 3, true],
    [' W/"3" ', 3, true],
    ['"1", "3"', 3, true],
    ['W/"1",W/"2", W/"3"', 3, true],
    ['"1", *', 3, true],
    ['"2"', 3, false],
    ['W/"2"', 3, false],
    ['"1", W/"2"', 3, false],
    ['3', 3, false],
    ['W/3', 3, false],
    ['"03"', 3, false],
    ['"3 "', 3, false],
    ['"33"', 3, false],
    ['"3"', 33, false],
    ['w/"3"', 3, false],
    ['', 3, false],
    ['**', 3, false],
    ['"*"', 3, false],
  ] as [string, number, boolean][])('%j against version %i is %s', (header, version, expected) => {
    expect(matchesVersion(header, version)).toBe(expected);
  });

  it('accepts the ETag it serves, and rejects every other version', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (v, other) => {
        expect(etagOf(v)).toBe(`W/"${v}"`);
        expect(matchesVersion(etagOf(v), v)).toBe(true);
        expect(matchesVersion(`"${v}"`, v)).toBe(true);
        if (other !== v) expect(matchesVersion(etagOf(other), v)).toBe(false);
      }),
    );
  });

  it('a list matches exactly when one of its members matches', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: 20 }), { minLength: 1, maxLength: 5 }),
        fc.nat({ max: 20 }),
        (vs, v) => {
          const header = vs.map((x, i) => (i % 2 ? `"${x}"` : etagOf(x))).join(', ');
          expect(matchesVersion(header, v)).toBe(vs.includes(v));
        },
      ),
    );
  });
});

describe('distinctEmails', () => {
  it('lower-cases, NFC-normalises and de-duplicates', () => {
    expect(
      distinctEmails([
        { value: 'Alice@Example.com' },
        { value: 'alice@example.COM', type: 'home' },
        { value: 'rene\u0301e@example.com' },
        { value: 'REN\u00c9E@example.com' },
        { value: 'bob@example.com' },
      ]),
    ).toEqual(['alice@example.com', 'ren\u00e9e@example.com', 'bob@example.com']);
    expect(distinctEmails([])).toEqual([]);
  });
});

describe('USER_PII_FIELDS', () => {
  it('lists every personal field', () => {
    expect([...USER_PII_FIELDS].sort()).toEqual(
      ['addresses', 'displayName', 'emails', 'name', 'phoneNumbers', 'userName'].sort(),
    );
  });
});
