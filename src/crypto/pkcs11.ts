import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { realpathSync } from 'node:fs';
import pkcs11js from 'pkcs11js';
import { RosterError } from '../platform/errors.js';
import type { KeyProvider } from './local-kek.js';

/**
 * A key provider backed by a PKCS#11 token (an HSM, or SoftHSM in tests).
 *
 * - Each KEK version is an AES-256 secret-key object on the token, labelled `roster-kek-<version>`, generated
 *   inside the token (C_GenerateKey, CKM_AES_KEY_GEN) as a private, sensitive, non-extractable token object
 *   that may only encrypt and decrypt. Its value never leaves the token; Roster only keeps object handles.
 * - wrap/unwrap run AES-256-GCM inside the token (CKM_AES_GCM, CK_GCM_PARAMS of PKCS#11 v2.40: a 96-bit IV
 *   from node:crypto, the caller's AAD, a 128-bit tag), with the layout `nonce (12) | ciphertext | tag (16)`
 *   that the local provider uses too.
 * - The PKCS#11 library's state (C_Initialize, the login) is per process, not per provider, so every provider
 *   of one module shares a `SharedModule`: its calls are serialised on one queue (a session does one operation
 *   at a time, and C_Finalize must never run while another call is in flight).
 * - Failure handling: any PKCS#11 failure that is not a wrapped key failing its tag, or a KEK version that is
 *   no longer on the token, drops the session, finalises the module and throws crypto.unavailable. The next
 *   call starts from scratch (C_Initialize, find the token, open, login), so Roster recovers by itself once the
 *   HSM is back; no call retries in a loop. Because some tokens (SoftHSM among them) report a failed GCM tag as
 *   CKR_GENERAL_ERROR, and a vanished token as CKR_OBJECT_HANDLE_INVALID, such answers are told apart with a
 *   probe of the session and token (C_GetSessionInfo, C_GetTokenInfo): a live token means the data (or the key
 *   version) is at fault, a dead one means an outage.
 * - Should two nodes create the same version at once, the token holds two objects with one label: new wraps use
 *   the one with the lowest CKA_ID, and unwrap tries each, so nothing wrapped under either is lost.
 */

type Lib = InstanceType<typeof pkcs11js.PKCS11>;
type Handle = Buffer;

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const LABEL_PREFIX = 'roster-kek-';
/** Versions are positive integers without leading zeros, small enough for the database's integer columns. */
const LABEL_PATTERN = /^roster-kek-([1-9][0-9]{0,8})$/;

/** Session states of PKCS#11 (not exported by pkcs11js): a user is logged in. */
const CKS_RO_USER_FUNCTIONS = 1;
const CKS_RW_USER_FUNCTIONS = 3;
/** PKCS#11 v3.0 CKR_AEAD_DECRYPT_FAILED (not exported by pkcs11js 2.1.7). */
const CKR_AEAD_DECRYPT_FAILED = 0x35;

const PIN_CODES = new Set([
  pkcs11js.CKR_PIN_INCORRECT,
  pkcs11js.CKR_PIN_INVALID,
  pkcs11js.CKR_PIN_LEN_RANGE,
  pkcs11js.CKR_PIN_EXPIRED,
  pkcs11js.CKR_PIN_LOCKED,
  pkcs11js.CKR_USER_PIN_NOT_INITIALIZED,
]);

/** The object handle no longer names an object: the key was destroyed, or the token went away (probe). */
const HANDLE_CODES = new Set([pkcs11js.CKR_OBJECT_HANDLE_INVALID, pkcs11js.CKR_KEY_HANDLE_INVALID]);

/** What C_Decrypt may answer when a GCM tag does not verify (SoftHSM 2.6: CKR_GENERAL_ERROR); probed first. */
const TAG_CODES = new Set([
  pkcs11js.CKR_ENCRYPTED_DATA_INVALID,
  pkcs11js.CKR_ENCRYPTED_DATA_LEN_RANGE,
  pkcs11js.CKR_SIGNATURE_INVALID,
  pkcs11js.CKR_GENERAL_ERROR,
  pkcs11js.CKR_FUNCTION_FAILED,
  CKR_AEAD_DECRYPT_FAILED,
]);

/** Attributes some tokens refuse in a C_GenerateKey template; the key is generated without them then. */
const OPTIONAL_TEMPLATE_CODES = new Set([
  pkcs11js.CKR_ATTRIBUTE_TYPE_INVALID,
  pkcs11js.CKR_ATTRIBUTE_VALUE_INVALID,
  pkcs11js.CKR_TEMPLATE_INCONSISTENT,
]);

/** The CKR code of a pkcs11js error, or undefined for anything else. */
function ckrCode(err: unknown): number | undefined {
  if (err instanceof pkcs11js.Pkcs11Error) return err.code;
  return undefined;
}

/** `CKR_DEVICE_ERROR`-style name of a pkcs11js error (its message is exactly that), for details and logs. */
function ckrName(err: unknown): string {
  if (err instanceof pkcs11js.Pkcs11Error && /^CKR_\w+$/.test(err.message)) return err.message;
  if (err instanceof pkcs11js.Pkcs11Error) return `CKR 0x${err.code.toString(16)}`;
  return err instanceof Error ? err.name : 'unknown failure';
}

function unavailable(detail: string, cause?: unknown): RosterError {
  return new RosterError('crypto.unavailable', { detail, cause });
}

function notInHsm(): RosterError {
  return new RosterError('crypto.integrity', { detail: 'the key-encryption key version is not in the HSM' });
}

function digestOf(pin: string): Buffer {
  return createHash('sha256').update('roster-pkcs11-pin\0').update(pin, 'utf8').digest();
}

/** The process-wide state of one PKCS#11 library, shared by every provider that uses it. */
class SharedModule {
  lib: Lib | undefined;
  initialized = false;
  /** Bumped at every C_Finalize: a provider whose session is of an older generation reconnects. */
  generation = 0;
  /** Providers opened on this module and not yet closed. */
  users = 0;
  /** Slots this process is logged in to: the PIN's digest (to check a second provider's PIN) and sessions. */
  readonly logins = new Map<string, { pin: Buffer; sessions: number }>();
  #tail: Promise<unknown> = Promise.resolve();
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  /** Runs `fn` after every call queued before it: one PKCS#11 operation at a time, in order. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(fn);
    this.#tail = result.catch(() => undefined);
    return result;
  }

  /** C_Finalize (errors ignored: the library may already be unusable); every session of every provider ends. */
  finalize(): void {
    if (this.lib && this.initialized) {
      try {
        this.lib.C_Finalize();
      } catch {
        // Nothing more can be done; the next connection initialises again.
      }
    }
    this.initialized = false;
    this.generation += 1;
    this.logins.clear();
  }
}

const modules = new Map<string, SharedModule>();

function moduleFor(modulePath: string): SharedModule {
  let key = modulePath;
  try {
    key = realpathSync(modulePath);
  } catch {
    // A missing file fails at load time, with crypto.unavailable.
  }
  let mod = modules.get(key);
  if (!mod) {
    mod = new SharedModule(key);
    modules.set(key, mod);
  }
  return mod;
}

interface Connection {
  readonly generation: number;
  readonly slot: Handle;
  readonly slotKey: string;
  readonly session: Handle;
}

class Pkcs11Provider implements KeyProvider {
  readonly name = 'pkcs11' as const;
  readonly #mod: SharedModule;
  readonly #tokenLabel: string;
  readonly #pin: string;
  readonly #pinDigest: Buffer;
  #conn: Connection | undefined;
  /** Version -> object handles carrying its label, lowest CKA_ID first (normally exactly one). */
  #keys = new Map<number, Handle[]>();
  #opened = false;
  #closed = false;

  constructor(mod: SharedModule, tokenLabel: string, pin: string) {
    this.#mod = mod;
    this.#tokenLabel = tokenLabel;
    this.#pin = pin;
    this.#pinDigest = digestOf(pin);
  }

  currentVersion(): number {
    return Math.max(0, ...this.#keys.keys());
  }

  versions(): number[] {
    return [...this.#keys.keys()].sort((a, b) => a - b);
  }

  async refresh(): Promise<void> {
    await this.#op(async (lib, conn) => {
      this.#keys = this.#list(lib, conn);
    });
  }

  async createVersion(): Promise<number> {
    return this.#op(async (lib, conn) => {
      this.#keys = this.#list(lib, conn);
      const version = this.currentVersion() + 1;
      await this.#generate(lib, conn, version);
      this.#keys = this.#list(lib, conn);
      if (!this.#keys.has(version)) {
        throw unavailable('the new key-encryption key version is not visible on the token');
      }
      return version;
    });
  }

  async destroyVersion(version: number): Promise<void> {
    await this.#op(async (lib, conn) => {
      this.#keys = this.#list(lib, conn);
      const handles = this.#keys.get(version);
      if (!handles) return;
      if (this.#keys.size === 1) {
        throw new RosterError('keys.version_in_use', {
          detail: 'the HSM would hold no key-encryption key',
        });
      }
      for (const h of handles) lib.C_DestroyObject(conn.session, h);
      this.#keys = this.#list(lib, conn);
    });
  }

  async wrap(plainKey: Buffer, aad: Buffer): Promise<{ kekVersion: number; wrapped: Buffer }> {
    // PKCS#11 tokens refuse an empty input (SoftHSM: CKR_ARGUMENTS_BAD); there is never an empty key to wrap.
    if (plainKey.length === 0) throw new TypeError('wrap: the key to wrap is empty');
    return this.#op(async (lib, conn) => {
      const nonce = randomBytes(NONCE_BYTES);
      for (let attempt = 0; ; attempt++) {
        const version = this.currentVersion();
        const handle = this.#keys.get(version)?.[0];
        if (!handle) throw unavailable('the HSM holds no key-encryption key (roster-kek-<version>)');
        try {
          const body = await this.#encrypt(lib, conn, handle, nonce, plainKey, aad);
          return { kekVersion: version, wrapped: Buffer.concat([nonce, body]) };
        } catch (err) {
          // The current KEK's handle went stale: the object was destroyed, or the token is gone (probe).
          if (attempt > 0 || !HANDLE_CODES.has(ckrCode(err) ?? -1)) throw err;
          this.#probe(lib, conn, err);
          this.#keys = this.#list(lib, conn);
        }
      }
    });
  }

  async unwrap(kekVersion: number, wrapped: Buffer, aad: Buffer): Promise<Buffer> {
    return this.#op(async (lib, conn) => {
      let handles = this.#keys.get(kekVersion);
      if (!handles) {
        // Another node may have created the version since this one listed the token.
        this.#keys = this.#list(lib, conn);
        handles = this.#keys.get(kekVersion);
        if (!handles) throw notInHsm();
      }
      // nonce, at least one byte and the tag; wrap never makes anything shorter.
      if (wrapped.length <= NONCE_BYTES + TAG_BYTES) throw new RosterError('crypto.integrity');
      for (let attempt = 0; ; attempt++) {
        try {
          return await this.#decryptWithAny(lib, conn, handles, wrapped, aad);
        } catch (err) {
          if (attempt > 0 || !HANDLE_CODES.has(ckrCode(err) ?? -1)) throw err;
          this.#probe(lib, conn, err);
          this.#keys = this.#list(lib, conn);
          handles = this.#keys.get(kekVersion);
          if (!handles) throw notInHsm();
        }
      }
    });
  }

  async close(): Promise<void> {
    const mod = this.#mod;
    await mod.run(async () => {
      if (this.#closed) return;
      this.#closed = true;
      const conn = this.#conn;
      this.#conn = undefined;
      this.#keys = new Map();
      const lib = mod.lib;
      if (lib && conn && conn.generation === mod.generation) {
        const login = mod.logins.get(conn.slotKey);
        if (login) {
          login.sessions -= 1;
          // The login is the application's, shared by every session on the token: the last one logs out.
          if (login.sessions <= 0) {
            mod.logins.delete(conn.slotKey);
            try {
              lib.C_Logout(conn.session);
            } catch {
              // Closing the last session logs out anyway.
            }
          }
        }
        try {
          lib.C_CloseSession(conn.session);
        } catch {
          // Already gone.
        }
      }
      mod.users -= 1;
      if (mod.users <= 0) {
        mod.finalize();
        try {
          lib?.close();
        } catch {
          // Unloading is best effort.
        }
        mod.lib = undefined;
        if (modules.get(mod.path) === mod) modules.delete(mod.path);
      }
    });
  }

  /** Opens the first connection (creating version 1 on a token without any). @throws crypto.unavailable */
  async open(): Promise<void> {
    await this.#op(async () => undefined);
  }

  /**
   * Runs one operation on the module's queue, on a live session (connecting first when there is none). Any
   * failure other than a RosterError the operation chose drops the session and becomes crypto.unavailable.
   */
  #op<T>(fn: (lib: Lib, conn: Connection) => Promise<T>): Promise<T> {
    return this.#mod.run(async () => {
      if (this.#closed) throw unavailable('the PKCS#11 key provider is closed');
      const conn = await this.#connect();
      const lib = this.#mod.lib as Lib;
      try {
        return await fn(lib, conn);
      } catch (err) {
        if (err instanceof RosterError && err.code !== 'crypto.unavailable') throw err;
        throw this.#drop(err);
      }
    });
  }

  async #connect(): Promise<Connection> {
    const mod = this.#mod;
    if (this.#conn && this.#conn.generation === mod.generation) return this.#conn;
    this.#conn = undefined;
    try {
      if (!mod.lib) {
        const lib = new pkcs11js.PKCS11();
        try {
          lib.load(mod.path);
        } catch (cause) {
          throw unavailable('the PKCS#11 module cannot be loaded (ROSTER_PKCS11_MODULE)', cause);
        }
        mod.lib = lib;
      }
      const lib = mod.lib;
      if (!mod.initialized) {
        try {
          lib.C_Initialize();
        } catch (err) {
          if (ckrCode(err) !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw err;
        }
        mod.initialized = true;
      }
      const slot = this.#findSlot(lib);
      const session = lib.C_OpenSession(slot, pkcs11js.CKF_RW_SESSION | pkcs11js.CKF_SERIAL_SESSION);
      const conn: Connection = { generation: mod.generation, slot, slotKey: slot.toString('hex'), session };
      try {
        this.#login(lib, conn);
      } catch (err) {
        try {
          lib.C_CloseSession(session);
        } catch {
          // The drop below finalises anyway.
        }
        throw err;
      }
      this.#conn = conn;
      this.#keys = this.#list(lib, conn);
      if (!this.#opened) {
        // A fresh token: version 1 is made here, inside the HSM.
        if (this.#keys.size === 0) {
          await this.#generate(lib, conn, 1);
          this.#keys = this.#list(lib, conn);
          if (this.#keys.size === 0)
            throw unavailable('the new key-encryption key is not visible on the token');
        }
        this.#opened = true;
      }
      return conn;
    } catch (err) {
      throw this.#drop(err);
    }
  }

  #findSlot(lib: Lib): Handle {
    const matches: Handle[] = [];
    for (const slot of lib.C_GetSlotList(true)) {
      let label: string;
      try {
        label = lib.C_GetTokenInfo(slot).label.trim();
      } catch (err) {
        // A slot whose token is being removed or is not recognised is not ours.
        const code = ckrCode(err);
        if (code === pkcs11js.CKR_TOKEN_NOT_PRESENT || code === pkcs11js.CKR_TOKEN_NOT_RECOGNIZED) continue;
        throw err;
      }
      if (label === this.#tokenLabel) matches.push(slot);
    }
    if (matches.length > 1) {
      throw unavailable(
        `more than one PKCS#11 token is labelled "${this.#tokenLabel}" (ROSTER_PKCS11_TOKEN_LABEL)`,
      );
    }
    const slot = matches[0];
    if (!slot) {
      throw unavailable(
        `no PKCS#11 token labelled "${this.#tokenLabel}" is present (ROSTER_PKCS11_TOKEN_LABEL)`,
      );
    }
    return slot;
  }

  /**
   * Logs in as CKU_USER. The login belongs to the whole process: when another provider of this process is
   * logged in to the token already, the PIN is checked against the one that logged in instead.
   */
  #login(lib: Lib, conn: Connection): void {
    const logins = this.#mod.logins;
    const known = logins.get(conn.slotKey);
    if (known) {
      if (!timingSafeEqual(known.pin, this.#pinDigest)) {
        throw unavailable('the HSM refused the PIN (ROSTER_PKCS11_PIN)');
      }
      known.sessions += 1;
      return;
    }
    try {
      try {
        lib.C_Login(conn.session, pkcs11js.CKU_USER, this.#pin);
      } catch (err) {
        if (ckrCode(err) !== pkcs11js.CKR_USER_ALREADY_LOGGED_IN) throw err;
        // Logged in by something this process did not record: log in again so that the PIN is checked.
        lib.C_Logout(conn.session);
        lib.C_Login(conn.session, pkcs11js.CKU_USER, this.#pin);
      }
    } catch (err) {
      if (PIN_CODES.has(ckrCode(err) ?? -1)) {
        throw unavailable(`the HSM refused the PIN (${ckrName(err)}; ROSTER_PKCS11_PIN)`, err);
      }
      throw err;
    }
    logins.set(conn.slotKey, { pin: this.#pinDigest, sessions: 1 });
  }

  /** Lists the roster-kek-* AES keys on the token. */
  #list(lib: Lib, conn: Connection): Map<number, Handle[]> {
    // A listing must come from a live token (SoftHSM keeps answering from its cache for a vanished one).
    lib.C_GetTokenInfo(conn.slot);
    lib.C_FindObjectsInit(conn.session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    ]);
    const handles: Handle[] = [];
    try {
      for (;;) {
        const batch = lib.C_FindObjects(conn.session, 64);
        if (batch.length === 0) break;
        handles.push(...batch);
      }
    } finally {
      lib.C_FindObjectsFinal(conn.session);
    }
    const found = new Map<number, { id: Buffer; handle: Handle }[]>();
    for (const handle of handles) {
      let attrs: { type: number; value: Buffer }[];
      try {
        attrs = lib.C_GetAttributeValue(conn.session, handle, [
          { type: pkcs11js.CKA_LABEL },
          { type: pkcs11js.CKA_ID },
        ]);
      } catch (err) {
        if (HANDLE_CODES.has(ckrCode(err) ?? -1)) continue; // destroyed since C_FindObjects
        throw err;
      }
      const label = attrs.find((a) => a.type === pkcs11js.CKA_LABEL)?.value?.toString('utf8') ?? '';
      const match = LABEL_PATTERN.exec(label);
      if (!match) continue;
      const version = Number(match[1]);
      const id = attrs.find((a) => a.type === pkcs11js.CKA_ID)?.value ?? Buffer.alloc(0);
      const list = found.get(version) ?? [];
      list.push({ id: Buffer.from(id), handle });
      found.set(version, list);
    }
    const keys = new Map<number, Handle[]>();
    for (const [version, list] of found) {
      list.sort((a, b) => Buffer.compare(a.id, b.id));
      keys.set(
        version,
        list.map((k) => k.handle),
      );
    }
    return keys;
  }

  /** Generates `roster-kek-<version>` inside the token. */
  async #generate(lib: Lib, conn: Connection, version: number): Promise<void> {
    const mechanism = { mechanism: pkcs11js.CKM_AES_KEY_GEN };
    const template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_LABEL, value: `${LABEL_PREFIX}${version}` },
      // Random, so that two objects given one label by a race can be ordered the same way by every node.
      { type: pkcs11js.CKA_ID, value: randomBytes(16) },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_ENCRYPT, value: true },
      { type: pkcs11js.CKA_DECRYPT, value: true },
      { type: pkcs11js.CKA_WRAP, value: false },
      { type: pkcs11js.CKA_UNWRAP, value: false },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_VERIFY, value: false },
      { type: pkcs11js.CKA_DERIVE, value: false },
    ];
    const hardening = [
      { type: pkcs11js.CKA_MODIFIABLE, value: false },
      { type: pkcs11js.CKA_COPYABLE, value: false },
    ];
    try {
      await lib.C_GenerateKeyAsync(conn.session, mechanism, [...template, ...hardening]);
    } catch (err) {
      if (!OPTIONAL_TEMPLATE_CODES.has(ckrCode(err) ?? -1)) throw err;
      await lib.C_GenerateKeyAsync(conn.session, mechanism, template);
    }
  }

  #gcm(nonce: Buffer, aad: Buffer) {
    return {
      mechanism: pkcs11js.CKM_AES_GCM,
      // CK_GCM_PARAMS as PKCS#11 v2.40 defines it (with ulIvBits); pkcs11js's CK_PARAMS_AES_GCM leaves
      // ulIvBits unset. SoftHSM 2.6.1 accepts both; v2.40 is the one every field of which is set.
      parameter: {
        type: pkcs11js.CK_PARAMS_AES_GCM_v240,
        iv: nonce,
        ivBits: NONCE_BYTES * 8,
        aad,
        tagBits: TAG_BYTES * 8,
      },
    };
  }

  /** AES-256-GCM in the token: returns `ciphertext | tag`. */
  async #encrypt(
    lib: Lib,
    conn: Connection,
    key: Handle,
    nonce: Buffer,
    plain: Buffer,
    aad: Buffer,
  ): Promise<Buffer> {
    lib.C_EncryptInit(conn.session, this.#gcm(nonce, aad), key);
    const out = await lib.C_EncryptAsync(conn.session, plain, Buffer.alloc(plain.length + TAG_BYTES));
    if (out.length !== plain.length + TAG_BYTES) {
      throw unavailable('the HSM returned an AES-GCM result of an unexpected length');
    }
    return out;
  }

  /** Decrypts with each candidate object of the version in turn; the tag tells the right one. */
  async #decryptWithAny(
    lib: Lib,
    conn: Connection,
    handles: Handle[],
    wrapped: Buffer,
    aad: Buffer,
  ): Promise<Buffer> {
    const nonce = wrapped.subarray(0, NONCE_BYTES);
    const body = wrapped.subarray(NONCE_BYTES);
    let tagFailure: unknown;
    for (const key of handles) {
      lib.C_DecryptInit(conn.session, this.#gcm(nonce, aad), key);
      const scratch = Buffer.alloc(body.length);
      try {
        const out = await lib.C_DecryptAsync(conn.session, body, scratch);
        if (out.length !== body.length - TAG_BYTES) {
          throw unavailable('the HSM returned an AES-GCM result of an unexpected length');
        }
        const plain = Buffer.alloc(out.length);
        out.copy(plain);
        return plain;
      } catch (err) {
        if (!TAG_CODES.has(ckrCode(err) ?? -1)) throw err;
        // Either the tag did not verify or the token failed: a live token means the former.
        this.#probe(lib, conn, err);
        tagFailure = err;
      } finally {
        scratch.fill(0);
      }
    }
    throw new RosterError('crypto.integrity', { cause: tagFailure });
  }

  /**
   * Checks that the session is still logged in and the token answers; throws (the original failure as cause)
   * when not, which drops the connection.
   */
  #probe(lib: Lib, conn: Connection, original: unknown): void {
    try {
      const state = lib.C_GetSessionInfo(conn.session).state;
      if (state !== CKS_RW_USER_FUNCTIONS && state !== CKS_RO_USER_FUNCTIONS) {
        throw unavailable('the HSM session is no longer logged in', original);
      }
      lib.C_GetTokenInfo(conn.slot);
    } catch (err) {
      if (err instanceof RosterError) throw err;
      throw unavailable(`the PKCS#11 token cannot be used (${ckrName(err)})`, err);
    }
  }

  /** Ends this provider's session and finalises the module; the next call reconnects from scratch. */
  #drop(cause: unknown): RosterError {
    const mod = this.#mod;
    const conn = this.#conn;
    this.#conn = undefined;
    if (mod.lib && conn && conn.generation === mod.generation && mod.initialized) {
      try {
        mod.lib.C_CloseSession(conn.session);
      } catch {
        // The finalise below ends it anyway.
      }
    }
    mod.finalize();
    if (cause instanceof RosterError) return cause;
    return unavailable(`the PKCS#11 token cannot be used (${ckrName(cause)})`, cause);
  }
}

/**
 * Opens the PKCS#11 key provider: loads `modulePath`, finds the token labelled `tokenLabel`, opens a
 * read/write session and logs in as the user; on a token holding no `roster-kek-*` key, generates version 1.
 * @throws RosterError crypto.unavailable when the module, the token or the login fails (never naming the PIN).
 */
export async function openPkcs11Provider(options: {
  modulePath: string;
  tokenLabel: string;
  pin: string;
}): Promise<KeyProvider> {
  if (!options.modulePath) throw unavailable('no PKCS#11 module is configured (ROSTER_PKCS11_MODULE)');
  if (!options.tokenLabel.trim()) {
    throw unavailable('no PKCS#11 token label is configured (ROSTER_PKCS11_TOKEN_LABEL)');
  }
  const mod = moduleFor(options.modulePath);
  mod.users += 1;
  const provider = new Pkcs11Provider(mod, options.tokenLabel.trim(), options.pin);
  try {
    await provider.open();
  } catch (err) {
    await provider.close();
    throw err;
  }
  return provider;
}
