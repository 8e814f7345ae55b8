import type { AuditLog } from '../audit/service.js';
import type { TenantService } from '../identity/service.js';
import { type Clock, isoTime } from '../platform/clock.js';
import type { Actor, TenantContext } from '../platform/context.js';
import type { Db, Queryable } from '../platform/db/index.js';
import type { RolesTable } from '../platform/db/schema.js';
import { transact } from '../platform/db/tx.js';
import { RosterError } from '../platform/errors.js';
import { checkIfMatch } from '../platform/etag.js';
import {
  BUILT_IN_ROLES,
  isBuiltInRole,
  isPermission,
  type Permission,
  PLATFORM_PERMISSIONS,
  parseGrants,
  permissionsOf,
  type RoleGrant,
} from './permissions.js';

/** A role as the API shows it: built-in or one of the tenant's own. */
export interface Role {
  readonly name: string;
  readonly description: string;
  readonly permissions: readonly Permission[];
  readonly builtIn: boolean;
  /** Custom roles only. */
  readonly version?: number;
  readonly createdAt?: string;
  readonly updatedAt?: string;
}

export interface RoleInput {
  readonly name: string;
  readonly description?: string;
  readonly permissions: readonly string[];
}

/** Something else that names roles (admin accounts): asked before a custom role is deleted. */
export type RoleUseCheck = (q: Queryable, tenantId: string, role: string) => Promise<boolean>;

/**
 * How long a tenant's custom roles are trusted without asking the store again. A change takes effect at
 * once on the node that made it and within this time on the others (as for token revocations).
 */
const CUSTOM_ROLES_TTL_MS = 2_000;

const NO_CUSTOM_ROLES: ReadonlyMap<string, readonly Permission[]> = new Map();

/**
 * Roles and permissions: the tenant's custom roles, what an actor may do, and what it may grant. Nobody
 * grants (to a token, an admin account or a custom role) a permission they do not hold themselves.
 */
export class RoleService {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #audit: AuditLog;
  readonly #tenants: TenantService;
  readonly #cache = new Map<string, { roles: ReadonlyMap<string, readonly Permission[]>; until: number }>();
  readonly #useChecks: RoleUseCheck[] = [tokenNamesRole];
  #changes = 0;

  constructor(deps: { db: Db; clock: Clock; audit: AuditLog; tenants: TenantService }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#tenants = deps.tenants;
  }

  /** Registers another holder of role grants, consulted before a custom role is deleted. */
  registerUseCheck(check: RoleUseCheck): void {
    this.#useChecks.push(check);
  }

  /**
   * The permissions `actor` holds (its tenant's custom roles resolved). Inside a transaction pass it as `q`:
   * on SQLite a read through the database's own connection would wait for that transaction to end.
   */
  async permissionsOf(actor: Actor, q?: Queryable): Promise<Set<Permission>> {
    const custom = actor.tenantId === null ? NO_CUSTOM_ROLES : await this.#customRoles(actor.tenantId, q);
    return permissionsOf(actor.roles, custom, actor.tenantId === null);
  }

  /**
   * Whether `actor` may do what `permission` allows. Acting on a tenant other than its own is settled
   * before (only platform credentials with `tenants:act` may name one); this checks the permission only.
   */
  async authorize(actor: Actor, _tenantScope: string | null, permission: string): Promise<boolean> {
    if (!isPermission(permission)) return false;
    return (await this.permissionsOf(actor)).has(permission);
  }

  /**
   * Checks that `actor` may give `grants` to a credential of `tenantId` (null: a platform credential):
   * every role exists there, none is platform-only on a tenant credential, and each of its permissions is
   * one the actor holds.
   * @throws roles.unknown (422), roles.platform_only (422), auth.forbidden (403, naming a permission)
   */
  async assertGrantable(
    q: Queryable,
    actor: Actor,
    tenantId: string | null,
    grants: readonly RoleGrant[],
  ): Promise<void> {
    const held = await this.permissionsOf(actor, q);
    const custom = tenantId === null ? NO_CUSTOM_ROLES : await loadCustomRoles(q, tenantId);
    for (const [i, g] of grants.entries()) {
      const pointer = `/roles/${i}`;
      let permissions: readonly Permission[];
      if (isBuiltInRole(g.role)) {
        permissions = BUILT_IN_ROLES[g.role].permissions;
        if (tenantId !== null && g.role === 'platform-admin') {
          throw new RosterError('roles.platform_only', {
            errors: [{ pointer, detail: 'platform-admin can only be given to platform credentials' }],
          });
        }
        if (tenantId !== null) permissions = permissions.filter((p) => !PLATFORM_PERMISSIONS.has(p));
      } else {
        const found = custom.get(g.role);
        if (!found) throw new RosterError('roles.unknown', { errors: [{ pointer, detail: 'no such role' }] });
        permissions = found;
      }
      const missing = permissions.find((p) => !held.has(p));
      if (missing !== undefined) {
        throw new RosterError('auth.forbidden', {
          detail: `Granting the role ${g.role} needs the permission ${missing}, which the caller lacks`,
          permission: missing,
        });
      }
    }
  }

  /** Built-in roles, then the tenant's own by name. */
  async list(ctx: TenantContext): Promise<Role[]> {
    const rows = await this.#db.kysely
      .selectFrom('roles')
      .selectAll()
      .where('tenant_id', '=', ctx.tenantId)
      .orderBy('name')
      .execute();
    return [...builtInRoles(), ...rows.map(toRole)];
  }

  /** @throws roles.not_found */
  async get(ctx: TenantContext, name: string): Promise<Role> {
    if (isBuiltInRole(name)) return builtInRole(name);
    const row = await findRole(this.#db.kysely, ctx.tenantId, name);
    if (!row) throw new RosterError('roles.not_found');
    return toRole(row);
  }

  /** @throws roles.name_taken, roles.invalid_permission, auth.forbidden */
  async create(ctx: TenantContext, input: RoleInput): Promise<Role> {
    const permissions = await this.#checkPermissions(ctx.actor, input.permissions);
    if (isBuiltInRole(input.name)) throw new RosterError('roles.name_taken');
    const now = isoTime(this.#clock);
    const row: RolesTable = {
      tenant_id: ctx.tenantId,
      name: input.name,
      description: input.description ?? '',
      permissions: JSON.stringify(permissions),
      version: 1,
      created_at: now,
      updated_at: now,
    };
    const role = await transact(
      this.#db,
      async (tx) => {
        await this.#tenants.get(tx, ctx.tenantId);
        await tx.insertInto('roles').values(row).execute();
        await this.#audit.record(tx, ctx, ctx.tenantId, [
          {
            action: 'role.created',
            targetType: 'role',
            targetId: row.name,
            before: null,
            after: auditRole(row),
          },
        ]);
        return toRole(row);
      },
      { roles_pk: 'roles.name_taken' },
    );
    this.#changed(ctx.tenantId);
    return role;
  }

  /**
   * Changes a custom role's description or permissions (tokens and accounts holding it gain or lose them).
   * @throws roles.not_found, roles.built_in, request.precondition_failed, auth.forbidden
   */
  async update(
    ctx: TenantContext,
    name: string,
    patch: { description?: string; permissions?: readonly string[] },
    ifMatch?: string,
  ): Promise<Role> {
    if (isBuiltInRole(name)) throw new RosterError('roles.built_in');
    const permissions =
      patch.permissions === undefined
        ? undefined
        : await this.#checkPermissions(ctx.actor, patch.permissions);
    const role = await transact(this.#db, async (tx) => {
      const before = await findRole(tx, ctx.tenantId, name, this.#db.dialect === 'postgres');
      if (!before) throw new RosterError('roles.not_found');
      checkIfMatch(ifMatch, before.version);
      // Taking permissions away from holders is also a grant decision: only someone holding them may.
      await this.#checkPermissions(ctx.actor, JSON.parse(before.permissions) as string[], tx);
      const after: RolesTable = {
        ...before,
        description: patch.description ?? before.description,
        permissions: permissions === undefined ? before.permissions : JSON.stringify(permissions),
        version: before.version + 1,
        updated_at: isoTime(this.#clock),
      };
      if (after.description === before.description && after.permissions === before.permissions) {
        return toRole(before);
      }
      await tx
        .updateTable('roles')
        .set({
          description: after.description,
          permissions: after.permissions,
          version: after.version,
          updated_at: after.updated_at,
        })
        .where('tenant_id', '=', ctx.tenantId)
        .where('name', '=', name)
        .execute();
      await this.#audit.record(tx, ctx, ctx.tenantId, [
        {
          action: 'role.updated',
          targetType: 'role',
          targetId: name,
          before: auditRole(before),
          after: auditRole(after),
        },
      ]);
      return toRole(after);
    });
    this.#changed(ctx.tenantId);
    return role;
  }

  /** Deletes a custom role nobody holds. @throws roles.not_found, roles.built_in, roles.in_use, auth.forbidden */
  async delete(ctx: TenantContext, name: string): Promise<void> {
    if (isBuiltInRole(name)) throw new RosterError('roles.built_in');
    await transact(this.#db, async (tx) => {
      const before = await findRole(tx, ctx.tenantId, name, this.#db.dialect === 'postgres');
      if (!before) throw new RosterError('roles.not_found');
      await this.#checkPermissions(ctx.actor, JSON.parse(before.permissions) as string[], tx);
      for (const inUse of this.#useChecks) {
        if (await inUse(tx, ctx.tenantId, name)) throw new RosterError('roles.in_use');
      }
      await tx.deleteFrom('roles').where('tenant_id', '=', ctx.tenantId).where('name', '=', name).execute();
      await this.#audit.record(tx, ctx, ctx.tenantId, [
        {
          action: 'role.deleted',
          targetType: 'role',
          targetId: name,
          before: auditRole(before),
          after: null,
        },
      ]);
    });
    this.#changed(ctx.tenantId);
  }

  /** The permissions, sorted and without repeats, if all are tenant permissions the actor holds. */
  async #checkPermissions(actor: Actor, names: readonly string[], q?: Queryable): Promise<Permission[]> {
    const out = new Set<Permission>();
    for (const [i, name] of names.entries()) {
      if (!isPermission(name) || PLATFORM_PERMISSIONS.has(name)) {
        throw new RosterError('roles.invalid_permission', {
          errors: [{ pointer: `/permissions/${i}`, detail: 'is not a tenant permission of the catalogue' }],
        });
      }
      out.add(name);
    }
    const held = await this.permissionsOf(actor, q);
    const missing = [...out].find((p) => !held.has(p));
    if (missing !== undefined) {
      throw new RosterError('auth.forbidden', {
        detail: `A role with the permission ${missing} can only be defined by someone holding it`,
        permission: missing,
      });
    }
    return [...out].sort();
  }

  async #customRoles(
    tenantId: string,
    q: Queryable = this.#db.kysely,
  ): Promise<ReadonlyMap<string, readonly Permission[]>> {
    const now = this.#clock.now().getTime();
    const hit = this.#cache.get(tenantId);
    if (hit && hit.until > now) return hit.roles;
    const changes = this.#changes;
    const roles = await loadCustomRoles(q, tenantId);
    // A lookup racing a local change does not cache what it read.
    if (changes === this.#changes) {
      if (this.#cache.size >= 10_000) this.#cache.clear();
      this.#cache.set(tenantId, { roles, until: now + CUSTOM_ROLES_TTL_MS });
    }
    return roles;
  }

  #changed(tenantId: string): void {
    this.#changes++;
    this.#cache.delete(tenantId);
  }
}

async function loadCustomRoles(q: Queryable, tenantId: string): Promise<Map<string, readonly Permission[]>> {
  const rows = await q
    .selectFrom('roles')
    .select(['name', 'permissions'])
    .where('tenant_id', '=', tenantId)
    .execute();
  return new Map(rows.map((r) => [r.name, (JSON.parse(r.permissions) as string[]).filter(isPermission)]));
}

async function findRole(
  q: Queryable,
  tenantId: string,
  name: string,
  forUpdate = false,
): Promise<RolesTable | undefined> {
  const query = q.selectFrom('roles').selectAll().where('tenant_id', '=', tenantId).where('name', '=', name);
  return (forUpdate ? query.forUpdate() : query).executeTakeFirst();
}

/** True when a live token of the tenant is given the role (expired grants included: they are on record). */
async function tokenNamesRole(q: Queryable, tenantId: string, role: string): Promise<boolean> {
  const rows = await q
    .selectFrom('api_tokens')
    .select('roles')
    .where('tenant_id', '=', tenantId)
    .where('revoked_at', 'is', null)
    .execute();
  return rows.some((r) => parseGrants(r.roles).some((g) => g.role === role));
}

function builtInRole(name: keyof typeof BUILT_IN_ROLES): Role {
  const r = BUILT_IN_ROLES[name];
  return { name, description: r.description, permissions: [...r.permissions], builtIn: true };
}

function builtInRoles(): Role[] {
  return (Object.keys(BUILT_IN_ROLES) as (keyof typeof BUILT_IN_ROLES)[]).map(builtInRole);
}

function toRole(r: RolesTable): Role {
  return {
    name: r.name,
    description: r.description,
    permissions: (JSON.parse(r.permissions) as string[]).filter(isPermission),
    builtIn: false,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

function auditRole(r: RolesTable): Record<string, unknown> {
  return { name: r.name, description: r.description, permissions: JSON.parse(r.permissions) };
}
