import { expect, it } from 'vitest';
import type { UsersTable } from '../../../src/platform/db/schema.js';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import {
  type Person,
  personWithPii,
  piiOf,
  SEALED_USER_COLUMNS,
  type SealedUserColumn,
} from '../../support/pii.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * Sealed columns are bound (AAD) to tenant, table, row and column. A ciphertext swapped between users,
 * moved to another column, copied from another tenant or altered must not decrypt as somebody else's
 * value: reading the user fails with crypto.integrity (500), and the answer carries no PII.
 */

let seq = 0;

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
    users: { id: string; pii: Person }[];
  }> {
    const { api } = await t().newTenant();
    const users: { id: string; pii: Person }[] = [];
    for (let i = 0; i < n; i++) {
      const pii = personWithPii(`Tp${kind}${++seq}x${String.fromCharCode(65 + i)}q`);
      const res = await api.post('/api/v1/users', pii);
      expect(res.status, res.raw).toBe(201);
      users.push({ id: res.body.id, pii });
    }
    return { api, users };
  }

  async function row(id: string): Promise<UsersTable> {
    return t().app.db.kysely.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
  }

  async function set(id: string, values: Partial<Record<SealedUserColumn, Buffer | null>>): Promise<void> {
    // user_name_enc is NOT NULL; the tests only ever move real ciphertext into it.
    const res = await t()
      .app.db.kysely.updateTable('users')
      .set(values as Partial<Pick<UsersTable, SealedUserColumn>>)
      .where('id', '=', id)
      .executeTakeFirst();
    expect(Number(res.numUpdatedRows)).toBe(1);
  }

  async function swap(a: string, b: string, columns: readonly SealedUserColumn[]): Promise<void> {
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

  it.each(['emails_enc', 'user_name_enc', 'display_name_enc', 'phone_numbers_enc'] as SealedUserColumn[])(
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
    await swap(a.id, b.id, SEALED_USER_COLUMNS);
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
  ] as [SealedUserColumn, SealedUserColumn][])(
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

  // ---- per-user data keys (users.data_key_enc, format 0x01, sealing the *_enc columns, format 0x02)

  async function setRaw(id: string, values: Partial<UsersTable>): Promise<void> {
    const res = await t()
      .app.db.kysely.updateTable('users')
      .set(values)
      .where('id', '=', id)
      .executeTakeFirst();
    expect(Number(res.numUpdatedRows)).toBe(1);
  }

  /** The row holds a per-user data key (sealed under the tenant key) and its columns are sealed under it. */
  async function expectPerUserKey(id: string): Promise<UsersTable> {
    const r = await row(id);
    expect(r.data_key_enc, 'a per-user data key').not.toBeNull();
    expect(Buffer.from(r.data_key_enc as Buffer)[0], 'data_key_enc: tenant-key format').toBe(0x01);
    for (const c of SEALED_USER_COLUMNS)
      expect(Buffer.from(r[c] as Buffer)[0], `${c}: data-key format`).toBe(0x02);
    return r;
  }

  it('swapping only the sealed data keys of two users makes both fail, never showing the other’s values', async () => {
    const { api, users } = await tenantWithUsers(3);
    const [a, b, c] = users as [(typeof users)[0], (typeof users)[0], (typeof users)[0]];
    const [ra, rb] = [await expectPerUserKey(a.id), await expectPerUserKey(b.id)];
    await setRaw(a.id, { data_key_enc: rb.data_key_enc });
    await setRaw(b.id, { data_key_enc: ra.data_key_enc });
    expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(b.pii), piiOf(a.pii));
    expectIntegrityFailure(await api.get(`/api/v1/users/${b.id}`), piiOf(a.pii), piiOf(b.pii));
    expectIntegrityFailure(
      await api.get(`/api/v1/users?userName=${encodeURIComponent(a.pii.userName)}`),
      piiOf(a.pii),
      piiOf(b.pii),
    );
    const other = await api.get(`/api/v1/users/${c.id}`);
    expect(other.status, other.raw).toBe(200);
    expect(other.body).toMatchObject(c.pii);
  });

  it('copying a user’s data key and every sealed column onto another user’s row fails for the receiver', async () => {
    const { api, users } = await tenantWithUsers(2);
    const [a, b] = users as [(typeof users)[0], (typeof users)[0]];
    const ra = await expectPerUserKey(a.id);
    await expectPerUserKey(b.id);
    await setRaw(b.id, {
      data_key_enc: ra.data_key_enc,
      key_version: ra.key_version,
      ...Object.fromEntries(SEALED_USER_COLUMNS.map((col) => [col, ra[col]])),
    });
    // Every byte B holds now is A's, yet the values are bound (AAD) to A's row id: B's read fails.
    expectIntegrityFailure(await api.get(`/api/v1/users/${b.id}`), piiOf(a.pii), piiOf(b.pii));
    expectIntegrityFailure(await api.get('/api/v1/users'), piiOf(a.pii), piiOf(b.pii));
    const source = await api.get(`/api/v1/users/${a.id}`);
    expect(source.status, source.raw).toBe(200);
    expect(source.body).toMatchObject(a.pii);
  });

  it.each([
    ['given_name_enc', 'family_name_enc'],
    ['emails_enc', 'phone_numbers_enc'],
    ['user_name_enc', 'display_name_enc'],
  ] as [SealedUserColumn, SealedUserColumn][])(
    'under a per-user data key, swapping %s and %s of one user is detected',
    async (x, y) => {
      const { api, users } = await tenantWithUsers(1);
      const [a] = users as [(typeof users)[0]];
      const r = await expectPerUserKey(a.id);
      await set(a.id, { [x]: r[y], [y]: r[x] });
      expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(a.pii));
    },
  );

  it('a legacy row (no data key) whose columns are sealed under a user data key fails the format check', async () => {
    const { FieldCipher } = await import('../../../src/crypto/service.js');
    const { api, users } = await tenantWithUsers(1);
    const [a] = users as [(typeof users)[0]];
    const r = await expectPerUserKey(a.id);
    // The check can fail: a genuine legacy row (columns sealed directly under the tenant key) still reads.
    const keys = await t().app.services.keys.tenantKeys(t().app.db.kysely, r.tenant_id);
    const legacy = new FieldCipher(keys.get(r.key_version), 'users', a.id);
    const values: Record<SealedUserColumn, unknown> = {
      user_name_enc: a.pii.userName,
      given_name_enc: a.pii.name.givenName,
      family_name_enc: a.pii.name.familyName,
      formatted_name_enc: a.pii.name.formatted,
      display_name_enc: a.pii.displayName,
      emails_enc: a.pii.emails,
      phone_numbers_enc: a.pii.phoneNumbers,
      addresses_enc: a.pii.addresses,
    };
    await setRaw(a.id, {
      data_key_enc: null,
      ...Object.fromEntries(
        SEALED_USER_COLUMNS.map((col) => [col, legacy.sealJson(col.slice(0, -'_enc'.length), values[col])]),
      ),
    });
    const ok = await api.get(`/api/v1/users/${a.id}`);
    expect(ok.status, ok.raw).toBe(200);
    expect(ok.body).toMatchObject(a.pii);

    // The data key dropped, the columns sealed under it left: read as legacy, their format byte (0x02) is not
    // the tenant key's (0x01), and the read fails rather than trying them as tenant-sealed.
    await setRaw(a.id, {
      data_key_enc: null,
      ...Object.fromEntries(SEALED_USER_COLUMNS.map((col) => [col, r[col]])),
    });
    expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(a.pii));
    // And the other way round: a data key present, the columns tenant-sealed (legacy) under it.
    await setRaw(a.id, {
      data_key_enc: r.data_key_enc,
      ...Object.fromEntries(
        SEALED_USER_COLUMNS.map((col) => [col, legacy.sealJson(col.slice(0, -'_enc'.length), values[col])]),
      ),
    });
    expectIntegrityFailure(await api.get(`/api/v1/users/${a.id}`), piiOf(a.pii));
    // Restored as written, the user reads again (the failures were the tampering's).
    await setRaw(a.id, {
      data_key_enc: r.data_key_enc,
      ...Object.fromEntries(SEALED_USER_COLUMNS.map((col) => [col, r[col]])),
    });
    const back = await api.get(`/api/v1/users/${a.id}`);
    expect(back.status, back.raw).toBe(200);
    expect(back.body).toMatchObject(a.pii);
  });
});
