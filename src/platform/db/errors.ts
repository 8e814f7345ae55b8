import { RosterError } from '../errors.js';

/**
 * Unique indexes by name with the columns SQLite names in its error message, so that a violation raised by
 * either dialect resolves to the same index name. Keep in step with migrations.ts.
 */
const UNIQUE_INDEXES: Record<string, string> = {
  tenants_name_key_key: 'tenants.name_key',
  users_user_name_uq: 'users.tenant_id, users.user_name_bidx',
  users_external_id_uq: 'users.tenant_id, users.external_id',
  user_emails_pk: 'user_emails.tenant_id, user_emails.email_bidx',
  groups_name_uq: 'groups.tenant_id, groups.name_key',
  groups_external_id_uq: 'groups.tenant_id, groups.external_id',
  products_sku_uq: 'products.tenant_id, products.sku_key',
  pools_name_uq: 'pools.tenant_id, pools.product_id, pools.name_key',
  assignments_user_product_uq: 'assignments.tenant_id, assignments.user_id, assignments.product_id',
  idempotency_keys_pk: 'idempotency_keys.tenant_id, idempotency_keys.key',
  roles_pk: 'roles.tenant_id, roles.name',
};

interface DriverError {
  code?: unknown;
  constraint?: unknown;
  message?: unknown;
}

/** The name of the unique index a write violated, or undefined when the error is something else. */
export function violatedUniqueIndex(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as DriverError;
  if (e.code === '23505' && typeof e.constraint === 'string') return e.constraint;
  if (
    (e.code === 'SQLITE_CONSTRAINT_UNIQUE' || e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY') &&
    typeof e.message === 'string'
  ) {
    const columns = e.message.replace(/^UNIQUE constraint failed: /, '');
    for (const [name, cols] of Object.entries(UNIQUE_INDEXES)) if (cols === columns) return name;
    return columns;
  }
  return undefined;
}

/**
 * Maps driver errors that are the caller's or the environment's doing to RosterErrors; anything else is
 * returned unchanged (and becomes a 500 whose cause stays in the log).
 */
export function mapDriverError(err: unknown): unknown {
  if (typeof err !== 'object' || err === null || err instanceof RosterError) return err;
  const code = (err as DriverError).code;
  if (typeof code !== 'string') return err;
  if (code === '40001' || code === '40P01') return new RosterError('store.conflict', { cause: err });
  if (
    code === 'SQLITE_BUSY' ||
    code === 'ECONNREFUSED' ||
    code === 'ECONNRESET' ||
    code === 'ETIMEDOUT' ||
    code === '57P01' ||
    code === '57P03' ||
    code.startsWith('08')
  ) {
    return new RosterError('store.unavailable', { cause: err });
  }
  return err;
}
