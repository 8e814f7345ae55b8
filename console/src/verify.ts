/**
 * Checks in the browser, with Web Crypto only, that an audit entry is in the signed log (docs/audit.md):
 * its leaf hash is computed here from the entry as the API answered it, walked up the RFC 9162 inclusion
 * proof to a root, and that root compared with the latest checkpoint, whose Ed25519 signature (C2SP signed
 * note) is checked against the log's public key. Nothing here trusts a hash the server computed.
 */
import type { AuditEntry } from './types';

export interface Step {
  readonly label: string;
  readonly ok: boolean | null;
  readonly detail?: string;
}

/** Canonical JSON as the server's canonicalJson: keys sorted by UTF-16 code unit, no white space. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The leaf of an entry at `index` (audit/model.ts leafOf, encoding version 1). */
export function leafOf(e: AuditEntry, index: number): Record<string, unknown> {
  return {
    v: 1,
    tenantId: e.tenantId,
    index,
    seq: e.seq,
    time: e.time,
    actor: e.actor,
    action: e.action,
    target: { type: e.target.type, id: e.target.id },
    before: e.before,
    after: e.after,
    requestId: e.requestId,
  };
}

async function sha256(...parts: Uint8Array[]): Promise<Uint8Array> {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const buf = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    buf.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

export async function leafHash(leaf: Record<string, unknown>): Promise<Uint8Array> {
  return sha256(LEAF, new TextEncoder().encode(canonicalJson(leaf)));
}

/** RFC 9162 §2.1.3.2: the root an inclusion proof leads to, or null when the proof has the wrong shape. */
export async function rootFromInclusion(
  leaf: Uint8Array,
  index: number,
  size: number,
  proof: readonly Uint8Array[],
): Promise<Uint8Array | null> {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(NODE, p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = await sha256(NODE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

export function fromBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function toBase64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export interface OpenedCheckpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly signed: boolean | null;
  readonly why?: string;
}

/**
 * Reads a C2SP signed note holding a checkpoint and checks the signature of `verifierKey`
 * (`<name>+<hex key hash>+<base64(0x01 || Ed25519 public key)>`). `signed` is null when this browser's Web
 * Crypto has no Ed25519.
 */
export async function openCheckpoint(note: string, verifierKey: string): Promise<OpenedCheckpoint> {
  const split = note.indexOf('\n\n');
  if (split < 0) throw new Error('the checkpoint note has no signature block');
  const text = note.slice(0, split + 1);
  const [origin = '', size = '', root = ''] = text.split('\n');
  const body = { origin, size: Number(size), rootHash: fromBase64(root) };
  const [name = '', hash = '', key64 = ''] = verifierKey.trim().split('+');
  const typedKey = fromBase64(key64);
  if (typedKey.length !== 33 || typedKey[0] !== 1)
    throw new Error('the public key is not an Ed25519 verifier key');
  const keyHash = Number.parseInt(hash, 16);
  const lines = note
    .slice(split + 2)
    .split('\n')
    .filter((l) => l !== '');
  let signature: Uint8Array<ArrayBuffer> | undefined;
  for (const line of lines) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m || m[1] !== name || !m[2]) continue;
    const raw = fromBase64(m[2]);
    const id = ((raw[0] ?? 0) << 24) | ((raw[1] ?? 0) << 16) | ((raw[2] ?? 0) << 8) | (raw[3] ?? 0);
    if (id >>> 0 === keyHash >>> 0) signature = raw.slice(4);
  }
  if (!signature) return { ...body, signed: false, why: 'no signature of the log key' };
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('raw', typedKey.slice(1), { name: 'Ed25519' }, false, ['verify']);
  } catch {
    return { ...body, signed: null, why: 'this browser cannot check Ed25519 signatures' };
  }
  const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, signature, new TextEncoder().encode(text));
  return { ...body, signed: ok, ...(ok ? {} : { why: 'the signature does not match' }) };
}
