import type { FastifyInstance } from 'fastify';
import type { Db } from '../platform/db/index.js';
import { errorResponses, listOf, pageQuery } from '../platform/http/schemas.js';
import { decodeSeqCursor, encodeCursor } from '../platform/paging.js';
import type { AuditLog } from './service.js';

const entrySchema = {
  $id: 'AuditEntry',
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    time: { type: 'string' },
    tenantId: { type: ['string', 'null'] },
    actor: { type: 'string' },
    action: { type: 'string' },
    target: { type: 'object', properties: { type: { type: 'string' }, id: { type: ['string', 'null'] } } },
    before: { type: ['object', 'null'], additionalProperties: true },
    after: { type: ['object', 'null'], additionalProperties: true },
    requestId: { type: ['string', 'null'] },
  },
} as const;

/** The audit trail under /api/v1/audit: a tenant's entries, or the platform's for platform tokens. */
export function auditRoutes(app: FastifyInstance, s: { audit: AuditLog; db: Db }): void {
  app.addSchema(entrySchema);
  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/api/v1/audit/entries',
    {
      config: { auth: 'scoped' },
      schema: {
        tags: ['audit'],
        description:
          'Entries in sequence order. Tenant tokens (or platform tokens with Roster-Tenant) see the tenant; platform tokens alone see platform events.',
        querystring: { type: 'object', additionalProperties: false, properties: pageQuery },
        response: { 200: listOf({ $ref: 'AuditEntry#' }), ...errorResponses },
      },
    },
    async (req) => {
      const { items, last } = await s.audit.list(s.db.kysely, req.tenantScope, {
        afterSeq: decodeSeqCursor(req.query.cursor),
        limit: req.query.limit,
      });
      return {
        items: items.map(({ targetType, targetId, ...e }) => ({
          ...e,
          target: { type: targetType, id: targetId },
        })),
        ...(last !== undefined ? { nextCursor: encodeCursor(last) } : {}),
      };
    },
  );
}
