/**
 * Helpers of the key-rotation tests: people with distinctive PII, reading the key file and the key tables
 * raw, audit lookups, a second node on the same store, and a bounded-concurrency runner.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { expect } from 'vitest';
import { type App, buildApp } from '../../../src/main.js';
import type { Clock } from '../../../src/platform/clock.js';
import { loadConfig } from '../../../src/platform/config.js';
import type { Context } from '../../../src/platform/context.js';
import { SYSTEM_ACTOR } from '../../../src/platform/context.js';
import type { Db } from '../../../src/platform/db/index.js';
import { isRosterError } from '../../../src/platform/errors.js';
import { createLogger } from '../../../src/platform/logging.js';
import { ADMIN_TOKEN, type Answer, type Client, clientFor, type TestApp } from '../../support/app.js';
import { type Person, personWithPii } from '../../support/pii.js';

export const HOUR = 3_600_000;

export const SYSTEM_CTX: Context = { actor: SYSTEM_ACTOR, requestId: undefined };

// ---- people (personWithPii, of test/support/pii.ts)

/** Flips the case of every letter: lookups and uniqueness are caseless. */
export function flipCase(s: string): string {
  return [...s].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('');
}

export function must(res: Answer, status: number, what: string): Answer {
  if (res.status !== status) throw new Error(`${what}: expected ${status}, got ${res.status} ${res.raw}`);
  return res;
}

/** A user as last written: the answer body (the whole user) and its ETag. */
export interface Written {
  readonly id: string;
  body: Record<string, unknown>;
  etag: string;
  readonly person: Person;
}

export async function createUser(api: Client, p: Person): Promise<Written> {
  const res = must(await api.post('/api/v1/users', p), 201, `create ${p.userName}`);
  return { id: res.body.id, body: res.body, etag: String(res.headers.etag), person: p };
}

/** Runs `tasks` with at most `limit` at a time; resolves with their results in order. */
export async function pool<T>(limit: number, tasks: readonly (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return out;
}

export async function createUsers(api: Client, tag: string, n: number, limit = 8): Promise<Written[]> {
  return pool(
    limit,
    Array.from(
      { length: n },
      (_, i) => () => createUser(api, personWithPii(`${tag}${String(i).padStart(4, '0')}`)),
    ),
  );
}

/** Every user reads back exactly as last written (whole body and ETag). */
export async function expectReadBack(api: Client, users: readonly Written[], what: string): Promise<void> {
  const reads = await pool(
    8,
    users.map((u) => () => api.get(`/api/v1/users/${u.id}`)),
  );
  reads.forEach((r, i) => {
    const u = users[i] as Written;
    expect(r.status, `${what}: GET ${u.id}: ${r.raw}`).toBe(200);
    expect(r.body, `${what}: body of ${u.id}`).toEqual(u.body);
    expect(r.headers.etag, `${what}: ETag of ${u.id}`).toBe(u.etag);
  });
}

/** `?userName=` (other case) and `?email=` (other case, each address) find exactly this user. */
export async function expectFound(api: Client, u: Written, what: string): Promise<void> {
  const byName = await api.get(`/api/v1/users?userName=${encodeURIComponent(flipCase(u.person.userName))}`);
  expect(byName.status, byName.raw).toBe(200);
  expect(
    byName.body.items.map((x: { id: string }) => x.id),
    `${what}: ?userName= of ${u.id}`,
  ).toEqual([u.id]);
  for (const e of u.person.emails) {
    const byMail = await api.get(`/api/v1/users?email=${encodeURIComponent(e.value.toUpperCase())}`);
    expect(byMail.status, byMail.raw).toBe(200);
    expect(
      byMail.body.items.map((x: { id: string }) => x.id),
      `${what}: ?email=${e.value} of ${u.id}`,
    ).toEqual([u.id]);
  }
}

// ---- raw store reads

export async function tenantKeyRows(
  db: Db,
  tenantId?: string,
): Promise<
  {
    tenant_id: string;
    version: number;
    kek_version: number;
    wrapped_key: Buffer;
    retired_at: string | null;
  }[]
> {
  let q = db.kysely
    .selectFrom('tenant_keys')
    .select(['tenant_id', 'version', 'kek_version', 'wrapped_key', 'retired_at'])
    .orderBy('tenant_id')
    .orderBy('version');
  if (tenantId !== undefined) q = q.where('tenant_id', '=', tenantId);
  const rows = await q.execute();
  return rows.map((r) => ({ ...r, wrapped_key: Buffer.from(r.wrapped_key) }));
}

export async function liveTenantKeyCount(db: Db): Promise<number> {
  return (await tenantKeyRows(db)).filter((r) => r.retired_at === null).length;
}

/** users.key_version of every user of the tenant, by id. */
export async function userKeyVersions(db: Db, tenantId: string): Promise<Map<string, number>> {
  const rows = await db.kysely
    .selectFrom('users')
    .select(['id', 'key_version'])
    .where('tenant_id', '=', tenantId)
    .execute();
  return new Map(rows.map((r) => [r.id, Number(r.key_version)]));
}

/** Makes a job look abandoned: its heartbeat an hour old. */
export async function staleHeartbeat(db: Db, jobId: string): Promise<void> {
  const old = new Date(Date.now() - 3_600_000).toISOString();
  await sql`update key_jobs set heartbeat_at = ${old} where id = ${jobId}`.execute(db.kysely);
}

// ---- the key file

export interface KeyFileEntry {
  readonly version: number;
  readonly key: string;
}

export function keyFilePath(t: TestApp): string {
  return join(t.store.dir, 'roster.key');
}

export function readKeyFile(path: string): KeyFileEntry[] {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { keys: KeyFileEntry[] };
  return parsed.keys.map((k) => ({ version: k.version, key: k.key }));
}

/**
 * Every form of key material a leak could take: the KEKs seen in the key file (base64, base64url, hex) and
 * the wrapped tenant keys in the store (base64, hex).
 */
export class KeyMaterial {
  readonly #needles = new Set<string>();

  addKek(entries: readonly KeyFileEntry[]): void {
    for (const e of entries) this.#add(Buffer.from(e.key, 'base64'));
  }

  async addWrapped(db: Db): Promise<void> {
    for (const r of await tenantKeyRows(db)) if (r.wrapped_key.length > 0) this.#add(r.wrapped_key);
  }

  #add(b: Buffer): void {
    for (const form of [b.toString('base64'), b.toString('base64url'), b.toString('hex')]) {
      this.#needles.add(form);
      // A prefix long enough to be unmistakable, in case a value is cut or wrapped.
      this.#needles.add(form.slice(0, 24));
    }
  }

  get size(): number {
    return this.#needles.size;
  }

  expectAbsent(text: string, what: string): void {
    expect(this.#needles.size, 'no key material collected').toBeGreaterThan(0);
    const lower = text.toLowerCase();
    for (const n of this.#needles) {
      const found = /^[0-9a-f]+$/.test(n) ? lower.includes(n) : text.includes(n);
      expect(found, `${what} holds key material (${n.slice(0, 6)}…)`).toBe(false);
    }
  }
}

// ---- audit

// biome-ignore lint/suspicious/noExplicitAny: audit entries are inspected loosely
export type Entry = any;

/** Audit entries with this action: the platform log (platform token), or a tenant's (Roster-Tenant). */
export async function auditEntries(admin: Client, action: string, tenantId?: string): Promise<Entry[]> {
  const headers = tenantId ? { 'roster-tenant': tenantId } : undefined;
  const items: Entry[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const res = await admin.get(
      `/api/v1/audit/entries?action=${encodeURIComponent(action)}&limit=200${cursor ? `&cursor=${cursor}` : ''}`,
      headers,
    );
    must(res, 200, `audit entries ${action}`);
    items.push(...res.body.items);
    cursor = res.body.nextCursor;
    if (!cursor) return items;
  }
  throw new Error('too many audit pages');
}

// ---- errors thrown by services

export async function expectRosterError(p: Promise<unknown>, code: string): Promise<void> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err, `expected ${code}, but it succeeded`).toBeDefined();
  expect(isRosterError(err) ? err.code : String(err)).toBe(code);
}

export function expectProblem(res: Answer, status: number, code: string): void {
  expect(res.status, res.raw).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body.code, res.raw).toBe(code);
}

// ---- another node on the same store and key file

export interface Node {
  readonly app: App;
  readonly admin: Client;
  client(token: string): Client;
  close(): Promise<void>;
}

/**
 * A second Roster node on the test app's store and key file (its audit integrator off: one node integrates),
 * with its own key cache.
 */
export async function anotherNode(
  t: TestApp,
  options: { clock?: Clock; keyCache?: { ttlMs?: number; versionCheckMs?: number } } = {},
): Promise<Node> {
  const config = loadConfig({
    ROSTER_DATABASE_URL: t.store.url,
    ROSTER_KEY_FILE: keyFilePath(t),
    ROSTER_ADMIN_TOKEN: ADMIN_TOKEN,
    ROSTER_LOG_LEVEL: 'silent',
    ROSTER_RATE_LIMIT_TENANT: '0',
    ROSTER_RATE_LIMIT_GLOBAL: '0',
    ROSTER_AUDIT_INTEGRATOR: 'off',
  });
  const app = await buildApp(config, {
    logger: createLogger('silent'),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.keyCache ? { keyCache: options.keyCache } : {}),
  });
  return {
    app,
    admin: clientFor(app, ADMIN_TOKEN),
    client: (token) => clientFor(app, token),
    close: () => app.close(),
  };
}

/** A clock on real time plus an offset the test moves forward. */
export class ShiftingClock implements Clock {
  #offset = 0;
  now(): Date {
    return new Date(Date.now() + this.#offset);
  }
  advance(ms: number): void {
    this.#offset += ms;
  }
}
