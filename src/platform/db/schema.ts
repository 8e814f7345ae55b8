import type { Generated } from 'kysely';

/**
 * The one Kysely database interface, shared by both dialects. Times are ISO-8601 UTC strings
 * (lexicographic order is time order), JSON is text, binary is Buffer (BLOB / bytea).
 * Each module reads and writes only its own tables (see docs/architecture.md).
 */
export interface Database {
  tenants: TenantsTable;
  tenant_keys: TenantKeysTable;
  api_tokens: ApiTokensTable;
  users: UsersTable;
  user_emails: UserEmailsTable;
  user_search_terms: UserSearchTermsTable;
  user_roles: UserRolesTable;
  groups: GroupsTable;
  group_members: GroupMembersTable;
  audit_entries: AuditEntriesTable;
  products: ProductsTable;
  pools: PoolsTable;
  pool_usage: PoolUsageTable;
  request_counts: RequestCountsTable;
  assignments: AssignmentsTable;
  idempotency_keys: IdempotencyKeysTable;
  audit_nodes: AuditNodesTable;
  audit_trees: AuditTreesTable;
  audit_checkpoints: AuditCheckpointsTable;
  audit_signing_keys: AuditSigningKeysTable;
  kek_versions: KekVersionsTable;
  key_jobs: KeyJobsTable;
  erasure_requests: ErasureRequestsTable;
  roles: RolesTable;
  admin_accounts: AdminAccountsTable;
  admin_sessions: AdminSessionsTable;
  admin_challenges: AdminChallengesTable;
  login_throttles: LoginThrottlesTable;
  audit_integrator: { name: string; at: string };
}

export interface ProductsTable {
  id: string;
  tenant_id: string;
  sku: string;
  sku_key: string;
  name: string;
  waitlist_seq: number;
  created_at: string;
}

export interface PoolsTable {
  id: string;
  tenant_id: string;
  product_id: string;
  name: string;
  name_key: string;
  capacity: number;
  used: number;
  site: string | null;
  country: string | null;
  priority: number;
  /** Percent of capacity the pool is meant to run at (default 90); drawn and watched, not enforced. */
  utilisation_cap: number;
  version: number;
  created_at: string;
  updated_at: string;
}

/** A pool's counters at one sampling instant (written when they changed). */
export interface PoolUsageTable {
  tenant_id: string;
  pool_id: string;
  at: string;
  capacity: number;
  used: number;
  waitlisted: number;
}

/** Requests answered per scope (tenant id or `platform`) and minute (ISO, seconds and below zero). */
export interface RequestCountsTable {
  scope: string;
  minute: string;
  requests: number;
  client_errors: number;
  server_errors: number;
  throttled: number;
}

export interface AssignmentsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  product_id: string;
  pool_id: string | null;
  state: string;
  source: string;
  waitlist_position: number | null;
  user_site: string | null;
  user_country: string | null;
  created_at: string;
  updated_at: string;
}

export interface IdempotencyKeysTable {
  tenant_id: string;
  key: string;
  request_hash: string;
  status: number;
  response_enc: Buffer;
  created_at: string;
  expires_at: string;
  user_id: string | null;
  key_version: number;
}

export interface TenantsTable {
  id: string;
  name: string;
  name_key: string;
  created_at: string;
}

export interface TenantKeysTable {
  tenant_id: string;
  version: number;
  kek_version: number;
  wrapped_key: Buffer;
  created_at: string;
  retired_at: string | null;
}

export interface KekVersionsTable {
  version: number;
  provider: string;
  created_at: string;
  retired_at: string | null;
}

export interface KeyJobsTable {
  id: string;
  kind: string;
  tenant_id: string | null;
  from_version: number;
  to_version: number;
  state: string;
  total: number;
  done: number;
  created_at: string;
  heartbeat_at: string;
  finished_at: string | null;
}

export interface ErasureRequestsTable {
  id: string;
  tenant_id: string;
  user_id: string;
  state: string;
  requested_by: string;
  requested_at: string;
  completed_at: string | null;
}

export interface ApiTokensTable {
  id: string;
  tenant_id: string | null;
  name: string;
  roles: string;
  token_hash: string;
  created_by: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  last_used_at: string | null;
}

export interface UsersTable {
  id: string;
  tenant_id: string;
  version: number;
  user_name_bidx: string;
  user_name_enc: Buffer;
  external_id: string | null;
  given_name_enc: Buffer | null;
  family_name_enc: Buffer | null;
  formatted_name_enc: Buffer | null;
  display_name_enc: Buffer | null;
  emails_enc: Buffer | null;
  phone_numbers_enc: Buffer | null;
  addresses_enc: Buffer | null;
  title: string | null;
  department: string | null;
  site: string | null;
  country: string | null;
  kind: string;
  manager_id: string | null;
  status: string;
  created_at: string;
  updated_at: string;
  data_key_enc: Buffer | null;
  key_version: number;
  /** 1 when the row's search terms (user_search_terms) are written; 0 for rows older than them. */
  terms_version: number;
  /** The user's roles as a JSON array of `{value, display?, type?, primary?}`; null when none. */
  roles: string | null;
}

export interface UserRolesTable {
  tenant_id: string;
  /** One role value of the user, NFC and lower case. */
  role_key: string;
  user_id: string;
}

export interface UserSearchTermsTable {
  tenant_id: string;
  /** A truncated keyed blind index of one prefix or trigram of userName or an e-mail address. */
  term: string;
  user_id: string;
}

export interface UserEmailsTable {
  tenant_id: string;
  email_bidx: string;
  user_id: string;
}

export interface GroupsTable {
  id: string;
  tenant_id: string;
  version: number;
  display_name: string;
  name_key: string;
  external_id: string | null;
  description: string | null;
  created_at: string;
  updated_at: string;
}

export interface GroupMembersTable {
  tenant_id: string;
  group_id: string;
  user_id: string;
  added_at: string;
}

export interface AuditEntriesTable {
  seq: Generated<number>;
  tenant_id: string | null;
  at: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  before: string | null;
  after: string | null;
  request_id: string | null;
  leaf_index: number | null;
}

export interface AuditNodesTable {
  tree: string;
  level: number;
  idx: number;
  hash: Uint8Array;
}

export interface AuditTreesTable {
  tree: string;
  tenant_id: string | null;
  size: number;
  root_hash: Uint8Array;
  integrated_at: string;
  checkpoint_size: Generated<number>;
  checkpoint_at: string | null;
}

export interface AuditCheckpointsTable {
  tree: string;
  size: number;
  root_hash: Uint8Array;
  at: string;
  key_hash: string;
  note: string;
}

export interface AuditSigningKeysTable {
  key_hash: string;
  verifier_key: string;
  created_at: string;
}

export interface RolesTable {
  tenant_id: string;
  name: string;
  description: string;
  /** JSON array of permission names. */
  permissions: string;
  version: number;
  created_at: string;
  updated_at: string;
}

// ---- admin accounts, sessions, login challenges and throttles (src/access/admins)

export interface AdminAccountsTable {
  id: string;
  /** Null: a platform admin account. */
  tenant_id: string | null;
  /** As given at creation (shown to admins; never logged, never in audit entries). */
  username: string;
  /** `<tenant id or "platform">:<NFC, lower-cased username>`, unique: one name per tenant, any case. */
  username_key: string;
  /** argon2id, PHC string form. */
  password_hash: string;
  /** The TOTP secret once enrolled (sealed: see `totp_key_version`), null before. */
  totp_secret_enc: Buffer | null;
  /** Tenant accounts: the tenant key version that sealed it; platform accounts: the KEK version that wrapped it. */
  totp_key_version: number | null;
  /** The last time step whose code was accepted (RFC 6238 §5.2: each code once). */
  totp_last_step: number | null;
  /** JSON array of SHA-256 hex hashes of the unused recovery codes. */
  recovery_codes: string;
  /** JSON array of role grants `{role, expiresAt}`. */
  roles: string;
  /** 0 or 1. */
  disabled: number;
  version: number;
  created_at: string;
  updated_at: string;
}

export interface AdminSessionsTable {
  /** SHA-256 hex of the session secret the cookie carries. */
  id_hash: string;
  admin_id: string;
  tenant_id: string | null;
  /** SHA-256 hex of the session's CSRF token. */
  csrf_hash: string;
  created_at: string;
  last_seen_at: string;
  /** The absolute end: creation plus the absolute timeout. */
  expires_at: string;
  idle_timeout_ms: number;
  revoked_at: string | null;
}

/** The state between a verified password and a verified second factor (single use, short-lived). */
export interface AdminChallengesTable {
  /** SHA-256 hex of the challenge secret. */
  id_hash: string;
  admin_id: string;
  /** `totp`: an enrolled account proves its second factor; `enrol`: an account confirms a new secret. */
  kind: string;
  /** For `enrol`: the proposed secret, sealed as account secrets are. */
  secret_enc: Buffer | null;
  key_version: number | null;
  attempts: number;
  expires_at: string;
  created_at: string;
}

/** Failed-login counters, shared by every node: scope `account` or `ip`, key a SHA-256 hex. */
export interface LoginThrottlesTable {
  scope: string;
  key: string;
  failures: number;
  last_failure_at: string;
  locked_until: string | null;
}
