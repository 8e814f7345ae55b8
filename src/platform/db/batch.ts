/**
 * Reads for a page of things at once (one query for the page instead of one per item): the rows of the
 * answer, sorted into one list per key asked for. Every key asked for has a list, empty when no row names it;
 * no query runs for no keys.
 */
export async function rowsByKey<R, V>(
  keys: readonly string[],
  read: (keys: readonly string[]) => Promise<readonly R[]>,
  keyOf: (row: R) => string,
  itemOf: (row: R) => V,
): Promise<Map<string, V[]>> {
  const out = new Map<string, V[]>(keys.map((k) => [k, []]));
  if (keys.length === 0) return out;
  for (const row of await read(keys)) out.get(keyOf(row))?.push(itemOf(row));
  return out;
}
