/**
 * What the route-table-generated suites (test/http/rest, test/security) need to call the SCIM 2.0 routes under
 * /scim/v2 and to check their errors. SCIM errors are not problem+json: they use the SCIM error schema
 * (RFC 7644 §3.12) rendered by `scimErrorOf` (src/platform/http/problem.ts): `application/scim+json`,
 * `schemas: [Error]`, `status` as a string, `scimType` where one applies, `detail`, and Roster's `code` and
 * `requestId` (and `permission` on `auth.forbidden`), but no `type` or `title`. A body failing validation is
 * 400 there (SCIM has no 422).
 */
import { expect } from 'vitest';
import { ERROR_CATALOGUE, type ErrorCode } from '../../src/platform/errors.js';
import type { Answer } from './app.js';

export const SCIM_BASE = '/scim/v2';
export const SCIM_USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const SCIM_GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const SCIM_ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const SCIM_ROSTER = 'urn:roster:params:scim:schemas:extension:roster:1.0:User';
export const SCIM_PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
export const SCIM_SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const SCIM_BULK = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const SCIM_BULK_RESPONSE = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';
export const SCIM_LIST = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const SCIM_ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

/** The SCIM media type (application/json works too). */
export const SCIM_CT = { 'content-type': 'application/scim+json' };

/** Whether a path (or route pattern) is under /scim/v2, where errors use the SCIM error schema. */
export const isScim = (url: string): boolean =>
  url === SCIM_BASE || url.startsWith(`${SCIM_BASE}/`) || url.startsWith(`${SCIM_BASE}?`);

/**
 * The SCIM routes that read through POST (RFC 7644 §3.4.3): a search changes nothing and is audited as
 * nothing, like a GET.
 */
export const SCIM_SEARCHES: ReadonlySet<string> = new Set([
  `POST ${SCIM_BASE}/Users/.search`,
  `POST ${SCIM_BASE}/Groups/.search`,
  `POST ${SCIM_BASE}/.search`,
]);

/** Whether the request `method url` reads only (a GET, or a SCIM search). */
export const readsOnly = (r: { method: string; url: string }): boolean =>
  r.method === 'GET' || SCIM_SEARCHES.has(`${r.method} ${r.url}`);

/**
 * Path parameters of the SCIM discovery routes: names of what every tenant shares (the published schemas and
 * resource types), not things of one tenant. Another tenant's "id" of them is the same id.
 */
export const SCIM_SHARED_PARAMS: Readonly<Record<string, string>> = {
  'Schemas/:id': SCIM_USER,
  'ResourceTypes/:id': 'User',
};

/** Bodies of the SCIM write routes (RFC 7644 §3.3, §3.5.1, §3.5.2, §3.4.3, §3.7). */
export const scimBody = {
  user: (userName: string, extra: Record<string, unknown> = {}) => ({
    schemas: [SCIM_USER],
    userName,
    ...extra,
  }),
  group: (displayName: string, extra: Record<string, unknown> = {}) => ({
    schemas: [SCIM_GROUP],
    displayName,
    ...extra,
  }),
  patch: (path: string, value: unknown, op = 'replace') => ({
    schemas: [SCIM_PATCH_OP],
    Operations: [{ op, path, value }],
  }),
  search: (extra: Record<string, unknown> = { count: 1 }) => ({ schemas: [SCIM_SEARCH], ...extra }),
  bulk: (operations: unknown[]) => ({ schemas: [SCIM_BULK], Operations: operations }),
  /** A BulkRequest creating one user. */
  bulkUser: (userName: string) => ({
    schemas: [SCIM_BULK],
    Operations: [{ method: 'POST', bulkId: 'b1', path: '/Users', data: { schemas: [SCIM_USER], userName } }],
  }),
};

/**
 * A SCIM error answer (RFC 7644 §3.12) with this HTTP status (and Roster code, when given): the SCIM media
 * type, `schemas` the Error message, `status` the status as a string, a `detail`, the request id of the
 * answer, and none of problem+json's members (`type`, `title`). A 5xx names no cause.
 */
export function expectScimError(res: Answer, status: number, code?: string, what = ''): void {
  expect(res.status, `${what} ${res.raw.slice(0, 400)}`).toBe(status);
  expect(String(res.headers['content-type']), `${what}: content type`).toMatch(
    /^application\/scim\+json\s*(;|$)/,
  );
  if (res.body === undefined) return; // HEAD
  expect(res.body.schemas, `${what}: schemas`).toEqual([SCIM_ERROR]);
  expect(res.body.status, `${what}: status (a string)`).toBe(String(status));
  expect(typeof res.body.detail, `${what}: detail`).toBe('string');
  expect(Object.keys(ERROR_CATALOGUE), `${what}: a code of the catalogue`).toContain(res.body.code);
  expect(res.body.type, `${what}: no problem+json type`).toBeUndefined();
  expect(res.body.title, `${what}: no problem+json title`).toBeUndefined();
  if (res.headers['x-request-id'] !== undefined)
    expect(res.body.requestId, `${what}: requestId`).toBe(res.headers['x-request-id']);
  if (code !== undefined) expect(res.body.code, `${what}: code`).toBe(code);
  if (status >= 500) expect(res.body.detail, what).toBe(ERROR_CATALOGUE[res.body.code as ErrorCode].title);
}

/** A problem+json answer (RFC 9457) with this status (and code, when given). */
export function expectProblemJson(res: Answer, status: number, code?: string, what = ''): void {
  expect(res.status, `${what} ${res.raw.slice(0, 400)}`).toBe(status);
  expect(String(res.headers['content-type']), `${what}: content type`).toMatch(/^application\/problem\+json/);
  if (res.body === undefined) return; // HEAD
  expect(res.body.status, what).toBe(status);
  if (code !== undefined) {
    expect(res.body.code, what).toBe(code);
    expect(res.body.type, what).toBe(`urn:roster:problem:${code}`);
  }
}

/** The error of a request to `url`: the SCIM error schema under /scim/v2, problem+json elsewhere. */
export function expectErrorAt(url: string, res: Answer, status: number, code?: string, what = ''): void {
  if (isScim(url)) expectScimError(res, status, code, what);
  else expectProblemJson(res, status, code, what);
}

/**
 * A 403 `auth.forbidden` of a request to `url` naming the missing permission: problem+json's `permission`, and
 * under /scim/v2 the same `permission` member of the SCIM error (and the permission in its `detail`).
 */
export function expectForbiddenAt(url: string, res: Answer, permission: string, what = ''): void {
  expectErrorAt(url, res, 403, 'auth.forbidden', what);
  if (res.body === undefined) return;
  expect(res.body.permission, `${what}: the permission named`).toBe(permission);
  if (isScim(url)) expect(res.body.detail, `${what}: the permission in the detail`).toContain(permission);
}

/** The SCIM `scimType` of a 400 (or 409 `uniqueness`). */
export function expectScimType(res: Answer, scimType: string, what = ''): void {
  expect(res.body?.scimType, `${what}: scimType ${res.raw.slice(0, 300)}`).toBe(scimType);
}
