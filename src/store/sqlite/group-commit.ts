import type { SqliteDatabase } from "../database.js";

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/**
 * How long a batch keeps trying to take the write lock while another process
 * (an import's final transaction, a backup) holds it, before each of its
 * units fails with that SQLITE_BUSY: long enough to outlast an import of a
 * few hundred thousand slots, short enough to answer well before a caller's
 * deadline.
 */
export const busyRetryWindowMs = 2_000;

/** The first wait after SQLITE_BUSY; it doubles per try, up to `longestBusyRetryDelayMs`. */
const firstBusyRetryDelayMs = 2;
const longestBusyRetryDelayMs = 100;

/** SQLITE_BUSY and its extended codes (SQLITE_BUSY_SNAPSHOT, ...): another connection has the lock. */
const isBusy = (error: unknown) => {
  const code = (error as { code?: unknown } | undefined)?.code;
  return typeof code === "string" && code.startsWith("SQLITE_BUSY");
};

export interface GroupCommitOptions {
  /**
   * Makes everything committed so far durable (see `walSyncer`). Without it,
   * each batch commits with the connection's own synchronous setting.
   */
  syncWal?: () => Promise<void>;
}

/**
 * Group commit: units of work that arrive together (in the same turn of the
 * event loop) run in one transaction, each inside its own savepoint, and are
 * committed together. A unit that throws is rolled back to its savepoint
 * alone; its neighbours still commit.
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
 * Between the COMMIT and the fsync, other requests on this connection can
 * already read the batch's rows; a write that depends on them commits with
 * `synchronous=FULL`, which flushes the batch with it.
 *
 * The connection never waits for a lock (busy_timeout 0: SQLite's wait would
 * stop the event loop). A batch whose BEGIN IMMEDIATE or COMMIT finds the
 * database locked by another process has been rolled back whole, so it is
 * simply run again later, off the event loop, with a growing backoff, for up
 * to `busyRetryWindowMs`; then every unit fails with the SQLITE_BUSY error.
 */
export function groupCommitter(
  db: SqliteDatabase,
  options: GroupCommitOptions = {},
): <T>(work: () => T) => Promise<T> {
  const { syncWal } = options;
  let pending: Pending[] = [];
  // Prepared once: db.exec would compile each of these again for every unit.
  const statement = (sql: string) => {
    const prepared = db.prepare(sql);
    return () => prepared.run();
  };
  const [begin, commit, rollback, savepoint, release, rollbackToSavepoint, deferWalSync, restoreFullSync] = [
    "BEGIN IMMEDIATE", "COMMIT", "ROLLBACK", "SAVEPOINT unit", "RELEASE unit", "ROLLBACK TO unit",
    "PRAGMA synchronous = NORMAL", "PRAGMA synchronous = FULL",
  ].map(statement);

  const commitBatch = (batch: Pending[]): Outcome[] => {
    const outcomes: Outcome[] = [];
    if (syncWal) deferWalSync();
    try {
      begin();
      for (const unit of batch) {
        savepoint();
        try {
          outcomes.push({ ok: true, value: unit.work() });
          release();
        } catch (error) {
          rollbackToSavepoint();
          release();
          outcomes.push({ ok: false, error });
        }
      }
      commit();
      return outcomes;
    } catch (error) {
      // The batch could not be committed: no unit of it took effect.
      if (db.inTransaction) rollback();
      throw error;
    } finally {
      if (syncWal) restoreFullSync();
    }
  };

  const settle = (batch: Pending[], outcomes: Outcome[]) =>
    batch.forEach((unit, index) => {
      const outcome = outcomes[index];
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });

  const flush = () => {
    const batch = pending;
    pending = [];
    attempt(batch, performance.now(), firstBusyRetryDelayMs);
  };

  const attempt = (batch: Pending[], firstTriedAt: number, retryDelayMs: number) => {
    let outcomes: Outcome[];
    try {
      outcomes = commitBatch(batch);
    } catch (error) {
      const waitedMs = performance.now() - firstTriedAt;
      if (isBusy(error) && waitedMs < busyRetryWindowMs) {
        const nextDelayMs = Math.min(retryDelayMs * 2, longestBusyRetryDelayMs);
        setTimeout(() => attempt(batch, firstTriedAt, nextDelayMs), Math.min(retryDelayMs, busyRetryWindowMs - waitedMs));
        return;
      }
      for (const unit of batch) unit.reject(error);
      return;
    }
    if (!syncWal) return settle(batch, outcomes);
    syncWal().then(
      () => settle(batch, outcomes),
      // Committed but perhaps not durable: nobody may be told it succeeded.
      // (A caller retrying with the same idempotency token finds what was kept.)
      (error) => batch.forEach((unit) => unit.reject(error)),
    );
  };

  return <T>(work: () => T) =>
    new Promise<T>((resolve, reject) => {
      pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}
