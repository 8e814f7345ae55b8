import { type ErrorCode, RosterError } from '../errors.js';
import { mapDriverError, violatedUniqueIndex } from './errors.js';
import { type Db, inTransaction, type Tx } from './index.js';

/**
 * Runs `fn` as one transaction: all of it commits or none of it does. A unique-index violation is turned
 * into the module's own conflict code by `uniques` (index name -> code), so concurrent writers racing past
 * a pre-check still get a clear 409 rather than a 500.
 */
export async function transact<T>(
  db: Db,
  fn: (tx: Tx) => Promise<T>,
  uniques: Readonly<Record<string, ErrorCode>> = {},
): Promise<T> {
  try {
    return await db.kysely.transaction().execute((tx) => inTransaction(() => fn(tx)));
  } catch (err) {
    throw mapStoreError(err, uniques);
  }
}

/** A driver error as the caller should see it: unique violations by index name, then connection errors. */
export function mapStoreError(err: unknown, uniques: Readonly<Record<string, ErrorCode>> = {}): unknown {
  const index = violatedUniqueIndex(err);
  if (index !== undefined) return new RosterError(uniques[index] ?? 'store.conflict', { cause: err });
  return mapDriverError(err);
}
