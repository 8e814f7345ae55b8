import { RosterError } from '../platform/errors.js';

export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly createdAt: string;
}

export const USER_KINDS = ['employee', 'contractor', 'external', 'service'] as const;
export type UserKind = (typeof USER_KINDS)[number];

/**
 * Lifecycle status. `active` (the boolean) is derived: a user is active exactly when status is `active`.
 * staged: created, not yet allowed in; suspended: temporarily off; deprovisioned: left, access removed.
 */
export const USER_STATUSES = ['staged', 'active', 'suspended', 'deprovisioned'] as const;
export type UserStatus = (typeof USER_STATUSES)[number];

export interface MultiValue {
  readonly value: string;
  readonly type?: string;
  readonly primary?: boolean;
  readonly display?: string;
}

export interface Address {
  readonly type?: string;
  readonly formatted?: string;
  readonly streetAddress?: string;
  readonly locality?: string;
  readonly region?: string;
  readonly postalCode?: string;
  readonly country?: string;
  readonly primary?: boolean;
}

export interface PersonName {
  readonly givenName?: string;
  readonly familyName?: string;
  readonly formatted?: string;
}

export interface Location {
  readonly site: string | null;
  readonly country: string | null;
}

/** The decrypted user, as services see it. */
export interface User {
  readonly id: string;
  readonly tenantId: string;
  readonly version: number;
  readonly userName: string;
  readonly externalId: string | null;
  readonly name: PersonName | null;
  readonly displayName: string | null;
  readonly emails: readonly MultiValue[];
  readonly phoneNumbers: readonly MultiValue[];
  readonly addresses: readonly Address[];
  readonly title: string | null;
  readonly department: string | null;
  readonly location: Location | null;
  readonly kind: UserKind;
  readonly manager: string | null;
  readonly status: UserStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** The fields a caller may set; everything else (id, version, times) is Roster's. */
export type UserFields = Omit<User, 'id' | 'tenantId' | 'version' | 'createdAt' | 'updatedAt'>;

/** Input of a create or a merge-patch: any writable field, `active` as an alias for status. */
export type UserInput = Partial<{ -readonly [K in keyof UserFields]: UserFields[K] | null }> & {
  active?: boolean | null;
};

/** Fields stored only as ciphertext (invariant 6). */
export const USER_PII_FIELDS = [
  'userName',
  'name',
  'displayName',
  'emails',
  'phoneNumbers',
  'addresses',
] as const;

export interface Group {
  readonly id: string;
  readonly tenantId: string;
  readonly version: number;
  readonly displayName: string;
  readonly externalId: string | null;
  readonly description: string | null;
  readonly memberCount: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export interface GroupInput {
  displayName?: string | null;
  externalId?: string | null;
  description?: string | null;
  members?: string[] | null;
}

/**
 * Resolves the requested status from `status` and the `active` alias: active=true means status active,
 * active=false means suspended unless a non-active status is given alongside.
 * @throws identity.inconsistent_status when both are given and disagree.
 */
export function resolveStatus(
  current: UserStatus,
  status: UserStatus | null | undefined,
  active: boolean | null | undefined,
): UserStatus {
  if (status != null && active != null && (status === 'active') !== active) {
    throw new RosterError('identity.inconsistent_status', {
      errors: [{ pointer: '/active', detail: 'disagrees with /status' }],
    });
  }
  if (status != null) return status;
  if (active === true) return 'active';
  if (active === false) return current === 'active' ? 'suspended' : current;
  return current;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 7396 JSON merge patch: objects merge, null removes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    // defineProperty: a member named __proto__ stays an own member and never becomes the prototype.
    else
      Object.defineProperty(out, k, {
        value: mergePatch(out[k], v),
        enumerable: true,
        writable: true,
        configurable: true,
      });
  }
  return out;
}

/** Emails normalised for blind indexing and uniqueness: distinct, case-insensitive. */
export function distinctEmails(emails: readonly MultiValue[]): string[] {
  return [...new Set(emails.map((e) => e.value.normalize('NFC').toLowerCase()))];
}

export { etagOf, matchesVersion } from '../platform/etag.js';

/** The record of a GDPR erasure (Art. 17): who asked, when it was done. It holds no personal data. */
export interface ErasureRecord {
  readonly id: string;
  readonly userId: string;
  readonly state: 'completed';
  /** `token:<id>`, `cli` or `system`. */
  readonly requestedBy: string;
  readonly requestedAt: string;
  readonly completedAt: string;
}
