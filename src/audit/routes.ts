import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Clock } from '../platform/clock.js';
import type { Db } from '../platform/db/index.js';
import { RosterError } from '../platform/errors.js';
import { errorResponses, listOf, pageQuery } from '../platform/http/schemas.js';
import { tenantContextOf } from '../platform/http/server.js';
import {
  decodeOrderedSeqCursor,
  decodeSeqCursor,
  encodeCursor,
  encodeOrderedSeqCursor,
} from '../platform/paging.js';
import {
  type Bucket,
  bucketQuery,
  bucketRange,
  bucketStart,
  instantOf,
  MAX_BUCKETS,
} from '../platform/time-buckets.js';
import { type Integrator, originOf } from './integrator.js';
import { type CheckpointRow, type EntryOrder, treeOf } from './model.js';
import type { AuditProofs } from './proofs.js';
import { computeReport, holdersAt, parsePeriod } from './report.js';
import { renderCsv, renderPdf } from './report-render.js';
import type { AuditLog } from './service.js';
import type { LogKeys } from './signing-key.js';

export interface AuditRouteDeps {
  readonly audit: AuditLog;
  readonly db: Db;
  readonly proofs: AuditProofs;
  readonly integrator: Integrator;
  readonly logKeys: LogKeys;
  readonly logName: string;
  /** The tenant's display name (reports carry it). */
  readonly tenantName: (tenantId: string) => Promise<string>;
  readonly clock: Clock;
}

const entrySchema = {
  $id: 'AuditEntry',
  type: 'object',
  properties: {
    seq: { type: 'integer' },
    leafIndex: { type: ['integer', 'null'] },
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

const checkpointSchema = {
  $id: 'AuditCheckpoint',
  type: 'object',
  properties: {
    origin: { type: 'string' },
    treeSize: { type: 'integer' },
    rootHash: { type: 'string', description: 'base64' },
    time: { type: 'string' },
    note: { type: 'string', description: 'The C2SP signed note (checkpoint body and Ed25519 signature)' },
  },
} as const;

const instant = { type: 'string', format: 'date-time' } as const;
/** The filters that the entry list and the activity counts share. */
const whoAndWhat = {
  actor: { type: 'string', minLength: 1, maxLength: 200 },
  action: { type: 'string', minLength: 1, maxLength: 100 },
} as const;
const noQuery = { type: 'object', additionalProperties: false, properties: {} } as const;
const count = { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } as const;
const b64 = (v: Uint8Array): string => Buffer.from(v).toString('base64');
const scopeNote =
  'Tenant tokens (or platform tokens with Roster-Tenant) act on the tenant tree; platform tokens alone on the platform tree.';

function checkpointView(logName: string, tenantId: string | null, c: CheckpointRow) {
  return {
    origin: originOf(logName, tenantId),
    treeSize: c.size,
    rootHash: b64(c.rootHash),
    time: c.at,
    note: c.note,
  };
}

/** Canonical UTC form of an accepted date-time query value. */
/** The audit trail, its Merkle log (checkpoints, proofs, public key) and the reports computed from it. */
export function auditRoutes(app: FastifyInstance, s: AuditRouteDeps): void {
  app.addSchema(entrySchema);
  app.addSchema(checkpointSchema);
  const scope = (req: FastifyRequest) => req.tenantScope;

  app.get<{
    Querystring: {
      limit: number;
      cursor?: string;
      order?: EntryOrder;
      actor?: string;
      action?: string;
      targetType?: string;
      targetId?: string;
      since?: string;
      until?: string;
    };
  }>(
    '/api/v1/audit/entries',
    {
      config: { auth: 'scoped', permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        description: `Entries in sequence order (oldest first, or newest first with order=desc), filtered by actor, action, target and time range. ${scopeNote}`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...pageQuery,
            order: {
              type: 'string',
              enum: ['asc', 'desc'],
              description:
                'asc (default): oldest first; desc: newest first. A cursor goes on in the order its page was read in; another order beside it is a 400.',
            },
            ...whoAndWhat,
            targetType: { type: 'string', minLength: 1, maxLength: 50 },
            targetId: { type: 'string', minLength: 1, maxLength: 200 },
            since: instant,
            until: instant,
          },
        },
        response: { 200: listOf({ $ref: 'AuditEntry#' }), ...errorResponses },
      },
    },
    async (req) => {
      const { limit, cursor, since, until, ...filter } = req.query;
      const from = decodeOrderedSeqCursor(cursor);
      if (from && req.query.order !== undefined && req.query.order !== from.order) {
        throw new RosterError('request.invalid_parameter', {
          detail: `The cursor continues a listing in ${from.order} order; send order=${from.order} or none`,
        });
      }
      const order = from?.order ?? req.query.order ?? 'asc';
      const { items, last } = await s.audit.list(
        s.db.kysely,
        scope(req),
        { fromSeq: from?.seq ?? 0, limit, order },
        {
          ...filter,
          ...(since !== undefined ? { since: instantOf(since) } : {}),
          ...(until !== undefined ? { until: instantOf(until) } : {}),
        },
      );
      return {
        items: items.map(({ targetType, targetId, ...e }) => ({
          ...e,
          target: { type: targetType, id: targetId },
        })),
        ...(last !== undefined ? { nextCursor: encodeOrderedSeqCursor(last, order) } : {}),
      };
    },
  );

  app.get<{
    Querystring: { since?: string; until?: string; bucket: Bucket; action?: string; actor?: string };
  }>(
    '/api/v1/audit/activity',
    {
      config: { auth: 'scoped', permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        description: `How many entries (optionally of one action or actor) fall in each minute or hour of a time range, counted by the database: the console's onboardings and refusals per minute. At most ${MAX_BUCKETS} buckets; buckets without entries are left out. ${scopeNote}`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...bucketQuery,
            ...whoAndWhat,
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              since: { type: 'string' },
              until: { type: 'string' },
              bucket: { type: 'string' },
              total: { type: 'integer' },
              buckets: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: { start: { type: 'string' }, count: { type: 'integer' } },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const { bucket, action, actor } = req.query;
      const { since, until } = bucketRange(req.query, s.clock.now());
      const rows = await s.audit.activity(
        s.db.kysely,
        scope(req),
        {
          since,
          until,
          ...(action !== undefined ? { action } : {}),
          ...(actor !== undefined ? { actor } : {}),
        },
        bucket,
      );
      return {
        since,
        until,
        bucket,
        total: rows.reduce((n, r) => n + r.count, 0),
        buckets: rows.map((r) => ({ start: bucketStart(r.key, bucket), count: r.count })),
      };
    },
  );

  app.get(
    '/api/v1/audit/checkpoints/latest',
    {
      config: { auth: 'scoped', permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        description: `The newest signed checkpoint of the tree. ${scopeNote}`,
        querystring: noQuery,
        response: { 200: { $ref: 'AuditCheckpoint#' }, ...errorResponses },
      },
    },
    async (req) => {
      const tenantId = scope(req);
      return checkpointView(s.logName, tenantId, await s.proofs.latestCheckpoint(treeOf(tenantId)));
    },
  );

  app.get<{ Querystring: { limit: number; cursor?: string; since?: string; until?: string } }>(
    '/api/v1/audit/checkpoints',
    {
      config: { auth: 'scoped', permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        description: `Every signed checkpoint of the tree by size, optionally within a time range. ${scopeNote}`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { ...pageQuery, since: instant, until: instant },
        },
        response: { 200: listOf({ $ref: 'AuditCheckpoint#' }), ...errorResponses },
      },
    },
    async (req) => {
      const tenantId = scope(req);
      const { limit, cursor, since, until } = req.query;
      const rows = await s.proofs.listCheckpoints(treeOf(tenantId), {
        afterSize: decodeSeqCursor(cursor),
        limit: limit + 1,
        ...(since !== undefined ? { since: instantOf(since) } : {}),
        ...(until !== undefined ? { until: instantOf(until) } : {}),
      });
      const items = rows.slice(0, limit);
      const last = items[items.length - 1];
      return {
        items: items.map((c) => checkpointView(s.logName, tenantId, c)),
        ...(rows.length > limit && last ? { nextCursor: encodeCursor(last.size) } : {}),
      };
    },
  );

  app.get(
    '/api/v1/audit/public-key',
    {
      config: { auth: 'any', permission: 'authenticated' },
      schema: {
        tags: ['audit'],
        description:
          'The verifier key of the log (signed-note format, text/plain): `roster audit verify --public-key <file>` reads it.',
        querystring: noQuery,
        response: { 200: { type: 'string' }, ...errorResponses },
      },
    },
    async (_req, reply) => reply.type('text/plain; charset=utf-8').send(`${s.logKeys.publicKey}\n`),
  );

  app.get<{ Querystring: { index: number; treeSize: number } }>(
    '/api/v1/audit/proofs/inclusion',
    {
      config: { auth: 'scoped', permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        description: `RFC 6962 / RFC 9162 inclusion proof of the entry at leaf \`index\` in the tree of size \`treeSize\`. ${scopeNote}`,
        querystring: {
          type: 'object',
          required: ['index', 'treeSize'],
          additionalProperties: false,
          properties: { index: count, treeSize: { ...count, minimum: 1 } },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              leafIndex: { type: 'integer' },
              treeSize: { type: 'integer' },
              leafHash: { type: 'string' },
              rootHash: { type: 'string' },
              hashes: { type: 'array', items: { type: 'string' } },
            },
          },
          422: { $ref: 'Problem#' },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const p = await s.proofs.inclusion(treeOf(scope(req)), req.query.index, req.query.treeSize);
      return {
        leafIndex: p.leafIndex,
        treeSize: p.treeSize,
        leafHash: b64(p.leafHash),
        rootHash: b64(p.rootHash),
        hashes: p.hashes.map(b64),
      };
    },
  );

  app.get<{ Querystring: { from: number; to: number } }>(
    '/api/v1/audit/proofs/consistency',
    {
      config: { auth: 'scoped', permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        description: `RFC 6962 / RFC 9162 consistency proof between the trees of sizes \`from\` and \`to\`. ${scopeNote}`,
        querystring: {
          type: 'object',
          required: ['from', 'to'],
          additionalProperties: false,
          properties: { from: count, to: count },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              from: { type: 'integer' },
              to: { type: 'integer' },
              fromRoot: { type: 'string' },
              toRoot: { type: 'string' },
              hashes: { type: 'array', items: { type: 'string' } },
            },
          },
          422: { $ref: 'Problem#' },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const p = await s.proofs.consistency(treeOf(scope(req)), req.query.from, req.query.to);
      return {
        from: p.from,
        to: p.to,
        fromRoot: b64(p.fromRoot),
        toRoot: b64(p.toRoot),
        hashes: p.hashes.map(b64),
      };
    },
  );

  /** The tenant's latest checkpoint after integrating everything committed so far. */
  const currentCheckpoint = async (tenantId: string) => {
    const c = await s.integrator.catchUp(treeOf(tenantId));
    if (!c) throw new RosterError('audit.no_checkpoint');
    return c;
  };

  app.get<{ Querystring: { product?: string; group?: string; role?: string; at: string } }>(
    '/api/v1/audit/holders',
    {
      config: { auth: 'tenant', permission: 'audit:read' },
      schema: {
        tags: ['audit'],
        description:
          'Who held a product (`product`, a SKU: users and their pools), belonged to a group (`group`, an id: users) or held a role (`role`: the API tokens given it) at instant `at`, replayed from the signed log.',
        querystring: {
          type: 'object',
          required: ['at'],
          additionalProperties: false,
          properties: {
            product: { type: 'string', minLength: 1, maxLength: 64 },
            group: { type: 'string', format: 'uuid' },
            role: { type: 'string', minLength: 1, maxLength: 64 },
            at: instant,
          },
          oneOf: [{ required: ['product'] }, { required: ['group'] }, { required: ['role'] }],
        },
        response: {
          200: {
            type: 'object',
            properties: {
              at: { type: 'string' },
              product: { type: 'string' },
              group: { type: 'string' },
              role: { type: 'string' },
              checkpoint: { $ref: 'AuditCheckpoint#' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    userId: { type: 'string' },
                    tokenId: { type: 'string' },
                    since: { type: 'string' },
                    expiresAt: { type: 'string' },
                    pool: {
                      type: 'object',
                      properties: { id: { type: 'string' }, name: { type: 'string' } },
                    },
                  },
                },
              },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const ctx = tenantContextOf(req);
      const at = instantOf(req.query.at) ?? '';
      const c = await currentCheckpoint(ctx.tenantId);
      const { product, group, role } = req.query;
      const what =
        product !== undefined ? { product } : group !== undefined ? { group } : { role: role ?? '' };
      const answer = await holdersAt(s.db.kysely, ctx.tenantId, c, what, at);
      return { ...what, at, checkpoint: checkpointView(s.logName, ctx.tenantId, c), items: answer.items };
    },
  );

  app.get<{ Querystring: { period: string; format: 'json' | 'csv' | 'pdf'; table?: string } }>(
    '/api/v1/reports/compliance',
    {
      config: { auth: 'tenant', permission: 'reports:read' },
      schema: {
        tags: ['reports'],
        description:
          'The compliance report of the tenant for a month (`2026-10`) or quarter (`2026-Q4`), computed from the log at a signed checkpoint it carries. `format=csv` answers one table (`table`, default `summary`).',
        querystring: {
          type: 'object',
          required: ['period'],
          additionalProperties: false,
          properties: {
            period: { type: 'string', minLength: 7, maxLength: 7 },
            format: { type: 'string', enum: ['json', 'csv', 'pdf'], default: 'json' },
            table: { type: 'string', pattern: '^[a-z_]{1,40}$' },
          },
        },
        response: {
          200: {
            description: 'The report: JSON, a PDF document, or one CSV table',
            content: {
              'application/json': { schema: { type: 'object', additionalProperties: true } },
              'application/pdf': { schema: { type: 'string', format: 'binary' } },
              'text/csv': { schema: { type: 'string' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req, reply) => {
      const ctx = tenantContextOf(req);
      const period = parsePeriod(req.query.period, s.clock.now());
      const c = await currentCheckpoint(ctx.tenantId);
      const report = await computeReport(
        s.db.kysely,
        { id: ctx.tenantId, name: await s.tenantName(ctx.tenantId) },
        period,
        { ...c, origin: originOf(s.logName, ctx.tenantId) },
        s.clock.now().toISOString(),
      );
      const base = `roster-report-${period.label}`;
      if (req.query.format === 'pdf') {
        return reply
          .type('application/pdf')
          .header('content-disposition', `attachment; filename="${base}.pdf"`)
          .send(await renderPdf(report));
      }
      if (req.query.format === 'csv') {
        const name = `${req.query.table ?? 'summary'}.csv`;
        const file = renderCsv(report).find((f) => f.name === name);
        if (!file) {
          throw new RosterError('request.invalid_parameter', {
            detail: `table must be one of ${renderCsv(report)
              .map((f) => f.name.replace(/\.csv$/, ''))
              .join(', ')}`,
          });
        }
        return reply
          .type('text/csv; charset=utf-8; header=present')
          .header('content-disposition', `attachment; filename="${base}-${name}"`)
          .send(file.content);
      }
      return reply.type('application/json; charset=utf-8').send(JSON.stringify(report));
    },
  );
}
