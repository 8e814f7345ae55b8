import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { parseArgs } from 'node:util';
import { buildApp, buildServices, type Services } from '../main.js';
import { type Config, ConfigError, configFlagOptions, loadConfig, SETTINGS } from '../platform/config.js';
import { CLI_ACTOR, SYSTEM_ACTOR } from '../platform/context.js';
import { openDatabase } from '../platform/db/index.js';
import { migrateToLatest } from '../platform/db/migrations.js';
import { isRosterError } from '../platform/errors.js';
import { auditExport, auditPublicKey, auditVerify, report, UsageError } from './audit.js';
import { Progress } from './progress.js';

const USAGE = `Usage: roster [command] [options]

Commands:
  serve                      start the HTTP server (the default)
  migrate                    bring the database schema up to date
  tenant create --name N     create a tenant; prints its id
  token create --name N [--tenant ID] [--roles a,b] [--expires-at ISO]
                             mint an API token (platform-wide without --tenant); prints it once;
                             without --roles it holds no role and can do nothing
  admin create --username U [--tenant ID|NAME] [--roles a,b] [--password-file F]
                             create an admin account (tenant-admin, or platform-admin without --tenant);
                             the password from the file, else prompted (TTY) or read from stdin; the
                             first login enrols its TOTP second factor
  audit export (--tenant ID | --platform) --out FILE
                             export a log's entries and signed checkpoints as JSON Lines
  audit public-key           print the audit log's verifier key (for --public-key files)
  audit verify FILE --public-key KEYFILE
                             verify an export offline with nothing but the log's public key
  audit verify --live [--tenant ID | --platform] [--public-key KEYFILE]
                             verify the store against its own signed checkpoints (all logs by default)
  keys status                show the key provider, KEK versions, tenant keys and rewrap jobs (JSON)
  keys rotate [--tenant ID]  new KEK version (or tenant key version) and rewrap everything under it,
                             with progress; other nodes keep serving throughout
  keys destroy --kek-version N
                             destroy a retired KEK version in the provider (refused while in use)
  report --tenant ID --period 2026-10|2026-Q4 [--format pdf|csv] [--out PATH]
                             compliance report (PDF file, or a folder of CSV files) at a signed checkpoint
  help                       show this text

Settings (environment variable, or the flag):
${SETTINGS.map((s) => `  --${s.flag.padEnd(14)} ${s.env.padEnd(20)} ${s.description} [${s.defaultText}]`).join('\n')}
`;

/** Exit codes: 0 success, 1 failure, 2 bad usage or configuration. */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (err) {
    process.stderr.write(`roster: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { positionals, values } = parsed;
  const [command = 'serve', sub] = positionals;
  if (command === 'help' || values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  let config: Config;
  try {
    config = loadConfig(env, values as Record<string, string | undefined>);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`roster: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  try {
    switch (command) {
      case 'serve':
        return await serve(config);
      case 'migrate':
        return await migrate(config);
      case 'tenant':
        if (sub === 'create') return await createTenant(config, values.name);
        break;
      case 'token':
        if (sub === 'create') return await createToken(config, values);
        break;
      case 'admin':
        if (sub === 'create') return await createAdmin(config, values);
        break;
      case 'audit':
        if (sub === 'export') return await auditExport(config, values);
        if (sub === 'verify') return await auditVerify(config, values, positionals[2]);
        if (sub === 'public-key') return auditPublicKey(config);
        break;
      case 'report':
        return await report(config, values);
      case 'keys':
        if (sub === 'status' || sub === 'rotate' || sub === 'destroy') return await keys(config, sub, values);
        break;
      default:
    }
    process.stderr.write(`roster: unknown command '${positionals.join(' ')}'\n\n${USAGE}`);
    return 2;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`roster: ${err.message}\n`);
      return 2;
    }
    // One line, no stack, no values: the cause may carry secrets or PII.
    const message = isRosterError(err) ? `${err.code}: ${err.detail ?? err.title}` : (err as Error).message;
    process.stderr.write(`roster: ${message}\n`);
    return 1;
  }
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      ...configFlagOptions(),
      help: { type: 'boolean', short: 'h' },
      name: { type: 'string' },
      tenant: { type: 'string' },
      roles: { type: 'string' },
      'expires-at': { type: 'string' },
      platform: { type: 'boolean' },
      out: { type: 'string' },
      'public-key': { type: 'string' },
      live: { type: 'boolean' },
      period: { type: 'string' },
      format: { type: 'string' },
      'kek-version': { type: 'string' },
      username: { type: 'string' },
      'password-file': { type: 'string' },
    },
  });
}

async function serve(config: Config): Promise<number> {
  const app = await buildApp(config);
  const log = app.logger;
  if (app.keyFileCreated) {
    log.warn(
      { keyFile: config.keyFile },
      'created a new local key-encryption key file; back it up: without it the stored PII cannot be read',
    );
  }
  let address: string;
  try {
    const secret = await app.services.tokens.ensureBootstrapToken({
      actor: SYSTEM_ACTOR,
      requestId: undefined,
    });
    if (secret) {
      // Printed once, straight to the terminal, never through the logger.
      process.stdout.write(
        `\nRoster created a platform-admin API token. It is shown only this once:\n\n  ${secret}\n\n` +
          'Use it as "Authorization: Bearer <token>". Set ROSTER_ADMIN_TOKEN to use a token of your own instead.\n\n',
      );
    }
    address = await app.http.listen({ port: config.port, host: config.host, backlog: 2048 });
  } catch (err) {
    // Whatever stops the start closes what was opened (store, workers, connections), so the process can exit.
    await app.close().catch(() => undefined);
    throw err;
  }
  log.info(
    { address, store: app.db.location, keyProvider: app.services.keys.providerName },
    'roster listening',
  );

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, 'shutting down: finishing in-flight requests');
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      app.close().then(
        () => {
          log.info('stopped');
          resolve();
        },
        (err: unknown) => {
          log.error({ err }, 'error while shutting down');
          resolve();
        },
      );
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  return 0;
}

async function migrate(config: Config): Promise<number> {
  const db = await openDatabase(config.databaseUrl);
  try {
    const { applied } = await migrateToLatest(db);
    process.stdout.write(
      applied.length === 0 ? 'schema is up to date\n' : `applied: ${applied.join(', ')}\n`,
    );
    return 0;
  } finally {
    await db.close();
  }
}

async function withServices<T>(config: Config, fn: (s: Services) => Promise<T>) {
  const db = await openDatabase(config.databaseUrl);
  let services: Services | undefined;
  try {
    await migrateToLatest(db);
    services = (await buildServices(config, db)).services;
    return await fn(services);
  } finally {
    services?.keys.clear({ now: true });
    await services?.keys.provider.close();
    await db.close();
  }
}

async function createTenant(config: Config, name: string | undefined): Promise<number> {
  if (!name) {
    process.stderr.write('roster: tenant create needs --name\n');
    return 2;
  }
  const tenant = await withServices(config, (s) =>
    s.tenants.create({ actor: CLI_ACTOR, requestId: undefined }, { name }),
  );
  process.stdout.write(`${JSON.stringify({ id: tenant.id, name: tenant.name })}\n`);
  return 0;
}

async function createToken(config: Config, values: Record<string, unknown>): Promise<number> {
  const name = values.name as string | undefined;
  if (!name) {
    process.stderr.write('roster: token create needs --name\n');
    return 2;
  }
  const roles = rolesFlag(values.roles) ?? [];
  const expiresAt = (values['expires-at'] as string | undefined) ?? null;
  if (expiresAt !== null && Number.isNaN(Date.parse(expiresAt))) {
    process.stderr.write('roster: --expires-at must be an ISO-8601 time\n');
    return 2;
  }
  const { token, secret } = await withServices(config, (s) =>
    s.tokens.create(
      { actor: CLI_ACTOR, requestId: undefined },
      { tenantId: (values.tenant as string | undefined) ?? null, name, roles, expiresAt },
    ),
  );
  process.stdout.write(`${JSON.stringify({ id: token.id, tenantId: token.tenantId, token: secret })}\n`);
  return 0;
}

/** `--roles a,b` as names; undefined when the flag is absent. */
function rolesFlag(value: unknown): string[] | undefined {
  if (typeof value !== 'string') return undefined;
  return value
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
}

async function createAdmin(config: Config, values: Record<string, unknown>): Promise<number> {
  const username = values.username as string | undefined;
  if (!username) {
    process.stderr.write('roster: admin create needs --username\n');
    return 2;
  }
  const tenant = values.tenant as string | undefined;
  const roles = rolesFlag(values.roles) ?? [tenant === undefined ? 'platform-admin' : 'tenant-admin'];
  const password = await readPassword(values['password-file'] as string | undefined);
  const account = await withServices(config, async (s) => {
    const scope = tenant === undefined ? null : await s.admins.tenantIdOf(tenant);
    return s.admins.create({ actor: CLI_ACTOR, requestId: undefined }, scope, { username, password, roles });
  });
  // The username is the operator's own input: echoing the id and tenant is enough.
  process.stdout.write(
    `${JSON.stringify({ id: account.id, tenantId: account.tenantId, roles: account.roles })}\n`,
  );
  process.stderr.write('roster: the first login of this account enrols its TOTP second factor\n');
  return 0;
}

/** The new admin's password: the file's first line, else asked twice on a TTY (not echoed), else stdin's first line. */
async function readPassword(file: string | undefined): Promise<string> {
  const firstLine = (text: string) => text.split(/\r?\n/)[0] ?? '';
  if (file !== undefined) return firstLine(await readFile(file, 'utf8'));
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    return firstLine(Buffer.concat(chunks).toString('utf8'));
  }
  const ask = async (prompt: string) => {
    let muted = false;
    const output = new Writable({
      write(chunk, encoding, done) {
        if (!muted) process.stderr.write(chunk, encoding);
        done();
      },
    });
    const rl = createInterface({ input: process.stdin, output, terminal: true });
    try {
      const answer = rl.question(prompt);
      muted = true;
      return await answer;
    } finally {
      rl.close();
      process.stderr.write('\n');
    }
  };
  const first = await ask('Password: ');
  if ((await ask('Again: ')) !== first) throw new UsageError('the passwords differ');
  return first;
}

/** `roster keys status|rotate|destroy`: runs in this process against the store, with progress on stderr. */
async function keys(config: Config, sub: 'status' | 'rotate' | 'destroy', values: Record<string, unknown>) {
  const ctx = { actor: CLI_ACTOR, requestId: undefined };
  return withServices(config, async (s) => {
    if (sub === 'status') {
      process.stdout.write(`${JSON.stringify(await s.rotation.state(), null, 2)}\n`);
      return 0;
    }
    if (sub === 'destroy') {
      const v = Number(values['kek-version']);
      if (!Number.isInteger(v) || v < 1) throw new UsageError('keys destroy needs --kek-version N');
      await s.rotation.destroyKek(ctx, v);
      process.stdout.write(`${JSON.stringify({ destroyed: v })}\n`);
      return 0;
    }
    const tenant = values.tenant as string | undefined;
    const job = tenant ? await s.rotation.rotateTenantKey(ctx, tenant) : await s.rotation.rotateKek(ctx);
    const bar = new Progress(tenant ? 'rewriting users' : 'rewrapping tenant keys', job.total);
    const done = await s.rotation.run(job.id, (j) => bar.update(j.done, Math.max(j.total, j.done)));
    bar.update(done.done, Math.max(done.total, done.done));
    bar.done();
    process.stdout.write(`${JSON.stringify(done)}\n`);
    return 0;
  });
}
