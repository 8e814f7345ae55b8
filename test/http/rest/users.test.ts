import { describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

interface UserBody {
  id: string;
  userName: string;
  [k: string]: unknown;
}

const ids = (items: { id: string }[]) => items.map((u) => u.id);

describeEachStore('REST users', (kind) => {
  const t = useTestApp(kind);

  async function createUser(api: Client, body: Record<string, unknown>): Promise<UserBody> {
    const res = await api.post('/api/v1/users', body);
    expect(res.status, res.raw).toBe(201);
    return res.body;
  }

  /** Walks every page of a list with the given page size; returns the pages. */
  async function walk(
    api: Client,
    path: string,
    limit: number,
  ): Promise<{ items: UserBody[]; next?: string }[]> {
    const pages: { items: UserBody[]; next?: string }[] = [];
    let cursor: string | undefined;
    const sep = path.includes('?') ? '&' : '?';
    for (let i = 0; i < 100; i++) {
      const url = `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
      const res = await api.get(url);
      expect(res.status, res.raw).toBe(200);
      pages.push({ items: res.body.items, next: res.body.nextCursor });
      if (res.body.nextCursor === undefined) return pages;
      cursor = res.body.nextCursor;
    }
    throw new Error('paging did not end');
  }

  describe('create and read', () => {
    it('creates a user with every field, defaults, Location and ETag, and reads it back', async () => {
      const { api } = await t().newTenant();
      const manager = await createUser(api, { userName: 'boss@example.com' });
      const input = {
        userName: 'carol@example.com',
        externalId: 'emp-0001',
        name: { givenName: 'Carol', familyName: 'Danvers', formatted: 'Carol Danvers' },
        displayName: 'Captain',
        emails: [
          { value: 'carol@example.com', type: 'work', primary: true },
          { value: 'carol@home.example', type: 'home' },
        ],
        phoneNumbers: [{ value: '+49 30 1234567', type: 'work' }],
        addresses: [{ type: 'work', streetAddress: 'Unter den Linden 1', locality: 'Berlin', country: 'DE' }],
        title: 'Pilot',
        department: 'Flight',
        location: { site: 'ber-1', country: 'de' },
        kind: 'contractor',
        manager: manager.id,
      };
      const created = await api.post('/api/v1/users', input);
      expect(created.status, created.raw).toBe(201);
      const body = created.body;
      expect(body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      expect(created.headers.location).toBe(`/api/v1/users/${body.id}`);
      expect(created.headers.etag).toBe('W/"1"');
      expect(body).toMatchObject({
        ...input,
        location: { site: 'ber-1', country: 'DE' },
        active: true,
        status: 'active',
        version: 1,
      });
      expect(Date.parse(body.createdAt)).not.toBeNaN();
      expect(body.updatedAt).toBe(body.createdAt);

      const read = await api.get(`/api/v1/users/${body.id}`);
      expect(read.status).toBe(200);
      expect(read.headers.etag).toBe('W/"1"');
      expect(read.body).toEqual(body);
    });

    it('defaults kind to employee, status to active and absent fields to empty', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'plain' });
      expect(u).toMatchObject({
        userName: 'plain',
        externalId: null,
        name: null,
        displayName: null,
        emails: [],
        phoneNumbers: [],
        addresses: [],
        title: null,
        department: null,
        location: null,
        kind: 'employee',
        manager: null,
        active: true,
        status: 'active',
        version: 1,
      });
    });

    it('rejects invalid bodies with 422 and creates nothing', async () => {
      const { api } = await t().newTenant();
      const bad: Record<string, unknown>[] = [
        {},
        { userName: '' },
        { userName: '   ' },
        { userName: 'x', unknownField: 1 },
        { userName: 'x', kind: 'robot' },
        { userName: 'x', status: 'gone' },
        { userName: 'x', location: { country: 'DEU' } },
        { userName: 'x', emails: [{ value: 'not-an-email' }] },
        { userName: 'x', manager: 'not-a-uuid' },
        { userName: 'x', active: 'yes' },
        {
          userName: 'x',
          emails: [
            { value: 'a@example.com', primary: true },
            { value: 'b@example.com', primary: true },
          ],
        },
      ];
      for (const body of bad) {
        const res = await api.post('/api/v1/users', body);
        expect(res.status, JSON.stringify(body)).toBe(422);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
      expect((await api.get('/api/v1/users')).body.items).toEqual([]);
    });

    it('keeps userName unique per tenant, case-insensitively', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const first = await createUser(a.api, { userName: 'Dana@Example.com' });
      const dup = await a.api.post('/api/v1/users', { userName: 'dana@EXAMPLE.COM' });
      expect(dup.status).toBe(409);
      expect(dup.body.code).toBe('identity.user_name_taken');
      // another tenant may use the same name
      expect((await b.api.post('/api/v1/users', { userName: 'dana@example.com' })).status).toBe(201);
      // renaming another user onto it conflicts too
      const other = await createUser(a.api, { userName: 'erin' });
      const rename = await a.api.patch(`/api/v1/users/${other.id}`, { userName: 'DANA@example.com' });
      expect(rename.status).toBe(409);
      expect((await a.api.get(`/api/v1/users/${other.id}`)).body.userName).toBe('erin');
      // a user may change the case of their own name
      const own = await a.api.patch(`/api/v1/users/${first.id}`, { userName: 'DANA@example.com' });
      expect(own.status, own.raw).toBe(200);
      expect(own.body.userName).toBe('DANA@example.com');
    });

    it('answers 404 for unknown ids and 400 for malformed ids', async () => {
      const { api } = await t().newTenant();
      const unknown = '01890000-0000-7000-8000-000000000000';
      expect((await api.get(`/api/v1/users/${unknown}`)).status).toBe(404);
      expect((await api.patch(`/api/v1/users/${unknown}`, { title: 'x' })).status).toBe(404);
      expect((await api.delete(`/api/v1/users/${unknown}`)).status).toBe(404);
      expect((await api.get('/api/v1/users/not-a-uuid')).status).toBe(400);
    });
  });

  describe('manager', () => {
    it('rejects a manager that does not exist or belongs to another tenant with 422', async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const foreign = await createUser(b.api, { userName: 'foreign' });
      const missing = await a.api.post('/api/v1/users', {
        userName: 'r1',
        manager: '01890000-0000-7000-8000-000000000000',
      });
      expect(missing.status).toBe(422);
      expect(missing.body.code).toBe('identity.invalid_manager');
      const cross = await a.api.post('/api/v1/users', { userName: 'r2', manager: foreign.id });
      expect(cross.status).toBe(422);
      expect((await a.api.get('/api/v1/users')).body.items).toEqual([]);
    });

    it('sets, rejects self-management, and clears a manager by patch', async () => {
      const { api } = await t().newTenant();
      const boss = await createUser(api, { userName: 'boss' });
      const report = await createUser(api, { userName: 'report', manager: boss.id });
      expect(report.manager).toBe(boss.id);
      const self = await api.patch(`/api/v1/users/${report.id}`, { manager: report.id });
      expect(self.status).toBe(422);
      const gone = await api.patch(`/api/v1/users/${report.id}`, {
        manager: '01890000-0000-7000-8000-000000000000',
      });
      expect(gone.status).toBe(422);
      expect((await api.get(`/api/v1/users/${report.id}`)).body).toMatchObject({
        manager: boss.id,
        version: 1,
      });
      const cleared = await api.patch(`/api/v1/users/${report.id}`, { manager: null });
      expect(cleared.status).toBe(200);
      expect(cleared.body.manager).toBeNull();
    });
  });

  describe('status and the active alias', () => {
    it('derives active from status on create', async () => {
      const { api } = await t().newTenant();
      expect(await createUser(api, { userName: 's1', active: false })).toMatchObject({
        active: false,
        status: 'suspended',
      });
      expect(await createUser(api, { userName: 's2', status: 'staged' })).toMatchObject({
        active: false,
        status: 'staged',
      });
      expect(await createUser(api, { userName: 's3', status: 'active', active: true })).toMatchObject({
        active: true,
        status: 'active',
      });
      const clash = await api.post('/api/v1/users', { userName: 's4', status: 'active', active: false });
      expect(clash.status).toBe(422);
      expect(clash.body.code).toBe('identity.inconsistent_status');
    });

    it('PATCH active=false suspends an active user', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'to-suspend' });
      const res = await api.patch(`/api/v1/users/${u.id}`, { active: false });
      expect(res.status, res.raw).toBe(200);
      expect(res.body).toMatchObject({ active: false, status: 'suspended', version: 2 });
    });

    it('PATCH active=true reactivates a suspended user', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'to-resume', status: 'suspended' });
      const res = await api.patch(`/api/v1/users/${u.id}`, { active: true });
      expect(res.status, res.raw).toBe(200);
      expect(res.body).toMatchObject({ active: true, status: 'active', version: 2 });
    });

    it('PATCH status moves the lifecycle and active follows', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'lifecycle', status: 'staged' });
      const on = await api.patch(`/api/v1/users/${u.id}`, { status: 'active' });
      expect(on.body).toMatchObject({ active: true, status: 'active' });
      const off = await api.patch(`/api/v1/users/${u.id}`, { status: 'deprovisioned' });
      expect(off.body).toMatchObject({ active: false, status: 'deprovisioned' });
      const clash = await api.patch(`/api/v1/users/${u.id}`, { status: 'suspended', active: true });
      expect(clash.status).toBe(422);
      expect((await api.get(`/api/v1/users/${u.id}`)).body.status).toBe('deprovisioned');
    });
  });

  describe('PATCH (RFC 7396 merge patch)', () => {
    it('merges nested objects, removes nulls, replaces arrays and bumps the version', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, {
        userName: 'merge',
        name: { givenName: 'Grace', familyName: 'Hopper' },
        emails: [{ value: 'grace@example.com', primary: true }, { value: 'gh@example.com' }],
        phoneNumbers: [{ value: '+1 555 0100' }],
        location: { site: 'nyc-1', country: 'us' },
        title: 'Rear Admiral',
        department: 'Navy',
      });
      const res = await api.patch(`/api/v1/users/${u.id}`, {
        name: { formatted: 'Grace Brewster Hopper', givenName: null },
        emails: [{ value: 'amazing.grace@example.com' }],
        phoneNumbers: null,
        location: { country: 'gb' },
        title: null,
      });
      expect(res.status, res.raw).toBe(200);
      expect(res.headers.etag).toBe('W/"2"');
      expect(res.body).toMatchObject({
        userName: 'merge',
        name: { familyName: 'Hopper', formatted: 'Grace Brewster Hopper' },
        emails: [{ value: 'amazing.grace@example.com' }],
        phoneNumbers: [],
        location: { site: 'nyc-1', country: 'GB' },
        title: null,
        department: 'Navy',
        version: 2,
        createdAt: u.createdAt,
      });
      expect(res.body.name).not.toHaveProperty('givenName');
      expect(Date.parse(res.body.updatedAt)).toBeGreaterThanOrEqual(Date.parse(u.createdAt as string));
      expect((await api.get(`/api/v1/users/${u.id}`)).body).toEqual(res.body);
      // removing every part of a nested object removes it
      const cleared = await api.patch(`/api/v1/users/${u.id}`, {
        name: { familyName: null, formatted: null },
        location: { site: null, country: null },
      });
      expect(cleared.body).toMatchObject({ name: null, location: null, version: 3 });
    });

    it('accepts application/merge-patch+json and rejects other media types with 415', async () => {
      const { api, token } = await t().newTenant();
      const u = await createUser(api, { userName: 'media' });
      const res = await api.raw('PATCH', `/api/v1/users/${u.id}`, JSON.stringify({ department: 'Ops' }), {
        'content-type': 'application/merge-patch+json',
      });
      expect(res.status, res.raw).toBe(200);
      expect(res.body.department).toBe('Ops');
      const text = await t()
        .client(token)
        .raw('PATCH', `/api/v1/users/${u.id}`, 'department=Sales', { 'content-type': 'text/plain' });
      expect(text.status).toBe(415);
      expect((await api.get(`/api/v1/users/${u.id}`)).body).toMatchObject({ department: 'Ops', version: 2 });
    });

    it('rejects unknown fields, a null userName and bad nested values with 422, changing nothing', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'strict' });
      for (const body of [
        { id: '01890000-0000-7000-8000-000000000000' },
        { version: 7 },
        { userName: null },
        { kind: null },
        { name: { middleName: 'X' } },
        { location: { country: 'XYZ' } },
        { emails: [{ type: 'work' }] },
      ]) {
        const res = await api.patch(`/api/v1/users/${u.id}`, body);
        expect(res.status, JSON.stringify(body)).toBe(422);
      }
      expect((await api.get(`/api/v1/users/${u.id}`)).body.version).toBe(1);
    });

    it('takes only a JSON object: arrays, scalars and null answer 422', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'objects-only' });
      for (const payload of ['[]', '"x"', '1', 'null', '[{"title":"x"}]']) {
        const res = await api.raw('PATCH', `/api/v1/users/${u.id}`, payload, {
          'content-type': 'application/merge-patch+json',
        });
        expect(res.status, payload).toBe(422);
      }
      expect((await api.get(`/api/v1/users/${u.id}`)).body.version).toBe(1);
    });

    it('frees a replaced e-mail address for other users', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'mail1', emails: [{ value: 'shared@example.com' }] });
      const taken = await api.post('/api/v1/users', {
        userName: 'mail2',
        emails: [{ value: 'SHARED@example.com' }],
      });
      expect(taken.status).toBe(409);
      await api.patch(`/api/v1/users/${u.id}`, { emails: [{ value: 'other@example.com' }] });
      const now = await api.post('/api/v1/users', {
        userName: 'mail2',
        emails: [{ value: 'shared@example.com' }],
      });
      expect(now.status, now.raw).toBe(201);
    });
  });

  describe('If-Match', () => {
    it('honours If-Match on PATCH: stale -> 412, current and * succeed', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'etag' });
      const stale = await api.patch(`/api/v1/users/${u.id}`, { title: 'A' }, { 'if-match': 'W/"2"' });
      expect(stale.status).toBe(412);
      expect(stale.body.code).toBe('request.precondition_failed');
      const ok = await api.patch(`/api/v1/users/${u.id}`, { title: 'A' }, { 'if-match': 'W/"1"' });
      expect(ok.status).toBe(200);
      expect(ok.headers.etag).toBe('W/"2"');
      const strong = await api.patch(`/api/v1/users/${u.id}`, { title: 'B' }, { 'if-match': '"2"' });
      expect(strong.status).toBe(200);
      const star = await api.patch(`/api/v1/users/${u.id}`, { title: 'C' }, { 'if-match': '*' });
      expect(star.status).toBe(200);
      expect(star.body.version).toBe(4);
      const old = await api.patch(`/api/v1/users/${u.id}`, { title: 'D' }, { 'if-match': 'W/"1"' });
      expect(old.status).toBe(412);
      const read = await api.get(`/api/v1/users/${u.id}`);
      expect(read.body).toMatchObject({ title: 'C', version: 4 });
      expect(read.headers.etag).toBe('W/"4"');
    });

    it('accepts a list of entity tags in If-Match', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'etag-list' });
      const none = await api.patch(`/api/v1/users/${u.id}`, { title: 'x' }, { 'if-match': 'W/"5", W/"7"' });
      expect(none.status).toBe(412);
      const hit = await api.patch(`/api/v1/users/${u.id}`, { title: 'x' }, { 'if-match': 'W/"5", W/"1"' });
      expect(hit.status, hit.raw).toBe(200);
    });

    it('honours If-Match on DELETE', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'etag-del' });
      await api.patch(`/api/v1/users/${u.id}`, { title: 'x' });
      const stale = await api.delete(`/api/v1/users/${u.id}`, { 'if-match': 'W/"1"' });
      expect(stale.status).toBe(412);
      expect((await api.get(`/api/v1/users/${u.id}`)).status).toBe(200);
      const ok = await api.delete(`/api/v1/users/${u.id}`, { 'if-match': 'W/"2"' });
      expect(ok.status).toBe(204);
      expect(ok.raw).toBe('');
      expect((await api.get(`/api/v1/users/${u.id}`)).status).toBe(404);
    });
  });

  describe('list', () => {
    it('pages with limit and cursor: every user exactly once, in creation order', async () => {
      const { api } = await t().newTenant();
      const created: string[] = [];
      for (let i = 0; i < 7; i++) created.push((await createUser(api, { userName: `page-${i}` })).id);
      const pages = await walk(api, '/api/v1/users', 3);
      expect(pages.map((p) => p.items.length)).toEqual([3, 3, 1]);
      expect(pages.at(-1)?.next).toBeUndefined();
      expect(pages.flatMap((p) => ids(p.items))).toEqual(created);
      // a page size equal to the total gives one page with no cursor
      const whole = await api.get('/api/v1/users?limit=7');
      expect(ids(whole.body.items)).toEqual(created);
      expect(whole.body).not.toHaveProperty('nextCursor');
      // page size 1
      expect((await walk(api, '/api/v1/users', 1)).flatMap((p) => ids(p.items))).toEqual(created);
      // the default page holds them all
      const all = await api.get('/api/v1/users');
      expect(ids(all.body.items)).toEqual(created);
      expect(all.body).not.toHaveProperty('nextCursor');
    });

    it('rejects bad paging parameters with 400', async () => {
      const { api } = await t().newTenant();
      for (const q of ['limit=0', 'limit=201', 'limit=abc', 'cursor=%%%', 'cursor=bm90LWpzb24', 'bogus=1']) {
        const res = await api.get(`/api/v1/users?${q}`);
        expect(res.status, q).toBe(400);
      }
    });

    it('filters by userName, email, department, location, site, country, kind, active, status, externalId', async () => {
      const { api } = await t().newTenant();
      const a = await createUser(api, {
        userName: 'Ann@Example.com',
        emails: [{ value: 'Ann@Example.com' }],
        department: 'Research',
        location: { site: 'ber-1', country: 'de' },
        kind: 'employee',
        externalId: 'ext-a',
      });
      const b = await createUser(api, {
        userName: 'bob',
        emails: [{ value: 'bob@example.com' }, { value: 'robert@example.com' }],
        department: 'Sales',
        location: { site: 'muc-1', country: 'DE' },
        kind: 'contractor',
        externalId: 'ext-b',
        active: false,
      });
      const c = await createUser(api, {
        userName: 'cy',
        department: 'Research',
        location: { site: 'par-1', country: 'fr' },
        kind: 'service',
        status: 'staged',
      });
      const d = await createUser(api, { userName: 'dee', kind: 'external', location: { site: 'de' } });
      const q = async (query: string) => {
        const res = await api.get(`/api/v1/users?${query}`);
        expect(res.status, `${query}: ${res.raw}`).toBe(200);
        return ids(res.body.items);
      };
      expect(await q('userName=ann@example.COM')).toEqual([a.id]);
      expect(await q('userName=nobody')).toEqual([]);
      expect(await q('email=ANN@example.com')).toEqual([a.id]);
      expect(await q('email=robert@example.com')).toEqual([b.id]);
      expect(await q('department=Research')).toEqual([a.id, c.id]);
      expect(await q('site=muc-1')).toEqual([b.id]);
      expect(await q('country=DE')).toEqual([a.id, b.id]);
      expect(await q('location=ber-1')).toEqual([a.id]);
      expect(await q('location=FR')).toEqual([c.id]);
      // "de" is both a site code (d) and, upper-cased, a country (a, b)
      expect(await q('location=de')).toEqual([a.id, b.id, d.id]);
      expect(await q('kind=contractor')).toEqual([b.id]);
      expect(await q('kind=employee')).toEqual([a.id]);
      expect(await q('active=true')).toEqual([a.id, d.id]);
      expect(await q('active=false')).toEqual([b.id, c.id]);
      expect(await q('status=suspended')).toEqual([b.id]);
      expect(await q('status=staged')).toEqual([c.id]);
      expect(await q('externalId=ext-b')).toEqual([b.id]);
      expect(await q('department=Research&kind=service')).toEqual([c.id]);
      expect(await q('country=DE&active=false')).toEqual([b.id]);
      // filters and paging combine
      const pages = await walk(api, '/api/v1/users?country=DE', 1);
      expect(pages.flatMap((p) => ids(p.items))).toEqual([a.id, b.id]);
      expect((await api.get('/api/v1/users?kind=robot')).status).toBe(400);
      expect((await api.get('/api/v1/users?country=DEU')).status).toBe(400);
    });

    it('filters by country case-insensitively (countries are stored upper-case)', async () => {
      const { api } = await t().newTenant();
      const u = await createUser(api, { userName: 'lower', location: { country: 'de' } });
      const upper = await api.get('/api/v1/users?country=DE');
      expect(ids(upper.body.items)).toEqual([u.id]);
      const lower = await api.get('/api/v1/users?country=de');
      expect(lower.status).toBe(200);
      expect(ids(lower.body.items)).toEqual([u.id]);
    });
  });

  describe('delete', () => {
    it('removes the user, their group memberships and clears them as manager of their reports', async () => {
      const { api } = await t().newTenant();
      const boss = await createUser(api, { userName: 'boss', emails: [{ value: 'boss@example.com' }] });
      const r1 = await createUser(api, { userName: 'r1', manager: boss.id });
      const r2 = await createUser(api, { userName: 'r2', manager: boss.id });
      const group = await api.post('/api/v1/groups', { displayName: 'Leads', members: [boss.id, r1.id] });
      expect(group.status, group.raw).toBe(201);
      const gid = group.body.id;
      expect(group.body.memberCount).toBe(2);

      const del = await api.delete(`/api/v1/users/${boss.id}`);
      expect(del.status).toBe(204);
      expect((await api.get(`/api/v1/users/${boss.id}`)).status).toBe(404);
      expect((await api.get(`/api/v1/users/${boss.id}/groups`)).status).toBe(404);
      expect((await api.delete(`/api/v1/users/${boss.id}`)).status).toBe(404);

      for (const r of [r1, r2]) {
        const read = await api.get(`/api/v1/users/${r.id}`);
        expect(read.body).toMatchObject({ manager: null, version: 2 });
        expect(read.headers.etag).toBe('W/"2"');
      }
      const g = await api.get(`/api/v1/groups/${gid}`);
      expect(g.body.memberCount).toBe(1);
      expect(g.body.version).toBe(2);
      const members = await api.get(`/api/v1/groups/${gid}/members`);
      expect(members.body.items.map((m: { userId: string }) => m.userId)).toEqual([r1.id]);
      expect(ids((await api.get('/api/v1/users')).body.items)).toEqual([r1.id, r2.id]);

      // the userName and e-mail are free again
      const again = await api.post('/api/v1/users', {
        userName: 'BOSS',
        emails: [{ value: 'boss@example.com' }],
      });
      expect(again.status, again.raw).toBe(201);
    });
  });

  describe('tenancy and authentication', () => {
    it("keeps tenants apart: another tenant's user answers 404 and never lists", async () => {
      const a = await t().newTenant();
      const b = await t().newTenant();
      const u = await createUser(a.api, { userName: 'mine' });
      expect((await b.api.get(`/api/v1/users/${u.id}`)).status).toBe(404);
      expect((await b.api.patch(`/api/v1/users/${u.id}`, { title: 'x' })).status).toBe(404);
      expect((await b.api.delete(`/api/v1/users/${u.id}`)).status).toBe(404);
      expect((await b.api.get('/api/v1/users')).body.items).toEqual([]);
      expect((await b.api.get('/api/v1/users?userName=mine')).body.items).toEqual([]);
      expect((await a.api.get(`/api/v1/users/${u.id}`)).body.version).toBe(1);
    });

    it('needs a token; a platform token needs Roster-Tenant', async () => {
      const { api, tenantId } = await t().newTenant();
      const u = await createUser(api, { userName: 'auth' });
      const anon = await t().client(undefined).get('/api/v1/users');
      expect(anon.status).toBe(401);
      expect(anon.headers['www-authenticate']).toBe('Bearer');
      expect((await t().client('rst_not-a-real-token-at-all').get('/api/v1/users')).status).toBe(401);
      const admin = t().client(ADMIN_TOKEN);
      expect((await admin.get('/api/v1/users')).status).toBe(403);
      const scoped = await admin.get('/api/v1/users', { 'roster-tenant': tenantId });
      expect(scoped.status).toBe(200);
      expect(ids(scoped.body.items)).toEqual([u.id]);
      const unknown = await admin.get('/api/v1/users', {
        'roster-tenant': '01890000-0000-7000-8000-000000000000',
      });
      expect(unknown.status).toBe(404);
    });
  });
});
