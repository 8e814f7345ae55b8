import type { FastifyInstance, FastifyReply } from 'fastify';
import { RosterError } from '../platform/errors.js';
import { errorResponses, listOf, noContent } from '../platform/http/schemas.js';
import { contextOf, ifMatchOf, sendNoContent, tenantContextOf } from '../platform/http/server.js';
import { etagOf, type GroupInput, type UserInput } from './model.js';
import { presentGroup, presentTenant, presentUser } from './present.js';
import {
  groupCreateBody,
  groupListQuery,
  groupPatchBody,
  groupResponse,
  idParams,
  memberParams,
  pageQuery,
  tenantCreateBody,
  tenantResponse,
  userCreateBody,
  userListQuery,
  userPatchBody,
  userResponse,
} from './schema.js';
import type { GroupService, TenantService, UserQuery, UserService } from './service.js';

export interface IdentityServices {
  readonly tenants: TenantService;
  readonly users: UserService;
  readonly groups: GroupService;
}

type Id = { id: string };

const erasureResponse = {
  type: 'object',
  required: ['id', 'userId', 'state', 'requestedBy', 'requestedAt', 'completedAt'],
  properties: {
    id: { type: 'string' },
    userId: { type: 'string' },
    state: { type: 'string', enum: ['completed'] },
    requestedBy: { type: 'string' },
    requestedAt: { type: 'string', format: 'date-time' },
    completedAt: { type: 'string', format: 'date-time' },
  },
} as const;
type Paged = { limit: number; cursor?: string };

const writeErrors = {
  ...errorResponses,
  409: { $ref: 'Problem#' },
  412: { $ref: 'Problem#' },
  413: { $ref: 'Problem#' },
  415: { $ref: 'Problem#' },
  422: { $ref: 'Problem#' },
};

function withEtag(reply: FastifyReply, version: number): FastifyReply {
  return reply.header('etag', etagOf(version));
}

/** Tenants (platform), users and groups (tenant) under /api/v1. */
export function identityRoutes(app: FastifyInstance, s: IdentityServices): void {
  app.addSchema(userResponse);
  app.addSchema(groupResponse);
  app.addSchema(tenantResponse);

  // ---- tenants
  app.post<{ Body: { name: string } }>(
    '/api/v1/tenants',
    {
      config: { auth: 'platform', permission: 'tenants:manage' },
      schema: {
        tags: ['tenants'],
        body: tenantCreateBody,
        response: { 201: { $ref: 'Tenant#' }, ...writeErrors },
      },
    },
    async (req, reply) =>
      reply.code(201).send(presentTenant(await s.tenants.create(contextOf(req), req.body))),
  );
  app.get<{ Querystring: Paged }>(
    '/api/v1/tenants',
    {
      config: { auth: 'platform', permission: 'tenants:manage' },
      schema: {
        tags: ['tenants'],
        querystring: { type: 'object', additionalProperties: false, properties: pageQuery },
        response: { 200: listOf({ $ref: 'Tenant#' }), ...errorResponses },
      },
    },
    async (req) => {
      const page = await s.tenants.list(req.query);
      return { ...page, items: page.items.map(presentTenant) };
    },
  );
  app.get<{ Params: Id }>(
    '/api/v1/tenants/:id',
    {
      config: { auth: 'any', permission: 'tenants:read' },
      schema: {
        tags: ['tenants'],
        params: idParams,
        response: { 200: { $ref: 'Tenant#' }, ...errorResponses },
      },
    },
    async (req) => {
      // A tenant token sees its own tenant only; another tenant's id answers 404 like any unknown id.
      const actor = contextOf(req).actor;
      if (actor.tenantId !== null && actor.tenantId !== req.params.id)
        throw new RosterError('tenants.not_found');
      return presentTenant(await s.tenants.get(undefined, req.params.id));
    },
  );

  // ---- users
  app.post<{ Body: UserInput }>(
    '/api/v1/users',
    {
      config: { auth: 'tenant', permission: 'users:write' },
      schema: { tags: ['users'], body: userCreateBody, response: { 201: { $ref: 'User#' }, ...writeErrors } },
    },
    async (req, reply) => {
      const user = await s.users.create(tenantContextOf(req), req.body);
      return withEtag(reply.code(201).header('location', `/api/v1/users/${user.id}`), user.version).send(
        presentUser(user),
      );
    },
  );
  app.get<{ Querystring: UserQuery & Paged }>(
    '/api/v1/users',
    {
      config: { auth: 'tenant', permission: 'users:read' },
      schema: {
        tags: ['users'],
        querystring: userListQuery,
        response: { 200: listOf({ $ref: 'User#' }), ...errorResponses },
      },
    },
    async (req) => {
      const { limit, cursor, ...query } = req.query;
      const page = await s.users.list(tenantContextOf(req), query, { limit, ...(cursor ? { cursor } : {}) });
      return { ...page, items: page.items.map(presentUser) };
    },
  );
  app.get<{ Params: Id }>(
    '/api/v1/users/:id',
    {
      config: { auth: 'tenant', permission: 'users:read' },
      schema: { tags: ['users'], params: idParams, response: { 200: { $ref: 'User#' }, ...errorResponses } },
    },
    async (req, reply) => {
      const user = await s.users.get(tenantContextOf(req), req.params.id);
      return withEtag(reply, user.version).send(presentUser(user));
    },
  );
  app.patch<{ Params: Id; Body: UserInput }>(
    '/api/v1/users/:id',
    {
      // Helpdesk: a patch of the status alone (suspend, reactivate) needs only users:status.
      config: {
        auth: 'tenant',
        permission: 'users:write',
        narrower: { permission: 'users:status', fields: ['active', 'status'] },
      },
      schema: {
        tags: ['users'],
        description: 'RFC 7396 merge patch (application/merge-patch+json or application/json)',
        params: idParams,
        body: userPatchBody,
        response: { 200: { $ref: 'User#' }, ...writeErrors },
      },
    },
    async (req, reply) => {
      const user = await s.users.update(tenantContextOf(req), req.params.id, req.body, ifMatchOf(req));
      return withEtag(reply, user.version).send(presentUser(user));
    },
  );
  app.delete<{ Params: Id; Querystring: { erase?: boolean } }>(
    '/api/v1/users/:id',
    {
      config: { auth: 'tenant', permission: 'users:delete' },
      schema: {
        tags: ['users'],
        description:
          'Deletes the user (users:delete). With `erase=true` (also users:erase) the user is erased for good (GDPR Art. 17): their data key is destroyed and an erasure record is kept (Location header).',
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { erase: { type: 'boolean', default: false } },
        },
        response: { 204: noContent, ...writeErrors },
      },
    },
    async (req, reply) => {
      if (req.query.erase) {
        await req.requirePermission('users:erase');
        const record = await s.users.erase(tenantContextOf(req), req.params.id, ifMatchOf(req));
        reply.header('location', `/api/v1/erasure-requests/${record.id}`);
      } else await s.users.delete(tenantContextOf(req), req.params.id, ifMatchOf(req));
      return sendNoContent(reply);
    },
  );

  // ---- erasure requests (GDPR Art. 17)
  app.post<{ Body: { userId: string } }>(
    '/api/v1/erasure-requests',
    {
      config: { auth: 'tenant', permission: 'users:erase' },
      schema: {
        tags: ['users'],
        description:
          "Erases a person's data for good: seats released, memberships and stored answers removed, the user's data key destroyed. Audit entries (masked) stay and still verify.",
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['userId'],
          properties: { userId: { type: 'string', format: 'uuid' } },
        },
        response: { 201: erasureResponse, ...writeErrors },
      },
    },
    async (req, reply) => {
      const record = await s.users.erase(tenantContextOf(req), req.body.userId);
      return reply.code(201).header('location', `/api/v1/erasure-requests/${record.id}`).send(record);
    },
  );
  app.get<{ Querystring: Paged }>(
    '/api/v1/erasure-requests',
    {
      config: { auth: 'tenant', permission: 'users:erase' },
      schema: {
        tags: ['users'],
        querystring: { type: 'object', additionalProperties: false, properties: pageQuery },
        response: { 200: listOf(erasureResponse), ...errorResponses },
      },
    },
    async (req) => s.users.erasures(tenantContextOf(req), req.query),
  );
  app.get<{ Params: Id }>(
    '/api/v1/erasure-requests/:id',
    {
      config: { auth: 'tenant', permission: 'users:erase' },
      schema: { tags: ['users'], params: idParams, response: { 200: erasureResponse, ...errorResponses } },
    },
    async (req) => s.users.erasure(tenantContextOf(req), req.params.id),
  );
  app.get<{ Params: Id }>(
    '/api/v1/users/:id/groups',
    {
      config: { auth: 'tenant', permission: 'users:read' },
      schema: {
        tags: ['users'],
        params: idParams,
        response: {
          200: { type: 'object', properties: { items: { type: 'array', items: { $ref: 'Group#' } } } },
          ...errorResponses,
        },
      },
    },
    async (req) => {
      const ctx = tenantContextOf(req);
      const ids = await s.users.groupsOf(ctx, req.params.id);
      const groups = await Promise.all(ids.map((id) => s.groups.get(ctx, id)));
      return { items: groups.map(presentGroup) };
    },
  );

  // ---- groups
  app.post<{ Body: GroupInput }>(
    '/api/v1/groups',
    {
      config: { auth: 'tenant', permission: 'groups:write' },
      schema: {
        tags: ['groups'],
        body: groupCreateBody,
        response: { 201: { $ref: 'Group#' }, ...writeErrors },
      },
    },
    async (req, reply) => {
      const group = await s.groups.create(tenantContextOf(req), req.body);
      return withEtag(reply.code(201).header('location', `/api/v1/groups/${group.id}`), group.version).send(
        presentGroup(group),
      );
    },
  );
  app.get<{ Querystring: { displayName?: string; externalId?: string } & Paged }>(
    '/api/v1/groups',
    {
      config: { auth: 'tenant', permission: 'groups:read' },
      schema: {
        tags: ['groups'],
        querystring: groupListQuery,
        response: { 200: listOf({ $ref: 'Group#' }), ...errorResponses },
      },
    },
    async (req) => {
      const { limit, cursor, ...filter } = req.query;
      const page = await s.groups.list(tenantContextOf(req), filter, {
        limit,
        ...(cursor ? { cursor } : {}),
      });
      return { ...page, items: page.items.map(presentGroup) };
    },
  );
  app.get<{ Params: Id }>(
    '/api/v1/groups/:id',
    {
      config: { auth: 'tenant', permission: 'groups:read' },
      schema: {
        tags: ['groups'],
        params: idParams,
        response: { 200: { $ref: 'Group#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const group = await s.groups.get(tenantContextOf(req), req.params.id);
      return withEtag(reply, group.version).send(presentGroup(group));
    },
  );
  app.patch<{ Params: Id; Body: GroupInput }>(
    '/api/v1/groups/:id',
    {
      config: { auth: 'tenant', permission: 'groups:write' },
      schema: {
        tags: ['groups'],
        params: idParams,
        body: groupPatchBody,
        response: { 200: { $ref: 'Group#' }, ...writeErrors },
      },
    },
    async (req, reply) => {
      const group = await s.groups.update(tenantContextOf(req), req.params.id, req.body, ifMatchOf(req));
      return withEtag(reply, group.version).send(presentGroup(group));
    },
  );
  app.delete<{ Params: Id }>(
    '/api/v1/groups/:id',
    {
      config: { auth: 'tenant', permission: 'groups:write' },
      schema: { tags: ['groups'], params: idParams, response: { 204: noContent, ...writeErrors } },
    },
    async (req, reply) => {
      await s.groups.delete(tenantContextOf(req), req.params.id, ifMatchOf(req));
      return sendNoContent(reply);
    },
  );
  app.get<{ Params: Id; Querystring: Paged }>(
    '/api/v1/groups/:id/members',
    {
      config: { auth: 'tenant', permission: 'groups:read' },
      schema: {
        tags: ['groups'],
        params: idParams,
        querystring: { type: 'object', additionalProperties: false, properties: pageQuery },
        response: {
          200: listOf({
            type: 'object',
            properties: { userId: { type: 'string' }, addedAt: { type: 'string' } },
          }),
          ...errorResponses,
        },
      },
    },
    async (req) => s.groups.members(tenantContextOf(req), req.params.id, req.query),
  );
  app.put<{ Params: { id: string; userId: string } }>(
    '/api/v1/groups/:id/members/:userId',
    {
      config: { auth: 'tenant', permission: 'groups:write' },
      schema: { tags: ['groups'], params: memberParams, response: { 204: noContent, ...writeErrors } },
    },
    async (req, reply) => {
      await s.groups.addMember(tenantContextOf(req), req.params.id, req.params.userId);
      return sendNoContent(reply);
    },
  );
  app.delete<{ Params: { id: string; userId: string } }>(
    '/api/v1/groups/:id/members/:userId',
    {
      config: { auth: 'tenant', permission: 'groups:write' },
      schema: { tags: ['groups'], params: memberParams, response: { 204: noContent, ...writeErrors } },
    },
    async (req, reply) => {
      await s.groups.removeMember(tenantContextOf(req), req.params.id, req.params.userId);
      return sendNoContent(reply);
    },
  );
}
