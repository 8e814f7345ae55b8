import { expect, it } from 'vitest';
import { describeE2e, passwordStep, signIn, textOf, useConsole } from './console.js';
import { awayFromStepEdge, createAdmin, enrolByApi, must, type Tenant, totpCode } from './roster.js';

/**
 * The console end to end in Chromium, as a tenant admin: the first sign-in enrols TOTP and shows the
 * recovery codes, later ones ask for a code; onboarding a person takes a seat (the counters move), offboarding
 * gives it back, and the dashboard refreshes by itself.
 */
describeE2e('console end to end: sign-in, onboarding and offboarding [sqlite, chromium]', () => {
  const TENANT = 'acme-e2e';
  const SKU = 'E2E-OFFICE';
  const POOL = 'office-e2e';
  let tenant: Tenant;
  let bob: { tenant: string; username: string; secret: string };

  const h = useConsole(async (r) => {
    tenant = await r.newTenant(TENANT);
    await must(tenant.api, '/api/v1/products', { sku: SKU, name: 'Office suite' });
    await must(tenant.api, '/api/v1/pools', { product: SKU, name: POOL, capacity: 5 });
    // Somebody already holds a seat: the pool starts at 1 / 5.
    await must(
      tenant.api,
      '/api/v1/onboardings',
      { user: { userName: 'grace.hopper@acme.test' }, products: [SKU] },
      201,
      { 'idempotency-key': 'e2e-setup-grace' },
    );
    await createAdmin(tenant, 'alice', ['tenant-admin']);
    await createAdmin(tenant, 'bob', ['tenant-admin']);
    bob = { tenant: TENANT, username: 'bob', ...(await enrolByApi(r, TENANT, 'bob')) };
  });

  it('enrols TOTP at the first sign-in, shows the ten recovery codes once, then signs in with a TOTP code', async () => {
    const { page, roster, guard } = h();
    await page.goto(roster.console);
    // A browser that never signed in asks for no session: straight to the login, no "session ended".
    await page.getByTestId('login-form').waitFor();
    expect(await page.getByTestId('session-expired').count()).toBe(0);

    await passwordStep(page, TENANT, 'alice');
    await page.getByTestId('enrol-form').waitFor();
    const secret = (await textOf(page, 'enrol-secret')) ?? '';
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(await textOf(page, 'enrol-uri')).toContain(`secret=${secret}`);
    // The previous step's code (within the drift window), so that the current one is left for the next sign-in.
    await awayFromStepEdge(roster.clock);
    await page.getByTestId('enrol-code').fill(totpCode(secret, roster.clock.now(), -1));
    await page.getByTestId('enrol-submit').click();

    await page.getByTestId('recovery-codes-step').waitFor();
    const codes = await page.getByTestId('recovery-codes').locator('li').allTextContents();
    expect(codes).toHaveLength(10);
    for (const c of codes) expect(c.trim()).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
    await page.getByTestId('recovery-continue').click();
    await page.getByTestId('nav-dashboard').waitFor();
    expect(await textOf(page, 'account-name')).toBe('alice');
    await expect.poll(() => textOf(page, 'tenant-name')).toBe(TENANT);

    // Sign out, then in again: password, then the authenticator's code.
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    expect(await page.getByTestId('session-expired').count()).toBe(0);
    await signIn(page, roster, { tenant: TENANT, username: 'alice', secret });
    // A reload keeps the session (GET /auth/session answers the CSRF token again).
    await guard.navigate(() => page.reload());
    await page.getByTestId('nav-dashboard').waitFor();
    expect(await textOf(page, 'account-name')).toBe('alice');
  });

  it('onboards a person (the seat counter moves), offboards them (the seat returns), and refreshes live', async () => {
    const { page, roster } = h();
    await page.goto(roster.console);
    await signIn(page, roster, bob);

    // Dashboard before: one seat of five in use.
    await expect.poll(() => textOf(page, `pool-used-${POOL}`)).toBe('1');
    expect(await textOf(page, `pool-capacity-${POOL}`)).toBe('5');
    await expect.poll(() => textOf(page, 'seats-total')).toBe('1 / 5');
    // The pool's utilisation cap (default 90 %) is marked on its bar.
    expect(await page.getByTestId(`pool-cap-${POOL}`).getAttribute('data-cap')).toBe('90');
    // This tenant's own requests of the last ten minutes, counted by the server (the set-up's and the
    // console's own): an error rate (a share of them, none failed), no 5xx, nothing throttled.
    await expect.poll(() => textOf(page, 'error-rate'), { timeout: 12_000 }).toMatch(/^0(\.0)? %$/);
    expect(await textOf(page, 'server-errors')).toBe('0');
    expect(await textOf(page, 'throttled-count')).toBe('0');

    // Users → Onboard a person: the form, a confirmation, the answer.
    await page.getByTestId('nav-users').click();
    await page.getByTestId('user-row-grace.hopper@acme.test').waitFor();
    await page.getByTestId('onboard-button').click();
    await page.getByTestId('onboard-form').waitFor();
    await page.getByTestId('onboard-username').fill('ada.lovelace@acme.test');
    await page.getByTestId('onboard-given-name').fill('Ada');
    await page.getByTestId('onboard-family-name').fill('Lovelace');
    await page.getByTestId('onboard-email').fill('ada.lovelace@acme.test');
    await page.getByTestId('onboard-department').fill('Engineering');
    await page.getByTestId(`onboard-product-${SKU}`).check();
    await page.getByTestId('onboard-submit').click();
    await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
    await page.getByTestId('onboard-result').waitFor();
    expect(await textOf(page, 'onboard-result')).toContain(`a seat in ${POOL}`);

    // The seat counter moved: dashboard and licenses.
    await page.getByTestId('nav-dashboard').click();
    await expect.poll(() => textOf(page, `pool-used-${POOL}`)).toBe('2');
    await expect.poll(() => textOf(page, 'seats-total')).toBe('2 / 5');
    await expect.poll(() => textOf(page, 'recent-activity')).toContain('user.onboarded');
    await page.getByTestId('nav-licenses').click();
    await expect.poll(() => textOf(page, `pool-used-${POOL}`)).toBe('2');
    // The utilisation history, kept by the server: the pool's last recorded seats are the two now in use.
    await expect
      .poll(
        async () =>
          (await page.getByTestId(`usage-history-${SKU}`).getByRole('img').getAttribute('aria-label')) ?? '',
        { timeout: 12_000 },
      )
      .toContain(`${POOL} 2 of 5`);

    // The user page: the seat, then Offboard (confirmed) releases it.
    await page.getByTestId('nav-users').click();
    await page.getByTestId('user-row-ada.lovelace@acme.test').getByRole('link').click();
    await page.getByTestId('profile').waitFor();
    await expect.poll(() => textOf(page, `license-${SKU}`)).toContain('active');
    expect(await textOf(page, `license-${SKU}`)).toContain(POOL);
    await page.getByTestId('offboard-button').click();
    await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
    await expect
      .poll(() => textOf(page, 'user-status-message'))
      .toBe(`ada.lovelace@acme.test is offboarded; released ${SKU}.`);
    await expect.poll(() => textOf(page, 'profile')).toContain('deprovisioned');

    // The seat is back.
    await page.getByTestId('nav-dashboard').click();
    await expect.poll(() => textOf(page, `pool-used-${POOL}`)).toBe('1');
    await expect.poll(() => textOf(page, 'seats-total')).toBe('1 / 5');

    // Someone else onboards (the API): the open dashboard shows it at its next refresh (every 5 s), without
    // reloading the page (a mark left on the page's global object is still there after).
    await page.evaluate(() => {
      (globalThis as { e2eMarker?: boolean }).e2eMarker = true;
    });
    await must(
      tenant.api,
      '/api/v1/onboardings',
      { user: { userName: 'alan.turing@acme.test' }, products: [SKU] },
      201,
      { 'idempotency-key': 'e2e-live-alan' },
    );
    await expect.poll(() => textOf(page, `pool-used-${POOL}`), { timeout: 12_000 }).toBe('2');
    expect(await page.evaluate(() => (globalThis as { e2eMarker?: boolean }).e2eMarker)).toBe(true);
    expect(await page.getByTestId('live-state').getAttribute('data-state')).toBe('running');
  });
});
