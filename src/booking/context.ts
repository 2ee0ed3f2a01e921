import type { Clock } from "../clock.js";
import type { Store } from "../store/repositories.js";

/** What every booking use case works with; tests pass their own clock and ids. */
export interface BookingContext {
  store: Store;
  clock: Clock;
  /** A new unique id for a booking or a lease. */
  newId: () => string;
  /** Longest hold a lease may have; longer requests are shortened to this. */
  maxLeaseSec: number;
  /** In-memory hint so reads need not query for expired leases every time. */
  leaseWatch: { earliestExpirySec: number };
  /** Called after a transaction that queued a notification has committed (wakes the notifier). */
  notificationQueued: () => void;
}

export const defaultMaxLeaseSec = 600;

export function createBookingContext(
  store: Store,
  clock: Clock,
  newId: () => string,
  maxLeaseSec = defaultMaxLeaseSec,
  notificationQueued: () => void = () => {},
): BookingContext {
  // 0: leases may be held from an earlier run, so the first request looks.
  return { store, clock, newId, maxLeaseSec, leaseWatch: { earliestExpirySec: 0 }, notificationQueued };
}
