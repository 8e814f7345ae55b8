import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Metrics } from '../platform/metrics.js';
import { type IntegratorEvents, metricEvents } from './integrator.js';
import type { IntegratorWorkerData, WorkerMessage } from './integrator-worker.js';

/**
 * Runs the audit integrator loop in a worker thread with its own store connection, so that building the
 * Merkle log (canonical JSON, SHA-256, node inserts) never takes time from the thread serving requests: on
 * SQLite that thread is the server's bottleneck, on PostgreSQL its event-loop delay is every transaction's
 * latency. A worker that dies is started again after a second.
 */
export class IntegratorThread {
  readonly #data: IntegratorWorkerData;
  readonly #events: IntegratorEvents;
  readonly #logger: Logger | undefined;
  #worker: Worker | undefined;
  #stopping = false;
  #restart: NodeJS.Timeout | undefined;

  constructor(o: IntegratorWorkerData & { metrics: Metrics; logger?: Logger }) {
    const { metrics, logger, ...data } = o;
    this.#data = data;
    this.#events = metricEvents(metrics, logger);
    this.#logger = logger;
  }

  start(): void {
    if (this.#stopping || this.#worker) return;
    const worker = new Worker(workerScript(), { workerData: this.#data });
    this.#worker = worker;
    worker.on('message', (m: WorkerMessage) => this.#onMessage(m));
    worker.on('error', (err) => this.#logger?.error({ err }, 'audit integrator thread failed'));
    worker.on('exit', () => {
      this.#worker = undefined;
      if (this.#stopping) return;
      this.#logger?.warn('audit integrator thread exited: starting it again in 1 s');
      this.#restart = setTimeout(() => this.start(), 1000);
      this.#restart.unref();
    });
  }

  #onMessage(m: WorkerMessage): void {
    if (m.type === 'error') this.#events.failed(new Error(m.message));
    else if (m.type === 'metric' && m.name === 'lag') this.#events.lag(m.value);
    else if (m.type === 'metric') this.#events.round(m.integrated, m.signed, m.seconds);
  }

  /** Lets the round in progress finish, then ends the thread (terminated after 10 s). */
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
      worker.on('message', (m: WorkerMessage) => {
        if (m.type === 'stopped') void worker.terminate();
      });
      worker.postMessage('stop');
    });
  }
}

/**
 * The compiled worker beside this file; when this file runs from the TypeScript sources (the tests), the
 * compiled copy in dist/ (built before the tests).
 */
function workerScript(): URL {
  const beside = new URL('./integrator-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(beside))) return beside;
  return new URL('../../dist/audit/integrator-worker.js', import.meta.url);
}
