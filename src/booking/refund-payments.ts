import {
  BookingFailure_Cause,
  type Booking,
  type BookingFailure,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { cancellationOutcome } from "../payments/cancellation-terms.js";
import { effectivePaymentPolicy } from "../payments/payment-policy.js";
import { paymentIdempotencyKey, type PaymentOperation } from "../payments/payment-processor.js";
import type { BookingRecord, PaymentRecord } from "../store/repositories.js";
import type { BookingContext } from "./context.js";
import { chargeKind, chargesHeld, reportRefunds, type ChargeHeld } from "./owed-refunds.js";
import { notePaymentDone, notePaymentStarted } from "./payment-records.js";
import { chargeNoShowFee, failureFor, paymentFailure, type TakenPayment } from "./take-payments.js";

/**
 * Giving money back: what the booking's charges still hold, the refunds a
 * decision recorded as owed, and what a cancellation's terms give back.
 */

/**
 * Refunds what the booking's charges still hold (a booking that was not
 * made, a declined or failed request, a deposit given back), or, with
 * `keepMicros`, all but what each charge may keep (a part the terms retain).
 * `only` limits it to some charges. Refunds already recorded as owed are made
 * first, as recorded. Each refund is its own operation with its own
 * idempotency key (see `chargesHeld`); `operationFor` names a decision's
 * refund so that the decision, retried, finds it made instead of making
 * another (an operation is made at most once). A charge is never refunded
 * beyond what it holds.
 */
export async function refundBookingPayments(
  ctx: BookingContext,
  bookingId: string,
  only: (operation: string) => boolean = () => true,
  keepMicros: (held: ChargeHeld) => bigint = () => 0n,
  operationFor: (held: ChargeHeld) => PaymentOperation = (held) => held.nextRefund,
): Promise<TakenPayment[]> {
  const made: TakenPayment[] = [];
  const refund = async (charge: PaymentRecord, operation: PaymentOperation, amountMicros: bigint) => {
    const idempotencyKey = paymentIdempotencyKey(bookingId, operation);
    await notePaymentStarted(ctx, { bookingId, merchantId: charge.merchantId, operation, idempotencyKey, amountMicros, currency: charge.currency });
    const { refundId } = await ctx.payments!.refund({
      idempotencyKey,
      transactionId: charge.transactionId!,
      amount: { micros: amountMicros, currency: charge.currency! },
    });
    await notePaymentDone(ctx, idempotencyKey, refundId);
    made.push({ operation, transactionId: refundId });
  };
  const records = await ctx.store.read.payments.forBooking(bookingId);
  for (const held of chargesHeld(records)) {
    if (!only(held.charge.operation)) continue;
    for (const owed of held.owed) await refund(held.charge, owed.operation as PaymentOperation, owed.amountMicros ?? 0n);
    const operation = operationFor(held);
    if (records.some((record) => record.operation === operation)) continue;
    const micros = held.heldMicros - keepMicros(held);
    if (micros > 0n) await refund(held.charge, operation, micros);
  }
  return made;
}

/**
 * Makes the refunds a decision recorded as owed (`recordOwedRefunds`: a
 * merchant's cancellation, decline or failure, a move to a cheaper slot) and
 * nothing else, then tells Google of a booking refunded in full
 * (`reportRefunds`). Never throws: the decision has committed, so a
 * processor or database that fails now leaves the refunds owed, reported as
 * a failed job and made by the next reconciliation. Returns the booking as it
 * is now, or undefined when the refunds must wait.
 */
export async function settleOwedRefunds(ctx: BookingContext, bookingId: string): Promise<Booking | undefined> {
  try {
    await refundBookingPayments(ctx, bookingId, () => true, (held) => held.heldMicros);
    return await reportRefunds(ctx, bookingId);
  } catch (error) {
    ctx.reportJobFailure("refund", error);
    return undefined;
  }
}

/**
 * What cancelling a booking now means for its money, settled before the
 * cancellation commits: refused, or allowed, with `refundId` when money went
 * back (the prepayment's refund, else the deposit's; "" when an earlier attempt
 * made it and its id is not known), which the booking then reports as
 * PREPAYMENT_REFUNDED.
 */
export type CancellationSettlement = { refused: BookingFailure } | { refundId?: string };

/**
 * Applies the slot's cancellation terms to a cancellation asked for now:
 * inside the online-cancellation window it is refused, or, where a no-show fee
 * applies, the fee is charged on the kept card; a prepayment goes back in
 * full, or the part the service's refund conditions give; a deposit is
 * refunded when the cancellation comes before the deposit's own window. Runs before the
 * cancellation commits: a refund or fee is keyed per booking, so a retried
 * cancellation never moves money twice.
 */
export async function settleCancellation(ctx: BookingContext, record: BookingRecord, nowSec: number): Promise<CancellationSettlement> {
  const booking = record.booking;
  const policy = effectivePaymentPolicy(await ctx.store.read.inventory.feedsOf(record.slotId));
  const outcome = cancellationOutcome(policy, { nowSec, slotStartSec: Number(booking.slot!.startSec) });
  if (!outcome.allowed) {
    return {
      refused: paymentFailure(
        BookingFailure_Cause.OUTSIDE_CANCELLATION_WINDOW,
        `online cancellation closed at ${new Date(outcome.deadlineSec * 1000).toISOString()}`,
      ),
    };
  }
  const records = await ctx.store.read.payments.forBooking(booking.bookingId);
  if (outcome.chargeLateCancelFee) {
    const charged = await chargeNoShowFee(ctx, record, policy, "late_cancel_fee");
    if (charged.declined) return { refused: failureFor(charged.declined) };
  }
  const refundOf = async (charge: "prepayment" | "deposit", percent: number): Promise<string | undefined> => {
    if (percent === 0 || !records.some((r) => chargeKind(r.operation) === charge && r.state === "done")) return undefined;
    // The part the terms keep of what is held: floored refunds never give back more than they say.
    const keep = ({ heldMicros }: ChargeHeld) => heldMicros - (heldMicros * BigInt(percent)) / 100n;
    // Named for the cancellation: a retry of it (its transaction did not commit) finds it made.
    const operationFor = (held: ChargeHeld): PaymentOperation => `refund/${held.charge.operation}/cancel`;
    await refundBookingPayments(ctx, booking.bookingId, (op) => chargeKind(op) === charge, keep, operationFor);
    const first = `refund/${charge}/cancel`;
    return (await ctx.store.read.payments.forBooking(booking.bookingId)).find((r) => r.operation === first)?.transactionId ?? "";
  };
  const prepaymentRefundId = await refundOf("prepayment", outcome.prepaymentRefundPercent);
  const depositRefundId = await refundOf("deposit", outcome.refundDeposit ? 100 : 0);
  const refundId = prepaymentRefundId ?? depositRefundId;
  return refundId === undefined ? {} : { refundId };
}

