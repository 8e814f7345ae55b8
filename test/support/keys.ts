import { expect } from 'vitest';
import { CLI_ACTOR } from '../../src/platform/context.js';
import type { Client, TestApp } from './app.js';
import { uniqueName } from './routes.js';

/**
 * Things of a tenant that the key and erasure routes name: an erasure record (of a user made for it) and a
 * finished rotation job of the tenant's key. Build the app with a short `keyCache.versionCheckMs`, or the
 * job waits 10 s before it retires the old version.
 */
export async function erasureAndKeyJob(
  t: TestApp,
  api: Client,
  tenantId: string,
): Promise<{ erasureId: string; keyJobId: string; erasedUserId: string }> {
  const leaver = await api.post('/api/v1/users', { userName: `${uniqueName('leaver')}@example.com` });
  expect(leaver.status, leaver.raw).toBe(201);
  const erasure = await api.post('/api/v1/erasure-requests', { userId: leaver.body.id });
  expect(erasure.status, erasure.raw).toBe(201);
  const rotation = t.app.services.rotation;
  const job = await rotation.rotateTenantKey({ actor: CLI_ACTOR, requestId: undefined }, tenantId);
  expect((await rotation.run(job.id)).state).toBe('done');
  return { erasureId: erasure.body.id, keyJobId: job.id, erasedUserId: leaver.body.id };
}
