import { describe, expect, it } from 'vitest';
import {
  base32Decode,
  base32Encode,
  hotp,
  newTotpSecret,
  otpauthUri,
  type TotpAlgorithm,
  timeStep,
  totp,
  verifyTotp,
} from '../../../src/access/admins/totp.js';

// RFC 6238 Appendix B: the seed for each HMAC is the ASCII digits repeated to the hash's output length.
const SEEDS: Record<TotpAlgorithm, Buffer> = {
  SHA1: Buffer.from('12345678901234567890', 'ascii'),
  SHA256: Buffer.from('12345678901234567890123456789012', 'ascii'),
  SHA512: Buffer.from('1234567890123456789012345678901234567890123456789012345678901234', 'ascii'),
};

const RFC6238: [number, TotpAlgorithm, string][] = [
  [59, 'SHA1', '94287082'],
  [59, 'SHA256', '46119246'],
  [59, 'SHA512', '90693936'],
  [1111111109, 'SHA1', '07081804'],
  [1111111109, 'SHA256', '68084774'],
  [1111111109, 'SHA512', '25091201'],
  [1111111111, 'SHA1', '14050471'],
  [1111111111, 'SHA256', '67062674'],
  [1111111111, 'SHA512', '99943326'],
  [1234567890, 'SHA1', '89005924'],
  [1234567890, 'SHA256', '91819424'],
  [1234567890, 'SHA512', '93441116'],
  [2000000000, 'SHA1', '69279037'],
  [2000000000, 'SHA256', '90698825'],
  [2000000000, 'SHA512', '38618901'],
  [20000000000, 'SHA1', '65353130'],
  [20000000000, 'SHA256', '77737706'],
  [20000000000, 'SHA512', '47863826'],
];

// RFC 4226 Appendix D: HOTP values for counts 0..9 of the 20-byte seed.
const RFC4226 = [
  '755224',
  '287082',
  '359152',
  '969429',
  '338314',
  '254676',
  '287922',
  '162583',
  '399871',
  '520489',
];

describe('HOTP (RFC 4226)', () => {
  it.each(RFC4226.map((code, count) => [count, code] as const))('count %i gives %s', (count, code) => {
    expect(hotp(SEEDS.SHA1, count)).toBe(code);
  });
});

describe('TOTP (RFC 6238 Appendix B)', () => {
  it.each(RFC6238)('T=%i %s gives %s', (seconds, algorithm, code) => {
    expect(totp(SEEDS[algorithm], seconds * 1000, { algorithm, digits: 8, period: 30 })).toBe(code);
  });

  it('computes the time step as floor(unix seconds / 30)', () => {
    expect(timeStep(59_000)).toBe(1);
    expect(timeStep(new Date(1111111109_000))).toBe(0x23523ec);
    expect(timeStep(20000000000_000)).toBe(0x27bc86aa);
  });
});

describe('base32 (RFC 4648 §10)', () => {
  const vectors: [string, string][] = [
    ['', ''],
    ['f', 'MY'],
    ['fo', 'MZXQ'],
    ['foo', 'MZXW6'],
    ['foob', 'MZXW6YQ'],
    ['fooba', 'MZXW6YTB'],
    ['foobar', 'MZXW6YTBOI'],
  ];
  it.each(vectors)('%j <-> %s', (plain, encoded) => {
    expect(base32Encode(Buffer.from(plain))).toBe(encoded);
    expect(base32Decode(encoded).toString()).toBe(plain);
  });

  it('decodes padding, lower case, spaces and dashes as people type them', () => {
    expect(base32Decode('mzxw 6ytb-oi======').toString()).toBe('foobar');
  });

  it('refuses characters outside the alphabet', () => {
    expect(() => base32Decode('MZXW1')).toThrow(TypeError);
  });

  it('round-trips random secrets', () => {
    for (let i = 0; i < 50; i++) {
      const s = newTotpSecret();
      expect(s.length).toBe(20);
      expect(base32Decode(base32Encode(s)).equals(s)).toBe(true);
    }
  });
});

describe('verifyTotp: window and replay', () => {
  const secret = SEEDS.SHA1;
  const at = 1111111111_000;
  const step = timeStep(at);

  it('accepts the current step and one step either side, nothing further', () => {
    expect(verifyTotp(secret, hotp(secret, step), at, null)).toBe(step);
    expect(verifyTotp(secret, hotp(secret, step - 1), at, null)).toBe(step - 1);
    expect(verifyTotp(secret, hotp(secret, step + 1), at, null)).toBe(step + 1);
    expect(verifyTotp(secret, hotp(secret, step - 2), at, null)).toBeNull();
    expect(verifyTotp(secret, hotp(secret, step + 2), at, null)).toBeNull();
  });

  it('refuses a code whose step was used, and any older one', () => {
    const code = hotp(secret, step);
    const used = verifyTotp(secret, code, at, null);
    expect(used).toBe(step);
    expect(verifyTotp(secret, code, at, used)).toBeNull();
    expect(verifyTotp(secret, hotp(secret, step - 1), at, used)).toBeNull();
    expect(verifyTotp(secret, hotp(secret, step + 1), at, used)).toBe(step + 1);
  });

  it('refuses malformed codes and another secret', () => {
    const code = hotp(secret, step);
    for (const bad of ['', '12345', '1234567', 'abcdef', ` ${code.slice(1)}`, `${code}0`]) {
      expect(verifyTotp(secret, bad, at, null)).toBeNull();
    }
    expect(verifyTotp(newTotpSecret(), code, at, null)).toBeNull();
  });

  it('the code an authenticator shows for the otpauth URI verifies', () => {
    const s = newTotpSecret();
    const uri = new URL(otpauthUri(s, 'Roster', 'alice@example.test'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Roster:alice@example.test');
    expect(uri.searchParams.get('issuer')).toBe('Roster');
    expect(uri.searchParams.get('algorithm')).toBe('SHA1');
    expect(uri.searchParams.get('digits')).toBe('6');
    expect(uri.searchParams.get('period')).toBe('30');
    // An app decodes the secret from the URI and computes the code from the time alone.
    const fromApp = base32Decode(uri.searchParams.get('secret') as string);
    const now = Date.now();
    expect(verifyTotp(s, totp(fromApp, now), now, null)).toBe(timeStep(now));
  });
});
