import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { loadLocalKeyFile } from '../../../src/crypto/local-kek.js';
import { RosterError } from '../../../src/platform/errors.js';

// Property-based tests: generous limits, since test files run in parallel on shared CPUs.
vi.setConfig({ testTimeout: 60_000, hookTimeout: 60_000 });

const root = mkdtempSync(join(tmpdir(), 'roster-kek-'));
let n = 0;
/** A new, empty folder. */
function fresh(): string {
  const dir = join(root, `case-${++n}`);
  mkdirSync(dir);
  return dir;
}

afterAll(() => rmSync(root, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const posix = process.platform !== 'win32';

async function rejectsIntegrity(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected crypto.integrity').toBeInstanceOf(RosterError);
  expect((err as RosterError).code).toBe('crypto.integrity');
}

function keyFileError(path: string): Error {
  try {
    loadLocalKeyFile(path);
  } catch (err) {
    expect(err).toBeInstanceOf(Error);
    return err as Error;
  }
  throw new Error('expected loadLocalKeyFile to throw');
}

describe('loadLocalKeyFile', () => {
  it('creates the key file (and its missing folders) with mode 0600 on first load', () => {
    const dir = join(fresh(), 'nested', 'deeper');
    const path = join(dir, 'roster.key');
    expect(existsSync(dir)).toBe(false);
    const { created, provider } = loadLocalKeyFile(path);
    expect(created).toBe(true);
    expect(provider.name).toBe('local');
    expect(provider.currentVersion()).toBe(1);
    expect(statSync(dir).isDirectory()).toBe(true);
    if (posix) {
      expect(statSync(path).mode & 0o777).toBe(0o600);
      // The folder is not readable by group or others either.
      expect(statSync(dir).mode & 0o077).toBe(0);
    }
    const parsed = JSON.parse(readFileSync(path, 'utf8'));
    expect(parsed.format).toBe('roster-kek/1');
    expect(parsed.keys).toHaveLength(1);
    expect(parsed.keys[0].version).toBe(1);
    expect(Buffer.from(parsed.keys[0].key, 'base64')).toHaveLength(32);
    expect(Number.isNaN(Date.parse(parsed.keys[0].createdAt))).toBe(false);
  });

  it('creates distinct random keys for distinct files', () => {
    const a = join(fresh(), 'a.key');
    const b = join(fresh(), 'b.key');
    loadLocalKeyFile(a);
    loadLocalKeyFile(b);
    const keyOf = (p: string) => JSON.parse(readFileSync(p, 'utf8')).keys[0].key;
    expect(keyOf(a)).not.toBe(keyOf(b));
  });

  it('reuses an existing file on the next load: same key, nothing rewritten', async () => {
    const path = join(fresh(), 'roster.key');
    const first = loadLocalKeyFile(path);
    const text = readFileSync(path, 'utf8');
    const second = loadLocalKeyFile(path);
    expect(second.created).toBe(false);
    expect(readFileSync(path, 'utf8')).toBe(text);
    const aad = Buffer.from('roster/tenant-key|t|1');
    const plain = randomBytes(32);
    const wrapped = await first.provider.wrap(plain, aad);
    expect((await second.provider.unwrap(wrapped.kekVersion, wrapped.wrapped, aad)).equals(plain)).toBe(true);
  });

  it('warns when an existing file is readable by group or others', () => {
    if (!posix) return;
    const path = join(fresh(), 'roster.key');
    loadLocalKeyFile(path);
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => {});
    loadLocalKeyFile(path);
    expect(warn).not.toHaveBeenCalled();
    chmodSync(path, 0o644);
    loadLocalKeyFile(path);
    expect(warn).toHaveBeenCalledTimes(1);
    const [message, options] = warn.mock.calls[0] as [string, { code?: string }];
    expect(message).toContain('ROSTER_KEY_FILE');
    expect(options.code).toBe('ROSTER_KEY_MODE');
  });

  it('uses the highest version as current and keeps the older ones for unwrapping', async () => {
    const path = join(fresh(), 'rotated.key');
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    const fileOf = (keys: { version: number; key: string }[]) =>
      `${JSON.stringify({ format: 'roster-kek/1', keys: keys.map((k) => ({ ...k, createdAt: new Date().toISOString() })) })}\n`;
    const aad = Buffer.from('aad');
    const plain = randomBytes(32);
    writeFileSync(path, fileOf([{ version: 1, key: k1.toString('base64') }]), { mode: 0o600 });
    const old = await loadLocalKeyFile(path).provider.wrap(plain, aad);
    expect(old.kekVersion).toBe(1);
    writeFileSync(
      path,
      fileOf([
        { version: 2, key: k2.toString('base64') },
        { version: 1, key: k1.toString('base64') },
      ]),
      { mode: 0o600 },
    );
    const { provider } = loadLocalKeyFile(path);
    expect(provider.currentVersion()).toBe(2);
    const now = await provider.wrap(plain, aad);
    expect(now.kekVersion).toBe(2);
    expect((await provider.unwrap(1, old.wrapped, aad)).equals(plain)).toBe(true);
    expect((await provider.unwrap(2, now.wrapped, aad)).equals(plain)).toBe(true);
    await rejectsIntegrity(provider.unwrap(2, old.wrapped, aad));
    await rejectsIntegrity(provider.unwrap(3, now.wrapped, aad));
  });

  describe('a malformed file gives an error naming ROSTER_KEY_FILE without key bytes', () => {
    const secretKey = randomBytes(16).toString('base64'); // 128-bit: wrong length
    const goodKey = randomBytes(32).toString('base64');
    const cases: [string, string][] = [
      ['not JSON', `key=${goodKey}`],
      ['empty', ''],
      ['JSON null', 'null'],
      ['wrong format', JSON.stringify({ format: 'other/1', keys: [{ version: 1, key: goodKey }] })],
      ['no keys', JSON.stringify({ format: 'roster-kek/1', keys: [] })],
      ['keys not an array', JSON.stringify({ format: 'roster-kek/1', keys: { version: 1, key: goodKey } })],
      ['a short key', JSON.stringify({ format: 'roster-kek/1', keys: [{ version: 1, key: secretKey }] })],
      ['version 0', JSON.stringify({ format: 'roster-kek/1', keys: [{ version: 0, key: goodKey }] })],
      ['version "1"', JSON.stringify({ format: 'roster-kek/1', keys: [{ version: '1', key: goodKey }] })],
      ['a key entry that is a number', JSON.stringify({ format: 'roster-kek/1', keys: [7] })],
      [
        'a key entry that is null',
        JSON.stringify({ format: 'roster-kek/1', keys: [{ version: 1, key: goodKey }, null] }),
      ],
    ];

    it.each(cases)('%s', (_what, content) => {
      const path = join(fresh(), 'bad.key');
      writeFileSync(path, content, { mode: 0o600 });
      const err = keyFileError(path);
      expect(err.message).toContain('ROSTER_KEY_FILE');
      expect(err.message).not.toContain(secretKey);
      expect(err.message).not.toContain(goodKey);
      expect(String(err.stack)).not.toContain(goodKey);
      expect(err).not.toBeInstanceOf(TypeError);
      // The bad file is left alone, never replaced by a fresh key.
      expect(readFileSync(path, 'utf8')).toBe(content);
    });

    it('a path that is a folder', () => {
      const dir = fresh();
      loadLocalKeyFile(join(dir, 'x.key'));
      const err = keyFileError(dir);
      expect(err.message).toContain('ROSTER_KEY_FILE');
    });
  });
});

describe('local provider wrap / unwrap', () => {
  const { provider } = loadLocalKeyFile(join(fresh(), 'roster.key'));

  it('round-trips any key under any AAD', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), async (k, a) => {
        const plain = Buffer.from(k);
        const aad = Buffer.from(a);
        const { kekVersion, wrapped } = await provider.wrap(plain, aad);
        expect(kekVersion).toBe(1);
        expect(wrapped).toHaveLength(12 + plain.length + 16);
        if (plain.length >= 8) expect(wrapped.includes(plain)).toBe(false);
        expect((await provider.unwrap(kekVersion, wrapped, aad)).equals(plain)).toBe(true);
      }),
      { numRuns: 50 },
    );
  });

  it('uses a fresh nonce for each wrap', async () => {
    const plain = randomBytes(32);
    const aad = Buffer.from('a');
    const a = await provider.wrap(plain, aad);
    const b = await provider.wrap(plain, aad);
    expect(a.wrapped.equals(b.wrapped)).toBe(false);
  });

  it('binds the wrapped key to its AAD (tenant and version)', async () => {
    const plain = randomBytes(32);
    const aad = Buffer.from('roster/tenant-key|tenant-a|1');
    const { kekVersion, wrapped } = await provider.wrap(plain, aad);
    await rejectsIntegrity(provider.unwrap(kekVersion, wrapped, Buffer.from('roster/tenant-key|tenant-b|1')));
    await rejectsIntegrity(provider.unwrap(kekVersion, wrapped, Buffer.from('roster/tenant-key|tenant-a|2')));
    await rejectsIntegrity(provider.unwrap(kekVersion, wrapped, Buffer.alloc(0)));
  });

  it('detects any flipped byte of the wrapped key', async () => {
    const plain = randomBytes(32);
    const aad = Buffer.from('aad');
    const { kekVersion, wrapped } = await provider.wrap(plain, aad);
    for (let at = 0; at < wrapped.length; at++) {
      const tampered = Buffer.from(wrapped);
      tampered[at] = (tampered[at] as number) ^ 0x01;
      await rejectsIntegrity(provider.unwrap(kekVersion, tampered, aad));
    }
  });

  it('fails under another key file', async () => {
    const other = loadLocalKeyFile(join(fresh(), 'other.key')).provider;
    const aad = Buffer.from('aad');
    const { kekVersion, wrapped } = await provider.wrap(randomBytes(32), aad);
    await rejectsIntegrity(other.unwrap(kekVersion, wrapped, aad));
  });

  it('names an unknown KEK version as an integrity failure', async () => {
    const aad = Buffer.from('aad');
    const { wrapped } = await provider.wrap(randomBytes(32), aad);
    await rejectsIntegrity(provider.unwrap(2, wrapped, aad));
    await rejectsIntegrity(provider.unwrap(0, wrapped, aad));
  });

  it('treats a truncated wrapped key as an integrity failure, not a crash', async () => {
    const aad = Buffer.from('aad');
    const { wrapped } = await provider.wrap(randomBytes(32), aad);
    await rejectsIntegrity(provider.unwrap(1, wrapped.subarray(0, wrapped.length - 1), aad));
    await rejectsIntegrity(provider.unwrap(1, wrapped.subarray(0, 28), aad));
    // Shorter than nonce + tag: the tag and nonce slices would be the wrong length.
    await rejectsIntegrity(provider.unwrap(1, wrapped.subarray(0, 20), aad));
    await rejectsIntegrity(provider.unwrap(1, wrapped.subarray(0, 10), aad));
    await rejectsIntegrity(provider.unwrap(1, Buffer.alloc(0), aad));
  });
});
