import { createHash } from 'node:crypto';
/**
 * SCIM 2.0 resources over Roster's users and groups (RFC 7644 §3). Every change goes through the identity
 * services, so SCIM writes get the same encryption, uniqueness, audit entries (in the same transaction),
 * tenant isolation and license hooks (a deactivated or deleted user loses their seats) as the REST API.
 */
import type { Group, User, UserInput } from '../identity/model.js';
import type { GroupService, UserService } from '../identity/service.js';
import type { LicenseService } from '../licenses/service.js';
import { canonicalJson } from '../platform/canonical-json.js';
import type { TenantContext } from '../platform/context.js';
import type { GroupCommitter } from '../platform/db/group-commit.js';
import { RosterError } from '../platform/errors.js';
import { checkIfMatch, etagOf } from '../platform/etag.js';
import type { AttrPath, Filter } from './ast.js';
import { applyPatch } from './patch.js';
import { groupInputOf, groupResource, type ScimUrls, userInputOf, userResource } from './present.js';
import { groupCondition, groupSort, matchesUser, userCondition, userSort } from './query.js';
import {
  coerce,
  LIST_RESPONSE,
  project,
  ROSTER_USER_SCHEMA,
  resolveAttribute,
  validateResource,
} from './schemas.js';
import { checkGroupInput, checkUserInput } from './validate.js';

type Doc = Record<string, unknown>;
export type ResourceKind = 'User' | 'Group';

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

export class ScimService {
  readonly #d: Deps;
  constructor(deps: Deps) {
    this.#d = deps;
  }

  // ---- Users

  async getUser(ctx: TenantContext, id: string, urls: ScimUrls): Promise<{ doc: Doc; version: number }> {
    const user = await this.#d.users.get(ctx, id);
    return { doc: await this.#userDoc(ctx, user, urls), version: user.version };
  }

  /** POST /Users. @throws identity.user_name_taken (409 uniqueness), scim.invalid_value */
  async createUser(
    ctx: TenantContext,
    body: unknown,
    urls: ScimUrls,
  ): Promise<{ doc: Doc; version: number }> {
    const doc = this.#incoming('User', body, 'create');
    const input = userInputOf(doc, 'create');
    checkUserInput(input);
    const user = this.#d.committer
      ? await this.#d.users.createGrouped(this.#d.committer, ctx, input)
      : await this.#d.users.create(ctx, input);
    return { doc: await this.#userDoc(ctx, user, urls), version: user.version };
  }

  /** PUT /Users/{id}: every writable attribute becomes what the document says. */
  async replaceUser(
    ctx: TenantContext,
    id: string,
    body: unknown,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<{ doc: Doc; version: number }> {
    const doc = this.#incoming('User', body, 'replace');
    if (typeof doc.id === 'string' && doc.id !== id) {
      throw new RosterError('scim.mutability', { detail: 'id is read-only and differs from the URL' });
    }
    const input = userInputOf(doc, 'replace');
    checkUserInput(input);
    const current = await this.#matchingUser(ctx, id, ifMatch, urls);
    const user = await this.#d.users.update(ctx, id, input, etagOf(current.version));
    return { doc: await this.#userDoc(ctx, user, urls), version: user.version };
  }

  /** PATCH /Users/{id} (RFC 7644 §3.5.2): applied to the current resource, written as one update. */
  async patchUser(
    ctx: TenantContext,
    id: string,
    body: unknown,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<{ doc: Doc; version: number }> {
    const operations = patchOperations(body);
    for (let attempt = 1; ; attempt++) {
      const current = await this.#d.users.get(ctx, id);
      const before = await this.#userDoc(ctx, current, urls);
      if (ifMatch !== undefined) checkTag(ifMatch, before);
      const { doc, changed } = applyPatch(before, operations, (p) => resolveAttribute('User', p), {
        createOnNoMatch: true,
      });
      if (!changed) return { doc: before, version: current.version };
      try {
        const user = await this.#d.users.update(ctx, id, patchedInput(before, doc), etagOf(current.version));
        return { doc: await this.#userDoc(ctx, user, urls), version: user.version };
      } catch (err) {
        if (!(ifMatch === undefined && attempt < PATCH_ATTEMPTS && lostRace(err))) throw err;
      }
    }
  }

  async deleteUser(
    ctx: TenantContext,
    id: string,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<void> {
    const current = await this.#matchingUser(ctx, id, ifMatch, urls);
    await this.#d.users.delete(ctx, id, etagOf(current.version));
  }

  /** The user, after checking `If-Match` against its resource's tag. @throws request.precondition_failed */
  async #matchingUser(ctx: TenantContext, id: string, ifMatch: string | undefined, urls: ScimUrls) {
    const user = await this.#d.users.get(ctx, id);
    if (ifMatch !== undefined) checkTag(ifMatch, await this.#userDoc(ctx, user, urls));
    return user;
  }

  async listUsers(ctx: TenantContext, q: ListQuery, urls: ScimUrls): Promise<Doc> {
    const { condition, exact } = q.filter
      ? userCondition(q.filter)
      : { condition: { kind: 'all' } as const, exact: true };
    const sort = q.sortBy ? userSort(q.sortBy, q.descending) : undefined;
    let total: number;
    let users: User[];
    if (exact) {
      ({ total, users } = await this.#d.users.search(ctx, condition, {
        offset: q.startIndex - 1,
        limit: q.count,
        ...(sort ? { sort } : {}),
      }));
    } else {
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
      total = matches.length;
      users = matches.slice(q.startIndex - 1, q.startIndex - 1 + q.count);
    }
    const docs: Doc[] = [];
    for (const u of users) docs.push(project('User', await this.#userDoc(ctx, u, urls), q));
    return listResponse(total, q.startIndex, docs);
  }

  // ---- Groups

  async getGroup(ctx: TenantContext, id: string, urls: ScimUrls): Promise<{ doc: Doc; version: number }> {
    const group = await this.#d.groups.get(ctx, id);
    return { doc: await this.#groupDoc(ctx, group, urls), version: group.version };
  }

  async createGroup(
    ctx: TenantContext,
    body: unknown,
    urls: ScimUrls,
  ): Promise<{ doc: Doc; version: number }> {
    const doc = this.#incoming('Group', body, 'create');
    const input = groupInputOf(doc, false);
    checkGroupInput(input);
    const group = await this.#d.groups.create(ctx, input);
    return { doc: await this.#groupDoc(ctx, group, urls), version: group.version };
  }

  async replaceGroup(
    ctx: TenantContext,
    id: string,
    body: unknown,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<{ doc: Doc; version: number }> {
    const doc = this.#incoming('Group', body, 'replace');
    if (typeof doc.id === 'string' && doc.id !== id) {
      throw new RosterError('scim.mutability', { detail: 'id is read-only and differs from the URL' });
    }
    const input = groupInputOf(doc, true);
    checkGroupInput(input);
    const group = await this.#d.groups.update(ctx, id, input, ifMatch);
    return { doc: await this.#groupDoc(ctx, group, urls), version: group.version };
  }

  async patchGroup(
    ctx: TenantContext,
    id: string,
    body: unknown,
    ifMatch: string | undefined,
    urls: ScimUrls,
  ): Promise<{ doc: Doc; version: number }> {
    const operations = patchOperations(body);
    for (let attempt = 1; ; attempt++) {
      const current = await this.#d.groups.get(ctx, id);
      if (ifMatch !== undefined) checkIfMatch(ifMatch, current.version);
      const before = await this.#groupDoc(ctx, current, urls);
      const { doc, changed } = applyPatch(before, operations, (p) => resolveAttribute('Group', p));
      if (!changed) return { doc: before, version: current.version };
      try {
        const input = groupInputOf(doc, true);
        checkGroupInput(input);
        const group = await this.#d.groups.update(ctx, id, input, etagOf(current.version));
        return { doc: await this.#groupDoc(ctx, group, urls), version: group.version };
      } catch (err) {
        if (!(ifMatch === undefined && attempt < PATCH_ATTEMPTS && lostRace(err))) throw err;
      }
    }
  }

  async deleteGroup(ctx: TenantContext, id: string, ifMatch: string | undefined): Promise<void> {
    await this.#d.groups.delete(ctx, id, ifMatch);
  }

  async listGroups(ctx: TenantContext, q: ListQuery, urls: ScimUrls): Promise<Doc> {
    const condition = q.filter ? groupCondition(q.filter) : ({ kind: 'all' } as const);
    const sort = q.sortBy ? groupSort(q.sortBy, q.descending) : undefined;
    const { total, groups } = await this.#d.groups.search(ctx, condition, {
      offset: q.startIndex - 1,
      limit: q.count,
      ...(sort ? { sort } : {}),
    });
    // Members are read only when the answer will carry them: a listing that excludes them stays cheap.
    const wantsMembers = !excludes(q, 'members');
    const docs: Doc[] = [];
    for (const g of groups) {
      const members = wantsMembers ? await this.#d.groups.memberIds(ctx, g.id) : undefined;
      docs.push(project('Group', groupResource(g, members, urls), q));
    }
    return listResponse(total, q.startIndex, docs);
  }

  // ---- helpers

  /** A request body as a resource document: canonical names, Entra's string booleans, schema checks. */
  #incoming(kind: ResourceKind, body: unknown, mode: 'create' | 'replace'): Doc {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new RosterError('scim.invalid_syntax', { detail: 'The body must be a JSON object' });
    }
    const doc = coerce(kind, body as Doc);
    validateResource(kind, doc, mode);
    return doc;
  }

  async #userDoc(ctx: TenantContext, user: User, urls: ScimUrls): Promise<Doc> {
    const [{ groups }, licenses] = await Promise.all([
      this.#d.groups.search(
        ctx,
        { kind: 'members', member: { kind: 'eq', id: user.id } },
        { offset: 0, limit: 10_000 },
      ),
      this.#d.licenses.listForUser(ctx, user.id),
    ]);
    const doc = userResource(user, { groups, licenses }, urls);
    // The resource shows memberships and seats, which change without the user's row: its tag covers them
    // too, so a client holding an older copy never gets 304 or passes If-Match with it.
    const derived = createHash('sha256')
      .update(canonicalJson({ g: groups.map((g) => [g.id, g.displayName]), l: doc[ROSTER_USER_SCHEMA] }))
      .digest('base64url')
      .slice(0, 12);
    (doc.meta as Doc).version = `W/"${user.version}-${derived}"`;
    return doc;
  }

  async #groupDoc(ctx: TenantContext, group: Group, urls: ScimUrls): Promise<Doc> {
    return groupResource(group, await this.#d.groups.memberIds(ctx, group.id), urls);
  }
}

/**
 * The user input of a patched document. `active` and the Roster extension's `status` say the same thing; the
 * one the PATCH changed wins, so `active: false` suspends without the client also rewriting `status`.
 */
function patchedInput(before: Doc, after: Doc): UserInput {
  const input = userInputOf(after, 'replace');
  checkUserInput(input);
  const statusOf = (d: Doc) => (d[ROSTER_USER_SCHEMA] as Doc | undefined)?.status;
  const activeChanged = before.active !== after.active;
  const statusChanged = statusOf(before) !== statusOf(after);
  if (activeChanged && !statusChanged) delete input.status;
  if (statusChanged && !activeChanged) delete input.active;
  return input;
}

/** Whether an `If-Match` value names the resource's current tag (or `*`). @throws request.precondition_failed */
function checkTag(ifMatch: string, doc: Doc): void {
  if (!tagMatches(ifMatch, String((doc.meta as Doc).version)))
    throw new RosterError('request.precondition_failed');
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
