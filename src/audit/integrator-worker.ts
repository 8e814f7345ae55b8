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
    logger: {
      warn: (obj: { err?: unknown }) =>
        send({ type: 'error', message: obj.err instanceof Error ? obj.err.message : String(obj.err) }),
    } as never,
    metrics: {
      auditLag: { set: (value: number) => send({ type: 'metric', name: 'lag', value }) },
      auditIntegrated: { inc: () => {} },
      auditCheckpoints: { inc: () => {} },
      auditRound: { observe: () => {} },
    } as never,
    onRound: (r, seconds) =>
      send({ type: 'metric', name: 'round', integrated: r.integrated, signed: r.signed, seconds }),
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
