import type { ExpressionBuilder, ExpressionWrapper, SqlBool } from 'kysely';
import { sql } from 'kysely';
import { rowsByKey } from '../platform/db/batch.js';
import type { Queryable } from '../platform/db/index.js';
import type { Database, GroupsTable, UsersTable } from '../platform/db/schema.js';
import {
  type ErasureRecord,
  type Group,
  type GroupCondition,
  type GroupSort,
  type IndexedUserCondition,
  type MembershipCondition,
  roleKey,
  type SearchOp,
  type Tenant,
  USER_SEALED_COLUMNS,
  USER_SEARCH_COLUMNS,
  type UserSort,
} from './model.js';

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

/**
 * A user's index rows beside the row: the blind index of each distinct e-mail address, the search terms, and
 * each distinct role value (roleKey).
 */
export interface UserIndexes {
  readonly emails: readonly string[];
  readonly terms: readonly string[];
  readonly roles: readonly string[];
}

export async function insertUser(q: Queryable, row: UsersTable, indexes: UserIndexes): Promise<void> {
  await q.insertInto('users').values(row).execute();
  await insertIndexes(q, row.tenant_id, row.id, indexes);
}

async function replaceIndexes(q: Queryable, tenantId: string, userId: string, indexes: UserIndexes) {
  await q.deleteFrom('user_emails').where('user_id', '=', userId).execute();
  await q.deleteFrom('user_search_terms').where('user_id', '=', userId).execute();
  await q.deleteFrom('user_roles').where('user_id', '=', userId).execute();
  await insertIndexes(q, tenantId, userId, indexes);
}

/** Rows per INSERT of search terms (SQLite allows 32,766 bound values; PostgreSQL 65,535). */
const TERM_CHUNK = 2000;

async function insertIndexes(q: Queryable, tenantId: string, userId: string, indexes: UserIndexes) {
  await insertEmailIndexes(q, tenantId, userId, indexes.emails);
  if (indexes.roles.length > 0) {
    await q
      .insertInto('user_roles')
      .values(indexes.roles.map((role_key) => ({ tenant_id: tenantId, role_key, user_id: userId })))
      .execute();
  }
  for (let i = 0; i < indexes.terms.length; i += TERM_CHUNK) {
    await q
      .insertInto('user_search_terms')
      .values(
        indexes.terms
          .slice(i, i + TERM_CHUNK)
          .map((term) => ({ tenant_id: tenantId, term, user_id: userId })),
      )
      .execute();
  }
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
  indexes: UserIndexes,
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
  await replaceIndexes(q, tenant_id, id, indexes);
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
  indexes: UserIndexes,
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
      terms_version: row.terms_version,
    })
    .where('tenant_id', '=', was.tenant_id)
    .where('id', '=', was.id)
    .where('version', '=', was.version)
    .where('key_version', '=', was.key_version)
    .executeTakeFirst();
  if (Number(res.numUpdatedRows) !== 1) return false;
  await replaceIndexes(q, was.tenant_id, was.id, indexes);
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
  await q.deleteFrom('user_search_terms').where('user_id', '=', id).execute();
  await q.deleteFrom('user_roles').where('user_id', '=', id).execute();
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
  /** A role value, normalised (roleKey). */
  role?: string;
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
  if (filter.role !== undefined) {
    const role = filter.role;
    query = query.where('users.id', 'in', (eb) =>
      eb
        .selectFrom('user_roles')
        .select('user_roles.user_id')
        .where('user_roles.tenant_id', '=', tenantId)
        .where('user_roles.role_key', '=', role),
    );
  }
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

type UsersEb = ExpressionBuilder<Database, 'users'>;
type Predicate = ExpressionWrapper<Database, 'users', SqlBool>;

/** `value` with LIKE's wildcards escaped (the pattern uses `\\` as its escape character). */
function likeEscape(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const LIKE_PATTERN = { co: (v: string) => `%${v}%`, sw: (v: string) => `${v}%`, ew: (v: string) => `%${v}` };
const COMPARE = { eq: '=', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

/** A search condition as a SQL predicate on `users` (one query; sealed values only through blind indexes). */
function userPredicate(eb: UsersEb, tenantId: string, c: IndexedUserCondition): Predicate {
  switch (c.kind) {
    case 'all':
      return eb.and([]);
    case 'none':
      return eb.or([]);
    case 'and':
      return eb.and(c.items.map((i) => userPredicate(eb, tenantId, i)));
    case 'or':
      return eb.or(c.items.map((i) => userPredicate(eb, tenantId, i)));
    case 'not':
      // An absent attribute compares as unknown (NULL): `not` must count it as not matching, so true.
      return eb.not(eb.fn.coalesce(userPredicate(eb, tenantId, c.item), eb.or([])));
    case 'present':
      return eb(`users.${USER_SEARCH_COLUMNS[c.column]}`, 'is not', null);
    case 'sealedPresent':
      return eb(`users.${USER_SEALED_COLUMNS[c.field]}`, 'is not', null);
    case 'blindIndex':
      if (c.indexes.length === 0) return eb.or([]);
      // The other tables are reached as `users.id IN (…)`, not a correlated EXISTS: the subquery seeks its
      // own index and the users are found by id, where EXISTS would probe once per user of the tenant (100,000
      // probes for one lookup on SQLite).
      return c.field === 'userName'
        ? eb('users.user_name_bidx', 'in', c.indexes)
        : eb(
            'users.id',
            'in',
            eb
              .selectFrom('user_emails')
              .select('user_emails.user_id')
              .where('user_emails.tenant_id', '=', tenantId)
              .where('user_emails.email_bidx', 'in', c.indexes),
          );
    case 'terms':
      return eb.and(
        c.groups.map((indexes) =>
          eb(
            'users.id',
            'in',
            eb
              .selectFrom('user_search_terms')
              .select('user_search_terms.user_id')
              .where('user_search_terms.tenant_id', '=', tenantId)
              .where('user_search_terms.term', 'in', indexes),
          ),
        ),
      );
    case 'memberOf':
      return eb(
        'users.id',
        'in',
        eb
          .selectFrom('group_members')
          .select('group_members.user_id')
          .where('group_members.tenant_id', '=', tenantId)
          .where((m) => membershipPredicate(m, 'group_members.group_id', c.group)),
      );
    case 'role': {
      const holders = eb
        .selectFrom('user_roles')
        .select('user_roles.user_id')
        .where('user_roles.tenant_id', '=', tenantId);
      const test = c.test;
      if (test === null) return eb('users.id', 'in', holders);
      // Role keys are stored normalised: comparing them case-exactly with the normalised value is the
      // caseless comparison, and an equality seeks the (tenant_id, role_key) index.
      return eb(
        'users.id',
        'in',
        holders.where((r) => comparePredicate(r, 'user_roles.role_key', test.op, roleKey(test.value), true)),
      );
    }
    case 'column':
      return comparePredicate(eb, `users.${USER_SEARCH_COLUMNS[c.column]}`, c.op, c.value, c.caseExact);
  }
}

/**
 * `column op value` as SCIM means it, the same on SQLite and PostgreSQL. Caseless comparisons lower-case both
 * sides. SQLite's LIKE ignores ASCII case and PostgreSQL's does not, so LIKE serves only the caseless
 * substring tests; case-exact ones use substr and replace, which agree on both.
 */
function comparePredicate<DB, TB extends keyof DB>(
  eb: ExpressionBuilder<DB, TB>,
  ref: string,
  op: SearchOp,
  value: string,
  caseExact: boolean,
): ExpressionWrapper<DB, TB, SqlBool> {
  const column = sql.ref(ref);
  const left = caseExact ? column : sql`lower(${column})`;
  const v = caseExact ? value : value.toLowerCase();
  // In characters (code points), as SQL's substr and length count them: not UTF-16 units, which an emoji has two of.
  const n = Array.from(value).length;
  switch (op) {
    case 'co':
    case 'sw':
    case 'ew':
      if (!caseExact) return eb(left, 'like', sql<string>`${LIKE_PATTERN[op](likeEscape(v))} escape '\\'`);
      if (op === 'sw') return eb(sql`substr(${column}, 1, ${n})`, '=', value);
      if (op === 'ew') {
        return eb.and([
          eb(sql`length(${column})`, '>=', n),
          eb(sql`substr(${column}, length(${column}) - ${n - 1})`, '=', value),
        ]);
      }
      // Removing every occurrence changes the value exactly when it occurs (instr/strpos differ by dialect).
      if (n === 0) return eb(column, 'is not', null);
      return eb(sql`replace(${column}, ${value}, '')`, '<>', column);
    case 'ne':
      // A resource without the attribute does not equal the value either.
      return eb.or([eb(column, 'is', null), eb(left, '<>', v)]);
    default:
      return eb(left, COMPARE[op], v);
  }
}

/** Most trigram groups a narrowable `terms` condition keeps (the rarest), and the count each is capped at. */
const TERMS_KEPT = 3;
const TERM_COUNT_CAP = 1_000;
/**
 * Groups counted per statement, one result column each: a long `co` value has a group per distinct trigram
 * (up to thousands), and a statement may return at most 1,664 columns on PostgreSQL, 2,000 on SQLite.
 */
const GROUPS_PER_COUNT = 200;

/** How many users hold a term of each group, each counted up to TERM_COUNT_CAP, in one statement. */
async function countTermHolders(
  q: Queryable,
  tenantId: string,
  groups: readonly (readonly string[])[],
): Promise<number[]> {
  const row = await q
    .selectNoFrom((eb) =>
      groups.map((group, i) =>
        eb
          .selectFrom((inner) =>
            inner
              .selectFrom('user_search_terms')
              .select('user_id')
              .where('tenant_id', '=', tenantId)
              .where('term', 'in', group)
              .limit(TERM_COUNT_CAP)
              .as('t'),
          )
          .select((inner) => inner.fn.countAll<number | string>().as('n'))
          .as(`n${i}`),
      ),
    )
    .executeTakeFirstOrThrow();
  const counts = row as Record<string, number | string | null>;
  return groups.map((_, i) => Number(counts[`n${i}`] ?? 0));
}

/**
 * Keeps the rarest TERMS_KEPT trigrams of each narrowable `terms` condition. Intersecting every trigram of a
 * value costs a pass over each trigram's users, and trigrams every user shares (a common domain) make that
 * the whole tenant once per trigram; the rarest few give nearly the same candidates, which the caller checks
 * one by one anyway. Each trigram's users are counted up to TERM_COUNT_CAP (an index range read).
 */
export async function narrowTerms(
  q: Queryable,
  tenantId: string,
  c: IndexedUserCondition,
): Promise<IndexedUserCondition> {
  switch (c.kind) {
    case 'and':
    case 'or':
      return { kind: c.kind, items: await Promise.all(c.items.map((i) => narrowTerms(q, tenantId, i))) };
    case 'not':
      // A superset under `not` would drop matches: left exact (inexact terms are never negated anyway).
      return c;
    case 'terms': {
      if (!c.narrowable || c.groups.length <= TERMS_KEPT) return c;
      const counted: { group: readonly string[]; n: number }[] = [];
      for (let from = 0; from < c.groups.length; from += GROUPS_PER_COUNT) {
        const chunk = c.groups.slice(from, from + GROUPS_PER_COUNT);
        for (const [i, n] of (await countTermHolders(q, tenantId, chunk)).entries()) {
          // A trigram nobody holds: nobody matches.
          if (n === 0) return { kind: 'none' };
          counted.push({ group: chunk[i] as readonly string[], n });
        }
      }
      counted.sort((a, b) => a.n - b.n);
      return { ...c, groups: counted.slice(0, TERMS_KEPT).map((x) => x.group) };
    }
    default:
      return c;
  }
}

/** Whether any user of the tenant was written before search terms existed (and so has none). */
export async function hasUsersWithoutTerms(q: Queryable, tenantId: string): Promise<boolean> {
  const r = await q
    .selectFrom('users')
    .select('id')
    .where('tenant_id', '=', tenantId)
    .where('terms_version', '<', 1)
    .limit(1)
    .executeTakeFirst();
  return r !== undefined;
}

/** A condition on one membership row's other id (never NULL, so `not` needs no care for unknowns). */
function membershipPredicate(
  eb: ExpressionBuilder<Database, 'group_members'>,
  ref: 'group_members.group_id' | 'group_members.user_id',
  c: MembershipCondition,
): ExpressionWrapper<Database, 'group_members', SqlBool> {
  switch (c.kind) {
    case 'any':
      return eb.and([]);
    case 'and':
      return eb.and(c.items.map((i) => membershipPredicate(eb, ref, i)));
    case 'or':
      return eb.or(c.items.map((i) => membershipPredicate(eb, ref, i)));
    case 'not':
      return eb.not(membershipPredicate(eb, ref, c.item));
    case 'eq':
      return eb(ref, '=', c.id);
    case 'ne':
      return eb(ref, '<>', c.id);
  }
}

/**
 * An ORDER BY term as SCIM asks (RFC 7644 §3.4.2.3): caseless attributes by their lower-cased value, and
 * resources without the attribute last when ascending, first when descending, on both stores (SQLite puts
 * NULL first by default, PostgreSQL last).
 */
function sortKey(ref: string, sort: { descending: boolean; caseExact: boolean }) {
  const column = sql.ref(ref);
  const key = sort.caseExact ? column : sql`lower(${column})`;
  return sort.descending ? sql`${key} desc nulls first` : sql`${key} asc nulls last`;
}

/**
 * One page of a search: `offset` rows skipped in sort order, at most `limit` returned, and the number of all
 * matching rows (SCIM `totalResults`).
 */
export async function searchUserRows(
  q: Queryable,
  tenantId: string,
  condition: IndexedUserCondition,
  page: { offset: number; limit: number; sort?: UserSort },
): Promise<{ total: number; rows: UsersTable[] }> {
  const base = q
    .selectFrom('users')
    .where('users.tenant_id', '=', tenantId)
    .where((eb) => userPredicate(eb, tenantId, condition));
  const counted = await base
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const total = Number(counted.n);
  if (page.limit === 0 || page.offset >= total) return { total, rows: [] };
  let query = base.selectAll('users');
  if (page.sort) query = query.orderBy(sortKey(`users.${USER_SEARCH_COLUMNS[page.sort.column]}`, page.sort));
  const rows = await query.orderBy('users.id').offset(page.offset).limit(page.limit).execute();
  return { total, rows };
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

const GROUP_COLUMNS = {
  id: 'groups.id',
  displayName: 'groups.display_name',
  externalId: 'groups.external_id',
  createdAt: 'groups.created_at',
  updatedAt: 'groups.updated_at',
} as const;

function groupPredicate(
  eb: ExpressionBuilder<Database, 'groups'>,
  tenantId: string,
  c: GroupCondition,
): ExpressionWrapper<Database, 'groups', SqlBool> {
  switch (c.kind) {
    case 'all':
    case 'none':
      return c.kind === 'all' ? eb.and([]) : eb.or([]);
    case 'and':
      return eb.and(c.items.map((i) => groupPredicate(eb, tenantId, i)));
    case 'or':
      return eb.or(c.items.map((i) => groupPredicate(eb, tenantId, i)));
    case 'not':
      return eb.not(eb.fn.coalesce(groupPredicate(eb, tenantId, c.item), eb.or([])));
    case 'present':
      return eb(sql.ref(GROUP_COLUMNS[c.column]), 'is not', null);
    case 'column':
      return comparePredicate(eb, GROUP_COLUMNS[c.column], c.op, c.value, c.caseExact);
    case 'members':
      return eb.exists(
        eb
          .selectFrom('group_members')
          .select('group_members.user_id')
          .whereRef('group_members.group_id', '=', 'groups.id')
          .where('group_members.tenant_id', '=', tenantId)
          .where((m) => membershipPredicate(m, 'group_members.user_id', c.member)),
      );
  }
}

/** One page of a group search by offset, with the number of all matches. */
export async function searchGroups(
  q: Queryable,
  tenantId: string,
  condition: GroupCondition,
  page: { offset: number; limit: number; sort?: GroupSort },
): Promise<{ total: number; groups: Group[] }> {
  const where = (eb: ExpressionBuilder<Database, 'groups'>) => groupPredicate(eb, tenantId, condition);
  const counted = await q
    .selectFrom('groups')
    .where('groups.tenant_id', '=', tenantId)
    .where(where)
    .select((eb) => eb.fn.countAll<number | string>().as('n'))
    .executeTakeFirstOrThrow();
  const total = Number(counted.n);
  if (page.limit === 0 || page.offset >= total) return { total, groups: [] };
  let query = memberCountSelect(q).where('groups.tenant_id', '=', tenantId).where(where);
  if (page.sort) query = query.orderBy(sortKey(GROUP_COLUMNS[page.sort.column], page.sort));
  const rows = await query.orderBy('groups.id').offset(page.offset).limit(page.limit).execute();
  return { total, groups: rows.map(toGroup) };
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

/** Every member of a group, in id order. */
export async function memberIds(q: Queryable, tenantId: string, groupId: string): Promise<string[]> {
  const rows = await q
    .selectFrom('group_members')
    .select('user_id')
    .where('tenant_id', '=', tenantId)
    .where('group_id', '=', groupId)
    .orderBy('user_id')
    .execute();
  return rows.map((r) => r.user_id);
}

/** The members of each of `groupIds`, in id order, in one query (a page of SCIM Groups). */
export function memberIdsOfGroups(
  q: Queryable,
  tenantId: string,
  groupIds: readonly string[],
): Promise<Map<string, string[]>> {
  return rowsByKey(
    groupIds,
    (ids) =>
      q
        .selectFrom('group_members')
        .select(['group_id', 'user_id'])
        .where('tenant_id', '=', tenantId)
        .where('group_id', 'in', ids)
        .orderBy('group_id')
        .orderBy('user_id')
        .execute(),
    (r) => r.group_id,
    (r) => r.user_id,
  );
}

/** The groups each of `userIds` belongs to, in group id order, in one query (a page of SCIM Users). */
export function groupsOfUsers(
  q: Queryable,
  tenantId: string,
  userIds: readonly string[],
): Promise<Map<string, Group[]>> {
  return rowsByKey(
    userIds,
    (ids) =>
      memberCountSelect(q)
        .innerJoin('group_members as m', 'm.group_id', 'groups.id')
        .select('m.user_id as member_id')
        .where('groups.tenant_id', '=', tenantId)
        .where('m.tenant_id', '=', tenantId)
        .where('m.user_id', 'in', ids)
        .orderBy('groups.id')
        .execute(),
    (r) => r.member_id,
    toGroup,
  );
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
