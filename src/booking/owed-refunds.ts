import { clone } from "@bufbuild/protobuf";
import { BookingSchema, BookingStatus, PrepaymentStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { bookingPatch } from "../notify/booking-notification.js";
import { paymentIdempotencyKey, type PaymentOperation } from "../payments/payment-processor.js";
import type { Booking } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { BookingContext } from "./context.js";

/**
 * Refunds a decision owes the customer, made durable with the decision.
 *
 * A merchant's cancellation gives back everything the booking took. The
 * processor is remote, so the refunds cannot run inside the cancellation's
 * transaction; instead that transaction records each refund as owed (a
 * payment record in state `started`, the same record a refund writes before
 * calling the processor), so a process that dies after the cancellation
 * commits still finds them at its next start (see `reconcilePayments`), and
 * nothing is ever kept by mistake. Once they are done, `reportRefunds`
 * tells Google.
 */

/** Charges whose money goes back when a booking is refunded in full. */
export const chargeOperations: ReadonlySet<string> = new Set(["prepayment", "deposit", "no_show_fee", "late_cancel_fee"]);

/**
 * Records a refund owed for every charge of the booking not refunded yet.
 * Call inside the transaction that makes the decision: both commit or
 * neither. Returns how many were recorded.
 */
export function recordOwedRefunds(ctx: BookingContext, bookingId: string): number {
  const records = ctx.store.payments.forBooking(bookingId);
  const refunds = new Set(records.map((record) => record.operation));
  let owed = 0;
  for (const charge of records) {
    if (!chargeOperations.has(charge.operation) || charge.state !== "done") continue;
    const operation: PaymentOperation = `refund/${charge.operation}`;
    if (refunds.has(operation)) continue;
    ctx.store.payments.start(
      {
        bookingId,
        merchantId: charge.merchantId,
        operation,
        idempotencyKey: paymentIdempotencyKey(bookingId, operation),
        amountMicros: charge.amountMicros,
        currency: charge.currency,
      },
      ctx.clock.nowSec(),
    );
    owed++;
  }
  return owed;
}

/**
 * Once every charge of a canceled booking has been refunded, records
 * PREPAYMENT_REFUNDED on it, with the refund's transaction id (spec §2.8:
 * with REFUNDED the id is the refund's; the prepayment's refund when there
 * are several), and queues the PATCH that tells Google both the status and
 * the refund. Nothing happens while something is still kept (a late fee, a
 * deposit inside its window) or not yet refunded, or when it was reported
 * already. Returns the booking as it is now.
 */
export function reportRefunds(ctx: BookingContext, bookingId: string): Booking | undefined {
  const { store } = ctx;
  const result = store.transaction(() => {
    const record = store.bookings.get(bookingId);
    if (!record) return { booking: undefined, queued: false };
    const { booking } = record;
    const info = booking.paymentInformation;
    if (booking.status !== BookingStatus.CANCELED || info?.prepaymentStatus !== PrepaymentStatus.PREPAYMENT_PROVIDED) {
      return { booking, queued: false };
    }
    const payments = store.payments.forBooking(bookingId);
    const done = new Map(payments.filter((p) => p.state === "done").map((p) => [p.operation, p.transactionId]));
    const charges = payments.filter((p) => chargeOperations.has(p.operation) && p.state === "done");
    if (charges.length === 0 || charges.some((charge) => !done.has(`refund/${charge.operation}`))) {
      return { booking, queued: false };
    }
    const refunded = clone(BookingSchema, booking);
    refunded.paymentInformation!.prepaymentStatus = PrepaymentStatus.PREPAYMENT_REFUNDED;
    refunded.paymentInformation!.paymentTransactionId =
      done.get("refund/prepayment") ?? done.get("refund/deposit") ?? done.get(`refund/${charges[0].operation}`) ?? "";
    const now = ctx.clock.nowSec();
    store.bookings.update({ ...record, booking: refunded }, now);
    store.outbox.enqueue(bookingPatch(refunded, { updateMask: ["status", "paymentInformation.prepaymentStatus"] }), now);
    return { booking: refunded, queued: true };
  });
  if (result.queued) ctx.notificationQueued();
  return result.booking;
}
