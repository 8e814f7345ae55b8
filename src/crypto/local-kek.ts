import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RosterError } from '../platform/errors.js';

/**
 * A key provider holds key-encryption keys (KEKs) by version and wraps and unwraps tenant keys with them.
 * The KEK never leaves the provider; callers only ever see wrapped bytes. Async so that a provider backed by
 * an HSM fits the same shape.
 */
export interface KeyProvider {
  readonly name: 'local' | 'pkcs11';
  /** The version new wraps use (the highest held). */
  currentVersion(): number;
  /** Every KEK version the provider holds, ascending. */
  versions(): number[];
  wrap(plainKey: Buffer, aad: Buffer): Promise<{ kekVersion: number; wrapped: Buffer }>;
  unwrap(kekVersion: number, wrapped: Buffer, aad: Buffer): Promise<Buffer>;
  /** Makes a new KEK version inside the provider; it becomes current. Returns its number. */
  createVersion(): Promise<number>;
  /** Re-reads the versions held (another node may have rotated, or an operator removed one). */
  refresh(): Promise<void>;
  /** Destroys a version for good (callers make sure nothing it wraps is still needed). */
  destroyVersion(version: number): Promise<void>;
  close(): Promise<void>;
}

interface KeyFile {
  format: 'roster-kek/1';
  keys: { version: number; key: string; createdAt: string }[];
}

export interface LocalKeyFile {
  readonly provider: KeyProvider;
  /** True when this call created the file (first start). */
  readonly created: boolean;
}

/**
 * Loads the local KEK file, creating it with mode 0600 (and its folder) when absent.
 * @throws Error naming ROSTER_KEY_FILE when the file is unreadable or malformed; never prints key bytes.
 */
export function loadLocalKeyFile(path: string): LocalKeyFile {
  let created = false;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error('ROSTER_KEY_FILE cannot be read');
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    const fresh: KeyFile = {
      format: 'roster-kek/1',
      keys: [{ version: 1, key: randomBytes(32).toString('base64'), createdAt: new Date().toISOString() }],
    };
    try {
      writeFileSync(path, `${JSON.stringify(fresh, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (e) {
      // Another process created it between our read and write: use theirs.
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST')
        throw new Error('ROSTER_KEY_FILE cannot be created');
    }
    text = readFileSync(path, 'utf8');
  }
  const keys = parseKeyFile(text);
  if ((statSync(path).mode & 0o077) !== 0 && process.platform !== 'win32') {
    process.emitWarning('ROSTER_KEY_FILE is readable by group or others; chmod 600 it', {
      code: 'ROSTER_KEY_MODE',
    });
  }
  return { provider: localProvider(path, keys), created };
}

/** Writes the whole file to a temporary one (mode 0600) and renames it over: a crash leaves either whole. */
function writeKeyFile(path: string, content: KeyFile): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(content, null, 2)}\n`, { mode: 0o600, flag: 'w' });
  renameSync(tmp, path);
}

function readKeyFile(path: string): Map<number, Buffer> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new RosterError('crypto.unavailable', { detail: 'ROSTER_KEY_FILE cannot be read' });
  }
  return parseKeyFile(text);
}

function parseKeyFile(text: string): Map<number, Buffer> {
  let parsed: KeyFile;
  try {
    parsed = JSON.parse(text) as KeyFile;
  } catch {
    throw new Error('ROSTER_KEY_FILE is not a Roster key file (not JSON)');
  }
  if (parsed?.format !== 'roster-kek/1' || !Array.isArray(parsed.keys) || parsed.keys.length === 0) {
    throw new Error('ROSTER_KEY_FILE is not a Roster key file (format roster-kek/1 expected)');
  }
  const keys = new Map<number, Buffer>();
  for (const k of parsed.keys as unknown[]) {
    const entry = (typeof k === 'object' && k !== null ? k : {}) as { version?: unknown; key?: unknown };
    const key = typeof entry.key === 'string' ? Buffer.from(entry.key, 'base64') : Buffer.alloc(0);
    const version = entry.version;
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 1 || key.length !== 32) {
      throw new Error('ROSTER_KEY_FILE holds an entry that is not a 256-bit key with a positive version');
    }
    if (keys.has(version)) throw new Error('ROSTER_KEY_FILE holds two keys with the same version');
    keys.set(version, key);
  }
  return keys;
}

function localProvider(path: string, initial: Map<number, Buffer>): KeyProvider {
  let keys = initial;
  let current = Math.max(...keys.keys());
  const adopt = (next: Map<number, Buffer>) => {
    for (const [v, k] of keys) if (next.get(v) !== k) k.fill(0);
    keys = next;
    current = Math.max(...keys.keys());
  };
  return {
    name: 'local',
    currentVersion: () => current,
    versions: () => [...keys.keys()].sort((a, b) => a - b),
    async refresh() {
      adopt(readKeyFile(path));
    },
    /**
     * Adds a version to the key file: written whole to a temporary file (mode 0600) and renamed over the
     * old one, so a crash leaves either file complete. Other nodes sharing the file see it on refresh().
     */
    async createVersion() {
      const onDisk = readKeyFile(path);
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
      const version = Math.max(...onDisk.keys()) + 1;
      parsed.keys.push({
        version,
        key: randomBytes(32).toString('base64'),
        createdAt: new Date().toISOString(),
      });
      writeKeyFile(path, parsed);
      adopt(parseKeyFile(readFileSync(path, 'utf8')));
      return version;
    },
    async destroyVersion(version) {
      const parsed = JSON.parse(readFileSync(path, 'utf8')) as KeyFile;
      const rest = parsed.keys.filter((k) => k.version !== version);
      if (rest.length === parsed.keys.length) return;
      if (rest.length === 0) throw new Error('ROSTER_KEY_FILE would hold no key');
      writeKeyFile(path, { ...parsed, keys: rest });
      adopt(parseKeyFile(readFileSync(path, 'utf8')));
    },
    async close() {
      for (const k of keys.values()) k.fill(0);
    },
    async wrap(plainKey, aad) {
      const kek = keys.get(current) as Buffer;
      const nonce = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', kek, nonce);
      c.setAAD(aad);
      const body = Buffer.concat([c.update(plainKey), c.final()]);
      return { kekVersion: current, wrapped: Buffer.concat([nonce, body, c.getAuthTag()]) };
    },
    async unwrap(kekVersion, wrapped, aad) {
      // Another node may have added the version since this one read the file.
      if (!keys.has(kekVersion)) adopt(readKeyFile(path));
      const kek = keys.get(kekVersion);
      if (!kek)
        throw new RosterError('crypto.integrity', {
          detail: 'the key-encryption key version is not in the key file',
        });
      // nonce (12) + tag (16) at the least; anything shorter is damaged.
      if (wrapped.length < 12 + 16) throw new RosterError('crypto.integrity');
      const d = createDecipheriv('aes-256-gcm', kek, wrapped.subarray(0, 12));
      d.setAAD(aad);
      d.setAuthTag(wrapped.subarray(wrapped.length - 16));
      try {
        return Buffer.concat([d.update(wrapped.subarray(12, wrapped.length - 16)), d.final()]);
      } catch (cause) {
        throw new RosterError('crypto.integrity', { cause });
      }
    },
  };
}
