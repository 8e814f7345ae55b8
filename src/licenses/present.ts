import type { Assignment, Pool, Product } from './model.js';

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
