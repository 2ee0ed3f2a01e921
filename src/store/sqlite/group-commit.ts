import type { SqliteDatabase } from "../database.js";

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit: units of work that arrive together (in the same turn of the
 * event loop) run in one transaction, each inside its own savepoint, and are
 * committed with a single fsync. A unit that throws is rolled back to its
 * savepoint alone; its neighbours still commit. Every caller's promise
 * settles only after the COMMIT, so nothing is acknowledged before it is
 * durable.
 */
export function groupCommitter(db: SqliteDatabase): <T>(work: () => T) => Promise<T> {
  let pending: Pending[] = [];

  const flush = () => {
    const batch = pending;
    pending = [];
    const outcomes: Array<{ ok: true; value: unknown } | { ok: false; error: unknown }> = [];
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const unit of batch) {
        db.exec("SAVEPOINT unit");
        try {
          outcomes.push({ ok: true, value: unit.work() });
          db.exec("RELEASE unit");
        } catch (error) {
          db.exec("ROLLBACK TO unit");
          db.exec("RELEASE unit");
          outcomes.push({ ok: false, error });
        }
      }
      db.exec("COMMIT");
    } catch (error) {
      // The batch could not be committed: no unit of it took effect.
      if (db.inTransaction) db.exec("ROLLBACK");
      for (const unit of batch) unit.reject(error);
      return;
    }
    batch.forEach((unit, index) => {
      const outcome = outcomes[index];
      if (outcome.ok) unit.resolve(outcome.value);
      else unit.reject(outcome.error);
    });
  };

  return <T>(work: () => T) =>
    new Promise<T>((resolve, reject) => {
      pending.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (pending.length === 1) setImmediate(flush);
    });
}
