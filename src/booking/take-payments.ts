import { create } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import {
  BookingFailure_Cause,
  BookingFailureSchema,
  CreditCardType,
  PaymentInformation_PaymentProcessedBy,
  type BookingFailure,
  type CreateBookingRequest,
  type PaymentInformation,
  type Price,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { amountFor, chargesAtBooking, paymentInformationFor, prepaidAtBooking } from "../payments/payment-amounts.js";
import { effectivePaymentPolicy, type PaymentPolicy } from "../payments/payment-policy.js";
import { PaymentDeclinedError, paymentIdempotencyKey, type PaymentOperation } from "../payments/payment-processor.js";
import type { BookingRecord, InventoryReads, PaymentRecord, PaymentRecordReads, SlotRecord } from "../store/repositories.js";
import type { BookingContext } from "./context.js";
import { notePaymentDone, notePaymentStarted } from "./payment-records.js";
import { refundBookingPayments } from "./refund-payments.js";

/**
 * Taking money for a booking: at booking (a prepayment or deposit, or the
 * card kept for later), and later on the kept card (a no-show or late
 * cancellation fee, what a move owes); and what a refusal tells Google.
 */

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
export async function paymentPlanFor(
  inventory: InventoryReads,
  slot: SlotRecord,
  partySize: number,
  requested: PaymentInformation | undefined,
): Promise<PaymentPlan | undefined> {
  if (!slot.mayTakePayment) return undefined;
  const policy = effectivePaymentPolicy(await inventory.feedsOf(slot.slotId));
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
  if ((await ctx.store.read.payments.forBooking(booking.bookingId)).some((record) => record.operation.startsWith("refund"))) {
    return {
      failure: paymentFailure(
        BookingFailure_Cause.PAYMENT_ERROR,
        "an earlier attempt of this request was refunded: book again with a new request",
      ),
    };
  }
  const note = async (operation: PaymentOperation, amount?: Price) => {
    const idempotencyKey = paymentIdempotencyKey(booking.bookingId, operation);
    await notePaymentStarted(ctx, {
      bookingId: booking.bookingId,
      merchantId: booking.merchantId,
      operation,
      idempotencyKey,
      amountMicros: amount?.priceMicros ?? null,
      currency: amount?.currencyCode ?? null,
    });
    return idempotencyKey;
  };
  const taken: TakenPayment[] = [];
  try {
    for (const { operation, amount } of plan.charges) {
      const idempotencyKey = await note(operation, amount);
      const { transactionId } = await processor.charge({
        idempotencyKey,
        bookingId: booking.bookingId,
        merchantId: booking.merchantId,
        amount: { micros: amount.priceMicros, currency: amount.currencyCode },
        token,
        description: `${operation} for booking ${booking.bookingId}`,
      });
      await notePaymentDone(ctx, idempotencyKey, transactionId);
      taken.push({ operation, transactionId });
    }
    if (plan.storeCard) {
      const idempotencyKey = await note("store_card");
      const { paymentMethodRef } = await processor.storeCard({
        idempotencyKey,
        bookingId: booking.bookingId,
        merchantId: booking.merchantId,
        token,
      });
      await notePaymentDone(ctx, idempotencyKey, paymentMethodRef);
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
export async function keptCardOf(payments: PaymentRecordReads, bookingId: string): Promise<PaymentRecord | undefined> {
  return (await payments.forBooking(bookingId)).find((r) => r.operation === "store_card" && r.state === "done");
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
  const card = await keptCardOf(ctx.store.read.payments, bookingId);
  if (!card || !ctx.payments) return { charged: false };
  const idempotencyKey = paymentIdempotencyKey(bookingId, operation);
  await notePaymentStarted(ctx, {
    bookingId,
    merchantId: card.merchantId,
    operation,
    idempotencyKey,
    amountMicros: amount.priceMicros,
    currency: amount.currencyCode,
  });
  try {
    const { transactionId } = await ctx.payments.chargeStored({
      idempotencyKey,
      bookingId,
      merchantId: card.merchantId,
      paymentMethodRef: card.transactionId!,
      amount: { micros: amount.priceMicros, currency: amount.currencyCode },
      description: `${operation.replace(/_/g, " ")} for booking ${bookingId}`,
    });
    await notePaymentDone(ctx, idempotencyKey, transactionId);
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
