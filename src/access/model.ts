import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** An API token as shown to callers: never the secret, never its hash. */
export interface ApiToken {
  readonly id: string;
  readonly tenantId: string | null;
  readonly name: string;
  readonly roles: readonly string[];
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
