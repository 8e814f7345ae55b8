import { randomBytes } from 'node:crypto';
import { buildApp } from '../../src/main.js';
import { loadConfig } from '../../src/platform/config.js';
import type { RouteEntry } from '../../src/platform/http/server.js';
import { createLogger } from '../../src/platform/logging.js';
import { testEnv } from './app.js';
import { createTestStore } from './stores.js';

/**
 * Every route of a freshly built app, with its auth mode: the table that the generated authorisation,
 * isolation and error tests iterate over, so a new route is covered without editing them.
 */
export async function loadRouteTable(): Promise<RouteEntry[]> {
  const store = createTestStore('sqlite');
  const app = await buildApp(loadConfig(testEnv(store)), { logger: createLogger('silent') });
  try {
    return app.http.routeTable.map((r) => ({ ...r }));
  } finally {
    await app.close();
    await store.drop();
  }
}

/** A route's test name: method, path and auth mode. */
export const routeName = (r: RouteEntry): string => `${r.method} ${r.url} [${r.auth}]`;

/** A route's identity: method and path. */
export const routeKey = (r: Pick<RouteEntry, 'method' | 'url'>): string => `${r.method} ${r.url}`;

let uniq = 0;
/** A value no other test (or test process) uses. */
export const uniqueName = (label: string): string =>
  `${label}-${process.pid}-${++uniq}-${randomBytes(3).toString('hex')}`;
