import type { Assignment, Pool, Product, ProductUsage } from './model.js';

export function presentProduct(p: Product) {
  return {
    id: p.id,
    sku: p.sku,
    name: p.name,
    createdAt: p.createdAt,
    ...(p.waitlist ? { waitlisted: p.waitlist.count, oldestWaitSince: p.waitlist.oldestSince } : {}),
  };
}

export function presentPool(p: Pool) {
  return {
    id: p.id,
    name: p.name,
    product: p.sku,
    capacity: p.capacity,
    used: p.used,
    waitlisted: p.waitlisted,
    location: p.location,
    priority: p.priority,
    utilisationCap: p.utilisationCap,
    version: p.version,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
  };
}

export function presentAssignment(a: Assignment) {
  return {
    product: a.sku,
    state: a.state,
    source: a.source,
    ...(a.pool ? { pool: a.pool } : {}),
    ...(a.waitlistPosition !== null ? { waitlistPosition: a.waitlistPosition } : {}),
  };
}

export function presentUsage(u: ProductUsage) {
  return {
    product: u.product,
    since: u.since,
    until: u.until,
    pools: u.pools.map((p) => ({
      id: p.id,
      name: p.name,
      capacity: p.capacity,
      utilisationCap: p.utilisationCap,
      items: p.items.map((i) => ({ at: i.at, capacity: i.capacity, used: i.used, waitlisted: i.waitlisted })),
    })),
  };
}
