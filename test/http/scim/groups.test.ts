import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import {
  BASE,
  type Doc,
  expectScim,
  expectScimError,
  expectVersioned,
  GROUP,
  LIST_RESPONSE,
  patchOf,
  q,
  SCIM_CT,
  scimTenant,
  USER,
} from '../../support/scim.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * SCIM Groups over HTTP (RFC 7644 §3.3-§3.6): create, read, replace, modify, delete; members through POST,
 * PUT and PATCH, in the forms Entra ID and Okta send; members of one tenant only; the users' read-only
 * `groups` attribute; filters on displayName and members; excludedAttributes=members.
 */

const UNKNOWN = '01890000-0000-7000-8000-000000000000';

const memberIds = (g: Doc): string[] => ((g.members ?? []) as Doc[]).map((m) => m.value).sort();
const sorted = (ids: string[]) => [...ids].sort();

describeEachStore('SCIM groups', (kind) => {
  const t = useTestApp(kind);
  let seq = 0;
  const unique = (label: string) => `${label}-${++seq}-${randomBytes(3).toString('hex')}`;

  const tenant = () => scimTenant(t());

  async function user(scim: Client, label = 'member'): Promise<Doc> {
    const res = await scim.post(`${BASE}/Users`, {
      schemas: [USER],
      userName: `${unique(label)}@groups.test`,
    });
    expectScim(res, 201);
    return res.body;
  }

  async function users(scim: Client, n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await user(scim)).id);
    return out;
  }

  async function group(scim: Client, body: Doc = {}): Promise<Doc> {
    const res = await scim.post(`${BASE}/Groups`, {
      schemas: [GROUP],
      displayName: unique('Group'),
      ...body,
    });
    expectScim(res, 201);
    return res.body;
  }

  async function read(scim: Client, id: string, query = ''): Promise<Answer> {
    const res = await scim.get(`${BASE}/Groups/${id}${query}`);
    expectScim(res, 200);
    return res;
  }

  async function patch(scim: Client, id: string, ...ops: Record<string, unknown>[]): Promise<Doc> {
    const res = await scim.patch(`${BASE}/Groups/${id}`, patchOf(...ops));
    expectScim(res, 200);
    expectVersioned(res);
    return res.body;
  }

  async function groupsOf(scim: Client, userId: string): Promise<Doc[]> {
    const res = await scim.get(`${BASE}/Users/${userId}`);
    expectScim(res, 200);
    return (res.body.groups ?? []) as Doc[];
  }

  describe('create, read, delete', () => {
    it('POST /Groups: 201, Location, ETag equal to meta.version, members with value, $ref and type', async () => {
      const { scim } = await tenant();
      const [a, b] = await users(scim, 2);
      const displayName = unique('Engineering');
      const res = await scim.post(`${BASE}/Groups`, {
        schemas: [GROUP],
        displayName,
        externalId: 'entra-group-1',
        members: [{ value: a }, { value: b, display: 'ignored' }],
      });
      expectScim(res, 201);
      const g = res.body;
      expect(g.schemas).toEqual([GROUP]);
      expect(g).toMatchObject({ displayName, externalId: 'entra-group-1' });
      expect(memberIds(g)).toEqual(sorted([a as string, b as string]));
      for (const m of g.members) {
        expect(m.type).toBe('User');
        expect(new URL(m.$ref).pathname).toBe(`${BASE}/Users/${m.value}`);
      }
      expect(g.meta.resourceType).toBe('Group');
      expect(Date.parse(g.meta.created)).not.toBeNaN();
      expect(Date.parse(g.meta.lastModified)).not.toBeNaN();
      expect(new URL(g.meta.location).pathname).toBe(`${BASE}/Groups/${g.id}`);
      expect(res.headers.location).toBe(g.meta.location);
      expectVersioned(res);

      const got = await read(scim, g.id);
      expect(got.body).toEqual(g);
      const cached = await scim.get(`${BASE}/Groups/${g.id}`, { 'if-none-match': g.meta.version });
      expect(cached.status).toBe(304);
    });

    it('DELETE: 204, then 404; the members stay users and lose the group', async () => {
      const { scim } = await tenant();
      const [a] = await users(scim, 1);
      const g = await group(scim, { members: [{ value: a }] });
      expect((await groupsOf(scim, a as string)).map((x) => x.value)).toEqual([g.id]);
      const del = await scim.delete(`${BASE}/Groups/${g.id}`);
      expect(del.status, del.raw).toBe(204);
      expect(del.raw).toBe('');
      expectScimError(await scim.get(`${BASE}/Groups/${g.id}`), 404);
      expectScimError(await scim.delete(`${BASE}/Groups/${g.id}`), 404);
      expect(await groupsOf(scim, a as string)).toEqual([]);
    });

    it('If-Match with the current version passes on PUT, PATCH and DELETE', async () => {
      const { scim } = await tenant();
      const g = await group(scim);
      const put = await scim.put(
        `${BASE}/Groups/${g.id}`,
        { schemas: [GROUP], displayName: `${g.displayName} renamed` },
        { ...SCIM_CT, 'if-match': g.meta.version },
      );
      expectScim(put, 200);
      const v2 = expectVersioned(put);
      const p = await scim.patch(
        `${BASE}/Groups/${g.id}`,
        patchOf({ op: 'replace', path: 'displayName', value: `${g.displayName} again` }),
        { ...SCIM_CT, 'if-match': v2 },
      );
      expectScim(p, 200);
      expectScimError(await scim.delete(`${BASE}/Groups/${g.id}`, { 'if-match': v2 }), 412);
      const del = await scim.delete(`${BASE}/Groups/${g.id}`, { 'if-match': expectVersioned(p) });
      expect(del.status, del.raw).toBe(204);
    });
  });

  describe('members', () => {
    it('PUT replaces displayName, externalId and the whole member list; members left out are removed', async () => {
      const { scim } = await tenant();
      const [a, b, c] = await users(scim, 3);
      const g = await group(scim, { externalId: 'ext-1', members: [{ value: a }, { value: b }] });
      const res = await scim.put(`${BASE}/Groups/${g.id}`, {
        schemas: [GROUP],
        displayName: `${g.displayName} v2`,
        members: [{ value: b }, { value: c }],
      });
      expectScim(res, 200);
      expect(res.body.displayName).toBe(`${g.displayName} v2`);
      expect(res.body.externalId).toBeUndefined();
      expect(memberIds(res.body)).toEqual(sorted([b as string, c as string]));
      expect(expectVersioned(res)).not.toBe(g.meta.version);
      expect((await read(scim, g.id)).body).toEqual(res.body);

      const none = await scim.put(`${BASE}/Groups/${g.id}`, { schemas: [GROUP], displayName: g.displayName });
      expectScim(none, 200);
      expect(memberIds(none.body)).toEqual([]);
    });

    it('PATCH add members (an existing one is not added twice), remove by members[value eq "id"]', async () => {
      const { scim } = await tenant();
      const [a, b, c] = await users(scim, 3);
      const g = await group(scim, { members: [{ value: a }] });
      const added = await patch(scim, g.id, {
        op: 'add',
        path: 'members',
        value: [{ value: a }, { value: b }, { value: c }],
      });
      expect(memberIds(added)).toEqual(sorted([a as string, b as string, c as string]));
      expect(added.meta.version).not.toBe(g.meta.version);
      const removed = await patch(scim, g.id, { op: 'remove', path: `members[value eq "${b}"]` });
      expect(memberIds(removed)).toEqual(sorted([a as string, c as string]));
      expect(memberIds((await read(scim, g.id)).body)).toEqual(sorted([a as string, c as string]));
    });

    it("Entra ID: {op: 'Add'} and {op: 'Remove', path: 'members', value: [{value}]} remove only those listed", async () => {
      const { scim } = await tenant();
      const [a, b, c] = await users(scim, 3);
      const g = await group(scim);
      const added = await patch(scim, g.id, {
        op: 'Add',
        path: 'members',
        value: [{ value: a }, { value: b }, { value: c }],
      });
      expect(memberIds(added)).toHaveLength(3);
      const removed = await patch(scim, g.id, {
        op: 'Remove',
        path: 'members',
        value: [{ value: a }, { value: c }],
      });
      expect(memberIds(removed)).toEqual([b]);
    });

    it('replace of members sets the whole list; remove of members empties it', async () => {
      const { scim } = await tenant();
      const [a, b, c, d] = await users(scim, 4);
      const g = await group(scim, { members: [{ value: a }, { value: b }] });
      const replaced = await patch(scim, g.id, {
        op: 'replace',
        path: 'members',
        value: [{ value: c }, { value: d }],
      });
      expect(memberIds(replaced)).toEqual(sorted([c as string, d as string]));
      expect(await groupsOf(scim, a as string)).toEqual([]);
      const emptied = await patch(scim, g.id, { op: 'remove', path: 'members' });
      expect(memberIds(emptied)).toEqual([]);
    });

    it('Okta: a no-path replace with {id, displayName} renames; PATCH with members and a rename at once', async () => {
      const { scim } = await tenant();
      const [a] = await users(scim, 1);
      const g = await group(scim);
      const renamed = await patch(scim, g.id, {
        op: 'replace',
        value: { id: g.id, displayName: `${g.displayName} (okta)` },
      });
      expect(renamed.displayName).toBe(`${g.displayName} (okta)`);
      const both = await patch(
        scim,
        g.id,
        { op: 'replace', path: 'displayName', value: `${g.displayName} (both)` },
        { op: 'add', path: 'members', value: [{ value: a }] },
      );
      expect(both.displayName).toBe(`${g.displayName} (both)`);
      expect(memberIds(both)).toEqual([a]);
    });

    it('a member change changes the ETag and meta.lastModified', async () => {
      const { scim } = await tenant();
      const [a] = await users(scim, 1);
      const g = await group(scim);
      await new Promise((r) => setTimeout(r, 5));
      const res = await scim.patch(
        `${BASE}/Groups/${g.id}`,
        patchOf({ op: 'add', path: 'members', value: [{ value: a }] }),
      );
      expectScim(res, 200);
      expect(expectVersioned(res)).not.toBe(g.meta.version);
      expect(Date.parse(res.body.meta.lastModified)).toBeGreaterThan(Date.parse(g.meta.lastModified));
      const stale = await scim.get(`${BASE}/Groups/${g.id}`, { 'if-none-match': g.meta.version });
      expectScim(stale, 200);
      expect(memberIds(stale.body)).toEqual([a]);
    });

    it('a user of another tenant, or no user at all, is refused as a member with 400 and nothing changes', async () => {
      const a = await tenant();
      const b = await tenant();
      const [mine] = await users(a.scim, 1);
      const foreign = (await user(b.scim, 'foreign')).id as string;
      const before = await group(a.scim, { members: [{ value: mine }] });

      for (const member of [foreign, UNKNOWN]) {
        const post = await a.scim.post(`${BASE}/Groups`, {
          schemas: [GROUP],
          displayName: unique('cross'),
          members: [{ value: mine }, { value: member }],
        });
        expectScimError(post, 400, 'invalidValue');
        const put = await a.scim.put(`${BASE}/Groups/${before.id}`, {
          schemas: [GROUP],
          displayName: before.displayName,
          members: [{ value: member }],
        });
        expectScimError(put, 400, 'invalidValue');
        const p = await a.scim.patch(
          `${BASE}/Groups/${before.id}`,
          patchOf({ op: 'add', path: 'members', value: [{ value: member }] }),
        );
        expectScimError(p, 400, 'invalidValue');
      }
      expect((await read(a.scim, before.id)).body).toEqual(before);
      expect(await groupsOf(b.scim, foreign)).toEqual([]);
      const listed = await a.scim.get(`${BASE}/Groups?filter=${q('displayName sw "cross-"')}`);
      expect(listed.body.totalResults).toBe(0);
    });

    it("tenant B cannot read, change or delete tenant A's group", async () => {
      const a = await tenant();
      const b = await tenant();
      const g = await group(a.scim);
      expectScimError(await b.scim.get(`${BASE}/Groups/${g.id}`), 404);
      expectScimError(
        await b.scim.patch(
          `${BASE}/Groups/${g.id}`,
          patchOf({ op: 'replace', path: 'displayName', value: 'x' }),
        ),
        404,
      );
      expectScimError(
        await b.scim.put(`${BASE}/Groups/${g.id}`, { schemas: [GROUP], displayName: 'x' }),
        404,
      );
      expectScimError(await b.scim.delete(`${BASE}/Groups/${g.id}`), 404);
      const listed = await b.scim.get(`${BASE}/Groups?filter=${q(`displayName eq "${g.displayName}"`)}`);
      expect(listed.body.totalResults).toBe(0);
      expect((await read(a.scim, g.id)).body).toEqual(g);
    });

    it('deleting a user removes them from their groups', async () => {
      const { scim } = await tenant();
      const [a, b] = await users(scim, 2);
      const g = await group(scim, { members: [{ value: a }, { value: b }] });
      expect((await scim.delete(`${BASE}/Users/${a}`)).status).toBe(204);
      const after = await read(scim, g.id);
      expect(memberIds(after.body)).toEqual([b]);
      expect(expectVersioned(after)).not.toBe(g.meta.version);
    });
  });

  describe("the users' groups attribute", () => {
    it('shows each membership with value, $ref, display and type direct, and follows changes', async () => {
      const { scim } = await tenant();
      const [a] = await users(scim, 1);
      const g1 = await group(scim, { members: [{ value: a }] });
      const g2 = await group(scim);
      await patch(scim, g2.id, { op: 'add', path: 'members', value: [{ value: a }] });
      const shown = await groupsOf(scim, a as string);
      expect(shown.map((x) => x.value).sort()).toEqual(sorted([g1.id, g2.id]));
      for (const x of shown) {
        const g = x.value === g1.id ? g1 : g2;
        expect(x).toMatchObject({ display: g.displayName, type: 'direct' });
        expect(new URL(x.$ref).pathname).toBe(`${BASE}/Groups/${g.id}`);
      }
      const renamed = await patch(scim, g1.id, {
        op: 'replace',
        path: 'displayName',
        value: `${g1.displayName}!`,
      });
      expect((await groupsOf(scim, a as string)).find((x) => x.value === g1.id)?.display).toBe(
        renamed.displayName,
      );
      await patch(scim, g2.id, { op: 'remove', path: `members[value eq "${a}"]` });
      expect((await groupsOf(scim, a as string)).map((x) => x.value)).toEqual([g1.id]);
      const byGroup = await scim.get(`${BASE}/Users?filter=${q(`groups.value eq "${g1.id}"`)}`);
      expectScim(byGroup, 200);
      expect(byGroup.body.Resources.map((u: Doc) => u.id)).toEqual([a]);
    });

    it("a membership change is a change of the user's representation: If-None-Match no longer matches", async () => {
      const { scim } = await tenant();
      const [a] = await users(scim, 1);
      const before = await scim.get(`${BASE}/Users/${a}`);
      expectScim(before, 200);
      const g = await group(scim);
      await patch(scim, g.id, { op: 'add', path: 'members', value: [{ value: a }] });
      const after = await scim.get(`${BASE}/Users/${a}`, { 'if-none-match': before.headers.etag as string });
      expect(after.status, 'a 304 would keep the client on a representation without the group').toBe(200);
      expect(after.body.groups.map((x: Doc) => x.value)).toEqual([g.id]);
    });
  });

  describe('filters and projection', () => {
    it('displayName eq compares without regard to case; externalId eq; ListResponse shape', async () => {
      const { scim } = await tenant();
      const name = unique('Sales Team');
      const g = await group(scim, { displayName: name, externalId: unique('ext') });
      await group(scim);
      for (const asked of [name, name.toUpperCase(), name.toLowerCase()]) {
        const res = await scim.get(`${BASE}/Groups?filter=${q(`displayName eq "${asked}"`)}`);
        expectScim(res, 200);
        expect(res.body).toMatchObject({
          schemas: [LIST_RESPONSE],
          totalResults: 1,
          startIndex: 1,
          itemsPerPage: 1,
        });
        expect(res.body.Resources.map((x: Doc) => x.id)).toEqual([g.id]);
      }
      const byExt = await scim.get(`${BASE}/Groups?filter=${q(`externalId eq "${g.externalId}"`)}`);
      expect(byExt.body.Resources.map((x: Doc) => x.id)).toEqual([g.id]);
      const none = await scim.get(`${BASE}/Groups?filter=${q('displayName eq "no such group"')}`);
      expect(none.body).toMatchObject({ totalResults: 0, Resources: [] });
    });

    it('members[value eq "id"] and members.value eq find the groups a user is in', async () => {
      const { scim } = await tenant();
      const [a, b] = await users(scim, 2);
      const g1 = await group(scim, { members: [{ value: a }] });
      const g2 = await group(scim, { members: [{ value: a }, { value: b }] });
      await group(scim, { members: [{ value: b }] });
      for (const f of [`members[value eq "${a}"]`, `members.value eq "${a}"`]) {
        const res = await scim.get(`${BASE}/Groups?filter=${q(f)}`);
        expectScim(res, 200);
        expect(res.body.totalResults).toBe(2);
        expect(res.body.Resources.map((x: Doc) => x.id).sort()).toEqual(sorted([g1.id, g2.id]));
      }
      const both = await scim.get(
        `${BASE}/Groups?filter=${q(`members[value eq "${a}"] and displayName eq "${g2.displayName}"`)}`,
      );
      expect(both.body.Resources.map((x: Doc) => x.id)).toEqual([g2.id]);
      const nobody = await scim.get(`${BASE}/Groups?filter=${q(`members[value eq "${UNKNOWN}"]`)}`);
      expect(nobody.body.totalResults).toBe(0);
    });

    it('excludedAttributes=members leaves members out of lists and reads; attributes=displayName keeps id', async () => {
      const { scim } = await tenant();
      const [a] = await users(scim, 1);
      const g = await group(scim, { members: [{ value: a }] });
      const list = await scim.get(`${BASE}/Groups?excludedAttributes=members`);
      expectScim(list, 200);
      const listed = list.body.Resources.find((x: Doc) => x.id === g.id);
      expect(listed).toMatchObject({ id: g.id, displayName: g.displayName });
      expect(listed.members).toBeUndefined();
      const one = await read(scim, g.id, '?excludedAttributes=members');
      expect(one.body.members).toBeUndefined();
      expect(one.body.displayName).toBe(g.displayName);
      const only = await read(scim, g.id, '?attributes=displayName');
      expect(only.body.id).toBe(g.id);
      expect(only.body.displayName).toBe(g.displayName);
      expect(only.body.members).toBeUndefined();
      const full = await scim.get(`${BASE}/Groups`);
      expect(memberIds(full.body.Resources.find((x: Doc) => x.id === g.id))).toEqual([a]);
    });

    it('sortBy displayName orders groups without regard to case (RFC 7644 §3.4.2.3, caseExact false)', async () => {
      const { scim } = await tenant();
      const tag = unique('sort');
      for (const n of ['bravo', 'Alpha', 'charlie']) await group(scim, { displayName: `${tag} ${n}` });
      const res = await scim.get(`${BASE}/Groups?filter=${q(`displayName sw "${tag}"`)}&sortBy=displayName`);
      expectScim(res, 200);
      expect(res.body.Resources.map((x: Doc) => x.displayName)).toEqual([
        `${tag} Alpha`,
        `${tag} bravo`,
        `${tag} charlie`,
      ]);
    });
  });

  describe('audit', () => {
    it('SCIM group changes are audited by the SCIM token', async () => {
      const { api, scim, actor } = await tenant();
      const [a] = await users(scim, 1);
      const g = await group(scim);
      await patch(scim, g.id, { op: 'add', path: 'members', value: [{ value: a }] });
      await patch(scim, g.id, { op: 'replace', path: 'displayName', value: `${g.displayName} x` });
      await patch(scim, g.id, { op: 'remove', path: 'members' });
      expect((await scim.delete(`${BASE}/Groups/${g.id}`)).status).toBe(204);
      const res = await api.get('/api/v1/audit/entries?limit=200');
      expect(res.status, res.raw).toBe(200);
      const mine = (res.body.items as { action: string; actor: string; target: { id: string } }[]).filter(
        (e) => e.target.id === g.id,
      );
      expect(mine.map((e) => e.action)).toEqual([
        'group.created',
        'group.member_added',
        'group.updated',
        'group.member_removed',
        'group.deleted',
      ]);
      for (const e of mine) expect(e.actor).toBe(actor);
    });
  });
});
