import { idParams, pageQuery, str } from '../platform/http/schemas.js';
import { PERMISSIONS } from './permissions.js';

const roleName = { type: 'string', pattern: '^[a-z][a-z0-9:._-]{0,63}$' } as const;

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
      description: 'role names, or {role, expiresAt} for a grant that ends',
      items: {
        oneOf: [
          roleName,
          {
            type: 'object',
            additionalProperties: false,
            required: ['role'],
            properties: { role: roleName, expiresAt: { type: ['string', 'null'], format: 'date-time' } },
          },
        ],
      },
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
  roleGrants: {
    type: 'array',
    items: {
      type: 'object',
      properties: { role: { type: 'string' }, expiresAt: { type: ['string', 'null'] } },
    },
  },
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

const permissionName = { type: 'string', enum: Object.keys(PERMISSIONS) } as const;

export const roleCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'permissions'],
  properties: {
    name: roleName,
    description: str(512),
    permissions: { type: 'array', maxItems: 64, items: permissionName },
  },
} as const;

export const rolePatchBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    description: str(512),
    permissions: { type: 'array', maxItems: 64, items: permissionName },
  },
} as const;

export const roleNameParams = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: roleName },
} as const;

export const roleResponse = {
  $id: 'Role',
  type: 'object',
  properties: {
    name: { type: 'string' },
    description: { type: 'string' },
    permissions: { type: 'array', items: { type: 'string' } },
    builtIn: { type: 'boolean' },
    version: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  },
} as const;
