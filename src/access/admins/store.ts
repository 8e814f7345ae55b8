import { sql } from 'kysely';
import type { Queryable } from '../../platform/db/index.js';
import type {
  AdminAccountsTable,
  AdminChallengesTable,
  AdminSessionsTable,
} from '../../platform/db/schema.js';

// ---- accounts

export async function insertAccount(q: Queryable, row: AdminAccountsTable): Promise<void> {
  await q.insertInto('admin_accounts').values(row).execute();
}

export async function findAccount(
  q: Queryable,
  id: string,
  forUpdate = false,
): Promise<AdminAccountsTable | undefined> {
  const query = q.selectFrom('admin_accounts').selectAll().where('id', '=', id);
  return (forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

export async function findAccountByKey(q: Queryable, key: string): Promise<AdminAccountsTable | undefined> {
  return q.selectFrom('admin_accounts').selectAll().where('username_key', '=', key).executeTakeFirst();
}

/** One tenant's accounts (null: the platform's), by id. */
export async function listAccounts(
  q: Queryable,
  tenantId: string | null,
  page: { afterId: string | undefined; limit: number },
): Promise<AdminAccountsTable[]> {
  let query = q.selectFrom('admin_accounts').selectAll();
  query = tenantId === null ? query.where('tenant_id', 'is', null) : query.where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
  return query.orderBy('id').limit(page.limit).execute();
}

/** Writes a changed account when it is still at `expectedVersion`; false when another write came first. */
export async function updateAccount(
  q: Queryable,
  row: AdminAccountsTable,
  expectedVersion: number,
): Promise<boolean> {
  const { id, ...rest } = row;
  const res = await q
    .updateTable('admin_accounts')
    .set(rest)
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Takes a TOTP time step for the account; false when it (or a later one) was taken already (a replay). */
export async function takeTotpStep(q: Queryable, id: string, step: number): Promise<boolean> {
  const res = await q
    .updateTable('admin_accounts')
    .set({ totp_last_step: step })
    .where('id', '=', id)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** The role grants (JSON) of every account of the tenant. */
export async function tenantGrants(q: Queryable, tenantId: string): Promise<string[]> {
  const rows = await q
    .selectFrom('admin_accounts')
    .select('roles')
    .where('tenant_id', '=', tenantId)
    .execute();
  return rows.map((r) => r.roles);
}

export async function countSealedBelow(q: Queryable, tenantId: string, version: number): Promise<number> {
  const row = await q
    .selectFrom('admin_accounts')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('totp_key_version', '<', version)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function sealedBelow(
  q: Queryable,
  tenantId: string,
  version: number,
  limit: number,
): Promise<AdminAccountsTable[]> {
  return q
    .selectFrom('admin_accounts')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('totp_key_version', '<', version)
    .orderBy('id')
    .limit(limit)
    .execute();
}

export async function resealSecret(q: Queryable, id: string, enc: Buffer, version: number): Promise<void> {
  await q
    .updateTable('admin_accounts')
    .set({ totp_secret_enc: enc, totp_key_version: version })
    .where('id', '=', id)
    .execute();
}

/**
 * The tenant a login names by its name. A read of identity's table: the one lookup TenantService does not
 * offer yet (by name): a departure from "own tables only", to
 * move into TenantService.
 */
export async function tenantIdByName(q: Queryable, name: string): Promise<string | undefined> {
  const row = await q
    .selectFrom('tenants')
    .select('id')
    .where('name_key', '=', name.trim().normalize('NFC').toLowerCase())
    .executeTakeFirst();
  return row?.id;
}

// ---- challenges

export async function insertChallenge(q: Queryable, row: AdminChallengesTable): Promise<void> {
  await q.insertInto('admin_challenges').values(row).execute();
}

export async function findChallenge(q: Queryable, idHash: string): Promise<AdminChallengesTable | undefined> {
  return q.selectFrom('admin_challenges').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
}

/** Deletes a challenge; false when it was gone already (used by a concurrent request). */
export async function deleteChallenge(q: Queryable, idHash: string): Promise<boolean> {
  const res = await q.deleteFrom('admin_challenges').where('id_hash', '=', idHash).executeTakeFirst();
  return Number(res.numDeletedRows) === 1;
}

export async function countFailedChallenge(q: Queryable, idHash: string): Promise<void> {
  await q
    .updateTable('admin_challenges')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('id_hash', '=', idHash)
    .execute();
}

export async function deleteChallengesOf(q: Queryable, adminId: string, before?: string): Promise<void> {
  let query = q.deleteFrom('admin_challenges').where('admin_id', '=', adminId);
  if (before !== undefined) query = query.where('expires_at', '<=', before);
  await query.execute();
}

/** Live enrolment challenges of the tenant's accounts whose secret names a tenant key version below `version`. */
export async function countChallengesBelow(
  q: Queryable,
  tenantId: string,
  version: number,
  now: string,
): Promise<number> {
  const row = await q
    .selectFrom('admin_challenges')
    .innerJoin('admin_accounts', 'admin_accounts.id', 'admin_challenges.admin_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('admin_accounts.tenant_id', '=', tenantId)
    .where('admin_challenges.key_version', '<', version)
    .where('admin_challenges.expires_at', '>', now)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

// ---- sessions

export async function insertSession(q: Queryable, row: AdminSessionsTable): Promise<void> {
  await q.insertInto('admin_sessions').values(row).execute();
}

export async function findSession(q: Queryable, idHash: string): Promise<AdminSessionsTable | undefined> {
  return q.selectFrom('admin_sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
}

export async function touchSession(q: Queryable, idHash: string, at: string): Promise<void> {
  await q.updateTable('admin_sessions').set({ last_seen_at: at }).where('id_hash', '=', idHash).execute();
}

/** Revokes a session; false when it was revoked already. */
export async function revokeSession(q: Queryable, idHash: string, at: string): Promise<boolean> {
  const res = await q
    .updateTable('admin_sessions')
    .set({ revoked_at: at })
    .where('id_hash', '=', idHash)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Revokes every live session of an account (but `keep`); returns how many. */
export async function revokeSessionsOf(
  q: Queryable,
  adminId: string,
  at: string,
  keep?: string,
): Promise<number> {
  let query = q
    .updateTable('admin_sessions')
    .set({ revoked_at: at })
    .where('admin_id', '=', adminId)
    .where('revoked_at', 'is', null);
  if (keep !== undefined) query = query.where('id_hash', '!=', keep);
  const res = await query.executeTakeFirst();
  return Number(res.numUpdatedRows);
}

// ---- throttles

export type ThrottleKey = readonly [scope: 'account' | 'ip', key: string];

/** The latest lock in force on any of the keys, or undefined. */
export async function lockedUntil(
  q: Queryable,
  keys: readonly ThrottleKey[],
  now: string,
): Promise<string | undefined> {
  const rows = await q
    .selectFrom('login_throttles')
    .select('locked_until')
    .where((eb) => eb.or(keys.map(([scope, key]) => eb.and([eb('scope', '=', scope), eb('key', '=', key)]))))
    .where('locked_until', '>', now)
    .execute();
  return rows
    .map((r) => r.locked_until as string)
    .sort()
    .at(-1);
}

/**
 * Counts one failure for a key (a counter quiet since `forgetBefore` starts again) and returns the count.
 * One statement, so concurrent failures on several nodes all count.
 */
export async function countFailure(
  q: Queryable,
  [scope, key]: ThrottleKey,
  now: string,
  forgetBefore: string,
): Promise<number> {
  const row = await q
    .insertInto('login_throttles')
    .values({ scope, key, failures: 1, last_failure_at: now, locked_until: null })
    .onConflict((oc) =>
      oc.columns(['scope', 'key']).doUpdateSet({
        failures: sql<number>`case when login_throttles.last_failure_at < ${forgetBefore} then 1 else login_throttles.failures + 1 end`,
        last_failure_at: now,
      }),
    )
    .returning('failures')
    .executeTakeFirstOrThrow();
  return Number(row.failures);
}

export async function lockKey(q: Queryable, [scope, key]: ThrottleKey, until: string): Promise<void> {
  await q
    .updateTable('login_throttles')
    .set({ locked_until: until })
    .where('scope', '=', scope)
    .where('key', '=', key)
    .execute();
}

export async function clearThrottle(q: Queryable, [scope, key]: ThrottleKey): Promise<void> {
  await q.deleteFrom('login_throttles').where('scope', '=', scope).where('key', '=', key).execute();
}
