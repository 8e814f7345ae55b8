import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Checkpoint,
  formatCheckpoint,
  generateSignerKey,
  MAX_NOTE_BYTES,
  NoteError,
  type NoteErrorCode,
  NoteSigner,
  NoteVerifier,
  openNote,
  parseCheckpoint,
} from '../../../src/audit/note.js';

// Vectors copied from golang/mod sumdb/note/note_test.go (golang.org/x/mod/sumdb/note).
const PETER_VK = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SK = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const ENOCH_VK = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT =
  'If you think cryptography is the answer to your problem,\n' +
  "then you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';

// A real go.sum database tree head (a checkpoint), from transparency-dev/formats log/note_test.go.
const SUMDB_VK = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const SUMDB_NOTE = `go.sum database tree
6476701
mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=

— sum.golang.org Az3grsLX85Gz+s1SiTbgkuqxgItqFq7gsMUEyVnrsa9LM7Us9S+1xbFIGu95949rj4nPRYfvimWEPWL+o3GeoWwOoAw=
`;

// The example of C2SP/C2SP tlog-checkpoint.md (its key is not published).
const C2SP_CHECKPOINT = `example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
`;

// Two distinct keys with the same name and key hash (found by a birthday search, ~165k keys).
const TWIN_A = 'PRIVATE+KEY+Twin+8a94b505+AaYgDSdsA6MDfeQ35aTgKeRswZkuYgRW47Qq6knwDTmh';
const TWIN_B = 'PRIVATE+KEY+Twin+8a94b505+AQcsK27sh9vpbwqndntzEsajIeJZqx31HkKcTBATu8EX';

const peter = () => NoteVerifier.fromVerifierKey(PETER_VK);
const enoch = () => NoteVerifier.fromVerifierKey(ENOCH_VK);

function noteError(fn: () => unknown): NoteError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(NoteError);
    return err as NoteError;
  }
  throw new Error('expected a NoteError, nothing was thrown');
}

function expectNoteError(fn: () => unknown, code: NoteErrorCode, message?: RegExp | string): void {
  const err = noteError(fn);
  expect(err.code, err.message).toBe(code);
  if (message !== undefined) expect(err.message).toMatch(message);
}

/** No ASCII control characters (newline included). */
const noControl = (s: string) => [...s].every((ch) => (ch.codePointAt(0) ?? 0) >= 0x20);

/** Replaces the base64 of a signature line with the re-encoding of its bytes after `change`. */
function alterSignature(line: string, change: (raw: Buffer) => void): string {
  const [dash, name, b64] = line.trimEnd().split(' ');
  const raw = Buffer.from(b64 ?? '', 'base64');
  change(raw);
  return `${dash} ${name} ${raw.toString('base64')}\n`;
}

describe('keys (Go vectors)', () => {
  it('reads the PeterNeumann verifier and signer keys, and they match', () => {
    const v = peter();
    const s = NoteSigner.fromSignerKey(PETER_SK);
    expect(v.name).toBe('PeterNeumann');
    expect(v.keyHash).toBe(0xc74f20a3);
    expect(s.name).toBe('PeterNeumann');
    expect(s.keyHash).toBe(0xc74f20a3);
    expect(s.verifierKey()).toBe(PETER_VK);
    expect(v.verifierKey()).toBe(PETER_VK);
    expect(enoch().keyHash).toBe(0xaf0cfe78);
  });

  it('rejects every substring and every one-byte change of the verifier key (TestNewVerifier)', () => {
    const b = Buffer.from(PETER_VK);
    for (let i = 0; i <= b.length; i++) {
      for (let j = i + 1; j <= b.length; j++) {
        if (i === 0 && j === b.length) continue;
        const k = b.subarray(i, j).toString('latin1');
        expect(() => NoteVerifier.fromVerifierKey(k), k).toThrow(NoteError);
      }
    }
    for (let i = 0; i < b.length; i++) {
      const m = Buffer.from(b);
      m[i] = (m[i] ?? 0) + 1;
      const k = m.toString('latin1');
      expect(() => NoteVerifier.fromVerifierKey(k), k).toThrow(NoteError);
    }
  });

  it('rejects a wrong-length key and an unknown algorithm even with matching key hashes', () => {
    // Go's vectors carry key hashes adjusted to their (bad) key bytes, so only the key itself is wrong.
    // "BADKEY==" is also non-canonical base64 (non-zero padding bits), which this decoder refuses first.
    expectNoteError(
      () =>
        NoteVerifier.fromVerifierKey(
          'PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==',
        ),
      'malformed',
    );
    const short = Buffer.concat([Buffer.of(0x01), Buffer.alloc(31, 9)]);
    const shortHash = createHash('sha256')
      .update('Short\n')
      .update(short)
      .digest()
      .subarray(0, 4)
      .toString('hex');
    expectNoteError(
      () => NoteVerifier.fromVerifierKey(`Short+${shortHash}+${short.toString('base64')}`),
      'malformed',
      /32 bytes/,
    );
    expectNoteError(
      () =>
        NoteVerifier.fromVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'),
      'unknown_key',
      /unknown algorithm/,
    );
    expectNoteError(
      () =>
        NoteVerifier.fromVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'),
      'malformed',
      /key hash does not match/,
    );
  });

  it('rejects every substring and every one-byte change of the signer key (TestNewSigner)', () => {
    const b = Buffer.from(PETER_SK);
    for (let i = 0; i <= b.length; i++) {
      for (let j = i + 1; j <= b.length; j++) {
        if (i === 0 && j === b.length) continue;
        const k = b.subarray(i, j).toString('latin1');
        expect(() => NoteSigner.fromSignerKey(k), k).toThrow(NoteError);
      }
    }
    for (let i = 0; i < b.length; i++) {
      const m = Buffer.from(b);
      m[i] = (m[i] ?? 0) + 1;
      const k = m.toString('latin1');
      expect(() => NoteSigner.fromSignerKey(k), k).toThrow(NoteError);
    }
  });

  it('never puts signer key material in an error message', () => {
    const seed = PETER_SK.slice(PETER_SK.lastIndexOf('+') + 1);
    for (const bad of [`${PETER_SK}x`, PETER_SK.replace('c74f20a3', 'c74f20a4'), `X${PETER_SK}`]) {
      expect(noteError(() => NoteSigner.fromSignerKey(bad)).message).not.toContain(seed.slice(4, 20));
    }
  });

  it('generates key pairs in Go encodings that sign and verify', () => {
    for (const name of ['EnochRoot', 'example.com/log42', 'Señor-7']) {
      const { signerKey, verifierKey } = generateSignerKey(name);
      expect(signerKey).toMatch(/^PRIVATE\+KEY\+[^+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
      expect(verifierKey).toMatch(/^[^+]+\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$/);
      expect(Buffer.from(signerKey.split('+').slice(4).join('+'), 'base64')[0]).toBe(0x01);
      const s = NoteSigner.fromSignerKey(signerKey);
      const v = NoteVerifier.fromVerifierKey(verifierKey);
      expect(s.verifierKey()).toBe(verifierKey);
      expect([s.name, s.keyHash]).toEqual([name, v.keyHash]);
      expect(verifierKey.startsWith(`${name}+${v.keyHash.toString(16).padStart(8, '0')}+`)).toBe(true);
      expect(openNote(s.sign('hi\n'), [v])).toEqual({ text: 'hi\n', verifiedBy: [name] });
    }
    const a = generateSignerKey('EnochRoot');
    const b = generateSignerKey('EnochRoot');
    expect(a.signerKey).not.toBe(b.signerKey);
  });

  it('refuses invalid key names', () => {
    for (const name of ['', 'a+b', 'a b', 'a\tb', 'a\nb', 'a\u00a0b', 'a\u2003b', 'a\u3000b', 'a\u0085b']) {
      expectNoteError(() => generateSignerKey(name), 'malformed', /key name/);
    }
  });
});

describe('signing (Go vectors)', () => {
  it('signs the PeterNeumann text to exactly the Go signature (TestSign)', () => {
    const signed = NoteSigner.fromSignerKey(PETER_SK).sign(TEXT);
    expect(signed).toBe(`${TEXT}\n${PETER_SIG}`);
    expect(signed).toBe(`If you think cryptography is the answer to your problem,
then you don't know what your problem is.

— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=
`);
  });

  it('refuses texts that cannot be note texts', () => {
    const s = NoteSigner.fromSignerKey(PETER_SK);
    for (const text of ['', 'abc', 'a\x01\n', 'a\r\n', '\uD800\n', 'a\uDC00b\n']) {
      expectNoteError(() => s.sign(text), 'malformed', /cannot sign/);
    }
    expectNoteError(() => s.sign(`${'a'.repeat(MAX_NOTE_BYTES)}\n`), 'malformed', /exceed/);
  });

  it('signs texts with blank lines, a lone newline and non-ASCII text so they open to the same text', () => {
    const s = NoteSigner.fromSignerKey(PETER_SK);
    for (const text of [
      '\n',
      'a\n\n',
      'a\n\nb\n',
      '— PeterNeumann looks like a signature\n',
      'ed è subito sera 🌅\n',
    ]) {
      expect(openNote(s.sign(text), [peter()])).toEqual({ text, verifiedBy: ['PeterNeumann'] });
    }
  });
});

describe('openNote (Go vectors, TestOpen)', () => {
  it('verifies one known signature and ignores an unknown one', () => {
    expect(openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [peter()])).toEqual({
      text: TEXT,
      verifiedBy: ['PeterNeumann'],
    });
  });

  it('verifies both signatures when both keys are known', () => {
    expect(openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [peter(), enoch()]).verifiedBy).toEqual([
      'PeterNeumann',
      'EnochRoot',
    ]);
  });

  it('rejects a note with no known signature', () => {
    expectNoteError(
      () => openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, []),
      'no_verified_signature',
      'note has no signature by a known key (signed by PeterNeumann+c74f20a3, EnochRoot+af0cfe78)',
    );
    const other = NoteSigner.fromSignerKey(generateSignerKey('Other').signerKey);
    expectNoteError(() => openNote(other.sign(TEXT), [peter(), enoch()]), 'no_verified_signature');
  });

  it('ignores a signature whose name or key hash (not both) matches a known key', () => {
    const wrongHash = alterSignature(PETER_SIG, (raw) => {
      raw[3] = (raw[3] ?? 0) ^ 1;
    });
    expectNoteError(() => openNote(`${TEXT}\n${wrongHash}`, [peter()]), 'no_verified_signature');
    const wrongName = PETER_SIG.replace('PeterNeumann', 'PeterNeuman');
    expectNoteError(() => openNote(`${TEXT}\n${wrongName}`, [peter()]), 'no_verified_signature');
    expect(openNote(`${TEXT}\n${wrongName}${wrongHash}${PETER_SIG}`, [peter()]).verifiedBy).toEqual([
      'PeterNeumann',
    ]);
  });

  it('accepts the same verifier listed twice', () => {
    expect(openNote(`${TEXT}\n${ENOCH_SIG}`, [enoch(), peter(), enoch()]).verifiedBy).toEqual(['EnochRoot']);
  });

  it('refuses to pick between two different keys with the same name and key hash', () => {
    const a = NoteSigner.fromSignerKey(TWIN_A);
    const b = NoteSigner.fromSignerKey(TWIN_B);
    expect(a.keyHash).toBe(b.keyHash);
    expect(a.verifierKey()).not.toBe(b.verifierKey());
    const va = NoteVerifier.fromVerifierKey(a.verifierKey());
    const vb = NoteVerifier.fromVerifierKey(b.verifierKey());
    expect(openNote(a.sign(TEXT), [va]).verifiedBy).toEqual(['Twin']);
    expectNoteError(() => openNote(a.sign(TEXT), [vb]), 'invalid_signature');
    expectNoteError(() => openNote(a.sign(TEXT), [va, vb]), 'unknown_key', /ambiguous key Twin\+8a94b505/);
    // Unused, the ambiguity does not matter.
    expect(openNote(`${TEXT}\n${PETER_SIG}`, [va, vb, peter()]).verifiedBy).toEqual(['PeterNeumann']);
  });

  it('accepts 100 signatures and rejects 101', () => {
    expect(openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [peter()]).verifiedBy).toEqual(['PeterNeumann']);
    expectNoteError(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [peter()]), 'malformed', /100/);
    expectNoteError(() => openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, []), 'malformed', /100/);
  });

  it('rejects a signature of the wrong length by a known key', () => {
    // Go's peterSig[:60] counts bytes; the em dash is 3 bytes in UTF-8 and 1 code unit here.
    const bad = `${PETER_SIG.slice(0, 58)}ABCD${PETER_SIG.slice(58)}`;
    expectNoteError(
      () => openNote(`${TEXT}\n${bad}`, [peter()]),
      'invalid_signature',
      'invalid signature for key PeterNeumann+c74f20a3',
    );
  });

  it('skips repeated and corrupt signatures by unknown keys', () => {
    const enochABCD = `${ENOCH_SIG.slice(0, 58)}ABCD${ENOCH_SIG.slice(58)}`;
    const signed = `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochABCD}`;
    expect(openNote(signed, [peter()])).toEqual({ text: TEXT, verifiedBy: ['PeterNeumann'] });
  });

  it('rejects malformed notes', () => {
    const bad = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${TEXT}\n${PETER_SIG}`,
      // Go's "\xff" (invalid UTF-8) has no JS string form; an unpaired surrogate is the equivalent.
      `\uD800${TEXT}\n${PETER_SIG}`,
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
      `${TEXT}\n${PETER_SIG}\n`,
      `${TEXT}\n${PETER_SIG.replace('— ', '- ')}`,
      `${TEXT}\n${PETER_SIG.replace('— ', '—')}`,
      `${TEXT}\n— PeterNeumann\n`,
      `${TEXT}\n— PeterNeumann \n`,
      `${TEXT}\n— PeterNeumann x08g\n`,
      `${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM\n`,
      `${TEXT}\n— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAN=\n`,
      `${TEXT.replace('\n', '\r\n')}\n${PETER_SIG}`,
    ];
    for (const msg of bad) {
      expectNoteError(() => openNote(msg, [peter()]), 'malformed', /malformed note/);
    }
    // Six bytes decode fine (key hash and two bytes): a known key's signature, of the wrong length.
    expectNoteError(() => openNote(`${TEXT}\n— PeterNeumann x08go/ZJ\n`, [peter()]), 'invalid_signature');
  });

  it('rejects notes over 1 MB before reading them', () => {
    const s = NoteSigner.fromSignerKey(PETER_SK);
    const big = `${'a'.repeat(MAX_NOTE_BYTES - 200)}\n`;
    const signed = s.sign(big);
    expect(openNote(signed, [peter()]).text).toBe(big);
    expectNoteError(
      () => openNote(`x${'a'.repeat(MAX_NOTE_BYTES)}\n\n${PETER_SIG}`, [peter()]),
      'malformed',
      /larger/,
    );
    // 400k three-byte characters: under the limit in code units, over it in UTF-8 bytes.
    expectNoteError(
      () => openNote(`${'€'.repeat(400_000)}\n\n${PETER_SIG}`, [peter()]),
      'malformed',
      /larger/,
    );
  });

  it('rejects a changed body or signature as an invalid signature', () => {
    const signed = `${TEXT}\n${PETER_SIG}`;
    expectNoteError(
      () => openNote(signed.replace('cryptography', 'cryptographz'), [peter()]),
      'invalid_signature',
      'invalid signature for key PeterNeumann+c74f20a3',
    );
    expectNoteError(() => openNote(`x${signed}`, [peter()]), 'invalid_signature');
    for (const at of [4, 20, 67]) {
      const flipped = alterSignature(PETER_SIG, (raw) => {
        raw[at] = (raw[at] ?? 0) ^ 0x01;
      });
      expectNoteError(() => openNote(`${TEXT}\n${flipped}`, [peter()]), 'invalid_signature');
    }
    // A good signature next to a bad one by another known key is still rejected.
    const badEnoch = alterSignature(ENOCH_SIG, (raw) => {
      raw[30] = (raw[30] ?? 0) ^ 0x80;
    });
    expectNoteError(
      () => openNote(`${TEXT}\n${PETER_SIG}${badEnoch}`, [peter(), enoch()]),
      'invalid_signature',
      /EnochRoot\+af0cfe78/,
    );
  });

  it('round-trips arbitrary note texts', () => {
    const s = NoteSigner.fromSignerKey(PETER_SK);
    const v = peter();
    const line = fc.string({ unit: 'grapheme', maxLength: 40 }).filter(noControl);
    fc.assert(
      fc.property(fc.array(line, { minLength: 1, maxLength: 6 }), (lines) => {
        const text = `${lines.join('\n')}\n`;
        expect(openNote(s.sign(text), [v])).toEqual({ text, verifiedBy: ['PeterNeumann'] });
      }),
      { numRuns: 200 },
    );
  });
});

describe('checkpoints', () => {
  it('verifies and parses a sum.golang.org tree head (transparency-dev/formats vector)', () => {
    const { text, verifiedBy } = openNote(SUMDB_NOTE, [NoteVerifier.fromVerifierKey(SUMDB_VK)]);
    expect(verifiedBy).toEqual(['sum.golang.org']);
    const cp = parseCheckpoint(text);
    expect(cp).toEqual({
      origin: 'go.sum database tree',
      size: 6476701,
      rootHash: new Uint8Array(Buffer.from('mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk=', 'base64')),
      extensions: [],
    });
    expect(formatCheckpoint(cp)).toBe(text);
    expectNoteError(
      () => openNote(SUMDB_NOTE.replace('6476701', '6476702'), [NoteVerifier.fromVerifierKey(SUMDB_VK)]),
      'invalid_signature',
      'invalid signature for key sum.golang.org+033de0ae',
    );
  });

  it('parses the C2SP example, whose signature is by a key not known here', () => {
    const body = C2SP_CHECKPOINT.slice(0, C2SP_CHECKPOINT.lastIndexOf('\n\n') + 1);
    const cp = parseCheckpoint(body);
    expect(cp.origin).toBe('example.com/behind-the-sofa');
    expect(cp.size).toBe(20852163);
    expect(Buffer.from(cp.rootHash).toString('base64')).toBe('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=');
    expect(formatCheckpoint(cp)).toBe(body);
    expectNoteError(
      () => openNote(C2SP_CHECKPOINT, [NoteVerifier.fromVerifierKey(SUMDB_VK)]),
      'no_verified_signature',
      /example\.com\/behind-the-sofa\+033de0ae/,
    );
  });

  it('formats, signs, opens and parses checkpoints with extension lines', () => {
    const { signerKey, verifierKey } = generateSignerKey('roster.example/audit');
    const cp: Checkpoint = {
      origin: 'roster.example/audit',
      size: 0,
      rootHash: new Uint8Array(32).fill(7),
      extensions: ['tenant 42', 'é'],
    };
    const text = formatCheckpoint(cp);
    expect(text).toBe(`roster.example/audit\n0\n${Buffer.alloc(32, 7).toString('base64')}\ntenant 42\né\n`);
    const opened = openNote(NoteSigner.fromSignerKey(signerKey).sign(text), [
      NoteVerifier.fromVerifierKey(verifierKey),
    ]);
    expect(parseCheckpoint(opened.text)).toEqual(cp);
  });

  it('round-trips arbitrary checkpoints', () => {
    const line = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 30 }).filter(noControl);
    fc.assert(
      fc.property(
        line,
        fc.nat({ max: Number.MAX_SAFE_INTEGER }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.array(line, { maxLength: 3 }),
        (origin, size, rootHash, extensions) => {
          const cp = { origin, size, rootHash, extensions };
          expect(parseCheckpoint(formatCheckpoint(cp))).toEqual(cp);
        },
      ),
      { numRuns: 300 },
    );
  });

  const ROOT = Buffer.alloc(32, 1).toString('base64');

  it('rejects bad tree sizes', () => {
    for (const size of [
      '01',
      '00',
      '-1',
      '+1',
      '1.0',
      '1e3',
      '0x10',
      ' 1',
      '1 ',
      '',
      '١',
      '9007199254740992',
    ]) {
      expectNoteError(() => parseCheckpoint(`log\n${size}\n${ROOT}\n`), 'malformed', /tree size/);
    }
    expect(parseCheckpoint(`log\n0\n${ROOT}\n`).size).toBe(0);
    expect(parseCheckpoint(`log\n9007199254740991\n${ROOT}\n`).size).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('rejects bad root hashes', () => {
    const roots = [
      'YmFuYW5hcw==', // "bananas": 7 bytes (transparency-dev accepts any length; the spec's root is 32 bytes)
      Buffer.alloc(31).toString('base64'),
      Buffer.alloc(33).toString('base64'),
      '',
      "ThisIsn'tBase64",
      ROOT.slice(0, -1),
      `${ROOT.slice(0, -2)}J=`, // non-canonical: the padding bits are not zero
      ROOT.replace(/=$/, ''),
      Buffer.alloc(32, 1).toString('base64url'),
      ` ${ROOT}`,
    ];
    for (const root of roots) {
      expectNoteError(() => parseCheckpoint(`log\n1\n${root}\n`), 'malformed', /root hash/);
    }
  });

  it('rejects other malformed checkpoint texts', () => {
    const bad = [
      `log\n1\n${ROOT}`, // missing final newline
      'Head\n9944\n', // too few lines
      '',
      '\n',
      `\n1\n${ROOT}\n`, // empty origin
      `log\n1\n${ROOT}\n\n`, // empty extension line
      `log\n1\n${ROOT}\next\n\n`,
      `log\r\n1\n${ROOT}\n`,
      `lo\x00g\n1\n${ROOT}\n`,
      `log\n1\n${ROOT}\n\n— sig AAAA\n`, // a signed note, not its text
    ];
    for (const text of bad) expectNoteError(() => parseCheckpoint(text), 'malformed', /malformed checkpoint/);
  });

  it('refuses to format checkpoints it could not parse', () => {
    const good: Checkpoint = { origin: 'log', size: 1, rootHash: new Uint8Array(32), extensions: [] };
    expect(formatCheckpoint(good)).toBe(`log\n1\n${Buffer.alloc(32).toString('base64')}\n`);
    const bad: Checkpoint[] = [
      { ...good, origin: '' },
      { ...good, origin: 'a\nb' },
      { ...good, size: -1 },
      { ...good, size: 1.5 },
      { ...good, size: 2 ** 53 },
      { ...good, rootHash: new Uint8Array(31) },
      { ...good, extensions: [''] },
      { ...good, extensions: ['a\nb'] },
      { ...good, extensions: ['a\tb'] },
    ];
    for (const c of bad) expectNoteError(() => formatCheckpoint(c), 'malformed', /cannot format checkpoint/);
  });
});
