/**
 * SCIM `/Bulk` (RFC 7644 §3.7): many operations in one request, each its own transaction, with `bulkId`
 * references between them (a resource created by one operation named by the others as `bulkId:<id>`),
 * `failOnErrors`, and the advertised `maxOperations` (the payload size is enforced by the route's body limit).
 */
import type { TenantContext } from '../platform/context.js';
import { isRosterError, RosterError } from '../platform/errors.js';
import type { ScimUrls } from './present.js';
import { BULK_REQUEST, BULK_RESPONSE } from './schemas.js';
import type { ScimService } from './service.js';

type Doc = Record<string, unknown>;

interface BulkOperation {
  readonly method: 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly bulkId?: string;
  readonly version?: string;
  readonly path: string;
  readonly data?: unknown;
}

/** What an operation's failure looks like in the response (the SCIM error schema, rendered by the caller). */
export type ErrorRenderer = (err: RosterError) => { readonly status: string };

const BULK_ID_REF = /^bulkId:(.+)$/;
const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

function syntax(detail: string): RosterError {
  return new RosterError('scim.invalid_syntax', { detail });
}

/** The operations of a BulkRequest, shape-checked. @throws scim.invalid_syntax, scim.bulk_too_large */
function parseRequest(body: unknown, maxOperations: number): { ops: BulkOperation[]; failOnErrors: number } {
  if (!isObject(body)) throw syntax('The body must be a BulkRequest message');
  const schemas = body.schemas;
  if (
    !Array.isArray(schemas) ||
    !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === BULK_REQUEST.toLowerCase())
  ) {
    throw syntax(`schemas must contain '${BULK_REQUEST}'`);
  }
  const failOnErrors = body.failOnErrors;
  if (failOnErrors !== undefined && (!Number.isInteger(failOnErrors) || (failOnErrors as number) < 1)) {
    throw syntax('failOnErrors must be a positive integer');
  }
  const raw = Object.entries(body).find(([k]) => k.toLowerCase() === 'operations')?.[1];
  if (!Array.isArray(raw) || raw.length === 0) throw syntax('Operations must be a non-empty array');
  if (raw.length > maxOperations) {
    throw new RosterError('scim.bulk_too_large', {
      detail: `The request has ${raw.length} operations; maxOperations is ${maxOperations}`,
    });
  }
  const seen = new Set<string>();
  const ops = raw.map((o, i): BulkOperation => {
    if (!isObject(o)) throw syntax(`Operations[${i}] must be an object`);
    const method = typeof o.method === 'string' ? o.method.toUpperCase() : '';
    if (method !== 'POST' && method !== 'PUT' && method !== 'PATCH' && method !== 'DELETE') {
      throw syntax(`Operations[${i}].method must be POST, PUT, PATCH or DELETE`);
    }
    if (typeof o.path !== 'string' || !o.path.startsWith('/'))
      throw syntax(`Operations[${i}].path is required`);
    if (method === 'POST') {
      if (typeof o.bulkId !== 'string' || o.bulkId === '')
        throw syntax(`Operations[${i}].bulkId is required for POST`);
      if (seen.has(o.bulkId)) throw syntax(`Operations[${i}].bulkId repeats an earlier bulkId`);
      seen.add(o.bulkId);
    }
    if (method !== 'DELETE' && !isObject(o.data)) throw syntax(`Operations[${i}].data must be an object`);
    return {
      method,
      path: o.path,
      ...(typeof o.bulkId === 'string' ? { bulkId: o.bulkId } : {}),
      ...(typeof o.version === 'string' ? { version: o.version } : {}),
      ...(o.data !== undefined ? { data: o.data } : {}),
    };
  });
  return { ops, failOnErrors: (failOnErrors as number | undefined) ?? Number.POSITIVE_INFINITY };
}

/** `/Users/bulkId:<id>`: an operation on a resource another operation of the request creates. */
const PATH_REF = /^(\/(?:Users|Groups)\/)bulkId:(.+)$/i;

/** The `bulkId:<id>` references in a value, anywhere (paths and data). */
function references(value: unknown, out: Set<string>): Set<string> {
  if (typeof value === 'string') {
    const id = BULK_ID_REF.exec(value)?.[1] ?? PATH_REF.exec(value)?.[2];
    if (id) out.add(id);
  } else if (Array.isArray(value)) {
    for (const v of value) references(v, out);
  } else if (isObject(value)) {
    for (const v of Object.values(value)) references(v, out);
  }
  return out;
}

/** A copy of `value` with every resolved `bulkId:<id>` replaced by the resource id it stands for. */
function substitute(value: unknown, ids: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') {
    const m = BULK_ID_REF.exec(value);
    if (m?.[1] !== undefined && ids.has(m[1])) return ids.get(m[1]);
    const p = PATH_REF.exec(value);
    return p?.[2] !== undefined && ids.has(p[2]) ? `${p[1]}${ids.get(p[2])}` : value;
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, ids));
  if (isObject(value)) {
    const out: Doc = {};
    for (const [k, v] of Object.entries(value)) {
      Object.defineProperty(out, k, {
        value: substitute(v, ids),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return value;
}

const RESOURCE_PATH = /^\/(Users|Groups)(?:\/([^/]+))?$/i;

/**
 * Runs a BulkRequest. Operations run in order, except that one naming a `bulkId` not yet created waits until
 * it is (RFC 7644 §3.7.1); a reference that can never resolve (unknown, failed or circular) fails its operation
 * with 400 `invalidValue`. After `failOnErrors` failures the rest is not attempted.
 */
export async function runBulk(
  scim: ScimService,
  ctx: TenantContext,
  body: unknown,
  urls: ScimUrls,
  opts: { maxOperations: number; renderError: ErrorRenderer },
): Promise<Doc> {
  const { ops, failOnErrors } = parseRequest(body, opts.maxOperations);
  const ids = new Map<string, string>();
  const results: (Doc | undefined)[] = ops.map(() => undefined);
  let pending = ops.map((_, i) => i);
  let errors = 0;
  const fail = (i: number, err: unknown) => {
    errors += 1;
    const op = ops[i] as BulkOperation;
    const rendered = opts.renderError(
      isRosterError(err) ? err : new RosterError('server.internal', { cause: err }),
    );
    results[i] = {
      method: op.method,
      ...(op.bulkId ? { bulkId: op.bulkId } : {}),
      status: rendered.status,
      response: rendered,
    };
  };
  while (pending.length > 0 && errors < failOnErrors) {
    const waiting: number[] = [];
    let progressed = false;
    for (const i of pending) {
      if (errors >= failOnErrors) break;
      const op = ops[i] as BulkOperation;
      const refs = references([op.path, op.data], new Set());
      const unresolved = [...refs].filter((r) => !ids.has(r));
      const canWait = unresolved.every((r) =>
        ops.some((o, j) => o.bulkId === r && results[j] === undefined && j !== i),
      );
      if (unresolved.length > 0) {
        if (canWait) {
          waiting.push(i);
          continue;
        }
        fail(
          i,
          new RosterError('scim.invalid_value', {
            detail: `Operations[${i}] names a bulkId that was not created`,
          }),
        );
        progressed = true;
        continue;
      }
      progressed = true;
      try {
        results[i] = await runOne(
          scim,
          ctx,
          op,
          substitute(op.path, ids) as string,
          substitute(op.data, ids),
          urls,
          ids,
        );
      } catch (err) {
        fail(i, err);
      }
    }
    if (!progressed) {
      // Every remaining operation waits on another: circular references.
      for (const i of waiting) {
        if (errors >= failOnErrors) break;
        fail(
          i,
          new RosterError('scim.invalid_value', {
            detail: `Operations[${i}] has a circular bulkId reference`,
          }),
        );
      }
      break;
    }
    pending = waiting;
  }
  return {
    schemas: [BULK_RESPONSE],
    Operations: results.filter((r): r is Doc => r !== undefined),
  };
}

async function runOne(
  scim: ScimService,
  ctx: TenantContext,
  op: BulkOperation,
  path: string,
  data: unknown,
  urls: ScimUrls,
  ids: Map<string, string>,
): Promise<Doc> {
  const m = RESOURCE_PATH.exec(path);
  if (!m)
    throw new RosterError('scim.invalid_path', {
      detail: 'path must be /Users, /Groups or one of their resources',
    });
  const users = (m[1] as string).toLowerCase() === 'users';
  const kind = users ? 'User' : 'Group';
  const id = m[2];
  const base = { method: op.method, ...(op.bulkId ? { bulkId: op.bulkId } : {}) };
  if (op.method === 'POST') {
    if (id !== undefined)
      throw new RosterError('scim.invalid_path', { detail: 'POST names a resource type, not a resource' });
    const { doc } = await scim.create(kind, ctx, data, urls);
    ids.set(op.bulkId as string, doc.id as string);
    return {
      ...base,
      location: (doc.meta as Doc).location,
      version: (doc.meta as Doc).version,
      status: '201',
    };
  }
  if (id === undefined)
    throw new RosterError('scim.invalid_path', { detail: `${op.method} names a resource` });
  if (op.method === 'DELETE') {
    await scim.remove(kind, ctx, id, op.version, urls);
    return { ...base, location: `${urls.base}/${users ? 'Users' : 'Groups'}/${id}`, status: '204' };
  }
  const run =
    op.method === 'PUT'
      ? scim.replace(kind, ctx, id, data, op.version, urls)
      : scim.patch(kind, ctx, id, data, op.version, urls);
  const { doc } = await run;
  return { ...base, location: (doc.meta as Doc).location, version: (doc.meta as Doc).version, status: '200' };
}
