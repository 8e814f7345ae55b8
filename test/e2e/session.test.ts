import { expect, it } from 'vitest';
import type { Allowance } from './browser.js';
import { describeE2e, signIn, textOf, useConsole } from './console.js';
import { createAdmin, enrolByApi, type Tenant } from './roster.js';

/**
 * Sessions end on the server (idle timeout 30 min, absolute 12 h: src/access/admins/service.ts); the
 * console then goes back to the login and says so. Time moves on Roster's clock, not by waiting.
 */
describeE2e('console end to end: a session that ends [sqlite, chromium]', () => {
  const TENANT = 'initech-e2e';
  let tenant: Tenant;
  let sam: { tenant: string; username: string; secret: string };
  let sue: { tenant: string; username: string; secret: string };

  const h = useConsole(async (r) => {
    tenant = await r.newTenant(TENANT);
    await createAdmin(tenant, 'sam', ['tenant-admin']);
    await createAdmin(tenant, 'sue', ['tenant-admin']);
    sam = { tenant: TENANT, username: 'sam', ...(await enrolByApi(r, TENANT, 'sam')) };
    sue = { tenant: TENANT, username: 'sue', ...(await enrolByApi(r, TENANT, 'sue')) };
  });

  /** The only failures these tests expect: 401 to the API once the session is over (nothing else). */
  const ended = (method: string): Allowance => ({
    status: 401,
    url: /^http:\/\/127\.0\.0\.1:\d+\/api\/v1\/(?!auth\/login)/,
    method,
    reason: 'the session has ended',
  });

  it('past the idle timeout, the refreshing dashboard lands on the login saying the session has ended', async () => {
    const { page, roster, guard } = h();
    await page.goto(roster.console);
    await signIn(page, roster, sam);
    await page.getByTestId('live-state').waitFor();
    await expect.poll(() => page.getByTestId('live-state').getAttribute('data-state')).toBe('running');
    expect(await page.getByTestId('session-expired').count()).toBe(0);

    // 31 minutes without a request pass on the server: the next refresh (every 5 s) is refused.
    const refused = ended('GET');
    guard.allow(refused);
    roster.clock.advance(31 * 60_000);
    await page.getByTestId('session-expired').waitFor({ timeout: 15_000 });
    expect(await textOf(page, 'session-expired')).toBe('Your session has ended. Please sign in again.');
    await page.getByTestId('login-form').waitFor();
    expect(await page.getByTestId('nav-dashboard').count()).toBe(0);
    expect(guard.used(refused)).toBe(true);

    // Signing in again works, and the message is gone.
    await signIn(page, roster, sam);
    expect(await page.getByTestId('session-expired').count()).toBe(0);
  });

  it('after the absolute timeout (12 h, however active), reopening the console says the session has ended', async () => {
    const { page, roster, guard, context } = h();
    await page.goto(roster.console);
    await signIn(page, roster, sue);
    await page.getByTestId('nav-users').click();
    await page.getByTestId('users-table').waitFor();

    // The session is used every 20 minutes (never idle) until 12 h have passed: still it ends.
    const cookie = (await context.cookies(roster.origin)).map((c) => `${c.name}=${c.value}`).join('; ');
    const use = () => fetch(`${roster.origin}/api/v1/users?limit=1`, { headers: { cookie } });
    let elapsed = 0;
    while (elapsed + 20 * 60_000 < 12 * 60 * 60_000) {
      roster.clock.advance(20 * 60_000);
      elapsed += 20 * 60_000;
      expect((await use()).status, `after ${elapsed / 60_000} min`).toBe(200);
    }
    roster.clock.advance(12 * 60 * 60_000 - elapsed + 60_000);
    expect((await use()).status).toBe(401);

    // The console, opened again, asks for its session and says it has ended.
    const refused = ended('GET');
    guard.allow(refused);
    await guard.navigate(() => page.reload());
    await page.getByTestId('session-expired').waitFor();
    await page.getByTestId('login-form').waitFor();
    expect(guard.used(refused)).toBe(true);
  });
});
