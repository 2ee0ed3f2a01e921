import { BookingStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { BookingContext } from "./context.js";
import { isChargeOperation, reportRefunds } from "./owed-refunds.js";
import { notePaymentDone } from "./payment-records.js";
import { refundBookingPayments } from "./refund-payments.js";

/**
 * At start: a booking that has payment records but was never committed
 * (the process died between the charge and the booking), that was declined
 * or failed (its refund may have been cut short), or that has refunds owed
 * (a merchant's cancellation cut short), gets its charges refunded.
 * A call whose answer was never recorded is reported, for a person to check
 * with the processor. A booking never committed counts only when its first
 * payment record was started before `startedBeforeSec`: a run while serving
 * (retrying one that failed at start) passes the second the server started,
 * so a booking under way now is never taken for one a crash left behind.
 */
export async function reconcilePayments(
  ctx: BookingContext,
  startedBeforeSec: number,
): Promise<{ refunded: string[]; unresolved: string[] }> {
  const refunded: string[] = [];
  const unresolved: string[] = [];
  const owed = {
    all: [BookingStatus.DECLINED_BY_MERCHANT, BookingStatus.FAILED],
    // Google's late-cancel fee completes before its cancellation commits: one
    // cut short on a canceled booking belongs to a cancellation that never
    // committed (the merchant's won), so it goes back. (On an active booking
    // Google's retry completes it, with the same idempotency key.)
    lateFeeCutShort: [BookingStatus.CANCELED],
  };
  for (const bookingId of await ctx.store.read.payments.bookingIdsToReconcile(owed, startedBeforeSec)) {
    // A charge whose answer was lost: ask the processor what became of it.
    for (const record of await ctx.store.read.payments.forBooking(bookingId)) {
      if (record.state !== "started" || !isChargeOperation(record.operation)) continue;
      const found = await ctx.payments!.findCharge(record.idempotencyKey).catch(() => null);
      if (found) await notePaymentDone(ctx, record.idempotencyKey, found.transactionId);
      else if (found === null) unresolved.push(bookingId);
    }
    if ((await refundBookingPayments(ctx, bookingId)).length > 0) refunded.push(bookingId);
    // A merchant's cancellation whose refunds a crash cut short: Google hears of them now.
    await reportRefunds(ctx, bookingId);
  }
  return { refunded, unresolved };
}

