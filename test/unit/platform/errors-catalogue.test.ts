/**
 * docs/errors.md and ERROR_CATALOGUE stay in step (fastify's error catalogue test is the model): every code is
 * documented once, with the catalogue's status, kind and title, and the document names no code that does not
 * exist.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../../src/platform/errors.js';

const DOC = fileURLToPath(new URL('../../../docs/errors.md', import.meta.url));
const HEADER = ['Code', 'Status', 'Kind', 'Title', 'When it happens'];

interface DocRow {
  readonly line: number;
  readonly code: string;
  readonly status: string;
  readonly kind: string;
  readonly title: string;
  readonly when: string;
}

function cells(line: string): string[] {
  return line
    .trim()
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
}

const unquote = (cell: string) => cell.replace(/^`(.*)`$/, '$1');

/** The rows of the catalogue table: the table whose header is HEADER. */
function parseCatalogueTable(markdown: string): DocRow[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim().startsWith('|') && cells(l).join('|') === HEADER.join('|'));
  if (start < 0) throw new Error(`docs/errors.md has no table headed | ${HEADER.join(' | ')} |`);
  const rows: DocRow[] = [];
  for (let i = start + 2; i < lines.length && (lines[i] ?? '').trim().startsWith('|'); i++) {
    const c = cells(lines[i] ?? '');
    if (c.length !== HEADER.length) throw new Error(`docs/errors.md:${i + 1} has ${c.length} cells`);
    const [code = '', status = '', kind = '', title = '', when = ''] = c;
    rows.push({ line: i + 1, code: unquote(code), status, kind: unquote(kind), title, when });
  }
  return rows;
}

describe('docs/errors.md lists the error catalogue', () => {
  const markdown = readFileSync(DOC, 'utf8');
  const rows = parseCatalogueTable(markdown);
  const catalogue = ERROR_CATALOGUE as Record<string, { title: string; kind: string; status: number }>;
  const codes = Object.keys(catalogue);

  it('finds the table', () => {
    expect(rows.length).toBeGreaterThan(0);
  });

  it('documents every catalogue code', () => {
    const documented = new Set(rows.map((r) => r.code));
    expect(codes.filter((c) => !documented.has(c))).toEqual([]);
  });

  it('lists no code the catalogue does not have', () => {
    expect(rows.filter((r) => !(r.code in catalogue)).map((r) => `line ${r.line}: ${r.code}`)).toEqual([]);
  });

  it('lists each code once', () => {
    const seen = new Set<string>();
    const twice = rows.filter((r) => seen.has(r.code) || !seen.add(r.code)).map((r) => r.code);
    expect(twice).toEqual([]);
  });

  it("gives each code the catalogue's status, kind and title, and says when it happens", () => {
    const wrong = rows
      .filter((r) => r.code in catalogue)
      .flatMap((r) => {
        const spec = catalogue[r.code] as { title: string; kind: string; status: number };
        const out: string[] = [];
        if (r.status !== String(spec.status))
          out.push(`${r.code}: status ${r.status}, catalogue ${spec.status}`);
        if (r.kind !== spec.kind) out.push(`${r.code}: kind ${r.kind}, catalogue ${spec.kind}`);
        if (r.title !== spec.title) out.push(`${r.code}: title "${r.title}", catalogue "${spec.title}"`);
        if (r.when === '') out.push(`${r.code}: says nothing about when it happens`);
        return out;
      });
    expect(wrong).toEqual([]);
  });

  it('names no stale code anywhere else in the page', () => {
    // Any `<module>.<reason>` in backticks whose module is one the catalogue uses must be a real code.
    const modules = new Set(codes.map((c) => c.split('.')[0]));
    const mentioned = [...markdown.matchAll(/`([a-z]+)\.([a-z_]+)`/g)]
      .filter((m) => modules.has(m[1]))
      .map((m) => `${m[1]}.${m[2]}`);
    expect(mentioned.filter((c) => !(c in catalogue))).toEqual([]);
  });
});

describe('the table parser', () => {
  const doc = (body: string) =>
    ['# x', '', `| ${HEADER.join(' | ')} |`, '|---|---|---|---|---|', body, '', 'after'].join('\n');

  it('reads code, status, kind and title cells', () => {
    const [row] = parseCatalogueTable(doc('| `a.b` | 404 | `not_found` | Nothing here | when asked |'));
    expect(row).toMatchObject({ code: 'a.b', status: '404', kind: 'not_found', title: 'Nothing here' });
  });

  it('rejects a row with a missing cell rather than misreading it', () => {
    expect(() => parseCatalogueTable(doc('| `a.b` | 404 | Nothing here | when |'))).toThrow(/cells/);
  });

  it('fails when the table is gone', () => {
    expect(() => parseCatalogueTable('# errors\n\nno table')).toThrow(/no table/);
  });
});
