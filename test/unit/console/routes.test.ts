/**
 * The console's static serving (src/console/routes.ts) on the real HTTP edge: pages and assets with their
 * types, caching and Content-Security-Policy, client routes answered with index.html, no way out of the
 * console folder, a clear 404 when the console is not built, and nothing of it in the OpenAPI document.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONSOLE_CSP, consoleRoutes } from '../../../src/console/routes.js';
import { MemoryRateLimiter } from '../../../src/platform/http/rate-limit.js';
import { createHttpServer } from '../../../src/platform/http/server.js';
import { createLogger } from '../../../src/platform/logging.js';
import { Metrics } from '../../../src/platform/metrics.js';

const INDEX =
  '<!doctype html><title>console</title><script type="module" src="/console/assets/index-AbC123xy.js"></script>';
const SCRIPT = 'console.log("console");';

async function server(root: string): Promise<FastifyInstance> {
  const app = await createHttpServer({
    logger: createLogger('silent'),
    bodyLimit: 1024 * 1024,
    authenticate: async () => null,
    tenantExists: async () => false,
    authorize: async () => false,
    rateLimits: { tenant: 0, global: 0 },
    limiter: new MemoryRateLimiter(),
    metrics: new Metrics({ defaultMetrics: false }),
  });
  await app.register(swagger, { openapi: { openapi: '3.1.0', info: { title: 't', version: '0' } } });
  consoleRoutes(app, { root });
  await app.ready();
  return app;
}

describe('console routes', () => {
  let dir: string;
  let app: FastifyInstance;
  let unbuilt: FastifyInstance;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'roster-console-'));
    const dist = join(dir, 'dist');
    mkdirSync(join(dist, 'assets'), { recursive: true });
    writeFileSync(join(dist, 'index.html'), INDEX);
    writeFileSync(join(dist, 'assets', 'index-AbC123xy.js'), SCRIPT);
    writeFileSync(join(dist, 'assets', 'index-AbC123xy.css'), 'body{}');
    writeFileSync(join(dist, 'favicon.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    writeFileSync(join(dist, '.secret'), 'hidden');
    writeFileSync(join(dir, 'outside.txt'), 'outside the console');
    app = await server(dist);
    unbuilt = await server(join(dir, 'missing'));
  });

  afterAll(async () => {
    await app?.close();
    await unbuilt?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves index.html at /console and /console/, not cached, with the console CSP', async () => {
    for (const url of ['/console', '/console/', '/console/index.html']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toBe(INDEX);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-cache');
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['x-content-type-options']).toBe('nosniff');
    }
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
  });

  it('answers client routes (paths naming no file) with index.html', async () => {
    for (const url of [
      '/console/users',
      '/console/users/0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
      '/console/licenses/',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(200);
      expect(res.body).toBe(INDEX);
    }
  });

  it('serves hashed assets immutable and other files briefly cached, with their types', async () => {
    const js = await app.inject({ method: 'GET', url: '/console/assets/index-AbC123xy.js' });
    expect(js.statusCode).toBe(200);
    expect(js.body).toBe(SCRIPT);
    expect(js.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    const css = await app.inject({ method: 'GET', url: '/console/assets/index-AbC123xy.css' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    const svg = await app.inject({ method: 'GET', url: '/console/favicon.svg' });
    expect(svg.statusCode).toBe(200);
    expect(svg.headers['content-type']).toBe('image/svg+xml');
    expect(svg.headers['cache-control']).toBe('public, max-age=300');
  });

  it('answers HEAD like GET without a body', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/console/assets/index-AbC123xy.js' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
    expect(res.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('answers a missing asset 404 problem, not index.html', async () => {
    for (const url of ['/console/assets/index-00000000.js', '/console/missing.css', '/console/assets/x']) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe('request.not_found');
    }
  });

  it('never serves a file outside the console folder, nor a dot file', async () => {
    for (const url of [
      '/console/../outside.txt',
      '/console/..%2foutside.txt',
      '/console/%2e%2e/outside.txt',
      '/console/%2e%2e%2foutside.txt',
      '/console/assets/..%2f..%2foutside.txt',
      '/console/.secret',
      '/console/assets%5c..%5c..%5coutside.txt',
      '/console/%00',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expect(res.body, url).not.toContain('outside the console');
      expect(res.body, url).not.toContain('hidden');
      // `/console/../x` is normalised to `/x` before routing: an unknown route, refused without a credential.
      expect([400, 401, 404], url).toContain(res.statusCode);
    }
  });

  it('answers 404 saying how to build when the console is not built', async () => {
    for (const url of ['/console', '/console/', '/console/users']) {
      const res = await unbuilt.inject({ method: 'GET', url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json().code).toBe('request.not_found');
      expect(res.json().detail).toContain('npm run build');
    }
  });

  it('registers public routes and keeps them out of the OpenAPI document', () => {
    const routes = app.routeTable.filter((r) => r.url.startsWith('/console'));
    expect(routes.map((r) => `${r.method} ${r.url}`).sort()).toEqual(['GET /console', 'GET /console/*']);
    expect(routes.every((r) => r.auth === 'public')).toBe(true);
    const doc = app.swagger() as { paths?: Record<string, unknown> };
    expect(Object.keys(doc.paths ?? {}).filter((p) => p.startsWith('/console'))).toEqual([]);
  });
});
