import type { Queryable } from '../platform/db/index.js';
import type { GroupsTable, UsersTable } from '../platform/db/schema.js';
import type { ErasureRecord, Group, Tenant } from './model.js';

// ---- tenants

export async function insertTenant(q: Queryable, t: Tenant): Promise<void> {
  await q
    .insertInto('tenants')
    .values({
      id: t.id,
      name: t.name,
      name_key: t.name.normalize('NFC').toLowerCase(),
      created_at: t.createdAt,
    })
    .execute();
}

export async function findTenant(q: Queryable, id: string): Promise<Tenant | undefined> {
  const r = await q
    .selectFrom('tenants')
    .select(['id', 'name', 'created_at'])
    .where('id', '=', id)
    .executeTakeFirst();
  return r && { id: r.id, name: r.name, createdAt: r.created_at };
}

export async function listTenants(
  q: Queryable,
  page: { afterId: string | undefined; limit: number },
): Promise<Tenant[]> {
  let query = q.selectFrom('tenants').select(['id', 'name', 'created_at']);
  if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
  const rows = await query.orderBy('id').limit(page.limit).execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at }));
}

// ---- users

export async function insertUser(
  q: Queryable,
  row: UsersTable,
  emailIndexes: readonly string[],
): Promise<void> {
  await q.insertInto('users').values(row).execute();
  await insertEmailIndexes(q, row.tenant_id, row.id, emailIndexes);
}

async function insertEmailIndexes(
  q: Queryable,
  tenantId: string,
  userId: string,
  indexes: readonly string[],
) {
  if (indexes.length === 0) return;
  await q
    .insertInto('user_emails')
    .values(indexes.map((email_bidx) => ({ tenant_id: tenantId, email_bidx, user_id: userId })))
    .execute();
}

/**
 * Replaces a user's row if its version is still `expectedVersion` (optimistic concurrency);
 * false when another change came first.
 */
export async function updateUser(
  q: Queryable,
  row: UsersTable,
  expectedVersion: number,
  emailIndexes: readonly string[],
): Promise<boolean> {
  const { id, tenant_id, created_at, ...rest } = row;
  const res = await q
    .updateTable('users')
    .set(rest)
    .where('tenant_id', '=', tenant_id)
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await q.deleteFrom('user_emails').where('user_id', '=', id).execute();
  await insertEmailIndexes(q, tenant_id, id, emailIndexes);
  return true;
}

export async function countUsersBelowKeyVersion(
  q: Queryable,
  tenantId: string,
  version: number,
): Promise<number> {
  const r = await q
    .selectFrom('users')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('key_version', '<', version)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

export async function usersBelowKeyVersion(
  q: Queryable,
  tenantId: string,
  version: number,
  limit: number,
): Promise<UsersTable[]> {
  return q
    .selectFrom('users')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('key_version', '<', version)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/**
 * Rewrites a user's sealed columns and blind indexes under another key version, if the row is still the
 * one that was read (same version and key version); the row version does not change.
 */
export async function rekeyUser(
  q: Queryable,
  was: UsersTable,
  row: UsersTable,
  emailIndexes: readonly string[],
): Promise<boolean> {
  const res = await q
    .updateTable('users')
    .set({
      user_name_bidx: row.user_name_bidx,
      user_name_enc: row.user_name_enc,
      given_name_enc: row.given_name_enc,
      family_name_enc: row.family_name_enc,
      formatted_name_enc: row.formatted_name_enc,
      display_name_enc: row.display_name_enc,
      emails_enc: row.emails_enc,
      phone_numbers_enc: row.phone_numbers_enc,
      addresses_enc: row.addresses_enc,
      data_key_enc: row.data_key_enc,
      key_version: row.key_version,
    })
    .where('tenant_id', '=', was.tenant_id)
    .where('id', '=', was.id)
    .where('version', '=', was.version)
    .where('key_version', '=', was.key_version)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await q.deleteFrom('user_emails').where('user_id', '=', was.id).execute();
  await insertEmailIndexes(q, was.tenant_id, was.id, emailIndexes);
  return true;
}

/**
 * While a tenant-key rotation runs, rows not yet rewritten carry indexes of the older version, which the
 * unique indexes cannot compare with the new ones: this finds such a row holding one of `userNameIndexes`
 * or `emailIndexes` (the older versions' values), other than `selfId`.
 */
export async function findOlderIndexHolder(
  q: Queryable,
  tenantId: string,
  selfId: string,
  userNameIndexes: readonly string[],
  emailIndexes: readonly string[],
): Promise<'userName' | 'email' | undefined> {
  if (userNameIndexes.length > 0) {
    const hit = await q
      .selectFrom('users')
      .select('id')
      .where('tenant_id', '=', tenantId)
      .where('user_name_bidx', 'in', userNameIndexes)
      .where('id', '!=', selfId)
      .executeTakeFirst();
    if (hit) return 'userName';
  }
  if (emailIndexes.length > 0) {
    const hit = await q
      .selectFrom('user_emails')
      .select('user_id')
      .where('tenant_id', '=', tenantId)
      .where('email_bidx', 'in', emailIndexes)
      .where('user_id', '!=', selfId)
      .executeTakeFirst();
    if (hit) return 'email';
  }
  return undefined;
}

/** A user's row; `forUpdate` locks it until the transaction ends (PostgreSQL; SQLite transactions are serial). */
export async function findUserRow(
  q: Queryable,
  tenantId: string,
  id: string,
  forUpdate = false,
): Promise<UsersTable | undefined> {
  const query = q.selectFrom('users').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id);
  return (forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

/** Clears `manager` on every report of a user (who is being deleted); returns their ids. */
export async function clearManager(
  q: Queryable,
  tenantId: string,
  managerId: string,
  at: string,
): Promise<string[]> {
  const ids = await findReports(q, tenantId, managerId);
  if (ids.length === 0) return ids;
  await q
    .updateTable('users')
    .set((eb) => ({ manager_id: null, version: eb('version', '+', 1), updated_at: at }))
    .where('tenant_id', '=', tenantId)
    .where('manager_id', '=', managerId)
    .execute();
  return ids;
}

export async function deleteUser(q: Queryable, tenantId: string, id: string): Promise<boolean> {
  await q.deleteFrom('user_emails').where('user_id', '=', id).execute();
  await q.deleteFrom('group_members').where('tenant_id', '=', tenantId).where('user_id', '=', id).execute();
  const res = await q
    .deleteFrom('users')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(res.numDeletedRows) === 1;
}

/** Ids of the users whose manager is `managerId`. */
export async function findReports(q: Queryable, tenantId: string, managerId: string): Promise<string[]> {
  const rows = await q
    .selectFrom('users')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('manager_id', '=', managerId)
    .execute();
  return rows.map((r) => r.id);
}

export interface UserFilter {
  /** The value's blind index under every live tenant key version. */
  userNameIndex?: readonly string[];
  emailIndex?: readonly string[];
  department?: string;
  site?: string;
  country?: string;
  /** Matches either the site code or the country. */
  location?: string;
  kind?: string;
  status?: string;
  active?: boolean;
  externalId?: string;
}

export async function listUserRows(
  q: Queryable,
  tenantId: string,
  filter: UserFilter,
  page: { afterId: string | undefined; limit: number },
): Promise<UsersTable[]> {
  let query = q.selectFrom('users').selectAll('users').where('users.tenant_id', '=', tenantId);
  if (filter.emailIndex !== undefined) {
    query = query
      .innerJoin('user_emails', 'user_emails.user_id', 'users.id')
      .where('user_emails.tenant_id', '=', tenantId)
      .where('user_emails.email_bidx', 'in', filter.emailIndex);
  }
  if (filter.userNameIndex !== undefined)
    query = query.where('users.user_name_bidx', 'in', filter.userNameIndex);
  if (filter.department !== undefined) query = query.where('users.department', '=', filter.department);
  if (filter.site !== undefined) query = query.where('users.site', '=', filter.site);
  if (filter.country !== undefined) query = query.where('users.country', '=', filter.country);
  if (filter.location !== undefined) {
    const loc = filter.location;
    query = query.where((eb) =>
      eb.or([eb('users.site', '=', loc), eb('users.country', '=', loc.toUpperCase())]),
    );
  }
  if (filter.kind !== undefined) query = query.where('users.kind', '=', filter.kind);
  if (filter.status !== undefined) query = query.where('users.status', '=', filter.status);
  if (filter.active !== undefined) query = query.where('users.status', filter.active ? '=' : '!=', 'active');
  if (filter.externalId !== undefined) query = query.where('users.external_id', '=', filter.externalId);
  if (page.afterId !== undefined) query = query.where('users.id', '>', page.afterId);
  return query.orderBy('users.id').limit(page.limit).execute();
}

// ---- groups

export async function insertGroup(q: Queryable, row: GroupsTable): Promise<void> {
  await q.insertInto('groups').values(row).execute();
}

export async function updateGroup(q: Queryable, row: GroupsTable, expectedVersion: number): Promise<boolean> {
  const { id, tenant_id, created_at, ...rest } = row;
  const res = await q
    .updateTable('groups')
    .set(rest)
    .where('tenant_id', '=', tenant_id)
    .where('id', '=', id)
    .where('version', '=', expectedVersion)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Bumps a group's version (membership changed). */
export async function touchGroup(q: Queryable, tenantId: string, id: string, at: string): Promise<void> {
  await q
    .updateTable('groups')
    .set((eb) => ({ version: eb('version', '+', 1), updated_at: at }))
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .execute();
}

function memberCountSelect(q: Queryable) {
  return q
    .selectFrom('groups')
    .selectAll('groups')
    .select((eb) =>
      eb
        .selectFrom('group_members')
        .select((e) => e.fn.countAll<number>().as('n'))
        .whereRef('group_members.group_id', '=', 'groups.id')
        .as('member_count'),
    );
}

function toGroup(r: GroupsTable & { member_count: number | string | null }): Group {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    version: r.version,
    displayName: r.display_name,
    externalId: r.external_id,
    description: r.description,
    memberCount: Number(r.member_count ?? 0),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export async function findGroup(
  q: Queryable,
  tenantId: string,
  id: string,
  forUpdate = false,
): Promise<Group | undefined> {
  const query = memberCountSelect(q).where('groups.tenant_id', '=', tenantId).where('groups.id', '=', id);
  const r = await (forUpdate ? query.forUpdate() : query).executeTakeFirst();
  return r && toGroup(r);
}

export async function listGroups(
  q: Queryable,
  tenantId: string,
  filter: { displayName?: string; externalId?: string },
  page: { afterId: string | undefined; limit: number },
): Promise<Group[]> {
  let query = memberCountSelect(q).where('groups.tenant_id', '=', tenantId);
  if (filter.displayName !== undefined) {
    query = query.where('groups.name_key', '=', filter.displayName.normalize('NFC').toLowerCase());
  }
  if (filter.externalId !== undefined) query = query.where('groups.external_id', '=', filter.externalId);
  if (page.afterId !== undefined) query = query.where('groups.id', '>', page.afterId);
  const rows = await query.orderBy('groups.id').limit(page.limit).execute();
  return rows.map(toGroup);
}

export async function deleteGroup(q: Queryable, tenantId: string, id: string): Promise<boolean> {
  await q.deleteFrom('group_members').where('tenant_id', '=', tenantId).where('group_id', '=', id).execute();
  const res = await q
    .deleteFrom('groups')
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(res.numDeletedRows) === 1;
}

/** Adds a member; false when the user already was one. */
export async function addMember(
  q: Queryable,
  tenantId: string,
  groupId: string,
  userId: string,
  at: string,
): Promise<boolean> {
  const res = await q
    .insertInto('group_members')
    .values({ tenant_id: tenantId, group_id: groupId, user_id: userId, added_at: at })
    .onConflict((oc) => oc.columns(['group_id', 'user_id']).doNothing())
    .executeTakeFirst();
  return Number(res.numInsertedOrUpdatedRows ?? 0) === 1;
}

export async function removeMember(
  q: Queryable,
  tenantId: string,
  groupId: string,
  userId: string,
): Promise<boolean> {
  const res = await q
    .deleteFrom('group_members')
    .where('tenant_id', '=', tenantId)
    .where('group_id', '=', groupId)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return Number(res.numDeletedRows) === 1;
}

export async function listMembers(
  q: Queryable,
  tenantId: string,
  groupId: string,
  page: { afterId: string | undefined; limit: number },
): Promise<{ userId: string; addedAt: string }[]> {
  let query = q
    .selectFrom('group_members')
    .select(['user_id', 'added_at'])
    .where('tenant_id', '=', tenantId)
    .where('group_id', '=', groupId);
  if (page.afterId !== undefined) query = query.where('user_id', '>', page.afterId);
  const rows = await query.orderBy('user_id').limit(page.limit).execute();
  return rows.map((r) => ({ userId: r.user_id, addedAt: r.added_at }));
}

/** Which of `ids` are users of the tenant. */
export async function existingUserIds(
  q: Queryable,
  tenantId: string,
  ids: readonly string[],
): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await q
    .selectFrom('users')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('id', 'in', [...ids])
    .execute();
  return new Set(rows.map((r) => r.id));
}

/** Groups a user belongs to (ids). */
export async function groupIdsOfUser(q: Queryable, tenantId: string, userId: string): Promise<string[]> {
  const rows = await q
    .selectFrom('group_members')
    .select('group_id')
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .orderBy('group_id')
    .execute();
  return rows.map((r) => r.group_id);
}

// ---- erasure

export async function insertErasure(q: Queryable, tenantId: string, r: ErasureRecord): Promise<void> {
  await q
    .insertInto('erasure_requests')
    .values({
      id: r.id,
      tenant_id: tenantId,
      user_id: r.userId,
      state: r.state,
      requested_by: r.requestedBy,
      requested_at: r.requestedAt,
      completed_at: r.completedAt,
    })
    .execute();
}

function erasureOf(r: {
  id: string;
  user_id: string;
  requested_by: string;
  requested_at: string;
  completed_at: string | null;
}): ErasureRecord {
  return {
    id: r.id,
    userId: r.user_id,
    state: 'completed',
    requestedBy: r.requested_by,
    requestedAt: r.requested_at,
    completedAt: r.completed_at ?? r.requested_at,
  };
}

export async function findErasure(
  q: Queryable,
  tenantId: string,
  id: string,
): Promise<ErasureRecord | undefined> {
  const r = await q
    .selectFrom('erasure_requests')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
  return r && erasureOf(r);
}

export async function listErasures(
  q: Queryable,
  tenantId: string,
  page: { afterId: string | undefined; limit: number },
): Promise<ErasureRecord[]> {
  let query = q.selectFrom('erasure_requests').selectAll().where('tenant_id', '=', tenantId);
  if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
  return (await query.orderBy('id').limit(page.limit).execute()).map(erasureOf);
}
