import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import type { Db, Dialect } from './index.js';

/**
 * The one migration set for both dialects. Migrations are ordered by name; each branches on the dialect
 * only where the two differ (binary type, identity columns). Never edit a released migration: add one.
 */
type Up = (db: Kysely<unknown>, dialect: Dialect) => Promise<void>;

const MIGRATIONS: Record<string, Up> = {
  '0001_foundation': async (db, dialect) => {
    const binary = dialect === 'postgres' ? 'bytea' : 'blob';

    await db.schema
      .createTable('tenants')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    await db.schema
      .createTable('tenant_keys')
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('kek_version', 'integer', (c) => c.notNull())
      .addColumn('wrapped_key', sql.raw(binary), (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('tenant_keys_pk', ['tenant_id', 'version'])
      .execute();

    await db.schema
      .createTable('api_tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('roles', 'text', (c) => c.notNull())
      .addColumn('token_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_by', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text')
      .addColumn('revoked_at', 'text')
      .addColumn('last_used_at', 'text')
      .execute();
    await db.schema.createIndex('api_tokens_tenant').on('api_tokens').columns(['tenant_id', 'id']).execute();

    await db.schema
      .createTable('users')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('user_name_bidx', 'text', (c) => c.notNull())
      .addColumn('user_name_enc', sql.raw(binary), (c) => c.notNull())
      .addColumn('external_id', 'text')
      .addColumn('given_name_enc', sql.raw(binary))
      .addColumn('family_name_enc', sql.raw(binary))
      .addColumn('formatted_name_enc', sql.raw(binary))
      .addColumn('display_name_enc', sql.raw(binary))
      .addColumn('emails_enc', sql.raw(binary))
      .addColumn('phone_numbers_enc', sql.raw(binary))
      .addColumn('addresses_enc', sql.raw(binary))
      .addColumn('title', 'text')
      .addColumn('department', 'text')
      .addColumn('site', 'text')
      .addColumn('country', 'text')
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('manager_id', 'text')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('users_user_name_uq')
      .on('users')
      .columns(['tenant_id', 'user_name_bidx'])
      .unique()
      .execute();
    await db.schema
      .createIndex('users_external_id_uq')
      .on('users')
      .columns(['tenant_id', 'external_id'])
      .unique()
      .execute();
    await db.schema.createIndex('users_tenant_id').on('users').columns(['tenant_id', 'id']).execute();
    for (const col of ['department', 'site', 'country', 'kind', 'status', 'manager_id']) {
      await db.schema
        .createIndex(`users_tenant_${col}`)
        .on('users')
        .columns(['tenant_id', col, 'id'])
        .execute();
    }

    await db.schema
      .createTable('user_emails')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('email_bidx', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addPrimaryKeyConstraint('user_emails_pk', ['tenant_id', 'email_bidx'])
      .execute();
    await db.schema.createIndex('user_emails_user').on('user_emails').column('user_id').execute();

    await db.schema
      .createTable('groups')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('display_name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull())
      .addColumn('external_id', 'text')
      .addColumn('description', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('groups_name_uq')
      .on('groups')
      .columns(['tenant_id', 'name_key'])
      .unique()
      .execute();
    await db.schema
      .createIndex('groups_external_id_uq')
      .on('groups')
      .columns(['tenant_id', 'external_id'])
      .unique()
      .execute();
    await db.schema.createIndex('groups_tenant_id').on('groups').columns(['tenant_id', 'id']).execute();

    await db.schema
      .createTable('group_members')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('group_id', 'text', (c) => c.notNull().references('groups.id').onDelete('cascade'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
      .addColumn('added_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('group_members_pk', ['group_id', 'user_id'])
      .execute();
    await db.schema.createIndex('group_members_user').on('group_members').column('user_id').execute();

    await db.schema
      .createTable('audit_entries')
      .addColumn('seq', dialect === 'postgres' ? 'bigint' : 'integer', (c) =>
        dialect === 'postgres' ? c.primaryKey().generatedAlwaysAsIdentity() : c.primaryKey().autoIncrement(),
      )
      .addColumn('tenant_id', 'text')
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('actor', 'text', (c) => c.notNull())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('target_type', 'text', (c) => c.notNull())
      .addColumn('target_id', 'text')
      .addColumn('before', 'text')
      .addColumn('after', 'text')
      .addColumn('request_id', 'text')
      .execute();
    await db.schema
      .createIndex('audit_entries_tenant')
      .on('audit_entries')
      .columns(['tenant_id', 'seq'])
      .execute();
  },
  '0002_licenses': async (db, dialect) => {
    const binary = dialect === 'postgres' ? 'bytea' : 'blob';
    await db.schema
      .createTable('products')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('sku', 'text', (c) => c.notNull())
      .addColumn('sku_key', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('waitlist_seq', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('products_sku_uq')
      .on('products')
      .columns(['tenant_id', 'sku_key'])
      .unique()
      .execute();

    await db.schema
      .createTable('pools')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('product_id', 'text', (c) => c.notNull().references('products.id'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('name_key', 'text', (c) => c.notNull())
      .addColumn('capacity', 'integer', (c) => c.notNull())
      .addColumn('used', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('site', 'text')
      .addColumn('country', 'text')
      .addColumn('priority', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      // The last line of defence of invariant 1: the database itself refuses an oversubscribed pool.
      .addCheckConstraint('pools_used_within_capacity', sql`used >= 0 and used <= capacity`)
      .execute();
    await db.schema
      .createIndex('pools_name_uq')
      .on('pools')
      .columns(['tenant_id', 'product_id', 'name_key'])
      .unique()
      .execute();
    await db.schema.createIndex('pools_tenant').on('pools').columns(['tenant_id', 'id']).execute();

    await db.schema
      .createTable('assignments')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
      .addColumn('product_id', 'text', (c) => c.notNull().references('products.id'))
      .addColumn('pool_id', 'text', (c) => c.references('pools.id'))
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('source', 'text', (c) => c.notNull())
      .addColumn('waitlist_position', 'integer')
      .addColumn('user_site', 'text')
      .addColumn('user_country', 'text')
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addCheckConstraint(
        'assignments_state_shape',
        sql`(state = 'active' and pool_id is not null and waitlist_position is null) or (state = 'waitlisted' and pool_id is null and waitlist_position is not null)`,
      )
      .execute();
    // Invariant 2: at most one assignment (so at most one active seat) per user and product.
    await db.schema
      .createIndex('assignments_user_product_uq')
      .on('assignments')
      .columns(['tenant_id', 'user_id', 'product_id'])
      .unique()
      .execute();
    await db.schema
      .createIndex('assignments_waitlist')
      .on('assignments')
      .columns(['tenant_id', 'product_id', 'state', 'waitlist_position'])
      .execute();
    await db.schema.createIndex('assignments_pool').on('assignments').columns(['pool_id']).execute();

    await db.schema
      .createTable('idempotency_keys')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('request_hash', 'text', (c) => c.notNull())
      .addColumn('status', 'integer', (c) => c.notNull())
      .addColumn('response_enc', sql.raw(binary), (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('idempotency_keys_pk', ['tenant_id', 'key'])
      .execute();
    await db.schema
      .createIndex('idempotency_keys_expiry')
      .on('idempotency_keys')
      .column('expires_at')
      .execute();
  },
  '0003_audit_log': async (db, dialect) => {
    const binary = dialect === 'postgres' ? 'bytea' : 'blob';
    const bigint = dialect === 'postgres' ? 'bigint' : 'integer';
    // The entry's position in its tree's Merkle log, set once by the integrator (null: not yet integrated).
    await db.schema.alterTable('audit_entries').addColumn('leaf_index', sql.raw(bigint)).execute();
    await db.schema
      .createIndex('audit_entries_pending')
      .on('audit_entries')
      .column('seq')
      .where(sql.ref('leaf_index'), 'is', null)
      .execute();
    await db.schema
      .createIndex('audit_entries_leaf')
      .on('audit_entries')
      .columns(['tenant_id', 'leaf_index'])
      .execute();
    await db.schema
      .createIndex('audit_entries_target')
      .on('audit_entries')
      .columns(['tenant_id', 'target_id', 'seq'])
      .execute();

    // Perfect-subtree hashes (level 0: leaf hashes): any proof needs O(log n) of them.
    await db.schema
      .createTable('audit_nodes')
      .addColumn('tree', 'text', (c) => c.notNull())
      .addColumn('level', 'integer', (c) => c.notNull())
      .addColumn('idx', sql.raw(bigint), (c) => c.notNull())
      .addColumn('hash', sql.raw(binary), (c) => c.notNull())
      .addPrimaryKeyConstraint('audit_nodes_pk', ['tree', 'level', 'idx'])
      .execute();

    await db.schema
      .createTable('audit_trees')
      .addColumn('tree', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text')
      .addColumn('size', sql.raw(bigint), (c) => c.notNull())
      .addColumn('root_hash', sql.raw(binary), (c) => c.notNull())
      .addColumn('integrated_at', 'text', (c) => c.notNull())
      .addColumn('checkpoint_size', sql.raw(bigint), (c) => c.notNull().defaultTo(0))
      .addColumn('checkpoint_at', 'text')
      .execute();

    await db.schema
      .createTable('audit_checkpoints')
      .addColumn('tree', 'text', (c) => c.notNull())
      .addColumn('size', sql.raw(bigint), (c) => c.notNull())
      .addColumn('root_hash', sql.raw(binary), (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('key_hash', 'text', (c) => c.notNull())
      .addColumn('note', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('audit_checkpoints_pk', ['tree', 'size'])
      .execute();

    // Verifier keys of the log's signing keys: every node must sign with one of these.
    await db.schema
      .createTable('audit_signing_keys')
      .addColumn('key_hash', 'text', (c) => c.primaryKey())
      .addColumn('verifier_key', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();

    // One row written first by every integration round: on SQLite it takes the write lock up front, so two
    // processes never interleave a read of pending entries with another's write.
    await db.schema
      .createTable('audit_integrator')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('at', 'text', (c) => c.notNull())
      .execute();
    await db
      .insertInto('audit_integrator' as never)
      .values({ name: 'integrator', at: new Date(0).toISOString() } as never)
      .execute();
  },

  '0004_keys': async (db, dialect) => {
    const binary = dialect === 'postgres' ? 'bytea' : 'blob';

    // Per-user data keys: each user row carries its own data key, sealed under a tenant key version
    // (`key_version`, which also computed the row's blind indexes). Null data key: sealed the old way,
    // directly under the tenant key (rows written before 0004; a tenant-key rotation converts them).
    await db.schema.alterTable('users').addColumn('data_key_enc', sql.raw(binary)).execute();
    await db.schema
      .alterTable('users')
      .addColumn('key_version', 'integer', (c) => c.notNull().defaultTo(1))
      .execute();
    await db.schema
      .createIndex('users_key_version')
      .on('users')
      .columns(['tenant_id', 'key_version'])
      .execute();

    // A retired tenant key version has its wrapped key emptied (destroyed); the row stays for the record.
    await db.schema.alterTable('tenant_keys').addColumn('retired_at', 'text').execute();
    await db.schema
      .createIndex('tenant_keys_kek_version')
      .on('tenant_keys')
      .columns(['kek_version'])
      .execute();

    // Stored onboarding answers: whose (so an erasure deletes them) and under which tenant key version.
    await db.schema.alterTable('idempotency_keys').addColumn('user_id', 'text').execute();
    await db.schema
      .alterTable('idempotency_keys')
      .addColumn('key_version', 'integer', (c) => c.notNull().defaultTo(1))
      .execute();
    await db.schema
      .createIndex('idempotency_keys_user')
      .on('idempotency_keys')
      .columns(['tenant_id', 'user_id'])
      .execute();

    // KEK versions as the operators' record: when each was made and retired (the provider holds the keys).
    await db.schema
      .createTable('kek_versions')
      .addColumn('version', 'integer', (c) => c.primaryKey())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('retired_at', 'text')
      .execute();

    // Background rewrap jobs (KEK rotation: tenant keys; tenant-key rotation: users and stored answers).
    await db.schema
      .createTable('key_jobs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('tenant_id', 'text')
      .addColumn('from_version', 'integer', (c) => c.notNull())
      .addColumn('to_version', 'integer', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('total', 'integer', (c) => c.notNull())
      .addColumn('done', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('heartbeat_at', 'text', (c) => c.notNull())
      .addColumn('finished_at', 'text')
      .execute();
    await db.schema.createIndex('key_jobs_state').on('key_jobs').columns(['state', 'kind']).execute();

    // GDPR erasure requests (Art. 17): the record that a person's data was erased, holding no PII.
    await db.schema
      .createTable('erasure_requests')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id'))
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('requested_by', 'text', (c) => c.notNull())
      .addColumn('requested_at', 'text', (c) => c.notNull())
      .addColumn('completed_at', 'text')
      .execute();
    await db.schema
      .createIndex('erasure_requests_tenant')
      .on('erasure_requests')
      .columns(['tenant_id', 'id'])
      .execute();
  },
  '0005_access': async (db) => {
    // A tenant's custom roles: a name (unique per tenant, never a built-in one) and permissions from the
    // catalogue (JSON array). Tokens and admin accounts name roles; api_tokens.roles now also holds grants
    // with an expiry ({"role","expiresAt"}), next to plain names written before.
    await db.schema
      .createTable('roles')
      .addColumn('tenant_id', 'text', (c) => c.notNull().references('tenants.id').onDelete('cascade'))
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('description', 'text', (c) => c.notNull())
      .addColumn('permissions', 'text', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('roles_pk', ['tenant_id', 'name'])
      .execute();
  },
  '0006_admins': async (db, dialect) => {
    // Admin accounts, their sessions and login challenges, login throttles (src/access/admins). A TOTP
    // secret is sealed under the tenant key (tenant accounts) or wrapped by the KEK (platform accounts).
    const binary = sql.raw(dialect === 'postgres' ? 'bytea' : 'blob');

    await db.schema
      .createTable('admin_accounts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('tenant_id', 'text', (c) => c.references('tenants.id').onDelete('cascade'))
      .addColumn('username', 'text', (c) => c.notNull())
      .addColumn('username_key', 'text', (c) => c.notNull())
      .addColumn('password_hash', 'text', (c) => c.notNull())
      .addColumn('totp_secret_enc', binary)
      .addColumn('totp_key_version', 'integer')
      .addColumn('totp_last_step', 'bigint')
      .addColumn('recovery_codes', 'text', (c) => c.notNull())
      .addColumn('roles', 'text', (c) => c.notNull())
      .addColumn('disabled', 'integer', (c) => c.notNull())
      .addColumn('version', 'integer', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('admin_accounts_username_uq')
      .on('admin_accounts')
      .column('username_key')
      .unique()
      .execute();
    await db.schema
      .createIndex('admin_accounts_tenant')
      .on('admin_accounts')
      .columns(['tenant_id', 'id'])
      .execute();

    await db.schema
      .createTable('admin_sessions')
      .addColumn('id_hash', 'text', (c) => c.primaryKey())
      .addColumn('admin_id', 'text', (c) => c.notNull().references('admin_accounts.id').onDelete('cascade'))
      .addColumn('tenant_id', 'text')
      .addColumn('csrf_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .addColumn('last_seen_at', 'text', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('idle_timeout_ms', 'integer', (c) => c.notNull())
      .addColumn('revoked_at', 'text')
      .execute();
    await db.schema.createIndex('admin_sessions_admin').on('admin_sessions').columns(['admin_id']).execute();

    await db.schema
      .createTable('admin_challenges')
      .addColumn('id_hash', 'text', (c) => c.primaryKey())
      .addColumn('admin_id', 'text', (c) => c.notNull().references('admin_accounts.id').onDelete('cascade'))
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('secret_enc', binary)
      .addColumn('key_version', 'integer')
      .addColumn('attempts', 'integer', (c) => c.notNull())
      .addColumn('expires_at', 'text', (c) => c.notNull())
      .addColumn('created_at', 'text', (c) => c.notNull())
      .execute();
    await db.schema
      .createIndex('admin_challenges_admin')
      .on('admin_challenges')
      .columns(['admin_id'])
      .execute();

    await db.schema
      .createTable('login_throttles')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('failures', 'integer', (c) => c.notNull())
      .addColumn('last_failure_at', 'text', (c) => c.notNull())
      .addColumn('locked_until', 'text')
      .addPrimaryKeyConstraint('login_throttles_pk', ['scope', 'key'])
      .execute();
  },
  '0007_search_terms': async (db) => {
    // Blind indexes of prefixes and trigrams of userName and e-mail addresses, for SCIM's sw, co and ew on
    // encrypted attributes (docs/scim.md). A user row written before this migration has none until it is
    // written again or re-keyed: `terms_version` 0 marks it, and a search needing terms refuses to answer
    // for a tenant that still has such rows rather than miss them.
    await db.schema
      .createTable('user_search_terms')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('term', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('user_search_terms_pk', ['tenant_id', 'term', 'user_id'])
      .execute();
    await db.schema.createIndex('user_search_terms_user').on('user_search_terms').column('user_id').execute();
    await db.schema
      .alterTable('users')
      .addColumn('terms_version', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
  '0008_read_indexes': async (db) => {
    // Counts of one action per minute (the console's onboardings and refusals per minute) read a time range
    // of that action only, not the tenant's whole log.
    await db.schema
      .createIndex('audit_entries_action_at')
      .on('audit_entries')
      .columns(['tenant_id', 'action', 'at'])
      .execute();
    // Whether a tenant still has users without search terms is asked before every sw, co or ew on an
    // encrypted attribute: a partial index holding only those users answers it without reading the others
    // (a scan of 100,000 users took 84 ms on SQLite).
    await db.schema
      .createIndex('users_without_terms')
      .on('users')
      .column('tenant_id')
      .where(sql.ref('terms_version'), '<', 1)
      .execute();
  },
  '0009_usage_and_traffic': async (db) => {
    // A pool's utilisation cap: the share of its capacity it is meant to run at (percent, default 90). The
    // allocator still fills a pool to its capacity; the cap is the line the console draws and alerts watch.
    await db.schema
      .alterTable('pools')
      .addColumn('utilisation_cap', 'integer', (c) => c.notNull().defaultTo(90))
      .execute();
    // A pool's seat counters over time: one row per pool and sampling instant, written only when a counter
    // changed since the pool's previous row (so a quiet pool costs nothing). No foreign key: the history of
    // a deleted pool goes with it, in the same transaction.
    await db.schema
      .createTable('pool_usage')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('pool_id', 'text', (c) => c.notNull())
      .addColumn('at', 'text', (c) => c.notNull())
      .addColumn('capacity', 'integer', (c) => c.notNull())
      .addColumn('used', 'integer', (c) => c.notNull())
      .addColumn('waitlisted', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('pool_usage_pk', ['pool_id', 'at'])
      .execute();
    await db.schema.createIndex('pool_usage_at').on('pool_usage').column('at').execute();
    // Requests answered per scope (a tenant's id, or `platform`) and clock minute, by outcome: every node
    // adds its own counts every few seconds, so the figures are the cluster's.
    await db.schema
      .createTable('request_counts')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('minute', 'text', (c) => c.notNull())
      .addColumn('requests', 'integer', (c) => c.notNull())
      .addColumn('client_errors', 'integer', (c) => c.notNull())
      .addColumn('server_errors', 'integer', (c) => c.notNull())
      .addColumn('throttled', 'integer', (c) => c.notNull())
      .addPrimaryKeyConstraint('request_counts_pk', ['scope', 'minute'])
      .execute();
    await db.schema.createIndex('request_counts_minute').on('request_counts').column('minute').execute();
  },
  '0010_user_roles': async (db, dialect) => {
    // A person's roles (SCIM `roles`, RFC 7643 §4.1.2): who the user is in the organisation, such as
    // "Nurse" or "Sales Engineer". Not personal data like a name or an address, so kept in the clear beside
    // title and department: the whole list as JSON on the row, and each value (NFC, lower case) in
    // `user_roles`, so that a search by role reads an index instead of every user.
    await db.schema.alterTable('users').addColumn('roles', 'text').execute();
    await db.schema
      .createTable('user_roles')
      .addColumn('tenant_id', 'text', (c) => c.notNull())
      .addColumn('role_key', 'text', (c) => c.notNull())
      .addColumn('user_id', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('user_roles_pk', ['tenant_id', 'role_key', 'user_id'])
      .$call((t) => (dialect === 'sqlite' ? t.modifyEnd(sql`without rowid`) : t))
      .execute();
    await db.schema.createIndex('user_roles_user').on('user_roles').column('user_id').execute();
  },
  '0011_search_terms_without_rowid': async (db, dialect) => {
    // SQLite: the search terms (about 120 rows a user, bench/RESULTS.md) were a rowid table with its primary
    // key and a user_id index beside it, so every term written touched three B-trees. Without a rowid the
    // table is its primary key: two. PostgreSQL's tables are heaps either way; nothing changes there.
    if (dialect !== 'sqlite') return;
    // Kysely runs SQLite migrations outside a transaction: one of its own, so that a failure or a crash between
    // the drop and the rename leaves the old table as it was.
    await db.transaction().execute(async (db) => {
      await db.schema
        .createTable('user_search_terms_next')
        .addColumn('tenant_id', 'text', (c) => c.notNull())
        .addColumn('term', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('user_search_terms_pk', ['tenant_id', 'term', 'user_id'])
        .modifyEnd(sql`without rowid`)
        .execute();
      await sql`insert into user_search_terms_next (tenant_id, term, user_id)
      select tenant_id, term, user_id from user_search_terms`.execute(db);
      await db.schema.dropTable('user_search_terms').execute();
      await db.schema.alterTable('user_search_terms_next').renameTo('user_search_terms').execute();
      await db.schema
        .createIndex('user_search_terms_user')
        .on('user_search_terms')
        .column('user_id')
        .execute();
    });
  },
};

function provider(dialect: Dialect): MigrationProvider {
  return {
    async getMigrations() {
      const out: Record<string, Migration> = {};
      for (const [name, up] of Object.entries(MIGRATIONS)) out[name] = { up: (db) => up(db, dialect) };
      return out;
    },
  };
}

export interface MigrationReport {
  readonly applied: string[];
}

/**
 * Brings the schema up to date. Safe to run from several nodes at once (the migrator takes a lock).
 * @throws Error when a migration fails; nothing of that migration stays applied.
 */
export async function migrateToLatest(db: Db): Promise<MigrationReport> {
  const migrator = new Migrator({
    db: db.kysely,
    provider: provider(db.dialect),
    // Without it Kysely looks for its bookkeeping tables in every schema and may find another one's.
    ...(db.schema ? { migrationTableSchema: db.schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return { applied: (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName) };
}
