/** JSON schemas shared by every module's routes (request parts, problem answers, list envelopes). */

export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
    requestId: { type: 'string' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { pointer: { type: 'string' }, detail: { type: 'string' } } },
    },
  },
} as const;

export const pageQuery = {
  limit: { type: 'integer', minimum: 1, maximum: 200, default: 50 },
  cursor: { type: 'string', maxLength: 512 },
} as const;

export const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

export function listOf(item: object): object {
  return {
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: item }, nextCursor: { type: 'string' } },
  };
}

/** The answer of a write that returns nothing. */
export const noContent = { type: 'null', description: 'No Content' } as const;

/** The error answers every authenticated route may give. */
export const errorResponses = {
  400: { $ref: 'Problem#' },
  401: { $ref: 'Problem#' },
  403: { $ref: 'Problem#' },
  404: { $ref: 'Problem#' },
} as const;

export const str = (max = 256) => ({ type: 'string', minLength: 1, maxLength: max }) as const;

/**
 * The merge-patch form of an object schema: every property may also be null (remove it), recursively into
 * nested objects; arrays are replaced whole, so their items stay as they are; nothing is required.
 */
export function mergePatchOf(schema: Record<string, unknown>): Record<string, unknown> {
  const props = (schema.properties ?? {}) as Record<string, Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const [k, p] of Object.entries(props)) {
    const inner = p.type === 'object' ? mergePatchOf(p) : p;
    out[k] = { anyOf: [inner, { type: 'null' }] };
  }
  const { required: _r, ...rest } = schema;
  return { ...rest, properties: out, minProperties: 0 };
}
