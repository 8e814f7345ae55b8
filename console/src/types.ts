/** The shapes of Roster's API answers that the console reads (see the route schemas under src/). */

export interface RoleGrant {
  readonly role: string;
  readonly expiresAt: string | null;
}

export interface AdminAccount {
  readonly id: string;
  readonly tenantId: string | null;
  readonly username: string;
  readonly roles: readonly string[];
  readonly roleGrants?: readonly RoleGrant[];
  readonly disabled?: boolean;
  readonly totpEnrolled?: boolean;
  readonly recoveryCodesLeft?: number;
}

export interface SessionView {
  readonly csrfToken: string;
  readonly createdAt?: string;
  readonly lastSeenAt?: string;
  readonly expiresAt: string;
  readonly idleExpiresAt?: string;
  readonly admin: AdminAccount;
}

export interface PasswordStep {
  readonly mfa: 'required' | 'enrolment_required';
  readonly challenge: string;
  readonly otpauthUri?: string;
  readonly secret?: string;
}

export interface Tenant {
  readonly id: string;
  readonly name: string;
  readonly createdAt?: string;
}

export interface MultiValue {
  readonly value: string;
  readonly type?: string;
  readonly primary?: boolean;
  readonly display?: string;
}

export type UserStatus = 'staged' | 'active' | 'suspended' | 'deprovisioned';
export const USER_STATUSES: readonly UserStatus[] = ['staged', 'active', 'suspended', 'deprovisioned'];
export const USER_KINDS = ['employee', 'contractor', 'external', 'service'] as const;

export interface User {
  readonly id: string;
  readonly userName: string;
  readonly externalId: string | null;
  readonly name: { givenName?: string; familyName?: string; formatted?: string } | null;
  readonly displayName: string | null;
  readonly emails: readonly MultiValue[];
  readonly phoneNumbers: readonly MultiValue[];
  readonly title: string | null;
  readonly department: string | null;
  /**
   * Who the person is in the organisation ("Nurse"): SCIM `roles` (RFC 7643 §4.1.2), free text, each value once
   * without regard to case, at most one primary. Not Roster's access roles (those of tokens and admins).
   */
  readonly roles: readonly MultiValue[];
  readonly location: { site: string | null; country: string | null } | null;
  readonly kind: string;
  readonly manager: string | null;
  readonly active: boolean;
  readonly status: UserStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly version: number;
}

export interface Group {
  readonly id: string;
  readonly displayName: string;
  readonly externalId: string | null;
  readonly description: string | null;
  readonly memberCount?: number;
  readonly version: number;
  readonly createdAt: string;
}

export interface Member {
  readonly userId: string;
  readonly addedAt: string;
}

export interface Product {
  readonly id: string;
  readonly sku: string;
  readonly name: string;
  readonly createdAt: string;
  /** In lists: everyone waiting for a seat of the product, and since when the longest-waiting one waits. */
  readonly waitlisted?: number;
  readonly oldestWaitSince?: string | null;
}

export interface Pool {
  readonly id: string;
  readonly name: string;
  readonly product: string;
  readonly capacity: number;
  readonly used: number;
  readonly waitlisted: number;
  readonly location: { site: string | null; country: string | null } | null;
  readonly priority: number;
  /** Percent of capacity the pool is meant to run at (1-100, default 90); drawn, not enforced. */
  readonly utilisationCap: number;
  readonly version: number;
}

/** A pool's seat counters at one instant of its utilisation history. */
export interface UsagePoint {
  readonly at: string;
  readonly capacity: number;
  readonly used: number;
  readonly waitlisted: number;
}

/** GET /api/v1/products/{sku}/usage: each pool's history over [since, until]. */
export interface ProductUsage {
  readonly product: string;
  readonly since: string;
  readonly until: string;
  readonly pools: readonly {
    readonly id: string;
    readonly name: string;
    readonly capacity: number;
    readonly utilisationCap: number;
    /** In time order; the first may be the value in force at since (its `at` is then since). */
    readonly items: readonly UsagePoint[];
  }[];
}

export interface Assignment {
  readonly product: string;
  readonly state: 'active' | 'waitlisted';
  readonly source: string;
  readonly pool?: { id: string; name: string };
  readonly waitlistPosition?: number;
}

export interface AuditEntry {
  readonly seq: number;
  readonly leafIndex: number | null;
  readonly time: string;
  readonly tenantId: string | null;
  readonly actor: string;
  readonly action: string;
  readonly target: { type: string; id: string | null };
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
  readonly requestId: string | null;
}

export interface Checkpoint {
  readonly origin: string;
  readonly treeSize: number;
  readonly rootHash: string;
  readonly time: string;
  readonly note: string;
}

export interface InclusionProof {
  readonly leafIndex: number;
  readonly treeSize: number;
  readonly leafHash: string;
  readonly rootHash: string;
  readonly hashes: readonly string[];
}

export interface ApiToken {
  readonly id: string;
  readonly tenantId: string | null;
  readonly name: string;
  readonly roles: readonly string[];
  readonly roleGrants?: readonly RoleGrant[];
  readonly createdAt: string;
  readonly createdBy: string | null;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
  readonly lastUsedAt: string | null;
}

export interface Role {
  readonly name: string;
  readonly description?: string;
  readonly permissions: readonly string[];
  readonly builtIn: boolean;
  readonly version?: number;
}

/** GET /api/v1/keys: the platform's key state (never key material). */
export interface KeyState {
  readonly provider: 'local' | 'pkcs11';
  readonly currentKekVersion: number;
  readonly kekVersions: readonly {
    readonly version: number;
    readonly createdAt: string | null;
    readonly retiredAt: string | null;
    readonly heldByProvider: boolean;
    readonly tenantKeys: number;
  }[];
  readonly tenantKeys: {
    readonly tenants: number;
    readonly liveVersions: number;
    readonly retiredVersions: number;
  };
  readonly jobs: readonly KeyJob[];
}

export interface KeyJob {
  readonly id: string;
  readonly kind: 'kek' | 'tenant';
  readonly tenantId: string | null;
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly state: 'running' | 'draining' | 'done';
  readonly total: number;
  readonly done: number;
  readonly createdAt: string;
  readonly finishedAt?: string | null;
}

/** GET /api/v1/requests/activity: requests answered in the scope per bucket, by outcome (buckets with requests). */
export interface RequestActivity {
  readonly bucket: 'minute' | 'hour';
  readonly since: string;
  readonly until: string;
  readonly items: readonly {
    readonly start: string;
    readonly requests: number;
    /** 4xx other than 429. */
    readonly clientErrors: number;
    /** 5xx. */
    readonly serverErrors: number;
    /** 429. */
    readonly throttled: number;
  }[];
}
