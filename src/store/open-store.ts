import { existsSync, readFileSync } from "node:fs";
import { ConfigError, dbPathFrom, positiveCountFrom } from "../config.js";
import { fromEnv, settings } from "../config/settings.js";
import { batchBusyTimeoutMs } from "./database.js";
import { openPostgresStore } from "./postgres/postgres-store.js";

export { postgresBackupRefusal } from "./postgres/postgres-store.js";
import type { Store } from "./repositories.js";
import { openSqliteStore } from "./sqlite-store.js";
import { takeServingLock } from "./sqlite/serving-lock.js";

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Which database every command works on: PostgreSQL when
 * BOOKING_DATABASE_URL (or BOOKING_DATABASE_URL_FILE) is set, else the
 * SQLite file of --db / BOOKING_DB. The URL holds a password: it is only
 * ever handed to the driver; `describe` names the database without it.
 */
export type StoreLocation =
  | { readonly backend: "sqlite"; readonly path: string; readonly describe: string }
  | { readonly backend: "postgres"; readonly url: string; readonly describe: string; readonly poolSize: number };

/** The location `env` and the command's --db flag (if it has one) name. */
export function storeLocationFrom(dbFlag: string | undefined, env: Env): StoreLocation {
  const url = databaseUrlFrom(env);
  if (url === undefined) {
    const path = dbPathFrom(dbFlag, env);
    return { backend: "sqlite", path, describe: path };
  }
  if (dbFlag !== undefined) throw new ConfigError("--db names a SQLite file, but BOOKING_DATABASE_URL selects PostgreSQL: pass one of them");
  const poolSize = positiveCountFrom(fromEnv(env, settings.databasePoolSize) ?? settings.databasePoolSize.default, "BOOKING_DATABASE_POOL_SIZE", "connections");
  return { backend: "postgres", url, describe: postgresDescription(url), poolSize };
}

/** BOOKING_DATABASE_URL_FILE's content (trimmed), else BOOKING_DATABASE_URL; `undefined` when neither is set. */
function databaseUrlFrom(env: Env): string | undefined {
  const file = fromEnv(env, settings.databaseUrlFile);
  let url = fromEnv(env, settings.databaseUrl);
  if (file) {
    try {
      url = readFileSync(file, "utf8").trim();
    } catch (error) {
      throw new ConfigError(`cannot read BOOKING_DATABASE_URL_FILE ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (!url) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The value is never echoed: it holds a password.
    throw new ConfigError("BOOKING_DATABASE_URL is not a URL: expected postgres://user:password@host:port/database");
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new ConfigError(`BOOKING_DATABASE_URL must be a postgres:// URL, got a ${parsed.protocol}// one`);
  }
  return url;
}

/** "PostgreSQL database D on host:port": what logs and messages may show (no user, no password, no parameters). */
function postgresDescription(url: string): string {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, "")) || "(the user's default)";
  return `PostgreSQL database ${database} on ${parsed.hostname || "the local socket"}${parsed.port ? `:${parsed.port}` : ""}`;
}

/**
 * How a command uses the store, which decides the options it is opened with:
 *
 * - `serve`: the one process that serves a SQLite file (the serving lock;
 *   no busy wait, SQLite would stop the event loop; the -wal and -shm files
 *   kept at close), which may create the file only when asked (`--create-db`);
 * - `import`: a batch tool that creates a missing SQLite file and says so;
 * - `batch`: a batch tool (export-feeds, payments, backup) on an existing database.
 *
 * Batch tools wait up to `batchBusyTimeoutMs` for a serving process's locks.
 * On PostgreSQL none of the SQLite steps apply: instances share the database,
 * and the store's migrations run under its own lock.
 */
export type StoreUse =
  | {
      readonly command: "serve";
      readonly createDatabase: boolean;
      /** SQLite: a background checkpoint failed. */
      readonly onCheckpointError?: (error: Error) => void;
      /** PostgreSQL: a unit of work was run again after a conflict with another unit (see `PostgresStoreOptions.onUnitRerun`). */
      readonly onUnitRerun?: () => void;
    }
  | { readonly command: "import" }
  | { readonly command: "batch" };

/** The store of `location`, opened as `use` needs it (see `StoreUse`). */
export async function openStore(location: StoreLocation, use: StoreUse): Promise<Store> {
  if (location.backend === "postgres") {
    try {
      return await openPostgresStore(location.url, {
        poolSize: location.poolSize,
        onUnitRerun: use.command === "serve" ? use.onUnitRerun : undefined,
      });
    } catch (error) {
      throw new ConfigError(`cannot open the ${location.describe}: ${(error as Error).message}`);
    }
  }
  const { path } = location;
  if (use.command === "serve") {
    const creates = !existsSync(path);
    if (creates && !use.createDatabase) {
      throw new ConfigError(
        `no database at ${path}: pass --create-db (or BOOKING_DB_CREATE=1) to start a new, empty one, ` +
          "or point --db / BOOKING_DB at the existing file",
      );
    }
    takeServingLock(path);
    const store = openSqliteStore(path, {
      onCheckpointError: use.onCheckpointError,
      // The process exits after close: a restart on a full disk still finds the -wal and -shm files it needs.
      keepWalFilesAtClose: true,
    });
    if (creates) console.log(`created a new, empty database at ${path} (--create-db)`);
    return store;
  }
  if (use.command === "import") {
    // Importing is how a new inventory starts: the one batch command that creates a database, and it says so.
    if (!existsSync(path)) console.log(`creating a new database at ${path}`);
  } else if (!existsSync(path)) {
    // A command that reads a database must not create an empty one instead.
    throw new ConfigError(`no database at ${path}: point --db or BOOKING_DB at the existing file`);
  }
  return openSqliteStore(path, { busyTimeoutMs: batchBusyTimeoutMs });
}
