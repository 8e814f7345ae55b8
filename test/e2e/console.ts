import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject } from 'vitest';
import { launchChromium, PageGuard } from './browser.js';
import { type E2eRoster, freshCode, PASSWORD, startRoster } from './roster.js';

/** The viewport of the tests and of the screenshots. */
export const VIEWPORT = { width: 1280, height: 800 };

/**
 * A suite that drives the console in Chromium: skipped (with the global set-up's warning) when Chromium is
 * missing outside CI; under CI a missing Chromium has already failed the run.
 */
export function describeE2e(name: string, fn: () => void): void {
  (inject('chromiumPath') ? describe : describe.skip)(name, fn);
}

export interface ConsoleHarness {
  readonly roster: E2eRoster;
  readonly browser: Browser;
  /** This test's page (a new browser context per test: no cookie or storage carried over). */
  readonly page: Page;
  readonly context: BrowserContext;
  readonly guard: PageGuard;
}

/**
 * For one test file: Roster and Chromium, started once; per test a fresh context and page whose console
 * errors, failed requests and unexpected error answers fail the test. `setup` runs once Roster is up.
 */
export function useConsole(setup: (r: E2eRoster) => Promise<void> = async () => {}): () => ConsoleHarness {
  let roster: E2eRoster | undefined;
  let browser: Browser | undefined;
  let current: { context: BrowserContext; page: Page; guard: PageGuard } | undefined;

  beforeAll(async () => {
    const path = inject('chromiumPath');
    if (!path) throw new Error('no Chromium');
    [roster, browser] = await Promise.all([startRoster(), launchChromium(path)]);
    await setup(roster);
  });
  afterAll(async () => {
    await browser?.close();
    await roster?.close();
  });
  beforeEach(async () => {
    if (!browser) throw new Error('Chromium did not start');
    const context = await browser.newContext({ viewport: VIEWPORT, locale: 'en-GB', timezoneId: 'UTC' });
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    current = { context, page, guard: new PageGuard(page) };
  });
  afterEach(async () => {
    const c = current;
    current = undefined;
    if (!c) return;
    c.guard.closing();
    await c.context.close();
    expect(c.guard.problems, 'console errors, failed requests or error answers in the browser').toEqual([]);
  });

  return () => {
    if (!roster || !browser || !current) throw new Error('the console harness is not started');
    return { roster, browser, ...current };
  };
}

/** The password step of the login form. */
export async function passwordStep(page: Page, tenant: string, username: string): Promise<void> {
  await page.getByTestId('login-form').waitFor();
  await page.getByTestId('login-tenant').fill(tenant);
  await page.getByTestId('login-username').fill(username);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
}

/** Signs in an enrolled account with its TOTP code; ends on the dashboard. */
export async function signIn(
  page: Page,
  r: E2eRoster,
  account: { tenant: string; username: string; secret: string },
): Promise<void> {
  await passwordStep(page, account.tenant, account.username);
  await page.getByTestId('totp-form').waitFor();
  await page.getByTestId('totp-code').fill(await freshCode(account.secret, r.clock));
  await page.getByTestId('totp-submit').click();
  await page.getByTestId('nav-dashboard').waitFor();
  await expect.poll(() => page.getByTestId('account-name').textContent()).toBe(account.username);
}

/** The text of a test id, trimmed (for expect.poll). */
export async function textOf(page: Page, testId: string): Promise<string | null> {
  const el = page.getByTestId(testId);
  if ((await el.count()) === 0) return null;
  return ((await el.first().textContent()) ?? '').trim();
}
