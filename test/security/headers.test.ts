/**
 * Attack surface of every answer: security headers (helmet) on successes, refusals and errors alike, CORS
 * closed (no origin is ever allowed, preflights get no grant), and no stack trace or SQL in any answer, even
 * when the database itself fails under a request. The SCIM routes (/scim/v2) alike, with their errors in the SCIM
 * error schema.
 */
import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { type Answer, type Client, useTestApp } from '../support/app.js';
import { expectScimError, SCIM_CT, scimBody } from '../support/scim-routes.js';
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
      ...(await scimAnswers(api, asViewer, o)),
    ];
  }

  /** The SCIM routes' answers of each kind: 200, 201, 204, 304, 400, 401, 403, 404, 405, 409, 412, 413, 415. */
  async function scimAnswers(
    api: Client,
    asViewer: Client,
    o: Record<string, string>,
  ): Promise<[string, Answer][]> {
    const userName = `scim-h-${Date.now()}-${Math.random().toString(36).slice(2)}@example.com`;
    const created = await api.post('/scim/v2/Users', scimBody.user(userName), { ...o, ...SCIM_CT });
    expect(created.status, created.raw).toBe(201);
    const user = `/scim/v2/Users/${created.body.id}`;
    const etag = String(created.headers.etag);
    const other = await api.post('/scim/v2/Groups', scimBody.group(`g-${userName}`), { ...o, ...SCIM_CT });
    expect(other.status, other.raw).toBe(201);
    return [
      ['SCIM created 201', created],
      ['SCIM list 200', await api.get('/scim/v2/Users', o)],
      ['SCIM discovery 200', await api.get('/scim/v2/ServiceProviderConfig', o)],
      ['SCIM not modified 304', await api.get(user, { ...o, 'if-none-match': etag })],
      [
        'SCIM malformed JSON 400',
        await api.raw('POST', '/scim/v2/Users', '{"userName":', { ...o, ...SCIM_CT }),
      ],
      [
        'SCIM invalid filter 400',
        await api.get(`/scim/v2/Users?filter=${encodeURIComponent('userName zz "x"')}`, o),
      ],
      ['SCIM no token 401', await t().client(undefined).get('/scim/v2/Users', o)],
      ['SCIM no permission 403', await asViewer.get('/scim/v2/Users', o)],
      ['SCIM unknown id 404', await api.get('/scim/v2/Users/01900000-0000-7000-8000-000000000001', o)],
      ['SCIM unknown route 404', await api.get('/scim/v2/Nothing', o)],
      ['SCIM wrong method 405', await api.raw('PUT', '/scim/v2/Users', '{}', { ...o, ...SCIM_CT })],
      [
        'SCIM taken userName 409',
        await api.post('/scim/v2/Users', scimBody.user(userName), { ...o, ...SCIM_CT }),
      ],
      [
        'SCIM stale If-Match 412',
        await api.patch(user, scimBody.patch('title', 'x'), { ...o, ...SCIM_CT, 'if-match': 'W/"999"' }),
      ],
      [
        'SCIM body too large 413',
        await api.raw(
          'POST',
          '/scim/v2/Users',
          JSON.stringify(scimBody.user(userName, { title: 'x'.repeat(2_000_000) })),
          { ...o, ...SCIM_CT },
        ),
      ],
      [
        'SCIM wrong media type 415',
        await api.raw('POST', '/scim/v2/Users', 'x', { ...o, 'content-type': 'text/plain' }),
      ],
      ['SCIM deleted 204', await api.delete(`/scim/v2/Groups/${other.body.id}`, o)],
    ];
  }

  it('every kind of answer carries the security headers and nothing of the implementation', async () => {
    for (const [what, res] of await answers()) {
      expectSecurityHeaders(res, what);
      expectNothingInternal(res, what);
    }
  });

  it('the SCIM answers are of each kind promised, in the SCIM media type (errors in the SCIM error schema)', async () => {
    const all = new Map(await answers());
    const expected: [string, number, string?][] = [
      ['SCIM created 201', 201],
      ['SCIM list 200', 200],
      ['SCIM discovery 200', 200],
      ['SCIM not modified 304', 304],
      ['SCIM malformed JSON 400', 400, 'request.malformed_json'],
      ['SCIM invalid filter 400', 400, 'scim.invalid_filter'],
      ['SCIM no token 401', 401, 'auth.unauthenticated'],
      ['SCIM no permission 403', 403, 'auth.forbidden'],
      ['SCIM unknown id 404', 404, 'identity.user_not_found'],
      ['SCIM unknown route 404', 404, 'request.not_found'],
      ['SCIM wrong method 405', 405, 'request.method_not_allowed'],
      ['SCIM taken userName 409', 409, 'identity.user_name_taken'],
      ['SCIM stale If-Match 412', 412, 'request.precondition_failed'],
      ['SCIM body too large 413', 413, 'request.body_too_large'],
      ['SCIM wrong media type 415', 415, 'request.unsupported_media_type'],
      ['SCIM deleted 204', 204],
    ];
    for (const [what, status, code] of expected) {
      const res = all.get(what) as Answer;
      expect(res, what).toBeDefined();
      if (code !== undefined) expectScimError(res, status, code, what);
      else {
        expect(res.status, `${what}: ${res.raw.slice(0, 300)}`).toBe(status);
        if (status === 200 || status === 201)
          expect(String(res.headers['content-type']), what).toMatch(/^application\/scim\+json/);
        else expect(res.raw, what).toBe('');
      }
    }
  });

  it('CORS is closed: no answer grants a foreign origin, and a preflight gets no grant', async () => {
    for (const [what, res] of await answers(EVIL)) expectNoCors(res, `${what} with Origin`);
    for (const path of [
      '/api/v1/users',
      '/api/v1/tokens',
      '/api/v1/auth/login',
      '/healthz',
      '/scim/v2/Users',
      '/scim/v2/Bulk',
    ]) {
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
    // The same under /scim/v2: a SCIM error with the catalogue's wording, nothing more.
    const group = await api.post('/scim/v2/Groups', scimBody.group(`broken-${Date.now()}`), SCIM_CT);
    expect(group.status, group.raw).toBe(201);
    await sql`alter table groups rename to groups_gone`.execute(t().app.db.kysely);
    try {
      for (const res of [
        await api.get('/scim/v2/Groups'),
        await api.get(`/scim/v2/Groups/${group.body.id}`),
        await api.post('/scim/v2/Groups', scimBody.group('gone'), SCIM_CT),
        await api.post('/scim/v2/Groups/.search', scimBody.search(), SCIM_CT),
      ]) {
        expectScimError(res, 500, 'server.internal', 'broken store under SCIM');
        expect(Object.keys(res.body).sort()).toEqual(['code', 'detail', 'requestId', 'schemas', 'status']);
        expectNothingInternal(res, 'broken store under SCIM');
        expectSecurityHeaders(res, 'broken store under SCIM');
      }
      // Inside /Bulk, an operation's failure is rendered alike.
      const bulk = await api.post(
        '/scim/v2/Bulk',
        scimBody.bulk([{ method: 'POST', bulkId: 'g', path: '/Groups', data: scimBody.group('gone') }]),
        SCIM_CT,
      );
      expectNothingInternal(bulk, 'broken store under SCIM /Bulk');
      expect(bulk.status, bulk.raw).toBe(200);
      expect(bulk.body.Operations[0].status).toBe('500');
      expect(Object.keys(bulk.body.Operations[0].response).sort()).toEqual([
        'code',
        'detail',
        'schemas',
        'status',
      ]);
    } finally {
      await sql`alter table groups_gone rename to groups`.execute(t().app.db.kysely);
    }
    expect((await api.get('/scim/v2/Groups')).status).toBe(200);
  });
});
