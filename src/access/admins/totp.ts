import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * One-time passwords, no I/O: HOTP (RFC 4226) and TOTP (RFC 6238), base32 secrets (RFC 4648 §6) and the
 * `otpauth://` URI that authenticator apps read from a QR code.
 */

export type TotpAlgorithm = 'SHA1' | 'SHA256' | 'SHA512';

export interface TotpParams {
  readonly algorithm: TotpAlgorithm;
  readonly digits: number;
  /** The time step X in seconds (RFC 6238 §4.1). */
  readonly period: number;
}

/** What every authenticator app supports: HMAC-SHA1, 6 digits, 30 s. */
export const TOTP_DEFAULTS: TotpParams = { algorithm: 'SHA1', digits: 6, period: 30 };

/** Steps accepted either side of the current one, for clock drift (RFC 6238 §5.2 recommends at most one). */
export const TOTP_WINDOW = 1;

/** A new secret: 160 bits, the length RFC 4226 §4 recommends. */
export function newTotpSecret(): Buffer {
  return randomBytes(20);
}

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** RFC 4648 §6 base32, upper case, without padding (the form otpauth URIs use). */
export function base32Encode(bytes: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/**
 * Decodes base32, ignoring case, spaces, dashes and `=` padding (as people type secrets).
 * @throws TypeError on any other character
 */
export function base32Decode(text: string): Buffer {
  const clean = text.replace(/[\s=-]/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const v = BASE32.indexOf(ch);
    if (v < 0) throw new TypeError('not a base32 string');
    value = ((value << 5) | v) & 0xffff;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** RFC 4226 §5.3: HMAC of the 8-byte big-endian counter, dynamic truncation, modulo 10^digits. */
export function hotp(
  secret: Uint8Array,
  counter: number,
  digits = 6,
  algorithm: TotpAlgorithm = 'SHA1',
): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac(algorithm.toLowerCase(), secret).update(msg).digest();
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/** RFC 6238 §4.2: the time step of a moment, T = floor((unix time - T0) / X) with T0 = 0. */
export function timeStep(at: Date | number, period = TOTP_DEFAULTS.period): number {
  const ms = typeof at === 'number' ? at : at.getTime();
  return Math.floor(ms / 1000 / period);
}

/** The TOTP code at a moment. */
export function totp(secret: Uint8Array, at: Date | number, params: TotpParams = TOTP_DEFAULTS): string {
  return hotp(secret, timeStep(at, params.period), params.digits, params.algorithm);
}

/**
 * Checks a code against the steps around `at` (±`TOTP_WINDOW`) and returns the step it matched, or null.
 * A step at or before `lastStep` never matches: each code is usable once, and never an older one after a
 * newer one was used (RFC 6238 §5.2). The caller stores the returned step as the account's new `lastStep`.
 */
export function verifyTotp(
  secret: Uint8Array,
  code: string,
  at: Date | number,
  lastStep: number | null,
  params: TotpParams = TOTP_DEFAULTS,
): number | null {
  if (!/^[0-9]+$/.test(code) || code.length !== params.digits) return null;
  const now = timeStep(at, params.period);
  let matched: number | null = null;
  // Every step of the window is computed, whatever matches, so the time taken says nothing about which did.
  for (let step = now - TOTP_WINDOW; step <= now + TOTP_WINDOW; step++) {
    const expected = Buffer.from(hotp(secret, step, params.digits, params.algorithm));
    const same = timingSafeEqual(expected, Buffer.from(code));
    if (same && matched === null && (lastStep === null || step > lastStep)) matched = step;
  }
  return matched;
}

/**
 * The Key Uri Format authenticator apps read
 * (https://github.com/google/google-authenticator/wiki/Key-Uri-Format): label `issuer:account`.
 */
export function otpauthUri(
  secret: Uint8Array,
  issuer: string,
  account: string,
  params: TotpParams = TOTP_DEFAULTS,
): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({
    secret: base32Encode(secret),
    issuer,
    algorithm: params.algorithm,
    digits: String(params.digits),
    period: String(params.period),
  });
  return `otpauth://totp/${label}?${query.toString()}`;
}
