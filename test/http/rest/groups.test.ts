import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

interface GroupBody {
  id: string;
  displayName: string;
  memberCount: number;
  version: number;
  [k: string]: unknown;
}

const UNKNOWN = '01890000-0000-7000-8000-000000000000';

describeEachStore('REST groups', (kind) => {
  const t = useTestApp(kind);

  async function createUser(api: Client, userName: string): Promise<string> {
    const res = await api.post('/api/v1/users', { userName });
    expect(res.status, res.raw).toBe(201);
    return res.body.id;
  }

  async function createGroup(api: Client, body: Record<string, unknown>): Promise<GroupBody> {
    const res = await api.post('/api/v1/groups', body);
    expect(res.status, res.raw).toBe(201);
    return res.body;
  }

  async function memberIds(api: Client, groupId: string): Promise<string[]> {
    const res = await api.get(`/api/v1/groups/${groupId}/members?limit=200`);
    expect(res.status, res.raw).toBe(200);
    return res.body.items.map((m: { userId: string }) => m.userId);
  }

  async function groupIdsOf(api: Client, userId: string): Promise<string[]> {
    const res = await api.get(`/api/v1/users/${userId}/groups`);
    expect(res.status, res.raw).toBe(200);
    return res.body.items.map((g: { id: string }) => g.id);
  }

  describe('create and read', () => {
    it('creates a group with ETag and Location and reads it back', async () => {
      const { api } = await t().newTenant();
      const res = await api.post('/api/v1/groups', {
        displayName: 'Engineering',
        externalId: 'grp-eng',
        description: 'Builds things',
      });
      expect(res.status, res.raw).toBe(201);
      expect(res.headers.location).toBe(`/api/v1/groups/${res.body.id}`);
      expect(res.headers.etag).toBe('W/"1"');
      expect(res.body).toMatchObject({
        displayName: 'Engineering',
        externalId: 'grp-eng',
        description: 'Builds things',
        memberCount: 0,
        version: 1,
      });
      expect(res.body.updatedAt).toBe(res.body.createdAt);
      const read = await api.get(`/api/v1/groups/${res.body.id}`);
      expect(read.status).toBe(200);
      expect(read.headers.etag).toBe('W/"1"');
      expect(read.body).toEqual(res.body);
      expect((await api.get(`/api/v1/groups/${UNKNOWN}`)).status).toBe(404);
    });

    it('keeps displayName unique per tenant, case-insensitively (409)', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      await createGroup(a.api, { displayName: 'Admins' });
      const dup = await a.api.post('/api/v1/groups', { displayName: 'ADMINS' });
      expect(dup.status).toBe(409);
      expect(dup.body.code).toBe('identity.group_name_taken');
      const padded = await a.api.post('/api/v1/groups', { displayName: '  admins ' });
      expect(padded.status).toBe(409);
      expect((await b.api.post('/api/v1/groups', { displayName: 'admins' })).status).toBe(201);
      expect((await a.api.get('/api/v1/groups')).body.items).toHaveLength(1);
    });

    it('rejects invalid bodies with 422', async () => {
      const { api } = await t().newTenant();
      for (const body of [
        {},
        { displayName: '' },
        { displayName: '   ' },
        { displayName: 'x', memberCount: 3 },
        { displayName: 'x', members: ['not-a-uuid'] },
        { displayName: 7 },
      ]) {
        const res = await api.post('/api/v1/groups', body);
        expect(res.status, JSON.stringify(body)).toBe(422);
      }
      expect((await api.get('/api/v1/groups')).body.items).toEqual([]);
    });

    it('creates a group with initial members; an unknown or foreign member rejects the whole create', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const u1 = await createUser(a.api, 'u1');
      const u2 = await createUser(a.api, 'u2');
      const foreign = await createUser(b.api, 'foreign');
      const g = await createGroup(a.api, { displayName: 'Team', members: [u1, u2, u1] });
      expect(g.memberCount).toBe(2);
      expect(g.version).toBe(1);
      expect(await memberIds(a.api, g.id)).toEqual([u1, u2].sort());

      for (const members of [[u1, UNKNOWN], [foreign]]) {
        const res = await a.api.post('/api/v1/groups', { displayName: 'Rejected', members });
        expect(res.status, res.raw).toBe(422);
        expect(res.body.code).toBe('identity.invalid_member');
      }
      const names = (await a.api.get('/api/v1/groups')).body.items.map((x: GroupBody) => x.displayName);
      expect(names).toEqual(['Team']);
      expect(await groupIdsOf(a.api, u1)).toEqual([g.id]);
      // the rejected name was never taken
      expect((await a.api.post('/api/v1/groups', { displayName: 'Rejected' })).status).toBe(201);
    });
  });

  describe('list', () => {
    it('pages every group exactly once in creation order and filters by displayName and externalId', async () => {
      const { api } = await t().newTenant();
      const created: string[] = [];
      for (let i = 0; i < 5; i++) {
        created.push((await createGroup(api, { displayName: `Group ${i}`, externalId: `g-${i}` })).id);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      const sizes: number[] = [];
      do {
        const res = await api.get(`/api/v1/groups?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        expect(res.status, res.raw).toBe(200);
        sizes.push(res.body.items.length);
        seen.push(...res.body.items.map((g: GroupBody) => g.id));
        cursor = res.body.nextCursor;
      } while (cursor !== undefined);
      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual(created);
      const exact = await api.get('/api/v1/groups?limit=5');
      expect(exact.body).not.toHaveProperty('nextCursor');

      const byName = await api.get('/api/v1/groups?displayName=group%203');
      expect(byName.body.items.map((g: GroupBody) => g.id)).toEqual([created[3]]);
      const byExt = await api.get('/api/v1/groups?externalId=g-1');
      expect(byExt.body.items.map((g: GroupBody) => g.id)).toEqual([created[1]]);
      expect((await api.get('/api/v1/groups?displayName=nope')).body.items).toEqual([]);
      expect((await api.get('/api/v1/groups?cursor=garbage!')).status).toBe(400);
    });
  });

  describe('PATCH', () => {
    it('merge-patches fields, bumps the version, and answers with an ETag', async () => {
      const { api } = await t().newTenant();
      const g = await createGroup(api, { displayName: 'Ops', externalId: 'ops', description: 'Runs things' });
      const res = await api.patch(`/api/v1/groups/${g.id}`, { description: null, displayName: 'Operations' });
      expect(res.status, res.raw).toBe(200);
      expect(res.headers.etag).toBe('W/"2"');
      expect(res.body).toMatchObject({
        displayName: 'Operations',
        externalId: 'ops',
        description: null,
        version: 2,
        createdAt: g.createdAt,
      });
      expect((await api.get(`/api/v1/groups/${g.id}`)).body).toEqual(res.body);
      // the old name is free, the new one is taken
      expect((await api.post('/api/v1/groups', { displayName: 'ops' })).status).toBe(201);
      expect((await api.post('/api/v1/groups', { displayName: 'OPERATIONS' })).status).toBe(409);
      // a group may change the case of its own name
      const own = await api.patch(`/api/v1/groups/${g.id}`, { displayName: 'OPERATIONS' });
      expect(own.status, own.raw).toBe(200);
      expect(own.body.displayName).toBe('OPERATIONS');
    });

    it('rejects a rename onto another group (409), a removed or blank name (422), unknown ids (404)', async () => {
      const { api } = await t().newTenant();
      await createGroup(api, { displayName: 'Alpha' });
      const beta = await createGroup(api, { displayName: 'Beta' });
      const clash = await api.patch(`/api/v1/groups/${beta.id}`, { displayName: 'alpha' });
      expect(clash.status).toBe(409);
      for (const body of [
        { displayName: null },
        { displayName: '  ' },
        { memberCount: 9 },
        { members: [] },
      ]) {
        expect((await api.patch(`/api/v1/groups/${beta.id}`, body)).status, JSON.stringify(body)).toBe(422);
      }
      expect((await api.patch(`/api/v1/groups/${UNKNOWN}`, { description: 'x' })).status).toBe(404);
      expect((await api.get(`/api/v1/groups/${beta.id}`)).body).toMatchObject({
        displayName: 'Beta',
        version: 1,
      });
    });

    it('honours If-Match on PATCH and DELETE', async () => {
      const { api } = await t().newTenant();
      const g = await createGroup(api, { displayName: 'Guarded' });
      const stale = await api.patch(`/api/v1/groups/${g.id}`, { description: 'x' }, { 'if-match': 'W/"9"' });
      expect(stale.status).toBe(412);
      const ok = await api.patch(`/api/v1/groups/${g.id}`, { description: 'x' }, { 'if-match': 'W/"1"' });
      expect(ok.status).toBe(200);
      const star = await api.patch(`/api/v1/groups/${g.id}`, { description: 'y' }, { 'if-match': '*' });
      expect(star.status).toBe(200);
      expect(star.body.version).toBe(3);
      const staleDel = await api.delete(`/api/v1/groups/${g.id}`, { 'if-match': 'W/"2"' });
      expect(staleDel.status).toBe(412);
      expect((await api.get(`/api/v1/groups/${g.id}`)).body).toMatchObject({ description: 'y', version: 3 });
      expect((await api.delete(`/api/v1/groups/${g.id}`, { 'if-match': 'W/"3"' })).status).toBe(204);
    });
  });

  describe('members', () => {
    it('adds and removes members; memberCount and version move; PUT twice is idempotent', async () => {
      const { api } = await t().newTenant();
      const u1 = await createUser(api, 'm1');
      const u2 = await createUser(api, 'm2');
      const g = await createGroup(api, { displayName: 'Members' });

      const put = await api.put(`/api/v1/groups/${g.id}/members/${u1}`);
      expect(put.status, put.raw).toBe(204);
      expect(put.raw).toBe('');
      let read = await api.get(`/api/v1/groups/${g.id}`);
      expect(read.body).toMatchObject({ memberCount: 1, version: 2 });
      expect(read.headers.etag).toBe('W/"2"');

      const again = await api.put(`/api/v1/groups/${g.id}/members/${u1}`);
      expect(again.status).toBe(204);
      read = await api.get(`/api/v1/groups/${g.id}`);
      expect(read.body).toMatchObject({ memberCount: 1, version: 2 });

      expect((await api.put(`/api/v1/groups/${g.id}/members/${u2}`)).status).toBe(204);
      read = await api.get(`/api/v1/groups/${g.id}`);
      expect(read.body).toMatchObject({ memberCount: 2, version: 3 });
      expect(await memberIds(api, g.id)).toEqual([u1, u2].sort());
      const listed = await api.get(`/api/v1/groups/${g.id}/members`);
      for (const m of listed.body.items) expect(Date.parse(m.addedAt)).not.toBeNaN();
      expect(await groupIdsOf(api, u1)).toEqual([g.id]);

      const del = await api.delete(`/api/v1/groups/${g.id}/members/${u1}`);
      expect(del.status).toBe(204);
      read = await api.get(`/api/v1/groups/${g.id}`);
      expect(read.body).toMatchObject({ memberCount: 1, version: 4 });
      expect(await memberIds(api, g.id)).toEqual([u2]);
      expect(await groupIdsOf(api, u1)).toEqual([]);

      const delAgain = await api.delete(`/api/v1/groups/${g.id}/members/${u1}`);
      expect(delAgain.status).toBe(404);
      expect(delAgain.body.code).toBe('identity.member_not_found');
      expect((await api.get(`/api/v1/groups/${g.id}`)).body).toMatchObject({ memberCount: 1, version: 4 });
      // the group list shows the same count
      const inList = (await api.get('/api/v1/groups')).body.items.find((x: GroupBody) => x.id === g.id);
      expect(inList).toMatchObject({ memberCount: 1, version: 4 });
    });

    it('answers 404 for unknown groups, unknown users and other tenants’ users or groups', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const user = await createUser(a.api, 'local');
      const foreignUser = await createUser(b.api, 'foreign');
      const g = await createGroup(a.api, { displayName: 'Closed' });
      const foreignGroup = await createGroup(b.api, { displayName: 'Theirs' });

      expect((await a.api.put(`/api/v1/groups/${g.id}/members/${UNKNOWN}`)).status).toBe(404);
      expect((await a.api.put(`/api/v1/groups/${g.id}/members/${foreignUser}`)).status).toBe(404);
      expect((await a.api.put(`/api/v1/groups/${UNKNOWN}/members/${user}`)).status).toBe(404);
      expect((await a.api.put(`/api/v1/groups/${foreignGroup.id}/members/${user}`)).status).toBe(404);
      expect((await a.api.delete(`/api/v1/groups/${g.id}/members/${user}`)).status).toBe(404);
      expect((await a.api.get(`/api/v1/groups/${UNKNOWN}/members`)).status).toBe(404);
      expect((await a.api.get(`/api/v1/groups/${foreignGroup.id}`)).status).toBe(404);
      expect((await a.api.get(`/api/v1/groups/${foreignGroup.id}/members`)).status).toBe(404);
      expect((await a.api.get(`/api/v1/users/${foreignUser}/groups`)).status).toBe(404);
      expect((await a.api.put(`/api/v1/groups/${g.id}/members/not-a-uuid`)).status).toBe(400);
      expect((await a.api.get(`/api/v1/groups/${g.id}`)).body).toMatchObject({ memberCount: 0, version: 1 });
      expect((await b.api.get(`/api/v1/groups/${foreignGroup.id}`)).body).toMatchObject({ memberCount: 0 });
    });

    it('pages the member list: each member exactly once, no cursor on the last page', async () => {
      const { api } = await t().newTenant();
      const users: string[] = [];
      for (let i = 0; i < 5; i++) users.push(await createUser(api, `p${i}`));
      const g = await createGroup(api, { displayName: 'Paged', members: users });
      const seen: string[] = [];
      const sizes: number[] = [];
      let cursor: string | undefined;
      do {
        const res = await api.get(
          `/api/v1/groups/${g.id}/members?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(res.status, res.raw).toBe(200);
        sizes.push(res.body.items.length);
        seen.push(...res.body.items.map((m: { userId: string }) => m.userId));
        cursor = res.body.nextCursor;
      } while (cursor !== undefined);
      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual([...users].sort());
      expect(new Set(seen).size).toBe(5);
      expect((await api.get(`/api/v1/groups/${g.id}/members?limit=0`)).status).toBe(400);
    });

    it('lists a user’s groups', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, 'joiner');
      const other = await createUser(api, 'other');
      const g1 = await createGroup(api, { displayName: 'One', members: [u] });
      const g2 = await createGroup(api, { displayName: 'Two' });
      await createGroup(api, { displayName: 'Three', members: [other] });
      expect((await api.put(`/api/v1/groups/${g2.id}/members/${u}`)).status).toBe(204);
      const res = await api.get(`/api/v1/users/${u}/groups`);
      expect(res.status).toBe(200);
      expect(res.body.items.map((g: GroupBody) => g.id).sort()).toEqual([g1.id, g2.id].sort());
      const two = res.body.items.find((g: GroupBody) => g.id === g2.id);
      expect(two).toMatchObject({ displayName: 'Two', memberCount: 1, version: 2 });
      expect((await api.get(`/api/v1/users/${UNKNOWN}/groups`)).status).toBe(404);
    });
  });

  describe('delete', () => {
    it('deletes a group and its memberships, keeping the users', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, 'stays');
      const g = await createGroup(api, { displayName: 'Doomed', members: [u] });
      const del = await api.delete(`/api/v1/groups/${g.id}`);
      expect(del.status).toBe(204);
      expect((await api.get(`/api/v1/groups/${g.id}`)).status).toBe(404);
      expect((await api.get(`/api/v1/groups/${g.id}/members`)).status).toBe(404);
      expect((await api.delete(`/api/v1/groups/${g.id}`)).status).toBe(404);
      expect((await api.put(`/api/v1/groups/${g.id}/members/${u}`)).status).toBe(404);
      expect(await groupIdsOf(api, u)).toEqual([]);
      expect((await api.get(`/api/v1/users/${u}`)).status).toBe(200);
      // the name is free again
      expect((await api.post('/api/v1/groups', { displayName: 'doomed' })).status).toBe(201);
    });
  });

  describe('authentication', () => {
    it('needs a tenant token or a platform token with Roster-Tenant', async () => {
      const { tenantId, api } = await t().newTenant();
      const g = await createGroup(api, { displayName: 'Visible' });
      expect((await t().client(undefined).get('/api/v1/groups')).status).toBe(401);
      const admin = t().client(ADMIN_TOKEN);
      expect((await admin.get('/api/v1/groups')).status).toBe(403);
      const scoped = await admin.get(`/api/v1/groups/${g.id}`, { 'roster-tenant': tenantId });
      expect(scoped.status).toBe(200);
      expect(scoped.body.id).toBe(g.id);
    });
  });
});
