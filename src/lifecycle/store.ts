import type { Queryable } from '../platform/db/index.js';

/** The answer status of a record whose user was erased: its answer and fingerprint are destroyed. */
export const ERASED_STATUS = 410;

/** Stored outcomes of idempotent requests, per tenant and key. The response is sealed (it holds PII). */
export interface IdempotencyRecord {
  readonly requestHash: string;
  readonly status: number;
  readonly responseSealed: Buffer;
  readonly expiresAt: string;
  /** The tenant key version that sealed the response and keyed the request hash. */
  readonly keyVersion: number;
  /** The user the onboarding created (an erasure deletes the record). */
  readonly userId: string | null;
}

export async function findIdempotencyRecord(
  q: Queryable,
  tenantId: string,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const r = await q
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status', 'response_enc', 'expires_at', 'key_version', 'user_id'])
    .where('tenant_id', '=', tenantId)
    .where('key', '=', key)
    .executeTakeFirst();
  return (
    r && {
      requestHash: r.request_hash,
      status: r.status,
      responseSealed: r.response_enc,
      expiresAt: r.expires_at,
      keyVersion: r.key_version,
      userId: r.user_id,
    }
  );
}

export async function insertIdempotencyRecord(
  q: Queryable,
  tenantId: string,
  key: string,
  rec: IdempotencyRecord & { createdAt: string },
): Promise<void> {
  await q
    .insertInto('idempotency_keys')
    .values({
      tenant_id: tenantId,
      key,
      request_hash: rec.requestHash,
      status: rec.status,
      response_enc: rec.responseSealed,
      created_at: rec.createdAt,
      expires_at: rec.expiresAt,
      key_version: rec.keyVersion,
      user_id: rec.userId,
    })
    .execute();
}

export async function deleteIdempotencyRecord(q: Queryable, tenantId: string, key: string): Promise<void> {
  await q.deleteFrom('idempotency_keys').where('tenant_id', '=', tenantId).where('key', '=', key).execute();
}

/** Deletes expired records; returns how many. */
export async function purgeExpiredIdempotency(q: Queryable, now: string): Promise<number> {
  const res = await q.deleteFrom('idempotency_keys').where('expires_at', '<', now).executeTakeFirst();
  return Number(res.numDeletedRows);
}

/** Unexpired records under a tenant key version below `version` (an erased one holds nothing sealed). */
export async function countLiveRecordsBelowKeyVersion(
  q: Queryable,
  tenantId: string,
  version: number,
  now: string,
): Promise<number> {
  const r = await q
    .selectFrom('idempotency_keys')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('tenant_id', '=', tenantId)
    .where('key_version', '<', version)
    .where('expires_at', '>', now)
    .where('status', '!=', ERASED_STATUS)
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Destroys the stored answers of an erased user (they hold the person's data) and their request
 * fingerprints (keyed hashes of it): the keys stay taken, and a replay learns only that it was erased.
 */
export async function eraseRecordsOf(q: Queryable, tenantId: string, userId: string): Promise<void> {
  await q
    .updateTable('idempotency_keys')
    .set({ status: ERASED_STATUS, response_enc: Buffer.alloc(0), request_hash: 'erased' })
    .where('tenant_id', '=', tenantId)
    .where('user_id', '=', userId)
    .execute();
}
