import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

/**
 * A private SoftHSM 2 token for tests.
 *
 * Each harness has its own folder with a `softhsm2.conf` (file object store, tokens in `<dir>/tokens`) and
 * points `process.env.SOFTHSM2_CONF` at it; SoftHSM reads that variable at C_Initialize, so a provider opened
 * (or reconnecting) in this process uses this token. PKCS#11 state is per process: a second pkcs11js
 * instance of the same library in one process shares it (its C_Initialize answers
 * CKR_CRYPTOKI_ALREADY_INITIALIZED, its C_Finalize ends the sessions of the first), so everything the harness
 * does on the token from the outside (`removeKekVersion`, `createKekVersion`, `inspectKek`, `kekLabels`) runs
 * in a short child `node` process with the same SOFTHSM2_CONF, like another node or an operator would.
 *
 * The outage (`makeUnavailable`) renames `<dir>/tokens` away: the whole token store disappears, as if the HSM
 * were switched off. What SoftHSM 2.6.1 then answers a provider that has an open, logged-in session:
 * - C_EncryptInit / C_DecryptInit with a KEK handle it holds: CKR_OBJECT_HANDLE_INVALID (the object file is
 *   gone), while C_GetSessionInfo still succeeds; C_GetTokenInfo and C_GenerateKey: CKR_GENERAL_ERROR;
 *   C_FindObjects still answers from its cache.
 * - after C_Finalize, the reconnection's C_Initialize fails with CKR_GENERAL_ERROR (the token folder is
 *   missing) until `makeAvailable` renames the folder back; then C_Initialize, the slot, C_OpenSession and
 *   C_Login succeed again. (SoftHSM scans tokens only at C_Initialize, so recovering needs a C_Finalize and a
 *   new C_Initialize, which the provider does.)
 */

export interface SoftHsmOptions {
  /** Token label; default `roster-test-<random>`. */
  readonly label?: string;
  /** User PIN; default random. */
  readonly pin?: string;
  /** Security officer PIN; default random. */
  readonly soPin?: string;
}

/** Attributes of a KEK object as read back from the token by another process. */
export interface KekAttributes {
  readonly count: number;
  readonly token: boolean;
  readonly private: boolean;
  readonly sensitive: boolean;
  readonly extractable: boolean;
  readonly alwaysSensitive: boolean;
  readonly neverExtractable: boolean;
  readonly local: boolean;
  readonly encrypt: boolean;
  readonly decrypt: boolean;
  readonly wrap: boolean;
  readonly unwrap: boolean;
  readonly modifiable: boolean;
  readonly keyType: number;
  readonly valueLen: number;
  /** What C_GetAttributeValue(CKA_VALUE) answered: the CKR name of the refusal, or `readable`. */
  readonly valueRead: string;
}

export interface SoftHsm {
  readonly modulePath: string;
  readonly tokenLabel: string;
  readonly pin: string;
  readonly conf: string;
  readonly dir: string;
  /** For child processes: `{ SOFTHSM2_CONF }`. */
  readonly env: { readonly SOFTHSM2_CONF: string };
  /** Takes the whole token store away (a real outage; see the comment at the top). */
  makeUnavailable(): Promise<void>;
  /** Puts it back: a reconnection succeeds again. */
  makeAvailable(): Promise<void>;
  /** Destroys `roster-kek-<version>` (every object so labelled) from another process. @throws when none */
  removeKekVersion(version: number): Promise<void>;
  /**
   * Generates `roster-kek-<version>` from another process (as another node's rotation would). `lowestId`
   * gives it an all-zero CKA_ID, so that it sorts first among objects sharing its label (a race's loser).
   */
  createKekVersion(version: number, options?: { lowestId?: boolean }): Promise<void>;
  /** Reads the attributes of `roster-kek-<version>` from another process. */
  inspectKek(version: number): Promise<KekAttributes>;
  /** Labels of the secret keys on the token, sorted, read from another process. */
  kekLabels(): Promise<string[]>;
  /** Restores SOFTHSM2_CONF and removes the folder. */
  cleanup(): Promise<void>;
}

const MODULE_CANDIDATES = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
];

/** The SoftHSM PKCS#11 module, or undefined when none is installed. */
export function findSoftHsmModule(): string | undefined {
  const configured = process.env.ROSTER_TEST_PKCS11_MODULE;
  if (configured) return existsSync(configured) ? configured : undefined;
  return MODULE_CANDIDATES.find((p) => existsSync(p));
}

function softHsmUtilPresent(): boolean {
  try {
    execFileSync('softhsm2-util', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const execFileAsync = promisify(execFile);
const requireHere = createRequire(import.meta.url);

/**
 * Runs in a child `node`: argv = [pkcs11js path, module path, operation, label]; the token label and PIN come
 * in the environment (not argv). Prints one JSON line.
 */
const CHILD_SCRIPT = `
const P = require(process.argv[1]);
const [modulePath, op, label] = process.argv.slice(2);
const lib = new P.PKCS11();
lib.load(modulePath);
lib.C_Initialize();
let out;
try {
  const slot = lib.C_GetSlotList(true).find((s) => lib.C_GetTokenInfo(s).label.trim() === process.env.HSM_TOKEN);
  if (!slot) throw new Error('token not found');
  const session = lib.C_OpenSession(slot, P.CKF_RW_SESSION | P.CKF_SERIAL_SESSION);
  lib.C_Login(session, P.CKU_USER, process.env.HSM_PIN);
  const find = (template) => {
    lib.C_FindObjectsInit(session, template);
    const all = [];
    for (;;) { const b = lib.C_FindObjects(session, 64); if (!b.length) break; all.push(...b); }
    lib.C_FindObjectsFinal(session);
    return all;
  };
  const byLabel = () => find([{ type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }, { type: P.CKA_LABEL, value: label }]);
  if (op === 'remove') {
    const handles = byLabel();
    for (const h of handles) lib.C_DestroyObject(session, h);
    out = { count: handles.length };
  } else if (op === 'create') {
    lib.C_GenerateKey(session, { mechanism: P.CKM_AES_KEY_GEN }, [
      { type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }, { type: P.CKA_KEY_TYPE, value: P.CKK_AES },
      { type: P.CKA_VALUE_LEN, value: 32 }, { type: P.CKA_LABEL, value: label },
      { type: P.CKA_ID, value: process.env.HSM_KEY_ID ? Buffer.from(process.env.HSM_KEY_ID, 'hex') : require('node:crypto').randomBytes(16) },
      { type: P.CKA_TOKEN, value: true }, { type: P.CKA_PRIVATE, value: true },
      { type: P.CKA_SENSITIVE, value: true }, { type: P.CKA_EXTRACTABLE, value: false },
      { type: P.CKA_ENCRYPT, value: true }, { type: P.CKA_DECRYPT, value: true },
    ]);
    out = { count: 1 };
  } else if (op === 'inspect') {
    const handles = byLabel();
    if (!handles.length) throw new Error('no such key');
    const h = handles[0];
    const bool = (t) => lib.C_GetAttributeValue(session, h, [{ type: t }])[0].value[0] === 1;
    const num = (t) => Number(lib.C_GetAttributeValue(session, h, [{ type: t }])[0].value.readBigUInt64LE(0));
    let valueRead = 'readable';
    try { lib.C_GetAttributeValue(session, h, [{ type: P.CKA_VALUE }]); } catch (e) { valueRead = e.message; }
    out = {
      count: handles.length,
      token: bool(P.CKA_TOKEN), private: bool(P.CKA_PRIVATE), sensitive: bool(P.CKA_SENSITIVE),
      extractable: bool(P.CKA_EXTRACTABLE), alwaysSensitive: bool(P.CKA_ALWAYS_SENSITIVE),
      neverExtractable: bool(P.CKA_NEVER_EXTRACTABLE), local: bool(P.CKA_LOCAL),
      encrypt: bool(P.CKA_ENCRYPT), decrypt: bool(P.CKA_DECRYPT), wrap: bool(P.CKA_WRAP),
      unwrap: bool(P.CKA_UNWRAP), modifiable: bool(P.CKA_MODIFIABLE),
      keyType: num(P.CKA_KEY_TYPE), valueLen: num(P.CKA_VALUE_LEN), valueRead,
    };
  } else if (op === 'labels') {
    const handles = find([{ type: P.CKA_CLASS, value: P.CKO_SECRET_KEY }]);
    out = { labels: handles.map((h) => lib.C_GetAttributeValue(session, h, [{ type: P.CKA_LABEL }])[0].value.toString('utf8')).sort() };
  } else {
    throw new Error('unknown operation ' + op);
  }
  lib.C_Logout(session);
  lib.C_CloseSession(session);
} finally {
  lib.C_Finalize();
}
process.stdout.write(JSON.stringify(out));
`;

/**
 * Makes a SoftHSM token in a temporary folder and points SOFTHSM2_CONF at it.
 * @throws Error when SoftHSM 2 (softhsm2-util or the module) is not installed; under CI the message says that
 *   CI requires it. Never a silent skip: the caller decides.
 */
export async function startSoftHsm(options: SoftHsmOptions = {}): Promise<SoftHsm> {
  const modulePath = findSoftHsmModule();
  if (!modulePath || !softHsmUtilPresent()) {
    const what = !modulePath ? 'the SoftHSM 2 PKCS#11 module (libsofthsm2.so)' : 'softhsm2-util';
    throw new Error(
      `${what} is missing: install the softhsm2 package, or set ROSTER_TEST_PKCS11_MODULE${IN_CI ? '; CI requires it' : ''}`,
    );
  }
  const tokenLabel = options.label ?? `roster-test-${randomBytes(4).toString('hex')}`;
  const pin = options.pin ?? randomBytes(6).toString('hex');
  const soPin = options.soPin ?? randomBytes(6).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'roster-softhsm-'));
  const tokens = join(dir, 'tokens');
  const offline = join(dir, 'tokens.offline');
  const conf = join(dir, 'softhsm2.conf');
  mkdirSync(tokens, { mode: 0o700 });
  writeFileSync(
    conf,
    [
      `directories.tokendir = ${tokens}`,
      'objectstore.backend = file',
      'log.level = ERROR',
      'slots.removable = false',
      '',
    ].join('\n'),
  );
  const env = { SOFTHSM2_CONF: conf };
  const previousConf = process.env.SOFTHSM2_CONF;
  process.env.SOFTHSM2_CONF = conf;
  try {
    execFileSync(
      'softhsm2-util',
      ['--init-token', '--free', '--label', tokenLabel, '--pin', pin, '--so-pin', soPin],
      { env: { ...process.env, ...env }, stdio: 'pipe' },
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    if (previousConf === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = previousConf;
    throw new Error('softhsm2-util --init-token failed', { cause: err });
  }

  const pkcs11jsPath = requireHere.resolve('pkcs11js');
  const child = async <T>(op: string, label = '', extraEnv: Record<string, string> = {}): Promise<T> => {
    try {
      const { stdout } = await execFileAsync(
        process.execPath,
        ['-e', CHILD_SCRIPT, pkcs11jsPath, modulePath, op, label],
        {
          env: { ...process.env, ...env, ...extraEnv, HSM_TOKEN: tokenLabel, HSM_PIN: pin },
          timeout: 30_000,
        },
      );
      return JSON.parse(stdout) as T;
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? '';
      throw new Error(`SoftHSM helper "${op}" failed: ${stderr.split('\n').find((l) => l.trim()) ?? ''}`, {
        cause: err,
      });
    }
  };

  return {
    modulePath,
    tokenLabel,
    pin,
    conf,
    dir,
    env,
    async makeUnavailable() {
      if (existsSync(tokens)) renameSync(tokens, offline);
    },
    async makeAvailable() {
      if (existsSync(offline)) renameSync(offline, tokens);
    },
    async removeKekVersion(version) {
      const { count } = await child<{ count: number }>('remove', `roster-kek-${version}`);
      if (count === 0) throw new Error(`the token holds no roster-kek-${version}`);
    },
    async createKekVersion(version, createOptions = {}) {
      await child(
        'create',
        `roster-kek-${version}`,
        createOptions.lowestId ? { HSM_KEY_ID: '00'.repeat(16) } : {},
      );
    },
    async inspectKek(version) {
      return child<KekAttributes>('inspect', `roster-kek-${version}`);
    },
    async kekLabels() {
      return (await child<{ labels: string[] }>('labels')).labels;
    },
    async cleanup() {
      if (process.env.SOFTHSM2_CONF === conf) {
        if (previousConf === undefined) delete process.env.SOFTHSM2_CONF;
        else process.env.SOFTHSM2_CONF = previousConf;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Everything an error could show (message, detail, stack, the whole cause chain): to check a PIN never shows. */
export function allText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 10; depth++) {
    if (e instanceof Error) {
      parts.push(e.message, e.stack ?? '', String((e as { detail?: unknown }).detail ?? ''));
      e = e.cause;
    } else {
      parts.push(String(e));
      e = undefined;
    }
  }
  return parts.join('\n');
}

/** What a KEK generated by Roster in the token shows: one object, AES-256, kept in the token, never readable. */
export const GUARDED_KEK = {
  count: 1,
  token: true,
  private: true,
  sensitive: true,
  extractable: false,
  alwaysSensitive: true,
  neverExtractable: true,
  local: true,
  encrypt: true,
  decrypt: true,
  valueLen: 32,
} as const;
