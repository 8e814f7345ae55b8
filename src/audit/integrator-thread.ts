import type { Logger } from 'pino';
import type { Metrics } from '../platform/metrics.js';
import { SupervisedWorker, workerScript } from '../platform/worker.js';
import { metricEvents } from './integrator.js';
import type { IntegratorWorkerData, WorkerMessage } from './integrator-worker.js';

/**
 * Runs the audit integrator loop in a worker thread with its own store connection, so that building the
 * Merkle log (canonical JSON, SHA-256, node inserts) never takes time from the thread serving requests: on
 * SQLite that thread is the server's bottleneck, on PostgreSQL its event-loop delay is every transaction's
 * latency. A worker that dies is started again after a second.
 */
export class IntegratorThread {
  readonly #worker: SupervisedWorker<WorkerMessage>;

  constructor(o: IntegratorWorkerData & { metrics: Metrics; logger?: Logger }) {
    const { metrics, logger, ...data } = o;
    const events = metricEvents(metrics, logger);
    this.#worker = new SupervisedWorker<WorkerMessage>({
      script: workerScript(import.meta.url, 'integrator-worker.js', '../../dist/audit'),
      data,
      name: 'audit integrator',
      logger,
      onMessage: (m) => {
        if (m.type === 'error') events.failed(new Error(m.message));
        else if (m.type === 'metric' && m.name === 'lag') events.lag(m.value);
        else if (m.type === 'metric') events.round(m.integrated, m.signed, m.seconds);
      },
    });
  }

  start(): void {
    this.#worker.start();
  }

  /** Lets the round in progress finish, then ends the thread (terminated after 10 s). */
  async stop(): Promise<void> {
    await this.#worker.stop();
  }
}
