/**
 * The server's timers never end the process: a run that fails is reported
 * and runs again later (use case, in process, on a real SQLite file).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBookingContext } from "../../src/booking/context";
import { SandboxProcessor } from "../../src/payments/sandbox-processor";
import { backgroundJobs } from "../../src/server/background-jobs";
import type { Store } from "../../src/store/repositories";
import { openSqliteStore } from "../../src/store/sqlite-store";
import { sleep } from "../support/operations";

let dir: string;
let store: Store;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "background-jobs-"));
  store = openSqliteStore(join(dir, "booking.db"));
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A store whose calls of `method` of `repository` (plain reads and units alike) reject with `error` the first `times` calls. */
function failingFirst(repository: "payments" | "bookings", method: string, error: Error, times: number): { store: Store; calls: () => number } {
  let calls = 0;
  const failing = <T extends object>(repositoryOf: T): T => {
    const target = repositoryOf as unknown as Record<string, (...args: unknown[]) => unknown>;
    return new Proxy(target, {
      get: (object, name) =>
        name === method
          ? (...args: unknown[]) => {
              calls += 1;
              if (calls <= times) return Promise.reject(error);
              return object[method](...args);
            }
          : Reflect.get(object, name).bind(object),
    }) as unknown as T;
  };
  return {
    store: {
      ...store,
      read: { ...store.read, [repository]: failing(store.read[repository]) },
      transaction: (work, options) => store.transaction((tx) => work({ ...tx, [repository]: failing(tx[repository]) }), options),
    },
    calls: () => calls,
  };
}

const busy = () => Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });

test("when payment reconciliation fails at start, then it is reported, the start goes on, and it runs again until it succeeds", async () => {
  const { store: flaky, calls } = failingFirst("payments", "bookingIdsToReconcile", busy(), 2);
  const failures: string[] = [];
  const ctx = createBookingContext({
    store: flaky,
    clock: { nowSec: () => 1_800_000_000 },
    newId: () => "id",
    payments: new SandboxProcessor(store),
    reportJobFailure: (job, error) => failures.push(`${job}: ${(error as { code?: string }).code}`),
  });
  const jobs = backgroundJobs(ctx, { autoDeclineCheckMs: 60_000, reconcileRetryMs: 20, onReconciled: () => {} });
  await expect(jobs.start()).resolves.toBeUndefined();
  expect(failures).toEqual(["payment_reconciliation: SQLITE_BUSY"]);
  for (let waited = 0; calls() < 3 && waited < 2_000; waited += 20) await sleep(20);
  expect(failures).toEqual(["payment_reconciliation: SQLITE_BUSY", "payment_reconciliation: SQLITE_BUSY"]);
  expect(calls()).toBe(3);
  await sleep(100);
  expect(calls()).toBe(3); // done: no more runs
  await jobs.stop();
});

test("when the auto-decline finds the database locked, then each tick reports it and the next tick runs again", async () => {
  const { store: flaky, calls } = failingFirst("bookings", "listDecisionsDue", busy(), 2);
  const failures: string[] = [];
  const ctx = createBookingContext({
    store: flaky,
    clock: { nowSec: () => 1_800_000_000 },
    newId: () => "id",
    reportJobFailure: (job) => failures.push(job),
  });
  const jobs = backgroundJobs(ctx, { autoDeclineCheckMs: 20, onReconciled: () => {} });
  await jobs.start();
  for (let waited = 0; calls() < 3 && waited < 2_000; waited += 20) await sleep(20);
  await jobs.stop();
  expect(failures).toEqual(["auto_decline", "auto_decline"]);
  expect(calls()).toBeGreaterThanOrEqual(3);
});
