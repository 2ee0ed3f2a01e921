import { create } from "@bufbuild/protobuf";
import { BookingStatus } from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { MarkNoShowResponseSchema, type MarkNoShowRequest, type MarkNoShowResponse } from "../../gen/es/partner/merchant/v1/merchant_service_pb.js";
import { effectivePaymentPolicy } from "../payments/payment-policy.js";
import { refundBookingPayments } from "./refund-payments.js";
import { chargeNoShowFee } from "./take-payments.js";
import type { BookingContext } from "./context.js";
import { FailedPreconditionError, NotFoundError } from "./errors.js";
import { assertMayActFor, merchantTransitions, transition, type MerchantCaller } from "./merchant-decisions.js";
import { requiredString } from "./request-fields.js";

/**
 * The merchant marks a confirmed booking whose slot has started as a no-show.
 * Where the slot's policy has a no-show fee, the fee is charged on the card
 * kept at booking and the booking becomes NO_SHOW_PENALIZED; without a fee (or
 * if the card refuses it) it becomes NO_SHOW. Google is notified by the
 * transition, like every merchant decision.
 */
export async function markNoShow(
  ctx: BookingContext,
  caller: MerchantCaller,
  request: MarkNoShowRequest,
): Promise<MarkNoShowResponse> {
  const bookingId = requiredString(request.bookingId, "booking_id");
  const record = await ctx.store.read.bookings.get(bookingId);
  if (!record) throw new NotFoundError(`booking ${bookingId} does not exist`);
  const booking = record.booking;
  assertMayActFor(caller, booking.slot?.merchantId ?? "");

  // The fee only for a no-show that can be recorded now (the transition checks again).
  const startedConfirmed =
    booking.status === BookingStatus.CONFIRMED && Number(booking.slot!.startSec) <= ctx.clock.nowSec();
  const policy = effectivePaymentPolicy(await ctx.store.read.inventory.feedsOf(record.slotId));
  const fee = startedConfirmed ? await chargeNoShowFee(ctx, record, policy, "no_show_fee") : { charged: false };
  const feeCharged = fee.charged;
  const feeFailure = fee.declined?.message ?? "";
  try {
    const rule = feeCharged ? merchantTransitions.noShowPenalized : merchantTransitions.noShow;
    const { after } = await transition(ctx, caller, bookingId, rule);
    return create(MarkNoShowResponseSchema, { booking: after, feeFailure });
  } catch (error) {
    // The booking changed while the fee was charged: the fee goes back.
    if (feeCharged && error instanceof FailedPreconditionError) {
      await refundBookingPayments(ctx, bookingId, (operation) => operation === "no_show_fee");
    }
    throw error;
  }
}
