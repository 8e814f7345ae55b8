import { join } from 'node:path';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { type App, buildApp } from '../../src/main.js';
import type { Clock } from '../../src/platform/clock.js';
import { loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logging.js';
import { createTestStore, type StoreKind, type TestStore } from './stores.js';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef0123456789abcdef';

/**
 * The settings of a test app on `store`: its key file beside the store, the admin token, quiet logs and no
 * rate limits (tests drive many requests quickly; the throttling tests turn the limits on themselves).
 */
export function testEnv(store: TestStore, env: Record<string, string> = {}): Record<string, string> {
  return {
    ROSTER_DATABASE_URL: store.url,
    ROSTER_KEY_FILE: join(store.dir, 'roster.key'),
    ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
    ROSTER_LOG_LEVEL: 'silent',
    ROSTER_RATE_LIMIT_TENANT: '0',
    ROSTER_RATE_LIMIT_GLOBAL: '0',
    ...env,
  };
}

export interface Answer {
  readonly status: number;
  readonly headers: LightMyRequestResponse['headers'];
  // biome-ignore lint/suspicious/noExplicitAny: test answers are inspected loosely
  readonly body: any;
  readonly raw: string;
}

export interface Client {
  get(path: string, headers?: Record<string, string>): Promise<Answer>;
  delete(path: string, headers?: Record<string, string>): Promise<Answer>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  put(path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  patch(path: string, body?: unknown, headers?: Record<string, string>): Promise<Answer>;
  /** Sends a raw payload with the given headers (for malformed-input tests). */
  raw(
    method: string,
    path: string,
    payload: string | Buffer,
    headers: Record<string, string>,
  ): Promise<Answer>;
}

export interface TestApp {
  readonly app: App;
  readonly store: TestStore;
  readonly admin: Client;
  client(token: string | undefined): Client;
  /** A new tenant and a token bound to it. */
  newTenant(name?: string): Promise<{ tenantId: string; token: string; api: Client }>;
}

function answer(res: LightMyRequestResponse): Answer {
  let body: unknown;
  try {
    body = res.body === '' ? undefined : JSON.parse(res.body);
  } catch {
    body = undefined;
  }
  return { status: res.statusCode, headers: res.headers, body, raw: res.body };
}

export function clientFor(app: App, token: string | undefined): Client {
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const send = async (method: string, url: string, body: unknown, headers: Record<string, string> = {}) =>
    answer(
      await app.http.inject({
        method: method as 'GET',
        url,
        headers: {
          ...auth,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      }),
    );
  return {
    get: (p, h) => send('GET', p, undefined, h),
    delete: (p, h) => send('DELETE', p, undefined, h),
    post: (p, b, h) => send('POST', p, b, h),
    put: (p, b, h) => send('PUT', p, b, h),
    patch: (p, b, h) => send('PATCH', p, b, h),
    raw: async (method, url, payload, headers) =>
      answer(
        await app.http.inject({ method: method as 'POST', url, payload, headers: { ...auth, ...headers } }),
      ),
  };
}

let seq = 0;

/**
 * Builds a full Roster app on a fresh store of `kind` for one test file (closed and dropped after it), on
 * `options.clock` when a test moves time.
 */
export function useTestApp(
  kind: StoreKind,
  env: Record<string, string> = {},
  options: { clock?: Clock; keyCache?: { ttlMs?: number; versionCheckMs?: number } } = {},
): () => TestApp {
  let t: TestApp | undefined;
  let store: TestStore | undefined;
  beforeAll(async () => {
    store = createTestStore(kind);
    const config = loadConfig(testEnv(store, env));
    const app = await buildApp(config, {
      logger: createLogger('silent'),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.keyCache ? { keyCache: options.keyCache } : {}),
    });
    const admin = clientFor(app, ADMIN_TOKEN);
    t = {
      app,
      store: store as TestStore,
      admin,
      client: (token) => clientFor(app, token),
      async newTenant(name) {
        const tenant = await admin.post('/api/v1/tenants', {
          name: name ?? `tenant-${process.pid}-${++seq}-${Date.now()}`,
        });
        if (tenant.status !== 201) throw new Error(`tenant create failed: ${tenant.raw}`);
        const tok = await admin.post('/api/v1/tokens', {
          tenantId: tenant.body.id,
          name: 'test',
          roles: ['tenant-admin'],
        });
        if (tok.status !== 201) throw new Error(`token create failed: ${tok.raw}`);
        return { tenantId: tenant.body.id, token: tok.body.token, api: clientFor(app, tok.body.token) };
      },
    };
  });
  afterAll(async () => {
    // Drop the store even when start-up failed, so failed runs leave no schemas behind.
    await t?.app.close();
    await store?.drop();
  });
  return () => {
    if (!t) throw new Error('test app not started');
    return t;
  };
}
