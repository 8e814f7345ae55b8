/** Licensed products (SKUs), their seat pools, and who holds or waits for a seat. Pure types and rules. */

export interface Product {
  readonly id: string;
  readonly tenantId: string;
  readonly sku: string;
  readonly name: string;
  readonly createdAt: string;
  /** The product's waitlist, where the read asked for it (the product list does). */
  readonly waitlist?: ProductWaitlist;
}

/** Everyone waiting for a seat of a product, whatever pool may serve them. */
export interface ProductWaitlist {
  readonly count: number;
  /** When the longest-waiting person joined the waitlist; null when nobody waits. */
  readonly oldestSince: string | null;
}

export interface PoolLocation {
  readonly site: string | null;
  readonly country: string | null;
}

export interface Pool {
  readonly id: string;
  readonly tenantId: string;
  readonly productId: string;
  readonly sku: string;
  readonly name: string;
  readonly capacity: number;
  readonly used: number;
  /** Waitlisted assignments of the product that this pool may serve. */
  readonly waitlisted: number;
  readonly location: PoolLocation | null;
  readonly priority: number;
  /** Percent of capacity the pool is meant to run at (1-100): drawn and watched, not enforced. */
  readonly utilisationCap: number;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
}

export const ASSIGNMENT_STATES = ['active', 'waitlisted'] as const;
export type AssignmentState = (typeof ASSIGNMENT_STATES)[number];

/** Where a seat comes from: `direct` (assigned to the user). Group and policy sources come later. */
export const ASSIGNMENT_SOURCES = ['direct'] as const;
export type AssignmentSource = (typeof ASSIGNMENT_SOURCES)[number];

export interface Assignment {
  readonly id: string;
  readonly userId: string;
  readonly productId: string;
  readonly sku: string;
  readonly state: AssignmentState;
  readonly source: AssignmentSource;
  readonly pool: { readonly id: string; readonly name: string } | null;
  readonly waitlistPosition: number | null;
  readonly createdAt: string;
}

/** The default priority of a pool: lower numbers are tried first. */
export const DEFAULT_POOL_PRIORITY = 100;

/** The default utilisation cap of a pool, in percent of its capacity. */
export const DEFAULT_UTILISATION_CAP = 90;

/** A pool's seat counters at one sampling instant (`pool_usage`). */
export interface UsagePoint {
  readonly at: string;
  readonly capacity: number;
  readonly used: number;
  readonly waitlisted: number;
}

/** One pool's utilisation history over a time range. */
export interface PoolHistory {
  readonly id: string;
  readonly name: string;
  readonly capacity: number;
  readonly utilisationCap: number;
  /** In time order; the first may be the value in force at the range's start (its `at` is then `since`). */
  readonly items: readonly UsagePoint[];
}

/** The utilisation history of a product's pools over [since, until]. */
export interface ProductUsage {
  readonly product: string;
  readonly since: string;
  readonly until: string;
  readonly pools: readonly PoolHistory[];
}

/** The sampling instant of `now`: its time truncated to a multiple of the interval (since the epoch). */
export function samplingInstant(now: Date, intervalMs: number): string {
  const ms = now.getTime();
  return new Date(ms - (((ms % intervalMs) + intervalMs) % intervalMs)).toISOString();
}

/** A user's location as far as pool eligibility is concerned. */
export interface Whereabouts {
  readonly site: string | null;
  readonly country: string | null;
}

/** Whether a pool may give a seat to someone at `at`: every scope the pool sets must match. */
export function poolMayServe(pool: PoolLocation | null, at: Whereabouts): boolean {
  if (!pool) return true;
  if (pool.site !== null && pool.site !== at.site) return false;
  if (pool.country !== null && pool.country !== at.country) return false;
  return true;
}

/** Normalised SKU for uniqueness and lookup: SKUs are case-insensitive. */
export function skuKey(sku: string): string {
  return sku.trim().toUpperCase();
}
