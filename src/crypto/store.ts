import type { Queryable } from '../platform/db/index.js';

/** Queries on `tenant_keys`, the wrapped per-tenant keys. */
export async function insertTenantKey(
  q: Queryable,
  row: { tenantId: string; version: number; kekVersion: number; wrapped: Buffer; createdAt: string },
): Promise<void> {
  await q
    .insertInto('tenant_keys')
    .values({
      tenant_id: row.tenantId,
      version: row.version,
      kek_version: row.kekVersion,
      wrapped_key: row.wrapped,
      created_at: row.createdAt,
    })
    .execute();
}

export async function findLatestTenantKey(q: Queryable, tenantId: string) {
  return q
    .selectFrom('tenant_keys')
    .select(['version', 'kek_version', 'wrapped_key'])
    .where('tenant_id', '=', tenantId)
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
}
