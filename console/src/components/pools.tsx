import type { ReactNode } from 'react';
import { formatNumber } from '../format';
import type { Pool, Product } from '../types';
import { productWaitlist } from '../waitlist';
import { DEFAULT_CAP, UtilisationBar } from './charts';

export function scopeOf(p: Pool): string {
  const parts = [
    p.location?.site ? `site ${p.location.site}` : null,
    p.location?.country ? `country ${p.location.country.toUpperCase()}` : null,
  ].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : 'any location';
}

/**
 * Products with their pools, each pool's seats as a bar with used / capacity and waitlisted, and a marker
 * at its utilisation cap. The figures carry `data-testid="pool-used-<pool name>"` (and -capacity-,
 * -waitlisted-), the cap marker `pool-cap-<pool name>`, for the end-to-end tests.
 */
export function PoolUsage(props: {
  products: readonly Product[];
  pools: readonly Pool[];
  poolActions?: (pool: Pool) => ReactNode;
  productExtra?: (product: Product, pools: readonly Pool[]) => ReactNode;
}) {
  const skus = new Map<string, Product>(props.products.map((p) => [p.sku.toLowerCase(), p]));
  // Products without pools still show (they can have a waitlist nobody can serve yet).
  const groups = new Map<string, Pool[]>();
  for (const p of props.products) groups.set(p.sku.toLowerCase(), []);
  for (const pool of props.pools) {
    const key = pool.product.toLowerCase();
    groups.set(key, [...(groups.get(key) ?? []), pool]);
  }
  if (groups.size === 0) return <p className="muted">No products yet.</p>;
  return (
    <div className="products">
      {[...groups.entries()].map(([key, pools]) => {
        const product = skus.get(key);
        const used = pools.reduce((n, p) => n + p.used, 0);
        const capacity = pools.reduce((n, p) => n + p.capacity, 0);
        // The product list tells the whole waitlist exactly; the pools' counts only bound it.
        const wait =
          product?.waitlisted !== undefined
            ? { count: product.waitlisted, exact: true }
            : productWaitlist(pools);
        const sku = product?.sku ?? pools[0]?.product ?? key;
        return (
          <section
            key={key}
            className="product"
            aria-labelledby={`product-${key}`}
            data-testid={`product-${sku}`}
          >
            <div className="product-head">
              <h3 id={`product-${key}`}>
                {product?.name ?? sku} <span className="muted small">{sku}</span>
              </h3>
              <p className="product-figures">
                {formatNumber(used)} / {formatNumber(capacity)} seats used
                {wait ? (
                  <>
                    {' · '}
                    <span data-testid={`product-waitlist-${sku}`}>
                      {wait.exact ? '' : 'at least '}
                      {formatNumber(wait.count)}
                    </span>{' '}
                    waiting
                  </>
                ) : null}
              </p>
              {product && props.productExtra ? props.productExtra(product, pools) : null}
            </div>
            {pools.length === 0 ? (
              <p className="muted small">No pool: people given this product wait until a pool is created.</p>
            ) : (
              <ul className="pools">
                {pools.map((pool) => (
                  <li key={pool.id} className="pool" data-testid={`pool-${pool.name}`}>
                    <div className="pool-head">
                      <span className="pool-name">{pool.name}</span>
                      <span className="muted small">
                        {scopeOf(pool)} · priority {pool.priority}
                      </span>
                      <span className="pool-figures">
                        <span data-testid={`pool-used-${pool.name}`}>{pool.used}</span> /{' '}
                        <span data-testid={`pool-capacity-${pool.name}`}>{pool.capacity}</span> used ·{' '}
                        <span data-testid={`pool-waitlisted-${pool.name}`}>{pool.waitlisted}</span> waitlisted
                        {' · '}cap {pool.utilisationCap ?? DEFAULT_CAP} %
                      </span>
                    </div>
                    <UtilisationBar
                      used={pool.used}
                      capacity={pool.capacity}
                      waitlisted={pool.waitlisted}
                      label={`${sku} ${pool.name}`}
                      cap={pool.utilisationCap ?? DEFAULT_CAP}
                      capTestId={`pool-cap-${pool.name}`}
                    />
                    {props.poolActions ? <div className="pool-actions">{props.poolActions(pool)}</div> : null}
                  </li>
                ))}
              </ul>
            )}
          </section>
        );
      })}
    </div>
  );
}
