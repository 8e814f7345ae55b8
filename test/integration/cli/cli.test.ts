/**
 * The `roster` command as an operator runs it: help and usage, configuration errors, `migrate`,
 * `tenant create` and `token create` — each a real `node bin/roster.js` process on a real store.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../../src/platform/db/index.js';
import { createTestStore, describeEachStore } from '../../support/stores.js';
import {
  ADMIN_TOKEN,
  assertBuilt,
  killAllRoster,
  type Loose,
  request,
  runRoster,
  type Server,
  startServer,
  storeEnv,
  useStore,
} from './process.js';

const SETTINGS: readonly [env: string, flag: string][] = [
  ['ROSTER_PORT', '--port'],
  ['ROSTER_HOST', '--host'],
  ['ROSTER_DATABASE_URL', '--database-url'],
  ['ROSTER_KEY_FILE', '--key-file'],
  ['ROSTER_ADMIN_TOKEN', '--admin-token'],
  ['ROSTER_REDIS_URL', '--redis-url'],
  ['ROSTER_LOG_LEVEL', '--log-level'],
  ['ROSTER_BODY_LIMIT', '--body-limit'],
];

/** `migrate` on a fresh store: every migration, the first one first. */
const APPLIED_ALL = /^applied: 0001_foundation(, \d{4}_[a-z0-9_]+)*\n$/;

beforeAll(assertBuilt);
afterEach(killAllRoster);
afterAll(killAllRoster);

/** A scratch working directory per test, so that the default ./data paths never land in the repository. */
function useScratchDir(): () => string {
  let dir: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'roster-cli-'));
  });
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  return () => {
    if (!dir) throw new Error('no scratch dir');
    return dir;
  };
}

describe('roster help and usage', () => {
  const cwd = useScratchDir();

  it.each([{ args: ['help'] }, { args: ['--help'] }, { args: ['-h'] }, { args: ['serve', '--help'] }])(
    'roster $args prints the usage with every command and setting, exits 0 and touches no store',
    async ({ args }) => {
      const r = await runRoster(args, { cwd: cwd() });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^Usage: roster/);
      for (const command of ['serve', 'migrate', 'tenant create --name', 'token create --name', 'help']) {
        expect(r.stdout).toContain(command);
      }
      for (const [env, flag] of SETTINGS) {
        expect(r.stdout).toMatch(new RegExp(`${flag}\\s+${env}\\b`));
      }
      expect(readdirSync(cwd())).toEqual([]);
    },
  );

  it('an unknown command exits 2 with the usage on stderr', async () => {
    const r = await runRoster(['frobnicate'], { cwd: cwd() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
    expect(r.stderr).toContain('Usage: roster');
    expect(r.stdout).toBe('');
    expect(readdirSync(cwd())).toEqual([]);
  });

  it('an unknown subcommand exits 2', async () => {
    const r = await runRoster(['tenant', 'delete', '--name', 'x'], { cwd: cwd() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown command 'tenant delete'");
  });

  it('an unknown flag, or a flag without its value, exits 2 with the usage', async () => {
    const unknown = await runRoster(['serve', '--prot', '8080'], { cwd: cwd() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('--prot');
    expect(unknown.stderr).toContain('Usage: roster');
    const missing = await runRoster(['serve', '--port'], { cwd: cwd() });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--port');
    expect(readdirSync(cwd())).toEqual([]);
  });
});

interface BadCase {
  readonly title: string;
  readonly env?: Record<string, string>;
  readonly args?: readonly string[];
  /** The setting the message must name. */
  readonly names: string;
  /** Text of the bad value that must never be echoed. */
  readonly secret: string;
}

const BAD_CONFIG: readonly BadCase[] = [
  { title: 'port out of range', env: { ROSTER_PORT: '70000' }, names: 'ROSTER_PORT', secret: '70000' },
  { title: 'port not a number', env: { ROSTER_PORT: 'eighty' }, names: 'ROSTER_PORT', secret: 'eighty' },
  {
    title: 'host with blanks',
    env: { ROSTER_HOST: 'bad host name' },
    names: 'ROSTER_HOST',
    secret: 'bad host',
  },
  {
    title: 'database URL of an unknown kind, with a password',
    env: { ROSTER_DATABASE_URL: 'mysql://root:Hunter2-Db-Secret@db.example/roster' },
    names: 'ROSTER_DATABASE_URL',
    secret: 'Hunter2-Db-Secret',
  },
  {
    title: 'unparsable postgres URL with a password',
    env: { ROSTER_DATABASE_URL: 'postgres://roster:Hunter2-Pg-Secret@db.example:99999/roster' },
    names: 'ROSTER_DATABASE_URL',
    secret: 'Hunter2-Pg-Secret',
  },
  { title: 'blank key file', env: { ROSTER_KEY_FILE: '   ' }, names: 'ROSTER_KEY_FILE', secret: '   \n' },
  {
    title: 'admin token too short',
    env: { ROSTER_ADMIN_TOKEN: 'Short-Admin-Secret-42' },
    names: 'ROSTER_ADMIN_TOKEN',
    secret: 'Short-Admin-Secret-42',
  },
  {
    title: 'redis URL of the wrong scheme, with a password',
    env: { ROSTER_REDIS_URL: 'http://:Redis-Pass-Secret-77@cache.example:6379' },
    names: 'ROSTER_REDIS_URL',
    secret: 'Redis-Pass-Secret-77',
  },
  {
    title: 'unknown log level',
    env: { ROSTER_LOG_LEVEL: 'chattiest' },
    names: 'ROSTER_LOG_LEVEL',
    secret: 'chattiest',
  },
  {
    title: 'body limit too large',
    env: { ROSTER_BODY_LIMIT: '10gb' },
    names: 'ROSTER_BODY_LIMIT',
    secret: '10gb',
  },
  {
    title: 'body limit too small',
    env: { ROSTER_BODY_LIMIT: '100' },
    names: 'ROSTER_BODY_LIMIT',
    secret: '100\n',
  },
  { title: '--port flag', args: ['--port', 'eighty'], names: '--port', secret: 'eighty' },
  {
    title: '--database-url flag with a password',
    args: ['--database-url', 'mysql://root:Flag-Db-Secret-99@db.example/roster'],
    names: '--database-url',
    secret: 'Flag-Db-Secret-99',
  },
  {
    title: '--admin-token flag too short',
    args: ['--admin-token', 'Flag-Admin-Secret-1'],
    names: '--admin-token',
    secret: 'Flag-Admin-Secret-1',
  },
  { title: '--body-limit flag', args: ['--body-limit', 'huge'], names: '--body-limit', secret: 'huge' },
  {
    title: '--log-level flag on `migrate`',
    args: ['migrate', '--log-level', 'chattiest'],
    names: '--log-level',
    secret: 'chattiest',
  },
];

describe('a bad setting stops the start', () => {
  const cwd = useScratchDir();

  it.each(BAD_CONFIG)('$title: exit 2, names $names, never echoes the value', async (c) => {
    const r = await runRoster(c.args ?? [], { cwd: cwd(), env: c.env, timeoutMs: 15_000 });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(2);
    expect(r.stderr).toContain(`invalid setting ${c.names}`);
    expect(r.stderr).not.toContain(c.secret);
    expect(r.stdout).not.toContain(c.secret);
    expect(r.stdout).not.toContain('roster listening');
    // Nothing was opened or created: no ./data folder, no database, no key file.
    expect(readdirSync(cwd())).toEqual([]);
  });

  it('a bad value in the environment is overridden by a good flag', async () => {
    const r = await runRoster(['migrate', '--log-level', 'info', '--database-url', 'sqlite:./db/r.db'], {
      cwd: cwd(),
      env: { ROSTER_LOG_LEVEL: 'chattiest', ROSTER_DATABASE_URL: 'mysql://nope' },
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(APPLIED_ALL);
    expect(existsSync(join(cwd(), 'db', 'r.db'))).toBe(true);
  });

  it('an invalid schema in a postgres URL stops the start, names ROSTER_DATABASE_URL and hides the password', async () => {
    const r = await runRoster(['migrate'], {
      cwd: cwd(),
      env: {
        ROSTER_DATABASE_URL: 'postgres://postgres:Schema-Pw-Secret-5@127.0.0.1:5432/test?schema=Not-Valid',
      },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).not.toContain('Schema-Pw-Secret-5');
    expect(r.stdout).not.toContain('Schema-Pw-Secret-5');
    expect(r.stderr).toContain('ROSTER_DATABASE_URL');
  });

  it('an unreachable database stops the start with a non-zero exit and hides the password', async () => {
    const r = await runRoster(['serve', '--port', '0'], {
      cwd: cwd(),
      env: { ROSTER_DATABASE_URL: 'postgres://roster:Unreachable-Pw-Secret-8@127.0.0.1:1/roster' },
      timeoutMs: 20_000,
    });
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.stderr).toMatch(/^roster: /m);
    expect(`${r.stdout}${r.stderr}`).not.toContain('Unreachable-Pw-Secret-8');
    expect(r.stdout).not.toContain('roster listening');
  });

  it('a key file that is not a Roster key file stops the start, names ROSTER_KEY_FILE, never prints the key', async () => {
    const keyFile = join(cwd(), 'bad.key');
    const keyBytes = Buffer.from('sixteen-byte-key').toString('base64');
    writeFileSync(
      keyFile,
      JSON.stringify({ format: 'roster-kek/1', keys: [{ version: 1, key: keyBytes }] }),
      {
        mode: 0o600,
      },
    );
    const r = await runRoster(['serve', '--port', '0'], {
      cwd: cwd(),
      env: { ROSTER_DATABASE_URL: `sqlite:${join(cwd(), 'r.db')}`, ROSTER_KEY_FILE: keyFile },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ROSTER_KEY_FILE');
    expect(`${r.stdout}${r.stderr}`).not.toContain(keyBytes);
    expect(r.stdout).not.toContain('roster listening');
  });

  it('a key file path that is a folder stops the start and names ROSTER_KEY_FILE', async () => {
    const keyDir = join(cwd(), 'key-is-a-dir');
    mkdirSync(keyDir);
    const r = await runRoster(['serve', '--port', '0'], {
      cwd: cwd(),
      env: { ROSTER_DATABASE_URL: `sqlite:${join(cwd(), 'r.db')}`, ROSTER_KEY_FILE: keyDir },
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('ROSTER_KEY_FILE');
  });
});

describeEachStore('roster migrate', (kind) => {
  const store = useStore(kind);

  it('applies the migrations on a fresh store, then says the schema is up to date', async () => {
    const env = storeEnv(store());
    if (kind === 'sqlite') {
      expect(existsSync(join(store().dir, 'nested'))).toBe(false);
    }
    const first = await runRoster(['migrate'], { cwd: store().dir, env });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(APPLIED_ALL);
    expect(first.stderr).toBe('');
    if (kind === 'sqlite') {
      expect(existsSync(join(store().dir, 'nested', 'deeper', 'roster.db'))).toBe(true);
    }
    const second = await runRoster(['migrate'], { cwd: store().dir, env });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toBe('schema is up to date\n');
    // The schema really is there: the tables answer.
    const db = await openDatabase(storeEnv(store()).ROSTER_DATABASE_URL);
    try {
      const rows = await db.kysely.selectFrom('tenants').select('id').execute();
      expect(rows).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('migrates a fresh store while another Roster store already lives in the same database', async () => {
    // On PostgreSQL the two stores are two schemas of one database (as two deployments sharing a server).
    const sibling = createTestStore(kind);
    try {
      const siblingRun = await runRoster(['migrate'], { cwd: sibling.dir, env: storeEnv(sibling) });
      expect(siblingRun.code, siblingRun.stderr).toBe(0);
      expect(siblingRun.stdout).toMatch(APPLIED_ALL);

      const env = storeEnv(store());
      const first = await runRoster(['migrate'], { cwd: store().dir, env });
      expect(first.code, first.stderr).toBe(0);
      expect(first.stdout).toMatch(APPLIED_ALL);
      const tenant = await runRoster(['tenant', 'create', '--name', 'Second Deployment'], {
        cwd: store().dir,
        env,
      });
      expect(tenant.code, tenant.stderr).toBe(0);
    } finally {
      await sibling.drop();
    }
  });

  it('settings given as flags work the same as the environment', async () => {
    const env = storeEnv(store());
    const r = await runRoster(['migrate', '--database-url', env.ROSTER_DATABASE_URL], { cwd: store().dir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(APPLIED_ALL);
    const again = await runRoster(['migrate'], { cwd: store().dir, env });
    expect(again.stdout).toBe('schema is up to date\n');
  });
});

describeEachStore('roster tenant create and token create', (kind) => {
  const store = useStore(kind);

  async function serveWithAdminToken(): Promise<Server> {
    return startServer(['serve'], {
      cwd: store().dir,
      env: { ...storeEnv(store()), ROSTER_PORT: '0', ROSTER_ADMIN_TOKEN: ADMIN_TOKEN },
    });
  }

  it('tenant create prints the tenant as one JSON line; the name is unique; --name is required', async () => {
    const env = storeEnv(store());
    const r = await runRoster(['tenant', 'create', '--name', 'Acme Corp'], { cwd: store().dir, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.endsWith('\n')).toBe(true);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const tenant = JSON.parse(r.stdout);
    expect(Object.keys(tenant).sort()).toEqual(['id', 'name']);
    expect(tenant.name).toBe('Acme Corp');
    expect(tenant.id).toMatch(/^[0-9a-f-]{36}$/);

    const dup = await runRoster(['tenant', 'create', '--name', 'acme corp'], { cwd: store().dir, env });
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('tenants.name_taken');
    expect(dup.stdout).toBe('');

    const noName = await runRoster(['tenant', 'create'], { cwd: store().dir, env });
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain('--name');
    expect(noName.stdout).toBe('');

    const server = await serveWithAdminToken();
    const list = await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: ADMIN_TOKEN });
    expect(list.status).toBe(200);
    expect(list.body.items).toEqual([expect.objectContaining({ id: tenant.id, name: 'Acme Corp' })]);
    const audit = await request(server.baseUrl, 'GET', '/api/v1/audit/entries', { token: ADMIN_TOKEN });
    expect(audit.status).toBe(200);
    const created = audit.body.items.filter((e: Loose) => e.action === 'tenant.created');
    expect(created).toEqual([
      expect.objectContaining({ actor: 'cli', target: { type: 'tenant', id: tenant.id } }),
    ]);
  });

  it('token create prints {id, tenantId, token} once; platform and tenant tokens work against the server', async () => {
    const env = storeEnv(store());
    const cwd = store().dir;
    const tenant = JSON.parse(
      (await runRoster(['tenant', 'create', '--name', 'Token Test Inc'], { cwd, env })).stdout,
    );

    const platform = await runRoster(['token', 'create', '--name', 'ops', '--roles', 'platform-admin'], {
      cwd,
      env,
    });
    expect(platform.code, platform.stderr).toBe(0);
    expect(platform.stdout.trim().split('\n')).toHaveLength(1);
    const p = JSON.parse(platform.stdout);
    expect(Object.keys(p).sort()).toEqual(['id', 'tenantId', 'token']);
    expect(p.tenantId).toBeNull();
    expect(p.token).toMatch(/^rst_[A-Za-z0-9_-]{43}$/);
    expect(platform.stdout.split(p.token)).toHaveLength(2); // printed exactly once
    expect(platform.stderr).not.toContain(p.token);

    const scoped = await runRoster(
      ['token', 'create', '--name', 'scim', '--tenant', tenant.id, '--roles', 'tenant-admin, provisioner'],
      { cwd, env },
    );
    expect(scoped.code, scoped.stderr).toBe(0);
    const t = JSON.parse(scoped.stdout);
    expect(Object.keys(t).sort()).toEqual(['id', 'tenantId', 'token']);
    expect(t.tenantId).toBe(tenant.id);
    expect(t.token).not.toBe(p.token);

    const server = await serveWithAdminToken();
    // The platform token from the CLI is a platform token.
    const tenants = await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: p.token });
    expect(tenants.status, tenants.raw).toBe(200);
    expect(tenants.body.items.map((x: Loose) => x.id)).toEqual([tenant.id]);
    // The tenant token acts on its tenant only.
    const user = await request(server.baseUrl, 'POST', '/api/v1/users', {
      token: t.token,
      body: { userName: 'cli-token-user' },
    });
    expect(user.status, user.raw).toBe(201);
    const platformOnly = await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: t.token });
    expect(platformOnly.status).toBe(403);
    expect(platformOnly.body).toMatchObject({ code: 'auth.forbidden', permission: 'tenants:manage' });
    // Only the hash is stored: reading the token back never shows the secret.
    const read = await request(server.baseUrl, 'GET', `/api/v1/tokens/${t.id}`, { token: p.token });
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({
      id: t.id,
      tenantId: tenant.id,
      name: 'scim',
      roles: ['tenant-admin', 'provisioner'],
    });
    expect(read.raw).not.toContain(t.token);
    expect(read.body.createdBy).toBe('cli');
    // Both mints are audited as done by the CLI.
    const platformAudit = await request(server.baseUrl, 'GET', '/api/v1/audit/entries', { token: p.token });
    expect(
      platformAudit.body.items
        .filter((e: Loose) => e.action === 'token.created')
        .map((e: Loose) => [e.actor, e.target.id]),
    ).toEqual([['cli', p.id]]);
    const tenantAudit = await request(server.baseUrl, 'GET', '/api/v1/audit/entries', { token: t.token });
    expect(
      tenantAudit.body.items
        .filter((e: Loose) => e.action === 'token.created')
        .map((e: Loose) => [e.actor, e.target.id]),
    ).toEqual([['cli', t.id]]);
    // No secret of the CLI reached the server's log.
    for (const secret of [p.token, t.token]) {
      expect(server.proc.stdout).not.toContain(secret);
      expect(server.proc.stderr).not.toContain(secret);
    }
  });

  it('token create with an expiry prints a token that works until then', async () => {
    const env = storeEnv(store());
    const expiresAt = new Date(Date.now() + 3600_000).toISOString();
    const r = await runRoster(
      ['token', 'create', '--name', 'temp', '--roles', 'platform-admin', '--expires-at', expiresAt],
      { cwd: store().dir, env },
    );
    expect(r.code, r.stderr).toBe(0);
    const tok = JSON.parse(r.stdout);
    // Without --roles a token holds no role (least privilege): it authenticates and may do nothing.
    const bare = await runRoster(['token', 'create', '--name', 'bare', '--expires-at', expiresAt], {
      cwd: store().dir,
      env,
    });
    expect(bare.code, bare.stderr).toBe(0);
    const bareTok = JSON.parse(bare.stdout);
    const server = await serveWithAdminToken();
    expect((await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: tok.token })).status).toBe(200);
    const read = await request(server.baseUrl, 'GET', `/api/v1/tokens/${tok.id}`, { token: ADMIN_TOKEN });
    expect(read.body.expiresAt).toBe(expiresAt);
    expect(read.body.roles).toEqual(['platform-admin']);
    const bareRead = await request(server.baseUrl, 'GET', `/api/v1/tokens/${bareTok.id}`, {
      token: ADMIN_TOKEN,
    });
    expect(bareRead.body).toMatchObject({ roles: [], expiresAt });
    const refused = await request(server.baseUrl, 'GET', '/api/v1/tenants', { token: bareTok.token });
    expect(refused.status, refused.raw).toBe(403);
    expect(refused.body).toMatchObject({ code: 'auth.forbidden', permission: 'tenants:manage' });
  });

  it('token create refuses a missing name, a bad or past expiry, an unknown tenant or role and platform-admin on a tenant, and prints no token', async () => {
    const env = storeEnv(store());
    const cwd = store().dir;
    const noName = await runRoster(['token', 'create'], { cwd, env });
    expect(noName.code).toBe(2);
    expect(noName.stderr).toContain('--name');

    const badExpiry = await runRoster(['token', 'create', '--name', 'x', '--expires-at', 'tomorrow'], {
      cwd,
      env,
    });
    expect(badExpiry.code).toBe(2);
    expect(badExpiry.stderr).toContain('--expires-at');

    const pastExpiry = await runRoster(
      ['token', 'create', '--name', 'x', '--expires-at', '2001-01-01T00:00:00Z'],
      { cwd, env },
    );
    expect(pastExpiry.code).toBe(1);
    expect(pastExpiry.stderr).toContain('tokens.invalid_expiry');

    const unknownTenant = await runRoster(
      ['token', 'create', '--name', 'x', '--tenant', '01900000-0000-7000-8000-000000000000'],
      { cwd, env },
    );
    expect(unknownTenant.code).toBe(1);
    expect(unknownTenant.stderr).toContain('tenants.not_found');

    const tenant = JSON.parse(
      (await runRoster(['tenant', 'create', '--name', 'Roles Inc'], { cwd, env })).stdout,
    );
    const unknownRole = await runRoster(
      ['token', 'create', '--name', 'x', '--tenant', tenant.id, '--roles', 'tenant-admin,scim'],
      { cwd, env },
    );
    expect(unknownRole.code).toBe(1);
    expect(unknownRole.stderr).toContain('roles.unknown');

    const platformOnTenant = await runRoster(
      ['token', 'create', '--name', 'x', '--tenant', tenant.id, '--roles', 'platform-admin'],
      { cwd, env },
    );
    expect(platformOnTenant.code).toBe(1);
    expect(platformOnTenant.stderr).toContain('roles.platform_only');

    for (const r of [noName, badExpiry, pastExpiry, unknownTenant, unknownRole, platformOnTenant]) {
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/rst_/);
    }
    // None of them left a token behind.
    const db = await openDatabase(storeEnv(store()).ROSTER_DATABASE_URL);
    try {
      expect(await db.kysely.selectFrom('api_tokens').select('id').execute()).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
