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
import {
  chargesAtBooking,
  effectivePaymentPolicy,
  paymentInformationFor,
  type PaymentPolicy,
} from "../payments/payment-policy.js";
import {
  PaymentDeclinedError,
  paymentIdempotencyKey,
  type PaymentOperation,
  type PaymentProcessor,
} from "../payments/payment-processor.js";
import type { SlotRecord } from "../store/repositories.js";
import type { BookingContext } from "./context.js";

/**
 * What CreateBooking must do with money for a slot, decided from the slot's
 * effective payment policy (slot overrides service): charge a prepayment,
 * charge a deposit, keep the card for a later no-show fee, or nothing.
 */
export interface PaymentPlan {
  policy: PaymentPolicy;
  charges: { operation: "prepayment" | "deposit"; amount: Price }[];
  storeCard: boolean;
}

/** The plan for booking `slot` with `partySize`; undefined when nothing is paid or kept at booking. */
export function paymentPlanFor(ctx: BookingContext, slot: SlotRecord, partySize: number): PaymentPlan | undefined {
  const policy = effectivePaymentPolicy(ctx.store.inventory.feedsOf(slot.slotId));
  const { prepayment, deposit } = chargesAtBooking(policy, { partySize });
  const charges: PaymentPlan["charges"] = [];
  if (prepayment) charges.push({ operation: "prepayment", amount: prepayment });
  if (deposit) charges.push({ operation: "deposit", amount: deposit });
  const storeCard = charges.length === 0 && (policy.cardRequired || policy.noShowFee !== undefined);
  return charges.length > 0 || storeCard ? { policy, charges, storeCard } : undefined;
}

/**
 * A paid booking's id comes from Google's idempotency token, so a retry of a
 * request whose charge went through (but whose answer was lost) reaches the
 * same booking id, the same processor idempotency keys, and no second charge.
 */
export function paidBookingId(idempotencyToken: string): string {
  return `b-${createHash("sha256").update(`booking:${idempotencyToken}`).digest("base64url").slice(0, 26)}`;
}

export type PaymentTaken = { taken: { operation: PaymentOperation; transactionId: string }[] } | { failure: BookingFailure };

/** Charges (or stores the card) as the plan says; a refusal becomes the matching booking_failure. */
export async function takePayment(
  processor: PaymentProcessor | undefined,
  plan: PaymentPlan,
  request: CreateBookingRequest,
  booking: { bookingId: string; merchantId: string },
): Promise<PaymentTaken> {
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
  const taken: { operation: PaymentOperation; transactionId: string }[] = [];
  try {
    for (const { operation, amount } of plan.charges) {
      const { transactionId } = await processor.charge({
        idempotencyKey: paymentIdempotencyKey(booking.bookingId, operation),
        bookingId: booking.bookingId,
        merchantId: booking.merchantId,
        amount: { micros: amount.priceMicros, currency: amount.currencyCode },
        token,
        description: `${operation} for booking ${booking.bookingId}`,
      });
      taken.push({ operation, transactionId });
    }
    if (plan.storeCard) {
      const { paymentMethodRef } = await processor.storeCard({
        idempotencyKey: paymentIdempotencyKey(booking.bookingId, "store_card"),
        bookingId: booking.bookingId,
        merchantId: booking.merchantId,
        token,
      });
      taken.push({ operation: "store_card", transactionId: paymentMethodRef });
    }
    return { taken };
  } catch (error) {
    if (!(error instanceof PaymentDeclinedError)) throw error;
    // Whatever went through before the refusal is given back.
    await refundTaken(processor, booking.bookingId, taken);
    return { failure: failureFor(error) };
  }
}

/** Gives back every charge taken for a booking that was not made. */
export async function refundTaken(
  processor: PaymentProcessor | undefined,
  bookingId: string,
  taken: { operation: PaymentOperation; transactionId: string }[],
): Promise<void> {
  let n = 0;
  for (const { operation, transactionId } of taken) {
    if (operation === "store_card") continue;
    n++;
    await processor!.refund({ idempotencyKey: paymentIdempotencyKey(bookingId, n === 1 ? "refund" : `refund/${n}`), transactionId });
  }
}

/** The booking's payment_information echo for what was taken. */
export function paymentInformationAfter(
  plan: PaymentPlan,
  taken: { operation: PaymentOperation; transactionId: string }[],
  partySize: number,
): PaymentInformation {
  return paymentInformationFor(plan.policy, {
    partySize,
    transactionId: taken.find((t) => t.operation !== "store_card")?.transactionId ?? taken[0]?.transactionId,
    processedBy: PaymentInformation_PaymentProcessedBy.PROCESSED_BY_PARTNER,
  });
}

function paymentFailure(cause: BookingFailure_Cause, description: string, rejectedCardType?: CreditCardType) {
  return create(BookingFailureSchema, { cause, description, rejectedCardType });
}

function failureFor(error: PaymentDeclinedError): BookingFailure {
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
