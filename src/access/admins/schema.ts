import { pageQuery } from '../../platform/http/schemas.js';
import { tokenCreateBody } from '../schema.js';
import { PASSWORD_MAX } from './password.js';

const username = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^\\S+$',
  description: 'unique per tenant, whatever its case',
} as const;
const password = { type: 'string', minLength: 1, maxLength: PASSWORD_MAX } as const;
const secretString = { type: 'string', minLength: 1, maxLength: 128 } as const;
/** Role names, or `{role, expiresAt}` for a grant that ends (as for tokens). */
const roles = tokenCreateBody.properties.roles;

export const loginBody = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'password'],
  properties: {
    tenant: {
      type: 'string',
      minLength: 1,
      maxLength: 128,
      description: "the tenant's id or name; absent: a platform admin account",
    },
    username,
    password,
  },
} as const;

export const passwordStepResponse = {
  type: 'object',
  description:
    'The password is right: send a code (or recovery code) with the challenge to /auth/login/totp, or, when ' +
    'enrolment is required, add the secret to an authenticator and confirm a code at /auth/totp/enrol.',
  required: ['mfa', 'challenge'],
  properties: {
    mfa: { type: 'string', enum: ['required', 'enrolment_required'] },
    challenge: { type: 'string' },
    otpauthUri: { type: 'string' },
    secret: { type: 'string' },
  },
} as const;

export const secondFactorBody = {
  type: 'object',
  additionalProperties: false,
  required: ['challenge'],
  oneOf: [{ required: ['code'] }, { required: ['recoveryCode'] }],
  properties: {
    challenge: secretString,
    code: { type: 'string', pattern: '^[0-9]{6}$' },
    recoveryCode: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

export const enrolBody = {
  type: 'object',
  additionalProperties: false,
  required: ['challenge', 'code'],
  properties: { challenge: secretString, code: { type: 'string', pattern: '^[0-9]{6}$' } },
} as const;

export const passwordChangeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['currentPassword', 'newPassword'],
  properties: { currentPassword: password, newPassword: password },
} as const;

const grants = {
  type: 'array',
  items: {
    type: 'object',
    properties: { role: { type: 'string' }, expiresAt: { type: ['string', 'null'] } },
  },
} as const;

export const adminResponse = {
  $id: 'AdminAccount',
  type: 'object',
  properties: {
    id: { type: 'string' },
    tenantId: { type: ['string', 'null'] },
    username: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } },
    roleGrants: grants,
    disabled: { type: 'boolean' },
    totpEnrolled: { type: 'boolean' },
    recoveryCodesLeft: { type: 'integer' },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
    version: { type: 'integer' },
  },
} as const;

export const sessionResponse = {
  type: 'object',
  description: 'The session cookie is set with this answer; send csrfToken as X-CSRF-Token on every write.',
  properties: {
    csrfToken: { type: 'string' },
    expiresAt: { type: 'string' },
    admin: { $ref: 'AdminAccount#' },
  },
} as const;

export const enrolledResponse = {
  type: 'object',
  description: 'As a login, plus the recovery codes: shown in this answer only.',
  properties: {
    ...sessionResponse.properties,
    recoveryCodes: { type: 'array', items: { type: 'string' } },
  },
} as const;

export const sessionViewResponse = {
  type: 'object',
  properties: {
    csrfToken: { type: 'string' },
    createdAt: { type: 'string' },
    lastSeenAt: { type: 'string' },
    expiresAt: { type: 'string' },
    idleExpiresAt: { type: 'string' },
    admin: { $ref: 'AdminAccount#' },
  },
} as const;

export const adminCreateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['username', 'password'],
  properties: { username, password, roles },
} as const;

export const adminPatchBody = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: { roles, disabled: { type: 'boolean' } },
} as const;

export const adminListQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { ...pageQuery },
} as const;
