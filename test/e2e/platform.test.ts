import { expect, it } from 'vitest';
import { describeE2e, signIn, textOf, useConsole } from './console.js';
import { type E2eRoster, enrolByApi, must, PASSWORD, type Tenant } from './roster.js';

/**
 * A platform account's dashboard: this node's rates and the key rotation state (GET /api/v1/keys), then,
 * acting on a tenant through the picker, its seats and its waitlist with the longest wait, and the
 * onboardings per minute counted by the server (GET /api/v1/audit/activity).
 */
describeE2e('console end to end: a platform account [sqlite, chromium]', () => {
  const TENANT = 'initech-e2e';
  const SKU = 'E2E-TPS';
  let tenant: Tenant;
  let root: { tenant: string; username: string; secret: string };

  const h = useConsole(async (r) => {
    root = await platformAccount(r);
    tenant = await r.newTenant(TENANT);
    await must(tenant.api, '/api/v1/products', { sku: SKU, name: 'TPS reports' });
    await must(tenant.api, '/api/v1/pools', { product: SKU, name: 'tps-pool', capacity: 1 });
    // One seat for two people: the second waits.
    for (const name of ['peter', 'milton']) {
      await must(
        tenant.api,
        '/api/v1/onboardings',
        { user: { userName: `${name}@initech.test` }, products: [SKU] },
        201,
        { 'idempotency-key': `e2e-platform-${name}` },
      );
    }
  });

  it('shows the key state and node rates; on a tenant, its waitlist with the longest wait', async () => {
    const { page, roster } = h();
    await page.goto(roster.console);
    await signIn(page, roster, root);

    // Platform scope: key rotation state and this node's rates.
    await expect.poll(() => textOf(page, 'key-current')).toMatch(/^v1\b/);
    expect(await textOf(page, 'key-rotation')).toContain('none running');
    await page.getByTestId('node-rates').waitFor();

    // Acting on the tenant: seats, the waitlist (one person), and since when they wait.
    await page.getByTestId('tenant-picker').selectOption({ label: TENANT });
    await expect.poll(() => textOf(page, 'seats-total')).toBe('1 / 1');
    await expect.poll(() => textOf(page, 'waitlist-total')).toBe('1');
    expect(await textOf(page, 'waitlist-oldest')).toMatch(/the longest for \d+ (s|min)/);
    // The tenant's two onboardings, counted by the server, in the chart's last ten minutes (never the
    // platform scope's figures, shown before the picker changed the scope).
    await expect.poll(() => textOf(page, 'onboardings-per-minute')).toMatch(/^\d+$/);
    const chartSum = async () => {
      const chart = await page
        .getByRole('img', { name: /Onboardings per minute/ })
        .getAttribute('aria-label');
      expect(chart).toMatch(/: (\d+, ){9}\d+$/);
      return ((chart ?? '').split(': ')[1]?.split(', ') ?? []).map(Number).reduce((a, b) => a + b, 0);
    };
    await expect.poll(chartSum).toBe(2);
  });
});

/** A platform administrator with TOTP enrolled (no tenant: it signs in with the tenant field empty). */
async function platformAccount(r: E2eRoster) {
  await must(r.admin, '/api/v1/admins', {
    username: 'root-e2e',
    password: PASSWORD,
    roles: ['platform-admin'],
  });
  return { tenant: '', username: 'root-e2e', ...(await enrolByApi(r, '', 'root-e2e')) };
}
