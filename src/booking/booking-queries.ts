import { create } from "@bufbuild/protobuf";
import {
  GetBookingStatusResponseSchema,
  ListBookingsResponseSchema,
  SetMarketingPreferenceResponseSchema,
  type GetBookingStatusRequest,
  type GetBookingStatusResponse,
  type ListBookingsRequest,
  type ListBookingsResponse,
  type SetMarketingPreferenceRequest,
  type SetMarketingPreferenceResponse,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { holdsSpot, prepaymentStatusOf } from "./booking-status.js";
import type { BookingContext } from "./context.js";
import { NotFoundError } from "./errors.js";
import { required, requiredString } from "./request-fields.js";

export async function getBookingStatus(
  ctx: BookingContext,
  request: GetBookingStatusRequest,
): Promise<GetBookingStatusResponse> {
  const bookingId = requiredString(request.bookingId, "booking_id");
  const record = await ctx.store.read.bookings.get(bookingId);
  if (!record) throw new NotFoundError(`booking ${bookingId} does not exist`);
  return create(GetBookingStatusResponseSchema, {
    bookingId,
    bookingStatus: record.booking.status,
    prepaymentStatus: prepaymentStatusOf(record.booking),
  });
}

/** The user's future bookings that still stand, at any merchant. */
export async function listBookings(ctx: BookingContext, request: ListBookingsRequest): Promise<ListBookingsResponse> {
  const userId = requiredString(request.userId, "user_id");
  const { bookings } = ctx.store.read;
  if (!(await bookings.hasUser(userId))) throw new NotFoundError(`user ${userId} is not known`);
  const upcoming = (await bookings.listForUser(userId, ctx.clock.nowSec() + 1))
    .filter((record) => holdsSpot(record.booking.status))
    .map((record) => record.booking);
  return create(ListBookingsResponseSchema, { bookings: upcoming });
}

/** Stores the user's consent (or refusal) to the partner's marketing. */
export async function setMarketingPreference(
  ctx: BookingContext,
  request: SetMarketingPreferenceRequest,
): Promise<SetMarketingPreferenceResponse> {
  const user = required(request.userInformation, "user_information");
  const userId = requiredString(user.userId, "user_information.user_id");
  const now = ctx.clock.nowSec();
  await ctx.store.transaction((tx) => tx.users.setMarketingPreference(userId, request.userToReceiveMarketing, now));
  return create(SetMarketingPreferenceResponseSchema, {
    userInformation: user,
    userToReceiveMarketing: request.userToReceiveMarketing,
  });
}
