import { timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../platform/canonical-json.js';
import { Frontier, leafHash } from './merkle.js';
import { type LeafEntry, leafBytes, PLATFORM_TREE } from './model.js';
import { type Checkpoint, NoteError, type NoteVerifier, openNote, parseCheckpoint } from './note.js';

/**
 * Verification of a tree's entries against its signed checkpoints, shared by the offline check of an export
 * (`roster audit verify file`) and the live check of the store (`roster audit verify --live`). Entries are
 * fed in leaf order and checkpoints after the entry that completes them; the first thing that does not hold
 * stops the check with a `VerifyFailure` naming where it is.
 */
export class VerifyFailure extends Error {
  /** Where: "line 12", "entry 10 (seq 55)", "end of export". */
  readonly where: string;

  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.name = 'VerifyFailure';
    this.where = where;
  }
}

export interface VerifiedCheckpoint {
  readonly origin: string;
  readonly size: number;
  readonly rootHash: Uint8Array;
  readonly note: string;
}

const ORIGIN = /^(.+)\/audit\/([^/]+)$/;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export class TreeVerifier {
  readonly #verifiers: readonly NoteVerifier[];
  readonly #frontier = Frontier.empty();
  #origin: string | undefined;
  #tree: string | undefined;
  #lastCheckpoint: VerifiedCheckpoint | undefined;
  #checkpoints = 0;

  constructor(verifiers: readonly NoteVerifier[]) {
    this.#verifiers = verifiers;
  }

  get size(): number {
    return this.#frontier.size;
  }

  get checkpoints(): number {
    return this.#checkpoints;
  }

  get lastCheckpoint(): VerifiedCheckpoint | undefined {
    return this.#lastCheckpoint;
  }

  root(): Uint8Array {
    return this.#frontier.root();
  }

  /** Opens a signed checkpoint note: signature by a known key, well-formed, the tree's origin. */
  open(note: string, where: string): VerifiedCheckpoint {
    let c: Checkpoint;
    try {
      c = parseCheckpoint(openNote(note, this.#verifiers).text);
    } catch (err) {
      if (err instanceof NoteError) throw new VerifyFailure(where, `checkpoint rejected: ${err.message}`);
      throw err;
    }
    const m = ORIGIN.exec(c.origin);
    if (!m) throw new VerifyFailure(where, `checkpoint origin '${c.origin}' is not a Roster audit log`);
    if (this.#origin !== undefined && c.origin !== this.#origin) {
      throw new VerifyFailure(where, `checkpoint of another log ('${c.origin}', expected '${this.#origin}')`);
    }
    this.#origin = c.origin;
    this.#tree = m[2];
    return { origin: c.origin, size: c.size, rootHash: c.rootHash, note };
  }

  /**
   * Appends the next entry. `claimed` is the leaf hash the source holds for it (the export's `leafHash`, the
   * store's level-0 node): a difference names this very entry as altered. Returns the new perfect nodes.
   */
  entry(leaf: LeafEntry, where: string, claimed?: Uint8Array): ReturnType<Frontier['append']> {
    const expected = this.#frontier.size;
    if (leaf.index !== expected) {
      throw new VerifyFailure(
        where,
        `entry has index ${String(leaf.index)} where ${expected} was expected (an entry is missing, duplicated or out of order)`,
      );
    }
    const tree = leaf.tenantId ?? PLATFORM_TREE;
    if (this.#tree !== undefined && tree !== this.#tree) {
      throw new VerifyFailure(where, `entry ${expected} belongs to another tree ('${tree}')`);
    }
    const hash = leafHash(leafBytes(leaf));
    if (claimed !== undefined && !sameBytes(hash, claimed)) {
      throw new VerifyFailure(
        where,
        `entry ${expected} (seq ${String(leaf.seq)}) does not match its leaf hash: it was altered`,
      );
    }
    return this.#frontier.append(hash);
  }

  /** A checkpoint placed after the entry that completes it: its root must be the root of the entries so far. */
  checkpoint(c: VerifiedCheckpoint, where: string): void {
    const size = this.#frontier.size;
    if (this.#lastCheckpoint !== undefined && c.size <= this.#lastCheckpoint.size) {
      throw new VerifyFailure(where, `checkpoint of size ${c.size} repeated or out of order`);
    }
    if (c.size !== size) {
      throw new VerifyFailure(where, `checkpoint of size ${c.size} placed after ${size} entries`);
    }
    if (!sameBytes(c.rootHash, this.#frontier.root())) {
      const from = this.#lastCheckpoint?.size ?? 0;
      throw new VerifyFailure(
        where,
        `the entries do not hash to the signed root of size ${c.size}: one of entries ${from}..${size - 1} was altered, removed, added or reordered`,
      );
    }
    this.#lastCheckpoint = c;
    this.#checkpoints++;
  }
}

export interface ExportSummary {
  readonly origin: string;
  readonly entries: number;
  readonly checkpoints: number;
  readonly rootHash: Uint8Array;
}

/** One export line: canonical JSON of either kind. */
export type ExportLine =
  | { type: 'checkpoint'; note: string }
  | { type: 'entry'; leafHash: string; entry: LeafEntry };

export function exportLine(line: ExportLine): string {
  return `${canonicalJson(line)}\n`;
}

/**
 * Verifies an export (JSON Lines: the covering checkpoint, the entries in leaf order with every stored
 * checkpoint after the entry that completes it, and the covering checkpoint again as the last line) with
 * nothing but the verifier keys. Every byte counts: a line must be canonical JSON, so any change to it is a
 * change to a hashed or signed value.
 * @throws VerifyFailure naming the first line that fails.
 */
export async function verifyExport(
  lines: Iterable<string> | AsyncIterable<string>,
  verifiers: readonly NoteVerifier[],
  onProgress?: (entries: number) => void,
): Promise<ExportSummary> {
  const v = new TreeVerifier(verifiers);
  let head: VerifiedCheckpoint | undefined;
  let last: ExportLine | undefined;
  let n = 0;
  for await (const text of lines) {
    n++;
    const where = `line ${n}`;
    const line = parseLine(text, where);
    if (head === undefined) {
      if (line.type !== 'checkpoint')
        throw new VerifyFailure(where, 'an export starts with the checkpoint that covers it');
      head = v.open(line.note, where);
    } else if (line.type === 'checkpoint') {
      const c = v.open(line.note, where);
      if (c.size > head.size)
        throw new VerifyFailure(where, `checkpoint of size ${c.size} beyond the export's ${head.size}`);
      v.checkpoint(c, where);
    } else {
      if (v.size >= head.size)
        throw new VerifyFailure(where, `entry beyond the ${head.size} the export covers`);
      const claimed = Buffer.from(line.leafHash, 'base64');
      if (claimed.toString('base64') !== line.leafHash)
        throw new VerifyFailure(where, 'leafHash is not canonical base64: the line was altered');
      v.entry(line.entry, where, claimed);
      if (onProgress && v.size % 1000 === 0) onProgress(v.size);
    }
    last = line;
  }
  if (head === undefined) throw new VerifyFailure('line 1', 'the export is empty');
  if (v.size < head.size) {
    throw new VerifyFailure(
      'end of export',
      `truncated: the checkpoint covers ${head.size} entries, the export holds ${v.size}; entry ${v.size} is the first missing`,
    );
  }
  if (last?.type !== 'checkpoint' || last.note !== head.note) {
    throw new VerifyFailure(
      'end of export',
      'the export does not end with its covering checkpoint (truncated?)',
    );
  }
  return { origin: head.origin, entries: v.size, checkpoints: v.checkpoints, rootHash: head.rootHash };
}

function parseLine(text: string, where: string): ExportLine {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new VerifyFailure(where, 'not a JSON line');
  }
  if (canonicalJson(value) !== text)
    throw new VerifyFailure(where, 'not in canonical form: the line was altered');
  const o = value as Record<string, unknown>;
  if (o.type === 'checkpoint' && typeof o.note === 'string' && Object.keys(o).length === 2) {
    return { type: 'checkpoint', note: o.note };
  }
  if (
    o.type === 'entry' &&
    typeof o.leafHash === 'string' &&
    typeof o.entry === 'object' &&
    o.entry !== null &&
    Object.keys(o).length === 3
  ) {
    return { type: 'entry', leafHash: o.leafHash, entry: o.entry as LeafEntry };
  }
  throw new VerifyFailure(where, 'neither an entry nor a checkpoint line');
}

/**
 * The lines of an export given as byte chunks (a file stream, or one Buffer): split at each newline byte
 * (0x0A never occurs inside a multi-byte UTF-8 sequence), each line strict UTF-8; the last line must end
 * with a newline.
 */
export async function* exportLines(
  chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let pending: Buffer[] = [];
  let n = 0;
  const line = (parts: Buffer[]): string => {
    n++;
    try {
      return decoder.decode(parts.length === 1 ? parts[0] : Buffer.concat(parts));
    } catch {
      throw new VerifyFailure(`line ${n}`, 'not valid UTF-8: the line was altered');
    }
  };
  for await (const chunk of chunks) {
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    for (let end = buf.indexOf(0x0a); end !== -1; end = buf.indexOf(0x0a, start)) {
      pending.push(buf.subarray(start, end));
      yield line(pending);
      pending = [];
      start = end + 1;
    }
    if (start < buf.length) pending.push(buf.subarray(start));
  }
  if (pending.length > 0) {
    throw new VerifyFailure(`line ${n + 1}`, 'the last line is incomplete (truncated?)');
  }
}
