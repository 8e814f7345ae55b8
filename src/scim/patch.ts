/**
 * SCIM PATCH (RFC 7644 §3.5.2) as a pure function over a resource document: `applyPatch` takes the current
 * document and the request's `Operations`, and returns a new document and whether anything changed. It never
 * touches its input, so a PATCH is atomic for free: an operation that fails throws, and nothing was applied.
 *
 * The schema comes in as an `AttributeLookup` (the caller's, from `schemas.ts`), so this file knows attribute
 * definitions only through it. Core attributes live at the top level of the document, an extension's under
 * its schema URN (`doc["urn:…:enterprise:2.0:User"].department`).
 *
 * How the RFC is read here, where it leaves room:
 * - `op` is compared case-insensitively (Entra ID sends `Add`, `Replace`, `Remove`).
 * - A value filter that matches no element is `scim.no_target` for `add`, `replace` and `remove` alike
 *   (RFC 7644 §3.12 `noTarget`: "the specified path value contains a filter that yields no match"), unless
 *   `createOnNoMatch` asks for Entra ID's habit of creating the element (see `PatchOptions`).
 * - `replace` (and `add`) of a complex single-valued attribute, or of a matched element of a complex multi-valued
 *   one, merges: the sub-attributes given replace or add, the others are left unchanged (RFC 7644 §3.5.2.3).
 * - `null` means unassigned (RFC 7643 §2.5): `add`/`replace` of `null` on a single-valued attribute or
 *   sub-attribute removes it; `replace` of `null` or `[]` on a multi-valued attribute removes all values;
 *   `add` of `null` or `[]` to a multi-valued attribute adds nothing.
 * - `add` to a multi-valued attribute appends the values that are not there yet (§3.5.2.1: "if the target
 *   location already contains the value specified, no changes SHOULD be made"). An element is "there" when it is
 *   equal (string sub-attributes compared as their `caseExact` says); for reference attributes (a `value` that
 *   is `immutable` or sits beside a `$ref`, like Group `members`), when one with the same `value` is there.
 * - `remove` of a required attribute, or of a required sub-attribute, is `scim.mutability`: RFC 7644 §3.5.2.2
 *   "If an attribute is removed or becomes unassigned and is defined as a required attribute or a read-only
 *   attribute, the server SHALL return … mutability".
 * - `readOnly`: an operation whose result would change a read-only attribute, or a read-only sub-attribute named
 *   by its path (`manager.displayName`), is `scim.mutability`; one that leaves it equal passes (Okta renames a
 *   group with `{"op":"replace","value":{"id":…,"displayName":…}}`). Read-only sub-attributes given inside a
 *   value object (a member's `display`, as in the §3.5.2.1 example) are ignored, as RFC 7644 §3.5.1 ignores
 *   read-only values. `immutable`: may be set while unassigned, never changed or removed afterwards (§3.5.2).
 * - `primary: true` set on one element clears it on the others (RFC 7644 §3.5.2, RFC 7643 §2.4, "set
 *   primary to false for any other values": only elements that had `primary: true` get `false`); two elements
 *   made primary by one operation are `scim.invalid_value`.
 * - Entra ID quirks accepted: `"True"`/`"False"` strings for booleans; a bare string for a complex attribute
 *   with a string `value` sub-attribute (`{"op":"Add","path":"urn:…:User:manager","value":"<id>"}` is
 *   `manager: {value: "<id>"}`); keys of a no-path value that are whole paths (`"name.givenName"`,
 *   `"emails[type eq \"work\"].value"`, `"urn:…:User:employeeNumber"`) or an extension's URN holding an
 *   object; `remove` with `path: "members"` and a `value` list removes only the listed members.
 * - Error details name operations (`Operations[2]`) and attribute paths, never a value, and value filters are
 *   shown with their comparison values elided (`emails[value eq …]`): values may be personal data.
 * - Prototype safety: only names from the attribute definitions are ever written, through
 *   `Object.defineProperty`, and existing documents are read through own properties only.
 */
import { type ErrorCode, type FieldError, RosterError } from '../platform/errors.js';
import type { AttributeDef, AttrPath, CompValue, Filter, PatchPath } from './ast.js';
import { parsePatchPath } from './filter.js';

/**
 * Resolves a (possibly URN-qualified, case-insensitive) attribute path to its definition, the schema URN it
 * belongs to and, for `attr.sub`, the sub-attribute's definition. Throws `scim.invalid_path` for an unknown one.
 */
export type AttributeLookup = (path: AttrPath) => { schema: string; def: AttributeDef; sub?: AttributeDef };

export interface PatchOptions {
  /**
   * The resource's core schema URN: its attributes live at the top level of the document, every other
   * schema's under its URN. Without it, any `urn:ietf:params:scim:schemas:core:` URN counts as core.
   */
  readonly coreSchema?: string;
  /** The most operations one PATCH may carry; more is `scim.too_many`. Default 1,000. */
  readonly maxOperations?: number;
  /**
   * Interoperability with Entra ID, off by default: an `add` whose value filter is `sub eq "x"` (or an `and` of
   * such) and matches no element creates one with those sub-attributes (Entra adds `emails[type eq "work"].value`
   * for users who have no work e-mail yet). A `replace` still fails with `scim.no_target`, as RFC 7644 §3.5.2.3
   * requires.
   */
  readonly createOnNoMatch?: boolean;
}

export interface PatchResult {
  readonly doc: Record<string, unknown>;
  /** False when the document came out equal to the input: the caller can skip the write and keep the ETag. */
  readonly changed: boolean;
}

type Obj = Record<string, unknown>;
type OpName = 'add' | 'remove' | 'replace';

/** The resolved target of an operation. */
interface Target {
  readonly schema: string;
  /** The top-level attribute. */
  readonly def: AttributeDef;
  /** `name.givenName`, or `emails[…].value`. */
  readonly sub?: AttributeDef;
  readonly filter?: Filter;
  /** The path for error details, filter values elided. */
  readonly label: string;
}

const DEFAULT_MAX_OPERATIONS = 1000;
const CORE_PREFIX = 'urn:ietf:params:scim:schemas:core:';
/** Names that must never become keys: assigning them could reach Object.prototype. */
const FORBIDDEN_NAMES = new Set(['__proto__', 'constructor', 'prototype']);
/** Keys echoed in error details only when they look like attribute names (so never a value). */
const NAME_LIKE = /^[A-Za-z$_][\w$.:-]{0,127}$/;
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

// ---- small helpers

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const lower = (s: string) => s.toLowerCase();

/** The key of `o` naming `name`, compared case-insensitively (RFC 7643 §2.1), the exact spelling first. */
function findKey(o: Obj, name: string): string | undefined {
  if (Object.hasOwn(o, name)) return name;
  const l = lower(name);
  return Object.keys(o).find((k) => lower(k) === l);
}

function define(o: Obj, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, writable: true, enumerable: true, configurable: true });
}

/** Sets `name` on `o`, dropping any other spelling of it. */
function put(o: Obj, name: string, value: unknown): void {
  const k = findKey(o, name);
  if (k !== undefined && k !== name) delete o[k];
  define(o, name, value);
}

function drop(o: Obj, name: string): void {
  const k = findKey(o, name);
  if (k !== undefined) delete o[k];
}

function read(o: Obj, name: string): unknown {
  const k = findKey(o, name);
  return k === undefined ? undefined : o[k];
}

/** A deep copy of JSON data into fresh objects (own properties defined, so a `__proto__` key stays a key). */
function cloneJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(cloneJson);
  if (isObj(v)) {
    const out: Obj = {};
    for (const k of Object.keys(v)) define(out, k, cloneJson(v[k]));
    return out;
  }
  return v;
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** Unassigned in RFC 7643 §2.5's sense: absent, null, an empty array or an empty complex value. */
function isUnassigned(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    (Array.isArray(v) && v.length === 0) ||
    (isObj(v) && Object.keys(v).length === 0)
  );
}

function subOf(def: AttributeDef, name: string): AttributeDef | undefined {
  const l = lower(name);
  return def.subAttributes?.find((s) => lower(s.name) === l);
}

function safeName(key: string): string {
  return NAME_LIKE.test(key) ? `'${key}'` : 'a key';
}

function pathName(p: AttrPath): string {
  return `${p.attr}${p.sub === undefined ? '' : `.${p.sub}`}`;
}

/** A filter as text with every comparison value elided: for error details. */
function describeFilter(f: Filter): string {
  switch (f.op) {
    case 'and':
    case 'or':
      return `${describeFilter(f.left)} ${f.op} ${describeFilter(f.right)}`;
    case 'not':
      return `not (${describeFilter(f.filter)})`;
    case 'pr':
      return `${pathName(f.path)} pr`;
    case 'valuePath':
      return `${pathName(f.path)}[${describeFilter(f.filter)}]`;
    default:
      return `${pathName(f.path)} ${f.op} …`;
  }
}

// ---- value filters

function filterError(detail: string): RosterError {
  return new RosterError('scim.invalid_filter', { detail });
}

/** The definition a filter's attribute path names inside an element of `def`; throws scim.invalid_filter. */
function filterOperandDef(path: AttrPath, def: AttributeDef): AttributeDef {
  if (path.sub !== undefined) {
    throw filterError(`${def.name}[…]: '${pathName(path)}' is not a sub-attribute of ${def.name}`);
  }
  if (def.type !== 'complex') {
    // RFC 7644 §3.5.2: for a multi-valued attribute of simple values, the element itself is its `value`.
    if (lower(path.attr) === 'value') return def;
    throw filterError(`${def.name}[…]: ${def.name} holds simple values; filter on 'value'`);
  }
  const sub = subOf(def, path.attr);
  if (sub === undefined)
    throw filterError(`${def.name}[…]: ${def.name} has no sub-attribute ${safeName(path.attr)}`);
  if (sub.type === 'complex') throw filterError(`${def.name}[…]: ${sub.name} cannot be compared`);
  return sub;
}

/** Checks every comparison of a value filter against `def` without evaluating it. */
function checkFilter(filter: Filter, def: AttributeDef): void {
  switch (filter.op) {
    case 'and':
    case 'or':
      checkFilter(filter.left, def);
      checkFilter(filter.right, def);
      return;
    case 'not':
      checkFilter(filter.filter, def);
      return;
    case 'valuePath':
      throw filterError(`${def.name}[…]: a value filter cannot hold another value filter`);
    case 'pr':
      filterOperandDef(filter.path, def);
      return;
    default: {
      const operandDef = filterOperandDef(filter.path, def);
      checkComparable(filter.op, operandDef, def);
    }
  }
}

function checkComparable(op: string, operandDef: AttributeDef, def: AttributeDef): void {
  const t = operandDef.type;
  const ordering = op === 'gt' || op === 'ge' || op === 'lt' || op === 'le';
  const substring = op === 'co' || op === 'sw' || op === 'ew';
  // RFC 7644 §3.4.2.2: gt/ge/lt/le on boolean or binary attributes "SHALL cause a failed response … invalidFilter".
  if (ordering && (t === 'boolean' || t === 'binary')) {
    throw filterError(`${def.name}[…]: '${op}' cannot compare ${operandDef.name} (${t})`);
  }
  if (substring && (t === 'boolean' || t === 'integer' || t === 'decimal')) {
    throw filterError(`${def.name}[…]: '${op}' cannot compare ${operandDef.name} (${t})`);
  }
}

function isPresent(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return false;
  if (Array.isArray(v)) return v.some(isPresent);
  if (isObj(v)) return Object.keys(v).some((k) => isPresent(v[k]));
  return true;
}

function foldCase(s: string, def: AttributeDef): string {
  return def.caseExact ? s : lower(s);
}

/** Three-way comparison of an attribute value with a filter value, or undefined when they do not compare. */
function order(actual: unknown, expected: CompValue, def: AttributeDef): number | undefined {
  if (def.type === 'integer' || def.type === 'decimal') {
    return typeof actual === 'number' && typeof expected === 'number'
      ? Math.sign(actual - expected)
      : undefined;
  }
  if (typeof actual !== 'string' || typeof expected !== 'string') return undefined;
  if (def.type === 'dateTime') {
    const a = Date.parse(actual);
    const e = Date.parse(expected);
    if (!Number.isNaN(a) && !Number.isNaN(e)) return Math.sign(a - e);
  }
  const a = foldCase(actual, def);
  const e = foldCase(expected, def);
  return a < e ? -1 : a > e ? 1 : 0;
}

function equalsValue(actual: unknown, expected: CompValue, def: AttributeDef): boolean {
  if (expected === null) return !isPresent(actual);
  if (def.type === 'boolean') {
    const e = typeof expected === 'string' ? toBoolean(expected) : expected;
    return actual === e;
  }
  if (def.type === 'integer' || def.type === 'decimal' || def.type === 'dateTime') {
    return order(actual, expected, def) === 0;
  }
  if (typeof actual === 'string' && typeof expected === 'string') {
    return foldCase(actual, def) === foldCase(expected, def);
  }
  return actual === expected;
}

function compare(op: string, actual: unknown, expected: CompValue, def: AttributeDef): boolean {
  if (Array.isArray(actual)) return actual.some((a) => compare(op, a, expected, def));
  switch (op) {
    case 'eq':
      return equalsValue(actual, expected, def);
    case 'ne':
      return !equalsValue(actual, expected, def);
    case 'co':
    case 'sw':
    case 'ew': {
      if (typeof actual !== 'string' || typeof expected !== 'string') return false;
      const a = foldCase(actual, def);
      const e = foldCase(expected, def);
      return op === 'co' ? a.includes(e) : op === 'sw' ? a.startsWith(e) : a.endsWith(e);
    }
    default: {
      const o = order(actual, expected, def);
      if (o === undefined) return false;
      return op === 'gt' ? o > 0 : op === 'ge' ? o >= 0 : op === 'lt' ? o < 0 : o <= 0;
    }
  }
}

/**
 * Whether one element of the multi-valued attribute `def` matches a value filter (RFC 7644 §3.4.2.2, §3.5.2):
 * paths are relative to the element, strings compare as the sub-attribute's `caseExact` says, and for a
 * multi-valued attribute of simple values the element itself is `value`. `ne` matches an element without the
 * sub-attribute; `eq null` matches one where it is unassigned.
 * @throws RosterError scim.invalid_filter for an unknown sub-attribute, a nested value filter, or an operator
 * the sub-attribute's type does not support (`gt` on a boolean).
 */
export function matchesFilter(element: unknown, filter: Filter, def: AttributeDef): boolean {
  switch (filter.op) {
    case 'and':
      return matchesFilter(element, filter.left, def) && matchesFilter(element, filter.right, def);
    case 'or':
      return matchesFilter(element, filter.left, def) || matchesFilter(element, filter.right, def);
    case 'not':
      return !matchesFilter(element, filter.filter, def);
    case 'valuePath':
      throw filterError(`${def.name}[…]: a value filter cannot hold another value filter`);
    case 'pr': {
      const operandDef = filterOperandDef(filter.path, def);
      return isPresent(operandOf(element, operandDef, def));
    }
    default: {
      const operandDef = filterOperandDef(filter.path, def);
      checkComparable(filter.op, operandDef, def);
      return compare(filter.op, operandOf(element, operandDef, def), filter.value, operandDef);
    }
  }
}

function operandOf(element: unknown, operandDef: AttributeDef, def: AttributeDef): unknown {
  if (operandDef === def) return element;
  return isObj(element) ? read(element, operandDef.name) : undefined;
}

// ---- values

function toBoolean(s: string): boolean | undefined {
  const l = lower(s);
  return l === 'true' ? true : l === 'false' ? false : undefined;
}

/** Whether a complex attribute may be given as a bare string meaning `{value: s}` (Entra ID's `manager`). */
function takesBareValue(def: AttributeDef): boolean {
  const v = subOf(def, 'value');
  return v !== undefined && !v.multiValued && (v.type === 'string' || v.type === 'reference');
}

/**
 * True for multi-valued reference attributes (Group `members`, User `groups`), whose elements are the same
 * element when their `value`s are equal.
 */
function isReferenceList(def: AttributeDef): boolean {
  const v = subOf(def, 'value');
  return v !== undefined && (v.mutability === 'immutable' || subOf(def, '$ref') !== undefined);
}

/**
 * Members are one per value, and so are a user's roles (Roster: distinct without regard to case), whatever
 * else an entry says.
 */
function oneByValue(def: AttributeDef): boolean {
  return isReferenceList(def) || lower(def.name) === 'roles';
}

function primaryKey(def: AttributeDef): string | undefined {
  const p = subOf(def, 'primary');
  return p?.type === 'boolean' ? p.name : undefined;
}

function toList(raw: unknown): unknown[] {
  if (raw === undefined || raw === null) return [];
  return Array.isArray(raw) ? raw : [raw];
}

/** One operation at work: its index, for error details, and the schema lookup. */
class OpContext {
  readonly index: number;
  readonly work: Obj;
  readonly lookup: AttributeLookup;
  readonly opts: PatchOptions;
  /** Where the path being resolved came from: the operation's `path`, or a key of its `value`. */
  source: 'path' | 'value' = 'path';

  constructor(index: number, work: Obj, lookup: AttributeLookup, opts: PatchOptions) {
    this.index = index;
    this.work = work;
    this.lookup = lookup;
    this.opts = opts;
  }

  fail(code: ErrorCode, detail: string, member?: 'op' | 'path' | 'value'): RosterError {
    const pointer = `/Operations/${this.index}${member === undefined ? '' : `/${member}`}`;
    const errors: FieldError[] = [{ pointer, detail }];
    return new RosterError(code, { detail: `Operations[${this.index}]: ${detail}`, errors });
  }

  // ---- paths

  isCore(schema: string): boolean {
    const core = this.opts.coreSchema;
    return core === undefined ? lower(schema).startsWith(CORE_PREFIX) : lower(schema) === lower(core);
  }

  /** Resolves a parsed path through the lookup, checking it fits the definitions. */
  target(pp: PatchPath): Target {
    const { path, valueFilter, sub } = pp;
    if (valueFilter !== undefined && path.sub !== undefined) {
      throw this.fail('scim.invalid_path', `${pathName(path)} cannot take a value filter`, this.source);
    }
    const found = this.resolve(path);
    const def = found.def;
    let subDef = found.sub;
    if (FORBIDDEN_NAMES.has(def.name) || (subDef !== undefined && FORBIDDEN_NAMES.has(subDef.name))) {
      throw this.fail('scim.invalid_path', 'the path names no attribute', this.source);
    }
    const base = `${this.isCore(found.schema) ? '' : `${found.schema}:`}${def.name}`;
    if (valueFilter !== undefined) {
      if (!def.multiValued) {
        throw this.fail(
          'scim.invalid_path',
          `${base} is single-valued: it takes no value filter`,
          this.source,
        );
      }
      try {
        checkFilter(valueFilter, def);
      } catch (err) {
        throw err instanceof RosterError ? this.fail(err.code, err.detail ?? err.title, this.source) : err;
      }
      const label = `${base}[${describeFilter(valueFilter)}]`;
      if (sub === undefined) return { schema: found.schema, def, filter: valueFilter, label };
      subDef = subOf(def, sub);
      if (subDef === undefined || FORBIDDEN_NAMES.has(subDef.name)) {
        throw this.fail('scim.invalid_path', `${base} has no sub-attribute ${safeName(sub)}`, this.source);
      }
      return {
        schema: found.schema,
        def,
        sub: subDef,
        filter: valueFilter,
        label: `${label}.${subDef.name}`,
      };
    }
    if (subDef === undefined) return { schema: found.schema, def, label: base };
    if (def.multiValued) {
      throw this.fail(
        'scim.invalid_path',
        `${base} is multi-valued: name its elements with a value filter (${def.name}[…].${subDef.name})`,
        this.source,
      );
    }
    return { schema: found.schema, def, sub: subDef, label: `${base}.${subDef.name}` };
  }

  resolve(path: AttrPath): ReturnType<AttributeLookup> {
    if (
      FORBIDDEN_NAMES.has(lower(path.attr)) ||
      (path.sub !== undefined && FORBIDDEN_NAMES.has(lower(path.sub)))
    ) {
      throw this.fail('scim.invalid_path', 'the path names no attribute', this.source);
    }
    try {
      return this.lookup(path);
    } catch (err) {
      if (err instanceof RosterError) throw this.fail(err.code, err.detail ?? err.title, this.source);
      throw err;
    }
  }

  /** A path's text, parsed and resolved; undefined when it is a bare schema URN standing for its attributes. */
  parse(text: string, value: unknown, member: 'path' | 'value'): Target | undefined {
    const trimmed = text.trim();
    if (trimmed === '') throw this.fail('scim.invalid_path', 'the path is empty', member);
    let pp: PatchPath;
    this.source = member;
    try {
      pp = /^[A-Za-z][\w$-]*$/.test(trimmed) ? { path: { attr: trimmed } } : parsePatchPath(trimmed);
      return this.target(pp);
    } catch (err) {
      if (!(err instanceof RosterError)) throw err;
      // A schema URN holding an object stands for that schema's attributes (Entra sends the enterprise
      // extension this way inside a no-path value).
      if (lower(trimmed).startsWith('urn:') && !trimmed.includes('[') && isObj(value)) return undefined;
      if (err.detail?.startsWith('Operations[')) throw err;
      const where = member === 'value' ? `the key ${safeName(trimmed)} of the value` : 'the path';
      throw this.fail(
        err.code,
        `${where} is not a valid attribute path (${err.detail ?? err.title})`,
        member,
      );
    }
  }

  // ---- the document

  /** The object holding the target's attribute: the document, or its extension's object. */
  container(schema: string): Obj | undefined {
    if (this.isCore(schema)) return this.work;
    const k = findKey(this.work, schema);
    const c = k === undefined ? undefined : this.work[k];
    return isObj(c) ? c : undefined;
  }

  current(t: Target): unknown {
    const c = this.container(t.schema);
    return c === undefined ? undefined : read(c, t.def.name);
  }

  /**
   * Writes the new value of the target's attribute (undefined: unassigned), after the attribute-level rules:
   * read-only never changes, immutable only from unassigned, required is never removed.
   */
  commit(t: Target, next: unknown): void {
    const def = t.def;
    const value = isUnassigned(next) ? undefined : next;
    const old = this.current(t);
    if (deepEqual(old, value) || (value === undefined && isUnassigned(old))) return;
    if (def.mutability === 'readOnly') throw this.fail('scim.mutability', `${t.label} is read-only`);
    if (def.mutability === 'immutable' && !isUnassigned(old)) {
      throw this.fail('scim.mutability', `${t.label} is immutable: it cannot change once it has a value`);
    }
    if (value === undefined && def.required) {
      throw this.fail('scim.mutability', `${t.label} is required: it cannot be removed`);
    }
    const core = this.isCore(t.schema);
    let c = this.container(t.schema);
    if (value === undefined) {
      if (c === undefined) return;
      drop(c, def.name);
      if (!core && Object.keys(c).length === 0) {
        drop(this.work, t.schema);
        this.listSchema(t.schema, false);
      }
      return;
    }
    if (c === undefined) {
      c = {};
      put(this.work, t.schema, c);
      this.listSchema(t.schema, true);
    }
    put(c, def.name, value);
  }

  /** Keeps `schemas` naming the extensions the document holds, when the document has a `schemas` list. */
  listSchema(schema: string, present: boolean): void {
    const key = findKey(this.work, 'schemas');
    const list = key === undefined ? undefined : this.work[key];
    if (key === undefined || !Array.isArray(list)) return;
    const l = lower(schema);
    const has = list.some((s) => typeof s === 'string' && lower(s) === l);
    if (present && !has) define(this.work, key, [...list, schema]);
    if (!present && has)
      define(
        this.work,
        key,
        list.filter((s) => !(typeof s === 'string' && lower(s) === l)),
      );
  }

  // ---- values

  simple(def: AttributeDef, raw: unknown, label: string): unknown {
    const bad = (what: string) => this.fail('scim.invalid_value', `${label} must be ${what}`, 'value');
    switch (def.type) {
      case 'string':
      case 'reference':
        if (typeof raw !== 'string') throw bad('a string');
        return raw;
      case 'boolean': {
        if (typeof raw === 'boolean') return raw;
        // Entra ID sends "True" and "False".
        const b = typeof raw === 'string' ? toBoolean(raw) : undefined;
        if (b === undefined) throw bad('a boolean');
        return b;
      }
      case 'integer':
        if (typeof raw !== 'number' || !Number.isSafeInteger(raw)) throw bad('an integer');
        return raw;
      case 'decimal':
        if (typeof raw !== 'number' || !Number.isFinite(raw)) throw bad('a number');
        return raw;
      case 'dateTime':
        if (typeof raw !== 'string' || !DATE_TIME.test(raw) || Number.isNaN(Date.parse(raw))) {
          throw bad('a date-time (xsd:dateTime)');
        }
        return raw;
      case 'binary':
        if (typeof raw !== 'string' || !BASE64.test(raw)) throw bad('base64 text');
        return raw;
      default:
        throw bad('an object');
    }
  }

  /** A value for a sub-attribute (simple, or a list of simple values when the sub-attribute is multi-valued). */
  subValue(sub: AttributeDef, raw: unknown, label: string): unknown {
    if (!sub.multiValued) return this.simple(sub, raw, label);
    return this.unique(
      sub,
      toList(raw).map((x) => this.simple(sub, x, label)),
    );
  }

  /**
   * The sub-attributes given in a complex value, resolved and type-checked, in order; `null` marks one to
   * unassign. Read-only sub-attributes of a writable attribute are left out (RFC 7644 §3.5.1: given values
   * are ignored).
   */
  entries(def: AttributeDef, raw: unknown, label: string): [AttributeDef, unknown][] {
    // Entra ID: `"value": "<id>"` for a complex attribute with a string `value` (the enterprise `manager`).
    const value = typeof raw === 'string' && takesBareValue(def) ? { value: raw } : raw;
    if (!isObj(value)) throw this.fail('scim.invalid_value', `${label} must be an object`, 'value');
    const out: [AttributeDef, unknown][] = [];
    const seen = new Set<string>();
    for (const key of Object.keys(value)) {
      const sub = subOf(def, key);
      if (sub === undefined || FORBIDDEN_NAMES.has(sub.name)) {
        throw this.fail('scim.invalid_path', `${label} has no sub-attribute ${safeName(key)}`, 'value');
      }
      if (seen.has(sub.name)) {
        throw this.fail('scim.invalid_value', `${label} names ${sub.name} twice`, 'value');
      }
      seen.add(sub.name);
      // Within a read-only attribute nothing is ignored: any change must fail (commit).
      if (sub.mutability === 'readOnly' && def.mutability !== 'readOnly') continue;
      const v = value[key];
      out.push([sub, v === null ? null : this.subValue(sub, v, `${label}.${sub.name}`)]);
    }
    return out;
  }

  /** A new element of a multi-valued attribute, checked against the definition. */
  element(def: AttributeDef, raw: unknown, label: string): unknown {
    if (raw === null || raw === undefined) {
      throw this.fail('scim.invalid_value', `${label} cannot hold a null value`, 'value');
    }
    if (def.type !== 'complex') return this.simple(def, raw, label);
    const el: Obj = {};
    for (const [sub, v] of this.entries(def, raw, label)) if (!isUnassigned(v)) define(el, sub.name, v);
    if (Object.keys(el).length === 0)
      throw this.fail('scim.invalid_value', `${label} has an empty value`, 'value');
    this.requireSubs(def, el, label);
    return el;
  }

  requireSubs(def: AttributeDef, o: Obj, label: string): void {
    for (const sub of def.subAttributes ?? []) {
      if (sub.required && isUnassigned(read(o, sub.name))) {
        throw this.fail('scim.invalid_value', `${label} needs ${sub.name}`, 'value');
      }
    }
  }

  /** Sets a sub-attribute of an existing complex value, after the sub-attribute's mutability. */
  setSub(o: Obj, sub: AttributeDef, value: unknown, label: string): void {
    const old = read(o, sub.name);
    if (deepEqual(old, value)) return;
    if (sub.mutability === 'readOnly') throw this.fail('scim.mutability', `${label} is read-only`);
    if (sub.mutability === 'immutable' && !isUnassigned(old)) {
      throw this.fail('scim.mutability', `${label} is immutable: it cannot change once it has a value`);
    }
    put(o, sub.name, value);
  }

  removeSub(o: Obj, sub: AttributeDef, label: string): void {
    const old = read(o, sub.name);
    if (isUnassigned(old)) {
      drop(o, sub.name);
      return;
    }
    if (sub.required) throw this.fail('scim.mutability', `${label} is required: it cannot be removed`);
    if (sub.mutability === 'readOnly') throw this.fail('scim.mutability', `${label} is read-only`);
    if (sub.mutability === 'immutable') {
      throw this.fail('scim.mutability', `${label} is immutable: it cannot change once it has a value`);
    }
    drop(o, sub.name);
  }

  /** Merges a complex value into an existing one (RFC 7644 §3.5.2.3: unnamed sub-attributes stay). */
  merge(def: AttributeDef, old: unknown, raw: unknown, label: string): Obj {
    const fresh = !isObj(old) || isUnassigned(old);
    const o = (isObj(old) ? cloneJson(old) : {}) as Obj;
    for (const [sub, v] of this.entries(def, raw, label)) {
      const subLabel = `${label}.${sub.name}`;
      if (v === null) this.removeSub(o, sub, subLabel);
      else this.setSub(o, sub, v, subLabel);
    }
    if (fresh && Object.keys(o).length > 0) this.requireSubs(def, o, label);
    return o;
  }

  /** The value of a sub-attribute after an add or replace of `raw` (adds to a multi-valued sub-attribute). */
  writeSubOf(op: OpName, o: Obj, sub: AttributeDef, raw: unknown, label: string): void {
    if (raw === null) {
      this.removeSub(o, sub, label);
      return;
    }
    let v = this.subValue(sub, raw, label);
    if (op === 'add' && sub.multiValued)
      v = this.unique(sub, [...toList(read(o, sub.name)), ...(v as unknown[])]);
    this.setSub(o, sub, v, label);
  }

  // ---- multi-valued attributes

  sameElement(def: AttributeDef, a: unknown, b: unknown): boolean {
    if (def.type !== 'complex') return typeof b === 'string' ? equalsValue(a, b, def) : deepEqual(a, b);
    if (!isObj(a) || !isObj(b)) return deepEqual(a, b);
    // Entra ID re-sends a role it holds with `primary: false` and its display: the same role.
    if (oneByValue(def)) {
      const v = subOf(def, 'value') as AttributeDef;
      const bv = read(b, v.name);
      return typeof bv === 'string' && equalsValue(read(a, v.name), bv, v);
    }
    const keys = new Set([...Object.keys(a), ...Object.keys(b)].map(lower));
    for (const k of keys) {
      const sub = subOf(def, k);
      const av = read(a, k);
      const bv = read(b, k);
      if (sub !== undefined && !sub.multiValued && typeof bv === 'string') {
        if (!equalsValue(av, bv, sub)) return false;
      } else if (!deepEqual(av, bv)) {
        return false;
      }
    }
    return true;
  }

  /** Values without repeats (the first of equal ones kept). */
  unique(def: AttributeDef, values: unknown[]): unknown[] {
    const out: unknown[] = [];
    for (const v of values) if (!out.some((o) => this.sameElement(def, o, v))) out.push(v);
    return out;
  }

  /** New elements from an operation's value: at most one of them primary. */
  elements(def: AttributeDef, raw: unknown, label: string): unknown[] {
    const items = toList(raw).map((x) => this.element(def, x, label));
    const pk = primaryKey(def);
    if (pk !== undefined && items.filter((e) => isObj(e) && e[pk] === true).length > 1) {
      throw this.fail('scim.invalid_value', `${label}: at most one value may be primary`, 'value');
    }
    return items;
  }

  /** RFC 7644 §3.5.2: making one value primary makes the others not primary. */
  clearPrimaries(def: AttributeDef, list: unknown[], keep: number): void {
    const pk = primaryKey(def);
    if (pk === undefined) return;
    list.forEach((e, i) => {
      if (i !== keep && isObj(e) && e[pk] === true) {
        const c = cloneJson(e) as Obj;
        define(c, pk, false);
        list[i] = c;
      }
    });
  }

  primaryIndexes(def: AttributeDef, list: unknown[], among: readonly number[]): number[] {
    const pk = primaryKey(def);
    if (pk === undefined) return [];
    return among.filter((i) => {
      const e = list[i];
      return isObj(e) && e[pk] === true;
    });
  }

  matching(t: Target, list: unknown[]): number[] {
    const out: number[] = [];
    try {
      list.forEach((e, i) => {
        if (matchesFilter(e, t.filter as Filter, t.def)) out.push(i);
      });
    } catch (err) {
      throw err instanceof RosterError ? this.fail(err.code, err.detail ?? err.title, this.source) : err;
    }
    return out;
  }

  // ---- operations

  /** add or replace at a resolved target. */
  write(op: OpName, t: Target, raw: unknown): void {
    const def = t.def;
    const old = this.current(t);
    if (t.filter !== undefined) {
      this.commit(t, this.writeFiltered(op, t, toList(cloneJson(old)), raw));
      return;
    }
    if (t.sub !== undefined) {
      const o = (isObj(old) ? cloneJson(old) : {}) as Obj;
      this.writeSubOf(op, o, t.sub, raw, t.label);
      if (isUnassigned(old) && Object.keys(o).length > 0) this.requireSubs(def, o, t.label);
      this.commit(t, o);
      return;
    }
    if (def.multiValued) {
      if (op === 'replace') {
        this.commit(t, this.unique(def, this.elements(def, raw, t.label)));
        return;
      }
      const list = toList(cloneJson(old));
      for (const item of this.elements(def, raw, t.label)) {
        // §3.5.2.1: a value already there is not added again.
        if (list.some((e) => this.sameElement(def, e, item))) continue;
        list.push(item);
        const pk = primaryKey(def);
        if (pk !== undefined && isObj(item) && item[pk] === true)
          this.clearPrimaries(def, list, list.length - 1);
      }
      this.commit(t, list);
      return;
    }
    if (raw === null) {
      this.commit(t, undefined);
      return;
    }
    if (def.type === 'complex') {
      if (Array.isArray(raw)) throw this.fail('scim.invalid_value', `${t.label} is single-valued`, 'value');
      this.commit(t, this.merge(def, old, raw, t.label));
      return;
    }
    this.commit(t, this.simple(def, raw, t.label));
  }

  /** add or replace at `attr[filter]` or `attr[filter].sub`: every matching element. */
  writeFiltered(op: OpName, t: Target, list: unknown[], raw: unknown): unknown[] {
    const def = t.def;
    let hits = this.matching(t, list);
    if (hits.length === 0) {
      // Only for `add`: RFC 7644 §3.5.2.3 requires noTarget for a replace whose filter matches nothing.
      const seed = this.opts.createOnNoMatch && op === 'add' ? this.seed(t) : undefined;
      if (seed === undefined) {
        throw this.fail(
          'scim.no_target',
          `no element of ${t.def.name} matches the filter of ${t.label}`,
          'path',
        );
      }
      list.push(seed);
      hits = [list.length - 1];
    }
    const wasPrimary = new Set(this.primaryIndexes(def, list, hits));
    const emptied = new Set<number>();
    for (const i of hits) {
      const el = list[i];
      if (t.sub !== undefined) {
        const o = (isObj(el) ? cloneJson(el) : {}) as Obj;
        this.writeSubOf(op, o, t.sub, raw, t.label);
        list[i] = o;
        if (isUnassigned(o)) emptied.add(i);
      } else if (def.type === 'complex') {
        if (raw === null) {
          emptied.add(i);
          continue;
        }
        if (Array.isArray(raw)) throw this.fail('scim.invalid_value', `${t.label} takes one value`, 'value');
        const o = this.merge(def, el, raw, t.label);
        list[i] = o;
        if (isUnassigned(o)) emptied.add(i);
      } else if (raw === null) {
        emptied.add(i);
      } else {
        list[i] = this.simple(def, raw, t.label);
      }
    }
    for (const i of hits) if (!emptied.has(i)) this.requireSubsIfComplex(def, list[i], t.label);
    if (oneByValue(def)) this.foldOnto(def, list, hits, emptied);
    // One element made primary clears the others; more than one made primary at once cannot be.
    const nowPrimary = this.primaryIndexes(def, list, hits).filter((i) => !emptied.has(i));
    const made = nowPrimary.filter((i) => !wasPrimary.has(i));
    if (made.length > 0) {
      if (nowPrimary.length > 1) {
        throw this.fail('scim.invalid_value', `${t.label}: at most one value may be primary`, 'value');
      }
      this.clearPrimaries(def, list, made[0] as number);
    }
    return list.filter((_, i) => !emptied.has(i));
  }

  /**
   * Of an attribute that holds each value once (oneByValue): when the operation wrote one element and it now
   * has the value of another, the two are one. The element held keeps its place, value and sub-attributes,
   * and becomes primary if the written one was marked so. Entra ID sets the primary role with
   * `add roles[primary eq "True"].value`, also to a role the user already holds. With more than one element
   * written nothing is folded: a repeat is then refused as one.
   */
  foldOnto(def: AttributeDef, list: unknown[], hits: readonly number[], emptied: Set<number>): void {
    const written = hits.filter((i) => !emptied.has(i));
    if (written.length !== 1) return;
    const i = written[0] as number;
    const el = list[i];
    if (!isObj(el)) return;
    const j = list.findIndex(
      (other, k) => k !== i && !emptied.has(k) && !hits.includes(k) && this.sameElement(def, other, el),
    );
    const held = list[j];
    if (j < 0 || !isObj(held)) return;
    emptied.add(i);
    const pk = primaryKey(def);
    if (pk !== undefined && el[pk] === true) {
      const c = cloneJson(held) as Obj;
      define(c, pk, true);
      list[j] = c;
      this.clearPrimaries(def, list, j);
    }
  }

  requireSubsIfComplex(def: AttributeDef, el: unknown, label: string): void {
    if (def.type === 'complex' && isObj(el)) this.requireSubs(def, el, label);
  }

  /** For createOnNoMatch: the element an `eq` filter (or an `and` of them) describes, if it describes one. */
  seed(t: Target): Obj | undefined {
    if (t.def.type !== 'complex') return undefined;
    const o: Obj = {};
    const visit = (f: Filter): boolean => {
      if (f.op === 'and') return visit(f.left) && visit(f.right);
      if (f.op !== 'eq' || f.value === null || f.path.sub !== undefined) return false;
      const sub = subOf(t.def, f.path.attr);
      if (sub === undefined || sub.type === 'complex' || sub.multiValued || sub.mutability === 'readOnly') {
        return false;
      }
      try {
        put(o, sub.name, this.simple(sub, f.value, t.label));
      } catch {
        return false;
      }
      return true;
    };
    return t.filter !== undefined && visit(t.filter) ? o : undefined;
  }

  remove(t: Target, raw: unknown): void {
    const def = t.def;
    const old = this.current(t);
    if (t.filter !== undefined) {
      const list = toList(cloneJson(old));
      const hits = this.matching(t, list);
      if (hits.length === 0) {
        throw this.fail(
          'scim.no_target',
          `no element of ${def.name} matches the filter of ${t.label}`,
          'path',
        );
      }
      const gone = new Set<number>();
      for (const i of hits) {
        if (t.sub === undefined) {
          gone.add(i);
          continue;
        }
        const o = (isObj(list[i]) ? cloneJson(list[i]) : {}) as Obj;
        this.removeSub(o, t.sub, t.label);
        list[i] = o;
        if (isUnassigned(o)) gone.add(i);
      }
      this.commit(
        t,
        list.filter((_, i) => !gone.has(i)),
      );
      return;
    }
    if (t.sub !== undefined) {
      if (!isObj(old)) return;
      const o = cloneJson(old) as Obj;
      this.removeSub(o, t.sub, t.label);
      this.commit(t, o);
      return;
    }
    if (def.multiValued && raw !== undefined && raw !== null) {
      // Entra ID: `{"op":"Remove","path":"members","value":[{"value":"<id>"}]}` removes the members listed.
      const items = toList(raw).map((x) => this.element(def, x, t.label));
      const list = toList(cloneJson(old));
      this.commit(
        t,
        list.filter((e) => !items.some((item) => this.matchesItem(def, e, item))),
      );
      return;
    }
    this.commit(t, undefined);
  }

  /** For a remove with a value list: the element has every sub-attribute the listed item gives. */
  matchesItem(def: AttributeDef, el: unknown, item: unknown): boolean {
    if (def.type !== 'complex' || isReferenceList(def) || !isObj(item) || !isObj(el)) {
      return this.sameElement(def, el, item);
    }
    return Object.keys(item).every((k) => {
      const sub = subOf(def, k);
      const iv = item[k];
      return sub !== undefined && !sub.multiValued && typeof iv === 'string'
        ? equalsValue(read(el, k), iv, sub)
        : deepEqual(read(el, k), iv);
    });
  }

  /** add or replace without a path: every key of the value is an attribute, a path, or an extension's URN. */
  writeAll(op: OpName, value: unknown): void {
    if (!isObj(value))
      throw this.fail('scim.invalid_value', `${op} without a path needs an object value`, 'value');
    for (const key of Object.keys(value)) {
      // `schemas` is the resource's own bookkeeping, not an attribute a PATCH sets.
      if (lower(key) === 'schemas') continue;
      const v = value[key];
      const t = this.parse(key, v, 'value');
      if (t !== undefined) {
        this.write(op, t, v);
        continue;
      }
      this.writeExtension(op, key, v as Obj);
    }
  }

  /** `{"urn:…:enterprise:2.0:User": {"department": …}}`: each key an attribute of that schema. */
  writeExtension(op: OpName, urn: string, value: Obj): void {
    for (const key of Object.keys(value)) {
      const t = this.parse(`${urn}:${key}`, undefined, 'value');
      if (t === undefined || lower(t.schema) !== lower(urn)) {
        throw this.fail(
          'scim.invalid_path',
          `${safeName(key)} is not an attribute of the schema named`,
          'value',
        );
      }
      this.write(op, t, value[key]);
    }
  }
}

/** One raw operation, its shape checked. */
function readOperation(
  raw: unknown,
  index: number,
): { op: OpName; path?: string; hasValue: boolean; value: unknown } {
  const bad = (detail: string, member?: string) =>
    new RosterError('scim.invalid_syntax', {
      detail: `Operations[${index}]: ${detail}`,
      errors: [{ pointer: `/Operations/${index}${member === undefined ? '' : `/${member}`}`, detail }],
    });
  if (!isObj(raw)) throw bad('an operation must be an object');
  const member = (name: string) => {
    const k = findKey(raw, name);
    return k === undefined ? undefined : raw[k];
  };
  const op = member('op');
  if (typeof op !== 'string') throw bad("'op' must be a string", 'op');
  const name = lower(op);
  if (name !== 'add' && name !== 'remove' && name !== 'replace') {
    throw bad("'op' must be 'add', 'remove' or 'replace'", 'op');
  }
  const path = member('path');
  if (path !== undefined && path !== null && typeof path !== 'string')
    throw bad("'path' must be a string", 'path');
  const valueKey = findKey(raw, 'value');
  return {
    op: name,
    ...(typeof path === 'string' ? { path } : {}),
    hasValue: valueKey !== undefined,
    value: valueKey === undefined ? undefined : raw[valueKey],
  };
}

/**
 * Applies a SCIM PATCH (RFC 7644 §3.5.2) to a resource document and returns the new document; the input is never
 * modified. `operations` is the request's raw `Operations` array; the operations apply in order, all or none.
 * @throws RosterError scim.invalid_syntax (the operations' shape, an unknown `op`), scim.invalid_path (a path or
 * a key naming no attribute), scim.invalid_filter (a value filter that cannot be evaluated), scim.invalid_value
 * (a value of the wrong type, a missing `value`), scim.mutability (read-only, immutable or required attributes),
 * scim.no_target (`remove` without a path, a value filter matching nothing), scim.too_many (more operations
 * than `maxOperations`).
 */
export function applyPatch(
  doc: Record<string, unknown>,
  operations: unknown,
  lookup: AttributeLookup,
  opts: PatchOptions = {},
): PatchResult {
  if (!Array.isArray(operations)) {
    throw new RosterError('scim.invalid_syntax', { detail: 'Operations must be an array' });
  }
  const max = opts.maxOperations ?? DEFAULT_MAX_OPERATIONS;
  if (operations.length > max) {
    throw new RosterError('scim.too_many', { detail: `a PATCH may carry at most ${max} operations` });
  }
  const work = cloneJson(doc) as Obj;
  operations.forEach((raw, index) => {
    const { op, path, hasValue, value } = readOperation(raw, index);
    const ctx = new OpContext(index, work, lookup, opts);
    if (op === 'remove') {
      // RFC 7644 §3.5.2.2: "If path is unspecified, the operation fails with … noTarget".
      if (path === undefined) throw ctx.fail('scim.no_target', 'remove needs a path', 'path');
      const t = ctx.parse(path, undefined, 'path');
      if (t === undefined) throw ctx.fail('scim.invalid_path', 'the path names no attribute', 'path');
      ctx.remove(t, value);
      return;
    }
    // RFC 7644 §3.5.2.1, §3.5.2.3: add and replace carry a value.
    if (!hasValue) throw ctx.fail('scim.invalid_value', `${op} needs a value`, 'value');
    if (path === undefined) {
      ctx.writeAll(op, value);
      return;
    }
    const t = ctx.parse(path, value, 'path');
    if (t === undefined) ctx.writeExtension(op, path.trim(), value as Obj);
    else ctx.write(op, t, value);
  });
  return { doc: work, changed: !deepEqual(doc, work) };
}
