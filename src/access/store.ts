import type { Queryable } from '../platform/db/index.js';
import type { ApiTokensTable } from '../platform/db/schema.js';
import { type ApiToken, parseGrants } from './model.js';

function toToken(r: ApiTokensTable): ApiToken {
  const grants = parseGrants(r.roles);
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    roles: [...new Set(grants.map((g) => g.role))],
    roleGrants: grants,
    createdAt: r.created_at,
    createdBy: r.created_by,
    expiresAt: r.expires_at,
    revokedAt: r.revoked_at,
    lastUsedAt: r.last_used_at,
  };
}

export async function insertToken(q: Queryable, token: ApiToken, tokenHash: string): Promise<void> {
  await q
    .insertInto('api_tokens')
    .values({
      id: token.id,
      tenant_id: token.tenantId,
      name: token.name,
      // Plain names for grants without an expiry (the form older rows have), objects for the others.
      roles: JSON.stringify(token.roleGrants.map((g) => (g.expiresAt === null ? g.role : g))),
      token_hash: tokenHash,
      created_by: token.createdBy,
      created_at: token.createdAt,
      expires_at: token.expiresAt,
      revoked_at: null,
      last_used_at: null,
    })
    .execute();
}

export async function findTokenByHash(q: Queryable, tokenHash: string): Promise<ApiToken | undefined> {
  const row = await q
    .selectFrom('api_tokens')
    .selectAll()
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
  return row && toToken(row);
}

export async function findToken(q: Queryable, id: string): Promise<ApiToken | undefined> {
  const row = await q.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toToken(row);
}

export async function listTokens(
  q: Queryable,
  filter: { tenantId?: string | null },
  page: { afterId: string | undefined; limit: number },
): Promise<ApiToken[]> {
  let query = q.selectFrom('api_tokens').selectAll();
  if (filter.tenantId === null) query = query.where('tenant_id', 'is', null);
  else if (filter.tenantId !== undefined) query = query.where('tenant_id', '=', filter.tenantId);
  if (page.afterId !== undefined) query = query.where('id', '>', page.afterId);
  const rows = await query.orderBy('id').limit(page.limit).execute();
  return rows.map(toToken);
}

export async function countPlatformTokens(q: Queryable): Promise<number> {
  const row = await q
    .selectFrom('api_tokens')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tenant_id', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** Marks a token revoked; true when this call revoked it (false when it already was). */
export async function revokeToken(q: Queryable, id: string, at: string): Promise<boolean> {
  const res = await q
    .updateTable('api_tokens')
    .set({ revoked_at: at })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export async function touchToken(q: Queryable, id: string, at: string): Promise<void> {
  await q.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
}
