import { create } from "@bufbuild/protobuf";
import {
  BookingFailureSchema,
  type BookingFailure,
  type BookingFailure_Cause,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";

/** A business-logic failure, answered with HTTP 200 in `booking_failure`. */
export function bookingFailure(cause: BookingFailure_Cause, description: string): BookingFailure {
  return create(BookingFailureSchema, { cause, description });
}
