import fc from 'fast-check';
import { beforeEach, describe, expect, it, vi } from 'vitest';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

/** newId keeps per-process state (last time, sequence): each test gets a fresh copy of the module. */
let ids: typeof import('../../../src/platform/ids.js');
beforeEach(async () => {
  vi.resetModules();
  ids = await import('../../../src/platform/ids.js');
});

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The 48-bit millisecond time of a UUIDv7. */
const timeOf = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(0, 12), 16);
/** The 12-bit rand_a field (Roster's in-millisecond sequence). */
const seqOf = (id: string) => Number.parseInt(id.replace(/-/g, '').slice(13, 16), 16);

function expectStrictlyIncreasing(list: readonly string[]): void {
  for (let i = 1; i < list.length; i++) {
    if (!((list[i - 1] as string) < (list[i] as string))) {
      throw new Error(`ids not strictly increasing at ${i}: ${list[i - 1]} then ${list[i]}`);
    }
  }
}

describe('newId', () => {
  it('is a lower-case RFC 9562 UUID version 7 with the RFC 4122 variant', () => {
    for (let i = 0; i < 1000; i++) {
      const id = ids.newId();
      expect(id).toMatch(UUIDV7);
      expect(ids.isId(id)).toBe(true);
    }
  });

  it('carries the given millisecond time in its first 48 bits', () => {
    let last = 2 ** 40;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 30 }), (step) => {
        const fresh = last + step; // always later than any earlier call in this property
        last = fresh;
        const id = ids.newId(fresh);
        expect(id).toMatch(UUIDV7);
        expect(timeOf(id)).toBe(fresh);
      }),
      { numRuns: 200 },
    );
  });

  it('embeds the current time by default', () => {
    const before = Date.now();
    const id = ids.newId();
    const after = Date.now();
    expect(timeOf(id)).toBeGreaterThanOrEqual(before);
    expect(timeOf(id)).toBeLessThanOrEqual(after);
  });

  it('is strictly increasing within one millisecond, past the 12-bit sequence', () => {
    const now = Date.UTC(2030, 0, 1);
    const list = Array.from({ length: 10_000 }, () => ids.newId(now));
    expect(new Set(list).size).toBe(list.length);
    expectStrictlyIncreasing(list);
    for (const id of list) expect(id).toMatch(UUIDV7);
    // The first ids keep the given millisecond; a sequence overflow moves on to the next one.
    expect(timeOf(list[0] as string)).toBe(now);
    expect(timeOf(list[list.length - 1] as string)).toBeGreaterThan(now);
    expect(timeOf(list[list.length - 1] as string)).toBeLessThanOrEqual(now + 10);
  });

  it('starts a new millisecond low in the sequence, leaving room to count up', () => {
    for (let ms = 1; ms < 200; ms++) expect(seqOf(ids.newId(Date.UTC(2030, 0, 1) + ms))).toBeLessThan(0x800);
  });

  it('is strictly increasing over many calls at real time', () => {
    const list = Array.from({ length: 50_000 }, () => ids.newId());
    expect(new Set(list).size).toBe(list.length);
    expectStrictlyIncreasing(list);
  });

  it('stays strictly increasing when the clock goes backwards or stands still', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1_700_000_000_000, max: 1_700_000_000_050 }), { maxLength: 300 }),
        (times) => {
          const list = times.map((t) => ids.newId(t));
          expectStrictlyIncreasing(list);
        },
      ),
    );
  });

  it('sorts as it was made, so ids serve as creation-ordered paging keys', () => {
    const list = Array.from({ length: 2000 }, (_, i) => ids.newId(Date.UTC(2031, 0, 1) + Math.floor(i / 7)));
    expect([...list].sort()).toEqual(list);
  });
});

describe('isId', () => {
  it.each([
    ['01936f0e-1234-7abc-8def-0123456789ab', true],
    ['00000000-0000-0000-0000-000000000000', true],
    ['01936F0E-1234-7ABC-8DEF-0123456789AB', false],
    ['01936f0e12347abc8def0123456789ab', false],
    ['01936f0e-1234-7abc-8def-0123456789a', false],
    ['01936f0e-1234-7abc-8def-0123456789abc', false],
    [' 01936f0e-1234-7abc-8def-0123456789ab', false],
    ['01936f0e-1234-7abc-8def-0123456789ag', false],
    ['', false],
  ])('%j -> %s', (value, expected) => {
    expect(ids.isId(value)).toBe(expected);
  });
});
