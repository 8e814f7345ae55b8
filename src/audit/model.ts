import { canonicalJson } from '../platform/canonical-json.js';

/** An audit entry as written: one per state change, in the same transaction as the change. */
export interface AuditRecord {
  readonly action: string;
  readonly targetType: string;
  readonly targetId: string | null;
  /** The target before the change, PII masked; null for creations. */
  readonly before: Record<string, unknown> | null;
  /** The target after the change, PII masked; null for deletions. */
  readonly after: Record<string, unknown> | null;
}

export interface AuditEntry extends AuditRecord {
  readonly seq: number;
  /** The entry's position in its tree's Merkle log; null until the integrator has taken it in. */
  readonly leafIndex: number | null;
  readonly time: string;
  readonly tenantId: string | null;
  readonly actor: string;
  readonly requestId: string | null;
}

export const MASK = '***';

/**
 * Replaces every present PII field of a view with a fixed mask: the entry says the field was set or
 * changed, never its value (and no hash of it, which would leak equality).
 */
export function maskFields<T extends Record<string, unknown>>(
  view: T,
  fields: readonly string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...view };
  for (const f of fields) {
    const v = out[f];
    if (v === undefined || v === null) continue;
    if (Array.isArray(v)) out[f] = v.map(() => MASK);
    else if (typeof v === 'object') out[f] = Object.fromEntries(Object.keys(v).map((k) => [k, MASK]));
    else out[f] = MASK;
  }
  return out;
}

/** The tree of the platform's own events (entries without a tenant). */
export const PLATFORM_TREE = 'platform';

/** Each tenant has its own Merkle tree, keyed by tenant id; platform events have theirs. */
export function treeOf(tenantId: string | null): string {
  return tenantId ?? PLATFORM_TREE;
}

/**
 * An entry as a leaf of its tree: these fields, as canonical JSON in UTF-8, are the leaf's bytes (the
 * RFC 6962 leaf hash is SHA-256 over 0x00 and them). `index` binds the entry to its position; `v` is the
 * encoding's version.
 */
export interface LeafEntry {
  readonly v: 1;
  readonly tenantId: string | null;
  readonly index: number;
  readonly seq: number;
  readonly time: string;
  readonly actor: string;
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string | null };
  readonly before: Record<string, unknown> | null;
  readonly after: Record<string, unknown> | null;
  readonly requestId: string | null;
}

/** The columns of a stored entry (`audit_entries`) that its leaf is made of. */
export interface EntryRow {
  seq: number;
  tenant_id: string | null;
  at: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  before: string | null;
  after: string | null;
  request_id: string | null;
}

/** A stored entry row as its leaf at `index`. */
export function leafOf(row: EntryRow, index: number): LeafEntry {
  return {
    v: 1,
    tenantId: row.tenant_id,
    index,
    seq: Number(row.seq),
    time: row.at,
    actor: row.actor,
    action: row.action,
    target: { type: row.target_type, id: row.target_id },
    before: row.before === null ? null : (JSON.parse(row.before) as Record<string, unknown>),
    after: row.after === null ? null : (JSON.parse(row.after) as Record<string, unknown>),
    requestId: row.request_id,
  };
}

/** The leaf's bytes: canonical JSON, UTF-8. */
export function leafBytes(leaf: LeafEntry): Buffer {
  return Buffer.from(canonicalJson(leaf), 'utf8');
}

/** A signed checkpoint as stored: the tree head and its C2SP signed note. */
export interface CheckpointRow {
  tree: string;
  size: number;
  rootHash: Uint8Array;
  at: string;
  keyHash: string;
  note: string;
}

/** Activity counts per minute or hour (the bucket keys the store groups by). */
export { BUCKET_PREFIX, type Bucket } from '../platform/time-buckets.js';

/** The order of an entry listing: by sequence, oldest first (`asc`) or newest first (`desc`). */
export type EntryOrder = 'asc' | 'desc';
