/**
 * `roster audit export | public-key | verify` as an operator runs them: real `node bin/roster.js` processes on
 * the store of an in-process app (same database, same key folder), their exit codes, what goes to stdout and
 * what to stderr, the export's file mode, and a node that refuses to start with an audit key file the store
 * has never signed with.
 */
import { chmodSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSignerKey } from '../../../src/audit/note.js';
import { SYSTEM_ACTOR } from '../../../src/platform/context.js';
import { transact } from '../../../src/platform/db/tx.js';
import { ADMIN_TOKEN, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';
import { assertBuilt, killAllRoster, request, runRoster, startServer } from '../cli/process.js';
import { auditKeyFileOf, makeActivity, sharedEnv, sleep, useScratch } from './fixtures.js';

beforeAll(assertBuilt);
afterAll(killAllRoster);

const UNKNOWN_TENANT = '01890000-0000-7000-8000-000000000000';

interface Checkpoint {
  origin: string;
  size: number;
  root: string;
  note: string;
}

function parseNote(note: string): Checkpoint {
  const [origin = '', size = '', root = ''] = note.split('\n');
  return { origin, size: Number(size), root, note };
}

/** An export file's lines, parsed. */
function readExport(path: string) {
  const text = readFileSync(path, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  const lines = text
    .slice(0, -1)
    .split('\n')
    .map((l) => JSON.parse(l));
  const checkpoint = (l: { type: string; note: string }) => {
    expect(l.type).toBe('checkpoint');
    return parseNote(l.note);
  };
  return {
    head: checkpoint(lines[0]),
    last: checkpoint(lines[lines.length - 1]),
    entries: lines.filter((l) => l.type === 'entry').map((l) => l.entry),
    checkpoints: lines.slice(1).filter((l) => l.type === 'checkpoint').length,
  };
}

describeEachStore('roster audit commands', (kind) => {
  // A long interval: after a tree's first checkpoint, the server signs again only after 10 s.
  const t = useTestApp(kind, { ROSTER_AUDIT_CHECKPOINT_INTERVAL: '10' });
  const scratch = useScratch();
  let keyFile: string;

  const env = (extra: Record<string, string> = {}) => sharedEnv(t().store, extra);
  const roster = (args: string[], extra: Record<string, string> = {}) =>
    runRoster(args, { cwd: scratch(), env: env(extra) });

  beforeAll(async () => {
    const key = await t().admin.get('/api/v1/audit/public-key');
    expect(key.status, key.raw).toBe(200);
    keyFile = join(scratch(), 'log.pub');
    writeFileSync(keyFile, key.raw);
  });

  /** Every entry of a tenant as the API lists it. */
  async function entriesOf(api: Client) {
    const out: { seq: number; leafIndex: number | null }[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 100; i++) {
      const res = await api.get(
        `/api/v1/audit/entries?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(res.status, res.raw).toBe(200);
      out.push(...res.body.items);
      cursor = res.body.nextCursor;
      if (!cursor) return out;
    }
    throw new Error('too many pages');
  }

  describe('audit export', () => {
    it('needs --out (exit 2, a message, no store touched)', async () => {
      const { tenantId } = await t().newTenant();
      const r = await roster(['audit', 'export', '--tenant', tenantId]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe('roster: audit export needs --out <file>\n');
    });

    it('takes --tenant or --platform, not both and not neither (exit 2)', async () => {
      const { tenantId } = await t().newTenant();
      const out = join(scratch(), 'both.jsonl');
      const [both, neither] = await Promise.all([
        roster(['audit', 'export', '--tenant', tenantId, '--platform', '--out', out]),
        roster(['audit', 'export', '--out', out]),
      ]);
      expect(both.code).toBe(2);
      expect(both.stderr).toBe('roster: give --tenant or --platform, not both\n');
      expect(neither.code).toBe(2);
      expect(neither.stderr).toBe('roster: name the log with --tenant <id> (or --platform)\n');
      expect(both.stdout + neither.stdout).toBe('');
      expect(existsSync(out)).toBe(false);
    });

    it('an unknown tenant id exits 2 with a message, writing no file', async () => {
      const out = join(scratch(), 'unknown.jsonl');
      const runs = await Promise.all(
        [UNKNOWN_TENANT, 'no-such-tenant'].map((id) =>
          roster(['audit', 'export', '--tenant', id, '--out', out]),
        ),
      );
      for (const r of runs) {
        expect(r.code, r.stderr).toBe(2);
        expect(r.stderr).toBe('roster: no audit log has that name, or it has no entries yet\n');
        expect(r.stdout).toBe('');
        expect(existsSync(out)).toBe(false);
      }
    });

    it('ends with a checkpoint covering every entry, signing first when the server has not yet', async () => {
      const { tenantId, api } = await t().newTenant();
      // The tree's first checkpoint is signed at once; what follows waits for the 10 s interval.
      for (let i = 0; i < 100 && (await api.get('/api/v1/audit/checkpoints/latest')).status !== 200; i++) {
        await sleep(50);
      }
      await makeActivity(api, 2, { pauseMs: 250 });
      let entries = await entriesOf(api);
      for (let i = 0; i < 50 && entries.some((e) => e.leafIndex === null); i++) {
        await sleep(100);
        entries = await entriesOf(api);
      }
      const before = await api.get('/api/v1/audit/checkpoints/latest');
      const signed = before.status === 200 ? (before.body.treeSize as number) : 0;
      expect(signed, 'the server has not signed the latest entries yet').toBeLessThan(entries.length);
      // And entries written a moment ago, which the server may not even have integrated.
      await transact(t().app.db, (tx) =>
        t().app.services.audit.record(
          tx,
          { actor: SYSTEM_ACTOR, requestId: undefined },
          tenantId,
          [1, 2, 3].map((n) => ({
            action: 'test.event',
            targetType: 'test',
            targetId: `late-${n}`,
            before: null,
            after: { n },
          })),
        ),
      );
      const total = entries.length + 3;

      const out = join(scratch(), `signed-${tenantId}.jsonl`);
      const r = await roster(['audit', 'export', '--tenant', tenantId, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const x = readExport(out);
      expect(x.head.size).toBe(total);
      expect(x.head.origin).toBe(`roster/audit/${tenantId}`);
      expect(x.last).toEqual(x.head);
      expect(x.entries.map((e) => e.index)).toEqual([...Array(total).keys()]);
      const all = await entriesOf(api);
      expect(all).toHaveLength(total);
      expect(x.entries.map((e) => e.seq).sort((a, b) => a - b)).toEqual(
        all.map((e) => e.seq).sort((a, b) => a - b),
      );
      expect(r.stdout).toBe(
        `exported ${total} entries of roster/audit/${tenantId} to ${out}; root ${x.head.root}\n`,
      );

      // The checkpoint the export signed is the log's: the server serves it, and the export verifies.
      const after = await api.get('/api/v1/audit/checkpoints/latest');
      expect(after.status, after.raw).toBe(200);
      expect(after.body).toMatchObject({ treeSize: total, rootHash: x.head.root, note: x.head.note });
      const v = await roster(['audit', 'verify', out, '--public-key', keyFile]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(v.stdout).toBe(
        `OK: ${total} entries of roster/audit/${tenantId}, ${x.checkpoints} checkpoints verified; root ${x.head.root}\n`,
      );
    });

    it('exports the platform log with --platform', async () => {
      const out = join(scratch(), 'platform.jsonl');
      const r = await roster(['audit', 'export', '--platform', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const x = readExport(out);
      expect(x.head.origin).toBe('roster/audit/platform');
      expect(x.entries.length).toBe(x.head.size);
      expect(x.entries.every((e) => e.tenantId === null)).toBe(true);
      const v = await roster(['audit', 'verify', out, '--public-key', keyFile]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(v.stdout).toMatch(/^OK: \d+ entries of roster\/audit\/platform, /);
    });

    it('writes the export with mode 0600', async () => {
      const { tenantId } = await t().newTenant();
      const out = join(scratch(), 'mode.jsonl');
      const r = await roster(['audit', 'export', '--tenant', tenantId, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(statSync(out).mode & 0o777).toBe(0o600);
    });

    it('leaves an export it overwrites with mode 0600 too', async () => {
      const { tenantId } = await t().newTenant();
      const out = join(scratch(), 'overwritten.jsonl');
      writeFileSync(out, 'an older file, readable by everyone\n');
      chmodSync(out, 0o644);
      const r = await roster(['audit', 'export', '--tenant', tenantId, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(readExport(out).head.origin).toBe(`roster/audit/${tenantId}`);
      expect((statSync(out).mode & 0o777).toString(8)).toBe('600');
    });

    it('reports progress on stderr, keeping stdout for the result (export, verify, verify --live)', async () => {
      const { tenantId } = await t().newTenant();
      const n = 2500;
      await transact(t().app.db, async (tx) => {
        for (let from = 0; from < n; from += 500) {
          await t().app.services.audit.record(
            tx,
            { actor: SYSTEM_ACTOR, requestId: undefined },
            tenantId,
            Array.from({ length: 500 }, (_, i) => ({
              action: 'test.bulk',
              targetType: 'test',
              targetId: `bulk-${from + i}`,
              before: null,
              after: { i: from + i },
            })),
          );
        }
      });
      const total = n + 1; // and the tenant's token
      const out = join(scratch(), 'bulk.jsonl');
      const r = await roster(['audit', 'export', '--tenant', tenantId, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        new RegExp(`^exported ${total} entries of roster/audit/${tenantId} to .+; root \\S+\\n$`),
      );
      expect(r.stderr).toContain(`exporting: 30% (1000/${total})\n`);
      expect(r.stderr).toContain(`exporting: 100% (${total}/${total})\n`);

      const v = await roster(['audit', 'verify', out, '--public-key', keyFile]);
      expect(v.code, v.stdout + v.stderr).toBe(0);
      expect(v.stdout).toMatch(new RegExp(`^OK: ${total} entries of roster/audit/${tenantId}, [^\\n]+\\n$`));
      expect(v.stderr).toMatch(/^verifying: /m);

      const live = await roster(['audit', 'verify', '--live', '--tenant', tenantId]);
      expect(live.code, live.stdout + live.stderr).toBe(0);
      expect(live.stdout).toMatch(
        new RegExp(`^OK: tenant ${tenantId}: ${total} entries, \\d+ checkpoints\\n$`),
      );
      expect(live.stderr).toContain(`verifying ${tenantId}: `);
    });
  });

  describe('audit public-key', () => {
    it('prints the key GET /api/v1/audit/public-key serves', async () => {
      const { api } = await t().newTenant();
      const served = await api.get('/api/v1/audit/public-key');
      expect(served.status).toBe(200);
      expect(served.headers['content-type']).toMatch(/^text\/plain/);
      expect(served.raw).toMatch(/^roster\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}\n$/);
      const r = await roster(['audit', 'public-key']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(served.raw);
      expect(r.stderr).toBe('');
    });
  });

  describe('audit verify usage', () => {
    let file: string;

    beforeAll(async () => {
      const { tenantId } = await t().newTenant();
      file = join(scratch(), 'usage.jsonl');
      const r = await roster(['audit', 'export', '--tenant', tenantId, '--out', file]);
      expect(r.code, r.stderr).toBe(0);
    });

    it('needs --public-key (exit 2)', async () => {
      const r = await roster(['audit', 'verify', file]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('roster: audit verify needs --public-key <file>\n');
      expect(r.stdout).toBe('');
    });

    it('needs the export file or --live (exit 2)', async () => {
      const r = await roster(['audit', 'verify', '--public-key', keyFile]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('roster: audit verify needs the export file (or --live)\n');
    });

    it('a missing export file exits 2', async () => {
      const r = await roster([
        'audit',
        'verify',
        join(scratch(), 'no-such-export.jsonl'),
        '--public-key',
        keyFile,
      ]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('roster: the export file does not exist\n');
      expect(r.stdout).toBe('');
    });

    it('a missing or malformed --public-key file exits 2', async () => {
      let r = await roster(['audit', 'verify', file, '--public-key', join(scratch(), 'no-such.pub')]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('roster: the --public-key file cannot be read\n');
      const bad = join(scratch(), 'bad.pub');
      writeFileSync(bad, 'not a key\n');
      r = await roster(['audit', 'verify', file, '--public-key', bad]);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('roster: the --public-key file does not hold a signed-note verifier key\n');
    });

    it('another key than the log key fails the export (exit 1)', async () => {
      const other = join(scratch(), 'other.pub');
      writeFileSync(other, `${generateSignerKey('roster').verifierKey}\n`);
      const r = await roster(['audit', 'verify', file, '--public-key', other]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(
        /^FAILED at line 1: checkpoint rejected: note has no signature by a known key/,
      );
    });
  });

  describe('audit verify --live', () => {
    let a: string;
    let b: string;

    beforeAll(async () => {
      a = (await t().newTenant()).tenantId;
      const tb = await t().newTenant();
      b = tb.tenantId;
      await makeActivity(tb.api, 1);
      for (const tree of [a, b, 'platform']) await t().app.integrator.catchUp(tree);
    });

    const okLine = (tree: string) =>
      new RegExp(
        `^OK: ${tree === 'platform' ? 'platform' : `tenant ${tree}`}: \\d+ entries, \\d+ checkpoints$`,
        'm',
      );

    it('checks every log by default, one line each', async () => {
      const trees = await t()
        .app.db.kysely.selectFrom('audit_trees')
        .select('tree')
        .orderBy('tree')
        .execute();
      const r = await roster(['audit', 'verify', '--live']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const lines = r.stdout.trimEnd().split('\n');
      expect(lines).toHaveLength(trees.length);
      for (const { tree } of trees) expect(r.stdout).toMatch(okLine(tree));
    });

    it('--tenant checks only that log, --platform only the platform log', async () => {
      let r = await roster(['audit', 'verify', '--live', '--tenant', a]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^OK: tenant ${a}: 1 entries, 1 checkpoints\\n$`));
      r = await roster(['audit', 'verify', '--live', '--platform']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^OK: platform: \d+ entries, \d+ checkpoints\n$/);
    });

    it('a tampered log fails --live and --tenant of it, while --tenant of another log passes', async () => {
      const q = t().app.db.kysely;
      const row = await q
        .selectFrom('audit_entries')
        .select(['seq', 'actor', 'leaf_index'])
        .where('tenant_id', '=', b)
        .where('leaf_index', '=', 1)
        .executeTakeFirstOrThrow();
      await q
        .updateTable('audit_entries')
        .set({ actor: 'token:forged' })
        .where('seq', '=', row.seq)
        .execute();
      try {
        const where = `FAILED at entry 1 (seq ${row.seq}): entry 1 (seq ${row.seq}) does not match its leaf hash: it was altered\n  in the log of tenant ${b}\n`;
        const [all, onlyB, onlyA] = await Promise.all([
          roster(['audit', 'verify', '--live']),
          roster(['audit', 'verify', '--live', '--tenant', b]),
          roster(['audit', 'verify', '--live', '--tenant', a]),
        ]);
        expect(all.code).toBe(1);
        expect(all.stdout).toContain(where);
        expect(all.stdout).toMatch(okLine(a));
        expect(all.stdout).toMatch(okLine('platform'));
        expect(onlyB.code).toBe(1);
        expect(onlyB.stdout).toBe(where);
        expect(onlyA.code, onlyA.stdout).toBe(0);
        expect(onlyA.stdout).toMatch(new RegExp(`^OK: tenant ${a}: .+\\n$`));
      } finally {
        await q.updateTable('audit_entries').set({ actor: row.actor }).where('seq', '=', row.seq).execute();
      }
      const r = await roster(['audit', 'verify', '--live', '--tenant', b]);
      expect(r.code, r.stdout).toBe(0);
    });

    it('uses the operator key: --public-key of another key fails every log; the log key passes', async () => {
      const other = join(scratch(), 'other-live.pub');
      writeFileSync(other, `${generateSignerKey('roster').verifierKey}\n`);
      let r = await roster(['audit', 'verify', '--live', '--tenant', a, '--public-key', other]);
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(
        /^FAILED at checkpoint of size 1: checkpoint rejected: note has no signature by a known key/,
      );
      r = await roster(['audit', 'verify', '--live', '--tenant', a, '--public-key', keyFile]);
      expect(r.code, r.stdout).toBe(0);
    });
  });

  describe('the audit key file', () => {
    it('a second node with the same key file starts and serves the same public key', async () => {
      const node = await startServer(['serve'], {
        cwd: scratch(),
        env: env({ ROSTER_PORT: '0', ROSTER_LOG_LEVEL: 'info', ROSTER_ADMIN_TOKEN: ADMIN_TOKEN }),
      });
      try {
        const served = await request(node.baseUrl, 'GET', '/api/v1/audit/public-key', { token: ADMIN_TOKEN });
        const local = await t().admin.get('/api/v1/audit/public-key');
        expect(served.raw).toBe(local.raw);
      } finally {
        node.proc.signal('SIGTERM');
        await node.proc.waitForExit();
      }
    });

    it('a node with a different audit key file refuses to start, naming ROSTER_AUDIT_KEY_FILE', async () => {
      const other = generateSignerKey('roster');
      const path = join(scratch(), 'other-audit.key');
      writeFileSync(path, `${other.signerKey}\n`, { mode: 0o600 });
      const keysBefore = await t().app.db.kysely.selectFrom('audit_signing_keys').selectAll().execute();

      const r = await roster(['serve'], { ROSTER_PORT: '0', ROSTER_AUDIT_KEY_FILE: path });
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stderr).toMatch(/ROSTER_AUDIT_KEY_FILE/);
      expect(r.stderr + r.stdout).not.toContain(other.signerKey.split('+').slice(4).join('+'));
      expect(r.stdout).not.toMatch(/roster listening/);

      // Nor does an export sign with it.
      const { tenantId } = await t().newTenant();
      const e = await roster(['audit', 'export', '--tenant', tenantId, '--out', join(scratch(), 'x.jsonl')], {
        ROSTER_AUDIT_KEY_FILE: path,
      });
      expect(e.code).not.toBe(0);
      expect(e.stderr).toMatch(/ROSTER_AUDIT_KEY_FILE/);

      const keysAfter = await t().app.db.kysely.selectFrom('audit_signing_keys').selectAll().execute();
      expect(keysAfter).toEqual(keysBefore);
    });

    it('a node whose audit key file is missing refuses to start, creating none', async () => {
      expect(existsSync(auditKeyFileOf(t().store))).toBe(true);
      const path = join(scratch(), 'missing', 'audit.key');
      const r = await roster(['serve'], { ROSTER_PORT: '0', ROSTER_AUDIT_KEY_FILE: path });
      expect(r.code, r.stdout + r.stderr).not.toBe(0);
      expect(r.code).not.toBeNull();
      expect(r.stderr).toMatch(/ROSTER_AUDIT_KEY_FILE is missing/);
      expect(existsSync(path)).toBe(false);
    });
  });
});
