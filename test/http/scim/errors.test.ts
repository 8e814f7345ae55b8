import { describe, expect, it } from 'vitest';
import { type Answer, type Client, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

/**
 * Every error under /scim/v2 is a SCIM error message (RFC 7644 §3.12): `schemas` [Error], `status` the HTTP
 * status as a string, a `detail`, and a `scimType` where the RFC gives one (400s, 409 uniqueness). Details
 * name attributes and positions, never submitted values (each test plants a sentinel in the offending value
 * and looks for it in the raw answer). No request gets a 5xx.
 */

const BASE = '/scim/v2';
const SCIM_CT = { 'content-type': 'application/scim+json' };
const JSON_CT = { 'content-type': 'application/json' };

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ROSTER = 'urn:roster:params:scim:schemas:extension:roster:1.0:User';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const UNKNOWN = '01890000-0000-7000-8000-000000000000';
const MIB = 1024 * 1024;

let marks = 0;
/** A distinctive value: if it shows up in an answer, the answer echoed what was submitted. */
function mark(label = 'v'): string {
  return `Zqx${label}${++marks}Sentinel${process.pid}Qzx`;
}

/** The answer (body and headers) does not contain any of the sentinels, in any case. */
function expectNoEcho(res: Answer, sentinels: readonly string[]): void {
  const everything = `${res.raw}\n${JSON.stringify(res.headers)}`.toLowerCase();
  for (const s of sentinels)
    expect(everything.includes(s.toLowerCase()), `${s} echoed in ${res.raw}`).toBe(false);
}

/**
 * A SCIM error answer: the status, application/scim+json, the Error schema, `status` as the same string, a
 * non-empty detail, the request id, and `scimType` exactly as given (none when undefined).
 */
function expectScimError(
  res: Answer,
  status: number,
  scimType?: string,
  sentinels: readonly string[] = [],
): void {
  expect(res.status, res.raw).toBe(status);
  expect(String(res.headers['content-type']), res.raw).toMatch(/^application\/scim\+json\s*(;|$)/);
  expect(res.body, res.raw).toBeDefined();
  expect(res.body.schemas, res.raw).toEqual([ERROR]);
  expect(res.body.status, res.raw).toBe(String(status));
  expect(typeof res.body.detail, res.raw).toBe('string');
  expect(res.body.detail.length, res.raw).toBeGreaterThan(0);
  if (scimType === undefined) expect(res.body.scimType, res.raw).toBeUndefined();
  else expect(res.body.scimType, res.raw).toBe(scimType);
  expect(typeof res.body.requestId, res.raw).toBe('string');
  // Errors found by the router (a malformed URL) are answered before the hook that sets the header.
  if (res.headers['x-request-id'] !== undefined) expect(res.body.requestId).toBe(res.headers['x-request-id']);
  expectNoEcho(res, sentinels);
}

const patchOf = (...ops: Record<string, unknown>[]) => ({ schemas: [PATCH_OP], Operations: ops });
const q = (filter: string) => encodeURIComponent(filter);

describeEachStore('SCIM errors', (kind) => {
  const t = useTestApp(kind);

  /** A client whose every answer is checked: never a 5xx, whatever the request. */
  function guarded(c: Client): Client {
    const check = async (p: Promise<Answer>) => {
      const res = await p;
      expect(res.status, `5xx: ${res.raw}`).toBeLessThan(500);
      return res;
    };
    return {
      get: (p, h) => check(c.get(p, h)),
      delete: (p, h) => check(c.delete(p, h)),
      post: (p, b, h) => check(c.post(p, b, h ?? SCIM_CT)),
      put: (p, b, h) => check(c.put(p, b, h ?? SCIM_CT)),
      patch: (p, b, h) => check(c.patch(p, b, h ?? SCIM_CT)),
      raw: (m, p, payload, h) => check(c.raw(m, p, payload, h)),
    };
  }

  async function tokenFor(tenantId: string, roles: string[]): Promise<{ id: string; client: Client }> {
    const tok = await t().admin.post('/api/v1/tokens', { tenantId, name: `r-${roles.join('-')}`, roles });
    expect(tok.status, tok.raw).toBe(201);
    return { id: tok.body.id, client: guarded(t().client(tok.body.token)) };
  }

  /** A tenant with a provisioner (`scim`), its tenant-admin REST client (`api`), one user and one group. */
  async function world() {
    const { tenantId, api } = await t().newTenant();
    const { client: scim } = await tokenFor(tenantId, ['provisioner']);
    const n = ++marks;
    const user = await scim.post(`${BASE}/Users`, {
      schemas: [USER],
      userName: `alice-${n}@errors.test`,
      emails: [{ value: `alice-${n}@errors.test`, type: 'work', primary: true }],
      title: 'Engineer',
    });
    expect(user.status, user.raw).toBe(201);
    const group = await scim.post(`${BASE}/Groups`, {
      schemas: [GROUP],
      displayName: `Team ${n}`,
      members: [{ value: user.body.id }],
    });
    expect(group.status, group.raw).toBe(201);
    return {
      tenantId,
      api,
      scim,
      user: user.body as { id: string; userName: string; meta: { version: string } },
      group: group.body as { id: string; displayName: string; meta: { version: string } },
      /** The user and group as they are now (to check that a refused request changed nothing). */
      async state() {
        const u = await scim.get(`${BASE}/Users/${user.body.id}`);
        const g = await scim.get(`${BASE}/Groups/${group.body.id}`);
        const all = await scim.get(`${BASE}/Users?count=1000`);
        return { user: u.body, group: g.body, users: all.body.totalResults };
      },
    };
  }

  // ------------------------------------------------------------------------------------------ 401
  describe('401 without a valid token', () => {
    it('no token, an unknown token, or another scheme: 401 SCIM error with WWW-Authenticate: Bearer', async () => {
      const w = await world();
      const before = await w.state();
      const secret = `rst_${mark('tok')}`;
      const clients: [string, Client][] = [
        ['no token', guarded(t().client(undefined))],
        ['unknown token', guarded(t().client(secret))],
      ];
      for (const [label, c] of clients) {
        for (const res of [
          await c.get(`${BASE}/ServiceProviderConfig`),
          await c.get(`${BASE}/Schemas`),
          await c.get(`${BASE}/Users`),
          await c.get(`${BASE}/Users/${w.user.id}`),
          await c.post(`${BASE}/Users`, { schemas: [USER], userName: mark() }),
          await c.patch(`${BASE}/Users/${w.user.id}`, patchOf({ op: 'replace', path: 'title', value: 'x' })),
          await c.delete(`${BASE}/Users/${w.user.id}`),
          await c.get(`${BASE}/Groups`),
        ]) {
          expectScimError(res, 401, undefined, [secret]);
          expect(res.headers['www-authenticate'], label).toMatch(/^Bearer/);
        }
      }
      const basic = await guarded(t().client(undefined)).get(`${BASE}/Users`, {
        authorization: `Basic ${Buffer.from('user:pass').toString('base64')}`,
      });
      expectScimError(basic, 401);
      expect(await w.state()).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------ 403
  describe('403 without scim:provision', () => {
    for (const role of ['viewer', 'helpdesk', 'auditor']) {
      it(`a ${role} token is refused every SCIM endpoint with 403 naming scim:provision, and changes nothing`, async () => {
        const w = await world();
        const before = await w.state();
        const { client: c } = await tokenFor(w.tenantId, [role]);
        const name = mark('forbidden');
        const answers = [
          await c.get(`${BASE}/ServiceProviderConfig`),
          await c.get(`${BASE}/Schemas`),
          await c.get(`${BASE}/ResourceTypes`),
          await c.get(`${BASE}/Users`),
          await c.get(`${BASE}/Users/${w.user.id}`),
          await c.post(`${BASE}/Users/.search`, { schemas: [SEARCH] }),
          await c.post(`${BASE}/Users`, { schemas: [USER], userName: name }),
          await c.put(`${BASE}/Users/${w.user.id}`, { schemas: [USER], userName: name }),
          // helpdesk may change a user's status over REST; SCIM grants no such narrower path.
          await c.patch(
            `${BASE}/Users/${w.user.id}`,
            patchOf({ op: 'replace', path: 'active', value: false }),
          ),
          await c.delete(`${BASE}/Users/${w.user.id}`),
          await c.get(`${BASE}/Groups`),
          await c.post(`${BASE}/Groups`, { schemas: [GROUP], displayName: name }),
          await c.patch(`${BASE}/Groups/${w.group.id}`, patchOf({ op: 'remove', path: 'members' })),
          await c.delete(`${BASE}/Groups/${w.group.id}`),
        ];
        for (const res of answers) {
          expectScimError(res, 403, undefined, [name]);
          expect(res.body.detail).toContain('scim:provision');
        }
        expect(await w.state()).toEqual(before);
      });
    }

    it('a tenant-admin token (which holds scim:provision) is allowed', async () => {
      const { api } = await t().newTenant();
      const res = await guarded(api).get(`${BASE}/Users`);
      expect(res.status, res.raw).toBe(200);
    });

    it('a platform token must name a tenant: without Roster-Tenant the answer is a SCIM error', async () => {
      const res = await guarded(t().admin).get(`${BASE}/Users`);
      expect(res.status, res.raw).toBeGreaterThanOrEqual(400);
      expectScimError(res, res.status);
    });
  });

  // ------------------------------------------------------------------------------------------ 404
  describe('404', () => {
    it("another tenant's user and group are not found: GET, PUT, PATCH, DELETE answer 404 and change nothing", async () => {
      const a = await world();
      const b = await world();
      const before = await a.state();
      const name = mark('cross');
      for (const res of [
        await b.scim.get(`${BASE}/Users/${a.user.id}`),
        await b.scim.put(`${BASE}/Users/${a.user.id}`, { schemas: [USER], userName: name }),
        await b.scim.patch(
          `${BASE}/Users/${a.user.id}`,
          patchOf({ op: 'replace', path: 'title', value: name }),
        ),
        await b.scim.delete(`${BASE}/Users/${a.user.id}`),
        await b.scim.get(`${BASE}/Groups/${a.group.id}`),
        await b.scim.put(`${BASE}/Groups/${a.group.id}`, { schemas: [GROUP], displayName: name }),
        await b.scim.patch(
          `${BASE}/Groups/${a.group.id}`,
          patchOf({ op: 'replace', path: 'displayName', value: name }),
        ),
        await b.scim.delete(`${BASE}/Groups/${a.group.id}`),
      ]) {
        expectScimError(res, 404, undefined, [name, a.user.userName]);
      }
      // A cross-tenant answer is the same as for an id that exists nowhere.
      const nowhere = await b.scim.get(`${BASE}/Users/${UNKNOWN}`);
      expectScimError(nowhere, 404);
      const cross = await b.scim.get(`${BASE}/Users/${a.user.id}`);
      expect({ ...cross.body, requestId: undefined }).toEqual({ ...nowhere.body, requestId: undefined });
      expect(await a.state()).toEqual(before);
    });

    it('unknown ids, malformed ids, unknown endpoints: SCIM errors, never 5xx', async () => {
      const w = await world();
      for (const path of [`/Users/${UNKNOWN}`, `/Groups/${UNKNOWN}`, '/Users/not-a-uuid', '/Groups/42']) {
        const res = await w.scim.get(`${BASE}${path}`);
        expect([400, 404], res.raw).toContain(res.status);
        expectScimError(res, res.status, res.status === 400 ? res.body.scimType : undefined);
      }
      expectScimError(await w.scim.delete(`${BASE}/Users/${UNKNOWN}`), 404);
      expectScimError(await w.scim.get(`${BASE}/Devices`), 404);
      expectScimError(await w.scim.get(`${BASE}/Users/${w.user.id}/extra`), 404);
      const method = await w.scim.delete(`${BASE}/Users`);
      expectScimError(method, 405);
      expect(String(method.headers.allow)).toContain('GET');
    });
  });

  // ------------------------------------------------------------------------------------------ 400 invalidSyntax
  describe('400 invalidSyntax', () => {
    it('malformed JSON on every body-taking endpoint, as application/scim+json and application/json', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark('json');
      const bad = `{"schemas":["${USER}"],"userName":"${secret}",`;
      for (const ct of [SCIM_CT, JSON_CT]) {
        for (const [method, path] of [
          ['POST', '/Users'],
          ['PUT', `/Users/${w.user.id}`],
          ['PATCH', `/Users/${w.user.id}`],
          ['POST', '/Users/.search'],
          ['POST', '/Groups'],
          ['PUT', `/Groups/${w.group.id}`],
          ['PATCH', `/Groups/${w.group.id}`],
          ['POST', '/Bulk'],
        ] as const) {
          const res = await w.scim.raw(method, `${BASE}${path}`, bad, ct);
          expectScimError(res, 400, 'invalidSyntax', [secret]);
        }
      }
      expectScimError(await w.scim.raw('POST', `${BASE}/Users`, '', SCIM_CT), 400, 'invalidSyntax');
      expect(await w.state()).toEqual(before);
    });

    it('a body that is no object, or names no or a wrong schemas URI', async () => {
      const w = await world();
      const secret = mark('syntax');
      const bodies: unknown[] = [
        [{ schemas: [USER], userName: secret }],
        secret,
        null,
        { userName: secret },
        { schemas: USER, userName: secret },
        { schemas: [GROUP], userName: secret },
      ];
      for (const body of bodies) {
        const res = await w.scim.post(`${BASE}/Users`, body);
        expectScimError(res, 400, 'invalidSyntax', [secret]);
      }
      const group = await w.scim.post(`${BASE}/Groups`, { schemas: [USER], displayName: secret });
      expectScimError(group, 400, 'invalidSyntax', [secret]);
      const dupKey = await w.scim.raw(
        'POST',
        `${BASE}/Users`,
        `{"schemas":["${USER}"],"userName":"${secret}","USERNAME":"${secret}x"}`,
        SCIM_CT,
      );
      expectScimError(dupKey, 400, 'invalidSyntax', [secret]);
      const search = await w.scim.post(`${BASE}/Users/.search`, { filter: `userName eq "${secret}"` });
      expectScimError(search, 400, 'invalidSyntax', [secret]);
    });

    it('a PATCH without the PatchOp schema or without Operations', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark('patch');
      for (const body of [
        { Operations: [{ op: 'replace', path: 'title', value: secret }] },
        { schemas: [USER], Operations: [{ op: 'replace', path: 'title', value: secret }] },
        { schemas: [PATCH_OP] },
        { schemas: [PATCH_OP], Operations: [] },
        { schemas: [PATCH_OP], Operations: { op: 'replace', path: 'title', value: secret } },
        [{ op: 'replace', path: 'title', value: secret }],
      ]) {
        expectScimError(await w.scim.patch(`${BASE}/Users/${w.user.id}`, body), 400, 'invalidSyntax', [
          secret,
        ]);
      }
      expect(await w.state()).toEqual(before);
    });

    it('an unknown PATCH op (or none) is invalidSyntax and applies nothing', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark('op');
      for (const op of ['move', 'copy', secret, '', 7, null, undefined]) {
        const res = await w.scim.patch(
          `${BASE}/Users/${w.user.id}`,
          patchOf({ op: 'replace', path: 'title', value: 'Changed' }, { op, path: 'title', value: secret }),
        );
        expectScimError(res, 400, 'invalidSyntax', [secret]);
        expect(res.body.detail).toContain('Operations[1]');
      }
      const group = await w.scim.patch(
        `${BASE}/Groups/${w.group.id}`,
        patchOf({ op: 'delete', path: 'members' }),
      );
      expectScimError(group, 400, 'invalidSyntax');
      expect(await w.state()).toEqual(before);
    });

    it('an unknown URN, in schemas or as a member, is refused and nothing is stored', async () => {
      const w = await world();
      const before = await w.state();
      const secret = mark('urn');
      const unknownUrn = 'urn:example:params:scim:schemas:extension:acme:2.0:User';
      const bodies = [
        { schemas: [USER, `urn:example:${secret}`], userName: `u-${secret}` },
        { schemas: [USER, unknownUrn], userName: `u-${secret}`, [unknownUrn]: { costCenter: secret } },
        { schemas: [USER], userName: `u-${secret}`, [unknownUrn]: { costCenter: secret } },
        { schemas: [USER], userName: `u-${secret}`, [`${unknownUrn}:costCenter`]: secret },
        // An extension of another resource type.
        { schemas: [GROUP, USER], userName: `u-${secret}` },
      ];
      for (const body of bodies) {
        const res = await w.scim.post(`${BASE}/Users`, body);
        expectScimError(res, 400, 'invalidSyntax', [secret]);
        const put = await w.scim.put(`${BASE}/Users/${w.user.id}`, { ...body, userName: w.user.userName });
        expectScimError(put, 400, 'invalidSyntax', [secret]);
      }
      const group = await w.scim.post(`${BASE}/Groups`, {
        schemas: [GROUP, ENTERPRISE],
        displayName: secret,
      });
      expectScimError(group, 400, 'invalidSyntax', [secret]);
      const patch = await w.scim.patch(
        `${BASE}/Users/${w.user.id}`,
        patchOf({ op: 'add', path: `${unknownUrn}:costCenter`, value: secret }),
      );
      expectScimError(patch, 400, 'invalidPath', [secret]);
      expect(await w.state()).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------ 400 invalidValue
  describe('400 invalidValue', () => {
    it('a missing, empty or non-string userName; a missing Group displayName', async () => {
      const w = await world();
      const before = await w.state();
      for (const body of [
        { schemas: [USER] },
        { schemas: [USER], userName: '' },
        { schemas: [USER], userName: '   ' },
        { schemas: [USER], userName: null },
        { schemas: [USER], userName: 42 },
        { schemas: [USER], userName: ['a'] },
      ]) {
        const res = await w.scim.post(`${BASE}/Users`, body);
        expectScimError(res, 400, 'invalidValue');
        expect(res.body.detail).toContain('userName');
      }
      const put = await w.scim.put(`${BASE}/Users/${w.user.id}`, { schemas: [USER], title: 'x' });
      expectScimError(put, 400, 'invalidValue');
      expect(put.body.detail).toContain('userName');
      for (const body of [{ schemas: [GROUP] }, { schemas: [GROUP], displayName: '' }]) {
        const res = await w.scim.post(`${BASE}/Groups`, body);
        expectScimError(res, 400, 'invalidValue');
        expect(res.body.detail).toContain('displayName');
      }
      expect(await w.state()).toEqual(before);
    });

    it('values of the wrong type name the attribute, never the value', async () => {
      const w = await world();
      const before = await w.state();
      const s = mark('type');
      const cases: [Record<string, unknown>, string][] = [
        [{ title: { text: s } }, 'title'],
        [{ active: s }, 'active'],
        [{ name: s }, 'name'],
        [{ name: { givenName: [s] } }, 'givenName'],
        [{ emails: s }, 'emails'],
        [{ emails: [{ value: s, type: 7 }] }, 'type'],
        [{ emails: [{ type: 'work', display: s }] }, 'value'],
        [{ [ROSTER]: { kind: s } }, 'kind'],
        [{ [ROSTER]: { status: s } }, 'status'],
        [{ [ROSTER]: { location: s } }, 'location'],
        [{ [ENTERPRISE]: { department: [s] } }, 'department'],
        [{ [ENTERPRISE]: s }, ENTERPRISE],
      ];
      for (const [extra, attr] of cases) {
        const res = await w.scim.post(`${BASE}/Users`, { schemas: [USER], userName: `ok-${s}`, ...extra });
        expectScimError(res, 400, 'invalidValue', [s]);
        expect(res.body.detail, JSON.stringify(extra)).toContain(attr);
      }
      expect(await w.state()).toEqual(before);
    });

    it('a manager that is not a user of the tenant, and active disagreeing with status', async () => {
      const a = await world();
      const b = await world();
      const before = await a.state();
      for (const manager of [UNKNOWN, b.user.id, 'not-a-uuid']) {
        const res = await a.scim.post(`${BASE}/Users`, {
          schemas: [USER, ENTERPRISE],
          userName: mark('mgr'),
          [ENTERPRISE]: { manager: { value: manager } },
        });
        expectScimError(res, 400, 'invalidValue', [b.user.userName]);
      }
      const clash = await a.scim.post(`${BASE}/Users`, {
        schemas: [USER, ROSTER],
        userName: mark('status'),
        active: true,
        [ROSTER]: { status: 'suspended' },
      });
      expectScimError(clash, 400, 'invalidValue');
      expect(await a.state()).toEqual(before);
    });

    it('query parameters of the wrong form', async () => {
      const w = await world();
      const s = mark('param');
      for (const query of [`count=${s}`, `startIndex=${s}`, 'count=1.5', `sortOrder=${s}`]) {
        expectScimError(await w.scim.get(`${BASE}/Users?${query}`), 400, 'invalidValue', [s]);
      }
      for (const query of [`attributes=emails[value eq "${s}"`, `excludedAttributes=${s}..x`]) {
        expectScimError(await w.scim.get(`${BASE}/Users?${query}`), 400, 'invalidPath', [s]);
      }
    });

    it('a PATCH value of the wrong type, or add/replace without a value', async () => {
      const w = await world();
      const before = await w.state();
      const s = mark('pv');
      for (const op of [
        { op: 'replace', path: 'active', value: s },
        { op: 'replace', path: 'title', value: { s } },
        { op: 'add', path: 'emails', value: [{ type: s }] },
        { op: 'replace', path: 'name', value: s },
        { op: 'replace', path: 'title' },
        { op: 'replace', value: s },
      ]) {
        expectScimError(await w.scim.patch(`${BASE}/Users/${w.user.id}`, patchOf(op)), 400, 'invalidValue', [
          s,
        ]);
      }
      expect(await w.state()).toEqual(before);
    });
  });

  describe('400 invalidValue: SCIM enforces the rules the REST API and the published schema state', () => {
    // The Roster extension publishes location.site as "letters, digits, dot, dash, underscore; at most 64"
    // and location.country as "an ISO 3166-1 alpha-2 code"; the REST API refuses other values (422).
    it('location.country that is not two letters is refused', async () => {
      const w = await world();
      const before = await w.state();
      const s = `${mark('ctry')}`;
      for (const country of ['DEU', 'Germany', s]) {
        const res = await w.scim.post(`${BASE}/Users`, {
          schemas: [USER, ROSTER],
          userName: mark('loc'),
          [ROSTER]: { location: { site: 'ber', country } },
        });
        expectScimError(res, 400, 'invalidValue', [s]);
      }
      const patch = await w.scim.patch(
        `${BASE}/Users/${w.user.id}`,
        patchOf({ op: 'replace', path: `${ROSTER}:location.country`, value: 'Germany' }),
      );
      expectScimError(patch, 400, 'invalidValue');
      expect(await w.state()).toEqual(before);
    });

    it('location.site outside [A-Za-z0-9._-]{1,64} is refused', async () => {
      const w = await world();
      const before = await w.state();
      const s = mark('site');
      for (const site of [`bad site ${s}`, 'x'.repeat(65), 'a/b']) {
        const res = await w.scim.post(`${BASE}/Users`, {
          schemas: [USER, ROSTER],
          userName: mark('loc'),
          [ROSTER]: { location: { site, country: 'DE' } },
        });
        expectScimError(res, 400, 'invalidValue', [s]);
      }
      expect(await w.state()).toEqual(before);
    });

    it('a userName longer than the REST API allows (256) is refused', async () => {
      const w = await world();
      const before = await w.state();
      const rest = await w.api.post('/api/v1/users', { userName: 'u'.repeat(257) });
      expect(rest.status, rest.raw).toBe(422);
      const res = await w.scim.post(`${BASE}/Users`, { schemas: [USER], userName: 'u'.repeat(257) });
      expectScimError(res, 400, 'invalidValue');
      expect(await w.state()).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------ 409 uniqueness
  describe('409 uniqueness', () => {
    it('a userName in use, compared without regard to case (POST, PUT, PATCH), never echoed', async () => {
      const w = await world();
      const s = mark('dup');
      const first = await w.scim.post(`${BASE}/Users`, { schemas: [USER], userName: `Bob.${s}@x.example` });
      expect(first.status, first.raw).toBe(201);
      const before = await w.state();
      const dup = await w.scim.post(`${BASE}/Users`, { schemas: [USER], userName: `bob.${s}@X.EXAMPLE` });
      expectScimError(dup, 409, 'uniqueness', [s]);
      const put = await w.scim.put(`${BASE}/Users/${w.user.id}`, {
        schemas: [USER],
        userName: `BOB.${s}@x.example`,
      });
      expectScimError(put, 409, 'uniqueness', [s]);
      const patch = await w.scim.patch(
        `${BASE}/Users/${w.user.id}`,
        patchOf({ op: 'replace', path: 'userName', value: `bob.${s}@x.example` }),
      );
      expectScimError(patch, 409, 'uniqueness', [s]);
      expect(await w.state()).toEqual(before);
    });

    it('an e-mail address, an externalId, a group displayName in use', async () => {
      const w = await world();
      const s = mark('uniq');
      const first = await w.scim.post(`${BASE}/Users`, {
        schemas: [USER],
        userName: `first-${s}`,
        externalId: `ext-${s}`,
        emails: [{ value: `Mail.${s}@x.example` }],
      });
      expect(first.status, first.raw).toBe(201);
      const email = await w.scim.post(`${BASE}/Users`, {
        schemas: [USER],
        userName: `second-${s}`,
        emails: [{ value: `mail.${s}@X.example` }],
      });
      expectScimError(email, 409, 'uniqueness', [s]);
      const ext = await w.scim.post(`${BASE}/Users`, {
        schemas: [USER],
        userName: `third-${s}`,
        externalId: `ext-${s}`,
      });
      expectScimError(ext, 409, 'uniqueness', [s]);
      const g1 = await w.scim.post(`${BASE}/Groups`, { schemas: [GROUP], displayName: `Grp ${s}` });
      expect(g1.status, g1.raw).toBe(201);
      const g2 = await w.scim.post(`${BASE}/Groups`, { schemas: [GROUP], displayName: `GRP ${s}` });
      expectScimError(g2, 409, 'uniqueness', [s]);
    });
  });

  // ------------------------------------------------------------------------------------------ 400 invalidFilter
  describe('400 invalidFilter', () => {
    it('filters that do not parse or name no attribute, on Users, Groups and /.search', async () => {
      const w = await world();
      const s = mark('filter');
      const filters = [
        'userName eq',
        `userName eq "${s}`,
        `(userName eq "${s}"`,
        `userName eq "${s}")`,
        `userName zz "${s}"`,
        `userName eq "${s}" and`,
        `nope eq "${s}"`,
        `emails[value eq "${s}"`,
        `title eq ${s}`,
        `userName eq "${s}" or or title pr`,
      ];
      for (const f of filters) {
        expectScimError(await w.scim.get(`${BASE}/Users?filter=${q(f)}`), 400, 'invalidFilter', [s]);
        expectScimError(
          await w.scim.post(`${BASE}/Users/.search`, { schemas: [SEARCH], filter: f }),
          400,
          'invalidFilter',
          [s],
        );
      }
      for (const f of [`displayName eq "${s}`, `nope eq "${s}"`, `members[value eq "${s}"`]) {
        expectScimError(await w.scim.get(`${BASE}/Groups?filter=${q(f)}`), 400, 'invalidFilter', [s]);
      }
      expectScimError(
        await w.scim.post(`${BASE}/Users/.search`, { schemas: [SEARCH], filter: 42 }),
        400,
        'invalidFilter',
      );
    });

    it('what the encrypted store cannot answer is refused naming the attribute, not the value', async () => {
      const w = await world();
      const s = mark('enc');
      const cases: [string, string][] = [
        [`filter=${q(`name.givenName co "${s}"`)}`, 'name.givenName'],
        [`filter=${q(`name.familyName sw "${s}"`)}`, 'name.familyName'],
        [`filter=${q(`displayName eq "${s}"`)}`, 'displayName'],
        [`filter=${q(`phoneNumbers.value eq "${s}"`)}`, 'phoneNumbers'],
        [`filter=${q(`userName gt "${s}"`)}`, 'userName'],
        [`filter=${q(`userName le "${s}"`)}`, 'userName'],
        [`filter=${q(`emails.value lt "${s}"`)}`, 'emails'],
        [`filter=${q(`emails[type eq "${s}"]`)}`, 'emails.type'],
        ['sortBy=userName', 'userName'],
        ['sortBy=emails.value', 'emails'],
        ['sortBy=name.familyName', 'name.familyName'],
      ];
      for (const [query, attr] of cases) {
        const res = await w.scim.get(`${BASE}/Users?${query}`);
        expectScimError(res, 400, 'invalidFilter', [s]);
        expect(res.body.detail.toLowerCase(), query).toContain(attr.toLowerCase());
      }
      const search = await w.scim.post(`${BASE}/Users/.search`, {
        schemas: [SEARCH],
        filter: `name.givenName co "${s}"`,
      });
      expectScimError(search, 400, 'invalidFilter', [s]);
      expect(search.body.detail.toLowerCase()).toContain('name.givenname');
    });
  });

  // ------------------------------------------------------------------------------------------ 400 PATCH
  describe('400 on PATCH: invalidPath, mutability, noTarget', () => {
    it('a path that does not parse or names no attribute is invalidPath', async () => {
      const w = await world();
      const before = await w.state();
      const s = mark('path');
      for (const path of [
        'nope',
        'name.nope',
        'title.sub',
        'userName..x',
        `emails[value eq "${s}"].nope`,
        `emails[value eq "${s}"`,
        `urn:example:acme:2.0:User:${'costCenter'}`,
        'emails.value',
        'name[givenName eq "x"]',
      ]) {
        const res = await w.scim.patch(
          `${BASE}/Users/${w.user.id}`,
          patchOf({ op: 'replace', path, value: s }),
        );
        expect(res.status, `${path}: ${res.raw}`).toBe(400);
        expect(['invalidPath', 'invalidFilter'], `${path}: ${res.raw}`).toContain(res.body.scimType);
        expectScimError(res, 400, res.body.scimType, [s]);
      }
      const noPathKey = await w.scim.patch(
        `${BASE}/Users/${w.user.id}`,
        patchOf({ op: 'replace', value: { nickName2: s } }),
      );
      expectScimError(noPathKey, 400, 'invalidPath', [s]);
      const group = await w.scim.patch(
        `${BASE}/Groups/${w.group.id}`,
        patchOf({ op: 'replace', path: 'owners', value: s }),
      );
      expectScimError(group, 400, 'invalidPath', [s]);
      expect(await w.state()).toEqual(before);
    });

    it('changing a read-only attribute (groups, id, meta, licenses) or removing a required one is mutability', async () => {
      const w = await world();
      const other = await w.scim.post(`${BASE}/Users`, { schemas: [USER], userName: mark('other') });
      const before = await w.state();
      const s = mark('ro');
      for (const op of [
        { op: 'add', path: 'groups', value: [{ value: UNKNOWN }] },
        { op: 'replace', path: 'groups', value: [] },
        { op: 'remove', path: 'groups' },
        { op: 'replace', path: 'id', value: s },
        { op: 'replace', path: 'id', value: other.body.id },
        { op: 'replace', value: { id: other.body.id } },
        { op: 'replace', path: 'meta.created', value: '2020-01-01T00:00:00Z' },
        { op: 'add', path: `${ROSTER}:licenses`, value: [{ product: s }] },
        { op: 'remove', path: 'userName' },
      ]) {
        const res = await w.scim.patch(`${BASE}/Users/${w.user.id}`, patchOf(op));
        expectScimError(res, 400, 'mutability', [s]);
      }
      const group = await w.scim.patch(
        `${BASE}/Groups/${w.group.id}`,
        patchOf({ op: 'remove', path: 'displayName' }),
      );
      expectScimError(group, 400, 'mutability');
      const putId = await w.scim.put(`${BASE}/Users/${w.user.id}`, {
        schemas: [USER],
        id: other.body.id,
        userName: w.user.userName,
      });
      expectScimError(putId, 400, 'mutability');
      expect(await w.state()).toEqual(before);
    });

    it('a value filter that matches nothing is noTarget (replace, add, remove); remove without a path too', async () => {
      const w = await world();
      const before = await w.state();
      const s = mark('nt');
      for (const op of [
        { op: 'replace', path: `emails[value eq "${s}@x.example"].type`, value: 'home' },
        { op: 'replace', path: `emails[type eq "${s}"]`, value: { value: 'new@x.example' } },
        { op: 'remove', path: `emails[value eq "${s}"]` },
        { op: 'remove' },
      ]) {
        const res = await w.scim.patch(`${BASE}/Users/${w.user.id}`, patchOf(op));
        expectScimError(res, 400, 'noTarget', [s]);
      }
      const group = await w.scim.patch(
        `${BASE}/Groups/${w.group.id}`,
        patchOf({ op: 'remove', path: `members[value eq "${UNKNOWN}"]` }),
      );
      expectScimError(group, 400, 'noTarget');
      expect(await w.state()).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------ 412
  describe('412 If-Match', () => {
    it('a stale If-Match on PUT, PATCH and DELETE (users and groups) is 412 and changes nothing', async () => {
      const w = await world();
      const touched = await w.scim.patch(
        `${BASE}/Users/${w.user.id}`,
        patchOf({ op: 'replace', path: 'title', value: 'Lead' }),
      );
      expect(touched.status, touched.raw).toBe(200);
      const stale = { 'if-match': w.user.meta.version };
      expect(touched.headers.etag).not.toBe(w.user.meta.version);
      const before = await w.state();
      const s = mark('etag');
      for (const res of [
        await w.scim.put(
          `${BASE}/Users/${w.user.id}`,
          { schemas: [USER], userName: s },
          { ...SCIM_CT, ...stale },
        ),
        await w.scim.patch(
          `${BASE}/Users/${w.user.id}`,
          patchOf({ op: 'replace', path: 'title', value: s }),
          { ...SCIM_CT, ...stale },
        ),
        await w.scim.delete(`${BASE}/Users/${w.user.id}`, stale),
        await w.scim.put(
          `${BASE}/Groups/${w.group.id}`,
          { schemas: [GROUP], displayName: s },
          { ...SCIM_CT, 'if-match': 'W/"999"' },
        ),
        await w.scim.patch(
          `${BASE}/Groups/${w.group.id}`,
          patchOf({ op: 'replace', path: 'displayName', value: s }),
          { ...SCIM_CT, 'if-match': 'W/"999"' },
        ),
        await w.scim.delete(`${BASE}/Groups/${w.group.id}`, { 'if-match': 'W/"999"' }),
      ]) {
        expectScimError(res, 412, undefined, [s]);
      }
      expect(await w.state()).toEqual(before);
    });
  });

  // ------------------------------------------------------------------------------------------ 413, 415
  describe('413 and 415', () => {
    it('a body over the 1 MiB limit is 413 and changes nothing', async () => {
      const w = await world();
      const before = await w.state();
      const s = mark('big');
      const over = `{"schemas":["${USER}"],"userName":"${s}"}${' '.repeat(MIB)}`;
      for (const [method, path] of [
        ['POST', '/Users'],
        ['PUT', `/Users/${w.user.id}`],
        ['PATCH', `/Users/${w.user.id}`],
        ['POST', '/Groups'],
        ['POST', '/Users/.search'],
      ] as const) {
        const res = await w.scim.raw(method, `${BASE}${path}`, over, SCIM_CT);
        expectScimError(res, 413, undefined, [s]);
      }
      const bulk = await w.scim.raw('POST', `${BASE}/Bulk`, `{"x":"${s}"}${' '.repeat(MIB + 16)}`, SCIM_CT);
      expectScimError(bulk, 413, undefined, [s]);
      expect(await w.state()).toEqual(before);
    });

    it('a media type other than JSON is 415', async () => {
      const w = await world();
      const s = mark('ct');
      const res = await w.scim.raw('POST', `${BASE}/Users`, `userName=${s}`, {
        'content-type': 'application/x-www-form-urlencoded',
      });
      expectScimError(res, 415, undefined, [s]);
    });
  });

  // ------------------------------------------------------------------------------------------ no 5xx
  describe('no 5xx for odd requests', () => {
    it('a battery of odd requests answers SCIM errors or successes, never a 5xx', async () => {
      const w = await world();
      const odd: [string, string, unknown?][] = [
        ['GET', `${BASE}/Users?filter=${q('userName eq null')}`],
        ['GET', `${BASE}/Users?filter=${q('userName eq true')}`],
        ['GET', `${BASE}/Users?filter=${q('title gt 42')}`],
        ['GET', `${BASE}/Users?filter=${q('meta.created gt "yesterday"')}`],
        ['GET', `${BASE}/Users?filter=${q('active gt true')}`],
        ['GET', `${BASE}/Users?filter=${q('not (not (not (title pr)))')}`],
        ['GET', `${BASE}/Users?filter=${q(`${'('.repeat(200)}title pr${')'.repeat(200)}`)}`],
        ['GET', `${BASE}/Users?filter=${q(`title eq "${'x'.repeat(10_000)}"`)}`],
        ['GET', `${BASE}/Users?filter=${q('groups[value eq "x"]')}`],
        ['GET', `${BASE}/Users?filter=${q('emails[value eq "a" or value eq "b"]')}`],
        ['GET', `${BASE}/Users?filter=${q('userName co "ab"')}`],
        ['GET', `${BASE}/Users?filter=${q('urn:x:y:title eq "a"')}`],
        ['GET', `${BASE}/Users?startIndex=-5&count=-1`],
        ['GET', `${BASE}/Users?startIndex=99999999999999999999`],
        ['GET', `${BASE}/Users?count=1e400`],
        ['GET', `${BASE}/Users?attributes=&excludedAttributes=`],
        ['GET', `${BASE}/Users?attributes=${q(`${ROSTER}:licenses.product`)}`],
        ['GET', `${BASE}/Users?sortBy=groups`],
        ['GET', `${BASE}/Users?sortBy=nope`],
        ['GET', `${BASE}/Users/%ZZ`],
        ['GET', `${BASE}/Users/${'a'.repeat(400)}`],
        ['GET', `${BASE}/Groups?filter=${q('members pr')}`],
        ['GET', `${BASE}/Groups?filter=${q('members.value co "x"')}`],
        ['GET', `${BASE}/Groups?sortBy=members`],
        ['POST', `${BASE}/Users/.search`, { schemas: [SEARCH], count: 'x' }],
        ['POST', `${BASE}/Users/.search`, { schemas: [SEARCH], attributes: [1, 2] }],
        ['POST', `${BASE}/Users`, { schemas: [USER], userName: 'x', emails: [null] }],
        ['POST', `${BASE}/Users`, { schemas: [USER], userName: 'y', addresses: [{ country: 1 }] }],
        ['POST', `${BASE}/Users`, { schemas: [USER], userName: 'z', meta: 'x', id: 7, groups: 'x' }],
        ['POST', `${BASE}/Users`, { schemas: [USER], userName: 'w', [ENTERPRISE]: { manager: 7 } }],
        ['POST', `${BASE}/Users`, { schemas: [USER], userName: 'v', __proto__x: 1, constructor: { a: 1 } }],
        ['POST', `${BASE}/Groups`, { schemas: [GROUP], displayName: 'g', members: 'x' }],
        ['POST', `${BASE}/Groups`, { schemas: [GROUP], displayName: 'h', members: [{ value: 7 }] }],
        [
          'POST',
          `${BASE}/Groups`,
          { schemas: [GROUP], displayName: 'i', members: [{ value: 'not-a-uuid' }] },
        ],
        ['PATCH', `${BASE}/Users/${w.user.id}`, patchOf({ op: 'add', path: 'emails', value: null })],
        ['PATCH', `${BASE}/Users/${w.user.id}`, patchOf({ op: 'add', path: 'emails[type eq "work"].value' })],
        ['PATCH', `${BASE}/Users/${w.user.id}`, patchOf({ op: 'replace', path: '', value: 'x' })],
        ['PATCH', `${BASE}/Users/${w.user.id}`, patchOf({ op: 'replace', path: 7, value: 'x' })],
        ['PATCH', `${BASE}/Users/${w.user.id}`, patchOf({ op: 'replace', path: '__proto__', value: {} })],
        [
          'PATCH',
          `${BASE}/Users/${w.user.id}`,
          patchOf({ op: 'replace', value: JSON.parse('{"__proto__":{"a":1}}') }),
        ],
        [
          'PATCH',
          `${BASE}/Users/${w.user.id}`,
          patchOf({ op: 'replace', path: 'emails[primary gt true]', value: {} }),
        ],
        [
          'PATCH',
          `${BASE}/Users/${w.user.id}`,
          patchOf({ op: 'replace', path: `${ENTERPRISE}:manager`, value: UNKNOWN }),
        ],
        [
          'PATCH',
          `${BASE}/Groups/${w.group.id}`,
          patchOf({ op: 'add', path: 'members', value: [{ value: UNKNOWN }] }),
        ],
        ['PATCH', `${BASE}/Groups/${w.group.id}`, patchOf({ op: 'add', path: 'members', value: 'x' })],
        ['PUT', `${BASE}/Users/${UNKNOWN}`, { schemas: [USER], userName: 'ghost' }],
        [
          'PUT',
          `${BASE}/Groups/${w.group.id}`,
          { schemas: [GROUP], displayName: 'x', members: [{ value: UNKNOWN }] },
        ],
        ['POST', `${BASE}/Bulk`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'] }],
        [
          'POST',
          `${BASE}/Bulk`,
          {
            schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
            Operations: [{ method: 'GET', path: '/Users' }],
          },
        ],
        [
          'POST',
          `${BASE}/Bulk`,
          {
            schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
            Operations: [{ method: 'POST', path: '/Users', bulkId: 'a', data: { schemas: [USER] } }],
          },
        ],
      ];
      for (const [method, path, body] of odd) {
        const res =
          body === undefined
            ? await w.scim.raw(method, path, '', {})
            : await w.scim.raw(method, path, JSON.stringify(body), SCIM_CT);
        expect(res.status, `${method} ${path.slice(0, 120)}: ${res.raw.slice(0, 300)}`).toBeLessThan(500);
        expect(String(res.headers['content-type'] ?? 'application/scim+json'), `${method} ${path}`).toMatch(
          /^application\/scim\+json/,
        );
        if (res.status >= 400) expectScimError(res, res.status, res.body?.scimType);
      }
    });
  });
});
