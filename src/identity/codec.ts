import type { TenantKey } from '../crypto/model.js';
import { blindIndex, normaliseCaseless } from '../crypto/model.js';
import { caselessIndex, FieldCipher, newDataKey, openDataKey, type TenantKeySet } from '../crypto/service.js';
import type { UsersTable } from '../platform/db/schema.js';
import { distinctEmails, GRAM, PREFIX_MAX, type User } from './model.js';

/** Blind-index labels: one per indexed attribute so equal values in different attributes never match. */
export const USER_NAME_INDEX = 'users.userName';
export const EMAIL_INDEX = 'users.emails.value';

export function userNameIndex(key: TenantKey, userName: string): string {
  return caselessIndex(key, USER_NAME_INDEX, userName);
}

export function emailIndexes(key: TenantKey, user: Pick<User, 'emails'>): string[] {
  return distinctEmails(user.emails).map((e) => caselessIndex(key, EMAIL_INDEX, e));
}

/** Sealed attributes with search terms, and the label each term's index is keyed under. */
export const TERM_FIELDS = { userName: 'users.userName', email: 'users.emails.value' } as const;
export type TermField = keyof typeof TERM_FIELDS;
export type TermKind = 'prefix' | 'gram';
/**
 * The label of the terms of a userName that is also one of the user's e-mail addresses (as most directories
 * have it: the UPN is the mail address): its terms are written once under this label, not once per
 * attribute, and a search on either attribute looks them up under its own label and this one. Every term
 * found under it holds for both attributes, so a lookup stays exact.
 */
const SHARED_TERMS = 'users.userName+emails.value';

/** Hex characters kept of a term's HMAC (128 bits: no collisions in practice, half the space). */
const TERM_HEX = 32;

/** The characters of a value as code points (a prefix never splits a surrogate pair). */
const chars = (v: string): string[] => Array.from(normaliseCaseless(v));

/** The prefixes of a value, 1 to PREFIX_MAX characters. */
export function prefixesOf(value: string): string[] {
  const c = chars(value);
  const out: string[] = [];
  for (let n = 1; n <= Math.min(c.length, PREFIX_MAX); n++) out.push(c.slice(0, n).join(''));
  return out;
}

/** The distinct trigrams of a value. */
export function gramsOf(value: string): string[] {
  const c = chars(value);
  const out = new Set<string>();
  for (let i = 0; i + GRAM <= c.length; i++) out.add(c.slice(i, i + GRAM).join(''));
  return [...out];
}

/** One term's index: keyed per tenant key version, label (attribute) and kind, so terms never match across them. */
function termIndex(key: TenantKey, label: string, kind: TermKind, text: string): string {
  return blindIndex(key.indexKey, `${label}.${kind}`, text, TERM_HEX);
}

/**
 * Every index a user holding `text` as a term of `field` may have it under: the attribute's own label and
 * the shared one, under each key version in `keys` (a user written under any of them matches).
 */
export function termIndexes(
  keys: readonly TenantKey[],
  field: TermField,
  kind: TermKind,
  text: string,
): string[] {
  return keys.flatMap((k) => [
    termIndex(k, TERM_FIELDS[field], kind, text),
    termIndex(k, SHARED_TERMS, kind, text),
  ]);
}

/**
 * Every search term of a user under one key version: prefixes and trigrams of userName and each address,
 * those of a userName equal to an address (caseless) written once under the shared label.
 */
export function searchTerms(key: TenantKey, user: Pick<User, 'userName' | 'emails'>): string[] {
  const terms = new Set<string>();
  const add = (label: string, value: string) => {
    for (const p of prefixesOf(value)) terms.add(termIndex(key, label, 'prefix', p));
    for (const g of gramsOf(value)) terms.add(termIndex(key, label, 'gram', g));
  };
  const userName = normaliseCaseless(user.userName);
  const emails = distinctEmails(user.emails);
  const shared = emails.includes(userName);
  add(shared ? SHARED_TERMS : TERM_FIELDS.userName, user.userName);
  for (const e of emails) if (e !== userName) add(TERM_FIELDS.email, e);
  return [...terms];
}

function sealOptional(c: FieldCipher, column: string, value: unknown): Buffer | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value) && value.length === 0) return null;
  return c.sealJson(column, value);
}

/**
 * A user as a row: a fresh data key sealed under the tenant's current key, and the PII sealed under that
 * data key, each value bound to this row and column. Blind indexes are computed under the same tenant key
 * version (`key_version`).
 */
export function encodeUser(key: TenantKey, u: User): UsersTable {
  const { dataKey, sealed } = newDataKey(key, 'users', u.id);
  try {
    return encodeWith(key, new FieldCipher({ dataKey, tenantId: u.tenantId }, 'users', u.id), u, sealed);
  } finally {
    dataKey.fill(0);
  }
}

function encodeWith(key: TenantKey, c: FieldCipher, u: User, sealedDataKey: Buffer): UsersTable {
  return {
    id: u.id,
    tenant_id: u.tenantId,
    version: u.version,
    user_name_bidx: userNameIndex(key, u.userName),
    user_name_enc: c.sealJson('user_name', u.userName),
    external_id: u.externalId,
    given_name_enc: sealOptional(c, 'given_name', u.name?.givenName),
    family_name_enc: sealOptional(c, 'family_name', u.name?.familyName),
    formatted_name_enc: sealOptional(c, 'formatted_name', u.name?.formatted),
    display_name_enc: sealOptional(c, 'display_name', u.displayName),
    emails_enc: sealOptional(c, 'emails', u.emails),
    phone_numbers_enc: sealOptional(c, 'phone_numbers', u.phoneNumbers),
    addresses_enc: sealOptional(c, 'addresses', u.addresses),
    title: u.title,
    department: u.department,
    roles: u.roles.length > 0 ? JSON.stringify(u.roles) : null,
    site: u.location?.site ?? null,
    country: u.location?.country ?? null,
    kind: u.kind,
    manager_id: u.manager,
    status: u.status,
    created_at: u.createdAt,
    updated_at: u.updatedAt,
    data_key_enc: sealedDataKey,
    key_version: key.version,
    terms_version: 1,
  };
}

/**
 * Opens a user row: its data key with the tenant key version that sealed it, then its fields. A row without
 * a data key was sealed directly under the tenant key (before per-user keys) and still opens.
 * @throws crypto.integrity when any sealed column was altered or moved, or its key version is retired.
 */
export function decodeUser(keys: TenantKeySet, r: UsersTable): User {
  if (r.data_key_enc === null) return decodeWith(new FieldCipher(keys.get(r.key_version), 'users', r.id), r);
  const dataKey = openDataKey(keys, 'users', r.id, r.data_key_enc);
  try {
    return decodeWith(new FieldCipher({ dataKey, tenantId: r.tenant_id }, 'users', r.id), r);
  } finally {
    dataKey.fill(0);
  }
}

function decodeWith(c: FieldCipher, r: UsersTable): User {
  const open = <T>(column: string, sealed: Buffer | null): T | undefined =>
    sealed === null ? undefined : c.openJson<T>(column, sealed);
  const givenName = open<string>('given_name', r.given_name_enc);
  const familyName = open<string>('family_name', r.family_name_enc);
  const formatted = open<string>('formatted_name', r.formatted_name_enc);
  const hasName = givenName !== undefined || familyName !== undefined || formatted !== undefined;
  return {
    id: r.id,
    tenantId: r.tenant_id,
    version: r.version,
    userName: c.openJson<string>('user_name', r.user_name_enc),
    externalId: r.external_id,
    name: hasName
      ? {
          ...(givenName !== undefined ? { givenName } : {}),
          ...(familyName !== undefined ? { familyName } : {}),
          ...(formatted !== undefined ? { formatted } : {}),
        }
      : null,
    displayName: open<string>('display_name', r.display_name_enc) ?? null,
    emails: open('emails', r.emails_enc) ?? [],
    phoneNumbers: open('phone_numbers', r.phone_numbers_enc) ?? [],
    addresses: open('addresses', r.addresses_enc) ?? [],
    title: r.title,
    department: r.department,
    roles: r.roles === null ? [] : (JSON.parse(r.roles) as User['roles']),
    location: r.site === null && r.country === null ? null : { site: r.site, country: r.country },
    kind: r.kind as User['kind'],
    manager: r.manager_id,
    status: r.status as User['status'],
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}
