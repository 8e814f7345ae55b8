import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { mapDriverError } from '../db/errors.js';
import { type ErrorCode, type FieldError, problemType, RosterError } from '../errors.js';

/** An RFC 9457 problem details body. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  code: ErrorCode;
  requestId?: string;
  errors?: readonly FieldError[];
  /** The missing permission, on `auth.forbidden`. */
  permission?: string;
}

interface AjvLikeError {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function escapePointer(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Turns schema-validation errors into field errors with JSON pointers, never echoing a value. */
export function fieldErrorsFromValidation(errors: readonly AjvLikeError[]): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    let pointer = e.instancePath ?? '';
    let detail = e.message ?? 'is not valid';
    if (e.keyword === 'required' && typeof e.params?.missingProperty === 'string') {
      pointer += `/${escapePointer(e.params.missingProperty)}`;
      detail = 'is required';
    } else if (e.keyword === 'additionalProperties' && typeof e.params?.additionalProperty === 'string') {
      pointer += `/${escapePointer(e.params.additionalProperty)}`;
      detail = 'is not a recognised or writable field';
    }
    if (!out.some((o) => o.pointer === pointer && o.detail === detail)) out.push({ pointer, detail });
  }
  return out;
}

/**
 * Maps anything thrown while serving a request to a RosterError. Fastify's own errors are recognised by
 * code; anything unknown becomes server.internal (its cause goes to the log, never to the client).
 */
export function toRosterError(err: unknown): RosterError {
  const mapped = mapDriverError(err);
  if (mapped instanceof RosterError) return mapped;
  const fe = mapped as Partial<FastifyError> & { validation?: AjvLikeError[]; validationContext?: string };
  if (fe && Array.isArray(fe.validation)) {
    const errors = fieldErrorsFromValidation(fe.validation);
    return fe.validationContext === 'body'
      ? new RosterError('request.validation_failed', { errors })
      : new RosterError('request.invalid_parameter', {
          errors: errors.map((e) => ({ ...e, pointer: `/${fe.validationContext ?? ''}${e.pointer}` })),
        });
  }
  switch (fe?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new RosterError('request.unsupported_media_type', { cause: err });
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new RosterError('request.body_too_large', { cause: err });
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new RosterError('request.malformed_json', { detail: 'The body is empty', cause: err });
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new RosterError('request.malformed_json', { cause: err });
    default:
  }
  if (err instanceof SyntaxError || (fe?.statusCode === 400 && fe.code === undefined)) {
    return new RosterError('request.malformed_json', { cause: err });
  }
  if (fe?.statusCode === 503) return new RosterError('server.shutting_down', { cause: err });
  if (fe?.statusCode === 413) return new RosterError('request.body_too_large', { cause: err });
  if (fe?.statusCode === 415) return new RosterError('request.unsupported_media_type', { cause: err });
  if (typeof fe?.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new RosterError('request.invalid_parameter', { cause: err });
  }
  return new RosterError('server.internal', { cause: err });
}

export function problemOf(err: RosterError, requestId?: string): Problem {
  return {
    type: problemType(err.code),
    title: err.title,
    status: err.status,
    ...(err.detail !== undefined && err.status < 500 ? { detail: err.detail } : {}),
    code: err.code,
    ...(requestId ? { requestId } : {}),
    ...(err.errors && err.errors.length > 0 ? { errors: err.errors } : {}),
    ...(err.permission !== undefined ? { permission: err.permission } : {}),
  };
}

/** The SCIM error message schema (RFC 7644 §3.12). */
export const SCIM_ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The `scimType` of each code that has one (RFC 7644 §3.12, table 9). */
const SCIM_TYPES: Partial<Record<ErrorCode, string>> = {
  'scim.invalid_filter': 'invalidFilter',
  'scim.invalid_path': 'invalidPath',
  'scim.invalid_syntax': 'invalidSyntax',
  'scim.invalid_value': 'invalidValue',
  'scim.mutability': 'mutability',
  'scim.no_target': 'noTarget',
  'scim.too_many': 'tooMany',
  'request.malformed_json': 'invalidSyntax',
  'request.validation_failed': 'invalidValue',
  'request.invalid_parameter': 'invalidValue',
  'identity.user_name_taken': 'uniqueness',
  'identity.email_taken': 'uniqueness',
  'identity.external_id_taken': 'uniqueness',
  'identity.group_name_taken': 'uniqueness',
  'identity.invalid_manager': 'invalidValue',
  'identity.invalid_member': 'invalidValue',
  'identity.inconsistent_status': 'invalidValue',
};

/** A SCIM error body (RFC 7644 §3.12): `status` is a string; `scimType` for 400s and 409 `uniqueness`. */
export interface ScimError {
  schemas: [typeof SCIM_ERROR_SCHEMA];
  status: string;
  scimType?: string;
  detail: string;
  /** Roster's code and request id, as in problem+json, for support and clients that switch on them. */
  code: ErrorCode;
  requestId?: string;
  /** On `auth.forbidden`: the permission the caller lacks, as in problem+json. */
  permission?: string;
}

/**
 * An error as SCIM answers it. SCIM has no 422: a body that fails validation is 400 `invalidValue`.
 * Field errors join the detail as pointers (never values).
 */
export function scimErrorOf(err: RosterError, requestId?: string): ScimError {
  const status = err.status === 422 ? 400 : err.status;
  const scimType = SCIM_TYPES[err.code];
  const fields = err.errors?.map((e) => `${e.pointer || '/'}: ${e.detail}`).join('; ');
  const base = err.detail !== undefined && err.status < 500 ? err.detail : err.title;
  return {
    schemas: [SCIM_ERROR_SCHEMA],
    status: String(status),
    ...(scimType !== undefined ? { scimType } : {}),
    detail: fields ? `${base} (${fields})` : base,
    code: err.code,
    ...(requestId ? { requestId } : {}),
    ...(err.permission !== undefined ? { permission: err.permission } : {}),
  };
}

/** Requests under this prefix get SCIM errors instead of problem+json. */
export const SCIM_PREFIX = '/scim/v2';

/** Sends a problem+json answer (the SCIM error schema under /scim/v2). */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, err: RosterError): FastifyReply {
  if (
    request.url === SCIM_PREFIX ||
    request.url.startsWith(`${SCIM_PREFIX}/`) ||
    request.url.startsWith(`${SCIM_PREFIX}?`)
  ) {
    const scim = scimErrorOf(err, request.id);
    return reply
      .code(Number(scim.status))
      .type('application/scim+json; charset=utf-8')
      .send(JSON.stringify(scim));
  }
  const body = problemOf(err, request.id);
  return reply.code(err.status).type('application/problem+json; charset=utf-8').send(JSON.stringify(body));
}
