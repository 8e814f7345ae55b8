/**
 * Shared helpers of the SCIM HTTP tests (test/http/scim): the message schemas, answer checks, a client that
 * fails on any 5xx, and a tenant with a least-privilege provisioner token.
 */
import { expect } from 'vitest';
import type { Answer, Client, TestApp } from './app.js';

export const BASE = '/scim/v2';
export const SCIM_CT = { 'content-type': 'application/scim+json' };
export const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const ROSTER = 'urn:roster:params:scim:schemas:extension:roster:1.0:User';
export const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
export const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const LIST_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const WEAK_ETAG = /^W\/"[^"]+"$/;

// biome-ignore lint/suspicious/noExplicitAny: SCIM documents are inspected loosely
export type Doc = Record<string, any>;

export const patchOf = (...ops: Record<string, unknown>[]) => ({ schemas: [PATCH_OP], Operations: ops });
export const q = (filter: string) => encodeURIComponent(filter);

export function expectScim(res: Answer, status: number): void {
  expect(res.status, res.raw).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/scim\+json\s*(;|$)/);
}

export function expectScimError(res: Answer, status: number, scimType?: string): void {
  expectScim(res, status);
  expect(res.body).toMatchObject({ schemas: [ERROR], status: String(status) });
  if (scimType !== undefined) expect(res.body.scimType).toBe(scimType);
}

/** The resource's ETag header equals its meta.version, a weak entity tag. */
export function expectVersioned(res: Answer): string {
  expect(res.headers.etag, res.raw).toMatch(WEAK_ETAG);
  expect(res.body.meta.version).toBe(res.headers.etag);
  return res.headers.etag as string;
}

/** Every answer is checked: never a 5xx. Writes default to application/scim+json. */
export function guarded(c: Client): Client {
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

/** A tenant: `scim` is a provisioner token (least privilege), `api` its tenant-admin REST client. */
export async function scimTenant(t: TestApp) {
  const { tenantId, api } = await t.newTenant();
  const tok = await t.admin.post('/api/v1/tokens', { tenantId, name: 'idp', roles: ['provisioner'] });
  expect(tok.status, tok.raw).toBe(201);
  return {
    tenantId,
    api: guarded(api),
    scim: guarded(t.client(tok.body.token)),
    actor: `token:${tok.body.id}`,
  };
}
