import helmet from '@fastify/helmet';
import { Ajv } from 'ajv';
import formatsPlugin from 'ajv-formats';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import type { Logger } from 'pino';
import type { Actor, Context, TenantContext } from '../context.js';
import { RosterError } from '../errors.js';
import { newId } from '../ids.js';
import type { Metrics } from '../metrics.js';
import { registerJsonParsers } from './body.js';
import { sendProblem, toRosterError } from './problem.js';
import type { RateLimiter } from './rate-limit.js';
import { PLATFORM_SCOPE } from './request-counts.js';

/**
 * Who may call a route:
 * - `public`: anybody (health probes only);
 * - `any`: any valid token;
 * - `platform`: a platform-wide token;
 * - `tenant`: a tenant token, or a platform token that names the tenant in the `Roster-Tenant` header;
 * - `scoped`: as `tenant` when a tenant is in play, else the platform scope.
 */
export type AuthMode = 'public' | 'any' | 'platform' | 'tenant' | 'scoped';

declare module 'fastify' {
  interface FastifyRequest {
    actor: Actor | null;
    /** The tenant the request acts on, resolved by the auth hook (null: platform scope). */
    tenantScope: string | null;
    /** True once the auth hook has resolved `tenantScope` (false on public routes and for requests refused before). */
    scopeResolved: boolean;
    /** For a handler whose action needs more than its route's permission: 403 naming it when missing. */
    requirePermission: (permission: string) => Promise<void>;
  }
  interface FastifyContextConfig {
    auth?: AuthMode;
    /**
     * The permission the route needs (docs/permissions.md), or `authenticated` for anything any valid
     * credential may read. Every route but `public` ones must name one: registration fails otherwise.
     */
    permission?: string;
    /**
     * A narrower permission that also suffices when the JSON body touches only `fields` (e.g. helpdesk's
     * `users:status` for a PATCH of `active`/`status` alone); checked once the body is parsed.
     */
    narrower?: Narrower;
  }
  interface FastifyInstance {
    /** Every route registered, with its auth mode: the table that authorisation tests are generated from. */
    routeTable: RouteEntry[];
  }
}

export interface RouteEntry {
  readonly method: string;
  readonly url: string;
  readonly auth: AuthMode;
  /** The permission the route needs; undefined for `public` routes. */
  readonly permission: string | undefined;
  readonly narrower?: Narrower;
}

export interface Narrower {
  readonly permission: string;
  readonly fields: readonly string[];
}

/** What a route may name instead of a permission: any valid credential passes. */
export const ANY_AUTHENTICATED = 'authenticated';

export interface HttpDeps {
  readonly logger: Logger;
  readonly bodyLimit: number;
  /** Resolves a presented bearer secret to an actor, or null. */
  readonly authenticate: (secret: string) => Promise<Actor | null>;
  /**
   * Without an Authorization header: the admin session the cookie names, or null. Throws `auth.csrf_failed`
   * for a write that lacks the session's X-CSRF-Token.
   */
  readonly authenticateSession?: (
    cookieHeader: string | undefined,
    method: string,
    csrfHeader: string | undefined,
  ) => Promise<Actor | null>;
  /** True when the tenant exists (for platform tokens naming a tenant). */
  readonly tenantExists: (id: string) => Promise<boolean>;
  /**
   * Whether `actor`, acting on `tenantScope` (null: the platform), holds `permission`. Platform
   * credentials may name a tenant only when they hold `tenants:act`.
   */
  readonly authorize: (actor: Actor, tenantScope: string | null, permission: string) => Promise<boolean>;
  /** Requests per second per tenant and per node (0: off), enforced here for every authenticated route. */
  readonly rateLimits: { readonly tenant: number; readonly global: number };
  readonly limiter: RateLimiter;
  readonly metrics: Metrics;
  /**
   * Counts every answered request whose scope was resolved (a tenant id, or `platform`), by status: called
   * on the request path, so it must only count in memory.
   */
  readonly requestCounts?: { record(scope: string, status: number): void };
  /** Called when an authenticated caller is refused an action (403), to audit it. */
  readonly onDenied?: (denial: {
    actor: Actor;
    requestId: string;
    method: string;
    route: string;
    code: string;
    /** The permission refused, when a permission check refused it. */
    permission: string | undefined;
  }) => Promise<void>;
}

export const JSON_MEDIA_TYPES = [
  'application/json',
  'application/merge-patch+json',
  'application/scim+json',
] as const;

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const TENANT_HEADER = 'roster-tenant';
/** The permission a platform credential needs to name a tenant in the Roster-Tenant header. */
const TENANT_ACT = 'tenants:act';

/**
 * The HTTP edge shared by every module: strict JSON parsing, schema validation (bodies never coerced,
 * query strings coerced), request ids, bearer-token authentication and tenant resolution, problem+json
 * errors, security headers. Modules add their routes as plugins.
 */
export async function createHttpServer(deps: HttpDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : newId();
    },
    requestIdHeader: false,
    // Fastify's own request lines log the URL with its query string, which may carry PII; ours below do not.
    logController: new LogController({ disableRequestLogging: true }),
    // Requests arriving while closing get our own problem+json 503 (the onRequest hook below).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    // URL errors found by the router, before any hook: answered as problems too, never echoing the URL.
    frameworkErrors: (error, request, reply) => {
      const code =
        error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'request.uri_too_long' : 'request.invalid_parameter';
      void sendProblem(request, reply, new RosterError(code, { cause: error }));
    },
  });

  const bodyAjv = new Ajv({
    allErrors: true,
    coerceTypes: false,
    useDefaults: false,
    removeAdditional: false,
    strict: false,
  });
  const queryAjv = new Ajv({
    allErrors: true,
    coerceTypes: 'array',
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  // ajv-formats is CommonJS: its default export arrives as the module object under NodeNext.
  const addFormats = (formatsPlugin as unknown as { default: (a: Ajv) => void }).default ?? formatsPlugin;
  addFormats(bodyAjv);
  addFormats(queryAjv);
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : queryAjv).compile(schema),
  );

  registerJsonParsers(app, JSON_MEDIA_TYPES);
  await app.register(helmet, { global: true });

  const routeTable: RouteEntry[] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = route.config as { auth?: AuthMode; permission?: string; narrower?: Narrower } | undefined;
    const auth = config?.auth ?? 'any';
    if (auth !== 'public' && !config?.permission) {
      // Every route checks a permission: one that names none is a mistake, caught at start.
      throw new Error(`route ${methods.join(',')} ${route.url} names no permission`);
    }
    for (const method of methods) {
      if (method === 'HEAD') continue;
      routeTable.push({
        method,
        url: route.url,
        auth,
        permission: config?.permission,
        ...(config?.narrower ? { narrower: config.narrower } : {}),
      });
    }
  });

  app.decorateRequest('actor', null);
  app.decorateRequest('tenantScope', null);
  app.decorateRequest('scopeResolved', false);
  app.decorateRequest('requirePermission', async () => {
    throw new RosterError('auth.unauthenticated');
  });

  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  // While closing, every answer closes its connection: an idle keep-alive socket would otherwise hold the
  // shutdown open until keepAliveTimeout.
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) void reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
    if (closing) {
      void reply.header('connection', 'close');
      throw new RosterError('server.shutting_down');
    }
    // No text column takes U+0000 (PostgreSQL refuses it): reject it in the URL as in bodies (body.ts).
    if (/%00/.test(request.url)) {
      throw new RosterError('request.invalid_parameter', {
        detail: 'The URL contains an encoded NUL character',
      });
    }
    request.log.debug({ method: request.method, route: request.routeOptions.url }, 'request');
    const mode: AuthMode = request.routeOptions.config?.auth ?? 'any';
    if (mode === 'public') return;
    const actor = await authenticateRequest(request, deps);
    request.actor = actor;
    request.requirePermission = (permission) => requirePermission(request, deps, permission);
    request.tenantScope = await resolveScope(request, actor, mode, deps);
    request.scopeResolved = true;
    await enforceRateLimits(request, reply, deps);
    const permission = request.routeOptions.config?.permission ?? ANY_AUTHENTICATED;
    if (request.routeOptions.config?.narrower) return; // checked once the body is parsed (below)
    await requirePermission(request, deps, permission);
  });
  app.addHook('preValidation', async (request) => {
    const narrower = request.routeOptions.config?.narrower;
    const actor = request.actor;
    if (!narrower || !actor) return;
    const body = request.body;
    const narrow =
      typeof body === 'object' &&
      body !== null &&
      !Array.isArray(body) &&
      Object.keys(body).every((k) => narrower.fields.includes(k));
    if (narrow && (await deps.authorize(actor, request.tenantScope, narrower.permission))) return;
    await requirePermission(request, deps, request.routeOptions.config?.permission ?? ANY_AUTHENTICATED);
  });

  app.addHook('onResponse', async (request, reply) => {
    // Refusals before the scope is known (401, a tenant that does not exist) are nobody's: not counted.
    if (request.scopeResolved) {
      deps.requestCounts?.record(request.tenantScope ?? PLATFORM_SCOPE, reply.statusCode);
    }
    deps.metrics.httpDuration.observe(
      {
        route: request.routeOptions.url ?? 'unknown',
        method: request.method,
        status: `${Math.floor(reply.statusCode / 100)}xx`,
      },
      reply.elapsedTime / 1000,
    );
    // Path only: query strings may carry PII (e.g. ?email=). Bodies are never logged.
    request.log.info(
      {
        method: request.method,
        route: request.routeOptions.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
        actor: request.actor?.id,
      },
      'request completed',
    );
  });

  app.setErrorHandler(async (err, request, reply) => {
    const rosterError = toRosterError(err);
    if (rosterError.status >= 500) request.log.error({ err, code: rosterError.code }, 'request failed');
    if (rosterError.code === 'auth.unauthenticated') void reply.header('www-authenticate', 'Bearer');
    if (rosterError.kind === 'permission_denied' && request.actor && deps.onDenied) {
      try {
        await deps.onDenied({
          actor: request.actor,
          requestId: request.id,
          method: request.method,
          route: request.routeOptions.url ?? 'unknown',
          code: rosterError.code,
          permission: rosterError.permission,
        });
      } catch (auditErr) {
        // Every refusal is on the record: one that cannot be recorded is answered as the store's failure.
        request.log.error({ err: auditErr }, 'could not audit a permission denial');
        return sendProblem(request, reply, toRosterError(auditErr));
      }
    }
    return sendProblem(request, reply, rosterError);
  });

  // A known path with another method is 405 with Allow (RFC 9110 §15.5.6), an unknown path 404.
  let patterns: { re: RegExp; method: string }[] | undefined;
  app.setNotFoundHandler(async (request, reply) => {
    patterns ??= routeTable.map((r) => ({
      method: r.method,
      re: new RegExp(
        `^${r.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')}/?$`,
      ),
    }));
    const path = request.url.split('?')[0] ?? '';
    const allowed = [...new Set(patterns.filter((p) => p.re.test(path)).map((p) => p.method))];
    if (allowed.length > 0) {
      void reply.header('allow', allowed.join(', '));
      return sendProblem(request, reply, new RosterError('request.method_not_allowed'));
    }
    return sendProblem(request, reply, new RosterError('request.not_found'));
  });

  return app;
}

async function enforceRateLimits(
  request: FastifyRequest,
  reply: FastifyReply,
  deps: HttpDeps,
): Promise<void> {
  const { tenant, global } = deps.rateLimits;
  const checks: [string, string, number][] = [];
  // The tenant's own limit first: a request it refuses must not use up the allowance of every tenant.
  if (tenant > 0) checks.push(['tenant', `tenant:${request.tenantScope ?? 'platform'}`, tenant]);
  if (global > 0) checks.push(['global', 'global', global]);
  for (const [limit, key, rate] of checks) {
    const verdict = await deps.limiter.take(key, rate);
    if (!verdict.allowed) {
      deps.metrics.rateLimited.inc({ limit });
      void reply.header('retry-after', String(Math.max(1, Math.ceil(verdict.retryAfterMs / 1000))));
      throw new RosterError('request.rate_limited', {
        detail: `The ${limit} request rate limit is exceeded`,
      });
    }
  }
}

async function requirePermission(request: FastifyRequest, deps: HttpDeps, permission: string): Promise<void> {
  const actor = request.actor;
  if (!actor) throw new RosterError('auth.unauthenticated');
  if (permission === ANY_AUTHENTICATED) return;
  if (!(await deps.authorize(actor, request.tenantScope, permission))) {
    throw new RosterError('auth.forbidden', {
      detail: `This action needs the permission ${permission}`,
      permission,
    });
  }
}

async function authenticateRequest(request: FastifyRequest, deps: HttpDeps): Promise<Actor> {
  const header = request.headers.authorization;
  if (header === undefined && deps.authenticateSession) {
    const csrf = request.headers['x-csrf-token'];
    const session = await deps.authenticateSession(
      request.headers.cookie,
      request.method,
      typeof csrf === 'string' ? csrf : undefined,
    );
    if (session) return session;
  }
  const match =
    typeof header === 'string' ? /^Bearer[ ]+([A-Za-z0-9._~+/=-]{16,512})\s*$/i.exec(header) : null;
  const actor = match?.[1] ? await deps.authenticate(match[1]) : null;
  if (!actor) throw new RosterError('auth.unauthenticated');
  return actor;
}

async function resolveScope(
  request: FastifyRequest,
  actor: Actor,
  mode: AuthMode,
  deps: HttpDeps,
): Promise<string | null> {
  const named = request.headers[TENANT_HEADER];
  // A tenant credential acts on its own tenant only: naming another one is refused, never silently ignored
  // (a client that believes it acts on B must not change A instead).
  if (actor.tenantId !== null && typeof named === 'string' && named !== '' && named !== actor.tenantId) {
    throw new RosterError('auth.forbidden', {
      detail: `Naming another tenant needs a platform credential with the permission ${TENANT_ACT}`,
      permission: TENANT_ACT,
    });
  }
  if (mode === 'any') return actor.tenantId;
  if (mode === 'platform') {
    if (actor.tenantId !== null) {
      const permission = request.routeOptions.config?.permission;
      throw new RosterError('auth.forbidden', {
        detail: `This route needs a platform credential${permission ? ` with the permission ${permission}` : ''}`,
        ...(permission ? { permission } : {}),
      });
    }
    return null;
  }
  if (actor.tenantId !== null) return actor.tenantId;
  if (typeof named === 'string' && named !== '') {
    // Only a platform credential allowed to act on tenants may name one (before anything is told about it).
    if (!(await deps.authorize(actor, null, TENANT_ACT))) {
      throw new RosterError('auth.forbidden', {
        detail: `Naming a tenant needs the permission ${TENANT_ACT}`,
        permission: TENANT_ACT,
      });
    }
    if (!(await deps.tenantExists(named))) throw new RosterError('tenants.not_found');
    return named;
  }
  if (mode === 'scoped') return null;
  throw new RosterError('auth.tenant_required');
}

/** The use-case context of a request. */
export function contextOf(request: FastifyRequest): Context {
  if (!request.actor) throw new RosterError('auth.unauthenticated');
  return { actor: request.actor, requestId: request.id };
}

/** The use-case context of a request on a `tenant` route. */
export function tenantContextOf(request: FastifyRequest): TenantContext {
  if (request.tenantScope === null) throw new RosterError('auth.tenant_required');
  return { ...contextOf(request), tenantId: request.tenantScope };
}

/** The `If-Match` header, when given. */
export function ifMatchOf(request: FastifyRequest): string | undefined {
  const v = request.headers['if-match'];
  return typeof v === 'string' ? v : undefined;
}

export function sendNoContent(reply: FastifyReply): FastifyReply {
  return reply.code(204).send();
}
