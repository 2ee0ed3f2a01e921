import { Worker } from "node:worker_threads";
import type { SqliteDatabase } from "../database.js";

/**
 * How many WAL pages the serving connection lets pile up before it
 * checkpoints by itself: only reached when the background checkpoints cannot
 * keep up (40 MB of WAL), so the WAL stays bounded whatever happens.
 */
const fallbackCheckpointPages = 10_000;

/** How often the background connection copies the WAL into the database file. */
const checkpointIntervalMs = 50;

export interface BackgroundCheckpoints {
  stop(): Promise<void>;
}

/**
 * Checkpoints the database from a second connection on a worker thread, so the
 * serving connection's commits do not stop the event loop for the page copies
 * and the two fsyncs of a checkpoint (≈10 ms every ~1,000 pages written, which
 * SQLite's automatic checkpoint would otherwise run inside a request's COMMIT).
 *
 * PASSIVE checkpoints never block the writer. The WAL itself restarts only
 * when a write begins with every frame already copied, which under steady
 * writes is rare; the serving connection's own automatic checkpoint, at a
 * high threshold, then finds almost everything copied and restarts the WAL
 * cheaply (measured: the WAL cycles between ~2,000 and 10,000 pages under
 * CreateBooking load).
 */
export function startBackgroundCheckpoints(
  db: SqliteDatabase,
  onError: (error: Error) => void = (error) => console.error(`background checkpoint failed: ${error.message}`),
): BackgroundCheckpoints {
  db.pragma(`wal_autocheckpoint = ${fallbackCheckpointPages}`);
  const worker = new Worker(`(${checkpointLoop.toString()})()`, {
    eval: true,
    workerData: { path: db.name, driver: require.resolve("better-sqlite3"), intervalMs: checkpointIntervalMs },
  });
  worker.unref();
  worker.on("message", (failure: { code?: string; message: string }) => onError(Object.assign(new Error(failure.message), { code: failure.code })));
  // The worker itself died (e.g. it could not open the file): the serving connection's own checkpoints remain.
  worker.on("error", onError);
  return {
    stop: async () => {
      await worker.terminate();
    },
  };
}

/**
 * The worker's whole program (it runs as source text, so it only uses what it
 * requires itself). A failed checkpoint is retried at the next tick; one that
 * met a lock (a backup, an import) is routine and not reported, any other
 * failure (a full disk, an I/O error) is posted to the serving thread.
 */
function checkpointLoop(): void {
  const { workerData, parentPort } = require("node:worker_threads");
  const Database = require(workerData.driver);
  // A worker can start late on a busy machine: it must never create a new, empty database in place of a deleted one.
  const db = new Database(workerData.path, { fileMustExist: true });
  db.pragma("busy_timeout = 0");
  setInterval(() => {
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
    } catch (error) {
      const { code, message } = error as { code?: string; message: string };
      if (code !== "SQLITE_BUSY" && code !== "SQLITE_LOCKED") parentPort.postMessage({ code, message });
    }
  }, workerData.intervalMs);
}
