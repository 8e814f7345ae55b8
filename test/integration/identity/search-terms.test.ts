/**
 * The search terms of encrypted attributes (prefixes and trigrams of userName and e-mail addresses, blind
 * indexes in `user_search_terms`): written with every user, rewritten on update and re-key, removed on delete,
 * stored only as keyed indexes, and never silently incomplete. Exercised through SCIM filters, on both stores.
 */
import { describe, expect, it } from 'vitest';
import { gramsOf, prefixesOf } from '../../../src/identity/codec.js';
import type { Client } from '../../support/app.js';
import { useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';
import { SYSTEM_CTX } from '../crypto/rotation-fixtures.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const SCIM = { 'content-type': 'application/scim+json' };

async function create(api: Client, userName: string, emails: string[] = []): Promise<string> {
  const res = await api.post(
    '/scim/v2/Users',
    { schemas: [USER], userName, emails: emails.map((value) => ({ value, type: 'work' })) },
    SCIM,
  );
  expect(res.status, res.raw).toBe(201);
  return res.body.id as string;
}

async function ids(api: Client, filter: string): Promise<string[]> {
  const res = await api.get(`/scim/v2/Users?count=1000&filter=${encodeURIComponent(filter)}`);
  expect(res.status, `${filter}: ${res.raw}`).toBe(200);
  expect(res.body.totalResults).toBe(res.body.Resources.length);
  return (res.body.Resources as { id: string }[]).map((r) => r.id).sort();
}

describeEachStore('search terms of encrypted attributes', (kind) => {
  const t = useTestApp(kind);

  it('sw, co and ew on userName and e-mails answer exactly, on both sides of a tenant-key rotation', async () => {
    const { api, tenantId } = await t().newTenant();
    const ada = await create(api, 'Ada.Lovelace@analytical.example', [
      'ada@engines.example',
      'countess@lovelace.example',
    ]);
    const alan = await create(api, 'alan.turing@bletchley.example', ['alan@enigma.example']);
    const grace = await create(api, 'grace.hopper@navy.example', ['grace@cobol.example']);
    // "ing" is a trigram of alan's userName, and of "engines" in ada's address, but "turing" only of alan's.
    const check = async (when: string) => {
      expect(await ids(api, 'userName sw "ada."'), when).toEqual([ada]);
      expect(await ids(api, 'userName sw "A"'), when).toEqual([ada, alan].sort());
      expect(await ids(api, 'userName co "TURING"'), when).toEqual([alan]);
      expect(await ids(api, 'userName ew ".example"'), when).toEqual([ada, alan, grace].sort());
      expect(await ids(api, 'userName ew "navy.example"'), when).toEqual([grace]);
      // Every trigram of "hopperx" but one is grace's: the candidate check removes her.
      expect(await ids(api, 'userName co "hopperx"'), when).toEqual([]);
      // Trigrams of "a@enig" spread over two of ada's addresses and alan's one: only alan holds the substring.
      expect(await ids(api, 'emails.value co "n@enig"'), when).toEqual([alan]);
      expect(await ids(api, 'emails sw "countess@"'), when).toEqual([ada]);
      expect(await ids(api, 'emails.value ew "@cobol.example" or userName sw "ada"'), when).toEqual(
        [ada, grace].sort(),
      );
      // Longer than the 32 indexed prefix characters: matched on 32, then checked.
      expect(await ids(api, 'userName sw "alan.turing@bletchley.example"'), when).toEqual([alan]);
      expect(await ids(api, 'userName sw "alan.turing@bletchley.examplf"'), when).toEqual([]);
    };
    await check('before rotation');

    const rotation = t().app.services.rotation;
    const job = await rotation.rotateTenantKey(SYSTEM_CTX, tenantId);
    rotation.start(job.id);
    await rotation.settle();
    expect(await rotation.job(job.id)).toMatchObject({ state: 'done' });
    await check('after rotation');
  });

  it('an update rewrites the terms and a deletion removes them', async () => {
    const { api } = await t().newTenant();
    const id = await create(api, 'before.rename@example.org');
    expect(await ids(api, 'userName sw "before"')).toEqual([id]);
    const put = await api.put(
      `/scim/v2/Users/${id}`,
      { schemas: [USER], userName: 'after.rename@example.org' },
      SCIM,
    );
    expect(put.status, put.raw).toBe(200);
    expect(await ids(api, 'userName sw "before"')).toEqual([]);
    expect(await ids(api, 'userName co "after.ren"')).toEqual([id]);
    const db = t().app.db.kysely;
    const count = async () =>
      Number(
        (
          await db
            .selectFrom('user_search_terms')
            .select((eb) => eb.fn.countAll().as('n'))
            .where('user_id', '=', id)
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await count()).toBeGreaterThan(0);
    expect((await api.delete(`/scim/v2/Users/${id}`)).status).toBe(204);
    expect(await count()).toBe(0);
  });

  it('a userName that is also an address has its terms written once, and each attribute still answers exactly', async () => {
    const { api } = await t().newTenant();
    // As most directories have it, the userName (UPN) is the mail address; the case may differ.
    const shared = await create(api, 'pat.lee@corp.example', ['Pat.Lee@CORP.example']);
    const nameOnly = await create(api, 'pat.lee.admin', ['ops@corp.example']);
    const mailOnly = await create(api, 'contractor-17', ['pat.leeds@corp.example']);
    const termRows = async (id: string) =>
      (
        await t()
          .app.db.kysely.selectFrom('user_search_terms')
          .select('term')
          .where('user_id', '=', id)
          .execute()
      ).length;
    // One set of prefixes and trigrams for the value, not one per attribute.
    const value = 'pat.lee@corp.example';
    expect(await termRows(shared)).toBe(prefixesOf(value).length + gramsOf(value).length);

    const check = async (when: string) => {
      expect(await ids(api, 'userName sw "pat.lee"'), when).toEqual([shared, nameOnly].sort());
      expect(await ids(api, 'emails sw "PAT.LEE"'), when).toEqual([shared, mailOnly].sort());
      // Exact, so negation answers too: the shared terms hold for both attributes, never for one alone.
      expect(await ids(api, 'not (userName sw "pat.lee")'), when).toEqual([mailOnly]);
      expect(await ids(api, 'not (emails.value sw "pat.lee")'), when).toEqual([nameOnly]);
      expect(await ids(api, 'userName co "lee@corp"'), when).toEqual([shared]);
      expect(await ids(api, 'emails.value co "lee@corp"'), when).toEqual([shared]);
      expect(await ids(api, 'emails.value co "leeds"'), when).toEqual([mailOnly]);
      expect(await ids(api, 'userName ew "corp.example"'), when).toEqual([shared]);
      expect(await ids(api, 'emails ew "corp.example"'), when).toEqual([shared, nameOnly, mailOnly].sort());
    };
    await check('written');

    // The userName stops being an address: its terms and the address's are written apart.
    const put = await api.put(
      `/scim/v2/Users/${shared}`,
      { schemas: [USER], userName: 'p.lee', emails: [{ value: 'Pat.Lee@CORP.example', type: 'work' }] },
      SCIM,
    );
    expect(put.status, put.raw).toBe(200);
    expect(await ids(api, 'userName sw "pat.lee"')).toEqual([nameOnly]);
    expect(await ids(api, 'userName sw "p.lee"')).toEqual([shared]);
    expect(await ids(api, 'emails sw "pat.lee"')).toEqual([shared, mailOnly].sort());
    expect(await ids(api, 'userName co "lee@corp"')).toEqual([]);
    expect(await termRows(shared)).toBe(
      prefixesOf('p.lee').length + gramsOf('p.lee').length + prefixesOf(value).length + gramsOf(value).length,
    );
  });

  it('stores terms only as keyed indexes: no prefix or trigram of a userName appears in the table', async () => {
    const { api } = await t().newTenant();
    const id = await create(api, 'plaintextprobe@example.net');
    const rows = await t()
      .app.db.kysely.selectFrom('user_search_terms')
      .select('term')
      .where('user_id', '=', id)
      .execute();
    // 26 characters: 26 prefixes plus its distinct trigrams, all 32 hex characters long.
    expect(rows.length).toBeGreaterThan(26);
    for (const { term } of rows) {
      expect(term).toMatch(/^[0-9a-f]{32}$/);
      expect(term).not.toContain('probe');
    }
  });

  it('refuses sw, co and ew while a user of the tenant has no terms yet (written before they existed); eq still answers', async () => {
    const { api, tenantId } = await t().newTenant();
    const id = await create(api, 'legacy.user@example.com');
    // As a row written before migration 0007 would be: no terms, terms_version 0.
    const db = t().app.db.kysely;
    await db.deleteFrom('user_search_terms').where('user_id', '=', id).execute();
    await db.updateTable('users').set({ terms_version: 0 }).where('id', '=', id).execute();
    for (const filter of ['userName sw "legacy"', 'userName co "gacy"', 'emails ew "example.com"']) {
      const res = await api.get(`/scim/v2/Users?filter=${encodeURIComponent(filter)}`);
      expect(res.status, filter).toBe(400);
      expect(res.body.scimType).toBe('invalidFilter');
    }
    expect(await ids(api, 'userName eq "LEGACY.user@example.com"')).toEqual([id]);
    // A tenant-key rotation rewrites the row with its terms, and the filters answer again.
    const rotation = t().app.services.rotation;
    const job = await rotation.rotateTenantKey(SYSTEM_CTX, tenantId);
    rotation.start(job.id);
    await rotation.settle();
    expect(await ids(api, 'userName sw "legacy"')).toEqual([id]);
  });
});

describe('search terms: refusals that keep answers exact', () => {
  const t = useTestApp('sqlite');
  it('co and ew need 3 characters, cannot be negated, and names are answerable only by presence', async () => {
    const { api } = await t().newTenant();
    await create(api, 'someone@example.com');
    for (const filter of [
      'userName co "ab"',
      'userName ew "m"',
      'not (userName co "some")',
      'not (emails ew "example.com")',
      'name.givenName co "x"',
      'userName gt "a"',
    ]) {
      const res = await api.get(`/scim/v2/Users?filter=${encodeURIComponent(filter)}`);
      expect(res.status, filter).toBe(400);
      expect(res.body.scimType, filter).toBe('invalidFilter');
    }
    // A short `sw` under `not` is exact, so it is answered.
    expect(
      (await api.get(`/scim/v2/Users?filter=${encodeURIComponent('not (userName sw "some")')}`)).status,
    ).toBe(200);
  });
});
