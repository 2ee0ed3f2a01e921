import pg from "pg";
import type { ReadRepositories, Repositories, Store } from "../repositories.js";
import { PostgresBookingRepository } from "./booking-repository.js";
import { PostgresFeedStaging } from "./feed-staging.js";
import { PostgresIdempotencyRepository } from "./idempotency-repository.js";
import { PostgresInventoryRepository } from "./inventory-repository.js";
import { PostgresLeaseRepository } from "./lease-repository.js";
import { applyMigrations, schemaVersion } from "./migrations.js";
import { PostgresOutboxRepository } from "./outbox-repository.js";
import { PostgresPaymentLedgerRepository } from "./payment-ledger-repository.js";
import { PostgresPaymentRecordRepository } from "./payment-record-repository.js";
import { poolQueryable, typeParsers, type Queryable } from "./queryable.js";
import { readinessProbe } from "./readiness-probe.js";
import { storeError } from "./store-errors.js";
import { unitRunner } from "./unit-runner.js";
import { PostgresUserRepository } from "./user-repository.js";

/** How `openPostgresStore` connects. */
export interface PostgresStoreOptions {
  /**
   * Most connections the store opens (default 10, BOOKING_DATABASE_POOL_SIZE). Each unit of work holds
   * one from BEGIN to COMMIT, each plain read one for its statement; several
   * instances on one server need the sum of theirs below its max_connections.
   */
  poolSize?: number;
  /**
   * How long a unit or read waits for a connection (a new one to the server,
   * or one of the pool's to come free) before it fails with
   * `StoreUnavailableError` (default 5000 ms): an unreachable server answers
   * requests quickly with 503, it does not hang them.
   */
  connectTimeoutMs?: number;
  /**
   * Told each time a unit of work is run again because the database refused
   * it for a conflict with another unit (it would not have been serializable,
   * or two units deadlocked): the price of SERIALIZABLE under contention.
   */
  onUnitRerun?: () => void;
  /** Told of an error on an idle pooled connection (the server restarted, the network dropped it); the pool replaces it. */
  onConnectionError?: (error: Error) => void;
}

/** Why `backup` copies nothing on PostgreSQL, and what does instead (one sentence, for the CLI too). */
export const postgresBackupRefusal =
  "a PostgreSQL store is not copied by the booking server: back it up with pg_dump (a logical copy) " +
  "or pg_basebackup with WAL archiving (a base backup, for point-in-time recovery)";

/** The repositories over one way to run SQL: the pool's plain reads, or one unit's transaction. */
function postgresRepositories(db: Queryable): Repositories {
  return {
    inventory: new PostgresInventoryRepository(db),
    bookings: new PostgresBookingRepository(db),
    idempotency: new PostgresIdempotencyRepository(db),
    leases: new PostgresLeaseRepository(db),
    users: new PostgresUserRepository(db),
    outbox: new PostgresOutboxRepository(db),
    payments: new PostgresPaymentRecordRepository(db),
    ledger: new PostgresPaymentLedgerRepository(db),
  };
}

/**
 * Opens the PostgreSQL store at `url` (`postgres://user:password@host:port/db`),
 * applying pending migrations first (under an advisory lock, so that
 * instances starting together migrate once; see `applyMigrations`).
 *
 * Every unit of work is a SERIALIZABLE transaction (or read committed, when
 * the unit is written for it) on a pooled connection of its own, re-run
 * after a serialization failure or deadlock (`unitRunner`);
 * plain reads (`store.read`) are single statements on the pool, each seeing
 * what was committed when it ran (read committed, the server's default).
 * Several instances may share one database: every rule a unit relies on is a
 * constraint of the schema or the isolation of its transaction, none is kept
 * in this process's memory.
 */
export async function openPostgresStore(url: string, options: PostgresStoreOptions = {}): Promise<Store> {
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    // A primary that vanished without closing its connections (a partition, a failover that moved
    // the address) is noticed by TCP keepalive probes after ~10 s idle, not the kernel's 2 hours.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    types: typeParsers,
  });
  // Without a listener, an idle connection's error (the server restarting) would end the process.
  pool.on("error", options.onConnectionError ?? ((error) => console.error(`PostgreSQL connection lost: ${error.message}`)));
  let storeId: string;
  try {
    const client = await pool.connect();
    try {
      await applyMigrations(client);
      storeId = (await client.query<{ store_id: string }>("SELECT store_id FROM store_identity")).rows[0].store_id;
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end();
    throw storeError(error);
  }

  const run = unitRunner(pool, postgresRepositories, options.onUnitRerun);
  const underWay = new Set<Promise<unknown>>();
  const track = <T>(promise: Promise<T>): Promise<T> => {
    underWay.add(promise);
    const forget = () => underWay.delete(promise);
    promise.then(forget, forget);
    return promise;
  };

  return {
    transaction: (work, transactionOptions) => track(run(work, transactionOptions?.isolation)),
    read: postgresRepositories(poolQueryable(pool)) as ReadRepositories,
    stageFeeds: () => PostgresFeedStaging.open(pool),
    readiness: readinessProbe({ pool, schemaVersion, storeId }),
    backup: () => Promise.reject(new Error(postgresBackupRefusal)),
    sharedByInstances: true,
    close: async () => {
      // Units under way finish (or fail) first: ending the pool under them would cut their COMMITs short.
      while (underWay.size > 0) await Promise.allSettled([...underWay]);
      await pool.end();
    },
  };
}
