import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { RosterError } from '../platform/errors.js';

/**
 * A key provider holds key-encryption keys (KEKs) by version and wraps and unwraps tenant keys with them.
 * The KEK never leaves the provider; callers only ever see wrapped bytes. Async so that a provider backed by
 * an HSM fits the same shape.
 */
export interface KeyProvider {
  readonly name: string;
  currentVersion(): number;
  wrap(plainKey: Buffer, aad: Buffer): Promise<{ kekVersion: number; wrapped: Buffer }>;
  unwrap(kekVersion: number, wrapped: Buffer, aad: Buffer): Promise<Buffer>;
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
  return { provider: localProvider(keys), created };
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

function localProvider(keys: Map<number, Buffer>): KeyProvider {
  const current = Math.max(...keys.keys());
  return {
    name: 'local',
    currentVersion: () => current,
    async wrap(plainKey, aad) {
      const kek = keys.get(current) as Buffer;
      const nonce = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', kek, nonce);
      c.setAAD(aad);
      const body = Buffer.concat([c.update(plainKey), c.final()]);
      return { kekVersion: current, wrapped: Buffer.concat([nonce, body, c.getAuthTag()]) };
    },
    async unwrap(kekVersion, wrapped, aad) {
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
