import { createHmac } from 'node:crypto';
import type { AuditLog } from '../audit/service.js';
import type { TenantKey } from '../crypto/model.js';
import type { TenantKeyHolder } from '../crypto/rotation.js';
import { FieldCipher, type Keyring, type TenantKeySet } from '../crypto/service.js';
import type { User, UserInput } from '../identity/model.js';
import { presentUser } from '../identity/present.js';
import type { UserService } from '../identity/service.js';
import type { Assignment } from '../licenses/model.js';
import { presentAssignment } from '../licenses/present.js';
import type { LicenseService } from '../licenses/service.js';
import { canonicalJson } from '../platform/canonical-json.js';
import type { Clock } from '../platform/clock.js';
import type { TenantContext } from '../platform/context.js';
import { violatedUniqueIndex } from '../platform/db/errors.js';
import { type GroupCommitter, isRetryable } from '../platform/db/group-commit.js';
import type { Db, Queryable, Tx } from '../platform/db/index.js';
import { mapStoreError, transact } from '../platform/db/tx.js';
import { type ErrorCode, RosterError } from '../platform/errors.js';
import type { Metrics } from '../platform/metrics.js';
import * as store from './store.js';

export interface OnboardingInput {
  readonly user: UserInput;
  /** Optional: an onboarding without products creates the user alone. */
  readonly products?: readonly string[] | undefined;
}

/** The stored answer of an onboarding: replays return these exact bytes. */
export interface StoredAnswer {
  readonly status: number;
  readonly body: string;
  readonly replayed: boolean;
}

/** How long an idempotency key is kept (the contract says at least 24 h). */
export const IDEMPOTENCY_TTL_MS = 25 * 60 * 60 * 1000;

const ONBOARDING_UNIQUES: Record<string, ErrorCode> = {
  users_user_name_uq: 'identity.user_name_taken',
  users_external_id_uq: 'identity.external_id_taken',
  user_emails_pk: 'identity.email_taken',
  assignments_user_product_uq: 'licenses.already_assigned',
};

/**
 * Thrown inside a work on a unique violation: another request (on another node) may have committed the
 * same idempotency key meanwhile, and only after the savepoint is rolled back can we look.
 */
class UniqueConflict extends Error {
  readonly original: unknown;
  constructor(original: unknown) {
    super('unique conflict');
    this.original = original;
  }
}

interface Deps {
  readonly db: Db;
  readonly clock: Clock;
  readonly audit: AuditLog;
  readonly keys: Keyring;
  readonly users: UserService;
  readonly licenses: LicenseService;
  readonly committer: GroupCommitter;
  readonly metrics?: Metrics;
}

/**
 * Joiners and leavers: onboarding creates a user and their seats in one group-committed transaction,
 * exactly once per idempotency key; offboarding deactivates a user and releases every seat at once.
 */
export class LifecycleService {
  readonly #d: Deps;
  readonly #inFlight = new Map<string, Promise<{ hash: string; answer: StoredAnswer }>>();

  constructor(deps: Deps) {
    this.#d = deps;
  }

  /**
   * Onboards a person: the user, then a seat (or a waitlist place) per product. A replay of the same key
   * and body returns the first answer and creates nothing.
   * @throws idempotency.key_reused, licenses.unknown_product, and the user-creation errors
   */
  async onboard(ctx: TenantContext, input: OnboardingInput, idempotencyKey: string): Promise<StoredAnswer> {
    const keys = await this.#d.keys.tenantKeys(this.#d.db.kysely, ctx.tenantId);
    const hash = fingerprint(keys.current, input);
    const slot = `${ctx.tenantId}\0${idempotencyKey}`;
    const running = this.#inFlight.get(slot);
    if (running !== undefined) return this.#replay(await running, hash, keys, input);
    const p = this.#onboardOnce(ctx, input, idempotencyKey, hash);
    this.#inFlight.set(slot, p);
    try {
      const result = await p;
      return result.answer;
    } catch (err) {
      this.#d.metrics?.onboardings.inc({ outcome: 'failed' });
      throw err;
    } finally {
      this.#inFlight.delete(slot);
    }
  }

  /** `first` may have been fingerprinted under an older key version (a rotation since): compare under it. */
  #replay(
    first: { hash: string; answer: StoredAnswer },
    hash: string,
    keys: TenantKeySet,
    input: OnboardingInput,
  ): StoredAnswer {
    const version = fingerprintVersion(first.hash);
    const mine = version === keys.current.version ? hash : fingerprint(keys.get(version), input);
    if (first.hash !== mine) throw new RosterError('idempotency.key_reused');
    this.#d.metrics?.onboardings.inc({ outcome: 'replayed' });
    return { ...first.answer, replayed: true };
  }

  async #stored(
    q: Queryable,
    ctx: TenantContext,
    idempotencyKey: string,
  ): Promise<{ hash: string; answer: StoredAnswer } | 'expired' | undefined> {
    const rec = await store.findIdempotencyRecord(q, ctx.tenantId, idempotencyKey);
    if (!rec) return undefined;
    if (rec.expiresAt <= this.#d.clock.now().toISOString()) return 'expired';
    if (rec.status === store.ERASED_STATUS) throw new RosterError('identity.user_erased');
    const keys = await this.#d.keys.tenantKeys(q, ctx.tenantId);
    const body = new FieldCipher(keys.get(rec.keyVersion), 'idempotency_keys', idempotencyKey).openText(
      'response',
      rec.responseSealed,
    );
    return { hash: rec.requestHash, answer: { status: rec.status, body, replayed: true } };
  }

  async #onboardOnce(
    ctx: TenantContext,
    input: OnboardingInput,
    idempotencyKey: string,
    hash: string,
  ): Promise<{ hash: string; answer: StoredAnswer }> {
    try {
      const outcome = await this.#d.committer.submit(
        async (tx) => {
          this.#d.audit.deferIn(tx);
          try {
            // Looked up inside the batch's transaction: no extra round trip, and a key committed by an
            // earlier batch is seen here.
            const earlier = await this.#stored(tx, ctx, idempotencyKey);
            if (earlier !== undefined && earlier !== 'expired') {
              this.#d.audit.discard(tx);
              return earlier;
            }
            if (earlier === 'expired') await store.deleteIdempotencyRecord(tx, ctx.tenantId, idempotencyKey);
            const skus = dedupe(input.products ?? []);
            const products = await this.#d.licenses.resolveProducts(tx, ctx.tenantId, skus, '/products');
            const user = await this.#d.users.createIn(tx, ctx, input.user);
            const assignments: Assignment[] = [];
            for (const product of products) {
              assignments.push(
                (await this.#d.licenses.assignIn(tx, ctx, user, product, 'direct', { freshUser: true }))
                  .assignment,
              );
            }
            await this.#d.audit.record(tx, ctx, ctx.tenantId, [
              {
                action: 'user.onboarded',
                targetType: 'user',
                targetId: user.id,
                before: null,
                after: { products: assignments.map((a) => ({ product: a.sku, state: a.state })) },
              },
            ]);
            const body = JSON.stringify({
              user: presentUser(user),
              assignments: assignments.map(presentAssignment),
            });
            const now = this.#d.clock.now();
            const key = (await this.#d.keys.tenantKeys(tx, ctx.tenantId)).current;
            await store.insertIdempotencyRecord(tx, ctx.tenantId, idempotencyKey, {
              // Fingerprinted under the version that seals the answer (a rotation may have begun since).
              requestHash: key.version === fingerprintVersion(hash) ? hash : fingerprint(key, input),
              keyVersion: key.version,
              userId: user.id,
              status: 201,
              responseSealed: new FieldCipher(key, 'idempotency_keys', idempotencyKey).sealText(
                'response',
                body,
              ),
              createdAt: now.toISOString(),
              expiresAt: new Date(now.getTime() + IDEMPOTENCY_TTL_MS).toISOString(),
            });
            await this.#d.audit.flush(tx);
            return { hash, answer: { status: 201, body, replayed: false } satisfies StoredAnswer };
          } catch (err) {
            this.#d.audit.discard(tx);
            // Deadlocks and serialization failures go to the committer as they are: it retries the work.
            if (isRetryable(err)) throw err;
            if (violatedUniqueIndex(err) !== undefined) throw new UniqueConflict(err);
            throw underUser(mapStoreError(err, ONBOARDING_UNIQUES));
          }
        },
        { lockKey: `licenses:${ctx.tenantId}` },
      );
      if (outcome.answer.replayed)
        return { hash: outcome.hash, answer: this.#replay(outcome, hash, await this.#keys(ctx), input) };
      this.#d.metrics?.onboardings.inc({ outcome: 'created' });
      return outcome;
    } catch (err) {
      if (!(err instanceof UniqueConflict)) throw err;
      // A concurrent request with this key (on another node) may have committed first: its users row or
      // its key row is what we collided with. Then this request is a replay of that one.
      const theirs = await this.#stored(this.#d.db.kysely, ctx, idempotencyKey);
      if (theirs === undefined || theirs === 'expired')
        throw underUser(mapStoreError(err.original, ONBOARDING_UNIQUES));
      return { hash: theirs.hash, answer: this.#replay(theirs, hash, await this.#keys(ctx), input) };
    }
  }

  #keys(ctx: TenantContext): Promise<TenantKeySet> {
    return this.#d.keys.tenantKeys(this.#d.db.kysely, ctx.tenantId);
  }

  /**
   * Offboards a user: deprovisions them and releases every seat and waitlist place at once, each released
   * seat going on to the waitlist. Offboarding an offboarded user changes nothing.
   * @throws identity.user_not_found
   */
  async offboard(ctx: TenantContext, userId: string): Promise<{ user: User; released: Assignment[] }> {
    return transact(this.#d.db, async (tx) => {
      const before = await this.#d.users.get(ctx, userId, tx);
      const released = await this.#d.licenses.releaseIn(tx, ctx, userId);
      if (before.status === 'deprovisioned' && released.length === 0) return { user: before, released };
      const user =
        before.status === 'deprovisioned'
          ? before
          : await this.#d.users.updateIn(tx, ctx, userId, { status: 'deprovisioned' });
      await this.#d.audit.record(tx, ctx, ctx.tenantId, [
        {
          action: 'user.offboarded',
          targetType: 'user',
          targetId: userId,
          before: { status: before.status },
          after: { status: user.status, released: released.map((a) => a.sku) },
        },
      ]);
      return { user, released };
    });
  }

  /**
   * Stored answers under a tenant key: they cannot be rewritten (their request fingerprints cannot be
   * recomputed without the request), so an older version stays live until they expire (25 h).
   */
  keyHolder(): TenantKeyHolder {
    return {
      name: 'idempotency_keys',
      remaining: (q, tenantId, version) =>
        store.countLiveRecordsBelowKeyVersion(q, tenantId, version, this.#d.clock.now().toISOString()),
    };
  }

  /** In an erasure's transaction: the user's stored answers are destroyed (see `store.eraseRecordsOf`). */
  async eraseAnswersOf(tx: Tx, ctx: TenantContext, userId: string): Promise<void> {
    await store.eraseRecordsOf(tx, ctx.tenantId, userId);
  }

  /** Deletes expired idempotency records. */
  async purgeExpiredKeys(): Promise<number> {
    return store.purgeExpiredIdempotency(this.#d.db.kysely, this.#d.clock.now().toISOString());
  }
}

/**
 * The keyed fingerprint of an onboarding request, `<tenant key version>:<hex>` (a plain hash of a body full
 * of PII could be confirmed by guessing). Fingerprints stored before key versions carry no prefix: version 1.
 */
function fingerprint(key: TenantKey, input: OnboardingInput): string {
  const mac = createHmac('sha256', key.indexKey)
    .update('idempotency\0')
    .update(canonicalJson(input))
    .digest('hex');
  return key.version === 1 ? mac : `${key.version}:${mac}`;
}

function fingerprintVersion(hash: string): number {
  const at = hash.indexOf(':');
  return at < 0 ? 1 : Number(hash.slice(0, at));
}

/** Field errors of the user part point into the request body's `user` member. */
function underUser(err: unknown): unknown {
  if (!(err instanceof RosterError) || !err.errors || err.code === 'licenses.unknown_product') return err;
  return new RosterError(err.code, {
    errors: err.errors.map((e) => ({ ...e, pointer: `/user${e.pointer}` })),
    ...(err.detail !== undefined ? { detail: err.detail } : {}),
    cause: err,
  });
}

function dedupe(skus: readonly string[]): string[] {
  const seen = new Set<string>();
  return skus.filter((s) => {
    const k = s.trim().toUpperCase();
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
