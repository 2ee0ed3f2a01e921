import type { Clock } from "../clock.js";
import type { PaymentProcessor } from "../payments/payment-processor.js";
import type { Store } from "../store/repositories.js";

/** What every booking use case works with; tests pass their own clock and ids. */
export interface BookingContext {
  store: Store;
  clock: Clock;
  /** A new unique id for a booking or a lease. */
  newId: () => string;
  /** Longest hold a lease may have; longer requests are shortened to this. */
  maxLeaseSec: number;
  /**
   * Seconds a merchant has to answer an asynchronous request before the
   * server declines it (and in any case when the slot starts).
   */
  decideWithinSec: number;
  /**
   * Told when work the request did not ask for (e.g. releasing expired leases
   * before a lookup) failed and was skipped, so the answer could still be given.
   */
  reportJobFailure: (job: string, error: unknown) => void;
  /** Called after a transaction that queued a notification has committed (wakes the notifier). */
  notificationQueued: () => void;
  /** Charges, keeps cards and refunds; without it a slot that needs payment cannot be booked. */
  payments?: PaymentProcessor;
}

export const defaultMaxLeaseSec = 600;
export const defaultDecideWithinSec = 24 * 3600;

export function createBookingContext(
  options: Pick<BookingContext, "store" | "clock" | "newId"> &
    Partial<Pick<BookingContext, "maxLeaseSec" | "decideWithinSec" | "notificationQueued" | "payments" | "reportJobFailure">>,
): BookingContext {
  return {
    store: options.store,
    clock: options.clock,
    newId: options.newId,
    maxLeaseSec: options.maxLeaseSec ?? defaultMaxLeaseSec,
    decideWithinSec: options.decideWithinSec ?? defaultDecideWithinSec,
    notificationQueued: options.notificationQueued ?? (() => {}),
    payments: options.payments,
    reportJobFailure: options.reportJobFailure ?? (() => {}),
  };
}

/** When a pending request made at `createdAtSec` for a slot starting at `startSec` is declined unanswered. */
export function decisionDeadlineSec(ctx: BookingContext, createdAtSec: number, startSec: number): number {
  return Math.min(createdAtSec + ctx.decideWithinSec, startSec);
}
