import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { RosterError } from '../../../src/platform/errors.js';
import { newId } from '../../../src/platform/ids.js';
import { decodeCursor, decodeSeqCursor, encodeCursor, pageOf } from '../../../src/platform/paging.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

function invalidCursor(fn: () => unknown): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected request.invalid_cursor').toBeInstanceOf(RosterError);
  expect((err as RosterError).code).toBe('request.invalid_cursor');
  expect((err as RosterError).status).toBe(400);
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64url');

describe('cursors', () => {
  it('round-trip string keys', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), (k) => {
        const c = encodeCursor(k);
        expect(c).toMatch(/^[A-Za-z0-9_-]*$/);
        expect(decodeCursor(c)).toBe(k);
      }),
    );
    const id = newId();
    expect(decodeCursor(encodeCursor(id))).toBe(id);
  });

  it('round-trip sequence numbers', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), (n) => {
        expect(decodeSeqCursor(encodeCursor(n))).toBe(n);
      }),
    );
  });

  it('absent or empty means the first page', () => {
    expect(decodeCursor(undefined)).toBeUndefined();
    expect(decodeCursor('')).toBeUndefined();
    expect(decodeSeqCursor(undefined)).toBe(0);
    expect(decodeSeqCursor('')).toBe(0);
  });

  it.each([
    ['not base64 at all', '!!!!'],
    ['base64 of non-JSON', b64('hello')],
    ['truncated cursor', encodeCursor('01936f0e-0000-7000-8000-000000000001').slice(0, 10)],
    ['JSON null', b64('null')],
    ['a JSON string', b64('"abc"')],
    ['a JSON number', b64('5')],
    ['an array', b64('["x"]')],
    ['an object without k', b64('{"key":"x"}')],
    ['a numeric key for a string cursor', encodeCursor(5)],
    ['an object key', b64('{"k":{"a":1}}')],
    ['a null key', b64('{"k":null}')],
    ['a boolean key', b64('{"k":true}')],
  ])('decodeCursor rejects %s', (_what, cursor) => {
    invalidCursor(() => decodeCursor(cursor));
  });

  it.each([
    ['garbage', '%%%'],
    ['a string key', encodeCursor('10')],
    ['a negative number', encodeCursor(-1)],
    ['a fraction', encodeCursor(1.5)],
    ['an unsafe integer', b64('{"k":9007199254740993}')],
    ['Infinity-like', b64('{"k":1e400}')],
    ['no key', b64('{}')],
  ])('decodeSeqCursor rejects %s', (_what, cursor) => {
    invalidCursor(() => decodeSeqCursor(cursor));
  });

  it('garbage never throws anything but request.invalid_cursor (or decodes to a string key)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 64 }), (s) => {
        try {
          const k = decodeCursor(s);
          expect(k === undefined || typeof k === 'string').toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(RosterError);
          expect((err as RosterError).code).toBe('request.invalid_cursor');
        }
        try {
          const n = decodeSeqCursor(s);
          expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(RosterError);
          expect((err as RosterError).code).toBe('request.invalid_cursor');
        }
      }),
    );
  });

  it('random bytes as a cursor are rejected', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (bytes) => {
        const cursor = Buffer.from(bytes).toString('base64url');
        fc.pre(!/^\s*\{/.test(Buffer.from(bytes).toString('utf8')));
        invalidCursor(() => decodeCursor(cursor));
      }),
    );
  });

  it('rejects a cursor whose payload was altered (the paging contract: "tampered cursors are rejected")', () => {
    // A cursor Roster issued, with one character of its payload changed, must not be accepted as a
    // different position: src/platform/paging.ts documents "Tampered or foreign cursors are rejected
    // with 400", but the cursor carries no MAC, so a change inside the key decodes to another key.
    const id = '01936f0e-1234-7abc-8def-0123456789ab';
    const cursor = encodeCursor(id);
    const accepted: string[] = [];
    for (let i = 0; i < cursor.length; i++) {
      for (const ch of ['A', 'Q', 'g', 'w']) {
        if (cursor[i] === ch) continue;
        const tampered = cursor.slice(0, i) + ch + cursor.slice(i + 1);
        try {
          const k = decodeCursor(tampered);
          if (k !== id) accepted.push(k as string);
        } catch (err) {
          expect((err as RosterError).code).toBe('request.invalid_cursor');
        }
      }
    }
    expect(accepted).toEqual([]);
  });
});

describe('pageOf', () => {
  const rows = Array.from({ length: 7 }, (_, i) => ({ id: `id-${i}`, n: i }));

  it('gives a cursor to the next page only when more rows exist', () => {
    const first = pageOf(
      rows.slice(0, 4),
      3,
      (r) => r.id,
      (r) => r.n,
    );
    expect(first.items).toEqual([0, 1, 2]);
    expect(decodeCursor(first.nextCursor)).toBe('id-2');
    const last = pageOf(
      rows.slice(4, 7),
      3,
      (r) => r.id,
      (r) => r.n,
    );
    expect(last.items).toEqual([4, 5, 6]);
    expect(last).not.toHaveProperty('nextCursor');
    const empty = pageOf(
      [],
      3,
      (r: { id: string }) => r.id,
      (r) => r,
    );
    expect(empty).toEqual({ items: [] });
  });

  it('walks every row exactly once, in order, whatever the page size', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 1, max: 10 }), (count, limit) => {
        const all = Array.from({ length: count }, (_, i) => i);
        const seen: number[] = [];
        let after = -1;
        for (let guard = 0; guard < 100; guard++) {
          const fetched = all.filter((x) => x > after).slice(0, limit + 1);
          const page = pageOf(
            fetched,
            limit,
            (x) => x,
            (x) => x,
          );
          seen.push(...page.items);
          if (!page.nextCursor) break;
          after = decodeSeqCursor(page.nextCursor);
        }
        expect(seen).toEqual(all);
      }),
    );
  });
});
