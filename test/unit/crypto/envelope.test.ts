import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  blindIndex,
  deriveTenantKey,
  fieldAad,
  normaliseCaseless,
  open,
  seal,
  sealedKeyVersion,
} from '../../../src/crypto/model.js';
import { caselessIndex, FieldCipher } from '../../../src/crypto/service.js';
import { RosterError } from '../../../src/platform/errors.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const TENANT = '01936f0e-0000-7000-8000-000000000001';
const ROW = '01936f0e-0000-7000-8000-0000000000aa';
const OTHER_ROW = '01936f0e-0000-7000-8000-0000000000bb';

/** Header: format byte, 4-byte key version, 12-byte nonce; trailer: 16-byte tag. */
const HEADER = 17;
const TAG = 16;

function expectIntegrity(fn: () => unknown): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown, 'expected crypto.integrity to be thrown').toBeInstanceOf(RosterError);
  expect((thrown as RosterError).code).toBe('crypto.integrity');
  expect((thrown as RosterError).status).toBe(500);
}

function integrityFails(fn: () => unknown): boolean {
  try {
    fn();
    return false;
  } catch (err) {
    return err instanceof RosterError && err.code === 'crypto.integrity';
  }
}

const key = randomBytes(32);
const aad = fieldAad(TENANT, 'users', ROW, 'emails');

describe('seal / open', () => {
  it('round-trips arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), fc.integer({ min: 0, max: 0xffffffff }), (bytes, v) => {
        const plain = Buffer.from(bytes);
        const sealed = seal(key, v, plain, aad);
        expect(sealed.length).toBe(HEADER + plain.length + TAG);
        expect(sealedKeyVersion(sealed)).toBe(v);
        expect(open(key, sealed, aad).equals(plain)).toBe(true);
      }),
    );
  });

  it('round-trips arbitrary Unicode strings through FieldCipher', () => {
    const tk = deriveTenantKey(TENANT, 1, randomBytes(32));
    const c = new FieldCipher(tk, 'users', ROW);
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 200 }), (s) => {
        expect(c.openText('display_name', c.sealText('display_name', s))).toBe(s);
      }),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(c.openJson('addresses', c.sealJson('addresses', v))).toEqual(JSON.parse(JSON.stringify(v)));
      }),
    );
  });

  it('does not contain the plaintext', () => {
    const plain = Buffer.from('alice.liddell@wonderland.example', 'utf8');
    const sealed = seal(key, 1, plain, aad);
    expect(sealed.includes(plain)).toBe(false);
    expect(sealed.toString('latin1')).not.toContain('alice');
  });

  it('uses a fresh random nonce: sealing the same value twice gives different ciphertexts', () => {
    const plain = Buffer.from('same value', 'utf8');
    const seen = new Set<string>();
    const nonces = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const sealed = seal(key, 1, plain, aad);
      seen.add(sealed.toString('hex'));
      nonces.add(sealed.subarray(5, HEADER).toString('hex'));
      expect(open(key, sealed, aad).toString()).toBe('same value');
    }
    expect(seen.size).toBe(200);
    expect(nonces.size).toBe(200);
  });

  it('writes the documented header: format 0x01 and the key version big-endian', () => {
    const sealed = seal(key, 0x01020304, Buffer.from('x'), aad);
    expect([...sealed.subarray(0, 5)]).toEqual([1, 1, 2, 3, 4]);
    expect(sealedKeyVersion(sealed)).toBe(0x01020304);
  });

  it('detects a flipped bit in the nonce, ciphertext, tag or format byte (any plaintext, any position)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        (bytes, pos, mask) => {
          const sealed = seal(key, 7, Buffer.from(bytes), aad);
          // Every byte except the key-version field (bytes 1-4), which the next test covers.
          const positions = [0, ...Array.from({ length: sealed.length - 5 }, (_, i) => i + 5)];
          const at = positions[pos % positions.length] as number;
          const tampered = Buffer.from(sealed);
          tampered[at] = (tampered[at] as number) ^ mask;
          expectIntegrity(() => open(key, tampered, aad));
        },
      ),
    );
  });

  it('detects a flipped byte anywhere in the sealed value, including the key-version header', () => {
    // Bytes 1-4 hold the key version. They are neither under the GCM tag nor in the AAD, so an altered
    // version still opens: `open` claims to throw "when the value was altered".
    const sealed = seal(key, 1, Buffer.from('"alice@example.com"'), aad);
    const undetected: number[] = [];
    for (let at = 0; at < sealed.length; at++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = Buffer.from(sealed);
        tampered[at] = (tampered[at] as number) ^ (1 << bit);
        if (!integrityFails(() => open(key, tampered, aad))) undetected.push(at);
      }
    }
    expect([...new Set(undetected)]).toEqual([]);
  });

  it('rejects truncated, extended, empty and foreign-format values', () => {
    const sealed = seal(key, 1, Buffer.from('hello'), aad);
    expectIntegrity(() => open(key, Buffer.alloc(0), aad));
    expectIntegrity(() => open(key, sealed.subarray(0, HEADER + TAG - 1), aad));
    expectIntegrity(() => open(key, sealed.subarray(0, sealed.length - 1), aad));
    expectIntegrity(() => open(key, sealed.subarray(1), aad));
    expectIntegrity(() => open(key, Buffer.concat([sealed, Buffer.from([0])]), aad));
    const v2 = Buffer.from(sealed);
    v2[0] = 0x02;
    expectIntegrity(() => open(key, v2, aad));
    expectIntegrity(() => sealedKeyVersion(Buffer.alloc(HEADER + TAG - 1, 1)));
    expectIntegrity(() => sealedKeyVersion(v2));
  });

  it('fails under another key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const sealed = seal(key, 1, Buffer.from(bytes), aad);
        expectIntegrity(() => open(randomBytes(32), sealed, aad));
      }),
      { numRuns: 50 },
    );
    // Keys derived from different tenant roots, or the index key of the same root, do not open it either.
    const root = randomBytes(32);
    const tk = deriveTenantKey(TENANT, 1, root);
    const sealed = seal(tk.encKey, 1, Buffer.from('x'), aad);
    expect(open(deriveTenantKey(TENANT, 1, Buffer.from(root)).encKey, sealed, aad).toString()).toBe('x');
    expectIntegrity(() => open(tk.indexKey, sealed, aad));
    expectIntegrity(() => open(deriveTenantKey(TENANT, 1, randomBytes(32)).encKey, sealed, aad));
  });

  describe('AAD binding (fieldAad)', () => {
    const sealed = seal(key, 1, Buffer.from('["alice@example.com"]'), aad);

    it.each([
      ['another row', fieldAad(TENANT, 'users', OTHER_ROW, 'emails')],
      ['another column', fieldAad(TENANT, 'users', ROW, 'phone_numbers')],
      ['another table', fieldAad(TENANT, 'groups', ROW, 'emails')],
      ['another tenant', fieldAad('01936f0e-0000-7000-8000-000000000002', 'users', ROW, 'emails')],
      ['no AAD', Buffer.alloc(0)],
    ])('fails when opened as %s', (_what, other) => {
      expectIntegrity(() => open(key, sealed, other));
    });

    it('is a distinct, unambiguous string per tenant, table, row and column', () => {
      const parts = ['t', 'users', 'r', 'c'] as const;
      const base = fieldAad(...parts).toString();
      expect(base).toBe('roster/v1|t|users|r|c');
      for (let i = 0; i < parts.length; i++) {
        const changed = [...parts] as [string, string, string, string];
        changed[i] = `${changed[i]}x`;
        expect(fieldAad(...changed).toString()).not.toBe(base);
      }
    });

    it('FieldCipher values moved between rows or columns fail', () => {
      const tk = deriveTenantKey(TENANT, 1, randomBytes(32));
      const a = new FieldCipher(tk, 'users', ROW);
      const b = new FieldCipher(tk, 'users', OTHER_ROW);
      const sealedName = a.sealJson('user_name', 'alice');
      expect(a.openJson('user_name', sealedName)).toBe('alice');
      expectIntegrity(() => b.openJson('user_name', sealedName));
      expectIntegrity(() => a.openJson('display_name', sealedName));
      const otherTenant = new FieldCipher(
        deriveTenantKey('01936f0e-0000-7000-8000-000000000002', 1, randomBytes(32)),
        'users',
        ROW,
      );
      expectIntegrity(() => otherTenant.openJson('user_name', sealedName));
    });
  });
});

describe('deriveTenantKey', () => {
  it('derives two distinct 256-bit keys, deterministically from the root', () => {
    const root = randomBytes(32);
    const a = deriveTenantKey(TENANT, 3, root);
    const b = deriveTenantKey(TENANT, 3, Buffer.from(root));
    expect(a.tenantId).toBe(TENANT);
    expect(a.version).toBe(3);
    expect(a.encKey).toHaveLength(32);
    expect(a.indexKey).toHaveLength(32);
    expect(a.encKey.equals(a.indexKey)).toBe(false);
    expect(a.encKey.equals(b.encKey)).toBe(true);
    expect(a.indexKey.equals(b.indexKey)).toBe(true);
    expect(a.encKey.equals(root)).toBe(false);
    const c = deriveTenantKey(TENANT, 3, randomBytes(32));
    expect(c.encKey.equals(a.encKey)).toBe(false);
  });
});

describe('blind index', () => {
  const indexKey = randomBytes(32);

  it('is a deterministic 256-bit hex digest', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (label, value) => {
        const a = blindIndex(indexKey, label, value);
        expect(a).toMatch(/^[0-9a-f]{64}$/);
        expect(blindIndex(Buffer.from(indexKey), label, value)).toBe(a);
      }),
    );
  });

  it('does not contain the value', () => {
    const v = 'alice@example.com';
    const idx = blindIndex(indexKey, 'users.emails.value', v);
    expect(idx).not.toContain(Buffer.from(v).toString('hex'));
  });

  it('separates labels: the same value under two labels differs, and label/value boundaries matter', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (l1, l2, v) => {
        fc.pre(l1 !== l2);
        expect(blindIndex(indexKey, l1, v)).not.toBe(blindIndex(indexKey, l2, v));
      }),
    );
    expect(blindIndex(indexKey, 'users.userName', 'x')).not.toBe(
      blindIndex(indexKey, 'users.emails.value', 'x'),
    );
    expect(blindIndex(indexKey, 'ab', 'c')).not.toBe(blindIndex(indexKey, 'a', 'bc'));
  });

  it('depends on the key', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.string(), (other, v) => {
        fc.pre(!Buffer.from(other).equals(indexKey));
        expect(blindIndex(Buffer.from(other), 'l', v)).not.toBe(blindIndex(indexKey, 'l', v));
      }),
      { numRuns: 50 },
    );
  });

  it('distinguishes different values', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (a, b) => {
        fc.pre(a !== b);
        expect(blindIndex(indexKey, 'l', a)).not.toBe(blindIndex(indexKey, 'l', b));
      }),
    );
  });

  describe('caseless (normaliseCaseless, caselessIndex)', () => {
    const tk = deriveTenantKey(TENANT, 1, randomBytes(32));

    it('matches values that differ only in ASCII case', () => {
      fc.assert(
        fc.property(fc.string(), (s) => {
          const lower = caselessIndex(tk, 'users.userName', s.toLowerCase());
          expect(caselessIndex(tk, 'users.userName', s)).toBe(lower);
          expect(caselessIndex(tk, 'users.userName', s.toUpperCase())).toBe(lower);
        }),
      );
    });

    it.each([
      ['Alice@Example.COM', 'alice@example.com'],
      ['ÉLODIE', 'élodie'],
      ['Jürgen.Öztürk', 'jürgen.öztürk'],
      ['ΑΛΕΞΑΝΔΡΑ', 'αλεξανδρα'],
      // NFD (e + combining acute) and NFC (é) are the same name.
      ['Rene\u0301e', 'Ren\u00e9e'],
      ['RENE\u0301E', 'ren\u00e9e'],
    ])('%j and %j share an index', (a, b) => {
      expect(normaliseCaseless(a)).toBe(normaliseCaseless(b));
      expect(caselessIndex(tk, 'users.userName', a)).toBe(caselessIndex(tk, 'users.userName', b));
    });

    it('normalises to NFC lower case, idempotently', () => {
      expect(normaliseCaseless('Rene\u0301E')).toBe('ren\u00e9e');
      fc.assert(
        fc.property(fc.string({ unit: 'binary' }), (s) => {
          const n = normaliseCaseless(s);
          expect(n).toBe(n.normalize('NFC').toLowerCase());
        }),
      );
    });

    it('keeps the label separation and the key dependence', () => {
      const other = deriveTenantKey(TENANT, 1, randomBytes(32));
      expect(caselessIndex(tk, 'users.userName', 'A')).not.toBe(caselessIndex(tk, 'users.emails.value', 'a'));
      expect(caselessIndex(tk, 'users.userName', 'A')).not.toBe(caselessIndex(other, 'users.userName', 'a'));
      expect(caselessIndex(tk, 'users.userName', 'A')).toBe(blindIndex(tk.indexKey, 'users.userName', 'a'));
    });
  });
});
