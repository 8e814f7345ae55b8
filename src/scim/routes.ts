/**
 * The SCIM 2.0 service provider under /scim/v2 (RFC 7644), for tenant tokens holding `scim:provision`.
 * Answers are `application/scim+json`; errors use the SCIM error schema (rendered at the HTTP edge for every
 * request under /scim/v2, see platform/http/problem.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RosterError } from '../platform/errors.js';
import { scimErrorOf } from '../platform/http/problem.js';
import { tenantContextOf } from '../platform/http/server.js';
import type { AttrPath } from './ast.js';
import { runBulk } from './bulk.js';
import { parseAttrPath, parseFilter } from './filter.js';
import type { ScimUrls } from './present.js';
import {
  LIST_RESPONSE,
  project,
  RESOURCE_TYPES,
  resourceTypeResource,
  SCHEMA_DEFS,
  SEARCH_REQUEST,
  schemaResource,
  serviceProviderConfig,
} from './schemas.js';
import { type ListQuery, type ResourceKind, type ScimService, tagMatches } from './service.js';

export const SCIM_BASE = '/scim/v2';
const SCIM_JSON = 'application/scim+json; charset=utf-8';

/** What Roster advertises and enforces (ServiceProviderConfig). */
export const SCIM_LIMITS = {
  /** Most resources one list answer carries; a larger `count` is lowered to it (RFC 7644 §3.4.2.4). */
  maxResults: 1000,
  defaultCount: 100,
  bulkMaxOperations: 1000,
  bulkMaxPayloadSize: 1_048_576,
} as const;

const hidden = { hide: true } as const;
const provision = { auth: 'tenant', permission: 'scim:provision' } as const;

/** The absolute URL of /scim/v2 as the client reached it, for `meta.location` and `$ref`s. */
function urlsOf(req: FastifyRequest): ScimUrls {
  return { base: `${req.protocol}://${req.host}${SCIM_BASE}` };
}

/** Sends a SCIM answer; a resource's `meta.version` is also its ETag header. */
function send(reply: FastifyReply, status: number, doc: unknown, tag?: string): FastifyReply {
  void reply.code(status).type(SCIM_JSON);
  if (tag !== undefined) void reply.header('etag', tag);
  return reply.send(JSON.stringify(doc));
}

const tagOf = (doc: Record<string, unknown>) => String((doc.meta as { version: string }).version);

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return typeof v === 'string' ? v : undefined;
}

/** A comma-separated list of attribute paths (`attributes`, `excludedAttributes`). */
function pathList(value: unknown): AttrPath[] | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const items = Array.isArray(value) ? value : String(value).split(',');
  return items
    .map((s) => String(s).trim())
    .filter((s) => s !== '')
    .map((s) => parseAttrPath(s));
}

function integer(value: unknown, name: string, json: boolean): number | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  // A query string carries text; a SearchRequest body carries JSON, where the number must be a number.
  if (json && typeof value !== 'number') {
    throw new RosterError('scim.invalid_value', { detail: `${name} must be an integer` });
  }
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n)) {
    throw new RosterError('scim.invalid_value', { detail: `${name} must be an integer` });
  }
  return n;
}

/** Query parameters or a SearchRequest body as a ListQuery (RFC 7644 §3.4.2, §3.4.3). */
export function listQueryOf(params: Record<string, unknown>, json = false): ListQuery {
  const get = (name: string) =>
    Object.entries(params).find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const filter = get('filter');
  if (filter !== undefined && typeof filter !== 'string') {
    throw new RosterError('scim.invalid_filter', { detail: 'filter must be a string' });
  }
  const sortBy = get('sortBy');
  const sortOrder = get('sortOrder');
  if (sortOrder !== undefined && !/^(ascending|descending)$/i.test(String(sortOrder))) {
    throw new RosterError('scim.invalid_value', { detail: 'sortOrder must be ascending or descending' });
  }
  // RFC 7644 §3.4.2.4: startIndex below 1 is 1; a negative count is 0; the server may return fewer.
  const startIndex = Math.max(1, integer(get('startIndex'), 'startIndex', json) ?? 1);
  const count = Math.min(
    SCIM_LIMITS.maxResults,
    Math.max(0, integer(get('count'), 'count', json) ?? SCIM_LIMITS.defaultCount),
  );
  const attributes = pathList(get('attributes'));
  const excludedAttributes = pathList(get('excludedAttributes'));
  return {
    ...(typeof filter === 'string' && filter.trim() !== '' ? { filter: parseFilter(filter) } : {}),
    ...(typeof sortBy === 'string' && sortBy !== '' ? { sortBy: parseAttrPath(sortBy) } : {}),
    descending: String(sortOrder ?? '').toLowerCase() === 'descending',
    startIndex,
    count,
    ...(attributes ? { attributes } : {}),
    ...(excludedAttributes ? { excludedAttributes } : {}),
  };
}

function searchBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RosterError('scim.invalid_syntax', { detail: 'The body must be a SearchRequest message' });
  }
  const b = body as Record<string, unknown>;
  const schemas = b.schemas;
  if (
    !Array.isArray(schemas) ||
    !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === SEARCH_REQUEST.toLowerCase())
  ) {
    throw new RosterError('scim.invalid_syntax', { detail: `schemas must contain '${SEARCH_REQUEST}'` });
  }
  return b;
}

/** The SCIM endpoints of one resource type. */
function resourceRoutes(app: FastifyInstance, scim: ScimService, path: 'Users' | 'Groups'): void {
  const kind: ResourceKind = path === 'Users' ? 'User' : 'Group';
  const url = `${SCIM_BASE}/${path}`;
  type IdRoute = { Params: { id: string }; Querystring: Record<string, unknown> };
  app.get<{ Querystring: Record<string, unknown> }>(
    url,
    { config: provision, schema: hidden },
    async (req, reply) =>
      send(reply, 200, await scim.list(kind, tenantContextOf(req), listQueryOf(req.query), urlsOf(req))),
  );
  app.post(`${url}/.search`, { config: provision, schema: hidden }, async (req, reply) =>
    send(
      reply,
      200,
      await scim.list(kind, tenantContextOf(req), listQueryOf(searchBody(req.body), true), urlsOf(req)),
    ),
  );
  app.post(url, { config: provision, schema: hidden }, async (req, reply) => {
    const { doc } = await scim.create(kind, tenantContextOf(req), req.body, urlsOf(req));
    void reply.header('location', (doc.meta as { location: string }).location);
    return send(reply, 201, doc, tagOf(doc));
  });
  app.get<IdRoute>(`${url}/:id`, { config: provision, schema: hidden }, async (req, reply) => {
    const q = listQueryOf(req.query);
    const { doc } = await scim.get(kind, tenantContextOf(req), req.params.id, urlsOf(req));
    const ifNoneMatch = header(req, 'if-none-match');
    if (ifNoneMatch !== undefined && tagMatches(ifNoneMatch, tagOf(doc))) {
      return reply.code(304).header('etag', tagOf(doc)).send();
    }
    return send(reply, 200, project(kind, doc, q), tagOf(doc));
  });
  // PUT replaces, PATCH modifies: both answer the resource as it now is, projected as the query asks.
  for (const method of ['put', 'patch'] as const) {
    app[method]<IdRoute>(`${url}/:id`, { config: provision, schema: hidden }, async (req, reply) => {
      const write = method === 'put' ? scim.replace.bind(scim) : scim.patch.bind(scim);
      const ctx = tenantContextOf(req);
      const ifMatch = header(req, 'if-match');
      const { doc } = await write(kind, ctx, req.params.id, req.body, ifMatch, urlsOf(req));
      return send(reply, 200, project(kind, doc, listQueryOf(req.query)), tagOf(doc));
    });
  }
  app.delete<IdRoute>(`${url}/:id`, { config: provision, schema: hidden }, async (req, reply) => {
    await scim.remove(kind, tenantContextOf(req), req.params.id, header(req, 'if-match'), urlsOf(req));
    return reply.code(204).send();
  });
}

export function scimRoutes(app: FastifyInstance, s: { scim: ScimService }): void {
  const scim = s.scim;
  app.get(`${SCIM_BASE}/ServiceProviderConfig`, { config: provision, schema: hidden }, async (req, reply) =>
    send(
      reply,
      200,
      serviceProviderConfig({
        baseUrl: urlsOf(req).base,
        bulkMaxOperations: SCIM_LIMITS.bulkMaxOperations,
        bulkMaxPayloadSize: SCIM_LIMITS.bulkMaxPayloadSize,
        filterMaxResults: SCIM_LIMITS.maxResults,
      }),
    ),
  );
  app.get(`${SCIM_BASE}/Schemas`, { config: provision, schema: hidden }, async (req, reply) => {
    const docs = SCHEMA_DEFS.map((d) => schemaResource(d, urlsOf(req).base));
    return send(reply, 200, listOf(docs));
  });
  app.get<{ Params: { id: string } }>(
    `${SCIM_BASE}/Schemas/:id`,
    { config: provision, schema: hidden },
    async (req, reply) => {
      const def = SCHEMA_DEFS.find((d) => d.id.toLowerCase() === req.params.id.toLowerCase());
      if (!def) throw new RosterError('request.not_found', { detail: 'No such schema' });
      return send(reply, 200, schemaResource(def, urlsOf(req).base));
    },
  );
  app.get(`${SCIM_BASE}/ResourceTypes`, { config: provision, schema: hidden }, async (req, reply) =>
    send(reply, 200, listOf(RESOURCE_TYPES.map((rt) => resourceTypeResource(rt, urlsOf(req).base)))),
  );
  app.get<{ Params: { id: string } }>(
    `${SCIM_BASE}/ResourceTypes/:id`,
    { config: provision, schema: hidden },
    async (req, reply) => {
      const rt = RESOURCE_TYPES.find((r) => r.id.toLowerCase() === req.params.id.toLowerCase());
      if (!rt) throw new RosterError('request.not_found', { detail: 'No such resource type' });
      return send(reply, 200, resourceTypeResource(rt, urlsOf(req).base));
    },
  );

  app.post(
    `${SCIM_BASE}/Bulk`,
    {
      config: provision,
      schema: hidden,
      bodyLimit: SCIM_LIMITS.bulkMaxPayloadSize,
      // RFC 7644 §3.7.4: a 413 must name the limit exceeded. What this handler throws goes on to the app's.
      errorHandler: (err) => {
        if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
          throw new RosterError('request.body_too_large', {
            detail: `The Bulk request exceeds maxPayloadSize (${SCIM_LIMITS.bulkMaxPayloadSize} bytes)`,
            cause: err,
          });
        }
        throw err;
      },
    },
    async (req, reply) =>
      send(
        reply,
        200,
        await runBulk(scim, tenantContextOf(req), req.body, urlsOf(req), {
          maxOperations: SCIM_LIMITS.bulkMaxOperations,
          renderError: (err) => scimErrorOf(err),
        }),
      ),
  );

  resourceRoutes(app, scim, 'Users');
  resourceRoutes(app, scim, 'Groups');

  // Searches from the root, over every resource type (RFC 7644 §3.4.2, §3.4.3).
  app.get<{ Querystring: Record<string, unknown> }>(
    SCIM_BASE,
    { config: provision, schema: hidden },
    async (req, reply) =>
      send(reply, 200, await scim.search(tenantContextOf(req), listQueryOf(req.query), urlsOf(req))),
  );
  app.post(`${SCIM_BASE}/.search`, { config: provision, schema: hidden }, async (req, reply) =>
    send(
      reply,
      200,
      await scim.search(tenantContextOf(req), listQueryOf(searchBody(req.body), true), urlsOf(req)),
    ),
  );
}

function listOf(docs: unknown[]): Record<string, unknown> {
  return {
    schemas: [LIST_RESPONSE],
    totalResults: docs.length,
    startIndex: 1,
    itemsPerPage: docs.length,
    Resources: docs,
  };
}
