import Database from "better-sqlite3";
import { readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import { createPrivateFile, ensurePrivateDirectory } from "./private-files.js";

/** `serve` cannot have the database to itself: another process serves it, or its file system is read-only. */
export class DatabaseInUseError extends Error {
  override name = "DatabaseInUseError";
}

export interface ServingLock {
  release(): void;
}

/**
 * Makes a process the only server of a SQLite file: two servers on one file
 * would both run the notifier and the timers, and each would trust its own
 * memory about the other's work. Import, backup and payments commands do not
 * take it (they are safe beside a server).
 *
 * The lock is the kernel's: an exclusive SQLite lock on a companion file
 * (`<db>.lock`), held by a connection kept open for the life of the process,
 * so it goes away with the process however it ends (kill -9 included) and is
 * never left stale. Who holds it is written, for the refusal's message, to
 * `<db>.lock-holder` (best effort: a full disk must not stop a server from
 * starting to serve reads).
 */
export function takeServingLock(dbPath: string, now: () => Date = () => new Date()): ServingLock {
  const lockPath = `${dbPath}.lock`;
  const holderPath = `${dbPath}.lock-holder`;
  ensurePrivateDirectory(dirname(dbPath));
  let lock: Database.Database;
  try {
    createPrivateFile(lockPath, { exclusive: false });
    lock = new Database(lockPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EROFS") throw error;
    // SQLite could not open the database there either: it writes its -wal and -shm files next to it.
    throw new DatabaseInUseError(`cannot serve ${dbPath}: its file system is read-only (SQLite needs to write its -wal and -shm files beside it)`);
  }
  try {
    lock.pragma("busy_timeout = 0");
    // Its transaction changes nothing: a journal in memory leaves no file behind.
    lock.pragma("journal_mode = MEMORY");
    // In EXCLUSIVE locking mode the connection keeps the lock it takes until it closes.
    lock.pragma("locking_mode = EXCLUSIVE");
    lock.exec("BEGIN EXCLUSIVE; COMMIT");
  } catch (error) {
    lock.close();
    if ((error as { code?: string }).code !== "SQLITE_BUSY") throw error;
    throw new DatabaseInUseError(`${dbPath} is already served by ${holderOf(holderPath)}: stop it first, or serve another --db`);
  }
  try {
    createPrivateFile(holderPath, { exclusive: false });
    writeFileSync(holderPath, `pid ${process.pid} on ${hostname()}, started ${now().toISOString()}\n`);
  } catch {
    // Only the refusal message of a second server loses its detail.
  }
  // Held here until released: a connection nobody references is closed by the
  // garbage collector, and the lock would go with it while the server still serves.
  heldLocks.add(lock);
  return {
    release: () => {
      heldLocks.delete(lock);
      lock.close();
    },
  };
}

/** The lock connections of this process, kept reachable for as long as they are held. */
const heldLocks = new Set<Database.Database>();

function holderOf(holderPath: string): string {
  try {
    return `another booking-server (${readFileSync(holderPath, "utf8").trim()})`;
  } catch {
    return "another booking-server";
  }
}
