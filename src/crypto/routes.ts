import type { FastifyInstance } from 'fastify';
import { errorResponses, idParams } from '../platform/http/schemas.js';
import { contextOf } from '../platform/http/server.js';
import type { KeyRotation } from './rotation.js';

const job = {
  $id: 'KeyJob',
  type: 'object',
  description: 'A background rewrap after a key rotation. Holds no key material.',
  required: ['id', 'kind', 'tenantId', 'fromVersion', 'toVersion', 'state', 'total', 'done', 'createdAt'],
  properties: {
    id: { type: 'string' },
    kind: { type: 'string', enum: ['kek', 'tenant'] },
    tenantId: { type: ['string', 'null'] },
    fromVersion: { type: 'integer' },
    toVersion: { type: 'integer' },
    state: { type: 'string', enum: ['running', 'draining', 'done'] },
    total: { type: 'integer', description: 'Rows to rewrap when the job began' },
    done: { type: 'integer', description: 'Rows rewrapped so far' },
    createdAt: { type: 'string', format: 'date-time' },
    heartbeatAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

const keyState = {
  type: 'object',
  required: ['provider', 'currentKekVersion', 'kekVersions', 'tenantKeys', 'jobs'],
  properties: {
    provider: { type: 'string', enum: ['local', 'pkcs11'] },
    currentKekVersion: { type: 'integer' },
    kekVersions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          version: { type: 'integer' },
          createdAt: { type: ['string', 'null'] },
          retiredAt: { type: ['string', 'null'] },
          heldByProvider: { type: 'boolean' },
          tenantKeys: { type: 'integer', description: 'Live tenant keys wrapped under this version' },
        },
      },
    },
    tenantKeys: {
      type: 'object',
      properties: {
        tenants: { type: 'integer' },
        liveVersions: { type: 'integer' },
        retiredVersions: { type: 'integer' },
      },
    },
    jobs: { type: 'array', items: { $ref: 'KeyJob#' } },
  },
} as const;

const tenantKeyState = {
  type: 'object',
  required: ['tenantId', 'versions', 'jobs'],
  properties: {
    tenantId: { type: 'string' },
    versions: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          version: { type: 'integer' },
          kekVersion: { type: 'integer' },
          createdAt: { type: 'string' },
          retiredAt: { type: ['string', 'null'] },
        },
      },
    },
    jobs: { type: 'array', items: { $ref: 'KeyJob#' } },
  },
} as const;

const jobParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', format: 'uuid' } },
} as const;

const rotateErrors = { ...errorResponses, 409: { $ref: 'Problem#' }, 503: { $ref: 'Problem#' } };

/** Key state and rotation, for platform operators (never any key material). */
export function keyRoutes(app: FastifyInstance, rotation: KeyRotation): void {
  app.addSchema(job);
  app.get(
    '/api/v1/keys',
    {
      config: { auth: 'platform', permission: 'keys:read' },
      schema: { tags: ['keys'], response: { 200: keyState, ...errorResponses } },
    },
    async () => rotation.state(),
  );
  app.post(
    '/api/v1/keys/rotate',
    {
      config: { auth: 'platform', permission: 'keys:manage' },
      schema: {
        tags: ['keys'],
        description:
          'Creates a new KEK version in the provider; tenant keys are rewrapped under it in the background (see the job).',
        response: { 202: { $ref: 'KeyJob#' }, ...rotateErrors },
      },
    },
    async (req, reply) => {
      const j = await rotation.rotateKek(contextOf(req));
      rotation.start(j.id);
      return reply.code(202).header('location', `/api/v1/keys/jobs/${j.id}`).send(j);
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/keys/jobs/:id',
    {
      config: { auth: 'platform', permission: 'keys:read' },
      schema: {
        tags: ['keys'],
        params: jobParams,
        response: { 200: { $ref: 'KeyJob#' }, ...errorResponses },
      },
    },
    async (req) => rotation.job(req.params.id),
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/tenants/:id/keys',
    {
      config: { auth: 'platform', permission: 'keys:read' },
      schema: { tags: ['keys'], params: idParams, response: { 200: tenantKeyState, ...errorResponses } },
    },
    async (req) => rotation.tenantState(req.params.id),
  );
  app.post<{ Params: { id: string } }>(
    '/api/v1/tenants/:id/keys/rotate',
    {
      config: { auth: 'platform', permission: 'keys:manage' },
      schema: {
        tags: ['keys'],
        description:
          "Adds a version of the tenant's key; its users are rewritten under it in the background, lookups working throughout.",
        params: idParams,
        response: { 202: { $ref: 'KeyJob#' }, ...rotateErrors },
      },
    },
    async (req, reply) => {
      const j = await rotation.rotateTenantKey(contextOf(req), req.params.id);
      rotation.start(j.id);
      return reply.code(202).header('location', `/api/v1/keys/jobs/${j.id}`).send(j);
    },
  );
}
