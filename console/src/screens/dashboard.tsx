import { useRef, useState } from 'react';
import { type ApiError, api, asApiError, fetchAll, serverNow } from '../api';
import { PageTitle } from '../app';
import { type Activity, AuditTail, minuteActivity } from '../audit-tail';
import { ColumnChart } from '../components/charts';
import { PoolUsage } from '../components/pools';
import { ProblemAlert } from '../components/problem';
import { actorLabel, formatDuration, formatNumber, formatRate, formatTime, shortId } from '../format';
import { recordPools } from '../history';
import { type PollState, usePolling } from '../poll';
import { parsePrometheus, rate, type Sample, sumOf } from '../prometheus';
import { href } from '../router';
import { useSession } from '../session';
import type { AuditEntry, KeyState, Pool, Product } from '../types';

const REFRESH_MS = 5_000;
const MINUTES = 10;

interface NodeRates {
  readonly at: number;
  readonly onboardings: number | null;
  readonly failedOnboardings: number | null;
  readonly http5xx: number | null;
  readonly http4xx: number | null;
  readonly requests: number | null;
  readonly throttled: number | null;
  readonly auditLag: number | null;
}

interface Tails {
  readonly recent: AuditTail;
}

function newTails(): Tails {
  return {
    recent: new AuditTail({
      windows: [15_000, 5 * 60_000, 3_600_000, 86_400_000, 30 * 86_400_000],
      want: 10,
      keepCount: 10,
    }),
  };
}

/**
 * The dashboard: seat utilisation per product and pool, onboardings per minute and refused requests (from
 * the audit log), recent activity, and for platform accounts this node's request, error and throttling
 * rates (from /metrics). Refreshes every 5 s while the tab is visible.
 */
export function Dashboard() {
  const s = useSession();
  const seats = s.can('pools:read') && s.tenantId !== null;
  const audit = s.can('audit:read');
  const metrics = s.isPlatform && s.can('metrics:read');
  const keys = s.isPlatform && s.can('keys:read');

  const [products, setProducts] = useState<readonly Product[]>([]);
  const [pools, setPools] = useState<readonly Pool[] | null>(null);
  const [entries, setEntries] = useState<{
    onboarded: Activity;
    denied: Activity;
    recent: readonly AuditEntry[];
    behind: boolean;
  } | null>(null);
  const [node, setNode] = useState<NodeRates | null>(null);
  const [keyState, setKeyState] = useState<KeyState | null>(null);
  const [errors, setErrors] = useState<Record<string, ApiError | null>>({});
  const [updated, setUpdated] = useState<number | null>(null);
  const tails = useRef<Tails>(newTails());
  const lastMetrics = useRef<{ at: number; samples: Sample[] } | null>(null);
  const scope = s.tenantId;
  const scopeRef = useRef(scope);
  if (scopeRef.current !== scope) {
    // Another tenant: its log is another log, and nothing shown so far is its. Figures show "…" until its
    // first answers arrive, and answers still in flight for the previous scope are dropped (below).
    scopeRef.current = scope;
    tails.current = newTails();
    setEntries(null);
    setPools(null);
    setProducts([]);
  }

  const state: PollState = usePolling(
    async () => {
      const jobs: Promise<void>[] = [];
      const asked = scopeRef.current;
      const current = () => scopeRef.current === asked;
      const fail = (key: string) => (err: unknown) => {
        if (current()) setErrors((e) => ({ ...e, [key]: asApiError(err) }));
      };
      const ok = (key: string) => setErrors((e) => (e[key] ? { ...e, [key]: null } : e));
      if (seats) {
        jobs.push(
          Promise.all([fetchAll<Product>('/api/v1/products'), fetchAll<Pool>('/api/v1/pools')])
            .then(([pr, po]) => {
              if (!current()) return;
              recordPools(po);
              setProducts(pr);
              setPools(po);
              ok('seats');
            })
            .catch(fail('seats')),
        );
      }
      if (audit) {
        const t = tails.current;
        const at = serverNow();
        jobs.push(
          Promise.all([
            minuteActivity('user.onboarded', at, MINUTES),
            minuteActivity('access.denied', at, MINUTES),
            t.recent.poll(),
          ])
            .then(([onboarded, denied]) => {
              if (!current()) return;
              setEntries({
                onboarded,
                denied,
                recent: [...t.recent.entries].reverse(),
                behind: t.recent.behind,
              });
              ok('audit');
            })
            .catch(fail('audit')),
        );
      }
      if (metrics) {
        jobs.push(
          api
            .request<string>('GET', '/metrics', { text: true })
            .then(({ data }) => {
              const now = Date.now();
              const samples = parsePrometheus(data);
              const prev = lastMetrics.current;
              lastMetrics.current = { at: now, samples };
              if (prev) setNode(nodeRates(prev, { at: now, samples }));
              else setNode((n) => n ?? emptyRates(now, samples));
              ok('metrics');
            })
            .catch(fail('metrics')),
        );
      }
      if (keys) {
        jobs.push(
          api
            .get<KeyState>('/api/v1/keys')
            .then((k) => {
              setKeyState(k);
              ok('keys');
            })
            .catch(fail('keys')),
        );
      }
      await Promise.all(jobs);
      setUpdated(Date.now());
    },
    REFRESH_MS,
    [seats, audit, metrics, keys, scope],
  );

  const onboardBuckets = entries ? [...entries.onboarded.counts] : [];
  // The rate is the last whole minute's count: the minute now running is still filling.
  const lastMinute = onboardBuckets.length >= 2 ? (onboardBuckets[onboardBuckets.length - 2] ?? 0) : 0;
  const deniedCount = entries?.denied.total ?? 0;
  const totalUsed = pools?.reduce((n, p) => n + p.used, 0) ?? 0;
  const totalCapacity = pools?.reduce((n, p) => n + p.capacity, 0) ?? 0;
  const waitlist = pools ? waitlistTotal(products) : null;

  return (
    <>
      <PageTitle actions={<LiveState state={state} updated={updated} />}>Dashboard</PageTitle>

      <div className="tiles">
        <section className="tile" aria-labelledby="tile-onboard">
          <h2 id="tile-onboard">Onboardings per minute</h2>
          {audit ? (
            <>
              <p className="tile-value" data-testid="onboardings-per-minute">
                {entries ? formatNumber(lastMinute) : '…'}
              </p>
              <p className="muted small">
                in the last whole minute{entries?.behind ? ' (activity list catching up…)' : ''}
              </p>
              <ColumnChart
                values={onboardBuckets}
                label={`Onboardings per minute, last ${MINUTES} minutes (the last one still running): ${onboardBuckets.join(', ')}`}
                labels={onboardBuckets.map((_, i) =>
                  i === MINUTES - 1 ? 'this minute' : `${MINUTES - 1 - i} min ago`,
                )}
              />
              <p className="chart-axis muted small" aria-hidden="true">
                <span>{MINUTES} min ago</span>
                <span>now</span>
              </p>
            </>
          ) : (
            <Unavailable permission="audit:read" />
          )}
        </section>

        <section className="tile" aria-labelledby="tile-seats">
          <h2 id="tile-seats">Seats in use</h2>
          {seats ? (
            <>
              <p className="tile-value" data-testid="seats-total">
                {pools ? `${formatNumber(totalUsed)} / ${formatNumber(totalCapacity)}` : '…'}
              </p>
              <p className="muted small">
                {totalCapacity > 0
                  ? `${Math.round((totalUsed / totalCapacity) * 100)} % of all pools`
                  : 'no capacity'}
              </p>
            </>
          ) : (
            <Unavailable permission="pools:read" tenant={s.tenantId === null} />
          )}
        </section>

        <section className="tile" aria-labelledby="tile-wait">
          <h2 id="tile-wait">Waitlist</h2>
          {seats ? (
            <>
              <p className="tile-value" data-testid="waitlist-total">
                {waitlist ? formatNumber(waitlist.count) : '…'}
              </p>
              <p className="muted small" data-testid="waitlist-oldest">
                {waitlist?.oldestSince
                  ? `people waiting for a seat; the longest for ${formatDuration(serverNow() - Date.parse(waitlist.oldestSince))}`
                  : 'people waiting for a seat'}
              </p>
            </>
          ) : (
            <Unavailable permission="pools:read" tenant={s.tenantId === null} />
          )}
        </section>

        <section className="tile" aria-labelledby="tile-denied">
          <h2 id="tile-denied">Refused requests</h2>
          {audit ? (
            <>
              <p className="tile-value" data-testid="denied-count">
                {entries ? formatNumber(deniedCount) : '…'}
              </p>
              <p className="muted small">403s (access.denied) in the last {MINUTES} min</p>
            </>
          ) : (
            <Unavailable permission="audit:read" />
          )}
        </section>
      </div>

      {metrics ? (
        <section className="panel" aria-labelledby="node-heading">
          <h2 id="node-heading">This node, all tenants</h2>
          <ProblemAlert error={errors.metrics ?? null} />
          {node ? (
            <dl className="figures" data-testid="node-rates">
              <Figure label="Requests" value={node.requests} unit="/s" />
              <Figure label="Server errors (5xx)" value={node.http5xx} unit="/s" />
              <Figure label="Client errors (4xx)" value={node.http4xx} unit="/s" />
              <Figure label="Throttled (429)" value={node.throttled} unit="/s" />
              <Figure label="Onboardings" value={node.onboardings} unit="/s" />
              <Figure label="Failed onboardings" value={node.failedOnboardings} unit="/s" />
              <Figure label="Audit integration lag" value={node.auditLag} unit=" s" />
            </dl>
          ) : (
            <p className="muted">Measuring…</p>
          )}
          <p className="muted small">Rates between the last two readings of /metrics, 5 s apart.</p>
        </section>
      ) : null}

      {keys ? (
        <section className="panel" aria-labelledby="keys-heading">
          <h2 id="keys-heading">Encryption keys</h2>
          <ProblemAlert error={errors.keys ?? null} />
          {keyState ? <KeyPanel state={keyState} /> : <p className="muted">Loading…</p>}
        </section>
      ) : null}

      <section className="panel" aria-labelledby="util-heading">
        <h2 id="util-heading">License utilisation</h2>
        {seats ? (
          <>
            <ProblemAlert error={errors.seats ?? null} />
            {pools ? <PoolUsage products={products} pools={pools} /> : <p className="muted">Loading…</p>}
            <p className="muted small">
              Solid: seats used; line: capacity; hatched: people waiting whom the pool may serve.{' '}
              <a href={href('licenses')}>Manage licenses</a>
            </p>
          </>
        ) : (
          <Unavailable permission="pools:read" tenant={s.tenantId === null} />
        )}
      </section>

      <section className="panel" aria-labelledby="recent-heading">
        <h2 id="recent-heading">Recent activity</h2>
        {audit ? (
          <>
            <ProblemAlert error={errors.audit ?? null} />
            {entries ? <RecentTable entries={entries.recent} /> : <p className="muted">Loading…</p>}
            <p className="small">
              <a href={href('audit')}>Open the audit log</a>
            </p>
          </>
        ) : (
          <Unavailable permission="audit:read" />
        )}
      </section>
    </>
  );
}

function LiveState(props: { state: PollState; updated: number | null }) {
  const text =
    props.state === 'hidden'
      ? 'Paused while the tab is hidden'
      : props.state === 'idle'
        ? 'Paused after 25 min without activity: press a key to resume'
        : props.updated
          ? `Live · updated ${formatTime(props.updated)}`
          : 'Loading…';
  return (
    <p className="live-state" data-testid="live-state" data-state={props.state}>
      {text}
    </p>
  );
}

function Unavailable(props: { permission: string; tenant?: boolean }) {
  return (
    <p className="muted small">
      {props.tenant
        ? 'Choose a tenant to see it.'
        : `Not available to your account (needs ${props.permission}).`}
    </p>
  );
}

/** Key rotation state: the provider, the current KEK and its age, tenant keys, and rewrap jobs under way. */
function KeyPanel(props: { state: KeyState }) {
  const k = props.state;
  const current = k.kekVersions.find((v) => v.version === k.currentKekVersion);
  const running = k.jobs.filter((j) => j.state !== 'done');
  const lastDone = k.jobs
    .filter((j) => j.state === 'done' && j.finishedAt)
    .sort((a, b) => String(b.finishedAt).localeCompare(String(a.finishedAt)))[0];
  return (
    <>
      <dl className="figures" data-testid="key-state">
        <div className="figure">
          <dt>Provider</dt>
          <dd>{k.provider === 'pkcs11' ? 'PKCS#11 HSM' : 'local key file'}</dd>
        </div>
        <div className="figure">
          <dt>Current KEK</dt>
          <dd data-testid="key-current">
            v{k.currentKekVersion}
            {current?.createdAt ? `, ${formatDuration(serverNow() - Date.parse(current.createdAt))} old` : ''}
          </dd>
        </div>
        <div className="figure">
          <dt>Tenant keys</dt>
          <dd>
            {formatNumber(k.tenantKeys.liveVersions)} live, {formatNumber(k.tenantKeys.retiredVersions)}{' '}
            retired, {formatNumber(k.tenantKeys.tenants)} tenants
          </dd>
        </div>
        <div className="figure">
          <dt>Rotation</dt>
          <dd data-testid="key-rotation">
            {running.length === 0
              ? lastDone
                ? `none running; last finished ${formatTime(String(lastDone.finishedAt))}`
                : 'none running'
              : running
                  .map(
                    (j) =>
                      `${j.kind === 'kek' ? 'KEK' : 'tenant key'} v${j.fromVersion} → v${j.toVersion}: ${formatNumber(j.done)} / ${formatNumber(j.total)} (${j.state})`,
                  )
                  .join('; ')}
          </dd>
        </div>
      </dl>
      {running.length > 0 ? (
        <p className="muted small">Rows are rewrapped in the background; reads and writes go on meanwhile.</p>
      ) : null}
    </>
  );
}

function Figure(props: { label: string; value: number | null; unit: string }) {
  return (
    <div className="figure">
      <dt>{props.label}</dt>
      <dd>{props.value === null ? '—' : `${formatRate(props.value, 2)}${props.unit}`}</dd>
    </div>
  );
}

function RecentTable(props: { entries: readonly AuditEntry[] }) {
  if (props.entries.length === 0) return <p className="muted">Nothing recorded in the last 30 days.</p>;
  return (
    <div className="table-wrap">
      <table data-testid="recent-activity">
        <caption className="visually-hidden">
          The last {props.entries.length} audit entries, newest first
        </caption>
        <thead>
          <tr>
            <th scope="col">Time</th>
            <th scope="col">Action</th>
            <th scope="col">Actor</th>
            <th scope="col">Target</th>
          </tr>
        </thead>
        <tbody>
          {props.entries.map((e) => (
            <tr key={e.seq}>
              <td>{formatTime(e.time)}</td>
              <td>
                <code>{e.action}</code>
              </td>
              <td>{actorLabel(e.actor)}</td>
              <td>
                <TargetLink entry={e} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function TargetLink(props: { entry: AuditEntry }) {
  const { type, id } = props.entry.target;
  if (!id) return <>{type}</>;
  if (type === 'user') return <a href={href(`users/${id}`)}>user {shortId(id)}</a>;
  if (type === 'group') return <a href={href(`groups/${id}`)}>group {shortId(id)}</a>;
  return (
    <>
      {type} {shortId(id)}
    </>
  );
}

/** Everyone waiting, over every product, and since when the longest-waiting person waits. */
function waitlistTotal(products: readonly Product[]): { count: number; oldestSince: string | null } {
  let count = 0;
  let oldestSince: string | null = null;
  for (const p of products) {
    count += p.waitlisted ?? 0;
    const since = p.oldestWaitSince ?? null;
    if (since !== null && (oldestSince === null || since < oldestSince)) oldestSince = since;
  }
  return { count, oldestSince };
}

function emptyRates(at: number, samples: Sample[]): NodeRates {
  return {
    at,
    onboardings: null,
    failedOnboardings: null,
    http5xx: null,
    http4xx: null,
    requests: null,
    throttled: null,
    auditLag: gauge(samples, 'roster_audit_integration_lag_seconds'),
  };
}

function gauge(samples: Sample[], name: string): number | null {
  return samples.some((x) => x.name === name) ? sumOf(samples, name) : null;
}

function nodeRates(a: { at: number; samples: Sample[] }, b: { at: number; samples: Sample[] }): NodeRates {
  const dt = (b.at - a.at) / 1000;
  const r = (name: string, match: Record<string, string> = {}) =>
    rate(sumOf(a.samples, name, match), sumOf(b.samples, name, match), dt);
  const http = 'roster_http_request_duration_seconds_count';
  return {
    at: b.at,
    onboardings: r('roster_onboardings_total', { outcome: 'created' }),
    failedOnboardings: r('roster_onboardings_total', { outcome: 'failed' }),
    http5xx: r(http, { status: '5xx' }),
    http4xx: r(http, { status: '4xx' }),
    requests: r(http),
    throttled: r('roster_rate_limited_total'),
    auditLag: gauge(b.samples, 'roster_audit_integration_lag_seconds'),
  };
}
