import type { FastifyInstance } from 'fastify';
import type { Clock } from '../clock.js';
import { type Db, pingDatabase } from '../db/index.js';
import { RosterError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import { type Bucket, bucketQuery, bucketRange, bucketStart, MAX_BUCKETS } from '../time-buckets.js';
import { countRequestsBy, PLATFORM_SCOPE } from './request-counts.js';
import { errorResponses } from './schemas.js';

/** Probes: /healthz (the process serves) and /readyz (the database answers). Both without a token. */
export function systemRoutes(app: FastifyInstance, deps: { db: Db; metrics: Metrics }): void {
  const probe = { type: 'object', properties: { status: { type: 'string' } } } as const;
  app.get(
    '/healthz',
    { config: { auth: 'public' }, schema: { tags: ['operations'], security: [], response: { 200: probe } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      config: { auth: 'public' },
      schema: { tags: ['operations'], security: [], response: { 200: probe, 503: { $ref: 'Problem#' } } },
    },
    async () => {
      if (!(await pingDatabase(deps.db))) throw new RosterError('store.unavailable');
      return { status: 'ready' };
    },
  );
  app.get(
    '/api/v1/openapi.json',
    { config: { auth: 'any', permission: 'authenticated' }, schema: { hide: true } },
    async () => app.swagger(),
  );
  app.get(
    '/metrics',
    {
      config: { auth: 'platform', permission: 'metrics:read' },
      schema: { tags: ['operations'], description: 'Prometheus metrics (platform token)' },
    },
    async (_req, reply) =>
      reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics()),
  );
}

const count = { type: 'integer', minimum: 0 } as const;

/**
 * GET /api/v1/requests/activity: the requests answered in the caller's scope per minute or hour, by outcome,
 * as every node counted them (src/platform/http/request-counts.ts). Same range rules as /api/v1/audit/activity.
 */
export function requestActivityRoutes(app: FastifyInstance, deps: { db: Db; clock: Clock }): void {
  app.get<{ Querystring: { since?: string; until?: string; bucket: Bucket } }>(
    '/api/v1/requests/activity',
    {
      config: { auth: 'scoped', permission: 'tenants:read' },
      schema: {
        tags: ['operations'],
        description: `Requests answered in each minute or hour of a time range, with the client errors (4xx but 429), server errors (5xx) and throttled requests (429) among them, as all nodes counted them (written every few seconds). A minute counts when its start lies in [since, until). At most ${MAX_BUCKETS} buckets; buckets without requests are left out. Requests refused before their tenant is known (401) are not counted. Tenant tokens (or platform tokens with Roster-Tenant) see the tenant's figures; platform tokens alone the platform scope's.`,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...bucketQuery,
          },
        },
        response: {
          200: {
            type: 'object',
            properties: {
              bucket: { type: 'string' },
              since: { type: 'string' },
              until: { type: 'string' },
              items: {
                type: 'array',
                items: {
                  type: 'object',
                  properties: {
                    start: { type: 'string' },
                    requests: count,
                    clientErrors: count,
                    serverErrors: count,
                    throttled: count,
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
      const { bucket } = req.query;
      const { since, until } = bucketRange(req.query, deps.clock.now());
      const rows = await countRequestsBy(
        deps.db.kysely,
        req.tenantScope ?? PLATFORM_SCOPE,
        { since, until },
        bucket,
      );
      return {
        bucket,
        since,
        until,
        items: rows.map(({ key, ...counts }) => ({ start: bucketStart(key, bucket), ...counts })),
      };
    },
  );
}
