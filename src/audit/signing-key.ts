import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Clock } from '../platform/clock.js';
import type { Db } from '../platform/db/index.js';
import { generateSignerKey, NoteSigner, NoteVerifier } from './note.js';
import { recordSigningKey, signingKeys } from './tree-store.js';

/** The log's signing key, and every verifier key the log has ever been signed with. */
export interface LogKeys {
  readonly signer: NoteSigner;
  /** The signer key as the file holds it (for the integrator thread; never logged). */
  readonly signerKey: string;
  /** Verifier keys recorded in the store, current one last. */
  readonly verifiers: readonly NoteVerifier[];
  /** The verifier key of `signer`, in the signed-note text form `roster audit verify` reads. */
  readonly publicKey: string;
}

export function keyHashHex(hash: number): string {
  return hash.toString(16).padStart(8, '0');
}

/**
 * Loads the audit log's Ed25519 signing key from `path` (a signed-note signer key, mode 0600), creating it
 * on the very first start. Its verifier key is recorded in the store, so every node must sign with a key the
 * store knows: a node with a missing or different key file refuses to start rather than sign a second,
 * unrelated history.
 * @throws Error naming ROSTER_AUDIT_KEY_FILE; never key bytes.
 */
export async function loadLogKeys(db: Db, path: string, name: string, clock: Clock): Promise<LogKeys> {
  const known = await signingKeys(db.kysely);
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      throw new Error('ROSTER_AUDIT_KEY_FILE cannot be read');
  }
  if (text === undefined) {
    if (known.length > 0) {
      throw new Error(
        'ROSTER_AUDIT_KEY_FILE is missing but this store has audit checkpoints signed by another key: copy the key file from the first node',
      );
    }
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    try {
      writeFileSync(path, `${generateSignerKey(name).signerKey}\n`, { mode: 0o600, flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new Error('ROSTER_AUDIT_KEY_FILE cannot be created');
    }
    text = readFileSync(path, 'utf8');
  }
  let signer: NoteSigner;
  try {
    signer = NoteSigner.fromSignerKey(text.trim());
  } catch {
    throw new Error('ROSTER_AUDIT_KEY_FILE is not a signed-note signer key (PRIVATE+KEY+…)');
  }
  if ((statSync(path).mode & 0o077) !== 0 && process.platform !== 'win32') {
    process.emitWarning('ROSTER_AUDIT_KEY_FILE is readable by group or others; chmod 600 it', {
      code: 'ROSTER_KEY_MODE',
    });
  }
  const publicKey = signer.verifierKey();
  const hash = keyHashHex(signer.keyHash);
  const mine = known.find((k) => k.keyHash === hash);
  if (known.length > 0 && (mine === undefined || mine.verifierKey !== publicKey)) {
    throw new Error(
      'ROSTER_AUDIT_KEY_FILE holds a key this store has never signed with: use the key file of the first node',
    );
  }
  if (!mine) {
    await recordSigningKey(db.kysely, {
      keyHash: hash,
      verifierKey: publicKey,
      createdAt: clock.now().toISOString(),
    });
  }
  const all = mine ? known : [...known, { keyHash: hash, verifierKey: publicKey }];
  return {
    signer,
    signerKey: text.trim(),
    publicKey,
    verifiers: all.map((k) => NoteVerifier.fromVerifierKey(k.verifierKey)),
  };
}
