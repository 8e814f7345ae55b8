import type { Pool } from './types';

/**
 * A product's waitlist length, as far as the pools tell it. A pool's `waitlisted` counts the waitlisted
 * people of its product that it may serve; a pool scoped to no site or country may serve everyone, so its
 * count is the product's whole waitlist. Without such a pool, the largest count is a lower bound (people
 * waiting whom no pool may serve are not counted anywhere).
 */
export function productWaitlist(pools: readonly Pool[]): { count: number; exact: boolean } | null {
  if (pools.length === 0) return null;
  const open = pools.find((p) => !p.location || (p.location.site === null && p.location.country === null));
  if (open) return { count: open.waitlisted, exact: true };
  return { count: Math.max(...pools.map((p) => p.waitlisted)), exact: false };
}
