import { useState } from 'react';
import { ApiError, api, asApiError, fetchAll } from '../api';
import { PageTitle } from '../app';
import { LineChart, type Series } from '../components/charts';
import { ConfirmDialog } from '../components/dialog';
import { PoolUsage } from '../components/pools';
import { Field, ProblemAlert, Status } from '../components/problem';
import { formatTime } from '../format';
import { historyOf, recordPools } from '../history';
import { useAction } from '../load';
import { usePolling } from '../poll';
import { useSession } from '../session';
import type { Pool, Product } from '../types';

const REFRESH_MS = 5_000;

type Dialog = { kind: 'resize'; pool: Pool } | { kind: 'delete'; pool: Pool } | null;

/**
 * Licenses: products and their pools (capacity, used, waitlisted, a bar each), the utilisation history the
 * console has sampled since the page was loaded, and for pools:manage the product and pool forms, resize
 * and delete. Refreshes every 5 s while visible.
 */
export function Licenses() {
  const s = useSession();
  const manage = s.can('pools:manage');
  const [products, setProducts] = useState<readonly Product[] | null>(null);
  const [pools, setPools] = useState<readonly Pool[] | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [dialog, setDialog] = useState<Dialog>(null);
  const [capacity, setCapacity] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  const action = useAction();

  const load = async () => {
    try {
      const [pr, po] = await Promise.all([
        fetchAll<Product>('/api/v1/products'),
        fetchAll<Pool>('/api/v1/pools'),
      ]);
      recordPools(po);
      setProducts(pr);
      setPools(po);
      setLoadError(null);
    } catch (err) {
      setLoadError(asApiError(err));
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
      const r = await action.run(() =>
        api.request<Pool>('PATCH', path, { body: { capacity: n }, ifMatch: `W/"${pool.version}"` }),
      );
      if (!r.ok) return;
      done = `${pool.name}: capacity is now ${r.value.data.capacity}.`;
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
            productExtra={(product, productPools) => <History product={product} pools={productPools} />}
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
        handled={dialog?.kind === 'resize' ? ['/capacity'] : []}
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
            <Field id="resize-capacity" label="New capacity" pointer="/capacity" error={action.error}>
              {(a) => (
                <input
                  {...a}
                  type="number"
                  min={0}
                  max={10_000_000}
                  step={1}
                  required
                  value={capacity}
                  onChange={(e) => setCapacity(e.target.value)}
                  data-testid="resize-capacity"
                />
              )}
            </Field>
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

function History(props: { product: Product; pools: readonly Pool[] }) {
  const series: Series[] = props.pools.map((p) => ({
    name: p.name,
    points: historyOf(p.id).map(
      (x) => [x.at, x.capacity > 0 ? x.used / x.capacity : x.used > 0 ? 1 : 0] as const,
    ),
  }));
  const times = series.flatMap((x) => x.points.map(([t]) => t));
  if (!series.some((x) => x.points.length >= 2))
    return <p className="muted small">Utilisation history: collecting samples…</p>;
  const from = Math.min(...times);
  const to = Math.max(...times);
  return (
    <figure className="history">
      <LineChart
        series={series}
        from={from}
        to={to}
        label={`Utilisation of the ${props.product.sku} pools from ${formatTime(from)} to ${formatTime(to)}`}
      />
      <figcaption className="muted small">
        Utilisation since {formatTime(from)}, dashed line 100 % (sampled by this page every 5 s; not kept
        across reloads):{' '}
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
        <Field id="pool-capacity" label="Capacity (seats)" pointer="/capacity" error={action.error}>
          {(a) => (
            <input
              {...a}
              type="number"
              min={0}
              step={1}
              required
              value={capacity}
              onChange={(e) => setCapacity(e.target.value)}
              data-testid="pool-capacity"
            />
          )}
        </Field>
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
        <Field
          id="pool-priority"
          label="Priority"
          pointer="/priority"
          error={action.error}
          hint="Lower is used first (default 100)"
        >
          {(a) => (
            <input
              {...a}
              type="number"
              min={0}
              step={1}
              value={priority}
              onChange={(e) => setPriority(e.target.value)}
            />
          )}
        </Field>
        <ProblemAlert
          error={action.error}
          handled={['/product', '/name', '/capacity', '/location', '/priority']}
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
