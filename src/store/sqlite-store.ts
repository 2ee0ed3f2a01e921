import { busyTimeoutMs, openDatabase, schemaVersion } from "./database.js";
import type { Store } from "./repositories.js";
import { SqliteBookingRepository } from "./sqlite/booking-repository.js";
import { SqliteIdempotencyRepository } from "./sqlite/idempotency-repository.js";
import { SqliteInventoryRepository } from "./sqlite/inventory-repository.js";
import { SqliteLeaseRepository } from "./sqlite/lease-repository.js";
import { SqliteOutboxRepository } from "./sqlite/outbox-repository.js";
import { SqlitePaymentRecordRepository } from "./sqlite/payment-record-repository.js";
import { startBackgroundCheckpoints } from "./sqlite/background-checkpoints.js";
import { groupCommitter } from "./sqlite/group-commit.js";
import { walSyncer } from "./sqlite/wal-sync.js";
import { SqliteUserRepository } from "./sqlite/user-repository.js";

/** Opens the SQLite store at `path` (created and migrated as needed). */
export function openSqliteStore(path: string): Store {
  const db = openDatabase(path);
  const checkpoints = db.memory ? undefined : startBackgroundCheckpoints(db);
  const wal = db.memory ? undefined : walSyncer(`${db.name}-wal`);
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
    groupTransaction: groupCommitter(db, { syncWal: wal?.sync }),
    async bulkTransaction(work) {
      db.exec("BEGIN IMMEDIATE");
      try {
        const result = await work();
        db.exec("COMMIT");
        return result;
      } catch (error) {
        if (db.inTransaction) db.exec("ROLLBACK");
        throw error;
      }
    },
    readiness() {
      try {
        const version = db.pragma("user_version", { simple: true }) as number;
        if (version !== schemaVersion) return { ready: false, reason: `schema version ${version}, expected ${schemaVersion}` };
        // Taking the write lock proves the file is writable and not locked out;
        // nothing is written, and a probe never waits (a wait would block every request).
        db.pragma("busy_timeout = 0");
        db.exec("BEGIN IMMEDIATE; ROLLBACK");
        return { ready: true };
      } catch (error) {
        return { ready: false, reason: (error as Error).message };
      } finally {
        db.pragma(`busy_timeout = ${busyTimeoutMs}`);
      }
    },
    backup: async (path) => {
      await db.backup(path);
    },
    close: () => {
      void checkpoints?.stop();
      // What SQLite does when the last connection closes, done here because the
      // checkpoint worker's connection may still be open: copy the WAL into the
      // database and empty it (after an import, a WAL of the whole feed).
      if (!db.memory) db.pragma("wal_checkpoint(TRUNCATE)");
      wal?.close();
      db.close();
    },
  };
  return store;
}
