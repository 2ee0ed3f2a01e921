import { batchBusyTimeoutMs, openDatabase, schemaVersion } from "./database.js";
import type { Store } from "./repositories.js";
import { SqliteBookingRepository } from "./sqlite/booking-repository.js";
import { SqliteFeedStaging } from "./sqlite/feed-staging.js";
import { SqliteIdempotencyRepository } from "./sqlite/idempotency-repository.js";
import { SqliteInventoryRepository } from "./sqlite/inventory-repository.js";
import { SqliteLeaseRepository } from "./sqlite/lease-repository.js";
import { SqliteOutboxRepository } from "./sqlite/outbox-repository.js";
import { SqlitePaymentRecordRepository } from "./sqlite/payment-record-repository.js";
import { startBackgroundCheckpoints } from "./sqlite/background-checkpoints.js";
import { createPrivateFile } from "./sqlite/private-files.js";
import { readinessProbe } from "./sqlite/readiness-probe.js";
import { groupCommitter } from "./sqlite/group-commit.js";
import { walSyncer } from "./sqlite/wal-sync.js";
import { SqliteUserRepository } from "./sqlite/user-repository.js";

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
}

/** Opens the SQLite store at `path` (created and migrated as needed). */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): Store {
  const db = openDatabase(path, options);
  const checkpoints = db.memory ? undefined : startBackgroundCheckpoints(db, options.onCheckpointError);
  const wal = db.memory ? undefined : walSyncer(`${db.name}-wal`);
  const groupTransaction = groupCommitter(db, { syncWal: wal?.sync });
  const store: Store = {
    inventory: new SqliteInventoryRepository(db),
    bookings: new SqliteBookingRepository(db),
    idempotency: new SqliteIdempotencyRepository(db),
    leases: new SqliteLeaseRepository(db),
    users: new SqliteUserRepository(db),
    payments: new SqlitePaymentRecordRepository(db),
    outbox: new SqliteOutboxRepository(db),
    // IMMEDIATE takes the write lock up front, so a second process cannot
    // interleave between our read of a slot and our write to it.
    transaction: (work) => db.transaction(work).immediate(),
    groupTransaction,
    stageFeeds: () => new SqliteFeedStaging(db, wal?.sync),
    readiness: readinessProbe({ db, path, schemaVersion, commitProbe: (write) => groupTransaction(write) }),
    backup: async (destination) => {
      // SQLite would create the copy with the umask's mode: it holds guests' personal data.
      createPrivateFile(destination, { exclusive: true });
      await db.backup(destination);
    },
    close: () => {
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
      db.close();
    },
  };
  return store;
}
