import { normaliseCaseless } from '../crypto/model.js';
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
  /**
   * Who the user is in the organisation ("Nurse", "Sales Engineer"): RFC 7643 §4.1.2 `roles`, free text with
   * no vocabulary, distinct without regard to case. Not Roster's access roles, which go to tokens and admins.
   */
  readonly roles: readonly MultiValue[];
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

/** A role value as it is compared and indexed: NFC, lower case. */
export const roleKey = normaliseCaseless;

/** Emails normalised for blind indexing and uniqueness: distinct, case-insensitive. */
export function distinctEmails(emails: readonly MultiValue[]): string[] {
  return [...new Set(emails.map((e) => normaliseCaseless(e.value)))];
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

/** Plain (unencrypted) user attributes a search may compare, by their column. */
export const USER_SEARCH_COLUMNS = {
  id: 'id',
  externalId: 'external_id',
  title: 'title',
  department: 'department',
  site: 'site',
  country: 'country',
  kind: 'kind',
  status: 'status',
  manager: 'manager_id',
  createdAt: 'created_at',
  updatedAt: 'updated_at',
} as const;
export type UserSearchColumn = keyof typeof USER_SEARCH_COLUMNS;

/** Sealed user attributes whose presence a search may test (their ciphertext column is null when absent). */
export const USER_SEALED_COLUMNS = {
  userName: 'user_name_enc',
  givenName: 'given_name_enc',
  familyName: 'family_name_enc',
  formattedName: 'formatted_name_enc',
  displayName: 'display_name_enc',
  emails: 'emails_enc',
  phoneNumbers: 'phone_numbers_enc',
  addresses: 'addresses_enc',
} as const;
export type UserSealedField = keyof typeof USER_SEALED_COLUMNS;

export type SearchOp = 'eq' | 'ne' | 'co' | 'sw' | 'ew' | 'gt' | 'ge' | 'lt' | 'le';

/**
 * A search over a tenant's users, run as one database query (SCIM filters translate into it). Sealed
 * attributes are matched only through their blind indexes: `sealedEq` is a case-insensitive equality on
 * `userName` or on any e-mail address; nothing else about a sealed value can be asked but its presence.
 */
export type UserCondition =
  | { readonly kind: 'all' }
  | { readonly kind: 'none' }
  | { readonly kind: 'and' | 'or'; readonly items: readonly UserCondition[] }
  | { readonly kind: 'not'; readonly item: UserCondition }
  | {
      readonly kind: 'column';
      readonly column: UserSearchColumn;
      readonly op: SearchOp;
      readonly value: string;
      /** False: compare case-insensitively (lower-cased on both sides). */
      readonly caseExact: boolean;
    }
  | { readonly kind: 'present'; readonly column: UserSearchColumn }
  | { readonly kind: 'sealedPresent'; readonly field: UserSealedField }
  | { readonly kind: 'sealedEq'; readonly field: 'userName' | 'email'; readonly value: string }
  /**
   * Every one of `texts` (normalised: NFC, lower case) is a prefix (`prefix`) or a trigram (`gram`) of userName
   * or of an e-mail address: exact for a prefix of up to 32 characters, a superset otherwise (the caller checks
   * the candidates).
   */
  | {
      readonly kind: 'sealedTerms';
      readonly field: 'userName' | 'email';
      readonly termKind: 'prefix' | 'gram';
      readonly texts: readonly string[];
    }
  /** Some membership of the user whose group id satisfies the condition (SCIM `groups[…]`). */
  | { readonly kind: 'memberOf'; readonly group: MembershipCondition }
  /**
   * Some role of the user whose value satisfies `test` (caseless), or any role when `test` is null. A
   * multi-valued `ne` is the negation of `eq`: no role has the value.
   */
  | {
      readonly kind: 'role';
      readonly test: { readonly op: Exclude<SearchOp, 'ne'>; readonly value: string } | null;
    };

/** A condition as the store runs it: sealed equalities resolved to blind indexes under every live key version. */
export type IndexedUserCondition =
  | Exclude<UserCondition, { kind: 'and' | 'or' | 'not' | 'sealedEq' | 'sealedTerms' }>
  | { readonly kind: 'and' | 'or'; readonly items: readonly IndexedUserCondition[] }
  | { readonly kind: 'not'; readonly item: IndexedUserCondition }
  | {
      readonly kind: 'blindIndex';
      readonly field: 'userName' | 'email';
      readonly indexes: readonly string[];
    }
  /**
   * Each group: one term's indexes under every live key version; the user must hold one of every group.
   * `narrowable` (trigrams, whose matches the caller checks one by one anyway): the store may keep only the
   * rarest groups, a superset that costs far less to find than the intersection of every common trigram.
   */
  | {
      readonly kind: 'terms';
      readonly groups: readonly (readonly string[])[];
      readonly narrowable: boolean;
    };

/** Order of a search: a plain column, ascending or descending; ties (and the default) by id, the creation order. */
export interface UserSort {
  readonly column: UserSearchColumn;
  readonly descending: boolean;
  /** False: ordered by the lower-cased value (RFC 7644 §3.4.2.3). */
  readonly caseExact: boolean;
}

/** Order of a group search, as UserSort. */
export interface GroupSort {
  readonly column: GroupSearchColumn;
  readonly descending: boolean;
  readonly caseExact: boolean;
}

/**
 * A condition on the other side of one membership row (a group's id, or a member's user id), so that
 * `members[value eq "a" and value eq "b"]` asks for one member that is both, as SCIM means it.
 */
export type MembershipCondition =
  | { readonly kind: 'any' }
  | { readonly kind: 'and' | 'or'; readonly items: readonly MembershipCondition[] }
  | { readonly kind: 'not'; readonly item: MembershipCondition }
  | { readonly kind: 'eq' | 'ne'; readonly id: string };

/** Plain group attributes a search may compare. */
export type GroupSearchColumn = 'id' | 'displayName' | 'externalId' | 'createdAt' | 'updatedAt';

/** A search over a tenant's groups, run as one database query. */
export type GroupCondition =
  | { readonly kind: 'all' }
  | { readonly kind: 'none' }
  | { readonly kind: 'and' | 'or'; readonly items: readonly GroupCondition[] }
  | { readonly kind: 'not'; readonly item: GroupCondition }
  | {
      readonly kind: 'column';
      readonly column: GroupSearchColumn;
      readonly op: SearchOp;
      readonly value: string;
      readonly caseExact: boolean;
    }
  | { readonly kind: 'present'; readonly column: GroupSearchColumn }
  /** Some member of the group whose user id satisfies the condition (SCIM `members[…]`). */
  | { readonly kind: 'members'; readonly member: MembershipCondition };

/** Search terms: prefixes are indexed up to this many characters; a longer `sw` is matched on this prefix, then checked. */
export const PREFIX_MAX = 32;
/** Search terms: substrings are indexed as trigrams; `co` and `ew` need at least this many characters. */
export const GRAM = 3;
