import { expect, it } from 'vitest';
import { describeE2e, signIn, textOf, useConsole } from './console.js';
import { createAdmin, enrolByApi, must, type Tenant } from './roster.js';

/**
 * A person's roles (SCIM `roles`: who they are, such as "Nurse"; not Roster's access roles) in the console:
 * given at onboarding, shown on the user page, edited there (add, remove, mark primary) through a merge
 * patch, a repeated role refused by the API with its error at the field, and the users list searched by role.
 */
describeE2e('console end to end: a person’s roles [sqlite, chromium]', () => {
  const TENANT = 'roles-e2e';
  const ADA = 'ada.roles@acme.test';
  let tenant: Tenant;
  let dana: { tenant: string; username: string; secret: string };
  let erin: { tenant: string; username: string; secret: string };

  const h = useConsole(async (r) => {
    tenant = await r.newTenant(TENANT);
    // Somebody else, with another role: the role search must leave them out.
    await must(
      tenant.api,
      '/api/v1/onboardings',
      { user: { userName: 'paul.pharma@acme.test', roles: [{ value: 'Pharmacist' }] }, products: [] },
      201,
      { 'idempotency-key': 'e2e-roles-paul' },
    );
    await createAdmin(tenant, 'dana', ['tenant-admin']);
    dana = { tenant: TENANT, username: 'dana', ...(await enrolByApi(r, TENANT, 'dana')) };
    // A second account, so that the second test need not wait for the next TOTP step.
    await createAdmin(tenant, 'erin', ['tenant-admin']);
    erin = { tenant: TENANT, username: 'erin', ...(await enrolByApi(r, TENANT, 'erin')) };
  });

  /** The user's roles as the API answers them. */
  const rolesOf = async (id: string) => {
    const res = await tenant.api.get(`/api/v1/users/${id}`);
    expect(res.status, res.raw).toBe(200);
    return res.body.roles as { value: string; type?: string; primary?: boolean }[];
  };

  it('onboards with roles, edits them (add, remove, primary), refuses a repeated role at its field, and searches by role', async () => {
    const { page, roster, guard } = h();
    await page.goto(roster.console);
    await signIn(page, roster, dana);

    // Onboard: one row per role (trimmed, an empty row dropped; a comma is part of a value). A role repeated
    // in another case is refused at its row's field, and nothing is created.
    await page.getByTestId('nav-users').click();
    await page.getByTestId('onboard-button').click();
    await page.getByTestId('onboard-form').waitFor();
    await page.getByTestId('onboard-username').fill(ADA);
    for (const value of [' Nurse ', 'NURSE', '']) {
      await page.getByTestId('onboard-role-add').click();
      const i = (await page.getByTestId('onboard-roles').locator('.role-row').count()) - 1;
      await page.getByTestId(`onboard-role-value-${i}`).fill(value);
    }
    const repeated = { status: 422, url: /\/api\/v1\/onboardings$/, method: 'POST', reason: 'repeated role' };
    guard.allow(repeated);
    await page.getByTestId('onboard-submit').click();
    await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
    await expect.poll(() => textOf(page, 'onboard-role-value-1-error')).toBe('repeats a role of the user');
    expect(guard.used(repeated)).toBe(true);
    expect(await page.getByTestId('onboard-role-value-0').getAttribute('aria-invalid')).toBe('false');
    await page.getByTestId('onboard-role-value-1').fill('Ward Lead, nights');
    await page.getByTestId('onboard-submit').click();
    await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
    await page.getByTestId('onboard-result-user').click();

    // The user page lists them.
    await page.getByTestId('profile').waitFor();
    await expect.poll(() => textOf(page, 'user-role-Nurse')).toBe('Nurse');
    expect(await textOf(page, 'user-role-Ward Lead, nights')).toBe('Ward Lead, nights');
    expect(await page.getByTestId('user-roles').locator('li').count()).toBe(2);
    const id = /#\/users\/([^/?]+)/.exec(page.url())?.[1] ?? '';
    expect(await rolesOf(id)).toEqual([{ value: 'Nurse' }, { value: 'Ward Lead, nights' }]);

    // Edit: remove "Ward Lead", add "Charge Nurse" of type clinical, marked primary (keyboard: the new row's
    // value field has the focus once added).
    await page.getByTestId('edit-button').click();
    await page.getByTestId('edit-form').waitFor();
    expect(await page.getByTestId('edit-role-value-0').inputValue()).toBe('Nurse');
    expect(await page.getByTestId('edit-role-value-1').inputValue()).toBe('Ward Lead, nights');
    await page.getByRole('button', { name: 'Remove role Ward Lead, nights' }).click();
    expect(await page.getByTestId('edit-role-value-1').count()).toBe(0);
    await page.getByTestId('edit-role-add').click();
    await expect
      .poll(() => page.evaluate<string>('document.activeElement ? document.activeElement.id : ""'))
      .toBe('edit-role-value-1');
    await page.keyboard.type('Charge Nurse');
    await page.getByLabel('Type (optional)').nth(1).fill('clinical');
    await page.getByTestId('edit-role-primary-1').check();
    await page.getByTestId('edit-save').click();
    const dialog = page.getByTestId('confirm-dialog');
    expect(await dialog.textContent()).toContain('roles');
    await dialog.getByTestId('confirm-ok').click();
    await expect.poll(() => textOf(page, 'user-status-message')).toBe('Changes saved.');
    await expect.poll(() => textOf(page, 'user-role-Charge Nurse')).toContain('clinical');
    expect(await textOf(page, 'user-role-Charge Nurse')).toContain('primary');
    expect(await page.getByTestId('user-role-Ward Lead, nights').count()).toBe(0);
    expect(await rolesOf(id)).toEqual([
      { value: 'Nurse' },
      { value: 'Charge Nurse', type: 'clinical', primary: true },
    ]);

    // Persisted: a reload shows the same.
    await guard.navigate(() => page.reload());
    await page.getByTestId('profile').waitFor();
    await expect.poll(() => textOf(page, 'user-role-Charge Nurse')).toContain('primary');
    expect(await textOf(page, 'user-role-Nurse')).toBe('Nurse');
    expect(await page.getByTestId('user-roles').locator('li').count()).toBe(2);

    // A role the user already holds, in another case: the API refuses it (422), the error shows at that
    // row's field, the form stays open and nothing is saved.
    const refused = {
      status: 422,
      url: /\/api\/v1\/users\/[^/?]+$/,
      method: 'PATCH',
      reason: 'repeated role',
    };
    guard.allow(refused);
    await page.getByTestId('edit-button').click();
    await page.getByTestId('edit-role-add').click();
    await page.getByTestId('edit-role-value-2').fill('NURSE');
    await page.getByTestId('edit-save').click();
    await page.getByTestId('confirm-dialog').getByTestId('confirm-ok').click();
    await expect.poll(() => textOf(page, 'edit-role-value-2-error')).toBe('repeats a role of the user');
    expect(guard.used(refused)).toBe(true);
    expect(await page.getByTestId('edit-role-value-2').getAttribute('aria-invalid')).toBe('true');
    expect(await page.getByTestId('edit-role-value-0').getAttribute('aria-invalid')).toBe('false');
    // The error is at the field, not repeated in the alert's list.
    expect(await textOf(page, 'edit-error')).not.toContain('/roles');
    expect(await rolesOf(id)).toHaveLength(2);
    // Removing the offending row clears its error; Cancel leaves the user as they were.
    await page.getByTestId('edit-role-remove-2').click();
    expect(await page.getByTestId('edit-role-value-2-error').count()).toBe(0);
    await page.getByRole('button', { name: 'Cancel' }).click();
    await expect.poll(() => textOf(page, 'user-role-Charge Nurse')).toContain('primary');
    expect(await page.getByTestId('user-roles').locator('li').count()).toBe(2);

    // The users list, searched by role (any case), keeps the search in the address.
    await page.getByTestId('nav-users').click();
    await page.getByTestId(`user-row-${ADA}`).waitFor();
    await page.getByTestId('user-row-paul.pharma@acme.test').waitFor();
    await page.getByTestId('search-role').fill('charge nurse');
    await page.getByTestId('search-submit').click();
    await expect.poll(() => page.url()).toContain('role=charge+nurse');
    await expect.poll(() => page.getByTestId('users-table').locator('tbody tr').count()).toBe(1);
    expect(await textOf(page, `user-row-${ADA}`)).toContain('Nurse, Charge Nurse');
    await guard.navigate(() => page.reload());
    await page.getByTestId(`user-row-${ADA}`).waitFor();
    expect(await page.getByTestId('users-table').locator('tbody tr').count()).toBe(1);
    expect(await page.getByTestId('search-role').inputValue()).toBe('charge nurse');
    // A role nobody holds: no user.
    await page.getByTestId('search-role').fill('Ward Lead, nights');
    await page.getByTestId('search-submit').click();
    await expect.poll(() => page.getByTestId('users-table').locator('tbody tr').count()).toBe(0);
    expect(await page.getByText('No user matches.').count()).toBe(1);
  });

  it('keeps the users list with the role search and the user page usable at phone width', async () => {
    const { page, roster } = h();
    await page.goto(roster.console);
    await signIn(page, roster, erin);
    await page.setViewportSize({ width: 375, height: 800 });
    await page.evaluate('window.location.hash = "#/users?role=pharmacist"');
    await page.getByTestId('user-row-paul.pharma@acme.test').waitFor();
    expect(await page.getByTestId('users-table').locator('tbody tr').count()).toBe(1);
    // Nothing reaches past the screen's width but the table, which scrolls inside its box.
    const overflow = () => page.evaluate<number>('document.documentElement.scrollWidth');
    expect(await overflow()).toBeLessThanOrEqual(375);
    await page.getByTestId('user-row-paul.pharma@acme.test').getByRole('link').click();
    await page.getByTestId('edit-button').click();
    await page.getByTestId('edit-role-value-0').waitFor();
    expect(await overflow()).toBeLessThanOrEqual(375);
    expect(await page.getByTestId('edit-role-remove-0').isVisible()).toBe(true);
  });
});
