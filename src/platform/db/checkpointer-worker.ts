import { parentPort, workerData } from 'node:worker_threads';
import SQLite from 'better-sqlite3';

/**
 * The WAL checkpointer's loop in a worker thread (started by `WalCheckpointer`): on its own connection it
 * copies committed WAL frames back into the database file with PASSIVE checkpoints, which never take the
 * write lock, so the thread serving requests neither waits for that I/O nor pays for it.
 */
export interface CheckpointerWorkerData {
  readonly file: string;
  readonly intervalMs: number;
}

/** One round: frames in the WAL and frames copied back, as `PRAGMA wal_checkpoint` reports them. */
export type CheckpointerMessage =
  | { type: 'round'; walPages: number; checkpointedPages: number }
  | { type: 'error'; message: string }
  | { type: 'stopped' };

const port = parentPort;
if (port) {
  const data = workerData as CheckpointerWorkerData;
  const send = (m: CheckpointerMessage) => port.postMessage(m);
  const db = new SQLite(data.file, { fileMustExist: true });
  db.pragma('busy_timeout = 1000');
  // A checkpoint's writes to the database file are made durable before the WAL is reused, as on the
  // serving connection (synchronous = FULL there).
  db.pragma('synchronous = FULL');
  let stopping = false;
  let timer: NodeJS.Timeout | undefined;
  const round = () => {
    timer = undefined;
    if (stopping) return;
    try {
      const [r] = db.pragma('wal_checkpoint(PASSIVE)') as {
        busy: number;
        log: number;
        checkpointed: number;
      }[];
      if (r && r.log >= 0) send({ type: 'round', walPages: r.log, checkpointedPages: r.checkpointed });
    } catch (err) {
      send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
    }
    timer = setTimeout(round, data.intervalMs);
  };
  round();
  port.on('message', (m: unknown) => {
    if (m !== 'stop') return;
    stopping = true;
    if (timer) clearTimeout(timer);
    db.close();
    send({ type: 'stopped' });
  });
}
