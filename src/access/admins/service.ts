import { parse as parseCookies } from 'cookie';
import type { AuditRecord } from '../../audit/model.js';
import type { AuditLog } from '../../audit/service.js';
import type { TenantKeyHolder } from '../../crypto/rotation.js';
import { FieldCipher, type Keyring, type TenantKeySet } from '../../crypto/service.js';
import type { TenantService } from '../../identity/service.js';
import type { Clock } from '../../platform/clock.js';
import { type Actor, type Context, SYSTEM_ACTOR } from '../../platform/context.js';
import type { Db, Queryable, Tx } from '../../platform/db/index.js';
import type {
  AdminAccountsTable,
  AdminChallengesTable,
  AdminSessionsTable,
} from '../../platform/db/schema.js';
import { transact } from '../../platform/db/tx.js';
import { type ErrorCode, RosterError } from '../../platform/errors.js';
import { checkIfMatch } from '../../platform/etag.js';
import { isId, newId } from '../../platform/ids.js';
import { type Page, pageById } from '../../platform/paging.js';
import { parseGrants, type RoleGrant, rolesInForce } from '../permissions.js';
import {
  ACCOUNT_THROTTLE,
  type AdminAccount,
  csrfTokenOf,
  type GrantInput,
  grantsOf,
  hashRecoveryCode,
  IP_THROTTLE,
  lockMs,
  matchesHash,
  newRecoveryCodes,
  newSecret,
  sha256Hex,
  type ThrottlePolicy,
  usernameKey,
} from './model.js';
import { argon2Hasher, PASSWORD_MIN, type PasswordHasher } from './password.js';
import * as store from './store.js';
import { base32Encode, newTotpSecret, otpauthUri, verifyTotp } from './totp.js';

/** The session cookie's name. */
export const SESSION_COOKIE = 'roster_session';

/** Methods that change nothing: a cookie alone authenticates them, without the CSRF header. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** Wrong codes a challenge survives; then the password step must be done again. */
const CHALLENGE_ATTEMPTS = 5;

/** A session's last-seen time is written at most this often (the idle timeout's precision). */
const TOUCH_INTERVAL_MS = 60_000;

export interface AdminServiceOptions {
  /** A session unused this long ends (default 30 minutes). */
  readonly idleTimeoutMs?: number;
  /** A session ends this long after login, used or not (default 12 hours). */
  readonly absoluteTimeoutMs?: number;
  /** How long the second-factor step may follow the password step (default 5 minutes). */
  readonly challengeTtlMs?: number;
  /** The issuer authenticator apps show (default `Roster`). */
  readonly issuer?: string;
}

/**
 * Checks that `actor` may give `grants` to an account of `tenantId` (RoleService.assertGrantable).
 * @throws roles.unknown, roles.platform_only, auth.forbidden
 */
export type GrantCheck = (
  q: Queryable,
  actor: Actor,
  tenantId: string | null,
  grants: readonly RoleGrant[],
) => Promise<void>;

export interface AdminServiceDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly audit: AuditLog;
  readonly keys: Keyring;
  readonly tenants: TenantService;
  readonly grantable: GrantCheck;
  readonly hasher?: PasswordHasher;
  readonly options?: AdminServiceOptions;
}

/** Where a login attempt comes from. */
export interface LoginMeta {
  readonly ip: string;
  readonly requestId: string | undefined;
}

/** The answer to a verified password: the second factor comes next. */
export type PasswordStep =
  | { readonly mfa: 'required'; readonly challenge: string }
  | {
      readonly mfa: 'enrolment_required';
      readonly challenge: string;
      readonly otpauthUri: string;
      /** The same secret as in the URI, base32, for typing in by hand. */
      readonly secret: string;
    };

/** A new session: the secret goes into the cookie, the CSRF token to the console. */
export interface NewSession {
  readonly sessionSecret: string;
  readonly csrfToken: string;
  readonly expiresAt: string;
  /** Seconds until the absolute end (the cookie's Max-Age). */
  readonly maxAgeSeconds: number;
  readonly admin: AdminAccount;
}

export interface SessionView {
  readonly csrfToken: string;
  readonly createdAt: string;
  readonly lastSeenAt: string;
  readonly expiresAt: string;
  readonly idleExpiresAt: string;
  readonly admin: AdminAccount;
}

export interface AdminCreateInput {
  readonly username: string;
  readonly password: string;
  readonly roles?: readonly GrantInput[];
}

/** Thrown while a login key is locked; the HTTP edge turns `retryAfterSeconds` into Retry-After. */
export class LoginThrottledError extends RosterError {
  readonly retryAfterSeconds: number;
  constructor(retryAfterSeconds: number) {
    super('auth.login_throttled');
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const USERNAME_UNIQUES: Record<string, ErrorCode> = {
  admin_accounts_username_uq: 'admins.username_taken',
  // SQLite names the columns, not the index.
  'admin_accounts.username_key': 'admins.username_taken',
};

/**
 * Admin accounts (for the console and people using the API): creation and management within a tenant (or
 * the platform), login with a password then a mandatory TOTP second factor, sessions with idle and absolute
 * timeouts, and login throttling shared by every node through the database.
 *
 * Which scope: a tenant id manages that tenant's accounts; null the platform's accounts.
 */
export class AdminService {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #audit: AuditLog;
  readonly #keys: Keyring;
  readonly #tenants: TenantService;
  readonly #grantable: GrantCheck;
  readonly #hasher: PasswordHasher;
  readonly #idleMs: number;
  readonly #absoluteMs: number;
  readonly #challengeMs: number;
  readonly #issuer: string;
  #dummy: Promise<string> | undefined;

  constructor(deps: AdminServiceDeps) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#keys = deps.keys;
    this.#tenants = deps.tenants;
    this.#grantable = deps.grantable;
    this.#hasher = deps.hasher ?? argon2Hasher;
    this.#idleMs = deps.options?.idleTimeoutMs ?? 30 * 60_000;
    this.#absoluteMs = deps.options?.absoluteTimeoutMs ?? 12 * 60 * 60_000;
    this.#challengeMs = deps.options?.challengeTtlMs ?? 5 * 60_000;
    this.#issuer = deps.options?.issuer ?? 'Roster';
  }

  // ---- management

  /**
   * Creates an account; its first login enrols its second factor. The caller must be able to grant its roles.
   * @throws tenants.not_found, admins.username_taken, admins.weak_password, admins.invalid_expiry,
   *   roles.unknown, roles.platform_only, auth.forbidden
   */
  async create(ctx: Context, scope: string | null, input: AdminCreateInput): Promise<AdminAccount> {
    checkPassword(input.password, '/password');
    const now = this.#clock.now();
    const grants = grantsOf(input.roles ?? [], now);
    const passwordHash = await this.#hasher.hash(input.password);
    const at = now.toISOString();
    const row: AdminAccountsTable = {
      id: newId(now.getTime()),
      tenant_id: scope,
      username: input.username,
      username_key: usernameKey(scope, input.username),
      password_hash: passwordHash,
      totp_secret_enc: null,
      totp_key_version: null,
      totp_last_step: null,
      recovery_codes: '[]',
      roles: JSON.stringify(grants),
      disabled: 0,
      version: 1,
      created_at: at,
      updated_at: at,
    };
    return transact(
      this.#db,
      async (tx) => {
        if (scope !== null) await this.#tenants.get(tx, scope);
        await this.#grantable(tx, ctx.actor, scope, grants);
        if (await store.findAccountByKey(tx, row.username_key))
          throw new RosterError('admins.username_taken');
        await store.insertAccount(tx, row);
        const account = toAccount(row);
        const entries: AuditRecord[] = [entry('admin.created', account, null, auditView(account))];
        if (grants.length > 0) {
          entries.push(entry('admin.roles_granted', account, null, { roleGrants: grants }));
        }
        await this.#audit.record(tx, ctx, scope, entries);
        return account;
      },
      USERNAME_UNIQUES,
    );
  }

  /** A tenant named by id or by name (the CLI's --tenant). @throws tenants.not_found */
  async tenantIdOf(tenant: string): Promise<string> {
    const id = await this.#tenantIdOf(tenant);
    if (id === null) throw new RosterError('tenants.not_found');
    return id;
  }

  /** @throws admins.not_found (also for another scope's account) */
  async get(scope: string | null, id: string): Promise<AdminAccount> {
    return toAccount(await this.#load(this.#db.kysely, scope, id));
  }

  async list(scope: string | null, page: { cursor?: string; limit: number }): Promise<Page<AdminAccount>> {
    return pageById(page, async (range) =>
      (await store.listAccounts(this.#db.kysely, scope, range)).map(toAccount),
    );
  }

  /**
   * Changes an account's roles or disables (enables) it. The caller must be able to grant both the roles the
   * account had and those it gets. Disabling ends its sessions.
   * @throws admins.not_found, request.precondition_failed, admins.invalid_expiry, roles.unknown,
   *   roles.platform_only, auth.forbidden
   */
  async update(
    ctx: Context,
    scope: string | null,
    id: string,
    patch: { roles?: readonly GrantInput[]; disabled?: boolean },
    ifMatch?: string,
  ): Promise<AdminAccount> {
    const now = this.#clock.now();
    const grants = patch.roles === undefined ? undefined : grantsOf(patch.roles, now);
    return transact(this.#db, async (tx) => {
      const row = await this.#load(tx, scope, id, true);
      checkIfMatch(ifMatch, row.version);
      const before = toAccount(row);
      // The new grants first, so that an error's pointer names the request's `roles` index; then the ones
      // held now: nobody changes an account that holds more than they could grant.
      if (grants !== undefined) await this.#grantable(tx, ctx.actor, scope, grants);
      await this.#grantable(tx, ctx.actor, scope, before.roleGrants);
      const disabled = patch.disabled ?? before.disabled;
      const rolesJson = grants === undefined ? row.roles : JSON.stringify(grants);
      if (disabled === before.disabled && rolesJson === row.roles) return before;
      const next: AdminAccountsTable = {
        ...row,
        roles: rolesJson,
        disabled: disabled ? 1 : 0,
        version: row.version + 1,
        updated_at: now.toISOString(),
      };
      if (!(await store.updateAccount(tx, next, row.version))) throw new RosterError('store.conflict');
      const after = toAccount(next);
      const entries: AuditRecord[] = [entry('admin.updated', after, auditView(before), auditView(after))];
      if (grants !== undefined) {
        const key = (g: RoleGrant) => `${g.role}|${g.expiresAt}`;
        const added = grants.filter((g) => !before.roleGrants.some((b) => key(b) === key(g)));
        const removed = before.roleGrants.filter((b) => !grants.some((g) => key(g) === key(b)));
        if (added.length > 0) entries.push(entry('admin.roles_granted', after, null, { roleGrants: added }));
        if (removed.length > 0) {
          entries.push(entry('admin.roles_revoked', after, { roleGrants: removed }, null));
        }
      }
      if (disabled !== before.disabled) {
        entries.push(entry(disabled ? 'admin.disabled' : 'admin.enabled', after, null, null));
        if (disabled) await store.revokeSessionsOf(tx, id, now.toISOString());
      }
      await this.#audit.record(tx, ctx, scope, entries);
      return after;
    });
  }

  /**
   * Resets an account's second factor: its secret and recovery codes are forgotten, its sessions end, and
   * its next login enrols again. The caller must be able to grant the account's roles.
   * @throws admins.not_found, auth.forbidden
   */
  async resetTotp(ctx: Context, scope: string | null, id: string): Promise<AdminAccount> {
    return transact(this.#db, async (tx) => {
      const row = await this.#load(tx, scope, id, true);
      const before = toAccount(row);
      await this.#grantable(tx, ctx.actor, scope, before.roleGrants);
      const at = isoNow(this.#clock);
      const next: AdminAccountsTable = {
        ...row,
        totp_secret_enc: null,
        totp_key_version: null,
        totp_last_step: null,
        recovery_codes: '[]',
        version: row.version + 1,
        updated_at: at,
      };
      if (!(await store.updateAccount(tx, next, row.version))) throw new RosterError('store.conflict');
      await store.revokeSessionsOf(tx, id, at);
      await store.deleteChallengesOf(tx, id);
      const after = toAccount(next);
      await this.#audit.record(tx, ctx, scope, [
        entry('auth.mfa_reset', after, auditView(before), auditView(after)),
      ]);
      return after;
    });
  }

  // ---- login

  /**
   * The password step. Unknown usernames and tenants, wrong passwords and disabled accounts all fail alike,
   * after the same password-hash work; a key locked by earlier failures fails before any work.
   * @throws auth.login_failed, LoginThrottledError (auth.login_throttled)
   */
  async login(
    input: { tenant?: string | undefined; username: string; password: string },
    meta: LoginMeta,
  ): Promise<PasswordStep> {
    const tenantId = input.tenant === undefined ? null : await this.#tenantIdOf(input.tenant);
    // An unknown tenant still throttles by what was named, so that it is told apart from nothing.
    const scopeName = input.tenant === undefined ? null : (tenantId ?? `?${input.tenant.toLowerCase()}`);
    const key = usernameKey(scopeName, input.username);
    const keys = throttleKeys(key, meta.ip);
    await this.#checkThrottle(keys);
    const row =
      tenantId === null && input.tenant !== undefined
        ? undefined
        : await store.findAccountByKey(this.#db.kysely, key);
    // An unknown account costs the same hash work as a wrong password.
    const ok = await this.#hasher.verify(row?.password_hash ?? (await this.#dummyHash()), input.password);
    if (!row || !ok || row.disabled === 1) {
      const reason = !row ? 'unknown_account' : !ok ? 'wrong_password' : 'disabled';
      await this.#failed(keys, row, reason, meta, undefined, tenantId);
      throw new RosterError('auth.login_failed');
    }
    const now = this.#clock.now();
    const challenge = newSecret();
    const challengeRow: AdminChallengesTable = {
      id_hash: sha256Hex(challenge),
      admin_id: row.id,
      kind: row.totp_secret_enc === null ? 'enrol' : 'totp',
      secret_enc: null,
      key_version: null,
      attempts: 0,
      expires_at: new Date(now.getTime() + this.#challengeMs).toISOString(),
      created_at: now.toISOString(),
    };
    if (challengeRow.kind === 'totp') {
      await transact(this.#db, async (tx) => {
        await store.deleteChallengesOf(tx, row.id, now.toISOString());
        await store.insertChallenge(tx, challengeRow);
      });
      return { mfa: 'required', challenge };
    }
    const secret = newTotpSecret();
    await transact(this.#db, async (tx) => {
      const sealed = await this.#seal(tx, row.tenant_id, 'admin_challenges', challengeRow.id_hash, secret);
      await store.deleteChallengesOf(tx, row.id, now.toISOString());
      await store.insertChallenge(tx, {
        ...challengeRow,
        secret_enc: sealed.enc,
        key_version: sealed.version,
      });
    });
    return {
      mfa: 'enrolment_required',
      challenge,
      otpauthUri: otpauthUri(secret, this.#issuer, row.username),
      secret: base32Encode(secret),
    };
  }

  /**
   * The second-factor step of an enrolled account: a TOTP code (each usable once) or a recovery code (each
   * usable once). Wrong codes count as failed logins.
   * @throws auth.challenge_invalid, auth.mfa_failed, auth.login_failed (account disabled meanwhile),
   *   LoginThrottledError
   */
  async verifySecondFactor(
    input: { challenge: string; code?: string | undefined; recoveryCode?: string | undefined },
    meta: LoginMeta,
  ): Promise<NewSession> {
    const { challenge, row, keys } = await this.#openChallenge(input.challenge, 'totp', meta);
    const now = this.#clock.now();
    let step: number | null = null;
    let recoveryHash: string | undefined;
    if (input.code !== undefined) {
      const secret = await this.#open(this.#db.kysely, row.tenant_id, 'admin_accounts', row.id, row);
      step = verifyTotp(secret, input.code, now, row.totp_last_step);
      secret.fill(0);
    } else if (input.recoveryCode !== undefined) {
      recoveryHash = hashRecoveryCode(input.recoveryCode);
    }
    const result = await transact(this.#db, async (tx) => {
      let fresh = await store.findAccount(tx, row.id, this.#db.dialect === 'postgres');
      if (!fresh || fresh.disabled === 1) return 'disabled' as const;
      const entries: AuditRecord[] = [];
      if (step !== null) {
        // The step is taken in the same transaction: two requests with one code cannot both pass.
        if (!(await store.takeTotpStep(tx, row.id, step))) return 'wrong' as const;
      } else if (recoveryHash !== undefined) {
        const codes = JSON.parse(fresh.recovery_codes) as string[];
        if (!codes.includes(recoveryHash)) return 'wrong' as const;
        const left = codes.filter((h) => h !== recoveryHash);
        const next = {
          ...fresh,
          recovery_codes: JSON.stringify(left),
          version: fresh.version + 1,
          updated_at: now.toISOString(),
        };
        if (!(await store.updateAccount(tx, next, fresh.version))) throw new RosterError('store.conflict');
        fresh = next;
        entries.push(
          entry('auth.recovery_code_used', toAccount(next), null, { recoveryCodesLeft: left.length }),
        );
      } else return 'wrong' as const;
      // Used by a concurrent request: this one rolls back (and its step or code stays unused).
      if (!(await store.deleteChallenge(tx, challenge.id_hash)))
        throw new RosterError('auth.challenge_invalid');
      await this.#rewrapPlatformSecret(tx, fresh);
      return this.#startSession(tx, fresh, keys, meta, now, entries);
    });
    if (typeof result === 'string') return this.#refuse(result, keys, row, meta, challenge);
    return result;
  }

  /**
   * Confirms the secret the password step proposed with a code from the authenticator: the account is
   * enrolled, gets ten recovery codes (shown here only) and a session.
   * @throws auth.challenge_invalid, auth.mfa_failed, auth.login_failed, LoginThrottledError
   */
  async enrol(
    input: { challenge: string; code: string },
    meta: LoginMeta,
  ): Promise<NewSession & { recoveryCodes: string[] }> {
    const { challenge, row, keys } = await this.#openChallenge(input.challenge, 'enrol', meta);
    const now = this.#clock.now();
    const secret = await this.#open(this.#db.kysely, row.tenant_id, 'admin_challenges', challenge.id_hash, {
      totp_secret_enc: challenge.secret_enc,
      totp_key_version: challenge.key_version,
    });
    const step = verifyTotp(secret, input.code, now, null);
    const recoveryCodes = newRecoveryCodes();
    try {
      const result = await transact(this.#db, async (tx) => {
        const fresh = await store.findAccount(tx, row.id, this.#db.dialect === 'postgres');
        // Enrolled meanwhile (another challenge) or disabled: this proposal is void.
        if (!fresh || fresh.disabled === 1 || fresh.totp_secret_enc !== null) return 'disabled' as const;
        if (step === null) return 'wrong' as const;
        if (!(await store.deleteChallenge(tx, challenge.id_hash)))
          throw new RosterError('auth.challenge_invalid');
        const sealed = await this.#seal(tx, fresh.tenant_id, 'admin_accounts', fresh.id, secret);
        const next: AdminAccountsTable = {
          ...fresh,
          totp_secret_enc: sealed.enc,
          totp_key_version: sealed.version,
          totp_last_step: step,
          recovery_codes: JSON.stringify(recoveryCodes.map(hashRecoveryCode)),
          version: fresh.version + 1,
          updated_at: now.toISOString(),
        };
        if (!(await store.updateAccount(tx, next, fresh.version))) throw new RosterError('store.conflict');
        const account = toAccount(next);
        const entries = [
          entry('auth.mfa_enrolled', account, auditView(toAccount(fresh)), auditView(account)),
        ];
        return this.#startSession(tx, next, keys, meta, now, entries);
      });
      if (typeof result === 'string') return this.#refuse(result, keys, row, meta, challenge);
      return { ...result, recoveryCodes };
    } finally {
      secret.fill(0);
    }
  }

  // ---- sessions

  /**
   * The actor a session cookie stands for, or null when there is no live session in it. A write (any method
   * but GET, HEAD, OPTIONS) must carry the session's CSRF token in `csrfHeader`.
   * @throws auth.csrf_failed
   */
  async authenticateSession(
    cookieHeader: string | undefined,
    method: string,
    csrfHeader: string | undefined,
  ): Promise<Actor | null> {
    const live = await this.#liveSession(cookieHeader, method, csrfHeader);
    if (!live) return null;
    return {
      type: 'admin',
      id: live.account.id,
      tenantId: live.account.tenant_id,
      roles: rolesInForce(toAccount(live.account).roleGrants, this.#clock.now()),
    };
  }

  /** The session in the cookie and its account (no secrets). @throws auth.unauthenticated */
  async session(cookieHeader: string | undefined): Promise<SessionView> {
    const live = await this.#liveSession(cookieHeader, 'GET', undefined);
    if (!live) throw new RosterError('auth.unauthenticated');
    const { session, account, secret } = live;
    return {
      csrfToken: csrfTokenOf(secret),
      createdAt: session.created_at,
      lastSeenAt: session.last_seen_at,
      expiresAt: session.expires_at,
      idleExpiresAt: idleEnd(session),
      admin: toAccount(account),
    };
  }

  /**
   * Ends the session in the cookie (nothing happens when there is none, or it is over already).
   * @throws auth.csrf_failed
   */
  async logout(
    cookieHeader: string | undefined,
    csrfHeader: string | undefined,
    requestId: string | undefined,
  ): Promise<void> {
    const live = await this.#liveSession(cookieHeader, 'POST', csrfHeader);
    if (!live) return;
    await transact(this.#db, async (tx) => {
      if (await store.revokeSession(tx, live.session.id_hash, isoNow(this.#clock))) {
        const account = toAccount(live.account);
        await this.#audit.record(tx, { actor: adminActor(live.account), requestId }, account.tenantId, [
          entry('auth.logout', account, null, null),
        ]);
      }
    });
  }

  /**
   * Changes the password of the session's own account, given the current one; its other sessions end. A
   * wrong current password counts as a failed login.
   * @throws auth.unauthenticated, auth.csrf_failed, auth.login_failed, admins.weak_password, LoginThrottledError
   */
  async changePassword(
    cookieHeader: string | undefined,
    csrfHeader: string | undefined,
    input: { currentPassword: string; newPassword: string },
    meta: LoginMeta,
  ): Promise<void> {
    const live = await this.#liveSession(cookieHeader, 'POST', csrfHeader);
    if (!live) throw new RosterError('auth.unauthenticated');
    checkPassword(input.newPassword, '/newPassword');
    const keys = throttleKeys(live.account.username_key, meta.ip);
    await this.#checkThrottle(keys);
    if (!(await this.#hasher.verify(live.account.password_hash, input.currentPassword))) {
      await this.#failed(keys, live.account, 'wrong_password', meta);
      throw new RosterError('auth.login_failed');
    }
    const passwordHash = await this.#hasher.hash(input.newPassword);
    await transact(this.#db, async (tx) => {
      const row = await store.findAccount(tx, live.account.id, this.#db.dialect === 'postgres');
      if (!row) throw new RosterError('auth.unauthenticated');
      const at = isoNow(this.#clock);
      const next = { ...row, password_hash: passwordHash, version: row.version + 1, updated_at: at };
      if (!(await store.updateAccount(tx, next, row.version))) throw new RosterError('store.conflict');
      const ended = await store.revokeSessionsOf(tx, row.id, at, live.session.id_hash);
      const account = toAccount(next);
      await this.#audit.record(tx, { actor: adminActor(row), requestId: meta.requestId }, row.tenant_id, [
        entry('admin.password_changed', account, null, { otherSessionsEnded: ended }),
      ]);
    });
  }

  /**
   * For RoleService: true when an account of the tenant is given the role (expired grants included: they
   * are on record), so that a custom role in use is not deleted.
   */
  async namesRole(q: Queryable, tenantId: string, role: string): Promise<boolean> {
    const all = await store.tenantGrants(q, tenantId);
    return all.some((json) => parseGrants(json).some((g) => g.role === role));
  }

  /** What tenant-key rotation must know of: TOTP secrets of tenant accounts, and pending enrolments. */
  keyHolders(): TenantKeyHolder[] {
    return [
      {
        name: 'admin_accounts',
        remaining: (q, tenantId, version) => store.countSealedBelow(q, tenantId, version),
        rekey: (tenantId, keys, limit) =>
          transact(this.#db, async (tx) => {
            const rows = await store.sealedBelow(tx, tenantId, keys.current.version, limit);
            for (const row of rows) {
              const secret = openUnder(keys, 'admin_accounts', row.id, row);
              const enc = new FieldCipher(keys.current, 'admin_accounts', row.id).sealBytes(
                'totp_secret',
                secret,
              );
              secret.fill(0);
              await store.resealSecret(tx, row.id, enc, keys.current.version);
            }
            return rows.length;
          }),
      },
      {
        // Proposed secrets cannot be rewritten: they expire within minutes.
        name: 'admin_challenges',
        remaining: (q, tenantId, version) =>
          store.countChallengesBelow(q, tenantId, version, isoNow(this.#clock)),
      },
    ];
  }

  // ---- internals

  async #load(
    q: Queryable,
    scope: string | null,
    id: string,
    forUpdate = false,
  ): Promise<AdminAccountsTable> {
    const row = isId(id)
      ? await store.findAccount(q, id, forUpdate && this.#db.dialect === 'postgres')
      : undefined;
    if (!row || row.tenant_id !== scope) throw new RosterError('admins.not_found');
    return row;
  }

  async #tenantIdOf(tenant: string): Promise<string | null> {
    if (isId(tenant)) {
      try {
        return (await this.#tenants.get(undefined, tenant)).id;
      } catch (err) {
        if (err instanceof RosterError && err.code === 'tenants.not_found') return null;
        throw err;
      }
    }
    return (await store.tenantIdByName(this.#db.kysely, tenant)) ?? null;
  }

  #dummyHash(): Promise<string> {
    this.#dummy ??= this.#hasher.hash(newSecret());
    return this.#dummy;
  }

  async #checkThrottle(keys: readonly store.ThrottleKey[]): Promise<void> {
    const now = this.#clock.now();
    const until = await store.lockedUntil(this.#db.kysely, keys, now.toISOString());
    if (until !== undefined) {
      throw new LoginThrottledError(Math.max(1, Math.ceil((Date.parse(until) - now.getTime()) / 1000)));
    }
  }

  /** Records a failed login: both throttle counters, the challenge's count, and an audit entry. */
  async #failed(
    keys: readonly store.ThrottleKey[],
    row: AdminAccountsTable | undefined,
    reason: string,
    meta: LoginMeta,
    challenge?: AdminChallengesTable,
    tenantId: string | null = null,
  ): Promise<void> {
    const now = this.#clock.now();
    const at = now.toISOString();
    await transact(this.#db, async (tx) => {
      for (const key of keys) {
        const policy: ThrottlePolicy = key[0] === 'account' ? ACCOUNT_THROTTLE : IP_THROTTLE;
        const forgetBefore = new Date(now.getTime() - policy.forgetAfterMs).toISOString();
        const failures = await store.countFailure(tx, key, at, forgetBefore);
        const lock = lockMs(policy, failures);
        if (lock > 0) await store.lockKey(tx, key, new Date(now.getTime() + lock).toISOString());
      }
      if (challenge) {
        if (challenge.attempts + 1 >= CHALLENGE_ATTEMPTS) await store.deleteChallenge(tx, challenge.id_hash);
        else await store.countFailedChallenge(tx, challenge.id_hash);
      }
      // Never the username given, nor the password: an unknown account is recorded without a target.
      await this.#audit.record(
        tx,
        { actor: row ? adminActor(row) : SYSTEM_ACTOR, requestId: meta.requestId },
        row?.tenant_id ?? tenantId,
        [
          {
            action: 'auth.login_failed',
            targetType: 'admin',
            targetId: row?.id ?? null,
            before: null,
            after: { reason },
          },
        ],
      );
    });
  }

  /**
   * A refused second-factor step, recorded as a failed login: the account was disabled meanwhile
   * (`auth.login_failed`, as at the password step), or the code was wrong or used (`auth.mfa_failed`).
   */
  async #refuse(
    outcome: 'disabled' | 'wrong',
    keys: readonly store.ThrottleKey[],
    row: AdminAccountsTable,
    meta: LoginMeta,
    challenge: AdminChallengesTable,
  ): Promise<never> {
    if (outcome === 'disabled') {
      await this.#failed(keys, row, 'disabled', meta);
      throw new RosterError('auth.login_failed');
    }
    await this.#failed(keys, row, 'wrong_second_factor', meta, challenge);
    throw new RosterError('auth.mfa_failed');
  }

  /** A challenge of `kind` that is live, and its account. @throws auth.challenge_invalid, LoginThrottledError */
  async #openChallenge(
    presented: string,
    kind: 'totp' | 'enrol',
    meta: LoginMeta,
  ): Promise<{ challenge: AdminChallengesTable; row: AdminAccountsTable; keys: store.ThrottleKey[] }> {
    const db = this.#db.kysely;
    const challenge = await store.findChallenge(db, sha256Hex(presented));
    const row = challenge && (await store.findAccount(db, challenge.admin_id));
    if (!challenge || !row || challenge.kind !== kind || challenge.expires_at <= isoNow(this.#clock)) {
      throw new RosterError('auth.challenge_invalid');
    }
    const keys = throttleKeys(row.username_key, meta.ip);
    await this.#checkThrottle(keys);
    return { challenge, row, keys };
  }

  /** In a login's transaction: the session, the account's failure counter cleared, the audit entries. */
  async #startSession(
    tx: Tx,
    row: AdminAccountsTable,
    keys: readonly store.ThrottleKey[],
    meta: LoginMeta,
    now: Date,
    entries: AuditRecord[],
  ): Promise<NewSession> {
    const secret = newSecret();
    const csrfToken = csrfTokenOf(secret);
    const session: AdminSessionsTable = {
      id_hash: sha256Hex(secret),
      admin_id: row.id,
      tenant_id: row.tenant_id,
      csrf_hash: sha256Hex(csrfToken),
      created_at: now.toISOString(),
      last_seen_at: now.toISOString(),
      expires_at: new Date(now.getTime() + this.#absoluteMs).toISOString(),
      idle_timeout_ms: this.#idleMs,
      revoked_at: null,
    };
    await store.insertSession(tx, session);
    for (const key of keys) if (key[0] === 'account') await store.clearThrottle(tx, key);
    const account = toAccount(row);
    await this.#audit.record(tx, { actor: adminActor(row), requestId: meta.requestId }, row.tenant_id, [
      ...entries,
      entry('auth.login_succeeded', account, null, { sessionExpiresAt: session.expires_at }),
    ]);
    return {
      sessionSecret: secret,
      csrfToken,
      expiresAt: session.expires_at,
      maxAgeSeconds: Math.floor(this.#absoluteMs / 1000),
      admin: account,
    };
  }

  /**
   * The live session the cookie names, with its account. A session past its idle or absolute end is ended
   * (and audited once); a disabled account has no live session.
   * @throws auth.csrf_failed on a write without the session's CSRF token
   */
  async #liveSession(
    cookieHeader: string | undefined,
    method: string,
    csrfHeader: string | undefined,
  ): Promise<{ session: AdminSessionsTable; account: AdminAccountsTable; secret: string } | null> {
    const secret = cookieHeader ? parseCookies(cookieHeader)[SESSION_COOKIE] : undefined;
    if (!secret || secret.length > 128) return null;
    const db = this.#db.kysely;
    const session = await store.findSession(db, sha256Hex(secret));
    if (!session || session.revoked_at !== null) return null;
    const account = await store.findAccount(db, session.admin_id);
    if (!account || account.disabled === 1) return null;
    const now = this.#clock.now();
    const at = now.toISOString();
    if (session.expires_at <= at || idleEnd(session) <= at) {
      await transact(this.#db, async (tx) => {
        if (await store.revokeSession(tx, session.id_hash, at)) {
          const view = toAccount(account);
          await this.#audit.record(tx, { actor: SYSTEM_ACTOR, requestId: undefined }, account.tenant_id, [
            entry('auth.session_expired', view, null, { idle: session.expires_at > at }),
          ]);
        }
      });
      return null;
    }
    if (
      !SAFE_METHODS.has(method.toUpperCase()) &&
      !(csrfHeader && matchesHash(csrfHeader, session.csrf_hash))
    ) {
      throw new RosterError('auth.csrf_failed');
    }
    if (now.getTime() - Date.parse(session.last_seen_at) >= TOUCH_INTERVAL_MS) {
      await store.touchSession(db, session.id_hash, at);
    }
    return { session, account, secret };
  }

  /** Seals a TOTP secret: under the tenant key for tenant accounts, wrapped by the KEK for platform ones. */
  async #seal(
    q: Queryable,
    tenantId: string | null,
    table: string,
    rowId: string,
    secret: Buffer,
  ): Promise<{ enc: Buffer; version: number }> {
    if (tenantId === null) {
      const { kekVersion, wrapped } = await this.#keys.provider.wrap(secret, platformAad(table, rowId));
      return { enc: wrapped, version: kekVersion };
    }
    const key = await this.#keys.tenantKey(q, tenantId);
    return { enc: new FieldCipher(key, table, rowId).sealBytes('totp_secret', secret), version: key.version };
  }

  async #open(
    q: Queryable,
    tenantId: string | null,
    table: string,
    rowId: string,
    sealed: Pick<AdminAccountsTable, 'totp_secret_enc' | 'totp_key_version'>,
  ): Promise<Buffer> {
    if (sealed.totp_secret_enc === null || sealed.totp_key_version === null)
      throw new RosterError('crypto.integrity');
    if (tenantId === null) {
      return this.#keys.provider.unwrap(
        sealed.totp_key_version,
        sealed.totp_secret_enc,
        platformAad(table, rowId),
      );
    }
    return openUnder(await this.#keys.tenantKeys(q, tenantId), table, rowId, sealed);
  }

  /** After a KEK rotation, a platform account's secret moves to the current KEK at its next login. */
  async #rewrapPlatformSecret(tx: Tx, row: AdminAccountsTable): Promise<void> {
    const provider = this.#keys.provider;
    if (row.tenant_id !== null || row.totp_key_version === provider.currentVersion()) return;
    const secret = await this.#open(tx, null, 'admin_accounts', row.id, row);
    const sealed = await this.#seal(tx, null, 'admin_accounts', row.id, secret);
    secret.fill(0);
    await store.resealSecret(tx, row.id, sealed.enc, sealed.version);
  }
}

function toAccount(r: AdminAccountsTable): AdminAccount {
  const grants = parseGrants(r.roles);
  return {
    id: r.id,
    tenantId: r.tenant_id,
    username: r.username,
    roles: [...new Set(grants.map((g) => g.role))],
    roleGrants: grants,
    disabled: r.disabled === 1,
    totpEnrolled: r.totp_secret_enc !== null,
    recoveryCodesLeft: (JSON.parse(r.recovery_codes) as string[]).length,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

function checkPassword(password: string, pointer: string): void {
  if ([...password].length < PASSWORD_MIN) {
    throw new RosterError('admins.weak_password', {
      errors: [{ pointer, detail: `must have at least ${PASSWORD_MIN} characters` }],
    });
  }
}

function throttleKeys(usernameKeyValue: string, ip: string): store.ThrottleKey[] {
  return [
    ['account', sha256Hex(`account|${usernameKeyValue}`)],
    ['ip', sha256Hex(`ip|${ip}`)],
  ];
}

function openUnder(
  keys: TenantKeySet,
  table: string,
  rowId: string,
  sealed: Pick<AdminAccountsTable, 'totp_secret_enc' | 'totp_key_version'>,
): Buffer {
  if (sealed.totp_secret_enc === null || sealed.totp_key_version === null)
    throw new RosterError('crypto.integrity');
  return new FieldCipher(keys.get(sealed.totp_key_version), table, rowId).openBytes(
    'totp_secret',
    sealed.totp_secret_enc,
  );
}

function platformAad(table: string, rowId: string): Buffer {
  return Buffer.from(`roster/admin-totp|${table}|${rowId}`, 'utf8');
}

function idleEnd(s: AdminSessionsTable): string {
  return new Date(Date.parse(s.last_seen_at) + s.idle_timeout_ms).toISOString();
}

function isoNow(clock: Clock): string {
  return clock.now().toISOString();
}

function adminActor(row: AdminAccountsTable): Actor {
  return { type: 'admin', id: row.id, tenantId: row.tenant_id, roles: [] };
}

/** An account's audit form: never the username, password hash, TOTP secret or recovery codes. */
function auditView(a: AdminAccount): Record<string, unknown> {
  return {
    id: a.id,
    tenantId: a.tenantId,
    roleGrants: a.roleGrants,
    disabled: a.disabled,
    totpEnrolled: a.totpEnrolled,
  };
}

function entry(
  action: string,
  a: AdminAccount,
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
): AuditRecord {
  return { action, targetType: 'admin', targetId: a.id, before, after };
}
