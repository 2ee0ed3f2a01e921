import Database from "better-sqlite3";
import { migrations } from "./migrations.js";
import { preparePrivateDatabaseFile } from "./sqlite/private-files.js";

export type SqliteDatabase = Database.Database;

/**
 * Opens (creating if needed) the SQLite file with the settings the booking
 * server relies on, and applies pending migrations.
 *
 * WAL lets readers run beside the writer; `synchronous=FULL` makes every
 * acknowledged commit survive power loss, not only a process crash.
 *
 * `busyTimeoutMs` (default 0) is how long a statement then waits for a lock
 * another process holds (e.g. an import's final transaction) before failing
 * with SQLITE_BUSY. SQLite waits synchronously, stopping the whole event
 * loop, so a serving process must not wait; batch tools may. The migrations
 * at open always wait up to `batchBusyTimeoutMs`: nothing is served yet.
 */
export function openDatabase(path: string, options: { busyTimeoutMs?: number } = {}): SqliteDatabase {
  if (path !== ":memory:") preparePrivateDatabaseFile(path);
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma(`busy_timeout = ${batchBusyTimeoutMs}`);
  applyMigrations(db);
  db.pragma(`busy_timeout = ${options.busyTimeoutMs ?? 0}`);
  return db;
}

/**
 * How long a batch tool (import, backup, payments) waits for another
 * process's lock before failing: a server's commits hold it for a
 * millisecond or so at a time, an import's final transaction for up to a
 * few seconds.
 */
export const batchBusyTimeoutMs = 5000;

/** The schema version this code expects (the number of migrations). */
export const schemaVersion = migrations.length;

function applyMigrations(db: SqliteDatabase): void {
  const apply = db.transaction(() => {
    const applied = db.pragma("user_version", { simple: true }) as number;
    if (applied > migrations.length) {
      throw new Error(
        `database schema version ${applied} is newer than this server (${migrations.length}); refusing to start`,
      );
    }
    for (let version = applied; version < migrations.length; version++) {
      const migration = migrations[version];
      if (typeof migration === "string") db.exec(migration);
      else migration(db);
      db.pragma(`user_version = ${version + 1}`);
    }
  });
  apply.immediate();
}
