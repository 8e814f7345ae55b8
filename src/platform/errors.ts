/**
 * One error model for the whole of Roster. The domain throws a `RosterError` with a stable `code`;
 * each code is declared once below with its title, kind and HTTP status. The edges (REST problem+json,
 * SCIM error schema, CLI exit codes) map kinds and codes once, in one place each.
 */

export const ERROR_KINDS = [
  'invalid_argument',
  'unauthenticated',
  'permission_denied',
  'not_found',
  'conflict',
  'precondition_failed',
  'payload_too_large',
  'unsupported_media_type',
  'resource_exhausted',
  'unavailable',
  'internal',
] as const;
export type ErrorKind = (typeof ERROR_KINDS)[number];

interface ErrorSpec {
  readonly title: string;
  readonly kind: ErrorKind;
  readonly status: number;
}

/** The catalogue of error codes: `<module>.<reason>`. `docs/errors.md` lists every one (a test keeps them in step). */
export const ERROR_CATALOGUE = {
  'request.malformed_json': {
    title: 'The request body is not valid JSON',
    kind: 'invalid_argument',
    status: 400,
  },
  'request.invalid_parameter': {
    title: 'A query or path parameter is not valid',
    kind: 'invalid_argument',
    status: 400,
  },
  'request.validation_failed': {
    title: 'The request body does not match the schema',
    kind: 'invalid_argument',
    status: 422,
  },
  'request.body_too_large': {
    title: 'The request body exceeds the size limit',
    kind: 'payload_too_large',
    status: 413,
  },
  'request.unsupported_media_type': {
    title: 'The request content type is not supported',
    kind: 'unsupported_media_type',
    status: 415,
  },
  'request.not_found': { title: 'No such route', kind: 'not_found', status: 404 },
  'request.uri_too_long': {
    title: 'A path segment of the URL is too long',
    kind: 'invalid_argument',
    status: 414,
  },
  'request.method_not_allowed': {
    title: 'The method is not allowed on this resource',
    kind: 'invalid_argument',
    status: 405,
  },
  'request.invalid_cursor': {
    title: 'The paging cursor is not valid',
    kind: 'invalid_argument',
    status: 400,
  },
  'request.precondition_failed': {
    title: 'The resource has changed since the given version (If-Match)',
    kind: 'precondition_failed',
    status: 412,
  },
  'auth.unauthenticated': {
    title: 'A valid API token is required',
    kind: 'unauthenticated',
    status: 401,
  },
  'auth.forbidden': {
    title: 'The caller lacks the permission this action needs',
    kind: 'permission_denied',
    status: 403,
  },
  'auth.tenant_required': {
    title:
      'This route acts on one tenant: use a tenant token, or name the tenant with the Roster-Tenant header',
    kind: 'permission_denied',
    status: 403,
  },
  'auth.login_failed': {
    title: 'The username or password is wrong, or the account cannot log in',
    kind: 'unauthenticated',
    status: 401,
  },
  'auth.login_throttled': {
    title: 'Too many failed logins: try again after the time Retry-After gives',
    kind: 'resource_exhausted',
    status: 429,
  },
  'auth.challenge_invalid': {
    title: 'The login challenge is unknown, used or expired: log in again',
    kind: 'unauthenticated',
    status: 401,
  },
  'auth.mfa_failed': {
    title: 'The one-time code or recovery code is wrong or was used',
    kind: 'unauthenticated',
    status: 401,
  },
  'auth.csrf_failed': {
    title: 'A write with a session cookie needs the X-CSRF-Token header of that session',
    kind: 'permission_denied',
    status: 403,
  },
  'admins.not_found': { title: 'Admin account not found', kind: 'not_found', status: 404 },
  'admins.username_taken': {
    title: 'An admin account with this username exists in this tenant',
    kind: 'conflict',
    status: 409,
  },
  'admins.weak_password': {
    title: 'The password is too short (at least 12 characters)',
    kind: 'invalid_argument',
    status: 422,
  },
  'admins.invalid_expiry': {
    title: 'A role grant must end in the future',
    kind: 'invalid_argument',
    status: 422,
  },
  'tenants.not_found': { title: 'Tenant not found', kind: 'not_found', status: 404 },
  'tenants.name_taken': { title: 'A tenant with this name exists', kind: 'conflict', status: 409 },
  'tokens.not_found': { title: 'Token not found', kind: 'not_found', status: 404 },
  'roles.not_found': { title: 'Role not found', kind: 'not_found', status: 404 },
  'roles.name_taken': {
    title: 'A role with this name exists (built-in role names are reserved)',
    kind: 'conflict',
    status: 409,
  },
  'roles.built_in': { title: 'Built-in roles cannot be changed or deleted', kind: 'conflict', status: 409 },
  'roles.in_use': {
    title: 'The role is given to a token or admin account; take it away first',
    kind: 'conflict',
    status: 409,
  },
  'roles.unknown': { title: 'No role of this name exists here', kind: 'invalid_argument', status: 422 },
  'roles.platform_only': {
    title: 'This role can only be given to platform credentials',
    kind: 'invalid_argument',
    status: 422,
  },
  'roles.invalid_permission': {
    title: 'Not a tenant permission of the catalogue',
    kind: 'invalid_argument',
    status: 422,
  },
  'tokens.invalid_expiry': {
    title: 'The expiry time must be in the future',
    kind: 'invalid_argument',
    status: 422,
  },
  'identity.user_not_found': { title: 'User not found', kind: 'not_found', status: 404 },
  'identity.group_not_found': { title: 'Group not found', kind: 'not_found', status: 404 },
  'identity.member_not_found': {
    title: 'The user is not a member of the group',
    kind: 'not_found',
    status: 404,
  },
  'identity.user_name_taken': { title: 'The userName is already in use', kind: 'conflict', status: 409 },
  'identity.email_taken': {
    title: 'An e-mail address is already in use by another user',
    kind: 'conflict',
    status: 409,
  },
  'identity.external_id_taken': { title: 'The externalId is already in use', kind: 'conflict', status: 409 },
  'identity.group_name_taken': {
    title: 'A group with this displayName exists',
    kind: 'conflict',
    status: 409,
  },
  'identity.invalid_manager': {
    title: 'The manager must be another existing user of the same tenant',
    kind: 'invalid_argument',
    status: 422,
  },
  'identity.invalid_member': {
    title: 'The member must be an existing user of the same tenant',
    kind: 'invalid_argument',
    status: 422,
  },
  'identity.inconsistent_status': {
    title: 'active and status disagree',
    kind: 'invalid_argument',
    status: 422,
  },
  'licenses.sku_taken': { title: 'A product with this SKU exists', kind: 'conflict', status: 409 },
  'licenses.pool_name_taken': {
    title: 'The product has a pool with this name',
    kind: 'conflict',
    status: 409,
  },
  'licenses.unknown_product': {
    title: 'No product of this tenant has that SKU',
    kind: 'invalid_argument',
    status: 422,
  },
  'licenses.pool_not_found': { title: 'Pool not found', kind: 'not_found', status: 404 },
  'licenses.product_not_found': { title: 'Product not found', kind: 'not_found', status: 404 },
  'licenses.capacity_below_used': {
    title: 'The capacity would be below the seats in use; release seats first',
    kind: 'conflict',
    status: 409,
  },
  'licenses.pool_in_use': {
    title: 'The pool still holds seats; release them first',
    kind: 'conflict',
    status: 409,
  },
  'licenses.already_assigned': {
    title: 'The user already has an assignment of this product',
    kind: 'conflict',
    status: 409,
  },
  'licenses.user_inactive': {
    title: 'Only active users can be given seats',
    kind: 'conflict',
    status: 409,
  },
  'licenses.assignment_not_found': {
    title: 'The user has no assignment of this product',
    kind: 'not_found',
    status: 404,
  },
  'audit.out_of_range': {
    title: 'The index or tree size is beyond the integrated audit log',
    kind: 'invalid_argument',
    status: 422,
  },
  'audit.no_checkpoint': {
    title: 'The audit log has no signed checkpoint yet',
    kind: 'not_found',
    status: 404,
  },
  'reports.invalid_period': {
    title: 'The period must be a month (2026-10) or a quarter (2026-Q4) that has begun',
    kind: 'invalid_argument',
    status: 400,
  },
  'idempotency.key_required': {
    title: 'This request needs an Idempotency-Key header (1-255 printable ASCII characters)',
    kind: 'invalid_argument',
    status: 400,
  },
  'idempotency.key_reused': {
    title: 'The Idempotency-Key was already used with a different request body',
    kind: 'invalid_argument',
    status: 422,
  },
  'request.rate_limited': {
    title: 'Too many requests; retry after the time given in Retry-After',
    kind: 'resource_exhausted',
    status: 429,
  },
  'crypto.integrity': {
    title: 'Stored ciphertext failed its integrity check',
    kind: 'internal',
    status: 500,
  },
  'crypto.unavailable': {
    title: 'The key provider (HSM or key file) is not reachable; nothing was changed',
    kind: 'unavailable',
    status: 503,
  },
  'keys.rotation_running': {
    title: 'A rotation of these keys is already running',
    kind: 'conflict',
    status: 409,
  },
  'keys.job_not_found': { title: 'Key job not found', kind: 'not_found', status: 404 },
  'keys.version_in_use': {
    title: 'That key version still wraps keys, or is the current one; it cannot be destroyed',
    kind: 'conflict',
    status: 409,
  },
  'identity.user_erased': {
    title: 'The user this request created was erased; the answer is gone',
    kind: 'not_found',
    status: 410,
  },
  'erasure.not_found': { title: 'Erasure request not found', kind: 'not_found', status: 404 },
  'scim.invalid_filter': {
    title: 'The SCIM filter is not valid or cannot be answered',
    kind: 'invalid_argument',
    status: 400,
  },
  'scim.invalid_path': {
    title: 'The SCIM attribute path is not valid',
    kind: 'invalid_argument',
    status: 400,
  },
  'scim.invalid_syntax': {
    title: 'The SCIM request is not valid',
    kind: 'invalid_argument',
    status: 400,
  },
  'scim.invalid_value': {
    title: 'A SCIM attribute value is not valid',
    kind: 'invalid_argument',
    status: 400,
  },
  'scim.mutability': {
    title: 'The SCIM attribute cannot be changed',
    kind: 'invalid_argument',
    status: 400,
  },
  'scim.no_target': {
    title: 'The SCIM PATCH path matched no value',
    kind: 'invalid_argument',
    status: 400,
  },
  'scim.too_many': {
    title: 'The SCIM request asks for too many results or operations',
    kind: 'invalid_argument',
    status: 400,
  },
  'scim.bulk_too_large': {
    title: 'The SCIM Bulk request has more operations than maxOperations',
    kind: 'payload_too_large',
    status: 413,
  },
  'store.conflict': {
    title: 'The change conflicts with a concurrent change; retry',
    kind: 'conflict',
    status: 409,
  },
  'store.unavailable': { title: 'The database is not reachable', kind: 'unavailable', status: 503 },
  'server.shutting_down': { title: 'The server is shutting down', kind: 'unavailable', status: 503 },
  'server.internal': { title: 'Internal server error', kind: 'internal', status: 500 },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** A pointer-level detail: which field was wrong and why. Never carries the rejected value (it may be PII). */
export interface FieldError {
  readonly pointer: string;
  readonly detail: string;
}

export class RosterError extends Error {
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly status: number;
  readonly detail: string | undefined;
  readonly errors: readonly FieldError[] | undefined;
  /** For `auth.forbidden`: the permission the caller lacks (a problem extension member). */
  readonly permission: string | undefined;

  constructor(
    code: ErrorCode,
    options: { detail?: string; errors?: FieldError[]; cause?: unknown; permission?: string } = {},
  ) {
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    super(options.detail ?? spec.title, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RosterError';
    this.code = code;
    this.kind = spec.kind;
    this.status = spec.status;
    this.detail = options.detail;
    this.errors = options.errors;
    this.permission = options.permission;
  }

  get title(): string {
    return ERROR_CATALOGUE[this.code].title;
  }
}

export function isRosterError(err: unknown): err is RosterError {
  return err instanceof RosterError;
}

/** The stable problem `type` URI of a code (RFC 9457 §3.1.1). */
export function problemType(code: ErrorCode): string {
  return `urn:roster:problem:${code}`;
}
