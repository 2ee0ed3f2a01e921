import { create } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import {
  BookingFailure_Cause,
  BookingFailureSchema,
  BookingStatus,
  CreditCardType,
  PaymentInformation_PaymentProcessedBy,
  type Booking,
  type BookingFailure,
  type CreateBookingRequest,
  type PaymentInformation,
  type Price,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import {
  amountFor,
  cancellationOutcome,
  chargesAtBooking,
  effectivePaymentPolicy,
  paymentInformationFor,
  prepaidAtBooking,
  type PaymentPolicy,
} from "../payments/payment-policy.js";
import { PaymentDeclinedError, paymentIdempotencyKey, type PaymentOperation } from "../payments/payment-processor.js";
import type { BookingRecord, PaymentRecord, SlotRecord } from "../store/repositories.js";
import type { BookingContext } from "./context.js";
import { chargeKind, chargesHeld, isChargeOperation, reportRefunds, type ChargeHeld } from "./owed-refunds.js";

/**
 * What CreateBooking must do with money for a slot, decided from the slot's
 * effective payment policy (slot overrides service) and, for an OPTIONAL
 * prepayment, the user's choice: charge a prepayment, charge a deposit, keep
 * the card for a later no-show fee, or nothing.
 */
export interface PaymentPlan {
  policy: PaymentPolicy;
  /** Whether the price is prepaid: REQUIRED, or OPTIONAL and the user chose to pay (`prepaidAtBooking`). */
  prepaid: boolean;
  charges: { operation: "prepayment" | "deposit"; amount: Price }[];
  storeCard: boolean;
}

/**
 * The plan for booking `slot` with `partySize`; undefined when nothing is paid
 * or kept at booking. `requested` is the request's `payment_information`: it
 * says whether the user chose to pay an OPTIONAL prepayment.
 */
export function paymentPlanFor(
  ctx: BookingContext,
  slot: SlotRecord,
  partySize: number,
  requested: PaymentInformation | undefined,
): PaymentPlan | undefined {
  if (!slot.mayTakePayment) return undefined;
  const policy = effectivePaymentPolicy(ctx.store.inventory.feedsOf(slot.slotId));
  const prepaid = prepaidAtBooking(policy, requested);
  const { prepayment, deposit } = chargesAtBooking(policy, { partySize, prepaid });
  const charges: PaymentPlan["charges"] = [];
  if (prepayment) charges.push({ operation: "prepayment", amount: prepayment });
  if (deposit) charges.push({ operation: "deposit", amount: deposit });
  const storeCard = charges.length === 0 && (policy.cardRequired || policy.noShowFee !== undefined);
  return charges.length > 0 || storeCard ? { policy, prepaid, charges, storeCard } : undefined;
}

/**
 * A paid booking's id comes from Google's idempotency token, so a retry of a
 * request whose charge went through (but whose answer was lost) reaches the
 * same booking id, the same processor idempotency keys, and no second charge.
 */
export function paidBookingId(idempotencyToken: string): string {
  return `b-${createHash("sha256").update(`booking:${idempotencyToken}`).digest("base64url").slice(0, 26)}`;
}

export type TakenPayment = { operation: PaymentOperation; transactionId: string };
export type PaymentTaken = { taken: TakenPayment[] } | { failure: BookingFailure };

/**
 * Charges (or stores the card) as the plan says, noting each call in the
 * booking's payment records before and after it, so a crash in between is
 * found at the next start. A refusal becomes the matching booking_failure,
 * and whatever went through before it is refunded.
 */
export async function takePayment(
  ctx: BookingContext,
  plan: PaymentPlan,
  request: CreateBookingRequest,
  booking: { bookingId: string; merchantId: string },
): Promise<PaymentTaken> {
  const processor = ctx.payments;
  const token =
    request.paymentProcessingParameters?.unparsedPaymentMethodToken ||
    request.paymentProcessingParameters?.paymentMethodToken ||
    "";
  if (!processor) return { failure: paymentFailure(BookingFailure_Cause.PAYMENT_ERROR, "payments are not configured on this server") };
  if (!token) {
    return {
      failure: paymentFailure(
        BookingFailure_Cause.PAYMENT_ERROR,
        "this slot needs a payment method: payment_processing_parameters.unparsed_payment_method_token is empty",
      ),
    };
  }
  // An attempt of this very request was paid and refunded (its booking never
  // committed): the processor would answer that refunded charge again.
  if (ctx.store.payments.forBooking(booking.bookingId).some((record) => record.operation.startsWith("refund"))) {
    return {
      failure: paymentFailure(
        BookingFailure_Cause.PAYMENT_ERROR,
        "an earlier attempt of this request was refunded: book again with a new request",
      ),
    };
  }
  const note = (operation: PaymentOperation, amount?: Price) => {
    const idempotencyKey = paymentIdempotencyKey(booking.bookingId, operation);
    ctx.store.payments.start(
      {
        bookingId: booking.bookingId,
        merchantId: booking.merchantId,
        operation,
        idempotencyKey,
        amountMicros: amount?.priceMicros ?? null,
        currency: amount?.currencyCode ?? null,
      },
      ctx.clock.nowSec(),
    );
    return idempotencyKey;
  };
  const taken: TakenPayment[] = [];
  try {
    for (const { operation, amount } of plan.charges) {
      const idempotencyKey = note(operation, amount);
      const { transactionId } = await processor.charge({
        idempotencyKey,
        bookingId: booking.bookingId,
        merchantId: booking.merchantId,
        amount: { micros: amount.priceMicros, currency: amount.currencyCode },
        token,
        description: `${operation} for booking ${booking.bookingId}`,
      });
      ctx.store.payments.complete(idempotencyKey, transactionId, ctx.clock.nowSec());
      taken.push({ operation, transactionId });
    }
    if (plan.storeCard) {
      const idempotencyKey = note("store_card");
      const { paymentMethodRef } = await processor.storeCard({
        idempotencyKey,
        bookingId: booking.bookingId,
        merchantId: booking.merchantId,
        token,
      });
      ctx.store.payments.complete(idempotencyKey, paymentMethodRef, ctx.clock.nowSec());
      taken.push({ operation: "store_card", transactionId: paymentMethodRef });
    }
    return { taken };
  } catch (error) {
    if (!(error instanceof PaymentDeclinedError)) throw error;
    await refundBookingPayments(ctx, booking.bookingId);
    return { failure: failureFor(error) };
  }
}

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
    ctx.store.payments.start(
      { bookingId, merchantId: charge.merchantId, operation, idempotencyKey, amountMicros, currency: charge.currency },
      ctx.clock.nowSec(),
    );
    const { refundId } = await ctx.payments!.refund({
      idempotencyKey,
      transactionId: charge.transactionId!,
      amount: { micros: amountMicros, currency: charge.currency! },
    });
    ctx.store.payments.complete(idempotencyKey, refundId, ctx.clock.nowSec());
    made.push({ operation, transactionId: refundId });
  };
  const records = ctx.store.payments.forBooking(bookingId);
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
    return reportRefunds(ctx, bookingId);
  } catch (error) {
    ctx.reportJobFailure("refund", error);
    return undefined;
  }
}

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
  for (const bookingId of ctx.store.payments.bookingIdsToReconcile(owed, startedBeforeSec)) {
    // A charge whose answer was lost: ask the processor what became of it.
    for (const record of ctx.store.payments.forBooking(bookingId)) {
      if (record.state !== "started" || !isChargeOperation(record.operation)) continue;
      const found = await ctx.payments!.findCharge(record.idempotencyKey).catch(() => null);
      if (found) ctx.store.payments.complete(record.idempotencyKey, found.transactionId, ctx.clock.nowSec());
      else if (found === null) unresolved.push(bookingId);
    }
    if ((await refundBookingPayments(ctx, bookingId)).length > 0) refunded.push(bookingId);
    // A merchant's cancellation whose refunds a crash cut short: Google hears of them now.
    reportRefunds(ctx, bookingId);
  }
  return { refunded, unresolved };
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
  const policy = effectivePaymentPolicy(ctx.store.inventory.feedsOf(record.slotId));
  const outcome = cancellationOutcome(policy, { nowSec, slotStartSec: Number(booking.slot!.startSec) });
  if (!outcome.allowed) {
    return {
      refused: paymentFailure(
        BookingFailure_Cause.OUTSIDE_CANCELLATION_WINDOW,
        `online cancellation closed at ${new Date(outcome.deadlineSec * 1000).toISOString()}`,
      ),
    };
  }
  const records = ctx.store.payments.forBooking(booking.bookingId);
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
    return ctx.store.payments.forBooking(booking.bookingId).find((r) => r.operation === first)?.transactionId ?? "";
  };
  const prepaymentRefundId = await refundOf("prepayment", outcome.prepaymentRefundPercent);
  const depositRefundId = await refundOf("deposit", outcome.refundDeposit ? 100 : 0);
  const refundId = prepaymentRefundId ?? depositRefundId;
  return refundId === undefined ? {} : { refundId };
}

/**
 * Charges the policy's no-show fee (per person where its type says so) on the
 * card kept at booking, for a no-show or a late cancellation. Nothing is
 * charged without a fee, a kept card or a processor.
 */
export async function chargeNoShowFee(
  ctx: BookingContext,
  record: BookingRecord,
  policy: PaymentPolicy,
  operation: "no_show_fee" | "late_cancel_fee",
): Promise<{ charged: boolean; declined?: PaymentDeclinedError }> {
  const feeTerms = policy.noShowFee;
  if (!feeTerms?.fee) return { charged: false };
  const fee = amountFor(feeTerms.fee, feeTerms.feeType, record.booking.slot?.resources?.partySize || 1);
  return chargeKeptCard(ctx, record.booking.bookingId, operation, fee);
}

/** The card the booking kept at booking (for later fees and top-ups), if it kept one. */
export function keptCardOf(ctx: BookingContext, bookingId: string): PaymentRecord | undefined {
  return ctx.store.payments.forBooking(bookingId).find((r) => r.operation === "store_card" && r.state === "done");
}

/**
 * Charges `amount` on the card kept at booking as `operation` (a fee, or what
 * a move owes), recorded before and after the call like every processor
 * call. Nothing is charged without a kept card or a processor.
 */
export async function chargeKeptCard(
  ctx: BookingContext,
  bookingId: string,
  operation: "no_show_fee" | "late_cancel_fee" | "prepayment" | "deposit" | `${"prepayment" | "deposit"}#${number}`,
  amount: Price,
): Promise<{ charged: boolean; declined?: PaymentDeclinedError }> {
  const card = keptCardOf(ctx, bookingId);
  if (!card || !ctx.payments) return { charged: false };
  const idempotencyKey = paymentIdempotencyKey(bookingId, operation);
  const nowSec = ctx.clock.nowSec();
  ctx.store.payments.start(
    { bookingId, merchantId: card.merchantId, operation, idempotencyKey, amountMicros: amount.priceMicros, currency: amount.currencyCode },
    nowSec,
  );
  try {
    const { transactionId } = await ctx.payments.chargeStored({
      idempotencyKey,
      bookingId,
      merchantId: card.merchantId,
      paymentMethodRef: card.transactionId!,
      amount: { micros: amount.priceMicros, currency: amount.currencyCode },
      description: `${operation.replace(/_/g, " ")} for booking ${bookingId}`,
    });
    ctx.store.payments.complete(idempotencyKey, transactionId, nowSec);
    return { charged: true };
  } catch (error) {
    if (!(error instanceof PaymentDeclinedError)) throw error;
    return { charged: false, declined: error };
  }
}

/**
 * The booking's payment_information echo for what was taken: PREPAYMENT_PROVIDED
 * with the prepayment's transaction when the plan prepaid (an OPTIONAL one
 * only when the user chose to pay).
 */
export function paymentInformationAfter(
  plan: PaymentPlan,
  taken: { operation: PaymentOperation; transactionId: string }[],
  partySize: number,
): PaymentInformation {
  return paymentInformationFor(plan.policy, {
    partySize,
    transactionId: taken.find((t) => t.operation !== "store_card")?.transactionId ?? taken[0]?.transactionId,
    processedBy: PaymentInformation_PaymentProcessedBy.PROCESSED_BY_PARTNER,
    prepaid: plan.prepaid,
  });
}

export function paymentFailure(cause: BookingFailure_Cause, description: string, rejectedCardType?: CreditCardType) {
  return create(BookingFailureSchema, { cause, description, rejectedCardType });
}

export function failureFor(error: PaymentDeclinedError): BookingFailure {
  switch (error.reason) {
    case "card_declined":
      return paymentFailure(BookingFailure_Cause.PAYMENT_ERROR_CARD_DECLINED, error.message);
    case "card_type_rejected":
      return paymentFailure(
        BookingFailure_Cause.PAYMENT_ERROR_CARD_TYPE_REJECTED,
        error.message,
        error.rejectedCardType ? CreditCardType[error.rejectedCardType] : CreditCardType.CREDIT_CARD_TYPE_UNSPECIFIED,
      );
    default:
      return paymentFailure(BookingFailure_Cause.PAYMENT_ERROR, error.message);
  }
}
