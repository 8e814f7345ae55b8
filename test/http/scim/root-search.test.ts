import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type Client, useTestApp } from '../../support/app.js';
import {
  BASE,
  type Doc,
  expectScim,
  expectScimError,
  GROUP,
  LIST_RESPONSE,
  q,
  ROSTER,
  scimTenant,
  USER,
} from '../../support/scim.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * Searches from the service provider's root (RFC 7644 §3.4.2, §3.4.3): `GET /scim/v2?filter=…` and
 * `POST /scim/v2/.search` list Users then Groups, paged over both; an attribute one type lacks has no value
 * there; an attribute neither has is an invalidFilter. Also: a page of Users or Groups carries exactly what
 * each resource read alone carries (groups, seats, members and the tag read for the whole page at once).
 */

const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

describeEachStore('SCIM search from the root', (kind) => {
  const t = useScim(kind);

  it('lists Users, then Groups, with totalResults over both, paged across the boundary', async () => {
    const { scim, tag } = await t.tenant();
    const users = await t.users(scim, tag, 3);
    const groups = await t.groups(scim, tag, 2, users);

    const all = await scim.get(`${BASE}?count=100`);
    expectScim(all, 200);
    expect(all.body.schemas).toEqual([LIST_RESPONSE]);
    expect(all.body.totalResults).toBe(5);
    expect(all.body.Resources.map((r: Doc) => r.id)).toEqual([...users, ...groups].map((r) => r.id));
    expect(all.body.Resources.map((r: Doc) => r.meta.resourceType)).toEqual([
      'User',
      'User',
      'User',
      'Group',
      'Group',
    ]);

    // Pages of two: the second straddles the Users/Groups boundary; the last is short.
    const ids: string[] = [];
    for (const start of [1, 3, 5]) {
      const page = await scim.get(`${BASE}?startIndex=${start}&count=2`);
      expectScim(page, 200);
      expect(page.body).toMatchObject({ totalResults: 5, startIndex: start });
      expect(page.body.itemsPerPage).toBe(page.body.Resources.length);
      ids.push(...page.body.Resources.map((r: Doc) => r.id));
    }
    expect(ids).toEqual(all.body.Resources.map((r: Doc) => r.id));

    // Past the end: no resources, the total still told.
    const past = await scim.get(`${BASE}?startIndex=6&count=2`);
    expect(past.body).toMatchObject({ totalResults: 5, itemsPerPage: 0, Resources: [] });
    // count=0 asks for the total only.
    const none = await scim.get(`${BASE}?count=0`);
    expect(none.body).toMatchObject({ totalResults: 5, itemsPerPage: 0 });
  });

  it('POST /.search takes a SearchRequest and answers as GET does', async () => {
    const { scim, tag } = await t.tenant();
    const users = await t.users(scim, tag, 2);
    await t.groups(scim, tag, 1, users);
    const filter = `externalId sw "${tag}"`;
    const viaGet = await scim.get(`${BASE}?filter=${q(filter)}&startIndex=2&count=5`);
    const viaPost = await scim.post(`${BASE}/.search`, {
      schemas: [SEARCH],
      filter,
      startIndex: 2,
      count: 5,
    });
    expectScim(viaPost, 200);
    expect(viaPost.body).toEqual(viaGet.body);
    expect(viaPost.body.totalResults).toBe(3);

    const bad = await scim.post(`${BASE}/.search`, { filter });
    expectScimError(bad, 400, 'invalidSyntax');
  });

  it('an attribute a type lacks has no value there: eq and pr are false, not of them true', async () => {
    const { scim, tag } = await t.tenant();
    const users = await t.users(scim, tag, 2);
    const [group] = await t.groups(scim, tag, 1, users);
    const target = users[0] as Doc;

    // userName is a User attribute: only the user matches, no Group.
    const byName = await scim.get(`${BASE}?filter=${q(`userName eq "${target.userName}"`)}`);
    expectScim(byName, 200);
    expect(byName.body.Resources.map((r: Doc) => r.id)).toEqual([target.id]);

    // members is a Group attribute: `members pr` finds the group only.
    const withMembers = await scim.get(`${BASE}?filter=${q('members pr')}`);
    expect(withMembers.body.Resources.map((r: Doc) => r.id)).toEqual([group?.id]);

    // not (userName pr): true for every Group, false for every User.
    const notUser = await scim.get(`${BASE}?filter=${q('not (userName pr)')}`);
    expect(notUser.body.Resources.map((r: Doc) => r.meta.resourceType)).toEqual(['Group']);

    // An attribute both types have (externalId) matches in both; or across types unites them.
    const either = await scim.get(
      `${BASE}?filter=${q(`userName eq "${target.userName}" or externalId eq "${group?.externalId}"`)}`,
    );
    expect(either.body.Resources.map((r: Doc) => r.id)).toEqual([target.id, group?.id]);
    // and across types: nothing has both.
    const both = await scim.get(`${BASE}?filter=${q(`userName eq "${target.userName}" and members pr`)}`);
    expect(both.body).toMatchObject({ totalResults: 0, Resources: [] });

    // meta.resourceType picks a type.
    const onlyGroups = await scim.get(`${BASE}?filter=${q('meta.resourceType eq "Group"')}`);
    expect(onlyGroups.body.Resources.map((r: Doc) => r.id)).toEqual([group?.id]);
    // A value filter on a multi-valued User attribute, from the root.
    const mail = await scim.get(`${BASE}?filter=${q(`emails[value eq "${target.userName}"]`)}`);
    expect(mail.body.Resources.map((r: Doc) => r.id)).toEqual([target.id]);
  });

  it('refuses an attribute no type defines (invalidFilter) and sortBy (invalidValue), changing nothing', async () => {
    const { scim } = await t.tenant();
    expectScimError(await scim.get(`${BASE}?filter=${q('shoeSize eq "42"')}`), 400, 'invalidFilter');
    expectScimError(
      await scim.get(`${BASE}?filter=${q('displayName pr and nosuch.thing pr')}`),
      400,
      'invalidFilter',
    );
    const sorted = await scim.get(`${BASE}?sortBy=displayName`);
    expectScimError(sorted, 400, 'invalidValue');
    expect(sorted.body.detail).toContain('sortBy');
    expectScimError(await scim.get(`${BASE}?filter=${q('userName eq')}`), 400, 'invalidFilter');
    // What one type cannot answer is refused for the whole search, never answered from the other type alone:
    // a user's displayName is encrypted (only pr), a group's is not.
    const sealed = await scim.get(`${BASE}?filter=${q('displayName eq "Engineering"')}`);
    expectScimError(sealed, 400, 'invalidFilter');
    expect(sealed.body.detail).toContain('encrypted');
  });

  it('attributes and excludedAttributes apply per type; names a type lacks are ignored there', async () => {
    const { scim, tag } = await t.tenant();
    const users = await t.users(scim, tag, 1);
    await t.groups(scim, tag, 1, users);
    const res = await scim.get(`${BASE}?attributes=userName,members`);
    expectScim(res, 200);
    const [u, g] = res.body.Resources as Doc[];
    expect(Object.keys(u as Doc).sort()).toEqual(['id', 'schemas', 'userName']);
    expect(Object.keys(g as Doc).sort()).toEqual(['id', 'members', 'schemas']);
    const slim = await scim.get(`${BASE}?excludedAttributes=members,groups`);
    for (const r of slim.body.Resources as Doc[]) {
      expect(r.members).toBeUndefined();
      expect(r.groups).toBeUndefined();
    }
  });

  it('needs scim:provision, and sees only its own tenant', async () => {
    const a = await t.tenant();
    const b = await t.tenant();
    await t.users(a.scim, a.tag, 2);
    await t.users(b.scim, b.tag, 1);
    const seen = await b.scim.get(`${BASE}?count=100`);
    expect(seen.body.totalResults).toBe(1);
    const anon = await t.app().client('not-a-token').get(BASE);
    expectScimError(anon, 401);
  });

  describe('a page carries what each resource read alone carries', () => {
    it('Users: groups, seats and the tag equal the single reads', async () => {
      const { scim, api, tag } = await t.tenant();
      const sku = `ROOT-${tag}`.toUpperCase();
      expect((await api.post('/api/v1/products', { sku, name: 'Root product' })).status).toBe(201);
      expect(
        (await api.post('/api/v1/pools', { product: sku, name: `${tag} pool`, capacity: 2 })).status,
      ).toBe(201);
      const users = await t.users(scim, tag, 4);
      // Two seats for three askers: two hold, one waits; the fourth asks for none.
      for (const u of users.slice(0, 3)) {
        const res = await api.post(`/api/v1/users/${u.id}/licenses`, { product: sku });
        expect(res.status, res.raw).toBe(201);
      }
      await t.groups(scim, tag, 2, users.slice(0, 2));
      await t.groups(scim, tag, 1, users.slice(1, 3));

      const page = await scim.get(`${BASE}/Users?filter=${q(`userName sw "${tag}"`)}&count=10`);
      expectScim(page, 200);
      expect(page.body.totalResults).toBe(4);
      const states = [];
      for (const listed of page.body.Resources as Doc[]) {
        const single = await scim.get(`${BASE}/Users/${listed.id}`);
        expectScim(single, 200);
        expect(listed).toEqual(single.body);
        expect(listed.meta.version).toBe(single.headers.etag);
        states.push(...(listed[ROSTER].licenses as Doc[]).map((l) => l.state));
      }
      expect(states.sort()).toEqual(['active', 'active', 'waitlisted']);
      const memberships = (page.body.Resources as Doc[]).map((r) => (r.groups ?? []).length);
      expect(memberships).toEqual([2, 3, 1, 0]);
    });

    it('Groups: members equal the single reads', async () => {
      const { scim, tag } = await t.tenant();
      const users = await t.users(scim, tag, 3);
      await t.groups(scim, tag, 1, users);
      await t.groups(scim, tag, 1, users.slice(2));
      await t.groups(scim, tag, 1, []);
      const page = await scim.get(`${BASE}/Groups?count=10`);
      expectScim(page, 200);
      expect((page.body.Resources as Doc[]).map((g) => (g.members ?? []).length)).toEqual([3, 1, 0]);
      for (const listed of page.body.Resources as Doc[]) {
        const single = await scim.get(`${BASE}/Groups/${listed.id}`);
        expect(listed).toEqual(single.body);
      }
    });
  });
});

/** A tenant with a provisioner token and a tag its resources' names start with; users and groups in order. */
function useScim(kind: Parameters<typeof useTestApp>[0]) {
  const app = useTestApp(kind);
  return {
    app,
    async tenant() {
      return { ...(await scimTenant(app())), tag: `r${randomBytes(4).toString('hex')}` };
    },
    async users(scim: Client, tag: string, n: number): Promise<Doc[]> {
      const out: Doc[] = [];
      for (let i = 0; i < n; i++) {
        const userName = `${tag}.user${i}@root.test`;
        const res = await scim.post(`${BASE}/Users`, {
          schemas: [USER],
          userName,
          externalId: `${tag}-user-${i}`,
          displayName: `${tag} user ${i}`,
          emails: [{ value: userName, type: 'work', primary: true }],
        });
        expectScim(res, 201);
        out.push(res.body);
      }
      return out;
    },
    async groups(scim: Client, tag: string, n: number, members: readonly Doc[]): Promise<Doc[]> {
      const out: Doc[] = [];
      for (let i = 0; i < n; i++) {
        const res = await scim.post(`${BASE}/Groups`, {
          schemas: [GROUP],
          externalId: `${tag}-group-${i}-${randomBytes(2).toString('hex')}`,
          displayName: `${tag} group ${i}-${randomBytes(2).toString('hex')}`,
          members: members.map((m) => ({ value: m.id })),
        });
        expectScim(res, 201);
        out.push(res.body);
      }
      return out;
    },
  };
}
