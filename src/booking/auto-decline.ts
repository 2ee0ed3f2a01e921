import { BookingStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { BookingRecord } from "../store/repositories.js";
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
 *
 * Safe to run in several instances at once: the unit re-reads each request
 * and writes only a deadline that differs, so a second run (re-run after
 * its serialization failure on PostgreSQL) finds nothing to move. Instances
 * with different windows each move the waiting requests to their own at
 * their start: the last one started decides (docs/several-instances.md).
 */
export async function applyDecisionWindow(ctx: BookingContext): Promise<number> {
  const deadlineNow = (record: BookingRecord) => decisionDeadlineSec(ctx, record.createdAtSec, Number(record.booking.slot?.startSec ?? 0n));
  const waiting = await ctx.store.read.bookings.listDecisionsDue(BookingStatus.PENDING_MERCHANT_CONFIRMATION, Number.MAX_SAFE_INTEGER, 1_000_000);
  const toMove = waiting.filter((record) => record.decideBySec !== deadlineNow(record));
  if (toMove.length === 0) return 0;
  const now = ctx.clock.nowSec();
  return ctx.store.transaction(async (tx) => {
    let moved = 0;
    for (const { booking } of toMove) {
      const current = await tx.bookings.get(booking.bookingId);
      // Decided meanwhile (no deadline any more), or moved already by another instance.
      if (current?.booking.status !== BookingStatus.PENDING_MERCHANT_CONFIRMATION || current.decideBySec === deadlineNow(current)) continue;
      await tx.bookings.update({ ...current, decideBySec: deadlineNow(current) }, now);
      moved++;
    }
    return moved;
  });
}

/**
 * Declines the requests nobody answered in time: a pending booking is due
 * at its `decideBySec` (`decisionDeadlineSec`: `ctx.decideWithinSec` after it
 * was made, and in any case when its slot starts).
 * It goes through the merchant's own decline, so the spot comes back and
 * Google is notified the same way. Run at start (catching up on deadlines
 * that passed while the server was down) and then periodically.
 * Returns the ids of the bookings declined.
 *
 * Safe to run in several instances at once: each decline is the merchant
 * decline's own unit, which re-reads the booking's status and refuses one
 * that is no longer awaiting (`FailedPreconditionError`, skipped here); on
 * PostgreSQL the unit that lost the race is refused for serialization and
 * re-run, and then finds the booking declined. So each request is declined,
 * its spot given back and Google told once, and only the winner's run
 * settles its refunds (docs/several-instances.md).
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
