import Database from "better-sqlite3";
import { batchBusyTimeoutMs, openDatabase, schemaVersion } from "./database.js";
import type { ReadRepositories, Repositories, Store } from "./repositories.js";
import { promised } from "./sqlite/async-repositories.js";
import { SqliteBookingRepository } from "./sqlite/booking-repository.js";
import { SqliteFeedStaging } from "./sqlite/feed-staging.js";
import { SqliteIdempotencyRepository } from "./sqlite/idempotency-repository.js";
import { SqliteInventoryRepository } from "./sqlite/inventory-repository.js";
import { SqliteLeaseRepository } from "./sqlite/lease-repository.js";
import { SqliteOutboxRepository } from "./sqlite/outbox-repository.js";
import { SqlitePaymentLedgerRepository } from "./sqlite/payment-ledger-repository.js";
import { SqlitePaymentRecordRepository } from "./sqlite/payment-record-repository.js";
import { startBackgroundCheckpoints } from "./sqlite/background-checkpoints.js";
import { createPrivateFile } from "./sqlite/private-files.js";
import { readinessProbe } from "./sqlite/readiness-probe.js";
import { unitRunner } from "./sqlite/unit-runner.js";
import { walSyncer } from "./sqlite/wal-sync.js";
import { SqliteUserRepository } from "./sqlite/user-repository.js";
import type { SqliteDatabase } from "./database.js";

/** How `openSqliteStore` opens the database. */
export interface SqliteStoreOptions {
  /**
   * How long a statement waits for a lock another process holds before
   * failing with SQLITE_BUSY. Default 0, what a server needs: SQLite waits
   * synchronously, which would stop every request. Batch tools may wait
   * (`batchBusyTimeoutMs`).
   */
  busyTimeoutMs?: number;
  /** Told of each background checkpoint that failed for a reason other than a lock (it runs again at its next tick). */
  onCheckpointError?: (error: Error) => void;
  /**
   * For a process that ends right after `close` (serve): leave the emptied
   * -wal and -shm files in place. SQLite deletes them when its last
   * connection closes and must create them again at the next open; on a full
   * disk it cannot (SQLITE_IOERR_SHMSIZE), so a restart there would not even
   * answer lookups. `close` then keeps one connection open until the process exits.
   */
  keepWalFilesAtClose?: boolean;
}

/** Connections kept open until the process exits (`keepWalFilesAtClose`): reachable, so never closed by the garbage collector. */
const keptUntilExit = new Set<SqliteDatabase>();

/** The better-sqlite3 repositories of one connection, synchronous inside (see `promised`). */
function sqliteRepositories(db: SqliteDatabase) {
  return {
    inventory: new SqliteInventoryRepository(db),
    bookings: new SqliteBookingRepository(db),
    idempotency: new SqliteIdempotencyRepository(db),
    leases: new SqliteLeaseRepository(db),
    users: new SqliteUserRepository(db),
    payments: new SqlitePaymentRecordRepository(db),
    ledger: new SqlitePaymentLedgerRepository(db),
    outbox: new SqliteOutboxRepository(db),
  };
}

/** Wraps each repository of `repositories` with `promised`, behind the same `enter`. */
function promisedAll<T extends object>(
  repositories: ReturnType<typeof sqliteRepositories>,
  enter: (self: unknown) => Promise<void> | undefined,
): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, repository] of Object.entries(repositories)) wrapped[name] = promised(repository as never, enter);
  return wrapped as T;
}

/**
 * Opens the SQLite store at `path` (created and migrated as needed).
 *
 * One connection serves everything: units of work run one transaction at a
 * time on it (`unitRunner`: group commit for batch units, retries while
 * another process holds the lock), which is what makes a unit serializable;
 * plain reads run on it between transactions.
 */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Store {
  const db = openDatabase(path, options);
  const checkpoints = db.memory ? undefined : startBackgroundCheckpoints(db, options.onCheckpointError);
  const wal = db.memory ? undefined : walSyncer(`${db.name}-wal`);
  const runner = unitRunner(db, { syncWal: wal?.sync });
  const repositories = sqliteRepositories(db);
  // Each unit gets its own handle, revoked when the unit ends: a handle kept
  // after its unit is refused, even while another unit is under way. (A
  // repository taken out of the handle and kept is refused only outside any
  // transaction: per-unit views of every repository would cost a booking ~10%.)
  const shared = promisedAll<Repositories>(repositories, () => {
    if (!runner.transactionOpen) throw new Error("a unit of work's repositories were used outside its transaction (after the unit ended?)");
    return undefined;
  });
  const revoked = promisedAll<Repositories>(repositories, () => {
    throw new Error("a unit of work's repositories were used after the unit ended");
  });
  // A read waits while a transaction is open: it never sees a unit's uncommitted writes.
  const read = promisedAll<ReadRepositories>(repositories, () => (runner.transactionOpen ? runner.transactionEnded() : undefined));
  const store: Store = {
    transaction: (work, transactionOptions) =>
      runner.run(async () => {
        const handle = { ...shared };
        try {
          return await work(handle);
        } finally {
          Object.assign(handle, revoked);
        }
      }, transactionOptions?.batch ?? false),
    read,
    stageFeeds: () => runner.exclusive(() => new SqliteFeedStaging(db, runner, wal?.sync)),
    // One `serve` per file (the serving lock): no other instance runs units here.
    sharedByInstances: false,
    readiness: readinessProbe({ db, path, schemaVersion, commitProbe: (write) => runner.run(async () => write(), true) }),
    backup: async (destination) => {
      // SQLite would create the copy with the umask's mode: it holds guests' personal data.
      createPrivateFile(destination, { exclusive: true });
      await db.backup(destination);
    },
    close: async () => {
      await runner.idle();
      void checkpoints?.stop();
      // What SQLite does when the last connection closes, done here because the
      // checkpoint worker's connection may still be open: copy the WAL into the
      // database and empty it (after an import, a WAL of the whole feed). Nothing
      // is served any more, so this one may wait out a checkpoint the worker has under way.
      if (!db.memory) {
        db.pragma(`busy_timeout = ${batchBusyTimeoutMs}`);
        db.pragma("wal_checkpoint(TRUNCATE)");
      }
      wal?.close();
      if (options.keepWalFilesAtClose && !db.memory) keptUntilExit.add(openDatabaseFile(path));
      db.close();
    },
  };
  return store;
}

/** A plain connection to an existing database that has read it once, so it holds the -wal and -shm files open too. */
function openDatabaseFile(path: string): SqliteDatabase {
  const keeper = new Database(path, { fileMustExist: true });
  keeper.pragma("user_version");
  return keeper;
}
