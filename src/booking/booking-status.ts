import {
  BookingStatus,
  PrepaymentStatus,
  type Booking,
} from "../../gen/es/ext/maps/booking/partner/v3/booking_service_pb.js";

/** Statuses in which a booking occupies a spot of its slot. */
export function holdsSpot(status: BookingStatus): boolean {
  return status === BookingStatus.CONFIRMED || status === BookingStatus.PENDING_MERCHANT_CONFIRMATION;
}

/** UNSPECIFIED is read as NOT_PROVIDED, as the spec says. */
export function prepaymentStatusOf(booking: Booking): PrepaymentStatus {
  const status = booking.paymentInformation?.prepaymentStatus ?? PrepaymentStatus.PREPAYMENT_STATUS_UNSPECIFIED;
  return status === PrepaymentStatus.PREPAYMENT_STATUS_UNSPECIFIED ? PrepaymentStatus.PREPAYMENT_NOT_PROVIDED : status;
}
