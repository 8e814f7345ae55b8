/**
 * Tampering with the audit log is caught, and the place is named.
 *
 * Offline: an export of a tenant's log (real activity spread over several signed checkpoints) is altered in
 * every way the acceptance criterion lists — any one byte (every byte of the export, several replacement
 * values), a deleted, swapped or duplicated line, a truncated tail, a dropped final checkpoint, a checkpoint
 * signed by another key, an older checkpoint put first — and `verifyExport` (what `roster audit verify FILE`
 * runs) must fail naming the line each time; a few cases go through the real `roster` process too.
 *
 * Live: the same tampering done in the database (entry rows, leaf positions, stored node hashes, checkpoint
 * notes, a consistent rewrite of every unsigned hash) is caught by `verifyLive` and by
 * `roster audit verify --live`, which name the entry (or the checkpoint that no longer matches).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { verifyLive } from '../../../src/audit/export.js';
import { Frontier, leafHash } from '../../../src/audit/merkle.js';
import { leafBytes, leafOf } from '../../../src/audit/model.js';
import { generateSignerKey, NoteSigner } from '../../../src/audit/note.js';
import { keyHashHex } from '../../../src/audit/signing-key.js';
import { VerifyFailure } from '../../../src/audit/verify.js';
import type { Db } from '../../../src/platform/db/index.js';
import { useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';
import { assertBuilt, killAllRoster, runRoster } from '../cli/process.js';
import {
  type BuiltExport,
  buildExport,
  FAST_CHECKPOINTS,
  failureOf,
  joinLines,
  sharedEnv,
  useScratch,
} from './fixtures.js';

beforeAll(assertBuilt);
afterAll(killAllRoster);

/** What an export line is, by its 1-based line number. */
type LineInfo = { kind: 'checkpoint'; size: number; note: string } | { kind: 'entry'; index: number };

function describeLines(x: BuiltExport): LineInfo[] {
  return x.parsed.map((l) =>
    l.type === 'checkpoint'
      ? { kind: 'checkpoint', size: Number(l.note.split('\n')[1]), note: l.note }
      : { kind: 'entry', index: l.entry.index },
  );
}

/** The note text (without its signature block) of a signed note. */
function noteText(note: string): string {
  return note.slice(0, note.lastIndexOf('\n\n') + 1);
}

/** The same checkpoint, signed by a valid key that is not the log's (same key name, so only the key differs). */
function resignedByAnotherKey(note: string): string {
  return NoteSigner.fromSignerKey(generateSignerKey('roster').signerKey).sign(noteText(note));
}

function checkpointLine(note: string): string {
  return JSON.stringify({ note, type: 'checkpoint' });
}

describeEachStore('audit log tampering', (kind) => {
  const t = useTestApp(kind, FAST_CHECKPOINTS);
  const scratch = useScratch();
  let x: BuiltExport;
  let info: LineInfo[];
  /** The tree size the export covers. */
  let size: number;
  /** 1-based line numbers of the entry lines and of the checkpoint lines after line 1. */
  let entryLines: number[];
  let checkpointLines: number[];
  /** For every byte offset of the export, the 1-based line holding it (a newline belongs to its line). */
  let lineAt: number[];

  beforeAll(async () => {
    x = await buildExport(t(), 3);
    info = describeLines(x);
    const head = info[0];
    if (head?.kind !== 'checkpoint') throw new Error('the export does not start with a checkpoint');
    size = head.size;
    entryLines = [];
    checkpointLines = [];
    info.forEach((l, i) => {
      if (l.kind === 'entry') entryLines.push(i + 1);
      else if (i > 0) checkpointLines.push(i + 1);
    });
    lineAt = [];
    let line = 1;
    for (const b of x.bytes) {
      lineAt.push(line);
      if (b === 0x0a) line++;
    }
  });

  it('the log under test is small, real and has several intermediate checkpoints', () => {
    expect(x.bytes.length).toBeLessThan(12_000);
    expect(entryLines.length).toBe(size);
    expect(size).toBeGreaterThanOrEqual(7);
    // Intermediate checkpoints (beyond the head, which also ends the export).
    expect(checkpointLines.length).toBeGreaterThanOrEqual(4);
    expect(info[info.length - 1]).toEqual(info[0]);
    // Multi-byte UTF-8 inside entries and inside every checkpoint (the signature line's em dash).
    expect(x.bytes.length).toBeGreaterThan(x.lines.join('\n').length + 1);
    const multiByte = (l: string) => Buffer.byteLength(l, 'utf8') > l.length;
    expect(x.lines.filter((l, i) => multiByte(l) && info[i]?.kind === 'entry').length).toBeGreaterThan(0);
    expect(x.lines.filter((l, i) => !multiByte(l) && info[i]?.kind === 'checkpoint')).toEqual([]);
  });

  describe('offline: the export', () => {
    async function expectFailure(bytes: Buffer | string, where: string, message?: RegExp): Promise<void> {
      const f = await failureOf(bytes, x.verifiers);
      expect(f, `expected a failure at ${where}`).toBeInstanceOf(VerifyFailure);
      expect(f?.where, f?.message).toBe(where);
      if (message) expect(f?.message).toMatch(message);
    }

    it('the untouched export verifies: every entry and checkpoint, up to the signed root', async () => {
      expect(await failureOf(x.bytes, x.verifiers)).toBeUndefined();
    });

    /**
     * Changes every byte, one at a time, to `replace(byte)`, and collects every change that does not fail at
     * the line holding the byte. That line is the honest answer in every case: the line is no longer the
     * canonical text the verifier requires, and each of its values is hashed (an entry: its leaf hash and the
     * checkpoints' roots) or signed (a checkpoint note); a changed newline merges the line with the next one
     * (no longer one JSON value) or, for the last line, leaves it unterminated; a newline put inside a line
     * cuts it short (a prefix of a JSON object is not JSON); a byte that breaks UTF-8 breaks that line.
     * Verification stops at the first failing line, and all lines before it are untouched.
     */
    async function everyByte(replace: (byte: number) => number): Promise<{ tried: number; wrong: string[] }> {
      const wrong: string[] = [];
      let tried = 0;
      for (let i = 0; i < x.bytes.length; i++) {
        const original = x.bytes[i] as number;
        const value = replace(original);
        if (value === original) continue;
        const bytes = Buffer.from(x.bytes);
        bytes[i] = value;
        tried++;
        const f = await failureOf(bytes, x.verifiers);
        const where = `line ${lineAt[i]}`;
        if (f?.where !== where) {
          wrong.push(
            `byte ${i} (line ${lineAt[i]}) 0x${original.toString(16)} -> 0x${value.toString(16)}: ${f ? `failed at ${f.message}` : 'VERIFIED'}`,
          );
        }
      }
      return { tried, wrong };
    }

    it('changing any one byte (xor 0x01) fails, naming the line that holds it', async () => {
      const { tried, wrong } = await everyByte((b) => b ^ 0x01);
      expect(tried).toBe(x.bytes.length);
      expect(wrong.slice(0, 10), `${wrong.length} of ${tried} changes`).toEqual([]);
    });

    it('a newline in place of any one byte (a space in place of a newline) fails at the line holding it', async () => {
      const { tried, wrong } = await everyByte((b) => (b === 0x0a ? 0x20 : 0x0a));
      expect(tried).toBe(x.bytes.length);
      expect(wrong.slice(0, 10), `${wrong.length} of ${tried} changes`).toEqual([]);
    });

    it('a byte that is not UTF-8 fails at the line holding it, whichever line that is', async () => {
      const wrong: string[] = [];
      let start = 0;
      for (const [n, line] of x.lines.entries()) {
        const len = Buffer.byteLength(line, 'utf8');
        // The first byte, one in the middle, the last one, and the first byte of every multi-byte character.
        const offsets = new Set([start, start + Math.floor(len / 2), start + len - 1]);
        for (let i = start; i < start + len; i++) if ((x.bytes[i] as number) >= 0xc0) offsets.add(i);
        for (const i of offsets) {
          for (const value of [0xff, 0x20]) {
            const bytes = Buffer.from(x.bytes);
            if (value === 0x20 && (bytes[i] as number) < 0x80) continue;
            bytes[i] = value;
            const f = await failureOf(bytes, x.verifiers);
            if (f?.where !== `line ${n + 1}`)
              wrong.push(
                `byte ${i} of line ${n + 1} -> 0x${value.toString(16)}: ${f?.message ?? 'VERIFIED'}`,
              );
          }
        }
        start += len + 1;
      }
      expect(wrong.slice(0, 10), `${wrong.length} changes named the wrong place`).toEqual([]);
    });

    it('deleting any one entry line fails at its place, naming the missing entry', async () => {
      for (const p of entryLines) {
        const e = info[p - 1] as { index: number };
        const lines = x.lines.filter((_, i) => i !== p - 1);
        // The line now at p is the next entry (index + 1) or the checkpoint the deleted entry completed.
        await expectFailure(
          joinLines(lines),
          `line ${p}`,
          new RegExp(`where ${e.index} was expected|placed after ${e.index} entries`),
        );
      }
    });

    it('swapping any two entry lines fails at the first of them', async () => {
      for (const [a, p] of entryLines.entries()) {
        for (const q of entryLines.slice(a + 1)) {
          const lines = [...x.lines];
          [lines[p - 1], lines[q - 1]] = [lines[q - 1] as string, lines[p - 1] as string];
          const first = info[p - 1] as { index: number };
          const second = info[q - 1] as { index: number };
          await expectFailure(
            joinLines(lines),
            `line ${p}`,
            new RegExp(`index ${second.index} where ${first.index} was expected`),
          );
        }
      }
    });

    it('duplicating an entry line (or the first line) fails at the copy', async () => {
      for (const p of [1, ...entryLines]) {
        const lines = [...x.lines];
        lines.splice(p, 0, x.lines[p - 1] as string);
        await expectFailure(joinLines(lines), `line ${p + 1}`);
      }
    });

    it('duplicating a checkpoint line fails at the copy', async () => {
      // No export the log writes repeats a checkpoint: the copy is a line no server produced.
      const wrong: string[] = [];
      for (const p of checkpointLines) {
        const lines = [...x.lines];
        lines.splice(p, 0, x.lines[p - 1] as string);
        const f = await failureOf(joinLines(lines), x.verifiers);
        if (f?.where !== `line ${p + 1}`) wrong.push(`line ${p} repeated: ${f?.message ?? 'VERIFIED'}`);
      }
      expect(wrong).toEqual([]);
    });

    it('truncating the tail at any line boundary fails at the end of the export, naming the first missing entry', async () => {
      await expectFailure('', 'line 1', /empty/);
      for (let keep = 1; keep < x.lines.length; keep++) {
        const present = entryLines.filter((p) => p <= keep).length;
        await expectFailure(
          joinLines(x.lines.slice(0, keep)),
          'end of export',
          present < size
            ? new RegExp(
                `covers ${size} entries, the export holds ${present}; entry ${present} is the first missing`,
              )
            : /does not end with its covering checkpoint/,
        );
      }
    });

    it('truncating the tail inside any line fails at that line', async () => {
      let start = 0;
      for (const [n, line] of x.lines.entries()) {
        const len = Buffer.byteLength(line, 'utf8');
        // Cut just before the line's newline, after its first byte, mid-line, and before its last byte.
        for (const cut of [start + len, start + 1, start + Math.floor(len / 2), start + len - 1]) {
          await expectFailure(x.bytes.subarray(0, cut), `line ${n + 1}`, /incomplete|UTF-8/);
        }
        start += len + 1;
      }
    });

    it('dropping the final checkpoint line fails at the end of the export', async () => {
      await expectFailure(
        joinLines(x.lines.slice(0, -1)),
        'end of export',
        /does not end with its covering checkpoint/,
      );
    });

    it('a checkpoint signed by another key (a valid signature, not the log key) fails at its line', async () => {
      for (const p of [1, ...checkpointLines]) {
        const c = info[p - 1] as { note: string };
        const forged = resignedByAnotherKey(c.note);
        expect(forged).not.toBe(c.note);
        const lines = [...x.lines];
        lines[p - 1] = checkpointLine(forged);
        await expectFailure(joinLines(lines), `line ${p}`, /no signature by a known key/);
      }
    });

    it('an older checkpoint put first fails at the first entry beyond it', async () => {
      const older = checkpointLines
        .map((p) => info[p - 1] as { size: number; note: string })
        .filter((c) => c.size < size);
      expect(older.length).toBeGreaterThanOrEqual(3);
      for (const c of older) {
        const lines = [...x.lines];
        lines[0] = checkpointLine(c.note);
        const beyond = entryLines.find((p) => (info[p - 1] as { index: number }).index === c.size);
        await expectFailure(
          joinLines(lines),
          `line ${beyond}`,
          new RegExp(`beyond the ${c.size} the export`),
        );
      }
    });

    it('an honest older export (the prefix up to an older checkpoint, which opens and ends it) verifies', async () => {
      // The control for the cases above: a consistent shorter history is not rejected.
      for (const p of checkpointLines) {
        const lines = [x.lines[p - 1] as string, ...x.lines.slice(1, p)];
        expect(await failureOf(joinLines(lines), x.verifiers)).toBeUndefined();
      }
    });

    describe('through the roster command', () => {
      let file: string;
      let keyFile: string;

      beforeAll(async () => {
        file = join(scratch(), 'export.jsonl');
        keyFile = join(scratch(), 'log.pub');
        writeFileSync(keyFile, `${x.publicKey}\n`);
        const r = await runRoster(['audit', 'export', '--tenant', x.tenantId, '--out', file], {
          cwd: scratch(),
          env: sharedEnv(t().store),
        });
        expect(r.code, r.stderr).toBe(0);
      });

      async function verifyFile(bytes: Buffer | string) {
        const path = join(scratch(), 'altered.jsonl');
        writeFileSync(path, bytes);
        return runRoster(['audit', 'verify', path, '--public-key', keyFile], {
          cwd: scratch(),
          env: sharedEnv(t().store),
        });
      }

      it('roster audit export writes the same export, and roster audit verify passes it (exit 0)', async () => {
        expect(readFileSync(file).equals(x.bytes)).toBe(true);
        const r = await runRoster(['audit', 'verify', file, '--public-key', keyFile], {
          cwd: scratch(),
          env: sharedEnv(t().store),
        });
        expect(r.code, r.stdout + r.stderr).toBe(0);
        const head = x.parsed[0] as { note: string };
        const root = head.note.split('\n')[2];
        expect(r.stdout).toBe(
          `OK: ${size} entries of roster/audit/${x.tenantId}, ${checkpointLines.length} checkpoints verified; root ${root}\n`,
        );
      });

      it('a changed byte in an entry or a checkpoint exits 1 with FAILED at its line', async () => {
        const entry = entryLines[2] as number;
        const cp = checkpointLines[1] as number;
        for (const p of [entry, cp, x.lines.length]) {
          const offset = lineAt.indexOf(p) + 40;
          const bytes = Buffer.from(x.bytes);
          bytes[offset] = (bytes[offset] as number) ^ 0x01;
          const r = await verifyFile(bytes);
          expect(r.code, r.stdout + r.stderr).toBe(1);
          expect(r.stdout).toMatch(new RegExp(`^FAILED at line ${p}: .+\\n$`));
        }
      });

      it('a byte that breaks UTF-8 in a later line exits 1 with FAILED at that line', async () => {
        const p = entryLines.find((n) => (x.lines[n - 1] as string).includes('Zoë')) as number;
        const bytes = Buffer.from(x.bytes);
        const offset = bytes.indexOf(0xc3, lineAt.indexOf(p));
        expect(lineAt[offset]).toBe(p);
        bytes[offset] = 0xff;
        const r = await verifyFile(bytes);
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect(r.stdout).toMatch(new RegExp(`^FAILED at line ${p}: `));
      });

      it('a deleted entry, a truncated tail and a forged checkpoint exit 1 naming the place', async () => {
        const p = entryLines[3] as number;
        let r = await verifyFile(joinLines(x.lines.filter((_, i) => i !== p - 1)));
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(new RegExp(`^FAILED at line ${p}: `));

        r = await verifyFile(joinLines(x.lines.slice(0, -1)));
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(/^FAILED at end of export: /);

        const lines = [...x.lines];
        const cp = checkpointLines[0] as number;
        lines[cp - 1] = checkpointLine(resignedByAnotherKey((info[cp - 1] as { note: string }).note));
        r = await verifyFile(joinLines(lines));
        expect(r.code).toBe(1);
        expect(r.stdout).toMatch(new RegExp(`^FAILED at line ${cp}: checkpoint rejected`));
      });
    });
  });

  describe('live: the store itself', () => {
    let db: Db;
    /** The tenant's audit rows as they were, restored after every case. */
    let saved: {
      entries: Record<string, unknown>[];
      nodes: Record<string, unknown>[];
      checkpoints: Record<string, unknown>[];
      tree: Record<string, unknown>;
      keys: Record<string, unknown>[];
    };
    /** Entry rows by leaf index. */
    let rows: { seq: number; leaf_index: number; actor: string; after: string | null; at: string }[];
    let sizes: number[];

    const tenantId = () => x.tenantId;

    beforeAll(async () => {
      db = t().app.db;
      const q = db.kysely;
      saved = {
        entries: await q
          .selectFrom('audit_entries')
          .selectAll()
          .where('tenant_id', '=', tenantId())
          .execute(),
        nodes: await q.selectFrom('audit_nodes').selectAll().where('tree', '=', tenantId()).execute(),
        checkpoints: await q
          .selectFrom('audit_checkpoints')
          .selectAll()
          .where('tree', '=', tenantId())
          .execute(),
        tree: await q
          .selectFrom('audit_trees')
          .selectAll()
          .where('tree', '=', tenantId())
          .executeTakeFirstOrThrow(),
        keys: await q.selectFrom('audit_signing_keys').selectAll().execute(),
      };
      rows = saved.entries
        .map((r) => ({
          seq: Number(r.seq),
          leaf_index: Number(r.leaf_index),
          actor: r.actor as string,
          after: r.after as string | null,
          at: r.at as string,
        }))
        .sort((a, b) => a.leaf_index - b.leaf_index);
      expect(rows.map((r) => r.leaf_index)).toEqual([...Array(size).keys()]);
      sizes = saved.checkpoints.map((c) => Number(c.size)).sort((a, b) => a - b);
      expect(sizes[sizes.length - 1]).toBe(size);
      expect(sizes.length).toBeGreaterThanOrEqual(4);
    });

    /** Puts every audit row of the tenant back as it was (and drops any signing key added since). */
    async function restore(): Promise<void> {
      const q = db.kysely;
      await q.deleteFrom('audit_entries').where('tenant_id', '=', tenantId()).execute();
      const overriding = db.dialect === 'postgres' ? sql`overriding system value` : sql``;
      for (const r of saved.entries) {
        await sql`insert into audit_entries
          (seq, tenant_id, at, actor, action, target_type, target_id, before, after, request_id, leaf_index)
          ${overriding} values (${r.seq}, ${r.tenant_id}, ${r.at}, ${r.actor}, ${r.action}, ${r.target_type},
          ${r.target_id}, ${r.before}, ${r.after}, ${r.request_id}, ${r.leaf_index})`.execute(q);
      }
      await q.deleteFrom('audit_nodes').where('tree', '=', tenantId()).execute();
      for (const n of saved.nodes)
        await q
          .insertInto('audit_nodes')
          .values(n as never)
          .execute();
      await q.deleteFrom('audit_checkpoints').where('tree', '=', tenantId()).execute();
      for (const c of saved.checkpoints)
        await q
          .insertInto('audit_checkpoints')
          .values(c as never)
          .execute();
      await q
        .updateTable('audit_trees')
        .set(saved.tree as never)
        .where('tree', '=', tenantId())
        .execute();
      const keys = saved.keys.map((k) => k.key_hash as string);
      await q.deleteFrom('audit_signing_keys').where('key_hash', 'not in', keys).execute();
    }

    afterEach(async () => {
      await restore();
      // The restore itself is checked, so that no case leans on the one before.
      await expect(verifyLive(db.kysely, tenantId(), x.verifiers)).resolves.toMatchObject({ entries: size });
    });

    const entryWhere = (index: number) => `entry ${index} (seq ${rows[index]?.seq})`;

    /** Both the in-process check and `roster audit verify --live` fail at `where`, and only the tenant's log. */
    async function expectCaught(where: string | RegExp, message: RegExp): Promise<void> {
      let failure: unknown;
      try {
        await verifyLive(db.kysely, tenantId(), x.verifiers);
      } catch (err) {
        failure = err;
      }
      expect(failure, `verifyLive should fail at ${where}`).toBeInstanceOf(VerifyFailure);
      if (typeof where === 'string')
        expect((failure as VerifyFailure).where, (failure as Error).message).toBe(where);
      else expect((failure as VerifyFailure).where, (failure as Error).message).toMatch(where);
      expect((failure as Error).message).toMatch(message);

      const r = await runRoster(['audit', 'verify', '--live'], {
        cwd: scratch(),
        env: sharedEnv(t().store),
      });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const cli = r.stdout.match(/^FAILED at (.*)\n {2}in the log of tenant (.*)$/m);
      expect(cli?.[2], r.stdout).toBe(tenantId());
      if (typeof where === 'string') expect(cli?.[1]).toBe((failure as Error).message);
      else expect(cli?.[1]).toMatch(new RegExp(`^${where.source.replace(/^\^|\$$/g, '')}: `));
      // The other logs are still checked, and pass.
      expect(r.stdout).toMatch(/^OK: platform: \d+ entries, \d+ checkpoints$/m);
      expect(r.stdout.match(/^FAILED/gm)).toHaveLength(1);
    }

    /** The checkpoint that covers entry `index` first, and the one before it. */
    function signedAround(index: number): { next: number; previous: number } {
      const next = sizes.find((s) => s > index) as number;
      const previous = [...sizes].reverse().find((s) => s <= index) ?? 0;
      return { next, previous };
    }

    it('an untouched store passes: verifyLive, and roster audit verify --live exits 0', async () => {
      await expect(verifyLive(db.kysely, tenantId(), x.verifiers)).resolves.toEqual({
        tree: tenantId(),
        entries: size,
        checkpoints: sizes.length,
      });
      const r = await runRoster(['audit', 'verify', '--live'], { cwd: scratch(), env: sharedEnv(t().store) });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain(`OK: tenant ${tenantId()}: ${size} entries, ${sizes.length} checkpoints\n`);
      expect(r.stdout).not.toContain('FAILED');
    });

    it.each([
      { column: 'actor', value: () => 'token:someone-else' },
      { column: 'after', value: (after: string | null) => (after ?? '{}').replace('Zoë', 'Zoe') },
      { column: 'at', value: () => '2020-01-01T00:00:00.000Z' },
      { column: 'action', value: () => 'product.deleted' },
    ])("an UPDATE of one entry's $column names that entry", async ({ column, value }) => {
      // The product's entry: its `after` holds non-ASCII text.
      const k = rows.findIndex((r) => r.after?.includes('Zoë'));
      expect(k).toBeGreaterThan(0);
      const row = saved.entries.find((r) => Number(r.leaf_index) === k) as Record<string, unknown>;
      const changed = value(row[column] as string | null);
      expect(changed).not.toBe(row[column]);
      await db.kysely
        .updateTable('audit_entries')
        .set({ [column]: changed })
        .where('seq', '=', rows[k]?.seq as number)
        .execute();
      await expectCaught(entryWhere(k), /does not match its leaf hash: it was altered/);
    });

    it('a DELETEd entry row is named as the missing position', async () => {
      const k = 3;
      await db.kysely
        .deleteFrom('audit_entries')
        .where('seq', '=', rows[k]?.seq as number)
        .execute();
      await expectCaught(entryWhere(k + 1), new RegExp(`has index ${k + 1} where ${k} was expected`));
    });

    it('a DELETEd last entry row is caught at the checkpoint that covered it', async () => {
      await db.kysely
        .deleteFrom('audit_entries')
        .where('seq', '=', rows[size - 1]?.seq as number)
        .execute();
      await expectCaught(`checkpoint of size ${size}`, new RegExp(`placed after ${size - 1} entries`));
    });

    it('two entry rows swapping their positions (leaf_index) are caught at the first', async () => {
      const [i, j] = [2, 5];
      await db.kysely
        .updateTable('audit_entries')
        .set({ leaf_index: j })
        .where('seq', '=', rows[i]?.seq as number)
        .execute();
      await db.kysely
        .updateTable('audit_entries')
        .set({ leaf_index: i })
        .where('seq', '=', rows[j]?.seq as number)
        .execute();
      // Position i now holds entry j's row: named by position and by the row's seq.
      await expectCaught(`entry ${i} (seq ${rows[j]?.seq})`, /does not match its leaf hash/);
    });

    it('a forged entry row at a taken position is caught at that position', async () => {
      const k = 4;
      const row = saved.entries.find((r) => Number(r.leaf_index) === k) as Record<string, unknown>;
      await db.kysely
        .insertInto('audit_entries')
        .values({
          tenant_id: tenantId(),
          at: row.at as string,
          actor: 'token:forged',
          action: row.action as string,
          target_type: row.target_type as string,
          target_id: row.target_id as string | null,
          before: row.before as string | null,
          after: row.after as string | null,
          request_id: null,
          leaf_index: k,
        })
        .execute();
      // Either copy may come first at position k: the forged one fails its leaf hash, or the genuine one is
      // followed by a second entry at k.
      await expectCaught(
        new RegExp(`^entry ${k} \\(seq \\d+\\)$`),
        new RegExp(`does not match its leaf hash|has index ${k} where ${k + 1} was expected`),
      );
    });

    it('a changed stored leaf hash (audit_nodes level 0) names its entry', async () => {
      const k = 2;
      await db.kysely
        .updateTable('audit_nodes')
        .set({ hash: Buffer.alloc(32, 7) })
        .where('tree', '=', tenantId())
        .where('level', '=', 0)
        .where('idx', '=', k)
        .execute();
      await expectCaught(entryWhere(k), /does not match its leaf hash/);
    });

    it('a changed stored inner node (audit_nodes level 1) is named', async () => {
      await db.kysely
        .updateTable('audit_nodes')
        .set({ hash: Buffer.alloc(32, 9) })
        .where('tree', '=', tenantId())
        .where('level', '=', 1)
        .where('idx', '=', 1)
        .execute();
      await expectCaught(`tree ${tenantId()}`, /stored node 1\/1 differs from the entries it covers/);
    });

    it('a changed tree head (audit_trees.root_hash) is caught', async () => {
      await db.kysely
        .updateTable('audit_trees')
        .set({ root_hash: Buffer.alloc(32, 3) })
        .where('tree', '=', tenantId())
        .execute();
      await expectCaught(`tree ${tenantId()}`, /stored tree head does not match/);
    });

    describe('checkpoint notes', () => {
      /** A checkpoint in the middle of the log. */
      const middle = () => sizes[1] as number;
      const noteOf = (s: number) => saved.checkpoints.find((c) => Number(c.size) === s)?.note as string;
      const setNote = (s: number, note: string) =>
        db.kysely
          .updateTable('audit_checkpoints')
          .set({ note })
          .where('tree', '=', tenantId())
          .where('size', '=', s)
          .execute();

      it('a changed signature is caught at that checkpoint', async () => {
        const note = noteOf(middle());
        const sigAt = note.lastIndexOf(' ') + 20;
        const c = note[sigAt] === 'A' ? 'B' : 'A';
        await setNote(middle(), `${note.slice(0, sigAt)}${c}${note.slice(sigAt + 1)}`);
        await expectCaught(`checkpoint of size ${middle()}`, /checkpoint rejected: invalid signature/);
      });

      it('a changed root (note and column) under the old signature is caught at that checkpoint', async () => {
        const note = noteOf(middle());
        const lines = note.split('\n');
        const otherRoot = noteOf(size).split('\n')[2] as string;
        lines[2] = otherRoot;
        await setNote(middle(), lines.join('\n'));
        await db.kysely
          .updateTable('audit_checkpoints')
          .set({ root_hash: Buffer.from(otherRoot, 'base64') })
          .where('tree', '=', tenantId())
          .where('size', '=', middle())
          .execute();
        await expectCaught(`checkpoint of size ${middle()}`, /checkpoint rejected: invalid signature/);
      });

      it('a checkpoint re-signed by another key is caught, even with that key recorded in the store', async () => {
        const other = generateSignerKey('roster');
        const signer = NoteSigner.fromSignerKey(other.signerKey);
        await setNote(middle(), signer.sign(noteText(noteOf(middle()))));
        // Whoever can write the store can add their key to it: --live never takes keys from the store.
        await db.kysely
          .insertInto('audit_signing_keys')
          .values({
            key_hash: keyHashHex(signer.keyHash),
            verifier_key: other.verifierKey,
            created_at: new Date().toISOString(),
          })
          .execute();
        await expectCaught(`checkpoint of size ${middle()}`, /no signature by a known key/);
      });
    });

    it('an entry altered together with its stored leaf hash is caught by the signed checkpoint covering it', async () => {
      const k = 3;
      const row = saved.entries.find((r) => Number(r.leaf_index) === k) as Record<string, unknown>;
      const forged = { ...row, actor: 'token:forged' } as Parameters<typeof leafOf>[0];
      await db.kysely
        .updateTable('audit_entries')
        .set({ actor: 'token:forged' })
        .where('seq', '=', rows[k]?.seq as number)
        .execute();
      await db.kysely
        .updateTable('audit_nodes')
        .set({ hash: Buffer.from(leafHash(leafBytes(leafOf(forged, k)))) })
        .where('tree', '=', tenantId())
        .where('level', '=', 0)
        .where('idx', '=', k)
        .execute();
      const { next, previous } = signedAround(k);
      await expectCaught(
        `checkpoint of size ${next}`,
        new RegExp(`one of entries ${previous}\\.\\.${next - 1} was altered`),
      );
    });

    it('an entry altered with every unsigned hash rewritten to match (nodes, tree head) is still caught by the signature', async () => {
      const k = 5;
      await db.kysely
        .updateTable('audit_entries')
        .set({ actor: 'token:forged' })
        .where('seq', '=', rows[k]?.seq as number)
        .execute();
      const current = await db.kysely
        .selectFrom('audit_entries')
        .selectAll()
        .where('tenant_id', '=', tenantId())
        .orderBy('leaf_index')
        .execute();
      const frontier = Frontier.empty();
      const nodes = current.flatMap((r) =>
        frontier.append(leafHash(leafBytes(leafOf(r, Number(r.leaf_index))))),
      );
      await db.kysely.deleteFrom('audit_nodes').where('tree', '=', tenantId()).execute();
      for (const n of nodes) {
        await db.kysely
          .insertInto('audit_nodes')
          .values({ tree: tenantId(), level: n.level, idx: n.index, hash: Buffer.from(n.hash) })
          .execute();
      }
      await db.kysely
        .updateTable('audit_trees')
        .set({ root_hash: Buffer.from(frontier.root()) })
        .where('tree', '=', tenantId())
        .execute();
      const { next, previous } = signedAround(k);
      await expectCaught(
        `checkpoint of size ${next}`,
        new RegExp(`one of entries ${previous}\\.\\.${next - 1} was altered`),
      );
    });
  });
});
