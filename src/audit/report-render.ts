/**
 * Renderers for compliance reports (monthly or quarterly, per tenant): CSV files for auditors' tools and a
 * PDF for reading. Both take the same `ComplianceReport`, built elsewhere; neither does I/O beyond loading the
 * embedded font, and both are deterministic: the same report gives the same bytes.
 */
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';

// ---- input

export interface ReportColumn {
  key: string;
  label: string;
  numeric?: boolean;
}
export interface ReportTable {
  id: string;
  title: string;
  description?: string;
  columns: ReportColumn[];
  rows: Record<string, string | number | null>[];
}
export interface ReportChart {
  title: string;
  unit?: string;
  bars: { label: string; value: number; max?: number }[];
}
export interface ComplianceReport {
  title: string;
  tenant: { id: string; name: string };
  /** `label` "2026-10" or "2026-Q4"; `start` and `end` are ISO instants, `end` exclusive. */
  period: { label: string; start: string; end: string };
  generatedAt: string;
  /** `rootHash` in base64; `note` is the whole signed-note text (several lines). */
  checkpoint: { origin: string; treeSize: number; rootHash: string; note: string };
  summary: { label: string; value: number | string }[];
  tables: ReportTable[];
  charts: ReportChart[];
}

type Cell = string | number | null;

// ---- CSV (RFC 4180)

export interface CsvFile {
  name: string;
  content: string;
}

/** A table id becomes a file name: letters, digits, `.`, `_` and `-`, never a path. */
const FILE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** OWASP "CSV injection": a spreadsheet reads a cell starting with one of these as a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

/**
 * One CSV file per table (`<id>.csv`), plus `summary.csv` and `checkpoint.csv`: RFC 4180 with CRLF line
 * ends and a header row. Text that a spreadsheet would run as a formula gets a leading `'`; numbers are
 * written as they are. Throws a RangeError for a table id that is not a safe file name, or that names two
 * files.
 */
export function renderCsv(report: ComplianceReport): CsvFile[] {
  const { checkpoint } = report;
  const files: CsvFile[] = [
    csvFile(
      'summary',
      ['label', 'value'],
      report.summary.map((s) => [s.label, s.value]),
    ),
    csvFile(
      'checkpoint',
      ['origin', 'treeSize', 'rootHash', 'note'],
      [[checkpoint.origin, checkpoint.treeSize, checkpoint.rootHash, checkpoint.note]],
    ),
    ...report.tables.map((t) =>
      csvFile(
        t.id,
        t.columns.map((c) => c.label),
        t.rows.map((row) => t.columns.map((c) => row[c.key] ?? null)),
      ),
    ),
  ];
  const seen = new Set<string>();
  for (const f of files) {
    if (seen.has(f.name)) throw new RangeError(`two CSV files would be named ${f.name}`);
    seen.add(f.name);
  }
  return files;
}

function csvFile(id: string, header: readonly string[], rows: readonly (readonly Cell[])[]): CsvFile {
  if (!FILE_ID.test(id)) throw new RangeError(`table id ${JSON.stringify(id)} is not a safe file name`);
  const lines = [header, ...rows].map((fields) => `${fields.map(csvField).join(',')}\r\n`);
  return { name: `${id}.csv`, content: lines.join('') };
}

/** One field: null is empty, a finite number is written plainly, text is guarded and then quoted if needed. */
function csvField(value: Cell): string {
  if (value === null) return '';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  // NaN and ±Infinity are not numbers a spreadsheet can read back: they go out as (guarded) text.
  const raw = String(value);
  const text = FORMULA_START.test(raw) ? `'${raw}` : raw;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

// ---- PDF: page, fonts and styles

type Doc = PDFKit.PDFDocument;
type Align = 'left' | 'right' | 'center';

const MARGIN = { top: 56, bottom: 64, left: 50, right: 50 } as const;
const SECTION_GAP = 22;
const CELL_PAD = { x: 5, y: 4 } as const;
/** A table cell shows at most this many lines, the last one ending in an ellipsis when the text is longer. */
const CELL_MAX_LINES = 3;

const FONT_FILES = {
  regular: 'DejaVuSans',
  bold: 'DejaVuSans-Bold',
  mono: 'DejaVuSansMono',
} as const;
type FontName = keyof typeof FONT_FILES;

const COLOR = {
  text: '#1f2328',
  muted: '#59636e',
  rule: '#c5ccd3',
  headerFill: '#e7ecf2',
  stripe: '#f6f8fa',
  boxFill: '#f3f5f7',
  bar: '#2f5d8a',
  track: '#d9e2ec',
  grid: '#e4e8ec',
} as const;

interface TextStyle {
  readonly font: FontName;
  readonly size: number;
  readonly color: string;
}

const STYLE = {
  kicker: { font: 'bold', size: 9, color: COLOR.muted },
  title: { font: 'bold', size: 24, color: COLOR.text },
  subtitle: { font: 'regular', size: 14, color: COLOR.text },
  heading: { font: 'bold', size: 13, color: COLOR.text },
  body: { font: 'regular', size: 10, color: COLOR.text },
  label: { font: 'regular', size: 9, color: COLOR.muted },
  note: { font: 'regular', size: 8.5, color: COLOR.muted },
  cell: { font: 'regular', size: 8.5, color: COLOR.text },
  head: { font: 'bold', size: 8.5, color: COLOR.text },
  mono: { font: 'mono', size: 8.5, color: COLOR.text },
  tick: { font: 'regular', size: 7.5, color: COLOR.muted },
  footer: { font: 'regular', size: 8, color: COLOR.muted },
} as const satisfies Record<string, TextStyle>;

const packageRequire = createRequire(import.meta.url);

/** The font files ship in the `dejavu-fonts-ttf` package: no system font is needed, and each is embedded. */
function registerFonts(doc: Doc): void {
  for (const [name, file] of Object.entries(FONT_FILES)) {
    doc.registerFont(name, packageRequire.resolve(`dejavu-fonts-ttf/ttf/${file}.ttf`));
  }
}

function useStyle(doc: Doc, style: TextStyle): Doc {
  return doc.font(style.font).fontSize(style.size).fillColor(style.color);
}

function lineHeight(doc: Doc, style: TextStyle): number {
  return useStyle(doc, style).currentLineHeight(true);
}

function contentWidth(doc: Doc): number {
  return doc.page.width - MARGIN.left - MARGIN.right;
}

function contentBottom(doc: Doc): number {
  return doc.page.height - MARGIN.bottom;
}

// ---- PDF: text primitives

/**
 * Text as the PDF shows it: tabs and other control characters become spaces, every line end a `\n`, and
 * leading or trailing blanks go (the CSV keeps the exact value).
 */
function displayText(value: Cell): string {
  if (value === null) return '';
  return String(value)
    .replace(/\r\n?/g, '\n')
    .replace(/\p{Cc}/gu, (c) => (c === '\n' ? c : ' '))
    .trim();
}

/** The height `text` takes in a box of `width`, at most `maxLines` lines (one line when empty). */
function measure(doc: Doc, value: Cell, style: TextStyle, width: number, maxLines: number): number {
  const lh = lineHeight(doc, style);
  const text = displayText(value);
  if (text === '') return lh;
  return Math.min(doc.heightOfString(text, { width }), lh * maxLines);
}

interface TextBox {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly maxLines: number;
  readonly align?: Align;
}

/**
 * Draws text inside a box, wrapped, and cut with an ellipsis after `maxLines` lines: it never overflows.
 * The document's cursor stays where it was: callers place boxes themselves.
 */
function drawText(doc: Doc, value: Cell, style: TextStyle, box: TextBox): void {
  const text = displayText(value);
  if (text === '') return;
  const lh = lineHeight(doc, style);
  const { x, y } = doc;
  doc.text(text, box.x, box.y, {
    width: box.width,
    // A little slack, so that rounding never drops the last whole line.
    height: lh * box.maxLines + 0.5,
    ellipsis: true,
    align: box.align ?? 'left',
  });
  doc.x = x;
  doc.y = y;
}

/** Starts a new page unless `height` more points fit on this one; returns where to draw. */
function ensureSpace(doc: Doc, height: number): number {
  if (doc.y + height > contentBottom(doc)) doc.addPage();
  return doc.y;
}

// ---- PDF: the layout helper shared by tables and charts

/** Something of a known height, drawn at a given y. */
interface Block {
  readonly height: number;
  draw(y: number): void;
}

/** An empty block, for a section without a header. */
const NOTHING: Block = { height: 0, draw: () => {} };

interface Section {
  /** Drawn once, kept on the same page as the header and the first row (the section's heading). */
  readonly lead: Block;
  /** Drawn under the lead and again at the top of every page the rows continue on. */
  readonly header: Block;
  readonly rows: readonly Block[];
}

/** Lays out a section row by row, starting a new page (with the header repeated) when a row does not fit. */
function flowSection(doc: Doc, section: Section): void {
  const { lead, header, rows } = section;
  let y = ensureSpace(doc, lead.height + header.height + (rows[0]?.height ?? 0));
  lead.draw(y);
  y += lead.height;
  header.draw(y);
  y += header.height;
  for (const row of rows) {
    if (y + row.height > contentBottom(doc)) {
      doc.addPage();
      y = doc.page.margins.top;
      header.draw(y);
      y += header.height;
    }
    row.draw(y);
    y += row.height;
  }
  doc.x = MARGIN.left;
  doc.y = y + SECTION_GAP;
}

/** A section heading: the title, and an optional line or two of explanation under it. */
function headingBlock(doc: Doc, title: string, description: string | undefined): Block {
  const width = contentWidth(doc);
  const titleHeight = measure(doc, title, STYLE.heading, width, 2);
  const text = description ?? '';
  const descHeight = text === '' ? 0 : measure(doc, text, STYLE.note, width, 4) + 2;
  return {
    height: titleHeight + descHeight + 6,
    draw(y) {
      doc.outline.addItem(title);
      drawText(doc, title, STYLE.heading, { x: MARGIN.left, y, width, maxLines: 2 });
      drawText(doc, text, STYLE.note, { x: MARGIN.left, y: y + titleHeight + 2, width, maxLines: 4 });
    },
  };
}

/** A horizontal rule across the content width. */
function rule(doc: Doc, y: number, color: string = COLOR.rule): void {
  doc
    .moveTo(MARGIN.left, y)
    .lineTo(MARGIN.left + contentWidth(doc), y)
    .lineWidth(0.5)
    .strokeColor(color)
    .stroke();
}

// ---- PDF: tables

interface ColumnBox {
  readonly x: number;
  readonly width: number;
  readonly align: Align;
}

/** The widest line of `text`: what a column would need to show it unwrapped. */
function naturalWidth(doc: Doc, value: Cell, style: TextStyle): number {
  useStyle(doc, style);
  return Math.max(
    0,
    ...displayText(value)
      .split('\n')
      .map((line) => doc.widthOfString(line)),
  );
}

/**
 * Column widths that fill the content width: a column that needs less than an equal share gets what it
 * needs, and the rest share what is left (so wide text columns wrap, narrow ones never do). Width to spare
 * goes to the `grow` columns (the text ones), so that numbers stay close to what they describe.
 */
function fitWidths(natural: readonly number[], grow: readonly boolean[], total: number): number[] {
  const widths = natural.map(() => 0);
  let open = natural.map((_, i) => i);
  let left = total;
  while (open.length > 0) {
    const share = left / open.length;
    const fits = open.filter((i) => (natural[i] ?? 0) <= share);
    if (fits.length === 0) {
      for (const i of open) widths[i] = share;
      return widths;
    }
    for (const i of fits) {
      widths[i] = natural[i] ?? 0;
      left -= widths[i];
    }
    open = open.filter((i) => !fits.includes(i));
  }
  const growing = grow.some(Boolean) ? grow : grow.map(() => true);
  const base = widths.reduce((sum, w, i) => (growing[i] ? sum + w : sum), 0);
  const spare = total - widths.reduce((a, b) => a + b, 0);
  return widths.map((w, i) => (growing[i] && base > 0 ? w + (spare * w) / base : w));
}

function layoutColumns(doc: Doc, table: ReportTable): ColumnBox[] {
  const natural = table.columns.map((c) => {
    // A header may wrap between words, so its longest word is what it needs.
    const head = Math.max(0, ...c.label.split(/\s+/).map((w) => naturalWidth(doc, w, STYLE.head)));
    const cells = table.rows.map((r) => naturalWidth(doc, r[c.key] ?? null, STYLE.cell));
    return Math.max(head, ...cells) + 2 * CELL_PAD.x + 1;
  });
  let x = MARGIN.left;
  const grow = table.columns.map((c) => !c.numeric);
  return fitWidths(natural, grow, contentWidth(doc)).map((width, i) => {
    const box: ColumnBox = { x, width, align: table.columns[i]?.numeric ? 'right' : 'left' };
    x += width;
    return box;
  });
}

/** How a table row looks: the header row, or a data row on a plain or a striped background. */
type RowLook = 'head' | 'plain' | 'striped';

/** One row of a table: every cell wraps within its column, numbers to the right. */
function rowBlock(doc: Doc, cols: readonly ColumnBox[], cells: readonly Cell[], look: RowLook): Block {
  const style = look === 'head' ? STYLE.head : STYLE.cell;
  const inner = (c: ColumnBox) => c.width - 2 * CELL_PAD.x;
  const textHeight = Math.max(
    ...cols.map((c, i) => measure(doc, cells[i] ?? null, style, inner(c), CELL_MAX_LINES)),
  );
  const height = textHeight + 2 * CELL_PAD.y;
  const fill = { head: COLOR.headerFill, striped: COLOR.stripe, plain: undefined }[look];
  return {
    height,
    draw(y) {
      if (fill) doc.rect(MARGIN.left, y, contentWidth(doc), height).fill(fill);
      cols.forEach((c, i) => {
        drawText(doc, cells[i] ?? null, style, {
          x: c.x + CELL_PAD.x,
          y: y + CELL_PAD.y,
          width: inner(c),
          maxLines: CELL_MAX_LINES,
          align: c.align,
        });
      });
      if (look === 'head') rule(doc, y + height, COLOR.muted);
    },
  };
}

/** The one row of a section with nothing in it. */
function emptyRow(doc: Doc, message: string): Block {
  const height = lineHeight(doc, STYLE.note) + 2 * CELL_PAD.y;
  return {
    height,
    draw(y) {
      const width = contentWidth(doc) - 2 * CELL_PAD.x;
      drawText(doc, message, STYLE.note, {
        x: MARGIN.left + CELL_PAD.x,
        y: y + CELL_PAD.y,
        width,
        maxLines: 1,
      });
    },
  };
}

function drawTable(doc: Doc, table: ReportTable): void {
  const cols = layoutColumns(doc, table);
  const cellsOf = (row: ReportTable['rows'][number]) => table.columns.map((c) => row[c.key] ?? null);
  const rows = table.rows.map((row, n) =>
    rowBlock(doc, cols, cellsOf(row), n % 2 === 1 ? 'striped' : 'plain'),
  );
  flowSection(doc, {
    lead: headingBlock(doc, table.title, table.description),
    header: rowBlock(
      doc,
      cols,
      table.columns.map((c) => c.label),
      'head',
    ),
    rows: rows.length > 0 ? rows : [emptyRow(doc, 'No rows in this period.')],
  });
  rule(doc, doc.y - SECTION_GAP);
}

// ---- PDF: charts

/** A scale from 0 with round steps (1, 2, 2.5 or 5 times a power of ten) and about five ticks. */
function niceScale(maximum: number): { max: number; ticks: number[] } {
  const top = maximum > 0 && Number.isFinite(maximum) ? maximum : 1;
  const raw = top / 5;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 2.5, 5, 10].find((m) => m * magnitude >= raw) ?? 10) * magnitude;
  const count = Math.ceil(top / step - 1e-9);
  const ticks = Array.from({ length: count + 1 }, (_, i) => Number((i * step).toPrecision(12)));
  return { max: ticks[ticks.length - 1] ?? top, ticks };
}

function barValueText(bar: ReportChart['bars'][number], unit: string | undefined): string {
  const amount = bar.max === undefined ? String(bar.value) : `${bar.value} / ${bar.max}`;
  return unit ? `${amount} ${unit}` : amount;
}

interface ChartGeometry {
  readonly labelWidth: number;
  readonly plotX: number;
  readonly plotWidth: number;
  readonly valueX: number;
  readonly valueWidth: number;
  readonly scale: { max: number; ticks: number[] };
}

function chartGeometry(doc: Doc, chart: ReportChart): ChartGeometry {
  const width = contentWidth(doc);
  const gap = 8;
  const labelWidth = Math.min(
    width * 0.3,
    Math.max(40, ...chart.bars.map((b) => naturalWidth(doc, b.label, STYLE.cell))),
  );
  const valueWidth = Math.min(
    width * 0.25,
    Math.max(...chart.bars.map((b) => naturalWidth(doc, barValueText(b, chart.unit), STYLE.cell)), 30),
  );
  const plotX = MARGIN.left + labelWidth + gap;
  const plotWidth = width - labelWidth - valueWidth - 2 * gap;
  const scale = niceScale(Math.max(0, ...chart.bars.map((b) => Math.max(b.value, b.max ?? 0))));
  return { labelWidth, plotX, plotWidth, valueX: plotX + plotWidth + gap, valueWidth, scale };
}

/** The scale above the bars: a tick label per step; repeated on every page of the chart. */
function scaleBlock(doc: Doc, g: ChartGeometry): Block {
  const lh = lineHeight(doc, STYLE.tick);
  return {
    height: lh + 6,
    draw(y) {
      for (const t of g.scale.ticks) {
        const x = g.plotX + (t / g.scale.max) * g.plotWidth;
        drawText(doc, String(t), STYLE.tick, { x: x - 30, y, width: 60, maxLines: 1, align: 'center' });
      }
      doc
        .moveTo(g.plotX, y + lh + 4)
        .lineTo(g.plotX + g.plotWidth, y + lh + 4)
        .lineWidth(0.5)
        .strokeColor(COLOR.muted)
        .stroke();
    },
  };
}

/** One bar: label, grid, capacity track (when the bar has a max), the bar, and its value. */
function barBlock(
  doc: Doc,
  g: ChartGeometry,
  bar: ReportChart['bars'][number],
  unit: string | undefined,
): Block {
  const height = 18;
  const barHeight = 10;
  const toX = (v: number) => g.plotX + (Math.min(Math.max(v, 0), g.scale.max) / g.scale.max) * g.plotWidth;
  return {
    height,
    draw(y) {
      const top = y + (height - barHeight) / 2;
      for (const t of g.scale.ticks.slice(1)) {
        doc
          .moveTo(toX(t), y)
          .lineTo(toX(t), y + height)
          .lineWidth(0.5)
          .strokeColor(COLOR.grid)
          .stroke();
      }
      if (bar.max !== undefined) doc.rect(g.plotX, top, toX(bar.max) - g.plotX, barHeight).fill(COLOR.track);
      doc.rect(g.plotX, top, toX(bar.value) - g.plotX, barHeight).fill(COLOR.bar);
      doc
        .moveTo(g.plotX, y)
        .lineTo(g.plotX, y + height)
        .lineWidth(0.75)
        .strokeColor(COLOR.muted)
        .stroke();
      const textY = y + (height - lineHeight(doc, STYLE.cell)) / 2;
      drawText(doc, bar.label, STYLE.cell, {
        x: MARGIN.left,
        y: textY,
        width: g.labelWidth,
        maxLines: 1,
      });
      const value = barValueText(bar, unit);
      drawText(doc, value, STYLE.cell, { x: g.valueX, y: textY, width: g.valueWidth, maxLines: 1 });
    },
  };
}

function drawChart(doc: Doc, chart: ReportChart): void {
  const description = [
    chart.unit ? `Scale in ${chart.unit}.` : '',
    chart.bars.some((b) => b.max !== undefined)
      ? 'Dark bars show the value; the light track behind a bar shows its maximum.'
      : '',
  ].join(' ');
  const lead = headingBlock(doc, chart.title, description.trim() || undefined);
  if (chart.bars.length === 0) {
    flowSection(doc, { lead, header: NOTHING, rows: [emptyRow(doc, 'No data in this period.')] });
    return;
  }
  const g = chartGeometry(doc, chart);
  flowSection(doc, {
    lead,
    header: scaleBlock(doc, g),
    rows: chart.bars.map((b) => barBlock(doc, g, b, chart.unit)),
  });
}

// ---- PDF: title page, summary and footers

/** `2026-10-01T00:00:00.000Z` as `2026-10-01 00:00:00 UTC`; throws a RangeError for a string that is no instant. */
function formatInstant(iso: string): string {
  return `${toDate(iso)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.000Z$|Z$/, '')} UTC`;
}

function toDate(iso: string): Date {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) throw new RangeError(`${JSON.stringify(iso)} is not an ISO instant`);
  return date;
}

/** Label and value pairs, one per line: the label in a narrow muted column, the value wrapped beside it. */
function drawFields(doc: Doc, fields: readonly (readonly [string, string, TextStyle?])[]): void {
  const labelWidth = 110;
  const width = contentWidth(doc) - labelWidth;
  for (const [label, value, style = STYLE.body] of fields) {
    const height = measure(doc, value, style, width, 4) + 4;
    const y = ensureSpace(doc, height);
    drawText(doc, label, STYLE.label, { x: MARGIN.left, y: y + 1, width: labelWidth - 8, maxLines: 1 });
    drawText(doc, value, style, { x: MARGIN.left + labelWidth, y, width, maxLines: 4 });
    doc.y = y + height;
  }
}

/** A paragraph across the content width, flowing onto the next page when needed. */
function paragraph(doc: Doc, text: string, style: TextStyle, gapAfter = 6): void {
  useStyle(doc, style).text(displayText(text), MARGIN.left, doc.y, { width: contentWidth(doc) });
  doc.y += gapAfter;
}

/** Monospaced text in a shaded box: the signed note, and the commands that check it. */
/** DejaVu Sans Mono advances every glyph by 1233/2048 em. */
const MONO_ADVANCE = 1233 / 2048;

function drawCodeBox(doc: Doc, text: string): void {
  const width = contentWidth(doc);
  const pad = 8;
  const maxLines = 40;
  // Code must stay copyable: shrink the font (down to 5 pt) so its longest line fits unbroken; a wrapped
  // signature line would no longer verify when copied out of the PDF.
  const longest = Math.max(...text.split('\n').map((l) => l.length));
  const fitting = Math.floor(((width - 2 * pad) / (longest * MONO_ADVANCE)) * 10) / 10;
  const style = { ...STYLE.mono, size: Math.max(5, Math.min(STYLE.mono.size, fitting)) };
  const height = measure(doc, text, style, width - 2 * pad, maxLines) + 2 * pad;
  const y = ensureSpace(doc, height);
  doc.rect(MARGIN.left, y, width, height).lineWidth(0.5).fillAndStroke(COLOR.boxFill, COLOR.rule);
  drawText(doc, text, style, { x: MARGIN.left + pad, y: y + pad, width: width - 2 * pad, maxLines });
  doc.y = y + height + 10;
}

function drawTitlePage(doc: Doc, report: ComplianceReport): void {
  const { tenant, period, checkpoint } = report;
  doc.y = MARGIN.top + 40;
  paragraph(doc, 'ROSTER · AUDIT', STYLE.kicker, 8);
  paragraph(doc, report.title, STYLE.title, 4);
  paragraph(doc, `${tenant.name} — ${period.label}`, STYLE.subtitle, 18);
  rule(doc, doc.y);
  doc.y += 12;
  drawFields(doc, [
    ['Tenant', tenant.name],
    ['Tenant id', tenant.id, STYLE.mono],
    ['Period', period.label],
    ['From', formatInstant(period.start)],
    ['Until (exclusive)', formatInstant(period.end)],
    ['Generated', formatInstant(report.generatedAt)],
  ]);
  doc.y += 18;
  paragraph(doc, 'Signed checkpoint of the audit log', STYLE.heading, 8);
  drawFields(doc, [
    ['Origin', checkpoint.origin, STYLE.mono],
    ['Tree size', String(checkpoint.treeSize), STYLE.mono],
    ['Root hash', checkpoint.rootHash, STYLE.mono],
  ]);
  doc.y += 6;
  paragraph(doc, 'Signed note:', STYLE.label, 4);
  drawCodeBox(doc, checkpoint.note);
  paragraph(
    doc,
    "This report covers the tenant's audit log up to this checkpoint. To check it, export the log and " +
      "verify the export offline with the audit log's public key (`roster audit public-key` prints it):",
    STYLE.body,
    8,
  );
  drawCodeBox(
    doc,
    `roster audit export --tenant ${tenant.id} --out audit.jsonl\n` +
      'roster audit verify audit.jsonl --public-key audit-key.pub',
  );
  paragraph(
    doc,
    'The verification checks the signature of every checkpoint in the export, this one included, and that ' +
      `the first ${checkpoint.treeSize} entries of the log hash to the root hash above.`,
    STYLE.body,
  );
}

/** The summary figures, laid out as a two-column table (figures right-aligned). */
function drawSummary(doc: Doc, summary: ComplianceReport['summary']): void {
  drawTable(doc, {
    id: 'summary',
    title: 'Summary',
    columns: [
      { key: 'label', label: 'Figure' },
      { key: 'value', label: 'Value', numeric: true },
    ],
    rows: summary.map((s) => ({ label: s.label, value: s.value })),
  });
}

/** "Page N of M" on every page, written once all pages exist (the document buffers its pages). */
function drawFooters(doc: Doc, report: ComplianceReport): void {
  const { start, count } = doc.bufferedPageRange();
  const width = contentWidth(doc);
  const left = `${report.title} · ${report.tenant.name} · ${report.period.label}`;
  for (let i = start; i < start + count; i++) {
    doc.switchToPage(i);
    const y = doc.page.height - MARGIN.bottom + 24;
    rule(doc, y - 6);
    drawText(doc, left, STYLE.footer, { x: MARGIN.left, y, width: width * 0.7, maxLines: 1 });
    const page = `Page ${i - start + 1} of ${count}`;
    drawText(doc, page, STYLE.footer, {
      x: MARGIN.left + width * 0.7,
      y,
      width: width * 0.3,
      maxLines: 1,
      align: 'right',
    });
  }
}

function createDocument(report: ComplianceReport): Doc {
  const generated = toDate(report.generatedAt);
  const doc = new PDFDocument({
    size: 'A4',
    margins: { ...MARGIN },
    bufferPages: true,
    displayTitle: true,
    lang: 'en',
    info: {
      Title: `${report.title}: ${report.tenant.name}, ${report.period.label}`,
      Author: 'Roster',
      Subject: `Compliance report for tenant ${report.tenant.id}, period ${report.period.label}`,
      Creator: 'Roster',
      // Fixed dates (pdfkit's default is "now") make two renders of one report byte-identical.
      CreationDate: generated,
      ModDate: generated,
    },
  });
  registerFonts(doc);
  useStyle(doc, STYLE.body);
  return doc;
}

function collect(doc: Doc): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    doc.on('data', (chunk: Uint8Array) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
}

/**
 * The report as a PDF (A4): a title page with the signed checkpoint, then the summary, the charts (horizontal
 * bars, drawn as vectors) and the tables (headers repeated on every page), with "Page N of M" in each footer.
 * The DejaVu fonts are embedded. Throws a RangeError when `generatedAt` or a period bound is not an instant.
 */
export async function renderPdf(report: ComplianceReport): Promise<Buffer> {
  const doc = createDocument(report);
  const bytes = collect(doc);
  drawTitlePage(doc, report);
  doc.addPage();
  drawSummary(doc, report.summary);
  for (const chart of report.charts) drawChart(doc, chart);
  for (const table of report.tables) drawTable(doc, table);
  drawFooters(doc, report);
  doc.end();
  return bytes;
}
