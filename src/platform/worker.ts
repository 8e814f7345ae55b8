import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';

/**
 * A background loop in a worker thread, kept running: a worker that dies is started again after a second.
 * The worker answers the message `'stop'` by finishing what it is doing and posting `{type: 'stopped'}`;
 * every other message it posts goes to `onMessage`.
 */
export class SupervisedWorker<M extends { type: string }> {
  readonly #script: URL;
  readonly #data: unknown;
  readonly #name: string;
  readonly #onMessage: (m: M) => void;
  readonly #logger: Logger | undefined;
  #worker: Worker | undefined;
  #stopping = false;
  #restart: NodeJS.Timeout | undefined;

  constructor(o: { script: URL; data: unknown; name: string; onMessage: (m: M) => void; logger?: Logger }) {
    this.#script = o.script;
    this.#data = o.data;
    this.#name = o.name;
    this.#onMessage = o.onMessage;
    this.#logger = o.logger;
  }

  start(): void {
    if (this.#stopping || this.#worker) return;
    const worker = new Worker(this.#script, { workerData: this.#data });
    this.#worker = worker;
    worker.on('message', (m: M) => {
      if (m.type !== 'stopped') this.#onMessage(m);
    });
    worker.on('error', (err) => this.#logger?.error({ err }, `${this.#name} thread failed`));
    worker.on('exit', () => {
      this.#worker = undefined;
      if (this.#stopping) return;
      this.#logger?.warn(`${this.#name} thread exited: starting it again in 1 s`);
      this.#restart = setTimeout(() => this.start(), 1000);
      this.#restart.unref();
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
