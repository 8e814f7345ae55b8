/**
 * Personal data in tests: the sealed columns of `users`, a person with distinctive PII, the PII strings of a
 * user, and every row of every table of a store read raw (to search for PII or ciphertext at rest).
 */
import { sql } from 'kysely';
import type { Db } from '../../src/platform/db/index.js';
import type { UsersTable } from '../../src/platform/db/schema.js';

/** The columns of `users` that hold PII, sealed (`given_name_enc` is sealed with the AAD column `given_name`). */
export const SEALED_USER_COLUMNS = [
  'user_name_enc',
  'given_name_enc',
  'family_name_enc',
  'formatted_name_enc',
  'display_name_enc',
  'emails_enc',
  'phone_numbers_enc',
  'addresses_enc',
] as const satisfies readonly (keyof UsersTable)[];

export type SealedUserColumn = (typeof SEALED_USER_COLUMNS)[number];

export interface Person {
  readonly userName: string;
  readonly name: { givenName: string; familyName: string; formatted: string };
  readonly displayName: string;
  readonly emails: { value: string; type: string; primary?: boolean }[];
  readonly phoneNumbers: { value: string; type: string }[];
  readonly addresses: { streetAddress: string; locality: string; postalCode: string }[];
  // Not PII: stored in clear.
  readonly title: string;
  readonly department: string;
  readonly location: { site: string; country: string };
}

/**
 * A user with PII unique to `tag` (letters and digits): every PII value holds the tag, so two tags share no
 * value and no chance match occurs. For values unique across calls and runs, put a random part in the tag.
 */
export function personWithPii(tag: string): Person {
  return {
    userName: `Piiprobe.${tag}.Quendolyn`,
    name: {
      givenName: `Quendolyn${tag}`,
      familyName: `Marchbanks-${tag}`,
      formatted: `Dr Quendolyn ${tag} Marchbanks`,
    },
    displayName: `Quen ${tag} Piiprobe`,
    emails: [
      { value: `quendolyn.${tag}@piiprobe-work.example`, type: 'work', primary: true },
      { value: `q.${tag}.home@piiprobe-home.example`, type: 'home' },
    ],
    phoneNumbers: [{ value: `+49 30 5551 ${tag}`, type: 'work' }],
    addresses: [
      { streetAddress: `${tag} Kettlewick Lane`, locality: `Piiburgh${tag}`, postalCode: `PB-${tag}` },
    ],
    title: 'Engineer',
    department: 'Research',
    location: { site: 'ber', country: 'DE' },
  };
}

/** What of a user is PII (all optional, so that partial users and patches qualify). */
export interface WithPii {
  readonly userName?: string;
  readonly name?: { readonly givenName?: string; readonly familyName?: string; readonly formatted?: string };
  readonly displayName?: string;
  readonly emails?: readonly { readonly value: string; readonly display?: string }[];
  readonly phoneNumbers?: readonly { readonly value: string }[];
  readonly addresses?: readonly Readonly<Record<string, unknown>>[];
}

/** The PII strings of a user: names, e-mails (and their display), phone numbers, every address field but `type`. */
export function piiOf(u: WithPii): string[] {
  const out = [u.userName, u.name?.givenName, u.name?.familyName, u.name?.formatted, u.displayName];
  for (const e of u.emails ?? []) out.push(e.value, e.display);
  for (const p of u.phoneNumbers ?? []) out.push(p.value);
  for (const a of u.addresses ?? []) {
    for (const [k, v] of Object.entries(a)) if (k !== 'type' && typeof v === 'string') out.push(v);
  }
  return out.filter((s): s is string => typeof s === 'string');
}

export type Row = Record<string, unknown>;

/** Every row of every table of the store, raw, by table name (SQLite and PostgreSQL). */
export async function dumpAllTables(db: Db): Promise<Map<string, Row[]>> {
  const names =
    db.dialect === 'sqlite'
      ? (
          await sql<{
            name: string;
          }>`select name from sqlite_master where type = 'table' order by name`.execute(db.kysely)
        ).rows.map((r) => r.name)
      : (
          await sql<{ table_name: string }>`select table_name from information_schema.tables
              where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name`.execute(
            db.kysely,
          )
        ).rows.map((r) => r.table_name);
  const out = new Map<string, Row[]>();
  for (const name of names) {
    const { rows } = await sql<Row>`select * from ${sql.table(name)}`.execute(db.kysely);
    out.set(name, rows);
  }
  return out;
}
