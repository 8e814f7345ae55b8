/**
 * `roster serve` as a real process: first and second start, the bootstrap token, ROSTER_ADMIN_TOKEN,
 * settings by environment and by flag, the probes, and what the log may never contain.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { describeEachStore } from '../../support/stores.js';
import {
  ADMIN_TOKEN,
  assertBuilt,
  childEnv,
  freePort,
  killAllRoster,
  type Loose,
  logLines,
  newTenant,
  RosterProcess,
  request,
  runRoster,
  type Server,
  startServer,
  storeEnv,
  useStore,
} from './process.js';

const TOKEN_RE = /rst_[A-Za-z0-9_-]{43}/g;
const BANNER = 'Roster created a platform-admin API token';

beforeAll(assertBuilt);
afterEach(killAllRoster);
afterAll(killAllRoster);

/** SIGTERM, then the process must end with exit code 0 within the deadline. */
async function stop(server: Server, timeoutMs = 15_000): Promise<void> {
  server.proc.signal('SIGTERM');
  const exit = await server.proc.waitForExit(timeoutMs);
  expect(exit, server.proc.describe()).toEqual({ code: 0, signal: null });
}

function messages(proc: RosterProcess): string[] {
  return logLines(proc.stdout).map((l) => l.msg);
}

/** A valid user body whose JSON is about `bytes` long (padded with address lines). */
function userOfSize(userName: string, bytes: number): { body: Loose; size: number } {
  const body: Loose = { userName, addresses: [] };
  let size = JSON.stringify(body).length;
  while (size < bytes) {
    const room = bytes - size - '{"formatted":""},'.length;
    body.addresses.push({ formatted: 'a'.repeat(Math.max(1, Math.min(1000, room))) });
    size = JSON.stringify(body).length;
  }
  return { body, size };
}

describeEachStore('roster serve: first and second start', (kind) => {
  const store = useStore(kind);

  it('the first start creates the store and a 0600 key file and prints one platform-admin token; the second reuses them and prints none', async () => {
    const env = { ...storeEnv(store()), ROSTER_PORT: '0' };
    const dbFile = env.ROSTER_DATABASE_URL.slice('sqlite:'.length);
    const keyFile = env.ROSTER_KEY_FILE;
    if (kind === 'sqlite') expect(existsSync(dirname(dbFile))).toBe(false);
    expect(existsSync(dirname(keyFile))).toBe(false);

    // `roster` without a command serves.
    const first = await startServer([], { cwd: store().dir, env });
    if (kind === 'sqlite') expect(existsSync(dbFile)).toBe(true);
    expect(existsSync(keyFile)).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(logLines(first.proc.stdout)).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: expect.stringContaining('created a new local key-encryption key file'),
      }),
    );

    // The bootstrap token: on stdout, once, in the banner; never in a log line nor on stderr.
    const printed = first.proc.stdout.match(TOKEN_RE) ?? [];
    expect(printed, first.proc.describe()).toHaveLength(1);
    const bootstrap = printed[0] as string;
    expect(first.proc.stdout).toContain(BANNER);
    expect(first.proc.stdout).toMatch(new RegExp(`\\n {2}${bootstrap}\\n`));
    expect(first.proc.stderr).not.toContain(bootstrap);
    for (const line of logLines(first.proc.stdout)) expect(JSON.stringify(line)).not.toContain(bootstrap);

    // Probes answer without a token.
    const health = await request(first.baseUrl, 'GET', '/healthz');
    expect([health.status, health.body]).toEqual([200, { status: 'ok' }]);
    const ready = await request(first.baseUrl, 'GET', '/readyz');
    expect([ready.status, ready.body]).toEqual([200, { status: 'ready' }]);

    // The printed token is a platform-admin token; nothing else is.
    const tenants = await request(first.baseUrl, 'GET', '/api/v1/tenants', { token: bootstrap });
    expect(tenants.status, tenants.raw).toBe(200);
    expect(tenants.body.items).toEqual([]);
    const created = await request(first.baseUrl, 'POST', '/api/v1/tenants', {
      token: bootstrap,
      body: { name: 'First Start GmbH' },
    });
    expect(created.status, created.raw).toBe(201);
    expect((await request(first.baseUrl, 'GET', '/api/v1/tenants')).status).toBe(401);
    expect(
      (await request(first.baseUrl, 'GET', '/api/v1/tenants', { token: `rst_${'A'.repeat(43)}` })).status,
    ).toBe(401);

    await stop(first);
    expect(messages(first.proc)).toContain('stopped');
    const keyText = readFileSync(keyFile, 'utf8');

    // The start ran the migrations: there is nothing left for `roster migrate` to do.
    const migrate = await runRoster(['migrate'], { cwd: store().dir, env });
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(migrate.stdout).toBe('schema is up to date\n');

    const second = await startServer(['serve'], { cwd: store().dir, env });
    expect(second.proc.stdout).not.toMatch(TOKEN_RE);
    expect(second.proc.stdout).not.toContain(BANNER);
    expect(second.proc.stderr).not.toMatch(TOKEN_RE);
    expect(messages(second.proc).some((m) => m.includes('key-encryption key file'))).toBe(false);
    expect(readFileSync(keyFile, 'utf8')).toBe(keyText);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    const again = await request(second.baseUrl, 'GET', '/api/v1/tenants', { token: bootstrap });
    expect(again.status, again.raw).toBe(200);
    expect(again.body.items.map((t: Loose) => t.id)).toEqual([created.body.id]);
    await stop(second);
  }, 120_000);

  it('with ROSTER_ADMIN_TOKEN set, that value is a platform token and no token is printed', async () => {
    const env = { ...storeEnv(store()), ROSTER_PORT: '0', ROSTER_ADMIN_TOKEN: ADMIN_TOKEN };
    const server = await startServer(['serve'], { cwd: store().dir, env });
    expect(server.proc.stdout).not.toMatch(TOKEN_RE);
    expect(server.proc.stdout).not.toContain(BANNER);

    const list = await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: ADMIN_TOKEN });
    expect(list.status, list.raw).toBe(200);
    const { token } = await newTenant(server.baseUrl, ADMIN_TOKEN, 'Admin Token AG');
    expect(token).toMatch(TOKEN_RE);
    expect(
      (await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: `${ADMIN_TOKEN}x` })).status,
    ).toBe(401);
    const ready = await request(server.baseUrl, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    await stop(server);
    for (const secret of [ADMIN_TOKEN, token]) {
      expect(server.proc.stdout).not.toContain(secret);
      expect(server.proc.stderr).not.toContain(secret);
    }
    // No platform token was ever minted: the audit trail has no bootstrap token either.
    expect(messages(server.proc)).toContain('stopped');
  });
});

describeEachStore('roster serve: settings', (kind) => {
  const store = useStore(kind);

  it('every setting given as a flag takes effect and wins over the environment', async () => {
    const [port, envPort] = [await freePort(), await freePort()];
    const envAdmin = 'env-admin-token-that-the-flag-overrides-0000';
    const { ROSTER_DATABASE_URL, ROSTER_KEY_FILE } = storeEnv(store());
    const server = await startServer(
      [
        '--port',
        String(port),
        '--host',
        '127.0.0.1',
        '--database-url',
        ROSTER_DATABASE_URL,
        '--key-file',
        ROSTER_KEY_FILE,
        '--admin-token',
        ADMIN_TOKEN,
        '--log-level',
        'info',
        '--body-limit',
        '2kb',
        '--redis-url',
        'redis://127.0.0.1:6399',
      ],
      {
        cwd: store().dir,
        env: {
          ROSTER_PORT: String(envPort),
          ROSTER_ADMIN_TOKEN: envAdmin,
          ROSTER_LOG_LEVEL: 'silent',
          ROSTER_BODY_LIMIT: '1mb',
          ROSTER_DATABASE_URL: 'sqlite:./wrong/place.db',
          ROSTER_KEY_FILE: './wrong/place.key',
        },
      },
    );
    expect(server.baseUrl).toBe(`http://127.0.0.1:${port}`);
    expect(existsSync(ROSTER_KEY_FILE)).toBe(true);
    expect(existsSync(`${store().dir}/wrong`)).toBe(false);
    // --log-level info beat ROSTER_LOG_LEVEL=silent: the listening line was logged (we parsed it).
    expect((await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: ADMIN_TOKEN })).status).toBe(
      200,
    );
    expect((await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: envAdmin })).status).toBe(401);

    const { token } = await newTenant(server.baseUrl, ADMIN_TOKEN, 'Flags KG');
    const small = userOfSize('small-body', 1900);
    expect(small.size).toBeLessThan(2048);
    const ok = await request(server.baseUrl, 'POST', '/api/v1/users', { token, body: small.body });
    expect(ok.status, ok.raw).toBe(201);
    const big = userOfSize('big-body', 2600);
    const tooBig = await request(server.baseUrl, 'POST', '/api/v1/users', { token, body: big.body });
    expect(tooBig.status, tooBig.raw).toBe(413);
    expect(tooBig.body.code).toBe('request.body_too_large');
    await stop(server);
  });

  it('settings from the environment take effect: host, port, log level, body limit', async () => {
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const server = await startServer(['serve'], {
      cwd: store().dir,
      baseUrl,
      env: {
        ...storeEnv(store()),
        ROSTER_HOST: '127.0.0.1',
        ROSTER_PORT: String(port),
        ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
        ROSTER_LOG_LEVEL: 'warn',
        ROSTER_BODY_LIMIT: '2kb',
      },
    });
    const { token } = await newTenant(baseUrl, ADMIN_TOKEN, 'Env Vars SE');
    const ok = await request(baseUrl, 'POST', '/api/v1/users', {
      token,
      body: userOfSize('env-small', 1900).body,
    });
    expect(ok.status, ok.raw).toBe(201);
    const tooBig = await request(baseUrl, 'POST', '/api/v1/users', {
      token,
      body: userOfSize('env-big', 2600).body,
    });
    expect(tooBig.status).toBe(413);
    await stop(server);
    // At warn, none of the info lines (listening, requests, shutdown) were written.
    const levels = logLines(server.proc.stdout).map((l) => l.level);
    expect(
      levels.every((level) => level >= 40),
      server.proc.stdout,
    ).toBe(true);
    expect(server.proc.stdout).not.toContain('request completed');
  });
});

describe('roster serve: ROSTER_ADMIN_TOKEN', () => {
  const store = useStore('sqlite');

  it('a value the start accepts is usable as a Bearer token (or the start refuses it, naming the setting)', async () => {
    // 37 characters, so past the length rule; '#', '!' and '@' are fine in an HTTP header value.
    const value = 'Admin#Pass!word@2026-0123456789abcdef';
    const proc = new RosterProcess(['serve'], {
      cwd: store().dir,
      env: childEnv({ ...storeEnv(store()), ROSTER_PORT: '0', ROSTER_ADMIN_TOKEN: value }),
    });
    const address = await proc.waitFor(
      () => (proc.exit ? 'exited' : logLines(proc.stdout).find((l) => l.msg === 'roster listening')?.address),
      'the start to succeed or fail',
    );
    if (address === 'exited') {
      expect(proc.exit?.code).toBe(2);
      expect(proc.stderr).toContain('ROSTER_ADMIN_TOKEN');
      expect(proc.stderr).not.toContain(value);
      return;
    }
    // It started, with no bootstrap token printed: this value is the operator's only platform token.
    expect(proc.stdout).not.toMatch(TOKEN_RE);
    const res = await request(address as string, 'GET', '/api/v1/tenants', { token: value });
    expect(res.status, res.raw).toBe(200);
  });
});

/** Distinctive PII and secrets that must never reach the log. */
const PII = {
  userName: 'zelda.quixote.9431@pii-probe.example',
  email: 'zq.secret.mail.5521@pii-probe.example',
  secondEmail: 'zq.other.mail.8812@pii-probe.example',
  givenName: 'Zeldaquixa',
  familyName: 'Pennyworthingtonova',
  displayName: 'Zelda Quixa Pennyworthingtonova',
  phone: '+49 30 5550 1997 31',
  street: '17 Quillfeather Lane',
  renamed: 'Zelda Renamed Obscurovich',
  invalidEmail: 'not-an-email-zq-7741',
  missing: 'nobody.here.6610@pii-probe.example',
};

/** Every spelling of a value a request may have carried: raw, lower case, URL-encoded. */
function spellings(value: string): string[] {
  return [
    ...new Set([
      value,
      value.toLowerCase(),
      encodeURIComponent(value),
      encodeURIComponent(value).toLowerCase(),
    ]),
  ];
}

describeEachStore('roster serve: the log', (kind) => {
  const store = useStore(kind);

  it.each(['info', 'trace'])(
    'at log level %s never contains the admin token, the bootstrap token, other tokens or PII',
    async (level) => {
      const env = { ...storeEnv(store()), ROSTER_PORT: '0', ROSTER_LOG_LEVEL: level };
      // First start: no ROSTER_ADMIN_TOKEN, so a bootstrap token is printed.
      const first = await startServer(['serve'], { cwd: store().dir, env });
      const bootstrap = (first.proc.stdout.match(TOKEN_RE) ?? [])[0];
      expect(bootstrap, first.proc.describe()).toBeDefined();
      const base = first.baseUrl;
      const { token } = await newTenant(base, bootstrap as string, 'Log Probe Ltd');
      const bogus = `rst_${'Q'.repeat(20)}BogusButSecretLooking7`;
      let requests = 2;
      const send = async (method: string, path: string, options: Parameters<typeof request>[3] = {}) => {
        requests++;
        return request(base, method, path, options);
      };

      const user = await send('POST', '/api/v1/users', {
        token,
        body: {
          userName: PII.userName,
          name: { givenName: PII.givenName, familyName: PII.familyName },
          displayName: PII.displayName,
          emails: [{ value: PII.email, type: 'work', primary: true }],
          phoneNumbers: [{ value: PII.phone }],
          addresses: [{ streetAddress: PII.street }],
        },
      });
      expect(user.status, user.raw).toBe(201);
      const id = user.body.id as string;
      const byEmail = await send('GET', `/api/v1/users?email=${encodeURIComponent(PII.email)}`, { token });
      expect(byEmail.body.items.map((u: Loose) => u.id)).toEqual([id]);
      const byRawEmail = await send('GET', `/api/v1/users?email=${PII.email}`, { token });
      expect(byRawEmail.status).toBe(200);
      const byName = await send('GET', `/api/v1/users?userName=${encodeURIComponent(PII.userName)}`, {
        token,
      });
      expect(byName.body.items.map((u: Loose) => u.id)).toEqual([id]);
      expect(
        (await send('GET', `/api/v1/users?email=${encodeURIComponent(PII.missing)}`, { token })).status,
      ).toBe(200);
      expect((await send('GET', `/api/v1/users/${id}`, { token })).status).toBe(200);
      const patched = await send('PATCH', `/api/v1/users/${id}`, {
        token,
        body: { displayName: PII.renamed, emails: [{ value: PII.secondEmail }] },
      });
      expect(patched.status, patched.raw).toBe(200);
      // Failures must not log the input either.
      expect((await send('POST', '/api/v1/users', { token, body: { userName: PII.userName } })).status).toBe(
        409,
      );
      const invalid = await send('POST', '/api/v1/users', {
        token,
        body: { userName: `${PII.userName}.x`, emails: [{ value: PII.invalidEmail }] },
      });
      expect(invalid.status).toBe(422);
      const malformed = await send('POST', '/api/v1/users', {
        token,
        raw: `{"userName": "${PII.userName}", "emails": [{"value": "${PII.email}"}]`,
      });
      expect(malformed.status).toBe(400);
      expect((await send('GET', `/api/v1/users/${encodeURIComponent(PII.userName)}`, { token })).status).toBe(
        400,
      );
      expect(
        (await send('GET', `/api/v1/no-such/${encodeURIComponent(PII.email)}?email=${PII.email}`, { token }))
          .status,
      ).toBe(404);
      expect(
        (await send('GET', `/api/v1/users?email=${encodeURIComponent(PII.email)}`, { token: bogus })).status,
      ).toBe(401);
      await stop(first);

      // Second start with ROSTER_ADMIN_TOKEN: the platform token acting on the tenant.
      const second = await startServer(['serve'], {
        cwd: store().dir,
        env: { ...env, ROSTER_ADMIN_TOKEN: ADMIN_TOKEN },
      });
      const tenantId = (await request(second.baseUrl, 'GET', '/api/v1/tenants', { token: ADMIN_TOKEN })).body
        .items[0].id;
      const viaAdmin = await request(
        second.baseUrl,
        'GET',
        `/api/v1/users?email=${encodeURIComponent(PII.secondEmail)}`,
        {
          token: ADMIN_TOKEN,
          headers: { 'roster-tenant': tenantId },
        },
      );
      expect(viaAdmin.status, viaAdmin.raw).toBe(200);
      expect(viaAdmin.body.items.map((u: Loose) => u.id)).toEqual([id]);
      await stop(second);

      // The log did record the traffic (so an empty log cannot pass this test) ...
      const completed = logLines(first.proc.stdout).filter((l) => l.msg === 'request completed');
      expect(completed.length).toBeGreaterThanOrEqual(requests);
      // ... and nothing of it but the banner line may show the bootstrap token.
      expect(first.proc.stdout.split(bootstrap as string)).toHaveLength(2);
      const outputs = [
        first.proc.stdout.replace(`\n  ${bootstrap}\n`, '\n  <the banner token>\n'),
        first.proc.stderr,
        second.proc.stdout,
        second.proc.stderr,
      ].join('\n');
      const secrets = [
        bootstrap as string,
        ADMIN_TOKEN,
        token,
        bogus,
        ...Object.values(PII).flatMap(spellings),
      ];
      const leaked = secrets.filter((s) => outputs.includes(s));
      expect(leaked, outputs).toEqual([]);
    },
  );
});
