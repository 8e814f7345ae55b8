/**
 * Roster on an HSM: the whole application with ROSTER_KEY_PROVIDER=pkcs11 against a real (SoftHSM 2) token,
 * on SQLite and PostgreSQL. The KEK is generated in the token on first start; a KEK rotation runs while
 * 1,000 onboardings do; the old KEK version is then removed from the token and everyone still reads; an HSM
 * outage answers 503 crypto.unavailable and writes nothing, and the running app recovers by itself; the CLI
 * (`roster keys ...` and `roster serve`, as processes) works against the token; a wrong PIN stops the start
 * without showing it; tenants whose keys are cached keep working through an outage.
 *
 * PKCS#11 state is per process and the provider shares it per module path, so the blocks below never hold
 * two tokens at once: each has its own SoftHSM token (started in a beforeAll registered before the app's,
 * removed after the app is closed) and they run one after the other. Within a block the tests build on
 * each other, in order.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyJob } from '../../../src/crypto/rotation.js';
import { buildApp } from '../../../src/main.js';
import { loadConfig } from '../../../src/platform/config.js';
import type { Db } from '../../../src/platform/db/index.js';
import { RosterError } from '../../../src/platform/errors.js';
import { createLogger } from '../../../src/platform/logging.js';
import { ADMIN_TOKEN, type Answer, type Client, clientFor, useTestApp } from '../../support/app.js';
import {
  allText,
  findSoftHsmModule,
  GUARDED_KEK,
  type SoftHsm,
  startSoftHsm,
} from '../../support/softhsm.js';
import { createTestStore, describeEachStore } from '../../support/stores.js';
import {
  assertBuilt,
  freePort,
  type HttpAnswer,
  killAllRoster,
  logLines,
  newTenant as newTenantOver,
  type RunResult,
  request,
  runRoster,
  startServer,
} from '../cli/process.js';
import {
  auditEntries,
  createUsers,
  expectProblem,
  expectReadBack,
  must,
  pool,
  tenantKeyRows,
  type Written,
} from './rotation-fixtures.js';

/** The SoftHSM module ('' when missing: then startSoftHsm fails the block, under CI and elsewhere). */
const MODULE = findSoftHsmModule() ?? '';

/** nonce (12) | wrapped 32-byte key | GCM tag (16). */
const WRAPPED_BYTES = 12 + 32 + 16;

const ONBOARDINGS = 1000;
const IN_FLIGHT = 100;
const EXTRA_TENANTS = 30;

function pkcs11Env(label: string, pin: string): Record<string, string> {
  return {
    ROSTER_KEY_PROVIDER: 'pkcs11',
    ROSTER_PKCS11_MODULE: MODULE,
    ROSTER_PKCS11_TOKEN_LABEL: label,
    ROSTER_PKCS11_PIN: pin,
  };
}

/** Another app in this process on `store`'s database and key file, with `env` over the quiet defaults. */
function buildNode(store: { url: string; dir: string }, env: Record<string, string>) {
  return buildApp(
    loadConfig({
      ROSTER_DATABASE_URL: store.url,
      ROSTER_KEY_FILE: join(store.dir, 'roster.key'),
      ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
      ROSTER_LOG_LEVEL: 'silent',
      ROSTER_AUDIT_INTEGRATOR: 'off',
      ...env,
    }),
    { logger: createLogger('silent') },
  );
}

interface HsmBlock {
  readonly label: string;
  readonly pin: string;
  /** ROSTER_* settings naming this token (with the PIN itself). */
  readonly env: Record<string, string>;
  hsm(): SoftHsm;
}

/**
 * A SoftHSM token of one describe block. Call it before `useTestApp`: its beforeAll then runs first (the
 * app opens the token), and its afterAll last (after the app closed its provider and the module).
 */
function useSoftHsm(name: string): HsmBlock {
  const label = `roster-${name}-${randomBytes(3).toString('hex')}`;
  const pin = `hsm-pin-${randomBytes(6).toString('hex')}`;
  let hsm: SoftHsm | undefined;
  beforeAll(async () => {
    hsm = await startSoftHsm({ label, pin });
  });
  afterAll(async () => {
    await hsm?.cleanup();
  });
  return {
    label,
    pin,
    env: pkcs11Env(label, pin),
    hsm() {
      if (!hsm) throw new Error('SoftHSM not started');
      return hsm;
    },
  };
}

async function count(db: Db, table: string, tenantId?: string): Promise<number> {
  const where = tenantId === undefined ? sql`` : sql` where tenant_id = ${tenantId}`;
  const r = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}${where}`.execute(
    db.kysely,
  );
  return Number(r.rows[0]?.n ?? 0);
}

/** What a failed write must leave untouched. */
async function footprint(db: Db) {
  const used = await sql<{ n: number | string | null }>`select sum(used) as n from pools`.execute(db.kysely);
  return {
    tenants: await count(db, 'tenants'),
    tenant_keys: await count(db, 'tenant_keys'),
    users: await count(db, 'users'),
    user_emails: await count(db, 'user_emails'),
    audit_entries: await count(db, 'audit_entries'),
    assignments: await count(db, 'assignments'),
    idempotency_keys: await count(db, 'idempotency_keys'),
    seatsUsed: Number(used.rows[0]?.n ?? 0),
  };
}

/** Keys of a GET /api/v1/keys answer: exactly these, so no key material can hide in another field. */
function expectKeyStateShape(body: Record<string, unknown>): void {
  expect(Object.keys(body).sort()).toEqual([
    'currentKekVersion',
    'jobs',
    'kekVersions',
    'provider',
    'tenantKeys',
  ]);
  for (const v of body.kekVersions as Record<string, unknown>[]) {
    expect(Object.keys(v).sort()).toEqual([
      'createdAt',
      'heldByProvider',
      'retiredAt',
      'tenantKeys',
      'version',
    ]);
  }
  expect(Object.keys(body.tenantKeys as object).sort()).toEqual([
    'liveVersions',
    'retiredVersions',
    'tenants',
  ]);
  for (const j of body.jobs as Record<string, unknown>[]) {
    expect(Object.keys(j).sort()).toEqual(
      [
        'createdAt',
        'done',
        'finishedAt',
        'fromVersion',
        'heartbeatAt',
        'id',
        'kind',
        'state',
        'tenantId',
        'toVersion',
        'total',
      ].sort(),
    );
  }
}

/** A 5xx problem+json that tells nothing of the HSM's configuration or the code. */
function expectOpaqueUnavailable(res: Answer, block: HsmBlock): void {
  expectProblem(res, 503, 'crypto.unavailable');
  expect(
    Object.keys(res.body).every((k) => ['type', 'title', 'status', 'code', 'requestId'].includes(k)),
  ).toBe(true);
  const hsm = block.hsm();
  for (const secret of [block.pin, MODULE, 'libsofthsm2', hsm.dir, hsm.conf, 'CKR_', 'stack']) {
    expect(res.raw.includes(secret), `the 503 answer shows ${secret}`).toBe(false);
  }
  expect(res.raw).not.toMatch(/\n\s+at /);
}

const LOCATIONS = [
  { site: 'ber', country: 'DE' },
  { site: 'muc', country: 'DE' },
  { site: 'par', country: 'FR' },
] as const;

/** An onboarding body with PII unique to `i`. */
function joiner(i: number, tag: string) {
  const n = String(i).padStart(4, '0');
  return {
    user: {
      userName: `Hsmjoiner.${tag}${n}.Ottoline`,
      name: {
        givenName: `Ottoline${tag}${n}`,
        familyName: `Brackwater-${tag}${n}`,
        formatted: `Ottoline ${tag}${n} Brackwater`,
      },
      emails: [
        { value: `ottoline.${tag}${n}@hsm-storm.example`, type: 'work', primary: true },
        { value: `o.${tag}${n}.home@hsm-home.example`, type: 'home' },
      ],
      location: LOCATIONS[i % LOCATIONS.length],
    },
    products: ['HSM-SUITE', 'HSM-VAULT'],
  };
}

type Joiner = ReturnType<typeof joiner>;

interface Onboarded {
  readonly body: Joiner;
  readonly key: string;
  readonly res: Answer;
  readonly startedAt: number;
  readonly endedAt: number;
}

interface Tenant {
  readonly tenantId: string;
  readonly token: string;
  readonly api: Client;
  users: Written[];
}

// ---------------------------------------------------------------------------------------------------------
// 6 (in process): a wrong PIN at start

describe('HSM: a wrong PIN at start (in process)', () => {
  const block = useSoftHsm('pin');

  it('buildApp fails with crypto.unavailable naming the PIN refusal, never the PIN, and makes no KEK', async () => {
    const store = createTestStore('sqlite');
    const wrongPin = `wrong-pin-${randomBytes(5).toString('hex')}`;
    try {
      const config = loadConfig({
        ROSTER_DATABASE_URL: store.url,
        ROSTER_KEY_FILE: join(store.dir, 'roster.key'),
        ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
        ROSTER_LOG_LEVEL: 'silent',
        ...pkcs11Env(block.label, wrongPin),
      });
      let err: unknown;
      try {
        const app = await buildApp(config, { logger: createLogger('silent') });
        await app.close();
      } catch (e) {
        err = e;
      }
      expect(err, 'buildApp started with a wrong PIN').toBeInstanceOf(RosterError);
      const e = err as RosterError;
      expect(e.code).toBe('crypto.unavailable');
      expect(e.status).toBe(503);
      expect(e.detail).toMatch(/refused the PIN/);
      expect(e.detail).toMatch(/CKR_PIN_INCORRECT/);
      expect(allText(e)).not.toContain(wrongPin);
      expect(allText(e)).not.toContain(block.pin);
      // Nothing was made: no KEK in the token, no local key file instead.
      expect(await block.hsm().kekLabels()).toEqual([]);
      expect(existsSync(join(store.dir, 'roster.key'))).toBe(false);
    } finally {
      await store.drop();
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// 1-4: Roster on the HSM, both stores

describeEachStore('Roster on an HSM', (kind) => {
  const block = useSoftHsm(kind === 'sqlite' ? 'sqlite' : 'pg');
  // Tenant keys expire from the cache after 200 ms: requests unwrap through the HSM again and again.
  const t = useTestApp(kind, block.env, { keyCache: { ttlMs: 200 } });
  const hsm = () => block.hsm();

  let main: Tenant;
  const others: Tenant[] = [];
  const pools: Record<string, { id: string; product: string; capacity: number }> = {};
  const onboarded: Onboarded[] = [];

  const db = () => t().app.db;

  /** Reads every onboarded user and compares it with what was sent and with the creation answer. */
  async function expectOnboardedReadBack(what: string): Promise<void> {
    const reads = await pool(
      50,
      onboarded.map((o) => () => main.api.get(`/api/v1/users/${o.res.body.user.id}`)),
    );
    const wrong: string[] = [];
    reads.forEach((r, i) => {
      const o = onboarded[i] as Onboarded;
      const sent = o.body.user;
      if (
        r.status !== 200 ||
        r.body.userName !== sent.userName ||
        JSON.stringify(r.body.name) !== JSON.stringify(sent.name) ||
        JSON.stringify(r.body.emails) !== JSON.stringify(sent.emails) ||
        JSON.stringify(r.body) !== JSON.stringify(o.res.body.user)
      ) {
        wrong.push(`${o.key}: ${r.status} ${r.raw.slice(0, 300)}`);
      }
    });
    expect(wrong, `${what}: users that do not read back as sent`).toEqual([]);
    expect(reads).toHaveLength(ONBOARDINGS);
  }

  it('first start: roster-kek-1 is generated inside the token (sensitive, never extractable); no key file', async () => {
    expect(await hsm().kekLabels()).toEqual(['roster-kek-1']);
    const kek = await hsm().inspectKek(1);
    expect(kek).toMatchObject(GUARDED_KEK);
    expect(kek.valueRead).toBe('CKR_ATTRIBUTE_SENSITIVE');
    expect(t().app.services.keys.providerName).toBe('pkcs11');
    expect(existsSync(join(t().store.dir, 'roster.key'))).toBe(false);
  });

  it('users created through the API read back exactly; tenant keys name KEK 1 and hold 60 wrapped bytes', async () => {
    const tn = await t().newTenant('hsm-main');
    main = { ...tn, users: await createUsers(tn.api, 'hsmA', 6) };
    for (const u of main.users) {
      const r = must(await main.api.get(`/api/v1/users/${u.id}`), 200, 'read');
      expect(r.body).toEqual(u.body);
    }
    // Again with every cached key gone: the tenant key is unwrapped in the token.
    t().app.services.keys.clear({ now: true });
    await expectReadBack(main.api, main.users, 'after the cache was dropped');

    const rows = await tenantKeyRows(db());
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ tenant_id: main.tenantId, version: 1, kek_version: 1, retired_at: null });
    expect(rows[0]?.wrapped_key.length).toBe(WRAPPED_BYTES);

    const state = must(await t().admin.get('/api/v1/keys'), 200, 'GET /api/v1/keys');
    expectKeyStateShape(state.body);
    expect(state.body).toMatchObject({
      provider: 'pkcs11',
      currentKekVersion: 1,
      tenantKeys: { tenants: 1, liveVersions: 1, retiredVersions: 0 },
      jobs: [],
    });
    expect(state.body.kekVersions).toEqual([
      expect.objectContaining({ version: 1, retiredAt: null, heldByProvider: true, tenantKeys: 1 }),
    ]);
    const tenantState = must(
      await t().admin.get(`/api/v1/tenants/${main.tenantId}/keys`),
      200,
      'tenant keys',
    );
    expect(tenantState.body.versions).toEqual([
      { version: 1, kekVersion: 1, createdAt: expect.any(String), retiredAt: null },
    ]);
    // Neither answer carries the wrapped key in any encoding.
    const wrapped = rows[0]?.wrapped_key as Buffer;
    for (const raw of [state.raw, tenantState.raw]) {
      for (const form of [
        wrapped.toString('base64'),
        wrapped.toString('base64url'),
        wrapped.toString('hex'),
      ]) {
        expect(raw.includes(form.slice(0, 24))).toBe(false);
      }
    }
    // kek_versions holds versions and dates only: no column for key material.
    const kekRows = await sql<Record<string, unknown>>`select * from kek_versions`.execute(db().kysely);
    for (const r of kekRows.rows) {
      expect(Object.keys(r).sort()).toEqual(['created_at', 'provider', 'retired_at', 'version']);
      expect(r.provider).toBe('pkcs11');
    }
  });

  it('rotates the KEK while 1,000 onboardings run: every onboarding 201, every tenant key under KEK 2, KEK 1 retired', {
    timeout: 180_000,
  }, async () => {
    // Products and pools of the main tenant: location-scoped and open pools, fewer seats than joiners.
    must(await main.api.post('/api/v1/products', { sku: 'HSM-SUITE', name: 'HSM Suite' }), 201, 'product');
    must(await main.api.post('/api/v1/products', { sku: 'HSM-VAULT', name: 'HSM Vault' }), 201, 'product');
    const poolSpecs = [
      { product: 'HSM-SUITE', name: 'suite-ber', capacity: 250, location: { site: 'ber', country: 'DE' } },
      { product: 'HSM-SUITE', name: 'suite-de', capacity: 200, location: { country: 'DE' } },
      { product: 'HSM-SUITE', name: 'suite-any', capacity: 150 },
      { product: 'HSM-VAULT', name: 'vault-any', capacity: 2 * ONBOARDINGS },
    ];
    for (const spec of poolSpecs) {
      const p = must(await main.api.post('/api/v1/pools', spec), 201, `pool ${spec.name}`);
      pools[spec.name] = { id: p.body.id, product: spec.product, capacity: spec.capacity };
    }
    // More tenants, each with users: the KEK job has several tenant keys to rewrap.
    for (let i = 0; i < EXTRA_TENANTS; i++) {
      const tn = await t().newTenant(`hsm-other-${i}`);
      others.push({ ...tn, users: await createUsers(tn.api, `hsmT${i}x`, 2) });
    }
    const liveBefore = (await tenantKeyRows(db())).filter((r) => r.retired_at === null);
    expect(liveBefore).toHaveLength(1 + EXTRA_TENANTS);
    expect(liveBefore.every((r) => r.kek_version === 1)).toBe(true);

    let completed = 0;
    let rotation: Promise<{ res: Answer; at: number }> | undefined;
    const tasks = Array.from({ length: ONBOARDINGS }, (_, i) => async (): Promise<Onboarded> => {
      const body = joiner(i, 'S');
      const key = `storm-${i}`;
      const startedAt = Date.now();
      const res = await main.api.post('/api/v1/onboardings', body, { 'idempotency-key': key });
      const endedAt = Date.now();
      completed += 1;
      // In the middle of the storm, with ~100 onboardings in flight: rotate the KEK.
      if (completed === Math.floor(ONBOARDINGS * 0.3)) {
        rotation = t()
          .admin.post('/api/v1/keys/rotate')
          .then((r) => ({ res: r, at: Date.now() }));
      }
      return { body, key, res, startedAt, endedAt };
    });
    const stormStart = Date.now();
    onboarded.push(...(await pool(IN_FLIGHT, tasks)));
    const stormEnd = Date.now();
    expect(rotation, 'the rotation was not started').toBeDefined();
    const rotated = await (rotation as Promise<{ res: Answer; at: number }>);

    const failed = onboarded.filter((o) => o.res.status !== 201);
    expect(
      failed.map((o) => `${o.key}: ${o.res.status} ${o.res.raw.slice(0, 200)}`),
      'onboardings that did not answer 201',
    ).toEqual([]);

    expect(rotated.res.status, rotated.res.raw).toBe(202);
    const job = rotated.res.body as KeyJob;
    expect(rotated.res.headers.location).toBe(`/api/v1/keys/jobs/${job.id}`);
    expect(job).toMatchObject({ kind: 'kek', tenantId: null, fromVersion: 1, toVersion: 2 });

    await t().app.services.rotation.settle();
    const finished = must(await t().admin.get(`/api/v1/keys/jobs/${job.id}`), 200, 'job');
    expect(finished.body).toMatchObject({
      id: job.id,
      kind: 'kek',
      state: 'done',
      total: 1 + EXTRA_TENANTS,
      done: 1 + EXTRA_TENANTS,
    });
    // The job ran while onboardings were in flight (not before or after the storm).
    const jobFrom = Date.parse(finished.body.createdAt);
    const jobTo = Date.parse(finished.body.finishedAt);
    const overlapping = onboarded.filter((o) => o.startedAt <= jobTo && o.endedAt >= jobFrom).length;
    expect(overlapping, `job ${jobFrom}-${jobTo}, storm ${stormStart}-${stormEnd}`).toBeGreaterThan(0);
    expect(onboarded.filter((o) => o.endedAt > rotated.at).length).toBeGreaterThan(0);

    // In the token: version 2 next to version 1, generated there like it.
    expect(await hsm().kekLabels()).toEqual(['roster-kek-1', 'roster-kek-2']);
    expect(await hsm().inspectKek(2)).toMatchObject({
      count: 1,
      sensitive: true,
      extractable: false,
      neverExtractable: true,
      local: true,
      valueRead: 'CKR_ATTRIBUTE_SENSITIVE',
    });
    // In the store: every tenant key under KEK 2, still 60 bytes, none retired.
    const rows = await tenantKeyRows(db());
    expect(rows).toHaveLength(1 + EXTRA_TENANTS);
    for (const r of rows) {
      expect(r.kek_version, `${r.tenant_id}/${r.version}`).toBe(2);
      expect(r.retired_at).toBeNull();
      expect(r.wrapped_key.length).toBe(WRAPPED_BYTES);
    }
    for (const before of liveBefore) {
      const after = rows.find((r) => r.tenant_id === before.tenant_id && r.version === before.version);
      expect(after?.wrapped_key.equals(before.wrapped_key), 'a tenant key was not rewrapped').toBe(false);
    }

    const state = must(await t().admin.get('/api/v1/keys'), 200, 'GET /api/v1/keys');
    expectKeyStateShape(state.body);
    expect(state.body.provider).toBe('pkcs11');
    expect(state.body.currentKekVersion).toBe(2);
    expect(state.body.kekVersions).toEqual([
      expect.objectContaining({
        version: 1,
        retiredAt: expect.any(String),
        heldByProvider: true,
        tenantKeys: 0,
      }),
      expect.objectContaining({
        version: 2,
        retiredAt: null,
        heldByProvider: true,
        tenantKeys: 1 + EXTRA_TENANTS,
      }),
    ]);
    expect(state.body.jobs).toEqual([expect.objectContaining({ id: job.id, state: 'done' })]);
    expect(await auditEntries(t().admin, 'keys.kek_created')).toHaveLength(1);
    expect(await auditEntries(t().admin, 'keys.kek_rewrapped')).toHaveLength(1);
    expect(await auditEntries(t().admin, 'keys.kek_retired')).toEqual([
      expect.objectContaining({ target: { type: 'kek', id: '1' } }),
    ]);

    // Every joiner reads back exactly as sent, and exactly as first answered.
    expect(await count(db(), 'users', main.tenantId)).toBe(ONBOARDINGS + main.users.length);
    expect(await count(db(), 'idempotency_keys', main.tenantId)).toBe(ONBOARDINGS);
    await expectOnboardedReadBack('after the rotation');
    await expectReadBack(main.api, main.users, 'after the rotation');

    // Seats: each pool's used count is its active assignments; every joiner has one place per product.
    for (const [name, p] of Object.entries(pools)) {
      const res = must(await main.api.get(`/api/v1/pools/${p.id}`), 200, `pool ${name}`);
      const active = await sql<{ n: number | string }>`
          select count(*) as n from assignments where pool_id = ${p.id} and state = 'active'`.execute(
        db().kysely,
      );
      expect(res.body.used, `pool ${name}`).toBe(Number(active.rows[0]?.n));
      expect(res.body.used).toBeLessThanOrEqual(p.capacity);
    }
    const perProduct = await sql<{ sku: string; state: string; n: number | string }>`
        select p.sku as sku, a.state as state, count(*) as n from assignments a
        join products p on p.id = a.product_id where a.tenant_id = ${main.tenantId}
        group by p.sku, a.state order by p.sku, a.state`.execute(db().kysely);
    const answered = new Map<string, number>();
    for (const o of onboarded) {
      for (const a of o.res.body.assignments as { product: string; state: string }[]) {
        answered.set(`${a.product}/${a.state}`, (answered.get(`${a.product}/${a.state}`) ?? 0) + 1);
      }
    }
    expect(Object.fromEntries(perProduct.rows.map((r) => [`${r.sku}/${r.state}`, Number(r.n)]))).toEqual({
      'HSM-SUITE/active': 600,
      'HSM-SUITE/waitlisted': ONBOARDINGS - 600,
      'HSM-VAULT/active': ONBOARDINGS,
    });
    expect(Object.fromEntries(answered)).toEqual({
      'HSM-SUITE/active': 600,
      'HSM-SUITE/waitlisted': ONBOARDINGS - 600,
      'HSM-VAULT/active': ONBOARDINGS,
    });
    const doubles = await sql<{ n: number | string }>`
        select count(*) as n from (select user_id, product_id from assignments where tenant_id = ${main.tenantId}
        group by user_id, product_id having count(*) > 1) d`.execute(db().kysely);
    expect(Number(doubles.rows[0]?.n)).toBe(0);
  });

  it('after KEK 1 is removed from the token and the key cache dropped, every user of every tenant reads; a new tenant wraps under KEK 2', {
    timeout: 120_000,
  }, async () => {
    await hsm().removeKekVersion(1);
    expect(await hsm().kekLabels()).toEqual(['roster-kek-2']);
    t().app.services.keys.clear({ now: true });

    await expectOnboardedReadBack('after KEK 1 was removed');
    await expectReadBack(main.api, main.users, 'after KEK 1 was removed');
    for (const tn of others)
      await expectReadBack(tn.api, tn.users, `tenant ${tn.tenantId} after KEK 1 was removed`);
    // Lookups by blind index too.
    const sample = onboarded[ONBOARDINGS - 1] as Onboarded;
    const found = must(
      await main.api.get(
        `/api/v1/users?email=${encodeURIComponent(sample.body.user.emails[0]?.value ?? '')}`,
      ),
      200,
      'lookup',
    );
    expect(found.body.items.map((u: { id: string }) => u.id)).toEqual([sample.res.body.user.id]);

    const state = must(await t().admin.get('/api/v1/keys'), 200, 'GET /api/v1/keys');
    expect(state.body.currentKekVersion).toBe(2);
    expect(state.body.kekVersions).toEqual([
      expect.objectContaining({ version: 1, heldByProvider: false, tenantKeys: 0 }),
      expect.objectContaining({ version: 2, heldByProvider: true, tenantKeys: 1 + EXTRA_TENANTS }),
    ]);

    const fresh = await t().newTenant('hsm-after-removal');
    const rows = await tenantKeyRows(db(), fresh.tenantId);
    expect(rows.map((r) => [r.version, r.kek_version, r.wrapped_key.length])).toEqual([
      [1, 2, WRAPPED_BYTES],
    ]);
    const users = await createUsers(fresh.api, 'hsmN', 3);
    t().app.services.keys.clear({ now: true });
    await expectReadBack(fresh.api, users, 'new tenant after KEK 1 was removed');
    others.push({ ...fresh, users });

    // A node started now (its provider lists only version 2) reads every tenant as well.
    const node = await buildNode(t().store, {
      ROSTER_RATE_LIMIT_TENANT: '0',
      ROSTER_RATE_LIMIT_GLOBAL: '0',
      ...block.env,
    });
    try {
      for (const tn of [main, ...others]) {
        await expectReadBack(clientFor(node, tn.token), tn.users, `fresh node, tenant ${tn.tenantId}`);
      }
    } finally {
      await node.close();
    }
    // The app still works after the other node closed its provider (the login is shared in the process).
    t().app.services.keys.clear({ now: true });
    await expectReadBack(main.api, main.users, 'after the fresh node closed');
  });

  it('an HSM outage: writes answer 503 crypto.unavailable and change nothing, /readyz still answers; after it the same app serves again', {
    timeout: 60_000,
  }, async () => {
    const usedOf = async () =>
      Promise.all(
        Object.values(pools).map(
          async (p) => must(await main.api.get(`/api/v1/pools/${p.id}`), 200, 'pool').body.used,
        ),
      );
    const someUser = main.users[0] as Written;
    const newUser = {
      userName: 'Outage.Probe.Wilhelmina',
      emails: [{ value: 'wilhelmina@hsm-outage.example' }],
    };
    const late = joiner(9999, 'OUT');
    const lateKey = 'outage-onboarding-1';
    const tenantName = 'hsm-made-during-outage';

    const before = await footprint(db());
    const usedBefore = await usedOf();
    must(await main.api.get(`/api/v1/users/${someUser.id}`), 200, 'read before the outage');

    await hsm().makeUnavailable();
    try {
      // Past the cache TTL: every tenant key must be unwrapped in the (absent) token again.
      await new Promise((r) => setTimeout(r, 400));

      const tenant = await t().admin.post('/api/v1/tenants', { name: tenantName });
      expectOpaqueUnavailable(tenant, block);
      const user = await main.api.post('/api/v1/users', newUser);
      expectOpaqueUnavailable(user, block);
      const onboarding = await main.api.post('/api/v1/onboardings', late, { 'idempotency-key': lateKey });
      expectOpaqueUnavailable(onboarding, block);
      // Reads fail as plainly, never with a wrong answer.
      expectOpaqueUnavailable(await main.api.get(`/api/v1/users/${someUser.id}`), block);
      const rotate = await t().admin.post('/api/v1/keys/rotate');
      expectOpaqueUnavailable(rotate, block);

      // The store is fine, so the node stays ready (an HSM outage is not a reason to restart it).
      const ready = await t().client(undefined).get('/readyz');
      expect(ready.status, ready.raw).toBe(200);
      expect(ready.body).toEqual({ status: 'ready' });

      // Nothing was written: no tenant, key, user, e-mail, audit entry, seat or stored answer.
      expect(await footprint(db())).toEqual(before);
      expect(await usedOf()).toEqual(usedBefore);
      const named = await sql<{
        n: number | string;
      }>`select count(*) as n from tenants where name = ${tenantName}`.execute(db().kysely);
      expect(Number(named.rows[0]?.n)).toBe(0);
      expect(await count(db(), 'key_jobs')).toBe(1);
    } finally {
      await hsm().makeAvailable();
    }

    // The same app, not restarted: the provider reconnects by itself.
    const tenant = await t().admin.post('/api/v1/tenants', { name: tenantName });
    expect(tenant.status, tenant.raw).toBe(201);
    expect(
      (await tenantKeyRows(db(), tenant.body.id)).map((r) => [r.kek_version, r.wrapped_key.length]),
    ).toEqual([[2, WRAPPED_BYTES]]);
    const user = await main.api.post('/api/v1/users', newUser);
    expect(user.status, user.raw).toBe(201);
    expect(must(await main.api.get(`/api/v1/users/${user.body.id}`), 200, 'read').body).toEqual(user.body);

    const first = await main.api.post('/api/v1/onboardings', late, { 'idempotency-key': lateKey });
    expect(first.status, first.raw).toBe(201);
    expect(first.headers['idempotency-replayed']).toBeUndefined();
    const replay = await main.api.post('/api/v1/onboardings', late, { 'idempotency-key': lateKey });
    expect(replay.status, replay.raw).toBe(201);
    expect(replay.headers['idempotency-replayed']).toBe('true');
    expect(replay.raw).toBe(first.raw);
    const byName = must(
      await main.api.get(`/api/v1/users?userName=${encodeURIComponent(late.user.userName)}`),
      200,
      'lookup',
    );
    expect(byName.body.items.map((u: { id: string }) => u.id)).toEqual([first.body.user.id]);
    const read = must(await main.api.get(`/api/v1/users/${first.body.user.id}`), 200, 'read');
    expect(read.body).toEqual(first.body.user);
    expect(read.body.emails).toEqual(late.user.emails);

    const after = await footprint(db());
    expect(after.tenants).toBe(before.tenants + 1);
    expect(after.tenant_keys).toBe(before.tenant_keys + 1);
    // One user from POST /users, one from the onboarding (made exactly once).
    expect(after.users).toBe(before.users + 2);
    expect(after.assignments).toBe(before.assignments + 2);
    expect(after.idempotency_keys).toBe(before.idempotency_keys + 1);
    const usedAfter = await usedOf();
    // The joiner's seats: HSM-VAULT has room, HSM-SUITE is full (a waitlist place).
    expect(
      first.body.assignments.map((a: { product: string; state: string }) => `${a.product}/${a.state}`).sort(),
    ).toEqual(['HSM-SUITE/waitlisted', 'HSM-VAULT/active']);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(usedAfter)).toBe(sum(usedBefore) + 1);
    expect(after.seatsUsed).toBe(before.seatsUsed + 1);
    // The rotation refused during the outage left no version behind; one now makes version 3 and finishes.
    expect(await hsm().kekLabels()).toEqual(['roster-kek-2']);
    const rotated = await t().admin.post('/api/v1/keys/rotate');
    expect(rotated.status, rotated.raw).toBe(202);
    expect(rotated.body).toMatchObject({ fromVersion: 2, toVersion: 3 });
    await t().app.services.rotation.settle();
    expect(must(await t().admin.get(`/api/v1/keys/jobs/${rotated.body.id}`), 200, 'job').body).toMatchObject({
      state: 'done',
      total: after.tenant_keys,
      done: after.tenant_keys,
    });
    expect(await hsm().kekLabels()).toEqual(['roster-kek-2', 'roster-kek-3']);
    expect((await tenantKeyRows(db())).every((r) => r.kek_version === 3)).toBe(true);
    // Everyone still reads.
    t().app.services.keys.clear({ now: true });
    await expectReadBack(main.api, main.users, 'after the outage');
    for (const tn of others) await expectReadBack(tn.api, tn.users, 'after the outage');
    await expectOnboardedReadBack('after the outage');
  });
});

// ---------------------------------------------------------------------------------------------------------
// 5, 6: the CLI (a process) against the HSM

describe('HSM: roster keys as a process (SQLite)', () => {
  const block = useSoftHsm('cli');
  const t = useTestApp('sqlite', block.env);
  const tenants: Tenant[] = [];
  const outputs: { what: string; text: string }[] = [];
  let pinDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    assertBuilt();
    pinDir = mkdtempSync(join(tmpdir(), 'roster-pin-'));
    writeFileSync(join(pinDir, 'pin'), `${block.pin}\n`, { mode: 0o600 });
    env = {
      ROSTER_DATABASE_URL: t().store.url,
      ROSTER_KEY_FILE: join(t().store.dir, 'roster.key'),
      ROSTER_LOG_LEVEL: 'silent',
      ROSTER_KEY_PROVIDER: 'pkcs11',
      ROSTER_PKCS11_MODULE: MODULE,
      ROSTER_PKCS11_TOKEN_LABEL: block.label,
      ROSTER_PKCS11_PIN_FILE: join(pinDir, 'pin'),
      ...block.hsm().env,
    };
    for (let i = 0; i < 3; i++) {
      const tn = await t().newTenant(`hsm-cli-${i}`);
      tenants.push({ ...tn, users: await createUsers(tn.api, `hsmC${i}x`, 3) });
    }
  });
  afterAll(async () => {
    await killAllRoster();
    if (pinDir) rmSync(pinDir, { recursive: true, force: true });
  });

  const roster = async (
    args: string[],
    extra: Record<string, string | undefined> = {},
  ): Promise<RunResult> => {
    const r = await runRoster(args, { env: { ...env, ...extra }, cwd: t().store.dir, timeoutMs: 60_000 });
    outputs.push({ what: `roster ${args.join(' ')} (stdout)`, text: r.stdout });
    outputs.push({ what: `roster ${args.join(' ')} (stderr)`, text: r.stderr });
    return r;
  };

  it('roster keys status shows the pkcs11 provider and KEK 1 wrapping every tenant key', async () => {
    const r = await roster(['keys', 'status']);
    expect(r.code, r.stderr).toBe(0);
    const state = JSON.parse(r.stdout);
    expectKeyStateShape(state);
    expect(state).toMatchObject({
      provider: 'pkcs11',
      currentKekVersion: 1,
      tenantKeys: { tenants: 3, liveVersions: 3, retiredVersions: 0 },
    });
    expect(state.kekVersions).toEqual([
      expect.objectContaining({ version: 1, heldByProvider: true, tenantKeys: 3, retiredAt: null }),
    ]);
  });

  it('roster keys rotate makes KEK 2 in the token, rewraps with progress on stderr and prints the done job', async () => {
    const r = await roster(['keys', 'rotate']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/rewrapping tenant keys: 100% \(3\/3\)/);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      kind: 'kek',
      tenantId: null,
      fromVersion: 1,
      toVersion: 2,
      state: 'done',
      total: 3,
      done: 3,
    });
    expect(await block.hsm().kekLabels()).toEqual(['roster-kek-1', 'roster-kek-2']);
    expect(await block.hsm().inspectKek(2)).toMatchObject({
      sensitive: true,
      extractable: false,
      local: true,
    });
    for (const row of await tenantKeyRows(t().app.db)) {
      expect(row.kek_version).toBe(2);
      expect(row.wrapped_key.length).toBe(WRAPPED_BYTES);
    }
    const status = await roster(['keys', 'status']);
    expect(status.code, status.stderr).toBe(0);
    const state = JSON.parse(status.stdout);
    expect(state.currentKekVersion).toBe(2);
    expect(
      state.kekVersions.map((v: { version: number; retiredAt: string | null; tenantKeys: number }) => [
        v.version,
        v.retiredAt !== null,
        v.tenantKeys,
      ]),
    ).toEqual([
      [1, true, 0],
      [2, false, 3],
    ]);
    // The running app (its provider opened before the rotation) reads on, and wraps new tenants under KEK 2.
    t().app.services.keys.clear({ now: true });
    for (const tn of tenants) await expectReadBack(tn.api, tn.users, 'app after roster keys rotate');
    const late = await t().newTenant('hsm-cli-late');
    expect((await tenantKeyRows(t().app.db, late.tenantId)).map((x) => x.kek_version)).toEqual([2]);
    tenants.push({ ...late, users: await createUsers(late.api, 'hsmCLx', 2) });
  });

  it('roster keys destroy removes retired KEK 1 from the token; everyone still reads', async () => {
    const r = await roster(['keys', 'destroy', '--kek-version', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ destroyed: 1 });
    expect(await block.hsm().kekLabels()).toEqual(['roster-kek-2']);
    const refused = await roster(['keys', 'destroy', '--kek-version', '2']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('keys.version_in_use');
    expect(await block.hsm().kekLabels()).toEqual(['roster-kek-2']);
    t().app.services.keys.clear({ now: true });
    for (const tn of tenants) await expectReadBack(tn.api, tn.users, 'app after roster keys destroy');
  });

  it('roster serve on the HSM (debug log): the log names the pkcs11 provider, the API works, the PIN never shows', async () => {
    const server = await startServer(['serve'], {
      env: {
        ...env,
        ROSTER_PORT: String(await freePort()),
        ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
        ROSTER_LOG_LEVEL: 'debug',
        ROSTER_AUDIT_INTEGRATOR: 'off',
      },
      cwd: t().store.dir,
      timeoutMs: 30_000,
    });
    try {
      const listening = logLines(server.proc.stdout).find((l) => l.msg === 'roster listening');
      expect(listening?.keyProvider).toBe('pkcs11');
      const state = await request(server.baseUrl, 'GET', '/api/v1/keys', { token: ADMIN_TOKEN });
      expect(state.status, state.raw).toBe(200);
      expect(state.body).toMatchObject({ provider: 'pkcs11', currentKekVersion: 2 });
      const made = await newTenantOver(server.baseUrl, ADMIN_TOKEN, 'hsm-cli-served');
      const user = await request(server.baseUrl, 'POST', '/api/v1/users', {
        token: made.token,
        body: { userName: 'Served.Hsm.Philippa', emails: [{ value: 'philippa@hsm-served.example' }] },
      });
      expect(user.status, user.raw).toBe(201);
      const read = await request(server.baseUrl, 'GET', `/api/v1/users/${user.body.id}`, {
        token: made.token,
      });
      expect(read.status, read.raw).toBe(200);
      expect(read.body).toEqual(user.body);
      expect((await tenantKeyRows(t().app.db, made.tenantId)).map((r) => r.kek_version)).toEqual([2]);
      // Everyone made by the in-process app reads through the served node too.
      for (const tn of tenants) {
        for (const u of tn.users) {
          const r = await request(server.baseUrl, 'GET', `/api/v1/users/${u.id}`, { token: tn.token });
          expect(r.status, r.raw).toBe(200);
          expect(r.body).toEqual(u.body);
        }
      }
      // An outage seen by the served node: 503 for a new tenant, logged without the PIN; then it recovers.
      await block.hsm().makeUnavailable();
      let during: HttpAnswer;
      try {
        during = await request(server.baseUrl, 'POST', '/api/v1/tenants', {
          token: ADMIN_TOKEN,
          body: { name: 'hsm-served-outage' },
        });
      } finally {
        await block.hsm().makeAvailable();
      }
      expect(during.status, during.raw).toBe(503);
      expect(during.body.code).toBe('crypto.unavailable');
      const again = await request(server.baseUrl, 'POST', '/api/v1/tenants', {
        token: ADMIN_TOKEN,
        body: { name: 'hsm-served-outage' },
      });
      expect(again.status, again.raw).toBe(201);
      server.proc.signal('SIGTERM');
      const exit = await server.proc.waitForExit(20_000);
      expect(exit.code, server.proc.describe()).toBe(0);
      // Operators see the outage in the log (the PIN check over every output is the last test).
      expect(
        logLines(server.proc.stdout).some(
          (l) => l.level >= 50 && typeof l.err?.message === 'string' && l.err.message.includes('PKCS#11'),
        ),
        'the outage was not logged',
      ).toBe(true);
    } finally {
      await server.proc.kill();
      outputs.push({ what: 'roster serve (stdout)', text: server.proc.stdout });
      outputs.push({ what: 'roster serve (stderr)', text: server.proc.stderr });
    }
  });

  it('a wrong PIN: roster keys status and roster serve exit 1 naming crypto.unavailable and the refusal, never a PIN', async () => {
    const wrongPin = `wrong-pin-${randomBytes(5).toString('hex')}`;
    writeFileSync(join(pinDir, 'wrong'), `${wrongPin}\n`, { mode: 0o600 });
    const status = await roster(['keys', 'status'], { ROSTER_PKCS11_PIN_FILE: join(pinDir, 'wrong') });
    expect(status.code, status.stderr).toBe(1);
    expect(status.stdout).toBe('');
    expect(status.stderr).toMatch(/crypto\.unavailable/);
    expect(status.stderr).toMatch(/refused the PIN/);
    expect(status.stderr).toMatch(/CKR_PIN_INCORRECT/);
    for (const text of [status.stdout, status.stderr]) expect(text).not.toContain(wrongPin);

    const serve = await roster(['serve'], {
      ROSTER_PKCS11_PIN_FILE: undefined,
      ROSTER_PKCS11_PIN: wrongPin,
      ROSTER_PORT: String(await freePort()),
      ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
      ROSTER_LOG_LEVEL: 'info',
    });
    expect(serve.code, `${serve.stdout}\n${serve.stderr}`).toBe(1);
    expect(serve.stdout).not.toContain('roster listening');
    expect(serve.stderr).toMatch(/crypto\.unavailable/);
    expect(serve.stderr).toMatch(/refused the PIN/);
    for (const text of [serve.stdout, serve.stderr]) expect(text).not.toContain(wrongPin);
    // Nothing changed in the token.
    expect(await block.hsm().kekLabels()).toEqual(['roster-kek-2']);
  });

  it('a second node in this process with a wrong PIN is refused; the running app is undisturbed', async () => {
    const wrongPin = `wrong-pin-${randomBytes(5).toString('hex')}`;
    let err: unknown;
    try {
      const node = await buildNode(t().store, pkcs11Env(block.label, wrongPin));
      await node.close();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RosterError);
    expect((err as RosterError).code).toBe('crypto.unavailable');
    expect((err as RosterError).detail).toMatch(/refused the PIN/);
    expect(allText(err)).not.toContain(wrongPin);
    expect(allText(err)).not.toContain(block.pin);
    t().app.services.keys.clear({ now: true });
    for (const tn of tenants) await expectReadBack(tn.api, tn.users, 'app after a refused second node');
  });

  it('no output of roster shows the PIN (nor the PIN file path)', () => {
    expect(outputs.length).toBeGreaterThanOrEqual(16);
    for (const o of outputs) {
      expect(o.text.includes(block.pin), `${o.what} shows the PIN`).toBe(false);
      expect(o.text.includes(join(pinDir, 'pin')), `${o.what} shows the PIN file`).toBe(false);
    }
  });
});

// ---------------------------------------------------------------------------------------------------------
// An outage with tenant keys cached (the default cache of 10 minutes)

describeEachStore('HSM: an outage while tenant keys are cached', (kind) => {
  const block = useSoftHsm(kind === 'sqlite' ? 'csq' : 'cpg');
  const t = useTestApp(kind, block.env);
  afterAll(killAllRoster);

  it('tenants whose keys are cached keep working; the others, new tenants and the CLI answer crypto.unavailable; then all recover', async () => {
    assertBuilt();
    const warm = await t().newTenant('hsm-warm');
    const cold = await t().newTenant('hsm-cold');
    const warmUsers = await createUsers(warm.api, 'hsmW', 3);
    const coldUsers = await createUsers(cold.api, 'hsmK', 3);
    // Only the warm tenant's key is in the cache when the HSM goes away.
    t().app.services.keys.clear({ now: true });
    await expectReadBack(warm.api, warmUsers, 'warm tenant before the outage');
    const coldUser = coldUsers[0] as Written;
    const outputs: string[] = [];
    const madeDuringOutage: Answer[] = [];

    await block.hsm().makeUnavailable();
    try {
      // The warm tenant needs no HSM: reads, writes and onboardings go on (docs/operations.md).
      await expectReadBack(warm.api, warmUsers, 'warm tenant during the outage');
      const made = await warm.api.post('/api/v1/users', { userName: 'Warm.Outage.Cornelius' });
      expect(made.status, made.raw).toBe(201);
      expect(must(await warm.api.get(`/api/v1/users/${made.body.id}`), 200, 'read').body).toEqual(made.body);
      const joined = await warm.api.post(
        '/api/v1/onboardings',
        { user: { userName: 'Warm.Onboarded.Cornelius' }, products: [] },
        { 'idempotency-key': 'warm-outage-1' },
      );
      expect(joined.status, joined.raw).toBe(201);
      madeDuringOutage.push(made, joined);

      // The cold tenant and a new tenant need the HSM: 503, nothing written.
      const before = await footprint(t().app.db);
      expectOpaqueUnavailable(await cold.api.get(`/api/v1/users/${coldUser.id}`), block);
      expectOpaqueUnavailable(
        await cold.api.post('/api/v1/users', { userName: 'Cold.Outage.Cornelius' }),
        block,
      );
      expectOpaqueUnavailable(await t().admin.post('/api/v1/tenants', { name: 'hsm-during-outage' }), block);
      expect(await footprint(t().app.db)).toEqual(before);

      // A CLI command opening the provider now fails the same way, without the PIN.
      const cli = await runRoster(['keys', 'status'], {
        env: {
          ROSTER_DATABASE_URL: t().store.url,
          ROSTER_KEY_FILE: join(t().store.dir, 'roster.key'),
          ROSTER_LOG_LEVEL: 'silent',
          ...block.env,
          ...block.hsm().env,
        },
        cwd: t().store.dir,
        timeoutMs: 30_000,
      });
      outputs.push(cli.stdout, cli.stderr);
      expect(cli.code, cli.stderr).toBe(1);
      expect(cli.stdout).toBe('');
      expect(cli.stderr).toMatch(/^roster: crypto\.unavailable: /);
    } finally {
      await block.hsm().makeAvailable();
    }
    for (const text of outputs) expect(text).not.toContain(block.pin);

    // Back: the cold tenant reads and writes again, new tenants are made; the app was never restarted.
    await expectReadBack(cold.api, coldUsers, 'cold tenant after the outage');
    expect((await cold.api.post('/api/v1/users', { userName: 'Cold.Outage.Cornelius' })).status).toBe(201);
    const late = await t().admin.post('/api/v1/tenants', { name: 'hsm-during-outage' });
    expect(late.status, late.raw).toBe(201);
    t().app.services.keys.clear({ now: true });
    await expectReadBack(warm.api, warmUsers, 'warm tenant after the outage');
    // What the warm tenant wrote during the outage reads back once its key is unwrapped again.
    const [made, joined] = madeDuringOutage as [Answer, Answer];
    expect(must(await warm.api.get(`/api/v1/users/${made.body.id}`), 200, 'read').body).toEqual(made.body);
    expect(must(await warm.api.get(`/api/v1/users/${joined.body.user.id}`), 200, 'read').body).toEqual(
      joined.body.user,
    );
  });
});
