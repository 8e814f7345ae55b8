/**
 * Attack surface of every answer: security headers (helmet) on successes, refusals and errors alike, CORS
 * closed (no origin is ever allowed, preflights get no grant), and no stack trace or SQL in any answer, even
 * when the database itself fails under a request.
 */
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { type Answer, useTestApp } from '../support/app.js';
import { describeEachStore } from '../support/stores.js';
import { ENV, expectProblem } from './support.js';

const EVIL = 'https://evil.example';

/** What helmet's defaults promise, as a browser reads them. */
function expectSecurityHeaders(res: Answer, what: string): void {
  const h = res.headers;
  expect(h['x-content-type-options'], what).toBe('nosniff');
  expect(String(h['content-security-policy']), what).toMatch(/default-src 'self'/);
  expect(String(h['content-security-policy']), what).toMatch(/frame-ancestors 'self'/);
  expect(h['x-frame-options'], what).toBe('SAMEORIGIN');
  expect(h['referrer-policy'], what).toBe('no-referrer');
  expect(String(h['strict-transport-security']), what).toMatch(/max-age=\d+/);
  expect(h['cross-origin-opener-policy'], what).toBe('same-origin');
  expect(h['cross-origin-resource-policy'], what).toBe('same-origin');
  expect(h['x-powered-by'], what).toBeUndefined();
}

/** No CORS grant of any kind. */
function expectNoCors(res: Answer, what: string): void {
  for (const name of Object.keys(res.headers)) {
    expect(name.startsWith('access-control-'), `${what}: ${name}`).toBe(false);
  }
}

/** Nothing of the implementation: no stack frames, no SQL, no driver messages, no file paths. */
function expectNothingInternal(res: Answer, what: string): void {
  const text = res.raw;
  expect(text, what).not.toMatch(/\bat [\w.<>]+ \(|\.(ts|js):\d+/);
  expect(text, what).not.toMatch(/\b(select|insert into|update|delete from)\b.*\b(from|set|values|where)\b/i);
  expect(text, what).not.toMatch(/sqlite|postgres|kysely|syntax error|relation "|no such table|SQLITE_/i);
  expect(text, what).not.toMatch(/\/work\/|node_modules|\/src\//);
}

describeEachStore('attack: headers, CORS and leaks of internals', (kind) => {
  const t = useTestApp(kind, ENV);

  /** One answer of each kind: 200, 201, 204, 400, 401, 403, 404, 405-ish, 413-ish, 415, 422, public. */
  async function answers(origin?: string): Promise<[string, Answer][]> {
    const { api, tenantId } = await t().newTenant();
    const o: Record<string, string> = origin ? { origin } : {};
    const viewer = await t().admin.post('/api/v1/tokens', { tenantId, name: 'viewer', roles: ['viewer'] });
    expect(viewer.status, viewer.raw).toBe(201);
    const asViewer = t().client(viewer.body.token);
    return [
      ['probe 200', await t().client(undefined).get('/healthz', o)],
      ['list 200', await api.get('/api/v1/users', o)],
      ['create 201', await api.post('/api/v1/users', { userName: `h-${Date.now()}@example.com` }, o)],
      [
        'malformed JSON 400',
        await api.raw('POST', '/api/v1/users', '{"userName":', { ...o, 'content-type': 'application/json' }),
      ],
      ['no token 401', await t().client(undefined).get('/api/v1/users', o)],
      ['no permission 403', await asViewer.post('/api/v1/groups', { displayName: 'x' }, o)],
      ['unknown id 404', await api.get('/api/v1/users/01900000-0000-7000-8000-000000000001', o)],
      ['unknown route 404', await api.get('/api/v1/nothing-here', o)],
      [
        'wrong media type 415',
        await api.raw('POST', '/api/v1/users', 'x', { ...o, 'content-type': 'text/plain' }),
      ],
      ['invalid body 422', await api.post('/api/v1/users', { userName: 5 }, o)],
      [
        'login 401',
        await t()
          .client(undefined)
          .post('/api/v1/auth/login', { username: 'nobody-here', password: 'x'.repeat(12) }, o),
      ],
    ];
  }

  it('every kind of answer carries the security headers and nothing of the implementation', async () => {
    for (const [what, res] of await answers()) {
      expectSecurityHeaders(res, what);
      expectNothingInternal(res, what);
    }
  });

  it('CORS is closed: no answer grants a foreign origin, and a preflight gets no grant', async () => {
    for (const [what, res] of await answers(EVIL)) expectNoCors(res, `${what} with Origin`);
    for (const path of ['/api/v1/users', '/api/v1/tokens', '/api/v1/auth/login', '/healthz']) {
      const res = await t().client(undefined).raw('OPTIONS', path, '', {
        origin: EVIL,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      });
      expectNoCors(res, `preflight ${path}`);
      expect(res.status, `preflight ${path}: ${res.raw}`).toBeGreaterThanOrEqual(400);
      expect(res.status, `preflight ${path}`).toBeLessThan(500);
      expectSecurityHeaders(res, `preflight ${path}`);
    }
  });

  // Last in the file: it breaks the store under the app on purpose.
  it('a database failure answers 500 server.internal with no SQL, driver message or stack, and headers', async () => {
    const { api } = await t().newTenant();
    const before = await api.get('/api/v1/products');
    expect(before.status, before.raw).toBe(200);
    await sql`alter table products rename to products_gone`.execute(t().app.db.kysely);
    try {
      for (const res of [
        await api.get('/api/v1/products'),
        await api.post('/api/v1/products', { sku: 'GONE-1', name: 'Gone' }),
      ]) {
        expectProblem(res, 500, 'server.internal', 'broken store');
        expect(Object.keys(res.body).sort()).toEqual(['code', 'requestId', 'status', 'title', 'type']);
        expectNothingInternal(res, 'broken store');
        expectSecurityHeaders(res, 'broken store');
      }
    } finally {
      await sql`alter table products_gone rename to products`.execute(t().app.db.kysely);
    }
    expect((await api.get('/api/v1/products')).status).toBe(200);
  });
});
