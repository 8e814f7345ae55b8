import { createHash } from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { ADMIN_TOKEN, type Answer, useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

const UNKNOWN = '01890000-0000-7000-8000-000000000000';
const TOKEN_FORMAT = /^rst_[A-Za-z0-9_-]+$/;

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The secret and its hash appear nowhere in an answer (body or headers). */
function expectNoSecret(res: Answer, secret: string): void {
  const everything = `${res.raw}\n${JSON.stringify(res.headers)}`;
  expect(everything).not.toContain(secret);
  expect(everything).not.toContain(secret.slice(4));
  expect(everything.toLowerCase()).not.toContain(sha256(secret));
  expect(everything.toLowerCase()).not.toContain(createHash('sha256').update(secret).digest('base64url'));
}

describeEachStore('REST tokens', (kind) => {
  const t = useTestApp(kind);

  async function mint(body: Record<string, unknown>) {
    const res = await t().admin.post('/api/v1/tokens', body);
    expect(res.status, res.raw).toBe(201);
    return { id: res.body.id as string, secret: res.body.token as string, body: res.body, res };
  }

  describe('create', () => {
    it('mints a tenant token: 201 {id, token}, a prefixed secret of at least 256 bits, shown once', async () => {
      const { tenantId } = await t().newTenant();
      const before = Date.now();
      const { id, secret, body, res } = await mint({ tenantId, name: 'ci', roles: ['tenant-admin'] });
      expect(res.headers['cache-control']).toBe('no-store');
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(body).toMatchObject({
        id,
        tenantId,
        name: 'ci',
        roles: ['tenant-admin'],
        expiresAt: null,
        revokedAt: null,
        lastUsedAt: null,
      });
      expect(Date.parse(body.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(body).not.toHaveProperty('tokenHash');
      expect(body).not.toHaveProperty('token_hash');
      // base64url of at least 32 random bytes: 43+ characters of a 64-symbol alphabet = 6 bits each
      expect(secret).toMatch(TOKEN_FORMAT);
      const random = secret.slice('rst_'.length);
      expect(random.length * 6).toBeGreaterThanOrEqual(256);
      expect(random.length).toBeGreaterThanOrEqual(43);
      expect(Buffer.from(random, 'base64url').length).toBeGreaterThanOrEqual(32);
      // it authenticates, bound to its tenant
      const self = await t().client(secret).get(`/api/v1/tenants/${tenantId}`);
      expect(self.status, self.raw).toBe(200);
      expect(self.body.id).toBe(tenantId);
    });

    it('never repeats a secret', async () => {
      const { tenantId } = await t().newTenant();
      const secrets = new Set<string>();
      for (let i = 0; i < 10; i++) secrets.add((await mint({ tenantId, name: `t${i}`, roles: [] })).secret);
      expect(secrets.size).toBe(10);
      const chars = new Set([...secrets].join(''));
      // a random 256-bit secret spans the alphabet; a counter or a hex string would not
      expect(chars.size).toBeGreaterThan(40);
    });

    it('GET /tokens and GET /tokens/{id} never show the secret nor its hash', async () => {
      const { tenantId } = await t().newTenant();
      const { id, secret, body } = await mint({ tenantId, name: 'hidden', roles: ['tenant-admin'] });
      // use it once so that every stored column is filled
      expect((await t().client(secret).get('/api/v1/users')).status).toBe(200);
      const one = await t().admin.get(`/api/v1/tokens/${id}`);
      expect(one.status).toBe(200);
      expect(one.body).not.toHaveProperty('token');
      expect(one.body).toMatchObject({
        id,
        tenantId,
        name: 'hidden',
        roles: ['tenant-admin'],
        createdAt: body.createdAt,
      });
      expectNoSecret(one, secret);
      const list = await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}`);
      expect(list.status).toBe(200);
      expect(list.body.items.map((x: { id: string }) => x.id)).toContain(id);
      for (const item of list.body.items) expect(item).not.toHaveProperty('token');
      expectNoSecret(list, secret);
      const all = await t().admin.get('/api/v1/tokens?limit=200');
      expectNoSecret(all, secret);
    });

    it('is for platform tokens only', async () => {
      const { tenantId, api } = await t().newTenant();
      const denied = await api.post('/api/v1/tokens', { tenantId, name: 'escalate', roles: [] });
      expect(denied.status).toBe(403);
      expect((await api.get('/api/v1/tokens')).status).toBe(403);
      const anon = t().client(undefined);
      expect((await anon.post('/api/v1/tokens', { name: 'anon' })).status).toBe(401);
      expect((await anon.get('/api/v1/tokens')).status).toBe(401);
      const list = await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}`);
      expect(list.body.items.map((x: { name: string }) => x.name)).toEqual(['test']);
    });

    it('answers 404 when the tenant does not exist, and stores nothing', async () => {
      const before = await t().admin.get('/api/v1/tokens?limit=200');
      const res = await t().admin.post('/api/v1/tokens', { tenantId: UNKNOWN, name: 'orphan', roles: [] });
      expect(res.status).toBe(404);
      expect(res.body.code).toBe('tenants.not_found');
      expect(res.body).not.toHaveProperty('token');
      const after = await t().admin.get('/api/v1/tokens?limit=200');
      expect(after.body.items).toEqual(before.body.items);
    });

    it('rejects invalid bodies with 422', async () => {
      const { tenantId } = await t().newTenant();
      for (const body of [
        {},
        { tenantId, name: '' },
        { tenantId: 'nope', name: 'x' },
        { tenantId, name: 'x', roles: ['Not Valid'] },
        { tenantId, name: 'x', expiresAt: 'tomorrow' },
        { tenantId, name: 'x', token: 'rst_chosen-by-the-caller-0123456789' },
      ]) {
        const res = await t().admin.post('/api/v1/tokens', body);
        expect(res.status, JSON.stringify(body)).toBe(422);
      }
    });

    it('mints platform tokens that act on the platform and, with Roster-Tenant, on a tenant', async () => {
      const { id, secret, body } = await mint({ name: 'platform-bot', roles: ['platform-admin'] });
      expect(body.tenantId).toBeNull();
      const platform = t().client(secret);
      const tenant = await platform.post('/api/v1/tenants', { name: `made-by-token-${id}` });
      expect(tenant.status, tenant.raw).toBe(201);
      const user = await platform.post(
        '/api/v1/users',
        { userName: 'via-platform' },
        { 'roster-tenant': tenant.body.id },
      );
      expect(user.status, user.raw).toBe(201);
      expect((await platform.get('/api/v1/users')).status).toBe(403);
      const listed = await t().admin.get('/api/v1/tokens?limit=200');
      const mine = listed.body.items.find((x: { id: string }) => x.id === id);
      expect(mine).toMatchObject({ tenantId: null, name: 'platform-bot', createdBy: 'admin-token' });
    });
  });

  describe('expiry', () => {
    it('rejects an expiresAt in the past or now with 422, storing nothing', async () => {
      const { tenantId } = await t().newTenant();
      for (const expiresAt of [new Date(Date.now() - 60_000).toISOString(), '2000-01-01T00:00:00Z']) {
        const res = await t().admin.post('/api/v1/tokens', { tenantId, name: 'past', roles: [], expiresAt });
        expect(res.status, res.raw).toBe(422);
        expect(res.body.code).toBe('tokens.invalid_expiry');
        expect(res.body.errors).toEqual([expect.objectContaining({ pointer: '/expiresAt' })]);
      }
      const list = await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}`);
      expect(list.body.items.map((x: { name: string }) => x.name)).toEqual(['test']);
    });

    it('accepts a future expiry, works until then, and answers 401 after it', async () => {
      const { tenantId } = await t().newTenant();
      const expiresAt = new Date(Date.now() + 1500);
      const { id, secret, body } = await mint({
        tenantId,
        name: 'short-lived',
        roles: [],
        expiresAt: expiresAt.toISOString(),
      });
      expect(body.expiresAt).toBe(expiresAt.toISOString());
      const api = t().client(secret);
      expect((await api.get('/api/v1/users')).status).toBe(200);
      await sleep(Math.max(0, expiresAt.getTime() - Date.now()) + 100);
      const late = await api.get('/api/v1/users');
      expect(late.status).toBe(401);
      expect(late.headers['www-authenticate']).toBe('Bearer');
      expect((await t().admin.get(`/api/v1/tokens/${id}`)).body.expiresAt).toBe(expiresAt.toISOString());
    });

    it('stores an expiry given with an offset as UTC', async () => {
      const { tenantId } = await t().newTenant();
      const { body } = await mint({
        tenantId,
        name: 'offset',
        roles: [],
        expiresAt: '2999-06-01T12:00:00+02:00',
      });
      expect(body.expiresAt).toBe('2999-06-01T10:00:00.000Z');
    });
  });

  describe('revocation', () => {
    it('revokes at once; revoking again changes nothing; unknown ids answer 404', async () => {
      const { tenantId } = await t().newTenant();
      const { id, secret } = await mint({ tenantId, name: 'doomed', roles: [] });
      const api = t().client(secret);
      expect((await api.get('/api/v1/users')).status).toBe(200);
      const revoked = await t().admin.delete(`/api/v1/tokens/${id}`);
      expect(revoked.status, revoked.raw).toBe(200);
      expect(revoked.body).toMatchObject({ id, tenantId, name: 'doomed' });
      expect(Date.parse(revoked.body.revokedAt)).not.toBeNaN();
      expectNoSecret(revoked, secret);
      const after = await api.get('/api/v1/users');
      expect(after.status).toBe(401);
      expect((await api.get(`/api/v1/tenants/${tenantId}`)).status).toBe(401);

      const read = await t().admin.get(`/api/v1/tokens/${id}`);
      expect(read.body.revokedAt).toBe(revoked.body.revokedAt);
      const again = await t().admin.delete(`/api/v1/tokens/${id}`);
      expect(again.status).toBe(200);
      expect(again.body.revokedAt).toBe(revoked.body.revokedAt);
      expect((await t().admin.delete(`/api/v1/tokens/${UNKNOWN}`)).status).toBe(404);
      expect((await t().admin.get(`/api/v1/tokens/${UNKNOWN}`)).status).toBe(404);
      expect((await t().admin.get('/api/v1/tokens/not-a-uuid')).status).toBe(400);
    });

    it('a revoked platform token loses platform access at once', async () => {
      const { id, secret } = await mint({ name: 'platform-doomed', roles: ['platform-admin'] });
      const api = t().client(secret);
      expect((await api.get('/api/v1/tokens')).status).toBe(200);
      expect((await t().admin.delete(`/api/v1/tokens/${id}`)).status).toBe(200);
      expect((await api.get('/api/v1/tokens')).status).toBe(401);
      expect((await api.post('/api/v1/tenants', { name: `after-revoke-${id}` })).status).toBe(401);
    });

    it('a tenant token cannot revoke tokens', async () => {
      const { tenantId, api } = await t().newTenant();
      const { id, secret } = await mint({ tenantId, name: 'victim', roles: [] });
      expect((await api.delete(`/api/v1/tokens/${id}`)).status).toBe(403);
      expect((await t().client(secret).get('/api/v1/users')).status).toBe(200);
    });
  });

  describe('last use', () => {
    it('sets lastUsedAt after the token is used', async () => {
      const { tenantId } = await t().newTenant();
      const { id, secret, body } = await mint({ tenantId, name: 'tracked', roles: [] });
      expect((await t().admin.get(`/api/v1/tokens/${id}`)).body.lastUsedAt).toBeNull();
      const used = Date.now();
      expect((await t().client(secret).get('/api/v1/users')).status).toBe(200);
      await vi.waitFor(
        async () => {
          const read = await t().admin.get(`/api/v1/tokens/${id}`);
          expect(read.body.lastUsedAt).not.toBeNull();
        },
        { timeout: 5000, interval: 50 },
      );
      const read = await t().admin.get(`/api/v1/tokens/${id}`);
      const last = Date.parse(read.body.lastUsedAt);
      expect(last).toBeGreaterThanOrEqual(Date.parse(body.createdAt));
      expect(last).toBeGreaterThanOrEqual(used - 1000);
      expect(last).toBeLessThanOrEqual(Date.now() + 1000);
    });
  });

  describe('list', () => {
    it('pages every token once and filters by tenant', async () => {
      const { tenantId } = await t().newTenant();
      const minted = [(await t().admin.get(`/api/v1/tokens?tenantId=${tenantId}`)).body.items[0].id];
      for (let i = 0; i < 4; i++) minted.push((await mint({ tenantId, name: `p${i}`, roles: [] })).id);
      const seen: string[] = [];
      let cursor: string | undefined;
      const sizes: number[] = [];
      do {
        const res = await t().admin.get(
          `/api/v1/tokens?tenantId=${tenantId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
        );
        expect(res.status, res.raw).toBe(200);
        sizes.push(res.body.items.length);
        for (const item of res.body.items) expect(item.tenantId).toBe(tenantId);
        seen.push(...res.body.items.map((x: { id: string }) => x.id));
        cursor = res.body.nextCursor;
      } while (cursor !== undefined);
      expect(sizes).toEqual([2, 2, 1]);
      expect(seen).toEqual(minted);
      expect((await t().admin.get(`/api/v1/tokens?tenantId=${UNKNOWN}`)).body.items).toEqual([]);
    });
  });

  it('the admin token itself is accepted; unknown, malformed and missing tokens are 401', async () => {
    expect((await t().client(ADMIN_TOKEN).get('/api/v1/tokens')).status).toBe(200);
    for (const header of [
      'Bearer rst_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
      'Bearer short',
      `Basic ${Buffer.from(`x:${ADMIN_TOKEN}`).toString('base64')}`,
      `${ADMIN_TOKEN}`,
    ]) {
      const res = await t().client(undefined).get('/api/v1/tokens', { authorization: header });
      expect(res.status, header).toBe(401);
    }
  });
});
