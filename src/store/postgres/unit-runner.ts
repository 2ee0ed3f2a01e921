import type pg from "pg";
import { busyRetryWindowMs, type Repositories, type TransactionOptions, type UnitOfWork } from "../repositories.js";
import type { Queryable } from "./queryable.js";
import { isRetryable, storeError } from "./store-errors.js";

/**
 * How a unit's transaction starts, by the isolation it asks for.
 *
 * SERIALIZABLE is what the contract asks of a unit by default
 * (src/store/repositories.ts, `Store.transaction`): what a unit read does
 * not change under it before it commits, or the unit is refused with a
 * serialization failure and run again (PostgreSQL manual, 13.2.3
 * "Serializable Isolation Level"). Read committed would let two units read a
 * booking as confirmed and both cancel it (and give its spot back twice);
 * the schema's constraints guard only the facts they name.
 *
 * READ COMMITTED for a unit written for it (`isolation: "read committed"`:
 * CreateBooking, whose decisions are conditional writes, constraints and
 * the token's lock): an UPDATE that waits for another transaction's write
 * to its row checks its WHERE again on the row as committed (13.2.1), which
 * is all `takeSpot` and `endHold` need, and no unit is refused for rows it
 * never shared. CreateBooking in process, one service, 50 at a time, 10
 * connections: 374–385 bookings/s read committed against 162–173/s
 * serializable (its re-runs), the same unit either way.
 *
 * `lock_timeout` bounds how long a unit waits for a row another transaction
 * holds (a long import's final swap): then it fails with lock_not_available,
 * `StoreBusyError`, as a SQLite unit does after its busy window (2 s).
 */
const beginFor: Record<NonNullable<TransactionOptions["isolation"]>, string> = {
  serializable: "BEGIN ISOLATION LEVEL SERIALIZABLE; SET LOCAL lock_timeout = '2s'",
  "read committed": "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '2s'",
};

/** The longest random pause before a unit's next run: it doubles per run from 2 ms. */
const longestRetryPauseMs = 50;

/** A unit's own connection to its transaction; closed when the unit ends, and its first failed statement kept. */
interface UnitConnection extends Queryable {
  close(): void;
  /** The first statement of the unit that failed: the transaction is aborted from then on. */
  readonly failure: unknown;
}

function unitConnection(client: pg.PoolClient): UnitConnection {
  let open = true;
  let failure: unknown;
  return {
    query: async <Row extends object>(text: string, values?: readonly unknown[]) => {
      if (!open) throw new Error("a unit of work's repositories were used after the unit ended");
      try {
        return (await client.query<Row>(text, values as unknown[])).rows;
      } catch (error) {
        failure ??= error;
        throw storeError(error);
      }
    },
    close: () => {
      open = false;
    },
    get failure() {
      return failure;
    },
  };
}

/**
 * Runs units of work, each in a transaction of its own (SERIALIZABLE unless
 * the unit asks for read committed) on one
 * pooled connection (`batch` makes no difference: PostgreSQL has no group
 * commit to share), with a fresh set of repositories on that connection that
 * refuses every call once the unit has ended.
 *
 * A unit refused for a serialization failure (40001) or a deadlock (40P01),
 * whether by a statement or by its COMMIT, is rolled back and run again from
 * the start on the same connection after a short random pause, for as long
 * as a SQLite unit waits out another process's lock (`busyRetryWindowMs`,
 * 2 s, not counting the wait for a connection); then the last refusal is its
 * `StoreBusyError`. (Under contention SERIALIZABLE refuses many units whose
 * rows never met: its predicate locks cover index pages, and a sequential
 * scan of a small table the whole table, manual 13.2.3. 50 CreateBooking-like
 * units at a time on a fresh database, 10 connections: ~6 runs a unit;
 * CreateBooking REST with sequential tokens, 50 connections: ~3 re-runs a
 * unit before migration 2 spread the token index, ~0.75 after. serve counts
 * them in booking_store_retries_total.)
 *
 * Each re-run is told to `onRerun` (serve counts them in booking_store_retries_total).
 *
 * A unit that caught a failed statement's error and went on is refused with
 * that error: PostgreSQL has aborted its transaction, and COMMIT would only
 * roll it back. A connection that failed (the server went away) is not
 * returned to the pool, and its unit is not re-run: a COMMIT cut short may
 * have committed.
 */
export function unitRunner(
  pool: pg.Pool,
  repositoriesOn: (db: Queryable) => Repositories,
  onRerun: () => void = () => {},
): <T>(work: UnitOfWork<T>, isolation?: TransactionOptions["isolation"]) => Promise<T> {
  /** One run of the unit in a transaction of its own on `client`; `broken` is told when the connection failed. */
  const runOnce = async <T>(client: pg.PoolClient, work: UnitOfWork<T>, begin: string, broken: () => void): Promise<T> => {
    const connection = unitConnection(client);
    try {
      await connection.query(begin);
      let value: T;
      try {
        value = await work(repositoriesOn(connection));
      } finally {
        connection.close();
      }
      if (connection.failure !== undefined) throw storeError(connection.failure);
      await client.query("COMMIT");
      return value;
    } catch (error) {
      try {
        await client.query("ROLLBACK");
      } catch {
        broken();
      }
      // The statement that failed decides, not what the unit made of it.
      throw connection.failure !== undefined && isRetryable(connection.failure) ? storeError(connection.failure) : storeError(error);
    }
  };

  return async <T>(work: UnitOfWork<T>, isolation: TransactionOptions["isolation"] = "serializable"): Promise<T> => {
    const begin = beginFor[isolation];
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw storeError(error);
    }
    let connectionFailed = false;
    const broken = () => (connectionFailed = true);
    client.on("error", broken);
    try {
      const firstRunAt = performance.now();
      for (let run = 1; ; run++) {
        try {
          return await runOnce(client, work, begin, broken);
        } catch (error) {
          if (connectionFailed || !isRetryable(error) || performance.now() - firstRunAt >= busyRetryWindowMs) throw error;
          onRerun();
          // Random, growing: units that collided once should not collide again in step.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(2 ** run, longestRetryPauseMs)));
        }
      }
    } finally {
      client.off("error", broken);
      client.release(connectionFailed);
    }
  };
}
