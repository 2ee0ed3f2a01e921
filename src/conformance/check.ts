import type { BookingLedger } from "./booking-ledger.js";
import type { Exchange, RestClient } from "./rest-client.js";
import type { SlotPicker } from "./slot-picker.js";

/**
 * The vocabulary of the checks: a named test (what Google's utility calls
 * `-booking_test` and the like) runs named checks one after the other; each
 * check passes with a short reason, fails with one, or is skipped when what
 * it needs is missing (an earlier check failed, or the feed has no slot of
 * that kind).
 */

/** A check's verdict: the server is not doing what the v3 spec asks. */
export class CheckFailure extends Error {}

/** The check could not run; not the server's fault. */
export class CheckSkipped extends Error {}

export type Outcome = "pass" | "fail" | "skip";

export interface CheckResult {
  /** `<test>.<check>`, e.g. `booking.idempotent-replay`. */
  name: string;
  outcome: Outcome;
  reason: string;
  /** Every request the check sent and what came back. */
  exchanges: Exchange[];
}

/** What a check works with. */
export interface CheckScope {
  /** Google's REST calls, recorded for this check. */
  client: RestClient;
  /** Every booking made, cancelled at the end. */
  bookings: BookingLedger;
  /** An id unique to this run, e.g. `newId("user")` → `conformance-lq2x9a-user-3`. */
  newId(kind: string): string;
}

/** A check that passed: why, and what later checks of the test may build on. */
export interface Passed<T> {
  reason: string;
  value: T;
}

export function passed(reason: string): Passed<undefined>;
export function passed<T>(reason: string, value: T): Passed<T>;
export function passed<T>(reason: string, value?: T): Passed<T | undefined> {
  return { reason, value };
}

/** What a test gets: its checks are run through `check`, its slots come from `slots`. */
export interface TestRun {
  slots: SlotPicker;
  /**
   * Runs one check: its result is reported as it ends. Resolves with the
   * check's value when it passed, undefined otherwise (never rejects).
   */
  check<T>(name: string, run: (scope: CheckScope) => Promise<Passed<T>>): Promise<T | undefined>;
}

/** One of the named tests `conformance` runs (`--all` runs every one, in the order of `conformanceTests`). */
export interface ConformanceTest {
  name: string;
  /** One line for --help. */
  summary: string;
  run(test: TestRun): Promise<void>;
}

/** `value`, or a skip naming the check that should have produced it. */
export function need<T>(value: T | undefined, check: string): T {
  if (value === undefined) throw new CheckSkipped(`needs ${check}, which did not pass`);
  return value;
}

/** Fails the check with `reason` unless `condition` holds. */
export function verify(condition: unknown, reason: string): asserts condition {
  if (!condition) throw new CheckFailure(reason);
}
