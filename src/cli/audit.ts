import {
  createReadStream,
  createWriteStream,
  fchmodSync,
  mkdirSync,
  openSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { exportTree, verifyLive } from '../audit/export.js';
import { Integrator, originOf } from '../audit/integrator.js';
import { PLATFORM_TREE, treeOf } from '../audit/model.js';
import { NoteSigner, NoteVerifier } from '../audit/note.js';
import { computeReport, parsePeriod } from '../audit/report.js';
import { renderCsv, renderPdf } from '../audit/report-render.js';
import { loadLogKeys } from '../audit/signing-key.js';
import { getTree, listTrees } from '../audit/tree-store.js';
import { exportLines, VerifyFailure, verifyExport } from '../audit/verify.js';
import { findTenant } from '../identity/service.js';
import { systemClock } from '../platform/clock.js';
import type { Config } from '../platform/config.js';
import { type Db, openDatabase } from '../platform/db/index.js';
import { migrateToLatest } from '../platform/db/migrations.js';
import { RosterError } from '../platform/errors.js';
import { Progress } from './progress.js';

export interface AuditArgs {
  readonly tenant?: string;
  readonly platform?: boolean;
  readonly out?: string;
  readonly 'public-key'?: string;
  readonly live?: boolean;
  readonly period?: string;
  readonly format?: string;
}

/** A usage error: exit code 2. */
export class UsageError extends Error {}

async function withDb<T>(config: Config, fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openDatabase(config.databaseUrl);
  try {
    await migrateToLatest(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

/** The tenant id named by --tenant, or null for --platform. */
function scopeOf(args: AuditArgs): string | null {
  if (args.platform && args.tenant) throw new UsageError('give --tenant or --platform, not both');
  if (args.platform) return null;
  if (!args.tenant) throw new UsageError('name the log with --tenant <id> (or --platform)');
  return args.tenant;
}

async function integratorFor(config: Config, db: Db): Promise<Integrator> {
  const keys = await loadLogKeys(db, config.auditKeyFile, config.auditLogName, systemClock);
  return new Integrator({
    db,
    clock: systemClock,
    signer: keys.signer,
    logName: config.auditLogName,
    checkpointIntervalMs: config.auditCheckpointInterval,
  });
}

/**
 * `roster audit export --tenant T --out file`: the tree's entries and checkpoints as JSON Lines, ending with
 * a checkpoint that covers every exported entry (integrating and signing first when needed).
 */
export async function auditExport(config: Config, args: AuditArgs): Promise<number> {
  if (!args.out) throw new UsageError('audit export needs --out <file>');
  const out = args.out;
  return withDb(config, async (db) => {
    const tenantId = scopeOf(args);
    const tree = treeOf(tenantId);
    const head = await (await integratorFor(config, db)).catchUp(tree);
    const treeHead = await getTree(db.kysely, tree);
    if (!head || !treeHead) throw new UsageError('no audit log has that name, or it has no entries yet');
    const progress = new Progress('exporting', head.size);
    // Owner-only, also when an existing file is overwritten (open's mode applies only to new files).
    const fd = openSync(out, 'w', 0o600);
    fchmodSync(fd, 0o600);
    const file = createWriteStream('', { fd });
    for await (const line of exportTree(db.kysely, treeHead, head, (n) => progress.update(n))) {
      if (!file.write(line)) await new Promise<void>((res) => file.once('drain', () => res()));
    }
    file.end();
    await finished(file);
    progress.update(head.size);
    progress.done();
    process.stdout.write(
      `exported ${head.size} entries of ${originOf(config.auditLogName, tenantId)} to ${out}; root ${Buffer.from(head.rootHash).toString('base64')}\n`,
    );
    return 0;
  });
}

function readVerifiers(path: string): NoteVerifier[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UsageError('the --public-key file cannot be read');
  }
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
  try {
    return lines.map((l) => NoteVerifier.fromVerifierKey(l));
  } catch {
    throw new UsageError('the --public-key file does not hold a signed-note verifier key');
  }
}

function fail(err: unknown): number {
  if (err instanceof VerifyFailure) {
    process.stdout.write(`FAILED at ${err.message}\n`);
    return 1;
  }
  throw err;
}

/**
 * `roster audit verify <file> --public-key <key>`: recomputes the tree offline from the export alone.
 * `roster audit verify --live [--tenant T | --platform]`: checks the store against its signed checkpoints.
 */
export async function auditVerify(
  config: Config,
  args: AuditArgs,
  file: string | undefined,
): Promise<number> {
  if (args.live) return verifyStore(config, args);
  if (!file) throw new UsageError('audit verify needs the export file (or --live)');
  if (!args['public-key']) throw new UsageError('audit verify needs --public-key <file>');
  const verifiers = readVerifiers(args['public-key']);
  const progress = new Progress('verifying', 0);
  try {
    const summary = await verifyExport(exportLines(createReadStream(file)), verifiers, (n) =>
      progress.update(n, n),
    );
    progress.done();
    process.stdout.write(
      `OK: ${summary.entries} entries of ${summary.origin}, ${summary.checkpoints} checkpoints verified; root ${Buffer.from(summary.rootHash).toString('base64')}\n`,
    );
    return 0;
  } catch (err) {
    progress.done();
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw new UsageError('the export file does not exist');
    return fail(err);
  }
}

async function verifyStore(config: Config, args: AuditArgs): Promise<number> {
  return withDb(config, async (db) => {
    // The operator's own key, never one read from the store (whoever altered the store could add theirs).
    let verifiers: NoteVerifier[];
    if (args['public-key']) verifiers = readVerifiers(args['public-key']);
    else {
      verifiers = [NoteVerifier.fromVerifierKey(ownVerifierKey(config))];
    }
    const trees =
      args.tenant || args.platform
        ? [treeOf(scopeOf(args))]
        : (await listTrees(db.kysely)).map((t) => t.tree);
    let failed = 0;
    for (const tree of trees) {
      const progress = new Progress(`verifying ${tree}`, 0);
      try {
        const r = await verifyLive(db.kysely, tree, verifiers, (n, total) => progress.update(n, total));
        progress.done();
        process.stdout.write(
          `OK: ${tree === PLATFORM_TREE ? 'platform' : `tenant ${tree}`}: ${r.entries} entries, ${r.checkpoints} checkpoints\n`,
        );
      } catch (err) {
        progress.done();
        failed += fail(err);
        process.stdout.write(
          `  in ${tree === PLATFORM_TREE ? 'the platform log' : `the log of tenant ${tree}`}\n`,
        );
      }
    }
    if (trees.length === 0) process.stdout.write('no audit log to verify yet\n');
    return failed > 0 ? 1 : 0;
  });
}

/** `roster audit public-key`: the verifier key of ROSTER_AUDIT_KEY_FILE (what GET /audit/public-key serves). */
export function auditPublicKey(config: Config): number {
  process.stdout.write(`${ownVerifierKey(config)}\n`);
  return 0;
}

function ownVerifierKey(config: Config): string {
  try {
    return NoteSigner.fromSignerKey(readFileSync(config.auditKeyFile, 'utf8').trim()).verifierKey();
  } catch {
    throw new UsageError('ROSTER_AUDIT_KEY_FILE cannot be read or is not a signed-note signer key');
  }
}

/** `roster report --tenant T --period 2026-10 --format pdf|csv [--out path]`. */
export async function report(config: Config, args: AuditArgs): Promise<number> {
  const format = args.format ?? 'pdf';
  if (format !== 'pdf' && format !== 'csv') throw new UsageError('--format must be pdf or csv');
  if (!args.tenant) throw new UsageError('report needs --tenant <id>');
  if (!args.period) throw new UsageError('report needs --period (2026-10 or 2026-Q4)');
  const periodText = args.period;
  return withDb(config, async (db) => {
    const tenant = await findTenant(db.kysely, args.tenant ?? '');
    if (!tenant) throw new RosterError('tenants.not_found');
    const period = parsePeriod(periodText, systemClock.now());
    const head = await (await integratorFor(config, db)).catchUp(treeOf(tenant.id));
    if (!head) throw new UsageError('this tenant has no audit entries yet');
    const data = await computeReport(
      db.kysely,
      { id: tenant.id, name: tenant.name },
      period,
      { ...head, origin: originOf(config.auditLogName, tenant.id) },
      systemClock.now().toISOString(),
    );
    const base = args.out ?? `roster-report-${tenant.id}-${period.label}${format === 'pdf' ? '.pdf' : ''}`;
    if (format === 'pdf') {
      writeFileSync(base, await renderPdf(data));
      process.stdout.write(`wrote ${base}\n`);
    } else {
      mkdirSync(base, { recursive: true });
      const files = renderCsv(data);
      for (const f of files) writeFileSync(join(base, f.name), f.content);
      process.stdout.write(`wrote ${files.length} CSV files to ${base}\n`);
    }
    return 0;
  });
}
