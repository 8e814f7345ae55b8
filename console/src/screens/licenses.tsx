import { useEffect, useRef, useState } from 'react';
import { ApiError, api, asApiError, fetchAll, serverNow } from '../api';
import { PageTitle } from '../app';
import { DEFAULT_CAP, StepChart, type StepSeries } from '../components/charts';
import { ConfirmDialog } from '../components/dialog';
import { PoolUsage } from '../components/pools';
import { Field, ProblemAlert, Status, WholeNumberField } from '../components/problem';
import { formatDateTime } from '../format';
import { useAction } from '../load';
import { usePolling } from '../poll';
import { useSession } from '../session';
import type { Pool, Product, ProductUsage } from '../types';

const REFRESH_MS = 5_000;

type Dialog = { kind: 'resize'; pool: Pool } | { kind: 'delete'; pool: Pool } | null;

/**
 * Licenses: products and their pools (capacity, used, waitlisted, a bar each with its utilisation cap), each
 * product's utilisation history as Roster recorded it (GET /api/v1/products/{sku}/usage, over 24 hours, 7
 * or 30 days), and for pools:manage the product and pool forms, resize (capacity and cap) and delete.
 * Refreshes every 5 s while visible.
 */
export function Licenses() {
  const s = useSession();
  const manage = s.can('pools:manage');
  const [products, setProducts] = useState<readonly Product[] | null>(null);
  const [pools, setPools] = useState<readonly Pool[] | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [capacity, setCapacity] = useState('');
  const [cap, setCap] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  /** Counts the screen's refreshes: the history charts reload with each. */
  const [refreshed, setRefreshed] = useState(0);
  const action = useAction();
  const scope = s.tenantId;
  const scopeRef = useRef(scope);
  if (scopeRef.current !== scope) {
    // Another tenant (a platform account's picker): nothing shown so far is its, and answers still in
    // flight for the previous one are dropped (below), so that no chart asks for the old tenant's products.
    scopeRef.current = scope;
    setProducts(null);
    setPools(null);
    setLoadError(null);
  }

  const load = async () => {
    const asked = scopeRef.current;
    try {
      const [pr, po] = await Promise.all([
        fetchAll<Product>('/api/v1/products'),
        fetchAll<Pool>('/api/v1/pools'),
      ]);
      if (scopeRef.current !== asked) return;
      setProducts(pr);
      setPools(po);
      setRefreshed((n) => n + 1);
      setLoadError(null);
    } catch (err) {
      if (scopeRef.current === asked) setLoadError(asApiError(err));
    }
  };
  usePolling(load, REFRESH_MS, [s.tenantId]);

  const confirm = async () => {
    if (!dialog) return;
    const pool = dialog.pool;
    const path = `/api/v1/pools/${pool.id}`;
    let done: string;
    if (dialog.kind === 'resize') {
      const n = Number(capacity);
      const c = Number(cap);
      // The cap is sent only when changed (an untouched field never fails a resize).
      const body = {
        capacity: n,
        ...(c !== (pool.utilisationCap ?? DEFAULT_CAP) ? { utilisationCap: c } : {}),
      };
      const r = await action.run(() =>
        api.request<Pool>('PATCH', path, { body, ifMatch: `W/"${pool.version}"` }),
      );
      if (!r.ok) return;
      done = `${pool.name}: capacity is now ${r.value.data.capacity}, utilisation cap ${r.value.data.utilisationCap} %.`;
    } else {
      const r = await action.run(() => api.delete(path, `W/"${pool.version}"`));
      if (!r.ok) return;
      done = `Pool ${pool.name} deleted.`;
    }
    setDialog(null);
    await load();
    setMessage(done);
  };

  const resizeError = explain(action.error);

  return (
    <>
      <PageTitle>Licenses</PageTitle>
      <Status message={message} testId="licenses-status" />
      <ProblemAlert error={loadError} />
      <section className="panel" aria-labelledby="pools-heading">
        <h2 id="pools-heading">Products and pools</h2>
        {products && pools ? (
          <PoolUsage
            products={products}
            pools={pools}
            productExtra={(product, productPools) =>
              productPools.length > 0 ? (
                <History key={`${scope ?? ''}:${product.sku}`} product={product} refreshed={refreshed} />
              ) : null
            }
            poolActions={
              manage
                ? (pool) => (
                    <>
                      <button
                        type="button"
                        className="button button-small"
                        onClick={() => {
                          action.clear();
                          setCapacity(String(pool.capacity));
                          setCap(String(pool.utilisationCap ?? DEFAULT_CAP));
                          setDialog({ kind: 'resize', pool });
                        }}
                        aria-label={`Resize ${pool.name}`}
                        data-testid={`resize-pool-${pool.name}`}
                      >
                        Resize
                      </button>
                      <button
                        type="button"
                        className="button button-small"
                        onClick={() => {
                          action.clear();
                          setDialog({ kind: 'delete', pool });
                        }}
                        aria-label={`Delete ${pool.name}`}
                        data-testid={`delete-pool-${pool.name}`}
                      >
                        Delete
                      </button>
                    </>
                  )
                : undefined
            }
          />
        ) : (
          <p role="status">Loading…</p>
        )}
      </section>

      {manage && products ? (
        <div className="two-col">
          <CreateProduct
            onCreated={(p) => {
              setMessage(`Product ${p.sku} created.`);
              void load();
            }}
          />
          <CreatePool
            products={products}
            onCreated={(p) => {
              setMessage(`Pool ${p.name} created with ${p.capacity} seats.`);
              void load();
            }}
          />
        </div>
      ) : null}

      <ConfirmDialog
        open={dialog !== null}
        title={
          dialog?.kind === 'resize' ? `Resize ${dialog.pool.name}` : `Delete pool ${dialog?.pool.name ?? ''}?`
        }
        confirmLabel={dialog?.kind === 'resize' ? 'Resize' : 'Delete'}
        danger={dialog?.kind === 'delete'}
        busy={action.busy}
        error={resizeError}
        handled={dialog?.kind === 'resize' ? ['/capacity', '/utilisationCap'] : []}
        onCancel={() => setDialog(null)}
        onConfirm={() => void confirm()}
      >
        {dialog?.kind === 'resize' ? (
          <>
            <p>
              {dialog.pool.used} of {dialog.pool.capacity} seats are in use
              {dialog.pool.waitlisted > 0 ? `; ${dialog.pool.waitlisted} people wait` : ''}. More seats serve
              the waitlist at once; capacity cannot go below the seats in use.
            </p>
            <WholeNumberField
              id="resize-capacity"
              label="New capacity"
              pointer="/capacity"
              error={action.error}
              min={0}
              max={10_000_000}
              required
              value={capacity}
              onChange={setCapacity}
              testId="resize-capacity"
            />
            <WholeNumberField
              id="resize-cap"
              label="Utilisation cap (%)"
              pointer="/utilisationCap"
              error={action.error}
              hint="The share of capacity the pool is meant to run at (1–100): its bar turns amber from here on. Seats are still given up to capacity."
              min={1}
              max={100}
              required
              value={cap}
              onChange={setCap}
              testId="resize-cap"
            />
          </>
        ) : dialog ? (
          <p>Only a pool with no seat in use can be deleted.</p>
        ) : null}
      </ConfirmDialog>
    </>
  );
}

/** A resize refused because the pool changed meanwhile (412) says what to do. */
function explain(error: ApiError | null): ApiError | null {
  if (error?.status === 412) {
    return new ApiError({
      ...error.problem,
      detail: 'The pool changed since it was shown: close this dialog and try again.',
    });
  }
  return error;
}

const DAY_MS = 86_400_000;
const RANGES = [
  { key: '24h', label: '24 hours', ms: DAY_MS },
  { key: '7d', label: '7 days', ms: 7 * DAY_MS },
  { key: '30d', label: '30 days', ms: 30 * DAY_MS },
] as const;
type RangeKey = (typeof RANGES)[number]['key'];

/** Seats used per capacity of a history point (a pool without capacity is full once it has a seat). */
function utilisation(p: { used: number; capacity: number }): number {
  return p.capacity > 0 ? p.used / p.capacity : p.used > 0 ? 1 : 0;
}

/**
 * A product's utilisation history as Roster recorded it: each pool's seats used per capacity as a step line
 * over the chosen range, with the pools' utilisation caps. Reloaded with every refresh of the screen.
 */
function History(props: { product: Product; refreshed: number }) {
  const sku = props.product.sku;
  const [range, setRange] = useState<RangeKey>('24h');
  const [usage, setUsage] = useState<ProductUsage | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const { refreshed } = props;
  const fetched = useRef<{ range: RangeKey; at: number } | null>(null);
  // biome-ignore lint/correctness/useExhaustiveDependencies: each refresh of the screen loads it again
  useEffect(() => {
    const span = RANGES.find((r) => r.key === range)?.ms ?? DAY_MS;
    const until = serverNow();
    // A week or a month moves little in 5 s: those ranges are read again once a minute.
    const last = fetched.current;
    if (last && last.range === range && span > DAY_MS && until - last.at < 60_000) return;
    const ctl = new AbortController();
    api
      .get<ProductUsage>(
        `/api/v1/products/${encodeURIComponent(sku)}/usage`,
        { since: new Date(until - span).toISOString(), until: new Date(until).toISOString() },
        ctl.signal,
      )
      .then((u) => {
        fetched.current = { range, at: until };
        setUsage(u);
        setError(null);
      })
      .catch((err: unknown) => {
        if (!ctl.signal.aborted) setError(asApiError(err));
      });
    return () => ctl.abort();
  }, [sku, range, refreshed]);

  const picker = (
    <label className="muted small">
      Utilisation history over{' '}
      <select
        value={range}
        onChange={(e) => setRange(e.target.value as RangeKey)}
        data-testid={`usage-range-${sku}`}
      >
        {RANGES.map((r) => (
          <option key={r.key} value={r.key}>
            {r.label}
          </option>
        ))}
      </select>
    </label>
  );
  if (error) {
    return (
      <div className="history">
        {picker}
        <ProblemAlert error={error} />
      </div>
    );
  }
  if (!usage) {
    return (
      <div className="history">
        {picker} <span className="muted small">Loading…</span>
      </div>
    );
  }
  const from = Date.parse(usage.since);
  const to = Date.parse(usage.until);
  const series: StepSeries[] = usage.pools.map((p) => ({
    name: p.name,
    points: p.items.map((i) => [Date.parse(i.at), utilisation(i)] as const),
  }));
  const caps = usage.pools.map((p) => p.utilisationCap);
  // The numbers behind the lines, for those who cannot see them: each pool's last recorded seats.
  const latest = usage.pools
    .flatMap((p) => {
      const last = p.items[p.items.length - 1];
      return last ? [`${p.name} ${last.used} of ${last.capacity}`] : [];
    })
    .join(', ');
  return (
    <figure className="history" data-testid={`usage-history-${sku}`}>
      {picker}
      {series.some((x) => x.points.length > 0) ? (
        <StepChart
          series={series}
          caps={caps}
          from={from}
          to={to}
          label={`Utilisation of the ${sku} pools from ${formatDateTime(usage.since)} to ${formatDateTime(usage.until)}, caps ${[...new Set(caps)].join(', ')} %; last recorded: ${latest}`}
        />
      ) : (
        <p className="muted small">No seat counts recorded for these pools in this range yet.</p>
      )}
      <figcaption className="muted small">
        Seats used per capacity from {formatDateTime(usage.since)} to {formatDateTime(usage.until)}; dashed:
        utilisation cap{new Set(caps).size > 1 ? 's' : ''} ({[...new Set(caps)].join(', ')} %), red: 100 %:{' '}
        {series.map((x, i) => (
          <span key={x.name} className={`legend legend-${i % 6}`}>
            {x.name}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

function CreateProduct(props: { onCreated: (p: Product) => void }) {
  const [sku, setSku] = useState('');
  const [name, setName] = useState('');
  const action = useAction();
  return (
    <section className="panel" aria-labelledby="new-product-heading">
      <h2 id="new-product-heading">New product</h2>
      <form
        data-testid="create-product-form"
        onSubmit={(e) => {
          e.preventDefault();
          void action
            .run(() => api.post<Product>('/api/v1/products', { sku: sku.trim(), name: name.trim() }))
            .then((r) => {
              if (!r.ok) return;
              setSku('');
              setName('');
              props.onCreated(r.value);
            });
        }}
      >
        <Field
          id="product-sku"
          label="SKU"
          pointer="/sku"
          error={action.error}
          hint="Letters, digits, . _ : -"
        >
          {(a) => (
            <input
              {...a}
              required
              value={sku}
              onChange={(e) => setSku(e.target.value)}
              data-testid="product-sku"
            />
          )}
        </Field>
        <Field id="product-name" label="Name" pointer="/name" error={action.error}>
          {(a) => (
            <input
              {...a}
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
              data-testid="product-name"
            />
          )}
        </Field>
        <ProblemAlert error={action.error} handled={['/sku', '/name']} />
        <button
          type="submit"
          className="button button-primary"
          disabled={action.busy}
          data-testid="create-product"
        >
          Create product
        </button>
      </form>
    </section>
  );
}

function CreatePool(props: { products: readonly Product[]; onCreated: (p: Pool) => void }) {
  const [product, setProduct] = useState('');
  const [name, setName] = useState('');
  const [capacity, setCapacity] = useState('');
  const [site, setSite] = useState('');
  const [country, setCountry] = useState('');
  const [priority, setPriority] = useState('');
  const [cap, setCap] = useState('');
  const action = useAction();
  return (
    <section className="panel" aria-labelledby="new-pool-heading">
      <h2 id="new-pool-heading">New pool</h2>
      <form
        data-testid="create-pool-form"
        onSubmit={(e) => {
          e.preventDefault();
          const location: Record<string, string> = {};
          if (site.trim()) location.site = site.trim();
          if (country.trim()) location.country = country.trim();
          const body = {
            product,
            name: name.trim(),
            capacity: Number(capacity),
            ...(Object.keys(location).length > 0 ? { location } : {}),
            ...(priority.trim() ? { priority: Number(priority) } : {}),
            ...(cap.trim() ? { utilisationCap: Number(cap) } : {}),
          };
          void action
            .run(() => api.post<Pool>('/api/v1/pools', body))
            .then((r) => {
              if (!r.ok) return;
              setName('');
              setCapacity('');
              props.onCreated(r.value);
            });
        }}
      >
        <Field id="pool-product" label="Product" pointer="/product" error={action.error}>
          {(a) => (
            <select
              {...a}
              required
              value={product}
              onChange={(e) => setProduct(e.target.value)}
              data-testid="pool-product"
            >
              <option value="">Choose a product</option>
              {props.products.map((p) => (
                <option key={p.id} value={p.sku}>
                  {p.name} ({p.sku})
                </option>
              ))}
            </select>
          )}
        </Field>
        <Field id="pool-name" label="Pool name" pointer="/name" error={action.error}>
          {(a) => (
            <input
              {...a}
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
              data-testid="pool-name"
            />
          )}
        </Field>
        <WholeNumberField
          id="pool-capacity"
          label="Capacity (seats)"
          pointer="/capacity"
          error={action.error}
          min={0}
          required
          value={capacity}
          onChange={setCapacity}
          testId="pool-capacity"
        />
        <Field
          id="pool-site"
          label="Only for site"
          pointer="/location/site"
          error={action.error}
          hint="Empty: any site"
        >
          {(a) => (
            <input {...a} value={site} onChange={(e) => setSite(e.target.value)} data-testid="pool-site" />
          )}
        </Field>
        <Field
          id="pool-country"
          label="Only for country"
          pointer="/location/country"
          error={action.error}
          hint="2 letters; empty: any country"
        >
          {(a) => <input {...a} value={country} maxLength={2} onChange={(e) => setCountry(e.target.value)} />}
        </Field>
        <WholeNumberField
          id="pool-priority"
          label="Priority"
          pointer="/priority"
          error={action.error}
          hint="Lower is used first (default 100)"
          min={0}
          value={priority}
          onChange={setPriority}
        />
        <WholeNumberField
          id="pool-cap"
          label="Utilisation cap (%)"
          pointer="/utilisationCap"
          error={action.error}
          hint="1–100 (default 90): the share of capacity the pool is meant to run at"
          min={1}
          max={100}
          value={cap}
          onChange={setCap}
          testId="pool-cap"
        />
        <ProblemAlert
          error={action.error}
          handled={['/product', '/name', '/capacity', '/location', '/priority', '/utilisationCap']}
        />
        <button
          type="submit"
          className="button button-primary"
          disabled={action.busy}
          data-testid="create-pool"
        >
          Create pool
        </button>
      </form>
    </section>
  );
}
