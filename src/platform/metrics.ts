import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { BatchStats } from './db/group-commit.js';

/** The metrics of one Roster process, in its own registry (so several apps in one test process never mix). */
export class Metrics {
  readonly registry = new Registry();
  readonly httpDuration = new Histogram({
    name: 'roster_http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status class',
    labelNames: ['route', 'method', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({
    name: 'roster_rate_limited_total',
    help: 'Requests refused with 429, by limit (tenant or global)',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  readonly rateLimitFallbacks = new Counter({
    name: 'roster_rate_limit_fallbacks_total',
    help: 'Rate-limit decisions taken in process because Redis (ROSTER_REDIS_URL) could not answer',
    registers: [this.registry],
  });
  readonly onboardings = new Counter({
    name: 'roster_onboardings_total',
    help: 'Onboarding requests by outcome (created, replayed, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'roster_group_commit_batch_size',
    help: 'Works committed per group-commit transaction',
    buckets: [1, 2, 4, 8, 16, 32, 64, 100, 128],
    registers: [this.registry],
  });
  readonly batchWait = new Histogram({
    name: 'roster_group_commit_wait_seconds',
    help: 'Time the oldest work of a batch waited before its transaction began',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
    registers: [this.registry],
  });
  readonly batchCommit = new Histogram({
    name: 'roster_group_commit_duration_seconds',
    help: 'Duration of group-commit transactions, commit included',
    labelNames: ['committed'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });

  readonly auditIntegrated = new Counter({
    name: 'roster_audit_integrated_entries_total',
    help: 'Audit entries integrated into the Merkle log by this node',
    registers: [this.registry],
  });
  readonly auditCheckpoints = new Counter({
    name: 'roster_audit_checkpoints_total',
    help: 'Audit checkpoints signed by this node',
    registers: [this.registry],
  });
  readonly auditRound = new Histogram({
    name: 'roster_audit_integration_round_seconds',
    help: 'Duration of audit integration rounds that integrated or signed something',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  /** Oldest pending entry's age when a round began (0 when none): how far the log lags behind the writes. */
  readonly auditLag = new Gauge({
    name: 'roster_audit_integration_lag_seconds',
    help: 'Age of the oldest audit entry not yet integrated, at the start of the last round',
    registers: [this.registry],
  });
  /** Frames in a SQLite store's WAL at the checkpointer's last round (WalCheckpointer). */
  readonly sqliteWalPages = new Gauge({
    name: 'roster_sqlite_wal_pages',
    help: 'Pages in the SQLite write-ahead log at the last background checkpoint',
    registers: [this.registry],
  });
  readonly requestCountFlushFailures = new Counter({
    name: 'roster_request_count_flush_failures_total',
    help: 'Flushes of the per-tenant request counts that the database refused (the counts are kept and retried)',
    registers: [this.registry],
  });
  readonly requestCountsDropped = new Counter({
    name: 'roster_request_counts_dropped_total',
    help: 'Requests left out of the per-tenant request counts: too many were held unwritten while the database was away',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'roster_' });
  }

  recordBatch(stats: BatchStats): void {
    this.batchSize.observe(stats.size);
    this.batchWait.observe(stats.waitMs / 1000);
    this.batchCommit.observe({ committed: String(stats.committed) }, stats.commitMs / 1000);
  }
}
