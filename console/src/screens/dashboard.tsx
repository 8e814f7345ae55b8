import { useRef, useState } from 'react';
import { type ApiError, api, asApiError, fetchAll, serverNow } from '../api';
import { PageTitle } from '../app';
import { type Activity, minuteActivity, newestEntries } from '../audit-activity';
import { ColumnChart } from '../components/charts';
import { PoolUsage } from '../components/pools';
import { ProblemAlert } from '../components/problem';
import { actorLabel, formatDuration, formatNumber, formatRate, formatTime, shortId } from '../format';
import { type PollState, usePolling } from '../poll';
import { parsePrometheus, rate, type Sample, sumOf } from '../prometheus';
import { href } from '../router';
import { useSession } from '../session';
import type { AuditEntry, KeyState, Pool, Product, RequestActivity } from '../types';

const REFRESH_MS = 5_000;
const MINUTES = 10;
/** Audit entries in the recent-activity list. */
const RECENT = 10;

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

/** Requests answered per minute in the scope, by outcome (from GET /api/v1/requests/activity). */
interface MinuteCounts {
  readonly requests: number;
  readonly clientErrors: number;
  readonly serverErrors: number;
  readonly throttled: number;
}

/**
 * The dashboard: seat utilisation per product and pool, onboardings per minute and refused requests (from
 * the audit log), the scope's errors and throttling (counted by every node, GET /api/v1/requests/activity),
 * recent activity, and for platform accounts this node's request, error and throttling rates (from /metrics).
 * Refreshes every 5 s while the tab is visible.
 */
export function Dashboard() {
  const s = useSession();
  const seats = s.can('pools:read') && s.tenantId !== null;
  const audit = s.can('audit:read');
  const metrics = s.isPlatform && s.can('metrics:read');
  const keys = s.isPlatform && s.can('keys:read');
  const traffic = s.can('tenants:read');

  const [products, setProducts] = useState<readonly Product[]>([]);
  const [pools, setPools] = useState<readonly Pool[] | null>(null);
  const [entries, setEntries] = useState<{
    onboarded: Activity;
    denied: Activity;
    recent: readonly AuditEntry[];
  } | null>(null);
  const [node, setNode] = useState<NodeRates | null>(null);
  const [requests, setRequests] = useState<readonly MinuteCounts[] | null>(null);
  const [keyState, setKeyState] = useState<KeyState | null>(null);
  const [errors, setErrors] = useState<Record<string, ApiError | null>>({});
  const [updated, setUpdated] = useState<number | null>(null);
  const lastMetrics = useRef<{ at: number; samples: Sample[] } | null>(null);
  const scope = s.tenantId;
  const scopeRef = useRef(scope);
  if (scopeRef.current !== scope) {
    // Another tenant: its log is another log, and nothing shown so far is its. Figures show "…" until its
    // first answers arrive, and answers still in flight for the previous scope are dropped (below).
    scopeRef.current = scope;
    setEntries(null);
    setRequests(null);
    setErrors({});
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
              setProducts(pr);
              setPools(po);
              ok('seats');
            })
            .catch(fail('seats')),
        );
      }
      if (audit) {
        const at = serverNow();
        jobs.push(
          Promise.all([
            minuteActivity('user.onboarded', at, MINUTES),
            minuteActivity('access.denied', at, MINUTES),
            newestEntries(RECENT),
          ])
            .then(([onboarded, denied, recent]) => {
              if (!current()) return;
              setEntries({ onboarded, denied, recent });
              ok('audit');
            })
            .catch(fail('audit')),
        );
      }
      if (traffic) {
        jobs.push(
          minuteRequests(serverNow(), MINUTES)
            .then((counts) => {
              if (!current()) return;
              setRequests(counts);
              ok('traffic');
            })
            .catch(fail('traffic')),
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
    [seats, audit, metrics, keys, traffic, scope],
  );

  const onboardBuckets = entries ? [...entries.onboarded.counts] : [];
  // The rate is the last whole minute's count: the minute now running is still filling.
  const lastMinute = onboardBuckets.length >= 2 ? (onboardBuckets[onboardBuckets.length - 2] ?? 0) : 0;
  const deniedCount = entries?.denied.total ?? 0;
  const totalUsed = pools?.reduce((n, p) => n + p.used, 0) ?? 0;
  const totalCapacity = pools?.reduce((n, p) => n + p.capacity, 0) ?? 0;
  const waitlist = pools ? waitlistTotal(products) : null;
  const lastTen = requests ? totalOf(requests) : null;
  // As for onboardings: the last whole minute, the one now running is still filling.
  const lastRequests = requests && requests.length >= 2 ? (requests[requests.length - 2]?.requests ?? 0) : 0;
  const failing = requests?.map((m) => m.clientErrors + m.serverErrors + m.throttled) ?? [];

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
              <p className="muted small">in the last whole minute</p>
              <MinuteChart values={onboardBuckets} what="Onboardings" />
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

        <section className="tile" aria-labelledby="tile-traffic">
          <h2 id="tile-traffic">Errors and throttling</h2>
          {traffic ? (
            <>
              <ProblemAlert error={errors.traffic ?? null} />
              <p className="tile-value" data-testid="request-rate">
                {requests ? formatNumber(lastRequests) : '…'}
              </p>
              <p className="muted small">
                requests in the last whole minute, {s.tenantId === null ? 'platform scope' : 'this tenant'},
                all nodes
              </p>
              <p className="small">
                Errors:{' '}
                <strong data-testid="error-rate">
                  {lastTen
                    ? lastTen.requests > 0
                      ? `${formatRate(errorShare(lastTen) * 100, 1)} %`
                      : '—'
                    : '…'}
                </strong>
                {' · '}5xx:{' '}
                <strong data-testid="server-errors">
                  {lastTen ? formatNumber(lastTen.serverErrors) : '…'}
                </strong>
                {' · '}429:{' '}
                <strong data-testid="throttled-count">
                  {lastTen ? formatNumber(lastTen.throttled) : '…'}
                </strong>
              </p>
              <p className="muted small">
                in the last {MINUTES} min; errors are 4xx and 5xx answers, throttled (429) apart
              </p>
              <MinuteChart values={failing} what="Errors and throttled requests" />
            </>
          ) : (
            <Unavailable permission="tenants:read" />
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
  if (props.entries.length === 0) return <p className="muted">Nothing recorded yet.</p>;
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

const NO_REQUESTS: MinuteCounts = { requests: 0, clientErrors: 0, serverErrors: 0, throttled: 0 };

/**
 * The scope's requests in each of the last `minutes` minutes of the server's clock (the last one still
 * running), oldest first; minutes without requests count zero.
 */
async function minuteRequests(now: number, minutes: number): Promise<MinuteCounts[]> {
  const current = Math.floor(now / 60_000) * 60_000;
  const since = current - (minutes - 1) * 60_000;
  const res = await api.get<RequestActivity>('/api/v1/requests/activity', {
    since: new Date(since).toISOString(),
    bucket: 'minute',
  });
  const counts = new Array<MinuteCounts>(minutes).fill(NO_REQUESTS);
  for (const b of res.items) {
    const i = Math.round((Date.parse(b.start) - since) / 60_000);
    if (i >= 0 && i < minutes) counts[i] = b;
  }
  return counts;
}

function totalOf(counts: readonly MinuteCounts[]): MinuteCounts {
  return counts.reduce(
    (t, m) => ({
      requests: t.requests + m.requests,
      clientErrors: t.clientErrors + m.clientErrors,
      serverErrors: t.serverErrors + m.serverErrors,
      throttled: t.throttled + m.throttled,
    }),
    NO_REQUESTS,
  );
}

/** The share of requests answered with an error (4xx other than 429, and 5xx). */
function errorShare(t: MinuteCounts): number {
  return t.requests > 0 ? (t.clientErrors + t.serverErrors) / t.requests : 0;
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

/** Counts per minute of the last MINUTES minutes as columns, the running minute last. */
function MinuteChart(props: { values: readonly number[]; what: string }) {
  return (
    <>
      <ColumnChart
        values={props.values}
        label={`${props.what} per minute, last ${MINUTES} minutes (the last one still running): ${props.values.join(', ')}`}
        labels={props.values.map((_, i) =>
          i === MINUTES - 1 ? 'this minute' : `${MINUTES - 1 - i} min ago`,
        )}
      />
      <p className="chart-axis muted small" aria-hidden="true">
        <span>{MINUTES} min ago</span>
        <span>now</span>
      </p>
    </>
  );
}
