import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { RosterError } from '../../../src/platform/errors.js';
import { MAX_JSON_DEPTH, parseJsonBody } from '../../../src/platform/http/body.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

function malformed(raw: Buffer | string): RosterError {
  const buf = typeof raw === 'string' ? Buffer.from(raw, 'utf8') : raw;
  let err: unknown;
  try {
    parseJsonBody(buf);
  } catch (e) {
    err = e;
  }
  expect(err, 'expected request.malformed_json').toBeInstanceOf(RosterError);
  expect((err as RosterError).code).toBe('request.malformed_json');
  expect((err as RosterError).status).toBe(400);
  return err as RosterError;
}

const parse = (s: string) => parseJsonBody(Buffer.from(s, 'utf8'));
const nestedArrays = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth - 1)}{}${'}'.repeat(depth - 1)}`;

describe('parseJsonBody', () => {
  it('parses valid JSON of every kind', () => {
    expect(parse('{"userName":"alice","emails":[{"value":"a@example.com"}]}')).toEqual({
      userName: 'alice',
      emails: [{ value: 'a@example.com' }],
    });
    expect(parse('[1,2,3]')).toEqual([1, 2, 3]);
    expect(parse('"text"')).toBe('text');
    expect(parse('42')).toBe(42);
    expect(parse('null')).toBeNull();
    expect(parse(' \n{"a" : true}\t')).toEqual({ a: true });
  });

  it('decodes multi-byte UTF-8 and accepts a leading BOM', () => {
    expect(parse('{"n":"Zoë Ærøskøbing 日本 😀"}')).toEqual({ n: 'Zoë Ærøskøbing 日本 😀' });
    expect(parseJsonBody(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]))).toEqual({
      a: 1,
    });
  });

  it('round-trips any JSON value', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), (v) => {
        const text = JSON.stringify(v);
        fc.pre(!/"(__proto__|constructor)"/.test(text));
        expect(parseJsonBody(Buffer.from(text, 'utf8'))).toEqual(JSON.parse(text));
      }),
    );
  });

  describe('rejects with request.malformed_json', () => {
    it('an empty body', () => {
      expect(malformed(Buffer.alloc(0)).detail).toBe('The body is empty');
    });

    it.each([
      ['a lone continuation byte', [0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]],
      ['a truncated 2-byte sequence', [0x22, 0xc3, 0x22]],
      ['an overlong encoding of "/"', [0x22, 0xc0, 0xaf, 0x22]],
      ['an encoded surrogate', [0x22, 0xed, 0xa0, 0x80, 0x22]],
      ['a code point above U+10FFFF', [0x22, 0xf4, 0x90, 0x80, 0x80, 0x22]],
      ['0xFF', [0x22, 0xff, 0x22]],
      ['Latin-1 text', [...Buffer.from('{"n":"Zo', 'latin1'), 0xeb, ...Buffer.from('"}', 'latin1')]],
      ['UTF-16LE text', [...Buffer.from('{"a":"\u00e9"}', 'utf16le')]],
    ])('invalid UTF-8: %s', (_what, bytes) => {
      const err = malformed(Buffer.from(bytes));
      if (_what !== 'UTF-16LE text') expect(err.detail).toBe('The body is not valid UTF-8');
    });

    it.each([
      '{"__proto__":{"isAdmin":true}}',
      '{"a":{"__proto__":{"x":1}}}',
      '[{"__proto__":null}]',
      '{"\\u005f_proto__":{"x":1}}',
      '{"__pr\\u006fto__":{"x":1}}',
      '{"constructor":{"prototype":{"isAdmin":true}}}',
      '{"a":[{"constructor":{"prototype":{}}}]}',
    ])('a forbidden key: %s', (text) => {
      const err = malformed(text);
      expect(err.detail).toContain('forbidden key');
      // Nothing leaked onto Object.prototype.
      expect(({} as { isAdmin?: unknown }).isAdmin).toBeUndefined();
    });

    it('accepts "constructor" and "prototype" on their own, and "__proto__" as a value', () => {
      expect(parse('{"constructor":"x","prototype":1}')).toEqual({ constructor: 'x', prototype: 1 });
      expect(parse('{"constructor":{"name":"x"}}')).toEqual({ constructor: { name: 'x' } });
      expect(parse('{"a":"__proto__"}')).toEqual({ a: '__proto__' });
    });

    it.each([
      '{',
      '{"a":1,}',
      "{'a':1}",
      '{"a":undefined}',
      'NaN',
      '[1,2',
      '{"a":1}{"b":2}',
      '   ',
      '\u0000',
      '// comment\n{}',
    ])('invalid JSON: %j', (text) => {
      malformed(text);
    });

    it(`nesting deeper than ${MAX_JSON_DEPTH} levels`, () => {
      expect(MAX_JSON_DEPTH).toBe(32);
      expect(parse(nestedArrays(32))).toBeDefined();
      expect(parse(nestedObjects(32))).toBeDefined();
      expect(parse(`{"a":${nestedArrays(31)}}`)).toBeDefined();
      expect(malformed(nestedArrays(33)).detail).toBe('The body nests deeper than 32 levels');
      malformed(nestedObjects(33));
      malformed(`{"a":${nestedArrays(32)}}`);
      malformed(`[1,{"b":[{"c":${nestedObjects(30)}}]}]`);
      malformed(nestedArrays(100_000));
    });

    it('depth counts containers only: scalars at level 32 are fine', () => {
      expect(parse(`${'['.repeat(32)}1${']'.repeat(32)}`)).toBeDefined();
      expect(parse(`${'['.repeat(32)}"deep"${']'.repeat(32)}`)).toBeDefined();
    });
  });

  /** Whether a parsed JSON value holds U+0000 in a string or a key. */
  const holdsNul = (v: unknown): boolean => {
    if (typeof v === 'string') return v.includes('\u0000');
    if (Array.isArray(v)) return v.some(holdsNul);
    if (v !== null && typeof v === 'object') {
      return Object.entries(v).some(([k, x]) => k.includes('\u0000') || holdsNul(x));
    }
    return false;
  };

  it('never throws anything but a RosterError request.malformed_json (or, for valid JSON holding U+0000, request.validation_failed) on arbitrary bytes', () => {
    const check = (bytes: Uint8Array) => {
      let value: unknown;
      try {
        value = parseJsonBody(Buffer.from(bytes));
      } catch (err) {
        expect(err).toBeInstanceOf(RosterError);
        const code = (err as RosterError).code;
        if (code === 'request.validation_failed') {
          // Only a well-formed JSON text that carries a NUL character is refused this way.
          expect(holdsNul(JSON.parse(Buffer.from(bytes).toString('utf8')))).toBe(true);
        } else expect(code).toBe('request.malformed_json');
        return;
      }
      // No NUL reaches the application. (The JSON text `"\\u0000"`, an escaped backslash then `u0000`, holds none.)
      expect(holdsNul(value)).toBe(false);
    };
    fc.assert(fc.property(fc.uint8Array({ maxLength: 512 }), check), { numRuns: 1000 });
    // Mostly-JSON inputs get further into the parser.
    const jsonish = fc
      .array(
        fc.oneof(
          fc.constantFrom(
            '{',
            '}',
            '[',
            ']',
            ',',
            ':',
            '"',
            '\\',
            '"__proto__"',
            '"constructor"',
            '"prototype"',
          ),
          fc.constantFrom('1', '-0', '1e999', 'true', 'null', ' ', '"a"', '\\u0000', '\\ud800'),
        ),
        { maxLength: 60 },
      )
      .map((parts) => new Uint8Array(Buffer.from(parts.join(''), 'utf8')));
    fc.assert(fc.property(jsonish, check), { numRuns: 2000 });
    fc.assert(
      fc.property(
        fc.jsonValue({ maxDepth: 40 }),
        fc.uint8Array({ maxLength: 4 }),
        fc.nat(),
        (v, junk, at) => {
          const text = Buffer.from(JSON.stringify(v), 'utf8');
          const i = at % (text.length + 1);
          check(new Uint8Array(Buffer.concat([text.subarray(0, i), Buffer.from(junk), text.subarray(i)])));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('NUL characters', () => {
  it('refuses a string or key holding U+0000 with 422 naming its JSON pointer', () => {
    for (const [text, pointer] of [
      ['{"a":{"b":["x","y\\u0000z"]}}', '/a/b/1'],
      ['{"k\\u0000":1}', '/k\u0000'],
      ['"\\u0000"', ''],
    ] as const) {
      let err: unknown;
      try {
        parseJsonBody(Buffer.from(text, 'utf8'));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RosterError);
      expect((err as RosterError).code).toBe('request.validation_failed');
      expect((err as RosterError).errors?.[0]?.pointer).toBe(pointer);
    }
  });
});
