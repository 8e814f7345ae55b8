import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { RosterError } from '../../platform/errors.js';
import type { RoleGrant } from '../permissions.js';
import { base32Encode } from './totp.js';

/** An admin account as the API shows it: never the password hash, TOTP secret or recovery codes. */
export interface AdminAccount {
  readonly id: string;
  /** Null: a platform admin account. */
  readonly tenantId: string | null;
  readonly username: string;
  readonly roles: readonly string[];
  readonly roleGrants: readonly RoleGrant[];
  readonly disabled: boolean;
  /** False until the account confirmed a TOTP secret (and again after a reset). */
  readonly totpEnrolled: boolean;
  readonly recoveryCodesLeft: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly version: number;
}

/** Usernames are unique per tenant whatever their case or Unicode form. */
export function normaliseUsername(username: string): string {
  return username.normalize('NFC').toLowerCase();
}

export function usernameKey(tenantId: string | null, username: string): string {
  return `${tenantId ?? 'platform'}:${normaliseUsername(username)}`;
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** A 256-bit random secret (session ids, challenges), base64url. One SHA-256 is its stored form. */
export function newSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * A session's CSRF token, derived from its secret: whoever holds the cookie can be told it again (after a
 * reload of the console), and it is useless without the cookie. Only its hash is stored.
 */
export function csrfTokenOf(sessionSecret: string): string {
  return createHmac('sha256', sessionSecret).update('roster/csrf').digest('base64url');
}

/** Constant-time comparison of a presented value's hash with a stored SHA-256 hex. */
export function matchesHash(presented: string, storedHex: string): boolean {
  const a = Buffer.from(sha256Hex(presented), 'hex');
  const b = Buffer.from(storedHex, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export const RECOVERY_CODE_COUNT = 10;

/** Ten recovery codes of 80 random bits each, as `xxxx-xxxx-xxxx-xxxx` (base32, lower case). */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () =>
    (base32Encode(randomBytes(10)).toLowerCase().match(/.{4}/g) ?? []).join('-'),
  );
}

/** The stored form of a recovery code (80 random bits: a fast hash is enough), ignoring case and dashes. */
export function hashRecoveryCode(code: string): string {
  return sha256Hex(`roster/recovery|${code.replace(/[\s-]/g, '').toLowerCase()}`);
}

/** How failed logins are throttled for one kind of key. */
export interface ThrottlePolicy {
  /** Failures allowed before the first lock. */
  readonly threshold: number;
  readonly firstLockMs: number;
  readonly maxLockMs: number;
  /** A counter whose last failure is older than this starts again from zero. */
  readonly forgetAfterMs: number;
}

export const ACCOUNT_THROTTLE: ThrottlePolicy = {
  threshold: 5,
  firstLockMs: 1_000,
  maxLockMs: 15 * 60_000,
  forgetAfterMs: 24 * 60 * 60_000,
};

/** Per IP: more failures before a lock (many people may share one address), then the same growth. */
export const IP_THROTTLE: ThrottlePolicy = { ...ACCOUNT_THROTTLE, threshold: 20 };

/** How long a key is locked after its `failures`-th failure: 0 below the threshold, then doubling. */
export function lockMs(policy: ThrottlePolicy, failures: number): number {
  if (failures < policy.threshold) return 0;
  const doublings = Math.min(failures - policy.threshold, 30);
  return Math.min(policy.maxLockMs, policy.firstLockMs * 2 ** doublings);
}

/** A role as the API takes it: a name, or a grant ending at a time. */
export type GrantInput = string | { readonly role: string; readonly expiresAt?: string | null };

/**
 * Grants from the API form: times normalised to ISO-8601 UTC, one grant per role (the first wins).
 * @throws admins.invalid_expiry for a grant ending in the past
 */
export function grantsOf(input: readonly GrantInput[], now: Date): RoleGrant[] {
  const out: RoleGrant[] = [];
  for (const [i, g] of input.entries()) {
    const role = typeof g === 'string' ? g : g.role;
    const at = typeof g === 'string' ? null : (g.expiresAt ?? null);
    if (at !== null && !(Date.parse(at) > now.getTime())) {
      throw new RosterError('admins.invalid_expiry', {
        errors: [{ pointer: `/roles/${i}/expiresAt`, detail: 'must be in the future' }],
      });
    }
    if (!out.some((x) => x.role === role)) {
      out.push({ role, expiresAt: at === null ? null : new Date(at).toISOString() });
    }
  }
  return out;
}
