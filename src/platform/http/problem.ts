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

/** Sends a problem+json answer. */
export function sendProblem(request: FastifyRequest, reply: FastifyReply, err: RosterError): FastifyReply {
  const body = problemOf(err, request.id);
  return reply.code(err.status).type('application/problem+json; charset=utf-8').send(JSON.stringify(body));
}
