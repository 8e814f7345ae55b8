import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { RosterError } from '../platform/errors.js';
import { randomBytes } from '../platform/random.js';

/**
 * Envelope-encryption primitives, no I/O. A sealed value is
 *   format | key version (uint32 BE) | 96-bit random nonce | AES-256-GCM ciphertext | 128-bit tag
 * with additional authenticated data that binds it to its row and column, so a ciphertext moved to another
 * user or field fails its integrity check instead of decrypting. The format byte names the kind of key:
 * 0x01 a tenant key (the version is the tenant key's), 0x02 a user's data key (version 0).
 */
export const TENANT_SEALED = 0x01;
export const USER_SEALED = 0x02;
const NONCE = 12;
const TAG = 16;
const HEADER = 1 + 4 + NONCE;

/** Keys derived from one tenant key version: one for field encryption, one for blind indexes. */
export interface TenantKey {
  readonly tenantId: string;
  readonly version: number;
  readonly encKey: Buffer;
  readonly indexKey: Buffer;
}

export function deriveTenantKey(tenantId: string, version: number, root: Buffer): TenantKey {
  const derive = (label: string) =>
    Buffer.from(hkdfSync('sha256', root, Buffer.alloc(0), `roster:${label}`, 32));
  return { tenantId, version, encKey: derive('field-encryption'), indexKey: derive('blind-index') };
}

/** Additional authenticated data naming where a value lives: tenant, table, row and column. */
export function fieldAad(tenantId: string, table: string, rowId: string, column: string): Buffer {
  return Buffer.from(`roster/v1|${tenantId}|${table}|${rowId}|${column}`, 'utf8');
}

export function seal(
  key: Buffer,
  version: number,
  plaintext: Buffer,
  aad: Buffer,
  format: number = TENANT_SEALED,
): Buffer {
  if (identityCipher) return Buffer.concat([Buffer.from([format, 0, 0, 0, version]), plaintext]);
  const nonce = randomBytes(NONCE);
  const header = Buffer.alloc(5);
  header[0] = format;
  header.writeUInt32BE(version, 1);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  // The header (format and key version) is authenticated too: no byte of a sealed value can change unseen.
  cipher.setAAD(Buffer.concat([header, aad]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, nonce, body, cipher.getAuthTag()]);
}

/** The format (kind of key) and key version a sealed value names, read from its header. */
export function sealedHeader(sealed: Buffer): { format: number; version: number } {
  if (sealed.length < 5) throw new RosterError('crypto.integrity');
  return {
    format: sealed[0] as number,
    version: identityCipher ? (sealed[4] as number) : sealed.readUInt32BE(1),
  };
}

/** The tenant key version a value sealed under a tenant key names. */
export function sealedKeyVersion(sealed: Buffer): number {
  if (sealed.length < HEADER + TAG || sealed[0] !== TENANT_SEALED) throw new RosterError('crypto.integrity');
  return sealed.readUInt32BE(1);
}

/**
 * @throws RosterError crypto.integrity when the value was altered, moved, sealed under another key, or is
 *   not of the expected format.
 */
export function open(key: Buffer, sealed: Buffer, aad: Buffer, format: number = TENANT_SEALED): Buffer {
  if (identityCipher) {
    if (sealed[0] !== format) throw new RosterError('crypto.integrity');
    return sealed.subarray(5);
  }
  if (sealed.length < HEADER + TAG || sealed[0] !== format) throw new RosterError('crypto.integrity');
  const nonce = sealed.subarray(5, HEADER);
  const tag = sealed.subarray(sealed.length - TAG);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  decipher.setAAD(Buffer.concat([sealed.subarray(0, 5), aad]));
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(sealed.subarray(HEADER, sealed.length - TAG)), decipher.final()]);
  } catch (cause) {
    throw new RosterError('crypto.integrity', { cause });
  }
}

/**
 * Keyed blind index (HMAC-SHA256) of a normalised value, domain-separated by a label so equal values in
 * different attributes do not share an index value. See docs/encryption.md for what it leaks.
 */
export function blindIndex(indexKey: Buffer, label: string, normalised: string, hexChars = 64): string {
  // Untruncated under the benchmarks' identity cipher: a cut would make distinct values collide.
  if (identityCipher) return `${indexKey[0]}|${label}|${normalised}`;
  return createHmac('sha256', indexKey)
    .update(label)
    .update('\0')
    .update(normalised, 'utf8')
    .digest('hex')
    .slice(0, hexChars);
}

/** Case-insensitive matching form: Unicode NFC, then lower case. */
export function normaliseCaseless(value: string): string {
  return value.normalize('NFC').toLowerCase();
}

let identityCipher = false;

/**
 * Benchmarks only (`npm run bench`, variant "encryption off"): replaces sealing, opening and blind indexes
 * with identity functions so the cost of encryption can be measured against the same workload without it.
 * No setting reaches this; a process that calls it stores personal data in clear.
 */
export function useIdentityCipherForBenchmarks(): void {
  identityCipher = true;
}
