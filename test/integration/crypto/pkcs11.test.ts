import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyProvider } from '../../../src/crypto/local-kek.js';
import { openPkcs11Provider } from '../../../src/crypto/pkcs11.js';
import { RosterError } from '../../../src/platform/errors.js';
import { allText, GUARDED_KEK, type SoftHsm, startSoftHsm } from '../../support/softhsm.js';

/**
 * The PKCS#11 key provider against a real (SoftHSM 2) token: KEKs generated and kept inside the token,
 * AES-256-GCM wrapping in the token, rotation seen by other nodes, a destroyed version, a real outage and the
 * recovery from it, refused logins, and many concurrent operations on one session.
 *
 * The tests run in order on one token and build on each other (versions 1, 2, 3 ... are made along the way).
 */

const CKK_AES = 0x1f;

let hsm: SoftHsm;
/** "Node A" and "node B": two providers on the same token. */
let a: KeyProvider;
let b: KeyProvider;
const opened: KeyProvider[] = [];

function open(
  overrides: { pin?: string; tokenLabel?: string; modulePath?: string } = {},
): Promise<KeyProvider> {
  return openPkcs11Provider({
    modulePath: overrides.modulePath ?? hsm.modulePath,
    tokenLabel: overrides.tokenLabel ?? hsm.tokenLabel,
    pin: overrides.pin ?? hsm.pin,
  }).then((p) => {
    opened.push(p);
    return p;
  });
}

/** The RosterError a promise rejects with (fails the test when it resolves or rejects with anything else). */
async function rejection(promise: Promise<unknown>): Promise<RosterError> {
  const outcome = await promise.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error }),
  );
  expect(outcome.ok, 'expected a rejection').toBe(false);
  const error = (outcome as { error: unknown }).error;
  expect(error).toBeInstanceOf(RosterError);
  return error as RosterError;
}

const aadOf = (n: number | string) => Buffer.from(`roster/tenant-key|tenant-${n}|1`);

beforeAll(async () => {
  hsm = await startSoftHsm();
});

afterAll(async () => {
  try {
    for (const p of opened) await p.close().catch(() => undefined);
  } finally {
    await hsm?.cleanup();
  }
});

describe('PKCS#11 key provider (SoftHSM)', () => {
  describe('a refused open', () => {
    it('a wrong PIN is crypto.unavailable, and nothing says the PIN', async () => {
      const wrongPin = 'wrong-pin-4711-xyz';
      const err = await rejection(open({ pin: wrongPin }));
      expect(err.code).toBe('crypto.unavailable');
      expect(err.status).toBe(503);
      expect(err.detail).toMatch(/PIN/);
      expect(err.detail).toMatch(/CKR_PIN_INCORRECT/);
      expect(allText(err)).not.toContain(wrongPin);
      expect(allText(err)).not.toContain(hsm.pin);
      // Nothing was made on the token by the refused open.
      expect(await hsm.kekLabels()).toEqual([]);
    });

    it('an unknown token label is crypto.unavailable naming the label, not the PIN', async () => {
      const err = await rejection(open({ tokenLabel: 'no-such-token' }));
      expect(err.code).toBe('crypto.unavailable');
      expect(err.detail).toContain('no-such-token');
      expect(allText(err)).not.toContain(hsm.pin);
    });

    it('a module that cannot be loaded is crypto.unavailable', async () => {
      const err = await rejection(open({ modulePath: `${hsm.dir}/no-such-module.so` }));
      expect(err.code).toBe('crypto.unavailable');
      expect(allText(err)).not.toContain(hsm.pin);
    });
  });

  describe('on a fresh token', () => {
    it('open generates roster-kek-1 inside the token: sensitive, never extractable, value unreadable', async () => {
      a = await open();
      expect(a.name).toBe('pkcs11');
      expect(a.versions()).toEqual([1]);
      expect(a.currentVersion()).toBe(1);
      expect(await hsm.kekLabels()).toEqual(['roster-kek-1']);
      const kek = await hsm.inspectKek(1);
      expect(kek).toMatchObject({
        ...GUARDED_KEK,
        wrap: false,
        unwrap: false,
        modifiable: false,
        keyType: CKK_AES,
        valueLen: 32,
      });
      expect(kek.valueRead).toBe('CKR_ATTRIBUTE_SENSITIVE');
    });

    it('a second provider on the token ("node B") uses the existing version 1 and makes none', async () => {
      b = await open();
      expect(b.versions()).toEqual([1]);
      expect(await hsm.kekLabels()).toEqual(['roster-kek-1']);
    });

    it('a second provider in the process with a wrong PIN is refused too (the login is shared)', async () => {
      const err = await rejection(open({ pin: 'another-wrong-pin' }));
      expect(err.code).toBe('crypto.unavailable');
      expect(err.detail).toMatch(/PIN/);
      expect(allText(err)).not.toContain('another-wrong-pin');
      // The providers already open are not disturbed.
      const key = randomBytes(32);
      const { kekVersion, wrapped } = await a.wrap(key, aadOf('pin'));
      expect(await b.unwrap(kekVersion, wrapped, aadOf('pin'))).toEqual(key);
    });
  });

  describe('wrapping', () => {
    it('wraps 32 bytes as nonce | ciphertext | tag (60 bytes) and unwraps them back', async () => {
      const key = randomBytes(32);
      const { kekVersion, wrapped } = await a.wrap(key, aadOf(1));
      expect(kekVersion).toBe(1);
      expect(wrapped.length).toBe(12 + 32 + 16);
      expect(wrapped.includes(key)).toBe(false);
      expect(await a.unwrap(1, wrapped, aadOf(1))).toEqual(key);
      // A fresh nonce each time: the same key wraps differently.
      const again = await a.wrap(key, aadOf(1));
      expect(again.wrapped.subarray(0, 12)).not.toEqual(wrapped.subarray(0, 12));
      expect(again.wrapped).not.toEqual(wrapped);
    });

    it('another AAD is crypto.integrity', async () => {
      const key = randomBytes(32);
      const { kekVersion, wrapped } = await a.wrap(key, aadOf(2));
      const err = await rejection(a.unwrap(kekVersion, wrapped, aadOf(3)));
      expect(err.code).toBe('crypto.integrity');
      expect(allText(err)).not.toContain(key.toString('hex'));
      // The session survived the failed tag.
      expect(await a.unwrap(kekVersion, wrapped, aadOf(2))).toEqual(key);
    });

    it('one flipped byte (nonce, ciphertext or tag) is crypto.integrity, and so is a truncated value', async () => {
      const key = randomBytes(32);
      const { kekVersion, wrapped } = await a.wrap(key, aadOf(4));
      for (const at of [0, 11, 12, 30, 43, 44, 59]) {
        const bad = Buffer.from(wrapped);
        bad[at] = (bad[at] as number) ^ 0x01;
        const err = await rejection(a.unwrap(kekVersion, bad, aadOf(4)));
        expect(err.code, `byte ${at}`).toBe('crypto.integrity');
      }
      for (const length of [0, 27, 28, 59]) {
        const err = await rejection(a.unwrap(kekVersion, wrapped.subarray(0, length), aadOf(4)));
        expect(err.code, `length ${length}`).toBe('crypto.integrity');
      }
      expect(await a.unwrap(kekVersion, wrapped, aadOf(4))).toEqual(key);
    });

    it('an unknown version is crypto.integrity ("not in the HSM")', async () => {
      const { wrapped } = await a.wrap(randomBytes(32), aadOf(5));
      const err = await rejection(a.unwrap(99, wrapped, aadOf(5)));
      expect(err.code).toBe('crypto.integrity');
      expect(err.detail).toBe('the key-encryption key version is not in the HSM');
    });
  });

  describe('rotation', () => {
    let underV1: { key: Buffer; wrapped: Buffer };
    let underV2: { key: Buffer; wrapped: Buffer };

    it('createVersion makes version 2 current; data wrapped under 1 still unwraps; new wraps name 2', async () => {
      const key1 = randomBytes(32);
      const w1 = await a.wrap(key1, aadOf('r1'));
      expect(w1.kekVersion).toBe(1);
      underV1 = { key: key1, wrapped: w1.wrapped };

      expect(await a.createVersion()).toBe(2);
      expect(a.currentVersion()).toBe(2);
      expect(a.versions()).toEqual([1, 2]);
      expect(await hsm.kekLabels()).toEqual(['roster-kek-1', 'roster-kek-2']);
      expect(await hsm.inspectKek(2)).toMatchObject({ sensitive: true, extractable: false, local: true });

      expect(await a.unwrap(1, underV1.wrapped, aadOf('r1'))).toEqual(key1);
      const key2 = randomBytes(32);
      const w2 = await a.wrap(key2, aadOf('r2'));
      expect(w2.kekVersion).toBe(2);
      underV2 = { key: key2, wrapped: w2.wrapped };
      // Versions are different keys: data of version 2 does not open under version 1.
      expect((await rejection(a.unwrap(1, w2.wrapped, aadOf('r2')))).code).toBe('crypto.integrity');
    });

    it('node B sees version 2 after refresh() and wraps under it; A unwraps that', async () => {
      expect(b.versions()).toEqual([1]);
      expect(b.currentVersion()).toBe(1);
      await b.refresh();
      expect(b.versions()).toEqual([1, 2]);
      expect(b.currentVersion()).toBe(2);
      const key = randomBytes(32);
      const w = await b.wrap(key, aadOf('b'));
      expect(w.kekVersion).toBe(2);
      expect(await a.unwrap(2, w.wrapped, aadOf('b'))).toEqual(key);
      expect(await b.unwrap(2, underV2.wrapped, aadOf('r2'))).toEqual(underV2.key);
    });

    it('a version made by another process is found by refresh(), and by unwrap without one', async () => {
      await hsm.createKekVersion(3);
      expect(a.versions()).toEqual([1, 2]);
      await a.refresh();
      expect(a.versions()).toEqual([1, 2, 3]);
      const key = randomBytes(32);
      const w = await a.wrap(key, aadOf('x'));
      expect(w.kekVersion).toBe(3);
      // B has not refreshed: an unknown version makes it re-list once.
      expect(b.versions()).toEqual([1, 2]);
      expect(await b.unwrap(3, w.wrapped, aadOf('x'))).toEqual(key);
      expect(b.currentVersion()).toBe(3);
    });

    it('two objects given one label by a race: new wraps use the lowest CKA_ID, data under either unwraps', async () => {
      expect(await a.createVersion()).toBe(4);
      const first = randomBytes(32);
      const w1 = await a.wrap(first, aadOf('race'));
      expect(w1.kekVersion).toBe(4);
      // Another node made its own roster-kek-4 at the same time; its CKA_ID sorts first.
      await hsm.createKekVersion(4, { lowestId: true });
      expect((await hsm.inspectKek(4)).count).toBe(2);
      await a.refresh();
      expect(a.versions()).toEqual([1, 2, 3, 4]);
      const second = randomBytes(32);
      const w2 = await a.wrap(second, aadOf('race'));
      expect(w2.kekVersion).toBe(4);
      // w2 is under the other object (w1's object no longer sorts first): both still unwrap, on both nodes.
      await b.refresh();
      for (const p of [a, b]) {
        expect(await p.unwrap(4, w1.wrapped, aadOf('race'))).toEqual(first);
        expect(await p.unwrap(4, w2.wrapped, aadOf('race'))).toEqual(second);
      }
      expect((await rejection(a.unwrap(4, w2.wrapped, aadOf('other')))).code).toBe('crypto.integrity');
    });

    it('a removed version: its data is crypto.integrity while the others work', async () => {
      await hsm.removeKekVersion(1);
      expect(await hsm.kekLabels()).not.toContain('roster-kek-1');
      // A still holds a handle for version 1: the token says it is invalid, the token itself answers.
      const err = await rejection(a.unwrap(1, underV1.wrapped, aadOf('r1')));
      expect(err.code).toBe('crypto.integrity');
      expect(err.detail).toBe('the key-encryption key version is not in the HSM');
      expect(a.versions()).toEqual([2, 3, 4]);
      expect(await a.unwrap(2, underV2.wrapped, aadOf('r2'))).toEqual(underV2.key);
      expect((await rejection(b.unwrap(1, underV1.wrapped, aadOf('r1')))).code).toBe('crypto.integrity');
      expect(await b.unwrap(2, underV2.wrapped, aadOf('r2'))).toEqual(underV2.key);
    });

    it('destroyVersion removes a version from the token', async () => {
      await a.destroyVersion(3);
      expect(a.versions()).toEqual([2, 4]);
      expect(await hsm.kekLabels()).toEqual(['roster-kek-2', 'roster-kek-4', 'roster-kek-4']);
      await b.refresh();
      expect(b.versions()).toEqual([2, 4]);
    });
  });

  describe('an outage of the HSM', () => {
    it('wrap, unwrap, refresh and createVersion reject with crypto.unavailable while the token is away', async () => {
      const key = randomBytes(32);
      const before = await a.wrap(key, aadOf('outage'));
      await hsm.makeUnavailable();
      try {
        const wrapErr = await rejection(a.wrap(randomBytes(32), aadOf('outage')));
        expect(wrapErr.code).toBe('crypto.unavailable');
        expect(wrapErr.status).toBe(503);
        const unwrapErr = await rejection(a.unwrap(before.kekVersion, before.wrapped, aadOf('outage')));
        expect(unwrapErr.code).toBe('crypto.unavailable');
        expect((await rejection(a.refresh())).code).toBe('crypto.unavailable');
        expect((await rejection(a.createVersion())).code).toBe('crypto.unavailable');
        // B, which shares the process's PKCS#11 library, is cut off as well.
        expect((await rejection(b.unwrap(before.kekVersion, before.wrapped, aadOf('outage')))).code).toBe(
          'crypto.unavailable',
        );
        for (const e of [wrapErr, unwrapErr]) expect(allText(e)).not.toContain(hsm.pin);
        // What was known is still reported.
        expect(a.versions()).toEqual([2, 4]);
        expect(a.currentVersion()).toBe(4);
      } finally {
        await hsm.makeAvailable();
      }
      // The same instances reconnect by themselves.
      expect(await a.unwrap(before.kekVersion, before.wrapped, aadOf('outage'))).toEqual(key);
      const after = await a.wrap(key, aadOf('outage'));
      expect(after.kekVersion).toBe(4);
      expect(await b.unwrap(after.kekVersion, after.wrapped, aadOf('outage'))).toEqual(key);
      expect(await hsm.kekLabels()).toEqual(['roster-kek-2', 'roster-kek-4', 'roster-kek-4']);
    });

    it('an outage that starts on an idle provider is seen by its first call, and recovered from', async () => {
      await hsm.makeUnavailable();
      try {
        expect((await rejection(b.unwrap(4, randomBytes(60), aadOf('idle')))).code).toBe(
          'crypto.unavailable',
        );
        expect((await rejection(b.wrap(randomBytes(32), aadOf('idle')))).code).toBe('crypto.unavailable');
      } finally {
        await hsm.makeAvailable();
      }
      const key = randomBytes(32);
      const w = await b.wrap(key, aadOf('idle'));
      expect(await b.unwrap(w.kekVersion, w.wrapped, aadOf('idle'))).toEqual(key);
    });
  });

  describe('concurrency', () => {
    it('200 concurrent wraps and unwraps on one provider all succeed', async () => {
      const keys = Array.from({ length: 200 }, () => randomBytes(32));
      const wrapped = await Promise.all(keys.map((k, i) => a.wrap(k, aadOf(`c${i}`))));
      expect(wrapped.every((w) => w.kekVersion === 4)).toBe(true);
      const back = await Promise.all(
        wrapped.map((w, i) => a.unwrap(w.kekVersion, w.wrapped, aadOf(`c${i}`))),
      );
      back.forEach((k, i) => {
        expect(k).toEqual(keys[i]);
      });
      // Interleaved: wraps and unwraps of both nodes in flight together.
      const mixed = await Promise.all(
        keys.map(async (k, i) => {
          const p = i % 2 === 0 ? a : b;
          const w = await p.wrap(k, aadOf(`m${i}`));
          return (i % 3 === 0 ? a : b).unwrap(w.kekVersion, w.wrapped, aadOf(`m${i}`));
        }),
      );
      mixed.forEach((k, i) => {
        expect(k).toEqual(keys[i]);
      });
    });
  });

  describe('closing', () => {
    it('a closed provider refuses work; the other keeps its login and session', async () => {
      const key = randomBytes(32);
      const w = await a.wrap(key, aadOf('close'));
      await a.close();
      expect((await rejection(a.wrap(key, aadOf('close')))).code).toBe('crypto.unavailable');
      expect(await b.unwrap(w.kekVersion, w.wrapped, aadOf('close'))).toEqual(key);
      await b.close();
      // With every provider closed the library is finalised; a new one starts from scratch.
      const c = await open();
      expect(c.versions()).toEqual([2, 4]);
      expect(await c.unwrap(w.kekVersion, w.wrapped, aadOf('close'))).toEqual(key);
      await c.close();
    });
  });
});
