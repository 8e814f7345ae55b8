import type { TestProject } from 'vitest/node';
import { IN_CI } from '../support/stores.js';
import { findChromium } from './browser.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The Chromium the end-to-end tests drive, or null when there is none (their suites are skipped). */
    chromiumPath: string | null;
  }
}

/**
 * Finds Chromium once for the whole run: under CI a missing Chromium is fatal (never a skip); elsewhere the
 * end-to-end suites are skipped with a warning, as the PostgreSQL half of the store tests is.
 */
export default function setup(project: TestProject): void {
  const path = findChromium();
  if (!path && IN_CI) {
    throw new Error(
      'Chromium is not installed (looked for ROSTER_CHROMIUM, /usr/bin/chromium, chromium on PATH); CI requires it for the console end-to-end tests (.ci/run installs the Debian package `chromium`)',
    );
  }
  if (!path) {
    console.warn(
      '\n[roster tests] Chromium not found: the console end-to-end tests are SKIPPED (apt-get install chromium, or set ROSTER_CHROMIUM; CI=true fails instead)\n',
    );
  }
  project.provide('chromiumPath', path);
}
