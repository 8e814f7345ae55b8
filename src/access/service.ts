import type { AuditLog } from '../audit/service.js';
import type { TenantService } from '../identity/service.js';
import { type Clock, isoTime } from '../platform/clock.js';
import type { Actor, Context } from '../platform/context.js';
import type { Db } from '../platform/db/index.js';
import { transact } from '../platform/db/tx.js';
import { RosterError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { type Page, pageById } from '../platform/paging.js';
import { type ApiToken, hashToken, isUsable, newTokenSecret, sameSecret } from './model.js';
import { type RoleGrant, rolesInForce } from './permissions.js';
import type { RoleService } from './roles.js';
import {
  countPlatformTokens,
  findToken,
  findTokenByHash,
  insertToken,
  listTokens,
  revokeToken,
  touchToken,
} from './store.js';

export interface CreateTokenInput {
  readonly tenantId: string | null;
  readonly name: string;
  /** Role names, or grants that end at a time. */
  readonly roles: readonly (string | { role: string; expiresAt?: string | null })[];
  readonly expiresAt?: string | null;
}

/**
 * Which tokens a caller may see and touch: `null` for every token (a platform caller not naming a tenant),
 * else one tenant's (a tenant caller's own, or the tenant a platform admin names).
 */
export type TokenScope = string | null;

/**
 * How long a verified token is trusted without asking the store again. A revocation takes effect at once on
 * the node that made it and within this time on the others.
 */
const VERIFIED_TTL_MS = 2_000;

/** How often a token's last-used time is written at most (per process). */
const TOUCH_INTERVAL_MS = 60_000;

/** The fixed actor id of ROSTER_ADMIN_TOKEN. */
export const ADMIN_TOKEN_ACTOR: Actor = Object.freeze({
  type: 'admin-token',
  id: 'admin-token',
  tenantId: null,
  roles: ['platform-admin'],
});

/** API tokens: minting, listing, revocation, and authentication of presented secrets. */
export class TokenService {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #audit: AuditLog;
  readonly #tenants: TenantService;
  readonly #roles: RoleService;
  readonly #adminToken: string | undefined;
  readonly #touched = new Map<string, number>();
  /** Recently verified tokens by hash (positive answers only), so a busy client does not cost a query per request. */
  readonly #verified = new Map<string, { token: ApiToken; until: number }>();
  /** Counts revocations made by this node, so a lookup racing a revocation never caches its answer. */
  #revocations = 0;
  #pendingTouches = new Set<Promise<void>>();

  constructor(deps: {
    db: Db;
    clock: Clock;
    audit: AuditLog;
    tenants: TenantService;
    roles: RoleService;
    adminToken?: string | undefined;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#tenants = deps.tenants;
    this.#roles = deps.roles;
    this.#adminToken = deps.adminToken;
  }

  /**
   * Mints a token; the secret is returned once and only its hash is stored. Within a tenant scope the token
   * belongs to that tenant (naming another is refused); its roles must be ones the caller may grant.
   * @throws tenants.not_found, tokens.invalid_expiry, roles.unknown, roles.platform_only, auth.forbidden
   */
  async create(
    ctx: Context,
    input: CreateTokenInput,
    scope: TokenScope = null,
  ): Promise<{ token: ApiToken; secret: string }> {
    const now = this.#clock.now();
    if (scope !== null && input.tenantId !== null && input.tenantId !== scope) {
      throw new RosterError('auth.forbidden', {
        detail: 'A token can only be minted for the tenant the caller acts on',
        permission: 'tenants:act',
      });
    }
    const tenantId = scope ?? input.tenantId;
    const future = (at: string | null | undefined, pointer: string) => {
      if (at != null && !(Date.parse(at) > now.getTime())) {
        throw new RosterError('tokens.invalid_expiry', {
          errors: [{ pointer, detail: 'must be in the future' }],
        });
      }
    };
    future(input.expiresAt, '/expiresAt');
    const grants: RoleGrant[] = [];
    for (const [i, g] of input.roles.entries()) {
      const grant =
        typeof g === 'string'
          ? { role: g, expiresAt: null }
          : { role: g.role, expiresAt: g.expiresAt ?? null };
      future(grant.expiresAt, `/roles/${i}/expiresAt`);
      const at = grant.expiresAt === null ? null : new Date(grant.expiresAt).toISOString();
      if (!grants.some((x) => x.role === grant.role)) grants.push({ role: grant.role, expiresAt: at });
    }
    const secret = newTokenSecret();
    const token: ApiToken = {
      id: newId(now.getTime()),
      tenantId,
      name: input.name,
      roles: grants.map((g) => g.role),
      roleGrants: grants,
      createdAt: now.toISOString(),
      createdBy: ctx.actor.type === 'token' ? ctx.actor.id : ctx.actor.type,
      expiresAt: input.expiresAt == null ? null : new Date(input.expiresAt).toISOString(),
      revokedAt: null,
      lastUsedAt: null,
    };
    await transact(this.#db, async (tx) => {
      if (tenantId !== null) await this.#tenants.get(tx, tenantId);
      await this.#roles.assertGrantable(tx, ctx.actor, tenantId, grants);
      await insertToken(tx, token, hashToken(secret));
      await this.#audit.record(tx, ctx, token.tenantId, [
        {
          action: 'token.created',
          targetType: 'token',
          targetId: token.id,
          before: null,
          after: auditView(token),
        },
      ]);
    });
    return { token, secret };
  }

  /** @throws tokens.not_found (also for a token outside the scope) */
  async get(id: string, scope: TokenScope = null): Promise<ApiToken> {
    const token = await findToken(this.#db.kysely, id);
    if (!token || (scope !== null && token.tenantId !== scope)) throw new RosterError('tokens.not_found');
    return token;
  }

  /** Tokens, by id; within a tenant scope only that tenant's (whatever `filter` asks). */
  async list(
    filter: { tenantId?: string | null },
    page: { cursor?: string; limit: number },
    scope: TokenScope = null,
  ): Promise<Page<ApiToken>> {
    if (scope !== null && filter.tenantId !== undefined && filter.tenantId !== scope) {
      return { items: [] };
    }
    const f = scope === null ? filter : { tenantId: scope };
    return pageById(page, (range) => listTokens(this.#db.kysely, f, range));
  }

  /**
   * Revokes a token at once; revoking a revoked token changes nothing. Only someone who could have given
   * the token its roles may take it away.
   * @throws tokens.not_found (also outside the scope), auth.forbidden
   */
  async revoke(ctx: Context, id: string, scope: TokenScope = null): Promise<ApiToken> {
    const token = await transact(this.#db, async (tx) => {
      const before = await findToken(tx, id);
      if (!before || (scope !== null && before.tenantId !== scope)) throw new RosterError('tokens.not_found');
      await this.#roles.assertGrantable(tx, ctx.actor, before.tenantId, before.roleGrants);
      const at = isoTime(this.#clock);
      if (await revokeToken(tx, id, at)) {
        const after = { ...before, revokedAt: at };
        await this.#audit.record(tx, ctx, before.tenantId, [
          {
            action: 'token.revoked',
            targetType: 'token',
            targetId: id,
            before: auditView(before),
            after: auditView(after),
          },
        ]);
        return after;
      }
      return before;
    });
    // After the commit, so no lookup can read the unrevoked row and cache it again. A lookup that began
    // before the commit sees the epoch move and does not cache what it read. Other nodes: within
    // VERIFIED_TTL_MS (docs/security.md).
    this.#revocations++;
    this.#verified.clear();
    return token;
  }

  /** The actor a presented secret stands for, or null when it is unknown, expired or revoked. */
  async authenticate(secret: string): Promise<Actor | null> {
    if (this.#adminToken !== undefined && sameSecret(secret, this.#adminToken)) return ADMIN_TOKEN_ACTOR;
    const hash = hashToken(secret);
    const now = this.#clock.now();
    const hit = this.#verified.get(hash);
    let token = hit && hit.until > now.getTime() ? hit.token : undefined;
    if (!token) {
      const epoch = this.#revocations;
      token = await findTokenByHash(this.#db.kysely, hash);
      if (token && epoch === this.#revocations) {
        if (this.#verified.size >= 10_000) this.#verified.clear();
        this.#verified.set(hash, { token, until: now.getTime() + VERIFIED_TTL_MS });
      }
    }
    if (!token || !isUsable(token, now)) return null;
    this.#touch(token.id, now);
    return {
      type: 'token',
      id: token.id,
      tenantId: token.tenantId,
      roles: rolesInForce(token.roleGrants, now),
    };
  }

  /**
   * On first start without ROSTER_ADMIN_TOKEN: when no platform token was ever created, creates one and
   * returns its secret (to be shown once). Returns undefined otherwise.
   */
  async ensureBootstrapToken(ctx: Context): Promise<string | undefined> {
    if (this.#adminToken !== undefined) return undefined;
    if ((await countPlatformTokens(this.#db.kysely)) > 0) return undefined;
    // Roster itself mints the first platform admin: nobody holds permissions yet to grant it from.
    const { secret } = await this.create(
      { ...ctx, actor: { ...ctx.actor, roles: ['platform-admin'] } },
      { tenantId: null, name: 'bootstrap', roles: ['platform-admin'] },
    );
    return secret;
  }

  /** Waits for last-used writes in flight (shutdown). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.#pendingTouches]);
  }

  #touch(id: string, now: Date): void {
    const last = this.#touched.get(id);
    if (last !== undefined && now.getTime() - last < TOUCH_INTERVAL_MS) return;
    this.#touched.set(id, now.getTime());
    if (this.#touched.size > 10_000) this.#touched.clear();
    // Best effort, off the request path: a lost last-used time is not worth failing a request for.
    const p = touchToken(this.#db.kysely, id, now.toISOString()).catch(() => {});
    this.#pendingTouches.add(p);
    void p.finally(() => this.#pendingTouches.delete(p));
  }
}

function auditView(t: ApiToken): Record<string, unknown> {
  return {
    id: t.id,
    tenantId: t.tenantId,
    name: t.name,
    roles: t.roles,
    roleGrants: t.roleGrants,
    expiresAt: t.expiresAt,
    revokedAt: t.revokedAt,
  };
}
