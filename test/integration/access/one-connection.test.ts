/**
 * SQLite has one connection: a read made through the database (not the open transaction) while a transaction
 * runs waits for that transaction, which waits for the read: a deadlock with no timeout, which once hung the
 * whole suite. The role checks inside grants (tokens, admin accounts, custom roles) read the tenant's custom
 * roles; when their cache has expired (two seconds) they must read through the transaction.
 */
import { expect, it } from 'vitest';
import type { Clock } from '../../../src/platform/clock.js';
import { type Answer, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * A clock the test moves forward. While `step` is set every reading moves it on by that much, so that the
 * role cache filled by the permission check before the handler has expired again inside the transaction (as
 * on a loaded machine where a transaction waits seconds for SQLite's write lock).
 */
const clock: Clock & { at: number; step: number } = {
  at: Date.parse('2026-12-04T08:00:00Z'),
  step: 0,
  now: (): Date => {
    clock.at += clock.step;
    return new Date(clock.at);
  },
};
const pastRoleCache = () => {
  clock.at += 60_000;
  clock.step = 3_000;
};

/** The answer, or a failure after `ms` instead of waiting forever. */
async function within(ms: number, what: string, p: Promise<Answer>): Promise<Answer> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms (deadlock)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describeEachStore('grants read custom roles through their own transaction', (kind) => {
  const t = useTestApp(kind, {}, { clock });

  it('minting a token, defining and changing a custom role, and creating an admin answer after the role cache expired', async () => {
    clock.step = 0;
    const { api, tenantId } = await t().newTenant();
    const role = await within(
      10_000,
      'POST /api/v1/roles',
      api.post('/api/v1/roles', { name: 'reader', permissions: ['users:read'] }),
    );
    expect(role.status, role.raw).toBe(201);

    pastRoleCache();
    const token = await within(
      10_000,
      'POST /api/v1/tokens',
      api.post('/api/v1/tokens', { name: 'after-expiry', roles: ['reader'] }),
    );
    expect(token.status, token.raw).toBe(201);
    expect(token.body.tenantId).toBe(tenantId);

    pastRoleCache();
    const changed = await within(
      10_000,
      'PATCH /api/v1/roles/reader',
      api.patch(
        '/api/v1/roles/reader',
        { permissions: ['users:read', 'groups:read'] },
        { 'content-type': 'application/merge-patch+json' },
      ),
    );
    expect(changed.status, changed.raw).toBe(200);

    pastRoleCache();
    const admin = await within(
      10_000,
      'POST /api/v1/admins',
      api.post('/api/v1/admins', {
        username: 'after-expiry',
        password: 'a-long-enough-password-1',
        roles: ['reader'],
      }),
    );
    expect([201, 422], admin.raw).toContain(admin.status);

    pastRoleCache();
    const deleted = await within(10_000, 'DELETE /api/v1/roles/reader', api.delete('/api/v1/roles/reader'));
    // In use by the token (and the admin): refused, but answered.
    expect(deleted.status, deleted.raw).toBe(409);
  });
});
