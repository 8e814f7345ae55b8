/**
 * Compliance report renderers: the CSV files parsed back with a strict RFC 4180 parser, and the PDF read back
 * with poppler-utils (`pdftotext`, `pdfinfo`, `pdffonts`) as an auditor's tools would read it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ComplianceReport,
  type ReportTable,
  renderCsv,
  renderPdf,
} from '../../../src/audit/report-render.js';
import { POPPLER_TOOLS, popplerInstalled } from '../../support/pdf.js';
import { IN_CI } from '../../support/stores.js';

const UNICODE = 'Zoë Ünal — Łódź';
const ROOT_HASH = createHash('sha256').update('roster report test root').digest('base64');
const SIGNATURE = createHash('sha512').update('roster report test signature').digest('base64');
const NOTE = `roster.example/audit/acme\n48213\n${ROOT_HASH}\n\n— roster.example/audit ${SIGNATURE}\n`;
const LONG_TEXT = `${'Access reviewed and confirmed by the department head after the quarterly recertification. '.repeat(5)}TAIL-MARKER`;

const id = (n: number) => `user-${String(n).padStart(3, '0')}`;

const USERS: ReportTable = {
  id: 'users',
  title: 'Users at period end',
  description: 'Every user of the tenant on the last day of the period, with the seats assigned to them.',
  columns: [
    { key: 'user', label: 'User' },
    { key: 'email', label: 'Email' },
    { key: 'status', label: 'Status' },
    { key: 'note', label: 'Review note' },
    { key: 'seats', label: 'Seats', numeric: true },
  ],
  rows: Array.from({ length: 120 }, (_, i) => {
    const n = i + 1;
    return {
      user: id(n),
      email: `${id(n)}@acme.example`,
      status: n % 7 === 0 ? 'suspended' : 'active',
      note: n === 5 ? LONG_TEXT : n === 60 ? UNICODE : null,
      seats: n % 10 === 0 ? 1000 + n : n,
    };
  }),
};

const CHANGES: ReportTable = {
  id: 'access-changes',
  title: 'Access changes',
  columns: [
    { key: 'actor', label: 'Actor' },
    { key: 'change', label: 'Change' },
    { key: 'detail', label: 'Detail' },
    { key: 'delta', label: 'Seat delta', numeric: true },
  ],
  rows: [
    { actor: UNICODE, change: 'granted, then revoked', detail: 'said "ok"', delta: 3 },
    { actor: '=HYPERLINK("http://evil.example","x")', change: '-2+3', detail: '@SUM(A1:A2)', delta: -3 },
    { actor: '+1 555 0100', change: 'line one\nline two', detail: '\tleading tab', delta: 0 },
    { actor: 'carriage\rreturn', change: null, detail: '\rstarts with CR', delta: 2.5 },
    { actor: 'plain', change: '', detail: '-', delta: null },
  ],
};

const SEATS: ReportTable = {
  id: 'seats',
  title: 'Seats per product',
  columns: [
    { key: 'product', label: 'Product' },
    { key: 'used', label: 'Used', numeric: true },
    { key: 'total', label: 'Total', numeric: true },
  ],
  rows: [
    { product: 'Design Suite', used: 57, total: 100 },
    { product: 'Office, Enterprise', used: 1180, total: 1200 },
    { product: 'Legacy CRM', used: 0, total: null },
  ],
};

function buildReport(): ComplianceReport {
  return {
    title: 'Compliance report',
    tenant: { id: 'tnt_01J9ZQ4X8K3M5N7P', name: 'Acme Widgets GmbH' },
    period: { label: '2026-Q4', start: '2026-10-01T00:00:00.000Z', end: '2027-01-01T00:00:00.000Z' },
    generatedAt: '2027-01-02T08:30:15.000Z',
    checkpoint: { origin: 'roster.example/audit/acme', treeSize: 48213, rootHash: ROOT_HASH, note: NOTE },
    summary: [
      { label: 'Users at period end', value: 120 },
      { label: 'Seats assigned', value: 1180 },
      { label: 'Net seat change', value: -3 },
      { label: 'Reviewer', value: UNICODE },
    ],
    tables: [USERS, CHANGES, SEATS],
    charts: [
      {
        title: 'Seat usage by product',
        unit: 'seats',
        bars: [
          { label: 'Design Suite', value: 57, max: 100 },
          { label: 'Office, Enterprise', value: 1180, max: 1200 },
          { label: 'Legacy CRM', value: 0, max: 50 },
        ],
      },
      {
        title: 'Changes by action',
        bars: [
          { label: 'user.create', value: 41 },
          { label: 'seat.assign', value: 133 },
          { label: 'group.member.remove', value: 7 },
        ],
      },
    ],
  };
}

// ---- CSV

/** A strict RFC 4180 parser: records end in CRLF, a quote inside a quoted field is doubled, nothing else goes. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  const endField = () => {
    record.push(field);
    field = '';
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '"' && field === '') {
      const close = (from: number): number => {
        let j = from;
        while (j < text.length) {
          if (text[j] === '"' && text[j + 1] === '"') j += 2;
          else if (text[j] === '"') return j;
          else j++;
        }
        throw new Error('unterminated quoted field');
      };
      const end = close(i + 1);
      field = text.slice(i + 1, end).replaceAll('""', '"');
      i = end + 1;
      if (i < text.length && text[i] !== ',' && text[i] !== '\r')
        throw new Error(`text after a quoted field at ${i}`);
      if (field === '') field = '\u0000quoted-empty';
      continue;
    }
    if (c === ',') {
      endField();
      i++;
    } else if (c === '\r') {
      if (text[i + 1] !== '\n') throw new Error(`bare CR at ${i}`);
      endField();
      records.push(record);
      record = [];
      i += 2;
    } else if (c === '\n' || c === '"') {
      throw new Error(`unquoted ${JSON.stringify(c)} at ${i}`);
    } else {
      field += c;
      i++;
    }
  }
  if (field !== '' || record.length > 0) throw new Error('last record does not end in CRLF');
  return records.map((r) => r.map((f) => (f === '\u0000quoted-empty' ? '' : f)));
}

function csvOf(name: string): string {
  const file = renderCsv(buildReport()).find((f) => f.name === name);
  if (!file) throw new Error(`no ${name}`);
  return file.content;
}

/** What a spreadsheet must see for a source value: numbers as they are, text guarded against formulas. */
function expectedField(value: string | number | null | undefined): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return String(value);
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

describe('renderCsv', () => {
  it('writes one file per table, plus summary.csv and checkpoint.csv', () => {
    expect(renderCsv(buildReport()).map((f) => f.name)).toEqual([
      'summary.csv',
      'checkpoint.csv',
      'users.csv',
      'access-changes.csv',
      'seats.csv',
    ]);
  });

  it('writes summary.csv as RFC 4180 text: CRLF, a header row, numbers as numbers', () => {
    expect(csvOf('summary.csv')).toBe(
      'label,value\r\n' +
        'Users at period end,120\r\n' +
        'Seats assigned,1180\r\n' +
        'Net seat change,-3\r\n' +
        `Reviewer,${UNICODE}\r\n`,
    );
  });

  it('quotes commas, quotes, CR and LF; guards formulas; leaves numbers (even negative ones) alone', () => {
    const content = csvOf('access-changes.csv');
    expect(content.split('\r\n')[2]).toBe(
      `"'=HYPERLINK(""http://evil.example"",""x"")",'-2+3,'@SUM(A1:A2),-3`,
    );
    expect(parseCsv(content)).toEqual([
      ['Actor', 'Change', 'Detail', 'Seat delta'],
      [UNICODE, 'granted, then revoked', 'said "ok"', '3'],
      [`'=HYPERLINK("http://evil.example","x")`, "'-2+3", "'@SUM(A1:A2)", '-3'],
      ["'+1 555 0100", 'line one\nline two', "'\tleading tab", '0'],
      ['carriage\rreturn', '', "'\rstarts with CR", '2.5'],
      ['plain', '', "'-", ''],
    ]);
  });

  it('writes every cell of every table as a spreadsheet must read it', () => {
    for (const table of buildReport().tables) {
      const [header, ...rows] = parseCsv(csvOf(`${table.id}.csv`));
      expect(header).toEqual(table.columns.map((c) => c.label));
      expect(rows).toEqual(table.rows.map((row) => table.columns.map((c) => expectedField(row[c.key]))));
    }
    expect(parseCsv(csvOf('users.csv'))[120]).toEqual([
      'user-120',
      'user-120@acme.example',
      'active',
      '',
      '1120',
    ]);
  });

  it('writes the checkpoint with its multi-line note intact', () => {
    expect(parseCsv(csvOf('checkpoint.csv'))).toEqual([
      ['origin', 'treeSize', 'rootHash', 'note'],
      ['roster.example/audit/acme', '48213', ROOT_HASH, NOTE],
    ]);
  });

  it('refuses a table id that is not a plain file name, or that names a file twice', () => {
    const withTable = (tableId: string) => ({ ...buildReport(), tables: [{ ...SEATS, id: tableId }] });
    expect(() => renderCsv(withTable('../etc/passwd'))).toThrow(RangeError);
    expect(() => renderCsv(withTable(''))).toThrow(RangeError);
    expect(() => renderCsv(withTable('summary'))).toThrow(RangeError);
  });
});

// ---- PDF

if (!popplerInstalled && !IN_CI) {
  console.warn(
    '\n[roster tests] pdftotext (poppler-utils) is not installed: the PDF report tests are SKIPPED\n',
  );
}

/** A word as `pdftotext -bbox` places it, in points from the page's top left corner. */
interface Word {
  page: number;
  text: string;
  xMin: number;
  xMax: number;
  yMin: number;
}

function decodeEntities(s: string): string {
  return s
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&quot;', '"')
    .replaceAll('&apos;', "'")
    .replaceAll('&amp;', '&');
}

function parseBbox(html: string): { pageWidth: number; words: Word[] } {
  const pageWidth = Number(/<page width="([\d.]+)"/.exec(html)?.[1]);
  const words: Word[] = [];
  html.split('<page ').forEach((pageHtml, n) => {
    for (const m of pageHtml.matchAll(
      /<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)<\/word>/g,
    )) {
      words.push({
        page: n,
        text: decodeEntities(m[4] ?? ''),
        xMin: Number(m[1]),
        yMin: Number(m[2]),
        xMax: Number(m[3]),
      });
    }
  });
  return { pageWidth, words };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe.skipIf(!popplerInstalled && !IN_CI)('renderPdf, read back with poppler-utils', () => {
  let dir: string;
  let pdf: Buffer;
  let file: string;
  let pageCount: number;
  /** The text of each page, as `pdftotext -layout` lays it out (index 0 is page 1). */
  let pages: string[];
  let text: string;

  const run = (tool: string, args: string[]) => execFileSync(tool, args, { encoding: 'utf8' });

  beforeAll(async () => {
    if (!popplerInstalled) {
      throw new Error(
        `${POPPLER_TOOLS.join(', ')} not found: install the Debian package poppler-utils (.ci/run installs it); ` +
          'CI does not skip the PDF report tests',
      );
    }
    dir = mkdtempSync(join(tmpdir(), 'roster-report-'));
    pdf = await renderPdf(buildReport());
    file = join(dir, 'report.pdf');
    writeFileSync(file, pdf);
    pageCount = Number(/^Pages:\s+(\d+)$/m.exec(run('pdfinfo', [file]))?.[1]);
    text = run('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-']);
    pages = text.split('\f').slice(0, -1);
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('is a PDF whose pages pdftotext reads one by one', () => {
    expect(pdf.subarray(0, 5).toString('latin1')).toBe('%PDF-');
    expect(pageCount).toBeGreaterThanOrEqual(5);
    expect(pages).toHaveLength(pageCount);
  });

  it('sets the metadata, and renders the same report to the same bytes', async () => {
    const info = run('pdfinfo', ['-isodates', file]);
    expect(info).toMatch(/^Title:\s+Compliance report: Acme Widgets GmbH, 2026-Q4$/m);
    expect(info).toMatch(/^Author:\s+Roster$/m);
    expect(info).toMatch(/^CreationDate:\s+2027-01-02T08:30:15(Z|\+00)/m);
    expect(info).toMatch(/^ModDate:\s+2027-01-02T08:30:15(Z|\+00)/m);
    expect((await renderPdf(buildReport())).equals(pdf)).toBe(true);
  });

  it('opens with a title page: tenant, period, generation time and the signed checkpoint', () => {
    const first = pages[0] ?? '';
    for (const expected of [
      'Compliance report',
      'Acme Widgets GmbH',
      'tnt_01J9ZQ4X8K3M5N7P',
      '2026-Q4',
      '2026-10-01 00:00:00 UTC',
      '2027-01-01 00:00:00 UTC',
      '2027-01-02 08:30:15 UTC',
      'roster.example/audit/acme',
      '48213',
      ROOT_HASH,
      'roster audit export --tenant tnt_01J9ZQ4X8K3M5N7P --out audit.jsonl',
      'roster audit verify audit.jsonl --public-key',
    ]) {
      expect(first).toContain(expected);
    }
    // The note may wrap where a line is wider than the page, but every word of it is there, in order.
    expect(first).toMatch(new RegExp(NOTE.trim().split(/\s+/).map(escapeRe).join('\\s+')));
    expect(first).not.toContain('user-001');
  });

  it('shows every summary figure beside its label', () => {
    for (const { label, value } of buildReport().summary) {
      expect(text).toMatch(new RegExp(`${escapeRe(label)}\\s+${escapeRe(String(value))}`));
    }
  });

  it('lays the 120-row table over several pages, each row once, the header repeated on every page', () => {
    const pagesOf = (needle: string) => pages.flatMap((p, i) => (p.includes(needle) ? [i + 1] : []));
    for (let n = 1; n <= 120; n++) {
      expect(text.match(new RegExp(`${id(n)}(?!@)`, 'g')), id(n)).toHaveLength(1);
    }
    const first = pagesOf(id(1))[0] ?? 0;
    const last = pagesOf(id(120))[0] ?? 0;
    expect(last - first).toBeGreaterThanOrEqual(2);
    for (let p = first; p <= last; p++) {
      expect(pages[p - 1], `header on page ${p}`).toMatch(/User\s+Email\s+Status\s+Review note\s+Seats/);
    }
    expect(pages[first - 1]).toMatch(/user-001\s+user-001@acme\.example\s+active\s+1\b/);
    expect(pages[last - 1]).toMatch(/user-120\s+user-120@acme\.example\s+active\s+1120\b/);
    expect(pages[last - 1]).toMatch(/user-119\s+user-119@acme\.example\s+suspended\s+119\b/);
  });

  it('cuts text too long for its cell with an ellipsis', () => {
    expect(text).toContain('Access reviewed and');
    expect(text).toContain('…');
    expect(text).not.toContain('TAIL-MARKER');
  });

  it('keeps awkward values readable: commas, quotes, line breaks, formulas and Unicode', () => {
    for (const expected of [
      'granted, then revoked',
      'said "ok"',
      '=HYPERLINK("http://evil.example","x")',
      '@SUM(A1:A2)',
      'line one',
      'line two',
      'Office, Enterprise',
    ]) {
      expect(text).toContain(expected);
    }
    // The summary's reviewer, user-060's review note and the first access change.
    expect(text.match(new RegExp(UNICODE, 'g'))).toHaveLength(3);
    expect(text).not.toMatch(/'=HYPERLINK/);
  });

  it('draws each chart with its title, bar labels and values', () => {
    for (const chart of buildReport().charts) {
      expect(text).toContain(chart.title);
      for (const bar of chart.bars) {
        const value = bar.max === undefined ? `${bar.value}` : `${bar.value} / ${bar.max}`;
        expect(text).toMatch(new RegExp(`${escapeRe(bar.label)}\\s.*${escapeRe(value)}`));
      }
    }
    expect(text).toContain('1180 / 1200 seats');
  });

  it('numbers every page "Page N of M"', () => {
    pages.forEach((page, i) => {
      expect(page).toContain(`Page ${i + 1} of ${pageCount}`);
    });
  });

  it('renders an empty table and an empty chart with a line saying so', async () => {
    const empty = join(dir, 'empty.pdf');
    const report = buildReport();
    writeFileSync(
      empty,
      await renderPdf({
        ...report,
        tables: [{ ...SEATS, rows: [] }],
        charts: [{ title: 'Nothing to chart', bars: [] }],
      }),
    );
    const emptyText = run('pdftotext', ['-layout', empty, '-']);
    expect(emptyText).toMatch(/Seats per product\s+Product\s+Used\s+Total\s+No rows in this period\./);
    expect(emptyText).toMatch(/Nothing to chart\s+No data in this period\./);
    expect(emptyText).toContain('Page 2 of 2');
  });

  it('refuses a generation time that is not an instant', async () => {
    await expect(renderPdf({ ...buildReport(), generatedAt: 'yesterday' })).rejects.toThrow(RangeError);
  });

  it('embeds its fonts (DejaVu), and uses no other', () => {
    const rows = run('pdffonts', [file]).trim().split('\n').slice(2);
    expect(rows.length).toBeGreaterThanOrEqual(3);
    for (const row of rows) {
      const cols = row.trim().split(/\s+/);
      expect(cols[0], row).toMatch(/^[A-Z]{6}\+DejaVuSans(-Bold|Mono)?$/);
      expect(cols.at(-5), `emb column of ${row}`).toBe('yes');
    }
  });

  it('keeps every word inside the margins and right-aligns numeric columns', () => {
    const { pageWidth, words } = parseBbox(run('pdftotext', ['-bbox', file, '-']));
    const outside = words.filter((w) => w.xMin < 49.5 || w.xMax > pageWidth - 49.5);
    expect(outside).toEqual([]);
    // Seats is the last column: on each row of the users table the rightmost word is its number.
    const rowEnds = words
      .filter((w) => /^user-\d{3}$/.test(w.text))
      .map((u) => {
        const sameLine = words.filter((w) => w.page === u.page && Math.abs(w.yMin - u.yMin) < 1);
        return Math.max(...sameLine.map((w) => w.xMax));
      });
    expect(rowEnds).toHaveLength(120);
    const right = Math.max(...rowEnds);
    for (const end of rowEnds) expect(end).toBeCloseTo(right, 0);
  });
});
