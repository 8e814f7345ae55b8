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
