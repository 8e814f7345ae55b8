/**
 * Reading PDFs back as an auditor's tools would: poppler-utils (`pdftotext`, `pdfinfo`, `pdffonts`, the
 * Debian package poppler-utils). Outside CI a missing poppler skips the PDF tests with a warning; under CI
 * `requirePoppler()` fails them.
 */
import { execFileSync, spawnSync } from 'node:child_process';

export const POPPLER_TOOLS = ['pdftotext', 'pdfinfo', 'pdffonts'] as const;

/** Whether every poppler tool the tests use is on the PATH. */
export const popplerInstalled = POPPLER_TOOLS.every(
  (tool) => !spawnSync(tool, ['-v'], { stdio: 'ignore' }).error,
);

/** Throws a clear error when poppler-utils is missing (what CI does instead of skipping). */
export function requirePoppler(): void {
  if (!popplerInstalled) {
    throw new Error(
      `${POPPLER_TOOLS.join(', ')} not found: install the Debian package poppler-utils (.ci/run installs it); ` +
        'CI does not skip the PDF report tests',
    );
  }
}

/** The text of a PDF file as `pdftotext -layout` lays it out (UTF-8; pages end in a form feed). */
export function pdfText(file: string): string {
  requirePoppler();
  return execFileSync('pdftotext', ['-layout', '-enc', 'UTF-8', file, '-'], { encoding: 'utf8' });
}

/** The page count `pdfinfo` reads from a PDF file. */
export function pdfPageCount(file: string): number {
  requirePoppler();
  const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' });
  const pages = /^Pages:\s+(\d+)$/m.exec(info)?.[1];
  if (pages === undefined) throw new Error(`pdfinfo printed no page count for ${file}:\n${info}`);
  return Number(pages);
}
