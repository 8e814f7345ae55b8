import type { FastifyInstance } from 'fastify';
import { type Db, pingDatabase } from '../db/index.js';
import { RosterError } from '../errors.js';
import type { Metrics } from '../metrics.js';

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
