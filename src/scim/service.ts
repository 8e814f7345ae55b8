import { createHash } from 'node:crypto';
/**
 * SCIM 2.0 resources over Roster's users and groups (RFC 7644 §3). Every change goes through the identity
 * services, so SCIM writes get the same encryption, uniqueness, audit entries (in the same transaction),
 * tenant isolation and license hooks (a deactivated or deleted user loses their seats) as the REST API.
 */
import type { Group, GroupInput, User, UserInput } from '../identity/model.js';
import type { GroupService, UserService } from '../identity/service.js';
import type { LicenseService } from '../licenses/service.js';
import { canonicalJson } from '../platform/canonical-json.js';
import type { TenantContext } from '../platform/context.js';
import type { GroupCommitter } from '../platform/db/group-commit.js';
import { RosterError } from '../platform/errors.js';
import { etagOf } from '../platform/etag.js';
import type { AttrPath, Filter } from './ast.js';
import { applyPatch } from './patch.js';
import { groupInputOf, groupResource, type ScimUrls, userInputOf, userResource } from './present.js';
import { filterPerKind, groupCondition, groupSort, matchesUser, userCondition, userSort } from './query.js';
import {
  coerce,
  LIST_RESPONSE,
  project,
  type ResourceName,
  ROSTER_USER_SCHEMA,
  resolveAttribute,
  validateResource,
} from './schemas.js';
import { checkGroupInput, checkUserInput } from './validate.js';

type Doc = Record<string, unknown>;
export type ResourceKind = ResourceName;

/** A resource and the version of its row. */
export interface Resource {
  readonly doc: Doc;
  readonly version: number;
}

/** The resource types a search from the root covers, in the order it lists them. */
const ROOT_KINDS: readonly ResourceKind[] = ['User', 'Group'];

/** A list or search request, parsed (RFC 7644 §3.4.2). */
export interface ListQuery {
  readonly filter?: Filter;
  readonly sortBy?: AttrPath;
  readonly descending: boolean;
  /** 1-based. */
  readonly startIndex: number;
  readonly count: number;
  readonly attributes?: readonly AttrPath[];
  readonly excludedAttributes?: readonly AttrPath[];
}

export interface Projection {
  readonly attributes?: readonly AttrPath[];
  readonly excludedAttributes?: readonly AttrPath[];
}

interface Deps {
  readonly users: UserService;
  readonly groups: GroupService;
  readonly licenses: LicenseService;
  /** Creates go through group commit when given (identity providers create users in bursts). */
  readonly committer?: GroupCommitter;
}

/**
 * Most candidates an inexact search on encrypted attributes (co, ew, a long sw) decrypts and checks; past it
 * the client gets `tooMany` (RFC 7644 §3.12) and is asked to narrow the filter.
 */
export const VERIFY_MAX = 10_000;

/** How often a PATCH is retried when a concurrent writer changed the resource between read and write. */
const PATCH_ATTEMPTS = 3;

type Row = { readonly id: string; readonly version: number };

/**
 * What differs between Users and Groups; every SCIM operation is written once over it. Method syntax keeps
 * each kind's table assignable to `KindOps<Row, unknown>`.
 */
interface KindOps<R extends Row, I> {
  readonly name: ResourceKind;
  /** PATCH `add`/`replace` through a value filter that matches nothing adds the value (e-mails, phones). */
  readonly createOnNoMatch: boolean;
  load(ctx: TenantContext, id: string): Promise<R>;
  /** The resources of a page of rows, with what they show besides their own row, read in a few queries. */
  docs(ctx: TenantContext, rows: readonly R[], urls: ScimUrls, q?: Projection): Promise<Doc[]>;
  /** The resource's entity tag (`meta.version`), for `If-Match`. */
  tag(ctx: TenantContext, row: R, urls: ScimUrls): Promise<string>;
  createInput(doc: Doc): I;
  insert(ctx: TenantContext, input: I): Promise<R>;
  /** The change a PUT document asks for, or a patched one (`before`: the resource it was patched from). */
  updateInput(after: Doc, before?: Doc): I;
  update(ctx: TenantContext, id: string, input: I, ifMatch: string): Promise<R>;
  delete(ctx: TenantContext, id: string, ifMatch: string): Promise<void>;
  search(ctx: TenantContext, q: ListQuery): Promise<{ total: number; rows: R[] }>;
}

export class ScimService {
  readonly #d: Deps;
  readonly #kinds: Record<ResourceKind, KindOps<Row, unknown>>;

  constructor(deps: Deps) {
    this.#d = deps;
    const users: KindOps<User, UserInput> = {
      name: 'User',
      createOnNoMatch: true,
      load: (ctx, id) => deps.users.get(ctx, id),
      docs: (ctx, rows, urls) => this.#userDocs(ctx, rows, urls),
      // Derived from the groups and seats the resource shows (#userDocs).
      tag: async (ctx, row, urls) => {
        const [doc] = await this.#userDocs(ctx, [row], urls);
        return tagOf(doc as Doc);
      },
      createInput: (doc) => {
        const input = userInputOf(doc, 'create');
        checkUserInput(input);
        return input;
      },
      insert: (ctx, input) =>
        deps.committer ? deps.users.createGrouped(deps.committer, ctx, input) : deps.users.create(ctx, input),
      updateInput: (after, before) => {
        const input = userInputOf(after, 'replace');
        checkUserInput(input);
        return before ? patchedInput(before, after, input) : input;
      },
      update: (ctx, id, input, ifMatch) => deps.users.update(ctx, id, input, ifMatch),
      delete: (ctx, id, ifMatch) => deps.users.delete(ctx, id, ifMatch),
      search: (ctx, q) => this.#searchUsers(ctx, q),
    };
    const groups: KindOps<Group, GroupInput> = {
      name: 'Group',
      createOnNoMatch: false,
      load: (ctx, id) => deps.groups.get(ctx, id),
      docs: async (ctx, rows, urls, q) => {
        // Members are read only when the answer will carry them: a listing that excludes them stays cheap.
        const members =
          q && excludes(q, 'members')
            ? undefined
            : await deps.groups.memberIdsOf(
                ctx,
                rows.map((g) => g.id),
              );
        return rows.map((g) => groupResource(g, members ? (members.get(g.id) ?? []) : undefined, urls));
      },
      // A group's members change its version: the tag needs no read of them.
      tag: async (_ctx, row) => etagOf(row.version),
      createInput: (doc) => this.#groupInput(doc, false),
      insert: (ctx, input) => deps.groups.create(ctx, input),
      updateInput: (after) => this.#groupInput(after, true),
      update: (ctx, id, input, ifMatch) => deps.groups.update(ctx, id, input, ifMatch),
      delete: (ctx, id, ifMatch) => deps.groups.delete(ctx, id, ifMatch),
      search: async (ctx, q) => {
        const condition = q.filter ? groupCondition(q.filter) : ({ kind: 'all' } as const);
        const sort = q.sortBy ? groupSort(q.sortBy, q.descending) : undefined;
        const { total, groups } = await deps.groups.search(ctx, condition, {
          offset: q.startIndex - 1,
          limit: q.count,
          ...(sort ? { sort } : {}),
        });
        return { total, rows: groups };
      },
    };
    this.#kinds = { User: users, Group: groups } as Record<ResourceKind, KindOps<Row, unknown>>;
  }

  /** GET /{Users|Groups}/{id}. */
  async get(kind: ResourceKind, ctx: TenantContext, id: string, urls: ScimUrls): Promise<Resource> {
    const k = this.#kinds[kind];
    return this.#resource(k, ctx, await k.load(ctx, id), urls);
  }

  /** POST /Users, /Groups. @throws identity.user_name_taken (409 uniqueness), scim.invalid_value */
  async create(kind: ResourceKind, ctx: TenantContext, body: unknown, urls: ScimUrls): Promise<Resource> {
    const k = this.#kinds[kind];
    const input = k.createInput(this.#incoming(kind, body, 'create'));
    return this.#resource(k, ctx, await k.insert(ctx, input), urls);
  }

  /** PUT /{Users|Groups}/{id}: every writable attribute becomes what the document says. */
  async replace(
    kind: ResourceKind,
    ctx: TenantContext,
    id: string,
    body: unknown,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<Resource> {
    const k = this.#kinds[kind];
    const doc = this.#incoming(kind, body, 'replace');
    if (typeof doc.id === 'string' && doc.id !== id) {
      throw new RosterError('scim.mutability', { detail: 'id is read-only and differs from the URL' });
    }
    const input = k.updateInput(doc);
    const current = await this.#matching(k, ctx, id, ifMatch, urls);
    return this.#resource(k, ctx, await k.update(ctx, id, input, etagOf(current.version)), urls);
  }

  /**
   * PATCH /{Users|Groups}/{id} (RFC 7644 §3.5.2): applied to the current resource, written as one update.
   * Without `If-Match`, a concurrent change between the read and the write re-applies the operations to the
   * new state (up to PATCH_ATTEMPTS times); with it, the client's tag decides.
   */
  async patch(
    kind: ResourceKind,
    ctx: TenantContext,
    id: string,
    body: unknown,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<Resource> {
    const k = this.#kinds[kind];
    const operations = patchOperations(body);
    for (let attempt = 1; ; attempt++) {
      const current = await k.load(ctx, id);
      const before = await this.#resource(k, ctx, current, urls);
      if (ifMatch !== undefined) checkTag(ifMatch, before.doc);
      const { doc, changed } = applyPatch(before.doc, operations, (p) => resolveAttribute(kind, p), {
        createOnNoMatch: k.createOnNoMatch,
      });
      if (!changed) return before;
      try {
        const input = k.updateInput(doc, before.doc);
        return this.#resource(k, ctx, await k.update(ctx, id, input, etagOf(current.version)), urls);
      } catch (err) {
        if (!(ifMatch === undefined && attempt < PATCH_ATTEMPTS && lostRace(err))) throw err;
      }
    }
  }

  /** DELETE /{Users|Groups}/{id}. */
  async remove(
    kind: ResourceKind,
    ctx: TenantContext,
    id: string,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<void> {
    const k = this.#kinds[kind];
    const current = await this.#matching(k, ctx, id, ifMatch, urls);
    await k.delete(ctx, id, etagOf(current.version));
  }

  /** GET /{Users|Groups} and POST /{Users|Groups}/.search: a ListResponse. */
  async list(kind: ResourceKind, ctx: TenantContext, q: ListQuery, urls: ScimUrls): Promise<Doc> {
    const { total, docs } = await this.#page(this.#kinds[kind], ctx, q, urls);
    return listResponse(total, q.startIndex, docs);
  }

  /**
   * A search from the service provider's root, `GET /` or `POST /.search` (RFC 7644 §3.4.2, §3.4.3): Users,
   * then Groups, paged over both. A filtered attribute that a resource type lacks has no value there (an
   * equality or presence test on it is false, §3.4.2.2); one that neither has is an invalidFilter.
   * `sortBy` is refused: the two types sort in separate queries, and a merge outside the database could
   * order differently from either.
   * @throws scim.invalid_filter, scim.invalid_value
   */
  async search(ctx: TenantContext, q: ListQuery, urls: ScimUrls): Promise<Doc> {
    if (q.sortBy) {
      throw new RosterError('scim.invalid_value', {
        detail: 'sortBy is not supported on a search from the root; search /Users or /Groups to sort',
      });
    }
    const filters = q.filter ? filterPerKind(q.filter, ROOT_KINDS) : undefined;
    const docs: Doc[] = [];
    let total = 0;
    for (const kind of ROOT_KINDS) {
      const filter = filters ? filters[kind] : true;
      if (filter === false) continue;
      // This type's part of the page: from where the page starts, past the types listed before it.
      const offset = Math.max(0, q.startIndex - 1 - total);
      const { filter: _, ...rest } = q;
      const part = await this.#page(
        this.#kinds[kind],
        ctx,
        {
          ...rest,
          ...(filter === true ? {} : { filter }),
          startIndex: offset + 1,
          count: q.count - docs.length,
        },
        urls,
      );
      total += part.total;
      docs.push(...part.docs);
    }
    return listResponse(total, q.startIndex, docs);
  }

  // ---- helpers

  async #page(
    k: KindOps<Row, unknown>,
    ctx: TenantContext,
    q: ListQuery,
    urls: ScimUrls,
  ): Promise<{ total: number; docs: Doc[] }> {
    const { total, rows } = await k.search(ctx, q);
    const docs = (await k.docs(ctx, rows, urls, q)).map((d) => project(k.name, d, q));
    return { total, docs };
  }

  async #resource(k: KindOps<Row, unknown>, ctx: TenantContext, row: Row, urls: ScimUrls): Promise<Resource> {
    const [doc] = await k.docs(ctx, [row], urls);
    return { doc: doc as Doc, version: row.version };
  }

  /** The row, after checking `If-Match` against its resource's tag. @throws request.precondition_failed */
  async #matching(
    k: KindOps<Row, unknown>,
    ctx: TenantContext,
    id: string,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<Row> {
    const row = await k.load(ctx, id);
    if (ifMatch !== undefined && !tagMatches(ifMatch, await k.tag(ctx, row, urls)))
      throw new RosterError('request.precondition_failed');
    return row;
  }

  /** Users matching a list query: exactly in the database, or candidates checked one by one when inexact. */
  async #searchUsers(ctx: TenantContext, q: ListQuery): Promise<{ total: number; rows: User[] }> {
    const { condition, exact } = q.filter
      ? userCondition(q.filter)
      : { condition: { kind: 'all' } as const, exact: true };
    const sort = q.sortBy ? userSort(q.sortBy, q.descending) : undefined;
    if (exact) {
      const { total, users } = await this.#d.users.search(ctx, condition, {
        offset: q.startIndex - 1,
        limit: q.count,
        ...(sort ? { sort } : {}),
      });
      return { total, rows: users };
    }
    // A superset from the trigram or long-prefix terms: each candidate is decrypted and checked, then paged.
    const candidates = await this.#d.users.search(ctx, condition, {
      offset: 0,
      limit: VERIFY_MAX,
      ...(sort ? { sort } : {}),
    });
    if (candidates.total > VERIFY_MAX) {
      throw new RosterError('scim.too_many', {
        detail: `The filter leaves more than ${VERIFY_MAX} candidates to check on encrypted attributes; narrow it`,
      });
    }
    const filter = q.filter as Filter;
    const matches = candidates.users.filter((u) => matchesUser(u, filter));
    return { total: matches.length, rows: matches.slice(q.startIndex - 1, q.startIndex - 1 + q.count) };
  }

  /**
   * User resources show their groups and seats, read for the whole page in two queries. The tag covers
   * them too, as they change without the user's row: a client holding an older copy never gets 304 or
   * passes If-Match with it.
   */
  async #userDocs(ctx: TenantContext, users: readonly User[], urls: ScimUrls): Promise<Doc[]> {
    const ids = users.map((u) => u.id);
    const [groups, licenses] = await Promise.all([
      this.#d.groups.groupsOfUsers(ctx, ids),
      this.#d.licenses.listForUsers(ctx, ids),
    ]);
    return users.map((user) => {
      const gs = groups.get(user.id) ?? [];
      const doc = userResource(user, { groups: gs, licenses: licenses.get(user.id) ?? [] }, urls);
      const derived = createHash('sha256')
        .update(canonicalJson({ g: gs.map((g) => [g.id, g.displayName]), l: doc[ROSTER_USER_SCHEMA] }))
        .digest('base64url')
        .slice(0, 12);
      (doc.meta as Doc).version = `W/"${user.version}-${derived}"`;
      return doc;
    });
  }

  #groupInput(doc: Doc, replace: boolean): GroupInput {
    const input = groupInputOf(doc, replace);
    checkGroupInput(input);
    return input;
  }

  /** A request body as a resource document: canonical names, Entra's string booleans, schema checks. */
  #incoming(kind: ResourceKind, body: unknown, mode: 'create' | 'replace'): Doc {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new RosterError('scim.invalid_syntax', { detail: 'The body must be a JSON object' });
    }
    const doc = coerce(kind, body as Doc);
    validateResource(kind, doc, mode);
    return doc;
  }
}

/**
 * The user input of a patched document. `active` and the Roster extension's `status` say the same thing; the
 * one the PATCH changed wins, so `active: false` suspends without the client also rewriting `status`.
 */
function patchedInput(before: Doc, after: Doc, input: UserInput): UserInput {
  const statusOf = (d: Doc) => (d[ROSTER_USER_SCHEMA] as Doc | undefined)?.status;
  const activeChanged = before.active !== after.active;
  const statusChanged = statusOf(before) !== statusOf(after);
  if (activeChanged && !statusChanged) delete input.status;
  if (statusChanged && !activeChanged) delete input.active;
  return input;
}

/** A resource document's entity tag. */
function tagOf(doc: Doc): string {
  return String((doc.meta as Doc).version);
}

/** Whether an `If-Match` value names the resource's current tag (or `*`). @throws request.precondition_failed */
function checkTag(ifMatch: string, doc: Doc): void {
  if (!tagMatches(ifMatch, tagOf(doc))) throw new RosterError('request.precondition_failed');
}

/** Weak comparison of a list of entity tags with one tag (RFC 9110 §8.8.3.2), `*` matching any. */
export function tagMatches(header: string, tag: string): boolean {
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  return header.split(',').some((t) => t.trim() === '*' || opaque(t) === opaque(tag));
}

function listResponse(total: number, startIndex: number, docs: Doc[]): Doc {
  return {
    schemas: [LIST_RESPONSE],
    totalResults: total,
    startIndex,
    itemsPerPage: docs.length,
    Resources: docs,
  };
}

function excludes(q: Projection, attr: string): boolean {
  const named = (ps: readonly AttrPath[] | undefined) =>
    ps?.some((p) => p.attr.toLowerCase() === attr && p.sub === undefined) ?? false;
  if (q.attributes && q.attributes.length > 0)
    return !q.attributes.some((p) => p.attr.toLowerCase() === attr);
  return named(q.excludedAttributes);
}

/** The `Operations` of a PatchOp body (RFC 7644 §3.5.2). */
function patchOperations(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new RosterError('scim.invalid_syntax', { detail: 'The body must be a PatchOp message' });
  }
  const b = body as Doc;
  const schemas = b.schemas;
  if (
    !Array.isArray(schemas) ||
    !schemas.some(
      (s) => typeof s === 'string' && s.toLowerCase() === 'urn:ietf:params:scim:api:messages:2.0:patchop',
    )
  ) {
    throw new RosterError('scim.invalid_syntax', {
      detail: "schemas must contain 'urn:ietf:params:scim:api:messages:2.0:PatchOp'",
    });
  }
  const ops = Object.entries(b).find(([k]) => k.toLowerCase() === 'operations')?.[1];
  if (!Array.isArray(ops) || ops.length === 0) {
    throw new RosterError('scim.invalid_syntax', { detail: 'Operations must be a non-empty array' });
  }
  return ops;
}

/** A concurrent change won between our read and our write: the PATCH is re-applied to the new state. */
function lostRace(err: unknown): boolean {
  return (
    err instanceof RosterError &&
    (err.code === 'request.precondition_failed' || err.code === 'store.conflict')
  );
}
