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
  readonly roles: readonly string[];
  readonly expiresAt?: string | null;
}

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
    adminToken?: string | undefined;
  }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#tenants = deps.tenants;
    this.#adminToken = deps.adminToken;
  }

  /**
   * Mints a token; the secret is returned once and only its hash is stored.
   * @throws tenants.not_found, tokens.invalid_expiry
   */
  async create(ctx: Context, input: CreateTokenInput): Promise<{ token: ApiToken; secret: string }> {
    const now = this.#clock.now();
    if (input.expiresAt != null && !(Date.parse(input.expiresAt) > now.getTime())) {
      throw new RosterError('tokens.invalid_expiry', {
        errors: [{ pointer: '/expiresAt', detail: 'must be in the future' }],
      });
    }
    const secret = newTokenSecret();
    const token: ApiToken = {
      id: newId(now.getTime()),
      tenantId: input.tenantId,
      name: input.name,
      roles: [...new Set(input.roles)],
      createdAt: now.toISOString(),
      createdBy: ctx.actor.type === 'token' ? ctx.actor.id : ctx.actor.type,
      expiresAt: input.expiresAt == null ? null : new Date(input.expiresAt).toISOString(),
      revokedAt: null,
      lastUsedAt: null,
    };
    await transact(this.#db, async (tx) => {
      if (input.tenantId !== null) await this.#tenants.get(tx, input.tenantId);
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

  /** @throws tokens.not_found */
  async get(id: string): Promise<ApiToken> {
    const token = await findToken(this.#db.kysely, id);
    if (!token) throw new RosterError('tokens.not_found');
    return token;
  }

  async list(
    filter: { tenantId?: string | null },
    page: { cursor?: string; limit: number },
  ): Promise<Page<ApiToken>> {
    return pageById(page, (range) => listTokens(this.#db.kysely, filter, range));
  }

  /** Revokes a token at once; revoking a revoked token changes nothing. @throws tokens.not_found */
  async revoke(ctx: Context, id: string): Promise<ApiToken> {
    const token = await transact(this.#db, async (tx) => {
      const before = await findToken(tx, id);
      if (!before) throw new RosterError('tokens.not_found');
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
    return { type: 'token', id: token.id, tenantId: token.tenantId, roles: token.roles };
  }

  /**
   * On first start without ROSTER_ADMIN_TOKEN: when no platform token was ever created, creates one and
   * returns its secret (to be shown once). Returns undefined otherwise.
   */
  async ensureBootstrapToken(ctx: Context): Promise<string | undefined> {
    if (this.#adminToken !== undefined) return undefined;
    if ((await countPlatformTokens(this.#db.kysely)) > 0) return undefined;
    const { secret } = await this.create(ctx, {
      tenantId: null,
      name: 'bootstrap',
      roles: ['platform-admin'],
    });
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
    expiresAt: t.expiresAt,
    revokedAt: t.revokedAt,
  };
}
