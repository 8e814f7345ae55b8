/**
 * Signed notes (https://c2sp.org/signed-note, the format of golang.org/x/mod/sumdb/note) with Ed25519 keys,
 * and transparency-log checkpoints (https://c2sp.org/tlog-checkpoint), the note text a log signs.
 * Ed25519 comes from node:crypto; key texts use Go's encodings, so keys and notes interoperate with Go tools.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as ed25519Sign,
  verify as ed25519Verify,
  type KeyObject,
  randomBytes,
} from 'node:crypto';

export type NoteErrorCode = 'malformed' | 'unknown_key' | 'invalid_signature' | 'no_verified_signature';

/**
 * A note, key or checkpoint that cannot be used. Codes: `malformed` (bad syntax, size or key text),
 * `unknown_key` (a key of an algorithm other than Ed25519, or two verifiers sharing a name and key hash),
 * `invalid_signature` (a known key's signature fails), `no_verified_signature` (no known key signed).
 * Messages never contain private key material.
 */
export class NoteError extends Error {
  readonly code: NoteErrorCode;

  constructor(code: NoteErrorCode, message: string) {
    super(message);
    this.name = 'NoteError';
    this.code = code;
  }
}

/** The largest signed note `openNote` reads, in UTF-8 bytes. */
export const MAX_NOTE_BYTES = 1_000_000;
/** The most signature lines `openNote` reads (Go's limit; the spec asks for at least 16). */
export const MAX_SIGNATURES = 100;

/** Signature type byte of Ed25519 (signed-note, "Signature types"). */
const ALG_ED25519 = 0x01;
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const SIGNATURE_PREFIX = '\u2014 ';
const HEX8 = /^[0-9a-fA-F]{8}$/;
/** Unicode White_Space, as Go's unicode.IsSpace. */
const SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/;

// ---- helpers

const malformed = (message: string) => new NoteError('malformed', message);

/** Why `s` is not valid note text (UTF-8 with no control characters but newline), or undefined. */
function textProblem(s: string): string | undefined {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) {
      return `control character U+${c.toString(16).padStart(4, '0').toUpperCase()} at offset ${i}`;
    }
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return `unpaired surrogate at offset ${i} (not valid UTF-8)`;
    }
    if (c >= 0xdc00 && c <= 0xdfff) return `unpaired surrogate at offset ${i} (not valid UTF-8)`;
  }
  return undefined;
}

/** Key names are non-empty, without "+" or Unicode spaces (signed-note, "Format"). */
function isValidName(name: string): boolean {
  return name !== '' && !name.includes('+') && !SPACE.test(name) && textProblem(name) === undefined;
}

/** Standard base64 with padding, canonical only (it must re-encode to the same text). */
function decodeBase64(s: string): Buffer | undefined {
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const bytes = Buffer.from(s, 'base64');
  return bytes.toString('base64') === s ? bytes : undefined;
}

/** Splits at the first "+", like Go's chop: no "+" gives [s, '']. */
function chop(s: string): [string, string] {
  const i = s.indexOf('+');
  return i < 0 ? [s, ''] : [s.slice(0, i), s.slice(i + 1)];
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

/** Key ID = SHA-256(name || 0x0A || type byte || public key)[:4], big-endian (signed-note, "Signatures"). */
function computeKeyHash(name: string, typedKey: Uint8Array): number {
  return createHash('sha256').update(name, 'utf8').update('\n').update(typedKey).digest().readUInt32BE(0);
}

function privateKeyFromSeed(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519, seed]), format: 'der', type: 'pkcs8' });
}

function publicKeyOf(privateKey: KeyObject): Buffer {
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return spki.subarray(SPKI_ED25519.length);
}

const typed = (key: Uint8Array) => Buffer.concat([Buffer.of(ALG_ED25519), key]);

// ---- keys

/**
 * A new Ed25519 key pair in Go's encodings: `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || seed)>` and
 * `<name>+<hash>+<base64(0x01 || public key)>`.
 * @throws NoteError malformed when the name is empty or has "+" or spaces.
 */
export function generateSignerKey(name: string): { signerKey: string; verifierKey: string } {
  if (!isValidName(name)) throw malformed('invalid key name: it must be non-empty, without "+" or spaces');
  const seed = randomBytes(32);
  const pub = publicKeyOf(privateKeyFromSeed(seed));
  const hash = hex8(computeKeyHash(name, typed(pub)));
  const typedSeed = typed(seed);
  const signerKey = `PRIVATE+KEY+${name}+${hash}+${typedSeed.toString('base64')}`;
  seed.fill(0);
  typedSeed.fill(0);
  return { signerKey, verifierKey: `${name}+${hash}+${typed(pub).toString('base64')}` };
}

/** Signs note texts with one Ed25519 key. */
export class NoteSigner {
  readonly name: string;
  readonly keyHash: number;
  readonly #privateKey: KeyObject;
  readonly #publicKey: Buffer;

  private constructor(name: string, keyHash: number, privateKey: KeyObject, publicKey: Buffer) {
    this.name = name;
    this.keyHash = keyHash;
    this.#privateKey = privateKey;
    this.#publicKey = publicKey;
  }

  /**
   * Reads a signer key `PRIVATE+KEY+<name>+<hash>+<base64(0x01 || 32-byte seed)>` (Go's NewSigner).
   * @throws NoteError malformed, or unknown_key for an algorithm other than Ed25519.
   */
  static fromSignerKey(text: string): NoteSigner {
    const [private1, rest1] = chop(text);
    const [private2, rest2] = chop(rest1);
    const [name, rest3] = chop(rest2);
    const [hash16, key64] = chop(rest3);
    const key = decodeBase64(key64);
    if (
      private1 !== 'PRIVATE' ||
      private2 !== 'KEY' ||
      !HEX8.test(hash16) ||
      !isValidName(name) ||
      key === undefined ||
      key.length === 0
    ) {
      throw malformed('malformed signer key: want PRIVATE+KEY+<name>+<8 hex digits>+<base64 key>');
    }
    const id = `${name}+${hash16}`;
    if (key[0] !== ALG_ED25519) throw new NoteError('unknown_key', `signer key ${id}: unknown algorithm`);
    if (key.length !== 33) throw malformed(`malformed signer key ${id}: an Ed25519 seed is 32 bytes`);
    const privateKey = privateKeyFromSeed(key.subarray(1));
    key.fill(0);
    const publicKey = publicKeyOf(privateKey);
    const hash = computeKeyHash(name, typed(publicKey));
    if (hash !== Number.parseInt(hash16, 16)) {
      throw malformed(`malformed signer key ${id}: the key hash does not match the key`);
    }
    return new NoteSigner(name, hash, privateKey, publicKey);
  }

  /** The matching verifier key, `<name>+<hash>+<base64(0x01 || public key)>`. */
  verifierKey(): string {
    return `${this.name}+${hex8(this.keyHash)}+${typed(this.#publicKey).toString('base64')}`;
  }

  /**
   * Signs a note text (non-empty, ending in "\n", no control characters but newline) and returns the signed
   * note: text, a blank line, and `— <name> <base64(key hash || signature)>`.
   * @throws NoteError malformed when the text cannot be a note text.
   */
  sign(text: string): string {
    if (text === '' || !text.endsWith('\n'))
      throw malformed('cannot sign: a note text must end in a newline');
    const problem = textProblem(text);
    if (problem !== undefined) throw malformed(`cannot sign: ${problem}`);
    const hash = Buffer.alloc(4);
    hash.writeUInt32BE(this.keyHash);
    const signature = ed25519Sign(null, Buffer.from(text, 'utf8'), this.#privateKey);
    const note = `${text}\n${SIGNATURE_PREFIX}${this.name} ${Buffer.concat([hash, signature]).toString('base64')}\n`;
    if (Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) {
      throw malformed(`cannot sign: the signed note would exceed ${MAX_NOTE_BYTES} bytes`);
    }
    return note;
  }
}

/** Checks signatures of one Ed25519 key. */
export class NoteVerifier {
  readonly name: string;
  readonly keyHash: number;
  readonly #publicKey: KeyObject;
  readonly #raw: Buffer;

  private constructor(name: string, keyHash: number, raw: Buffer) {
    this.name = name;
    this.keyHash = keyHash;
    this.#raw = raw;
    this.#publicKey = createPublicKey({
      key: Buffer.concat([SPKI_ED25519, raw]),
      format: 'der',
      type: 'spki',
    });
  }

  /**
   * Reads a verifier key `<name>+<hash>+<base64(0x01 || 32-byte public key)>` (Go's NewVerifier).
   * @throws NoteError malformed, or unknown_key for an algorithm other than Ed25519.
   */
  static fromVerifierKey(text: string): NoteVerifier {
    const [name, rest] = chop(text);
    const [hash16, key64] = chop(rest);
    const key = decodeBase64(key64);
    if (!HEX8.test(hash16) || !isValidName(name) || key === undefined || key.length === 0) {
      throw malformed('malformed verifier key: want <name>+<8 hex digits>+<base64 key>');
    }
    const id = `${name}+${hash16}`;
    const hash = Number.parseInt(hash16, 16);
    if (computeKeyHash(name, key) !== hash) {
      throw malformed(`malformed verifier key ${id}: the key hash does not match the key`);
    }
    if (key[0] !== ALG_ED25519) throw new NoteError('unknown_key', `verifier key ${id}: unknown algorithm`);
    if (key.length !== 33) throw malformed(`malformed verifier key ${id}: an Ed25519 public key is 32 bytes`);
    try {
      return new NoteVerifier(name, hash, key.subarray(1));
    } catch {
      throw malformed(`malformed verifier key ${id}: not an Ed25519 public key`);
    }
  }

  /** The verifier key text. */
  verifierKey(): string {
    return `${this.name}+${hex8(this.keyHash)}+${typed(this.#raw).toString('base64')}`;
  }

  /** Whether `signature` (64 bytes, without the key hash) is this key's Ed25519 signature of `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    return signature.length === 64 && ed25519Verify(null, message, this.#publicKey, signature);
  }

  /** Same key, name and hash. */
  sameKey(other: NoteVerifier): boolean {
    return this.name === other.name && this.keyHash === other.keyHash && this.#raw.equals(other.#raw);
  }
}

// ---- notes

interface SignatureLine {
  readonly name: string;
  readonly keyHash: number;
  readonly signature: Buffer;
}

function parseSignatureLine(line: string, n: number): SignatureLine {
  if (!line.startsWith(SIGNATURE_PREFIX)) {
    throw malformed(`malformed note: signature line ${n} does not start with "\u2014 "`);
  }
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = space < 0 ? rest : rest.slice(0, space);
  const b64 = space < 0 ? '' : rest.slice(space + 1);
  if (!isValidName(name)) throw malformed(`malformed note: signature line ${n} has an invalid key name`);
  const raw = decodeBase64(b64);
  if (b64 === '' || raw === undefined) {
    throw malformed(`malformed note: signature line ${n} is not "\u2014 <name> <base64>"`);
  }
  if (raw.length < 5) throw malformed(`malformed note: signature line ${n} is shorter than 5 bytes`);
  return { name, keyHash: raw.readUInt32BE(0), signature: raw.subarray(4) };
}

/**
 * Opens a signed note: checks its syntax and every signature by a known key (one whose name and key hash
 * match a verifier; others are ignored, as the spec requires). Returns the note text (with its final newline)
 * and the names of the known keys that signed it, in order, each once.
 * @throws NoteError malformed (syntax, over MAX_NOTE_BYTES, over MAX_SIGNATURES lines), invalid_signature (a
 *   known key's signature fails), no_verified_signature (no known key signed), unknown_key (two verifiers share
 *   the name and key hash of a signature).
 */
export function openNote(
  signed: string,
  verifiers: readonly NoteVerifier[],
): { text: string; verifiedBy: string[] } {
  if (signed.length > MAX_NOTE_BYTES || Buffer.byteLength(signed, 'utf8') > MAX_NOTE_BYTES) {
    throw malformed(`malformed note: larger than ${MAX_NOTE_BYTES} bytes`);
  }
  const problem = textProblem(signed);
  if (problem !== undefined) throw malformed(`malformed note: ${problem}`);
  const split = signed.lastIndexOf('\n\n');
  if (split < 0) throw malformed('malformed note: no blank line before the signatures');
  const text = signed.slice(0, split + 1);
  const block = signed.slice(split + 2);
  if (block === '') throw malformed('malformed note: no signature lines after the last blank line');
  if (!block.endsWith('\n'))
    throw malformed('malformed note: the last signature line does not end in a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_SIGNATURES)
    throw malformed(`malformed note: more than ${MAX_SIGNATURES} signatures`);
  const signatures = lines.map((line, i) => parseSignatureLine(line, i + 1));

  const known = new Map<string, NoteVerifier[]>();
  for (const v of verifiers) {
    const id = `${v.name}+${hex8(v.keyHash)}`;
    const list = known.get(id) ?? [];
    if (!list.some((other) => other.sameKey(v))) list.push(v);
    known.set(id, list);
  }

  const body = Buffer.from(text, 'utf8');
  const verifiedBy: string[] = [];
  const verified = new Set<string>();
  const unknown = new Set<string>();
  for (const s of signatures) {
    const id = `${s.name}+${hex8(s.keyHash)}`;
    const candidates = known.get(id);
    if (candidates === undefined) {
      unknown.add(id);
      continue;
    }
    if (candidates.length > 1) {
      throw new NoteError(
        'unknown_key',
        `ambiguous key ${id}: several verifiers have this name and key hash`,
      );
    }
    if (!candidates[0]?.verify(body, s.signature)) {
      throw new NoteError('invalid_signature', `invalid signature for key ${id}`);
    }
    if (!verified.has(id)) {
      verified.add(id);
      verifiedBy.push(s.name);
    }
  }
  if (verifiedBy.length === 0) {
    throw new NoteError(
      'no_verified_signature',
      `note has no signature by a known key (signed by ${[...unknown].join(', ')})`,
    );
  }
  return { text, verifiedBy };
}

// ---- checkpoints

/** A checkpoint body (c2sp.org/tlog-checkpoint, "Note text"). */
export interface Checkpoint {
  /** Unique log identity, non-empty. */
  origin: string;
  /** Number of leaves. */
  size: number;
  /** RFC 6962 Merkle tree root, 32 bytes. */
  rootHash: Uint8Array;
  /** Opaque non-empty lines after the root hash (use is NOT RECOMMENDED by the spec). */
  extensions: string[];
}

/**
 * Encodes a checkpoint as note text: origin, decimal size and base64 root hash, then the extension lines,
 * each ending in "\n".
 * @throws NoteError malformed for a checkpoint that parseCheckpoint would reject.
 */
export function formatCheckpoint(c: Checkpoint): string {
  const line = (what: string, s: string) => {
    if (s === '' || s.includes('\n') || textProblem(s) !== undefined) {
      throw malformed(`cannot format checkpoint: ${what} must be one non-empty line of text`);
    }
  };
  line('the origin', c.origin);
  if (!Number.isSafeInteger(c.size) || c.size < 0) {
    throw malformed('cannot format checkpoint: the tree size must be a non-negative safe integer');
  }
  if (c.rootHash.length !== 32) throw malformed('cannot format checkpoint: the root hash must be 32 bytes');
  for (const [i, e] of c.extensions.entries()) line(`extension line ${i + 1}`, e);
  const root = Buffer.from(c.rootHash.buffer, c.rootHash.byteOffset, c.rootHash.byteLength).toString(
    'base64',
  );
  return [c.origin, String(c.size), root, ...c.extensions].map((l) => `${l}\n`).join('');
}

/**
 * Parses checkpoint note text (the `text` of openNote, not the signed note), strictly: non-empty origin,
 * decimal size without leading zeros, canonical base64 of a 32-byte root hash, non-empty extension lines.
 * @throws NoteError malformed.
 */
export function parseCheckpoint(text: string): Checkpoint {
  const bad = (why: string) => malformed(`malformed checkpoint: ${why}`);
  if (!text.endsWith('\n')) throw bad('the text does not end in a newline');
  const problem = textProblem(text);
  if (problem !== undefined) throw bad(problem);
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3) throw bad('fewer than 3 lines (origin, tree size, root hash)');
  const [origin = '', sizeText = '', rootText = '', ...extensions] = lines;
  if (origin === '') throw bad('the origin line is empty');
  if (!/^(0|[1-9][0-9]*)$/.test(sizeText)) {
    throw bad(
      `tree size ${JSON.stringify(sizeText.slice(0, 40))} is not a decimal number without leading zeros`,
    );
  }
  const size = Number(sizeText);
  if (!Number.isSafeInteger(size)) throw bad('tree size is larger than 2^53 - 1');
  const root = decodeBase64(rootText);
  if (root === undefined) throw bad('the root hash is not canonical base64');
  if (root.length !== 32) throw bad(`the root hash is ${root.length} bytes, not 32`);
  for (const [i, e] of extensions.entries()) {
    if (e === '') throw bad(`extension line ${i + 1} is empty`);
  }
  return { origin, size, rootHash: new Uint8Array(root), extensions };
}
