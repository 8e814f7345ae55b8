import { serialize } from 'cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { etagOf } from '../../platform/etag.js';
import { errorResponses, idParams, listOf, noContent } from '../../platform/http/schemas.js';
import { contextOf, ifMatchOf } from '../../platform/http/server.js';
import type { GrantInput } from './model.js';
import {
  adminCreateBody,
  adminListQuery,
  adminPatchBody,
  adminResponse,
  enrolBody,
  enrolledResponse,
  loginBody,
  passwordChangeBody,
  passwordStepResponse,
  secondFactorBody,
  sessionResponse,
  sessionViewResponse,
} from './schema.js';
import { type AdminService, LoginThrottledError, type NewSession, SESSION_COOKIE } from './service.js';

const writeErrors = {
  ...errorResponses,
  413: { $ref: 'Problem#' },
  415: { $ref: 'Problem#' },
  422: { $ref: 'Problem#' },
};
const loginErrors = { ...writeErrors, 429: { $ref: 'Problem#' } };

/**
 * Login, sessions and the own password under /api/v1/auth (public routes: they read the session cookie
 * themselves), and admin accounts under /api/v1/admins: `scoped`, a tenant caller manages its tenant's
 * accounts, a platform caller the platform's (or a tenant's, naming it with Roster-Tenant).
 */
export function adminRoutes(app: FastifyInstance, s: { admins: AdminService }): void {
  app.addSchema(adminResponse);
  const admins = s.admins;

  app.post<{ Body: { tenant?: string; username: string; password: string } }>(
    '/api/v1/auth/login',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['auth'],
        security: [],
        description: 'The password step of a login; the same 401 for any unknown name or wrong password',
        body: loginBody,
        response: { 200: passwordStepResponse, ...loginErrors },
      },
    },
    async (req, reply) => {
      const step = await throttled(reply, () => admins.login(req.body, metaOf(req)));
      return reply.header('cache-control', 'no-store').send(step);
    },
  );
  app.post<{ Body: { challenge: string; code?: string; recoveryCode?: string } }>(
    '/api/v1/auth/login/totp',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['auth'],
        security: [],
        description: 'The second-factor step: a TOTP code or a recovery code; sets the session cookie',
        body: secondFactorBody,
        response: { 200: sessionResponse, ...loginErrors },
      },
    },
    async (req, reply) => {
      const session = await throttled(reply, () => admins.verifySecondFactor(req.body, metaOf(req)));
      return sendSession(req, reply, session, {});
    },
  );
  app.post<{ Body: { challenge: string; code: string } }>(
    '/api/v1/auth/totp/enrol',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['auth'],
        security: [],
        description: 'Confirms the proposed TOTP secret with a code; answers the recovery codes once',
        body: enrolBody,
        response: { 200: enrolledResponse, ...loginErrors },
      },
    },
    async (req, reply) => {
      const { recoveryCodes, ...session } = await throttled(reply, () => admins.enrol(req.body, metaOf(req)));
      return sendSession(req, reply, session, { recoveryCodes });
    },
  );
  app.post(
    '/api/v1/auth/logout',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['auth'],
        security: [{ session: [] }],
        description: "Ends the cookie's session (X-CSRF-Token) and clears the cookie",
        response: { 204: noContent, ...errorResponses },
      },
    },
    async (req, reply) => {
      await admins.logout(req.headers.cookie, csrfOf(req), req.id);
      return reply
        .header('set-cookie', sessionCookie(req, '', 0))
        .code(204)
        .send();
    },
  );
  app.get(
    '/api/v1/auth/session',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['auth'],
        security: [{ session: [] }],
        description: 'The session of the cookie, its account and its CSRF token',
        response: { 200: sessionViewResponse, ...errorResponses },
      },
    },
    async (req, reply) =>
      reply.header('cache-control', 'no-store').send(await admins.session(req.headers.cookie)),
  );
  app.post<{ Body: { currentPassword: string; newPassword: string } }>(
    '/api/v1/auth/password',
    {
      config: { auth: 'public' },
      schema: {
        tags: ['auth'],
        security: [{ session: [] }],
        description: "Changes the session's own password; its other sessions end",
        body: passwordChangeBody,
        response: { 204: noContent, ...loginErrors },
      },
    },
    async (req, reply) => {
      await throttled(reply, () =>
        admins.changePassword(req.headers.cookie, csrfOf(req), req.body, metaOf(req)),
      );
      return reply.code(204).send();
    },
  );

  app.post<{ Body: { username: string; password: string; roles?: GrantInput[] } }>(
    '/api/v1/admins',
    {
      config: { auth: 'scoped', permission: 'admins:manage' },
      schema: {
        tags: ['admins'],
        description: 'Creates an admin account; its first login enrols a TOTP second factor',
        body: adminCreateBody,
        response: { 201: { $ref: 'AdminAccount#' }, ...writeErrors },
      },
    },
    async (req, reply) => {
      const account = await admins.create(contextOf(req), req.tenantScope, req.body);
      return reply
        .code(201)
        .header('location', `/api/v1/admins/${account.id}`)
        .header('etag', etagOf(account.version))
        .send(account);
    },
  );
  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/api/v1/admins',
    {
      config: { auth: 'scoped', permission: 'admins:read' },
      schema: {
        tags: ['admins'],
        querystring: adminListQuery,
        response: { 200: listOf({ $ref: 'AdminAccount#' }), ...errorResponses },
      },
    },
    async (req) => {
      const { limit, cursor } = req.query;
      return admins.list(req.tenantScope, { limit, ...(cursor ? { cursor } : {}) });
    },
  );
  app.get<{ Params: { id: string } }>(
    '/api/v1/admins/:id',
    {
      config: { auth: 'scoped', permission: 'admins:read' },
      schema: {
        tags: ['admins'],
        params: idParams,
        response: { 200: { $ref: 'AdminAccount#' }, ...errorResponses },
      },
    },
    async (req, reply) => {
      const account = await admins.get(req.tenantScope, req.params.id);
      return reply.header('etag', etagOf(account.version)).send(account);
    },
  );
  app.patch<{ Params: { id: string }; Body: { roles?: GrantInput[]; disabled?: boolean } }>(
    '/api/v1/admins/:id',
    {
      config: { auth: 'scoped', permission: 'admins:manage' },
      schema: {
        tags: ['admins'],
        description: 'Changes roles or disables the account (which ends its sessions)',
        params: idParams,
        body: adminPatchBody,
        response: { 200: { $ref: 'AdminAccount#' }, ...writeErrors, 412: { $ref: 'Problem#' } },
      },
    },
    async (req, reply) => {
      const account = await admins.update(
        contextOf(req),
        req.tenantScope,
        req.params.id,
        req.body,
        ifMatchOf(req),
      );
      return reply.header('etag', etagOf(account.version)).send(account);
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/api/v1/admins/:id/totp',
    {
      config: { auth: 'scoped', permission: 'admins:manage' },
      schema: {
        tags: ['admins'],
        description: 'Resets the second factor: sessions end, the next login enrols again',
        params: idParams,
        response: { 200: { $ref: 'AdminAccount#' }, ...errorResponses },
      },
    },
    async (req) => admins.resetTotp(contextOf(req), req.tenantScope, req.params.id),
  );
}

function metaOf(req: FastifyRequest): { ip: string; requestId: string } {
  return { ip: req.ip, requestId: req.id };
}

function csrfOf(req: FastifyRequest): string | undefined {
  const v = req.headers['x-csrf-token'];
  return typeof v === 'string' ? v : undefined;
}

/** Runs a login step; a lock answers 429 with Retry-After. */
async function throttled<T>(reply: FastifyReply, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof LoginThrottledError) void reply.header('retry-after', String(err.retryAfterSeconds));
    throw err;
  }
}

/** `Secure` only over TLS (as Fastify sees the connection), else browsers on plain http would drop it. */
function sessionCookie(req: FastifyRequest, value: string, maxAgeSeconds: number): string {
  return serialize(SESSION_COOKIE, value, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    secure: req.protocol === 'https',
    maxAge: maxAgeSeconds,
  });
}

function sendSession(
  req: FastifyRequest,
  reply: FastifyReply,
  session: NewSession,
  extra: Record<string, unknown>,
): FastifyReply {
  return reply
    .header('set-cookie', sessionCookie(req, session.sessionSecret, session.maxAgeSeconds))
    .header('cache-control', 'no-store')
    .send({ csrfToken: session.csrfToken, expiresAt: session.expiresAt, admin: session.admin, ...extra });
}
