import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** An API token as shown to callers: never the secret, never its hash. */
export interface ApiToken {
  readonly id: string;
  readonly tenantId: string | null;
  readonly name: string;
  /** The roles given (names; see `roleGrants` for their expiry). */
  readonly roles: readonly string[];
  /** Each role given, with the time it ends (null: until the token ends). */
  readonly roleGrants: readonly RoleGrant[];
  readonly createdAt: string;
  readonly createdBy: string | null;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
}

export const TOKEN_PREFIX = 'rst_';

/** A new token secret: 256 random bits, base64url, with a prefix that secret scanners can recognise. */
export function newTokenSecret(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
}

/**
 * The stored form of a token. The secret carries 256 bits of entropy, so one SHA-256 is enough: there is
 * nothing to brute-force that a slow hash would protect.
 */
export function hashToken(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time comparison of two token secrets (by their hashes, so lengths never leak). */
export function sameSecret(a: string, b: string): boolean {
  return timingSafeEqual(Buffer.from(hashToken(a), 'hex'), Buffer.from(hashToken(b), 'hex'));
}

export function isUsable(token: ApiToken, now: Date): boolean {
  if (token.revokedAt !== null) return false;
  return token.expiresAt === null || token.expiresAt > now.toISOString();
}

/** A role given to a token or admin account, optionally only until `expiresAt`. */
export interface RoleGrant {
  readonly role: string;
  readonly expiresAt: string | null;
}

/** The grants in force at `now` (an expired grant counts for nothing), as role names. */
export function rolesInForce(grants: readonly RoleGrant[], now: Date): string[] {
  const at = now.toISOString();
  return [...new Set(grants.filter((g) => g.expiresAt === null || g.expiresAt > at).map((g) => g.role))];
}

/** Stored grants: plain names (tokens made before grants could expire) or `{role, expiresAt}`. */
export function parseGrants(json: string): RoleGrant[] {
  const raw = JSON.parse(json) as unknown[];
  return raw.map((g) =>
    typeof g === 'string'
      ? { role: g, expiresAt: null }
      : { role: String((g as RoleGrant).role), expiresAt: (g as RoleGrant).expiresAt ?? null },
  );
}
