import { idParams, pageQuery, str } from '../platform/http/schemas.js';

const sku = {
  type: 'string',
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._:-]*$',
} as const;
const location = {
  type: 'object',
  additionalProperties: false,
  properties: {
    site: { type: ['string', 'null'], pattern: '^[A-Za-z0-9._-]{1,64}$' },
    country: { type: ['string', 'null'], pattern: '^[A-Za-z]{2}$' },
  },
} as const;
const capacity = { type: 'integer', minimum: 0, maximum: 10_000_000 } as const;
const priority = {
  type: 'integer',
  minimum: 0,
  maximum: 1_000_000,
  description: 'lower is tried first (default 100)',
} as const;
const utilisationCap = {
  type: 'integer',
  minimum: 1,
  maximum: 100,
  description:
    'percent of capacity the pool is meant to run at (default 90): drawn and watched, the allocator still fills to capacity',
} as const;

export const productCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['sku', 'name'],
  properties: { sku, name: str(256) },
} as const;

export const productResponse = {
  $id: 'Product',
  type: 'object',
  properties: {
    id: { type: 'string' },
    sku: { type: 'string' },
    name: { type: 'string' },
    createdAt: { type: 'string' },
    waitlisted: {
      type: 'integer',
      description: 'People waiting for a seat of the product, whatever pool may serve them (in lists)',
    },
    oldestWaitSince: {
      type: ['string', 'null'],
      description: 'When the longest-waiting person joined the waitlist; null when nobody waits (in lists)',
    },
  },
} as const;

export const poolCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['product', 'name', 'capacity'],
  properties: {
    product: sku,
    name: str(128),
    capacity,
    location: { anyOf: [location, { type: 'null' }] },
    priority,
    utilisationCap,
  },
} as const;

export const poolPatchBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: str(128),
    capacity,
    location: { anyOf: [location, { type: 'null' }] },
    priority,
    utilisationCap,
  },
} as const;

const nullableString = { type: ['string', 'null'] };

export const poolResponse = {
  $id: 'Pool',
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    product: { type: 'string' },
    capacity: { type: 'integer' },
    used: { type: 'integer' },
    waitlisted: { type: 'integer' },
    location: { type: ['object', 'null'], properties: { site: nullableString, country: nullableString } },
    priority: { type: 'integer' },
    utilisationCap: { type: 'integer', description: 'percent of capacity the pool is meant to run at' },
    version: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;

export const poolListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { ...pageQuery, product: sku },
} as const;

const instant = { type: 'string', format: 'date-time' } as const;

export const usageParams = {
  type: 'object',
  required: ['sku'],
  properties: { sku },
} as const;

export const usageQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    since: { ...instant, description: 'Default: 24 hours before until' },
    until: { ...instant, description: 'Default: now' },
  },
} as const;

const usagePoint = {
  type: 'object',
  additionalProperties: false,
  required: ['at', 'capacity', 'used', 'waitlisted'],
  properties: {
    at: { type: 'string' },
    capacity: { type: 'integer' },
    used: { type: 'integer' },
    waitlisted: { type: 'integer' },
  },
} as const;

export const usageResponse = {
  $id: 'ProductUsage',
  type: 'object',
  additionalProperties: false,
  required: ['product', 'since', 'until', 'pools'],
  properties: {
    product: { type: 'string' },
    since: { type: 'string' },
    until: { type: 'string' },
    pools: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'name', 'capacity', 'utilisationCap', 'items'],
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          capacity: { type: 'integer', description: 'now' },
          utilisationCap: { type: 'integer', description: 'now' },
          items: {
            type: 'array',
            description:
              'The rows in [since, until] in time order (the newest 10000), preceded by the value in force at since (shown at since)',
            items: usagePoint,
          },
        },
      },
    },
  },
} as const;

export const assignmentResponse = {
  $id: 'Assignment',
  type: 'object',
  properties: {
    product: { type: 'string' },
    state: { type: 'string', enum: ['active', 'waitlisted'] },
    source: { type: 'string' },
    pool: { type: 'object', properties: { id: { type: 'string' }, name: { type: 'string' } } },
    waitlistPosition: { type: 'integer' },
  },
} as const;

export const assignBody = {
  type: 'object',
  additionalProperties: false,
  required: ['product'],
  properties: { product: sku },
} as const;

export const licenseParams = {
  type: 'object',
  required: ['id', 'sku'],
  properties: { id: { type: 'string', format: 'uuid' }, sku },
} as const;

export { idParams, pageQuery, sku as skuSchema };
