import type { Logger } from 'pino';
import type { AuditLog } from '../audit/service.js';
import type { Clock } from '../platform/clock.js';
import { isoTime } from '../platform/clock.js';
import type { Context } from '../platform/context.js';
import { SYSTEM_ACTOR } from '../platform/context.js';
import type { Db, Queryable } from '../platform/db/index.js';
import { transact } from '../platform/db/tx.js';
import { RosterError } from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { type Keyring, type TenantKeySet, tenantKeyAad } from './service.js';
import * as store from './store.js';

export type KeyJobKind = 'kek' | 'tenant';
/** running: rewrapping; draining: rows rewritten, older version still named by short-lived rows; done. */
export type KeyJobState = 'running' | 'draining' | 'done';

/** A background rewrap, as operators see it (`GET /api/v1/keys`): never any key material. */
export interface KeyJob {
  readonly id: string;
  readonly kind: KeyJobKind;
  readonly tenantId: string | null;
  readonly fromVersion: number;
  readonly toVersion: number;
  readonly state: KeyJobState;
  readonly total: number;
  readonly done: number;
  readonly createdAt: string;
  readonly heartbeatAt: string;
  readonly finishedAt: string | null;
}

/**
 * What other modules keep under a tenant key: rows that name a key version and can be rewritten under the
 * tenant's current one. Identity registers its users; lifecycle its stored onboarding answers.
 */
export interface TenantKeyHolder {
  readonly name: string;
  /** How many rows still name a version below `version`. */
  remaining(q: Queryable, tenantId: string, version: number): Promise<number>;
  /**
   * Rewrites up to `limit` such rows under `keys.current` in one transaction and returns how many it
   * rewrote (0 when none is left). Absent: the rows cannot be rewritten and expire by themselves.
   */
  rekey?(tenantId: string, keys: TenantKeySet, limit: number): Promise<number>;
}

export interface KeyRotationDeps {
  readonly db: Db;
  readonly clock: Clock;
  readonly audit: AuditLog;
  readonly keys: Keyring;
  readonly logger?: Logger;
  /** Rows rewrapped per transaction (default 100). */
  readonly batchSize?: number;
}

/** A job whose heartbeat is older than this is taken over (its node stopped or failed). */
const STALE_MS = 30_000;

/**
 * Key rotation: new KEK versions with every tenant key rewrapped under them, new tenant key versions with
 * every row rewritten under them, both online and resumable; old versions retired only when nothing names
 * them. Every step is an audit entry.
 */
export class KeyRotation {
  readonly #d: KeyRotationDeps;
  readonly #holders: TenantKeyHolder[] = [];
  readonly #running = new Map<string, Promise<KeyJob>>();
  readonly #batch: number;
  #stopped = false;
  readonly #wakers = new Set<() => void>();

  constructor(deps: KeyRotationDeps) {
    this.#d = deps;
    this.#batch = deps.batchSize ?? 100;
  }

  registerHolder(holder: TenantKeyHolder): void {
    this.#holders.push(holder);
  }

  /**
   * Makes a new KEK version in the provider and records a job that rewraps every tenant key under it.
   * The job runs in the background (`start`) or in the caller (`run`, the CLI).
   * @throws keys.rotation_running, crypto.unavailable
   */
  async rotateKek(ctx: Context): Promise<KeyJob> {
    const db = this.#d.db.kysely;
    if (await store.activeJob(db, 'kek', null)) throw new RosterError('keys.rotation_running');
    const provider = this.#d.keys.provider;
    // Another node may have added a version since this one last looked: start from the newest.
    await provider.refresh();
    const from = provider.currentVersion();
    // Made outside the transaction: an HSM object cannot be rolled back. If the transaction fails the new
    // version exists unused, and the next rotation simply goes past it.
    const to = await provider.createVersion();
    const now = isoTime(this.#d.clock);
    return transact(this.#d.db, async (tx) => {
      await this.#recordKekVersions(tx);
      const job = jobOf({
        id: newId(this.#d.clock.now().getTime()),
        kind: 'kek',
        tenant_id: null,
        from_version: from,
        to_version: to,
        state: 'running',
        total: await store.countTenantKeysBelowKek(tx, to),
        done: 0,
        created_at: now,
        heartbeat_at: now,
        finished_at: null,
      });
      await store.insertJob(tx, job);
      await this.#d.audit.record(tx, ctx, null, [
        {
          action: 'keys.kek_created',
          targetType: 'kek',
          targetId: String(to),
          before: { kekVersion: from },
          after: { kekVersion: to, provider: provider.name, job: job.id, tenantKeysToRewrap: job.total },
        },
      ]);
      return job;
    });
  }

  /**
   * Adds a tenant key version and records a job that rewrites the tenant's rows under it (data keys
   * rewrapped, blind indexes recomputed). Lookups match every live version meanwhile.
   * @throws keys.rotation_running, tenants.not_found, crypto.unavailable
   */
  async rotateTenantKey(ctx: Context, tenantId: string): Promise<KeyJob> {
    const job = await transact(this.#d.db, async (tx) => {
      const latest = await store.latestTenantKeyVersion(tx, tenantId);
      if (latest === undefined) throw new RosterError('tenants.not_found');
      if (await store.activeJob(tx, 'tenant', tenantId)) throw new RosterError('keys.rotation_running');
      const to = latest + 1;
      await this.#d.keys.addTenantKeyVersion(tx, tenantId, to);
      let total = 0;
      for (const h of this.#holders) if (h.rekey) total += await h.remaining(tx, tenantId, to);
      const now = isoTime(this.#d.clock);
      const job = jobOf({
        id: newId(this.#d.clock.now().getTime()),
        kind: 'tenant',
        tenant_id: tenantId,
        from_version: latest,
        to_version: to,
        state: 'running',
        total,
        done: 0,
        created_at: now,
        heartbeat_at: now,
        finished_at: null,
      });
      await store.insertJob(tx, job);
      await this.#d.audit.record(tx, ctx, tenantId, [
        {
          action: 'keys.tenant_key_created',
          targetType: 'tenant_key',
          targetId: `${tenantId}/${to}`,
          before: { version: latest },
          after: { version: to, job: job.id, rowsToRewrite: total },
        },
      ]);
      return job;
    });
    this.#d.keys.forget(tenantId);
    return job;
  }

  /** Runs a job in the background; a failure leaves it for `resume` to take up again. */
  start(jobId: string): void {
    if (this.#running.has(jobId)) return;
    const p = this.run(jobId)
      .catch((err: unknown) => {
        this.#d.logger?.warn({ err: errorSummary(err), job: jobId }, 'key job paused; it resumes later');
        return undefined as unknown as KeyJob;
      })
      .finally(() => this.#running.delete(jobId));
    this.#running.set(jobId, p);
  }

  /** Waits for the background jobs of this process (tests, shutdown). */
  async settle(): Promise<void> {
    await Promise.all([...this.#running.values()]);
  }

  /**
   * Runs a job to its end (or to draining) and returns it; `onProgress` hears every batch.
   * @throws keys.job_not_found, crypto.unavailable, store errors (the job stays resumable)
   */
  async run(jobId: string, onProgress?: (job: KeyJob) => void): Promise<KeyJob> {
    let job = await this.job(jobId);
    if (job.state === 'done') return job;
    if (job.state === 'running') {
      job =
        job.kind === 'kek'
          ? await this.#rewrapKek(job, onProgress)
          : await this.#rekeyTenant(job, onProgress);
    }
    if (this.#stopped) return job;
    return job.kind === 'kek' ? this.#finishKek(job) : this.#finishTenant(job);
  }

  async #rewrapKek(job: KeyJob, onProgress?: (job: KeyJob) => void): Promise<KeyJob> {
    const provider = this.#d.keys.provider;
    await provider.refresh();
    let current = job;
    while (!this.#stopped) {
      const rows = await store.tenantKeysBelowKek(this.#d.db.kysely, job.toVersion, this.#batch);
      if (rows.length === 0) break;
      const rewrapped: {
        tenantId: string;
        version: number;
        from: number;
        kekVersion: number;
        wrapped: Buffer;
      }[] = [];
      for (const r of rows) {
        const aad = tenantKeyAad(r.tenant_id, r.version);
        const root = await provider.unwrap(r.kek_version, r.wrapped_key, aad);
        try {
          const { kekVersion, wrapped } = await provider.wrap(root, aad);
          rewrapped.push({
            tenantId: r.tenant_id,
            version: r.version,
            from: r.kek_version,
            kekVersion,
            wrapped,
          });
        } finally {
          root.fill(0);
        }
      }
      current = await transact(this.#d.db, async (tx) => {
        let n = 0;
        for (const r of rewrapped) n += await store.rewrapTenantKey(tx, r);
        return store.advanceJob(tx, job.id, n, isoTime(this.#d.clock)).then(jobOf);
      });
      onProgress?.(current);
    }
    return current;
  }

  async #finishKek(job: KeyJob): Promise<KeyJob> {
    return transact(this.#d.db, async (tx) => {
      const now = isoTime(this.#d.clock);
      await this.#recordKekVersions(tx);
      const retired = await store.retireUnusedKekVersions(tx, job.toVersion, now);
      const done = jobOf(await store.finishJob(tx, job.id, 'done', now));
      await this.#d.audit.record(tx, { actor: SYSTEM_ACTOR, requestId: undefined }, null, [
        {
          action: 'keys.kek_rewrapped',
          targetType: 'kek',
          targetId: String(job.toVersion),
          before: { kekVersion: job.fromVersion },
          after: { kekVersion: job.toVersion, job: job.id, tenantKeysRewrapped: done.done },
        },
        ...retired.map((v) => ({
          action: 'keys.kek_retired',
          targetType: 'kek',
          targetId: String(v),
          before: null,
          after: { kekVersion: v, retiredAt: now },
        })),
      ]);
      return done;
    });
  }

  async #rekeyTenant(job: KeyJob, onProgress?: (job: KeyJob) => void): Promise<KeyJob> {
    const tenantId = job.tenantId as string;
    // Rows are rewritten only once the new version is in force on every node (see TenantKeySet).
    const wait = this.#d.keys.inForceAt(job.createdAt) - this.#d.clock.now().getTime();
    if (wait > 0) await this.#sleep(wait);
    if (this.#stopped) return job;
    let current = job;
    for (const holder of this.#holders) {
      if (!holder.rekey) continue;
      while (!this.#stopped) {
        const keys = await this.#d.keys.tenantKeys(this.#d.db.kysely, tenantId);
        if (keys.current.version < job.toVersion) this.#d.keys.forget(tenantId);
        const n = await holder.rekey(
          tenantId,
          await this.#d.keys.tenantKeys(this.#d.db.kysely, tenantId),
          this.#batch,
        );
        if (n === 0) break;
        current = jobOf(await store.advanceJob(this.#d.db.kysely, job.id, n, isoTime(this.#d.clock)));
        onProgress?.(current);
      }
    }
    return current;
  }

  /**
   * Retires the older versions once nothing names them: sweeps again, and retires when every holder counts
   * zero; otherwise the job drains (stored answers expire within 25 h) and `resume` tries again later.
   */
  async #finishTenant(job: KeyJob): Promise<KeyJob> {
    const tenantId = job.tenantId as string;
    // One more sweep: a request that read a row before the job rewrote it may have written it back since.
    if (job.state === 'running') await this.#rekeyTenant(job);
    if (this.#stopped) return job;
    const result = await transact(this.#d.db, async (tx) => {
      for (const h of this.#holders) {
        if ((await h.remaining(tx, tenantId, job.toVersion)) > 0) {
          return jobOf(await store.finishJob(tx, job.id, 'draining', null));
        }
      }
      const now = isoTime(this.#d.clock);
      const retired = await store.retireTenantKeysBelow(tx, tenantId, job.toVersion, now);
      const done = jobOf(await store.finishJob(tx, job.id, 'done', now));
      await this.#d.audit.record(tx, { actor: SYSTEM_ACTOR, requestId: undefined }, tenantId, [
        {
          action: 'keys.tenant_key_rotated',
          targetType: 'tenant_key',
          targetId: `${tenantId}/${job.toVersion}`,
          before: { version: job.fromVersion },
          after: { version: job.toVersion, job: job.id, rowsRewritten: done.done },
        },
        ...retired.map((v) => ({
          action: 'keys.tenant_key_retired',
          targetType: 'tenant_key',
          targetId: `${tenantId}/${v}`,
          before: null,
          after: { version: v, retiredAt: now, wrappedKey: 'destroyed' },
        })),
      ]);
      return done;
    });
    this.#d.keys.forget(tenantId);
    return result;
  }

  /**
   * Takes up jobs left unfinished: running ones whose node stopped beating, and draining ones (to retire
   * when their last rows expired). Called periodically by every node; a job is claimed by moving its
   * heartbeat, so two nodes do not run it at once.
   */
  async resume(): Promise<void> {
    const now = this.#d.clock.now();
    for (const row of await store.unfinishedJobs(this.#d.db.kysely)) {
      if (this.#running.has(row.id)) continue;
      const stale = new Date(row.heartbeat_at).getTime() < now.getTime() - STALE_MS;
      if (row.state === 'running' && !stale) continue;
      if (await store.claimJob(this.#d.db.kysely, row.id, row.heartbeat_at, now.toISOString()))
        this.start(row.id);
    }
  }

  /** @throws keys.job_not_found */
  async job(id: string): Promise<KeyJob> {
    const row = await store.findJob(this.#d.db.kysely, id);
    if (!row) throw new RosterError('keys.job_not_found');
    return jobOf(row);
  }

  /** The keys as operators see them: provider, KEK versions and their use, tenant key versions, jobs. */
  async state(): Promise<KeyState> {
    const db = this.#d.db.kysely;
    const provider = this.#d.keys.provider;
    await provider.refresh().catch(() => undefined);
    const recorded = await store.kekVersions(db);
    const uses = await store.tenantKeysPerKek(db);
    const held = new Set(provider.versions());
    const versions = [...new Set([...recorded.map((r) => r.version), ...held])].sort((a, b) => a - b);
    return {
      provider: provider.name,
      currentKekVersion: provider.currentVersion(),
      kekVersions: versions.map((v) => {
        const r = recorded.find((x) => x.version === v);
        return {
          version: v,
          createdAt: r?.created_at ?? null,
          retiredAt: r?.retired_at ?? null,
          heldByProvider: held.has(v),
          tenantKeys: uses.get(v) ?? 0,
        };
      }),
      tenantKeys: await store.tenantKeyStats(db),
      jobs: (await store.recentJobs(db, 20)).map(jobOf),
    };
  }

  /** One tenant's key versions (platform operators). @throws tenants.not_found */
  async tenantState(tenantId: string): Promise<TenantKeyState> {
    const versions = await store.tenantKeyVersions(this.#d.db.kysely, tenantId);
    if (versions.length === 0) throw new RosterError('tenants.not_found');
    return {
      tenantId,
      versions: versions.map((v) => ({
        version: v.version,
        kekVersion: v.kek_version,
        createdAt: v.created_at,
        retiredAt: v.retired_at,
      })),
      jobs: (await store.recentJobs(this.#d.db.kysely, 20, tenantId)).map(jobOf),
    };
  }

  /**
   * Destroys a retired KEK version in the provider (local file or HSM). Refused for the current version and
   * for one that tenant keys still name.
   * @throws keys.version_in_use
   */
  async destroyKek(ctx: Context, version: number): Promise<void> {
    const provider = this.#d.keys.provider;
    await provider.refresh();
    const uses = await store.tenantKeysPerKek(this.#d.db.kysely);
    if (version === provider.currentVersion() || (uses.get(version) ?? 0) > 0) {
      throw new RosterError('keys.version_in_use');
    }
    await provider.destroyVersion(version);
    await transact(this.#d.db, (tx) =>
      this.#d.audit.record(tx, ctx, null, [
        {
          action: 'keys.kek_destroyed',
          targetType: 'kek',
          targetId: String(version),
          before: { kekVersion: version },
          after: null,
        },
      ]),
    );
  }

  /** Stops this process's jobs at their next step (they stay resumable) and wakes any waiting one. */
  stop(): void {
    this.#stopped = true;
    for (const wake of this.#wakers) wake();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wakers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wakers.add(done);
    });
  }

  /** Records the provider's versions not yet in `kek_versions` (first seen now). */
  async #recordKekVersions(tx: Queryable): Promise<void> {
    const provider = this.#d.keys.provider;
    const known = new Set((await store.kekVersions(tx)).map((r) => r.version));
    for (const v of provider.versions()) {
      if (!known.has(v)) await store.insertKekVersion(tx, v, provider.name, isoTime(this.#d.clock));
    }
  }
}

export interface KeyState {
  readonly provider: string;
  readonly currentKekVersion: number;
  readonly kekVersions: readonly {
    version: number;
    createdAt: string | null;
    retiredAt: string | null;
    heldByProvider: boolean;
    tenantKeys: number;
  }[];
  readonly tenantKeys: {
    readonly tenants: number;
    readonly liveVersions: number;
    readonly retiredVersions: number;
  };
  readonly jobs: readonly KeyJob[];
}

export interface TenantKeyState {
  readonly tenantId: string;
  readonly versions: readonly {
    version: number;
    kekVersion: number;
    createdAt: string;
    retiredAt: string | null;
  }[];
  readonly jobs: readonly KeyJob[];
}

function jobOf(r: store.KeyJobRow): KeyJob {
  return {
    id: r.id,
    kind: r.kind as KeyJobKind,
    tenantId: r.tenant_id,
    fromVersion: r.from_version,
    toVersion: r.to_version,
    state: r.state as KeyJobState,
    total: r.total,
    done: r.done,
    createdAt: r.created_at,
    heartbeatAt: r.heartbeat_at,
    finishedAt: r.finished_at,
  };
}

function errorSummary(err: unknown): { code?: string; message: string } {
  if (err instanceof RosterError) return { code: err.code, message: err.title };
  return { message: err instanceof Error ? err.name : 'error' };
}
