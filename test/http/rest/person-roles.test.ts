import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Client, useTestApp } from '../../support/app.js';
import {
  BASE,
  type Doc,
  expectScim,
  expectScimError,
  patchOf,
  q,
  SCIM_CT,
  scimTenant,
  USER,
} from '../../support/scim.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * People's roles (RFC 7643 §4.1.2 `roles`: who the person is, "Nurse"), through both doors: REST (create,
 * merge patch, read, `?role=`, onboarding) and SCIM (schema, POST, PUT, PATCH, filters), with the rules that
 * hold whichever door is used (distinct without regard to case, not blank, one primary, at most 50), the audit
 * entries, and tenant isolation.
 */

interface Role {
  value: string;
  type?: string;
  primary?: boolean;
  display?: string;
}

describeEachStore('people hold roles', (kind) => {
  const t = useTestApp(kind);
  const unique = (label: string) => `${label}-${randomBytes(4).toString('hex')}`;

  async function createUser(api: Client, roles?: Role[]): Promise<Doc> {
    const res = await api.post('/api/v1/users', {
      userName: `${unique('u')}@example.com`,
      ...(roles ? { roles } : {}),
    });
    expect(res.status, res.raw).toBe(201);
    return res.body;
  }

  async function entriesOf(api: Client, userId: string): Promise<Doc[]> {
    const res = await api.get(`/api/v1/audit/entries?targetType=user&targetId=${userId}`);
    expect(res.status, res.raw).toBe(200);
    // Without `leafIndex`: the integrator (a background loop) sets it whenever it integrates an entry.
    return (res.body.items as Doc[]).map(({ leafIndex: _, ...e }) => e);
  }

  async function usersWithRole(api: Client, role: string): Promise<string[]> {
    const res = await api.get(`/api/v1/users?role=${encodeURIComponent(role)}&limit=200`);
    expect(res.status, res.raw).toBe(200);
    return (res.body.items as Doc[]).map((u) => u.id as string).sort();
  }

  describe('REST', () => {
    it('creates, reads, lists and merge-patches roles; every change is audited with the roles in the clear', async () => {
      const { api } = await t().newTenant();
      const plain = await createUser(api);
      expect(plain.roles).toEqual([]);
      const nurse = await createUser(api, [
        { value: '  Nurse ', type: 'clinical', primary: true },
        { value: 'Ward Lead', display: 'Lead of ward 7' },
      ]);
      const expected = [
        { value: 'Nurse', type: 'clinical', primary: true },
        { value: 'Ward Lead', display: 'Lead of ward 7' },
      ];
      expect(nurse.roles).toEqual(expected);
      const read = await api.get(`/api/v1/users/${nurse.id}`);
      expect(read.body.roles).toEqual(expected);
      const listed = await api.get('/api/v1/users?limit=200');
      const inList = (listed.body.items as Doc[]).find((u) => u.id === nurse.id);
      expect(inList?.roles).toEqual(expected);

      const patched = await api.patch(
        `/api/v1/users/${nurse.id}`,
        { roles: [{ value: 'Charge Nurse' }, { value: 'Nurse', type: 'clinical' }] },
        { 'if-match': 'W/"1"' },
      );
      expect(patched.status, patched.raw).toBe(200);
      expect(patched.body.roles).toEqual([{ value: 'Charge Nurse' }, { value: 'Nurse', type: 'clinical' }]);
      expect(patched.body.version).toBe(2);

      // Another field alone leaves the roles as they are.
      const titled = await api.patch(`/api/v1/users/${nurse.id}`, { title: 'RN' });
      expect(titled.body.roles).toEqual(patched.body.roles);

      const cleared = await api.patch(`/api/v1/users/${nurse.id}`, { roles: null });
      expect(cleared.status, cleared.raw).toBe(200);
      expect(cleared.body.roles).toEqual([]);

      const entries = await entriesOf(api, nurse.id);
      const created = entries.find((e) => e.action === 'user.created');
      expect(created?.after.roles).toEqual(expected);
      const updates = entries.filter((e) => e.action === 'user.updated');
      expect(updates.map((e) => [e.before.roles, e.after.roles])).toEqual([
        [expected, patched.body.roles],
        [patched.body.roles, patched.body.roles],
        [patched.body.roles, []],
      ]);
    });

    it('?role= finds exactly the holders of a role, without regard to case, and follows every change', async () => {
      const { api } = await t().newTenant();
      const a = await createUser(api, [{ value: 'Nurse' }]);
      const b = await createUser(api, [{ value: 'NURSE' }, { value: 'Pharmacist' }]);
      const c = await createUser(api, [{ value: 'Nurse Practitioner' }]);
      await createUser(api);
      expect(await usersWithRole(api, 'nurse')).toEqual([a.id, b.id].sort());
      expect(await usersWithRole(api, ' Nurse ')).toEqual([a.id, b.id].sort());
      expect(await usersWithRole(api, 'pharmacist')).toEqual([b.id]);
      expect(await usersWithRole(api, 'nurse practitioner')).toEqual([c.id]);
      expect(await usersWithRole(api, 'Nurs')).toEqual([]);

      await api.patch(`/api/v1/users/${b.id}`, { roles: [{ value: 'Pharmacist' }] });
      expect(await usersWithRole(api, 'nurse')).toEqual([a.id]);
      const deleted = await api.delete(`/api/v1/users/${a.id}`);
      expect(deleted.status, deleted.raw).toBe(204);
      expect(await usersWithRole(api, 'nurse')).toEqual([]);

      // Another tenant's holders are never found.
      const other = await t().newTenant();
      await createUser(other.api, [{ value: 'Pharmacist' }]);
      expect(await usersWithRole(api, 'pharmacist')).toEqual([b.id]);
    });

    it('refuses a repeated, blank or second primary role, or more than 50, naming the field and writing nothing', async () => {
      const { api } = await t().newTenant();
      const user = await createUser(api, [{ value: 'Nurse' }]);
      const before = await entriesOf(api, user.id);
      const cases: [Role[], string][] = [
        [[{ value: 'Nurse' }, { value: 'nurse' }], '/roles/1/value'],
        [[{ value: 'Ärztin' }, { value: 'A\u0308rztin'.toUpperCase() }], '/roles/1/value'],
        [[{ value: 'Nurse' }, { value: '   ' }], '/roles/1/value'],
        [
          [
            { value: 'Nurse', primary: true },
            { value: 'Lead', primary: true },
          ],
          '/roles',
        ],
        [Array.from({ length: 51 }, (_, i) => ({ value: `role ${i}` })), '/roles'],
        [[{ value: 'x'.repeat(257) }], '/roles/0/value'],
      ];
      for (const [roles, pointer] of cases) {
        const res = await api.patch(`/api/v1/users/${user.id}`, { roles });
        expect(res.status, res.raw).toBe(422);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect((res.body.errors as { pointer: string }[]).map((e) => e.pointer)).toContain(pointer);
        const created = await api.post('/api/v1/users', { userName: `${unique('r')}@example.com`, roles });
        expect(created.status, created.raw).toBe(422);
      }
      const after = await api.get(`/api/v1/users/${user.id}`);
      expect(after.body.roles).toEqual([{ value: 'Nurse' }]);
      expect(after.body.version).toBe(1);
      expect(await entriesOf(api, user.id)).toEqual(before);
      expect(await usersWithRole(api, 'lead')).toEqual([]);
    });

    it('an onboarding carries the person’s roles, and they are found by role', async () => {
      const { api } = await t().newTenant();
      const res = await api.post(
        '/api/v1/onboardings',
        {
          user: { userName: `${unique('o')}@example.com`, roles: [{ value: 'Locum', type: 'contract' }] },
          products: [],
        },
        { 'idempotency-key': unique('idem') },
      );
      expect(res.status, res.raw).toBe(201);
      expect(res.body.user.roles).toEqual([{ value: 'Locum', type: 'contract' }]);
      expect(await usersWithRole(api, 'LOCUM')).toEqual([res.body.user.id]);
      const dup = await api.post(
        '/api/v1/onboardings',
        {
          user: { userName: `${unique('o')}@example.com`, roles: [{ value: 'a' }, { value: 'A' }] },
          products: [],
        },
        { 'idempotency-key': unique('idem') },
      );
      expect(dup.status, dup.raw).toBe(422);
    });
  });

  describe('SCIM', () => {
    async function scimCreate(scim: Client, roles?: Role[]): Promise<Doc> {
      const res = await scim.post(
        `${BASE}/Users`,
        { schemas: [USER], userName: `${unique('s')}@example.com`, ...(roles ? { roles } : {}) },
        SCIM_CT,
      );
      expectScim(res, 201);
      return res.body;
    }

    async function ids(scim: Client, filter: string): Promise<string[]> {
      const res = await scim.get(`${BASE}/Users?count=200&filter=${q(filter)}`);
      expectScim(res, 200);
      return ((res.body.Resources ?? []) as Doc[]).map((r) => r.id as string).sort();
    }

    it('the User schema publishes roles with value, display, type and primary', async () => {
      const { scim } = await scimTenant(t());
      const res = await scim.get(`${BASE}/Schemas/${USER}`);
      expectScim(res, 200);
      const roles = (res.body.attributes as Doc[]).find((a) => a.name === 'roles');
      expect(roles).toMatchObject({ type: 'complex', multiValued: true, mutability: 'readWrite' });
      expect(((roles?.subAttributes ?? []) as Doc[]).map((s) => s.name).sort()).toEqual([
        'display',
        'primary',
        'type',
        'value',
      ]);
    });

    it('POST, PUT and PATCH set roles; PUT without them clears them; the REST read agrees', async () => {
      const { scim, api } = await scimTenant(t());
      const user = await scimCreate(scim, [{ value: 'Nurse', type: 'clinical', primary: true }]);
      expect(user.roles).toEqual([{ value: 'Nurse', type: 'clinical', primary: true }]);

      const added = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({ op: 'add', path: 'roles', value: [{ value: 'Ward Lead' }] }),
        SCIM_CT,
      );
      expectScim(added, 200);
      expect(added.body.roles).toEqual([
        { value: 'Nurse', type: 'clinical', primary: true },
        { value: 'Ward Lead' },
      ]);

      const removed = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({ op: 'remove', path: 'roles[value eq "nurse"]' }),
        SCIM_CT,
      );
      expectScim(removed, 200);
      expect(removed.body.roles).toEqual([{ value: 'Ward Lead' }]);

      const replaced = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({ op: 'replace', path: 'roles', value: [{ value: 'Pharmacist', primary: true }] }),
        SCIM_CT,
      );
      expectScim(replaced, 200);
      expect(replaced.body.roles).toEqual([{ value: 'Pharmacist', primary: true }]);
      const rest = await api.get(`/api/v1/users/${user.id}`);
      expect(rest.body.roles).toEqual([{ value: 'Pharmacist', primary: true }]);

      const put = await scim.put(
        `${BASE}/Users/${user.id}`,
        { schemas: [USER], userName: user.userName },
        SCIM_CT,
      );
      expectScim(put, 200);
      expect(put.body.roles).toBeUndefined();
      expect((await api.get(`/api/v1/users/${user.id}`)).body.roles).toEqual([]);
      expect(await ids(scim, 'roles pr')).toEqual([]);
    });

    it('Microsoft Entra ID’s app role path roles[primary eq "True"].value adds, then replaces, the primary role', async () => {
      const { scim, api } = await scimTenant(t());
      const user = await scimCreate(scim, [{ value: 'Staff' }]);
      const path = 'roles[primary eq "True"].value';
      const added = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({ op: 'Add', path, value: 'Admin' }),
        SCIM_CT,
      );
      expectScim(added, 200);
      expect(added.body.roles).toEqual([{ value: 'Staff' }, { value: 'Admin', primary: true }]);
      const replaced = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({ op: 'Replace', path, value: 'Auditor' }),
        SCIM_CT,
      );
      expectScim(replaced, 200);
      expect(replaced.body.roles).toEqual([{ value: 'Staff' }, { value: 'Auditor', primary: true }]);
      expect(await usersWithRole(api, 'auditor')).toEqual([user.id]);
      expect(await usersWithRole(api, 'admin')).toEqual([]);
      // Entra ID re-sends a role the user holds with primary false and a display: the same role, nothing added.
      const resent = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({
          op: 'Add',
          path: 'roles',
          value: [
            { primary: false, type: 'WindowsAzureActiveDirectoryRole', display: 'Staff', value: 'STAFF' },
          ],
        }),
        SCIM_CT,
      );
      expectScim(resent, 200);
      expect(resent.body.roles).toEqual([{ value: 'Staff' }, { value: 'Auditor', primary: true }]);
    });

    it('roles[primary eq "True"].value naming a role the user holds makes that role primary, not a second one', async () => {
      const { scim, api } = await scimTenant(t());
      const user = await scimCreate(scim, [
        { value: 'Staff' },
        { value: 'Nurse', display: 'Registered nurse' },
      ]);
      const path = 'roles[primary eq "True"].value';
      const added = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({ op: 'Add', path, value: 'NURSE' }),
        SCIM_CT,
      );
      expectScim(added, 200);
      // The role held keeps its value as written, its display and its place.
      expect(added.body.roles).toEqual([
        { value: 'Staff' },
        { value: 'Nurse', display: 'Registered nurse', primary: true },
      ]);
      expect(await usersWithRole(api, 'nurse')).toEqual([user.id]);
      // The primary role becomes another role the user holds: still one entry per role.
      const replaced = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({ op: 'Replace', path, value: 'staff' }),
        SCIM_CT,
      );
      expectScim(replaced, 200);
      expect(replaced.body.roles).toEqual([{ value: 'Staff', primary: true }]);
      expect((await api.get(`/api/v1/users/${user.id}`)).body.roles).toEqual(replaced.body.roles);
      expect(await usersWithRole(api, 'nurse')).toEqual([]);

      // A filter that says more than primary changes nothing else of the role held.
      const other = await scimCreate(scim, [
        { value: 'Admin', type: 'clinical', primary: true },
        { value: 'Porter', type: 'x' },
        { value: 'Cleaner', type: 'x' },
      ]);
      const seeded = await scim.patch(
        `${BASE}/Users/${other.id}`,
        patchOf({ op: 'Add', path: 'roles[type eq "work" and primary eq false].value', value: 'admin' }),
        SCIM_CT,
      );
      expectScim(seeded, 200);
      expect(seeded.body.roles).toEqual(other.roles);
      // Two roles written to the value of a third: a repeat, refused, and nothing changes.
      const twice = await scim.patch(
        `${BASE}/Users/${other.id}`,
        patchOf({ op: 'Replace', path: 'roles[type eq "x"].value', value: 'Admin' }),
        SCIM_CT,
      );
      expectScimError(twice, 400, 'invalidValue');
      expect((await scim.get(`${BASE}/Users/${other.id}`)).body.roles).toEqual(other.roles);
    });

    it('a repeated role is 400 invalidValue and changes nothing; adding a role held already is a no-op', async () => {
      const { scim, api } = await scimTenant(t());
      const user = await scimCreate(scim, [{ value: 'Nurse' }]);
      // RFC 7644 §3.5.2.1: a value already there (roles.value is caseless) is not added again.
      const again = await scim.patch(
        `${BASE}/Users/${user.id}`,
        patchOf({ op: 'add', path: 'roles', value: [{ value: 'NURSE' }] }),
        SCIM_CT,
      );
      expectScim(again, 200);
      expect(again.body.roles).toEqual([{ value: 'Nurse' }]);
      const res = await scim.put(
        `${BASE}/Users/${user.id}`,
        {
          schemas: [USER],
          userName: user.userName,
          roles: [{ value: 'Nurse' }, { value: 'Lead' }, { value: 'nurse' }],
        },
        SCIM_CT,
      );
      expectScimError(res, 400, 'invalidValue');
      expect(JSON.stringify(res.body)).toContain('/roles/2/value');
      const read = await api.get(`/api/v1/users/${user.id}`);
      expect(read.body.roles).toEqual([{ value: 'Nurse' }]);
      expect(read.body.version).toBe(1);
      const created = await scim.post(
        `${BASE}/Users`,
        { schemas: [USER], userName: `${unique('d')}@example.com`, roles: [{ value: 'x' }, { value: 'X' }] },
        SCIM_CT,
      );
      expectScimError(created, 400, 'invalidValue');
    });

    it('filters on roles: every operator on the value, caseless; value filters checked role by role', async () => {
      const { scim } = await scimTenant(t());
      const nurse = await scimCreate(scim, [
        { value: 'Nurse', type: 'clinical', primary: true },
        { value: 'Fire Warden', type: 'safety' },
      ]);
      const pharmacist = await scimCreate(scim, [
        { value: 'Pharmacist', type: 'clinical' },
        { value: 'Nurse', type: 'admin' },
      ]);
      const warden = await scimCreate(scim, [{ value: 'Fire Warden', type: 'safety' }]);
      const none = await scimCreate(scim);
      const all = [nurse.id, pharmacist.id, warden.id, none.id].sort();
      const sorted = (...xs: Doc[]) => xs.map((x) => x.id as string).sort();

      expect(await ids(scim, 'roles.value eq "NURSE"')).toEqual(sorted(nurse, pharmacist));
      expect(await ids(scim, 'roles eq "fire warden"')).toEqual(sorted(nurse, warden));
      expect(await ids(scim, 'roles pr')).toEqual(sorted(nurse, pharmacist, warden));
      expect(await ids(scim, 'not (roles pr)')).toEqual(sorted(none));
      expect(await ids(scim, 'roles.value ne "nurse"')).toEqual(sorted(warden, none));
      expect(await ids(scim, 'roles.value sw "fire"')).toEqual(sorted(nurse, warden));
      expect(await ids(scim, 'roles.value co "MAC"')).toEqual(sorted(pharmacist));
      expect(await ids(scim, 'roles.value ew "den"')).toEqual(sorted(nurse, warden));
      expect(await ids(scim, 'roles[value eq "pharmacist" or value eq "fire warden"]')).toEqual(
        sorted(nurse, pharmacist, warden),
      );
      // One role must be both: the pharmacist is a clinical pharmacist and an admin nurse, not a clinical nurse.
      expect(await ids(scim, 'roles[type eq "clinical" and value eq "nurse"]')).toEqual(sorted(nurse));
      // Some role other than a nurse's: not "no role is a nurse".
      expect(await ids(scim, 'roles[value ne "nurse"]')).toEqual(sorted(nurse, pharmacist, warden));
      expect(await ids(scim, 'roles.type eq "safety"')).toEqual(sorted(nurse, warden));
      expect(await ids(scim, 'roles[type eq "admin"]')).toEqual(sorted(pharmacist));
      expect(await ids(scim, 'roles.primary eq true')).toEqual(sorted(nurse));
      expect(await ids(scim, 'roles.value eq "nurse" and not (roles.value eq "pharmacist")')).toEqual(
        sorted(nurse),
      );
      expect(await ids(scim, 'userName pr')).toEqual(all);
      // Without a value to narrow on, the holders of any role are the candidates; `ne` also holds for no role.
      expect(await ids(scim, 'roles[type eq "clinical" and primary eq true]')).toEqual(sorted(nurse));
      expect(await ids(scim, 'roles.type ne "clinical"')).toEqual(sorted(warden, none));
      // Characters outside the BMP count once, as SQL counts them (an emoji is two UTF-16 units).
      const medic = await scimCreate(scim, [{ value: '🩺 Medic 🌙' }]);
      expect(await ids(scim, 'roles.value sw "🩺"')).toEqual(sorted(medic));
      expect(await ids(scim, 'roles.value sw "🩺 med"')).toEqual(sorted(medic));
      expect(await ids(scim, 'roles.value ew "c 🌙"')).toEqual(sorted(medic));
      expect(await ids(scim, 'roles.value co "ic 🌙"')).toEqual(sorted(medic));

      expectScimError(
        await scim.get(`${BASE}/Users?filter=${q('not (roles.type eq "safety")')}`),
        400,
        'invalidFilter',
      );
      // primary is a boolean: eq and ne with true or false (RFC 7644 §3.4.2.2), never a silent empty answer.
      for (const filter of [
        'roles.primary gt true',
        'roles[primary le false]',
        'roles[primary eq "True"]',
        'roles[value eq "nurse" and primary ge false]',
        'roles[value eq "nurse" or not (primary co "t")]',
      ]) {
        expectScimError(await scim.get(`${BASE}/Users?filter=${q(filter)}`), 400, 'invalidFilter');
      }
      const sort = await scim.get(`${BASE}/Users?sortBy=roles.value`);
      expect(sort.status, sort.raw).toBe(400);

      // Another tenant holding the same role is never found.
      const other = await scimTenant(t());
      await scimCreate(other.scim, [{ value: 'Nurse' }]);
      expect(await ids(scim, 'roles.value eq "nurse"')).toEqual(sorted(nurse, pharmacist));
    });
  });
});
