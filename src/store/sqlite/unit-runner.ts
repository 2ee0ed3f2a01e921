import type { SqliteDatabase } from "../database.js";
import { busyRetryWindowMs, StoreBusyError } from "../repositories.js";
import { storeError } from "./store-errors.js";


/** The first wait after SQLITE_BUSY; it doubles per try, up to `longestBusyRetryDelayMs`. */
const firstBusyRetryDelayMs = 2;
const longestBusyRetryDelayMs = 100;

interface Unit {
  work: () => Promise<unknown>;
  /** May share its transaction with the batch units next to it in the queue. */
  batch: boolean;
  /** Opens and closes its own transaction (see `UnitRunner.exclusive`). */
  exclusive: boolean;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

export interface UnitRunnerOptions {
  /**
   * Makes everything committed so far durable (see `walSyncer`). Without it,
   * each transaction commits with the connection's own synchronous setting.
   */
  syncWal?: () => Promise<void>;
}

export interface UnitRunner {
  /** Queues a unit; it runs in its own savepoint of a transaction (shared with its neighbours when `batch`). */
  run<T>(work: () => Promise<T>, batch: boolean): Promise<T>;
  /**
   * Runs `work` (synchronous statements on the connection that manage their
   * own transaction: an import's staging chunks and final swap) when no unit
   * is under way, and keeps units out while it runs.
   */
  exclusive<T>(work: () => T): Promise<T>;
  /**
   * Whether a unit's transaction is open now. A plain flag: better-sqlite3's
   * `inTransaction` is a native call, ~0.8 µs, and every repository call asks.
   */
  readonly transactionOpen: boolean;
  /** Settles when the transaction open now has ended (committed or rolled back). */
  transactionEnded(): Promise<void>;
  /** Settles once no transaction is open and none is queued. */
  idle(): Promise<void>;
}

/**
 * Runs the store's units of work on its one connection, one transaction at a
 * time (SQLite has one writer; the connection has one transaction).
 *
 * Group commit: batch units that are queued together (arrived in the same
 * turn of the event loop) run in one `BEGIN IMMEDIATE` transaction, each
 * inside its own savepoint, and are committed together. A unit that throws is
 * rolled back to its savepoint alone; its neighbours still commit. A unit
 * that is not `batch` has a transaction of its own.
 *
 * A unit awaits only repositories, whose promises are already settled: the
 * whole transaction, from BEGIN to COMMIT, runs in microtasks of one turn of
 * the event loop, and the next request is handled only after it.
 *
 * With `syncWal`, the COMMIT itself runs with `synchronous=NORMAL` (written to
 * the WAL, not yet flushed), and the WAL is then flushed off the event loop; every unit's
 * promise settles only after that fsync, so nothing is acknowledged before it
 * would survive power loss, exactly as with `synchronous=FULL`, but the event
 * loop keeps serving requests (and building the next batch) while the disk
 * flushes. Checkpoints still fsync the WAL before copying it into the
 * database file (SQLite does so in NORMAL mode), so an earlier commit is
 * never overwritten before it is durable.
 *
 * Between the COMMIT and the fsync, plain reads can already see the
 * transaction's rows; a unit that depends on them settles after its own
 * fsync, which flushes the earlier transaction with it.
 *
 * The connection never waits for a lock (busy_timeout 0: SQLite's wait would
 * stop the event loop). A transaction whose BEGIN IMMEDIATE or COMMIT finds
 * the database locked by another process has been rolled back whole, so its
 * units are simply run again later, off the event loop, with a growing
 * backoff, for up to `busyRetryWindowMs`; then every unit fails with
 * `StoreBusyError`. (So a unit may run more than once: it has no effect
 * outside the database.)
 */
export function unitRunner(db: SqliteDatabase, options: UnitRunnerOptions = {}): UnitRunner {
  const { syncWal } = options;
  const queue: Unit[] = [];
  /** A transaction is open on the connection, or units are waiting out another process's lock. */
  let active = false;
  let scheduled = false;
  let idleWaiters: (() => void)[] = [];
  let transactionWaiters: (() => void)[] = [];
  let transactionOpen = false;
  const wakeAll = (waiters: (() => void)[]) => {
    for (const wake of waiters) wake();
  };
  // Prepared once: db.exec would compile each of these again for every unit.
  const statement = (sql: string) => {
    const prepared = db.prepare(sql);
    return () => prepared.run();
  };
  const [begin, commit, rollback, savepoint, release, rollbackToSavepoint, deferWalSync, restoreFullSync] = [
    "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit",
    "PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL",
  ].map(statement);

  const runTransaction = async (units: Unit[]): Promise<Outcome[]> => {
    const outcomes: Outcome[] = [];
    if (syncWal) deferWalSync();
    try {
      begin();
      transactionOpen = true;
      for (const unit of units) {
        savepoint();
        try {
          outcomes.push({ ok: true, value: await unit.work() });
          release();
        } catch (error) {
          // SQLite rolls a whole transaction back by itself after some errors (a full disk): then nothing of it stands.
          if (!db.inTransaction) throw error;
          rollbackToSavepoint();
          release();
          outcomes.push({ ok: false, error });
        }
      }
      commit();
      return outcomes;
    } catch (error) {
      // The transaction could not be committed: no unit of it took effect.
      if (db.inTransaction) rollback();
      throw storeError(error);
    } finally {
      transactionOpen = false;
      if (syncWal) restoreFullSync();
      const waiters = transactionWaiters;
      transactionWaiters = [];
      wakeAll(waiters);
    }
  };

  const settle = (units: Unit[], outcomes: Outcome[]) =>
    units.forEach((unit, index) => {
      const outcome = outcomes[index];
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });

  /** The next transaction's units: the batch units at the head of the queue, or its first unit alone (exclusive work is never batch). */
  const takeNext = (): Unit[] => {
    if (!queue[0].batch) return queue.splice(0, 1);
    const end = queue.findIndex((unit) => !unit.batch);
    return queue.splice(0, end === -1 ? queue.length : end);
  };

  const runExclusive = async (unit: Unit): Promise<void> => {
    try {
      unit.resolve(await unit.work());
    } catch (error) {
      unit.reject(error);
    } finally {
      finished();
    }
  };

  const attempt = async (units: Unit[], firstTriedAt: number, retryDelayMs: number): Promise<void> => {
    if (units[0].exclusive) return runExclusive(units[0]);
    let outcomes: Outcome[];
    try {
      outcomes = await runTransaction(units);
    } catch (error) {
      const waitedMs = performance.now() - firstTriedAt;
      if (error instanceof StoreBusyError && waitedMs < busyRetryWindowMs) {
        const nextDelayMs = Math.min(retryDelayMs * 2, longestBusyRetryDelayMs);
        setTimeout(() => void attempt(units, firstTriedAt, nextDelayMs), Math.min(retryDelayMs, busyRetryWindowMs - waitedMs));
        return;
      }
      for (const unit of units) unit.reject(error);
      return finished();
    }
    finished();
    if (!syncWal) return settle(units, outcomes);
    syncWal().then(
      () => settle(units, outcomes),
      // Committed but perhaps not durable: nobody may be told it succeeded.
      // (A caller retrying with the same idempotency token finds what was kept.)
      (error) => units.forEach((unit) => unit.reject(error)),
    );
  };

  const schedule = () => {
    if (scheduled || active || queue.length === 0) return;
    scheduled = true;
    // The next turn: units arriving in this one share the transaction.
    setImmediate(() => {
      scheduled = false;
      if (active || queue.length === 0) return;
      active = true;
      void attempt(takeNext(), performance.now(), firstBusyRetryDelayMs);
    });
  };

  const finished = () => {
    active = false;
    if (queue.length > 0) return schedule();
    const waiters = idleWaiters;
    idleWaiters = [];
    wakeAll(waiters);
  };

  return {
    run: <T>(work: () => Promise<T>, batch: boolean) =>
      new Promise<T>((resolve, reject) => {
        queue.push({ work, batch, exclusive: false, resolve: resolve as (value: unknown) => void, reject });
        schedule();
      }),
    exclusive: <T>(work: () => T) =>
      new Promise<T>((resolve, reject) => {
        const run = async () => {
          try {
            return work();
          } catch (error) {
            throw storeError(error);
          }
        };
        queue.push({ work: run, batch: false, exclusive: true, resolve: resolve as (value: unknown) => void, reject });
        schedule();
      }),
    get transactionOpen() {
      return transactionOpen;
    },
    transactionEnded: () => new Promise<void>((wake) => transactionWaiters.push(wake)),
    idle: () => (active || queue.length > 0 ? new Promise<void>((wake) => idleWaiters.push(wake)) : Promise.resolve()),
  };
}
