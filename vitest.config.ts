import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    allowOnly: !process.env.CI,
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/http/**/*.test.ts', 'test/security/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          globalSetup: ['test/support/global-setup.ts'],
        },
      },
      {
        // The console in headless Chromium (Debian `chromium` through playwright-core): see docs/console.md.
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 90_000,
          hookTimeout: 90_000,
          // The page renders what the API answered a moment later: expect.poll waits for it (a busy CI machine
          // runs the other projects at the same time).
          expect: { poll: { timeout: 15_000, interval: 100 } },
          globalSetup: ['test/e2e/global-setup.ts'],
        },
      },
    ],
  },
});
