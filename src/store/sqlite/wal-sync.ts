import { open } from "node:fs/promises";

/**
 * An fsync of the WAL file at `walPath` on libuv's thread pool, shared by
 * whoever asks while it is under way: at most one runs at a time, and a call
 * made while one runs waits for the next (the running one may have started
 * before the caller's writes). The file is opened by path for every sync, so
 * a WAL that SQLite recreated is never missed through a stale descriptor.
 */
export function walSyncer(walPath: string): () => Promise<void> {
  let running: Promise<void> | undefined;
  let next: Promise<void> | undefined;

  const fsyncWal = async () => {
    const file = await open(walPath, "r");
    try {
      await file.sync();
    } finally {
      await file.close();
    }
  };

  const sync = (): Promise<void> => {
    if (!running) {
      running = fsyncWal().finally(() => (running = undefined));
      return running;
    }
    next ??= running.then(
      () => ((next = undefined), sync()),
      () => ((next = undefined), sync()),
    );
    return next;
  };
  return sync;
}
