import { BookingStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { BookingContext } from "./context.js";
import { isChargeOperation, reportRefunds } from "./owed-refunds.js";
import { notePaymentDone } from "./payment-records.js";
import { refundBookingPayments } from "./refund-payments.js";

/**
 * The longest a CreateBooking can be under way from its first payment record
 * to the commit of its booking: up to three processor operations (a card
 * kept, a deposit, a prepayment), each up to two Stripe calls of 30 s
 * (`StripeProcessorOptions.timeoutMs`), and the units between them, each up
 * to 5 s waiting for a connection and 2 s of re-runs: about 4 minutes, taken
 * twice over. Before that, a payment of a booking that is not committed may
 * belong to a booking another instance is still making.
 */
export const bookingUnderWayLongestSec = 600;

/**
 * The `startedBeforeSec` for a reconciliation run now: a payment of a booking
 * never committed counts as a crash's only once no process can still be
 * making that booking. On a store no other instance shares, a run before
 * this process serves anything (`beforeServing`) counts every one, a later
 * run those started before this process did (`processStartedSec`). On a
 * shared store (`Store.sharedByInstances`) another instance may be making
 * one right now (refunding its charge would leave its booking confirmed on
 * money given back), so a run counts only those started
 * `bookingUnderWayLongestSec` ago.
 */
export function abandonedPaymentsBeforeSec(ctx: BookingContext, run: { beforeServing: boolean; processStartedSec: number }): number {
  if (ctx.store.sharedByInstances) return ctx.clock.nowSec() - bookingUnderWayLongestSec;
  return run.beforeServing ? Number.MAX_SAFE_INTEGER : run.processStartedSec;
}

/**
 * At start: a booking that has payment records but was never committed
 * (the process died between the charge and the booking), that was declined
 * or failed (its refund may have been cut short), or that has refunds owed
 * (a merchant's cancellation cut short), gets its charges refunded.
 * A call whose answer was never recorded is reported, for a person to check
 * with the processor. A booking never committed counts only when its first
 * payment record was started before `startedBeforeSec`
 * (`abandonedPaymentsBeforeSec`), so a booking under way now, in this process
 * or another instance, is never taken for one a crash left behind.
 *
 * Safe to run in several instances at once (each instance runs it at its
 * start): every processor call is keyed by the booking and the operation
 * (`paymentIdempotencyKey`), so two runs refunding one charge make one
 * refund; the second finds it made, or asks the processor with the same key
 * and gets the first's answer (docs/several-instances.md).
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

