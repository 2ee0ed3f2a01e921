import { randomBytes } from "node:crypto";
import type { Clock } from "../clock.js";
import { BookingLedger } from "./booking-ledger.js";
import { CheckFailure, CheckSkipped, passed, type CheckResult, type CheckScope, type ConformanceTest, type Passed } from "./check.js";
import type { FeedSlot } from "./feed-slots.js";
import type { Exchange, RestClient } from "./rest-client.js";
import { SlotPicker } from "./slot-picker.js";
import { cancelBooking } from "./v3-calls.js";

export interface RunOptions {
  client: RestClient;
  /** The availability feed's slots: the only slots the checks book. */
  slots: readonly FeedSlot[];
  tests: readonly ConformanceTest[];
  /** Leave the bookings made in place instead of cancelling them at the end. */
  keep: boolean;
  clock: Clock;
  /** Told each result's line as its check ends, then the closing `N passed, N failed`. */
  write(line: string): void;
}

export interface RunResult {
  results: CheckResult[];
  /** Every booking the run made, and those still standing at its end. */
  bookings: { made: string[]; standing: string[] };
}

/**
 * Runs the tests one after the other, each check in turn, then cancels every
 * booking the run made (unless `keep`): the cancellation is a check of its
 * own, `cleanup.cancel-bookings`, so a booking left behind fails the run.
 */
export async function runConformance(options: RunOptions): Promise<RunResult> {
  const results: CheckResult[] = [];
  const bookings = new BookingLedger();
  const slots = new SlotPicker(options.slots, options.clock.nowSec());
  // Ids no other run uses: the server keeps users, tokens and bookings of earlier runs.
  const runId = `conformance-${options.clock.nowSec().toString(36)}-${randomBytes(3).toString("hex")}`;
  let ids = 0;
  const newId = (kind: string) => `${runId}-${kind}-${++ids}`;

  const check = async <T>(name: string, run: (scope: CheckScope) => Promise<Passed<T>>): Promise<T | undefined> => {
    const exchanges: Exchange[] = [];
    const scope: CheckScope = { client: options.client.recordingTo((exchange) => exchanges.push(exchange)), bookings, newId };
    let result: CheckResult;
    let value: T | undefined;
    try {
      const outcome = await run(scope);
      value = outcome.value;
      result = { name, outcome: "pass", reason: outcome.reason, exchanges };
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      result = { name, outcome: error instanceof CheckSkipped ? "skip" : "fail", reason, exchanges };
    }
    results.push(result);
    options.write(resultLine(result));
    return value;
  };

  for (const test of options.tests) {
    await test.run({ slots, check: (name, run) => check(`${test.name}.${name}`, run) });
  }
  if (options.keep) {
    options.write(`kept ${bookings.standing().length} booking(s) made by this run (--keep): ${bookings.standing().join(", ") || "none"}`);
  } else {
    await check("cleanup.cancel-bookings", (scope) => cancelEveryBooking(scope));
  }
  options.write(summaryLine(results));
  return { results, bookings: { made: bookings.all(), standing: bookings.standing() } };
}

/** Cancels every booking of the run still standing; fails naming those the server would not cancel. */
async function cancelEveryBooking(scope: CheckScope): Promise<Passed<undefined>> {
  const standing = scope.bookings.standing();
  if (standing.length === 0) return passed(`no booking left to cancel (${scope.bookings.all().length} made by this run)`);
  const refused: string[] = [];
  for (const bookingId of standing) {
    try {
      await cancelBooking(scope, bookingId);
    } catch (error) {
      refused.push(`${bookingId} (${(error as Error).message})`);
      continue;
    }
    if (scope.bookings.standing().includes(bookingId)) refused.push(`${bookingId} (the answer is not the booking CANCELED)`);
  }
  if (refused.length > 0) throw new CheckFailure(`could not cancel ${refused.length} of ${standing.length} booking(s) made by this run: ${refused.join("; ")}`);
  return passed(`cancelled the ${standing.length} booking(s) still standing of ${scope.bookings.all().length} made by this run`);
}

const labels = { pass: "PASS", fail: "FAIL", skip: "SKIP" } as const;

export function resultLine(result: CheckResult): string {
  return `${labels[result.outcome]} ${result.name}: ${result.reason}`;
}

/** `N passed, N failed`, and how many were skipped when any were. */
export function summaryLine(results: readonly CheckResult[]): string {
  const count = (outcome: CheckResult["outcome"]) => results.filter((result) => result.outcome === outcome).length;
  const skipped = count("skip");
  return `${count("pass")} passed, ${count("fail")} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`;
}
