import { idParams, mergePatchOf, pageQuery, str } from '../platform/http/schemas.js';
import { USER_KINDS, USER_STATUSES } from './model.js';

const multiValue = (value: object) => ({
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: {
    value,
    type: str(64),
    primary: { type: 'boolean' },
    display: str(256),
  },
});

const email = multiValue({ type: 'string', format: 'email', maxLength: 320 });
const phone = multiValue({ type: 'string', minLength: 1, maxLength: 64 });
const role = multiValue({
  type: 'string',
  minLength: 1,
  maxLength: 256,
  pattern: '\\S',
  description: 'who the user is, e.g. "Nurse"; unique per user without regard to case',
});
const address = {
  type: 'object',
  additionalProperties: false,
  properties: {
    type: str(64),
    formatted: str(1024),
    streetAddress: str(512),
    locality: str(256),
    region: str(256),
    postalCode: str(32),
    country: str(64),
    primary: { type: 'boolean' },
  },
};
const name = {
  type: 'object',
  additionalProperties: false,
  properties: { givenName: str(256), familyName: str(256), formatted: str(512) },
};
const location = {
  type: 'object',
  additionalProperties: false,
  properties: {
    site: { type: ['string', 'null'], pattern: '^[A-Za-z0-9._-]{1,64}$', description: 'site code' },
    country: { type: ['string', 'null'], pattern: '^[A-Za-z]{2}$', description: 'ISO 3166-1 alpha-2' },
  },
};

const userFields = {
  userName: str(256),
  externalId: str(256),
  name,
  displayName: str(256),
  emails: { type: 'array', maxItems: 20, items: email },
  phoneNumbers: { type: 'array', maxItems: 20, items: phone },
  addresses: { type: 'array', maxItems: 10, items: address },
  title: str(256),
  department: str(256),
  roles: { type: 'array', maxItems: 50, items: role },
  location,
  kind: { type: 'string', enum: [...USER_KINDS] },
  manager: { type: 'string', format: 'uuid', description: 'id of another user of the tenant' },
  active: { type: 'boolean', description: 'alias of status: true = active, false = suspended' },
  status: { type: 'string', enum: [...USER_STATUSES] },
};

export const userCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['userName'],
  properties: userFields,
} as const;

export const userPatchBody = {
  ...mergePatchOf({ type: 'object', additionalProperties: false, properties: userFields }),
  properties: {
    ...(mergePatchOf({ type: 'object', properties: userFields }).properties as object),
    userName: str(256),
    kind: userFields.kind,
  },
};

const nullableString = { type: ['string', 'null'] };

export const userResponse = {
  $id: 'User',
  type: 'object',
  properties: {
    id: { type: 'string' },
    userName: { type: 'string' },
    externalId: nullableString,
    name: { type: ['object', 'null'], properties: name.properties },
    displayName: nullableString,
    emails: { type: 'array', items: email },
    phoneNumbers: { type: 'array', items: phone },
    addresses: { type: 'array', items: address },
    title: nullableString,
    department: nullableString,
    roles: { type: 'array', items: role },
    location: {
      type: ['object', 'null'],
      properties: { site: nullableString, country: nullableString },
    },
    kind: { type: 'string' },
    manager: nullableString,
    active: { type: 'boolean' },
    status: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    version: { type: 'integer' },
  },
} as const;

export const userListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...pageQuery,
    userName: str(256),
    email: str(320),
    department: str(256),
    role: { ...str(256), description: 'users holding this role (compared without regard to case)' },
    site: str(64),
    country: { type: 'string', pattern: '^[A-Za-z]{2}$' },
    location: str(64),
    kind: { type: 'string', enum: [...USER_KINDS] },
    status: { type: 'string', enum: [...USER_STATUSES] },
    active: { type: 'boolean' },
    externalId: str(256),
  },
} as const;

const groupFields = {
  displayName: str(256),
  externalId: str(256),
  description: str(1024),
};

export const groupCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['displayName'],
  properties: {
    ...groupFields,
    members: { type: 'array', maxItems: 1000, items: { type: 'string', format: 'uuid' } },
  },
} as const;

export const groupPatchBody = mergePatchOf({
  type: 'object',
  additionalProperties: false,
  properties: groupFields,
});

export const groupResponse = {
  $id: 'Group',
  type: 'object',
  properties: {
    id: { type: 'string' },
    displayName: { type: 'string' },
    externalId: nullableString,
    description: nullableString,
    memberCount: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    version: { type: 'integer' },
  },
} as const;

export const groupListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { ...pageQuery, displayName: str(256), externalId: str(256) },
} as const;

export const memberParams = {
  type: 'object',
  required: ['id', 'userId'],
  properties: { id: { type: 'string', format: 'uuid' }, userId: { type: 'string', format: 'uuid' } },
} as const;

export const tenantCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: { name: { type: 'string', minLength: 1, maxLength: 128, pattern: '\\S' } },
} as const;

export const tenantResponse = {
  $id: 'Tenant',
  type: 'object',
  properties: { id: { type: 'string' }, name: { type: 'string' }, createdAt: { type: 'string' } },
} as const;

export { idParams, pageQuery };
