/**
 * The shapes the SCIM modules share: parsed attribute paths and filters (RFC 7644 §3.4.2.2, §3.5.2) and
 * attribute definitions (RFC 7643 §2.2, §7). Pure types; `filter.ts` parses into them, `schemas.ts` defines the
 * attributes, `patch.ts` and the store's filter translation read them.
 */

/**
 * An attribute path: `[uri ":"] attr ["." sub]`. `uri` is the schema URN when the client wrote one (as given; compare
 * case-insensitively). Inside a value filter (`emails[type eq "work"]`) paths are relative to the multi-valued
 * attribute: `attr` is the sub-attribute (`type`) and `sub` is absent.
 */
export interface AttrPath {
  readonly uri?: string;
  readonly attr: string;
  readonly sub?: string;
}

export const COMPARE_OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const;
export type CompareOp = (typeof COMPARE_OPS)[number];

/** A comparison value: a JSON string, number, `true`, `false` or `null` (RFC 7644 §3.4.2.2 compValue). */
export type CompValue = string | number | boolean | null;

/** A parsed filter. `valuePath` is `attr[filter]`: the inner filter's paths are relative to `path` (see AttrPath). */
export type Filter =
  | { readonly op: CompareOp; readonly path: AttrPath; readonly value: CompValue }
  | { readonly op: 'pr'; readonly path: AttrPath }
  | { readonly op: 'and' | 'or'; readonly left: Filter; readonly right: Filter }
  | { readonly op: 'not'; readonly filter: Filter }
  | { readonly op: 'valuePath'; readonly path: AttrPath; readonly filter: Filter };

/**
 * A PATCH path (RFC 7644 §3.5.2, `PATH = attrPath / valuePath [subAttr]`): `name.givenName` is
 * `{path: {attr: 'name', sub: 'givenName'}}`; `emails[type eq "work"].value` is
 * `{path: {attr: 'emails'}, valueFilter: …, sub: 'value'}`.
 */
export interface PatchPath {
  readonly path: AttrPath;
  readonly valueFilter?: Filter;
  /** The sub-attribute after a value filter (`].value`). */
  readonly sub?: string;
}

export type AttributeType =
  | 'string'
  | 'boolean'
  | 'decimal'
  | 'integer'
  | 'dateTime'
  | 'reference'
  | 'complex'
  | 'binary';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
export type Returned = 'always' | 'never' | 'default' | 'request';
export type Uniqueness = 'none' | 'server' | 'global';

/** An attribute definition as `/Schemas` publishes it (RFC 7643 §7). */
export interface AttributeDef {
  readonly name: string;
  readonly type: AttributeType;
  readonly multiValued: boolean;
  readonly description: string;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: Mutability;
  readonly returned: Returned;
  readonly uniqueness: Uniqueness;
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
  readonly subAttributes?: readonly AttributeDef[];
}

/** A schema as `/Schemas/{id}` publishes it (RFC 7643 §7), without `meta`. */
export interface SchemaDef {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly AttributeDef[];
}
