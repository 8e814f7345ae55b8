import { parentPort, workerData } from 'node:worker_threads';
import { systemClock } from '../platform/clock.js';
import { openDatabase } from '../platform/db/index.js';
import { Integrator } from './integrator.js';
import { NoteSigner } from './note.js';

/**
 * The integrator loop in a worker thread (started by `IntegratorThread`): hashing and canonical JSON run
 * off the thread that serves requests, on the worker's own store connection. Metrics go to the main thread
 * as messages; `stop` finishes the round in progress and closes the connection.
 */
export interface IntegratorWorkerData {
  readonly databaseUrl: string;
  readonly signerKey: string;
  readonly logName: string;
  readonly checkpointIntervalMs: number;
  readonly pollMs: number;
}

export type WorkerMessage =
  | { type: 'metric'; name: 'lag'; value: number }
  | { type: 'metric'; name: 'round'; integrated: number; signed: number; seconds: number }
  | { type: 'error'; message: string }
  | { type: 'stopped' };

const port = parentPort;
if (port) {
  const data = workerData as IntegratorWorkerData;
  const send = (m: WorkerMessage) => port.postMessage(m);
  const db = await openDatabase(data.databaseUrl, { poolSize: 2 });
  const integrator = new Integrator({
    db,
    clock: systemClock,
    signer: NoteSigner.fromSignerKey(data.signerKey),
    logName: data.logName,
    checkpointIntervalMs: data.checkpointIntervalMs,
    events: {
      lag: (value) => send({ type: 'metric', name: 'lag', value }),
      round: (integrated, signed, seconds) =>
        send({ type: 'metric', name: 'round', integrated, signed, seconds }),
      failed: (err) => send({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
    },
  });
  integrator.start(data.pollMs);
  port.on('message', (m: unknown) => {
    if (m !== 'stop') return;
    void (async () => {
      await integrator.stop();
      await db.close();
      send({ type: 'stopped' });
    })();
  });
}
