/**
 * Key rotation with the local key provider, on SQLite and PostgreSQL: KEK rotation over HTTP (the job, the
 * key file, the store, the audit trail), destroying retired KEK versions, tenant key rotation while requests
 * write (lookups, uniqueness and ETags throughout), draining while stored onboarding answers name the old
 * version, resuming interrupted jobs, two nodes, and `roster keys` as a process.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { KeyJob } from '../../../src/crypto/rotation.js';
import { type Answer, type Client, type TestApp, useTestApp } from '../../support/app.js';
import { type Person, personWithPii, piiOf } from '../../support/pii.js';
import { describeEachStore } from '../../support/stores.js';
import { assertBuilt, killAllRoster, runRoster } from '../cli/process.js';
import {
  anotherNode,
  auditEntries,
  createUser,
  createUsers,
  expectFound,
  expectProblem,
  expectReadBack,
  expectRosterError,
  flipCase,
  HOUR,
  KeyMaterial,
  keyFilePath,
  liveTenantKeyCount,
  must,
  type Node,
  pool,
  readKeyFile,
  ShiftingClock,
  SYSTEM_CTX,
  staleHeartbeat,
  tenantKeyRows,
  userKeyVersions,
  type Written,
} from './rotation-fixtures.js';

interface Tenant {
  readonly tenantId: string;
  readonly token: string;
  readonly api: Client;
  readonly users: Written[];
}

async function tenantWithUsers(t: TestApp, tag: string, n: number): Promise<Tenant> {
  const { tenantId, token, api } = await t.newTenant();
  return { tenantId, token, api, users: await createUsers(api, tag, n) };
}

/** Stops a job run in the caller after its first batch, as a node that died there would leave it. */
async function runFirstBatchOnly(t: TestApp, jobId: string): Promise<void> {
  const stop = new Error('stopped after the first batch');
  await expect(
    t.app.services.rotation.run(jobId, () => {
      throw stop;
    }),
  ).rejects.toBe(stop);
}

function versionsOf(rows: { version: number }[]): number[] {
  return rows.map((r) => r.version);
}

// ---------------------------------------------------------------------------------------------------------
// 1, 2: KEK rotation over HTTP; destroying retired versions

describeEachStore('KEK rotation over HTTP', (kind) => {
  const t = useTestApp(kind);
  const tenants: Tenant[] = [];
  const material = new KeyMaterial();
  /** Raw answers of every /api/v1/keys route, checked for key material at the end. */
  const keyAnswers: { what: string; raw: string }[] = [];
  let firstJob: KeyJob;

  const keysGet = async (path: string, client?: Client): Promise<Answer> => {
    const res = await (client ?? t().admin).get(path);
    keyAnswers.push({ what: `GET ${path}`, raw: res.raw });
    return res;
  };
  const keysPost = async (path: string, client?: Client): Promise<Answer> => {
    const res = await (client ?? t().admin).post(path);
    keyAnswers.push({ what: `POST ${path}`, raw: res.raw });
    return res;
  };

  beforeAll(async () => {
    for (let i = 0; i < 3; i++) tenants.push(await tenantWithUsers(t(), `k${i}x`, 4));
    // Each user as read before any rotation.
    for (const tn of tenants) {
      for (const u of tn.users) {
        const r = must(await tn.api.get(`/api/v1/users/${u.id}`), 200, 'read before');
        u.body = r.body;
        u.etag = String(r.headers.etag);
      }
    }
    material.addKek(readKeyFile(keyFilePath(t())));
    await material.addWrapped(t().app.db);
  });

  it('before any rotation: KEK version 1 is current and wraps every tenant key', async () => {
    const state = await keysGet('/api/v1/keys');
    expect(state.status, state.raw).toBe(200);
    expect(state.body).toMatchObject({ provider: 'local', currentKekVersion: 1, jobs: [] });
    expect(state.body.kekVersions).toEqual([
      expect.objectContaining({ version: 1, retiredAt: null, heldByProvider: true, tenantKeys: 3 }),
    ]);
    expect(state.body.tenantKeys).toEqual({ tenants: 3, liveVersions: 3, retiredVersions: 0 });
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([1]);
  });

  it('POST /api/v1/keys/rotate answers 202 with a kek job 1 -> 2 that rewraps every live tenant key', async () => {
    const live = await liveTenantKeyCount(t().app.db);
    expect(live).toBe(3);
    const res = await keysPost('/api/v1/keys/rotate');
    expect(res.status, res.raw).toBe(202);
    firstJob = res.body;
    expect(res.headers.location).toBe(`/api/v1/keys/jobs/${firstJob.id}`);
    expect(firstJob).toMatchObject({
      kind: 'kek',
      tenantId: null,
      fromVersion: 1,
      toVersion: 2,
      state: 'running',
      total: live,
      done: 0,
      finishedAt: null,
    });
    await t().app.services.rotation.settle();
    const job = await keysGet(`/api/v1/keys/jobs/${firstJob.id}`);
    expect(job.status, job.raw).toBe(200);
    expect(job.body).toMatchObject({ id: firstJob.id, kind: 'kek', state: 'done', total: live, done: live });
    expect(typeof job.body.finishedAt).toBe('string');
    material.addKek(readKeyFile(keyFilePath(t())));
    await material.addWrapped(t().app.db);
  });

  it('afterwards every tenant key is wrapped under KEK 2, version 1 is retired (not destroyed), and GET /api/v1/keys says so', async () => {
    const rows = await tenantKeyRows(t().app.db);
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      expect(r.kek_version, `${r.tenant_id}/${r.version}`).toBe(2);
      expect(r.retired_at).toBeNull();
      expect(r.wrapped_key.length).toBeGreaterThanOrEqual(28);
    }
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([1, 2]);
    const state = await keysGet('/api/v1/keys');
    expect(state.status, state.raw).toBe(200);
    expect(state.body.currentKekVersion).toBe(2);
    const [v1, v2, ...more] = state.body.kekVersions;
    expect(more).toEqual([]);
    expect(v1).toMatchObject({ version: 1, heldByProvider: true, tenantKeys: 0 });
    expect(typeof v1.retiredAt).toBe('string');
    expect(v2).toMatchObject({ version: 2, retiredAt: null, heldByProvider: true, tenantKeys: 3 });
    expect(state.body.jobs.map((j: KeyJob) => [j.id, j.state])).toEqual([[firstJob.id, 'done']]);
  });

  it('every user reads back exactly as before, from the cache and after it is cleared', async () => {
    for (const tn of tenants) await expectReadBack(tn.api, tn.users, 'after KEK rotation');
    t().app.services.keys.clear({ now: true });
    for (const tn of tenants) await expectReadBack(tn.api, tn.users, 'after KEK rotation, cache cleared');
    for (const tn of tenants) for (const u of tn.users) await expectFound(tn.api, u, 'after KEK rotation');
  });

  it('the platform log holds keys.kek_created, keys.kek_rewrapped and keys.kek_retired, without key material', async () => {
    const created = await auditEntries(t().admin, 'keys.kek_created');
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      tenantId: null,
      target: { type: 'kek', id: '2' },
      before: { kekVersion: 1 },
      after: { kekVersion: 2, provider: 'local', job: firstJob.id, tenantKeysToRewrap: 3 },
    });
    const rewrapped = await auditEntries(t().admin, 'keys.kek_rewrapped');
    expect(rewrapped).toHaveLength(1);
    expect(rewrapped[0]).toMatchObject({
      tenantId: null,
      target: { type: 'kek', id: '2' },
      after: { kekVersion: 2, job: firstJob.id, tenantKeysRewrapped: 3 },
    });
    const retired = await auditEntries(t().admin, 'keys.kek_retired');
    expect(retired.map((e) => e.target)).toEqual([{ type: 'kek', id: '1' }]);
    // Not in any tenant's log.
    for (const tn of tenants) {
      expect(await auditEntries(t().admin, 'keys.kek_created', tn.tenantId)).toEqual([]);
    }
    for (const e of [...created, ...rewrapped, ...retired])
      material.expectAbsent(JSON.stringify(e), e.action);
  });

  it('a second KEK rotation while one runs is refused with 409 keys.rotation_running and makes no key', async () => {
    const rotation = t().app.services.rotation;
    // Recorded but not started: it stays running until started below.
    const pending = await rotation.rotateKek(SYSTEM_CTX);
    expect(pending).toMatchObject({ kind: 'kek', fromVersion: 2, toVersion: 3, state: 'running', total: 3 });
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([1, 2, 3]);
    const refused = await keysPost('/api/v1/keys/rotate');
    expectProblem(refused, 409, 'keys.rotation_running');
    await expectRosterError(rotation.rotateKek(SYSTEM_CTX), 'keys.rotation_running');
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([1, 2, 3]);
    const state = await keysGet('/api/v1/keys');
    expect(state.body.currentKekVersion).toBe(3);
    expect(state.body.jobs[0]).toMatchObject({ id: pending.id, state: 'running', done: 0 });

    // While it runs, the version its tenant keys are still under and the current one are in use.
    await expectRosterError(rotation.destroyKek(SYSTEM_CTX, 2), 'keys.version_in_use');
    await expectRosterError(rotation.destroyKek(SYSTEM_CTX, 3), 'keys.version_in_use');
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([1, 2, 3]);

    rotation.start(pending.id);
    await rotation.settle();
    expect(await rotation.job(pending.id)).toMatchObject({ state: 'done', done: 3, total: 3 });
    for (const r of await tenantKeyRows(t().app.db)) expect(r.kek_version).toBe(3);
    const after = await keysGet('/api/v1/keys');
    expect(
      after.body.kekVersions.map((v: { version: number; retiredAt: string | null }) => [
        v.version,
        v.retiredAt !== null,
      ]),
    ).toEqual([
      [1, true],
      [2, true],
      [3, false],
    ]);
    material.addKek(readKeyFile(keyFilePath(t())));
    await material.addWrapped(t().app.db);
    for (const tn of tenants) await expectReadBack(tn.api, tn.users, 'after the second KEK rotation');
  });

  it('retired KEK versions can be destroyed; a cleared cache and a fresh node still read every user; the current version cannot', async () => {
    const rotation = t().app.services.rotation;
    await expectRosterError(rotation.destroyKek(SYSTEM_CTX, 3), 'keys.version_in_use');
    await rotation.destroyKek(SYSTEM_CTX, 1);
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([2, 3]);
    await rotation.destroyKek(SYSTEM_CTX, 2);
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([3]);
    await expectRosterError(rotation.destroyKek(SYSTEM_CTX, 3), 'keys.version_in_use');
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([3]);

    const state = await keysGet('/api/v1/keys');
    expect(state.body.currentKekVersion).toBe(3);
    const held = state.body.kekVersions.map((v: { version: number; heldByProvider: boolean }) => [
      v.version,
      v.heldByProvider,
    ]);
    expect(held).toEqual([
      [1, false],
      [2, false],
      [3, true],
    ]);
    const destroyed = await auditEntries(t().admin, 'keys.kek_destroyed');
    expect(destroyed.map((e) => e.target.id)).toEqual(['1', '2']);

    t().app.services.keys.clear({ now: true });
    for (const tn of tenants) await expectReadBack(tn.api, tn.users, 'after destroying KEK 1 and 2');
    const fresh = await anotherNode(t());
    try {
      for (const tn of tenants) {
        await expectReadBack(fresh.client(tn.token), tn.users, 'a fresh node after destroying KEK 1 and 2');
      }
      // New tenants are wrapped under the only version left.
      const created = must(
        await fresh.admin.post('/api/v1/tenants', { name: `after-destroy-${kind}` }),
        201,
        'tenant',
      );
      const rows = await tenantKeyRows(t().app.db, created.body.id);
      expect(rows.map((r) => r.kek_version)).toEqual([3]);
    } finally {
      await fresh.close();
    }
  });

  it('tenant tokens get 403 on every key route, without a token 401, and nothing is rotated', async () => {
    const tn = tenants[0] as Tenant;
    const before = readKeyFile(keyFilePath(t())).map((k) => k.version);
    const tenantKeysBefore = await tenantKeyRows(t().app.db, tn.tenantId);
    const calls: [string, string][] = [
      ['GET', '/api/v1/keys'],
      ['POST', '/api/v1/keys/rotate'],
      ['GET', `/api/v1/keys/jobs/${firstJob.id}`],
      ['GET', `/api/v1/tenants/${tn.tenantId}/keys`],
      ['POST', `/api/v1/tenants/${tn.tenantId}/keys/rotate`],
    ];
    for (const [method, path] of calls) {
      const asTenant = method === 'GET' ? await keysGet(path, tn.api) : await keysPost(path, tn.api);
      expect(asTenant.status, `${method} ${path}: ${asTenant.raw}`).toBe(403);
      expect(asTenant.body.code).toBe('auth.forbidden');
      const anonymous =
        method === 'GET'
          ? await keysGet(path, t().client(undefined))
          : await keysPost(path, t().client(undefined));
      expect(anonymous.status, `${method} ${path} without a token`).toBe(401);
    }
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual(before);
    expect(await tenantKeyRows(t().app.db, tn.tenantId)).toEqual(tenantKeysBefore);
  });

  it('GET /api/v1/keys/jobs/{unknown} answers 404 keys.job_not_found; an unknown tenant 404', async () => {
    const res = await keysGet('/api/v1/keys/jobs/0190a0a0-0000-7000-8000-000000000001');
    expectProblem(res, 404, 'keys.job_not_found');
    const tenant = await keysGet('/api/v1/tenants/0190a0a0-0000-7000-8000-000000000002/keys');
    expect(tenant.status, tenant.raw).toBe(404);
    const rotate = await keysPost('/api/v1/tenants/0190a0a0-0000-7000-8000-000000000002/keys/rotate');
    expect(rotate.status, rotate.raw).toBe(404);
  });

  it('GET /api/v1/tenants/{id}/keys lists the versions with their KEK versions', async () => {
    const tn = tenants[1] as Tenant;
    const res = await keysGet(`/api/v1/tenants/${tn.tenantId}/keys`);
    expect(res.status, res.raw).toBe(200);
    expect(res.body).toMatchObject({ tenantId: tn.tenantId, jobs: [] });
    expect(res.body.versions).toEqual([
      { version: 1, kekVersion: 3, createdAt: expect.any(String), retiredAt: null },
    ]);
  });

  it('the key-material check finds key material when it is present (it can fail)', async () => {
    const [kek] = readKeyFile(keyFilePath(t()));
    const [wrapped] = (await tenantKeyRows(t().app.db)).map((r) => r.wrapped_key);
    for (const planted of [
      JSON.stringify({ key: kek?.key }),
      `x${Buffer.from(kek?.key ?? '', 'base64')
        .toString('hex')
        .toUpperCase()}y`,
      `wrapped=${wrapped?.toString('base64')}`,
    ]) {
      expect(() => material.expectAbsent(planted, 'planted')).toThrow(/holds key material/);
    }
  });

  it('no answer of a key route holds key material (KEKs of the key file, wrapped tenant keys)', () => {
    expect(keyAnswers.length).toBeGreaterThan(20);
    expect(material.size).toBeGreaterThan(0);
    for (const a of keyAnswers) material.expectAbsent(a.raw, a.what);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 3: tenant key rotation while requests write

describeEachStore('tenant key rotation', (kind) => {
  const t = useTestApp(kind, {}, { keyCache: { versionCheckMs: 50 } });

  it('between batches: every user reads and is found; userName and e-mails stay unique across versions; then the job finishes and retires version 1', async () => {
    const tn = await tenantWithUsers(t(), 'b', 150);
    const rotation = t().app.services.rotation;
    const job = await rotation.rotateTenantKey(SYSTEM_CTX, tn.tenantId);
    expect(job).toMatchObject({
      kind: 'tenant',
      tenantId: tn.tenantId,
      fromVersion: 1,
      toVersion: 2,
      state: 'running',
      total: 150,
      done: 0,
    });
    const keys = must(await t().admin.get(`/api/v1/tenants/${tn.tenantId}/keys`), 200, 'tenant keys');
    expect(
      keys.body.versions.map((v: { version: number; retiredAt: string | null }) => [v.version, v.retiredAt]),
    ).toEqual([
      [1, null],
      [2, null],
    ]);
    expect(keys.body.jobs.map((j: KeyJob) => j.id)).toEqual([job.id]);

    await runFirstBatchOnly(t(), job.id);
    expect(await rotation.job(job.id)).toMatchObject({ state: 'running', done: 100 });
    const versions = await userKeyVersions(t().app.db, tn.tenantId);
    const rewritten = tn.users.filter((u) => versions.get(u.id) === 2);
    const notYet = tn.users.filter((u) => versions.get(u.id) === 1);
    expect([rewritten.length, notYet.length]).toEqual([100, 50]);

    await expectReadBack(tn.api, tn.users, 'between batches');
    for (const u of tn.users) await expectFound(tn.api, u, 'between batches');

    // Uniqueness across versions: against a row not yet rewritten (older index) and a rewritten one.
    for (const holder of [notYet[0] as Written, rewritten[0] as Written]) {
      const sameName = await tn.api.post('/api/v1/users', { userName: flipCase(holder.person.userName) });
      expectProblem(sameName, 409, 'identity.user_name_taken');
      const sameMail = await tn.api.post('/api/v1/users', {
        userName: `unique-${holder.id}`,
        emails: [{ value: (holder.person.emails[1]?.value ?? '').toUpperCase() }],
      });
      expectProblem(sameMail, 409, 'identity.email_taken');
    }
    // An update may not take another user's (older-version) e-mail either.
    const taker = rewritten[1] as Written;
    const take = await tn.api.patch(
      `/api/v1/users/${taker.id}`,
      { emails: [{ value: notYet[1]?.person.emails[0]?.value ?? '' }] },
      { 'content-type': 'application/merge-patch+json' },
    );
    expectProblem(take, 409, 'identity.email_taken');

    // Writes meanwhile go under version 2: a new user, and an update of a user not yet rewritten.
    const fresh = await createUser(tn.api, personWithPii('bnew'));
    const updated = notYet[2] as Written;
    const patched = must(
      await tn.api.patch(
        `/api/v1/users/${updated.id}`,
        { displayName: 'Quen Patched Midway' },
        { 'content-type': 'application/merge-patch+json' },
      ),
      200,
      'patch midway',
    );
    updated.body = patched.body;
    updated.etag = String(patched.headers.etag);
    expect(patched.body.version).toBe(2);
    const midway = await userKeyVersions(t().app.db, tn.tenantId);
    expect(midway.get(fresh.id)).toBe(2);
    expect(midway.get(updated.id)).toBe(2);

    rotation.start(job.id);
    await rotation.settle();
    const done = await rotation.job(job.id);
    expect(done).toMatchObject({ state: 'done', fromVersion: 1, toVersion: 2 });
    expect(typeof done.finishedAt).toBe('string');
    const all = [...tn.users, fresh];
    const after = await userKeyVersions(t().app.db, tn.tenantId);
    expect(after.size).toBe(151);
    expect([...after.values()].every((v) => v === 2)).toBe(true);
    const rows = await tenantKeyRows(t().app.db, tn.tenantId);
    expect(versionsOf(rows)).toEqual([1, 2]);
    expect(typeof rows[0]?.retired_at).toBe('string');
    expect(rows[0]?.wrapped_key.length).toBe(0);
    expect(rows[1]).toMatchObject({ retired_at: null });
    await expectReadBack(tn.api, all, 'after the rotation');
    for (const u of all) await expectFound(tn.api, u, 'after the rotation');
    // Still unique under the one version left.
    expectProblem(
      await tn.api.post('/api/v1/users', { userName: flipCase((notYet[3] as Written).person.userName) }),
      409,
      'identity.user_name_taken',
    );

    // The rotation wrote no user audit entries: the only update is the request's.
    expect((await auditEntries(t().admin, 'user.updated', tn.tenantId)).map((e) => e.target.id)).toEqual([
      updated.id,
    ]);
    expect(await auditEntries(t().admin, 'keys.tenant_key_created', tn.tenantId)).toEqual([
      expect.objectContaining({
        tenantId: tn.tenantId,
        target: { type: 'tenant_key', id: `${tn.tenantId}/2` },
        before: { version: 1 },
        after: { version: 2, job: job.id, rowsToRewrite: 150 },
      }),
    ]);
    expect(await auditEntries(t().admin, 'keys.tenant_key_rotated', tn.tenantId)).toEqual([
      expect.objectContaining({ target: { type: 'tenant_key', id: `${tn.tenantId}/2` } }),
    ]);
    expect(await auditEntries(t().admin, 'keys.tenant_key_retired', tn.tenantId)).toEqual([
      expect.objectContaining({ target: { type: 'tenant_key', id: `${tn.tenantId}/1` } }),
    ]);
    // Tenant key events are not in the platform log.
    expect(await auditEntries(t().admin, 'keys.tenant_key_created')).toEqual([]);
    const state = must(await t().admin.get(`/api/v1/tenants/${tn.tenantId}/keys`), 200, 'tenant keys');
    expect(
      state.body.versions.map((v: { version: number; retiredAt: string | null }) => [
        v.version,
        v.retiredAt !== null,
      ]),
    ).toEqual([
      [1, true],
      [2, false],
    ]);
  });

  it('while 200 creates and their updates run: POST .../keys/rotate midway; lookups find everyone throughout; afterwards everything reads back, all rows under version 2, ETags unchanged, version 1 retired', async () => {
    const tn = await tenantWithUsers(t(), 'c', 150);
    const admin = t().admin;
    const patchOf = (_p: Person, i: number) => ({
      displayName: `Quen Updated ${i}`,
      phoneNumbers: [{ value: `+49 40 7777 ${i}`, type: 'work' }],
    });
    const merge = { 'content-type': 'application/merge-patch+json' };
    const created: Written[] = [];
    let completed = 0;
    let updates = 0;
    const duplicates: Answer[] = [];
    const tasks: (() => Promise<void>)[] = [];
    for (let i = 0; i < 200; i++) {
      tasks.push(async () => {
        const p = personWithPii(`n${String(i).padStart(4, '0')}`);
        const u = await createUser(tn.api, p);
        created.push(u);
        const res = must(
          await tn.api.patch(`/api/v1/users/${u.id}`, patchOf(p, i), merge),
          200,
          'update new',
        );
        u.body = res.body;
        u.etag = String(res.headers.etag);
        updates++;
      });
      // Every fourth step: an update of an existing user, or an attempt to duplicate one.
      if (i % 4 === 0) {
        const old = tn.users[i / 4] as Written;
        tasks.push(async () => {
          const res = must(
            await tn.api.patch(`/api/v1/users/${old.id}`, patchOf(old.person, 1000 + i), merge),
            200,
            'update old',
          );
          old.body = res.body;
          old.etag = String(res.headers.etag);
          updates++;
        });
      }
      if (i % 10 === 5) {
        const victim = tn.users[100 + (i - 5) / 10] as Written;
        tasks.push(async () => {
          duplicates.push(await tn.api.post('/api/v1/users', { userName: flipCase(victim.person.userName) }));
          duplicates.push(
            await tn.api.post('/api/v1/users', {
              userName: `dup-mail-${i}`,
              emails: [{ value: (victim.person.emails[0]?.value ?? '').toUpperCase() }],
            }),
          );
        });
      }
    }

    let rotateAnswer: Answer | undefined;
    const rotated = (async () => {
      while (completed < 60) await new Promise((r) => setTimeout(r, 2));
      rotateAnswer = await admin.post(`/api/v1/tenants/${tn.tenantId}/keys/rotate`);
      return rotateAnswer;
    })();
    const observed: { state: string; done: number; total: number }[] = [];
    const lookups = (async () => {
      const res = await rotated;
      if (res.status !== 202) return;
      const deadline = Date.now() + 45_000;
      let k = 0;
      while (Date.now() < deadline) {
        const job = must(await admin.get(`/api/v1/keys/jobs/${res.body.id}`), 200, 'job');
        observed.push({ state: job.body.state, done: job.body.done, total: job.body.total });
        if (job.body.state !== 'running') return;
        // Users made before the rotation (rewritten by the job at some point) and during it.
        for (const u of [tn.users[k % 150] as Written, tn.users[(k * 37 + 11) % 150] as Written]) {
          await expectFound(tn.api, u, `during the rotation (job ${job.body.done}/${job.body.total})`);
        }
        const recent = created[created.length - 1];
        if (recent) await expectFound(tn.api, recent, 'a user created during the rotation');
        k++;
        // Injected requests on SQLite never leave the microtask queue: yield, as a client on a socket would,
        // or the job's timers (and the writers) never get a turn.
        await new Promise((r) => setImmediate(r));
      }
      throw new Error('the rotation job did not finish within 45 s');
    })();
    await Promise.all([
      pool(
        12,
        tasks.map((task) => async () => {
          await task();
          completed++;
        }),
      ),
      rotated,
      lookups,
    ]);
    await t().app.services.rotation.settle();

    const res = rotateAnswer as Answer;
    expect(res.status, res.raw).toBe(202);
    expect(res.headers.location).toBe(`/api/v1/keys/jobs/${res.body.id}`);
    expect(res.body).toMatchObject({ kind: 'tenant', tenantId: tn.tenantId, fromVersion: 1, toVersion: 2 });
    // The rotation began while the writes ran, and the lookups ran while it did.
    expect(completed).toBe(tasks.length);
    expect(observed.some((o) => o.state === 'running')).toBe(true);
    const job = must(await admin.get(`/api/v1/keys/jobs/${res.body.id}`), 200, 'job');
    expect(job.body.state).toBe('done');

    expect(duplicates).toHaveLength(40);
    for (const [i, d] of duplicates.entries()) {
      expectProblem(d, 409, i % 2 === 0 ? 'identity.user_name_taken' : 'identity.email_taken');
    }
    const everyone = [...tn.users, ...created];
    expect(everyone).toHaveLength(350);
    const versions = await userKeyVersions(t().app.db, tn.tenantId);
    expect(versions.size).toBe(350);
    expect([...versions.entries()].filter(([, v]) => v !== 2)).toEqual([]);
    await expectReadBack(tn.api, everyone, 'after the rotation under writes');
    // Users no request touched kept their version and ETag from their creation.
    const untouched = tn.users.filter((u) => u.body.version === 1);
    expect(untouched.length).toBeGreaterThan(90);
    for (const u of untouched) expect(u.etag).toBe('W/"1"');
    for (const u of everyone) await expectFound(tn.api, u, 'after the rotation under writes');

    const rows = await tenantKeyRows(t().app.db, tn.tenantId);
    expect(versionsOf(rows)).toEqual([1, 2]);
    expect(typeof rows[0]?.retired_at).toBe('string');
    expect(rows[0]?.wrapped_key.length).toBe(0);
    expect(rows[1]?.retired_at).toBeNull();
    // One audit entry per request that changed a user; none for the rewrites.
    expect(await auditEntries(admin, 'user.updated', tn.tenantId)).toHaveLength(updates);
    expect(await auditEntries(admin, 'user.created', tn.tenantId)).toHaveLength(350);
    for (const action of ['keys.tenant_key_created', 'keys.tenant_key_rotated', 'keys.tenant_key_retired']) {
      expect(await auditEntries(admin, action, tn.tenantId), action).toHaveLength(1);
    }
  });

  it('unexpired onboarding answers under version 1 keep the job draining; their replay is the first answer, byte for byte', async () => {
    const tn = await tenantWithUsers(t(), 'd', 5);
    const admin = t().admin;
    const body = { user: personWithPii('donb'), products: [] };
    const first = await tn.api.post('/api/v1/onboardings', body, {
      'idempotency-key': 'rotation-onboarding-1',
    });
    expect(first.status, first.raw).toBe(201);
    const onboarded = first.body.user;

    const rotate = await admin.post(`/api/v1/tenants/${tn.tenantId}/keys/rotate`);
    expect(rotate.status, rotate.raw).toBe(202);
    await t().app.services.rotation.settle();
    const job = must(await admin.get(`/api/v1/keys/jobs/${rotate.body.id}`), 200, 'job');
    expect(job.body).toMatchObject({ state: 'draining', finishedAt: null, fromVersion: 1, toVersion: 2 });
    // Every user row is under version 2 (the onboarded one too); version 1 stays live for the answer.
    const versions = await userKeyVersions(t().app.db, tn.tenantId);
    expect(versions.size).toBe(6);
    expect([...versions.values()].every((v) => v === 2)).toBe(true);
    const rows = await tenantKeyRows(t().app.db, tn.tenantId);
    expect(rows.map((r) => [r.version, r.retired_at, r.wrapped_key.length > 0])).toEqual([
      [1, null, true],
      [2, null, true],
    ]);
    const keys = must(await admin.get(`/api/v1/tenants/${tn.tenantId}/keys`), 200, 'tenant keys');
    expect(
      keys.body.versions.map((v: { version: number; retiredAt: string | null }) => [v.version, v.retiredAt]),
    ).toEqual([
      [1, null],
      [2, null],
    ]);
    expect(keys.body.jobs[0]).toMatchObject({ id: rotate.body.id, state: 'draining' });

    const replay = await tn.api.post('/api/v1/onboardings', body, {
      'idempotency-key': 'rotation-onboarding-1',
    });
    expect(replay.status, replay.raw).toBe(201);
    expect(replay.raw).toBe(first.raw);
    expect(replay.headers['idempotency-replayed']).toBe('true');
    const reused = await tn.api.post(
      '/api/v1/onboardings',
      { user: personWithPii('donb2'), products: [] },
      { 'idempotency-key': 'rotation-onboarding-1' },
    );
    expectProblem(reused, 422, 'idempotency.key_reused');

    // The onboarded user reads as first answered; the others as written.
    const read = must(await tn.api.get(`/api/v1/users/${onboarded.id}`), 200, 'onboarded');
    expect(read.body).toEqual(onboarded);
    await expectReadBack(tn.api, tn.users, 'while draining');
    for (const u of tn.users) await expectFound(tn.api, u, 'while draining');

    // Another rotation waits for this one; a retry of the retirement changes nothing yet.
    expectProblem(
      await admin.post(`/api/v1/tenants/${tn.tenantId}/keys/rotate`),
      409,
      'keys.rotation_running',
    );
    await t().app.services.rotation.resume();
    await t().app.services.rotation.settle();
    expect((await t().app.services.rotation.job(rotate.body.id)).state).toBe('draining');
    expect(await auditEntries(admin, 'keys.tenant_key_created', tn.tenantId)).toHaveLength(1);
    expect(await auditEntries(admin, 'keys.tenant_key_rotated', tn.tenantId)).toEqual([]);
    expect(await auditEntries(admin, 'keys.tenant_key_retired', tn.tenantId)).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 4: draining, then retiring once the answers expired

describeEachStore('tenant key rotation: draining, then retiring 25 h later', (kind) => {
  const clock = new ShiftingClock();
  const t = useTestApp(kind, {}, { clock, keyCache: { versionCheckMs: 50 } });

  it('the job retires version 1 once the stored answers naming it have expired and are purged', async () => {
    const tn = await tenantWithUsers(t(), 'e', 4);
    const admin = t().admin;
    const rotation = t().app.services.rotation;
    const body = { user: personWithPii('eonb'), products: [] };
    const first = must(
      await tn.api.post('/api/v1/onboardings', body, { 'idempotency-key': 'drain-key' }),
      201,
      'onboarding',
    );
    const rotate = must(await admin.post(`/api/v1/tenants/${tn.tenantId}/keys/rotate`), 202, 'rotate');
    await rotation.settle();
    expect((await rotation.job(rotate.body.id)).state).toBe('draining');

    // A day later the answer is still kept (25 h): still draining, and still replayed.
    clock.advance(24 * HOUR);
    await t().app.services.lifecycle.purgeExpiredKeys();
    await rotation.resume();
    await rotation.settle();
    expect((await rotation.job(rotate.body.id)).state).toBe('draining');
    const replay = await tn.api.post('/api/v1/onboardings', body, { 'idempotency-key': 'drain-key' });
    expect(replay.status, replay.raw).toBe(201);
    expect(replay.raw).toBe(first.raw);

    clock.advance(HOUR + 60_000);
    expect(await t().app.services.lifecycle.purgeExpiredKeys()).toBeGreaterThanOrEqual(1);
    await rotation.resume();
    await rotation.settle();
    const job = await rotation.job(rotate.body.id);
    expect(job.state).toBe('done');
    expect(typeof job.finishedAt).toBe('string');
    const rows = await tenantKeyRows(t().app.db, tn.tenantId);
    expect(versionsOf(rows)).toEqual([1, 2]);
    expect(typeof rows[0]?.retired_at).toBe('string');
    expect(rows[0]?.wrapped_key.length).toBe(0);
    expect(rows[1]?.retired_at).toBeNull();
    await expectReadBack(tn.api, tn.users, 'after retiring');
    for (const u of tn.users) await expectFound(tn.api, u, 'after retiring');
    const onboarded = must(await tn.api.get(`/api/v1/users/${first.body.user.id}`), 200, 'onboarded');
    expect(onboarded.body).toEqual(first.body.user);
    expect(await auditEntries(admin, 'keys.tenant_key_rotated', tn.tenantId)).toHaveLength(1);
    expect(await auditEntries(admin, 'keys.tenant_key_retired', tn.tenantId)).toEqual([
      expect.objectContaining({
        target: { type: 'tenant_key', id: `${tn.tenantId}/1` },
        after: expect.objectContaining({ version: 1, wrappedKey: 'destroyed' }),
      }),
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------
// 5: interrupted jobs resume

describeEachStore('interrupted key jobs resume', (kind) => {
  const t = useTestApp(kind, {}, { keyCache: { versionCheckMs: 50 } });

  it('a tenant job recorded but never started is taken up once its heartbeat is stale, not before', async () => {
    const tn = await tenantWithUsers(t(), 'f', 120);
    const rotation = t().app.services.rotation;
    const job = await rotation.rotateTenantKey(SYSTEM_CTX, tn.tenantId);
    // Its heartbeat is fresh: another node may be running it.
    await rotation.resume();
    await rotation.settle();
    expect(await rotation.job(job.id)).toMatchObject({ state: 'running', done: 0 });
    expect([...(await userKeyVersions(t().app.db, tn.tenantId)).values()].every((v) => v === 1)).toBe(true);

    await staleHeartbeat(t().app.db, job.id);
    await rotation.resume();
    await rotation.settle();
    expect(await rotation.job(job.id)).toMatchObject({ state: 'done', done: 120, total: 120 });
    expect([...(await userKeyVersions(t().app.db, tn.tenantId)).values()].every((v) => v === 2)).toBe(true);
    const rows = await tenantKeyRows(t().app.db, tn.tenantId);
    expect(rows.map((r) => [r.version, r.retired_at !== null, r.wrapped_key.length > 0])).toEqual([
      [1, true, false],
      [2, false, true],
    ]);
    await expectReadBack(tn.api, tn.users, 'after resuming');
    for (const u of tn.users.slice(0, 20)) await expectFound(tn.api, u, 'after resuming');
  });

  it('a tenant job that stopped after its first batch is resumed from there', async () => {
    const tn = await tenantWithUsers(t(), 'g', 130);
    const rotation = t().app.services.rotation;
    const job = await rotation.rotateTenantKey(SYSTEM_CTX, tn.tenantId);
    await runFirstBatchOnly(t(), job.id);
    expect(await rotation.job(job.id)).toMatchObject({ state: 'running', done: 100 });
    await staleHeartbeat(t().app.db, job.id);
    await rotation.resume();
    await rotation.settle();
    expect(await rotation.job(job.id)).toMatchObject({ state: 'done', done: 130, total: 130 });
    expect([...(await userKeyVersions(t().app.db, tn.tenantId)).values()].every((v) => v === 2)).toBe(true);
    await expectReadBack(tn.api, tn.users, 'after resuming a stopped job');
  });

  it('a KEK job recorded but never started is taken up once its heartbeat is stale', async () => {
    const tn = await tenantWithUsers(t(), 'h', 3);
    const rotation = t().app.services.rotation;
    const live = await liveTenantKeyCount(t().app.db);
    const job = await rotation.rotateKek(SYSTEM_CTX);
    expect(job.total).toBe(live);
    await staleHeartbeat(t().app.db, job.id);
    await rotation.resume();
    await rotation.settle();
    expect(await rotation.job(job.id)).toMatchObject({ state: 'done', done: live });
    for (const r of await tenantKeyRows(t().app.db))
      if (r.retired_at === null) expect(r.kek_version).toBe(job.toVersion);
    t().app.services.keys.clear({ now: true });
    await expectReadBack(tn.api, tn.users, 'after resuming a KEK job');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Writers on both sides of the switch to a new version: uniqueness holds

describeEachStore('uniqueness across the switch to a new tenant key version', (kind) => {
  // This node checks versions rarely: a new version comes in force here only 2 minutes after it is made,
  // and the job is recorded, not run, so no row is rewritten and version 1 stays live.
  const t = useTestApp(kind, {}, { keyCache: { versionCheckMs: 60_000 } });
  let tn: Tenant;
  let later: Node;

  beforeAll(async () => {
    tn = await tenantWithUsers(t(), 'w', 1);
    // Recorded, not run: no row is rewritten.
    await t().app.services.rotation.rotateTenantKey(SYSTEM_CTX, tn.tenantId);
    // Another node that checks versions every 50 ms: version 2 is in force there after 100 ms. (A clock
    // ahead would do as well, but that node would find the job's heartbeat stale and run it.)
    later = await anotherNode(t(), { keyCache: { versionCheckMs: 50 } });
    await new Promise((r) => setTimeout(r, 150));
  });
  afterAll(async () => {
    await later?.close();
  });

  async function currentVersions(): Promise<[number[], number, number]> {
    const here = await t().app.services.keys.tenantKeys(t().app.db.kysely, tn.tenantId);
    const there = await later.app.services.keys.tenantKeys(later.app.db.kysely, tn.tenantId);
    return [here.all.map((k) => k.version).sort(), here.current.version, there.current.version];
  }

  it('this node writes under version 1 and the other under version 2, both knowing both', async () => {
    expect(await currentVersions()).toEqual([[1, 2], 1, 2]);
  });

  it('a userName or e-mail written under one version is taken for a writer under the other, either way', async () => {
    const api = tn.api;
    const there = later.client(tn.token);
    must(
      await api.post('/api/v1/users', { userName: 'Seq.One', emails: [{ value: 'seq.one@w.example' }] }),
      201,
      'v1',
    );
    expectProblem(
      await there.post('/api/v1/users', { userName: 'seq.one' }),
      409,
      'identity.user_name_taken',
    );
    expectProblem(
      await there.post('/api/v1/users', { userName: 'seq-x', emails: [{ value: 'SEQ.ONE@w.example' }] }),
      409,
      'identity.email_taken',
    );
    must(
      await there.post('/api/v1/users', { userName: 'Seq.Two', emails: [{ value: 'seq.two@w.example' }] }),
      201,
      'v2',
    );
    expectProblem(await api.post('/api/v1/users', { userName: 'SEQ.TWO' }), 409, 'identity.user_name_taken');
    expectProblem(
      await api.post('/api/v1/users', { userName: 'seq-y', emails: [{ value: 'Seq.Two@W.example' }] }),
      409,
      'identity.email_taken',
    );
    expect(await currentVersions()).toEqual([[1, 2], 1, 2]);
  });

  // SQLite runs one write transaction at a time (and better-sqlite3 would block this process waiting for
  // the other connection), so the concurrent case is PostgreSQL's.
  if (kind === 'postgres') {
    it('concurrent writers of one value under the two versions: the second waits for the first and gets 409', async () => {
      for (const [field, input, code] of [
        ['userName', { userName: 'Race.Name' }, 'identity.user_name_taken'],
        [
          'email',
          { userName: 'race-mail-1', emails: [{ value: 'race.mail@w.example' }] },
          'identity.email_taken',
        ],
      ] as const) {
        let inserted!: () => void;
        const insertedP = new Promise<void>((r) => {
          inserted = r;
        });
        let release!: () => void;
        const gate = new Promise<void>((r) => {
          release = r;
        });
        // This node's transaction writes the value under version 1 and stays open.
        const first = t()
          .app.db.kysely.transaction()
          .execute(async (tx) => {
            const u = await t().app.services.users.createIn(
              tx,
              { ...SYSTEM_CTX, tenantId: tn.tenantId },
              input,
            );
            inserted();
            await gate;
            return u;
          });
        await insertedP;
        // The other node writes the same value (other case) under version 2 meanwhile.
        const dup =
          field === 'userName'
            ? { userName: 'RACE.NAME' }
            : { userName: 'race-mail-2', emails: [{ value: 'RACE.MAIL@W.EXAMPLE' }] };
        let settled = false;
        const second = later
          .client(tn.token)
          .post('/api/v1/users', dup)
          .finally(() => {
            settled = true;
          });
        try {
          await new Promise((r) => setTimeout(r, 300));
          const early = settled ? (await second).raw : '';
          expect(settled, `${field}: the second writer did not wait for the first: ${early}`).toBe(false);
        } finally {
          release();
          await first;
        }
        expectProblem(await second, 409, code);
      }
      expect(await currentVersions()).toEqual([[1, 2], 1, 2]);
    });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Two nodes: one rotates a tenant key while the other (production version-check interval) serves

describeEachStore('tenant key rotation seen from another node', (kind) => {
  // This node: the default 5 s version check, as in production.
  const t = useTestApp(kind);

  /**
   * A tenant whose users this node has just read (its key cache holds version 1, checked now), then another
   * node rotates the tenant key and rewrites the first 100 users.
   */
  async function rotatedElsewhere(
    tag: string,
  ): Promise<{ tn: Tenant; other: Node; jobId: string; rewritten: Written[] }> {
    const tn = await tenantWithUsers(t(), tag, 120);
    must(await tn.api.get(`/api/v1/users/${(tn.users[0] as Written).id}`), 200, 'warm the cache');
    const other = await anotherNode(t());
    const job = await other.app.services.rotation.rotateTenantKey(SYSTEM_CTX, tn.tenantId);
    const stop = new Error('first batch only');
    await expect(
      other.app.services.rotation.run(job.id, () => {
        throw stop;
      }),
    ).rejects.toBe(stop);
    const versions = await userKeyVersions(t().app.db, tn.tenantId);
    const rewritten = tn.users.filter((u) => versions.get(u.id) === 2);
    expect(rewritten).toHaveLength(100);
    return { tn, other, jobId: job.id, rewritten };
  }

  it('this node keeps reading users the other node has rewritten', async () => {
    const { tn, other, rewritten } = await rotatedElsewhere('p');
    try {
      await expectReadBack(tn.api, rewritten.slice(0, 5), 'read on a node that has not seen the new version');
    } finally {
      await other.close();
    }
  });

  it('this node keeps finding users the other node has rewritten', async () => {
    const { tn, other, rewritten } = await rotatedElsewhere('q');
    try {
      for (const u of rewritten.slice(0, 5))
        await expectFound(tn.api, u, 'lookup on a node that has not seen the new version');
    } finally {
      await other.close();
    }
  });

  it('this node refuses a duplicate userName of a user the other node has rewritten', async () => {
    const { tn, other, rewritten } = await rotatedElsewhere('r');
    try {
      const dup = await tn.api.post('/api/v1/users', {
        userName: flipCase((rewritten[0] as Written).person.userName),
      });
      expectProblem(dup, 409, 'identity.user_name_taken');
    } finally {
      await other.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// 6: `roster keys` as a process

describeEachStore('roster keys (CLI process)', (kind) => {
  const t = useTestApp(kind);
  const tenants: Tenant[] = [];
  const material = new KeyMaterial();
  const outputs: { what: string; text: string }[] = [];
  let env: Record<string, string>;

  beforeAll(async () => {
    assertBuilt();
    for (let i = 0; i < 2; i++) tenants.push(await tenantWithUsers(t(), `cli${i}x`, 3));
    env = {
      ROSTER_DATABASE_URL: t().store.url,
      ROSTER_KEY_FILE: keyFilePath(t()),
      ROSTER_LOG_LEVEL: 'silent',
    };
    material.addKek(readKeyFile(keyFilePath(t())));
    await material.addWrapped(t().app.db);
  });
  afterAll(killAllRoster);

  const roster = async (args: string[]) => {
    const r = await runRoster(args, { env, cwd: t().store.dir, timeoutMs: 60_000 });
    outputs.push({ what: `roster ${args.join(' ')} (stdout)`, text: r.stdout });
    outputs.push({ what: `roster ${args.join(' ')} (stderr)`, text: r.stderr });
    material.addKek(readKeyFile(keyFilePath(t())));
    await material.addWrapped(t().app.db);
    return r;
  };

  it('roster keys status prints the state as JSON', async () => {
    const r = await roster(['keys', 'status']);
    expect(r.code, r.stderr).toBe(0);
    const state = JSON.parse(r.stdout);
    expect(state).toMatchObject({ provider: 'local', currentKekVersion: 1 });
    expect(state.kekVersions).toEqual([
      expect.objectContaining({ version: 1, tenantKeys: 2, heldByProvider: true }),
    ]);
  });

  it('roster keys rotate rewraps every tenant key with progress on stderr and prints the finished job', async () => {
    const r = await roster(['keys', 'rotate']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rewrapping tenant keys: 100% \(2\/2\)/);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const job = JSON.parse(lines[0] as string);
    expect(job).toMatchObject({
      kind: 'kek',
      tenantId: null,
      fromVersion: 1,
      toVersion: 2,
      state: 'done',
      total: 2,
      done: 2,
    });
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([1, 2]);
    for (const row of await tenantKeyRows(t().app.db)) expect(row.kek_version).toBe(2);
    const status = await roster(['keys', 'status']);
    const state = JSON.parse(status.stdout);
    expect(state.currentKekVersion).toBe(2);
    expect(
      state.kekVersions.map((v: { version: number; retiredAt: string | null }) => [
        v.version,
        v.retiredAt !== null,
      ]),
    ).toEqual([
      [1, true],
      [2, false],
    ]);
    // The running server reads on (its provider finds version 2 in the file).
    t().app.services.keys.clear({ now: true });
    for (const tn of tenants) await expectReadBack(tn.api, tn.users, 'server after roster keys rotate');
  });

  it("roster keys rotate --tenant rewrites that tenant's users under a new version and retires the old one", async () => {
    const tn = tenants[0] as Tenant;
    const r = await roster(['keys', 'rotate', '--tenant', tn.tenantId]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rewriting users: 100% \(3\/3\)/);
    const job = JSON.parse(r.stdout);
    expect(job).toMatchObject({
      kind: 'tenant',
      tenantId: tn.tenantId,
      fromVersion: 1,
      toVersion: 2,
      state: 'done',
      done: 3,
    });
    expect([...(await userKeyVersions(t().app.db, tn.tenantId)).values()]).toEqual([2, 2, 2]);
    const rows = await tenantKeyRows(t().app.db, tn.tenantId);
    expect(
      rows.map((x) => [x.version, x.kek_version, x.retired_at !== null, x.wrapped_key.length > 0]),
    ).toEqual([
      [1, 2, true, false],
      [2, 2, false, true],
    ]);
    t().app.services.keys.clear({ now: true });
    for (const x of tenants) await expectReadBack(x.api, x.users, 'server after roster keys rotate --tenant');
    for (const u of tn.users) await expectFound(tn.api, u, 'server after roster keys rotate --tenant');
    expect(await auditEntries(t().admin, 'keys.tenant_key_rotated', tn.tenantId)).toHaveLength(1);
  });

  it('roster keys destroy removes a retired version and refuses the current one (exit 1, keys.version_in_use)', async () => {
    const destroyed = await roster(['keys', 'destroy', '--kek-version', '1']);
    expect(destroyed.code, destroyed.stderr).toBe(0);
    expect(JSON.parse(destroyed.stdout)).toEqual({ destroyed: 1 });
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([2]);
    const refused = await roster(['keys', 'destroy', '--kek-version', '2']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('keys.version_in_use');
    expect(refused.stdout).toBe('');
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([2]);
    const usage = await roster(['keys', 'destroy']);
    expect(usage.code).toBe(2);
    expect(await auditEntries(t().admin, 'keys.kek_destroyed')).toEqual([
      expect.objectContaining({ target: { type: 'kek', id: '1' } }),
    ]);
    // A node started now, with only version 2 in the file, reads everyone.
    const fresh = await anotherNode(t());
    try {
      for (const tn of tenants)
        await expectReadBack(fresh.client(tn.token), tn.users, 'fresh node after destroy');
    } finally {
      await fresh.close();
    }
  });

  it('no output of roster keys holds key material or personal data', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(12);
    const pii = tenants.flatMap((tn) => tn.users.flatMap((u) => piiOf(u.person)));
    for (const o of outputs) {
      material.expectAbsent(o.text, o.what);
      const lower = o.text.toLowerCase();
      for (const p of pii) expect(lower.includes(p.toLowerCase()), `${o.what} holds ${p}`).toBe(false);
    }
  });
});

describeEachStore('a running server while roster keys rotate runs elsewhere', (kind) => {
  const t = useTestApp(kind);
  beforeAll(assertBuilt);
  afterAll(killAllRoster);

  it('new tenant keys made by the running server are wrapped under the new KEK version', async () => {
    // The server has used its provider (tenant created, key wrapped) before the rotation.
    await t().newTenant();
    const env = {
      ROSTER_DATABASE_URL: t().store.url,
      ROSTER_KEY_FILE: keyFilePath(t()),
      ROSTER_LOG_LEVEL: 'silent',
    };
    const r = await runRoster(['keys', 'rotate'], { env, cwd: t().store.dir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'done', toVersion: 2 });
    // Version 1 is retired; the server must not wrap anything new under it. (Nothing here asks the server
    // for GET /api/v1/keys first: that re-reads the key file and would hide a stale current version.)
    const after = await t().newTenant();
    expect((await tenantKeyRows(t().app.db, after.tenantId)).map((x) => x.kek_version)).toEqual([2]);
    const state = must(await t().admin.get('/api/v1/keys'), 200, 'keys');
    expect(state.body.currentKekVersion).toBe(2);
    expect(state.body.kekVersions.find((v: { version: number }) => v.version === 1)?.tenantKeys).toBe(0);
  });
});

describeEachStore('a running server after roster keys rotate and destroy elsewhere', (kind) => {
  const t = useTestApp(kind);
  beforeAll(assertBuilt);
  afterAll(killAllRoster);

  it('a tenant the running server creates after KEK 1 was destroyed is readable by a fresh node', async () => {
    await t().newTenant();
    const env = {
      ROSTER_DATABASE_URL: t().store.url,
      ROSTER_KEY_FILE: keyFilePath(t()),
      ROSTER_LOG_LEVEL: 'silent',
    };
    const rotated = await runRoster(['keys', 'rotate'], { env, cwd: t().store.dir, timeoutMs: 60_000 });
    expect(rotated.code, rotated.stderr).toBe(0);
    const destroyed = await runRoster(['keys', 'destroy', '--kek-version', '1'], { env, cwd: t().store.dir });
    expect(destroyed.code, destroyed.stderr).toBe(0);
    expect(readKeyFile(keyFilePath(t())).map((k) => k.version)).toEqual([2]);
    // The server, started before all this, onboards a new tenant and a user.
    const tn = await tenantWithUsers(t(), 'late', 2);
    const fresh = await anotherNode(t());
    try {
      await expectReadBack(fresh.client(tn.token), tn.users, 'a fresh node reading what the server wrote');
    } finally {
      await fresh.close();
    }
  });
});
