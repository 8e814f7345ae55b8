import { expect, it } from 'vitest';
import type { UsersTable } from '../../../src/platform/db/schema.js';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * Sealed columns are bound (AAD) to tenant, table, row and column. A ciphertext swapped between users,
 * moved to another column, copied from another tenant or altered must not decrypt as somebody else's
 * value: reading the user fails with crypto.integrity (500), and the answer carries no PII.
 */

type SealedColumn =
  | 'user_name_enc'
  | 'given_name_enc'
  | 'family_name_enc'
  | 'formatted_name_enc'
  | 'display_name_enc'
  | 'emails_enc'
  | 'phone_numbers_enc'
  | 'addresses_enc';

const SEALED: SealedColumn[] = [
  'user_name_enc',
  'given_name_enc',
  'family_name_enc',
  'formatted_name_enc',
  'display_name_enc',
  'emails_enc',
  'phone_numbers_enc',
  'addresses_enc',
];

let seq = 0;

/** A user with distinctive PII; `tag` makes each value unique to this user. */
function person(tag: string) {
  return {
    userName: `${tag}.UserName`,
    name: { givenName: `${tag}Given`, familyName: `${tag}Family`, formatted: `${tag} Formatted Name` },
    displayName: `${tag} Display`,
    emails: [{ value: `${tag.toLowerCase()}.mail@tamperprobe.example`, type: 'work', primary: true }],
    phoneNumbers: [{ value: `+49 30 ${tag}` }],
    addresses: [{ streetAddress: `${tag} Street 1`, locality: `${tag}ville` }],
  };
}

function piiOf(p: ReturnType<typeof person>): string[] {
  return [
    p.userName,
    p.name.givenName,
    p.name.familyName,
    p.name.formatted,
    p.displayName,
    ...p.emails.map((e) => e.value),
    ...p.phoneNumbers.map((e) => e.value),
    ...p.addresses.flatMap((a) => [a.streetAddress, a.locality]),
  ];
}

function expectIntegrityFailure(res: Answer, ...absent: string[][]): void {
  expect(res.status, res.raw).toBe(500);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  expect(res.body).toMatchObject({
    type: 'urn:roster:problem:crypto.integrity',
    title: 'Stored ciphertext failed its integrity check',
    status: 500,
    code: 'crypto.integrity',
  });
  expect(res.body).not.toHaveProperty('detail');
  const raw = res.raw.toLowerCase();
  for (const list of absent) for (const v of list) expect(raw, v).not.toContain(v.toLowerCase());
}

describeEachStore('tampered ciphertext', (kind) => {
  const t = useTestApp(kind);

  async function tenantWithUsers(n: number): Promise<{
    api: Client;
    users: { id: string; pii: ReturnType<typeof person> }[];
  }> {
    const { api } = await t().newTenant();
    const users: { id: string; pii: ReturnType<typeof person> }[] = [];
    for (let i = 0; i < n; i++) {
      const pii = person(`Tp${kind}${++seq}x${String.fromCharCode(65 + i)}q`);
      const res = await api.post('/api/v1/users', pii);
      expect(res.status, res.raw).toBe(201);
      users.push({ id: res.body.id, pii });
    }
    return { api, users };
  }

  async function row(id: string): Promise<UsersTable> {
    return t().app.db.kysely.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  async function set(id: string, values: Partial<Record<SealedColumn, Buffer | null>>): Promise<void> {
    // user_name_enc is NOT NULL; the tests only ever move real ciphertext into it.
    const res = await t()
      .app.db.kysely.updateTable('users')
      .set(values as Partial<Pick<UsersTable, SealedColumn>>)
      .where('id', '=', id)
      .executeTakeFirst();
    expect(Number(res.numUpdatedRows)).toBe(1);
  }

  async function swap(a: string, b: string, columns: SealedColumn[]): Promise<void> {
    const [ra, rb] = [await row(a), await row(b)];
    await set(a, Object.fromEntries(columns.map((c) => [c, rb[c]])));
    await set(b, Object.fromEntries(columns.map((c) => [c, ra[c]])));
  }

  it('sanity: untampered users read back with their PII', async () => {
    const { api, users } = await tenantWithUsers(2);
    for (const u of users) {
      const res = await api.get(`/api/v1/users/${u.id}`);
      expect(res.status, res.raw).toBe(200);
      expect(res.body).toMatchObject(u.pii);
    }
  });

  it.each(['emails_enc', 'user_name_enc', 'display_name_enc', 'phone_numbers_enc'] as SealedColumn[])(
    'swapping %s between two users makes both fail instead of showing the other value',
    async (column) => {
      const { api, users } = await tenantWithUsers(3);
      const [a, b, c] = users as [(typeof users)[0], (typeof users)[0], (typeof users)[0]];
      await swap(a.id, b.id, [column]);
      expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(b.pii), piiOf(a.pii));
      expectIntegrityFailure(await api.get(`/api/v1/users/${b.id}`), piiOf(a.pii), piiOf(b.pii));
      // Only the tampered rows fail.
      const other = await api.get(`/api/v1/users/${c.id}`);
      expect(other.status, other.raw).toBe(200);
      expect(other.body.userName).toBe(c.pii.userName);
    },
  );

  it('swapping every sealed column (and the blind index) between two users is detected', async () => {
    const { api, users } = await tenantWithUsers(2);
    const [a, b] = users as [(typeof users)[0], (typeof users)[0]];
    await swap(a.id, b.id, SEALED);
    const [ra, rb] = [await row(a.id), await row(b.id)];
    await t()
      .app.db.kysely.updateTable('users')
      .set({ user_name_bidx: 'x' })
      .where('id', '=', a.id)
      .execute();
    await t()
      .app.db.kysely.updateTable('users')
      .set({ user_name_bidx: ra.user_name_bidx })
      .where('id', '=', b.id)
      .execute();
    await t()
      .app.db.kysely.updateTable('users')
      .set({ user_name_bidx: rb.user_name_bidx })
      .where('id', '=', a.id)
      .execute();
    expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(b.pii));
    expectIntegrityFailure(await api.get(`/api/v1/users/${b.id}`), piiOf(a.pii));
  });

  it('copying another user ciphertext over one column fails for the receiver only', async () => {
    const { api, users } = await tenantWithUsers(2);
    const [a, b] = users as [(typeof users)[0], (typeof users)[0]];
    await set(a.id, { emails_enc: (await row(b.id)).emails_enc });
    expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(b.pii));
    const src = await api.get(`/api/v1/users/${b.id}`);
    expect(src.status).toBe(200);
    expect(src.body.emails).toEqual(b.pii.emails);
  });

  it.each([
    ['emails_enc', 'phone_numbers_enc'],
    ['emails_enc', 'addresses_enc'],
    ['user_name_enc', 'display_name_enc'],
    ['given_name_enc', 'family_name_enc'],
    ['display_name_enc', 'formatted_name_enc'],
  ] as [SealedColumn, SealedColumn][])(
    "moving a user's %s into their own %s is detected",
    async (from, to) => {
      const { api, users } = await tenantWithUsers(1);
      const [a] = users as [(typeof users)[0]];
      await set(a.id, { [to]: (await row(a.id))[from] });
      expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(a.pii));
    },
  );

  it('swapping two columns of the same user is detected', async () => {
    const { api, users } = await tenantWithUsers(1);
    const [a] = users as [(typeof users)[0]];
    const r = await row(a.id);
    await set(a.id, { given_name_enc: r.family_name_enc, family_name_enc: r.given_name_enc });
    expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(a.pii));
  });

  it("a ciphertext copied from another tenant's user does not decrypt", async () => {
    const one = await tenantWithUsers(1);
    const two = await tenantWithUsers(1);
    const [a] = one.users as [(typeof one.users)[0]];
    const [x] = two.users as [(typeof two.users)[0]];
    await set(a.id, { user_name_enc: (await row(x.id)).user_name_enc });
    expectIntegrityFailure(await one.api.get(`/api/v1/users/${a.id}`), piiOf(x.pii));
  });

  it('a flipped byte in a sealed column is detected', async () => {
    const { api, users } = await tenantWithUsers(1);
    const [a] = users as [(typeof users)[0]];
    const sealed = Buffer.from((await row(a.id)).emails_enc as Buffer);
    sealed[sealed.length - 20] = (sealed[sealed.length - 20] as number) ^ 0x01;
    await set(a.id, { emails_enc: sealed });
    expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(a.pii));
  });

  it('a list that includes a tampered user fails without revealing any value', async () => {
    const { api, users } = await tenantWithUsers(3);
    const [a, b, c] = users as [(typeof users)[0], (typeof users)[0], (typeof users)[0]];
    await swap(a.id, b.id, ['emails_enc']);
    expectIntegrityFailure(await api.get('/api/v1/users'), piiOf(a.pii), piiOf(b.pii), piiOf(c.pii));
  });

  it('a write to a tampered user is refused and changes nothing', async () => {
    const { api, users } = await tenantWithUsers(2);
    const [a, b] = users as [(typeof users)[0], (typeof users)[0]];
    await swap(a.id, b.id, ['emails_enc']);
    const before = await row(a.id);
    expectIntegrityFailure(await api.patch(`/api/v1/users/${a.id}`, { title: 'Changed' }), piiOf(b.pii));
    const after = await row(a.id);
    expect(after.version).toBe(before.version);
    expect(after.title).toBe(before.title);
    expect(Buffer.from(after.emails_enc as Buffer).equals(Buffer.from(before.emails_enc as Buffer))).toBe(
      true,
    );
  });
});
