import { describe, expect, it } from 'vitest';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

interface Entry {
  seq: number;
  time: string;
  tenantId: string | null;
  actor: string;
  action: string;
  target: { type: string; id: string | null };
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  requestId: string | null;
  /** Its position in the tenant's Merkle log once integrated (null until then). */
  leafIndex?: number | null;
}

const UNKNOWN = '01890000-0000-7000-8000-000000000000';
const MASK = '***';

describeEachStore('REST audit trail', (kind) => {
  const t = useTestApp(kind);

  /** A tenant with a tenant token whose id is known (for the actor reference). */
  async function tenantWithToken() {
    const { tenantId } = await t().newTenant();
    const tok = await t().admin.post('/api/v1/tokens', {
      tenantId,
      name: 'audited',
      roles: ['tenant-admin'],
    });
    expect(tok.status, tok.raw).toBe(201);
    return {
      tenantId,
      tokenId: tok.body.id as string,
      api: t().client(tok.body.token),
      actor: `token:${tok.body.id}`,
    };
  }

  /** Every entry visible to `client` (with `headers`), walking all pages. */
  async function allEntries(
    client: Client,
    headers: Record<string, string> = {},
    limit = 200,
  ): Promise<Entry[]> {
    const out: Entry[] = [];
    let cursor: string | undefined;
    for (let i = 0; i < 1000; i++) {
      const res = await client.get(
        `/api/v1/audit/entries?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        headers,
      );
      expect(res.status, res.raw).toBe(200);
      out.push(...res.body.items);
      cursor = res.body.nextCursor;
      if (cursor === undefined) return out;
    }
    throw new Error('audit paging did not end');
  }

  /** The entries added after `before` (a previous full listing). */
  async function newEntries(client: Client, before: Entry[], headers: Record<string, string> = {}) {
    const last = before.at(-1)?.seq ?? 0;
    return (await allEntries(client, headers)).filter((e) => e.seq > last);
  }

  function requestIdOf(res: Answer): string {
    const id = res.headers['x-request-id'];
    expect(typeof id).toBe('string');
    return id as string;
  }

  describe('one entry per change', () => {
    it('user create, patch and delete write one entry each, with actor, target, request id and masked state', async () => {
      const { tenantId, api, actor } = await tenantWithToken();
      const start = await allEntries(api);

      const created = await api.post('/api/v1/users', {
        userName: 'audited@example.com',
        department: 'Legal',
      });
      expect(created.status, created.raw).toBe(201);
      const id = created.body.id;
      const patched = await api.patch(`/api/v1/users/${id}`, { department: 'Compliance' });
      expect(patched.status).toBe(200);
      const deleted = await api.delete(`/api/v1/users/${id}`);
      expect(deleted.status).toBe(204);

      const entries = await newEntries(api, start);
      expect(entries.map((e) => e.action)).toEqual(['user.created', 'user.updated', 'user.deleted']);
      const [c, u, d] = entries as [Entry, Entry, Entry];
      for (const e of entries) {
        expect(e.tenantId).toBe(tenantId);
        expect(e.actor).toBe(actor);
        expect(e.target).toEqual({ type: 'user', id });
        expect(Date.parse(e.time)).not.toBeNaN();
      }
      expect(c.seq).toBeLessThan(u.seq);
      expect(u.seq).toBeLessThan(d.seq);
      expect(c.requestId).toBe(requestIdOf(created));
      expect(u.requestId).toBe(requestIdOf(patched));
      expect(d.requestId).toBe(requestIdOf(deleted));
      expect(new Set([c.requestId, u.requestId, d.requestId]).size).toBe(3);

      expect(c.before).toBeNull();
      expect(c.after).toMatchObject({
        id,
        userName: MASK,
        department: 'Legal',
        version: 1,
        status: 'active',
      });
      expect(u.before).toMatchObject({ department: 'Legal', version: 1 });
      expect(u.after).toMatchObject({ department: 'Compliance', version: 2 });
      expect(d.before).toMatchObject({ id, userName: MASK, department: 'Compliance', version: 2 });
      expect(d.after).toBeNull();
    });

    it('group create, patch, member add, member remove and delete write one entry each; re-adding a member writes none', async () => {
      const { tenantId, api, actor } = await tenantWithToken();
      const user = await api.post('/api/v1/users', { userName: 'member' });
      const uid = user.body.id;
      const start = await allEntries(api);

      const created = await api.post('/api/v1/groups', { displayName: 'Auditors' });
      const gid = created.body.id;
      const patched = await api.patch(`/api/v1/groups/${gid}`, { description: 'Watch the watchers' });
      const added = await api.put(`/api/v1/groups/${gid}/members/${uid}`);
      const readded = await api.put(`/api/v1/groups/${gid}/members/${uid}`);
      const removed = await api.delete(`/api/v1/groups/${gid}/members/${uid}`);
      const deleted = await api.delete(`/api/v1/groups/${gid}`);
      expect([created, patched, added, readded, removed, deleted].map((r) => r.status)).toEqual([
        201, 200, 204, 204, 204, 204,
      ]);

      const entries = await newEntries(api, start);
      expect(entries.map((e) => e.action)).toEqual([
        'group.created',
        'group.updated',
        'group.member_added',
        'group.member_removed',
        'group.deleted',
      ]);
      expect(entries.map((e) => e.requestId)).toEqual(
        [created, patched, added, removed, deleted].map((r) => requestIdOf(r)),
      );
      expect(entries.map((e) => e.requestId)).not.toContain(requestIdOf(readded));
      for (const e of entries) {
        expect(e).toMatchObject({ tenantId, actor, target: { type: 'group', id: gid } });
      }
      const [c, u, a, r, d] = entries as [Entry, Entry, Entry, Entry, Entry];
      expect(c.before).toBeNull();
      expect(c.after).toMatchObject({ id: gid, displayName: 'Auditors', memberCount: 0 });
      expect(u.before).toMatchObject({ description: null, version: 1 });
      expect(u.after).toMatchObject({ description: 'Watch the watchers', version: 2 });
      expect(a.before).toBeNull();
      expect(JSON.stringify(a.after)).toContain(uid);
      expect(JSON.stringify(r.before)).toContain(uid);
      expect(r.after).toBeNull();
      expect(d.before).toMatchObject({ id: gid, displayName: 'Auditors' });
      expect(d.after).toBeNull();
    });

    it('deleting a user records the membership removals and the cleared manager of reports in the same request', async () => {
      const { api } = await tenantWithToken();
      const boss = (await api.post('/api/v1/users', { userName: 'boss' })).body.id;
      const report = (await api.post('/api/v1/users', { userName: 'report', manager: boss })).body.id;
      const gid = (await api.post('/api/v1/groups', { displayName: 'G', members: [boss] })).body.id;
      const start = await allEntries(api);
      const del = await api.delete(`/api/v1/users/${boss}`);
      expect(del.status).toBe(204);
      const entries = await newEntries(api, start);
      expect(entries.map((e) => [e.action, e.target.type, e.target.id]).sort()).toEqual(
        [
          ['group.member_removed', 'group', gid],
          ['user.updated', 'user', report],
          ['user.deleted', 'user', boss],
        ].sort(),
      );
      for (const e of entries) expect(e.requestId).toBe(requestIdOf(del));
    });

    it('tenant creation is a platform event, visible to platform tokens without Roster-Tenant', async () => {
      const mint = await t().admin.post('/api/v1/tokens', {
        name: 'platform-auditor',
        roles: ['platform-admin'],
      });
      expect(mint.status).toBe(201);
      const platform = t().client(mint.body.token);
      const start = await allEntries(platform);
      const created = await platform.post('/api/v1/tenants', { name: `audited-tenant-${mint.body.id}` });
      expect(created.status, created.raw).toBe(201);
      const entries = await newEntries(platform, start);
      expect(entries).toHaveLength(1);
      expect(entries[0]).toMatchObject({
        action: 'tenant.created',
        tenantId: null,
        actor: `token:${mint.body.id}`,
        target: { type: 'tenant', id: created.body.id },
        before: null,
        requestId: requestIdOf(created),
      });
      // the new tenant's own trail does not carry it
      const tenantView = await allEntries(platform, { 'roster-tenant': created.body.id });
      expect(tenantView.map((e) => e.action)).not.toContain('tenant.created');
    });

    it('token create and revoke are recorded: platform tokens in the platform trail, tenant tokens in the tenant’s', async () => {
      const { tenantId, api } = await tenantWithToken();
      const platformStart = await allEntries(t().admin);
      const tenantStart = await allEntries(api);

      const pTok = await t().admin.post('/api/v1/tokens', { name: 'p', roles: [] });
      const pRev = await t().admin.delete(`/api/v1/tokens/${pTok.body.id}`);
      const pRevAgain = await t().admin.delete(`/api/v1/tokens/${pTok.body.id}`);
      const tTok = await t().admin.post('/api/v1/tokens', { tenantId, name: 'tt', roles: [] });
      const tRev = await t().admin.delete(`/api/v1/tokens/${tTok.body.id}`);
      expect([pTok, pRev, pRevAgain, tTok, tRev].map((r) => r.status)).toEqual([201, 200, 200, 201, 200]);

      const platform = await newEntries(t().admin, platformStart);
      expect(platform.map((e) => [e.action, e.target.id, e.requestId])).toEqual([
        ['token.created', pTok.body.id, requestIdOf(pTok)],
        ['token.revoked', pTok.body.id, requestIdOf(pRev)],
      ]);
      const tenant = await newEntries(api, tenantStart);
      expect(tenant.map((e) => [e.action, e.target.id, e.requestId])).toEqual([
        ['token.created', tTok.body.id, requestIdOf(tTok)],
        ['token.revoked', tTok.body.id, requestIdOf(tRev)],
      ]);
      for (const e of [...platform, ...tenant]) {
        expect(e.actor).toBe('admin-token');
        expect(e.target.type).toBe('token');
      }
      for (const e of tenant) expect(e.tenantId).toBe(tenantId);
      for (const e of platform) expect(e.tenantId).toBeNull();
      expect(tenant[0]?.after).toMatchObject({ name: 'tt', revokedAt: null });
      expect(tenant[1]?.after?.revokedAt).toBe(tRev.body.revokedAt);
      // the secret never reaches the trail
      const raw = JSON.stringify([...platform, ...tenant]);
      for (const secret of [pTok.body.token, tTok.body.token]) {
        expect(raw).not.toContain(secret);
        expect(raw).not.toContain(secret.slice(4));
      }
    });
  });

  describe('nothing for rejected requests or no-op changes', () => {
    it('writes no entry for 409, 412, 422 and 404 answers, nor for PUT of an existing member', async () => {
      const { api } = await tenantWithToken();
      const u = (await api.post('/api/v1/users', { userName: 'taken', emails: [{ value: 'x@example.com' }] }))
        .body.id;
      const g = (await api.post('/api/v1/groups', { displayName: 'Taken', members: [u] })).body.id;
      const start = await allEntries(api);
      expect(start.length).toBeGreaterThanOrEqual(2);

      const rejected: [string, () => Promise<Answer>][] = [
        ['409 user name', () => api.post('/api/v1/users', { userName: 'TAKEN' })],
        [
          '409 email',
          () => api.post('/api/v1/users', { userName: 'other', emails: [{ value: 'X@example.com' }] }),
        ],
        ['409 group name', () => api.post('/api/v1/groups', { displayName: 'taken' })],
        ['412 user patch', () => api.patch(`/api/v1/users/${u}`, { title: 'x' }, { 'if-match': 'W/"9"' })],
        ['412 user delete', () => api.delete(`/api/v1/users/${u}`, { 'if-match': 'W/"9"' })],
        [
          '412 group patch',
          () => api.patch(`/api/v1/groups/${g}`, { description: 'x' }, { 'if-match': 'W/"9"' }),
        ],
        ['412 group delete', () => api.delete(`/api/v1/groups/${g}`, { 'if-match': 'W/"9"' })],
        ['422 manager', () => api.post('/api/v1/users', { userName: 'm', manager: UNKNOWN })],
        ['422 self manager', () => api.patch(`/api/v1/users/${u}`, { manager: u })],
        ['422 schema', () => api.post('/api/v1/users', { userName: 'v', bogus: true })],
        ['422 member', () => api.post('/api/v1/groups', { displayName: 'New', members: [UNKNOWN] })],
        ['422 status', () => api.patch(`/api/v1/users/${u}`, { status: 'active', active: false })],
        ['404 user patch', () => api.patch(`/api/v1/users/${UNKNOWN}`, { title: 'x' })],
        ['404 user delete', () => api.delete(`/api/v1/users/${UNKNOWN}`)],
        ['404 group delete', () => api.delete(`/api/v1/groups/${UNKNOWN}`)],
        ['404 member user', () => api.put(`/api/v1/groups/${g}/members/${UNKNOWN}`)],
        ['404 non-member', () => api.delete(`/api/v1/groups/${g}/members/${UNKNOWN}`)],
      ];
      for (const [label, send] of rejected) {
        const res = await send();
        expect(res.status, label).toBe(Number(label.slice(0, 3)));
      }
      const noop = await api.put(`/api/v1/groups/${g}/members/${u}`);
      expect(noop.status).toBe(204);
      expect(await newEntries(api, start)).toEqual([]);
      expect((await api.get(`/api/v1/groups/${g}`)).body.version).toBe(1);
    });

    it('writes no entry for a PATCH that changes nothing', async () => {
      const { api } = await tenantWithToken();
      const u = (await api.post('/api/v1/users', { userName: 'steady', department: 'Ops' })).body.id;
      const g = (await api.post('/api/v1/groups', { displayName: 'Steady', description: 'd' })).body.id;
      const start = await allEntries(api);
      const res = [
        await api.patch(`/api/v1/users/${u}`, {}),
        await api.patch(`/api/v1/users/${u}`, { department: 'Ops' }),
        await api.patch(`/api/v1/groups/${g}`, {}),
        await api.patch(`/api/v1/groups/${g}`, { description: 'd' }),
      ];
      expect(res.map((r) => r.status)).toEqual([200, 200, 200, 200]);
      expect((await newEntries(api, start)).map((e) => e.action)).toEqual([]);
    });

    it('writes no entry for rejected token and tenant creations', async () => {
      const tenantName = `dup-${Date.now()}`;
      expect((await t().admin.post('/api/v1/tenants', { name: tenantName })).status).toBe(201);
      const start = await allEntries(t().admin);
      const res = [
        await t().admin.post('/api/v1/tenants', { name: tenantName.toUpperCase() }),
        await t().admin.post('/api/v1/tokens', { tenantId: UNKNOWN, name: 'orphan', roles: [] }),
        await t().admin.post('/api/v1/tokens', {
          name: 'past',
          roles: [],
          expiresAt: '2001-01-01T00:00:00Z',
        }),
        await t().admin.delete(`/api/v1/tokens/${UNKNOWN}`),
      ];
      expect(res.map((r) => r.status)).toEqual([409, 404, 422, 404]);
      expect(await newEntries(t().admin, start)).toEqual([]);
    });
  });

  describe('PII', () => {
    it('masks PII fields as "***" and never lets a PII value into an entry', async () => {
      const { api } = await tenantWithToken();
      const pii = {
        userName: 'zelda.pii@example.org',
        name: { givenName: 'Zeldagiven', familyName: 'Hyrulefamily', formatted: 'Zeldagiven Hyrulefamily' },
        displayName: 'Princess-Display-Z',
        emails: [
          { value: 'zelda.work@example.org', type: 'work', primary: true },
          { value: 'zelda.home@example.org', type: 'home' },
        ],
        phoneNumbers: [{ value: '+44 20 7946 0999', type: 'mobile' }],
        addresses: [
          {
            type: 'home',
            streetAddress: '42 Secret Lane',
            locality: 'Kakariko',
            postalCode: 'ZZ9 9ZZ',
            formatted: '42 Secret Lane, Kakariko',
          },
        ],
      };
      const start = await allEntries(api);
      const created = await api.post('/api/v1/users', { ...pii, department: 'Royalty' });
      expect(created.status, created.raw).toBe(201);
      const id = created.body.id;
      const renamed = {
        userName: 'link.pii@example.org',
        name: { givenName: 'Linkgiven' },
        displayName: 'Hero-Display-L',
        emails: [{ value: 'link.new@example.org' }],
        phoneNumbers: [{ value: '+44 20 7946 0111' }],
        addresses: [{ streetAddress: '7 Hidden Road' }],
      };
      expect((await api.patch(`/api/v1/users/${id}`, renamed)).status).toBe(200);
      expect((await api.delete(`/api/v1/users/${id}`)).status).toBe(204);

      const entries = await newEntries(api, start);
      expect(entries.map((e) => e.action)).toEqual(['user.created', 'user.updated', 'user.deleted']);
      const raw = JSON.stringify(entries).toLowerCase();
      const values = [
        pii.userName,
        ...Object.values(pii.name),
        pii.displayName,
        ...pii.emails.map((e) => e.value),
        pii.phoneNumbers[0]?.value ?? '',
        '42 secret lane',
        'kakariko',
        'zz9 9zz',
        renamed.userName,
        renamed.name.givenName,
        renamed.displayName,
        'link.new@example.org',
        '+44 20 7946 0111',
        '7 hidden road',
        'zelda',
        'hyrule',
        'linkgiven',
      ];
      for (const v of values) expect(raw, v).not.toContain(v.toLowerCase());

      const after = entries[0]?.after as Record<string, unknown>;
      expect(after.userName).toBe(MASK);
      expect(after.displayName).toBe(MASK);
      expect(after.name).toEqual({ givenName: MASK, familyName: MASK, formatted: MASK });
      expect(after.emails).toEqual([MASK, MASK]);
      expect(after.phoneNumbers).toEqual([MASK]);
      expect(after.addresses).toEqual([MASK]);
      expect(after.department).toBe('Royalty');
      const updated = entries[1] as Entry;
      expect(updated.before?.emails).toEqual([MASK, MASK]);
      expect(updated.after?.emails).toEqual([MASK]);
      expect(updated.after?.name).toEqual({ givenName: MASK, familyName: MASK, formatted: MASK });
      expect((entries[2] as Entry).before?.userName).toBe(MASK);
    });
  });

  describe('reading the trail', () => {
    it('lists in seq order with cursor paging; nextCursor is absent on the last page', async () => {
      const { api } = await tenantWithToken();
      for (let i = 0; i < 4; i++) {
        expect((await api.post('/api/v1/users', { userName: `pager-${i}` })).status).toBe(201);
      }
      const all = await allEntries(api);
      // token.created (x2: the helper's token and ours) + 4 users
      expect(all).toHaveLength(6);
      const seqs = all.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(new Set(seqs).size).toBe(seqs.length);
      // leafIndex is set when the background integrator reaches an entry, which may happen between listings.
      const sansLeaf = (es: Entry[]) => es.map(({ leafIndex: _l, ...rest }) => rest);
      for (const limit of [1, 2, 4, 5]) {
        expect(sansLeaf(await allEntries(api, {}, limit)), `limit ${limit}`).toEqual(sansLeaf(all));
      }
      // a page size that divides the total: the last full page is the last page
      const pages: number[] = [];
      let cursor: string | undefined;
      do {
        const res = await api.get(`/api/v1/audit/entries?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        pages.push(res.body.items.length);
        cursor = res.body.nextCursor;
      } while (cursor !== undefined && pages.length < 10);
      expect(pages).toEqual([3, 3]);
      const exact = await api.get('/api/v1/audit/entries?limit=6');
      expect(exact.body.items).toHaveLength(6);
      expect(exact.body).not.toHaveProperty('nextCursor');
      expect((await api.get('/api/v1/audit/entries?cursor=bm9wZQ')).status).toBe(400);
      expect((await api.get('/api/v1/audit/entries?limit=0')).status).toBe(400);
    });

    it('scopes the trail: a tenant token sees its tenant only; a platform token with Roster-Tenant sees that tenant', async () => {
      const a = await tenantWithToken();
      const b = await tenantWithToken();
      expect((await a.api.post('/api/v1/users', { userName: 'in-a' })).status).toBe(201);
      expect((await b.api.post('/api/v1/users', { userName: 'in-b' })).status).toBe(201);
      // A tenant token naming another tenant in Roster-Tenant is refused (403 naming tenants:act), never
      // silently answered from its own tenant; the refusal is on its own tenant's record.
      const aNamingB = await a.api.get('/api/v1/audit/entries', { 'roster-tenant': b.tenantId });
      expect(aNamingB.status, aNamingB.raw).toBe(403);
      expect(aNamingB.body.permission).toBe('tenants:act');
      const aView = await allEntries(a.api);
      expect(aView.length).toBeGreaterThan(0);
      for (const e of aView) expect(e.tenantId).toBe(a.tenantId);
      expect(aView.map((e) => e.action)).toContain('access.denied');
      // Naming its own tenant changes nothing.
      expect(await allEntries(a.api, { 'roster-tenant': a.tenantId })).toEqual(aView);
      const viaPlatform = await allEntries(t().admin, { 'roster-tenant': a.tenantId });
      expect(viaPlatform).toEqual(aView);
      const platform = await allEntries(t().admin);
      for (const e of platform) expect(e.tenantId).toBeNull();
      expect(platform.map((e) => e.target.id)).toEqual(expect.arrayContaining([a.tenantId, b.tenantId]));
      expect((await t().client(undefined).get('/api/v1/audit/entries')).status).toBe(401);
      expect((await t().admin.get('/api/v1/audit/entries', { 'roster-tenant': UNKNOWN })).status).toBe(404);
    });

    it('records the caller’s x-request-id and echoes it', async () => {
      const { api } = await tenantWithToken();
      const start = await allEntries(api);
      const res = await api.post(
        '/api/v1/users',
        { userName: 'traced' },
        { 'x-request-id': 'trace-abc.123:x' },
      );
      expect(res.status).toBe(201);
      expect(res.headers['x-request-id']).toBe('trace-abc.123:x');
      const entries = await newEntries(api, start);
      expect(entries.map((e) => e.requestId)).toEqual(['trace-abc.123:x']);
      // an unacceptable id is replaced, and the replacement is what gets recorded
      const start2 = await allEntries(api);
      const bad = await api.post(
        '/api/v1/users',
        { userName: 'traced-2' },
        { 'x-request-id': 'bad id with spaces' },
      );
      expect(bad.status).toBe(201);
      const echoed = requestIdOf(bad);
      expect(echoed).not.toBe('bad id with spaces');
      expect((await newEntries(api, start2)).map((e) => e.requestId)).toEqual([echoed]);
    });
  });
});
