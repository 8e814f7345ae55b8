import type { FastifyInstance } from 'fastify';
import { etagOf } from '../platform/etag.js';
import { errorResponses, listOf } from '../platform/http/schemas.js';
import { contextOf, ifMatchOf, tenantContextOf } from '../platform/http/server.js';
import type { RoleService } from './roles.js';
import {
  idParams,
  roleCreateBody,
  roleNameParams,
  rolePatchBody,
  roleResponse,
  tokenCreateBody,
  tokenCreatedResponse,
  tokenListQuery,
  tokenResponse,
} from './schema.js';
import type { CreateTokenInput, TokenService } from './service.js';

const writeErrors = {
  ...errorResponses,
  413: { $ref: 'Problem#' },
  415: { $ref: 'Problem#' },
  422: { $ref: 'Problem#' },
};

/**
 * API tokens under /api/v1/tokens and roles under /api/v1/roles. Tokens are `scoped`: a tenant caller sees
 * and mints its own tenant's; a platform caller all of them, or one tenant's by naming it.
 */
export function accessRoutes(app: FastifyInstance, s: { tokens: TokenService; roles: RoleService }): void {
  app.addSchema(tokenResponse);
  app.addSchema(roleResponse);

  app.post<{
    Body: {
      tenantId?: string | null;
      name: string;
      roles?: CreateTokenInput['roles'];
      expiresAt?: string | null;
    };
  }>(
    '/api/v1/tokens',
    {
      config: { auth: 'scoped', permission: 'tokens:manage' },
      schema: {
        tags: ['tokens'],
        body: tokenCreateBody,
        response: { 201: tokenCreatedResponse, ...writeErrors },
      },
    },
    async (req, reply) => {
      const { token, secret } = await s.tokens.create(
        contextOf(req),
        {
          tenantId: req.body.tenantId ?? null,
          name: req.body.name,
          roles: req.body.roles ?? [],
          expiresAt: req.body.expiresAt ?? null,
        },
        req.tenantScope,
      );
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...token, token: secret });
    },
  );
  app.get<{ Querystring: { limit: number; cursor?: string; tenantId?: string } }>(
    '/api/v1/tokens',
    {
      config: { auth: 'scoped', permission: 'tokens:manage' },
      schema: {
        tags: ['tokens'],
        querystring: tokenListQuery,
        response: { 200: listOf({ $ref: 'ApiToken#' }), ...errorResponses },
      },
    },
    async (req) => {
      const { limit, cursor, tenantId } = req.query;
      return s.tokens.list(
        tenantId === undefined ? {} : { tenantId },
        { limit, ...(cursor ? { cursor } : {}) },
        req.tenantScope,
      );
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/tokens/:id',
    {
      config: { auth: 'scoped', permission: 'tokens:manage' },
      schema: {
        tags: ['tokens'],
        params: idParams,
        response: { 200: { $ref: 'ApiToken#' }, ...errorResponses },
      },
    },
    async (req) => s.tokens.get(req.params.id, req.tenantScope),
  );
  app.delete<{ Params: { id: string } }>(
    '/api/v1/tokens/:id',
    {
      config: { auth: 'scoped', permission: 'tokens:manage' },
      schema: {
        tags: ['tokens'],
        description: 'Revokes the token at once',
        params: idParams,
        response: { 200: { $ref: 'ApiToken#' }, ...errorResponses },
      },
    },
    async (req) => s.tokens.revoke(contextOf(req), req.params.id, req.tenantScope),
  );

  app.get(
    '/api/v1/roles',
    {
      config: { auth: 'tenant', permission: 'roles:read' },
      schema: {
        tags: ['roles'],
        description: "The built-in roles, then the tenant's custom roles by name",
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: { $ref: 'Role#' } } } },
          ...errorResponses,
        },
      },
    },
    async (req) => ({ items: await s.roles.list(tenantContextOf(req)) }),
  );
  app.post<{ Body: { name: string; description?: string; permissions: string[] } }>(
    '/api/v1/roles',
    {
      config: { auth: 'tenant', permission: 'roles:manage' },
      schema: { tags: ['roles'], body: roleCreateBody, response: { 201: { $ref: 'Role#' }, ...writeErrors } },
    },
    async (req, reply) => {
      const role = await s.roles.create(tenantContextOf(req), req.body);
      return reply
        .code(201)
        .header('location', `/api/v1/roles/${encodeURIComponent(role.name)}`)
        .header('etag', etagOf(role.version as number))
        .send(role);
    },
  );
  app.get<{ Params: { name: string } }>(
    '/api/v1/roles/:name',
    {
      config: { auth: 'tenant', permission: 'roles:read' },
      schema: {
        tags: ['roles'],
        params: roleNameParams,
        response: { 200: { $ref: 'Role#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const role = await s.roles.get(tenantContextOf(req), req.params.name);
      if (role.version !== undefined) void reply.header('etag', etagOf(role.version as number));
      return role;
    },
  );
  app.patch<{ Params: { name: string }; Body: { description?: string; permissions?: string[] } }>(
    '/api/v1/roles/:name',
    {
      config: { auth: 'tenant', permission: 'roles:manage' },
      schema: {
        tags: ['roles'],
        params: roleNameParams,
        body: rolePatchBody,
        response: { 200: { $ref: 'Role#' }, ...writeErrors },
      },
    },
    async (req, reply) => {
      const role = await s.roles.update(tenantContextOf(req), req.params.name, req.body, ifMatchOf(req));
      return reply.header('etag', etagOf(role.version as number)).send(role);
    },
  );
  app.delete<{ Params: { name: string } }>(
    '/api/v1/roles/:name',
    {
      config: { auth: 'tenant', permission: 'roles:manage' },
      schema: {
        tags: ['roles'],
        params: roleNameParams,
        response: { 204: { type: 'null' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      await s.roles.delete(tenantContextOf(req), req.params.name);
      return reply.code(204).send();
    },
  );
}
