import { closeSync, fdatasync, openSync } from "node:fs";

export interface WalSyncer {
  /** Resolves once everything written to the WAL before the call is on disk. */
  sync(): Promise<void>;
  close(): void;
}

/**
 * An fdatasync of the WAL file at `walPath` on libuv's thread pool (what
 * SQLite itself does for a commit with synchronous=FULL), shared by whoever
 * asks while it is under way: at most one runs at a time, and a call made
 * while one runs waits for the next (the running one may have started before
 * the caller's writes).
 *
 * The descriptor stays open: SQLite deletes the WAL only when the last
 * connection closes, and the store's own connection outlives this syncer. One
 * thread-pool call per sync matters under load, when every completion waits
 * its turn in a busy event loop.
 */
export function walSyncer(walPath: string): WalSyncer {
  let fd: number | undefined;
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;

  const syncNow = () =>
    new Promise<void>((resolve, reject) => {
      try {
        fd ??= openSync(walPath, "r");
      } catch (error) {
        reject(error);
        return;
      }
      fdatasync(fd, (error) => (error ? reject(error) : resolve()));
    });

  const sync = (): Promise<void> => {
    if (!running) {
      running = syncNow().finally(() => (running = undefined));
      return running;
    }
    // Whether the running one succeeded or not, the callers waiting for the next get their own.
    const syncAgain = () => ((next = undefined), sync());
    next ??= running.then(syncAgain, syncAgain);
    return next;
  };

  return {
    sync,
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
