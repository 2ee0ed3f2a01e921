import { create, type MessageShape } from "@bufbuild/protobuf";
import {
  BookingService,
  HealthCheckResponseSchema,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";
import { batchAvailabilityLookup, checkAvailability } from "../booking/availability.js";
import { getBookingStatus, listBookings, setMarketingPreference } from "../booking/booking-queries.js";
import type { BookingContext } from "../booking/context.js";
import { createBooking } from "../booking/create-booking.js";
import { createLease } from "../booking/leases.js";
import { updateBooking } from "../booking/update-booking.js";
import { rethrowAsConnectError } from "./domain-errors.js";
import { requireReadyStore } from "./health.js";
import { withRequestLimits } from "./limited-handlers.js";

type Methods = typeof BookingService.method;

/** One handler per BookingService method: request message in, response message out. */
export type BookingHandlers = {
  [K in keyof Methods]: (
    request: MessageShape<Methods[K]["input"]>,
  ) => Promise<MessageShape<Methods[K]["output"]>>;
};

/**
 * The BookingService handlers that every transport (Connect, gRPC, gRPC-Web
 * and Google's REST paths) calls: each one checks the decoded request against
 * the field limits, hands it to the domain and turns the domain's request
 * errors into Connect error codes.
 */
export function bookingHandlers(ctx: BookingContext): BookingHandlers {
  const domain =
    <Request, Response>(useCase: (ctx: BookingContext, request: Request) => Promise<Response>) =>
    (request: Request) =>
      useCase(ctx, request).catch(rethrowAsConnectError);
  return withRequestLimits(BookingService, {
    healthCheck: async () => {
      await requireReadyStore(ctx.store);
      return create(HealthCheckResponseSchema, { status: "SERVING" });
    },
    batchAvailabilityLookup: domain(batchAvailabilityLookup),
    checkAvailability: domain(checkAvailability),
    createLease: domain(createLease),
    createBooking: domain(createBooking),
    updateBooking: domain(updateBooking),
    getBookingStatus: domain(getBookingStatus),
    listBookings: domain(listBookings),
    setMarketingPreference: domain(setMarketingPreference),
  });
}
