import { BookingStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { decisionDeadlineSec, type BookingContext } from "./context.js";
import { FailedPreconditionError } from "./errors.js";
import { settleOwedRefunds } from "./refund-payments.js";
import { merchantTransitions, transition } from "./merchant-decisions.js";

/** Requests declined per call; the caller runs it again until none is left. */
const batchSize = 100;

/**
 * Gives every request still awaiting the merchant the deadline the current
 * window gives it (`decisionDeadlineSec`): a request keeps the deadline set
 * when it was made, so a server restarted with another
 * AUTO_DECLINE_AFTER_SEC moves the waiting ones to the new window. Run
 * once per process, before the first auto-decline; returns how many moved.
 */
export async function applyDecisionWindow(ctx: BookingContext): Promise<number> {
  const waiting = await ctx.store.read.bookings.listDecisionsDue(BookingStatus.PENDING_MERCHANT_CONFIRMATION, Number.MAX_SAFE_INTEGER, 1_000_000);
  const moved = waiting
    .map((record) => ({ record, decideBySec: decisionDeadlineSec(ctx, record.createdAtSec, Number(record.booking.slot?.startSec ?? 0n)) }))
    .filter(({ record, decideBySec }) => record.decideBySec !== decideBySec);
  if (moved.length === 0) return 0;
  const now = ctx.clock.nowSec();
  await ctx.store.transaction(async (tx) => {
    for (const { record, decideBySec } of moved) {
      const current = await tx.bookings.get(record.booking.bookingId);
      // Decided meanwhile: no deadline any more.
      if (current?.booking.status !== BookingStatus.PENDING_MERCHANT_CONFIRMATION) continue;
      await tx.bookings.update({ ...current, decideBySec }, now);
    }
  });
  return moved.length;
}

/**
 * Declines the requests nobody answered in time: a pending booking is due
 * at its `decideBySec` (`decisionDeadlineSec`: `ctx.decideWithinSec` after it
 * was made, and in any case when its slot starts).
 * It goes through the merchant's own decline, so the spot comes back and
 * Google is notified the same way. Run at start (catching up on deadlines
 * that passed while the server was down) and then periodically.
 * Returns the ids of the bookings declined.
 */
export async function declineOverdueRequests(ctx: BookingContext): Promise<string[]> {
  const declined: string[] = [];
  for (;;) {
    const now = ctx.clock.nowSec();
    const due = await ctx.store.read.bookings.listDecisionsDue(BookingStatus.PENDING_MERCHANT_CONFIRMATION, now, batchSize);
    for (const record of due) {
      try {
        const bookingId = record.booking.bookingId;
        await transition(ctx, { kind: "admin" }, bookingId, merchantTransitions.decline);
        declined.push(bookingId);
        // Money goes back after the decline commits (owed since it did); one that fails now is made by the next reconciliation.
        void settleOwedRefunds(ctx, bookingId);
      } catch (error) {
        // The merchant answered between our read and the decline: nothing to do.
        if (!(error instanceof FailedPreconditionError)) throw error;
      }
    }
    if (due.length < batchSize) return declined;
  }
}
