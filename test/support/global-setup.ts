import type { TestProject } from 'vitest/node';
import { IN_CI, PG_URL, postgresReachable } from './stores.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAvailable: boolean;
  }
}

/** Checks PostgreSQL once for the whole run: under CI unreachable is fatal; elsewhere its tests are skipped. */
export default async function setup(project: TestProject): Promise<void> {
  const ok = await postgresReachable();
  if (!ok && IN_CI) {
    throw new Error(
      `PostgreSQL is not reachable at ROSTER_TEST_DATABASE_URL (${PG_URL.replace(/:[^:@/]*@/, ':***@')}); CI requires it`,
    );
  }
  if (!ok)
    console.warn(
      '\n[roster tests] PostgreSQL unreachable: its half of the store tests is SKIPPED (set CI=true to fail instead)\n',
    );
  project.provide('pgAvailable', ok);
}
