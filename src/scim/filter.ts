/**
 * SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2, §3.10): a hand-written scanner and
 * recursive-descent parser into the shapes of `ast.ts`, and their canonical serialisation.
 *
 * The parser reads each character once and decides with one token of look-ahead, so it never backtracks; input
 * is capped in length and nesting, so no string can make it slow or overflow the stack. Errors name what was
 * expected and where (a 0-based position), never the text itself: a filter carries user names and e-mail
 * addresses.
 *
 * Leniencies beyond the ABNF, all unambiguous: keywords (`eq`, `and`, `not`, `true`) in any case, runs of spaces
 * and tabs wherever a space may stand or around brackets and parentheses, white space at either end, and
 * `not (` besides `not(`. A keyword stands where an attribute path may as the attribute of that name
 * (`not pr`, `and eq "x"`): `not` is the operator only when a `(` follows it.
 */
import { type ErrorCode, RosterError } from '../platform/errors.js';
import {
  type AttrPath,
  COMPARE_OPS,
  type CompareOp,
  type CompValue,
  type Filter,
  type PatchPath,
} from './ast.js';

/** The longest filter or path accepted, in UTF-16 code units. */
export const MAX_FILTER_LENGTH = 4096;
/** The deepest nesting of parentheses, `not (…)` and value filters `[…]` accepted. */
export const MAX_FILTER_DEPTH = 32;

type PathCode = Extract<ErrorCode, 'scim.invalid_filter' | 'scim.invalid_path'>;

// ---- scanning

/** A word is a run of attribute-path, keyword and number characters; strings and brackets stand alone. */
type Token =
  | { readonly kind: 'word'; readonly text: string; readonly at: number; readonly spaced: boolean }
  | { readonly kind: 'string'; readonly value: string; readonly at: number; readonly spaced: boolean }
  | { readonly kind: '(' | ')' | '[' | ']' | 'end'; readonly at: number; readonly spaced: boolean };

const isSpace = (c: number) => c === 0x20 || c === 0x09;

/** ALPHA DIGIT `-` `_` `.` `:` (paths, URNs), `$` (`$ref`), `+` (exponents). */
function isWordChar(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2d || // -
    c === 0x5f || // _
    c === 0x2e || // .
    c === 0x3a || // :
    c === 0x24 || // $
    c === 0x2b // +
  );
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  '\\': '\\',
  '/': '/',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
};

const fail = (code: PathCode, detail: string): RosterError => new RosterError(code, { detail });

/** Splits the text into tokens; two words or strings must be apart by white space (ABNF `SP`). */
function tokenize(text: string, code: PathCode): Token[] {
  const what = code === 'scim.invalid_filter' ? 'filter' : 'attribute path';
  if (text.length > MAX_FILTER_LENGTH) {
    throw fail(code, `the ${what} is longer than ${MAX_FILTER_LENGTH} characters`);
  }
  const tokens: Token[] = [];
  let i = 0;
  let previous: Token['kind'] | undefined;
  while (true) {
    const start = i;
    while (i < text.length && isSpace(text.charCodeAt(i))) i++;
    const spaced = i > start;
    if (i >= text.length) {
      tokens.push({ kind: 'end', at: i, spaced });
      return tokens;
    }
    const at = i;
    const c = text.charCodeAt(i);
    let token: Token;
    if (c === 0x22) {
      const [value, next] = scanString(text, i, code);
      token = { kind: 'string', value, at, spaced };
      i = next;
    } else if (isWordChar(c)) {
      while (i < text.length && isWordChar(text.charCodeAt(i))) i++;
      token = { kind: 'word', text: text.slice(at, i), at, spaced };
    } else if (c === 0x28 || c === 0x29 || c === 0x5b || c === 0x5d) {
      token = { kind: text[i] as '(' | ')' | '[' | ']', at, spaced };
      i++;
    } else {
      throw fail(code, `unexpected character at position ${at}`);
    }
    const isValue = token.kind === 'word' || token.kind === 'string';
    if (isValue && !spaced && (previous === 'word' || previous === 'string')) {
      throw fail(code, `expected white space at position ${at}`);
    }
    tokens.push(token);
    previous = token.kind;
  }
}

/** A JSON string (RFC 8259 §7) starting at `start`: its value and the position after its closing quote. */
function scanString(text: string, start: number, code: PathCode): [string, number] {
  let out = '';
  let i = start + 1;
  let run = i; // start of the current run of plain characters
  while (true) {
    if (i >= text.length) throw fail(code, `unterminated string starting at position ${start}`);
    const c = text.charCodeAt(i);
    if (c === 0x22) return [out + text.slice(run, i), i + 1];
    if (c < 0x20) throw fail(code, `control character in a string at position ${i}`);
    if (c !== 0x5c) {
      i++;
      continue;
    }
    out += text.slice(run, i);
    const e = text[i + 1];
    const simple = e === undefined ? undefined : SIMPLE_ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      i += 2;
    } else if (e === 'u' && /^[0-9A-Fa-f]{4}$/.test(text.slice(i + 2, i + 6))) {
      out += String.fromCharCode(Number.parseInt(text.slice(i + 2, i + 6), 16));
      i += 6;
    } else {
      throw fail(code, `invalid escape in a string at position ${i}`);
    }
    run = i;
  }
}

// ---- attribute paths

/** RFC 7643 §2.1 ATTRNAME = ALPHA *(nameChar), and `$ref` (RFC 7643 §2.3.7). */
const ATTR_NAME = /^(?:[A-Za-z][A-Za-z0-9_-]*|\$ref)$/i;
/** A scheme and at least one more segment: `urn:ietf:params:scim:schemas:core:2.0:User`. */
const SCHEMA_URI = /^[A-Za-z][A-Za-z0-9+.-]*(?::[A-Za-z0-9._-]+)+$/;
/** RFC 8259 §6 number. */
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;

/**
 * A word as `[URI ":"] ATTRNAME ["." ATTRNAME]`. The attribute is what follows the last ':', so a URN's own
 * dots (`2.0`) never read as a sub-attribute.
 */
function toAttrPath(word: string, at: number, code: PathCode): AttrPath {
  const colon = word.lastIndexOf(':');
  const rest = word.slice(colon + 1);
  const dot = rest.indexOf('.');
  const attr = dot < 0 ? rest : rest.slice(0, dot);
  const sub = dot < 0 ? undefined : rest.slice(dot + 1);
  if (colon >= 0 && !SCHEMA_URI.test(word.slice(0, colon))) {
    throw fail(code, `expected a schema URI at position ${at}`);
  }
  if (!ATTR_NAME.test(attr)) throw fail(code, `expected an attribute name at position ${at + colon + 1}`);
  if (sub !== undefined && !ATTR_NAME.test(sub)) {
    throw fail(code, `expected one sub-attribute name at position ${at + colon + 2 + dot}`);
  }
  return {
    ...(colon >= 0 ? { uri: word.slice(0, colon) } : {}),
    attr,
    ...(sub !== undefined ? { sub } : {}),
  };
}

// ---- parsing

const isCompareOp = (s: string): s is CompareOp => (COMPARE_OPS as readonly string[]).includes(s);

/** Where a filter ends: the whole text, a `)` or a `]`. */
type Closer = 'end' | ')' | ']';
const CLOSER_NAMES: Readonly<Record<Closer, string>> = {
  end: 'the end of the filter',
  ')': "')'",
  ']': "']'",
};

class Parser {
  private readonly tokens: readonly Token[];
  private readonly code: PathCode;
  private i = 0;

  constructor(tokens: readonly Token[], code: PathCode) {
    this.tokens = tokens;
    this.code = code;
  }

  /** The current token (the last one is always `end`, and is never consumed). */
  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.i + offset, this.tokens.length - 1)] as Token;
  }

  private next(): Token {
    const t = this.peek();
    if (t.kind !== 'end') this.i++;
    return t;
  }

  private expected(what: string, t: Token = this.peek()): RosterError {
    return fail(this.code, `expected ${what} at position ${t.at}`);
  }

  private isKeyword(t: Token, keyword: string): boolean {
    return t.kind === 'word' && t.text.toLowerCase() === keyword;
  }

  /** `FILTER` up to `closer`, which is left for the caller: `or` binds loosest, then `and`. */
  filter(depth: number, closer: Closer, inValuePath: boolean): Filter {
    let left = this.conjunction(depth, inValuePath);
    while (this.isKeyword(this.peek(), 'or')) {
      this.next();
      const right = this.conjunction(depth, inValuePath);
      left = { op: 'or', left, right };
    }
    const t = this.peek();
    if (t.kind !== closer) throw this.expected(`'and', 'or' or ${CLOSER_NAMES[closer]}`, t);
    return left;
  }

  private conjunction(depth: number, inValuePath: boolean): Filter {
    let left = this.term(depth, inValuePath);
    while (this.isKeyword(this.peek(), 'and')) {
      this.next();
      const right = this.term(depth, inValuePath);
      left = { op: 'and', left, right };
    }
    return left;
  }

  /** `not (FILTER)`, `(FILTER)`, `attrPath pr`, `attrPath op value` or `attrPath[valFilter]`. */
  private term(depth: number, inValuePath: boolean): Filter {
    const t = this.peek();
    // `not` followed by `(` is the operator; anything else makes it an attribute named "not".
    if (this.isKeyword(t, 'not') && this.peek(1).kind === '(') {
      this.next();
      return { op: 'not', filter: this.group(depth, inValuePath) };
    }
    if (t.kind === '(') return this.group(depth, inValuePath);
    if (t.kind !== 'word') throw this.expected("an attribute path, '(' or 'not'", t);
    this.next();
    const path = toAttrPath(t.text, t.at, this.code);
    const o = this.peek();
    if (o.kind === '[' && !o.spaced) {
      // RFC 7644 §3.4.2.2 valFilter: a value filter holds no value filter of its own.
      if (inValuePath) throw fail(this.code, `unexpected '[' inside a value filter at position ${o.at}`);
      this.next();
      this.enter(depth, o);
      const filter = this.filter(depth + 1, ']', true);
      this.next();
      return { op: 'valuePath', path, filter };
    }
    const op = o.kind === 'word' ? o.text.toLowerCase() : '';
    if (op === 'pr') {
      this.next();
      return { op: 'pr', path };
    }
    if (!isCompareOp(op)) {
      if (o.kind === '[') throw fail(this.code, `unexpected white space before '[' at position ${o.at - 1}`);
      // `not` without its parenthesis read as an attribute: say what was more likely meant.
      const paren = t.text.toLowerCase() === 'not' ? "'(' or " : '';
      throw this.expected(`${paren}an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr)`, o);
    }
    this.next();
    return { op, path, value: this.value() };
  }

  /** `( FILTER )`, the `(` being the current token. */
  private group(depth: number, inValuePath: boolean): Filter {
    const open = this.next();
    this.enter(depth, open);
    const inner = this.filter(depth + 1, ')', inValuePath);
    this.next();
    return inner;
  }

  private enter(depth: number, t: Token): void {
    if (depth >= MAX_FILTER_DEPTH) {
      throw fail(this.code, `nesting deeper than ${MAX_FILTER_DEPTH} levels at position ${t.at}`);
    }
  }

  /** compValue = false / null / true / number / string. */
  private value(): CompValue {
    const t = this.next();
    if (t.kind === 'string') return t.value;
    if (t.kind === 'word') {
      const word = t.text.toLowerCase();
      if (word === 'true') return true;
      if (word === 'false') return false;
      if (word === 'null') return null;
      if (JSON_NUMBER.test(t.text)) {
        const n = Number(t.text);
        if (Number.isFinite(n)) return n;
        throw fail(this.code, `number out of range at position ${t.at}`);
      }
    }
    throw this.expected('a value (a JSON string, number, true, false or null)', t);
  }

  /** PATH = attrPath / valuePath [subAttr] (RFC 7644 §3.5.2). */
  patchPath(): PatchPath {
    const t = this.next();
    if (t.kind !== 'word') throw this.expected('an attribute path', t);
    const path = toAttrPath(t.text, t.at, this.code);
    const open = this.peek();
    if (open.kind === '[' && open.spaced) {
      throw fail(this.code, `unexpected white space before '[' at position ${open.at - 1}`);
    }
    if (open.kind !== '[') {
      this.end("'[' or the end of the path");
      return { path };
    }
    this.next();
    const valueFilter = this.filter(1, ']', true);
    this.next();
    const s = this.peek();
    if (s.kind !== 'word' || s.spaced || !s.text.startsWith('.')) {
      this.end("'.' or the end of the path");
      return { path, valueFilter };
    }
    this.next();
    const sub = s.text.slice(1);
    if (!ATTR_NAME.test(sub))
      throw fail(this.code, `expected one sub-attribute name at position ${s.at + 1}`);
    this.end('the end of the path');
    return { path, valueFilter, sub };
  }

  /** One attribute path and nothing else. */
  attrPath(): AttrPath {
    const t = this.next();
    if (t.kind !== 'word') throw this.expected('an attribute path', t);
    const path = toAttrPath(t.text, t.at, this.code);
    this.end('the end of the path');
    return path;
  }

  end(what: string): void {
    if (this.peek().kind !== 'end') throw this.expected(what);
  }
}

/**
 * Parses a SCIM filter (RFC 7644 §3.4.2.2). `and` and `or` associate to the left; parentheses leave no trace
 * in the result. @throws scim.invalid_filter
 */
export function parseFilter(text: string): Filter {
  return new Parser(tokenize(text, 'scim.invalid_filter'), 'scim.invalid_filter').filter(0, 'end', false);
}

/** Parses one attribute path (`attributes`, `excludedAttributes`, `sortBy`). @throws scim.invalid_path */
export function parseAttrPath(text: string): AttrPath {
  return new Parser(tokenize(text, 'scim.invalid_path'), 'scim.invalid_path').attrPath();
}

/**
 * Parses a PATCH path (RFC 7644 §3.5.2): `name.givenName`, `emails[type eq "work"].value`. A bad filter inside
 * the brackets is a bad path. @throws scim.invalid_path
 */
export function parsePatchPath(text: string): PatchPath {
  return new Parser(tokenize(text, 'scim.invalid_path'), 'scim.invalid_path').patchPath();
}

// ---- formatting

/** `[uri:]attr[.sub]`. */
export function formatAttrPath(p: AttrPath): string {
  const name = p.sub === undefined ? p.attr : `${p.attr}.${p.sub}`;
  return p.uri === undefined ? name : `${p.uri}:${name}`;
}

/** @throws RangeError for a number JSON cannot write (NaN, ±Infinity): no filter can hold one */
function formatValue(v: CompValue): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new RangeError('a SCIM filter value must be a finite number');
    return Object.is(v, -0) ? '-0' : JSON.stringify(v);
  }
  return JSON.stringify(v);
}

/**
 * The canonical text of a filter: lower-case keywords, single spaces, strings as `JSON.stringify` writes them,
 * and parentheses around every `and`/`or` operand except a left one of the same operator, so that
 * `parseFilter(formatFilter(f))` equals `f` (for a filter within the parser's length and depth limits, and with
 * no value filter inside another, which the grammar cannot express).
 */
export function formatFilter(f: Filter): string {
  switch (f.op) {
    case 'and':
    case 'or':
      return `${formatOperand(f.left, f.op, true)} ${f.op} ${formatOperand(f.right, f.op, false)}`;
    case 'not':
      return `not (${formatFilter(f.filter)})`;
    case 'valuePath':
      return `${formatAttrPath(f.path)}[${formatFilter(f.filter)}]`;
    case 'pr':
      return `${formatAttrPath(f.path)} pr`;
    default:
      return `${formatAttrPath(f.path)} ${f.op} ${formatValue(f.value)}`;
  }
}

function formatOperand(f: Filter, parent: 'and' | 'or', isLeft: boolean): string {
  const logical = f.op === 'and' || f.op === 'or';
  return !logical || (isLeft && f.op === parent) ? formatFilter(f) : `(${formatFilter(f)})`;
}

/** The canonical text of a PATCH path: `attrPath[filter].sub`. */
export function formatPatchPath(p: PatchPath): string {
  const filter = p.valueFilter === undefined ? '' : `[${formatFilter(p.valueFilter)}]`;
  return `${formatAttrPath(p.path)}${filter}${p.sub === undefined ? '' : `.${p.sub}`}`;
}
