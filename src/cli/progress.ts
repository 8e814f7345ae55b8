/**
 * A progress bar on stderr for long CLI operations: redrawn in place on a terminal, one line per tenth of
 * the way otherwise (CI logs), and never on stdout, which may be the output itself.
 */
export class Progress {
  readonly #label: string;
  readonly #out: NodeJS.WriteStream;
  #total: number;
  #lastTenth = -1;
  #lastDraw = 0;

  constructor(label: string, total: number, out: NodeJS.WriteStream = process.stderr) {
    this.#label = label;
    this.#total = total;
    this.#out = out;
  }

  update(done: number, total = this.#total): void {
    this.#total = total;
    const share = total > 0 ? Math.min(1, done / total) : 1;
    if (this.#out.isTTY) {
      const now = Date.now();
      if (now - this.#lastDraw < 100 && done < total) return;
      this.#lastDraw = now;
      const width = 30;
      const filled = Math.round(share * width);
      this.#out.write(
        `\r${this.#label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(share * 100)}% ${done}/${total}`,
      );
      return;
    }
    const tenth = Math.floor(share * 10);
    if (tenth > this.#lastTenth) {
      this.#lastTenth = tenth;
      this.#out.write(`${this.#label}: ${tenth * 10}% (${done}/${total})\n`);
    }
  }

  done(): void {
    if (this.#out.isTTY) this.#out.write('\n');
  }
}
