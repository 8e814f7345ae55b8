import type { FastifyInstance } from 'fastify';
import { errorResponses, listOf } from '../platform/http/schemas.js';
import { contextOf } from '../platform/http/server.js';
import { idParams, tokenCreateBody, tokenCreatedResponse, tokenListQuery, tokenResponse } from './schema.js';
import type { TokenService } from './service.js';

const writeErrors = {
  ...errorResponses,
  413: { $ref: 'Problem#' },
  415: { $ref: 'Problem#' },
  422: { $ref: 'Problem#' },
};

/** API tokens under /api/v1/tokens (platform tokens until roles gain meaning). */
export function accessRoutes(app: FastifyInstance, s: { tokens: TokenService }): void {
  app.addSchema(tokenResponse);

  app.post<{ Body: { tenantId?: string | null; name: string; roles?: string[]; expiresAt?: string | null } }>(
    '/api/v1/tokens',
    {
      config: { auth: 'platform' },
      schema: {
        tags: ['tokens'],
        body: tokenCreateBody,
        response: { 201: tokenCreatedResponse, ...writeErrors },
      },
    },
    async (req, reply) => {
      const { token, secret } = await s.tokens.create(contextOf(req), {
        tenantId: req.body.tenantId ?? null,
        name: req.body.name,
        roles: req.body.roles ?? [],
        expiresAt: req.body.expiresAt ?? null,
      });
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...token, token: secret });
    },
  );
  app.get<{ Querystring: { limit: number; cursor?: string; tenantId?: string } }>(
    '/api/v1/tokens',
    {
      config: { auth: 'platform' },
      schema: {
        tags: ['tokens'],
        querystring: tokenListQuery,
        response: { 200: listOf({ $ref: 'ApiToken#' }), ...errorResponses },
      },
    },
    async (req) => {
      const { limit, cursor, tenantId } = req.query;
      return s.tokens.list(tenantId === undefined ? {} : { tenantId }, {
        limit,
        ...(cursor ? { cursor } : {}),
      });
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/tokens/:id',
    {
      config: { auth: 'platform' },
      schema: {
        tags: ['tokens'],
        params: idParams,
        response: { 200: { $ref: 'ApiToken#' }, ...errorResponses },
      },
    },
    async (req) => s.tokens.get(req.params.id),
  );
  app.delete<{ Params: { id: string } }>(
    '/api/v1/tokens/:id',
    {
      config: { auth: 'platform' },
      schema: {
        tags: ['tokens'],
        description: 'Revokes the token at once',
        params: idParams,
        response: { 200: { $ref: 'ApiToken#' }, ...errorResponses },
      },
    },
    async (req) => s.tokens.revoke(contextOf(req), req.params.id),
  );
}
