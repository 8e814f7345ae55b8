import { sql } from 'kysely';
import type { AuditLog } from '../audit/service.js';
import type { TenantKey } from '../crypto/model.js';
import type { TenantKeyHolder } from '../crypto/rotation.js';
import type { TenantKeySet } from '../crypto/service.js';
import { caselessIndexes, type Keyring } from '../crypto/service.js';
import { canonicalJson } from '../platform/canonical-json.js';
import { type Clock, isoTime } from '../platform/clock.js';
import { actorRef, type Context, type TenantContext } from '../platform/context.js';
import { type GroupCommitter, isRetryable } from '../platform/db/group-commit.js';
import type { Db, Queryable, Tx } from '../platform/db/index.js';
import { mapStoreError, transact } from '../platform/db/tx.js';
import { type ErrorCode, type FieldError, RosterError } from '../platform/errors.js';
import { checkIfMatch } from '../platform/etag.js';
import { newId } from '../platform/ids.js';
import { decodeCursor, type Page, pageById, pageOf } from '../platform/paging.js';
import {
  decodeUser,
  EMAIL_INDEX,
  emailIndexes,
  encodeUser,
  searchTerms,
  termIndexes,
  USER_NAME_INDEX,
  userNameIndex,
} from './codec.js';
import {
  type ErasureRecord,
  type Group,
  type GroupCondition,
  type GroupInput,
  type GroupSort,
  type IndexedUserCondition,
  mergePatch,
  resolveStatus,
  roleKey,
  type Tenant,
  type User,
  type UserCondition,
  type UserInput,
  type UserSort,
  type UserStatus,
} from './model.js';
import { auditGroup, auditUser } from './present.js';
import * as store from './store.js';

interface Deps {
  readonly db: Db;
  readonly clock: Clock;
  readonly audit: AuditLog;
  readonly keys: Keyring;
}

const TENANT_UNIQUES: Record<string, ErrorCode> = { tenants_name_key_key: 'tenants.name_taken' };
const USER_UNIQUES: Record<string, ErrorCode> = {
  users_user_name_uq: 'identity.user_name_taken',
  users_external_id_uq: 'identity.external_id_taken',
  user_emails_pk: 'identity.email_taken',
};
const GROUP_UNIQUES: Record<string, ErrorCode> = {
  groups_name_uq: 'identity.group_name_taken',
  groups_external_id_uq: 'identity.external_id_taken',
};

/** A tenant by id, for callers that need no other service (the CLI's reports). */
export function findTenant(q: Queryable, id: string): Promise<Tenant | undefined> {
  return store.findTenant(q, id);
}

/** Tenants: the isolation boundary. Creating one also creates its encryption key, in the same transaction. */
export class TenantService {
  readonly #d: Deps;
  constructor(deps: Deps) {
    this.#d = deps;
  }

  /** @throws tenants.name_taken */
  async create(ctx: Context, input: { name: string }): Promise<Tenant> {
    const now = this.#d.clock.now();
    const tenant: Tenant = {
      id: newId(now.getTime()),
      name: input.name.trim(),
      createdAt: now.toISOString(),
    };
    return transact(
      this.#d.db,
      async (tx) => {
        await store.insertTenant(tx, tenant);
        await this.#d.keys.createTenantKey(tx, tenant.id);
        await this.#d.audit.record(tx, ctx, null, [
          {
            action: 'tenant.created',
            targetType: 'tenant',
            targetId: tenant.id,
            before: null,
            after: { ...tenant },
          },
        ]);
        return tenant;
      },
      TENANT_UNIQUES,
    );
  }

  /** @throws tenants.not_found */
  async get(q: Queryable | undefined, id: string): Promise<Tenant> {
    const tenant = await store.findTenant(q ?? this.#d.db.kysely, id);
    if (!tenant) throw new RosterError('tenants.not_found');
    return tenant;
  }

  async list(page: { cursor?: string; limit: number }): Promise<Page<Tenant>> {
    return pageById(page, (range) => store.listTenants(this.#d.db.kysely, range));
  }
}

function userIndexes(key: TenantKey, user: User): store.UserIndexes {
  return {
    emails: emailIndexes(key, user),
    terms: searchTerms(key, user),
    roles: [...new Set(user.roles.map((r) => roleKey(r.value)))],
  };
}

/** Resolves the sealed equalities of a condition to blind indexes. */
function indexCondition(keys: TenantKeySet, c: UserCondition): IndexedUserCondition {
  switch (c.kind) {
    case 'and':
    case 'or':
      return { kind: c.kind, items: c.items.map((i) => indexCondition(keys, i)) };
    case 'not':
      return { kind: 'not', item: indexCondition(keys, c.item) };
    case 'sealedEq':
      return {
        kind: 'blindIndex',
        field: c.field,
        indexes: caselessIndexes(keys, c.field === 'userName' ? USER_NAME_INDEX : EMAIL_INDEX, c.value),
      };
    case 'sealedTerms':
      return {
        kind: 'terms',
        groups: c.texts.map((t) => termIndexes(keys.all, c.field, c.termKind, t)),
        narrowable: c.termKind === 'gram',
      };
    default:
      return c;
  }
}

function usesTerms(c: UserCondition): boolean {
  if (c.kind === 'sealedTerms') return true;
  if (c.kind === 'and' || c.kind === 'or') return c.items.some(usesTerms);
  return c.kind === 'not' && usesTerms(c.item);
}

export interface UserQuery {
  userName?: string;
  email?: string;
  department?: string;
  /** Users holding this role, compared without regard to case. */
  role?: string;
  site?: string;
  country?: string;
  location?: string;
  kind?: string;
  status?: UserStatus;
  active?: boolean;
  externalId?: string;
}

/**
 * Called in the transaction of every change to a user: `after` is null when the user is being deleted.
 * Other modules (licenses) follow users through this without identity knowing them.
 */
export type UserChangeHook = (tx: Tx, ctx: TenantContext, before: User, after: User | null) => Promise<void>;

/** Users of a tenant: PII sealed at rest, userName and e-mails unique per tenant through blind indexes. */
export class UserService {
  readonly #d: Deps;
  readonly #hooks: UserChangeHook[] = [];
  readonly #eraseHooks: ((tx: Tx, ctx: TenantContext, userId: string) => Promise<void>)[] = [];
  constructor(deps: Deps) {
    this.#d = deps;
  }

  /**
   * Registers a hook run inside the transaction of an erasure, after the user's row is gone: other modules
   * destroy what they keep of the person's data.
   */
  onErase(hook: (tx: Tx, ctx: TenantContext, userId: string) => Promise<void>): void {
    this.#eraseHooks.push(hook);
  }

  /** Registers a hook run inside the transaction of every update and deletion of a user. */
  onChange(hook: UserChangeHook): void {
    this.#hooks.push(hook);
  }

  /**
   * Creates a user.
   * @throws identity.user_name_taken, identity.email_taken, identity.external_id_taken,
   *   identity.invalid_manager, identity.inconsistent_status, request.validation_failed
   */
  async create(ctx: TenantContext, input: UserInput): Promise<User> {
    return transact(this.#d.db, (tx) => this.createIn(tx, ctx, input), USER_UNIQUES);
  }

  /**
   * Creates a user in the next group commit (many concurrent creates share one transaction, each under its
   * own savepoint): what SCIM clients provisioning thousands of users at once need. Same errors as `create`.
   */
  async createGrouped(committer: GroupCommitter, ctx: TenantContext, input: UserInput): Promise<User> {
    return committer.submit(async (tx) => {
      try {
        return await this.createIn(tx, ctx, input);
      } catch (err) {
        // Deadlocks and serialization failures go back to the committer, which retries the work.
        if (isRetryable(err)) throw err;
        throw mapStoreError(err, USER_UNIQUES);
      }
    });
  }

  /** Creates a user inside the caller's transaction (for use cases that do more in the same commit). */
  async createIn(tx: Tx, ctx: TenantContext, input: UserInput): Promise<User> {
    const now = this.#d.clock.now();
    const id = newId(now.getTime());
    const user = buildUser(
      { id, tenantId: ctx.tenantId, version: 1, createdAt: now.toISOString(), updatedAt: now.toISOString() },
      input,
      'active',
    );
    await this.#checkManager(tx, user);
    const keys = await this.#d.keys.tenantKeys(tx, ctx.tenantId);
    const key = keys.current;
    await this.#guardUniques(tx, keys, key, user);
    await store.insertUser(tx, encodeUser(key, user), userIndexes(key, user));
    await this.#d.audit.record(tx, ctx, ctx.tenantId, [
      { action: 'user.created', targetType: 'user', targetId: id, before: null, after: auditUser(user) },
    ]);
    return user;
  }

  /** @throws identity.user_not_found (also for another tenant's ids) */
  async get(ctx: TenantContext, id: string, q?: Queryable): Promise<User> {
    const db = q ?? this.#d.db.kysely;
    const row = await store.findUserRow(db, ctx.tenantId, id);
    if (!row) throw new RosterError('identity.user_not_found');
    return decodeUser(await this.#keysFor(db, ctx.tenantId, [row]), row);
  }

  async list(
    ctx: TenantContext,
    query: UserQuery,
    page: { cursor?: string; limit: number },
  ): Promise<Page<User>> {
    const db = this.#d.db.kysely;
    const keys = await this.#d.keys.tenantKeys(db, ctx.tenantId);
    const { userName, email, ...plain } = query;
    const filter: store.UserFilter = { ...plain };
    if (plain.country !== undefined) filter.country = plain.country.toUpperCase();
    if (plain.role !== undefined) filter.role = roleKey(plain.role.trim());
    if (userName !== undefined) filter.userNameIndex = caselessIndexes(keys, USER_NAME_INDEX, userName);
    if (email !== undefined) filter.emailIndex = caselessIndexes(keys, EMAIL_INDEX, email);
    const rows = await store.listUserRows(db, ctx.tenantId, filter, {
      afterId: decodeCursor(page.cursor),
      limit: page.limit + 1,
    });
    const covering = await this.#keysFor(db, ctx.tenantId, rows, keys);
    return pageOf(
      rows,
      page.limit,
      (r) => r.id,
      (r) => decodeUser(covering, r),
    );
  }

  /**
   * Users matching a search condition, one page by offset (SCIM's `startIndex`), with the total count. The
   * condition runs in the database; sealed equalities become blind indexes under every live key version.
   */
  async search(
    ctx: TenantContext,
    condition: UserCondition,
    page: { offset: number; limit: number; sort?: UserSort },
  ): Promise<{ total: number; users: User[] }> {
    const db = this.#d.db.kysely;
    const keys = await this.#d.keys.tenantKeys(db, ctx.tenantId);
    if (usesTerms(condition) && (await store.hasUsersWithoutTerms(db, ctx.tenantId))) {
      // Rows written before search terms existed would be missed: refuse rather than answer partly.
      throw new RosterError('scim.invalid_filter', {
        detail:
          'Some users of this tenant have no search terms yet (written before they existed); rotate the tenant key (roster keys rotate) to index them',
      });
    }
    const indexed = await store.narrowTerms(db, ctx.tenantId, indexCondition(keys, condition));
    const { total, rows } = await store.searchUserRows(db, ctx.tenantId, indexed, page);
    const covering = await this.#keysFor(db, ctx.tenantId, rows, keys);
    return { total, users: rows.map((r) => decodeUser(covering, r)) };
  }

  /**
   * Applies an RFC 7396 merge patch to a user.
   * @throws identity.user_not_found, request.precondition_failed, and the create errors
   */
  async update(ctx: TenantContext, id: string, patch: UserInput, ifMatch?: string): Promise<User> {
    return transact(this.#d.db, (tx) => this.updateIn(tx, ctx, id, patch, ifMatch), USER_UNIQUES);
  }

  /** `update` inside the caller's transaction. */
  async updateIn(tx: Tx, ctx: TenantContext, id: string, patch: UserInput, ifMatch?: string): Promise<User> {
    const before = await this.#load(tx, ctx, id, true);
    checkIfMatch(ifMatch, before.version);
    const merged = mergePatch(writableView(before), withoutActive(patch)) as UserInput;
    const after = buildUser(
      { ...before, version: before.version + 1, updatedAt: isoTime(this.#d.clock) },
      {
        ...merged,
        active: patch.active ?? null,
        status: patch.status ?? null,
      },
      before.status,
    );
    // A patch that changes nothing writes nothing: no new version, no audit entry.
    if (canonicalJson(auditable(before)) === canonicalJson(auditable(after))) return before;
    await this.#checkManager(tx, after);
    const keys = await this.#d.keys.tenantKeys(tx, ctx.tenantId);
    const key = keys.current;
    await this.#guardUniques(tx, keys, key, after);
    const row = encodeUser(key, after);
    if (!(await store.updateUser(tx, row, before.version, userIndexes(key, after)))) {
      throw new RosterError('store.conflict');
    }
    for (const hook of this.#hooks) await hook(tx, ctx, before, after);
    await this.#d.audit.record(tx, ctx, ctx.tenantId, [
      {
        action: 'user.updated',
        targetType: 'user',
        targetId: id,
        before: auditUser(before),
        after: auditUser(after),
      },
    ]);
    return after;
  }

  /**
   * Deletes a user, their memberships, and clears them as manager of their reports.
   * @throws identity.user_not_found, request.precondition_failed
   */
  async delete(ctx: TenantContext, id: string, ifMatch?: string): Promise<void> {
    await transact(this.#d.db, (tx) => this.#deleteIn(tx, ctx, id, ifMatch, null));
  }

  /**
   * Erases a user for good (GDPR Art. 17, crypto-shredding): everything `delete` does, and the erase hooks
   * destroy what other modules keep of them (stored onboarding answers); the row goes with the user's data key, the only key that opened their
   * personal data. Their audit entries (masked), license history and counts stay, and the log still
   * verifies. Returns the erasure record, written in the same transaction.
   * @throws identity.user_not_found, request.precondition_failed
   */
  async erase(ctx: TenantContext, id: string, ifMatch?: string): Promise<ErasureRecord> {
    const now = isoTime(this.#d.clock);
    const record: ErasureRecord = {
      id: newId(this.#d.clock.now().getTime()),
      userId: id,
      state: 'completed',
      requestedBy: actorRef(ctx.actor),
      requestedAt: now,
      completedAt: now,
    };
    await transact(this.#d.db, (tx) => this.#deleteIn(tx, ctx, id, ifMatch, record));
    await this.#checkpointErased();
    return record;
  }

  /**
   * SQLite: `secure_delete` zeroes the erased rows in the page it writes, but in WAL mode that page goes to
   * the write-ahead log and the database file keeps the old page (with the sealed data key) until a
   * checkpoint copies the new one back. An open reader makes a checkpoint stop short, so it is retried in
   * the background (every 200 ms, for up to 10 minutes) until one completes.
   */
  async #checkpointErased(attempt = 0): Promise<void> {
    if (this.#d.db.dialect !== 'sqlite') return;
    let busy: boolean;
    try {
      const res = await sql<{ busy: number }>`pragma wal_checkpoint(TRUNCATE)`.execute(this.#d.db.kysely);
      busy = res.rows[0]?.busy !== 0;
    } catch {
      return; // the store is closing: the next open checkpoints it
    }
    if (!busy || attempt >= 3000) return;
    const timer = setTimeout(() => void this.#checkpointErased(attempt + 1), 200);
    timer.unref();
  }

  async #deleteIn(
    tx: Tx,
    ctx: TenantContext,
    id: string,
    ifMatch: string | undefined,
    erasure: ErasureRecord | null,
  ): Promise<void> {
    const before = await this.#load(tx, ctx, id, true);
    checkIfMatch(ifMatch, before.version);
    const groups = await store.groupIdsOfUser(tx, ctx.tenantId, id);
    const at = isoTime(this.#d.clock);
    for (const g of groups) await store.touchGroup(tx, ctx.tenantId, g, at);
    for (const hook of this.#hooks) await hook(tx, ctx, before, null);
    const reports = await store.clearManager(tx, ctx.tenantId, id, at);
    await store.deleteUser(tx, ctx.tenantId, id);
    if (erasure) {
      for (const hook of this.#eraseHooks) await hook(tx, ctx, id);
      await store.insertErasure(tx, ctx.tenantId, erasure);
    }
    await this.#d.audit.record(tx, ctx, ctx.tenantId, [
      ...groups.map((g) => ({
        action: 'group.member_removed',
        targetType: 'group',
        targetId: g,
        before: { member: id },
        after: null,
      })),
      ...reports.map((r) => ({
        action: 'user.updated',
        targetType: 'user',
        targetId: r,
        before: { manager: id },
        after: { manager: null },
      })),
      { action: 'user.deleted', targetType: 'user', targetId: id, before: auditUser(before), after: null },
      ...(erasure
        ? [
            {
              action: 'user.erased',
              targetType: 'user',
              targetId: id,
              before: null,
              after: { erasureRequest: erasure.id, dataKey: 'destroyed' },
            },
          ]
        : []),
    ]);
  }

  /** @throws erasure.not_found (also for another tenant's) */
  async erasure(ctx: TenantContext, id: string): Promise<ErasureRecord> {
    const rec = await store.findErasure(this.#d.db.kysely, ctx.tenantId, id);
    if (!rec) throw new RosterError('erasure.not_found');
    return rec;
  }

  async erasures(ctx: TenantContext, page: { cursor?: string; limit: number }): Promise<Page<ErasureRecord>> {
    return pageById(page, (range) => store.listErasures(this.#d.db.kysely, ctx.tenantId, range));
  }

  /**
   * Users under a tenant key: rows naming an older version are rewritten under the current one (a fresh
   * data key, the same values, blind indexes recomputed) without a new row version or audit entry, since
   * no user changed. A row changed meanwhile by a request is left to that request, which wrote it anew.
   */
  keyHolder(): TenantKeyHolder {
    return {
      name: 'users',
      remaining: (q, tenantId, version) => store.countUsersBelowKeyVersion(q, tenantId, version),
      rekey: (tenantId, keys, limit) =>
        transact(this.#d.db, async (tx) => {
          const key = keys.current;
          const rows = await store.usersBelowKeyVersion(tx, tenantId, key.version, limit);
          for (const row of rows) {
            const user = decodeUser(keys, row);
            await store.rekeyUser(tx, row, encodeUser(key, user), userIndexes(key, user));
          }
          return rows.length;
        }),
    };
  }

  /** Ids of the groups a user belongs to. @throws identity.user_not_found */
  async groupsOf(ctx: TenantContext, id: string): Promise<string[]> {
    const db = this.#d.db.kysely;
    if (!(await store.findUserRow(db, ctx.tenantId, id))) throw new RosterError('identity.user_not_found');
    return store.groupIdsOfUser(db, ctx.tenantId, id);
  }

  async #load(tx: Tx, ctx: TenantContext, id: string, forUpdate: boolean): Promise<User> {
    const row = await store.findUserRow(tx, ctx.tenantId, id, forUpdate && this.#d.db.dialect === 'postgres');
    if (!row) throw new RosterError('identity.user_not_found');
    return decodeUser(await this.#keysFor(tx, ctx.tenantId, [row]), row);
  }

  /**
   * The tenant's keys, covering every key version the rows name: a row rewritten under a version this node
   * has not seen yet (a rotation begun on another node) makes it reload the tenant's keys once.
   */
  async #keysFor(
    q: Queryable,
    tenantId: string,
    rows: readonly { key_version: number }[],
    known?: TenantKeySet,
  ): Promise<TenantKeySet> {
    const keys = known ?? (await this.#d.keys.tenantKeys(q, tenantId));
    if (rows.every((r) => keys.all.some((k) => k.version === r.key_version))) return keys;
    this.#d.keys.forget(tenantId);
    return this.#d.keys.tenantKeys(q, tenantId);
  }

  /**
   * Uniqueness of userName and e-mails while a tenant-key rotation runs. Rows then hold blind indexes of
   * different key versions, which the unique indexes cannot compare: a user not yet rewritten holds an older
   * version's, and a writer that read its keys just before the new version came in force may still write the
   * older one. So, while more than one version is live, a writer looks for holders of the user's values under
   * every version but the one it writes (`key`). On PostgreSQL it first locks each value, named by its index
   * under the newest live version (which every node knows before that version comes in force), so that
   * writers of one value take turns and each sees the other's committed row; SQLite writes one transaction
   * at a time. Outside rotations this costs nothing.
   * @throws identity.user_name_taken, identity.email_taken
   */
  async #guardUniques(tx: Tx, keys: TenantKeySet, key: TenantKey, user: User): Promise<void> {
    if (keys.all.length < 2) return;
    if (this.#d.db.dialect === 'postgres') {
      const newest = keys.all.reduce((a, b) => (b.version > a.version ? b : a));
      const locks = [userNameIndex(newest, user.userName), ...emailIndexes(newest, user)].sort();
      for (const index of locks) {
        await sql`select pg_advisory_xact_lock(hashtextextended(${`roster.unique|${index}`}, 0))`.execute(tx);
      }
    }
    const others = keys.all.filter((k) => k.version !== key.version);
    const held = await store.findOlderIndexHolder(
      tx,
      user.tenantId,
      user.id,
      others.map((k) => userNameIndex(k, user.userName)),
      others.flatMap((k) => emailIndexes(k, user)),
    );
    if (held === 'userName') throw new RosterError('identity.user_name_taken');
    if (held === 'email') throw new RosterError('identity.email_taken');
  }

  async #checkManager(tx: Tx, user: User): Promise<void> {
    if (user.manager === null) return;
    const ok =
      user.manager !== user.id && (await store.existingUserIds(tx, user.tenantId, [user.manager])).size === 1;
    if (!ok)
      throw new RosterError('identity.invalid_manager', {
        errors: [{ pointer: '/manager', detail: 'is not another user of this tenant' }],
      });
  }
}

/** The fields a change can touch, for telling a real change from a no-op. */
function auditable(u: User): unknown {
  const { version: _v, updatedAt: _u, ...rest } = u;
  return rest;
}

function withoutActive(patch: UserInput): UserInput {
  const { active: _a, status: _s, ...rest } = patch;
  return rest;
}

/** The writable fields of a user, in input form, for merge patching. */
function writableView(u: User): UserInput {
  return {
    userName: u.userName,
    externalId: u.externalId,
    name: u.name,
    displayName: u.displayName,
    emails: [...u.emails],
    phoneNumbers: [...u.phoneNumbers],
    addresses: [...u.addresses],
    title: u.title,
    department: u.department,
    roles: [...u.roles],
    location: u.location,
    kind: u.kind,
    manager: u.manager,
  };
}

type Fixed = Pick<User, 'id' | 'tenantId' | 'version' | 'createdAt' | 'updatedAt'>;

/**
 * Builds a user from fixed fields and input, applying the domain rules the JSON schema cannot express.
 * @throws request.validation_failed naming the field, identity.inconsistent_status
 */
function buildUser(fixed: Fixed, input: UserInput, currentStatus: UserStatus): User {
  const errors: FieldError[] = [];
  const userName = input.userName?.trim();
  if (!userName) errors.push({ pointer: '/userName', detail: 'is required and may not be blank' });
  for (const [field, list] of [
    ['emails', input.emails ?? []],
    ['phoneNumbers', input.phoneNumbers ?? []],
    ['addresses', input.addresses ?? []],
    ['roles', input.roles ?? []],
  ] as const) {
    if (list.filter((v) => v.primary === true).length > 1) {
      errors.push({ pointer: `/${field}`, detail: 'may mark at most one value primary' });
    }
  }
  const roles = (input.roles ?? []).map((r) => ({ ...r, value: r.value.trim() }));
  const seenRoles = new Set<string>();
  roles.forEach((r, i) => {
    const key = roleKey(r.value);
    if (!key) errors.push({ pointer: `/roles/${i}/value`, detail: 'may not be blank' });
    else if (seenRoles.has(key))
      errors.push({ pointer: `/roles/${i}/value`, detail: 'repeats a role of the user' });
    seenRoles.add(key);
  });
  if (errors.length > 0) throw new RosterError('request.validation_failed', { errors });
  const name = input.name && Object.keys(input.name).length > 0 ? input.name : null;
  const site = input.location?.site ?? null;
  const country = input.location?.country?.toUpperCase() ?? null;
  return {
    ...fixed,
    userName: userName as string,
    externalId: input.externalId ?? null,
    name,
    displayName: input.displayName ?? null,
    emails: input.emails ?? [],
    phoneNumbers: input.phoneNumbers ?? [],
    addresses: input.addresses ?? [],
    title: input.title ?? null,
    department: input.department ?? null,
    roles,
    location: site === null && country === null ? null : { site, country },
    kind: input.kind ?? 'employee',
    manager: input.manager ?? null,
    status: resolveStatus(currentStatus, input.status, input.active),
  };
}

/** Groups of a tenant and their members. */
export class GroupService {
  readonly #d: Deps;
  constructor(deps: Deps) {
    this.#d = deps;
  }

  /** @throws identity.group_name_taken, identity.external_id_taken, identity.invalid_member */
  async create(ctx: TenantContext, input: GroupInput): Promise<Group> {
    return transact(
      this.#d.db,
      async (tx) => {
        const now = this.#d.clock.now();
        const at = now.toISOString();
        const id = newId(now.getTime());
        const displayName = (input.displayName ?? '').trim();
        if (!displayName) {
          throw new RosterError('request.validation_failed', {
            errors: [{ pointer: '/displayName', detail: 'is required and may not be blank' }],
          });
        }
        await store.insertGroup(tx, {
          id,
          tenant_id: ctx.tenantId,
          version: 1,
          display_name: displayName,
          name_key: displayName.normalize('NFC').toLowerCase(),
          external_id: input.externalId ?? null,
          description: input.description ?? null,
          created_at: at,
          updated_at: at,
        });
        const members = [...new Set(input.members ?? [])];
        await this.#checkMembers(tx, ctx.tenantId, members);
        for (const m of members) await store.addMember(tx, ctx.tenantId, id, m, at);
        const group = (await store.findGroup(tx, ctx.tenantId, id)) as Group;
        await this.#d.audit.record(tx, ctx, ctx.tenantId, [
          {
            action: 'group.created',
            targetType: 'group',
            targetId: id,
            before: null,
            after: { ...auditGroup(group), members },
          },
        ]);
        return group;
      },
      GROUP_UNIQUES,
    );
  }

  /** @throws identity.group_not_found */
  async get(ctx: TenantContext, id: string): Promise<Group> {
    const g = await store.findGroup(this.#d.db.kysely, ctx.tenantId, id);
    if (!g) throw new RosterError('identity.group_not_found');
    return g;
  }

  /** Groups matching a search condition, one page by offset, with the total count (one query each). */
  async search(
    ctx: TenantContext,
    condition: GroupCondition,
    page: { offset: number; limit: number; sort?: GroupSort },
  ): Promise<{ total: number; groups: Group[] }> {
    return store.searchGroups(this.#d.db.kysely, ctx.tenantId, condition, page);
  }

  async list(
    ctx: TenantContext,
    filter: { displayName?: string; externalId?: string },
    page: { cursor?: string; limit: number },
  ): Promise<Page<Group>> {
    return pageById(page, (range) => store.listGroups(this.#d.db.kysely, ctx.tenantId, filter, range));
  }

  /** Merge-patches displayName, externalId, description. @throws identity.group_not_found, request.precondition_failed */
  async update(ctx: TenantContext, id: string, patch: GroupInput, ifMatch?: string): Promise<Group> {
    return transact(
      this.#d.db,
      async (tx) => {
        const before = await this.#load(tx, ctx, id);
        checkIfMatch(ifMatch, before.version);
        if (
          patch.displayName === null ||
          (patch.displayName !== undefined && patch.displayName.trim() === '')
        ) {
          throw new RosterError('request.validation_failed', {
            errors: [{ pointer: '/displayName', detail: 'may not be removed or blank' }],
          });
        }
        const displayName = patch.displayName?.trim() ?? before.displayName;
        const externalId = patch.externalId === undefined ? before.externalId : patch.externalId;
        const description = patch.description === undefined ? before.description : patch.description;
        const at = isoTime(this.#d.clock);
        const membersChanged =
          patch.members !== undefined &&
          (await this.#setMembers(tx, ctx, before.id, patch.members ?? [], at));
        if (
          displayName === before.displayName &&
          externalId === before.externalId &&
          description === before.description
        ) {
          if (!membersChanged) return before;
          await store.touchGroup(tx, ctx.tenantId, id, at);
          return (await store.findGroup(tx, ctx.tenantId, id)) as Group;
        }
        const ok = await store.updateGroup(
          tx,
          {
            id,
            tenant_id: ctx.tenantId,
            version: before.version + 1,
            display_name: displayName,
            name_key: displayName.normalize('NFC').toLowerCase(),
            external_id: externalId,
            description,
            created_at: before.createdAt,
            updated_at: at,
          },
          before.version,
        );
        if (!ok) throw new RosterError('store.conflict');
        const after = (await store.findGroup(tx, ctx.tenantId, id)) as Group;
        await this.#d.audit.record(tx, ctx, ctx.tenantId, [
          {
            action: 'group.updated',
            targetType: 'group',
            targetId: id,
            before: auditGroup(before),
            after: auditGroup(after),
          },
        ]);
        return after;
      },
      GROUP_UNIQUES,
    );
  }

  /** @throws identity.group_not_found, request.precondition_failed */
  async delete(ctx: TenantContext, id: string, ifMatch?: string): Promise<void> {
    await transact(this.#d.db, async (tx) => {
      const before = await this.#load(tx, ctx, id);
      checkIfMatch(ifMatch, before.version);
      await store.deleteGroup(tx, ctx.tenantId, id);
      await this.#d.audit.record(tx, ctx, ctx.tenantId, [
        {
          action: 'group.deleted',
          targetType: 'group',
          targetId: id,
          before: auditGroup(before),
          after: null,
        },
      ]);
    });
  }

  /**
   * Adds a user to a group; adding an existing member changes nothing.
   * @returns true when the user was added. @throws identity.group_not_found, identity.user_not_found
   */
  async addMember(ctx: TenantContext, groupId: string, userId: string): Promise<boolean> {
    return transact(this.#d.db, async (tx) => {
      await this.#load(tx, ctx, groupId);
      if ((await store.existingUserIds(tx, ctx.tenantId, [userId])).size === 0) {
        throw new RosterError('identity.user_not_found');
      }
      const at = isoTime(this.#d.clock);
      if (!(await store.addMember(tx, ctx.tenantId, groupId, userId, at))) return false;
      await store.touchGroup(tx, ctx.tenantId, groupId, at);
      await this.#d.audit.record(tx, ctx, ctx.tenantId, [
        {
          action: 'group.member_added',
          targetType: 'group',
          targetId: groupId,
          before: null,
          after: { member: userId },
        },
      ]);
      return true;
    });
  }

  /** Removes a member. @throws identity.group_not_found, identity.member_not_found */
  async removeMember(ctx: TenantContext, groupId: string, userId: string): Promise<void> {
    await transact(this.#d.db, async (tx) => {
      await this.#load(tx, ctx, groupId);
      if (!(await store.removeMember(tx, ctx.tenantId, groupId, userId)))
        throw new RosterError('identity.member_not_found');
      await store.touchGroup(tx, ctx.tenantId, groupId, isoTime(this.#d.clock));
      await this.#d.audit.record(tx, ctx, ctx.tenantId, [
        {
          action: 'group.member_removed',
          targetType: 'group',
          targetId: groupId,
          before: { member: userId },
          after: null,
        },
      ]);
    });
  }

  /** @throws identity.group_not_found */
  async members(ctx: TenantContext, groupId: string, page: { cursor?: string; limit: number }) {
    await this.get(ctx, groupId);
    const rows = await store.listMembers(this.#d.db.kysely, ctx.tenantId, groupId, {
      afterId: decodeCursor(page.cursor),
      limit: page.limit + 1,
    });
    return pageOf(
      rows,
      page.limit,
      (m) => m.userId,
      (m) => m,
    );
  }

  async #load(tx: Tx, ctx: TenantContext, id: string): Promise<Group> {
    const g = await store.findGroup(tx, ctx.tenantId, id, this.#d.db.dialect === 'postgres');
    if (!g) throw new RosterError('identity.group_not_found');
    return g;
  }

  /**
   * Makes the group's members exactly `wanted` (a SCIM PUT or PATCH of `members`): one audit entry per member
   * added or removed. Returns whether anything changed; the caller bumps the group's version.
   * @throws identity.invalid_member when a wanted id is not a user of the tenant
   */
  async #setMembers(
    tx: Tx,
    ctx: TenantContext,
    groupId: string,
    wanted: readonly string[],
    at: string,
  ): Promise<boolean> {
    const target = [...new Set(wanted)];
    const current = new Set(await store.memberIds(tx, ctx.tenantId, groupId));
    const added = target.filter((m) => !current.has(m));
    const keep = new Set(target);
    const removed = [...current].filter((m) => !keep.has(m));
    if (added.length === 0 && removed.length === 0) return false;
    await this.#checkMembers(tx, ctx.tenantId, target);
    for (const m of added) await store.addMember(tx, ctx.tenantId, groupId, m, at);
    for (const m of removed) await store.removeMember(tx, ctx.tenantId, groupId, m);
    await this.#d.audit.record(tx, ctx, ctx.tenantId, [
      ...added.map((m) => ({
        action: 'group.member_added',
        targetType: 'group',
        targetId: groupId,
        before: null,
        after: { member: m },
      })),
      ...removed.map((m) => ({
        action: 'group.member_removed',
        targetType: 'group',
        targetId: groupId,
        before: { member: m },
        after: null,
      })),
    ]);
    return true;
  }

  /** Every member id of a group (SCIM answers a group with its members). @throws identity.group_not_found */
  async memberIds(ctx: TenantContext, groupId: string): Promise<string[]> {
    const db = this.#d.db.kysely;
    if (!(await store.findGroup(db, ctx.tenantId, groupId)))
      throw new RosterError('identity.group_not_found');
    return store.memberIds(db, ctx.tenantId, groupId);
  }

  /** The members of several groups of the tenant, by group id, in one query. */
  async memberIdsOf(ctx: TenantContext, groupIds: readonly string[]): Promise<Map<string, string[]>> {
    return store.memberIdsOfGroups(this.#d.db.kysely, ctx.tenantId, groupIds);
  }

  /** The groups of several users of the tenant, by user id, in one query. */
  async groupsOfUsers(ctx: TenantContext, userIds: readonly string[]): Promise<Map<string, Group[]>> {
    return store.groupsOfUsers(this.#d.db.kysely, ctx.tenantId, userIds);
  }

  async #checkMembers(tx: Tx, tenantId: string, members: readonly string[]): Promise<void> {
    const found = await store.existingUserIds(tx, tenantId, members);
    const errors = members
      .map((m, i) =>
        found.has(m) ? undefined : { pointer: `/members/${i}`, detail: 'is not a user of this tenant' },
      )
      .filter((e): e is FieldError => e !== undefined);
    if (errors.length > 0) throw new RosterError('identity.invalid_member', { errors });
  }
}
