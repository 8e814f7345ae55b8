import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { dumpAllTables, personWithPii, piiOf, type Row } from '../../support/pii.js';
import {
  BASE,
  type Doc,
  ENTERPRISE,
  expectScim,
  expectScimError,
  expectVersioned,
  LIST_RESPONSE,
  patchOf,
  q,
  ROSTER,
  SCIM_CT,
  scimTenant,
  USER,
} from '../../support/scim.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * SCIM Users over HTTP (RFC 7644 §3.3-§3.6, §3.14): create, read, replace, modify, delete; entity tags;
 * tenant isolation; uniqueness; the quirks of Microsoft Entra ID and Okta; the enterprise and Roster
 * extensions; seats released when a user is deactivated or deleted; audit entries; no PII at rest.
 */

const JSON_CT = { 'content-type': 'application/json' };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Entry {
  seq: number;
  actor: string;
  action: string;
  target: { type: string; id: string | null };
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  requestId: string | null;
}

describeEachStore('SCIM users', (kind) => {
  const t = useTestApp(kind);
  let seq = 0;
  const unique = (label: string) => `${label}-${++seq}-${randomBytes(3).toString('hex')}`;

  const tenant = () => scimTenant(t());

  async function create(scim: Client, body: Doc): Promise<Doc> {
    const res = await scim.post(`${BASE}/Users`, { schemas: [USER], ...body });
    expectScim(res, 201);
    return res.body;
  }

  async function read(scim: Client, id: string): Promise<Answer> {
    const res = await scim.get(`${BASE}/Users/${id}`);
    expectScim(res, 200);
    return res;
  }

  async function patch(scim: Client, id: string, ...ops: Record<string, unknown>[]): Promise<Doc> {
    const res = await scim.patch(`${BASE}/Users/${id}`, patchOf(...ops));
    expectScim(res, 200);
    expectVersioned(res);
    return res.body;
  }

  const rosterOf = (u: Doc) => u[ROSTER] as Doc;

  describe('create and read', () => {
    it('POST /Users: 201, Location, ETag equal to meta.version, schemas, id and meta', async () => {
      const { scim } = await tenant();
      const userName = `${unique('carol')}@users.test`;
      const res = await scim.post(`${BASE}/Users`, {
        schemas: [USER],
        userName,
        externalId: 'okta-00u1',
        name: { givenName: 'Carol', familyName: 'Danvers', formatted: 'Carol Danvers' },
        displayName: 'Captain',
        title: 'Pilot',
        emails: [{ value: userName, type: 'work', primary: true }],
        phoneNumbers: [{ value: '+49 30 1234567', type: 'work' }],
        addresses: [{ type: 'work', streetAddress: 'Unter den Linden 1', locality: 'Berlin', country: 'DE' }],
      });
      expectScim(res, 201);
      const u = res.body;
      expect(u.id).toMatch(UUID);
      expect(u.schemas).toContain(USER);
      expect(u.schemas).toContain(ROSTER);
      expect(u).toMatchObject({
        userName,
        externalId: 'okta-00u1',
        name: { givenName: 'Carol', familyName: 'Danvers', formatted: 'Carol Danvers' },
        displayName: 'Captain',
        title: 'Pilot',
        active: true,
        emails: [{ value: userName, type: 'work', primary: true }],
        phoneNumbers: [{ value: '+49 30 1234567', type: 'work' }],
        addresses: [{ type: 'work', streetAddress: 'Unter den Linden 1', locality: 'Berlin', country: 'DE' }],
        [ROSTER]: { kind: 'employee', status: 'active', licenses: [] },
      });
      expect(u.meta.resourceType).toBe('User');
      expect(Date.parse(u.meta.created)).not.toBeNaN();
      expect(u.meta.lastModified).toBe(u.meta.created);
      const location = new URL(u.meta.location);
      expect(location.pathname).toBe(`${BASE}/Users/${u.id}`);
      expect(res.headers.location).toBe(u.meta.location);
      expectVersioned(res);
      // No group yet: `groups` is left out rather than empty or null.
      expect(u.groups).toBeUndefined();
    });

    it('GET /Users/{id} answers the created resource; application/json is accepted as well', async () => {
      const { scim } = await tenant();
      const res = await scim.post(
        `${BASE}/Users`,
        { schemas: [USER], userName: `${unique('json')}@users.test`, title: 'Plain JSON' },
        JSON_CT,
      );
      expectScim(res, 201);
      const got = await read(scim, res.body.id);
      expect(got.body).toEqual(res.body);
      expect(expectVersioned(got)).toBe(res.headers.etag);
    });

    it('If-None-Match: 304 while unchanged, 200 with the new version once changed', async () => {
      const { scim } = await tenant();
      const created = await scim.post(`${BASE}/Users`, { schemas: [USER], userName: unique('cache') });
      const etag = created.headers.etag as string;
      const same = await scim.get(`${BASE}/Users/${created.body.id}`, { 'if-none-match': etag });
      expect(same.status).toBe(304);
      expect(same.raw).toBe('');
      expect(same.headers.etag).toBe(etag);
      const strong = await scim.get(`${BASE}/Users/${created.body.id}`, { 'if-none-match': etag.slice(2) });
      expect(strong.status).toBe(304);
      await patch(scim, created.body.id, { op: 'replace', path: 'title', value: 'Changed' });
      const changed = await scim.get(`${BASE}/Users/${created.body.id}`, { 'if-none-match': etag });
      expectScim(changed, 200);
      expect(changed.body.title).toBe('Changed');
      expect(expectVersioned(changed)).not.toBe(etag);
    });

    it('attributes and excludedAttributes shape the answer; id and schemas always come back', async () => {
      const { scim } = await tenant();
      const u = await create(scim, {
        userName: unique('shape'),
        title: 'Shaped',
        emails: [{ value: `${unique('shape')}@users.test` }],
      });
      const only = await scim.get(`${BASE}/Users/${u.id}?attributes=userName`);
      expectScim(only, 200);
      expect(only.body.id).toBe(u.id);
      expect(only.body.userName).toBe(u.userName);
      expect(only.body.title).toBeUndefined();
      expect(only.body.emails).toBeUndefined();
      const without = await scim.get(`${BASE}/Users/${u.id}?excludedAttributes=emails,title`);
      expectScim(without, 200);
      expect(without.body.userName).toBe(u.userName);
      expect(without.body.emails).toBeUndefined();
      expect(without.body.title).toBeUndefined();
      expect(without.body.id).toBe(u.id);
    });
  });

  describe('list and filter', () => {
    it("filter userName eq (Okta's lookup) finds the user case-insensitively, in a ListResponse", async () => {
      const { scim } = await tenant();
      const name = `${unique('Okta.Lookup')}@Users.Test`;
      const u = await create(scim, { userName: name, externalId: unique('ext') });
      await create(scim, { userName: unique('other') });
      const res = await scim.get(`${BASE}/Users?filter=${q(`userName eq "${name.toUpperCase()}"`)}`);
      expectScim(res, 200);
      expect(res.body).toMatchObject({
        schemas: [LIST_RESPONSE],
        totalResults: 1,
        startIndex: 1,
        itemsPerPage: 1,
      });
      expect(res.body.Resources.map((r: Doc) => r.id)).toEqual([u.id]);
      const byExt = await scim.get(`${BASE}/Users?filter=${q(`externalId eq "${u.externalId}"`)}`);
      expect(byExt.body.Resources.map((r: Doc) => r.id)).toEqual([u.id]);
      // externalId is caseExact.
      const wrongCase = await scim.get(
        `${BASE}/Users?filter=${q(`externalId eq "${u.externalId.toUpperCase()}"`)}`,
      );
      expect(wrongCase.body.totalResults).toBe(0);
      const none = await scim.get(`${BASE}/Users?filter=${q('userName eq "nobody@users.test"')}`);
      expect(none.body).toMatchObject({ totalResults: 0, Resources: [] });
    });

    it('pages by startIndex and count with a stable totalResults', async () => {
      const { scim } = await tenant();
      const ids = new Set<string>();
      for (let i = 0; i < 5; i++) ids.add((await create(scim, { userName: unique('page') })).id);
      const seen: string[] = [];
      for (let start = 1; start <= 5; start += 2) {
        const res = await scim.get(`${BASE}/Users?startIndex=${start}&count=2&sortBy=meta.created`);
        expectScim(res, 200);
        expect(res.body.totalResults).toBe(5);
        expect(res.body.startIndex).toBe(start);
        expect(res.body.itemsPerPage).toBe(res.body.Resources.length);
        seen.push(...res.body.Resources.map((r: Doc) => r.id));
      }
      expect(seen).toHaveLength(5);
      expect(new Set(seen)).toEqual(ids);
    });
  });

  describe('PUT', () => {
    it('replaces the resource: attributes left out are cleared', async () => {
      const { scim } = await tenant();
      const boss = await create(scim, { userName: unique('boss') });
      const u = await create(scim, {
        schemas: [USER, ENTERPRISE, ROSTER],
        userName: unique('full'),
        externalId: unique('ext'),
        name: { givenName: 'Full', familyName: 'Person' },
        displayName: 'Full Person',
        title: 'Director',
        emails: [{ value: `${unique('full')}@users.test`, type: 'work' }],
        phoneNumbers: [{ value: '+1 555 0100' }],
        addresses: [{ locality: 'Springfield' }],
        [ENTERPRISE]: { department: 'Sales', manager: { value: boss.id } },
        [ROSTER]: { location: { site: 'ber', country: 'DE' } },
      });
      const res = await scim.put(`${BASE}/Users/${u.id}`, { schemas: [USER], userName: u.userName });
      expectScim(res, 200);
      expectVersioned(res);
      const got = (await read(scim, u.id)).body;
      expect(got).toEqual(res.body);
      for (const gone of [
        'externalId',
        'name',
        'displayName',
        'title',
        'emails',
        'phoneNumbers',
        'addresses',
      ]) {
        expect(got[gone], gone).toBeUndefined();
      }
      expect(got[ENTERPRISE]).toBeUndefined();
      expect(got.schemas).not.toContain(ENTERPRISE);
      expect(rosterOf(got).location).toBeUndefined();
      expect(got.meta.created).toBe(u.meta.created);
      expect(got.meta.version).not.toBe(u.meta.version);
    });

    it('replaces a complex attribute whole: sub-attributes left out of name are cleared', async () => {
      const { scim } = await tenant();
      const u = await create(scim, {
        userName: unique('put-name'),
        name: { givenName: 'Full', familyName: 'Person', formatted: 'Full Person' },
      });
      const res = await scim.put(`${BASE}/Users/${u.id}`, {
        schemas: [USER],
        userName: u.userName,
        name: { givenName: 'Only' },
      });
      expectScim(res, 200);
      expect(res.body.name).toEqual({ givenName: 'Only' });
      expect((await read(scim, u.id)).body.name).toEqual({ givenName: 'Only' });
    });

    it('an id in the body equal to the URL is fine; a different one is refused and changes nothing', async () => {
      const { scim } = await tenant();
      const u = await create(scim, { userName: unique('put-id'), title: 'Before' });
      const other = await create(scim, { userName: unique('put-other') });
      const same = await scim.put(`${BASE}/Users/${u.id}`, {
        schemas: [USER],
        id: u.id,
        userName: u.userName,
        title: 'After',
      });
      expectScim(same, 200);
      expect(same.body).toMatchObject({ id: u.id, title: 'After' });
      const before = (await read(scim, u.id)).body;
      const moved = await scim.put(`${BASE}/Users/${u.id}`, {
        schemas: [USER],
        id: other.id,
        userName: u.userName,
        title: 'Hijacked',
      });
      expectScimError(moved, 400, 'mutability');
      expect((await read(scim, u.id)).body).toEqual(before);
      expect((await read(scim, other.id)).body).toEqual(other);
    });

    it('a document read back and sent again (read-only members included) is accepted', async () => {
      const { scim } = await tenant();
      const u = await create(scim, { userName: unique('roundtrip'), title: 'Old' });
      const group = await scim.post(`${BASE}/Groups`, {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
        displayName: unique('rt-group'),
        members: [{ value: u.id }],
      });
      expectScim(group, 201);
      const current = (await read(scim, u.id)).body;
      expect(current.groups).toHaveLength(1);
      const res = await scim.put(`${BASE}/Users/${u.id}`, { ...current, title: 'New' });
      expectScim(res, 200);
      expect(res.body.title).toBe('New');
      expect(res.body.groups).toEqual(current.groups);
      expect(res.body.meta.created).toBe(current.meta.created);
    });

    it('PUT with active false deactivates (Okta), active true reactivates', async () => {
      const { scim } = await tenant();
      const u = await create(scim, { userName: unique('put-active') });
      const off = await scim.put(`${BASE}/Users/${u.id}`, {
        schemas: [USER],
        userName: u.userName,
        active: false,
      });
      expectScim(off, 200);
      expect(off.body.active).toBe(false);
      expect(rosterOf(off.body).status).toBe('suspended');
      const on = await scim.put(`${BASE}/Users/${u.id}`, {
        schemas: [USER],
        userName: u.userName,
        active: true,
      });
      expectScim(on, 200);
      expect(on.body.active).toBe(true);
      expect(rosterOf(on.body).status).toBe('active');
    });
  });

  describe('PATCH', () => {
    it('replace, add and remove, in order, as one change', async () => {
      const { scim } = await tenant();
      const u = await create(scim, {
        userName: unique('patch'),
        name: { givenName: 'Pat', familyName: 'Smith' },
        emails: [
          { value: `${unique('work')}@users.test`, type: 'work', primary: true },
          { value: `${unique('home')}@users.test`, type: 'home' },
        ],
      });
      const added = `${unique('other')}@users.test`;
      const out = await patch(
        scim,
        u.id,
        { op: 'replace', path: 'title', value: 'Engineer' },
        { op: 'replace', path: 'name.givenName', value: 'Patricia' },
        { op: 'add', path: 'emails', value: [{ value: added, type: 'other' }] },
        { op: 'remove', path: 'emails[type eq "home"]' },
        { op: 'add', path: 'displayName', value: 'Patty' },
      );
      expect(out.title).toBe('Engineer');
      expect(out.displayName).toBe('Patty');
      expect(out.name).toEqual({ givenName: 'Patricia', familyName: 'Smith' });
      expect(out.emails.map((e: Doc) => e.type)).toEqual(['work', 'other']);
      expect(out.emails[1].value).toBe(added);
      expect((await read(scim, u.id)).body).toEqual(out);
      // Remove a single-valued attribute.
      const removed = await patch(scim, u.id, { op: 'remove', path: 'title' });
      expect(removed.title).toBeUndefined();
    });

    it('remove of a sub-attribute of name removes it', async () => {
      const { scim } = await tenant();
      const u = await create(scim, {
        userName: unique('patch-name'),
        name: { givenName: 'Ann', familyName: 'Other', formatted: 'Ann Other' },
      });
      const out = await patch(scim, u.id, { op: 'remove', path: 'name.familyName' });
      expect(out.name).toEqual({ givenName: 'Ann', formatted: 'Ann Other' });
      expect((await read(scim, u.id)).body.name).toEqual({ givenName: 'Ann', formatted: 'Ann Other' });
      const replaced = await patch(scim, u.id, { op: 'replace', path: 'name', value: { givenName: 'Bea' } });
      // RFC 7644 §3.5.2.3: replace of a complex attribute with a value merges the sub-attributes given.
      expect(replaced.name).toEqual({ givenName: 'Bea', formatted: 'Ann Other' });
    });

    it('a failing operation applies none of the operations before it', async () => {
      const { scim } = await tenant();
      const u = await create(scim, { userName: unique('atomic'), title: 'Same' });
      const res = await scim.patch(
        `${BASE}/Users/${u.id}`,
        patchOf(
          { op: 'replace', path: 'title', value: 'Changed' },
          { op: 'replace', path: 'nope', value: 1 },
        ),
      );
      expectScimError(res, 400, 'invalidPath');
      expect((await read(scim, u.id)).body).toEqual(u);
    });

    it('a PATCH that changes nothing keeps the version', async () => {
      const { scim } = await tenant();
      const u = await create(scim, { userName: unique('noop'), title: 'Same' });
      const res = await scim.patch(
        `${BASE}/Users/${u.id}`,
        patchOf({ op: 'replace', path: 'title', value: 'Same' }),
      );
      expectScim(res, 200);
      expect(res.headers.etag).toBe(u.meta.version);
      expect(res.body).toEqual(u);
    });

    it("Entra ID: capitalised ops, 'False'/'True' strings, URN-qualified keys, a bare manager id", async () => {
      const { scim } = await tenant();
      const boss = await create(scim, { userName: unique('entra-boss') });
      const u = await create(scim, { userName: unique('entra') });
      const off = await patch(scim, u.id, { op: 'Replace', path: 'active', value: 'False' });
      expect(off.active).toBe(false);
      expect(rosterOf(off).status).toBe('suspended');
      const on = await patch(scim, u.id, { op: 'Replace', path: 'active', value: 'True' });
      expect(on.active).toBe(true);
      expect(rosterOf(on).status).toBe('active');
      const mail = `${unique('entra')}@users.test`;
      const more = await patch(
        scim,
        u.id,
        { op: 'Add', path: 'emails', value: [{ value: mail, type: 'work', primary: 'true' }] },
        {
          op: 'Replace',
          value: {
            'name.givenName': 'Enid',
            [`${ENTERPRISE}:department`]: 'Finance',
            displayName: 'Enid E.',
          },
        },
        { op: 'Add', path: `${ENTERPRISE}:manager`, value: boss.id },
        { op: 'REMOVE', path: 'displayName' },
      );
      expect(more.emails).toEqual([{ value: mail, type: 'work', primary: true }]);
      expect(more.name).toEqual({ givenName: 'Enid' });
      expect(more.displayName).toBeUndefined();
      expect(more[ENTERPRISE]).toMatchObject({ department: 'Finance', manager: { value: boss.id } });
      expect(more.schemas).toContain(ENTERPRISE);
      const noPath = await patch(scim, u.id, { op: 'Replace', value: { active: 'False' } });
      expect(noPath.active).toBe(false);
    });

    it('Okta: a no-path replace {active: false} deactivates, {active: true} reactivates', async () => {
      const { scim } = await tenant();
      const u = await create(scim, { userName: unique('okta') });
      const off = await patch(scim, u.id, { op: 'replace', value: { active: false } });
      expect(off.active).toBe(false);
      expect(rosterOf(off).status).toBe('suspended');
      expect((await read(scim, u.id)).body.active).toBe(false);
      const on = await patch(scim, u.id, { op: 'replace', value: { active: true } });
      expect(on.active).toBe(true);
      expect(rosterOf(on).status).toBe('active');
    });
  });

  describe('If-Match', () => {
    it('PUT, PATCH and DELETE succeed with the current version (or *) and answer 412 with a stale one', async () => {
      const { scim } = await tenant();
      const u = await create(scim, { userName: unique('etag'), title: 'v1' });
      const v1 = u.meta.version as string;

      const p = await scim.patch(
        `${BASE}/Users/${u.id}`,
        patchOf({ op: 'replace', path: 'title', value: 'v2' }),
        { ...SCIM_CT, 'if-match': v1 },
      );
      expectScim(p, 200);
      const v2 = expectVersioned(p);
      expect(v2).not.toBe(v1);

      const stalePatch = await scim.patch(
        `${BASE}/Users/${u.id}`,
        patchOf({ op: 'replace', path: 'title', value: 'lost' }),
        { ...SCIM_CT, 'if-match': v1 },
      );
      expectScimError(stalePatch, 412);
      const stalePut = await scim.put(
        `${BASE}/Users/${u.id}`,
        { schemas: [USER], userName: u.userName, title: 'lost' },
        { ...SCIM_CT, 'if-match': v1 },
      );
      expectScimError(stalePut, 412);
      expect((await read(scim, u.id)).body.title).toBe('v2');

      const put = await scim.put(
        `${BASE}/Users/${u.id}`,
        { schemas: [USER], userName: u.userName, title: 'v3' },
        { ...SCIM_CT, 'if-match': v2 },
      );
      expectScim(put, 200);
      const v3 = expectVersioned(put);
      const any = await scim.patch(
        `${BASE}/Users/${u.id}`,
        patchOf({ op: 'replace', path: 'title', value: 'v4' }),
        { ...SCIM_CT, 'if-match': '*' },
      );
      expectScim(any, 200);
      const v4 = expectVersioned(any);

      const staleDelete = await scim.delete(`${BASE}/Users/${u.id}`, { 'if-match': v3 });
      expectScimError(staleDelete, 412);
      expect((await read(scim, u.id)).body.title).toBe('v4');
      const del = await scim.delete(`${BASE}/Users/${u.id}`, { 'if-match': v4 });
      expect(del.status, del.raw).toBe(204);
    });
  });

  describe('DELETE', () => {
    it('204 with no body, then 404 for GET, PATCH, PUT and DELETE; gone from lists', async () => {
      const { scim } = await tenant();
      const u = await create(scim, { userName: unique('gone') });
      const del = await scim.delete(`${BASE}/Users/${u.id}`);
      expect(del.status, del.raw).toBe(204);
      expect(del.raw).toBe('');
      expectScimError(await scim.get(`${BASE}/Users/${u.id}`), 404);
      expectScimError(
        await scim.patch(`${BASE}/Users/${u.id}`, patchOf({ op: 'replace', path: 'title', value: 'x' })),
        404,
      );
      expectScimError(
        await scim.put(`${BASE}/Users/${u.id}`, { schemas: [USER], userName: u.userName }),
        404,
      );
      expectScimError(await scim.delete(`${BASE}/Users/${u.id}`), 404);
      const list = await scim.get(`${BASE}/Users?filter=${q(`userName eq "${u.userName}"`)}`);
      expect(list.body.totalResults).toBe(0);
      // The userName is free again.
      await create(scim, { userName: u.userName });
    });
  });

  describe('tenant isolation', () => {
    it("tenant B cannot read, list, replace, patch or delete tenant A's user", async () => {
      const a = await tenant();
      const b = await tenant();
      const u = await create(a.scim, { userName: `${unique('isolated')}@users.test`, title: 'A only' });
      expectScimError(await b.scim.get(`${BASE}/Users/${u.id}`), 404);
      expectScimError(
        await b.scim.patch(`${BASE}/Users/${u.id}`, patchOf({ op: 'replace', path: 'title', value: 'B' })),
        404,
      );
      expectScimError(
        await b.scim.put(`${BASE}/Users/${u.id}`, { schemas: [USER], userName: u.userName, title: 'B' }),
        404,
      );
      expectScimError(await b.scim.delete(`${BASE}/Users/${u.id}`), 404);
      const listed = await b.scim.get(`${BASE}/Users?filter=${q(`userName eq "${u.userName}"`)}`);
      expect(listed.body.totalResults).toBe(0);
      const byId = await b.scim.get(`${BASE}/Users?filter=${q(`id eq "${u.id}"`)}`);
      expect(byId.body.totalResults).toBe(0);
      expect((await b.scim.get(`${BASE}/Users`)).body.totalResults).toBe(0);
      expect((await read(a.scim, u.id)).body).toEqual(u);
      // B has its own userName namespace.
      const mine = await create(b.scim, { userName: u.userName });
      expect(mine.id).not.toBe(u.id);
    });
  });

  describe('uniqueness', () => {
    it('userName is unique per tenant, compared without regard to case; a user may change their own case', async () => {
      const { scim } = await tenant();
      const bob = await create(scim, { userName: 'Bob@x' });
      expectScimError(
        await scim.post(`${BASE}/Users`, { schemas: [USER], userName: 'bob@x' }),
        409,
        'uniqueness',
      );
      expectScimError(
        await scim.post(`${BASE}/Users`, { schemas: [USER], userName: 'BOB@X' }),
        409,
        'uniqueness',
      );
      const eve = await create(scim, { userName: 'eve@x' });
      expectScimError(
        await scim.put(`${BASE}/Users/${eve.id}`, { schemas: [USER], userName: 'bob@X' }),
        409,
        'uniqueness',
      );
      expectScimError(
        await scim.patch(
          `${BASE}/Users/${eve.id}`,
          patchOf({ op: 'replace', path: 'userName', value: 'BOB@x' }),
        ),
        409,
        'uniqueness',
      );
      expect((await read(scim, eve.id)).body.userName).toBe('eve@x');
      const own = await patch(scim, bob.id, { op: 'replace', path: 'userName', value: 'BOB@X' });
      expect(own.userName).toBe('BOB@X');
      const list = await scim.get(`${BASE}/Users?filter=${q('userName eq "bob@x"')}`);
      expect(list.body.Resources.map((r: Doc) => r.id)).toEqual([bob.id]);
    });
  });

  describe('the Roster extension', () => {
    it('shows location, kind and status; status and active follow each other', async () => {
      const { api, scim } = await tenant();
      const u = await create(scim, {
        schemas: [USER, ROSTER],
        userName: unique('roster'),
        [ROSTER]: { location: { site: 'ber-1', country: 'de' }, kind: 'contractor', status: 'staged' },
      });
      expect(u.active).toBe(false);
      expect(rosterOf(u)).toEqual({
        location: { site: 'ber-1', country: 'DE' },
        kind: 'contractor',
        status: 'staged',
        licenses: [],
      });
      const on = await patch(scim, u.id, { op: 'replace', path: `${ROSTER}:status`, value: 'active' });
      expect(on.active).toBe(true);
      const moved = await patch(scim, u.id, { op: 'replace', path: `${ROSTER}:location.site`, value: 'muc' });
      expect(rosterOf(moved).location).toEqual({ site: 'muc', country: 'DE' });
      const left = await patch(scim, u.id, {
        op: 'replace',
        path: `${ROSTER}:status`,
        value: 'deprovisioned',
      });
      expect(left.active).toBe(false);
      expect(rosterOf(left).status).toBe('deprovisioned');
      // The REST API sees the same user.
      const rest = await api.get(`/api/v1/users/${u.id}`);
      expect(rest.status, rest.raw).toBe(200);
      expect(rest.body).toMatchObject({
        kind: 'contractor',
        status: 'deprovisioned',
        active: false,
        location: { site: 'muc', country: 'DE' },
      });
    });
  });

  describe('the enterprise extension', () => {
    it('department and manager round-trip; manager.$ref points at the manager; removing both drops the extension', async () => {
      const { scim } = await tenant();
      const boss = await create(scim, { userName: unique('ent-boss') });
      const u = await create(scim, {
        schemas: [USER, ENTERPRISE],
        userName: unique('ent'),
        [ENTERPRISE]: { department: 'Engineering', manager: { value: boss.id } },
      });
      expect(u.schemas).toContain(ENTERPRISE);
      expect(u[ENTERPRISE].department).toBe('Engineering');
      expect(u[ENTERPRISE].manager.value).toBe(boss.id);
      expect(new URL(u[ENTERPRISE].manager.$ref).pathname).toBe(`${BASE}/Users/${boss.id}`);
      expect((await read(scim, u.id)).body).toEqual(u);

      const boss2 = await create(scim, { userName: unique('ent-boss2') });
      const changed = await patch(
        scim,
        u.id,
        { op: 'replace', path: `${ENTERPRISE}:department`, value: 'Research' },
        { op: 'replace', path: `${ENTERPRISE}:manager.value`, value: boss2.id },
      );
      expect(changed[ENTERPRISE]).toMatchObject({ department: 'Research', manager: { value: boss2.id } });

      // Deleting the manager clears it on the report.
      expect((await scim.delete(`${BASE}/Users/${boss2.id}`)).status).toBe(204);
      const orphan = (await read(scim, u.id)).body;
      expect(orphan[ENTERPRISE]).toEqual({ department: 'Research' });

      const cleared = await patch(scim, u.id, { op: 'remove', path: `${ENTERPRISE}:department` });
      expect(cleared[ENTERPRISE]).toBeUndefined();
      expect(cleared.schemas).not.toContain(ENTERPRISE);
    });
  });

  describe('license seats', () => {
    async function seats(api: Client, sku: string, capacity: number) {
      const product = await api.post('/api/v1/products', { sku, name: `Product ${sku}` });
      expect(product.status, product.raw).toBe(201);
      const pool = await api.post('/api/v1/pools', { product: sku, name: `${sku} pool`, capacity });
      expect(pool.status, pool.raw).toBe(201);
      return pool.body as { id: string; name: string };
    }

    async function assign(api: Client, userId: string, sku: string) {
      const res = await api.post(`/api/v1/users/${userId}/licenses`, { product: sku });
      expect(res.status, res.raw).toBe(201);
      return res.body;
    }

    async function poolOf(api: Client, id: string) {
      const res = await api.get(`/api/v1/pools/${id}`);
      expect(res.status, res.raw).toBe(200);
      return res.body as { used: number; waitlisted: number; capacity: number };
    }

    it('the Roster extension lists held seats and waitlist places', async () => {
      const { api, scim } = await tenant();
      const sku = unique('SHOW').toUpperCase();
      const pool = await seats(api, sku, 1);
      const a = await create(scim, { userName: unique('holder') });
      const b = await create(scim, { userName: unique('waiter') });
      await assign(api, a.id, sku);
      await assign(api, b.id, sku);
      expect(rosterOf((await read(scim, a.id)).body).licenses).toEqual([
        { product: sku, state: 'active', pool: pool.name },
      ]);
      expect(rosterOf((await read(scim, b.id)).body).licenses).toEqual([
        { product: sku, state: 'waitlisted', waitlistPosition: 1 },
      ]);
    });

    it('active false through SCIM PATCH releases the seat: pool used drops, licenses empties', async () => {
      const { api, scim } = await tenant();
      const sku = unique('M365').toUpperCase();
      const pool = await seats(api, sku, 2);
      const u = await create(scim, { userName: unique('leaver') });
      await assign(api, u.id, sku);
      expect((await poolOf(api, pool.id)).used).toBe(1);
      expect(rosterOf((await read(scim, u.id)).body).licenses).toHaveLength(1);

      const off = await patch(scim, u.id, { op: 'replace', path: 'active', value: false });
      expect(off.active).toBe(false);
      expect(rosterOf(off).licenses).toEqual([]);
      expect((await poolOf(api, pool.id)).used).toBe(0);
      expect((await api.get(`/api/v1/users/${u.id}/licenses`)).body.items).toEqual([]);
      expect(rosterOf((await read(scim, u.id)).body).licenses).toEqual([]);
    });

    it("Okta's no-path deactivation releases the seat and serves the waitlist", async () => {
      const { api, scim } = await tenant();
      const sku = unique('OKTA').toUpperCase();
      const pool = await seats(api, sku, 1);
      const a = await create(scim, { userName: unique('first') });
      const b = await create(scim, { userName: unique('next') });
      await assign(api, a.id, sku);
      await assign(api, b.id, sku);
      expect(await poolOf(api, pool.id)).toMatchObject({ used: 1, waitlisted: 1 });

      const off = await patch(scim, a.id, { op: 'replace', value: { active: false } });
      expect(rosterOf(off).licenses).toEqual([]);
      expect(await poolOf(api, pool.id)).toMatchObject({ used: 1, waitlisted: 0 });
      expect(rosterOf((await read(scim, b.id)).body).licenses).toEqual([
        { product: sku, state: 'active', pool: pool.name },
      ]);
    });

    it("a seat assigned changes the user's representation: If-None-Match no longer matches", async () => {
      const { api, scim } = await tenant();
      const sku = unique('ETAG').toUpperCase();
      await seats(api, sku, 1);
      const u = await create(scim, { userName: unique('seat-etag') });
      await assign(api, u.id, sku);
      const after = await scim.get(`${BASE}/Users/${u.id}`, { 'if-none-match': u.meta.version });
      expect(after.status, 'a 304 would keep the client on a representation without the seat').toBe(200);
      expect(rosterOf(after.body).licenses).toHaveLength(1);
    });

    it('PUT with active false and DELETE release seats too', async () => {
      const { api, scim } = await tenant();
      const sku = unique('ADOBE').toUpperCase();
      const pool = await seats(api, sku, 5);
      const a = await create(scim, { userName: unique('put-leaver') });
      const b = await create(scim, { userName: unique('deleted') });
      await assign(api, a.id, sku);
      await assign(api, b.id, sku);
      expect((await poolOf(api, pool.id)).used).toBe(2);

      const put = await scim.put(`${BASE}/Users/${a.id}`, {
        schemas: [USER],
        userName: a.userName,
        active: false,
      });
      expectScim(put, 200);
      expect(rosterOf(put.body).licenses).toEqual([]);
      expect((await poolOf(api, pool.id)).used).toBe(1);

      const del = await scim.delete(`${BASE}/Users/${b.id}`);
      expect(del.status, del.raw).toBe(204);
      expect((await poolOf(api, pool.id)).used).toBe(0);
    });
  });

  describe('audit', () => {
    async function entries(api: Client): Promise<Entry[]> {
      const out: Entry[] = [];
      let cursor: string | undefined;
      for (let i = 0; i < 100; i++) {
        const res = await api.get(
          `/api/v1/audit/entries?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        expect(res.status, res.raw).toBe(200);
        out.push(...res.body.items);
        cursor = res.body.nextCursor;
        if (cursor === undefined) return out;
      }
      throw new Error('audit paging did not end');
    }

    it('SCIM create, PATCH, PUT and DELETE write user.created / user.updated / user.deleted by the SCIM token', async () => {
      const { api, scim, actor } = await tenant();
      const start = (await entries(api)).at(-1)?.seq ?? 0;
      const created = await scim.post(`${BASE}/Users`, {
        schemas: [USER],
        userName: `${unique('audited')}@users.test`,
        title: 'Clerk',
      });
      expectScim(created, 201);
      const id = created.body.id;
      const patched = await scim.patch(
        `${BASE}/Users/${id}`,
        patchOf({ op: 'replace', path: 'title', value: 'Head' }),
      );
      expectScim(patched, 200);
      // A PATCH that changes nothing is no change: no entry.
      const noop = await scim.patch(
        `${BASE}/Users/${id}`,
        patchOf({ op: 'replace', path: 'title', value: 'Head' }),
      );
      expectScim(noop, 200);
      const put = await scim.put(`${BASE}/Users/${id}`, {
        schemas: [USER],
        userName: created.body.userName,
        title: 'Chief',
      });
      expectScim(put, 200);
      const deleted = await scim.delete(`${BASE}/Users/${id}`);
      expect(deleted.status).toBe(204);

      const mine = (await entries(api)).filter((e) => e.seq > start && e.target.id === id);
      expect(mine.map((e) => e.action)).toEqual([
        'user.created',
        'user.updated',
        'user.updated',
        'user.deleted',
      ]);
      const answers = [created, patched, put, deleted];
      mine.forEach((e, i) => {
        expect(e.actor).toBe(actor);
        expect(e.target).toEqual({ type: 'user', id });
        expect(e.requestId).toBe(answers[i]?.headers['x-request-id']);
      });
      expect(mine[0]?.after).toMatchObject({ id, userName: '***', title: 'Clerk' });
      expect(mine[1]?.before).toMatchObject({ title: 'Clerk' });
      expect(mine[1]?.after).toMatchObject({ title: 'Head' });
      expect(mine[2]?.after).toMatchObject({ title: 'Chief' });
      expect(mine[3]?.after).toBeNull();
      // The audit answer itself holds no PII of the user.
      const raw = JSON.stringify(mine);
      expect(raw).not.toContain(created.body.userName);
    });
  });

  describe('PII at rest', () => {
    /** Where a PII string occurs in the dump (case-insensitively, as text or as UTF-8 bytes). */
    function findPii(dump: Map<string, Row[]>, pii: readonly string[]): string[] {
      const hits: string[] = [];
      for (const [table, rows] of dump) {
        for (const row of rows) {
          for (const [column, value] of Object.entries(row)) {
            if (value === null || value === undefined) continue;
            const bytes =
              Buffer.isBuffer(value) || value instanceof Uint8Array ? Buffer.from(value) : undefined;
            const text = (
              bytes
                ? bytes.toString('utf8')
                : typeof value === 'object'
                  ? JSON.stringify(value)
                  : String(value)
            ).toLowerCase();
            for (const p of pii) {
              if (text.includes(p.toLowerCase()) || bytes?.includes(Buffer.from(p, 'utf8'))) {
                hits.push(`${table}.${column}: ${p}`);
              }
            }
          }
        }
      }
      return hits;
    }

    it('users written through SCIM keep no PII in plaintext in any table', async () => {
      const { scim } = await tenant();
      const tag = randomBytes(4).toString('hex');
      const alice = personWithPii(`scima${tag}`);
      const bob = personWithPii(`scimb${tag}`);
      const later = personWithPii(`scimc${tag}`);
      const created = await create(scim, {
        userName: alice.userName,
        name: alice.name,
        displayName: alice.displayName,
        emails: alice.emails,
        phoneNumbers: alice.phoneNumbers,
        addresses: alice.addresses,
        title: alice.title,
      });
      const gone = await create(scim, { userName: bob.userName, name: bob.name, emails: bob.emails });
      await patch(
        scim,
        created.id,
        { op: 'replace', path: 'displayName', value: later.displayName },
        { op: 'add', path: 'emails', value: [later.emails[1]] },
        { op: 'replace', path: 'phoneNumbers', value: later.phoneNumbers },
      );
      // Lookups by PII run on blind indexes: the values looked up are stored nowhere either.
      const byName = await scim.get(
        `${BASE}/Users?filter=${q(`userName eq "${alice.userName.toUpperCase()}"`)}`,
      );
      expect(byName.body.Resources.map((r: Doc) => r.id)).toEqual([created.id]);
      const byMail = await scim.get(
        `${BASE}/Users?filter=${q(`emails[value eq "${later.emails[1]?.value}"]`)}`,
      );
      expect(byMail.body.Resources.map((r: Doc) => r.id)).toEqual([created.id]);
      expect((await scim.delete(`${BASE}/Users/${gone.id}`)).status).toBe(204);

      const pii = [...new Set([...piiOf(alice), ...piiOf(bob), ...piiOf(later)])].filter(
        (p) => p.length >= 8,
      );
      expect(pii.length).toBeGreaterThan(20);
      const dump = await dumpAllTables(t().app.db);
      expect(dump.get('users')?.some((r) => r.id === created.id)).toBe(true);
      // The search does find a planted value (it can fail).
      const planted = new Map<string, Row[]>([['probe', [{ a: `x${alice.name.familyName}y` }]]]);
      expect(findPii(planted, pii)).toEqual([`probe.a: ${alice.name.familyName}`]);
      expect(findPii(dump, pii)).toEqual([]);
      // And the API still answers the decrypted values.
      const back = (await read(scim, created.id)).body;
      expect(back).toMatchObject({
        userName: alice.userName,
        name: alice.name,
        displayName: later.displayName,
      });
    });
  });
});
