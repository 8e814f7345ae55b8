import { expect, it } from 'vitest';
import { describeE2e, signIn, textOf, useConsole } from './console.js';
import { createAdmin, enrolByApi, must, type Tenant } from './roster.js';

/**
 * A helpdesk account (users, groups and seats to read, a user's status to change; no pool management,
 * tokens, roles or audit) sees no pool management in the console, and the API refuses it anyway.
 */
describeE2e('console end to end: a helpdesk account [sqlite, chromium]', () => {
  const TENANT = 'globex-e2e';
  const SKU = 'E2E-CAD';
  const POOL = 'cad-globex';
  let tenant: Tenant;
  let poolId: string;
  let hank: { tenant: string; username: string; secret: string };

  const h = useConsole(async (r) => {
    tenant = await r.newTenant(TENANT);
    await must(tenant.api, '/api/v1/products', { sku: SKU, name: 'CAD workstation' });
    poolId = (await must(tenant.api, '/api/v1/pools', { product: SKU, name: POOL, capacity: 3 })).id;
    await must(
      tenant.api,
      '/api/v1/onboardings',
      { user: { userName: 'marie.curie@globex.test', department: 'Research' }, products: [SKU] },
      201,
      { 'idempotency-key': 'e2e-setup-marie' },
    );
    await createAdmin(tenant, 'hank', ['helpdesk']);
    hank = { tenant: TENANT, username: 'hank', ...(await enrolByApi(r, TENANT, 'hank')) };
  });

  it('cannot see pool management, tokens, roles or audit; the API refuses a resize', async () => {
    const { page, roster, context } = h();
    await page.goto(roster.console);
    await signIn(page, roster, hank);

    // Navigation: what helpdesk may read, nothing else.
    for (const nav of ['nav-dashboard', 'nav-users', 'nav-licenses', 'nav-groups']) {
      await page.getByTestId(nav).waitFor();
    }
    for (const nav of ['nav-tokens', 'nav-roles', 'nav-audit']) {
      expect(await page.getByTestId(nav).count(), nav).toBe(0);
    }

    // Dashboard: the seats, and no audit figures (it asks for none: the guard would see a 403).
    await expect.poll(() => textOf(page, `pool-used-${POOL}`)).toBe('1');
    expect(await page.getByTestId('onboardings-per-minute').count()).toBe(0);
    expect(await page.getByTestId('recent-activity').count()).toBe(0);

    // Licenses: the pools, read only.
    await page.getByTestId('nav-licenses').click();
    await page.getByTestId(`pool-${POOL}`).waitFor();
    await expect.poll(() => textOf(page, `pool-capacity-${POOL}`)).toBe('3');
    for (const id of [
      `resize-pool-${POOL}`,
      `delete-pool-${POOL}`,
      'create-product-form',
      'create-pool-form',
    ]) {
      expect(await page.getByTestId(id).count(), id).toBe(0);
    }

    // Users: no onboarding, no offboarding, no license changes; Edit (the status only) is there.
    await page.getByTestId('nav-users').click();
    await page.getByTestId('user-row-marie.curie@globex.test').getByRole('link').click();
    await page.getByTestId('profile').waitFor();
    await expect.poll(() => textOf(page, `license-${SKU}`)).toContain('active');
    await page.getByTestId('edit-button').waitFor();
    for (const id of ['offboard-button', `release-${SKU}`, 'assign-submit']) {
      expect(await page.getByTestId(id).count(), id).toBe(0);
    }
    await page.getByTestId('nav-users').click();
    await page.getByTestId('users-table').waitFor();
    expect(await page.getByTestId('onboard-button').count()).toBe(0);

    // Typed addresses of screens it lacks: the console says which permission is missing.
    for (const [path, permission] of [
      ['tokens', 'tokens:manage'],
      ['audit', 'audit:read'],
      ['roles', 'roles:read'],
    ]) {
      await page.goto(`${roster.console}#/${path}`);
      await expect.poll(() => textOf(page, 'forbidden')).toContain(permission);
    }

    // The API refuses pool management to this session whatever the console shows (from outside the page,
    // so the page itself stays free of error answers).
    const cookie = (await context.cookies(roster.origin)).map((c) => `${c.name}=${c.value}`).join('; ');
    const session = await fetch(`${roster.origin}/api/v1/auth/session`, { headers: { cookie } });
    expect(session.status).toBe(200);
    const { csrfToken } = (await session.json()) as { csrfToken: string };
    const pool = await fetch(`${roster.origin}/api/v1/pools/${poolId}`, { headers: { cookie } });
    const resize = await fetch(`${roster.origin}/api/v1/pools/${poolId}`, {
      method: 'PATCH',
      headers: {
        cookie,
        'x-csrf-token': csrfToken,
        'content-type': 'application/json',
        'if-match': pool.headers.get('etag') ?? '*',
      },
      body: JSON.stringify({ capacity: 10 }),
    });
    expect(resize.status).toBe(403);
    expect(((await resize.json()) as { permission?: string }).permission).toBe('pools:manage');
  });
});
