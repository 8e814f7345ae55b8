import type { FastifyInstance } from 'fastify';
import { presentUser } from '../identity/present.js';
import { userCreateBody } from '../identity/schema.js';
import { presentAssignment } from '../licenses/present.js';
import { skuSchema } from '../licenses/schema.js';
import { RosterError } from '../platform/errors.js';
import { errorResponses, idParams } from '../platform/http/schemas.js';
import { tenantContextOf } from '../platform/http/server.js';
import type { LifecycleService, OnboardingInput } from './service.js';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

const onboardingBody = {
  type: 'object',
  additionalProperties: false,
  required: ['user'],
  properties: {
    user: userCreateBody,
    products: { type: 'array', maxItems: 50, items: skuSchema, default: [] },
  },
} as const;

const onboardingResponse = {
  type: 'object',
  properties: {
    user: { $ref: 'User#' },
    assignments: { type: 'array', items: { $ref: 'Assignment#' } },
  },
} as const;

/** Joiner and leaver use cases under /api/v1. */
export function lifecycleRoutes(app: FastifyInstance, s: { lifecycle: LifecycleService }): void {
  app.post<{ Body: OnboardingInput }>(
    '/api/v1/onboardings',
    {
      config: { auth: 'tenant', permission: 'onboarding:run' },
      schema: {
        tags: ['lifecycle'],
        description:
          'Creates the user and, in the same transaction, a seat (or waitlist place) per product. Requires an Idempotency-Key header: a replay with the same key and body returns the first answer and creates nothing; the same key with another body gets 422. Keys are kept 24 h.',
        headers: {
          type: 'object',
          properties: {
            'idempotency-key': { type: 'string', description: '1-255 printable ASCII characters' },
          },
        },
        body: onboardingBody,
        response: {
          201: onboardingResponse,
          ...errorResponses,
          409: { $ref: 'Problem#' },
          413: { $ref: 'Problem#' },
          415: { $ref: 'Problem#' },
          422: { $ref: 'Problem#' },
          429: { $ref: 'Problem#' },
        },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'];
      if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key))
        throw new RosterError('idempotency.key_required');
      const answer = await s.lifecycle.onboard(tenantContextOf(req), req.body, key);
      if (answer.replayed) void reply.header('idempotency-replayed', 'true');
      // The stored bytes, as first answered: a replay is byte-for-byte the first response.
      return reply.code(answer.status).type('application/json; charset=utf-8').send(answer.body);
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/v1/users/:id/offboard',
    {
      config: { auth: 'tenant', permission: 'users:offboard' },
      schema: {
        tags: ['lifecycle'],
        description:
          'Deprovisions the user and releases every seat at once; released seats go to the waitlist.',
        params: idParams,
        response: {
          200: {
            type: 'object',
            properties: {
              user: { $ref: 'User#' },
              released: { type: 'array', items: { $ref: 'Assignment#' } },
            },
          },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const { user, released } = await s.lifecycle.offboard(tenantContextOf(req), req.params.id);
      return { user: presentUser(user), released: released.map(presentAssignment) };
    },
  );
}
