/**
 * GDPR erasure (Art. 17) by crypto-shredding, over the REST API and down to the bytes of the store.
 *
 * An erasure (`POST /api/v1/erasure-requests` or `DELETE /api/v1/users/{id}?erase=true`) deletes the user
 * (seats released and the waitlist served, memberships removed, reports' manager cleared), deletes the user
 * row with its sealed data key, destroys their stored onboarding answers, and keeps an erasure record and
 * masked audit entries, all in one transaction. Afterwards nothing Roster stores or holds opens the person's
 * data: not the rows (every sealed value tried with every live key), not the SQLite file or its write-ahead
 * log (raw bytes), and, once the tenant key is rotated and the old version retired, not a copy of the
 * sealed data key kept from before.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyLive } from '../../../src/audit/export.js';
import { NoteVerifier } from '../../../src/audit/note.js';
import { FieldCipher, openDataKey } from '../../../src/crypto/service.js';
import type { UsersTable } from '../../../src/platform/db/schema.js';
import { RosterError } from '../../../src/platform/errors.js';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import {
  dumpAllTables,
  type Person,
  personWithPii,
  piiOf,
  type Row,
  SEALED_USER_COLUMNS,
  type SealedUserColumn,
} from '../../support/pii.js';
import { describeEachStore } from '../../support/stores.js';
import { sharedEnv } from '../audit/fixtures.js';
import { assertBuilt, killAllRoster, runRoster } from '../cli/process.js';

beforeAll(assertBuilt);
afterAll(killAllRoster);

const UNKNOWN = '01890000-0000-7000-8000-000000000000';

/** The AAD column name of a sealed column (`given_name_enc` is sealed as `given_name`). */
const aadColumn = (c: SealedUserColumn) => c.slice(0, -'_enc'.length);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A person with distinctive PII, unique to this call (a random part in the tag): no other user shares a value. */
const person = (label: string): Person => personWithPii(`${label}${randomBytes(5).toString('hex')}`);

function expectProblem(res: Answer, status: number, code: string): void {
  expect(res.status, res.raw).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({ status, code });
}

/** What the store holds of one person before an erasure: everything that must be gone after it. */
interface Captured {
  readonly userId: string;
  readonly dataKey: Buffer;
  readonly sealed: Partial<Record<SealedUserColumn, Buffer>>;
  readonly userNameBidx: string;
  readonly emailBidx: string[];
  readonly idempotency?: { key: string; requestHash: string; responseEnc: Buffer; keyVersion: number };
  readonly pii: string[];
}

/** The byte strings of a capture, named (for readable failures). */
function needlesOf(c: Captured): { name: string; bytes: Buffer }[] {
  const out: { name: string; bytes: Buffer }[] = [{ name: 'data_key_enc', bytes: c.dataKey }];
  for (const [col, v] of Object.entries(c.sealed)) out.push({ name: col, bytes: v as Buffer });
  out.push({ name: 'user_name_bidx', bytes: Buffer.from(c.userNameBidx, 'utf8') });
  for (const b of c.emailBidx) out.push({ name: 'email_bidx', bytes: Buffer.from(b, 'utf8') });
  if (c.idempotency) {
    out.push({ name: 'idempotency request_hash', bytes: Buffer.from(c.idempotency.requestHash, 'utf8') });
    out.push({ name: 'idempotency response_enc', bytes: c.idempotency.responseEnc });
  }
  for (const p of c.pii) out.push({ name: `pii ${p}`, bytes: Buffer.from(p, 'utf8') });
  return out;
}

/** Where any captured byte string (or a PII string, case-insensitively) occurs in a table dump. */
function findCaptured(dump: Map<string, Row[]>, c: Captured): string[] {
  const hits: string[] = [];
  const needles = needlesOf(c);
  const piiLower = c.pii.map((p) => p.toLowerCase());
  for (const [table, rows] of dump) {
    for (const row of rows) {
      for (const [column, value] of Object.entries(row)) {
        if (value === null || value === undefined) continue;
        const bytes =
          Buffer.isBuffer(value) || value instanceof Uint8Array
            ? Buffer.from(value)
            : Buffer.from(typeof value === 'object' ? JSON.stringify(value) : String(value), 'utf8');
        for (const n of needles)
          if (n.bytes.length > 0 && bytes.includes(n.bytes)) hits.push(`${table}.${column}: ${n.name}`);
        const text = [bytes.toString('utf8'), bytes.toString('latin1')].map((s) => s.toLowerCase());
        for (const p of piiLower)
          if (text.some((s) => s.includes(p))) hits.push(`${table}.${column}: pii ${p}`);
      }
    }
  }
  return [...new Set(hits)];
}

function bytesOf(v: unknown): Buffer {
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return Buffer.from(v);
  throw new Error(`not binary: ${typeof v}`);
}

/** Tries to open; undefined when the value does not open (integrity failure). */
function attempt(fn: () => Buffer): Buffer | undefined {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RosterError && err.code === 'crypto.integrity') return undefined;
    throw err;
  }
}

describeEachStore('erasure (crypto-shredding)', (kind) => {
  const t = useTestApp(kind, {}, { keyCache: { versionCheckMs: 50 } });
  const q = () => t().app.db.kysely;

  /** The sealed state of a user and their onboarding record, read raw from the store. */
  async function capture(userId: string, p: Person, idempotencyKey?: string): Promise<Captured> {
    const row = await q().selectFrom('users').selectAll().where('id', '=', userId).executeTakeFirstOrThrow();
    expect(row.data_key_enc, 'a per-user data key').not.toBeNull();
    const sealed: Partial<Record<SealedUserColumn, Buffer>> = {};
    for (const col of SEALED_USER_COLUMNS) if (row[col] !== null) sealed[col] = bytesOf(row[col]);
    expect(Object.keys(sealed).sort()).toEqual([...SEALED_USER_COLUMNS].sort());
    const emails = await q().selectFrom('user_emails').selectAll().where('user_id', '=', userId).execute();
    expect(emails).toHaveLength(p.emails.length);
    let idempotency: Captured['idempotency'];
    if (idempotencyKey !== undefined) {
      const rec = await q()
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('tenant_id', '=', row.tenant_id)
        .where('key', '=', idempotencyKey)
        .executeTakeFirstOrThrow();
      expect(rec.user_id).toBe(userId);
      expect(rec.status).toBe(201);
      expect(rec.request_hash.length).toBeGreaterThanOrEqual(64);
      idempotency = {
        key: idempotencyKey,
        requestHash: rec.request_hash,
        responseEnc: bytesOf(rec.response_enc),
        keyVersion: rec.key_version,
      };
    }
    return {
      userId,
      dataKey: bytesOf(row.data_key_enc),
      sealed,
      userNameBidx: row.user_name_bidx,
      emailBidx: emails.map((e) => e.email_bidx),
      ...(idempotency ? { idempotency } : {}),
      pii: piiOf(p),
    };
  }

  /**
   * Every plaintext the tenant's remaining sealed values open to, trying every live tenant key version and
   * both the row's own binding and the erased user's (in case a value was moved under another row): users'
   * data keys, the values sealed under them, values sealed directly under the tenant key (legacy), and
   * stored onboarding answers.
   */
  async function openEverything(tenantId: string, erased: { userId: string; idempotencyKey?: string }) {
    const keys = await t().app.services.keys.tenantKeys(q(), tenantId);
    const plaintexts: string[] = [];
    const users = await q().selectFrom('users').selectAll().where('tenant_id', '=', tenantId).execute();
    for (const row of users) {
      const ids = [...new Set([row.id, erased.userId])];
      for (const k of keys.all) {
        for (const rid of ids) {
          const dek = row.data_key_enc
            ? attempt(() => new FieldCipher(k, 'users', rid).openBytes('data_key', bytesOf(row.data_key_enc)))
            : undefined;
          for (const col of SEALED_USER_COLUMNS) {
            const v = row[col as keyof UsersTable];
            if (v === null) continue;
            for (const rid2 of ids) {
              const legacy = attempt(() =>
                new FieldCipher(k, 'users', rid2).openBytes(aadColumn(col), bytesOf(v)),
              );
              if (legacy) plaintexts.push(legacy.toString('utf8'));
              if (dek) {
                const opened = attempt(() =>
                  new FieldCipher({ dataKey: dek, tenantId }, 'users', rid2).openBytes(
                    aadColumn(col),
                    bytesOf(v),
                  ),
                );
                if (opened) plaintexts.push(opened.toString('utf8'));
              }
            }
          }
        }
      }
    }
    const answers = await q()
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .execute();
    for (const rec of answers) {
      const names = [...new Set([rec.key, ...(erased.idempotencyKey ? [erased.idempotencyKey] : [])])];
      for (const k of keys.all) {
        for (const name of names) {
          const opened = attempt(() =>
            new FieldCipher(k, 'idempotency_keys', name).openBytes('response', bytesOf(rec.response_enc)),
          );
          if (opened) plaintexts.push(opened.toString('utf8'));
        }
      }
    }
    return plaintexts;
  }

  function piiFoundIn(plaintexts: string[], pii: string[]): string[] {
    const lower = plaintexts.map((s) => s.toLowerCase());
    return pii.filter((p) => lower.some((s) => s.includes(p.toLowerCase())));
  }

  interface Scenario {
    tenantId: string;
    api: Client;
    sku: string;
    poolId: string;
    p: Person;
    personId: string;
    idempotencyKey: string;
    onboarding: { user: Person; products: string[] };
    waitId: string;
    waitPerson: Person;
    reportId: string;
    groupId: string;
  }

  /**
   * A tenant where the person holds the only seat of a full pool (onboarded with an Idempotency-Key),
   * another user waits for that product, both are in a group, and a third user reports to the person.
   */
  async function scenario(): Promise<Scenario> {
    const { tenantId, api } = await t().newTenant();
    const sku = `ERASE-${randomBytes(3).toString('hex')}`.toUpperCase();
    expect((await api.post('/api/v1/products', { sku, name: 'Erasure suite' })).status).toBe(201);
    const pool = await api.post('/api/v1/pools', { product: sku, name: 'only seat', capacity: 1 });
    expect(pool.status, pool.raw).toBe(201);
    const p = person('P');
    const idempotencyKey = `onboard-${randomUUID()}`;
    const onboarding = { user: p, products: [sku] };
    const onboarded = await api.post('/api/v1/onboardings', onboarding, {
      'idempotency-key': idempotencyKey,
    });
    expect(onboarded.status, onboarded.raw).toBe(201);
    expect(onboarded.body.assignments).toMatchObject([{ state: 'active' }]);
    const personId = onboarded.body.user.id as string;
    const waitPerson = person('W');
    const w = await api.post('/api/v1/users', waitPerson);
    expect(w.status, w.raw).toBe(201);
    const waiting = await api.post(`/api/v1/users/${w.body.id}/licenses`, { product: sku });
    expect(waiting.status, waiting.raw).toBe(201);
    expect(waiting.body.state).toBe('waitlisted');
    const r = await api.post('/api/v1/users', { ...person('R'), manager: personId });
    expect(r.status, r.raw).toBe(201);
    const g = await api.post('/api/v1/groups', {
      displayName: `erasure group ${sku}`,
      members: [personId, w.body.id],
    });
    expect(g.status, g.raw).toBe(201);
    return {
      tenantId,
      api,
      sku,
      poolId: pool.body.id,
      p,
      personId,
      idempotencyKey,
      onboarding,
      waitId: w.body.id,
      waitPerson,
      reportId: r.body.id,
      groupId: g.body.id,
    };
  }

  /** Everything of a tenant an erasure touches, read raw (audit: only how many entries). */
  async function snapshot(tenantId: string) {
    const of = <T extends 'users' | 'user_emails' | 'assignments' | 'pools' | 'groups' | 'group_members'>(
      table: T,
    ) =>
      q()
        .selectFrom(table as 'users')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .execute()
        .then((rows) => [...rows].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
    const count = async (table: 'erasure_requests' | 'audit_entries') =>
      Number(
        (
          await q()
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .where('tenant_id', '=', tenantId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    return {
      users: await of('users'),
      emails: await of('user_emails'),
      assignments: await of('assignments'),
      pools: await of('pools'),
      groups: await of('groups'),
      members: await of('group_members'),
      idempotency: await q()
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .execute(),
      erasures: await count('erasure_requests'),
      audit: await count('audit_entries'),
    };
  }

  async function erasureCount(): Promise<number> {
    const r = await q()
      .selectFrom('erasure_requests')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async function licensesOf(api: Client, userId: string) {
    const res = await api.get(`/api/v1/users/${userId}/licenses`);
    expect(res.status, res.raw).toBe(200);
    return res.body.items as { product: string; state: string; pool?: { id: string } }[];
  }

  // ---- 1. the API

  describe('the API', () => {
    it('POST /erasure-requests answers 201 with the record; the user is gone; the record is listed and readable', async () => {
      const { api, tenantId } = await t().newTenant();
      const u = await api.post('/api/v1/users', person('A'));
      expect(u.status, u.raw).toBe(201);
      const res = await api.post('/api/v1/erasure-requests', { userId: u.body.id });
      expect(res.status, res.raw).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(
        ['completedAt', 'id', 'requestedAt', 'requestedBy', 'state', 'userId'].sort(),
      );
      expect(res.body).toMatchObject({ userId: u.body.id, state: 'completed' });
      expect(res.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(res.headers.location).toBe(`/api/v1/erasure-requests/${res.body.id}`);
      expect(new Date(res.body.requestedAt).toISOString()).toBe(res.body.requestedAt);
      expect(new Date(res.body.completedAt).toISOString()).toBe(res.body.completedAt);
      expect(res.body.completedAt >= res.body.requestedAt).toBe(true);
      // requestedBy names the token that asked, which is this tenant's.
      expect(res.body.requestedBy).toMatch(/^token:.+$/);
      const token = await q()
        .selectFrom('api_tokens')
        .select(['id', 'tenant_id'])
        .where('id', '=', String(res.body.requestedBy).slice('token:'.length))
        .executeTakeFirst();
      expect(token?.tenant_id).toBe(tenantId);

      expectProblem(await api.get(`/api/v1/users/${u.body.id}`), 404, 'identity.user_not_found');
      const read = await api.get(res.headers.location as string);
      expect(read.status, read.raw).toBe(200);
      expect(read.body).toEqual(res.body);
      const list = await api.get('/api/v1/erasure-requests');
      expect(list.status, list.raw).toBe(200);
      expect(list.body.items).toEqual([res.body]);

      // Another tenant sees none of it.
      const other = await t().newTenant();
      expectProblem(await other.api.get(`/api/v1/erasure-requests/${res.body.id}`), 404, 'erasure.not_found');
      expect((await other.api.get('/api/v1/erasure-requests')).body.items).toEqual([]);
      // Nor can it erase this tenant's users.
      const mine = await api.post('/api/v1/users', person('A2'));
      const before = await erasureCount();
      expectProblem(
        await other.api.post('/api/v1/erasure-requests', { userId: mine.body.id }),
        404,
        'identity.user_not_found',
      );
      expect(await erasureCount()).toBe(before);
      expect((await api.get(`/api/v1/users/${mine.body.id}`)).status).toBe(200);
    });

    it('DELETE /users/{id}?erase=true answers 204 with a Location the record is read from', async () => {
      const { api } = await t().newTenant();
      const u = await api.post('/api/v1/users', person('D'));
      expect(u.status, u.raw).toBe(201);
      const res = await api.delete(`/api/v1/users/${u.body.id}?erase=true`);
      expect(res.status, res.raw).toBe(204);
      expect(res.raw).toBe('');
      const location = res.headers.location as string;
      expect(location).toMatch(/^\/api\/v1\/erasure-requests\/[0-9a-f-]{36}$/);
      const read = await api.get(location);
      expect(read.status, read.raw).toBe(200);
      expect(read.body).toMatchObject({
        id: location.split('/').pop(),
        userId: u.body.id,
        state: 'completed',
      });
      expect(Object.keys(read.body).sort()).toEqual(
        ['completedAt', 'id', 'requestedAt', 'requestedBy', 'state', 'userId'].sort(),
      );
      expectProblem(await api.get(`/api/v1/users/${u.body.id}`), 404, 'identity.user_not_found');
      const list = await api.get('/api/v1/erasure-requests');
      expect(list.body.items.map((r: { id: string }) => r.id)).toEqual([read.body.id]);
      const other = await t().newTenant();
      expectProblem(await other.api.get(location), 404, 'erasure.not_found');
    });

    it('a plain DELETE (without erase) writes no erasure record', async () => {
      const { api } = await t().newTenant();
      const u = await api.post('/api/v1/users', person('N'));
      const res = await api.delete(`/api/v1/users/${u.body.id}`);
      expect(res.status, res.raw).toBe(204);
      expect(res.headers.location).toBeUndefined();
      expect((await api.get('/api/v1/erasure-requests')).body.items).toEqual([]);
    });

    it('erasing an unknown or an already erased user answers 404 and writes no record', async () => {
      const { api } = await t().newTenant();
      const u = await api.post('/api/v1/users', person('U'));
      expect((await api.post('/api/v1/erasure-requests', { userId: u.body.id })).status).toBe(201);
      const before = await erasureCount();
      for (const id of [UNKNOWN, u.body.id]) {
        const post = await api.post('/api/v1/erasure-requests', { userId: id });
        expectProblem(post, 404, 'identity.user_not_found');
        expect(post.headers.location).toBeUndefined();
        const del = await api.delete(`/api/v1/users/${id}?erase=true`);
        expectProblem(del, 404, 'identity.user_not_found');
        expect(del.headers.location).toBeUndefined();
      }
      expect(await erasureCount()).toBe(before);
      expect((await api.get('/api/v1/erasure-requests')).body.items).toHaveLength(1);
    });

    it('an If-Match that does not match refuses the erasure with 412 and changes nothing', async () => {
      const s = await scenario();
      const before = await snapshot(s.tenantId);
      const res = await s.api.delete(`/api/v1/users/${s.personId}?erase=true`, { 'if-match': 'W/"7"' });
      expectProblem(res, 412, 'request.precondition_failed');
      expect(res.headers.location).toBeUndefined();
      expect(await snapshot(s.tenantId)).toEqual(before);
      const user = await s.api.get(`/api/v1/users/${s.personId}`);
      expect(user.status, user.raw).toBe(200);
      expect(user.body.userName).toBe(s.p.userName);
      // The matching version erases.
      const ok = await s.api.delete(`/api/v1/users/${s.personId}?erase=true`, {
        'if-match': user.headers.etag as string,
      });
      expect(ok.status, ok.raw).toBe(204);
      expect((await s.api.get(`/api/v1/users/${s.personId}`)).status).toBe(404);
    });
  });

  // ---- 2. what the person held

  it('releases the seat to the waitlist, removes memberships and clears the manager of reports', async () => {
    const s = await scenario();
    expect((await s.api.get(`/api/v1/pools/${s.poolId}`)).body).toMatchObject({ capacity: 1, used: 1 });
    expect((await licensesOf(s.api, s.waitId))[0]?.state).toBe('waitlisted');
    expect((await s.api.get(`/api/v1/users/${s.reportId}`)).body.manager).toBe(s.personId);

    const res = await s.api.post('/api/v1/erasure-requests', { userId: s.personId });
    expect(res.status, res.raw).toBe(201);

    const waiting = await licensesOf(s.api, s.waitId);
    expect(waiting).toMatchObject([{ product: s.sku, state: 'active', pool: { id: s.poolId } }]);
    const pool = await s.api.get(`/api/v1/pools/${s.poolId}`);
    expect(pool.body).toMatchObject({ capacity: 1, used: 1, waitlisted: 0 });
    const active = await q()
      .selectFrom('assignments')
      .select(['user_id'])
      .where('pool_id', '=', s.poolId)
      .where('state', '=', 'active')
      .execute();
    expect(active.map((a) => a.user_id)).toEqual([s.waitId]);
    const poolRow = await q()
      .selectFrom('pools')
      .select('used')
      .where('id', '=', s.poolId)
      .executeTakeFirstOrThrow();
    expect(poolRow.used).toBe(active.length);
    expect(
      await q().selectFrom('assignments').selectAll().where('user_id', '=', s.personId).execute(),
    ).toEqual([]);

    const members = await s.api.get(`/api/v1/groups/${s.groupId}/members`);
    expect(members.body.items.map((m: { userId: string }) => m.userId)).toEqual([s.waitId]);
    expect((await s.api.get(`/api/v1/groups/${s.groupId}`)).body.memberCount).toBe(1);
    expect(
      await q().selectFrom('group_members').selectAll().where('user_id', '=', s.personId).execute(),
    ).toEqual([]);

    const report = await s.api.get(`/api/v1/users/${s.reportId}`);
    expect(report.status, report.raw).toBe(200);
    expect(report.body.manager).toBeNull();
    expect(await q().selectFrom('users').select('id').where('manager_id', '=', s.personId).execute()).toEqual(
      [],
    );
  });

  // ---- 3. the SQLite file, byte by byte

  if (kind === 'sqlite') {
    it('leaves none of the person’s sealed data, indexes, answer or PII in the SQLite file or its WAL', async () => {
      const dbFile = join(t().store.dir, 'roster.db');
      expect(t().app.db.location).toBe(`sqlite:${dbFile}`);
      const { api } = await t().newTenant();
      const p = person('F');
      const key = `file-${randomUUID()}`;
      const onboarded = await api.post(
        '/api/v1/onboardings',
        { user: p, products: [] },
        { 'idempotency-key': key },
      );
      expect(onboarded.status, onboarded.raw).toBe(201);
      const id = onboarded.body.user.id as string;
      const first = await capture(id, p, key);
      // A change writes the row anew with a fresh data key: the earlier version must go too.
      const patch = {
        displayName: `${p.displayName} Changed`,
        emails: [...p.emails, { value: `x${p.emails[0]?.value}` }],
      };
      const patched = await api.patch(`/api/v1/users/${id}`, patch, {
        'content-type': 'application/merge-patch+json',
      });
      expect(patched.status, patched.raw).toBe(200);
      const latest = await capture(id, { ...p, ...patch } as Person, key);
      expect(latest.dataKey.equals(first.dataKey)).toBe(false);
      const group = await api.post('/api/v1/groups', { displayName: `file group ${key}`, members: [id] });
      expect(group.status, group.raw).toBe(201);

      const readStore = () => {
        const main = readFileSync(dbFile);
        const wal = existsSync(`${dbFile}-wal`) ? readFileSync(`${dbFile}-wal`) : Buffer.alloc(0);
        return { main, wal };
      };
      // The search can fail: checkpointed into the main file, the current sealed data key is found there.
      for (let i = 0; i < 50; i++) {
        const r = await sql<{ busy: number }>`pragma wal_checkpoint(TRUNCATE)`.execute(q());
        if (r.rows[0]?.busy === 0) break;
        await sleep(20);
      }
      const before = readStore();
      expect(before.main.includes(latest.dataKey), 'the sealed data key is in the file before erasure').toBe(
        true,
      );
      expect(before.main.includes(Buffer.from(latest.userNameBidx, 'utf8'))).toBe(true);
      expect(before.main.includes(latest.sealed.emails_enc as Buffer)).toBe(true);

      const res = await api.delete(`/api/v1/users/${id}?erase=true`);
      expect(res.status, res.raw).toBe(204);
      // The tenant's other data is still there: the file was not simply emptied.
      expect((await api.get('/api/v1/erasure-requests')).body.items).toHaveLength(1);

      const after = readStore();
      const hits: string[] = [];
      for (const c of [first, latest]) {
        for (const n of needlesOf(c)) {
          if (after.main.includes(n.bytes)) hits.push(`roster.db: ${n.name}`);
          if (after.wal.includes(n.bytes)) hits.push(`roster.db-wal: ${n.name}`);
        }
      }
      expect([...new Set(hits)]).toEqual([]);
    });
  }

  // ---- 4. no key Roster holds opens the person's data

  it('no remaining sealed value opens to the person’s data; a kept copy of the data key dies with the rotated tenant key', async () => {
    const s = await scenario();
    const c = await capture(s.personId, s.p, s.idempotencyKey);
    expect(c.idempotency?.keyVersion).toBe(1);

    // The checks can fail: before the erasure, the dump holds the captured values and they open to the PII.
    expect(findCaptured(await dumpAllTables(t().app.db), c).length).toBeGreaterThan(0);
    const openedBefore = await openEverything(s.tenantId, {
      userId: s.personId,
      idempotencyKey: s.idempotencyKey,
    });
    expect(piiFoundIn(openedBefore, c.pii).sort()).toEqual([...c.pii].sort());

    const res = await s.api.post('/api/v1/erasure-requests', { userId: s.personId });
    expect(res.status, res.raw).toBe(201);

    expect(findCaptured(await dumpAllTables(t().app.db), c)).toEqual([]);
    const opened = await openEverything(s.tenantId, { userId: s.personId, idempotencyKey: s.idempotencyKey });
    // The other users' values still open (so the opening really ran) ...
    expect(piiFoundIn(opened, [s.waitPerson.userName, s.waitPerson.name.familyName])).toHaveLength(2);
    // ... and none is the erased person's.
    expect(piiFoundIn(opened, c.pii)).toEqual([]);
    // The stored answer is a tombstone: no ciphertext, no fingerprint.
    const tomb = await q()
      .selectFrom('idempotency_keys')
      .selectAll()
      .where('tenant_id', '=', s.tenantId)
      .where('key', '=', s.idempotencyKey)
      .executeTakeFirstOrThrow();
    expect(tomb).toMatchObject({ status: 410, request_hash: 'erased', user_id: s.personId, key_version: 1 });
    expect(bytesOf(tomb.response_enc).length).toBe(0);

    // AAD binding: the sealed data key is bound to its row: under any other row id it opens with no key.
    const keys = await t().app.services.keys.tenantKeys(q(), s.tenantId);
    expect(keys.all.map((k) => k.version)).toEqual([1]);
    for (const k of keys.all) {
      for (const other of [s.waitId, s.reportId, randomUUID()]) {
        expect(
          attempt(() => new FieldCipher(k, 'users', other).openBytes('data_key', c.dataKey)),
        ).toBeUndefined();
        expect(() => openDataKey(keys, 'users', other, c.dataKey)).toThrow(RosterError);
      }
    }
    // What erasure cannot do alone: someone who KEPT A COPY of the sealed data key (and of the ciphertexts,
    // e.g. a backup or a PostgreSQL dead tuple before vacuum) can still open it with the tenant key, bound to
    // the erased row id. That is what tenant-key rotation and retirement of the old version is for.
    const copy = openDataKey(keys, 'users', s.personId, c.dataKey);
    expect(
      new FieldCipher({ dataKey: copy, tenantId: s.tenantId }, 'users', s.personId).openText(
        'given_name',
        c.sealed.given_name_enc as Buffer,
      ),
    ).toBe(JSON.stringify(s.p.name.givenName));

    // Rotate the tenant key. The only stored answer naming version 1 is the erased user's tombstone (410,
    // still unexpired): it holds nothing sealed and must not keep version 1 alive.
    const rotate = await t().admin.post(`/api/v1/tenants/${s.tenantId}/keys/rotate`);
    expect(rotate.status, rotate.raw).toBe(202);
    expect(rotate.body).toMatchObject({ kind: 'tenant', tenantId: s.tenantId, fromVersion: 1, toVersion: 2 });
    await t().app.services.rotation.settle();
    const job = await t().admin.get(`/api/v1/keys/jobs/${rotate.body.id}`);
    expect(job.status, job.raw).toBe(200);
    expect(job.body.state, 'version 1 was not retired (a tombstone keeps it draining?)').toBe('done');
    const state = await t().admin.get(`/api/v1/tenants/${s.tenantId}/keys`);
    expect(state.body.versions).toMatchObject([
      { version: 1, retiredAt: expect.any(String) },
      { version: 2, retiredAt: null },
    ]);
    const v1 = await q()
      .selectFrom('tenant_keys')
      .selectAll()
      .where('tenant_id', '=', s.tenantId)
      .where('version', '=', 1)
      .executeTakeFirstOrThrow();
    expect(bytesOf(v1.wrapped_key).length).toBe(0);

    // The kept copy opens with no key Roster holds any more.
    const now = await t().app.services.keys.tenantKeys(q(), s.tenantId);
    expect(now.all.map((k) => k.version)).toEqual([2]);
    for (const k of now.all) {
      expect(
        attempt(() => new FieldCipher(k, 'users', s.personId).openBytes('data_key', c.dataKey)),
      ).toBeUndefined();
    }
    expect(() => openDataKey(now, 'users', s.personId, c.dataKey)).toThrow(RosterError);
    // The others were rewritten under version 2 and still read; the tombstone still answers 410.
    const w = await s.api.get(`/api/v1/users/${s.waitId}`);
    expect(w.status, w.raw).toBe(200);
    expect(w.body.userName).toBe(s.waitPerson.userName);
    const replay = await s.api.post('/api/v1/onboardings', s.onboarding, {
      'idempotency-key': s.idempotencyKey,
    });
    expectProblem(replay, 410, 'identity.user_erased');
    expect(piiFoundIn(await openEverything(s.tenantId, { userId: s.personId }), c.pii)).toEqual([]);
  });

  // ---- 5. idempotency after erasure

  it('a replay of the erased person’s onboarding answers 410 identity.user_erased and creates nothing', async () => {
    const { api, tenantId } = await t().newTenant();
    const p = person('I');
    const key = `idem-${randomUUID()}`;
    const body = { user: p, products: [] };
    const first = await api.post('/api/v1/onboardings', body, { 'idempotency-key': key });
    expect(first.status, first.raw).toBe(201);
    // A replay before the erasure returns the first answer.
    const replayed = await api.post('/api/v1/onboardings', body, { 'idempotency-key': key });
    expect(replayed.status).toBe(201);
    expect(replayed.raw).toBe(first.raw);
    expect((await api.post('/api/v1/erasure-requests', { userId: first.body.user.id })).status).toBe(201);

    const countUsers = async () =>
      Number(
        (
          await q()
            .selectFrom('users')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('tenant_id', '=', tenantId)
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await countUsers()).toBe(0);
    const same = await api.post('/api/v1/onboardings', body, { 'idempotency-key': key });
    expectProblem(same, 410, 'identity.user_erased');
    expect(same.headers['idempotency-replayed']).toBeUndefined();
    const otherBody = { user: { ...person('I2') }, products: [] };
    const other = await api.post('/api/v1/onboardings', otherBody, { 'idempotency-key': key });
    expectProblem(other, 410, 'identity.user_erased');
    for (const r of [same, other]) {
      const raw = r.raw.toLowerCase();
      for (const v of [...piiOf(p), ...piiOf(otherBody.user)]) expect(raw).not.toContain(v.toLowerCase());
    }
    expect(await countUsers()).toBe(0);
    expect((await api.get(`/api/v1/users?userName=${encodeURIComponent(p.userName)}`)).body.items).toEqual(
      [],
    );
    // The check above can fail: a new key onboards the same person anew.
    const anew = await api.post('/api/v1/onboardings', body, { 'idempotency-key': `${key}-new` });
    expect(anew.status, anew.raw).toBe(201);
    expect(await countUsers()).toBe(1);
  });

  // ---- 6. the audit log

  it('the audit log records the erasure with PII masked and still verifies', async () => {
    const s = await scenario();
    const res = await s.api.post('/api/v1/erasure-requests', { userId: s.personId });
    expect(res.status, res.raw).toBe(201);

    const deleted = await s.api.get(`/api/v1/audit/entries?action=user.deleted&targetId=${s.personId}`);
    expect(deleted.status, deleted.raw).toBe(200);
    expect(deleted.body.items).toHaveLength(1);
    const before = deleted.body.items[0].before;
    expect(deleted.body.items[0].after).toBeNull();
    expect(before).toMatchObject({
      id: s.personId,
      userName: '***',
      name: { givenName: '***', familyName: '***', formatted: '***' },
      displayName: '***',
      emails: ['***', '***'],
    });
    const erased = await s.api.get(`/api/v1/audit/entries?action=user.erased&targetId=${s.personId}`);
    expect(erased.body.items).toHaveLength(1);
    expect(erased.body.items[0]).toMatchObject({
      action: 'user.erased',
      target: { type: 'user', id: s.personId },
      before: null,
      after: { erasureRequest: res.body.id, dataKey: 'destroyed' },
    });
    expect(Object.keys(erased.body.items[0].after).sort()).toEqual(['dataKey', 'erasureRequest']);

    // None of the audit entries (API or raw rows) holds the person's PII.
    const all = await s.api.get('/api/v1/audit/entries?limit=200');
    expect(all.status, all.raw).toBe(200);
    expect(all.body.items.length).toBeGreaterThanOrEqual(10);
    expect(piiFoundIn([all.raw], piiOf(s.p))).toEqual([]);
    const rows = await q()
      .selectFrom('audit_entries')
      .selectAll()
      .where('tenant_id', '=', s.tenantId)
      .execute();
    expect(rows.length).toBe(all.body.items.length);
    expect(piiFoundIn([JSON.stringify(rows)], piiOf(s.p))).toEqual([]);

    // The log verifies, in process and through `roster audit verify --live`.
    await t().app.integrator.catchUp(s.tenantId);
    const key = await s.api.get('/api/v1/audit/public-key');
    expect(key.status, key.raw).toBe(200);
    const result = await verifyLive(q(), s.tenantId, [NoteVerifier.fromVerifierKey(key.raw.trim())]);
    expect(result).toMatchObject({ entries: rows.length });
    const cli = await runRoster(['audit', 'verify', '--live', '--tenant', s.tenantId], {
      cwd: t().store.dir,
      env: sharedEnv(t().store),
    });
    expect(cli.code, cli.stdout + cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(
      new RegExp(`^OK: tenant ${s.tenantId}: ${rows.length} entries, \\d+ checkpoints\\n$`),
    );
  });

  // ---- 7. all or nothing

  it('an erasure failing inside its transaction answers 5xx and changes nothing', async () => {
    const s = await scenario();
    const PROBE = 'erasure-probe-failure-7f3a9c';
    const db = t().app.db;
    if (db.dialect === 'sqlite') {
      await sql
        .raw(
          `create trigger erasure_fail before insert on erasure_requests begin select raise(abort, '${PROBE}'); end`,
        )
        .execute(db.kysely);
    } else {
      await sql
        .raw(
          `create function erasure_fail() returns trigger language plpgsql as $$ begin raise exception '${PROBE}'; end $$`,
        )
        .execute(db.kysely);
      await sql
        .raw(
          'create trigger erasure_fail before insert on erasure_requests for each row execute function erasure_fail()',
        )
        .execute(db.kysely);
    }
    try {
      const before = await snapshot(s.tenantId);
      expect(before.idempotency).toHaveLength(1);
      for (const attemptErase of [
        () => s.api.post('/api/v1/erasure-requests', { userId: s.personId }),
        () => s.api.delete(`/api/v1/users/${s.personId}?erase=true`),
      ]) {
        const res = await attemptErase();
        expect(res.status, res.raw).toBeGreaterThanOrEqual(500);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(res.headers.location).toBeUndefined();
        expect(res.body).toMatchObject({ status: 500, code: 'server.internal' });
        expect(res.body).not.toHaveProperty('detail');
        const raw = res.raw.toLowerCase();
        for (const leak of [PROBE, 'erasure_requests', 'trigger', 'sqlite', 'insert', ...piiOf(s.p)]) {
          expect(raw, leak).not.toContain(leak.toLowerCase());
        }
        expect(await snapshot(s.tenantId)).toEqual(before);
      }
      // Everything reads as before: the person, their seat, the waitlist, the group, the report, the answer.
      const user = await s.api.get(`/api/v1/users/${s.personId}`);
      expect(user.status, user.raw).toBe(200);
      expect(user.body).toMatchObject({ userName: s.p.userName, name: s.p.name, emails: s.p.emails });
      expect((await licensesOf(s.api, s.personId))[0]?.state).toBe('active');
      expect((await licensesOf(s.api, s.waitId))[0]?.state).toBe('waitlisted');
      expect((await s.api.get(`/api/v1/groups/${s.groupId}`)).body.memberCount).toBe(2);
      expect((await s.api.get(`/api/v1/users/${s.reportId}`)).body.manager).toBe(s.personId);
      const replay = await s.api.post('/api/v1/onboardings', s.onboarding, {
        'idempotency-key': s.idempotencyKey,
      });
      expect(replay.status, replay.raw).toBe(201);
      expect(replay.headers['idempotency-replayed']).toBe('true');
      expect((await s.api.get('/api/v1/erasure-requests')).body.items).toEqual([]);
    } finally {
      if (db.dialect === 'sqlite') await sql.raw('drop trigger if exists erasure_fail').execute(db.kysely);
      else {
        await sql.raw('drop trigger if exists erasure_fail on erasure_requests').execute(db.kysely);
        await sql.raw('drop function if exists erasure_fail()').execute(db.kysely);
      }
    }
    // With the trigger gone the same erasure goes through (the failure was the trigger's).
    const res = await s.api.post('/api/v1/erasure-requests', { userId: s.personId });
    expect(res.status, res.raw).toBe(201);
    expect((await licensesOf(s.api, s.waitId))[0]?.state).toBe('active');
  });
});

describe('erasure on a SQLite file with a reader open', () => {
  const t = useTestApp('sqlite');

  it('the old page with the sealed data key leaves the database file once the reader closes', async () => {
    const dbFile = join(t().store.dir, 'roster.db');
    const { api } = await t().newTenant();
    const created = await api.post('/api/v1/users', {
      userName: `reader.${randomBytes(4).toString('hex')}@example.test`,
    });
    expect(created.status, created.raw).toBe(201);
    const row = await t()
      .app.db.kysely.selectFrom('users')
      .select('data_key_enc')
      .where('id', '=', created.body.id)
      .executeTakeFirstOrThrow();
    const sealedKey = Buffer.from(row.data_key_enc as Buffer);
    await sql`pragma wal_checkpoint(TRUNCATE)`.execute(t().app.db.kysely);
    expect(readFileSync(dbFile).includes(sealedKey), 'the check can fail: the key is in the file').toBe(true);
    // Another connection in a read transaction (a CLI export, say) stops the erasure's checkpoint short.
    const reader = new SQLite(dbFile, { readonly: true });
    reader.prepare('begin').run();
    reader.prepare('select count(*) from users').get();
    const erased = await api.delete(`/api/v1/users/${created.body.id}?erase=true`);
    expect(erased.status, erased.raw).toBe(204);
    expect(readFileSync(dbFile).includes(sealedKey), 'the reader holds the checkpoint back').toBe(true);
    reader.prepare('commit').run();
    reader.close();
    // The retried checkpoint completes without any further request.
    const deadline = Date.now() + 5000;
    while (readFileSync(dbFile).includes(sealedKey) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(readFileSync(dbFile).includes(sealedKey)).toBe(false);
    const wal = existsSync(`${dbFile}-wal`) ? readFileSync(`${dbFile}-wal`) : Buffer.alloc(0);
    expect(wal.includes(sealedKey)).toBe(false);
  });
});
