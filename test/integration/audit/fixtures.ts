/**
 * Shared set-up of the audit export/verify tests: a tenant log with real activity spread over several signed
 * checkpoints, its export (in-process, the same code `roster audit export` runs), the log's public key, and
 * the environment that points a `roster` child process at the in-process app's store and key files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { exportTree } from '../../../src/audit/export.js';
import { NoteVerifier } from '../../../src/audit/note.js';
import { getTree } from '../../../src/audit/tree-store.js';
import { type ExportLine, exportLines, VerifyFailure, verifyExport } from '../../../src/audit/verify.js';
import type { Client, TestApp } from '../../support/app.js';
import type { TestStore } from '../../support/stores.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Settings of the in-process app: a checkpoint at most every 0.1 s, so spread-out activity gets several. */
export const FAST_CHECKPOINTS = { ROSTER_AUDIT_CHECKPOINT_INTERVAL: '0.1' } as const;

/**
 * The environment of a `roster` child on the in-process app's store: the same database (SQLite file or
 * PostgreSQL schema) and the same key folder, so the child finds the same `audit.key` beside `roster.key`.
 */
export function sharedEnv(store: TestStore, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ROSTER_DATABASE_URL: store.url,
    ROSTER_KEY_FILE: join(store.dir, 'roster.key'),
    ROSTER_LOG_LEVEL: 'silent',
    ...extra,
  };
}

/** The audit key file the in-process app (and a child given `sharedEnv`) signs with. */
export function auditKeyFileOf(store: TestStore): string {
  return join(store.dir, 'audit.key');
}

/** A scratch folder for one test file (exports, key files), removed after it. */
export function useScratch(): () => string {
  let dir: string | undefined;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'roster-audit-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    if (!dir) throw new Error('no scratch dir');
    return dir;
  };
}

function ok(res: { status: number; raw: string }, status: number, what: string): void {
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${res.raw}`);
}

/**
 * Tenant activity in `steps` rounds (a product and a pool, then users, every other one given a seat), each
 * followed by a pause of `pauseMs`, or, with `untilSigned`, by waiting until a signed checkpoint covers every
 * entry so far (so that every round ends in a checkpoint of its own however slow the machine is). Product
 * and pool names carry non-ASCII text, so the export holds multi-byte UTF-8 inside entries too.
 */
export async function makeActivity(
  api: Client,
  steps: number,
  options: { pauseMs?: number; untilSigned?: boolean } = {},
): Promise<void> {
  const settle = async () => {
    if (options.untilSigned) await untilSigned(api);
    else await sleep(options.pauseMs ?? 0);
  };
  const tag = `${process.pid}${Date.now().toString(36)}`;
  const sku = `SKU-${tag}`.toUpperCase();
  ok(await api.post('/api/v1/products', { sku, name: 'Zoë’s Büro — Suite' }), 201, 'product');
  ok(await api.post('/api/v1/pools', { product: sku, name: 'Łódź pool', capacity: 5 }), 201, 'pool');
  await settle();
  for (let i = 0; i < steps; i++) {
    const user = await api.post('/api/v1/users', {
      userName: `user${i}.${tag}@tamper.example`,
      name: { givenName: `Given${i}`, familyName: `Family${i}` },
    });
    ok(user, 201, 'user');
    if (i % 2 === 0)
      ok(await api.post(`/api/v1/users/${user.body.id}/licenses`, { product: sku }), 201, 'seat');
    await settle();
  }
}

/** Waits until the tenant's latest signed checkpoint covers all of its entries. */
export async function untilSigned(api: Client, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = await api.get('/api/v1/audit/entries?limit=200');
    ok(entries, 200, 'entries');
    if (entries.body.nextCursor) throw new Error('untilSigned: more entries than one page');
    const latest = await api.get('/api/v1/audit/checkpoints/latest');
    if (latest.status === 200 && latest.body.treeSize === entries.body.items.length) return;
    if (Date.now() > deadline) throw new Error('no checkpoint covered the entries in time');
    await sleep(50);
  }
}

export interface BuiltExport {
  readonly tenantId: string;
  readonly api: Client;
  /** The export as `roster audit export` writes it. */
  readonly bytes: Buffer;
  /** Its lines, without the newlines. */
  readonly lines: string[];
  readonly parsed: ExportLine[];
  readonly publicKey: string;
  readonly verifiers: NoteVerifier[];
}

/** A tenant with activity over several checkpoints, caught up, exported in-process, with its public key. */
export async function buildExport(t: TestApp, steps: number): Promise<BuiltExport> {
  const { tenantId, api } = await t.newTenant();
  await makeActivity(api, steps, { untilSigned: true });
  const bytes = await exportOf(t, tenantId);
  const key = await api.get('/api/v1/audit/public-key');
  ok(key, 200, 'public key');
  const publicKey = key.raw.trim();
  const text = bytes.toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  const lines = text.slice(0, -1).split('\n');
  return {
    tenantId,
    api,
    bytes,
    lines,
    parsed: lines.map((l) => JSON.parse(l) as ExportLine),
    publicKey,
    verifiers: [NoteVerifier.fromVerifierKey(publicKey)],
  };
}

/** The export of a tenant's tree after catching up (what `roster audit export --tenant` writes). */
export async function exportOf(t: TestApp, tenantId: string): Promise<Buffer> {
  const head = await t.app.integrator.catchUp(tenantId);
  const tree = await getTree(t.app.db.kysely, tenantId);
  if (!head || !tree) throw new Error('the tenant has no audit log');
  const out: string[] = [];
  for await (const line of exportTree(t.app.db.kysely, tree, head)) out.push(line);
  return Buffer.from(out.join(''), 'utf8');
}

/** Verifies export bytes as the CLI does (one chunk); the failure, or undefined when it verifies. */
export async function failureOf(
  bytes: Uint8Array | string,
  verifiers: readonly NoteVerifier[],
): Promise<VerifyFailure | undefined> {
  const buf = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  try {
    await verifyExport(exportLines([buf]), verifiers);
    return undefined;
  } catch (err) {
    if (err instanceof VerifyFailure) return err;
    throw err;
  }
}

/** Joins lines back into export bytes (each ending in a newline). */
export function joinLines(lines: readonly string[]): string {
  return lines.map((l) => `${l}\n`).join('');
}
