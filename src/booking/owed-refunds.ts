import { clone } from "@bufbuild/protobuf";
import { BookingSchema, BookingStatus, PrepaymentStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { bookingPatch, type BookingPatchPath } from "../notify/booking-notification.js";
import { paymentIdempotencyKey, type PaymentOperation } from "../payments/payment-processor.js";
import type { Booking } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import type { PaymentRecord, Repositories } from "../store/repositories.js";
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
const chargeOperations: ReadonlySet<string> = new Set(["prepayment", "deposit", "no_show_fee", "late_cancel_fee"]);

/** What a charge operation is for: `deposit#2` (a move's further deposit) is a `deposit`. */
export function chargeKind(operation: string): string {
  return operation.split("#", 1)[0];
}

/** Whether the operation takes money (a charge, not a refund or a kept card). */
export function isChargeOperation(operation: string): boolean {
  return chargeOperations.has(chargeKind(operation));
}

/**
 * How much of each charge a booking still holds. A charge may be refunded
 * in several parts (a move to a smaller party, then a cancellation): its
 * refunds are `refund/<charge>`, then `refund/<charge>/2`, `/3`, ..., each
 * with the amount it gives back, whether made (`done`) or only recorded as
 * owed (`started`).
 */
export interface ChargeHeld {
  charge: PaymentRecord;
  /** The charge less every refund of it, made or owed. */
  heldMicros: bigint;
  /** Refunds of it recorded but not made yet (owed, or cut short by a crash). */
  owed: PaymentRecord[];
  /** The operation name of its next refund. */
  nextRefund: PaymentOperation;
}

/** Every done charge of the booking with what it still holds (from its payment records). */
export function chargesHeld(records: readonly PaymentRecord[]): ChargeHeld[] {
  return records
    .filter((record) => isChargeOperation(record.operation) && record.state === "done")
    .map((charge) => {
      const first = `refund/${charge.operation}`;
      const refunds = records.filter((r) => r.operation === first || r.operation.startsWith(`${first}/`));
      const refundedMicros = refunds.reduce((sum, refund) => sum + (refund.amountMicros ?? 0n), 0n);
      return {
        charge,
        heldMicros: (charge.amountMicros ?? 0n) - refundedMicros,
        owed: refunds.filter((refund) => refund.state === "started"),
        nextRefund: (refunds.length === 0 ? first : `${first}/${refunds.length + 1}`) as PaymentOperation,
      };
    });
}

/**
 * Records, as owed, the refunds that leave each charge of the booking holding
 * only what `keepMicros` says it may keep (default nothing: everything goes
 * back). Call inside the transaction that makes the decision (a merchant's
 * cancellation, a move to a cheaper slot): both commit or neither. Returns
 * how many were recorded.
 */
export async function recordOwedRefunds(
  tx: Repositories,
  bookingId: string,
  nowSec: number,
  keepMicros: (held: ChargeHeld) => bigint = () => 0n,
): Promise<number> {
  let owed = 0;
  for (const held of chargesHeld(await tx.payments.forBooking(bookingId))) {
    const micros = held.heldMicros - keepMicros(held);
    if (micros <= 0n) continue;
    await tx.payments.start(
      {
        bookingId,
        merchantId: held.charge.merchantId,
        operation: held.nextRefund,
        idempotencyKey: paymentIdempotencyKey(bookingId, held.nextRefund),
        amountMicros: micros,
        currency: held.charge.currency,
      },
      nowSec,
    );
    owed++;
  }
  return owed;
}

/** Statuses whose booking gives back what it took: Google hears PREPAYMENT_REFUNDED once it has. */
const refundedStatuses: ReadonlySet<BookingStatus> = new Set([
  BookingStatus.CANCELED,
  BookingStatus.DECLINED_BY_MERCHANT,
  BookingStatus.FAILED,
]);

/**
 * Once every charge of a canceled, declined or failed booking has been refunded, records
 * PREPAYMENT_REFUNDED on it, with the refund's transaction id (spec §2.8:
 * with REFUNDED the id is the refund's; the prepayment's refund when there
 * are several), and queues the PATCH that tells Google both the status and
 * the refund. Nothing happens while something is still kept (a late fee, a
 * deposit inside its window) or not yet refunded, or when it was reported
 * already. Returns the booking as it is now.
 */
export async function reportRefunds(ctx: BookingContext, bookingId: string): Promise<Booking | undefined> {
  const now = ctx.clock.nowSec();
  const result = await ctx.store.transaction(async (tx) => {
    const record = await tx.bookings.get(bookingId);
    if (!record) return { booking: undefined, queued: false };
    const { booking } = record;
    const info = booking.paymentInformation;
    if (!refundedStatuses.has(booking.status) || info?.prepaymentStatus !== PrepaymentStatus.PREPAYMENT_PROVIDED) {
      return { booking, queued: false };
    }
    const payments = await tx.payments.forBooking(bookingId);
    const done = new Map(payments.filter((p) => p.state === "done").map((p) => [p.operation, p.transactionId]));
    const charges = chargesHeld(payments);
    if (charges.length === 0 || charges.some((held) => held.heldMicros > 0n || held.owed.length > 0)) {
      return { booking, queued: false };
    }
    const refunded = clone(BookingSchema, booking);
    refunded.paymentInformation!.prepaymentStatus = PrepaymentStatus.PREPAYMENT_REFUNDED;
    refunded.paymentInformation!.paymentTransactionId =
      done.get("refund/prepayment") ?? done.get("refund/deposit") ?? done.get(`refund/${charges[0].charge.operation}`) ?? "";
    await tx.bookings.update({ ...record, booking: refunded }, now);
    // A FAILED status travels with its failure, which only the first PATCH had: this one carries the refund alone.
    const updateMask: BookingPatchPath[] =
      booking.status === BookingStatus.FAILED ? ["paymentInformation.prepaymentStatus"] : ["status", "paymentInformation.prepaymentStatus"];
    await tx.outbox.enqueue(bookingPatch(refunded, { updateMask }), now);
    return { booking: refunded, queued: true };
  });
  if (result.queued) ctx.notificationQueued();
  return result.booking;
}
