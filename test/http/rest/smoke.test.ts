import { expect, it } from 'vitest';
import { useTestApp } from '../../support/app.js';
import { describeEachStore } from '../../support/stores.js';

describeEachStore('users smoke', (kind) => {
  const t = useTestApp(kind);
  it('creates, reads, patches and deletes a user', async () => {
    const { api } = await t().newTenant();
    const created = await api.post('/api/v1/users', {
      userName: 'Alice@Example.com',
      name: { givenName: 'Alice', familyName: 'Liddell' },
      emails: [{ value: 'alice@example.com', type: 'work', primary: true }],
      location: { site: 'ber-1', country: 'de' },
      department: 'Research',
    });
    expect(created.status, created.raw).toBe(201);
    expect(created.body.location).toEqual({ site: 'ber-1', country: 'DE' });
    expect(created.headers.etag).toBe('W/"1"');
    const id = created.body.id;
    const read = await api.get(`/api/v1/users/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.userName).toBe('Alice@Example.com');
    const patched = await api.patch(
      `/api/v1/users/${id}`,
      { title: 'Dr', name: { givenName: null } },
      { 'if-match': 'W/"1"' },
    );
    expect(patched.status, patched.raw).toBe(200);
    expect(patched.body.name).toEqual({ familyName: 'Liddell' });
    expect(patched.body.version).toBe(2);
    const stale = await api.patch(`/api/v1/users/${id}`, { title: 'Prof' }, { 'if-match': 'W/"1"' });
    expect(stale.status).toBe(412);
    const dup = await api.post('/api/v1/users', { userName: 'alice@EXAMPLE.com' });
    expect(dup.status).toBe(409);
    const byName = await api.get('/api/v1/users?userName=ALICE@example.com');
    expect(byName.body.items.map((u: { id: string }) => u.id)).toEqual([id]);
    const del = await api.delete(`/api/v1/users/${id}`);
    expect(del.status).toBe(204);
    expect((await api.get(`/api/v1/users/${id}`)).status).toBe(404);
  });
});
