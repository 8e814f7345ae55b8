import { setTimeout as sleep } from 'node:timers/promises';
import { expect } from 'vitest';
import { base32Decode, TOTP_DEFAULTS, totp } from '../../src/access/admins/totp.js';
import { type App, buildApp } from '../../src/main.js';
import type { Clock } from '../../src/platform/clock.js';
import { loadConfig } from '../../src/platform/config.js';
import { createLogger } from '../../src/platform/logging.js';
import { ADMIN_TOKEN, type Client, clientFor, testEnv } from '../support/app.js';
import { createTestStore, type TestStore } from '../support/stores.js';

export const PASSWORD = 'correct horse battery staple';

/** A clock a test moves by hand (a session's idle timeout); otherwise the system's time. */
export interface MovableClock extends Clock {
  advance(ms: number): void;
}

export function movableClock(): MovableClock {
  let offset = 0;
  return {
    now: () => new Date(Date.now() + offset),
    advance(ms) {
      offset += ms;
    },
  };
}

export interface Tenant {
  readonly id: string;
  readonly name: string;
  /** The REST API with a tenant-admin token of this tenant. */
  readonly api: Client;
}

/**
 * Roster as the console sees it: the full app (buildApp, as in production) on a fresh SQLite store, listening
 * on a free port of 127.0.0.1 (a secure context for the browser), with a movable clock.
 */
export interface E2eRoster {
  readonly app: App;
  readonly clock: MovableClock;
  /** http://127.0.0.1:<port> */
  readonly origin: string;
  /** The console's address: `${origin}/console/`. */
  readonly console: string;
  /** The REST API with the platform ADMIN token. */
  readonly admin: Client;
  newTenant(name: string): Promise<Tenant>;
  close(): Promise<void>;
}

export async function startRoster(): Promise<E2eRoster> {
  const store: TestStore = createTestStore('sqlite');
  const clock = movableClock();
  let app: App | undefined;
  try {
    app = await buildApp(
      loadConfig(
        testEnv(store, {
          // The utilisation history and the request counts show within a second or two, not a minute.
          ROSTER_USAGE_SAMPLE_INTERVAL: '1',
          ROSTER_REQUEST_COUNTS_FLUSH_INTERVAL: '0.5',
        }),
      ),
      { logger: createLogger('silent'), clock },
    );
    await app.http.listen({ port: 0, host: '127.0.0.1' });
  } catch (err) {
    await app?.close().catch(() => {});
    await store.drop();
    throw err;
  }
  const started = app;
  const address = started.http.server.address();
  if (address === null || typeof address === 'string') throw new Error('Roster is not listening on TCP');
  const origin = `http://127.0.0.1:${address.port}`;
  const admin = clientFor(started, ADMIN_TOKEN);
  return {
    app: started,
    clock,
    origin,
    console: `${origin}/console/`,
    admin,
    async newTenant(name) {
      const tenant = await admin.post('/api/v1/tenants', { name });
      expect(tenant.status, tenant.raw).toBe(201);
      const token = await admin.post('/api/v1/tokens', {
        tenantId: tenant.body.id,
        name: 'e2e set-up',
        roles: ['tenant-admin'],
      });
      expect(token.status, token.raw).toBe(201);
      return { id: tenant.body.id, name, api: clientFor(started, token.body.token) };
    },
    async close() {
      await started.close();
      await store.drop();
    },
  };
}

/** `POST` that must answer `status` (201 unless told): the body of the answer. */
export async function must(
  api: Client,
  path: string,
  body: unknown,
  status = 201,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown> & { id: string }> {
  const res = await api.post(path, body, headers);
  expect(res.status, `POST ${path}: ${res.raw}`).toBe(status);
  return res.body;
}

/** A new admin account of the tenant (password PASSWORD, not yet enrolled in TOTP). */
export function createAdmin(t: Tenant, username: string, roles: readonly string[]): Promise<unknown> {
  return must(t.api, '/api/v1/admins', { username, password: PASSWORD, roles });
}

/** The code an authenticator app shows at `at` (`offsetSteps` 30-second steps away). */
export function totpCode(secret: string, at: Date, offsetSteps = 0): string {
  return totp(base32Decode(secret), at.getTime() + offsetSteps * TOTP_DEFAULTS.period * 1000);
}

/** The last step each secret's code was used for here: a TOTP code is accepted once (RFC 6238 §5.2). */
const usedSteps = new Map<string, number>();

/**
 * The code to sign in with now: the current step's, after waiting for the next step when this one was
 * already used for the secret (or ends within 3 s).
 */
export async function freshCode(secret: string, clock: Clock): Promise<string> {
  const period = TOTP_DEFAULTS.period * 1000;
  await awayFromStepEdge(clock);
  const used = usedSteps.get(secret);
  const step = Math.floor(clock.now().getTime() / period);
  if (used !== undefined && step <= used) await sleep((used + 1) * period - clock.now().getTime() + 100);
  const at = clock.now();
  usedSteps.set(secret, Math.floor(at.getTime() / period));
  return totpCode(secret, at);
}

/**
 * Waits, when the current 30-second step ends within 3 s, for the next one: a code computed now is then still
 * the server's "previous" or "current" step when it arrives, whatever the test does meanwhile.
 */
export async function awayFromStepEdge(clock: Clock): Promise<void> {
  const period = TOTP_DEFAULTS.period * 1000;
  const into = clock.now().getTime() % period;
  if (period - into < 3_000) await sleep(period - into + 100);
}

/**
 * Enrols an account's TOTP through the API (password step, then the enrolment with a code) and returns the
 * secret. The enrolment uses the previous step's code (accepted: RFC 6238 drift window), so that the
 * current step's code is still unused for the test's own sign-in in the browser.
 */
export async function enrolByApi(
  r: E2eRoster,
  tenant: string,
  username: string,
): Promise<{ secret: string; recoveryCodes: string[] }> {
  const anon = clientFor(r.app, undefined);
  // An empty tenant names a platform account.
  const step = await anon.post('/api/v1/auth/login', {
    ...(tenant ? { tenant } : {}),
    username,
    password: PASSWORD,
  });
  expect(step.status, step.raw).toBe(200);
  expect(step.body.mfa).toBe('enrolment_required');
  const secret = step.body.secret as string;
  await awayFromStepEdge(r.clock);
  const at = r.clock.now();
  const enrolled = await anon.post('/api/v1/auth/totp/enrol', {
    challenge: step.body.challenge,
    code: totpCode(secret, at, -1),
  });
  usedSteps.set(secret, Math.floor(at.getTime() / (TOTP_DEFAULTS.period * 1000)) - 1);
  expect(enrolled.status, enrolled.raw).toBe(200);
  return { secret, recoveryCodes: enrolled.body.recoveryCodes };
}
