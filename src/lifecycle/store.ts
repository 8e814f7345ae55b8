import type { Queryable } from '../platform/db/index.js';

/** Stored outcomes of idempotent requests, per tenant and key. The response is sealed (it holds PII). */
export interface IdempotencyRecord {
  readonly requestHash: string;
  readonly status: number;
  readonly responseSealed: Buffer;
  readonly expiresAt: string;
}

export async function findIdempotencyRecord(
  q: Queryable,
  tenantId: string,
  key: string,
): Promise<IdempotencyRecord | undefined> {
  const r = await q
    .selectFrom('idempotency_keys')
    .select(['request_hash', 'status', 'response_enc', 'expires_at'])
    .where('tenant_id', '=', tenantId)
    .where('key', '=', key)
    .executeTakeFirst();
  return (
    r && {
      requestHash: r.request_hash,
      status: r.status,
      responseSealed: r.response_enc,
      expiresAt: r.expires_at,
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
