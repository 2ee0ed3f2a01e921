import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { migrations } from "./migrations.js";

export type SqliteDatabase = Database.Database;

/**
 * Opens (creating if needed) the SQLite file with the settings the booking
 * server relies on, and applies pending migrations.
 *
 * WAL lets readers run beside the writer; `synchronous=FULL` makes every
 * acknowledged commit survive power loss, not only a process crash.
 * `busy_timeout` covers a second process (e.g. `import`) writing at the same time.
 */
export function openDatabase(path: string): SqliteDatabase {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  db.pragma(`busy_timeout = ${busyTimeoutMs}`);
  applyMigrations(db);
  return db;
}

/** How long a write waits for another process's lock before failing. */
export const busyTimeoutMs = 5000;

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
      db.exec(migrations[version]);
      db.pragma(`user_version = ${version + 1}`);
    }
  });
  apply.immediate();
}
