import { idParams, pageQuery, str } from '../platform/http/schemas.js';

export const tokenCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    tenantId: {
      type: ['string', 'null'],
      format: 'uuid',
      description: 'the tenant the token is bound to; null or absent: platform-wide',
    },
    name: str(128),
    roles: {
      type: 'array',
      maxItems: 32,
      items: { type: 'string', pattern: '^[a-z][a-z0-9:._-]{0,63}$' },
      default: [],
    },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

const tokenProperties = {
  id: { type: 'string' },
  tenantId: { type: ['string', 'null'] },
  name: { type: 'string' },
  roles: { type: 'array', items: { type: 'string' } },
  createdAt: { type: 'string' },
  createdBy: { type: ['string', 'null'] },
  expiresAt: { type: ['string', 'null'] },
  revokedAt: { type: ['string', 'null'] },
  lastUsedAt: { type: ['string', 'null'] },
};

export const tokenResponse = { $id: 'ApiToken', type: 'object', properties: tokenProperties } as const;

export const tokenCreatedResponse = {
  type: 'object',
  description: 'The token secret is shown in this answer only; Roster keeps only its hash.',
  properties: { ...tokenProperties, token: { type: 'string' } },
} as const;

export const tokenListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { ...pageQuery, tenantId: { type: 'string', format: 'uuid' } },
} as const;

export { idParams };
