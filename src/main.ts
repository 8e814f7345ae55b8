import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { adminRoutes } from './access/admins/routes.js';
import { AdminService, SESSION_COOKIE } from './access/admins/service.js';
import { RoleService } from './access/roles.js';
import { accessRoutes } from './access/routes.js';
import { TokenService } from './access/service.js';
import { Integrator, metricEvents } from './audit/integrator.js';
import { IntegratorThread } from './audit/integrator-thread.js';
import { AuditProofs } from './audit/proofs.js';
import { auditRoutes } from './audit/routes.js';
import { AuditLog } from './audit/service.js';
import { loadLogKeys } from './audit/signing-key.js';
import { CONSOLE_DIST, consoleRoutes } from './console/routes.js';
import type { KeyProvider } from './crypto/local-kek.js';
import { openKeyProvider } from './crypto/providers.js';
import { KeyRotation } from './crypto/rotation.js';
import { keyRoutes } from './crypto/routes.js';
import { Keyring } from './crypto/service.js';
import { identityRoutes } from './identity/routes.js';
import { GroupService, TenantService, UserService } from './identity/service.js';
import { licenseRoutes } from './licenses/routes.js';
import { LicenseService } from './licenses/service.js';
import { lifecycleRoutes } from './lifecycle/routes.js';
import { LifecycleService } from './lifecycle/service.js';
import type { Clock } from './platform/clock.js';
import { systemClock } from './platform/clock.js';
import type { Config } from './platform/config.js';
import { actorRef } from './platform/context.js';
import { WalCheckpointer } from './platform/db/checkpointer.js';
import { GroupCommitter } from './platform/db/group-commit.js';
import { type Db, openDatabase } from './platform/db/index.js';
import { migrateToLatest } from './platform/db/migrations.js';
import { transact } from './platform/db/tx.js';
import { RosterError } from './platform/errors.js';
import { type ClosableRateLimiter, openRateLimiter } from './platform/http/rate-limit.js';
import { RequestTally } from './platform/http/request-counts.js';
import { problemSchema } from './platform/http/schemas.js';
import { createHttpServer } from './platform/http/server.js';
import { requestActivityRoutes, systemRoutes } from './platform/http/system-routes.js';
import { createLogger } from './platform/logging.js';
import { Metrics } from './platform/metrics.js';
import { scimRoutes } from './scim/routes.js';
import { ScimService } from './scim/service.js';

export const API_VERSION = '0.1.0';

export interface Services {
  readonly keys: Keyring;
  readonly rotation: KeyRotation;
  readonly audit: AuditLog;
  readonly tenants: TenantService;
  readonly users: UserService;
  readonly groups: GroupService;
  readonly roles: RoleService;
  readonly tokens: TokenService;
  readonly admins: AdminService;
  readonly licenses: LicenseService;
  readonly lifecycle: LifecycleService;
  readonly scim: ScimService;
  readonly committer: GroupCommitter;
  readonly metrics: Metrics;
}

export interface App {
  readonly http: FastifyInstance;
  /** Integrates audit entries into the Merkle log and signs checkpoints (running from start to close). */
  readonly integrator: Integrator;
  readonly db: Db;
  readonly services: Services;
  readonly logger: Logger;
  /** True when this start created the key file (first start). */
  readonly keyFileCreated: boolean;
  /** Requests answered per scope and minute, written every ROSTER_REQUEST_COUNTS_FLUSH_INTERVAL (`flush()`). */
  readonly requestCounts: RequestTally;
  /** Stops accepting requests, lets in-flight ones finish, then closes the store. */
  close(): Promise<void>;
}

export interface BuildOptions {
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Use an already-open store (tests) instead of opening `config.databaseUrl`. */
  readonly db?: Db;
  /** Use this key provider (tests) instead of the one the configuration names. */
  readonly keyProvider?: KeyProvider;
  /** Tenant-key cache bounds (tests of expiry and provider outages). */
  readonly keyCache?: { readonly ttlMs?: number; readonly versionCheckMs?: number };
}

/** Wires services over an open store (the part the CLI shares with the server). */
export async function buildServices(
  config: Config,
  db: Db,
  clock: Clock = systemClock,
  metrics: Metrics = new Metrics({ defaultMetrics: false }),
  options: Pick<BuildOptions, 'keyProvider' | 'keyCache' | 'logger'> = {},
): Promise<{ services: Services; keyFileCreated: boolean }> {
  const { provider, created } = options.keyProvider
    ? { provider: options.keyProvider, created: false }
    : await openKeyProvider(config);
  const keys = new Keyring({
    provider,
    clock,
    ...(options.keyCache?.ttlMs !== undefined ? { cacheTtlMs: options.keyCache.ttlMs } : {}),
    ...(options.keyCache?.versionCheckMs !== undefined
      ? { versionCheckMs: options.keyCache.versionCheckMs }
      : {}),
  });
  const audit = new AuditLog({ clock });
  const deps = { db, clock, audit, keys };
  const tenants = new TenantService(deps);
  const users = new UserService(deps);
  const groups = new GroupService(deps);
  const roles = new RoleService({ db, clock, audit, tenants });
  const tokens = new TokenService({ db, clock, audit, tenants, roles, adminToken: config.adminToken });
  const admins = new AdminService({
    db,
    clock,
    audit,
    keys,
    tenants,
    grantable: (q, actor, tenantId, grants) => roles.assertGrantable(q, actor, tenantId, grants),
  });
  roles.registerUseCheck((q, tenantId, role) => admins.namesRole(q, tenantId, role));
  const licenses = new LicenseService({
    db,
    clock,
    audit,
    users,
    usage: { sampleIntervalMs: config.usageSampleInterval, retentionDays: config.usageRetentionDays },
  });
  users.onChange((tx, ctx, before, after) => licenses.onUserChanged(tx, ctx, before, after));
  const committer = new GroupCommitter(db, { onBatch: (stats) => metrics.recordBatch(stats) });
  const lifecycle = new LifecycleService({ db, clock, audit, keys, users, licenses, committer, metrics });
  const rotation = new KeyRotation({
    db,
    clock,
    audit,
    keys,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const scim = new ScimService({ users, groups, licenses, committer });
  users.onErase((tx, ctx, userId) => lifecycle.eraseAnswersOf(tx, ctx, userId));
  rotation.registerHolder(users.keyHolder());
  rotation.registerHolder(lifecycle.keyHolder());
  for (const holder of admins.keyHolders()) rotation.registerHolder(holder);
  return {
    services: {
      keys,
      rotation,
      audit,
      tenants,
      users,
      groups,
      roles,
      tokens,
      admins,
      licenses,
      lifecycle,
      scim,
      committer,
      metrics,
    },
    keyFileCreated: created,
  };
}

/**
 * The composition root: config -> store (migrated) -> services -> HTTP. Tests build the app through this
 * same function.
 */
export async function buildApp(config: Config, options: BuildOptions = {}): Promise<App> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const db = options.db ?? (await openDatabase(config.databaseUrl));
  let limiter: ClosableRateLimiter | undefined;
  try {
    await migrateToLatest(db);
    const metrics = new Metrics();
    const clock = options.clock ?? systemClock;
    const { services, keyFileCreated } = await buildServices(config, db, clock, metrics, {
      logger,
      ...(options.keyProvider ? { keyProvider: options.keyProvider } : {}),
      ...(options.keyCache ? { keyCache: options.keyCache } : {}),
    });
    const logKeys = await loadLogKeys(db, config.auditKeyFile, config.auditLogName, clock);
    const integrator = new Integrator({
      db,
      clock,
      signer: logKeys.signer,
      logName: config.auditLogName,
      checkpointIntervalMs: config.auditCheckpointInterval,
      events: metricEvents(metrics, logger),
    });
    // Shared through Redis when ROSTER_REDIS_URL is set; in process otherwise (and while Redis is unreachable).
    limiter = await openRateLimiter(config, logger, metrics);
    const rateLimiter = limiter;
    const requestCounts = new RequestTally({
      db,
      clock,
      logger,
      metrics,
      flushIntervalMs: config.requestCountsFlushInterval,
    });
    const http = await createHttpServer({
      logger,
      bodyLimit: config.bodyLimit,
      rateLimits: { tenant: config.rateLimitTenant, global: config.rateLimitGlobal },
      limiter: rateLimiter,
      metrics,
      requestCounts,
      authenticate: (secret) => services.tokens.authenticate(secret),
      authenticateSession: (cookie, method, csrf) =>
        services.admins.authenticateSession(cookie, method, csrf),
      authorize: (actor, scope, permission) => services.roles.authorize(actor, scope, permission),
      // A refused action is itself an audit event (in its own transaction: nothing else changed).
      onDenied: async (denial) => {
        await transact(db, (tx) =>
          services.audit.record(
            tx,
            { actor: denial.actor, requestId: denial.requestId },
            denial.actor.tenantId,
            [
              {
                action: 'access.denied',
                targetType: 'route',
                targetId: `${denial.method} ${denial.route}`,
                before: null,
                after: {
                  route: denial.route,
                  method: denial.method,
                  code: denial.code,
                  ...(denial.permission !== undefined ? { permission: denial.permission } : {}),
                  actor: actorRef(denial.actor),
                },
              },
            ],
          ),
        );
      },
      tenantExists: async (id) => {
        try {
          await services.tenants.get(undefined, id);
          return true;
        } catch (err) {
          // Only "no such tenant" is an answer; an unreachable store must surface as 503.
          if (err instanceof RosterError && err.code === 'tenants.not_found') return false;
          throw err;
        }
      },
    });
    http.addSchema(problemSchema);
    await http.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'Roster API',
          version: API_VERSION,
          description: 'Identity provisioning and license seats. Errors are RFC 9457 problem+json.',
        },
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'Roster API token (rst_…)' },
            session: {
              type: 'apiKey',
              in: 'cookie',
              name: SESSION_COOKIE,
              description:
                'An admin account session (POST /api/v1/auth/login, then /auth/login/totp); writes also need the X-CSRF-Token header',
            },
          },
        },
        security: [{ bearer: [] }, { session: [] }],
      },
      refResolver: {
        buildLocalReference: (json, _base, _frag, i) =>
          typeof json.$id === 'string' ? json.$id : `def-${i}`,
      },
    });
    systemRoutes(http, { db, metrics });
    requestActivityRoutes(http, { db, clock });
    identityRoutes(http, services);
    accessRoutes(http, services);
    adminRoutes(http, services);
    auditRoutes(http, {
      audit: services.audit,
      db,
      proofs: new AuditProofs(db),
      integrator,
      logKeys,
      logName: config.auditLogName,
      tenantName: async (id) => (await services.tenants.get(undefined, id)).name,
      clock,
    });
    licenseRoutes(http, services);
    lifecycleRoutes(http, services);
    keyRoutes(http, services.rotation);
    scimRoutes(http, services);
    consoleRoutes(http, { root: CONSOLE_DIST });
    await http.ready();
    requestCounts.start();
    // The loop runs in a worker thread with its own connection, unless the store cannot be shared that way
    // (SQLite in memory) or a test drives time with its own clock.
    const thread =
      config.auditIntegrator && !config.databaseUrl.startsWith('sqlite::memory:') && !options.clock
        ? new IntegratorThread({
            databaseUrl: config.databaseUrl,
            signerKey: logKeys.signerKey,
            logName: config.auditLogName,
            checkpointIntervalMs: config.auditCheckpointInterval,
            pollMs: 200,
            metrics,
            logger,
          })
        : undefined;
    if (thread) thread.start();
    else if (config.auditIntegrator) integrator.start();
    const checkpointer = WalCheckpointer.applies(db)
      ? new WalCheckpointer(db, { metrics, logger })
      : undefined;
    await checkpointer?.start();
    // Expired idempotency keys are purged hourly (they are kept 25 h, the contract promises 24 h).
    const purge = setInterval(() => {
      services.lifecycle
        .purgeExpiredKeys()
        .catch((err: unknown) => logger.warn({ err }, 'idempotency purge failed'));
    }, 60 * 60_000);
    purge.unref();
    // Key jobs left unfinished (a node stopped mid-rotation, or old answers still draining) are taken up.
    const resumeKeys = () => {
      services.rotation.resume().catch((err: unknown) => logger.warn({ err }, 'resuming key jobs failed'));
    };
    const keyJobs = setInterval(resumeKeys, 30_000);
    keyJobs.unref();
    resumeKeys();
    // The pools' utilisation history: a sampling round now and every ROSTER_USAGE_SAMPLE_INTERVAL (a tick
    // that finds the previous round still running is skipped).
    let usageRound: Promise<void> | undefined;
    const sampleUsage = () => {
      usageRound ??= services.licenses
        .sampleUsage()
        .then(
          () => undefined,
          (err: unknown) => logger.warn({ err }, 'utilisation sampling failed'),
        )
        .finally(() => {
          usageRound = undefined;
        });
    };
    const usageSampler = setInterval(sampleUsage, config.usageSampleInterval);
    usageSampler.unref();
    sampleUsage();
    let closed: Promise<void> | undefined;
    return {
      http,
      integrator,
      db,
      services,
      logger,
      keyFileCreated,
      requestCounts,
      close() {
        closed ??= (async () => {
          clearInterval(purge);
          clearInterval(keyJobs);
          clearInterval(usageSampler);
          services.rotation.stop();
          await http.close();
          await rateLimiter.close();
          // Every request has been answered: what they counted goes to the store before it closes.
          await requestCounts.close();
          await services.rotation.settle();
          await services.committer.close();
          await usageRound;
          await integrator.stop();
          await thread?.stop();
          await checkpointer?.stop();
          await services.tokens.flush();
          services.keys.clear({ now: true });
          if (!options.keyProvider) await services.keys.provider.close();
          if (!options.db) await db.close();
        })();
        return closed;
      },
    };
  } catch (err) {
    await limiter?.close();
    if (!options.db) await db.close();
    throw err;
  }
}
