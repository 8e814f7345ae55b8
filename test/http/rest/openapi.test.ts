import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

// biome-ignore lint/suspicious/noExplicitAny: the document is walked generically
type Json = any;

const DOC_PATH = '/api/v1/openapi.json';
/**
 * The SCIM 2.0 routes are hidden from this document (`schema.hide`): SCIM is specified by RFC 7643 and RFC 7644
 * and described by the service itself at /scim/v2/ServiceProviderConfig, /Schemas and /ResourceTypes, not by
 * OpenAPI. Exactly they are absent from it.
 */
const SCIM_PREFIX = '/scim/v2';
const isScimRoute = (url: string) => url === SCIM_PREFIX || url.startsWith(`${SCIM_PREFIX}/`);
/** The admin console's static files (an HTML page and its assets), not an API. */
const isConsoleRoute = (url: string) => url === '/console' || url.startsWith('/console/');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/** `/api/v1/users/:id` -> `/api/v1/users/{id}` */
function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

/** Resolves a local JSON pointer (`#/a/b`) in `doc`, or undefined. */
function resolvePointer(doc: Json, ref: string): unknown {
  if (!ref.startsWith('#/')) return undefined;
  let node: unknown = doc;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !(key in (node as object))) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** Every `$ref` in a JSON value, with where it was found. */
function refsIn(value: unknown, where = '#'): { ref: string; where: string }[] {
  if (value === null || typeof value !== 'object') return [];
  const out: { ref: string; where: string }[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (k === '$ref' && typeof v === 'string') out.push({ ref: v, where });
    else out.push(...refsIn(v, `${where}/${k}`));
  }
  return out;
}

function operations(doc: Json): { path: string; method: string; op: Json }[] {
  const out: { path: string; method: string; op: Json }[] = [];
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    for (const method of METHODS) if (item[method]) out.push({ path, method, op: item[method] });
  }
  return out;
}

describeEachStore('OpenAPI document', (kind) => {
  const t = useTestApp(kind);
  let doc: Json;

  beforeAll(async () => {
    const res = await t().admin.get(DOC_PATH);
    expect(res.status, res.raw).toBe(200);
    doc = res.body;
  });

  describe('access', () => {
    it('needs a token: 401 without one, 200 with a platform or a tenant token', async () => {
      const anon = await t().client(undefined).get(DOC_PATH);
      expect(anon.status).toBe(401);
      expect(anon.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect((await t().client('rst_unknown-token-000000000000000').get(DOC_PATH)).status).toBe(401);
      const { api } = await t().newTenant();
      const asTenant = await api.get(DOC_PATH);
      expect(asTenant.status).toBe(200);
      expect(asTenant.headers['content-type']).toMatch(/^application\/json/);
      expect(asTenant.body).toEqual(doc);
    });
  });

  describe('content', () => {
    it('is OpenAPI 3.1 with info, a bearer and a session-cookie security scheme', () => {
      expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
      expect(typeof doc.info?.title).toBe('string');
      expect(typeof doc.info?.version).toBe('string');
      expect(doc.components?.securitySchemes?.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
      expect(doc.components?.securitySchemes?.session).toMatchObject({
        type: 'apiKey',
        in: 'cookie',
        name: 'roster_session',
      });
      expect(doc.security).toEqual([{ bearer: [] }, { session: [] }]);
    });

    it('lists every route of the route table except itself and the SCIM routes, and nothing else', () => {
      const table = t().app.http.routeTable;
      expect(table.length).toBeGreaterThan(10);
      const key = (r: { method: string; url: string }) =>
        `${r.method.toUpperCase()} ${openApiPath(r.url.replace(/\/$/, '') || '/')}`;
      const expected = new Set(
        table.filter((r) => r.url !== DOC_PATH && !isScimRoute(r.url) && !isConsoleRoute(r.url)).map(key),
      );
      const documented = new Set(operations(doc).map((o) => `${o.method.toUpperCase()} ${o.path}`));
      const missing = [...expected].filter((e) => !documented.has(e));
      const extra = [...documented].filter((d) => !expected.has(d));
      expect(missing, 'routes missing from the document').toEqual([]);
      expect(extra, 'documented operations that are not routes').toEqual([]);
      expect(Object.keys(doc.paths)).not.toContain(DOC_PATH);
      // The SCIM routes are there (the exclusion is not vacuous), and not one of them is documented.
      const scim = table.filter((r) => isScimRoute(r.url)).map(key);
      expect(scim.length, 'SCIM routes in the route table').toBeGreaterThanOrEqual(17);
      for (const op of [
        'GET /scim/v2/ServiceProviderConfig',
        'GET /scim/v2/Schemas/{id}',
        'POST /scim/v2/Users',
        'PATCH /scim/v2/Groups/{id}',
        'POST /scim/v2/Bulk',
      ])
        expect(scim, op).toContain(op);
      expect(
        scim.filter((s) => documented.has(s)),
        'SCIM routes documented',
      ).toEqual([]);
      expect(
        Object.keys(doc.paths).filter((p) => isScimRoute(p)),
        'paths under /scim/v2',
      ).toEqual([]);
      // Every route the document leaves out is a SCIM route, a console file route, or the document itself.
      const consoleRoutes = table.filter((r) => isConsoleRoute(r.url)).map(key);
      expect(consoleRoutes.sort()).toEqual(['GET /console', 'GET /console/*']);
      const absent = table.map(key).filter((k) => !documented.has(k));
      expect(absent.sort()).toEqual([...scim, ...consoleRoutes, `GET ${DOC_PATH}`].sort());
      // the core resources of the contract are there
      for (const op of [
        'POST /api/v1/users',
        'PATCH /api/v1/users/{id}',
        'PUT /api/v1/groups/{id}/members/{userId}',
        'GET /api/v1/users/{id}/groups',
        'DELETE /api/v1/tokens/{id}',
        'GET /api/v1/audit/entries',
      ]) {
        expect(documented.has(op), op).toBe(true);
      }
    });

    it('declares every path parameter of every operation', () => {
      for (const { path, method, op } of operations(doc)) {
        const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
        const declared = (op.parameters ?? [])
          .filter((p: Json) => p.in === 'path')
          .map((p: Json) => {
            expect(p.required, `${method} ${path} ${p.name}`).toBe(true);
            return p.name;
          });
        expect(declared.sort(), `${method.toUpperCase()} ${path}`).toEqual(inPath.sort());
      }
    });

    it('resolves every $ref, and every component and response schema', () => {
      const refs = refsIn(doc);
      expect(refs.length).toBeGreaterThan(0);
      const unresolved = refs.filter(({ ref }) => {
        const target = resolvePointer(doc, ref);
        return target === undefined || target === null || typeof target !== 'object';
      });
      expect(unresolved, 'unresolvable $refs').toEqual([]);
      const schemas = doc.components?.schemas ?? {};
      for (const name of ['Problem', 'User', 'Group', 'Tenant', 'ApiToken', 'AuditEntry']) {
        expect(schemas[name], name).toMatchObject({ type: 'object' });
      }
      for (const { path, method, op } of operations(doc)) {
        const responses = Object.entries<Json>(op.responses ?? {});
        expect(responses.length, `${method} ${path}`).toBeGreaterThan(0);
        for (const [status, response] of responses) {
          const resolved = response.$ref ? resolvePointer(doc, response.$ref) : response;
          expect(resolved, `${method} ${path} ${status}`).toBeTypeOf('object');
          for (const media of Object.values<Json>((resolved as Json).content ?? {})) {
            const schema = media.schema?.$ref ? resolvePointer(doc, media.schema.$ref) : media.schema;
            expect(schema, `${method} ${path} ${status}`).toBeTypeOf('object');
          }
        }
      }
    });

    it('documents the success answer of every operation', () => {
      const missing = operations(doc)
        .filter(({ op }) => !Object.keys(op.responses ?? {}).some((s) => /^2(\d\d|XX)$/.test(s)))
        .map(({ method, path }) => `${method.toUpperCase()} ${path}`);
      expect(missing, 'operations without a documented 2xx answer').toEqual([]);
    });

    it('marks the public routes as needing no token, and every other route as needing the bearer token or a session', async () => {
      const wrong: string[] = [];
      for (const route of t().app.http.routeTable) {
        if (route.url === DOC_PATH) continue;
        const op = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
        if (!op) continue; // reported by the route-table test (SCIM routes are absent on purpose)
        const security = op.security ?? doc.security;
        const open =
          Array.isArray(security) &&
          (security.length === 0 || security.some((s: Json) => !Object.keys(s).length));
        const names = Array.isArray(security) ? security.flatMap((s: Json) => Object.keys(s)) : [];
        // Public routes take no token: open, or (the session routes under /auth) the session cookie alone.
        const ok =
          route.auth === 'public'
            ? open || (names.length > 0 && names.every((n: string) => n === 'session'))
            : !open && names.includes('bearer') && names.includes('session');
        if (!ok) wrong.push(`${route.method} ${route.url} (${route.auth})`);
      }
      expect(wrong, 'operations whose documented security disagrees with the route').toEqual([]);
      // and the claim holds: a public route answers without a token
      expect((await t().client(undefined).get('/healthz')).status).toBe(200);
    });
  });
});
