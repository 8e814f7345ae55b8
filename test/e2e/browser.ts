import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { type Browser, type ConsoleMessage, chromium, type Page, type Response } from 'playwright-core';

/**
 * The Debian `chromium` the end-to-end tests drive through playwright-core (which never downloads a
 * browser). ROSTER_CHROMIUM names another executable.
 */
export function findChromium(): string | null {
  const candidates = process.env.ROSTER_CHROMIUM
    ? [process.env.ROSTER_CHROMIUM]
    : [
        '/usr/bin/chromium',
        '/usr/bin/chromium-browser',
        ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'chromium')),
      ];
  for (const path of candidates) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not there
    }
  }
  return null;
}

/**
 * Flags for a closed network: without the background-networking ones Chromium reaches out to Google services
 * that this network refuses, which would show up as failed requests.
 */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
];

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** An answer a test expects to fail (e.g. the 401s once a session has ended): status and URL, narrowly. */
export interface Allowance {
  readonly status: number;
  readonly url: RegExp;
  readonly method?: string;
  /** Why it is expected (for the failure message when it is not used). */
  readonly reason: string;
}

/**
 * Watches a page for anything that went wrong: console errors, uncaught exceptions, requests that failed and
 * answers of 400 or more. Each test allows the failing answers it provokes, narrowly (`allow`), and ends
 * with `assertClean()`.
 */
export class PageGuard {
  readonly problems: string[] = [];
  readonly #allowed: Allowance[] = [];
  readonly #used = new Set<Allowance>();
  #closing = false;
  #navigating = 0;

  constructor(page: Page) {
    page.on('console', (m) => {
      if (m.type() === 'error' && !this.#consoleAllowed(m)) {
        this.problems.push(`console error: ${m.text()} (at ${m.location().url || 'page'})`);
      }
    });
    page.on('pageerror', (err) => this.problems.push(`uncaught error in the page: ${err.message}`));
    page.on('requestfailed', (req) => {
      // A navigation the test makes (`navigate`) cancels the requests in flight, as a browser does (the
      // dashboard refreshes by itself, so one may be under way): those, and only those, are not failures.
      const cancelled = this.#navigating > 0 && req.failure()?.errorText === 'net::ERR_ABORTED';
      if (!this.#closing && !cancelled) {
        this.problems.push(
          `request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText ?? '?'}`,
        );
      }
    });
    page.on('response', (res) => {
      if (res.status() >= 400 && !this.#responseAllowed(res)) {
        this.problems.push(`HTTP ${res.status()} for ${res.request().method()} ${res.url()}`);
      }
    });
  }

  /** From now on, answers matching `a` are expected (and so is the console's note of them). */
  allow(a: Allowance): void {
    this.#allowed.push(a);
  }

  /** True when an allowance was used by at least one answer. */
  used(a: Allowance): boolean {
    return this.#used.has(a);
  }

  /**
   * Runs a navigation of the test's own (`page.reload()`, `page.goto(…)`): the requests it cancels
   * (net::ERR_ABORTED while it runs) are not failures. Any other failure still is.
   */
  async navigate<T>(go: () => Promise<T>): Promise<T> {
    this.#navigating++;
    try {
      return await go();
    } finally {
      this.#navigating--;
    }
  }

  /** Stops watching for failed requests: closing the page aborts any request in flight. */
  closing(): void {
    this.#closing = true;
  }

  #responseAllowed(res: Response): boolean {
    const a = this.#allowed.find(
      (x) =>
        x.status === res.status() &&
        x.url.test(res.url()) &&
        (x.method === undefined || x.method === res.request().method()),
    );
    if (a) this.#used.add(a);
    return a !== undefined;
  }

  /** Chromium notes every failed answer on the console ("Failed to load resource: … status of 401 …"). */
  #consoleAllowed(m: ConsoleMessage): boolean {
    const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(m.text());
    if (!status) return false;
    const url = m.location().url;
    return this.#allowed.some((x) => x.status === Number(status[1]) && x.url.test(url));
  }
}
