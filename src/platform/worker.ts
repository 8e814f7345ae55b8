import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';

/** The first wait before a dead worker is started again, doubled after each quick death up to the last. */
const RESTART_MS = 1000;
const RESTART_MAX_MS = 60_000;

/**
 * A background loop in a worker thread, kept running: a worker that dies is started again after a second,
 * then after twice as long each time it dies again within a minute (up to a minute).
 * The worker answers the message `'stop'` by finishing what it is doing and posting `{type: 'stopped'}`;
 * every other message it posts goes to `onMessage`.
 */
export class SupervisedWorker<M extends { type: string }> {
  readonly #script: URL;
  readonly #data: unknown;
  readonly #name: string;
  readonly #onMessage: (m: M) => void;
  readonly #logger: Logger | undefined;
  readonly #onExit: (() => void) | undefined;
  #worker: Worker | undefined;
  #startedAt = 0;
  #delay = RESTART_MS;
  #stopping = false;
  #restart: NodeJS.Timeout | undefined;

  constructor(o: {
    script: URL;
    data: unknown;
    name: string;
    onMessage: (m: M) => void;
    /** Called whenever the worker thread has ended, stopped or dead. */
    onExit?: () => void;
    logger?: Logger;
  }) {
    this.#script = o.script;
    this.#data = o.data;
    this.#name = o.name;
    this.#onMessage = o.onMessage;
    this.#logger = o.logger;
    this.#onExit = o.onExit;
  }

  start(): void {
    if (this.#stopping || this.#worker) return;
    const worker = new Worker(this.#script, { workerData: this.#data });
    this.#worker = worker;
    this.#startedAt = Date.now();
    worker.on('message', (m: M) => {
      if (m.type !== 'stopped') this.#onMessage(m);
    });
    worker.on('error', (err) => this.#logger?.error({ err }, `${this.#name} thread failed`));
    worker.on('exit', () => {
      this.#worker = undefined;
      this.#onExit?.();
      if (this.#stopping) return;
      this.#delay = Date.now() - this.#startedAt >= RESTART_MAX_MS ? RESTART_MS : this.#delay;
      this.#logger?.warn(`${this.#name} thread exited: starting it again in ${this.#delay / 1000} s`);
      this.#restart = setTimeout(() => this.start(), this.#delay);
      this.#restart.unref();
      this.#delay = Math.min(this.#delay * 2, RESTART_MAX_MS);
    });
  }

  /** Lets the worker finish what it is doing, then ends the thread (terminated after 10 s). */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#restart) clearTimeout(this.#restart);
    const worker = this.#worker;
    if (!worker) return;
    await new Promise<void>((resolve) => {
      const kill = setTimeout(() => void worker.terminate().then(() => resolve()), 10_000);
      worker.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      worker.on('message', (m: M) => {
        if (m.type === 'stopped') void worker.terminate();
      });
      worker.postMessage('stop');
    });
  }
}

/**
 * A worker script compiled beside `base` (a module's import.meta.url); when that module runs from the
 * TypeScript sources (the tests), the compiled copy at `compiled`, relative to `base` (built before the tests).
 */
export function workerScript(base: string, name: string, compiled: string): URL {
  const beside = new URL(`./${name}`, base);
  if (existsSync(fileURLToPath(beside))) return beside;
  return new URL(`${compiled}/${name}`, base);
}
